"""How many CPU threads a run can actually use, and setting torch to that number.

torch's default is one thread per core of the machine. When another process already keeps a
core busy, those threads wait on each other at every parallel region and a scoring run gets
3-5x slower than with fewer threads. So the default here is the number of cores this process
may use (affinity and cgroup quota) minus the cores other processes keep busy right now,
measured over a short sample of ``/proc/stat``; never less than one.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

_PROC_STAT = Path("/proc/stat")
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    try:
        quota, period = _CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from ``/proc/stat``, or None off Linux."""
    try:
        fields = [int(v) for v in _PROC_STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def busy_cpus(sample_seconds: float = 0.05) -> float:
    """Cores other processes keep busy, averaged over ``sample_seconds`` (this process sleeps
    meanwhile, so it does not count itself). 0.0 where ``/proc/stat`` is not readable."""
    before = _cpu_times()
    if before is None:
        return 0.0
    time.sleep(sample_seconds)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return 0.0
    share = (after[0] - before[0]) / (after[1] - before[1])
    return share * (os.cpu_count() or 1)


def omp_num_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it is one positive count, else None."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def default_threads() -> int:
    """Threads that do not oversubscribe: usable cores minus busy ones, at least 1, and no
    more than ``OMP_NUM_THREADS`` where that is set (a job scheduler's or a benchmark's
    limit; ``torch.set_num_threads`` would otherwise override it)."""
    usable = usable_cpus()
    threads = max(1, min(usable, usable - round(busy_cpus())))
    limit = omp_num_threads()
    return min(threads, limit) if limit else threads


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count; returns the count set.

    Args:
        threads: a positive count, or None for :func:`default_threads`.

    Raises:
        ValueError: ``threads`` < 1.
    """
    import torch

    if threads is None:
        threads = default_threads()
    if threads < 1:
        raise ValueError(f"--threads must be at least 1 (got {threads})")
    torch.set_num_threads(threads)
    return threads
