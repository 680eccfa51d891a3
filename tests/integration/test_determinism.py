"""Determinism (#16): the same training command and seed give the same model; predictions
are bit-identical across runs and worker counts, and within a documented bound across batch
sizes (float reordering in batched kernels; see docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scisuite import api
from scisuite.cli import main

DATA = Path(__file__).parents[2] / "data"
SAMPLE = DATA / "freesolv_sample.csv"
#: |prediction(batch 1) - prediction(batch N)| for float32 models, in the output's units.
BATCH_SIZE_BOUND = 1e-5


def _train(out: Path, seed: int) -> bytes:
    code = main(
        [
            "train", "--domain", "molecule", "--data", str(SAMPLE),
            "--target-columns", "expt", "--split", "random", "--epochs", "1",
            "--batch-size", "16", "--set", "backbone.d_model=32",
            "--set", "backbone.num_layers=1", "--seed", str(seed), "-o", str(out), "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    return (out / "model.safetensors").read_bytes()


def test_the_same_training_command_and_seed_give_the_same_model(tmp_path) -> None:
    first = _train(tmp_path / "a", seed=3)
    assert _train(tmp_path / "b", seed=3) == first
    assert _train(tmp_path / "c", seed=4) != first  # the seed does reach the weights


def _numeric(frame: pd.DataFrame) -> np.ndarray:
    return frame.select_dtypes("number").to_numpy(dtype=float)


@pytest.mark.parametrize(
    ("domain", "path", "options"),
    [
        ("molecule", SAMPLE, {}),
        ("protein", DATA / "proteins_example.fasta", {}),
        ("mesh", DATA / "mesh_example.vtu", {"rollout_steps": 3}),
    ],
)
def test_predictions_are_identical_across_runs_and_workers_and_bounded_across_batches(
    domain: str, path: Path, options: dict
) -> None:
    predictor = api.load(domain, device="cpu")
    reference = predictor.predict(path, batch_size=8, **options)
    assert predictor.predict(path, batch_size=8, **options).equals(reference)
    assert predictor.predict(path, batch_size=8, num_workers=2, **options).equals(reference)
    text_columns = [c for c in reference.columns if reference[c].dtype == object]
    for batch_size in (1, 64):
        other = predictor.predict(path, batch_size=batch_size, **options)
        difference = np.nanmax(np.abs(_numeric(other) - _numeric(reference)))
        assert difference <= BATCH_SIZE_BOUND, (batch_size, difference)
        assert other[text_columns].equals(reference[text_columns])


def test_an_option_the_domain_does_not_declare_is_refused_not_dropped() -> None:
    predictor = api.load("mesh", device="cpu")
    with pytest.raises(TypeError, match=r"takes no option\(s\) \['steps'\].*rollout_steps"):
        predictor.predict(DATA / "mesh_example.vtu", steps=3)
