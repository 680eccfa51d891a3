"""Molecule model: an ensemble of (GPS backbone + pooled graph head) members."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from scisuite.core.backbone import Backbone
from scisuite.core.heads import GraphHead
from scisuite.core.patterns import DensePattern
from scisuite.domains.molecule.config import MoleculeConfig


class MoleculeMember(nn.Module):
    """One member: backbone in GPS mode with dense per-molecule attention, then a graph head."""

    def __init__(self, config: MoleculeConfig) -> None:
        super().__init__()
        self.backbone = Backbone(config.backbone)
        self.head = GraphHead(
            config.backbone.d_model,
            len(config.target_names),
            config.pooling,
            graph_feature_dim=config.fingerprint_bits,
        )

    def forward(self, batch: Batch) -> Tensor:
        """``batch`` of molecules -> ``[num_graphs, num_targets]`` (standardised units / logits)."""
        states = self.backbone(
            batch.x,
            batch.batch,
            DensePattern(batch.batch),
            batch.edge_index,
            batch.edge_attr,
            lap_pe=getattr(batch, "lap_pe", None),
            rw_pe=getattr(batch, "rw_pe", None),
        ).node_states
        fingerprint = getattr(batch, "fingerprint", None)
        return self.head(states, batch.batch, batch.num_graphs, fingerprint)


class MoleculeModel(nn.Module):
    """``ensemble_size`` members trained jointly on the same batches, differing by initialisation.

    Returns ``[ensemble_size, num_graphs, num_targets]``.
    """

    def __init__(self, config: MoleculeConfig) -> None:
        super().__init__()
        self.members = nn.ModuleList(MoleculeMember(config) for _ in range(config.ensemble_size))

    def forward(self, batch: Batch) -> Tensor:
        return torch.stack([member(batch) for member in self.members])
