"""Sparse edge-list vs dense masked attention on mesh-like graphs, CPU time and peak memory.

One ``MultiHeadGraphAttention(d_model=128, num_heads=4)`` forward under ``torch.inference_mode``
is timed with (a) an :class:`~scisuite.core.patterns.EdgePattern` (sparse kernel) and (b) a
single-graph :class:`~scisuite.core.patterns.DensePattern` (dense kernel: SDPA with a mask),
the latter only where the ``N^2 * heads * 4``-byte score-matrix estimate is at most
``--dense-limit-gib``. The full ``GraphSeqLayer`` (attention branch, no local message passing,
default 2x feed-forward) is also timed on the sparse pattern.

Graphs: ``N`` uniform random points in the unit square, Delaunay triangulation, every triangle
side in both directions plus self loops (``adjacency_pattern``), united with
``jumps_per_node`` uniformly random senders per receiver (``random_jump_pattern``) to reach
about 10 edges per node.

Memory: every case runs one cold forward in a fresh subprocess (this script with
``--worker memory``); its peak RSS is ``VmHWM`` after the high-water mark is reset
(``/proc/self/clear_refs``) once graph, model and input are in memory, and the increase is that
peak minus the RSS at the reset. Time: one more subprocess per size (``--worker timing``) warms
every case up, then runs them interleaved round by round, so that each round's cases share the
same background load; ratios are medians of per-round ratios. Figures are reported, never
asserted.

Run from the repository root::

    PYTHONPATH=. python bench/attention_sparse_vs_dense.py --sizes 1000 10000 100000 300000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import torch
import torch_geometric
from scipy.spatial import Delaunay

from scisuite.core.attention import MultiHeadGraphAttention
from scisuite.core.layers import GraphSeqLayer
from scisuite.core.patterns import (
    DensePattern,
    EdgePattern,
    adjacency_pattern,
    random_jump_pattern,
    union,
)

D_MODEL = 128
NUM_HEADS = 4
CASES = ("sparse", "dense", "layer")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "attention_sparse_vs_dense.json"
RESULT_PREFIX = "BENCH_RESULT "


def mesh_edges(num_nodes: int, seed: int) -> torch.Tensor:
    """Triangle sides of a Delaunay triangulation of random points in the unit square.

    Args:
        num_nodes: number of points ``N`` (>= 3).
        seed: seed of the NumPy generator that draws the points.

    Returns:
        ``[2, 3 * num_triangles]`` long tensor, one direction per side (shared sides repeat).
    """
    points = np.random.default_rng(seed).random((num_nodes, 2))
    simplices = Delaunay(points).simplices.astype(np.int64)  # [T, 3]
    sides = np.concatenate([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [2, 0]]])
    return torch.from_numpy(np.ascontiguousarray(sides.T))


def mesh_pattern(num_nodes: int, seed: int, jumps_per_node: int) -> EdgePattern:
    """Mesh adjacency (both directions) + self loops, united with random jumps.

    Args:
        num_nodes: number of nodes ``N``.
        seed: seed for the points (NumPy) and the jumps (``torch.Generator``).
        jumps_per_node: uniformly random senders per receiver (0 = adjacency only).

    Returns:
        receiver-sorted, duplicate-free pattern with about ``7 + jumps_per_node`` edges/node.
    """
    pattern = adjacency_pattern(mesh_edges(num_nodes, seed), num_nodes)
    if jumps_per_node > 0:
        generator = torch.Generator().manual_seed(seed)
        pattern = union(pattern, random_jump_pattern(num_nodes, jumps_per_node, generator))
    return pattern


def dense_score_bytes(num_nodes: int, num_heads: int) -> int:
    """Bytes of one float32 ``[heads, N, N]`` score matrix: what an unfused (math-path) dense
    kernel allocates. CPU SDPA's flash kernel never builds it, so this overstates its memory."""
    return num_nodes * num_nodes * num_heads * 4


def _proc_status_kib() -> dict[str, int]:
    """``VmRSS`` / ``VmHWM`` of this process in KiB, from ``/proc/self/status``."""
    values: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark (Linux ``clear_refs`` 5); False if not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def build_case(
    case: str, edge_index: torch.Tensor, seed: int
) -> tuple[torch.nn.Module, torch.Tensor, DensePattern | EdgePattern]:
    """Model, ``[N, 128]`` input and pattern of one case, seeded with ``seed``.

    Args:
        case: ``"sparse"`` / ``"dense"`` attention, or ``"layer"`` (sparse ``GraphSeqLayer``:
            attention branch, no local message passing, default 2x feed-forward).
        edge_index: ``[2, E]`` receiver-sorted pattern edges; ``N = max + 1``.
        seed: seed for the parameters (``torch.manual_seed``) and the input (own generator).
    """
    num_nodes = int(edge_index.max()) + 1
    torch.manual_seed(seed)
    model: torch.nn.Module = (
        GraphSeqLayer(D_MODEL, NUM_HEADS)
        if case == "layer"
        else MultiHeadGraphAttention(D_MODEL, NUM_HEADS)
    )
    x = torch.randn(num_nodes, D_MODEL, generator=torch.Generator().manual_seed(seed))
    pattern: DensePattern | EdgePattern
    if case == "dense":
        pattern = DensePattern(torch.zeros(num_nodes, dtype=torch.long))
    else:
        pattern = EdgePattern(edge_index, num_nodes)
    return model.eval(), x, pattern


def memory_worker(case: str, graph_path: Path, seed: int) -> dict[str, Any]:
    """Peak memory of one (cold) forward of ``case``, in this fresh process.

    The peak-RSS mark is reset once graph, model and input are built; the increase is the
    peak ``VmHWM`` after the forward minus ``VmRSS`` at the reset, both in MiB.
    """
    model, x, pattern = build_case(case, torch.load(graph_path, weights_only=True), seed)
    reset_ok = reset_peak_rss()
    baseline_kib = _proc_status_kib()["VmRSS"]
    start = time.perf_counter()
    with torch.inference_mode():
        model(x, pattern)
    cold_ms = (time.perf_counter() - start) * 1e3
    if reset_ok:
        peak_kib = _proc_status_kib()["VmHWM"]
        method = "VmHWM after clear_refs"
    else:  # the mark could not be reset: the lifetime peak still bounds the forward's peak
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "ru_maxrss (lifetime)"
    return {
        "case": case,
        "cold_forward_ms": cold_ms,
        "baseline_rss_mib": baseline_kib / 1024.0,
        "peak_rss_mib": peak_kib / 1024.0,
        "peak_increase_mib": (peak_kib - baseline_kib) / 1024.0,
        "memory_method": method,
    }


def timing_worker(
    cases: list[str], graph_path: Path, seed: int, warmup: int, repeats: int
) -> dict[str, Any]:
    """Forward times (ms) of every case, interleaved round by round in one process.

    Interleaving makes each round's cases share the same background load, so per-round
    ratios stay meaningful on a shared machine even when absolute times drift.
    """
    edge_index = torch.load(graph_path, weights_only=True)
    built = {case: build_case(case, edge_index, seed) for case in cases}
    times_ms: dict[str, list[float]] = {case: [] for case in cases}
    with torch.inference_mode():
        for round_ in range(warmup + repeats):
            for case, (model, x, pattern) in built.items():
                start = time.perf_counter()
                model(x, pattern)
                elapsed_ms = (time.perf_counter() - start) * 1e3
                if round_ >= warmup:
                    times_ms[case].append(elapsed_ms)
    return {
        "threads": torch.get_num_threads(),
        "warmup": warmup,
        "times_ms": times_ms,
        "load_average_1min_after": os.getloadavg()[0],
    }


def run_worker(args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run this script with ``--worker ...`` ``args`` in a fresh Python process.

    Returns:
        the worker's result, or ``{"error": ...}`` if it failed (e.g. killed for memory)
        or ran past ``timeout_s`` seconds.
    """
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = " | ".join(done.stderr.strip().splitlines()[-3:])
    return {"error": f"worker exited with {done.returncode}: {tail}"}


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory and library versions of the machine running the benchmark."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name"))
        with open("/proc/meminfo") as meminfo:
            mem_kib = next(int(ln.split()[1]) for ln in meminfo if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kib = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "scipy": scipy.__version__,
        "torch_threads_default": torch.get_num_threads(),
        "load_average_at_start": list(os.getloadavg()),
    }


def _fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


def markdown_tables(rows: list[dict[str, Any]]) -> str:
    """The attention table (sparse vs dense) and the sparse ``GraphSeqLayer`` table."""

    def kernel_cells(result: dict[str, Any]) -> list[str]:
        if "median_ms" not in result:
            return [result.get("skipped") or result.get("error", "—"), "—"]
        peak = f"{_fmt(result.get('peak_increase_mib'))} ({_fmt(result.get('peak_rss_mib'))})"
        return [_fmt(result["median_ms"], 1), peak]

    lines = [
        "| nodes | edges | edges/node | sparse ms | sparse peak +MiB (RSS) "
        "| dense ms | dense peak +MiB (RSS) | dense/sparse time | dense/sparse memory |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [f"{row['nodes']:,}", f"{row['edges']:,}", f"{row['edges_per_node']:.2f}"]
        cells += kernel_cells(row["sparse"]) + kernel_cells(row["dense"])
        cells += [_fmt(row["time_ratio"], 1, "×"), _fmt(row["memory_ratio"], 1, "×")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| nodes | edges | GraphSeqLayer ms (sparse) | peak +MiB (RSS) | layer/attention time |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [f"{row['nodes']:,}", f"{row['edges']:,}", *kernel_cells(row["layer"])]
        cells.append(_fmt(row["layer_ratio"], 2, "×"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_ratio(numerator: list[float] | None, denominator: list[float] | None) -> float | None:
    """Median over rounds of ``numerator[r] / denominator[r]`` (None if either is missing)."""
    if not numerator or not denominator:
        return None
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=path.name + ".", suffix=".tmp", delete=False
    ) as tmp:
        json.dump(data, tmp, indent=2)
        tmp.write("\n")
    os.replace(tmp.name, path)


def measure_size(num_nodes: int, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Build one graph, then memory (one process per case) and interleaved timing."""
    start = time.perf_counter()
    pattern = mesh_pattern(num_nodes, args.seed, args.jumps_per_node)
    build_s = time.perf_counter() - start
    graph_path = workdir / f"edges_{num_nodes}.pt"
    torch.save(pattern.edge_index, graph_path)
    large = num_nodes >= args.large_from
    row: dict[str, Any] = {
        "nodes": num_nodes,
        "edges": pattern.num_edges,
        "edges_per_node": pattern.num_edges / num_nodes,
        "graph_build_s": build_s,
        "warmup": 1 if large else 2,
        "repeats": args.large_repeats if large else args.repeats,
    }
    del pattern
    score_gib = dense_score_bytes(num_nodes, NUM_HEADS) / 1024**3
    cases = [c for c in CASES if c != "dense" or score_gib <= args.dense_limit_gib]
    if "dense" not in cases:
        row["dense"] = {"skipped": f"does not fit (est. {score_gib:,.0f} GiB)"}
    common = ["--graph", str(graph_path), "--seed", str(args.seed), "--threads", str(args.threads)]
    for case in cases:
        print(f"[{num_nodes:,} nodes] memory: {case}", file=sys.stderr, flush=True)
        row[case] = run_worker(["--worker", "memory", "--case", case, *common], args.timeout)
    runnable = [case for case in cases if "error" not in row[case]]
    print(f"[{num_nodes:,} nodes] timing: {' '.join(runnable)}", file=sys.stderr, flush=True)
    timing = run_worker(
        ["--worker", "timing", "--case", *runnable, *common]
        + ["--warmup", str(row["warmup"]), "--repeats", str(row["repeats"])],
        args.timeout,
    )
    row["timing"] = {k: v for k, v in timing.items() if k != "times_ms"}
    for case, times in timing.get("times_ms", {}).items():
        row[case].update(times_ms=times, median_ms=statistics.median(times), min_ms=min(times))
    times_of = {case: row[case].get("times_ms") for case in CASES if case in row}
    row["time_ratio"] = paired_ratio(times_of.get("dense"), times_of.get("sparse"))
    row["layer_ratio"] = paired_ratio(times_of.get("layer"), times_of.get("sparse"))
    dense_peak = row["dense"].get("peak_increase_mib")
    sparse_peak = row["sparse"].get("peak_increase_mib")
    row["memory_ratio"] = dense_peak / sparse_peak if dense_peak and sparse_peak else None
    return row


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every size and collect the figures, the command and the machine."""
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench_attention_") as workdir:
        rows = [measure_size(n, Path(workdir), args) for n in args.sizes]
    machine["load_average_at_end"] = list(os.getloadavg())
    return {
        "benchmark": "attention_sparse_vs_dense",
        "command": "PYTHONPATH=. python bench/attention_sparse_vs_dense.py "
        + " ".join(sys.argv[1:]),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {
            "d_model": D_MODEL,
            "num_heads": NUM_HEADS,
            "dtype": "float32",
            "mode": "torch.inference_mode, model.eval()",
            "seed": args.seed,
            "threads": rows[0]["timing"].get("threads") if rows else None,
            "jumps_per_node": args.jumps_per_node,
            "repeats": args.repeats,
            "large_repeats": args.large_repeats,
            "large_from": args.large_from,
            "dense_limit_gib": args.dense_limit_gib,
            "pattern": "Delaunay(uniform points in unit square) sides both ways + self loops"
            f" ∪ {args.jumps_per_node} uniform random senders per receiver",
            "memory": "one cold forward per fresh process; increase = VmHWM - VmRSS after "
            "graph, model and input are built",
            "timing": "cases interleaved round by round in one process after warm-up; "
            "ratios are medians of per-round ratios",
        },
        "results": rows,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000, 300000])
    parser.add_argument("--repeats", type=int, default=7, help="timed forwards per case")
    parser.add_argument(
        "--large-repeats", type=int, default=3, help="timed forwards for graphs >= --large-from"
    )
    parser.add_argument("--large-from", type=int, default=100000, help="nodes (default 1e5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jumps-per-node", type=int, default=3)
    parser.add_argument(
        "--dense-limit-gib", type=float, default=8.0, help="skip dense above N^2*H*4 bytes"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (default 0: torch's own)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--worker", choices=("memory", "timing"), help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=CASES, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--graph", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        result = (
            memory_worker(args.case[0], args.graph, args.seed)
            if args.worker == "memory"
            else timing_worker(args.case, args.graph, args.seed, args.warmup, args.repeats)
        )
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    report = run_benchmark(args)
    write_json_atomic(report, args.output)
    machine = report["machine"]
    print(
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"torch {machine['torch']}, {report['config']['threads']} threads\n"
    )
    print(markdown_tables(report["results"]))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
