"""Evaluation reports of the mesh domain: one-step RMSE and parity plot, rollout RMSE over
time against persistence, shedding frequency (Strouhal number) and divergence per
trajectory, and predicted-vs-reference fields (``sci evaluate --domain mesh ... -o DIR``)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_path, write_table
from scisuite.core.plots import draw_parity, new_figure, save_png
from scisuite.core.plugin import Reports, TrainRequest
from scisuite.domains.mesh.config import MeshConfig
from scisuite.domains.mesh.io import MeshTrajectory
from scisuite.domains.mesh.metrics import METRICS, RolloutErrors
from scisuite.domains.mesh.physics import divergence_rms, probe_node, shedding
from scisuite.domains.mesh.rollout import Rollout, rollout
from scisuite.domains.mesh.training_data import evaluation_trajectories

#: Snapshot times (rollout steps; -1 = last) drawn in the field plot.
REPORT_STEPS = (1, 50, -1)
_DPI = 110


class MeshReports(Reports):
    """The one-step report (from the evaluation arrays) and the rollout report (needs the
    model)."""

    def evaluation_report(
        self, pred: Tensor, target: Tensor, config: FrozenConfig, out_dir: Path
    ) -> list[Path]:
        """``one_step_rmse.csv`` and a parity plot per field (``one_step_parity.png``)."""
        out_dir = Path(out_dir)
        rows = [{"metric": metric.name, "value": metric.fn(pred, target)} for metric in METRICS]
        paths = [write_table(pd.DataFrame(rows), out_dir / "one_step_rmse.csv")]
        paths.append(parity_plot(pred, target, out_dir / "one_step_parity.png"))
        return paths

    def evaluation_extras(
        self, model: nn.Module, config: FrozenConfig, request: TrainRequest, out_dir: Path
    ) -> tuple[dict[str, float], list[Path]]:
        """Rollout evaluation: roll out every test trajectory from its first usable frame to
        its end (or ``--steps``) and write :func:`rollout_report`'s files to ``out_dir``.

        Returns:
            the flat RMSE summary (see :meth:`RolloutErrors.summary`) and the files written.
        """
        steps = request.columns.get("rollout_steps")
        return rollout_report(
            model,
            MeshConfig.coerce(config),
            evaluation_trajectories(request),
            Path(out_dir),
            steps=None if steps is None else int(steps),
        )


def rollout_report(
    model: nn.Module,
    config: MeshConfig,
    trajectories: Iterable[MeshTrajectory],
    out_dir: Path,
    steps: int | None = None,
    snapshots: int = 1,
) -> tuple[dict[str, float], list[Path]]:
    """Roll out every trajectory, write the RMSE table and plots, return the summary.

    Files: ``rollout_rmse.csv``, ``rollout_rmse.json``, ``rollout_error_vs_time.png``,
    ``rollout_trajectories.csv`` (per trajectory: family, Re, velocity RMSE of the model
    and of persistence at 1 / 50 / all steps, Strouhal numbers, divergence),
    ``rollout_probe_<number>.png`` (the wake-probe signal) and ``rollout_fields_<number>.png``
    (predicted vs reference at a few times).

    Args:
        model: one-step model.
        config: its config.
        trajectories: test trajectories (ground truth); each is rolled out from frame
            ``history`` for ``steps`` steps (default: to its last frame).
        out_dir: report directory.
        steps: rollout length cap.
        snapshots: trajectories that get a predicted-vs-reference field plot.

    Returns:
        ``(summary, paths)``: :meth:`RolloutErrors.summary` plus ``seconds_per_step`` and
        ``trajectories``; the files written.
    """
    out_dir = Path(out_dir)
    errors, still = RolloutErrors(), RolloutErrors()
    paths: list[Path] = []
    rows: list[dict[str, Any]] = []
    seconds, count = 0.0, 0
    for number, trajectory in enumerate(trajectories):
        stride = config.frame_stride
        length = (trajectory.num_frames - 1 - config.history * stride) // stride
        if steps is not None:
            length = min(length, steps)
        if length < 1:
            continue
        result = rollout(model, config, trajectory, length, reference=trajectory)
        assert result.errors is not None
        errors.merge(result.errors)
        persistence = persistence_errors(trajectory, config.history * stride, length, stride)
        still.merge(persistence)
        row, probe = trajectory_physics(trajectory, result, config)
        rows.append({"trajectory": number, **row, **_versus(result.errors, persistence)})
        seconds += result.seconds_per_step
        count += 1
        if number < snapshots:
            paths.append(
                field_plot(trajectory, result, config, out_dir / f"rollout_fields_{number}.png")
            )
            if probe is not None:
                paths.append(probe_plot(*probe, config, out_dir / f"rollout_probe_{number}.png"))
    if count == 0:
        raise ValueError("no test trajectory with at least 2 frames to roll out")
    summary: dict[str, float] = {
        **errors.summary(),
        **{f"persistence_{k}": v for k, v in still.summary().items()},
        **physics_summary(rows),
        "seconds_per_step": seconds / count,
        "trajectories": count,
    }
    paths.insert(0, write_table(pd.DataFrame(errors.table()), out_dir / "rollout_rmse.csv"))
    paths.append(write_table(pd.DataFrame(rows), out_dir / "rollout_trajectories.csv"))
    with atomic_path(out_dir / "rollout_rmse.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    paths.insert(1, out_dir / "rollout_rmse.json")
    paths.insert(2, error_plot(errors, config, out_dir / "rollout_error_vs_time.png"))
    return summary, paths


def persistence_errors(
    trajectory: MeshTrajectory, offset: int, steps: int, stride: int = 1
) -> RolloutErrors:
    """Errors of "no change": the state at frame ``offset`` held for ``steps`` steps of
    ``stride`` frames."""
    frames = slice(offset, offset + steps * stride + 1, stride)
    velocity = torch.as_tensor(np.asarray(trajectory.velocity[frames]))
    pressure = torch.as_tensor(np.asarray(trajectory.pressure[frames]))
    errors = RolloutErrors()
    errors.update(
        velocity[:1].expand_as(velocity),
        pressure[:1].expand_as(pressure),
        velocity,
        pressure,
        torch.as_tensor(trajectory.node_type),
    )
    return errors


def _versus(model: RolloutErrors, persistence: RolloutErrors) -> dict[str, float]:
    row = {}
    for horizon in (1, 50, None):
        label = "all" if horizon is None else str(horizon)
        row[f"velocity_{label}"] = model.rmse(horizon, "all_nodes", "velocity")
        row[f"persistence_velocity_{label}"] = persistence.rmse(horizon, "all_nodes", "velocity")
    row["ratio_to_persistence_all"] = row["velocity_all"] / row["persistence_velocity_all"]
    return row


def _obstacle(attrs: dict[str, Any]) -> tuple[tuple[float, float], float] | None:
    """First obstacle centre and the frontal height, from a generated file's attributes."""
    if "obstacles" in attrs:
        from scisuite.domains.mesh.obstacles import Obstacle

        obstacles = [Obstacle.from_dict(o) for o in json.loads(attrs["obstacles"])]
        return obstacles[0].centre, max(o.frontal_height for o in obstacles)
    if "centre" in attrs and "radius" in attrs:
        centre = np.asarray(attrs["centre"], dtype=float).ravel()
        return (float(centre[0]), float(centre[1])), 2.0 * float(attrs["radius"])
    return None


def trajectory_physics(
    trajectory: MeshTrajectory, result: Rollout, config: MeshConfig
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Strouhal numbers (solver vs model) at the wake probe and the RMS divergence of both
    velocity fields over the rollout; also ``(times, reference, predicted)`` probe signals
    (None without obstacle attributes)."""
    attrs = trajectory.attrs
    stride, steps = config.frame_stride, result.steps
    offset = config.history * stride
    reference = np.asarray(trajectory.velocity[offset : offset + steps * stride + 1 : stride])
    predicted = result.velocity.numpy()
    row: dict[str, Any] = {
        "id": str(attrs.get("index", "")),
        "family": str(attrs.get("family", "circle" if "radius" in attrs else "")),
        "reynolds": float(attrs.get("reynolds", math.nan)),
        "divergence_rms_reference": divergence_rms(
            trajectory.points, trajectory.triangles, reference
        ),
        "divergence_rms_model": divergence_rms(trajectory.points, trajectory.triangles, predicted),
    }
    found = _obstacle(attrs)
    if found is None or "Um" not in attrs:
        return row, None
    centre, frontal = found
    node = probe_node(trajectory.points, centre, frontal)
    mean_inflow = 2.0 / 3.0 * float(attrs["Um"])
    dt = config.dt  # one model step (frame_stride stored frames)
    truth = shedding(reference[:, node, 1], dt, frontal, mean_inflow)
    model = shedding(predicted[:, node, 1], dt, frontal, mean_inflow)
    row.update(
        strouhal_reference=truth.strouhal,
        strouhal_model=model.strouhal,
        strouhal_rel_error=abs(model.strouhal - truth.strouhal) / truth.strouhal,
        probe_amplitude_reference=truth.amplitude,
        probe_amplitude_model=model.amplitude,
    )
    times = np.arange(steps + 1) * dt
    return row, (times, reference[:, node, 1], predicted[:, node, 1])


def physics_summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over trajectories: ratio to persistence, the share below it, Strouhal error
    (over shedding flows), divergence."""
    table = pd.DataFrame(rows)
    out: dict[str, float] = {
        "ratio_to_persistence_all_mean": float(table["ratio_to_persistence_all"].mean()),
        "below_persistence_fraction": float((table["ratio_to_persistence_all"] < 1).mean()),
        "divergence_rms_reference": float(table["divergence_rms_reference"].mean()),
        "divergence_rms_model": float(table["divergence_rms_model"].mean()),
    }
    if "strouhal_rel_error" in table:
        shedding_rows = table[np.isfinite(table["strouhal_reference"])]
        errors = shedding_rows["strouhal_rel_error"]
        out["shedding_trajectories"] = float(len(shedding_rows))
        out["strouhal_rel_error_mean"] = float(errors.mean()) if len(errors) else math.nan
        out["strouhal_within_5pct_fraction"] = (
            float((errors <= 0.05).mean()) if len(errors) else math.nan
        )
    return out


def probe_plot(
    times: np.ndarray, reference: np.ndarray, predicted: np.ndarray, config: MeshConfig, path: Path
) -> Path:
    """Cross-stream velocity at the wake probe: solver against model over the rollout."""
    fig = new_figure(9, 3.0)
    ax = fig.subplots()
    ax.plot(times, reference, label="solver", color="black", lw=1.2)
    ax.plot(times, predicted, label="model", color="tab:orange", lw=1.0)
    ax.set_xlabel("rollout time (s)")
    ax.set_ylabel("v at the wake probe (m/s)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path, dpi=_DPI, tight=True)


def error_plot(errors: RolloutErrors, config: MeshConfig, path: Path) -> Path:
    """RMSE per rollout step of ``u``, ``v``, ``p`` over all and over updated nodes."""
    fig = new_figure(11, 3.6)
    axes = fig.subplots(1, 2, sharey=False)
    time = config.dt * np.arange(1, errors.steps + 1)
    for ax, nodes in zip(axes, ("all_nodes", "updated_nodes"), strict=True):
        for group in ("u", "v", "p"):
            ax.plot(time, errors.per_step(nodes, group).numpy(), label=group)
        ax.set_yscale("log")
        ax.set_xlabel("rollout time (s)")
        ax.set_title(f"RMSE per step, {nodes.replace('_', ' ')}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("RMSE (u, v: m/s; p: m²/s²)")
    axes[0].legend()
    return save_png(fig, path, dpi=_DPI, tight=True)


def field_plot(trajectory: MeshTrajectory, result: Rollout, config: MeshConfig, path: Path):
    """Predicted and reference speed ``|u|`` at the :data:`REPORT_STEPS` of a rollout."""
    from matplotlib.tri import Triangulation

    tri = Triangulation(trajectory.points[:, 0], trajectory.points[:, 1], trajectory.triangles)
    offset, stride = config.history * config.frame_stride, config.frame_stride
    picks = sorted({s if s >= 0 else result.steps for s in REPORT_STEPS if s <= result.steps})
    fig = new_figure(12, 1.9 * len(picks))
    axes = fig.subplots(len(picks), 2, squeeze=False)
    ref_speed = np.hypot(*np.moveaxis(np.asarray(trajectory.velocity, dtype=np.float64), -1, 0))
    vmax = float(ref_speed.max())
    for row, step in enumerate(picks):
        predicted = result.velocity[step].double().norm(dim=-1).numpy()
        reference = ref_speed[offset + step * stride]
        for col, (values, label) in enumerate(((predicted, "predicted"), (reference, "reference"))):
            ax = axes[row, col]
            image = ax.tripcolor(tri, values, shading="gouraud", vmin=0, vmax=vmax, cmap="viridis")
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"|u| {label}, step {step} (t + {step * config.dt:.2f} s)", fontsize=9)
        fig.colorbar(image, ax=axes[row].tolist(), fraction=0.02, label="m/s")
    return save_png(fig, path, dpi=_DPI, tight=True)


def parity_plot(pred: Tensor, target: Tensor, path: Path) -> Path:
    """One-step predicted against reference ``u``, ``v``, ``p`` over all nodes (hexbin)."""
    fig = new_figure(11, 3.4)
    axes = fig.subplots(1, 3)
    for i, (ax, name) in enumerate(zip(axes, ("u (m/s)", "v (m/s)", "p (m²/s²)"), strict=True)):
        draw_parity(ax, target[:, i].double().numpy(), pred[:, i].double().numpy(), name, True)
    fig.suptitle("one-step prediction, all nodes")
    return save_png(fig, path, dpi=_DPI, tight=True)
