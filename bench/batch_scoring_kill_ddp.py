"""``kill -9`` of a distributed sharded scoring job at about 50 %, then ``--resume``.

Runs ``sci predict --resume --devices 2 --strategy ddp`` (2 gloo ranks, 1 thread each) on an
input, sends SIGKILL to the whole process group once half of the shards are in the rank
manifests, reruns the same command line, and checks that the assembled output equals an
uninterrupted run's output (``--reference``, e.g. the single-process output of
``bench/batch_scoring.py``; 1 thread per rank equals 1 process at 1 thread byte for byte).
Reports each run's wall time, the peak RSS of its process tree (sampled every second) and how
long before the kill the last parts were written (work lost in flight).

    python bench/batch_scoring_kill_ddp.py moses_1584663.csv --shard-size 79233 \\
        --reference sharded_1584663_w0.parquet --work-dir /tmp/kill \\
        -o bench/results/batch_scoring_1.58M_kill_ddp.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batch_scoring import _tree_rss_kib  # the sibling bench script (bench/ is on sys.path)

from scisuite.core.io import write_text_or_print

ROOT = Path(__file__).parents[1]


def shards_done(parts: Path) -> set[int]:
    """Shard indices recorded in any manifest of ``parts``."""
    done: set[int] = set()
    for name in glob.glob(str(parts / "_manifest*.json")):
        try:
            done |= {s["index"] for s in json.loads(Path(name).read_text())["shards"]}
        except (OSError, ValueError, KeyError):
            continue  # being replaced at this moment
    return done


def run(command: list[str], parts: Path, kill_at: int | None) -> dict[str, Any]:
    """One run; with ``kill_at``, SIGKILL its process group once that many shards are done."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.time()
    process = subprocess.Popen(command, env=env, start_new_session=True)
    peak, killed_at = 0, None
    while process.poll() is None:
        peak = max(peak, _tree_rss_kib(process.pid))
        if kill_at is not None and len(shards_done(parts)) >= kill_at:
            killed_at = time.time()
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
        time.sleep(1.0)
    result: dict[str, Any] = {
        "wall_s": round(time.time() - start, 1),
        "returncode": process.returncode,
        "shards_done": len(shards_done(parts)),
        "peak_rss_tree_mib": round(peak / 1024, 1),
    }
    if killed_at is not None:
        written = sorted(os.path.getmtime(p) for p in glob.glob(str(parts / "part-*.parquet")))
        result["last_parts_written_s_before_kill"] = [round(killed_at - t, 1) for t in written[-2:]]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--domain", default="molecule")
    parser.add_argument("--shard-size", type=int, required=True)
    parser.add_argument("--reference", type=Path, required=True, help="uninterrupted output")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    import pyarrow.parquet as pq

    out = args.work_dir / "resumed.parquet"
    parts = out.with_name(out.name + ".parts")
    command = [sys.executable, "-m", "scisuite", "predict", "--domain", args.domain]
    command += [str(args.input), "-o", str(out), "--resume", "--shard-size", str(args.shard_size)]
    command += ["--threads", "1", "--device", "cpu", "--devices", "2", "--strategy", "ddp"]
    command += ["--quiet"]
    rows = pq.ParquetFile(args.reference).metadata.num_rows
    total = -(-rows // args.shard_size)
    results: dict[str, Any] = {"command": command, "shards": total}
    results["killed_run"] = run(command, parts, kill_at=total // 2)
    results["resumed_run"] = run(command, parts, kill_at=None)
    results["rows"] = pq.ParquetFile(out).metadata.num_rows
    results["equal_to_reference"] = pq.read_table(out).equals(pq.read_table(args.reference))
    write_text_or_print(json.dumps(results, indent=2), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
