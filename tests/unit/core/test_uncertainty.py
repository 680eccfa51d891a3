from __future__ import annotations

import math

import pytest
import torch

from scisuite.core.uncertainty import uncertainty_metrics, variance_scale


def _gaussian(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Errors drawn with the std that is predicted: a calibrated, informative model."""
    generator = torch.Generator().manual_seed(seed)
    std = torch.rand(n, 1, generator=generator, dtype=torch.float64) * 2 + 0.1
    target = torch.randn(n, 1, generator=generator, dtype=torch.float64) * std
    return torch.zeros(n, 1, dtype=torch.float64), target, std


def test_a_calibrated_std_scores_as_calibrated() -> None:
    pred, target, std = _gaussian(20_000, 0)
    metrics = uncertainty_metrics(pred, target, std)
    assert metrics["miscalibration_area"] < 0.01
    assert metrics["coverage_95"] == pytest.approx(0.95, abs=0.01)
    assert metrics["uncertainty_spearman"] > 0.3


def test_an_overconfident_std_scores_badly() -> None:
    pred, target, std = _gaussian(20_000, 1)
    calibrated = uncertainty_metrics(pred, target, std)
    overconfident = uncertainty_metrics(pred, target, std / 3)
    assert overconfident["miscalibration_area"] > 0.25
    assert overconfident["coverage_95"] < 0.6
    assert overconfident["gaussian_nll"] > calibrated["gaussian_nll"] + 1
    # ranking is unchanged by a common factor
    assert overconfident["uncertainty_spearman"] == pytest.approx(
        calibrated["uncertainty_spearman"]
    )


def test_gaussian_nll_of_one_point() -> None:
    one = torch.tensor([[1.0]])
    metrics = uncertainty_metrics(one, one * 3, one * 2)
    assert metrics["gaussian_nll"] == pytest.approx(0.5 * math.log(2 * math.pi * 4) + 0.5)
    assert "uncertainty_spearman" not in metrics  # undefined for one point


def test_per_target_values_and_missing_labels() -> None:
    pred, target, std = _gaussian(2_000, 2)
    two_pred, two_std = torch.cat([pred, pred], 1), torch.cat([std, std * 10], 1)
    two_target = torch.cat([target, target], 1)
    two_target[:1000, 1] = math.nan
    metrics = uncertainty_metrics(two_pred, two_target, two_std, ("a", "b"))
    assert metrics["coverage_95:b"] == 1.0 and metrics["coverage_95:a"] < 0.97
    assert metrics["coverage_95"] == pytest.approx(
        (metrics["coverage_95:a"] + metrics["coverage_95:b"]) / 2
    )


def test_variance_scale_recovers_the_missing_factor() -> None:
    pred, target, std = _gaussian(20_000, 3)
    target = torch.cat([target, target], 1)
    target[::2, 1] = math.nan
    scale = variance_scale(torch.cat([pred, pred], 1), target, torch.cat([std / 2, std * 4], 1))
    assert scale[0] == pytest.approx(2.0, rel=0.03)
    assert scale[1] == pytest.approx(0.25, rel=0.03)
    rescaled = uncertainty_metrics(pred, target[:, :1], std / 2 * scale[0])
    assert rescaled["miscalibration_area"] < 0.01


def test_variance_scale_is_one_without_labels_or_std() -> None:
    nan = torch.full((3, 1), math.nan)
    assert variance_scale(torch.zeros(3, 1), nan, torch.ones(3, 1)) == (1.0,)
    assert variance_scale(torch.zeros(3, 1), torch.ones(3, 1), torch.zeros(3, 1)) == (1.0,)
