"""NaN-masked metric helpers shared by every domain (NaN targets are missing labels)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from scisuite.core.plugin import Metric

ArrayMetric = Callable[[np.ndarray, np.ndarray], float]
"""``fn(pred, target) -> float`` on 1-D arrays of known entries."""


def _columns(pred: Tensor, target: Tensor) -> tuple[np.ndarray, np.ndarray]:
    pred_np, target_np = pred.double().cpu().numpy(), target.double().cpu().numpy()
    if pred_np.ndim == 1:
        pred_np, target_np = pred_np[:, None], target_np[:, None]
    return pred_np, target_np


def masked(fn: ArrayMetric) -> Callable[[Tensor, Tensor], float]:
    """``fn`` over every known entry of ``(pred, target)`` (any shape); NaN when none is known."""

    def metric(pred: Tensor, target: Tensor) -> float:
        known = ~torch.isnan(target)
        if not bool(known.any()):
            return math.nan
        return float(fn(pred[known].double().cpu().numpy(), target[known].double().cpu().numpy()))

    return metric


def per_column(fn: ArrayMetric) -> Callable[[Tensor, Tensor], float]:
    """``fn`` per column of ``[M, T]`` on that column's known rows, averaged over the columns
    where it is defined (macro average); NaN when it is defined for none."""

    def metric(pred: Tensor, target: Tensor) -> float:
        pred_np, target_np = _columns(pred, target)
        values = []
        for t in range(target_np.shape[1]):
            known = ~np.isnan(target_np[:, t])
            if known.sum() >= 1:
                values.append(fn(pred_np[known, t], target_np[known, t]))
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan

    return metric


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root-mean-square error of two arrays of the same shape."""
    return float(np.sqrt(np.mean((pred - target) ** 2)))


def masked_rmse(pred: Tensor, target: Tensor) -> float:
    """RMSE over the known entries, computed in float64 with torch; NaN when none is known."""
    pred, target = pred.double(), target.double()
    known = ~torch.isnan(target)
    if not bool(known.any()):
        return math.nan
    return float(torch.sqrt(torch.mean((pred[known] - target[known]) ** 2)))


def compute_metrics(metrics: Sequence[Metric], pred: Tensor, target: Tensor) -> dict[str, float]:
    """Every metric on concatenated predictions / targets (original units)."""
    return {m.name: float(m.fn(pred, target)) for m in metrics}


def roc_auc_score(target: np.ndarray, pred: np.ndarray) -> float:
    """scikit-learn's ROC AUC, imported on first use: importing ``sklearn.metrics`` costs
    ~0.5 s, which every ``sci`` start-up paid though only classifiers are scored with it."""
    from sklearn.metrics import roc_auc_score as score

    return float(score(target, pred))


def average_precision_score(target: np.ndarray, pred: np.ndarray) -> float:
    """scikit-learn's average precision (PR AUC), imported on first use (see above)."""
    from sklearn.metrics import average_precision_score as score

    return float(score(target, pred))
