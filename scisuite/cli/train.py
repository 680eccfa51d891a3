"""``sci train``: train a model and write a checkpoint directory."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite.cli.common import (
    NON_NEGATIVE,
    POSITIVE,
    UsageError,
    add_common,
    add_domain_options,
    add_training_data,
    finite_number,
    positive_number,
    train_request,
)


class Train:
    name = "train"
    help = "train a model and write a checkpoint directory"

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        add_training_data(parser)
        parser.add_argument("-o", "--output", type=Path, required=True, help="checkpoint directory")
        parser.add_argument("--epochs", type=POSITIVE, default=50, help="max epochs (50)")
        parser.add_argument(
            "--lr", type=positive_number, default=1e-3, help="peak learning rate (1e-3)"
        )
        parser.add_argument(
            "--weight-decay", type=finite_number, default=1e-4, help="AdamW weight decay (1e-4)"
        )
        parser.add_argument(
            "--patience", type=NON_NEGATIVE, default=0, help="early-stopping patience (0 = off)"
        )
        parser.add_argument("--devices", default="auto", help="number of devices (per node) (auto)")
        parser.add_argument(
            "--num-nodes", type=int, default=1, help="machines training together under DDP (1)"
        )
        parser.add_argument(
            "--strategy", default="auto", help="Lightning strategy, e.g. ddp (auto)"
        )
        parser.add_argument("--precision", default="32-true", help="Lightning precision (32-true)")
        parser.add_argument(
            "--init-from",
            type=Path,
            metavar="CHECKPOINT",
            help="start from this checkpoint's weights (fine-tuning or a curriculum stage; "
            "same domain and backbone; heads for other targets start fresh), or 'pretrained': "
            "the domain's shipped pretrained backbone",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="continue the interrupted run with the same --output from its last epoch",
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a model config field, e.g. --set d_model=64 (repeatable)",
        )
        add_common(parser)
        add_domain_options(parser, domain_options)

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite import api

        if (args.dataset is None) == (args.data is None):
            raise UsageError("give exactly one of --dataset NAME or --data FILE")
        train_config = api.TrainConfig(
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            weight_decay=args.weight_decay,
            patience=args.patience,
            seed=args.seed,
            accelerator=api.lightning_accelerator(args.device),
            devices=args.devices,
            num_nodes=args.num_nodes,
            strategy=args.strategy,
            precision=args.precision,
            num_workers=args.num_workers,
        )
        path = api.train(
            args.domain,
            train_request(args),
            train_config,
            args.output,
            command=shlex.join(["sci", *args.argv]),
            quiet=args.quiet,
            registry=registry,
            init_from=args.init_from,
            resume=args.resume,
        )
        if not api.is_global_zero():  # other DDP ranks: rank 0 reports
            return 0
        if not args.quiet:
            print(json.dumps(api.checkpoint_meta(path).metrics, indent=2))
        print(f"checkpoint written to {path}", file=sys.stderr)
        return 0
