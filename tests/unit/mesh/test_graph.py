from __future__ import annotations

import numpy as np
import pytest
import torch

from scisuite.core.encodings import relative_position_features
from scisuite.domains.mesh.graph import edges_from_triangles, nearest_node, strouhal_number

SQUARE = np.array([[0, 1, 2], [0, 2, 3]])


def test_edges_of_two_triangles_are_bidirectional_unique_and_sorted() -> None:
    edge_index = edges_from_triangles(SQUARE)
    assert edge_index.dtype == torch.int64 and edge_index.shape == (2, 10)
    pairs = set(map(tuple, edge_index.t().tolist()))
    assert len(pairs) == 10
    assert all((j, i) in pairs for i, j in pairs)
    assert all(i != j for i, j in pairs)
    assert {(0, 2), (2, 0)} <= pairs and (1, 3) not in pairs
    assert edge_index.t().tolist() == sorted(edge_index.t().tolist())


def test_edges_accept_tensors_and_feed_relative_positions() -> None:
    edge_index = edges_from_triangles(torch.as_tensor(SQUARE))
    assert torch.equal(edge_index, edges_from_triangles(SQUARE))
    pos = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    features = relative_position_features(pos, edge_index)
    assert features.shape == (10, 3)
    assert torch.allclose(features[:, 2], features[:, :2].norm(dim=1))


def test_edges_of_a_channel_mesh_obey_euler() -> None:
    pytest.importorskip("gmsh")
    from scisuite.domains.mesh.geometry import channel_mesh

    mesh = channel_mesh(num_vertices=300)
    edge_index = edges_from_triangles(mesh.triangles, num_nodes=mesh.num_nodes)
    # A plane region with one hole has Euler characteristic V - E + T = 0.
    assert edge_index.shape[1] // 2 == mesh.num_nodes + len(mesh.triangles)
    assert int(edge_index.max()) == mesh.num_nodes - 1


@pytest.mark.parametrize(
    "triangles, message",
    [(np.array([[0, 1]]), r"\[T, 3\]"), (np.array([[0, 1, -1]]), "non-negative")],
)
def test_edges_reject_bad_triangles(triangles, message) -> None:
    with pytest.raises(ValueError, match=message):
        edges_from_triangles(triangles)


def test_edges_check_num_nodes() -> None:
    with pytest.raises(ValueError, match="num_nodes"):
        edges_from_triangles(SQUARE, num_nodes=3)


def test_nearest_node() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.4, 0.2]])
    assert nearest_node(points, (0.5, 0.1)) == 2


@pytest.mark.parametrize("frequency", [2.0, 3.0, 4.7])
def test_strouhal_recovers_a_known_frequency(frequency) -> None:
    rng = np.random.default_rng(0)
    dt, diameter, speed = 0.01, 0.1, 1.0
    t = np.arange(500) * dt
    signal = 0.3 + np.sin(2 * np.pi * frequency * t + 0.4) + 0.05 * rng.normal(size=t.size)
    st = strouhal_number(signal, dt, diameter, speed)
    assert st == pytest.approx(frequency * diameter / speed, rel=0.01)


@pytest.mark.parametrize(
    "signal, message",
    [
        (np.ones(100), "does not oscillate"),
        (np.arange(4.0), "at least 8"),
        (np.full(20, np.nan), "NaN"),
    ],
)
def test_strouhal_rejects_unusable_signals(signal, message) -> None:
    with pytest.raises(ValueError, match=message):
        strouhal_number(signal, 0.01, 0.1, 1.0)
