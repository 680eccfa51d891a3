"""Calibrate (Platt scaling) the peptide probabilities of an existing protein checkpoint.

Training does this itself at the end (the plugin's ``finalize_model``); this script does
the same for a checkpoint trained before that existed, such as the shipped default. It fits
the ``amp`` / ``acp`` slope and intercept on the **validation** peptides of the built
``peptide_function`` data set, reports the expected calibration error (10 bins) before and
after on validation and test (the test figures are reported, never used to choose), the
same for temperature scaling alone (the slope with a zero intercept, for comparison), and
with ``--write`` stores the pairs in the checkpoint's ``config.json`` (the weights are
untouched; the directory is rewritten atomically).

    python bench/protein_calibration.py --checkpoint scisuite/weights/protein \\
        --data-dir datasets/protein --write -o bench/results/protein_calibration.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from scisuite.core.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from scisuite.core.io import write_text_or_print
from scisuite.domains.protein.calibration import (
    apply_platt,
    calibrate,
    expected_calibration_error,
    logit,
    validation_probabilities,
)
from scisuite.domains.protein.catalogue import DATASETS
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.model import ProteinLM
from scisuite.domains.protein.tasks import Sources, featurize_examples, split_examples


def load_protein_checkpoint(
    checkpoint: Path,
) -> tuple[CheckpointMeta, dict[str, torch.Tensor], ProteinConfig, ProteinLM]:
    """A protein checkpoint's metadata, weights, config and model (eval mode)."""
    meta, state = load_checkpoint(checkpoint)
    if meta.domain != "protein":
        raise ValueError(f"{checkpoint} is a {meta.domain} checkpoint, not a protein one")
    config = ProteinConfig.from_dict(meta.model_config)
    model = ProteinLM(config)
    model.load_state_dict(state)
    return meta, state, config, model.eval()


def read_peptides(data_dir: Path) -> pd.DataFrame:
    """The built ``peptide_function`` table under ``data_dir``."""
    folder, table = DATASETS["peptides"]
    return pd.read_parquet(data_dir / folder / table)


def calibrate_checkpoint(
    checkpoint: Path, data_dir: Path, write: bool = False, batch_size: int = 64
) -> dict[str, Any]:
    """Fit, report and optionally store the peptide temperatures of ``checkpoint``."""
    meta, state, config, model = load_protein_checkpoint(checkpoint)
    sources = Sources(peptides=read_peptides(data_dir))
    plain = config.replace(peptide_calibration=(1.0, 0.0, 1.0, 0.0), bucket_tokens=0)
    graphs = {
        split: featurize_examples(split_examples(sources, plain, split, 0), plain, 0, train=False)
        for split in ("validation", "test")
    }
    calibrated, report = calibrate(model, plain, graphs["validation"], batch_size)
    results: dict[str, Any] = {"checkpoint": str(checkpoint), "fit_on": "validation"}
    for task in ("amp", "acp"):
        if task not in report:
            continue
        slope, intercept = calibrated.platt(task)  # kept: the fitted pair or (1, 0)
        fitted = report[task]["fitted_slope"], report[task]["fitted_intercept"]
        probabilities = {
            split: validation_probabilities(model, plain, part, task, batch_size)
            for split, part in graphs.items()
        }
        temperature = 1.0 / _temperature_slope(*probabilities["validation"])
        rows = {}
        for split, (p, y) in probabilities.items():
            rows[split] = {
                "n": len(y),
                "positive_fraction": float(np.mean(y)),
                "mean_probability": float(np.mean(p)),
                "ece_before": expected_calibration_error(p, y),
                "ece_platt": expected_calibration_error(apply_platt(p, *fitted), y),
                "ece_kept": expected_calibration_error(apply_platt(p, slope, intercept), y),
                "ece_temperature_only": expected_calibration_error(
                    apply_platt(p, 1.0 / temperature, 0.0), y
                ),
            }
        results[task] = {
            "fitted_slope": fitted[0],
            "fitted_intercept": fitted[1],
            "kept": "platt" if (slope, intercept) == fitted else "uncalibrated",
            "slope": slope,
            "intercept": intercept,
            "temperature_only": temperature,
            **rows,
        }
    if write:
        pairs = calibrated.peptide_calibration
        values = {**meta.model_config, "peptide_calibration": list(pairs)}
        metrics = {**meta.metrics, "peptide_calibration": results}
        save_checkpoint(
            checkpoint, state, dataclasses.replace(meta, model_config=values, metrics=metrics)
        )
        results["written"] = True
    return results


def _temperature_slope(probabilities: list[float], labels: list[int]) -> float:
    """The slope ``1 / T`` of temperature scaling (no intercept), by NLL on these examples."""
    from scipy.optimize import minimize_scalar

    z, y = logit(probabilities), np.asarray(labels, float)

    def nll(slope: float) -> float:
        s = slope * z
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def checkpoint_tool_main(
    description: str,
    run: Callable[[Path, Path, bool], dict[str, Any]],
    write_help: str,
    argv: Sequence[str] | None = None,
) -> int:
    """The command line of a tool that measures (and with ``--write`` updates) a protein
    checkpoint against the built data sets: ``run(checkpoint, data_dir, write)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="built data sets")
    parser.add_argument("--write", action="store_true", help=write_help)
    parser.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    results = run(args.checkpoint, args.data_dir, args.write)
    write_text_or_print(json.dumps(results, indent=2), args.output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    description = (__doc__ or "").splitlines()[0]
    return checkpoint_tool_main(description, calibrate_checkpoint, "store the maps", argv)


if __name__ == "__main__":
    raise SystemExit(main())
