"""The mesh learning problem: one-step flow prediction, rolled out autoregressively.

A record (:class:`~scisuite.domains.mesh.readers.MeshInput`) -> the graph a rollout starts
from -> :class:`~scisuite.domains.mesh.model.MeshModel` (``forward``: one step, for the loss
and the one-step metrics; ``predict``: the rollout) -> one summary row and one rollout per
mesh (:mod:`~scisuite.domains.mesh.postprocess`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import Predicted, Task, TrainingProgress
from scisuite.core.records import Record, RecordError
from scisuite.domains.mesh.config import (
    FRAME_BYTES_PER_NODE_STEP,
    MEMORY_PER_NODE_KIB,
    VELOCITY_START,
    MeshConfig,
    NodeType,
    transformer_config,
)
from scisuite.domains.mesh.features import (
    add_input_noise,
    initial_graph,
    model_targets,
    updated_mask,
)
from scisuite.domains.mesh.io import MeshState, MeshTrajectory
from scisuite.domains.mesh.metrics import METRICS
from scisuite.domains.mesh.model import MeshModel
from scisuite.domains.mesh.postprocess import output_columns, postprocess
from scisuite.domains.mesh.readers import MeshInput
from scisuite.domains.mesh.rollout import MeshPrediction, integrate, pushforward_batch


def limit_reason(
    mesh: MeshState | MeshTrajectory, steps: int, source: MeshInput, config: MeshConfig
) -> str | None:
    """Why a record is over a resource limit (nodes per step, steps per rollout), with the
    limit and how to raise it; None when it is within both."""
    max_nodes = source.max_nodes or config.max_nodes
    if mesh.num_nodes > max_nodes:
        mib = mesh.num_nodes * MEMORY_PER_NODE_KIB / 1024
        need = f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"
        return (
            f"mesh has {mesh.num_nodes:,} nodes, above the limit of {max_nodes:,} nodes per "
            f"step (max_nodes; one step needs about {MEMORY_PER_NODE_KIB:g} KiB per node, "
            f"~{need} here); raise it with --max-nodes {mesh.num_nodes} if the machine has "
            "the memory, or coarsen the mesh"
        )
    max_steps = source.max_steps or config.max_rollout_steps
    if steps > max_steps:
        return (
            f"--steps {steps:,} is above the limit of {max_steps:,} rollout steps "
            f"(max_rollout_steps); raise it with --max-steps {steps}, or predict in pieces "
            "(--start-frame on the written trajectory)"
        )
    max_gib = source.max_frames_gib or config.max_frames_gib
    per_frame = mesh.num_nodes * FRAME_BYTES_PER_NODE_STEP
    gib = per_frame * (steps + 1) / 2**30
    if gib > max_gib:
        fits = max(int(max_gib * 2**30 // per_frame) - 1, 0)
        return (
            f"{steps:,} steps on {mesh.num_nodes:,} nodes would hold {gib:.1f} GiB of "
            f"predicted frames, above the limit of {max_gib:g} GiB (max_frames_gib); use at "
            f"most --steps {fits}, or raise it with --max-frames-gib {gib:.1f} if the machine "
            "has the memory"
        )
    return None


def _outside(name: str, value: float, bounds: tuple[float, ...], fmt: str) -> list[str]:
    low, high = bounds
    # 0.1% slack: the stored ranges come from float32 data.
    if value > high * 1.001:
        return [f"{name}>max_train({high:{fmt}})"]
    if value < low * 0.999:
        return [f"{name}<min_train({low:{fmt}})"]
    return []


def applicability_flags(mesh: MeshState | MeshTrajectory, config: MeshConfig) -> list[str]:
    """Where a mesh lies outside the model's training domain (the ``train_*`` ranges of its
    config): node count, peak inflow speed (m/s), bounding-box size (m). Empty: in domain.

    The inflow speed stands in for the Reynolds number, which needs the viscosity that a
    mesh file does not carry (the training data has one viscosity).
    """
    points = np.asarray(mesh.points, dtype=np.float64)
    velocity = np.asarray(mesh.velocity if isinstance(mesh, MeshState) else mesh.velocity[0])
    inflow = np.asarray(mesh.node_type) == NodeType.INFLOW
    flags = _outside("nodes", mesh.num_nodes, config.train_nodes, ".0f")
    if inflow.any():
        speed = float(np.hypot(velocity[inflow, 0], velocity[inflow, 1]).max())
        flags += _outside("inflow_speed", speed, config.train_inflow_speed, ".3g")
    else:
        flags.append("no_inflow_nodes")
    extent = float(np.ptp(points, axis=0).max())
    flags += _outside("extent", extent, config.train_extent, ".3g")
    return flags


class MeshTask(Task):
    """Flows on 2D triangle meshes (graph transformer or MeshGraphNets)."""

    metrics = METRICS

    def default_config(self) -> MeshConfig:
        return transformer_config()

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        """Record -> the graph a rollout starts from (with ``rollout_steps``, ``pos``,
        ``face``, ``pressure``, ``time``); ``y`` is the one-step target when known."""
        config = MeshConfig.coerce(config)
        payload = record.payload
        source = payload if isinstance(payload, MeshInput) else MeshInput(payload)
        if not isinstance(source.mesh, MeshState | MeshTrajectory):
            raise RecordError(
                record.id,
                f"expected a mesh state or trajectory, got {type(source.mesh).__name__}",
                record.line,
            )
        steps = source.rollout_steps or config.rollout_steps
        reason = limit_reason(source.mesh, steps, source, config)
        if reason is not None:
            raise RecordError(record.id, reason, record.line)
        try:
            data = initial_graph(source.mesh, config, source.start_frame)
        except ValueError as error:
            raise RecordError(record.id, str(error), record.line) from error
        data.rollout_steps = torch.tensor([steps])
        notes = source.mesh.notes if isinstance(source.mesh, MeshState) else ()
        data.notes = "; ".join(notes)
        data.applicability = ";".join(applicability_flags(source.mesh, config))
        return data

    def build_model(self, config: FrozenConfig) -> nn.Module:
        return MeshModel(MeshConfig.coerce(config))

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        """MSE on the normalised targets (:func:`model_targets`): velocity change over updated
        (normal + outflow) nodes, pressure (change) over every node."""
        config = MeshConfig.coerce(config)
        mean = outputs.new_tensor(config.target_mean)
        std = outputs.new_tensor(config.target_std)
        target = (model_targets(batch.y, batch.x, config).to(outputs.dtype) - mean) / std
        scored = torch.ones_like(target, dtype=torch.bool)
        scored[:, :2] = updated_mask(batch.node_type)[:, None]
        known = scored & ~torch.isnan(target)
        if not bool(known.any()):
            return outputs.sum() * 0.0
        return ((outputs - torch.nan_to_num(target)) ** 2)[known].mean()

    def training_batch(
        self, model: nn.Module, batch: Batch, config: FrozenConfig, progress: TrainingProgress
    ) -> Batch:
        """Input noise (std on its schedule, :meth:`MeshConfig.noise_at`) on the start state,
        then pushforward to a depth drawn from ``1..K`` (``K`` on its curriculum,
        :meth:`MeshConfig.max_unroll_at`); both seeded by ``(seed, step, rank)``, so a
        resumed or distributed run draws what an uninterrupted one would."""
        config = MeshConfig.coerce(config)
        generator = progress.generator()
        std = config.noise_at(progress.fraction)
        batch = add_input_noise(batch, std, generator, config.pressure_column)
        future = getattr(batch, "future", None)
        deepest = min(
            config.max_unroll_at(progress.fraction), 0 if future is None else future.size(1)
        )
        if deepest <= 1:
            return batch
        depth = int(torch.randint(1, deepest + 1, (1,), generator=generator))
        return pushforward_batch(model, batch, depth, config)

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        """``(pred, target)`` ``[N, 3]``: the next state ``(u, v, p)`` in physical units, every
        node (the rollout's integrator and boundary conditions applied to the prediction);
        NaN targets where unknown."""
        config = MeshConfig.coerce(config)
        x = batch.x.detach().to(torch.float32)
        _, pred = integrate(outputs.detach(), x, batch.node_type, config)
        velocity = batch.x[:, VELOCITY_START : VELOCITY_START + 2]
        target = torch.cat([velocity + batch.y[:, :2], batch.y[:, 2:3]], dim=1)
        return pred, target

    def metric_subsets(self, batch: Batch, config: FrozenConfig) -> dict[str, Tensor]:
        """``<metric>_updated``: the same metrics over normal + outflow nodes only."""
        return {"updated": updated_mask(batch.node_type)}

    def output_columns(self, config: FrozenConfig) -> list[str]:
        return output_columns(MeshConfig.coerce(config))

    def postprocess(
        self, prediction: MeshPrediction, batch: Batch, config: FrozenConfig
    ) -> list[Predicted]:
        return postprocess(prediction, batch, MeshConfig.coerce(config))
