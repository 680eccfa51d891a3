"""The molecule learning problem: SMILES record -> graph -> model -> prediction -> rows."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import FeaturizedRecords, Predicted, Task
from scisuite.core.records import Record
from scisuite.domains.molecule import postprocess
from scisuite.domains.molecule.chunks import featurize_records, molecule_graph, prepare
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.metrics import METRICS, masked_mean
from scisuite.domains.molecule.model import MoleculeModel, MoleculePrediction, split_mve

#: beta of the beta-NLL loss for ``"mve"`` (Seitzer et al. 2022): each target's Gaussian NLL
#: is weighted by its (detached) predicted variance ** beta, so that hard molecules with a
#: large predicted variance still pull the mean (plain NLL, beta 0, lets them be ignored and
#: costs accuracy); beta 1 gives the mean the MSE gradient. 0.5 was chosen on validation
#: (RMSE FreeSolv / Huuskonen: 1.68 / 0.81 at 0.5, 1.77 / 0.82 at 1; bench/molecule_uncertainty.py).
MVE_BETA = 0.5


def masked_loss(outputs: Tensor, target: Tensor, config: MoleculeConfig) -> Tensor:
    """Masked loss of ``outputs [R, G, T]`` (``[R, G, 2T]`` for ``"mve"``) against
    ``target [G, T]`` (NaN = unknown): MSE on standardised targets, beta-NLL of a Gaussian
    for ``"mve"``, or binary cross-entropy on logits."""
    target = target.to(outputs.dtype)
    known = ~torch.isnan(target)
    if config.task_type == "classification":
        losses = nn.functional.binary_cross_entropy_with_logits(
            outputs, torch.nan_to_num(target).expand_as(outputs), reduction="none"
        )
    else:
        mean = outputs.new_tensor(config.target_mean)
        std = outputs.new_tensor(config.target_std)
        scaled = torch.nan_to_num((target - mean) / std)
        means, variance = split_mve(outputs, config)
        if variance is None:
            losses = (means - scaled) ** 2
        else:
            losses = (
                nn.functional.gaussian_nll_loss(
                    means, scaled.expand_as(means), variance, reduction="none"
                )
                * variance.detach() ** MVE_BETA
            )
    return masked_mean(losses, known.expand_as(losses))


_MEMBER = re.compile(r"members\.(\d+)\.(.*)")


class MoleculeTask(Task):
    """Property prediction for small molecules with a GraphGPS-style ensemble."""

    metrics = METRICS
    # Validation cost of bf16 autocast on the shipped default: docs/benchmarks.md.
    bf16_inference = True

    def default_config(self) -> MoleculeConfig:
        return MoleculeConfig()

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        config = MoleculeConfig.coerce(config)
        return molecule_graph(prepare(record, config), config)

    def featurize_records(
        self, records: Sequence[Record], config: FrozenConfig
    ) -> FeaturizedRecords:
        """The chunk encoded in bulk (:mod:`scisuite.domains.molecule.chunks`); equal to the
        default per-record path, ~2x faster."""
        return featurize_records(records, MoleculeConfig.coerce(config))

    def build_model(self, config: FrozenConfig) -> nn.Module:
        return MoleculeModel(MoleculeConfig.coerce(config))

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        return masked_loss(outputs, batch.y, MoleculeConfig.coerce(config))

    def inherited_settings(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """The backbone architecture and the pooling: a backbone trained under mean pooling
        and fine-tuned under sum pooling starts with node states summed to ~25x the scale
        its head layer saw (a notebook fine-tune went from RMSE 0.36 to 8.3)."""
        return {key: source[key] for key in ("backbone", "pooling") if key in source}

    def transferable_weights(
        self, own: Mapping[str, Tensor], source: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """Same-name, same-shape tensors; a member the source lacks (a one-member pretrained
        backbone fine-tuned as an ensemble) starts from the source's member 0, and heads
        whose targets differ keep their fresh initialisation."""
        chosen = {}
        for name, tensor in own.items():
            candidates = [name]
            member = _MEMBER.match(name)
            if member:
                candidates.append(f"members.0.{member.group(2)}")
            for candidate in candidates:
                if candidate in source and source[candidate].shape == tensor.shape:
                    chosen[name] = source[candidate]
                    break
        return chosen

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        prediction = MoleculePrediction.from_outputs(outputs, MoleculeConfig.coerce(config))
        return prediction.mean, batch.y

    def evaluation_std(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor | None:
        """``[G, T]`` predicted std (original units) of a regression that reports one."""
        config = MoleculeConfig.coerce(config)
        if config.task_type != "regression" or not config.reports_std():
            return None
        return MoleculePrediction.from_outputs(outputs, config).std

    def metric_subsets(self, batch: Batch, config: FrozenConfig) -> dict[str, Tensor]:
        """Extra metric groups: MoleculeACE activity-cliff molecules (``rmse_cliff``)."""
        cliff = batch.cliff
        return {"cliff": cliff == 1} if bool((~torch.isnan(cliff)).any()) else {}

    def output_columns(self, config: FrozenConfig) -> list[str]:
        return postprocess.output_columns(MoleculeConfig.coerce(config))

    def postprocess(
        self, prediction: MoleculePrediction, batch: Batch, config: FrozenConfig
    ) -> list[Predicted]:
        return postprocess.postprocess(prediction, batch, MoleculeConfig.coerce(config))
