"""Secondary structure: the protein model against a GOR-style predictor and the majority class,
all trained on exactly the same chains and scored on the same held-out test chains.

The data are the built ``structures`` set (``sci data build protein structures -o DIR``):
chains split by sequence identity (no validation/test chain more than 30% identical to a
training chain). GOR (``bench/peers/gor.py``) counts window statistics on the training
chains; its variant (pair terms or not, prior or not, pseudo-count) is chosen on the
validation chains. The majority baseline predicts the most frequent training state
everywhere. The model is a scisuite protein checkpoint (default: the shipped one),
predicting by constrained greedy decoding as ``sci predict`` does.

    python bench/protein_ss_vs_gor.py --data-dir datasets/protein \
        [--checkpoint scisuite/weights/protein] [-o bench/results/protein_ss_vs_gor.json]

Writes a JSON record (Q3 per method and split, per-state recall, the GOR variant scores on
validation, chain and residue counts, seconds) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent / "peers"))

import gor  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.core.io import atomic_path  # noqa: E402
from scisuite.domains.protein.datasets import STRUCTURES_DIR  # noqa: E402
from scisuite.domains.protein.evaluation import evaluate_structures  # noqa: E402

SPLITS = ("train", "validation", "test")


def load_chains(data_dir: Path) -> dict[str, pd.DataFrame]:
    """The built structure chains by split (``sequence``, ``dssp3`` columns)."""
    path = Path(data_dir) / STRUCTURES_DIR / "chains.parquet"
    if not path.exists():
        raise SystemExit(
            f"no structure data at {path}; build it with "
            f"`sci data build protein structures -o {data_dir}`"
        )
    chains = pd.read_parquet(path)
    return {split: chains[chains["split"] == split].reset_index(drop=True) for split in SPLITS}


def recall_per_state(predicted: Sequence[str], reference: Sequence[str]) -> dict[str, float]:
    """Share of each reference state's residues predicted as that state (Q_H, Q_E, Q_C)."""
    right, total = Counter(), Counter()
    for p, r in zip(predicted, reference, strict=True):
        for a, b in zip(p, r, strict=True):
            if b in gor.STATES:
                total[b] += 1
                right[b] += a == b
    return {f"q_{s}": right[s] / total[s] if total[s] else float("nan") for s in gor.STATES}


def scores(predicted: Sequence[str], reference: Sequence[str]) -> dict[str, float]:
    return {"q3": gor.q3(predicted, reference), **recall_per_state(predicted, reference)}


def run(data_dir: Path, checkpoint: Path | None, skip_model: bool) -> dict[str, Any]:
    chains = load_chains(data_dir)
    train, val, test = (chains[s] for s in SPLITS)
    record: dict[str, Any] = {
        "data_dir": str(data_dir),
        "chains": {s: len(chains[s]) for s in SPLITS},
        "residues": {
            s: int(sum(c in gor.STATES for label in chains[s]["dssp3"] for c in label))
            for s in SPLITS
        },
    }
    start = time.perf_counter()
    counts = gor.fit_counts(train["sequence"], train["dssp3"])
    predictor, variants = gor.select_on_validation(
        counts, list(val["sequence"]), list(val["dssp3"])
    )
    record["gor"] = {
        "chosen": {"pairs": predictor.pairs, "prior": predictor.prior, "alpha": predictor.alpha},
        "validation_variants": variants,
        "seconds": round(time.perf_counter() - start, 2),
    }
    majority = Counter(c for label in train["dssp3"] for c in label if c in gor.STATES)
    majority_state = majority.most_common(1)[0][0]
    record["majority_state"] = majority_state
    for split, frame in (("validation", val), ("test", test)):
        reference = list(frame["dssp3"])
        record.setdefault(split, {})["gor"] = scores(
            [predictor.predict(s) for s in frame["sequence"]], reference
        )
        record[split]["majority"] = scores([majority_state * len(s) for s in reference], reference)
    if not skip_model:
        loaded = api.load(checkpoint or "protein", device="cpu")
        record["model"] = {"checkpoint": str(checkpoint or api.shipped_checkpoint("protein"))}
        for split, frame in (("validation", val), ("test", test)):
            result = evaluate_structures(loaded.model, loaded.config, frame)
            record[split]["model"] = {
                "q3": result["q3"],
                "predict_seconds": result["predict_seconds"],
            }
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("datasets/protein"))
    parser.add_argument("--checkpoint", type=Path, help="protein checkpoint (default: shipped)")
    parser.add_argument("--skip-model", action="store_true", help="GOR and majority only")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("bench/results/protein_ss_vs_gor.json")
    )
    args = parser.parse_args(argv)
    record = run(args.data_dir, args.checkpoint, args.skip_model)
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    print(f"chains {record['chains']}, labelled residues {record['residues']}")
    print(f"GOR variant chosen on validation: {record['gor']['chosen']}")
    for split in ("validation", "test"):
        for method, values in record[split].items():
            shown = ", ".join(f"{k} {v:.3f}" for k, v in values.items() if k.startswith("q"))
            print(f"{split:<10} {method:<9} {shown}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
