"""How far a regression's predicted standard deviations can be trusted.

Inputs are ``[M, T]`` predictions, targets (NaN: missing label) and predicted stds, all in
original units. Each metric is computed per target on its labelled rows and macro-averaged,
as chemprop v2's uncertainty evaluators report them:

- ``uncertainty_spearman``: Spearman correlation of ``|error|`` with the std (ranking: does a
  larger std flag a larger error? 1 is perfect, 0 is no information);
- ``miscalibration_area``: area between the observed and the expected fraction of errors
  inside the central Gaussian interval of each confidence level (0 is calibrated, 0.5 the
  worst; Tran et al. 2020);
- ``gaussian_nll``: mean negative log-likelihood of the targets under N(pred, std^2), in nats
  (lower is better; depends on the target's units);
- ``coverage_95``: share of targets inside pred +- 1.96 std (0.95 when calibrated).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import norm, spearmanr
from torch import Tensor

#: Stds below this are treated as this (a zero std makes the likelihood infinite).
MIN_STD = 1e-12
#: Confidence levels of the miscalibration area.
LEVELS = np.linspace(0.0, 1.0, 101)


def _column_metrics(error: np.ndarray, std: np.ndarray) -> dict[str, float]:
    std = np.maximum(std, MIN_STD)
    z = np.abs(error) / std
    observed = np.array([np.mean(z <= norm.ppf(0.5 + level / 2)) for level in LEVELS])
    varied = len(error) > 1 and np.ptp(std) > 0 and np.ptp(error) > 0
    return {
        "uncertainty_spearman": (
            float(spearmanr(np.abs(error), std).statistic) if varied else math.nan
        ),
        "miscalibration_area": float(np.trapezoid(np.abs(observed - LEVELS), LEVELS)),
        "gaussian_nll": float(np.mean(0.5 * np.log(2 * math.pi * std**2) + 0.5 * z**2)),
        "coverage_95": float(np.mean(z <= norm.ppf(0.975))),
    }


def uncertainty_metrics(
    pred: Tensor, target: Tensor, std: Tensor, names: tuple[str, ...] = ()
) -> dict[str, float]:
    """Macro-averaged uncertainty metrics of ``pred``, ``target``, ``std`` ``[M, T]``; with
    one name per target also ``<metric>:<name>`` per target. Targets with no labelled row
    are left out."""
    pred_np, target_np, std_np = (
        t.double().cpu().numpy().reshape(len(t), -1) for t in (pred, target, std)
    )
    per_target: dict[str, list[float]] = {}
    out: dict[str, float] = {}
    for t in range(target_np.shape[1]):
        known = ~np.isnan(target_np[:, t])
        if not known.any():
            continue
        values = _column_metrics(pred_np[known, t] - target_np[known, t], std_np[known, t])
        for metric, value in values.items():
            per_target.setdefault(metric, []).append(value)
            if len(names) == target_np.shape[1] and len(names) > 1:
                out[f"{metric}:{names[t]}"] = value
    for metric, values in per_target.items():
        finite = [v for v in values if not math.isnan(v)]
        if finite:
            out[metric] = float(np.mean(finite))
    return {k: v for k, v in out.items() if not math.isnan(v)}


def variance_scale(pred: Tensor, target: Tensor, std: Tensor) -> tuple[float, ...]:
    """Per-target factor ``s`` with ``mean(((target - pred) / (s std))^2) = 1`` over the
    labelled rows of ``[M, T]`` (variance scaling, fitted on a validation split; Levi et al.
    2022). 1 for a target with no labelled row or no positive std."""
    known = ~torch.isnan(target) & (std > MIN_STD)
    z2 = torch.where(known, ((target - pred) / std.clamp_min(MIN_STD)) ** 2, 0.0).double()
    counts = known.sum(dim=0)
    scale = (z2.sum(dim=0) / counts.clamp_min(1)).sqrt()
    return tuple(
        float(s) if n > 0 and s > 0 else 1.0
        for s, n in zip(scale.tolist(), counts.tolist(), strict=True)
    )
