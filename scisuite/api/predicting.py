"""Prediction: load a checkpoint, stream records through it, write tables and domain outputs."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from scisuite.api.checkpoints import checked_config, checked_model, resolve_checkpoint
from scisuite.api.common import registry_or_default
from scisuite.core.checkpoint import WEIGHTS_NAME, CheckpointMeta, load_checkpoint
from scisuite.core.config import FrozenConfig
from scisuite.core.devices import resolve_device
from scisuite.core.io import TableSink, strip_suffixes
from scisuite.core.plugin import DomainPlugin, Predicted, PredictionSink
from scisuite.core.predicting import (
    INFERENCE_PRECISIONS,
    Bf16Inference,
    OnError,
    predict_records,
)
from scisuite.core.progress import progress_bar, wanted
from scisuite.core.records import BadRecord, InputFileError, Record
from scisuite.core.registry import PluginRegistry


@dataclass
class WriteSummary:
    """What :meth:`Predictor.predict_file` wrote.

    Attributes:
        path: the output asked for.
        rows: rows written (one per input record).
        errors: rows with ``status == "error"``.
        table: the summary table, when ``path`` is a domain format (e.g. ``.xdmf``).
        extra: the domain's post-prediction outputs (per-residue tracks, plots, ...).
    """

    path: Path
    rows: int = 0
    errors: int = 0
    table: Path | None = None
    extra: list[Path] = field(default_factory=list)


class RowTable:
    """A :class:`PredictionSink` writing each prediction's row to a table."""

    def __init__(self, path: Path, columns: list[str], fmt: str | None) -> None:
        self.table = TableSink(path, columns, fmt)

    def write(self, predicted: Predicted) -> None:
        self.table.write(predicted.row)

    def close(self) -> list[Path]:
        return self.table.close()

    def abort(self) -> None:
        self.table.abort()


@dataclass
class Predictor:
    """A loaded model ready to predict; returned by :func:`load`.

    Attributes:
        plugin: the domain plugin.
        model: the model, on ``device`` and in eval mode.
        config: the domain config it was built from.
        meta: checkpoint metadata (metrics, provenance), or None for an untrained model.
        device: where inference runs.
    """

    plugin: DomainPlugin
    model: nn.Module
    config: FrozenConfig
    meta: CheckpointMeta | None
    device: torch.device

    def records(self, inputs: Any, **reader_options: Any) -> Iterator[Record | BadRecord]:
        """Turn a file path, ``"-"`` (stdin) or Python objects into records.

        What is a path (read with the domain's reader; a missing one is an error, never
        data):

        - a :class:`~pathlib.Path`, and ``"-"`` (stdin);
        - a ``str`` naming an existing file or directory;
        - a ``str`` that ends with a suffix the domain reads (``"x.fasta"``, ``"m.csv.gz"``,
          ``"flow.vtu"``) even when no such file exists: ``FileNotFoundError``.

        Any other ``str`` is one Python object (a SMILES, a sequence); anything else is an
        iterable of objects (``plugin.io.from_objects``).

        Raises:
            TypeError: a reader option the domain does not declare (it would be ignored).
        """
        check_reader_options(self.plugin, reader_options)
        if isinstance(inputs, Path) or (
            isinstance(inputs, str) and is_input_path(self.plugin, inputs)
        ):
            return read_records(self.plugin, inputs, **reader_options)
        if isinstance(inputs, str):
            inputs = [inputs]
        return self.plugin.io.from_objects(inputs)

    def iter_predictions(
        self,
        inputs: Any,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> Iterator[Predicted]:
        """Stream one :class:`Predicted` (row + the record's typed prediction, e.g. a mesh
        rollout) per input record, in input order, with bounded memory.

        Raises:
            ValueError: ``batch_size < 1``, ``num_workers < 0`` or an unknown ``on_error``
                (at the call, before any record is read).
        """
        check_run_options(batch_size, on_error, num_workers)
        return predict_records(
            self.plugin.task,
            self.plugin.io.echo_columns,
            self.model,
            self.config,
            self.records(inputs, **reader_options),
            batch_size,
            self.device,
            on_error,
            num_workers,
        )

    def iter_rows(
        self,
        inputs: Any,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> Iterator[dict[str, Any]]:
        """Stream one output row per input record (bounded memory)."""
        predictions = self.iter_predictions(
            inputs, batch_size, on_error, num_workers, **reader_options
        )
        return (predicted.row for predicted in predictions)

    def predict(
        self,
        inputs: Any,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> pd.DataFrame:
        """Predict and return a DataFrame with one row per input, in input order."""
        rows = list(self.iter_rows(inputs, batch_size, on_error, num_workers, **reader_options))
        return pd.DataFrame.from_records(rows).reindex(columns=self.columns())

    def predict_file(
        self,
        inputs: Any,
        output: str | Path,
        fmt: str | None = None,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        reports: bool = True,
        progress: bool | None = False,
        **reader_options: Any,
    ) -> WriteSummary:
        """Stream predictions to ``output`` (CSV/TSV/Parquet/JSONL), written atomically.

        An output suffix the domain has a writer for (``plugin.io.writers``, e.g. ``.xdmf``
        for meshes) goes to that writer, and the summary table is written next to it as
        ``<output stem>.csv``. With ``reports`` the domain's post-prediction outputs (e.g.
        per-residue tracks and a plot for proteins) are written next to ``output`` from the
        same stream. Memory stays at one batch whatever the input size. ``progress``: a bar
        on stderr with records/s (and the ETA for a file, whose records are counted first);
        None shows it when stderr is a terminal.
        """
        check_run_options(batch_size, on_error, num_workers)
        output = Path(output)
        summary = WriteSummary(output)
        writer = None if fmt else self.plugin.io.writers.get(strip_suffixes(output))
        sinks: list[PredictionSink] = []
        try:
            if writer is None:
                sinks.append(RowTable(output, self.columns(), fmt))
            else:
                summary.table = output.with_suffix(".csv")
                sinks.append(RowTable(summary.table, self.columns(), "csv"))
                sinks.append(writer(output, self.config))
            if reports:
                sinks += self.plugin.reports.prediction_outputs(output, self.config)
            show = wanted(progress)
            total = self.count_records(inputs, **reader_options) if show else None
            with progress_bar(total, "scoring", enabled=show) as bar:
                for predicted in self.iter_predictions(
                    inputs, batch_size, on_error, num_workers, **reader_options
                ):
                    summary.rows += 1
                    summary.errors += predicted.row["status"] == "error"
                    for sink in sinks:
                        sink.write(predicted)
                    bar.update(1)
            written = [path for sink in sinks for path in sink.close()]
        except BaseException:
            for sink in sinks:
                sink.abort()
            raise
        summary.extra = [p for p in written if p not in (output, summary.table)]
        return summary

    def count_records(self, inputs: Any, **reader_options: Any) -> int | None:
        """How many records ``inputs`` holds (read, not featurized), or None for stdin and
        one-pass iterables."""
        if str(inputs) == "-" or not isinstance(inputs, str | Path | list | tuple):
            return None
        return sum(1 for _ in self.records(inputs, **reader_options))

    def columns(self) -> list[str]:
        """The output table's columns, in order."""
        return [*self.plugin.task.output_columns(self.config), "status", "error"]


def check_run_options(batch_size: int, on_error: str, num_workers: int = 0) -> None:
    """Refuse run options that would silently do something else (``on_error="Skip"`` acted
    as skip, ``num_workers=-1`` as 0) or fail only once the first batch is due."""
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise ValueError(f"num_workers must be a whole number >= 0, got {num_workers!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def _exists(path: str | Path) -> bool:
    try:
        return Path(path).exists()
    except OSError:  # e.g. a long sequence is too long to be a file name
        return False


def is_input_path(plugin: DomainPlugin, text: str) -> bool:
    """Whether the string ``text`` names an input file for ``plugin`` (see
    :meth:`Predictor.records`): ``"-"``, an existing path, or a name with a suffix the
    domain reads."""
    if text == "-":
        return True
    if _exists(text):
        return True
    suffix = strip_suffixes(text)
    return bool(suffix) and suffix in plugin.io.readers


def check_reader_options(plugin: DomainPlugin, options: dict[str, Any]) -> None:
    """Refuse keyword options the domain's ``predict`` does not declare: a misspelt or
    CLI-style name (``steps=3`` for ``rollout_steps``) used to be dropped without a word.

    Raises:
        TypeError: names the unknown options and the known ones.
    """
    known = {option.dest for option in plugin.options_for("predict")}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"the {plugin.name} domain's predict takes no option(s) {unknown}; "
            f"it takes {sorted(known)}"
        )


def read_records(
    plugin: DomainPlugin, path: str | Path, **reader_options: Any
) -> Iterator[Record | BadRecord]:
    """Stream records from a file with the domain's reader for its suffix (``"-"``: stdin).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputFileError: ``path`` is a directory the domain does not read, or has a suffix
            it has no reader for.
        ValueError: the domain reads no stdin.
        TypeError: a reader option the domain does not declare.
    """
    check_reader_options(plugin, reader_options)
    if str(path) == "-":
        reader = plugin.io.stdin
        if reader is None:
            raise InputFileError(f"the {plugin.name} domain does not read standard input")
    else:
        if not _exists(path):
            raise FileNotFoundError(
                f"input file {str(path)!r} does not exist (looked in {Path.cwd()}); check the path"
            )
        suffix = strip_suffixes(path)
        reader = plugin.io.readers.get("" if Path(path).is_dir() else suffix)
        if reader is None and Path(path).is_dir():
            raise InputFileError(
                f"{str(path)!r} is a directory; the {plugin.name} domain reads files, pass "
                f"the files in it (e.g. {Path(path) / '*'}{sorted(plugin.io.readers)[0]})"
            )
        if reader is None:
            raise InputFileError(
                f"the {plugin.name} domain cannot read {suffix or 'suffix-less'} files "
                f"({path}); supported: {sorted(plugin.io.readers)}"
            )
    return reader(path, **{k: v for k, v in reader_options.items() if v is not None})


def load(
    domain_or_path: str | Path,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    registry: PluginRegistry | None = None,
    precision: str = "32",
) -> Predictor:
    """Load a predictor.

    Args:
        domain_or_path: a domain name (uses ``checkpoint`` or the shipped default) or a
            checkpoint directory (its ``config.json`` names the domain).
        checkpoint: checkpoint directory, overriding the shipped default.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        registry: plugin registry (default: installed plugins).
        precision: ``"32"`` (default) or ``"bf16"``: bfloat16 autocast, ~2x faster
            inference on CPUs with native bf16 and on GPUs, for domains whose accuracy cost
            was measured (the molecule domain; ``docs/benchmarks.md``).

    Raises:
        CheckpointError: the checkpoint is another domain's, a pickle (``.pt``/``.ckpt``,
            never unpickled: the message names ``sci convert checkpoint``), or its
            ``config.json`` and ``model.safetensors`` are missing, malformed or do not fit
            each other; one line naming the file and the key or tensor.
        ValueError: an unknown ``precision``, or ``"bf16"`` for a domain that does not
            declare it (:attr:`~scisuite.core.plugin.Task.bf16_inference`).
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(
            f"precision must be one of {list(INFERENCE_PRECISIONS)}, got {precision!r}"
        )
    reg = registry_or_default(registry)
    checkpoint = resolve_checkpoint(domain_or_path, checkpoint, reg)
    meta, state = load_checkpoint(checkpoint)
    plugin = reg.get(meta.domain)
    config = checked_config(plugin, meta, checkpoint)
    model = checked_model(plugin, config, state, checkpoint / WEIGHTS_NAME)
    target = resolve_device(device)
    model = model.eval().to(target)
    if precision == "bf16":
        if not plugin.task.bf16_inference:
            raise ValueError(
                f"precision 'bf16' is not offered for the {meta.domain} domain (its accuracy "
                "under bfloat16 was not measured); use precision '32'"
            )
        model = Bf16Inference(model)
    return Predictor(plugin, model, config, meta, target)


def predict(
    domain: str,
    inputs: Any,
    checkpoint: str | Path | None = None,
    batch_size: int = 64,
    device: str = "auto",
    on_error: OnError = "skip",
    registry: PluginRegistry | None = None,
    **reader_options: Any,
) -> pd.DataFrame:
    """One-call prediction: ``predict("molecule", ["CCO"])`` -> DataFrame."""
    predictor = load(domain, checkpoint=checkpoint, device=device, registry=registry)
    return predictor.predict(inputs, batch_size, on_error, **reader_options)
