"""Inference at scale: one rollout step of the mesh models on meshes of 1k to 300k nodes.

For each size, gmsh meshes the CylinderFlow channel (DFG cylinder, ``channel_mesh``) with
about that many vertices (cached as ``.npz`` under ``--cache-dir``, meshing time recorded
once). Then, per (model, size), a *fresh* child process loads the mesh, builds the graph
(edges, attention pattern) from a Poiseuille initial state, and times ``--repeats`` single
model steps (``torch.inference_mode``, batch of one mesh; the first step is reported
separately as ``first_step_seconds``). The child reports:

* ``featurize_seconds``: edges + attention pattern (K-hop, dilated rings, global nodes);
* ``step_seconds``: median of the timed steps (``first_step_seconds`` is the first);
* ``rss_after_featurize_mb``: resident memory before the first step;
* ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``) over everything;
* ``pattern_edges`` / ``mesh_edges``: attention memory is O(pattern edges), never O(N^2).

Weights are random unless ``--checkpoint`` is given (speed and memory do not depend on
them). Threads are pinned with ``--threads``.

Usage (from the repository root)::

    .venv/bin/python bench/mesh_scale.py                                   # 1k..300k, ~30 min
    .venv/bin/python bench/mesh_scale.py --sizes 1000,10000 --models transformer,mgn

Results: ``bench/results/mesh_scale.json`` (written atomically after every run) and a
markdown table on stdout.
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
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DEFAULT_SIZES = (1_000, 10_000, 100_000, 300_000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--models", default="transformer", help="transformer,mgn")
    parser.add_argument("--checkpoint", type=Path, help="weights for the transformer runs")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per run (3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per child (3600)")
    parser.add_argument("--cache-dir", type=Path, default=RESULTS / "mesh_scale_cache")
    parser.add_argument("--output", type=Path, default=RESULTS / "mesh_scale.json")
    parser.add_argument("--worker", choices=("mesh", "step"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def mesh_worker(size: int, cache: Path) -> dict[str, Any]:
    """Mesh the channel with ~``size`` vertices and save it to ``cache`` (npz)."""
    import numpy as np

    from scisuite.domains.mesh.geometry import channel_mesh

    start = time.perf_counter()
    mesh = channel_mesh(num_vertices=size)
    seconds = time.perf_counter() - start
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, points=mesh.points, triangles=mesh.triangles, node_type=mesh.node_type)
    os.replace(tmp, cache)
    return {"num_nodes": mesh.num_nodes, "mesh_seconds": seconds}


def step_worker(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """One model on one cached mesh: featurize, then time single steps."""
    import numpy as np
    import torch
    from torch_geometric.data import Batch

    from scisuite.core.checkpoint import load_checkpoint
    from scisuite.domains.mesh.config import (
        MeshConfig,
        NodeType,
        mgn_baseline,
        transformer_config,
    )
    from scisuite.domains.mesh.features import initial_graph
    from scisuite.domains.mesh.geometry import CHANNEL_HEIGHT
    from scisuite.domains.mesh.io import MeshState
    from scisuite.domains.mesh.model import MeshModel

    torch.set_num_threads(args.threads)
    arrays = np.load(cache)
    points, node_type = arrays["points"], arrays["node_type"]
    y = points[:, 1]
    velocity = np.zeros_like(points)
    velocity[:, 0] = 1.5 * 4 * y * (CHANNEL_HEIGHT - y) / CHANNEL_HEIGHT**2
    velocity[node_type == int(NodeType.WALL)] = 0.0
    state = MeshState(points, arrays["triangles"], node_type, velocity, np.zeros(len(points)))
    state_dict = None
    if args.model == "transformer" and args.checkpoint is not None:
        meta, state_dict = load_checkpoint(args.checkpoint)
        config = MeshConfig.from_dict(meta.model_config)
    else:
        config = transformer_config() if args.model == "transformer" else mgn_baseline()
    torch.manual_seed(0)
    model = MeshModel(config).eval()
    if state_dict is not None:
        model.load_state_dict(state_dict)
    start = time.perf_counter()
    graph = initial_graph(state, config)
    batch = Batch.from_data_list([graph])
    featurize_seconds = time.perf_counter() - start
    rss_after_featurize = _rss_mb()
    times = []
    with torch.inference_mode():
        for _ in range(args.repeats + 1):
            start = time.perf_counter()
            out = model(batch)
            times.append(time.perf_counter() - start)
    if not bool(torch.isfinite(out).all()):
        raise RuntimeError("non-finite outputs")
    pattern = getattr(graph, "pattern_index", None)
    return {
        "model": args.model,
        "num_nodes": int(graph.num_nodes),
        "mesh_edges": int(graph.edge_index.size(1)),
        "pattern_edges": int(pattern.size(1)) if pattern is not None else 0,
        "global_tokens": config.backbone.global_tokens,
        "parameters": sum(p.numel() for p in model.parameters()),
        "featurize_seconds": featurize_seconds,
        "first_step_seconds": times[0],
        "step_seconds": statistics.median(times[1:]),
        "rss_after_featurize_mb": rss_after_featurize,
        "peak_rss_mb": _peak_rss_mb(),
        "threads": args.threads,
    }


def _child(
    argv: list[str], timeout: float, env: dict[str, str] | None = None, script: Path | None = None
) -> dict[str, Any]:
    """Run ``script`` (this file) with ``argv`` in a fresh process; its last stdout line is
    the JSON result (or ``{"error": ...}``)."""
    command = [sys.executable, str((script or Path(__file__)).resolve()), *argv]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write(results: dict[str, Any], path: Path) -> None:
    from scisuite.core.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")


def markdown(runs: list[dict[str, Any]]) -> str:
    rows = [
        "| model | nodes | mesh edges | pattern edges | featurize s | step s | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if "error" in run:
            rows.append(f"| {run['model']} | ~{run['target_size']} | error: {run['error']} ||||")
            continue
        rows.append(
            f"| {run['model']} | {run['num_nodes']} | {run['mesh_edges']} | "
            f"{run['pattern_edges']} | {run['featurize_seconds']:.2f} | "
            f"{run['step_seconds']:.3f} | {run['peak_rss_mb']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker == "mesh":
        print(json.dumps(mesh_worker(args.size, args.cache_dir / f"mesh_{args.size}.npz")))
        return 0
    if args.worker == "step":
        print(json.dumps(step_worker(args, args.cache_dir / f"mesh_{args.size}.npz")))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    results: dict[str, Any] = {
        "benchmark": "one inference step vs mesh size (fresh process per run)",
        "threads": args.threads,
        "repeats": args.repeats,
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "meshes": {},
        "runs": [],
    }
    common = ["--cache-dir", str(args.cache_dir), "--threads", str(args.threads)]
    for size in sizes:
        cache = args.cache_dir / f"mesh_{size}.npz"
        if not cache.exists():
            print(f"meshing ~{size} vertices ...", file=sys.stderr, flush=True)
            results["meshes"][str(size)] = _child(
                ["--worker", "mesh", "--size", str(size), *common], args.timeout
            )
        for model in models:
            print(f"{model} on ~{size} nodes ...", file=sys.stderr, flush=True)
            extra = ["--checkpoint", str(args.checkpoint)] if args.checkpoint else []
            run = _child(
                [
                    "--worker",
                    "step",
                    "--size",
                    str(size),
                    "--model",
                    model,
                    "--repeats",
                    str(args.repeats),
                    *common,
                    *extra,
                ],
                args.timeout,
            )
            results["runs"].append({"target_size": size, "model": model, **run})
            _write(results, args.output)
    print(markdown(results["runs"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
