from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from scisuite.core.config import ConfigError
from scisuite.domains.mesh.config import (
    MeshConfig,
    PatternConfig,
    mgn_baseline,
    transformer_config,
)
from scisuite.domains.mesh.examples import example_trajectories
from scisuite.domains.mesh.features import trajectory_frames
from scisuite.domains.mesh.io import MeshTrajectory
from scisuite.domains.mesh.model import MeshModel

SMALL = transformer_config().replace(
    backbone=transformer_config().backbone.replace(d_model=16, num_heads=2, num_layers=2)
)
SMALL_MGN = mgn_baseline().replace(
    backbone=mgn_baseline().backbone.replace(d_model=16, num_layers=3)
)


@pytest.fixture(scope="module")
def trajectory() -> MeshTrajectory:
    return example_trajectories(frames=4)[0]


def _model(config: MeshConfig, seed: int = 0) -> MeshModel:
    torch.manual_seed(seed)
    return MeshModel(config).eval()


def test_mgn_baseline_is_meshgraphnets_from_the_core() -> None:
    config = mgn_baseline()
    backbone = config.backbone
    assert (backbone.num_layers, backbone.d_model) == (15, 128)
    assert backbone.attention == "none" and backbone.local_mp == "mgn"
    assert backbone.ffn_multiplier == 0 and backbone.global_tokens == 0
    assert not config.uses_attention
    transformer = transformer_config().backbone
    assert transformer.attention == "sparse" and transformer.num_layers < backbone.num_layers
    assert MeshConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("config", [SMALL, SMALL_MGN], ids=["transformer", "mgn"])
def test_forward_shape_and_finite(trajectory, config) -> None:
    batch = Batch.from_data_list(trajectory_frames(trajectory, config, [0, 1]))
    out = _model(config)(batch)
    assert out.shape == (batch.num_nodes, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("config", [SMALL, SMALL_MGN], ids=["transformer", "mgn"])
def test_graphs_in_a_batch_do_not_interact(trajectory, config) -> None:
    other = example_trajectories(frames=4)[1]
    a = trajectory_frames(trajectory, config, [0])[0]
    b = trajectory_frames(other, config, [2])[0]
    model = _model(config)
    with torch.inference_mode():
        together = model(Batch.from_data_list([a, b]))
        alone = torch.cat([model(Batch.from_data_list([g])) for g in (a, b)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_node_permutation_equivariance(trajectory) -> None:
    config = SMALL.replace(pattern=PatternConfig(khop=1, dilation=2, rings=1, global_nodes=2))
    perm = np.random.default_rng(0).permutation(trajectory.num_nodes)
    inverse = np.argsort(perm)
    permuted = MeshTrajectory(
        trajectory.points[perm],
        inverse[trajectory.triangles],
        trajectory.node_type[perm],
        trajectory.velocity[:, perm],
        trajectory.pressure[:, perm],
        trajectory.times,
    )
    model = _model(config)
    with torch.inference_mode():
        out = model(Batch.from_data_list(trajectory_frames(trajectory, config, [1])))
        out_perm = model(Batch.from_data_list(trajectory_frames(permuted, config, [1])))
    torch.testing.assert_close(out_perm, out[torch.from_numpy(perm)], rtol=1e-4, atol=1e-5)


def test_inputs_are_normalised_with_the_config_statistics(trajectory) -> None:
    config = SMALL.replace(
        velocity_mean=(1.0, -1.0),
        velocity_std=(2.0, 4.0),
        pressure_mean=(0.5,),
        pressure_std=(3.0,),
        edge_mean=(0.0, 0.0, 0.1),
    )
    graph = trajectory_frames(trajectory, config, [0])[0]
    nodes, edges = _model(config).normalised_inputs(graph)
    torch.testing.assert_close(nodes[:, :4], graph.x[:, :4])
    torch.testing.assert_close(nodes[:, 4], (graph.x[:, 4] - 1.0) / 2.0)
    torch.testing.assert_close(nodes[:, 5], (graph.x[:, 5] + 1.0) / 4.0)
    torch.testing.assert_close(nodes[:, 6], (graph.x[:, 6] - 0.5) / 3.0)
    torch.testing.assert_close(edges[:, 2], graph.edge_attr[:, 2] - 0.1)
    state = _model(config).state_dict()
    assert nodes.shape[1] == 7 and SMALL.pressure_column == 6
    assert not any("velocity_mean" in key for key in state), "statistics live in the config"


def test_predict_returns_a_rollout(trajectory) -> None:
    graph = trajectory_frames(trajectory, SMALL, [0])[0]
    graph.rollout_steps = torch.tensor([3])
    prediction = _model(SMALL).predict(Batch.from_data_list([graph]))
    assert prediction.frames.shape == (trajectory.num_nodes, 4, 3)
    torch.testing.assert_close(prediction.frames[:, 0, :2], graph.x[:, 4:6])
    assert prediction.steps.tolist() == [3]
    assert prediction.start_times.dtype == torch.float64 and prediction.start_times.shape == (1,)


def test_pure_attention_model_without_edges(trajectory) -> None:
    backbone = SMALL.backbone.replace(local_mp="none", edge_in_dim=0)
    config = SMALL.replace(backbone=backbone)
    batch = Batch.from_data_list(trajectory_frames(trajectory, config, [0]))
    assert torch.isfinite(_model(config)(batch)).all()


def test_missing_pattern_is_reported(trajectory) -> None:
    graph = trajectory_frames(trajectory, SMALL_MGN, [0])[0]  # built without a pattern
    with pytest.raises(ValueError, match="pattern_index"):
        _model(SMALL)(Batch.from_data_list([graph]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"history": 1}, "node_in_dim"),
        ({"backbone": {"attention": "dense", "global_tokens": 0}}, "sparse"),
        ({"backbone": {"local_mp": "none"}}, "edge_in_dim=0"),
        ({"target_std": (1.0, 0.0, 1.0)}, "positive"),
    ],
)
def test_config_validation(change, message) -> None:
    if "backbone" in change:
        change = {"backbone": SMALL.backbone.replace(**change["backbone"])}
    with pytest.raises(ConfigError, match=message):
        SMALL.replace(**change)
    with pytest.raises(ConfigError, match="khop"):
        PatternConfig(khop=0)
