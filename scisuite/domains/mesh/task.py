"""The mesh learning problem: one-step flow prediction, rolled out autoregressively.

A record (:class:`~scisuite.domains.mesh.readers.MeshInput`) -> the graph a rollout starts
from -> :class:`~scisuite.domains.mesh.model.MeshModel` (``forward``: one step, for the loss
and the one-step metrics; ``predict``: the rollout) -> one summary row and one rollout per
mesh (:mod:`~scisuite.domains.mesh.postprocess`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import Predicted, Task, TrainingProgress
from scisuite.core.records import Record, RecordError
from scisuite.domains.mesh.config import VELOCITY_START, MeshConfig, transformer_config
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
        try:
            data = initial_graph(source.mesh, config, source.start_frame)
        except ValueError as error:
            raise RecordError(record.id, str(error), record.line) from error
        data.rollout_steps = torch.tensor([source.rollout_steps or config.rollout_steps])
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
