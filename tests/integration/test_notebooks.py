"""Every notebook in notebooks/ runs top to bottom (its own asserts must hold).

Each notebook is one case; its cells assert what they show, so a notebook whose science
breaks fails here. The kernel runs with one thread (``OMP_NUM_THREADS=1``): the notebooks are
sized for one CPU core, and more threads on a busy machine are slower, not faster. A notebook
that takes more than about 30 s on one core is marked ``slow`` (``make test-slow``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from scisuite.api import list_domains, shipped_checkpoint

FOLDER = Path(__file__).parents[2] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
#: Notebooks over ~30 s on one core (mesh: two 50-step rollouts and a solver run, ~34 s).
SLOW = {"mesh_rollout.ipynb"}
#: The domain whose shipped checkpoint a notebook needs, where its name does not start with it.
DOMAIN = {"batch_scoring.ipynb": "molecule"}
#: Seconds any one cell may run before the notebook fails.
CELL_TIMEOUT = 180


def _case(path: Path) -> object:
    marks = [pytest.mark.slow] if path.name in SLOW else []
    return pytest.param(path, id=path.name, marks=marks)


def test_the_notebooks_are_found() -> None:
    names = {path.name for path in NOTEBOOKS}
    assert {
        "molecule_properties.ipynb",
        "protein_secondary_structure.ipynb",
        "mesh_rollout.ipynb",
        "batch_scoring.ipynb",
    } <= names
    assert SLOW <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} has outputs; clear them before committing "
                "(jupyter nbconvert --clear-output --inplace, or Edit > Clear Outputs)"
            )


@pytest.mark.parametrize("path", [_case(path) for path in NOTEBOOKS])
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    domain = DOMAIN.get(path.name, path.stem.split("_")[0])
    if domain in list_domains() and shipped_checkpoint(domain) is None:
        pytest.fail(f"{path.name} needs the shipped {domain} checkpoint, which is missing")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # inherited by the kernel process
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()  # raises CellExecutionError, naming the cell, on any error
