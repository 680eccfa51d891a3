"""Streaming, order-preserving prediction: records in, one row per record out.

Records are consumed in chunks of ``batch_size``; each chunk is featurized, the valid
ones run through the model as one PyG batch, and rows come back in input order with
``status`` (``"ok"`` / ``"error"``) and ``error`` columns. Memory is bounded by one
chunk whatever the input size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import DomainPlugin
from scisuite.core.records import BadRecord, Record, RecordError, location

OnError = Literal["raise", "skip"]


class InputError(ValueError):
    """A bad record under ``--on-error raise``; the message says where and how to continue."""


def _error_row(plugin: DomainPlugin, record: Record | BadRecord, reason: str) -> dict[str, Any]:
    return {**plugin.record_columns(record), "status": "error", "error": reason}


def _raise_for(record: Record | BadRecord, reason: str) -> None:
    raise InputError(
        f"{location(record)} (id {record.id!r}): {reason}; rerun with --on-error skip to "
        "report bad records in the output and continue"
    )


def predict_rows(
    plugin: DomainPlugin,
    model: nn.Module,
    config: FrozenConfig,
    records: Iterable[Record | BadRecord],
    batch_size: int = 64,
    device: torch.device | None = None,
    on_error: OnError = "skip",
) -> Iterator[dict[str, Any]]:
    """Yield one output row per input record, in input order.

    Args:
        plugin: the domain.
        model: built model, already on ``device`` and in eval mode.
        config: the domain config the featurizer uses.
        records: a (possibly huge) stream of records.
        batch_size: records featurized and predicted together.
        device: where the batch goes (default CPU).
        on_error: ``"skip"`` reports bad records as error rows; ``"raise"`` stops at the first.
    """
    device = device or torch.device("cpu")
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, batch_size)):
        rows: list[dict[str, Any] | None] = [None] * len(chunk)
        graphs: list[Data] = []
        positions: list[int] = []
        for i, record in enumerate(chunk):
            if isinstance(record, BadRecord):
                if on_error == "raise":
                    _raise_for(record, record.reason)
                rows[i] = _error_row(plugin, record, record.reason)
                continue
            try:
                graphs.append(plugin.featurize(record, config))
                positions.append(i)
            except RecordError as error:
                if on_error == "raise":
                    _raise_for(record, error.reason)
                rows[i] = _error_row(plugin, record, error.reason)
        if graphs:
            batch = Batch.from_data_list(graphs).to(device)
            with torch.inference_mode():
                outputs = model(batch)
            predicted = plugin.postprocess(outputs, batch, config)
            for i, row in zip(positions, predicted, strict=True):
                rows[i] = {**plugin.record_columns(chunk[i]), **row, "status": "ok", "error": ""}
        yield from (row for row in rows if row is not None)
