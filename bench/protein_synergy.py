"""Multi-task synergy: SS tasks only vs every default task, same training-token budget.

Both runs train from the same seed on the same built data (``sci data build protein ...``),
with the same optimiser, learning rate and bucketing; the SS-only run gets as many epochs as
make its training tokens equal the all-task run's (see
:func:`scisuite.domains.protein.evaluation.synergy_experiment`). Q3 / Q8 come from
constrained greedy decoding on the held-out chains (validation and test; nothing is chosen
on test).

    python bench/protein_synergy.py --data-dir datasets/protein --epochs 2

Writes ``bench/results/protein_synergy.json`` atomically; checkpoints go to ``--work-dir``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from scisuite import __version__
from scisuite.core.io import atomic_path
from scisuite.domains.protein.evaluation import synergy_experiment

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="built protein data sets")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the all-task run (2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bucket-tokens", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/protein_synergy"))
    parser.add_argument("--output", type=Path, default=RESULTS / "protein_synergy.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    runs = synergy_experiment(
        args.data_dir,
        args.work_dir,
        args.epochs,
        seed=args.seed,
        overrides={"bucket_tokens": args.bucket_tokens},
    )
    result = {
        "benchmark": "protein multi-task synergy (SS-only vs all tasks, same token budget)",
        "command": " ".join(["python", "bench/protein_synergy.py", *sys.argv[1:]]),
        "machine": {"python": platform.python_version(), "torch": torch.__version__},
        "threads": args.threads,
        "scisuite": __version__,
        "seconds": round(time.perf_counter() - started, 1),
        "runs": runs,
    }
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    for name, run in runs.items():
        print(
            f"{name}: epochs {run['epochs']}, tokens {run['train_tokens']}, "
            f"test Q3 {run['test_q3']:.3f} Q8 {run['test_q8']:.3f} "
            f"(majority {run['test_q3_majority_baseline']:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
