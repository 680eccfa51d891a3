"""The molecule benchmark's `merge` step: one report from per-method result files."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


@pytest.fixture(scope="module")
def harness():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("molecule_vs_chemprop")
    finally:
        sys.path.remove(str(BENCH))


def _report(harness, method: str, rmses: list[float], settings: dict | None = None) -> dict:
    runs = [
        {
            "dataset": "freesolv-random",
            "seed": seed,
            "method": method,
            "status": "ok",
            "rmse": rmse,
            "train_wall_s": 10.0 * (seed + 1),
        }
        for seed, rmse in enumerate(rmses)
    ]
    return {
        "schema": harness.SCHEMA_VERSION,
        "settings": settings or {"epochs": 50, "threads": 1},
        "config": {
            "datasets": ["freesolv-random"],
            "methods": [method],
            "seeds": [0, 1],
            "moses_n": 0,
            "predict_batch_size": 256,
            "threads": 1,
        },
        "datasets": {"freesolv-random": {"source": "freesolv", "split": "random"}},
        "runs": runs,
        "throughput": {},
    }


def test_merge_combines_methods_and_recomputes_ratios(harness, tmp_path) -> None:
    peer = tmp_path / "peer.json"
    ours = tmp_path / "ours.json"
    peer.write_text(json.dumps(_report(harness, "chemprop", [2.0, 4.0])))
    ours.write_text(json.dumps(_report(harness, "scisuite", [1.0, 2.0])))
    merged = harness.merge(tmp_path / "all.json", [peer, ours])
    assert merged["config"]["methods"] == ["chemprop", "scisuite"]
    assert len(merged["runs"]) == 4
    ratio = merged["summary"]["freesolv-random"]["scisuite_over_chemprop"]
    assert ratio["rmse"] == pytest.approx(0.5)
    assert "0.50×" in merged["markdown"]
    assert json.loads((tmp_path / "all.json").read_text())["runs"] == merged["runs"]


def test_merge_refuses_different_settings(harness, tmp_path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_report(harness, "chemprop", [2.0])))
    b.write_text(json.dumps(_report(harness, "scisuite", [1.0], {"epochs": 30, "threads": 1})))
    with pytest.raises(harness.BenchmarkError, match="settings"):
        harness.merge(tmp_path / "all.json", [a, b])
    assert not (tmp_path / "all.json").exists()


def test_compact_table_compares_matched_seeds_only(harness, tmp_path) -> None:
    peer = tmp_path / "peer.json"
    ours = tmp_path / "ours.json"
    peer.write_text(json.dumps(_report(harness, "chemprop", [2.0, 4.0, 100.0])))
    ours.write_text(json.dumps(_report(harness, "scisuite", [1.0, 2.0])))
    table = harness.compact_table(harness.merge(tmp_path / "all.json", [peer, ours]))
    row = next(line for line in table.splitlines() if line.startswith("| freesolv-random"))
    assert "| 0,1 | 3.000 |" in row and "| 1.500 | 0.50× |" in row  # seed 2 has no pair
