"""The shipped protein and mesh defaults load, predict the example inputs exactly as they did
before the stage-split redesign (``tests/fixtures/shipped_outputs``: text exactly, numbers to
float32 rounding, since another CPU rounds in the last bit), and keep the quality
their cards state (read from the evaluation shipped next to the weights)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scisuite import api
from scisuite.cli import main

sys.path.insert(0, str(Path(__file__).parent))

from saved_tables import assert_close_arrays, assert_same_table  # noqa: E402

DATA = Path(__file__).parents[2] / "data"
SAVED = Path(__file__).parents[2] / "tests" / "fixtures" / "shipped_outputs"


def _shipped(domain: str) -> Path:
    path = api.shipped_checkpoint(domain)
    if path is None:
        pytest.fail(f"the {domain} default is missing from scisuite/weights/{domain}")
    return path


def test_protein_default_predicts_the_example_fasta(tmp_path) -> None:
    evaluation = json.loads((_shipped("protein") / "evaluation.json").read_text())
    structures = evaluation["structures"]
    assert structures["q3"] > structures["q3_majority_baseline"] + 0.1
    assert evaluation["peptides"]["amp"]["roc_auc"] > 0.85
    out = tmp_path / "proteins.csv"
    assert (
        main(
            [
                "predict",
                "--domain",
                "protein",
                str(DATA / "proteins_example.fasta"),
                "-o",
                str(out),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    rows = pd.read_csv(out).set_index("id")
    assert rows.loc["empty_record", "status"] == "error"
    assert (rows.drop(index="empty_record")["status"] == "ok").all()
    assert len(rows.loc["1UBQ_ubiquitin", "dssp3"]) == 76
    assert set(rows.loc["1UBQ_ubiquitin", "dssp3"]) <= set("HEC")
    assert rows.loc["magainin2", "antimicrobial_probability"] > 0.5  # a known AMP
    assert "amp_" not in str(rows.loc["magainin2", "applicability"])  # in the training data
    # insulin A is a peptide, but its nearest training peptides (71%) are inactive
    assert "amp_nearest_train_disagrees" in rows.loc["insulin_A", "applicability"]
    residues = pd.read_csv(tmp_path / "proteins.residues.csv")
    assert (residues["id"] == "1UBQ_ubiquitin").sum() == 76
    for name in ("proteins.csv", "proteins.residues.csv"):
        assert_same_table(tmp_path / name, SAVED / name)


def test_mesh_default_rolls_out_the_example_mesh(tmp_path) -> None:
    evaluation = json.loads((_shipped("mesh") / "evaluation.json").read_text())
    # one model step: well below "no change" on the test trajectories (m/s)
    one_step = evaluation["rmse_velocity_1_all_nodes"]
    assert one_step < 0.5 * evaluation["persistence_rmse_velocity_1_all_nodes"]
    assert evaluation["rmse_velocity_all_all_nodes"] < 1.0  # whole rollouts stay bounded
    out = tmp_path / "flow.xdmf"
    assert (
        main(
            [
                "predict",
                "--domain",
                "mesh",
                str(DATA / "mesh_example.vtu"),
                "--steps",
                "5",
                "-o",
                str(out),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    row = pd.read_csv(tmp_path / "flow.csv").iloc[0]
    assert row["status"] == "ok" and bool(row["finite"]) and row["steps"] == 5
    assert 0.5 < row["mean_speed"] < 2.0  # m/s; the inflow peak of this case is 1.5
    import meshio

    with meshio.xdmf.TimeSeriesReader(out) as reader:
        points, _ = reader.read_points_cells()
        assert reader.num_steps == 6
        time, fields, _ = reader.read_data(5)
        assert np.isfinite(fields["velocity"]).all() and len(points) == 1822
    saved = np.load(SAVED / "flow_last_step.npz")
    assert_close_arrays(fields["velocity"], saved["velocity_last"])
    assert_close_arrays(fields["pressure"], saved["pressure_last"])
    assert time == saved["time_last"]
    assert_same_table(tmp_path / "flow.csv", SAVED / "flow.csv", ignore=("source",))


def test_a_shipped_variant_is_found_by_name_and_an_unknown_name_is_a_clear_error() -> None:
    from scisuite.api.checkpoints import resolve_checkpoint
    from scisuite.api.common import registry_or_default
    from scisuite.core.checkpoint import CheckpointError

    found = resolve_checkpoint("molecule", "pretrained", registry_or_default(None))
    assert found.name == "molecule-pretrained" and (found / "config.json").exists()
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint("molecule", "no-such-variant", registry_or_default(None))


def test_the_fast_molecule_variant_agrees_with_the_default_it_was_distilled_from(
    tmp_path,
) -> None:
    fast, default = tmp_path / "fast.csv", tmp_path / "default.csv"
    example = str(DATA / "molecules_example.csv")
    argv = ["predict", "--domain", "molecule", example, "--quiet"]
    assert main([*argv, "--checkpoint", "fast", "-o", str(fast)]) == 0
    assert main([*argv, "-o", str(default)]) == 0
    a, b = pd.read_csv(fast), pd.read_csv(default)
    assert list(a["id"]) == list(b["id"]) and list(a["status"]) == list(b["status"])
    for target in ("logS", "hydration_free_energy"):
        assert a[target].corr(b[target], method="spearman") > 0.95
    meta = api.load("molecule", checkpoint="fast").meta
    assert meta is not None and meta.model_config["backbone"]["num_layers"] == 2
    assert meta.extra["provenance"]["distillation"]["teacher"] == "shipped"
