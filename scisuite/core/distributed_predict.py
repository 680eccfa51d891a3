"""Prediction across processes, devices and nodes with Lightning: one row per record, in order.

The input is cut into chunks of ``batch_size`` records, numbered in input order (the same
chunks :func:`~scisuite.core.predicting.predict_records` predicts together, so rows and
values match a single-process run). Chunk ``c`` belongs to rank ``c % world_size``: no
sampler, so no padding and no record scored twice. Every rank streams the input, featurizes
and scores only its own chunks (bad records included: each keeps its one error row), and a
:class:`PartWriter` (a Lightning ``BasePredictionWriter``) appends its rows with their record
indices to its own part file, published atomically with a small manifest (records seen,
rows written). Rank 0 then merges the parts by record index into the output table and
checks that every index ``0 .. N-1`` occurs exactly once, where ``N`` is the record count
every rank saw.

Several nodes need the output's folder on a shared file system (parts are merged there).
"""

from __future__ import annotations

import heapq
import itertools
import json
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from scisuite.core.config import FrozenConfig
from scisuite.core.io import TableSink, atomic_path
from scisuite.core.plugin import FeaturizedRecords, Task
from scisuite.core.predicting import (
    EchoColumns,
    OnError,
    featurize_chunk,
    predict_featurized_chunks,
)
from scisuite.core.records import BadRecord, Record

RecordSource = Callable[[], Iterable[Record | BadRecord]]
"""Opens the input stream afresh (every rank and loader worker reads it from the start)."""

ChunkPlan = Callable[[int, int, int, int], bool]
"""``plan(start, length, rank, world_size)``: whether ``rank`` scores the chunk holding records
``start .. start + length - 1``. Every rank and loader worker evaluates the same plan."""


def round_robin(batch_size: int) -> ChunkPlan:
    """Chunk ``c`` (of ``batch_size`` records) to rank ``c % world_size``."""

    def plan(start: int, length: int, rank: int, world_size: int) -> bool:
        return (start // batch_size) % world_size == rank

    return plan


class MergeError(RuntimeError):
    """The part files do not hold every record exactly once (a rank failed or is missing)."""


@dataclass
class _Chunk:
    """Records ``start .. start + len(records) - 1`` of the input, featurized."""

    start: int
    records: list[Record | BadRecord]
    featurized: FeaturizedRecords


@dataclass
class EndOfStream:
    """The input held ``records`` records (sent once per rank, after its last chunk)."""

    records: int


@dataclass
class ScoredChunk:
    """The rows of one chunk, the first being record ``start``."""

    start: int
    rows: list[dict[str, Any]]


class RecordShards(IterableDataset):
    """The chunks of one rank, featurized (in loader workers when ``num_workers > 0``).

    Chunk ``c`` of the stream goes to rank ``c % world_size`` (or where ``plan`` says);
    within a rank, its ``j``-th chunk goes to loader worker ``j % num_workers``, so the
    loader's round-robin over workers returns the rank's chunks in input order.

    Args:
        source: opens the record stream.
        task: the domain's task (its chunk featurizer).
        config: the domain config it uses.
        batch_size: records per chunk (>= 1).
        rank, world_size: this process among all of them.
        plan: which chunks this rank scores (default: :func:`round_robin`).
    """

    def __init__(
        self,
        source: RecordSource,
        task: Task,
        config: FrozenConfig,
        batch_size: int,
        rank: int,
        world_size: int,
        plan: ChunkPlan | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        self.source, self.task, self.config = source, task, config
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.plan = plan or round_robin(batch_size)

    def __iter__(self) -> Iterator[_Chunk | EndOfStream]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        iterator = iter(self.source())
        total, mine = 0, 0  # records read; chunks of this rank so far
        while chunk := list(itertools.islice(iterator, self.batch_size)):
            start, total = total, total + len(chunk)
            if not self.plan(start, len(chunk), self.rank, self.world_size):
                continue
            mine += 1
            if (mine - 1) % workers == worker:
                featurized = featurize_chunk(self.task, self.config, chunk)
                yield _Chunk(start, chunk, featurized)
        if worker == 0:
            yield EndOfStream(total)


def _as_is(item: Any) -> Any:
    """The loader's collate function: each item is already one batch."""
    return item


class ChunkLoader(L.LightningDataModule):
    """The prediction loader of this rank (rank and world size come from the trainer).

    ``plan``, when given, is called as the loader is made (after the callbacks' ``setup``,
    so a callback can decide it there) and says which chunks this rank scores.
    """

    def __init__(
        self,
        source: RecordSource,
        task: Task,
        config: FrozenConfig,
        batch_size: int,
        num_workers: int,
        plan: Callable[[], ChunkPlan] | None = None,
    ) -> None:
        super().__init__()
        self.source, self.task, self.config = source, task, config
        self.batch_size, self.num_workers = batch_size, num_workers
        self.plan = plan

    def predict_dataloader(self) -> DataLoader:
        assert self.trainer is not None
        shards = RecordShards(
            self.source,
            self.task,
            self.config,
            self.batch_size,
            self.trainer.global_rank,
            self.trainer.world_size,
            self.plan() if self.plan is not None else None,
        )
        return DataLoader(shards, batch_size=None, collate_fn=_as_is, num_workers=self.num_workers)


class ChunkScorer(L.LightningModule):
    """``predict_step``: one chunk -> its rows, exactly as :func:`predict_records` makes them."""

    def __init__(
        self,
        task: Task,
        echo_columns: EchoColumns,
        model: nn.Module,
        config: FrozenConfig,
        on_error: OnError,
    ) -> None:
        super().__init__()
        self.task, self.echo_columns, self.model = task, echo_columns, model
        self.config, self.on_error = config, on_error

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        return batch  # the valid graphs of a chunk are batched and moved in predict_step

    def predict_step(self, batch: _Chunk | EndOfStream, batch_idx: int) -> Any:
        if isinstance(batch, EndOfStream):
            return batch
        pairs = [(batch.records, batch.featurized)]
        predicted = predict_featurized_chunks(
            self.task, self.echo_columns, self.model, self.config, pairs, self.device, self.on_error
        )
        return ScoredChunk(batch.start, [p.row for p in predicted])


def _plain(value: Any) -> Any:
    """JSON for NumPy scalars and arrays in rows (Python floats round-trip exactly)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | torch.Tensor):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a part file")


def part_name(rank: int, world_size: int) -> str:
    """``rank-00001-of-00004``: a rank's part file stem."""
    return f"rank-{rank:05d}-of-{world_size:05d}"


class PartWriter(BasePredictionWriter):
    """Writes each rank's rows, with their record indices, to ``<folder>/<part>.jsonl``.

    One JSON array ``[record index, row]`` per line; the file is written aside and renamed
    into place when the rank is done, next to ``<part>.json`` (rank, world size, records
    seen, rows written). Before any rank writes, rank 0 empties ``folder``.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__(write_interval="batch")
        self.folder = folder
        self.rows = 0
        self.records: int | None = None
        self._atomic: Any = None
        self._handle: IO[str] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
        trainer.strategy.barrier("scisuite-parts-folder")
        stem = part_name(trainer.global_rank, trainer.world_size)
        self._atomic = atomic_path(self.folder / f"{stem}.jsonl")
        self._handle = self._atomic.__enter__().open("w", encoding="utf-8")

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        if isinstance(prediction, EndOfStream):
            self.records = prediction.records
            return
        assert self._handle is not None
        for offset, row in enumerate(prediction.rows):
            self._handle.write(json.dumps([prediction.start + offset, row], default=_plain))
            self._handle.write("\n")
        self.rows += len(prediction.rows)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert self._handle is not None
        self._handle.close()
        self._atomic.__exit__(None, None, None)
        manifest = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "records": self.records,
            "rows": self.rows,
        }
        stem = part_name(trainer.global_rank, trainer.world_size)
        with atomic_path(self.folder / f"{stem}.json") as tmp:
            tmp.write_text(json.dumps(manifest) + "\n")

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
            self._atomic.__exit__(type(exception), exception, exception.__traceback__)


def _read_part(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            index, row = json.loads(line)
            yield int(index), row


def merge_parts(
    folder: Path, world_size: int, output: Path, columns: list[str], fmt: str | None
) -> tuple[int, int]:
    """Merge the ranks' parts by record index into ``output`` (atomically, one pass).

    Returns:
        ``(rows, error rows)``.

    Raises:
        MergeError: a part is missing, the ranks saw different inputs, or a record index is
            missing or repeated (the output is then not written).
    """
    manifests = []
    for rank in range(world_size):
        path = folder / f"{part_name(rank, world_size)}.json"
        if not path.is_file():
            raise MergeError(f"rank {rank} wrote no part in {folder}; rerun the prediction")
        manifests.append(json.loads(path.read_text()))
    seen = {m["records"] for m in manifests}
    if len(seen) != 1 or None in seen:
        raise MergeError(f"the ranks read different numbers of records ({sorted(map(str, seen))})")
    total = seen.pop()
    parts = [_read_part(folder / f"{part_name(r, world_size)}.jsonl") for r in range(world_size)]
    sink = TableSink(output, columns, fmt)
    errors = 0
    expected = 0
    try:
        for index, row in heapq.merge(*parts, key=lambda pair: pair[0]):
            if index != expected:
                problem = "repeated" if index < expected else f"missing (next is {index})"
                raise MergeError(f"record {expected} is {problem} in the parts in {folder}")
            sink.write(row)
            errors += row.get("status") == "error"
            expected += 1
        if expected != total:
            raise MergeError(f"records {expected} .. {total - 1} are missing from the parts")
    except BaseException:
        sink.abort()
        raise
    sink.close()
    return expected, errors


def prediction_trainer(
    callbacks: list[L.Callback],
    root: Path,
    accelerator: str,
    devices: int | str,
    strategy: str,
    num_nodes: int,
    quiet: bool,
) -> L.Trainer:
    """A Lightning trainer that only predicts: no logger, checkpoints or sampler (the
    chunks carry their record indices; ``callbacks`` write the rows)."""
    return L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=not quiet,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=callbacks,
        default_root_dir=str(root),
    )


def run_prediction(trainer: L.Trainer, scorer: ChunkScorer, loader: ChunkLoader) -> None:
    """``trainer.predict`` over the loader's chunks, without two warnings that are by design:
    batches move in ``predict_step``, and record indices travel with each chunk."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You have overridden `transfer_batch_to_device`")
        warnings.filterwarnings("ignore", "Couldn't infer the batch indices")
        trainer.predict(scorer, datamodule=loader, return_predictions=False)


@dataclass
class DistributedSummary:
    """What :func:`predict_distributed` wrote (the same on every rank).

    Attributes:
        path: the output table.
        rows: rows written (one per input record).
        errors: rows with ``status == "error"``.
        world_size: processes that scored the input.
    """

    path: Path
    rows: int
    errors: int
    world_size: int


def predict_distributed(
    task: Task,
    echo_columns: EchoColumns,
    model: nn.Module,
    config: FrozenConfig,
    source: RecordSource,
    output: str | Path,
    columns: list[str],
    fmt: str | None = None,
    batch_size: int = 64,
    on_error: OnError = "skip",
    num_workers: int = 0,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    num_nodes: int = 1,
    quiet: bool = True,
) -> DistributedSummary:
    """Score ``source`` on every process of a Lightning run and write one ordered table.

    Each process (``devices`` per node x ``num_nodes``; ``strategy="ddp"`` to start them, or
    ``torchrun`` / ``srun`` already did) runs this call with the same arguments.

    Args:
        task, echo_columns, model, config: as for :func:`predict_records` (``model`` in
            eval mode; Lightning moves it to each rank's device).
        source: opens the record stream (read in full by every rank; each featurizes only
            its own chunks).
        output: the table (CSV/TSV/Parquet/JSONL); parts go to ``.<name>.parts`` beside it
            and are removed once merged.
        columns: the output columns, in order.
        fmt: table format (default: from the suffix).
        batch_size: records per chunk, as in single-process prediction.
        on_error: ``"skip"`` (error rows) or ``"raise"`` (stops every rank).
        num_workers: loader workers featurizing ahead of each rank's model.
        accelerator, devices, strategy, num_nodes: Lightning's.
        quiet: no progress bar.

    Raises:
        MergeError: the parts did not hold every record exactly once.
    """
    output = Path(output)
    folder = output.with_name(f".{output.name}.parts")
    writer = PartWriter(folder)
    trainer = prediction_trainer([writer], folder, accelerator, devices, strategy, num_nodes, quiet)
    scorer = ChunkScorer(task, echo_columns, model, config, on_error)
    run_prediction(trainer, scorer, ChunkLoader(source, task, config, batch_size, num_workers))
    trainer.strategy.barrier("scisuite-parts-written")
    merged: tuple[int, int, str | None] = (0, 0, None)
    if trainer.is_global_zero:
        try:
            merged = (*merge_parts(folder, trainer.world_size, output, columns, fmt), None)
        except MergeError as error:  # every rank reports it instead of waiting for rank 0
            merged = (0, 0, str(error))
        else:
            shutil.rmtree(folder, ignore_errors=True)
    rows, errors, problem = trainer.strategy.broadcast(merged, src=0)
    if problem is not None:
        raise MergeError(problem)
    return DistributedSummary(output, rows, errors, trainer.world_size)


__all__ = [
    "ChunkLoader",
    "ChunkPlan",
    "ChunkScorer",
    "DistributedSummary",
    "EndOfStream",
    "ScoredChunk",
    "MergeError",
    "PartWriter",
    "RecordShards",
    "merge_parts",
    "part_name",
    "predict_distributed",
    "prediction_trainer",
    "round_robin",
    "run_prediction",
]
