"""Secondary structure against context length: Q3 / Q8 of protein checkpoints on one split,
overall and by chain length, with the decoding cost.

Each checkpoint is decoded as ``sci predict`` would (constrained greedy, windows of its own
``residue_window()`` residues, overlapping by ``window_overlap``), so a model trained with
``--set max_length=1544`` sees chains of up to 512 residues whole and an 82-residue model
sees them in pieces. Chains are bucketed by length so the effect of whole-chain context on
long chains is visible next to the total. Choose on ``--split validation``; report test.

    python bench/protein_context.py --data-dir datasets/protein --split validation \\
        --checkpoint runs/s1-w256 --checkpoint runs/s1-w1544 -o bench/results/x.json

Writes the JSON atomically (stdout without ``-o``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from scisuite import __version__, api
from scisuite.core.io import write_text_or_print
from scisuite.domains.protein.catalogue import DATASETS
from scisuite.domains.protein.generation import predict_sequences
from scisuite.domains.protein.metrics import q_accuracy

LENGTH_BUCKETS = ((0, 82), (83, 256), (257, 512), (513, 100_000))


def _bucket_name(low: int, high: int) -> str:
    return f"{low}-{high}" if high < 100_000 else f">{low - 1}"


def context_report(checkpoint: Path, chains: pd.DataFrame, batch_size: int = 16) -> dict[str, Any]:
    """Q3 / Q8 of one checkpoint on ``chains`` (``sequence, dssp3, dssp8``), per length bucket.

    Returns:
        residue window and training metadata of the checkpoint, Q3 / Q8 over all residues and
        per bucket of chain length (residues), decoding seconds and residues per second.
    """
    predictor = api.load(checkpoint, device="cpu")
    config = predictor.config.replace(predict_tasks=("ss3", "ss8"))
    sequences = list(chains["sequence"])
    start = time.perf_counter()
    predictions = predict_sequences(predictor.model, sequences, config, batch_size)
    seconds = time.perf_counter() - start
    ss3 = [p.ss3 or "" for p in predictions]
    ss8 = [p.ss8 or "" for p in predictions]
    lengths = [len(s) for s in sequences]
    buckets: dict[str, Any] = {}
    for low, high in LENGTH_BUCKETS:
        keep = [i for i, n in enumerate(lengths) if low <= n <= high]
        if not keep:
            continue
        buckets[_bucket_name(low, high)] = {
            "chains": len(keep),
            "residues": sum(lengths[i] for i in keep),
            "q3": q_accuracy([ss3[i] for i in keep], [chains["dssp3"].iloc[i] for i in keep]),
            "q8": q_accuracy([ss8[i] for i in keep], [chains["dssp8"].iloc[i] for i in keep]),
        }
    saved = json.loads((Path(checkpoint) / "config.json").read_text())
    return {
        "checkpoint": str(checkpoint),
        "max_length": config.max_length,
        "residue_window": config.residue_window(),
        "tasks": list(config.tasks),
        "train_seconds": saved["metrics"].get("train_seconds"),
        "epochs": saved["metrics"].get("epochs"),
        "chains": len(chains),
        "residues": sum(lengths),
        "q3": q_accuracy(ss3, list(chains["dssp3"])),
        "q8": q_accuracy(ss8, list(chains["dssp8"])),
        "by_chain_length": buckets,
        "decode_seconds": round(seconds, 1),
        "residues_per_second": round(sum(lengths) / seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="built protein data sets")
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    parser.add_argument("--batch-size", type=int, default=16, help="windows decoded together")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder, table = DATASETS["structures"]
    chains = pd.read_parquet(args.data_dir / folder / table)
    chains = chains[chains["split"] == args.split].reset_index(drop=True)
    reports = [context_report(c, chains, args.batch_size) for c in args.checkpoint]
    result = {
        "benchmark": "protein secondary structure vs context length",
        "command": " ".join(["python", "bench/protein_context.py", *sys.argv[1:]]),
        "split": args.split,
        "threads": args.threads,
        "machine": {"python": platform.python_version(), "torch": torch.__version__},
        "scisuite": __version__,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "checkpoints": reports,
    }
    write_text_or_print(json.dumps(result, indent=1), args.output)
    for report in reports:
        print(
            f"{report['checkpoint']}: window {report['residue_window']}, Q3 {report['q3']:.3f}"
            f" Q8 {report['q8']:.3f}; "
            + ", ".join(f"{k}: {v['q3']:.3f}" for k, v in report["by_chain_length"].items()),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
