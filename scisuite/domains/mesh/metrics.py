"""Errors of learned flow simulators: one-step metrics and rollout RMSE.

Rollout RMSE follows MeshGraphNets (Pfaff et al. 2021): for a horizon ``h``,
``RMSE_h = sqrt(mean of squared errors over steps 1..h, nodes and components)``, pooled
over the test trajectories; ``h = 1`` ("1-step"), ``50`` and the whole rollout ("all").
Fields: ``u``, ``v`` (m/s), ``p`` (m^2/s^2), ``velocity`` (``u`` and ``v`` pooled, the
number MeshGraphNets reports for CylinderFlow) and ``pooled`` (``u``, ``v``, ``p`` pooled).

Two node sets, because the literature uses both:

* ``all_nodes``: every mesh node. Inflow and wall velocities are boundary conditions and
  exact, which lowers the velocity RMSE;
* ``updated_nodes``: normal and outflow nodes only, the ones the model predicts.

A horizon longer than the rollout gives NaN (not a shorter horizon under its name).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from scisuite.core.metrics import masked_rmse
from scisuite.core.plugin import Metric
from scisuite.domains.mesh.config import OUTPUT_FIELDS
from scisuite.domains.mesh.features import updated_mask

#: Rollout horizons reported: 1 step, 50 steps, all steps (None).
HORIZONS: tuple[int | None, ...] = (1, 50, None)
#: Field groups: name -> output columns ``(u, v, p)``.
FIELD_GROUPS: dict[str, tuple[int, ...]] = {
    "u": (0,),
    "v": (1,),
    "p": (2,),
    "velocity": (0, 1),
    "pooled": (0, 1, 2),
}
NODE_SETS = ("all_nodes", "updated_nodes")


def horizon_label(horizon: int | None) -> str:
    """``1 -> "1"``, ``50 -> "50"``, ``None -> "all"``."""
    return "all" if horizon is None else str(horizon)


class RolloutErrors:
    """Accumulates squared errors of rollouts per step, field and node set.

    Trajectories of different lengths may be added; step ``k`` pools every trajectory that
    reaches it.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {
            name: torch.zeros(0, 3, dtype=torch.float64) for name in NODE_SETS
        }
        self.counts: dict[str, Tensor] = {
            name: torch.zeros(0, dtype=torch.float64) for name in NODE_SETS
        }

    def update(
        self,
        pred_velocity: Tensor,
        pred_pressure: Tensor,
        ref_velocity: Tensor,
        ref_pressure: Tensor,
        node_type: Tensor,
    ) -> None:
        """Add one rollout. Frame 0 (the shared initial state) is skipped.

        Args:
            pred_velocity: ``[S + 1, N, 2]`` m/s.
            pred_pressure: ``[S + 1, N]``.
            ref_velocity: ``[S + 1, N, 2]`` ground truth.
            ref_pressure: ``[S + 1, N]``.
            node_type: ``[N]`` codes.
        """
        if pred_velocity.shape != ref_velocity.shape or pred_pressure.shape != ref_pressure.shape:
            raise ValueError(
                f"prediction {tuple(pred_velocity.shape)}/{tuple(pred_pressure.shape)} and "
                f"reference {tuple(ref_velocity.shape)}/{tuple(ref_pressure.shape)} differ"
            )
        pred = torch.cat([pred_velocity, pred_pressure[..., None]], dim=-1)[1:].double()
        ref = torch.cat([ref_velocity, ref_pressure[..., None]], dim=-1)[1:].double()
        squared = (pred - ref) ** 2  # [S, N, 3]
        steps = squared.size(0)
        masks = {
            "all_nodes": torch.ones(squared.size(1), dtype=torch.bool),
            "updated_nodes": updated_mask(node_type.cpu()),
        }
        for name, mask in masks.items():
            self._grow(name, steps)
            self.sums[name][:steps] += squared[:, mask.to(squared.device)].sum(dim=1).cpu()
            self.counts[name][:steps] += float(mask.sum())

    def _grow(self, name: str, steps: int) -> None:
        have = self.sums[name].size(0)
        if steps > have:
            self.sums[name] = torch.cat(
                [self.sums[name], torch.zeros(steps - have, 3, dtype=torch.float64)]
            )
            self.counts[name] = torch.cat(
                [self.counts[name], torch.zeros(steps - have, dtype=torch.float64)]
            )

    def merge(self, other: RolloutErrors) -> None:
        """Add the rollouts accumulated in ``other``."""
        for name in NODE_SETS:
            steps = other.sums[name].size(0)
            self._grow(name, steps)
            self.sums[name][:steps] += other.sums[name]
            self.counts[name][:steps] += other.counts[name]

    @property
    def steps(self) -> int:
        """Longest rollout added."""
        return int(self.sums["all_nodes"].size(0))

    def per_step(self, nodes: str = "all_nodes", group: str = "pooled") -> Tensor:
        """``[S]`` RMSE of each step (not cumulative), for error-vs-time plots."""
        columns = list(FIELD_GROUPS[group])
        sums = self.sums[nodes][:, columns].sum(dim=1)
        counts = self.counts[nodes] * len(columns)
        return (sums / counts.clamp_min(1)).sqrt()

    def rmse(self, horizon: int | None, nodes: str = "all_nodes", group: str = "pooled") -> float:
        """RMSE over steps ``1..horizon`` (all steps for None); NaN if the rollouts are shorter."""
        if horizon is not None and horizon > self.steps:
            return math.nan
        end = self.steps if horizon is None else horizon
        if end == 0:
            return math.nan
        columns = list(FIELD_GROUPS[group])
        total = float(self.sums[nodes][:end, columns].sum())
        count = float(self.counts[nodes][:end].sum()) * len(columns)
        return math.sqrt(total / count) if count else math.nan

    def summary(self, horizons: tuple[int | None, ...] = HORIZONS) -> dict[str, float]:
        """Flat ``{"rmse_<group>_<horizon>_<nodes>": value}``, e.g.
        ``rmse_velocity_50_all_nodes``."""
        return {
            f"rmse_{group}_{horizon_label(h)}_{nodes}": self.rmse(h, nodes, group)
            for nodes in NODE_SETS
            for h in horizons
            for group in FIELD_GROUPS
        }

    def table(self, horizons: tuple[int | None, ...] = HORIZONS) -> list[dict[str, object]]:
        """Rows ``{"nodes", "horizon", "u", "v", "p", "velocity", "pooled"}`` for a report."""
        return [
            {
                "nodes": nodes,
                "horizon": horizon_label(h),
                **{group: self.rmse(h, nodes, group) for group in FIELD_GROUPS},
            }
            for nodes in NODE_SETS
            for h in horizons
        ]


# -- one-step metrics (contract Metric objects) ----------------------------------------------


def _rmse_columns(columns: tuple[int, ...]):
    """Masked RMSE over the given columns of ``[M, 3]`` rows."""

    def metric(pred: Tensor, target: Tensor) -> float:
        if pred.dim() == 1:
            pred, target = pred[:, None], target[:, None]
        return masked_rmse(pred[:, list(columns)], target[:, list(columns)])

    return metric


def one_step_metrics() -> tuple[Metric, ...]:
    """RMSE of the next state ``(u, v, p)`` (``[M, 3]`` rows = nodes), pooled and per field."""
    named = {"rmse": FIELD_GROUPS["pooled"], "rmse_velocity": FIELD_GROUPS["velocity"]}
    named.update({f"rmse_{name}": (i,) for i, name in enumerate(OUTPUT_FIELDS)})
    return tuple(
        Metric(name, _rmse_columns(columns), higher_is_better=False, perfect=0.0)
        for name, columns in named.items()
    )


METRICS = one_step_metrics()
