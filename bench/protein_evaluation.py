"""Every model-card number of a protein checkpoint: Q3 / Q8 and SS content on held-out
chains, peptide ROC-AUC / accuracy, and design validity, diversity, novelty and
self-consistency, by generation on one split of the built data sets.

    python bench/protein_evaluation.py --checkpoint scisuite/weights/protein \\
        --data-dir datasets/protein --split test -o scisuite/weights/protein/evaluation.json

Writes the JSON atomically (stdout without ``-o``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite import api
from scisuite.core.io import atomic_path
from scisuite.domains.protein.evaluation import evaluate_model, json_default


def evaluate_checkpoint(
    checkpoint: Path,
    data_dir: Path,
    split: str = "test",
    designs_per_target: int = 10,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Every model-card number of a checkpoint on one split of the built data sets."""
    predictor = api.load(checkpoint, device="cpu")
    if predictor.plugin.name != "protein":
        raise ValueError(f"{checkpoint} is a {predictor.plugin.name} checkpoint, not a protein one")
    results = evaluate_model(
        predictor.model,
        predictor.config,
        data_dir,
        split,
        designs_per_target,
        seed,
        batch_size,
    )
    return {"checkpoint": str(checkpoint), **results}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="built data sets")
    parser.add_argument("--split", default="test", choices=("validation", "test"))
    parser.add_argument("--designs", type=int, default=10, help="designs per target (10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    results = evaluate_checkpoint(
        args.checkpoint, args.data_dir, args.split, args.designs, args.seed
    )
    text = json.dumps(results, indent=2, default=json_default)
    if args.output is None:
        print(text)
    else:
        with atomic_path(args.output) as tmp:
            tmp.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
