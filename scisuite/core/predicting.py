"""Streaming, order-preserving prediction: records in, one row per record out.

Records are consumed in chunks of ``batch_size``; each chunk is featurized, the valid
ones run through the model as one PyG batch, and rows come back in input order with
``status`` (``"ok"`` / ``"error"``) and ``error`` columns. Memory is bounded by one
chunk whatever the input size.
"""

from __future__ import annotations

import collections
import functools
import itertools
import multiprocessing
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


Featurized = list[tuple[int, Data | None, str | None]]
"""Per record of a chunk: (position, graph or None, error reason or None)."""


def featurize_chunk(
    plugin: DomainPlugin, config: FrozenConfig, chunk: list[Record | BadRecord]
) -> Featurized:
    """Featurize one chunk; bad records become reasons (runs in worker processes too)."""
    out: Featurized = []
    for i, record in enumerate(chunk):
        if isinstance(record, BadRecord):
            out.append((i, None, record.reason))
            continue
        try:
            out.append((i, plugin.featurize(record, config), None))
        except RecordError as error:
            out.append((i, None, error.reason))
    return out


def _chunks(records: Iterable[Record | BadRecord], size: int) -> Iterator[list[Record | BadRecord]]:
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def predict_rows(
    plugin: DomainPlugin,
    model: nn.Module,
    config: FrozenConfig,
    records: Iterable[Record | BadRecord],
    batch_size: int = 64,
    device: torch.device | None = None,
    on_error: OnError = "skip",
    num_workers: int = 0,
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
        num_workers: processes that featurize chunks ahead of the model (0: in this process).
            Order is preserved; at most ``2 * num_workers`` chunks are in flight.
    """
    device = device or torch.device("cpu")
    chunks = _chunks(records, batch_size)
    if num_workers > 0:
        context = multiprocessing.get_context("spawn")
        with context.Pool(num_workers) as pool:
            work = functools.partial(featurize_chunk, plugin, config)
            pairs = _ahead(pool, work, chunks, 2 * num_workers)
            yield from _predict_chunks(plugin, model, config, pairs, device, on_error)
    else:
        pairs = ((chunk, featurize_chunk(plugin, config, chunk)) for chunk in chunks)
        yield from _predict_chunks(plugin, model, config, pairs, device, on_error)


def _ahead(
    pool: Any, work: Any, chunks: Iterator[list[Record | BadRecord]], depth: int
) -> Iterator[tuple[list[Record | BadRecord], Featurized]]:
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


def _predict_fn(model: nn.Module) -> Any:
    """A model may define ``predict(batch)`` when inference differs from the training forward
    (e.g. autoregressive generation); otherwise its ``forward`` is used."""
    return getattr(model, "predict", model)


def _predict_chunks(
    plugin: DomainPlugin,
    model: nn.Module,
    config: FrozenConfig,
    pairs: Iterable[tuple[list[Record | BadRecord], Featurized]],
    device: torch.device,
    on_error: OnError,
) -> Iterator[dict[str, Any]]:
    for chunk, featurized in pairs:
        rows: list[dict[str, Any] | None] = [None] * len(chunk)
        graphs: list[Data] = []
        positions: list[int] = []
        for i, graph, reason in featurized:
            if graph is None:
                if on_error == "raise":
                    _raise_for(chunk[i], reason or "invalid record")
                rows[i] = _error_row(plugin, chunk[i], reason or "invalid record")
            else:
                graphs.append(graph)
                positions.append(i)
        if graphs:
            batch = Batch.from_data_list(graphs).to(device)
            with torch.inference_mode():
                outputs = _predict_fn(model)(batch)
            predicted = plugin.postprocess(outputs, batch, config)
            for i, row in zip(positions, predicted, strict=True):
                rows[i] = {**plugin.record_columns(chunk[i]), **row, "status": "ok", "error": ""}
        yield from (row for row in rows if row is not None)
