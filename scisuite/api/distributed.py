"""Distributed prediction: one input file scored by N processes (devices, nodes) through
Lightning, merged into one table in input order with every record exactly once.

>>> predictor = scisuite.api.load("molecule", device="cpu")
>>> scisuite.api.predict_distributed(predictor, "mols.csv", "pred.parquet",
...                                  devices=4, strategy="ddp")

The same call (in a script run as ``python score.py``, or ``sci predict ... --devices N
--strategy ddp``) runs in 1 process, N local processes (Lightning relaunches the script for
ranks 1..N-1) or N nodes (``srun`` / ``torchrun`` start every rank; pass ``num_nodes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scisuite.api.common import UnsupportedError
from scisuite.api.predicting import Predictor, WriteSummary, read_records
from scisuite.core.distributed_predict import predict_distributed as _predict_distributed
from scisuite.core.io import strip_suffixes
from scisuite.core.predicting import OnError


def predict_distributed(
    predictor: Predictor,
    inputs: str | Path,
    output: str | Path,
    fmt: str | None = None,
    batch_size: int = 64,
    on_error: OnError = "skip",
    num_workers: int = 0,
    devices: int | str = 1,
    strategy: str = "auto",
    num_nodes: int = 1,
    accelerator: str | None = None,
    quiet: bool = True,
    **reader_options: Any,
) -> WriteSummary:
    """Score the file ``inputs`` on every process of a Lightning run into the table ``output``.

    Rows, their order and their values are those of ``predictor.predict_file(inputs,
    output, fmt, batch_size, on_error)``: the records are cut into the same chunks of
    ``batch_size``, chunk ``c`` is scored by rank ``c % world size`` (no sampler padding, so
    no record twice), each rank writes its rows with their record indices to a part file
    through a Lightning prediction writer, and rank 0 merges the parts by index, checking
    that every record is there exactly once. Bad records keep their error row.

    Every process calls this with the same arguments; all of them return the same summary
    once the output is written. The domain's extra outputs (e.g. the protein per-residue
    tracks) and domain formats such as ``.xdmf`` are not written here: use
    :meth:`Predictor.predict_file` for those.

    Args:
        predictor: from :func:`~scisuite.api.load` (each rank loads its own).
        inputs: an input file the domain reads (every rank reads it; no standard input).
        output: CSV / TSV / Parquet / JSON Lines table.
        fmt: table format (default: from the suffix).
        batch_size: records per model call.
        on_error: ``"skip"`` or ``"raise"``.
        num_workers: featurizing loader workers per rank.
        devices: processes per node (CPU processes, or GPUs).
        strategy: ``"ddp"`` to start ``devices`` processes (``"auto"``: one, or the ones
            ``torchrun`` / SLURM started).
        num_nodes: machines (the output folder must be shared between them).
        accelerator: ``"cpu"`` or ``"gpu"`` (default: where ``predictor`` runs).
        quiet: no progress bar.
        reader_options: the domain's reader options (columns, ...).

    Raises:
        UnsupportedError: standard input, Python objects or a domain output format.
        scisuite.core.distributed_predict.MergeError: a rank's rows are missing.
    """
    if str(inputs) == "-" or not Path(inputs).is_file():
        raise UnsupportedError(
            f"distributed prediction reads a file that every rank can open, not {inputs!r}; "
            "write the records to a file first"
        )
    output = Path(output)
    if fmt is None and strip_suffixes(output) in predictor.plugin.io.writers:
        raise UnsupportedError(
            f"distributed prediction writes tables (csv, tsv, parquet, jsonl), not "
            f"{strip_suffixes(output)}; predict that format in one process (predict_file)"
        )
    plugin = predictor.plugin
    summary = _predict_distributed(
        plugin.task,
        plugin.io.echo_columns,
        predictor.model,
        predictor.config,
        lambda: read_records(plugin, inputs, **reader_options),
        output,
        predictor.columns(),
        fmt,
        batch_size,
        on_error,
        num_workers,
        accelerator or ("gpu" if predictor.device.type == "cuda" else "cpu"),
        devices,
        strategy,
        num_nodes,
        quiet,
    )
    return WriteSummary(summary.path, summary.rows, summary.errors)
