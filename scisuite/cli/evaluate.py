"""``sci evaluate``: metrics (and with ``-o`` the domain's report) of a checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite.cli.common import (
    UsageError,
    add_common,
    add_domain_options,
    add_precision,
    add_training_data,
    train_request,
)


class Evaluate:
    name = "evaluate"
    help = "metrics (and plots) of a checkpoint on labelled data"

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        parser.add_argument("inputs", nargs="*", help="labelled input file (or use --dataset)")
        add_training_data(parser)
        parser.add_argument(
            "-o", "--output", type=Path, help="report directory (metrics.json, plots)"
        )
        add_precision(parser)
        add_common(parser)
        add_domain_options(parser, domain_options)

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite import api

        if not args.inputs and args.dataset is None and args.test is None and args.data is None:
            raise UsageError(
                "give a labelled input file, --dataset NAME or --data (its test split)"
            )
        result = api.evaluate(
            train_request(args, args.inputs),
            checkpoint=args.checkpoint,
            domain=args.domain,
            batch_size=args.batch_size,
            device=args.device,
            registry=registry,
            out_dir=args.output,
            progress=False if args.quiet else None,
            precision=args.precision,
        )
        print(json.dumps(result.metrics, indent=2))
        for path in result.files:
            if path.name != "metrics.json":
                print(f"wrote {path}", file=sys.stderr)
        return 0
