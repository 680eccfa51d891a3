"""The protein learning problem: next-token cross-entropy over answer tokens (teacher
forced), the answer accuracy per task, and prediction by constrained decoding."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import Metric, Predicted, Task
from scisuite.core.records import Record
from scisuite.domains.protein import featurize as featurizing
from scisuite.domains.protein import postprocess as postprocessing
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import SequencePrediction
from scisuite.domains.protein.metrics import answer_accuracy
from scisuite.domains.protein.model import ProteinLM, sequence_ids
from scisuite.domains.protein.prompts import TASK_NAMES


class ProteinTask(Task):
    """Implements :class:`scisuite.core.plugin.Task` for the protein language model."""

    metrics = (Metric("answer_accuracy", answer_accuracy, higher_is_better=True, perfect=1.0),)

    def default_config(self) -> ProteinConfig:
        return ProteinConfig()

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        return featurizing.featurize(record, config)

    def build_model(self, config: FrozenConfig) -> nn.Module:
        return ProteinLM(ProteinConfig.coerce(config))

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        """Mean next-token cross-entropy over answer tokens (after the answer delimiter)."""
        mask = batch.loss_mask
        if not bool(mask.any()):
            return outputs.sum() * 0.0
        return nn.functional.cross_entropy(outputs[mask], batch.y[mask])

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        """Teacher-forced answer tokens: ``(argmax ids [M, 1], target ids [M, 1])``."""
        mask = batch.loss_mask
        pred = outputs[mask].argmax(dim=-1).to(torch.float32)[:, None]
        return pred, batch.y[mask].to(torch.float32)[:, None]

    def metric_subsets(self, batch: Batch, config: FrozenConfig) -> dict[str, Tensor]:
        """Answer-token accuracy per task (``answer_accuracy_ss3``, ...). Every task gets a
        mask in every batch (all False when absent) so masks line up across batches."""
        task_of_token = batch.task[sequence_ids(batch)][batch.loss_mask]
        return {name: task_of_token == index for index, name in enumerate(TASK_NAMES)}

    def output_columns(self, config: FrozenConfig) -> list[str]:
        return postprocessing.output_columns(config)

    def postprocess(
        self, prediction: Sequence[SequencePrediction], batch: Batch, config: FrozenConfig
    ) -> list[Predicted]:
        return postprocessing.postprocess(prediction, batch, config)
