from __future__ import annotations

import json

import pytest
import torch

from scisuite.core.plugin import TrainRequest
from scisuite.domains.mesh.report import MeshReports, rollout_report
from scisuite.domains.mesh.task import MeshTask
from scisuite.domains.mesh.training_data import evaluation_trajectories


def test_rollout_report_writes_table_and_plots(dataset, tmp_path) -> None:
    config = MeshTask().default_config()
    torch.manual_seed(0)
    model = MeshTask().build_model(config)
    request = TrainRequest(data=dataset, seed=0)
    summary, paths = rollout_report(
        model, config, evaluation_trajectories(request), tmp_path, steps=5
    )
    assert summary["trajectories"] == 1 and summary["rmse_pooled_all_all_nodes"] > 0
    assert {p.name for p in paths} >= {
        "rollout_rmse.csv",
        "rollout_rmse.json",
        "rollout_error_vs_time.png",
        "rollout_fields_0.png",
    }
    assert all(p.stat().st_size > 0 for p in paths)
    assert json.loads((tmp_path / "rollout_rmse.json").read_text())["trajectories"] == 1


def test_evaluation_report_and_extras(dataset, tmp_path) -> None:
    config = MeshTask().default_config()
    pred = torch.randn(50, 3)
    target = pred + 0.1
    target[0, 2] = float("nan")
    paths = MeshReports().evaluation_report(pred, target, config, tmp_path)
    assert [p.name for p in paths] == ["one_step_rmse.csv", "one_step_parity.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    torch.manual_seed(0)
    model = MeshTask().build_model(config)
    request = TrainRequest(data=dataset, seed=0, columns={"rollout_steps": 2})
    metrics, files = MeshReports().evaluation_extras(model, config, request, tmp_path)
    assert metrics["trajectories"] == 1 and "rmse_velocity_1_all_nodes" in metrics
    assert (tmp_path / "rollout_rmse.csv") in files


@pytest.mark.parametrize("stride", [1, 2])
def test_a_model_that_predicts_no_change_scores_exactly_persistence(
    dataset, tmp_path, stride
) -> None:
    import pandas as pd

    config = MeshTask().default_config().replace(target_mean=(0.1, -0.2, 0.3))
    config = config.replace(frame_stride=stride)
    zero_change = torch.tensor(
        [-m / s for m, s in zip(config.target_mean, config.target_std, strict=True)]
    )

    def still(batch):  # normalised output of a zero change, on every node
        return zero_change.expand(batch.num_nodes, 3)

    request = TrainRequest(data=dataset, seed=0)
    summary, _ = rollout_report(still, config, evaluation_trajectories(request), tmp_path)
    table = pd.read_csv(tmp_path / "rollout_trajectories.csv")
    assert len(table) == 1 and "divergence_rms_model" in table
    assert table["velocity_all"][0] == torch.tensor(table["persistence_velocity_all"][0]).item()
    assert summary["ratio_to_persistence_all_mean"] == 1.0
    assert summary["below_persistence_fraction"] == 0.0
    assert summary["divergence_rms_model"] > 0
    frames = next(evaluation_trajectories(request)).num_frames
    assert summary["trajectories"] == 1 and len(table) == 1
    assert pd.read_csv(tmp_path / "rollout_rmse.csv").shape[0] > 0
    assert (frames - 1) // stride >= 1
