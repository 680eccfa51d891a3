"""What reduced-precision inference costs the molecule model in accuracy, and what it saves.

For a molecule checkpoint (default: the shipped one, trained on freesolv+solubility with the
``auto`` split, seed 0) the same validation and test graphs are scored by

- ``32``: the model as trained (float32),
- ``bf16``: ``api.load(..., precision="bf16")``, bfloat16 autocast (``sci predict
  --precision bf16``),
- ``int8``: ``torch.ao.quantization.quantize_dynamic`` of every ``nn.Linear`` (weights int8,
  activations quantised per batch), the usual CPU alternative, measured to compare and not
  offered in ``sci``.

Reported per variant: validation and test RMSE per target, the largest and RMS change of a
prediction against float32 on ``--moses-n`` MOSES molecules, and the model's forward
throughput on them (molecules/s, chunks of ``--batch-size`` featurised once beforehand, one
thread); ratios are to float32 in the same process. The MOSES molecules are a seeded sample
(seed 0). Choose on validation; the test columns are for the record.

Usage (from the repository root)::

    .venv/bin/python bench/molecule_precision.py --moses-n 5000 \\
        --output bench/results/molecule_precision.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.data import Batch

from scisuite import api
from scisuite.api.evaluating import metrics_on
from scisuite.core.plugin import TrainRequest
from scisuite.core.records import Record
from scisuite.domains.molecule.pretraining import moses_sample

Tensor = torch.Tensor


def int8_dynamic(model: nn.Module) -> nn.Module:
    """Every ``nn.Linear`` as a dynamically quantised int8 layer (fbgemm)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notice (moving to torchao)
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8
        )


def forward_rate(model: nn.Module, batches: list[Batch], repeats: int) -> tuple[float, Tensor]:
    """Molecules/s of ``model.predict`` over ``batches`` (best of ``repeats``), and the
    ``[M, T]`` predictions."""
    best, predictions = float("inf"), None
    with torch.inference_mode():
        model.predict(batches[0])  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            outputs = [model.predict(batch).mean for batch in batches]
            best = min(best, time.perf_counter() - start)
            predictions = torch.cat(outputs).float()
    assert predictions is not None
    return sum(b.num_graphs for b in batches) / best, predictions


def _bf16_flags() -> list[str]:
    """The CPU's native bf16 instruction sets (Linux ``/proc/cpuinfo``), e.g. avx512_bf16."""
    info = Path("/proc/cpuinfo")
    flags = info.read_text().split() if info.exists() else []
    return sorted({flag for flag in flags if "bf16" in flag or flag.startswith("amx")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="molecule checkpoint (default: shipped)")
    parser.add_argument("--dataset", default="freesolv+solubility")
    parser.add_argument("--split", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--moses-n", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    domain = str(args.checkpoint) if args.checkpoint else "molecule"
    full = api.load(domain, device="cpu")
    plugin, config = full.plugin, full.config
    data = plugin.data.build_training_data(
        TrainRequest(dataset=args.dataset, split=args.split, seed=args.seed)
    )
    smiles = moses_sample(args.moses_n, seed=0)
    records = [Record(id=str(i), payload={"smiles": s}) for i, s in enumerate(smiles)]
    batches = [
        b
        for i in range(0, len(records), args.batch_size)
        if (b := plugin.task.featurize_records(records[i : i + args.batch_size], config).batch)
    ]
    variants = {
        "32": full.model,
        "bf16": api.load(domain, device="cpu", precision="bf16").model,
        "int8": int8_dynamic(full.model),
    }
    results: dict[str, Any] = {}
    reference_rate, reference = 0.0, None
    for name, model in variants.items():
        rate, predictions = forward_rate(model, batches, args.repeats)
        if name == "32":
            reference_rate, reference = rate, predictions
        assert reference is not None
        change = (predictions - reference).abs()
        row: dict[str, Any] = {
            "forward_molecules_per_s": rate,
            "forward_speed_vs_32": rate / reference_rate,
            "moses_max_abs_change": dict(
                zip(config.target_names, change.amax(0).tolist(), strict=True)
            ),
            "moses_rms_change": dict(
                zip(config.target_names, change.pow(2).mean(0).sqrt().tolist(), strict=True)
            ),
        }
        for split, graphs in (("val", data.val), ("test", data.test)):
            metrics, _, _ = metrics_on(
                plugin, model, config, graphs, args.batch_size, torch.device("cpu")
            )
            row[split] = {k: v for k, v in metrics.items() if k.startswith("rmse")}
        results[name] = row
        print(name, json.dumps(row, indent=1))
    report = {
        "command": [sys.executable, *sys.argv],
        "checkpoint": str(args.checkpoint or "shipped molecule default"),
        "dataset": {"name": args.dataset, "split": args.split, "seed": args.seed},
        "moses_n": args.moses_n,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "cpu_flags_bf16": _bf16_flags(),
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
