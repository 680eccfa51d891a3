"""``sci design``: inverse design (protein) to FASTA plus a properties table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite.cli.common import add_common, add_domain_options, domain_values


class Design:
    name = "design"
    help = "inverse design (protein)"

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        parser.add_argument("-o", "--output", type=Path, help="output file")
        add_common(parser)
        add_domain_options(parser, domain_options)

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite import api

        designs = api.design(
            args.domain,
            checkpoint=args.checkpoint,
            output=args.output,
            seed=args.seed,
            batch_size=args.batch_size,
            device=args.device,
            registry=registry,
            **domain_values(args),
        )
        if args.output is None:
            sys.stdout.write(designs.fasta)
            if not args.quiet:
                print("give -o FILE.fasta to also write the properties table", file=sys.stderr)
        elif not args.quiet:
            fasta, table = designs.files
            print(f"wrote {len(designs.table)} designs to {fasta} and {table}", file=sys.stderr)
        return 0
