"""Batch scoring with a shipped model: throughput, peak RSS, workers, DDP ranks, and the time a
``kill -9`` at about 50 % costs when the job is rerun with ``--resume``.

Data (``--domain``):

- ``molecule``: the first N SMILES of the MOSES training set (``moses/dataset/data/train.csv.gz``
  in the PyPI package ``molsets`` 0.3.1, 1,584,663 molecules, MIT), fetched and read through
  :mod:`scisuite.core.sources` like the other data sets, written as ``smiles`` CSV files.
- ``protein``: the first N entries of Debian ``mmseqs2-examples``
  ``/usr/share/doc/mmseqs2/example-data/DB.fasta.gz`` (20,000 UniProtKB sequences, median
  length 345), copied as they are into FASTA files; every residue gets its secondary-structure
  label (long sequences in overlapping windows) plus the sequence-level outputs.

Every run is its own ``python -m scisuite predict --domain D ... --device cpu --quiet``
subprocess. Peak RSS: the largest sum of ``VmRSS`` over the process and its children
(featurisation workers), sampled every 0.1 s from ``/proc``, and the main process's own
``ru_maxrss`` from ``os.wait4``. Records/s: input records over the subprocess's wall time
(start-up and model load included; the ``startup`` row scores 64 records to show that cost).

Per size: the streaming path (``-o out.parquet``), the sharded path (``--resume
--shard-size S``) with 0 / 1 / 2 featurisation workers (``--workers``), for ``--ddp-sizes`` the
same file on 2 DDP ranks of 1 thread each (``--devices 2 --strategy ddp``) against one process
of 2 threads (both on all the cores; the outputs are compared), and a kill: the
sharded run is killed with SIGKILL once half of its shards are in the manifest, then rerun
with ``--resume``; time lost = (killed run + resumed run) - uninterrupted sharded run, and the
resumed output is checked to equal the uninterrupted one.

Run from the repository root (figures are reported, never asserted)::

    PYTHONPATH=. python bench/batch_scoring.py --sizes 10000 --rss-only-sizes 100000
    PYTHONPATH=. python bench/batch_scoring.py --domain protein --sizes 1000 --ddp-sizes 1000 \
        --rss-only-sizes 20000 --results bench/results/batch_scoring_protein.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scisuite.core.io import atomic_path
from scisuite.core.sources import PackageSpec, open_package

MOSES = PackageSpec("molsets", "0.3.1")
MOSES_TRAIN = "moses/dataset/data/train.csv.gz"
UNIPROT_FASTA = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")
RESULTS = Path(__file__).parent / "results" / "batch_scoring.json"
ROOT = Path(__file__).parents[1]


def input_path(domain: str, size: int, directory: Path) -> Path:
    """Where the benchmark input of ``size`` records lives."""
    if domain == "protein":
        return directory / f"uniprot_{size}.fasta"
    return directory / f"moses_{size}.csv"


def write_inputs(
    domain: str, sizes: list[int], directory: Path, cache_dir: Path | None
) -> dict[str, Any]:
    """The first N records of the domain's source, one file per size."""
    if domain == "protein":
        return _write_fasta_inputs(sizes, directory)
    with open_package(MOSES, cache_dir) as archive:
        data, provenance = archive.read(MOSES_TRAIN)
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    if lines[0].strip().upper() != "SMILES" or max(sizes) > len(lines) - 1:
        raise SystemExit(f"{MOSES_TRAIN} has {len(lines) - 1} SMILES; sizes up to that")
    for size in sizes:
        path = input_path(domain, size, directory)
        if not path.exists():
            with atomic_path(path) as tmp:
                tmp.write_text("smiles\n" + "\n".join(lines[1 : size + 1]) + "\n")
    return {**provenance.as_dict(), "smiles_in_file": len(lines) - 1}


def _write_fasta_inputs(sizes: list[int], directory: Path) -> dict[str, Any]:
    """``uniprot_<N>.fasta``: the first N entries of ``DB.fasta.gz``, text unchanged."""
    if not UNIPROT_FASTA.exists():
        raise SystemExit(f"{UNIPROT_FASTA} is missing: apt-get install mmseqs2-examples")
    text = gzip.decompress(UNIPROT_FASTA.read_bytes()).decode("utf-8")
    entries = [">" + chunk for chunk in text.split("\n>")]
    entries[0] = entries[0][1:]  # the file's first '>' was not a separator
    if max(sizes) > len(entries):
        raise SystemExit(f"{UNIPROT_FASTA} has {len(entries)} entries; sizes up to that")
    for size in sizes:
        path = input_path("protein", size, directory)
        if not path.exists():
            with atomic_path(path) as tmp:
                tmp.write_text("\n".join(e.rstrip("\n") for e in entries[:size]) + "\n")
    residues = sum(len("".join(e.splitlines()[1:])) for e in entries)
    return {
        "file": str(UNIPROT_FASTA),
        "debian_package": "mmseqs2-examples",
        "entries_in_file": len(entries),
        "residues_in_file": residues,
    }


def _tree_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and its descendants (KiB)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        stack += [int(child) for child in children]
    return total


def run_predict(
    domain: str,
    args: list[str],
    threads: int | None = None,
    kill_when: Any = None,
    poll_s: float = 0.1,
) -> dict[str, Any]:
    """One ``sci predict`` subprocess (``--threads threads`` unless None: sci's default):
    wall time, peak RSS, killed or not."""
    command = [sys.executable, "-m", "scisuite", "predict", "--domain", domain, *args]
    if threads is not None:
        command += ["--threads", str(threads)]
    command += ["--device", "cpu", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(command, env=env, stderr=log)
        peak, killed = 0, False
        while True:  # os.wait4, not Popen.poll: it gives this child's own rusage
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid == child.pid:
                break
            peak = max(peak, _tree_rss_kib(child.pid))
            if kill_when is not None and not killed and kill_when():
                os.kill(child.pid, signal.SIGKILL)
                killed = True
            time.sleep(poll_s)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode not in (0, -signal.SIGKILL):
            log.seek(0)
            message = log.read().decode()[-2000:]
            raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{message}")
    return {
        "wall_s": round(wall, 2),
        "peak_rss_tree_mib": round(peak / 1024, 1),
        "main_maxrss_mib": round(usage.ru_maxrss / 1024, 1),
        "killed": killed,
    }


def _shards_in_manifest(parts: Path) -> int:
    try:
        return len(json.loads((parts / "_manifest.json").read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _same_table(a: Path, b: Path) -> bool:
    import pyarrow.parquet as pq

    return pq.read_table(a).equals(pq.read_table(b))


def _close_tables(a: Path, b: Path, rtol: float = 1e-5) -> bool:
    """Same rows and columns, text equal and numbers within ``rtol`` (thread counts differ)."""
    import numpy as np
    import pandas as pd

    left, right = pd.read_parquet(a), pd.read_parquet(b)
    if list(left.columns) != list(right.columns) or len(left) != len(right):
        return False
    for column in left.columns:
        x, y = left[column], right[column]
        if pd.api.types.is_float_dtype(x):
            if not np.allclose(x, y, rtol=rtol, atol=1e-6, equal_nan=True):
                return False
        elif not x.astype(str).equals(y.astype(str)):
            return False
    return True


def bench_ddp(domain: str, size: int, data: Path, work: Path) -> dict[str, Any]:
    """One process on 2 threads against 2 DDP ranks on 1 thread each, same file."""
    source = input_path(domain, size, data)
    out: dict[str, Any] = {"records": size, "runs": {}}
    single, ranks = work / f"ddp1_{size}.parquet", work / f"ddp2_{size}.parquet"
    ddp = ["--devices", "2", "--strategy", "ddp"]
    runs = {
        "one_process_2_threads": ([str(source), "-o", str(single)], 2),
        "ddp_2_ranks_1_thread": ([str(source), "-o", str(ranks), *ddp], 1),
    }
    for name, (args, threads) in runs.items():
        result = run_predict(domain, args, threads)
        result["records_per_s"] = round(size / result["wall_s"], 1)
        out["runs"][name] = result
        print(f"{size:>8} {name:<22} {json.dumps(result)}", flush=True)
    out["outputs_agree"] = _close_tables(single, ranks)
    return out


def bench_size(
    domain: str,
    size: int,
    data: Path,
    work: Path,
    shard_size: int,
    workers: list[int],
    full: bool,
    threads: int | None = None,
) -> dict[str, Any]:
    """The runs of one size; ``full=False``: only the sharded run with ``workers[0]``."""
    source = input_path(domain, size, data)
    out: dict[str, Any] = {"records": size, "shard_size": shard_size, "runs": {}}

    def record(name: str, result: dict[str, Any]) -> None:
        result["records_per_s"] = round(size / result["wall_s"], 1)
        out["runs"][name] = result
        print(f"{size:>8} {name:<22} {json.dumps(result)}", flush=True)

    stream = work / f"stream_{size}.parquet"
    if full:
        record("stream", run_predict(domain, [str(source), "-o", str(stream)], threads))
    reference = None
    for count in workers if full else workers[:1]:
        target = work / f"sharded_{size}_w{count}.parquet"
        args = [str(source), "-o", str(target), "--resume", "--shard-size", str(shard_size)]
        result = run_predict(domain, [*args, "--num-workers", str(count)], threads)
        record(f"sharded_workers_{count}", result)
        reference = reference or target
        if full:
            same = _same_table(stream, target)
            out["runs"][f"sharded_workers_{count}"]["same_as_stream"] = same
    if not full:
        return out

    killed = work / f"killed_{size}.parquet"
    parts = killed.with_name(f"{killed.name}.parts")
    total = -(-size // shard_size)
    args = [str(source), "-o", str(killed), "--resume", "--shard-size", str(shard_size)]
    first = run_predict(
        domain, args, threads, kill_when=lambda: _shards_in_manifest(parts) >= total // 2
    )
    done_at_kill = _shards_in_manifest(parts)
    second = run_predict(domain, args, threads)
    full = out["runs"][f"sharded_workers_{workers[0]}"]["wall_s"]
    out["kill"] = {
        "killed_run": first,
        "shards_done_at_kill": done_at_kill,
        "shards": total,
        "resumed_run": second,
        "lost_s": round(first["wall_s"] + second["wall_s"] - full, 2),
        "resumed_equals_uninterrupted": _same_table(reference, killed),
    }
    print(f"{size:>8} kill at {done_at_kill}/{total} shards: {json.dumps(out['kill'])}")
    return out


def _write(results: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", choices=["molecule", "protein"], default="molecule")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--rss-only-sizes",
        type=int,
        nargs="*",
        default=[],
        help="sizes run only sharded with the first worker count (flat-memory check)",
    )
    parser.add_argument(
        "--ddp-sizes",
        type=int,
        nargs="*",
        default=[],
        help="sizes scored by 1 process (2 threads) and by 2 DDP ranks (1 thread each)",
    )
    parser.add_argument("--shard-size", type=int, help="default: size / 20, at least 1000")
    parser.add_argument("--threads", type=int, help="torch threads of each run (default: sci's)")
    parser.add_argument("--cache-dir", type=Path, help="source package cache")
    parser.add_argument("--work-dir", type=Path, help="inputs and outputs (default: a temp dir)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="batch_scoring_") as scratch:
        work = args.work_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {
            "benchmark": "batch_scoring",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "load_average_at_start": os.getloadavg(),
            "threads": args.threads,
            "domain": args.domain,
            "data": write_inputs(
                args.domain,
                [64, *args.sizes, *args.rss_only_sizes, *args.ddp_sizes],
                work,
                args.cache_dir,
            ),
            "sizes": {},
            "ddp": {},
        }
        startup = [str(input_path(args.domain, 64, work)), "-o", str(work / "s.csv")]
        results["startup"] = run_predict(args.domain, startup, args.threads)
        print(f"start-up (64 records): {results['startup']}", flush=True)
        for size, full in [(n, True) for n in args.sizes] + [
            (n, False) for n in args.rss_only_sizes
        ]:
            shard = args.shard_size or max(1000, size // 20)
            results["sizes"][str(size)] = bench_size(
                args.domain, size, work, work, shard, args.workers, full, args.threads
            )
            _write(results, args.results)
        for size in args.ddp_sizes:
            results["ddp"][str(size)] = bench_ddp(args.domain, size, work, work)
            _write(results, args.results)
        _write(results, args.results)
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
