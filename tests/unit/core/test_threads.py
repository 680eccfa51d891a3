"""The default thread count leaves the cores other processes keep busy (#16)."""

from __future__ import annotations

import itertools

import pytest
import torch

from scisuite.cli import main
from scisuite.core import threads


class _FakeStat:
    """``/proc/stat`` whose ``cpu`` line advances by ``busy`` / ``idle`` jiffies per read."""

    def __init__(self, busy: int, idle: int) -> None:
        self._reads = itertools.count()
        self.busy, self.idle = busy, idle

    def read_text(self) -> str:
        n = next(self._reads)
        return f"cpu  {100 + n * self.busy} 0 0 {1000 + n * self.idle} 0 0 0 0 0 0\ncpu0 ...\n"


@pytest.mark.parametrize(("busy", "idle", "expected"), [(0, 400, 4), (100, 300, 3), (400, 0, 1)])
def test_default_threads_subtracts_busy_cores(monkeypatch, busy, idle, expected) -> None:
    monkeypatch.setattr(threads, "_PROC_STAT", _FakeStat(busy, idle))
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.default_threads() == expected


@pytest.mark.parametrize(("omp", "expected"), [("1", 1), ("2", 2), ("16", 4), ("", 4), ("x", 4)])
def test_default_threads_honours_omp_num_threads(monkeypatch, omp, expected) -> None:
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(threads, "busy_cpus", lambda: 0.0)
    monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert threads.default_threads() == expected


def test_busy_cpus_is_zero_without_proc_stat(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(threads, "_PROC_STAT", tmp_path / "absent")
    assert threads.busy_cpus() == 0.0


def test_usable_cpus_honours_a_cgroup_quota(monkeypatch, tmp_path) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")  # 1.5 cores
    monkeypatch.setattr(threads, "_CGROUP_CPU_MAX", quota)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert threads.usable_cpus() == 1
    quota.write_text("max 100000\n")
    assert threads.usable_cpus() == 4


def test_threads_flag_sets_torch_and_rejects_zero(tmp_path, capsys) -> None:
    before = torch.get_num_threads()
    try:
        assert main(["predict", "--domain", "molecule", "x.smi", "--threads", "0"]) == 2
        err = capsys.readouterr().err
        assert "--threads" in err and ">= 1" in err
        assert threads.set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
