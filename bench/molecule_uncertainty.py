"""How far the molecule domain's predicted std can be trusted, on held-out test molecules.

For each data set (same loading and splits as ``bench/molecule_vs_chemprop.py``) and each
uncertainty variant, ``sci train`` (calibration fitted on the validation split when training
ends: ``std_scale``), then ``sci predict`` on the validation and test SMILES. Reported on the
test set: RMSE and the uncertainty metrics of ``scisuite.core.uncertainty`` (Spearman of
|error| vs std, miscalibration area, Gaussian NLL, 95% coverage), for

- the variant's calibrated std (what ``sci predict`` writes),
- the same std before calibration (divided by ``std_scale``),
- a peer that chemists use as an applicability-domain signal: the Tanimoto distance of the
  molecule's ECFP4 (Morgan radius 2, 2048 bits) to its nearest training molecule, scaled to
  a std by the same variance scaling on the validation split, around the variant's own
  predictions (so only the std differs).

Variants (``--variants``): ``ensemble5`` (5 members, std = members' spread), ``mve1`` (one
member predicting a mean and a variance, beta-NLL), ``mve5`` (both).

Usage (from the repository root)::

    .venv/bin/python bench/molecule_uncertainty.py --datasets freesolv-random,huuskonen \\
        --seed 0 --epochs 50 --threads 1 --output bench/results/molecule_uncertainty.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from molecule_vs_chemprop import (
    SPLIT_FRACTIONS,
    load_benchmark_dataset,
    make_split,
    resolve_benchmarks,
    sci_train_command,
    write_split,
)
from peers.chemprop_runner import run_measured, thread_env
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from scisuite.core.io import atomic_path
from scisuite.core.uncertainty import uncertainty_metrics, variance_scale

VARIANTS = {"ensemble5": (5, "ensemble"), "mve1": (1, "mve"), "mve5": (5, "mve")}
SCI = Path(sys.executable).with_name("sci")


def nearest_train_distance(smiles: list[str], train_smiles: list[str]) -> np.ndarray:
    """``[n]`` 1 - max Tanimoto similarity (ECFP4, 2048 bits) to any training molecule."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)

    def fingerprints(items: list[str]) -> list:
        return [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in items]

    train = fingerprints(train_smiles)
    return np.array(
        [1.0 - max(DataStructs.BulkTanimotoSimilarity(fp, train)) for fp in fingerprints(smiles)]
    )


def _tensors(*arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.tensor(np.asarray(a, dtype=float))[:, None] for a in arrays]


def _metrics(pred: np.ndarray, target: np.ndarray, std: np.ndarray) -> dict[str, float]:
    pred_t, target_t, std_t = _tensors(pred, target, std)
    rmse = float(np.sqrt(np.mean((pred - target) ** 2)))
    return {"rmse": rmse, **uncertainty_metrics(pred_t, target_t, std_t)}


def run_variant(
    files: Any, work: Path, variant: str, seed: int, epochs: int, threads: int
) -> dict[str, Any]:
    """Train one variant, predict validation and test, score the three stds on the test set."""
    members, uncertainty = VARIANTS[variant]
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / "checkpoint"
    env = thread_env(threads)
    extra = ["--ensemble-size", str(members), "--uncertainty", uncertainty]
    train = run_measured(
        sci_train_command(
            SCI, files, checkpoint, seed, epochs, 32, [*extra, "--threads", str(threads)]
        ),
        log_path=work / "train.log",
        env=env,
        cwd=work,
    )
    train.check("sci train")
    predictions = {}
    for part, path in (("val", files.val), ("test", files.test)):
        out = work / f"{part}_pred.csv"
        run_measured(
            [
                str(SCI),
                "predict",
                "--domain",
                "molecule",
                str(path),
                "--checkpoint",
                str(checkpoint),
                "--smiles-column",
                "smiles",
                "-o",
                str(out),
                "--device",
                "cpu",
                "--num-workers",
                "0",
                "--quiet",
            ],  # fmt: skip
            log_path=work / f"{part}_predict.log",
            env=env,
            cwd=work,
        ).check("sci predict")
        predictions[part] = pd.read_csv(out)
    meta = json.loads((checkpoint / "config.json").read_text())
    scale = meta["model_config"]["std_scale"][0]
    train_smiles = pd.read_csv(files.train)["smiles"].tolist()
    labels = {part: pd.read_csv(path)["target"].to_numpy(float) for part, path in
              (("val", files.val), ("test", files.test))}  # fmt: skip
    distance = {
        part: nearest_train_distance(predictions[part]["smiles"].tolist(), train_smiles)
        for part in ("val", "test")
    }
    val_pred, val_distance = predictions["val"]["target"].to_numpy(float), distance["val"]
    peer_scale = variance_scale(*_tensors(val_pred, labels["val"], val_distance + 1e-3))[0]
    test_pred = predictions["test"]["target"].to_numpy(float)
    test_std = predictions["test"]["target_std"].to_numpy(float)
    return {
        "variant": variant,
        "members": members,
        "uncertainty": uncertainty,
        "std_scale": scale,
        "train_wall_s": round(train.wall_s, 1),
        "train_peak_rss_mib": round(train.peak_rss_bytes / 2**20),
        "test": {
            "calibrated": _metrics(test_pred, labels["test"], test_std),
            "uncalibrated": _metrics(test_pred, labels["test"], test_std / scale),
            "peer_tanimoto_distance": _metrics(
                test_pred, labels["test"], (distance["test"] + 1e-3) * peer_scale
            ),
        },
        # what a choice between variants may look at (the test figures above are reported only)
        "val": {
            k: meta["metrics"]["val"].get(k)
            for k in ("rmse", "uncertainty_spearman", "gaussian_nll")
        },
    }


def table(results: list[dict[str, Any]]) -> str:
    """Markdown table of the test metrics."""
    lines = [
        "| data set | variant | std | RMSE | Spearman abs(err)~std | miscal. area | NLL | "
        "95% coverage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results:
        for kind, m in row["test"].items():
            lines.append(
                f"| {row['dataset']} | {row['variant']} | {kind} | {m['rmse']:.3f} | "
                f"{m.get('uncertainty_spearman', float('nan')):.3f} | "
                f"{m['miscalibration_area']:.3f} | {m['gaussian_nll']:.3f} | "
                f"{m['coverage_95']:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="freesolv-random,huuskonen")
    parser.add_argument("--variants", default="ensemble5,mve1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=Path(".molecule_uncertainty.work"))
    parser.add_argument(
        "--output", type=Path, default=Path("bench/results/molecule_uncertainty.json")
    )
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    for spec in resolve_benchmarks(args.datasets.split(",")):
        frame = load_benchmark_dataset(spec.source)
        split, splitter = make_split(frame, spec.split, args.seed, SPLIT_FRACTIONS[1])
        files = write_split(frame, split, args.work_dir / spec.name / f"seed{args.seed}")
        for variant in args.variants.split(","):
            work = args.work_dir / spec.name / f"seed{args.seed}" / variant
            row = run_variant(files, work, variant, args.seed, args.epochs, args.threads)
            results.append({"dataset": spec.name, "seed": args.seed, "splitter": splitter, **row})
            print(f"{spec.name} {variant}: {row['test']['calibrated']}", flush=True)
            report = {"epochs": args.epochs, "threads": args.threads, "results": results}
            args.output.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(args.output) as tmp:
                tmp.write_text(json.dumps(report, indent=2))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
