"""Every notebook in notebooks/ runs top to bottom (its own asserts must hold)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from scisuite.api import shipped_checkpoint

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path) -> None:
    domain = path.stem.split("_")[0]
    if shipped_checkpoint(domain) is None:
        pytest.fail(f"{path.name} needs the shipped {domain} checkpoint, which is missing")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
