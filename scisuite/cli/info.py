"""``sci info``: versions, device, domains and their shipped checkpoints."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class Info:
    name = "info"
    help = "versions, device, domains and shipped checkpoints"

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        from scisuite import api

        facts = api.info(registry)
        if args.json:
            print(json.dumps(facts, indent=2))
            return 0
        print(f"scisuite {facts['scisuite']}  (python {facts['python']}, torch {facts['torch']})")
        print(
            f"device: {facts['device']}  cuda available: {facts['cuda_available']}  "
            f"threads: {facts['default_threads']} by default "
            f"({facts['usable_cpus']} usable cores, {facts['busy_cpus']:.1f} busy)"
        )
        print("domains:" if facts["domains"] else "domains: none installed")
        for name, entry in facts["domains"].items():
            ckpt = entry["checkpoint"] or "no shipped checkpoint"
            print(f"  {name:<10} {ckpt}")
            rmse = {k: v for k, v in entry.get("metrics", {}).items() if k.startswith("rmse")}
            if rmse:
                shown = ", ".join(f"{k}={v:.3f}" for k, v in rmse.items())
                print(f"  {'':<10} test {shown}")
            for variant, folder in entry.get("variants", {}).items():
                print(f"  {'':<10} variant: --checkpoint {variant}  ({_card_title(folder)})")
        return 0


def _card_title(folder: str) -> str:
    """The first heading of a shipped checkpoint's card (``README.md``), without its
    trailing "— model card"; the folder itself when it has no card."""
    card = Path(folder) / "README.md"
    if not card.exists():
        return folder
    title = card.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
    return title.removesuffix("— model card").strip()
