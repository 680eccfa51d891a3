"""Regression and classification metrics with NaN (missing-label) masking, macro-averaged
over targets. Inputs are ``[M, T]`` predictions and targets in original units
(probabilities for classification)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr
from torch import Tensor

from scisuite.core.metrics import average_precision_score, per_column, rmse, roc_auc_score
from scisuite.core.plugin import Metric


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
    """``fn(labels, scores)`` where the targets are 0/1 labels with both classes present;
    NaN otherwise (e.g. a regression target that happens to take two values)."""

    def metric(pred: np.ndarray, target: np.ndarray) -> float:
        classes = np.unique(target)
        return float(fn(target, pred)) if set(classes.tolist()) == {0.0, 1.0} else math.nan

    return metric


REGRESSION_METRICS = (
    Metric("rmse", per_column(rmse), higher_is_better=False, perfect=0.0),
    Metric("mae", per_column(mae), higher_is_better=False, perfect=0.0),
    Metric("r2", per_column(r2), higher_is_better=True, perfect=1.0),
    Metric("spearman", per_column(spearman), higher_is_better=True, perfect=1.0),
)
CLASSIFICATION_METRICS = (
    Metric("roc_auc", per_column(_two_classes(roc_auc_score)), higher_is_better=True, perfect=1.0),
    Metric(
        "pr_auc",
        per_column(_two_classes(average_precision_score)),
        higher_is_better=True,
        perfect=1.0,
    ),
)
METRICS = (*REGRESSION_METRICS, *CLASSIFICATION_METRICS)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` is True (0 if nothing is labelled)."""
    return (values * mask).sum() / mask.sum().clamp_min(1)
