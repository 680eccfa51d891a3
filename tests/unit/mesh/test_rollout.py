from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from scisuite.domains.mesh.config import MeshConfig, NodeType, transformer_config
from scisuite.domains.mesh.examples import example_trajectories
from scisuite.domains.mesh.features import initial_graph
from scisuite.domains.mesh.model import MeshModel
from scisuite.domains.mesh.rollout import rollout, rollout_batch

CONFIG = transformer_config().replace(
    backbone=transformer_config().backbone.replace(d_model=16, num_heads=2, num_layers=1),
    target_mean=(0.01, -0.02, 0.3),
    target_std=(0.5, 0.25, 2.0),
)


class Oracle:
    """Returns the true normalised ``(du, dv, dp)`` of a trajectory, one step per call
    (``p_next`` instead of ``dp`` without pressure input)."""

    def __init__(self, trajectory, config: MeshConfig, start: int = 0) -> None:
        self.trajectory, self.config, self.t = trajectory, config, start

    def __call__(self, graph) -> torch.Tensor:
        velocity = torch.as_tensor(self.trajectory.velocity, dtype=torch.float32)
        pressure = torch.as_tensor(self.trajectory.pressure, dtype=torch.float32)
        p = pressure[self.t + 1] - (pressure[self.t] if self.config.pressure_input else 0.0)
        delta = torch.cat([velocity[self.t + 1] - velocity[self.t], p[:, None]], dim=1)
        self.t += 1
        mean, std = torch.tensor(self.config.target_mean), torch.tensor(self.config.target_std)
        return (delta - mean) / std


class Recorder:
    """Constant normalised output; remembers the node features it was given."""

    def __init__(self, value: float = 1.0) -> None:
        self.value, self.inputs = value, []

    def __call__(self, graph) -> torch.Tensor:
        self.inputs.append(graph.x.clone())
        return torch.full((graph.num_nodes, 3), self.value)


@pytest.fixture(scope="module")
def trajectory():
    return example_trajectories(frames=6)[0]


@pytest.mark.parametrize("pressure_input", [True, False])
def test_perfect_model_reproduces_the_reference(trajectory, pressure_input) -> None:
    config = CONFIG.replace(
        pressure_input=pressure_input,
        backbone=CONFIG.backbone.replace(node_in_dim=6 + int(pressure_input)),
    )
    result = rollout(Oracle(trajectory, config), config, trajectory, 5, reference=trajectory)
    torch.testing.assert_close(
        result.velocity, torch.as_tensor(trajectory.velocity).float(), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        result.pressure, torch.as_tensor(trajectory.pressure).float(), atol=1e-5, rtol=0
    )
    assert result.errors is not None and result.errors.rmse(None) < 1e-5
    torch.testing.assert_close(result.times, torch.as_tensor(trajectory.times), atol=1e-9, rtol=0)


def test_boundary_nodes_are_reset_every_step(trajectory) -> None:
    frames = rollout(Recorder(7.0), CONFIG, trajectory.state(0), 4).velocity
    node_type = torch.as_tensor(trajectory.node_type)
    inflow, wall = node_type == int(NodeType.INFLOW), node_type == int(NodeType.WALL)
    initial = torch.as_tensor(trajectory.velocity[0]).float()
    for step in range(5):
        torch.testing.assert_close(frames[step][inflow], initial[inflow])
        assert bool((frames[step][wall] == 0).all())
    # updated nodes integrate u <- u + (mean + std * output) every step
    normal = node_type == int(NodeType.NORMAL)
    expected = initial[normal, 0] + 4 * (0.01 + 0.5 * 7.0)
    torch.testing.assert_close(frames[4][normal, 0], expected)


def test_pressure_is_integrated_or_predicted_directly(trajectory) -> None:
    initial = torch.as_tensor(trajectory.pressure[0]).float()
    result = rollout(Recorder(1.0), CONFIG, trajectory.state(0), 2)
    torch.testing.assert_close(result.pressure[0], initial)
    torch.testing.assert_close(result.pressure[2], initial + 2 * (0.3 + 2.0 * 1.0))
    direct = CONFIG.replace(pressure_input=False, backbone=CONFIG.backbone.replace(node_in_dim=6))
    result = rollout(Recorder(1.0), direct, trajectory.state(0), 2)
    torch.testing.assert_close(result.pressure[0], initial)
    assert torch.allclose(result.pressure[1:], torch.tensor(0.3 + 2.0 * 1.0))


def test_history_window_shifts(trajectory) -> None:
    config = CONFIG.replace(
        history=1,
        backbone=CONFIG.backbone.replace(node_in_dim=9),
    )
    recorder = Recorder(0.0)
    result = rollout(recorder, config, trajectory, 3)
    # the rollout starts at frame `history`; step k sees (u_k, u_{k-1}) of the rollout
    for step, x in enumerate(recorder.inputs):
        torch.testing.assert_close(x[:, 4:6], result.velocity[step])
        if step:
            torch.testing.assert_close(x[:, 6:8], result.velocity[step - 1])
        else:
            torch.testing.assert_close(x[:, 6:8], torch.as_tensor(trajectory.velocity[0]).float())
    assert float(result.times[0]) == pytest.approx(trajectory.times[1])


def test_zero_steps_and_bad_steps(trajectory) -> None:
    graph = Batch.from_data_list([initial_graph(trajectory, CONFIG)])
    frames = rollout_batch(Recorder(), CONFIG, graph, 0)
    assert frames.shape == (trajectory.num_nodes, 1, 3)
    with pytest.raises(ValueError, match="steps"):
        rollout_batch(Recorder(), CONFIG, graph, -1)


def test_batched_rollout_equals_single_rollouts_and_keeps_mode() -> None:
    a, b = example_trajectories(frames=3)
    torch.manual_seed(0)
    model = MeshModel(CONFIG).train()
    batch = Batch.from_data_list([initial_graph(a, CONFIG), initial_graph(b, CONFIG)])
    frames = rollout_batch(model, CONFIG, batch, 3)
    assert model.training, "the caller's mode is restored"
    single = rollout(model, CONFIG, b, 3)
    n = a.num_nodes
    torch.testing.assert_close(
        frames[n:, :, :2].permute(1, 0, 2), single.velocity, rtol=1e-4, atol=1e-5
    )


def test_rollout_accepts_a_graph_or_a_state(trajectory) -> None:
    torch.manual_seed(0)
    model = MeshModel(CONFIG)
    from_state = rollout(model, CONFIG, trajectory.state(0), 2)
    from_graph = rollout(model, CONFIG, initial_graph(trajectory.state(0), CONFIG), 2)
    torch.testing.assert_close(from_state.velocity, from_graph.velocity)
    assert from_state.steps == 2 and from_state.seconds_per_step > 0
