"""Every model-card number of a protein checkpoint: Q3 / Q8 and SS content on held-out
chains, peptide ROC-AUC / accuracy, and design validity, diversity, novelty and
self-consistency, by generation on one split of the built data sets.

    python bench/protein_evaluation.py --checkpoint scisuite/weights/protein \\
        --data-dir datasets/protein --split test -o scisuite/weights/protein/evaluation.json

Writes the JSON atomically (stdout without ``-o``). ``--peptides-only`` reruns only the
peptide section (ROC-AUC, accuracy, calibration) and merges it into the existing ``-o`` file,
e.g. after ``bench/protein_calibration.py --write``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scisuite import api
from scisuite.core.io import write_text_or_print
from scisuite.domains.protein.catalogue import DATASETS
from scisuite.domains.protein.evaluation import evaluate_model, evaluate_peptides, json_default


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


def peptide_section(checkpoint: Path, data_dir: Path, split: str) -> dict[str, Any]:
    """``evaluate_peptides`` of a checkpoint on one split of the built peptide set."""
    import pandas as pd

    predictor = api.load(checkpoint, device="cpu")
    folder, table = DATASETS["peptides"]
    peptides = pd.read_parquet(data_dir / folder / table)
    return evaluate_peptides(
        predictor.model, predictor.config, peptides[peptides["split"] == split]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="built data sets")
    parser.add_argument("--split", default="test", choices=("validation", "test"))
    parser.add_argument("--designs", type=int, default=10, help="designs per target (10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    parser.add_argument(
        "--peptides-only", action="store_true", help="rerun the peptide section into -o"
    )
    args = parser.parse_args(argv)
    if args.peptides_only:
        if args.output is None or not args.output.exists():
            parser.error("--peptides-only merges into an existing -o file")
        results = json.loads(args.output.read_text())
        results["peptides"] = peptide_section(args.checkpoint, args.data_dir, args.split)
    else:
        results = evaluate_checkpoint(
            args.checkpoint, args.data_dir, args.split, args.designs, args.seed
        )
    write_text_or_print(json.dumps(results, indent=2, default=json_default), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
