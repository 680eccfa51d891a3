"""Batch scoring that survives a crash: numbered shards, a manifest, resume, assembly.

The input is read once as a stream and cut into shards of ``shard_size`` records. Each shard
runs through the same machinery as :meth:`Predictor.iter_predictions` (one row per record,
bad records included, in input order; ``num_workers`` featurisation processes stay alive
across shards) and is written atomically as ``part-00000.parquet``, ``part-00001.parquet``,
... in a parts directory, next to a ``_manifest.json`` rewritten atomically after every
shard. ``resume=True`` reuses every part whose file matches its checksum in the manifest
(its records are read but neither featurized nor predicted) and rescores missing or corrupt
ones; it refuses when the input, checkpoint, shard size, reader options or columns differ.
Finally the parts are assembled in input order into one table (CSV/TSV/Parquet/JSONL through
:class:`~scisuite.core.io.TableSink`, atomically), or left as a Parquet data set directory.

Memory: one shard of rows, held as Arrow columns (plus one assembly chunk), whatever the
input size.

>>> from scisuite import api
>>> api.predict_sharded("molecule", "big.smi", "scores.parquet", resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from scisuite.api.checkpoints import resolve_checkpoint
from scisuite.api.common import registry_or_default
from scisuite.api.manifest import (
    MANIFEST_NAME,
    ShardEntry,
    checkpoint_fingerprint,
    input_identity,
    jsonable,
    read_manifest,
    shard_span,
    start_manifest,
    write_manifest,
)
from scisuite.api.parts import ShardRows, write_part
from scisuite.api.predicting import Predictor, RowTable, load, read_records
from scisuite.core.checkpoint import read_meta
from scisuite.core.io import (
    TABLE_FORMATS,
    ResumeError,
    atomic_path,
    strip_suffixes,
    table_format,
)
from scisuite.core.plugin import DomainPlugin, Predicted, PredictionSink
from scisuite.core.predicting import OnError, predict_records
from scisuite.core.progress import progress_bar, wanted
from scisuite.core.records import BadRecord, Record
from scisuite.core.registry import PluginRegistry
from scisuite.core.sources import sha256_file

DATASET_FORMAT = "parquet-dataset"
DEFAULT_SHARD_SIZE = 10_000
_ASSEMBLY_ROWS = 10_000


@dataclass
class BatchSummary:
    """What :func:`predict_sharded` did.

    Attributes:
        path: the output: a table file, or the Parquet data set directory.
        parts_dir: where the parts and the manifest are (removed after assembly unless
            ``keep_parts``; the data set directory itself in data-set mode).
        manifest: the manifest's path (inside ``parts_dir``).
        rows: rows in the output (one per input record).
        errors: rows with ``status == "error"``.
        shards: shards in the output.
        scored: indices of the shards scored by this run.
        reused: indices of the shards taken from an earlier run's parts.
        rescored: indices of shards the manifest listed whose part was missing or corrupt.
        seconds: wall time of this run.
        extra: the domain's post-prediction outputs, written from the assembled rows.
        notes: things the user should know (e.g. outputs not written in data-set mode).
    """

    path: Path
    parts_dir: Path
    manifest: Path
    rows: int = 0
    errors: int = 0
    shards: int = 0
    scored: list[int] = field(default_factory=list)
    reused: list[int] = field(default_factory=list)
    rescored: list[int] = field(default_factory=list)
    seconds: float = 0.0
    extra: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def predict_sharded(
    domain_or_path: str | Path,
    inputs: str | Path,
    output: str | Path,
    *,
    checkpoint: str | Path | None = None,
    fmt: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    resume: bool = False,
    keep_parts: bool = False,
    parts_dir: str | Path | None = None,
    batch_size: int = 64,
    on_error: OnError = "skip",
    num_workers: int = 0,
    device: str = "auto",
    reports: bool = True,
    progress: bool | None = None,
    registry: PluginRegistry | None = None,
    devices: int | str = 1,
    strategy: str = "auto",
    num_nodes: int = 1,
    precision: str = "32",
    **reader_options: Any,
) -> BatchSummary:
    """Score ``inputs`` in shards of ``shard_size`` records; resumable after a crash.

    Args:
        domain_or_path: a domain name or a checkpoint directory (as in :func:`load`).
        inputs: the input file (``"-"``: standard input, which cannot be resumed).
        output: a table file (``.csv``, ``.tsv``, ``.parquet``, ``.jsonl``), or a directory
            (existing, ending in ``/``, or ``fmt="parquet-dataset"``) left as a Parquet
            data set of the part files.
        checkpoint: checkpoint directory (default: the domain's shipped weights).
        fmt: ``csv``, ``tsv``, ``parquet``, ``jsonl`` or ``parquet-dataset`` (default: from
            the output's suffix).
        shard_size: records per shard and part file (>= 1).
        resume: reuse the finished parts of an earlier run of the same job.
        keep_parts: keep the parts directory after the table is assembled (a rerun with
            ``resume`` then only re-assembles).
        parts_dir: where parts go (default ``<output>.parts/``; data sets: the directory).
        batch_size: records featurized and predicted together.
        on_error: ``"skip"`` (bad records become error rows) or ``"raise"``.
        num_workers: featurisation processes (0: in this process); order is kept.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        reports: write the domain's post-prediction outputs (e.g. per-residue tracks),
            from the assembled rows, next to a table output.
        progress: a progress bar on stderr (records/s, ETA); default: when stderr is a
            terminal.
        registry: plugin registry (default: installed plugins).
        devices, strategy, num_nodes: Lightning's, to score on several processes
            (``devices=2, strategy="ddp"``; or the ranks ``torchrun`` / ``srun`` started):
            shard ``s`` is scored by rank ``s % world size``, each rank writes its own parts
            and records them in its own ``_manifest.rank-NNNNN.json``, and rank 0 merges
            them into the manifest and assembles the output. Rows, order and values are
            those of one process; a killed distributed job resumes on any number of ranks.
        precision: ``"32"`` or ``"bf16"`` (as in :func:`load`); part of the job's identity,
            so a resumed run keeps the precision its parts were scored with.
        **reader_options: the domain reader's options (e.g. ``smiles_column``).

    Raises:
        ResumeError: ``resume`` and the parts belong to another job.
        ValueError: bad arguments (stdin with ``resume``, a domain-only output format).
    """
    start = time.perf_counter()
    if shard_size < 1:
        raise ValueError(f"--shard-size must be >= 1, got {shard_size}")
    if str(inputs) == "-" and resume:
        raise ValueError(
            "standard input cannot be resumed (it cannot be read again to check it is the "
            "same data); save it to a file and pass the file, or drop --resume"
        )
    reg = registry_or_default(registry)
    job = _job(
        domain_or_path,
        inputs,
        output,
        checkpoint,
        fmt,
        parts_dir,
        reg,
        shard_size,
        batch_size,
        reader_options,
        precision,
    )
    summary = BatchSummary(job.output, job.parts, job.parts / MANIFEST_NAME)
    if distributed(devices, strategy, num_nodes):
        from scisuite.api.batch_ranks import score_on_ranks

        if str(inputs) == "-":
            raise ValueError(
                "distributed scoring reads a file that every rank can open, not standard "
                "input; save it to a file first"
            )
        return score_on_ranks(
            job,
            summary,
            lambda: _finish(job, summary, reports, keep_parts),
            start,
            resume=resume,
            batch_size=batch_size,
            on_error=on_error,
            num_workers=num_workers,
            device=device,
            devices=devices,
            strategy=strategy,
            num_nodes=num_nodes,
            progress=progress,
            registry=reg,
            reader_options=reader_options,
        )
    manifest = open_manifest(job, summary, resume, device, on_error)
    show = wanted(progress)
    if show and manifest.get("records") is None and str(inputs) != "-":
        manifest["records"] = sum(1 for _ in read_records(job.plugin, inputs, **reader_options))
    write_manifest(job.parts, manifest)
    reusable = {entry.index: entry for entry in (ShardEntry(**e) for e in manifest["shards"])}
    everything_reused = manifest.get("records") is not None and manifest["records"] == sum(
        entry.rows for entry in reusable.values()
    )
    predictor = None if everything_reused else load_for(job, device, reg)
    with progress_bar(manifest.get("records"), "scoring", enabled=show) as bar:
        _score_shards(
            predictor,
            read_records(job.plugin, inputs, **reader_options),
            reusable,
            job.parts,
            manifest,
            summary,
            bar,
            batch_size,
            on_error,
            num_workers,
        )
    _finish(job, summary, reports, keep_parts)
    summary.seconds = time.perf_counter() - start
    return summary


# --------------------------------------------------------------------- set-up and checks


@dataclass
class ShardJob:
    """What one sharded scoring job is: its model, its output and the identity a resumed
    run must match (recorded in the manifest).

    Attributes:
        plugin: the domain plugin.
        config: the checkpoint's model config.
        checkpoint: the checkpoint directory.
        columns: the output columns, in order.
        output: the table file, or the Parquet data set directory.
        out_format: ``csv``, ``tsv``, ``parquet``, ``jsonl`` or ``parquet-dataset``.
        parts: the parts directory.
        identity: domain, checkpoint fingerprint, input checksum, shard and batch size,
            reader options and columns.
    """

    plugin: DomainPlugin
    config: Any
    checkpoint: Path
    columns: list[str]
    output: Path
    out_format: str
    parts: Path
    identity: dict[str, Any]

    @property
    def dataset(self) -> bool:
        return self.out_format == DATASET_FORMAT

    @property
    def shard_size(self) -> int:
        return int(self.identity["shard_size"])


def load_for(job: ShardJob, device: str, registry: PluginRegistry) -> Predictor:
    """The job's predictor, at the precision its identity names."""
    precision = job.identity.get("precision", "32")
    return load(job.checkpoint, device=device, registry=registry, precision=precision)


def _job(
    domain_or_path: str | Path,
    inputs: str | Path,
    output: str | Path,
    checkpoint: str | Path | None,
    fmt: str | None,
    parts_dir: str | Path | None,
    registry: PluginRegistry,
    shard_size: int,
    batch_size: int,
    reader_options: dict[str, Any],
    precision: str = "32",
) -> ShardJob:
    ckpt = resolve_checkpoint(domain_or_path, checkpoint, registry)
    meta = read_meta(ckpt)
    plugin = registry.get(meta.domain)
    config = plugin.config_class.from_dict(meta.model_config)
    columns = [*plugin.task.output_columns(config), "status", "error"]
    output = Path(output)
    dataset = fmt == DATASET_FORMAT or output.is_dir() or str(output).endswith(os.sep)
    out_format = DATASET_FORMAT if dataset else _file_format(plugin, output, fmt)
    parts = Path(parts_dir) if parts_dir else output if dataset else _default_parts(output)
    identity = {
        "domain": plugin.name,
        "checkpoint": {"path": str(ckpt), "fingerprint": checkpoint_fingerprint(ckpt)},
        "input": input_identity(inputs),
        "shard_size": shard_size,
        "batch_size": batch_size,
        "reader_options": jsonable({k: v for k, v in reader_options.items() if v is not None}),
        "columns": columns,
    }
    if precision != "32":  # absent at "32", so jobs started before the option still resume
        identity["precision"] = precision
    return ShardJob(plugin, config, ckpt, columns, output, out_format, parts, identity)


def open_manifest(
    job: ShardJob, summary: BatchSummary, resume: bool, device: str, on_error: OnError
) -> dict[str, Any]:
    """Start or continue the job's manifest (a run more; parts that are missing or fail
    their checksum dropped into ``summary.rescored``) and write it."""
    manifest = start_manifest(job.parts, job.identity, resume)
    manifest.update(format=job.out_format, output=str(job.output), on_error=on_error)
    manifest["device"] = device
    manifest["threads"] = torch.get_num_threads()
    manifest["runs"] = manifest.get("runs", 0) + 1
    _reusable_shards(job.parts, manifest, summary)
    write_manifest(job.parts, manifest)
    return manifest


def _finish(job: ShardJob, summary: BatchSummary, reports: bool, keep_parts: bool) -> None:
    """Count the manifest's shards into ``summary``; assemble the output table (and the
    domain's reports) from the parts, or unify a data set's part schemas."""
    manifest = read_manifest(job.parts)
    entries = [ShardEntry(**entry) for entry in manifest["shards"]]
    summary.shards = len(entries)
    summary.rows = sum(entry.rows for entry in entries)
    summary.errors = sum(entry.errors for entry in entries)
    plugin, output = job.plugin, job.output
    if job.dataset:
        _unify_part_schemas(job.parts, manifest)
        if reports and _has_reports(plugin, output, job.config):
            summary.notes.append(
                f"the {plugin.name} domain's post-prediction outputs are not written for a "
                "Parquet data set; write a table (e.g. -o out.csv) to get them"
            )
        return
    sinks: list[PredictionSink] = [RowTable(output, job.columns, job.out_format)]
    if reports:
        sinks += plugin.reports.prediction_outputs(output, job.config)
    written = _assemble(job.parts, entries, sinks)
    summary.extra = [path for path in written if path != output]
    if not keep_parts:
        shutil.rmtree(job.parts)


def distributed(devices: int | str, strategy: str, num_nodes: int) -> bool:
    """Whether these Lightning settings ask for more than this one process."""
    return str(devices) != "1" or strategy != "auto" or num_nodes > 1


def _file_format(plugin: DomainPlugin, output: Path, fmt: str | None) -> str:
    suffix = strip_suffixes(output)
    if fmt is None and suffix in plugin.io.writers:
        raise ValueError(
            f"the {plugin.name} domain's {suffix} writer needs each record's full prediction "
            "and is not available when scoring in shards (--resume / --shard-size); write a "
            f"table (e.g. -o {output.with_suffix('.parquet')}) or run without --resume"
        )
    if fmt is not None and fmt not in TABLE_FORMATS:
        raise ValueError(
            f"unknown format {fmt!r}; choose one of {[*TABLE_FORMATS, DATASET_FORMAT]}"
        )
    return table_format(output, fmt)


def _default_parts(output: Path) -> Path:
    return output.with_name(f"{output.name}.parts")


def _reusable_shards(
    parts: Path, manifest: dict[str, Any], summary: BatchSummary
) -> dict[int, ShardEntry]:
    """Manifest entries whose part file is present and intact; the others are dropped from
    the manifest (and reported in ``summary.rescored``) so that they are scored again."""
    good: dict[int, ShardEntry] = {}
    for raw in manifest["shards"]:
        entry = ShardEntry(**raw)
        part = parts / entry.file
        if part.is_file() and sha256_file(part) == entry.sha256:
            good[entry.index] = entry
        else:
            summary.rescored.append(entry.index)
    manifest["shards"] = [asdict(entry) for entry in good.values()]
    return good


def _has_reports(plugin: DomainPlugin, output: Path, config: Any) -> bool:
    """Whether the domain writes post-prediction outputs (its sinks are opened and aborted)."""
    sinks = plugin.reports.prediction_outputs(output.with_suffix(".csv"), config)
    for sink in sinks:
        sink.abort()
    return bool(sinks)


# ---------------------------------------------------------------------------- scoring


@dataclass
class _OpenShard:
    """A shard being fed to the model: ``count`` records so far; ``done`` once complete."""

    index: int
    first: int
    count: int = 0
    done: bool = False


@dataclass
class _Feed:
    """Where :func:`_feed` is: records read so far, and per record yielded its shard (None
    for a record yielded only to complete a batch; its prediction is dropped)."""

    records: int = 0
    tags: collections.deque[_OpenShard | None] = field(default_factory=collections.deque)


def _feed(
    records: Iterator[Record | BadRecord],
    shard_size: int,
    batch_size: int,
    reusable: dict[int, ShardEntry],
    state: _Feed,
    bar: Any,
) -> Iterator[Record | BadRecord]:
    """The records of the shards to score, in input order, in the same batches as an
    uninterrupted stream: a batch that straddles a reused shard is completed with that
    shard's records (tagged None, predicted again and dropped), because a prediction
    depends on its batch's composition at the float rounding level. The other records of
    reused shards are read and counted, never yielded."""
    shard: _OpenShard | None = None
    context: list[Record | BadRecord] = []  # reused records of the current batch
    trailing = False  # a record of this batch was scored: its reused records go along
    for position, record in enumerate(records):
        state.records = position + 1
        if position % batch_size == 0:
            context, trailing = [], False
        index = position // shard_size
        if index in reusable:
            bar.update(1)
            if trailing:
                state.tags.append(None)
                yield record
            else:
                context.append(record)
            continue
        for earlier in context:
            state.tags.append(None)
            yield earlier
        context, trailing = [], True
        if shard is None or shard.index != index:
            shard = _OpenShard(index, position)
        shard.count += 1
        shard.done = shard.count == shard_size
        state.tags.append(shard)
        yield record
    if shard is not None:
        shard.done = True


def _check_reused(reusable: dict[int, ShardEntry], shard_size: int, records: int) -> None:
    for entry in reusable.values():
        if (entry.first, entry.rows) != shard_span(entry.index, shard_size, records):
            raise ResumeError(
                f"shard {entry.index} held records {entry.first}..{entry.last} but the input "
                f"now has {records} records; delete the parts directory or run without --resume"
            )


def _score_shards(
    predictor: Predictor | None,
    records: Iterator[Record | BadRecord],
    reusable: dict[int, ShardEntry],
    parts: Path,
    manifest: dict[str, Any],
    summary: BatchSummary,
    bar: Any,
    batch_size: int,
    on_error: OnError,
    num_workers: int,
) -> None:
    """Score every shard not in ``reusable``, writing each part and the manifest."""
    shard_size = manifest["shard_size"]
    state = _Feed()
    feed = _feed(iter(records), shard_size, batch_size, reusable, state, bar)
    summary.reused = sorted(reusable)
    if predictor is None:  # the manifest says every shard is reusable: nothing to predict
        if next(feed, None) is not None:
            raise ResumeError("the input has more records than the manifest says")
        _check_reused(reusable, shard_size, state.records)
        return
    stream = predict_records(
        predictor.plugin.task,
        predictor.plugin.io.echo_columns,
        predictor.model,
        predictor.config,
        feed,
        batch_size,
        predictor.device,
        on_error,
        num_workers,
    )
    rows = ShardRows(manifest["columns"])
    shard: _OpenShard | None = None
    clock = [time.perf_counter()]  # when the previous part of this run was written
    for predicted in stream:
        tag = state.tags.popleft()
        if tag is None:
            continue
        shard = tag
        rows.append(predicted.row)
        bar.update(1)
        if shard.done and len(rows) == shard.count:
            _write_part(parts, shard, rows, manifest, clock)
            summary.scored.append(shard.index)
            rows = ShardRows(manifest["columns"])
    if rows and shard is not None:  # the last shard, short, ended with the input
        _write_part(parts, shard, rows, manifest, clock)
        summary.scored.append(shard.index)
    _check_reused(reusable, shard_size, state.records)
    manifest["records"] = state.records
    write_manifest(parts, manifest)


def _write_part(
    parts: Path,
    shard: _OpenShard,
    rows: ShardRows,
    manifest: dict[str, Any],
    clock: list[float],
) -> None:
    """Write one part atomically, then record it in the manifest (also atomically);
    ``clock[0]``, when the previous part was written, is moved to now."""
    seconds = time.perf_counter() - clock[0]
    entry = write_part(parts, shard.index, shard.first, rows, manifest["runs"], seconds)
    clock[0] = time.perf_counter()
    manifest["shards"].append(asdict(entry))
    write_manifest(parts, manifest)


# --------------------------------------------------------------------------- assembly


def _assemble(parts: Path, entries: list[ShardEntry], sinks: list[PredictionSink]) -> list[Path]:
    """Replay the parts' rows, in input order, into ``sinks``; returns the files written.

    The sinks see ``Predicted(row, None)``: the rows as scored, not the typed predictions
    (which the parts do not keep)."""
    import pyarrow.parquet as pq

    try:
        for entry in sorted(entries, key=lambda e: e.index):
            part = pq.ParquetFile(parts / entry.file)
            for batch in part.iter_batches(batch_size=_ASSEMBLY_ROWS):
                for row in batch.to_pylist():
                    predicted = Predicted(row, None)
                    for sink in sinks:
                        sink.write(predicted)
        return [path for sink in sinks for path in sink.close()]
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise


def _unify_part_schemas(parts: Path, manifest: dict[str, Any]) -> None:
    """Give every part of a data set the same schema (a column that is all-null in one part,
    or int in one and float in another), rewriting the few parts that differ."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    entries = manifest["shards"]
    schemas = [pq.read_schema(parts / entry["file"]) for entry in entries]
    if len({schema.to_string() for schema in schemas}) <= 1:
        return
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    for entry, schema in zip(entries, schemas, strict=True):
        if schema.equals(unified):
            continue
        table = pq.read_table(parts / entry["file"]).cast(unified)
        with atomic_path(parts / entry["file"]) as tmp:
            pq.write_table(table, tmp)
            entry["sha256"] = sha256_file(tmp)
        write_manifest(parts, manifest)
