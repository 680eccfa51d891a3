"""Regression and classification metrics with NaN (missing-label) masking, macro-averaged
over targets. Inputs are ``[M, T]`` predictions and targets in original units
(probabilities for classification)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor

from scisuite.core.plugin import Metric


def _per_task(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[Tensor, Tensor], float]:
    def metric(pred: Tensor, target: Tensor) -> float:
        pred_np, target_np = pred.double().cpu().numpy(), target.double().cpu().numpy()
        if pred_np.ndim == 1:
            pred_np, target_np = pred_np[:, None], target_np[:, None]
        values = []
        for t in range(target_np.shape[1]):
            known = ~np.isnan(target_np[:, t])
            if known.sum() >= 1:
                values.append(fn(pred_np[known, t], target_np[known, t]))
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan

    return metric


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - target) ** 2)))


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - target)))


def r2(pred: np.ndarray, target: np.ndarray) -> float:
    total = np.sum((target - target.mean()) ** 2)
    return float(1.0 - np.sum((pred - target) ** 2) / total) if total > 0 else math.nan


def spearman(pred: np.ndarray, target: np.ndarray) -> float:
    if len(target) < 2 or np.all(target == target[0]):
        return math.nan
    return float(spearmanr(pred, target).statistic)


def _two_classes(fn: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray], float]:
    def metric(pred: np.ndarray, target: np.ndarray) -> float:
        return float(fn(target, pred)) if len(np.unique(target)) == 2 else math.nan

    return metric


REGRESSION_METRICS = (
    Metric("rmse", _per_task(rmse), higher_is_better=False, perfect=0.0),
    Metric("mae", _per_task(mae), higher_is_better=False, perfect=0.0),
    Metric("r2", _per_task(r2), higher_is_better=True, perfect=1.0),
    Metric("spearman", _per_task(spearman), higher_is_better=True, perfect=1.0),
)
CLASSIFICATION_METRICS = (
    Metric("roc_auc", _per_task(_two_classes(roc_auc_score)), higher_is_better=True, perfect=1.0),
    Metric(
        "pr_auc",
        _per_task(_two_classes(average_precision_score)),
        higher_is_better=True,
        perfect=1.0,
    ),
)


def metric_names_for(task_type: str) -> tuple[str, ...]:
    metrics = REGRESSION_METRICS if task_type == "regression" else CLASSIFICATION_METRICS
    return tuple(m.name for m in metrics)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` is True (0 if nothing is labelled)."""
    return (values * mask).sum() / mask.sum().clamp_min(1)
