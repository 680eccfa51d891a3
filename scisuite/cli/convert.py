"""``sci convert checkpoint``: a PyTorch / Lightning file -> a checkpoint directory."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class Convert:
    name = "convert"
    help = "turn a .pt / .ckpt file into a checkpoint directory (reads tensors only)"

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        parser.description = (
            "Read a torch.save / Lightning file with torch.load(weights_only=True) (tensors "
            "only, never code) and write a checkpoint directory (config.json + "
            "model.safetensors). A Lightning .ckpt from `sci train`'s work directory "
            "(.<output>.work/lightning/last.ckpt) knows its architecture; other files need "
            "--config."
        )
        parser.add_argument("what", choices=["checkpoint"], help="what to convert")
        parser.add_argument("source", type=Path, help="the .pt / .pth / .bin / .ckpt file")
        parser.add_argument(
            "-o", "--output", type=Path, required=True, help="checkpoint directory to write"
        )
        parser.add_argument("--domain", required=True, help="molecule, protein or mesh")
        parser.add_argument(
            "--config",
            type=Path,
            help="checkpoint directory or config.json of the same architecture (or a JSON "
            "file with the model config); default: the one a `sci train` .ckpt stores",
        )

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite.api.checkpoints import convert_checkpoint

        out = convert_checkpoint(
            args.source,
            args.output,
            args.domain,
            config=args.config,
            registry=registry,
            command=shlex.join(["sci", *args.argv]),
        )
        print(f"wrote {out}; check it with `sci evaluate --checkpoint {out} ...`", file=sys.stderr)
        return 0
