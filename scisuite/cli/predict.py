"""``sci predict``: one row per input record, to a table (or a domain format) or stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite.cli.common import (
    POSITIVE,
    UsageError,
    add_common,
    add_domain_options,
    add_precision,
    check_inputs,
    domain_values,
)


def outputs_for(output: Path, inputs: Sequence[str]) -> list[Path]:
    """Where the predictions of each input go: ``output`` for one input; with several,
    ``<input stem>.<output name>`` next to it (``stdin`` for ``-``), and where two inputs share
    a stem (``a/x.csv b/x.csv a/x.smi``) each of them gets its 1-based position in the
    argument list, ``x.1.<output name>``, so that no output overwrites another."""
    if len(inputs) == 1:
        return [output]
    stems = ["stdin" if path == "-" else Path(path).name.split(".")[0] for path in inputs]
    names = [
        f"{stem}.{position}.{output.name}" if stems.count(stem) > 1 else f"{stem}.{output.name}"
        for position, stem in enumerate(stems, start=1)
    ]
    return [output.with_name(name) for name in names]


def input_path(path: str) -> str | Path:
    """A CLI input as the API takes it: ``-`` (stdin), else a :class:`Path`, so that it is
    always read as a file and never taken as a SMILES or a sequence."""
    return path if path == "-" else Path(path)


_DATASET = "parquet-dataset"


class Predict:
    name = "predict"
    help = "predict properties for records in files"

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        parser.add_argument("inputs", nargs="+", help="input files ('-' = stdin)")
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            help="output table (default: CSV on stdout), or a domain format such as .xdmf (mesh)",
        )
        parser.add_argument(
            "--format",
            choices=("csv", "tsv", "parquet", "jsonl", "parquet-dataset"),
            help="output format (parquet-dataset: -o is a directory of part files; implies shards)",
        )
        parser.add_argument(
            "--on-error",
            choices=("raise", "skip"),
            default="skip",
            help="bad records: stop (raise) or report them as error rows (skip, default)",
        )
        add_distributed(parser)
        parser.add_argument(
            "--resume",
            action="store_true",
            help="score in shards and reuse the finished ones of an interrupted run "
            "(needs -o and an input file)",
        )
        parser.add_argument(
            "--shard-size",
            type=POSITIVE,
            help="records per shard and part file (10000); scores in shards",
        )
        parser.add_argument(
            "--keep-parts",
            action="store_true",
            help="keep <output>.parts/ after the table is assembled",
        )
        add_precision(parser)
        add_common(parser)
        add_domain_options(parser, domain_options)

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite import api

        check_inputs(args.inputs)
        sharded = args.resume or args.shard_size or args.keep_parts or args.format == _DATASET
        if sharded:
            return self.run_sharded(args, registry)
        if is_distributed(args):
            return run_distributed(args, registry)
        if args.output is None and args.format == "parquet":
            raise UsageError(
                "--format parquet writes a file, not standard output: give -o out.parquet "
                "(standard output takes csv, tsv or jsonl)"
            )
        predictor = api.load(
            args.domain,
            checkpoint=args.checkpoint,
            device=args.device,
            registry=registry,
            precision=args.precision,
        )
        options = domain_values(args)
        total, errors = 0, 0
        outputs = outputs_for(args.output, args.inputs) if args.output else []
        for index, path in enumerate(args.inputs):
            if args.output is None:
                count, bad = _to_stdout(
                    predictor, input_path(path), args, options, header=total == 0
                )
            else:
                out = outputs[index]
                summary = predictor.predict_file(
                    input_path(path),
                    out,
                    args.format,
                    args.batch_size,
                    args.on_error,
                    args.num_workers,
                    progress=False if args.quiet else None,
                    **options,
                )
                count, bad = summary.rows, summary.errors
                if not args.quiet:
                    table = f" (summary rows in {summary.table})" if summary.table else ""
                    print(f"wrote {count} rows to {out}{table}", file=sys.stderr)
                    for extra in summary.extra:
                        print(f"wrote {extra}", file=sys.stderr)
            total, errors = total + count, errors + bad
        if not args.quiet:
            print(
                f"{total} records, {total - errors} ok, {errors} with errors "
                f"({args.threads} threads)",
                file=sys.stderr,
            )
        return 0

    def run_sharded(self, args: argparse.Namespace, registry: Any) -> int:
        """``--resume`` / ``--shard-size``: :func:`scisuite.api.predict_sharded` per input."""
        from scisuite import api

        if args.output is None:
            raise UsageError(
                "--resume, --shard-size, --keep-parts and --format parquet-dataset write part "
                "files: give -o/--output (a table file, or a directory for a Parquet data set)"
            )
        options = domain_values(args)
        total, errors = 0, 0
        for path, out in zip(args.inputs, outputs_for(args.output, args.inputs), strict=True):
            summary = api.predict_sharded(
                args.domain,
                input_path(path),
                out,
                checkpoint=args.checkpoint,
                fmt=args.format,
                shard_size=args.shard_size or api.DEFAULT_SHARD_SIZE,
                resume=args.resume,
                keep_parts=args.keep_parts,
                batch_size=args.batch_size,
                on_error=args.on_error,
                num_workers=args.num_workers,
                device=args.device,
                progress=False if args.quiet else None,
                registry=registry,
                devices=int(args.devices) if args.devices.isdigit() else args.devices,
                strategy=args.strategy or "auto",
                num_nodes=args.num_nodes,
                precision=args.precision,
                **options,
            )
            total, errors = total + summary.rows, errors + summary.errors
            if not args.quiet and api.is_global_zero():
                rescored = f", {len(summary.rescored)} rescored" if summary.rescored else ""
                print(
                    f"wrote {summary.rows} rows to {out} ({summary.shards} shards: "
                    f"{len(summary.scored)} scored, {len(summary.reused)} reused{rescored})",
                    file=sys.stderr,
                )
                if summary.manifest.exists():
                    print(f"manifest {summary.manifest}", file=sys.stderr)
                for extra in summary.extra:
                    print(f"wrote {extra}", file=sys.stderr)
                for note in summary.notes:
                    print(f"note: {note}", file=sys.stderr)
        if not args.quiet and api.is_global_zero():
            print(
                f"{total} records, {total - errors} ok, {errors} with errors "
                f"({args.threads} threads)",
                file=sys.stderr,
            )
        return 0


def _to_stdout(
    predictor: Any,
    path: str,
    args: argparse.Namespace,
    options: dict[str, Any],
    header: bool,
) -> tuple[int, int]:
    """Stream ``path``'s rows to stdout a batch at a time; returns (rows, error rows)."""
    from scisuite import api

    errors = 0

    def rows() -> Any:
        nonlocal errors
        for row in predictor.iter_rows(
            path, args.batch_size, args.on_error, args.num_workers, **options
        ):
            errors += row["status"] == "error"
            yield row

    count = api.stream_rows(
        rows(), sys.stdout, predictor.columns(), args.format or "csv", header, args.batch_size
    )
    return count, errors


def add_distributed(parser: argparse.ArgumentParser) -> None:
    """``--devices --strategy --num-nodes``: scoring on several processes through Lightning."""
    group = parser.add_argument_group(
        "distributed prediction (Lightning; tables only; combines with --resume)"
    )
    group.add_argument(
        "--devices",
        type=parse_devices,
        default="1",
        help="processes (CPU) or GPUs per node: a number >= 1, -1 or auto (all), or GPU "
        "indices such as 0,1 (1)",
    )
    group.add_argument("--strategy", help="Lightning strategy, e.g. ddp (default: one process)")
    group.add_argument(
        "--num-nodes", type=POSITIVE, default=1, help="machines scoring together (1)"
    )


def parse_devices(text: str) -> str:
    """An argparse ``type`` for ``--devices``: what Lightning accepts, checked up front."""
    value = text.strip()
    if value in ("auto", "-1") or (value.isdigit() and int(value) >= 1):
        return value
    indices = value.rstrip(",").split(",")
    if "," in value and all(index.strip().isdigit() for index in indices):
        return value
    raise argparse.ArgumentTypeError(
        f"expected a number >= 1, -1 or auto (all devices), or GPU indices such as 0,1; got "
        f"{text!r}"
    )


parse_devices.__name__ = "devices"


def is_distributed(args: argparse.Namespace) -> bool:
    """Whether the flags ask for the distributed path (``--devices`` > 1, ``--strategy``,
    ``--num-nodes`` > 1)."""
    return args.devices != "1" or args.strategy is not None or args.num_nodes > 1


def run_distributed(args: argparse.Namespace, registry: Any) -> int:
    """Every rank runs this; each input file goes to ``api.predict_distributed``."""
    from scisuite import api

    if args.output is None:
        raise UsageError("distributed prediction writes to a file: give -o/--output")
    predictor = api.load(
        args.domain,
        checkpoint=args.checkpoint,
        device=args.device,
        registry=registry,
        precision=args.precision,
    )
    devices = int(args.devices) if args.devices.isdigit() else args.devices
    total, errors = 0, 0
    for path, out in zip(args.inputs, outputs_for(args.output, args.inputs), strict=True):
        summary = api.predict_distributed(
            predictor,
            input_path(path),
            out,
            args.format,
            args.batch_size,
            args.on_error,
            args.num_workers,
            devices=devices,
            strategy=args.strategy or "auto",
            num_nodes=args.num_nodes,
            quiet=args.quiet,
            **domain_values(args),
        )
        total, errors = total + summary.rows, errors + summary.errors
        if not args.quiet and api.is_global_zero():
            print(f"wrote {summary.rows} rows to {out}", file=sys.stderr)
    if not args.quiet and api.is_global_zero():
        print(f"{total} records, {total - errors} ok, {errors} with errors", file=sys.stderr)
    return 0
