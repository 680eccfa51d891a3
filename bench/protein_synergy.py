"""Multi-task synergy: SS tasks only vs every default task, same training-token budget.

Both runs train from the same seed on the same built data (``sci data build protein ...``),
with the same optimiser, learning rate and bucketing; the SS-only run gets as many epochs as
make its training tokens equal the all-task run's (see
:func:`synergy_experiment`). Q3 / Q8 come from
constrained greedy decoding on the held-out chains (validation and test; nothing is chosen
on test).

    python bench/protein_synergy.py --data-dir datasets/protein --epochs 2

Writes ``bench/results/protein_synergy.json`` atomically; checkpoints go to ``--work-dir``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from scisuite import __version__, api
from scisuite.core.config import TrainConfig
from scisuite.core.io import atomic_path
from scisuite.core.plugin import TrainRequest
from scisuite.core.registry import PluginRegistry
from scisuite.domains.protein.evaluation import evaluate_structures
from scisuite.domains.protein.plugin import PLUGIN

RESULTS = Path(__file__).parent / "results"


def synergy_experiment(
    data_dir: Path,
    output_dir: Path,
    epochs_all_tasks: int,
    seed: int = 0,
    batch_size: int = 1,
    overrides: dict[str, Any] | None = None,
    ss_tasks: Sequence[str] = ("ss3", "ss8"),
    learning_rate: float = 2e-3,
) -> dict[str, Any]:
    """Same budget, SS tasks only vs every default task; Q3/Q8 on the same test chains.

    The budget is training tokens: the SS-only run gets ``epochs_all_tasks x (tokens per
    epoch of the all-task mix) / (tokens per epoch of the SS mix)`` epochs (rounded).

    Args:
        data_dir: built data sets.
        output_dir: checkpoints ``all_tasks`` and ``ss_only`` go here.
        epochs_all_tasks: epochs of the all-task run.
        seed: data and initialisation seed.
        batch_size: graphs per step (1 with ``bucket_tokens`` overrides).
        overrides: config overrides for both runs (e.g. ``{"bucket_tokens": 2048}``).
        ss_tasks: the tasks of the SS-only run.
        learning_rate: peak AdamW learning rate of both runs.

    Returns:
        per run: epochs, training tokens, optimiser steps, seconds, validation and test Q3/Q8.
    """
    registry = PluginRegistry([PLUGIN], use_entry_points=False)
    chains = pd.read_parquet(data_dir / "protein_structures" / "chains.parquet")
    runs: dict[str, Any] = {}
    plans = {"all_tasks": None, "ss_only": tuple(ss_tasks)}
    tokens: dict[str, int] = {}
    for name, tasks in plans.items():
        columns: dict[str, Any] = {"data_dir": str(data_dir)}
        if tasks:
            columns["tasks"] = list(tasks)
        request = TrainRequest(
            dataset="all", seed=seed, columns=columns, model_overrides=dict(overrides or {})
        )
        data = PLUGIN.data.build_training_data(request)
        tokens[name] = sum(int(d.num_nodes) for d in data.train)
        if name == "all_tasks":
            epochs = epochs_all_tasks
        else:
            epochs = max(1, round(epochs_all_tasks * tokens["all_tasks"] / tokens[name]))
        train_config = TrainConfig(
            max_epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            accelerator="cpu",
        )
        start = time.perf_counter()
        path = api.train(
            "protein",
            request,
            train_config,
            output_dir / name,
            command=f"synergy:{name}",
            quiet=True,
            registry=registry,
        )
        seconds = time.perf_counter() - start
        predictor = api.load(path, device="cpu", registry=registry)
        model, config = predictor.model, predictor.config
        held_out = {
            split: evaluate_structures(model, config, chains[chains["split"] == split])
            for split in ("validation", "test")
        }
        metrics = held_out["test"]
        runs[name] = {
            "tasks": list(config.tasks),
            "epochs": epochs,
            "train_tokens_per_epoch": tokens[name],
            "train_tokens": tokens[name] * epochs,
            "optimizer_steps": epochs * math.ceil(len(data.train) / batch_size),
            "train_seconds": round(seconds, 1),
            "test_q3": metrics["q3"],
            "test_q8": metrics.get("q8"),
            "test_q3_majority_baseline": metrics["q3_majority_baseline"],
            "validation_q3": held_out["validation"]["q3"],
            "validation_q8": held_out["validation"].get("q8"),
            "validation_q3_majority_baseline": held_out["validation"]["q3_majority_baseline"],
            "test_content_from_ss3": metrics["content_from_ss3"],
        }
    return runs


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
