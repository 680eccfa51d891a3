from __future__ import annotations

import math

import pytest
import torch

from scisuite.domains.mesh.metrics import METRICS, RolloutErrors, horizon_label

# 3 nodes: normal, wall, outflow
NODE_TYPE = torch.tensor([0, 6, 5])


def _frames(steps: int, value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((steps + 1, 3, 2), value), torch.full((steps + 1, 3), value)


def test_rollout_rmse_by_horizon_field_and_node_set() -> None:
    ref_v, ref_p = _frames(3)
    pred_v, pred_p = ref_v.clone(), ref_p.clone()
    pred_v[0] = 100.0  # frame 0 is the shared initial state: ignored
    pred_v[1, :, 0] = 1.0  # step 1: u off by 1 at every node
    pred_p[2, 1] = 3.0  # step 2: p off by 3 at the wall node only
    errors = RolloutErrors()
    errors.update(pred_v, pred_p, ref_v, ref_p, NODE_TYPE)
    assert errors.rmse(1, "all_nodes", "u") == pytest.approx(1.0)
    assert errors.rmse(1, "all_nodes", "velocity") == pytest.approx(math.sqrt(0.5))
    assert errors.rmse(1, "all_nodes", "pooled") == pytest.approx(math.sqrt(1 / 3))
    assert errors.rmse(None, "all_nodes", "p") == pytest.approx(math.sqrt(9 / 9))
    assert errors.rmse(None, "updated_nodes", "p") == 0.0  # the wall is not updated
    assert errors.rmse(2, "updated_nodes", "u") == pytest.approx(math.sqrt(2 / 4))
    assert math.isnan(errors.rmse(50))  # longer than the rollout: undefined, not truncated
    per_step = errors.per_step("all_nodes", "u")
    torch.testing.assert_close(per_step, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))


def test_summary_keys_and_table() -> None:
    errors = RolloutErrors()
    errors.update(*_frames(60, 1.0), *_frames(60, 0.0), NODE_TYPE)
    summary = errors.summary()
    assert summary["rmse_velocity_50_all_nodes"] == pytest.approx(1.0)
    assert summary["rmse_pooled_all_updated_nodes"] == pytest.approx(1.0)
    assert len(summary) == 2 * 3 * 5
    rows = errors.table()
    assert {row["horizon"] for row in rows} == {"1", "50", "all"}
    assert horizon_label(None) == "all"


def test_merge_pools_trajectories_of_different_lengths() -> None:
    a, b, both = RolloutErrors(), RolloutErrors(), RolloutErrors()
    long_pred, short_pred = _frames(4, 1.0), _frames(2, 2.0)
    for target, (pred, ref) in ((a, (long_pred, _frames(4))), (b, (short_pred, _frames(2)))):
        target.update(*pred, *ref, NODE_TYPE)
        both.update(*pred, *ref, NODE_TYPE)
    a.merge(b)
    assert a.steps == 4
    for h in (1, 2, None):
        assert a.rmse(h) == pytest.approx(both.rmse(h))
    # steps 1-2 pool both rollouts: mean of 1 and 4
    assert a.rmse(2, "all_nodes", "u") == pytest.approx(math.sqrt(2.5))


def test_one_step_metrics_are_perfect_on_perfect_predictions_and_mask_nan() -> None:
    target = torch.tensor([[1.0, 2.0, 3.0], [0.5, float("nan"), 1.0]])
    names = {metric.name for metric in METRICS}
    assert {"rmse", "rmse_velocity", "rmse_u", "rmse_v", "rmse_p"} <= names
    for metric in METRICS:
        assert metric.fn(torch.nan_to_num(target), torch.nan_to_num(target)) == metric.perfect
        assert not metric.higher_is_better
    pred = torch.nan_to_num(target) + torch.tensor([1.0, 0.0, 0.0])
    by_name = {metric.name: metric for metric in METRICS}
    assert by_name["rmse_u"].fn(pred, target) == pytest.approx(1.0)
    assert by_name["rmse_v"].fn(pred, target) == 0.0  # the NaN label is skipped
    assert by_name["rmse"].fn(pred, target) == pytest.approx(math.sqrt(2 / 5))
