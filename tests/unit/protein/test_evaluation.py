"""Protein metrics and the generation-based evaluation on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scisuite.domains.protein.metrics import (
    answer_accuracy,
    binary_metrics,
    content_error,
    content_metrics,
    diversity,
    is_valid_design,
    majority_baseline,
    novelty,
    q_accuracy,
)


def test_q_accuracy_skips_unlabelled_and_counts_missing() -> None:
    assert q_accuracy(["HHEC"], ["HHEC"]) == 1.0
    assert q_accuracy(["HHCC", "E"], ["HHEC", "E"]) == pytest.approx(4 / 5)
    assert q_accuracy(["HHHH"], ["H??H"]) == 1.0  # '?' is not scored
    assert q_accuracy(["HH"], ["HHEE"]) == 0.5  # a short prediction loses the rest
    assert math.isnan(q_accuracy([""], ["??"]))
    assert q_accuracy(["GGTS"], ["GGTT"]) == 0.75  # Q8 letters too


def test_answer_accuracy_counts_known_answer_tokens() -> None:
    target = torch.tensor([[72.0], [69.0], [float("nan")], [67.0]])
    assert answer_accuracy(torch.tensor([[72.0], [69.0], [1.0], [1.0]]), target) == 2 / 3
    assert math.isnan(answer_accuracy(target[2:3], target[2:3]))


def test_majority_baseline() -> None:
    assert majority_baseline(["HHHC", "E?"]) == ("H", 0.6)


def test_content_metrics_perfect_and_error() -> None:
    truth = np.array([[0.5, 0.2, 0.3], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    perfect = content_metrics(truth.copy(), truth)
    assert perfect["mae"] == 0.0 and perfect["r2"] == pytest.approx(1.0)
    worse = content_metrics(truth + 0.1, truth)
    assert worse["mae"] == pytest.approx(0.1) and worse["r2"] < 1.0
    assert content_error((0.6, 0.1, 0.3), (0.5, 0.2, 0.3)) == pytest.approx(0.2 / 3)


def test_binary_metrics() -> None:
    metrics = binary_metrics([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    assert metrics["roc_auc"] == 1.0 and metrics["accuracy"] == 1.0 and metrics["n"] == 4
    assert metrics == binary_metrics([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    assert math.isnan(binary_metrics([0.2, 0.7], [1, 1])["roc_auc"])
    assert binary_metrics([0.6, 0.4], [0, 1])["accuracy"] == 0.0


def test_validity_diversity_novelty() -> None:
    assert is_valid_design("MKTAYIAK", 5, 10)
    assert not is_valid_design("MKTAYIAKX", 5, 10)  # X is not a designed residue
    assert not is_valid_design("MKT", 5, 10) and not is_valid_design("", 0, 10)
    same = "MKTAYIAKQRQISFVKSHFSRQ"
    assert diversity([same, same]) == pytest.approx(1.0)
    assert diversity([same, "GGGGWWWWPPPPDDDDEEEE"]) < 0.5
    assert math.isnan(diversity([same]))
    closest = novelty([same, "WWWWWWWW"], [same + "LLL", "PPPPPPPP"])
    assert closest[0] == pytest.approx(1.0) and closest[1] < 0.5


def test_headline_metrics_flattens_the_scalar_results() -> None:
    from scisuite.domains.protein.evaluation import headline_metrics

    results = {
        "split": "test",
        "structures": {
            "q3": 0.6,
            "q8": None,
            "q3_majority_baseline": 0.46,
            "content_from_ss3": {"mae": 0.15, "r2": -0.4},
        },
        "peptides": {
            "amp": {
                "roc_auc": 0.92,
                "accuracy": 0.8,
                "n": 505,
                "applicability": {
                    "all": {"n": 500, "accuracy": 0.8},
                    "in_domain": {"n": 400, "accuracy": 0.9},
                    "flagged": {"n": 100, "accuracy": 0.4},
                },
            }
        },
        "designs": [
            {"task": "design_amp", "validity": 1.0, "self_consistency_amp_probability_mean": 0.8}
        ],
    }
    assert headline_metrics(results) == {
        "q3": 0.6,
        "q3_majority_baseline": 0.46,
        "ss_content_mae": 0.15,
        "amp_roc_auc": 0.92,
        "amp_accuracy": 0.8,
        "amp_in_domain_accuracy": 0.9,
        "amp_in_domain_fraction": 0.8,
        "amp_flagged_accuracy": 0.4,
        "amp_flagged_fraction": 0.2,
        "design_0_design_amp_validity": 1.0,
        "design_0_design_amp_self_consistency_amp_probability_mean": 0.8,
    }


def test_generation_metrics_only_for_named_datasets(tmp_path) -> None:
    from scisuite.core.plugin import TrainRequest
    from scisuite.domains.protein.config import ProteinConfig
    from scisuite.domains.protein.plugin import PLUGIN

    user_file = TrainRequest(data=tmp_path / "sol.csv")
    assert PLUGIN.reports.evaluation_extras(None, ProteinConfig(), user_file, tmp_path) == ({}, [])
