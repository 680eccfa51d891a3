"""Molecule model: an ensemble of (GPS backbone + pooled graph head(s)) members.

``model(batch)`` is the training pass (standardised units / logits, one row per member and
head); ``model.predict(batch)`` is inference: a :class:`MoleculePrediction` in original units
(probabilities for classification), de-normalised with the config the model was built from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from scisuite.core.backbone import Backbone
from scisuite.core.heads import GraphHead
from scisuite.core.patterns import DensePattern
from scisuite.domains.molecule.config import MoleculeConfig

#: Floor on a predicted variance (standardised units): keeps the Gaussian likelihood finite.
MIN_VARIANCE = 1e-6


def split_mve(outputs: Tensor, config: MoleculeConfig) -> tuple[Tensor, Tensor | None]:
    """Standardised means ``[..., T]`` and, for ``"mve"``, variances ``[..., T]``
    (softplus of the raw head output + :data:`MIN_VARIANCE`; None otherwise)."""
    if config.uncertainty != "mve":
        return outputs, None
    means, raw = outputs.chunk(2, dim=-1)
    return means, nn.functional.softplus(raw) + MIN_VARIANCE


@dataclass(frozen=True)
class MoleculePrediction:
    """What :meth:`MoleculeModel.predict` returns for a batch of ``G`` molecules.

    Attributes:
        mean: ``[G, T]`` ensemble mean in original units (regression) or probabilities
            (classification), one column per ``config.target_names`` entry.
        std: ``[G, T]`` predicted standard deviation in the same units (zeros for one
            member without ``"mve"``); see :meth:`from_outputs`.
    """

    mean: Tensor
    std: Tensor

    @classmethod
    def from_outputs(cls, outputs: Tensor, config: MoleculeConfig) -> MoleculePrediction:
        """De-normalise the training outputs ``[R, G, T]`` (``[R, G, 2T]`` for ``"mve"``:
        means, then raw variances; every row an ensemble member / head) and reduce them over
        ``R``. The std is the members' spread, plus for ``"mve"`` the mean predicted
        variance (law of total variance), times the validation-fitted ``std_scale``."""
        if config.task_type == "classification":
            values = torch.sigmoid(outputs)
            std = values.std(dim=0) if values.size(0) > 1 else torch.zeros_like(values[0])
            return cls(values.mean(dim=0), std)
        target_std = outputs.new_tensor(config.target_std)
        means, variance = split_mve(outputs, config)
        values = means * target_std + outputs.new_tensor(config.target_mean)
        total = values.var(dim=0) if values.size(0) > 1 else torch.zeros_like(values[0])
        if variance is not None:
            total = total + (variance * target_std**2).mean(dim=0)
        std = total.sqrt()
        if config.std_scale:
            std = std * outputs.new_tensor(config.std_scale)
        return cls(values.mean(dim=0), std)

    def values(self, index: int, names: tuple[str, ...]) -> MoleculeValues:
        """Molecule ``index``'s own values, by target name."""
        mean, std = self.mean[index].tolist(), self.std[index].tolist()
        return MoleculeValues(
            dict(zip(names, mean, strict=True)), dict(zip(names, std, strict=True))
        )


@dataclass(frozen=True)
class MoleculeValues:
    """One molecule's prediction (``Predicted.item``): ``{target: value}`` and its ensemble
    standard deviation ``{target: std}``, in original units / probabilities."""

    mean: dict[str, float]
    std: dict[str, float]


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
                    len(config.target_names) * config.outputs_per_target(),
                    config.pooling,
                    graph_feature_dim=config.fingerprint_bits if variant == "fingerprint" else 0,
                )
                for variant in config.head_variants()
            }
        )

    def forward(self, batch: Batch) -> Tensor:
        """``batch`` of molecules -> ``[num_variants, num_graphs, num_targets]``
        (standardised units / logits; ``2 * num_targets`` for ``"mve"``)."""
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
        self.config = config
        self.members = nn.ModuleList(MoleculeMember(config) for _ in range(config.ensemble_size))

    def forward(self, batch: Batch) -> Tensor:
        return torch.cat([member(batch) for member in self.members])

    def predict(self, batch: Batch) -> MoleculePrediction:
        """Inference: ensemble mean and std ``[G, T]`` in original units / probabilities."""
        # float32 before de-normalising: under bf16 autocast the raw outputs are bf16
        # (3 significant digits), which the scale and shift would carry into the values.
        return MoleculePrediction.from_outputs(self(batch).float(), self.config)

    def by_variant(self, outputs: Tensor) -> dict[str, Tensor]:
        """Split ``forward``'s member-major ``[members * variants, G, T]`` into
        ``{variant: [members, G, T]}``."""
        variants = self.config.head_variants()
        per_member = outputs.unflatten(0, (len(self.members), len(variants)))
        return {variant: per_member[:, v] for v, variant in enumerate(variants)}
