"""Mesh model: normalise -> core :class:`~scisuite.core.backbone.Backbone` -> node decoder.

Encode-process-decode as in MeshGraphNets (Pfaff et al. 2021) and the graph transformer of
Garnier et al. (2025); which one is decided by the config alone
(:func:`~scisuite.domains.mesh.config.default_backbone` vs
:func:`~scisuite.domains.mesh.config.mgn_baseline`):

* inputs are normalised here, from the statistics stored in the config (so a checkpoint
  carries them and featurized graphs stay in physical units);
* the backbone runs local message passing over ``edge_index`` and/or sparse attention
  under ``EdgePattern(batch.pattern_index)``; learned global tokens, when configured, are
  appended by the backbone itself;
* a :class:`~scisuite.core.heads.NodeHead` decodes the normalised ``(du, dv, p)``.

``forward`` is one step (training, validation, one-step metrics); ``predict`` runs an
autoregressive rollout (see :mod:`~scisuite.domains.mesh.rollout`) and is what prediction
uses: it returns a typed :class:`~scisuite.domains.mesh.rollout.MeshPrediction`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.backbone import Backbone
from scisuite.core.heads import NodeHead
from scisuite.core.patterns import EdgePattern
from scisuite.domains.mesh.config import OUTPUT_FIELDS, VELOCITY_START, MeshConfig
from scisuite.domains.mesh.rollout import MeshPrediction, rollout_batch, start_times


class MeshModel(nn.Module):
    """One-step learned simulator on a mesh.

    Args:
        config: validated :class:`MeshConfig` (architecture, pattern, normalisers).
    """

    def __init__(self, config: MeshConfig) -> None:
        super().__init__()
        self.config = config
        d = config.backbone.d_model
        self.backbone = Backbone(config.backbone)
        self.head = NodeHead(d, len(OUTPUT_FIELDS), config.head_hidden or d)
        # Rebuilt from the config, so not part of the state dict (non-persistent).
        names = ("velocity_mean", "velocity_std", "pressure_mean", "pressure_std")
        for name in (*names, "edge_mean", "edge_std"):
            values = torch.tensor(getattr(config, name), dtype=torch.float32)
            self.register_buffer(name, values, persistent=False)

    def reset_parameters(self) -> None:
        self.backbone.reset_parameters()
        self.head.reset_parameters()

    def normalised_inputs(self, batch: Data | Batch) -> tuple[Tensor, Tensor | None]:
        """``x [N, 4 + 2(H+1) (+1)]`` and ``edge_attr [E, 3]`` in normalised units.

        The node-type one-hot is passed through; every ``(u, v)`` pair is standardised with
        the velocity statistics, the pressure with the pressure statistics and every edge
        with the edge statistics.
        """
        x = batch.x
        if x.dim() != 2 or x.size(1) != self.config.backbone.node_in_dim:
            raise ValueError(
                f"expected node features [N, {self.config.backbone.node_in_dim}], got "
                f"{tuple(x.shape)}; featurize with the same MeshConfig (history="
                f"{self.config.history})"
            )
        n, start = x.size(0), VELOCITY_START
        end = start + 2 * (self.config.history + 1)
        velocity = x[:, start:end].reshape(n, -1, 2)
        velocity = (velocity - self.velocity_mean) / self.velocity_std
        pressure = (x[:, end:] - self.pressure_mean) / self.pressure_std
        nodes = torch.cat([x[:, :start], velocity.reshape(n, -1), pressure], dim=1)
        edges = None
        if self.config.uses_edges:
            edges = (batch.edge_attr - self.edge_mean) / self.edge_std
        return nodes, edges

    def forward(self, batch: Data | Batch) -> Tensor:
        """One step: ``batch`` -> ``[N, 3]`` normalised ``(du, dv, dp)`` per node (``p_next``
        instead of ``dp`` without ``pressure_input``)."""
        nodes, edges = self.normalised_inputs(batch)
        n = nodes.size(0)
        graph = getattr(batch, "batch", None)
        if graph is None:
            graph = torch.zeros(n, dtype=torch.long, device=nodes.device)
        pattern = None
        if self.config.uses_attention:
            if getattr(batch, "pattern_index", None) is None:
                raise ValueError(
                    "this model attends under a sparse pattern but the graph has no "
                    "pattern_index; featurize it with the model's MeshConfig"
                )
            pattern = EdgePattern(batch.pattern_index, n)
        local = self.config.backbone.local_mp != "none"
        states = self.backbone(
            nodes,
            graph,
            pattern,
            edge_index=batch.edge_index if local else None,
            edge_attr=edges,
        ).node_states
        return self.head(states)

    def predict(self, batch: Data | Batch) -> MeshPrediction:
        """Autoregressive rollout of every graph for its ``rollout_steps`` (set by the
        featurizer from ``--steps``; ``config.rollout_steps`` when the batch does not say),
        run together for the longest.

        Returns:
            the frames ``[N, S + 1, 3]`` in physical ``(u, v, p)`` (frame 0 is the input), the
            steps per graph and the start time per graph.
        """
        steps = getattr(batch, "rollout_steps", None)
        if steps is None:
            steps = torch.full((int(getattr(batch, "num_graphs", 1)),), self.config.rollout_steps)
        steps = steps.detach().cpu().long().reshape(-1)
        frames = rollout_batch(self, self.config, batch, int(steps.max()))
        return MeshPrediction(frames, steps, start_times(batch))
