"""Streaming, order-preserving prediction: records in, one :class:`Predicted` per record out.

Records are consumed in chunks of ``batch_size``; each chunk is featurized, the valid
ones run through ``model.predict`` as one PyG batch, and predictions come back in input
order with ``status`` (``"ok"`` / ``"error"``) and ``error`` columns in their rows. Memory
is bounded by one chunk whatever the input size.
"""

from __future__ import annotations

import collections
import functools
import itertools
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import torch
from torch import nn
from torch_geometric.data import Data

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import FeaturizedRecords, Predicted, Task
from scisuite.core.records import BadRecord, Record, RecordError, location

OnError = Literal["raise", "skip"]
Featurize = Callable[[Record, FrozenConfig], Data]
EchoColumns = Callable[[Record | BadRecord], dict[str, Any]]


class InputError(ValueError):
    """A bad record under ``--on-error raise``; the message says where and how to continue."""


def _raise_for(record: Record | BadRecord, reason: str) -> None:
    raise InputError(
        f"{location(record)} (id {record.id!r}): {reason}; rerun with --on-error skip to "
        "report bad records in the output and continue"
    )


#: Inference precisions ``load`` takes: full float32, or bfloat16 autocast (matmuls and
#: attention in bf16; what a domain measured as harmless, see :attr:`Task.bf16_inference`).
INFERENCE_PRECISIONS = ("32", "bf16")


class Bf16Inference(nn.Module):
    """``model`` with ``forward`` and ``predict`` run under bfloat16 autocast on its device.

    On CPUs with native bf16 (AVX-512 BF16, AMX) and on GPUs the matmuls run ~2x faster;
    elsewhere autocast emulates bf16 and is slower. The wrapped model must return float32
    predictions (the molecule model casts its raw outputs before de-normalising them).

    Args:
        model: a :class:`~scisuite.core.plugin.PredictiveModel` in eval mode.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def _autocast(self) -> torch.autocast:
        device = next(self.model.parameters()).device
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def forward(self, batch: Any) -> Any:
        """The wrapped model's outputs, returned as float32 (evaluation de-normalises them)."""
        with self._autocast():
            outputs = self.model(batch)
        if isinstance(outputs, torch.Tensor) and outputs.is_floating_point():
            return outputs.float()
        return outputs

    def predict(self, batch: Any) -> Any:
        with self._autocast():
            return self.model.predict(batch)  # type: ignore[operator]

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:  # the wrapped model's attributes (config, ...)
            return getattr(super().__getattr__("model"), name)


def featurize_chunk(
    task: Task, config: FrozenConfig, chunk: list[Record | BadRecord]
) -> FeaturizedRecords:
    """Featurize one chunk into one batch (runs in worker processes too, so a worker sends
    back one batch, not a graph per record); unreadable records become reasons."""
    records = [(i, record) for i, record in enumerate(chunk) if isinstance(record, Record)]
    errors = {i: record.reason for i, record in enumerate(chunk) if isinstance(record, BadRecord)}
    featurized = task.featurize_records([record for _, record in records], config)
    errors.update({records[j][0]: reason for j, reason in featurized.errors.items()})
    valid = [records[j][0] for j in featurized.valid]
    return FeaturizedRecords(featurized.batch, valid, dict(sorted(errors.items())))


def featurize_with_rejects(
    featurize: Featurize, config: FrozenConfig, records: Iterable[Record | BadRecord]
) -> tuple[list[Data | None], dict[str, str]]:
    """Featurize every record (training and evaluation data).

    Returns:
        one graph per record, None where it failed (positions line up with ``records``),
        and ``{record id: reason}`` for the failures.
    """
    graphs: list[Data | None] = []
    rejected: dict[str, str] = {}
    for record in records:
        graph, reason = None, None
        if isinstance(record, BadRecord):
            reason = record.reason
        else:
            try:
                graph = featurize(record, config)
            except RecordError as error:
                reason = error.reason
        graphs.append(graph)
        if graph is None:
            rejected[record.id] = reason or "invalid record"
    return graphs, rejected


def _chunks(records: Iterable[Record | BadRecord], size: int) -> Iterator[list[Record | BadRecord]]:
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def predict_records(
    task: Task,
    echo_columns: EchoColumns,
    model: nn.Module,
    config: FrozenConfig,
    records: Iterable[Record | BadRecord],
    batch_size: int = 64,
    device: torch.device | None = None,
    on_error: OnError = "skip",
    num_workers: int = 0,
) -> Iterator[Predicted]:
    """Yield one :class:`Predicted` (full row + the record's prediction) per input record,
    in input order.

    Args:
        task: the domain's task (featurize, postprocess).
        echo_columns: the input columns copied into every row (``plugin.io.echo_columns``).
        model: built model, already on ``device`` and in eval mode; ``model.predict(batch)``
            gives the typed prediction.
        config: the domain config the featurizer uses.
        records: a (possibly huge) stream of records.
        batch_size: records featurized and predicted together (>= 1).
        device: where the batch goes (default CPU).
        on_error: ``"skip"`` reports bad records as error rows; ``"raise"`` stops at the first.
        num_workers: processes that featurize chunks ahead of the model (0: in this process).
            Order is preserved; at most ``2 * num_workers`` chunks are in flight.
    """
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    device = device or torch.device("cpu")
    chunks = _chunks(records, batch_size)
    if num_workers > 0:
        context = multiprocessing.get_context("spawn")
        with context.Pool(num_workers) as pool:
            work = functools.partial(featurize_chunk, task, config)
            pairs = _ahead(pool, work, chunks, 2 * num_workers)
            yield from predict_featurized_chunks(
                task, echo_columns, model, config, pairs, device, on_error
            )
    else:
        pairs = ((chunk, featurize_chunk(task, config, chunk)) for chunk in chunks)
        yield from predict_featurized_chunks(
            task, echo_columns, model, config, pairs, device, on_error
        )


def _ahead(
    pool: Any, work: Any, chunks: Iterator[list[Record | BadRecord]], depth: int
) -> Iterator[tuple[list[Record | BadRecord], FeaturizedRecords]]:
    """Bounded look-ahead over ``pool.apply_async`` so memory stays at ``depth`` chunks."""
    pending: collections.deque = collections.deque()
    for chunk in chunks:
        pending.append((chunk, pool.apply_async(work, (chunk,))))
        if len(pending) >= depth:
            done_chunk, result = pending.popleft()
            yield done_chunk, result.get()
    while pending:
        done_chunk, result = pending.popleft()
        yield done_chunk, result.get()


def predict_featurized_chunks(
    task: Task,
    echo_columns: EchoColumns,
    model: nn.Module,
    config: FrozenConfig,
    pairs: Iterable[tuple[list[Record | BadRecord], FeaturizedRecords]],
    device: torch.device,
    on_error: OnError,
) -> Iterator[Predicted]:
    """Predictions of already-featurized chunks (``(records, featurized)`` pairs), one per
    record in chunk order: what :func:`predict_records` runs after featurizing, and what
    distributed prediction runs on each rank's chunks."""
    for chunk, featurized in pairs:
        out: list[Predicted | None] = [None] * len(chunk)
        for i, reason in featurized.errors.items():
            reason = reason or "invalid record"
            if on_error == "raise":
                _raise_for(chunk[i], reason)
            out[i] = Predicted({**echo_columns(chunk[i]), "status": "error", "error": reason})
        if featurized.batch is not None:
            batch = featurized.batch.to(device)
            with torch.inference_mode():
                prediction = model.predict(batch)  # type: ignore[operator]
            results = task.postprocess(prediction, batch, config)
            for i, result in zip(featurized.valid, results, strict=True):
                row = {**echo_columns(chunk[i]), **result.row, "status": "ok", "error": ""}
                out[i] = Predicted(row, result.item)
        yield from (p for p in out if p is not None)
