from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from torch_geometric.data import Batch

from scisuite.domains.mesh.config import MeshConfig, PatternConfig, mgn_baseline, transformer_config
from scisuite.domains.mesh.examples import example_trajectories
from scisuite.domains.mesh.features import (
    RunningMoments,
    add_input_noise,
    attention_pattern,
    fit_normalisers,
    frame_graph,
    initial_graph,
    mesh_graph,
    model_targets,
    node_type_one_hot,
    select_global_nodes,
    trajectory_frames,
    updated_mask,
)
from scisuite.domains.mesh.graph import edges_from_triangles


@pytest.fixture(scope="module")
def trajectory():
    return example_trajectories(frames=5)[0]


def _hops(edge_index: torch.Tensor, n: int) -> np.ndarray:
    ei = edge_index.numpy()
    adjacency = csr_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=(n, n))
    return shortest_path(adjacency, unweighted=True)


def test_one_hot_order_and_unknown_codes() -> None:
    one_hot = node_type_one_hot(torch.tensor([0, 4, 5, 6]))
    assert torch.equal(one_hot, torch.eye(4))
    with pytest.raises(ValueError, match="unknown node_type code"):
        node_type_one_hot(torch.tensor([0, 3]))
    assert updated_mask(torch.tensor([0, 4, 5, 6])).tolist() == [True, False, True, False]


def test_frame_graph_nodes_edges_and_target(trajectory) -> None:
    config = transformer_config()
    graph = trajectory_frames(trajectory, config, [1])[0]
    n = trajectory.num_nodes
    assert graph.x.shape == (n, 7) and graph.y.shape == (n, 3)
    torch.testing.assert_close(graph.x[:, 4:6], torch.tensor(trajectory.velocity[1]).float())
    torch.testing.assert_close(graph.x[:, 6], torch.tensor(trajectory.pressure[1]).float())
    assert trajectory_frames(trajectory, mgn_baseline(pressure_input=False), [1])[0].x.shape[1] == 6
    du = trajectory.velocity[2] - trajectory.velocity[1]
    torch.testing.assert_close(graph.y[:, :2], torch.tensor(du).float())
    torch.testing.assert_close(graph.y[:, 2], torch.tensor(trajectory.pressure[2]).float())
    # every triangle side in both directions, relative position and length as features
    sender, receiver = graph.edge_index
    pos = torch.tensor(trajectory.points)
    delta = (pos[sender] - pos[receiver]).float()
    torch.testing.assert_close(graph.edge_attr[:, :2], delta)
    torch.testing.assert_close(graph.edge_attr[:, 2], delta.norm(dim=1))
    pairs = set(zip(sender.tolist(), receiver.tolist(), strict=True))
    assert all((j, i) in pairs for i, j in pairs)


def test_history_window_is_newest_first(trajectory) -> None:
    config = transformer_config(history=2)
    graph = trajectory_frames(trajectory, config, [3])[0]
    assert graph.x.shape[1] == 4 + 2 * 3 + 1
    for k in range(3):
        expected = torch.tensor(trajectory.velocity[3 - k]).float()
        torch.testing.assert_close(graph.x[:, 4 + 2 * k : 6 + 2 * k], expected)
    with pytest.raises(ValueError, match="previous"):
        trajectory_frames(trajectory, config, [1])


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        (PatternConfig(khop=1, rings=0), {0, 1}),
        (PatternConfig(khop=2, rings=0), {0, 1, 2}),
        (PatternConfig(khop=1, dilation=2, rings=2), {0, 1, 2, 4}),
    ],
)
def test_pattern_is_exactly_khop_plus_dilated_rings(trajectory, pattern, allowed) -> None:
    n = trajectory.num_nodes
    edges = edges_from_triangles(trajectory.triangles, n)
    pos = torch.tensor(trajectory.points)
    index = attention_pattern(edges, pos, torch.tensor(trajectory.node_type), pattern)
    hops = _hops(edges, n)
    expected = {(j, i) for i in range(n) for j in range(n) if hops[i, j] in allowed}
    assert set(zip(*index.tolist(), strict=True)) == expected
    key = index[1] * n + index[0]
    assert bool((key[1:] > key[:-1]).all()), "sorted by receiver, no duplicates"


def test_global_nodes_are_spread_boundary_nodes_attending_everywhere(trajectory) -> None:
    pos, types = torch.tensor(trajectory.points), torch.tensor(trajectory.node_type)
    hubs = select_global_nodes(pos, types, 4)
    assert hubs.numel() == 4 and bool((types[hubs] != 0).all())
    assert torch.equal(hubs, select_global_nodes(pos, types, 4))  # deterministic
    spread = torch.cdist(pos[hubs], pos[hubs]) + torch.eye(4) * 1e9
    assert float(spread.min()) > 0.4  # far apart on a 1.6 x 0.41 channel
    n = trajectory.num_nodes
    edges = edges_from_triangles(trajectory.triangles, n)
    index = attention_pattern(edges, pos, types, PatternConfig(rings=0, global_nodes=4))
    pairs = set(zip(*index.tolist(), strict=True))
    for hub in hubs.tolist():
        assert all((hub, i) in pairs and (i, hub) in pairs for i in range(n))


def test_pattern_memory_grows_linearly_on_a_real_mesh() -> None:
    pytest.importorskip("gmsh")
    from scisuite.domains.mesh.geometry import channel_mesh

    config = transformer_config()
    sizes = []
    for vertices in (300, 1200):
        mesh = channel_mesh(num_vertices=vertices)
        graph = mesh_graph(mesh.points, mesh.triangles, mesh.node_type, config)
        sizes.append(graph.pattern_index.size(1) / graph.num_nodes)
    assert all(size < 80 for size in sizes), sizes  # O(N) edges: bounded per node
    assert (
        mesh_graph(mesh.points, mesh.triangles, mesh.node_type, mgn_baseline()).pattern_index
        is None
    )


def test_batching_offsets_pattern_index(trajectory) -> None:
    graphs = trajectory_frames(trajectory, transformer_config(), [0, 1])
    batch = Batch.from_data_list(graphs)
    n, p = graphs[0].num_nodes, graphs[0].pattern_index.size(1)
    assert torch.equal(batch.pattern_index[:, p:], graphs[1].pattern_index + n)
    assert graphs[0].pattern_index is graphs[1].pattern_index  # static tensors are shared


def test_noise_only_on_normal_nodes_and_target_corrected(trajectory) -> None:
    config = transformer_config()
    graph = trajectory_frames(trajectory, config, [1])[0]
    noisy = add_input_noise(graph, 0.02, torch.Generator().manual_seed(0), 6)
    again = add_input_noise(graph, 0.02, torch.Generator().manual_seed(0), 6)
    assert torch.equal(noisy.x, again.x)
    changed = (noisy.x != graph.x).any(dim=1)
    assert bool(changed.any()) and torch.equal(changed, graph.node_type == 0)
    # the corrected target still points at the true next state
    torch.testing.assert_close(noisy.x[:, 4:6] + noisy.y[:, :2], graph.x[:, 4:6] + graph.y[:, :2])
    torch.testing.assert_close(noisy.y[:, 2], graph.y[:, 2])
    # the pressure-change target is computed against the noisy input: corrected too
    torch.testing.assert_close(
        model_targets(noisy.y, noisy.x, config)[:, 2] + noisy.x[:, 6],
        model_targets(graph.y, graph.x, config)[:, 2] + graph.x[:, 6],
    )
    assert torch.equal(graph.x, trajectory_frames(trajectory, transformer_config(), [1])[0].x)
    std = float((noisy.x - graph.x)[graph.node_type == 0, 4:6].std())
    assert 0.01 < std < 0.03


def test_training_noise_is_keyed_on_seed_step_and_rank(trajectory) -> None:
    from torch_geometric.data import Batch

    from scisuite.core.plugin import TrainingProgress
    from scisuite.domains.mesh.task import MeshTask

    config = transformer_config().replace(noise_std=0.02, noise_std_end=0.0)
    batch = Batch.from_data_list(trajectory_frames(trajectory, config, [0, 1]))
    task, model = MeshTask(), MeshTask().build_model(config)

    def draw(step: int, rank: int = 0, seed: int = 3) -> torch.Tensor:
        progress = TrainingProgress(step=step, total_steps=10, seed=seed, rank=rank)
        return task.training_batch(model, batch, config, progress).x

    assert torch.equal(draw(2), draw(2))  # a resumed run redraws the same noise
    assert not torch.equal(draw(2), draw(3)) and not torch.equal(draw(2), draw(2, rank=1))
    assert not torch.equal(draw(2), draw(2, seed=4))
    assert torch.equal(draw(10), batch.x)  # linear schedule down to 0 at the end
    normal = batch.node_type == 0
    assert torch.equal(draw(2)[~normal], batch.x[~normal])


def test_pushforward_trains_on_the_models_own_state(trajectory) -> None:
    from torch_geometric.data import Batch

    from scisuite.domains.mesh.rollout import integrate, pushforward_batch
    from scisuite.domains.mesh.task import MeshTask

    config = transformer_config().replace(unroll_steps=3)
    graphs = trajectory_frames(trajectory, config, [0, 1], ahead=3)
    assert graphs[0].future.shape == (trajectory.num_nodes, 3, 3)
    np.testing.assert_allclose(graphs[1].future[:, 2, :2].numpy(), trajectory.velocity[4])
    batch = Batch.from_data_list(graphs)
    model = MeshTask().build_model(config)
    pushed = pushforward_batch(model, batch, 3, config)
    x = batch.x
    for _ in range(2):
        with torch.no_grad():
            view = batch.clone()
            view.x = x
            x, _ = integrate(model(view), x, batch.node_type, config)
    torch.testing.assert_close(pushed.x, x)
    truth = batch.future[:, 2]
    torch.testing.assert_close(pushed.y[:, :2], truth[:, :2] - x[:, 4:6])
    torch.testing.assert_close(pushed.y[:, 2], truth[:, 2])
    assert pushforward_batch(model, batch, 1, config) is batch
    with pytest.raises(ValueError, match="future frames"):
        pushforward_batch(model, batch, 4, config)
    assert [config.max_unroll_at(f) for f in (0.0, 0.25, 0.5, 1.0)] == [1, 2, 3, 3]


def test_fit_normalisers_matches_direct_statistics(trajectory) -> None:
    other = example_trajectories(frames=5)[1]
    config = fit_normalisers(MeshConfig(), [(trajectory, [0, 1, 2]), (other, [3])])
    velocity = np.concatenate(
        [trajectory.velocity[[0, 1, 2]].reshape(-1, 2), other.velocity[[3]].reshape(-1, 2)]
    )
    np.testing.assert_allclose(config.velocity_mean, velocity.mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(config.velocity_std, velocity.std(0), rtol=1e-6)
    updated = updated_mask(torch.tensor(trajectory.node_type)).numpy()
    du = (trajectory.velocity[1:4] - trajectory.velocity[0:3])[:, updated].reshape(-1, 2)
    du = np.concatenate([du, (other.velocity[4] - other.velocity[3])[updated]])
    np.testing.assert_allclose(config.target_mean[:2], du.mean(0), rtol=1e-5, atol=1e-9)
    dp = np.concatenate(
        [
            (trajectory.pressure[1:4] - trajectory.pressure[0:3]).ravel(),
            other.pressure[4] - other.pressure[3],
        ]
    )  # pressure change over every node
    np.testing.assert_allclose(config.target_std[2], dp.std(), rtol=1e-4)
    np.testing.assert_allclose(
        config.pressure_mean[0],
        np.concatenate([trajectory.pressure[[0, 1, 2]].ravel(), other.pressure[3]]).mean(),
        rtol=1e-5,
    )
    assert config.edge_std[2] > 0 and abs(config.edge_mean[0]) < 1e-9  # both directions


def test_running_moments_skip_nan_rows_and_guard_zero_spread() -> None:
    moments = RunningMoments(2)
    moments.update(torch.tensor([[1.0, 5.0], [3.0, 5.0], [float("nan"), 0.0]]))
    assert moments.count == 2 and moments.mean() == (2.0, 5.0)
    assert moments.std() == (1.0, 1.0)  # second column has no spread -> 1.0


def test_initial_graph_from_state_and_trajectory(trajectory) -> None:
    graph = initial_graph(trajectory.state(0), transformer_config())
    assert torch.isnan(graph.y).all() and graph.face.shape == (3, len(trajectory.triangles))
    graph = initial_graph(trajectory, transformer_config(history=1))
    assert float(graph.time[0]) == pytest.approx(trajectory.times[1])
    assert not torch.isnan(graph.y).any()
    with pytest.raises(ValueError, match="previous frame"):
        initial_graph(trajectory.state(0), transformer_config(history=1))
    mesh = mesh_graph(trajectory.points, trajectory.triangles, trajectory.node_type, MeshConfig())
    with pytest.raises(ValueError, match="velocities must be"):
        frame_graph(mesh, torch.zeros(1, 3, 2), None)


def test_a_larger_model_step_skips_stored_frames(trajectory) -> None:
    config = transformer_config(history=1).replace(frame_stride=2)
    (graph,) = trajectory_frames(trajectory, config, [2], ahead=1)
    velocity = graph.x[:, 4:8].reshape(-1, 2, 2)  # frames t, t - 2
    np.testing.assert_allclose(velocity[:, 0].numpy(), trajectory.velocity[2])
    np.testing.assert_allclose(velocity[:, 1].numpy(), trajectory.velocity[0])
    np.testing.assert_allclose(
        graph.y[:, :2].numpy(), trajectory.velocity[4] - trajectory.velocity[2], atol=1e-6
    )
    with pytest.raises(ValueError, match="2 frame"):
        trajectory_frames(trajectory, config, [1])  # needs frame -1
    with pytest.raises(ValueError, match="2 frame"):
        trajectory_frames(trajectory, config, [3])  # needs frame 5 of 5
