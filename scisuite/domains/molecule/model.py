"""Molecule model: an ensemble of (GPS backbone + pooled graph head(s)) members."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from scisuite.core.backbone import Backbone
from scisuite.core.heads import GraphHead
from scisuite.core.patterns import DensePattern
from scisuite.domains.molecule.config import MoleculeConfig


class MoleculeMember(nn.Module):
    """One member: backbone in GPS mode with full per-molecule attention, then one graph head
    per :meth:`MoleculeConfig.head_variants` entry (two while the fingerprint choice is open)."""

    def __init__(self, config: MoleculeConfig) -> None:
        super().__init__()
        self.backbone = Backbone(config.backbone)
        self.heads = nn.ModuleDict(
            {
                variant: GraphHead(
                    config.backbone.d_model,
                    len(config.target_names),
                    config.pooling,
                    graph_feature_dim=config.fingerprint_bits if variant == "fingerprint" else 0,
                )
                for variant in config.head_variants()
            }
        )

    def forward(self, batch: Batch) -> Tensor:
        """``batch`` of molecules -> ``[num_variants, num_graphs, num_targets]``
        (standardised units / logits)."""
        states = self.backbone(
            batch.x,
            batch.batch,
            # Full attention within each molecule; a batch that mixes drug-like molecules
            # with a few large ones (peptides) runs in size buckets instead of padding all
            # to the largest (MoleculeACE CHEMBL1871 training batches: ~3x faster than the
            # same attention on edge lists, which beat one padded layout by ~5x).
            DensePattern(batch.batch, max_padding_ratio=8.0),
            batch.edge_index,
            batch.edge_attr,
            lap_pe=getattr(batch, "lap_pe", None),
            rw_pe=getattr(batch, "rw_pe", None),
        ).node_states
        fingerprint = getattr(batch, "fingerprint", None)
        return torch.stack(
            [
                head(
                    states,
                    batch.batch,
                    batch.num_graphs,
                    fingerprint if variant == "fingerprint" else None,
                )
                for variant, head in self.heads.items()
            ]
        )


class MoleculeModel(nn.Module):
    """``ensemble_size`` members trained jointly on the same batches, differing by initialisation.

    Returns ``[ensemble_size * num_variants, num_graphs, num_targets]``, member-major: row
    ``m * num_variants + v`` is member ``m``'s head ``v``. After training only one variant is
    left, so the first dimension is the ensemble.
    """

    def __init__(self, config: MoleculeConfig) -> None:
        super().__init__()
        self.members = nn.ModuleList(MoleculeMember(config) for _ in range(config.ensemble_size))

    def forward(self, batch: Batch) -> Tensor:
        return torch.cat([member(batch) for member in self.members])
