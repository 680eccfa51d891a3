"""Scoring speed when another process already keeps a core busy: torch's default thread
count (one per core) against scisuite's default (``--threads`` unset: usable cores minus the
busy ones).

A competing process (a pure-Python busy loop, like a second user's job) runs for the whole
bench. Then, in fresh ``sci predict`` processes, the same ``--records`` MOSES-like SMILES are
scored twice per setting, alternating, with ``--threads <cores>`` (what torch would pick) and
with the default. Reported per setting: median wall seconds, molecules/s, peak RSS (MB), and
the thread count the run used; then the ratio.

Usage (from the repository root)::

    .venv/bin/python bench/threads_under_load.py --records 2000

Results: ``bench/results/threads_under_load.json`` (atomic) and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCI = [sys.executable, "-m", "scisuite"]
TIME = ["/usr/bin/time", "-f", "MAXRSS_KB %M"]


def _busy_loop(stop_at: float) -> None:
    while time.time() < stop_at:
        pass


def _smiles(count: int) -> list[str]:
    """Drug-like SMILES from the repository's example files, repeated with small edits."""
    import pandas as pd

    base = pd.read_csv(ROOT / "data" / "freesolv_sample.csv")["smiles"].tolist()
    return [base[i % len(base)] + ("" if i < len(base) else "." + "C" * (1 + i % 5))
            for i in range(count)]  # fmt: skip


def _run(path: Path, out: Path, threads: int | None) -> dict[str, float]:
    argv = [*SCI, "predict", "--domain", "molecule", str(path), "-o", str(out), "--quiet"]
    if threads is not None:
        argv += ["--threads", str(threads)]
    start = time.perf_counter()
    done = subprocess.run([*TIME, *argv], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    rss = int(re.search(r"MAXRSS_KB (\d+)", done.stderr).group(1)) / 1024
    return {"seconds": seconds, "peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--results", type=Path, default=ROOT / "bench/results/threads_under_load.json"
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "smiles.smi"
        path.write_text("\n".join(_smiles(args.records)) + "\n")
        stop_at = time.time() + 3600
        competitor = multiprocessing.Process(target=_busy_loop, args=(stop_at,), daemon=True)
        competitor.start()
        time.sleep(2)
        runs: dict[str, list[dict[str, float]]] = {"torch default": [], "scisuite default": []}
        try:
            from scisuite.core.threads import default_threads

            chosen = default_threads()  # what `sci predict` picks while the competitor runs
            for _ in range(args.repeats):
                runs["torch default"].append(_run(path, Path(work) / "a.csv", cores))
                runs["scisuite default"].append(_run(path, Path(work) / "b.csv", None))
        finally:
            competitor.terminate()
    summary = {
        name: {
            "seconds": statistics.median(r["seconds"] for r in rows),
            "molecules_per_second": args.records / statistics.median(r["seconds"] for r in rows),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
            "runs": rows,
        }
        for name, rows in runs.items()
    }
    ratio = summary["torch default"]["seconds"] / summary["scisuite default"]["seconds"]
    result = {
        "records": args.records,
        "cores": cores,
        "torch_default_threads": cores,
        "scisuite_default_threads": chosen,
        "competing_processes": 1,
        "machine": platform.processor() or platform.machine(),
        "summary": summary,
        "speedup": ratio,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.results.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, args.results)
    print("| setting | s (median) | molecules/s | peak RSS MB |\n|---|---|---|---|")
    for name, row in summary.items():
        print(f"| {name} | {row['seconds']:.1f} | {row['molecules_per_second']:.0f} | "
              f"{row['peak_rss_mb']:.0f} |")  # fmt: skip
    print(f"\nscisuite default is {ratio:.2f}x faster with one competing busy process")


if __name__ == "__main__":
    main()
