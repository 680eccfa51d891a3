"""The uncertainty benchmark's peer (nearest-training-molecule distance) and its commands."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("molecule_uncertainty")
    finally:
        sys.path.remove(str(BENCH))


def test_tanimoto_distance_is_zero_for_a_training_molecule_and_grows_away(bench) -> None:
    train = ["CCO", "c1ccccc1O"]
    distance = bench.nearest_train_distance(["CCO", "CCCO", "C1CCNCC1"], train)
    assert distance[0] == 0.0
    assert 0.0 < distance[1] < distance[2] <= 1.0


def test_sci_train_command_carries_the_variant(bench, tmp_path) -> None:
    harness = importlib.import_module("molecule_vs_chemprop")
    files = harness.SplitFiles(*(tmp_path / f"{n}.csv" for n in "abcde"), sizes={})
    argv = harness.sci_train_command(Path("sci"), files, tmp_path / "m", 3, 50, 32, ["--x"])
    assert argv[:4] == ["sci", "train", "--domain", "molecule"] and argv[-1] == "--x"
    assert argv[argv.index("--seed") + 1] == "3" and argv[argv.index("--epochs") + 1] == "50"
