"""``sci data list | build | generate``: the named real data sets and solver-generated ones."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite.cli.common import POSITIVE, add_domain_options, domain_values


class Data:
    name = "data"
    help = "list, build or generate datasets"

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        """``domain_options`` are the ``generate`` options of the domain named after it."""
        actions = parser.add_subparsers(dest="data_verb", metavar="ACTION")
        listing = actions.add_parser("list", help="list named datasets")
        listing.add_argument("--domain", help="only this domain")
        build = actions.add_parser("build", help="build a named dataset from its real source")
        build.add_argument("domain")
        build.add_argument("name")
        build.add_argument("-o", "--output", type=Path, default=Path("datasets"), help="output dir")
        build.add_argument("--cache-dir", type=Path, help="where source packages are cached")
        generate = actions.add_parser(
            "generate",
            help="generate data: with a solver (mesh), by a teacher model (protein pseudo-ss)",
        )
        generate.add_argument("domain")
        generate.add_argument("name")
        generate.add_argument("-o", "--output", type=Path, required=True, help="output directory")
        generate.add_argument("--seed", type=int, default=0, help="random seed (0)")
        generate.add_argument("--workers", type=POSITIVE, default=1, help="parallel processes (1)")
        generate.add_argument("--quiet", action="store_true", help="no progress bar")
        add_domain_options(generate, domain_options)

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite import api

        if args.data_verb == "list" or args.data_verb is None:
            table = api.datasets(getattr(args, "domain", None), registry)
            for row in table.itertuples(index=False):
                print(f"{row.domain:<10} {row.name:<28} {row.description}")
            return 0
        if args.data_verb == "generate":
            out = api.generate(
                args.domain,
                args.name,
                args.output,
                seed=args.seed,
                workers=args.workers,
                quiet=args.quiet,
                registry=registry,
                **domain_values(args),
            )
            if not args.quiet:
                print(f"generated {args.name} in {out}", file=sys.stderr)
            return 0
        path = api.build_dataset(args.domain, args.name, args.output, args.cache_dir, registry)
        print(f"built {args.domain}/{args.name} at {path}")
        return 0
