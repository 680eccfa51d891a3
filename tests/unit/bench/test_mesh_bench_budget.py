"""The mesh benchmark's learning-rate schedule follows whichever budget (steps or clock) binds."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[3] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("mesh_vs_mgn")
    finally:
        sys.path.remove(str(BENCH))


def test_progress_is_the_further_of_steps_and_clock(bench) -> None:
    assert bench.budget_progress(10, 100, 0.0, float("inf")) == pytest.approx(0.1)
    assert bench.budget_progress(10, 100_000, 30.0, 60.0) == pytest.approx(0.5)
    assert bench.budget_progress(10, 100, 120.0, 60.0) == 1.0


def test_schedule_warms_up_then_decays_to_five_percent(bench) -> None:
    assert bench.schedule(0.0) < 0.05 < bench.schedule(0.04) < bench.schedule(0.05) == 1.0
    assert 1.0 > bench.schedule(0.3) > bench.schedule(0.6) > bench.schedule(0.9) > 0.05
    assert bench.schedule(1.0) == pytest.approx(0.05)
