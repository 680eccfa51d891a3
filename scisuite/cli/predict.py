"""``sci predict``: one row per input record, to a table (or a domain format) or stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite.cli.common import add_common, add_domain_options, domain_values


def output_for(output: Path, path: str, several: bool) -> Path:
    """Where the predictions of input ``path`` go: ``output``, or with several inputs
    ``<input stem>.<output name>`` next to it."""
    if not several:
        return output
    return output.with_name(f"{Path(path).name.split('.')[0]}.{output.name}")


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
            "--format", choices=("csv", "tsv", "parquet", "jsonl"), help="output format"
        )
        parser.add_argument(
            "--on-error",
            choices=("raise", "skip"),
            default="skip",
            help="bad records: stop (raise) or report them as error rows (skip, default)",
        )
        add_common(parser)
        add_domain_options(parser, domain_options)

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite import api

        predictor = api.load(
            args.domain, checkpoint=args.checkpoint, device=args.device, registry=registry
        )
        options = domain_values(args)
        total, errors = 0, 0
        for path in args.inputs:
            if args.output is None:
                frame = predictor.predict(
                    path, args.batch_size, args.on_error, args.num_workers, **options
                )
                frame.to_csv(sys.stdout, index=False, header=total == 0)
                count, bad = len(frame), int((frame["status"] == "error").sum())
            else:
                out = output_for(args.output, path, len(args.inputs) > 1)
                summary = predictor.predict_file(
                    path,
                    out,
                    args.format,
                    args.batch_size,
                    args.on_error,
                    args.num_workers,
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
            print(f"{total} records, {total - errors} ok, {errors} with errors", file=sys.stderr)
        return 0
