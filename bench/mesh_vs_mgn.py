"""Side-by-side benchmark: scisuite's mesh graph transformer vs the MeshGraphNets baseline.

Both models are built from the same core (:mod:`scisuite.domains.mesh.config`: the default
transformer and :func:`~scisuite.domains.mesh.config.mgn_baseline`), see the same generated
trajectories split the same way (by trajectory, seeded 80/10/10, as ``sci train``), the same
normaliser fitting, noise (0.02 m/s) and optimiser (AdamW, linear warm-up then cosine decay,
gradient clip 1.0), and get the same budget: ``--steps`` optimiser steps of ``--batch-size``
frames each, optionally capped by ``--minutes`` of training wall-clock per model (whichever
comes first; the learning-rate decay follows the same budget; the JSON records which).
Threads are pinned (``--threads``) for both.

Reported per model, and as a ratio to MGN: one-step, 50-step and all-rollout RMSE (u, v, p,
velocity, pooled; over all nodes and over updated nodes), parameters, training time per
optimiser step and inference time per rollout step (one mesh, batch 1). A "persistence"
row (no change: ``u_{t+1} = u_t``, ``p_{t+1} = p_t``) gives the floor any model must beat.

NVIDIA PhysicsNeMo's MeshGraphNet is not run: it needs its own ~6 GB environment (torch
2.15 + CUDA wheels) and torch_scatter built from source (see ../shared/DATA.md); the
MGN baseline here is the same architecture (15 steps, latent 128, sum aggregation).

Usage (from the repository root, with the project venv)::

    .venv/bin/python bench/mesh_vs_mgn.py --data /tmp/mesh_data/cyl --steps 2000 \\
        --batch-size 2 --threads 2
    .venv/bin/python bench/mesh_vs_mgn.py --data DIR --steps 50 --rollout-steps 60   # smoke

Results: a markdown table on stdout and ``bench/results/mesh_vs_mgn.json`` (atomic; written
after each model). Trained weights go to ``bench/results/mesh_work/<model>/`` (checkpoint
directories ``sci predict --checkpoint`` reads).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Batch

from scisuite import __version__
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint
from scisuite.core.config import ConfigError
from scisuite.core.io import atomic_path
from scisuite.core.plugin import TrainRequest
from scisuite.domains.mesh.config import MeshConfig
from scisuite.domains.mesh.io import MeshTrajectory
from scisuite.domains.mesh.metrics import HORIZONS, RolloutErrors, horizon_label
from scisuite.domains.mesh.plugin import PLUGIN
from scisuite.domains.mesh.report import persistence_errors
from scisuite.domains.mesh.rollout import rollout
from scisuite.domains.mesh.training_data import evaluation_trajectories

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="generated trajectories (dir)")
    parser.add_argument("--seed", type=int, default=0, help="split, init and noise seed (0)")
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps per model")
    parser.add_argument("--minutes", type=float, default=0.0, help="wall-clock cap (0 = none)")
    parser.add_argument("--batch-size", type=int, default=2, help="frames per step (2)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (1e-3)")
    parser.add_argument("--frames-per-trajectory", type=int, help="training frames sampled")
    parser.add_argument("--rollout-steps", type=int, help="cap on test rollout length (all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--models", default="transformer,mgn", help="comma separated")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL:KEY=VALUE",
        help="config override for one model, e.g. transformer:backbone.d_model=96",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "mesh_vs_mgn.json")
    parser.add_argument("--work-dir", type=Path, default=RESULTS / "mesh_work")
    return parser.parse_args(argv)


def overrides_for(model: str, pairs: list[str]) -> dict[str, Any]:
    """``["transformer:backbone.d_model=96"]`` -> ``{"backbone.d_model": 96}`` for that model."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, _, rest = pair.partition(":")
        if name != model:
            continue
        key, _, raw = rest.partition("=")
        try:
            found[key] = json.loads(raw)
        except json.JSONDecodeError:
            found[key] = raw
    return found


def schedule(progress: float, warmup: float = 0.05) -> float:
    """Learning-rate factor at ``progress`` in [0, 1] of the budget: linear warm-up over the
    first ``warmup`` fraction, then cosine to 5% (as core.training)."""
    if progress < warmup:
        return (progress + 1e-3) / (warmup + 1e-3)
    rest = (progress - warmup) / (1.0 - warmup)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(rest, 1.0)))


def budget_progress(step: int, total_steps: int, elapsed: float, limit: float) -> float:
    """Fraction of the budget used: steps or wall-clock, whichever is further along, so a
    model stopped by the clock has also finished its learning-rate decay."""
    return min(max(step / max(total_steps, 1), elapsed / limit), 1.0)


def train(args: argparse.Namespace, model_name: str) -> dict[str, Any]:
    """Fit one model under the budget; returns its metrics and saves its checkpoint."""
    columns: dict[str, Any] = {"model": model_name}
    if args.frames_per_trajectory:
        columns["frames_per_trajectory"] = args.frames_per_trajectory
    request = TrainRequest(
        data=args.data,
        seed=args.seed,
        columns=columns,
        model_overrides=overrides_for(model_name, args.set),
    )
    data = PLUGIN.data.build_training_data(request)
    config: MeshConfig = data.config  # type: ignore[assignment]
    torch.manual_seed(args.seed)
    model = PLUGIN.task.build_model(config)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    order = np.random.default_rng(args.seed)
    losses: list[float] = []
    curve: list[dict[str, float]] = []
    started = time.perf_counter()
    limit = args.minutes * 60 if args.minutes > 0 else math.inf
    stopped_by = "steps"
    step = 0
    model.train()
    while step < args.steps:
        for start in range(0, len(data.train) - args.batch_size + 1, args.batch_size):
            if step >= args.steps:
                break
            if time.perf_counter() - started > limit:
                stopped_by = "wall-clock"
                break
            if start == 0:
                permutation = order.permutation(len(data.train))
            chosen = permutation[start : start + args.batch_size]
            batch = Batch.from_data_list([data.train[int(i)] for i in chosen])
            progress = budget_progress(step, args.steps, time.perf_counter() - started, limit)
            for group in optimizer.param_groups:
                group["lr"] = args.lr * schedule(progress)
            loss = PLUGIN.task.loss(model(batch), batch, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if step % 50 == 0 or step == args.steps:
                window = float(np.mean(losses[-50:]))
                curve.append(
                    {"step": step, "loss": window, "seconds": time.perf_counter() - started}
                )
                print(f"  {model_name} step {step}: loss {window:.4f}", file=sys.stderr, flush=True)
        if stopped_by == "wall-clock":
            break
    train_seconds = time.perf_counter() - started
    model.eval()
    one_step = one_step_rmse(model, config, data.test or data.val)
    trajectories = list(evaluation_trajectories(request))
    errors, seconds_per_step = rollout_errors(model, config, trajectories, args.rollout_steps)
    save_checkpoint(
        args.work_dir / model_name,
        model.state_dict(),
        CheckpointMeta(
            PLUGIN.name,
            PLUGIN.schema_version,
            config.to_dict(),
            data_fingerprint=data.fingerprint,
            metrics={"one_step": one_step, "rollout": errors.summary()},
            command=" ".join(["bench/mesh_vs_mgn.py", *sys.argv[1:]]),
            package_version=__version__,
            extra={"provenance": data.provenance},
        ),
    )
    return {
        "model": model_name,
        "config": config.to_dict(),
        "parameters": params,
        "optimiser_steps": step,
        "stopped_by": stopped_by,
        "train_seconds": train_seconds,
        "train_seconds_per_step": train_seconds / max(step, 1),
        "first_loss": float(np.mean(losses[:50])) if losses else math.nan,
        "final_loss": float(np.mean(losses[-50:])) if losses else math.nan,
        "loss_curve": curve,
        "one_step": one_step,
        "rollout": errors.summary(),
        "inference_seconds_per_step": seconds_per_step,
        "test_trajectories": len(trajectories),
        "train_frames": len(data.train),
        "provenance": data.provenance,
    }


def one_step_rmse(model: torch.nn.Module, config: MeshConfig, graphs: list) -> dict[str, float]:
    """One-step RMSE of the next state over frames, all nodes and updated nodes."""
    preds, targets, masks = [], [], []
    with torch.inference_mode():
        for start in range(0, len(graphs), 4):
            batch = Batch.from_data_list(graphs[start : start + 4])
            pred, target = PLUGIN.task.evaluation_arrays(model(batch), batch, config)
            preds.append(pred)
            targets.append(target)
            masks.append(PLUGIN.task.metric_subsets(batch, config)["updated"])
    pred, target, mask = torch.cat(preds), torch.cat(targets), torch.cat(masks)
    scores = {}
    for metric in PLUGIN.task.metrics:
        scores[metric.name] = metric.fn(pred, target)
        scores[f"{metric.name}_updated"] = metric.fn(pred[mask], target[mask])
    return scores


def rollout_errors(
    model: torch.nn.Module,
    config: MeshConfig,
    trajectories: list[MeshTrajectory],
    cap: int | None,
) -> tuple[RolloutErrors, float]:
    errors, seconds = RolloutErrors(), []
    for trajectory in trajectories:
        steps = trajectory.num_frames - 1 - config.history
        steps = min(steps, cap) if cap else steps
        result = rollout(model, config, trajectory, steps, reference=trajectory)
        assert result.errors is not None
        errors.merge(result.errors)
        seconds.append(result.seconds_per_step)
    return errors, float(np.mean(seconds)) if seconds else math.nan


def persistence(trajectories: list[MeshTrajectory], history: int, cap: int | None) -> RolloutErrors:
    """Errors of predicting no change from frame ``history`` on."""
    errors = RolloutErrors()
    for trajectory in trajectories:
        steps = trajectory.num_frames - 1 - history
        errors.merge(persistence_errors(trajectory, history, min(steps, cap) if cap else steps))
    return errors


def ratios(result: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """Each figure of ``result`` divided by MGN's (lower is better for all of them)."""
    out = {
        "parameters": result["parameters"] / reference["parameters"],
        "train_seconds_per_step": result["train_seconds_per_step"]
        / reference["train_seconds_per_step"],
        "inference_seconds_per_step": result["inference_seconds_per_step"]
        / reference["inference_seconds_per_step"],
    }
    for key, value in result["rollout"].items():
        base = reference["rollout"][key]
        out[f"rollout.{key}"] = value / base if base and not math.isnan(base) else math.nan
    return out


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "| model | params | train s/step | infer s/step | "
        + " | ".join(f"RMSE vel {horizon_label(h)} (all / upd)" for h in HORIZONS)
        + " | RMSE pooled all-rollout |",
        "|---" * (5 + len(HORIZONS)) + "|",
    ]
    for name, result in results["models"].items():
        rollout_ = result["rollout"]
        cells = [
            f"{rollout_[f'rmse_velocity_{horizon_label(h)}_all_nodes']:.4f} / "
            f"{rollout_[f'rmse_velocity_{horizon_label(h)}_updated_nodes']:.4f}"
            for h in HORIZONS
        ]
        rows.append(
            f"| {name} | {result.get('parameters', '-')} | "
            f"{result.get('train_seconds_per_step', math.nan):.3f} | "
            f"{result.get('inference_seconds_per_step', math.nan):.4f} | "
            + " | ".join(cells)
            + f" | {rollout_['rmse_pooled_all_all_nodes']:.4f} |"
        )
    return "\n".join(rows)


def write(results: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2, default=float) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "benchmark": "mesh graph transformer vs MeshGraphNets baseline",
        "budget": {
            "optimiser_steps": args.steps,
            "batch_size": args.batch_size,
            "wall_clock_minutes_cap": args.minutes or None,
            "learning_rate": args.lr,
        },
        "data": str(args.data),
        "seed": args.seed,
        "threads": args.threads,
        "machine": {"python": platform.python_version(), "torch": torch.__version__},
        "scisuite": __version__,
        "models": {},
    }
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    for name in names:
        print(f"training {name} ...", file=sys.stderr, flush=True)
        try:
            results["models"][name] = train(args, name)
        except ConfigError as error:
            print(f"{name}: bad --set: {error}", file=sys.stderr)
            return 2
        write(results, args.output)
    request = TrainRequest(data=args.data, seed=args.seed)
    trajectories = list(evaluation_trajectories(request))
    history = min(r["config"]["history"] for r in results["models"].values())
    results["models"]["persistence"] = {
        "rollout": persistence(trajectories, history, args.rollout_steps).summary(),
    }
    if "mgn" in results["models"] and "parameters" in results["models"]["mgn"]:
        reference = results["models"]["mgn"]
        results["ratios_to_mgn"] = {
            name: ratios(result, reference)
            for name, result in results["models"].items()
            if name != "mgn" and "parameters" in result
        }
    write(results, args.output)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
