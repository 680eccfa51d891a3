"""Speed against the solver: one stored frame of the scikit-fem solver vs one model step.

For each mesh size (~2k, ~30k, ~300k vertices; the DFG channel and cylinder of
``channel_mesh``, Um = 1.5 m/s so Re = 100), two *fresh* child processes with the same
torch/BLAS thread count (``--threads``) time:

* **solver**: ``CylinderFlowSolver`` (Taylor-Hood P2/P1, IMEX BDF2) at its stable
  substep count (``default_substeps``, Courant 0.4: the count the data generator uses).
  ``setup_seconds`` is assembly and the one sparse LU factorisation; ``frame_seconds`` the
  median over ``--repeats`` stored frames (``dt = 0.01`` s, ``substeps`` solver steps each)
  after the inflow ramp has started;
* **model**: one step of the mesh model in inference mode (``bench/mesh_scale.py``'s
  step worker: graph and attention pattern built once per mesh, then reused, as a rollout
  does), weights from ``--checkpoint`` (speed does not depend on them).

``speedup = frame_seconds / (step_seconds / frames_per_step)``: one model step advances
``frames_per_step`` stored frames (the checkpoint's ``frame_stride``).

Usage (from the repository root)::

    .venv/bin/python bench/mesh_vs_solver.py --checkpoint scisuite/weights/mesh --threads 1

Results: ``bench/results/mesh_vs_solver.json`` (written after every run) and a markdown
table on stdout. A run that exceeds ``--timeout`` is recorded as such.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_scale import _child as run_child  # noqa: E402
from mesh_scale import _peak_rss_mb, _write, mesh_worker, step_worker  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DEFAULT_SIZES = (2_000, 30_000, 300_000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--checkpoint", type=Path, help="model weights (default: random)")
    parser.add_argument("--threads", type=int, default=1, help="threads of both (1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed frames / steps (3)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    parser.add_argument("--cache-dir", type=Path, default=RESULTS / "mesh_scale_cache")
    parser.add_argument("--output", type=Path, default=RESULTS / "mesh_vs_solver.json")
    parser.add_argument("--worker", choices=("mesh", "solver", "step"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="transformer", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def solver_worker(size: int, repeats: int) -> dict[str, Any]:
    """Mesh the channel, set the solver up, time ``repeats`` stored frames."""
    from scisuite.domains.mesh.geometry import channel_mesh
    from scisuite.domains.mesh.solver import CylinderFlowSolver, FlowConfig, default_substeps

    mesh = channel_mesh(num_vertices=size)
    config = FlowConfig(peak_inflow=1.5)
    substeps = default_substeps(mesh, config)
    start = time.perf_counter()
    solver = CylinderFlowSolver(mesh, FlowConfig(peak_inflow=1.5, substeps=substeps))
    setup = time.perf_counter() - start
    solver.advance_frame()  # first frame: caches warm, ramp started
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        solver.advance_frame()
        times.append(time.perf_counter() - start)
    return {
        "num_nodes": mesh.num_nodes,
        "substeps": substeps,
        "setup_seconds": setup,
        "frame_seconds": statistics.median(times),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _child(argv: list[str], timeout: float, threads: int) -> dict[str, Any]:
    env = {
        **os.environ,
        **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }
    return run_child(argv, timeout, env, Path(__file__))


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| nodes | solver substeps | solver setup s | solver frame s | model step s | "
        "speed-up per frame | solver peak RSS MB | model peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        solver, model = row["solver"], row["model"]
        if "error" in solver or "error" in model:
            lines.append(
                f"| ~{row['target_size']} | {solver.get('error', solver.get('substeps'))} | "
                f"| | {model.get('error', model.get('step_seconds'))} | | | |"
            )
            continue
        lines.append(
            f"| {solver['num_nodes']} | {solver['substeps']} | {solver['setup_seconds']:.1f} | "
            f"{solver['frame_seconds']:.3f} | {model['step_seconds']:.4f} | "
            f"{row['speedup']:.1f}x | {solver['peak_rss_mb']:.0f} | {model['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker == "mesh":
        print(json.dumps(mesh_worker(args.size, args.cache_dir / f"mesh_{args.size}.npz")))
        return 0
    if args.worker == "solver":
        print(json.dumps(solver_worker(args.size, args.repeats)))
        return 0
    if args.worker == "step":
        print(json.dumps(step_worker(args, args.cache_dir / f"mesh_{args.size}.npz")))
        return 0
    frames_per_step = 1
    if args.checkpoint is not None:
        from scisuite.core.checkpoint import read_meta

        frames_per_step = int(read_meta(args.checkpoint).model_config.get("frame_stride", 1))
    results: dict[str, Any] = {
        "benchmark": "one solver frame vs one model step, same mesh and threads",
        "threads": args.threads,
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "frames_per_step": frames_per_step,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "runs": [],
    }
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        common = ["--size", str(size), "--threads", str(args.threads)]
        common += ["--repeats", str(args.repeats), "--cache-dir", str(args.cache_dir)]
        if not (args.cache_dir / f"mesh_{size}.npz").exists():
            _child(["--worker", "mesh", *common], args.timeout, args.threads)
        model_argv = ["--worker", "step", *common]
        if args.checkpoint is not None:
            model_argv += ["--checkpoint", str(args.checkpoint)]
        model = _child(model_argv, args.timeout, args.threads)
        solver = _child(["--worker", "solver", *common], args.timeout, args.threads)
        row: dict[str, Any] = {"target_size": size, "solver": solver, "model": model}
        if "error" not in solver and "error" not in model:
            if solver["num_nodes"] != model["num_nodes"]:
                row["warning"] = "solver and model meshes differ in size"
            per_frame = model["step_seconds"] / frames_per_step
            row["speedup"] = solver["frame_seconds"] / per_frame
        results["runs"].append(row)
        _write(results, args.output)
        print(markdown(results["runs"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
