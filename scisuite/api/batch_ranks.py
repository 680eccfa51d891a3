"""Sharded, resumable scoring on several processes (devices, nodes) through Lightning.

Shard ``s`` (records ``s * shard_size ..``) belongs to rank ``s % world_size``. Every rank
streams the whole input, cut into the chunks of ``batch_size`` records that one process
predicts together (so rows and values are those of one process); a rank scores a chunk when
it holds a record of one of its shards still to do and keeps only those records' rows (a
chunk that straddles two shards is scored by both owners, each keeping its own rows). A
:class:`ShardWriter` (a Lightning prediction writer) collects the rows per shard, writes each
complete shard as its part file and records it in the rank's own
``_manifest.rank-NNNNN.json``; no two ranks write the same file, and no sampler pads or
drops records.

Rank 0 opens the manifest before any rank scores (a fresh job, or a resumed one with the
finished shards of earlier runs on any number of ranks), and once every rank is done merges
the rank manifests into it, checks that the shards cover the input exactly once and
assembles the output. A run killed at any point leaves only complete parts, each in some
manifest; the next run with ``resume`` scores the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from scisuite.api.batch import BatchSummary, ShardJob, load_for, open_manifest
from scisuite.api.manifest import (
    ShardEntry,
    check_resumable,
    read_manifest,
    shard_span,
    start_manifest,
    write_manifest,
    write_rank_manifest,
)
from scisuite.api.parts import ShardRows, write_part
from scisuite.api.predicting import read_records
from scisuite.core.distributed_predict import (
    ChunkLoader,
    ChunkPlan,
    ChunkScorer,
    EndOfStream,
    MergeError,
    ScoredChunk,
    prediction_trainer,
    run_prediction,
)
from scisuite.core.predicting import OnError
from scisuite.core.progress import wanted
from scisuite.core.registry import PluginRegistry


class ShardPlan:
    """Which chunks a rank scores: those holding a record of a shard it owns
    (``shard % world_size == rank``) that no earlier run finished.

    Args:
        shard_size: records per shard.
        reused: indices of the shards already in the manifest.
    """

    def __init__(self, shard_size: int, reused: set[int]) -> None:
        self.shard_size, self.reused = shard_size, reused

    def owns(self, shard: int, rank: int, world_size: int) -> bool:
        return shard % world_size == rank and shard not in self.reused

    def __call__(self, start: int, length: int, rank: int, world_size: int) -> bool:
        first, last = start // self.shard_size, (start + length - 1) // self.shard_size
        return any(self.owns(shard, rank, world_size) for shard in range(first, last + 1))


class ShardWriter(BasePredictionWriter):
    """Writes a rank's shards as part files as they complete, recording each in the rank's
    own manifest; rank 0 opens the job's manifest in :meth:`setup` before any rank reads
    which shards are left.

    Args:
        job: the job (:func:`scisuite.api.batch._job`).
        summary: filled in by rank 0 (rescored shards).
        resume: continue the job's manifest, or start afresh.
        device, on_error: recorded in the manifest.
    """

    def __init__(
        self, job: ShardJob, summary: BatchSummary, resume: bool, device: str, on_error: OnError
    ) -> None:
        super().__init__(write_interval="batch")
        self.job, self.summary, self.resume = job, summary, resume
        self.device, self.on_error = device, on_error
        self.plan = ShardPlan(job.shard_size, set())
        self.rank, self.world_size, self.run = 0, 1, 0
        self.records: int | None = None
        self.entries: list[ShardEntry] = []
        self._rows: dict[int, ShardRows] = {}
        self._clock = 0.0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            self.job.parts.mkdir(parents=True, exist_ok=True)
            open_manifest(self.job, self.summary, self.resume, self.device, self.on_error)
        trainer.strategy.barrier("scisuite-manifest-open")
        manifest = read_manifest(self.job.parts)
        self.plan = ShardPlan(self.job.shard_size, {e["index"] for e in manifest["shards"]})
        self.rank, self.world_size = trainer.global_rank, trainer.world_size
        self.run = manifest["runs"]
        self._clock = time.perf_counter()

    def chunk_plan(self) -> ChunkPlan:
        """The loader's plan (called once :meth:`setup` has read the manifest)."""
        return self.plan

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
        assert isinstance(prediction, ScoredChunk)
        size = self.job.shard_size
        for offset, row in enumerate(prediction.rows):
            shard = (prediction.start + offset) // size
            if not self.plan.owns(shard, self.rank, self.world_size):
                continue
            rows = self._rows.setdefault(shard, ShardRows(self.job.columns))
            rows.append(row)
            if len(rows) == size:
                self._write(shard)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the last, short shard (its size is known once the input has ended)."""
        if self._rows:
            assert self.records is not None, "the loader did not report the end of the input"
            for shard in sorted(self._rows):
                expected = self.records - shard * self.job.shard_size
                if len(self._rows[shard]) != expected:
                    raise MergeError(
                        f"rank {self.rank} holds {len(self._rows[shard])} rows of shard {shard}, "
                        f"expected {expected}"
                    )
                self._write(shard)
        write_rank_manifest(self.job.parts, self.rank, self.entries)

    def _write(self, shard: int) -> None:
        rows = self._rows.pop(shard)
        first = shard * self.job.shard_size
        seconds = time.perf_counter() - self._clock
        entry = write_part(self.job.parts, shard, first, rows, self.run, seconds)
        self._clock = time.perf_counter()
        self.entries.append(entry)
        write_rank_manifest(self.job.parts, self.rank, self.entries)


def check_complete(entries: list[ShardEntry], shard_size: int, records: int) -> None:
    """Raise :class:`MergeError` unless the shards cover records ``0 .. records - 1``
    exactly once, in shards of ``shard_size`` (the last one short)."""
    by_index = {entry.index: entry for entry in entries}
    shards = -(-records // shard_size)
    if len(by_index) != len(entries) or sorted(by_index) != list(range(shards)):
        missing = sorted(set(range(shards)) - set(by_index))
        extra = sorted(set(by_index) - set(range(shards)))
        raise MergeError(
            f"the manifest does not hold each of the {shards} shards once (missing "
            f"{missing[:10]}, unexpected {extra[:10]}); rerun with --resume"
        )
    for index, entry in by_index.items():
        first, rows = shard_span(index, shard_size, records)
        if (entry.first, entry.rows) != (first, rows):
            raise MergeError(
                f"shard {index} holds records {entry.first}..{entry.last}, expected "
                f"{first}..{first + rows - 1}"
            )


def score_on_ranks(
    job: ShardJob,
    summary: BatchSummary,
    finish: Callable[[], None],
    start: float,
    *,
    resume: bool,
    batch_size: int,
    on_error: OnError,
    num_workers: int,
    device: str,
    devices: int | str,
    strategy: str,
    num_nodes: int,
    progress: bool | None,
    registry: PluginRegistry,
    reader_options: dict[str, Any],
) -> BatchSummary:
    """Score the job's shards on every process of a Lightning run; rank 0 merges the rank
    manifests and calls ``finish`` (assembly). Every rank returns rank 0's summary.

    Raises:
        ResumeError: ``resume`` and the manifest belongs to another job (on every rank,
            before any of them writes).
        MergeError: the shards do not cover the input exactly once.
    """
    if resume:
        check_resumable(job.parts, job.identity)
    predictor = load_for(job, device, registry)
    plugin = predictor.plugin
    writer = ShardWriter(job, summary, resume, device, on_error)
    accelerator = "gpu" if predictor.device.type == "cuda" else "cpu"
    show = wanted(progress)
    trainer = prediction_trainer(
        [writer], job.parts, accelerator, devices, strategy, num_nodes, quiet=not show
    )
    inputs = job.identity["input"]["path"]
    loader = ChunkLoader(
        lambda: read_records(plugin, inputs, **reader_options),
        plugin.task,
        predictor.config,
        batch_size,
        num_workers,
        plan=writer.chunk_plan,
    )
    scorer = ChunkScorer(
        plugin.task, plugin.io.echo_columns, predictor.model, predictor.config, on_error
    )
    run_prediction(trainer, scorer, loader)
    trainer.strategy.barrier("scisuite-shards-written")
    result: tuple[BatchSummary | None, str | None] = (None, None)
    if trainer.is_global_zero:
        try:
            _merge(job, summary, writer)
            finish()
            summary.seconds = time.perf_counter() - start
            result = (summary, None)
        except Exception as error:  # every rank raises it instead of waiting for rank 0
            result = (None, f"{type(error).__name__}: {error}")
    merged, problem = trainer.strategy.broadcast(result, src=0)
    if problem is not None:
        raise MergeError(problem)
    assert merged is not None
    return merged


def _merge(job: ShardJob, summary: BatchSummary, writer: ShardWriter) -> None:
    """Rank 0: the rank manifests join the manifest, which must then cover the input."""
    assert writer.records is not None, "the loader did not report the end of the input"
    manifest = start_manifest(job.parts, job.identity, resume=True)
    entries = [ShardEntry(**entry) for entry in manifest["shards"]]
    check_complete(entries, job.shard_size, writer.records)
    manifest["records"] = writer.records
    manifest["world_size"] = writer.world_size
    write_manifest(job.parts, manifest)
    summary.reused = sorted(writer.plan.reused)
    summary.scored = sorted(e.index for e in entries if e.index not in writer.plan.reused)
