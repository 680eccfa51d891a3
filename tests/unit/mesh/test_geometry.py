from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("gmsh")

from scisuite.domains.mesh.geometry import (  # noqa: E402
    ChannelGeometry,
    NodeType,
    Obstacle,
    channel_mesh,
    gmsh_session,
)


@pytest.fixture(scope="module")
def mesh():
    return channel_mesh(ChannelGeometry(centre=(0.3, 0.22), radius=0.04), num_vertices=400)


def _boundary_nodes(triangles: np.ndarray) -> set[int]:
    pairs = np.sort(
        np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), 1
    )
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    return set(unique[counts == 1].ravel().tolist())


def test_vertex_count_near_target(mesh) -> None:
    assert abs(mesh.num_nodes / 400 - 1) <= 0.1
    assert mesh.points.shape == (mesh.num_nodes, 2) and mesh.triangles.shape[1] == 3


def test_triangles_counter_clockwise_and_cover_the_fluid(mesh) -> None:
    tri = mesh.points[mesh.triangles]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    area = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert (area > 0).all()
    # The polygonal cylinder is inscribed in the disk, so the mesh is slightly larger.
    assert area.sum() == pytest.approx(mesh.geometry.area, rel=2e-3)
    assert np.unique(mesh.triangles).size == mesh.num_nodes


def test_node_types_classify_the_boundary(mesh) -> None:
    g = mesh.geometry
    x, y = mesh.points.T
    node_type = mesh.node_type
    eps = 1e-9
    on_boundary = np.zeros(mesh.num_nodes, dtype=bool)
    on_boundary[list(_boundary_nodes(mesh.triangles))] = True
    assert ((node_type != NodeType.NORMAL) == on_boundary).all()

    inflow = node_type == NodeType.INFLOW
    outflow = node_type == NodeType.OUTFLOW
    wall = node_type == NodeType.WALL
    assert inflow.any() and outflow.any() and wall.any()
    assert np.all(x[inflow] < eps) and np.all((y[inflow] > 0) & (y[inflow] < g.height))
    assert np.all(x[outflow] > g.length - eps)
    assert np.all((y[outflow] > 0) & (y[outflow] < g.height))
    corners = [(0, 0), (0, g.height), (g.length, 0), (g.length, g.height)]
    for cx, cy in corners:
        index = int(np.argmin(np.hypot(x - cx, y - cy)))
        assert math.hypot(x[index] - cx, y[index] - cy) < eps
        assert node_type[index] == NodeType.WALL
    on_cylinder = np.abs(np.hypot(x - g.centre[0], y - g.centre[1]) - g.radius) < 1e-6
    assert on_cylinder.sum() >= 8 and np.all(node_type[on_cylinder] == NodeType.WALL)
    assert set(np.unique(node_type).tolist()) == {0, 4, 5, 6}


def test_boundary_edges_name_each_boundary(mesh) -> None:
    g = mesh.geometry
    inlet = mesh.points[mesh.boundary_edges["inlet"]]
    assert np.all(inlet[..., 0] == 0)
    cylinder = mesh.points[mesh.boundary_edges["cylinder"]]
    r = np.hypot(cylinder[..., 0] - g.centre[0], cylinder[..., 1] - g.centre[1])
    assert np.allclose(r, g.radius, atol=1e-6)
    total = sum(len(edges) for edges in mesh.boundary_edges.values())
    assert total == len(_boundary_nodes(mesh.triangles))  # closed boundary loops


def test_refined_at_the_cylinder(mesh) -> None:
    assert mesh.min_edge_length < 0.6 * mesh.mesh_size


def test_meshing_is_deterministic_and_leaves_gmsh_finalised(mesh) -> None:
    import gmsh

    again = channel_mesh(mesh.geometry, num_vertices=400)
    assert np.array_equal(again.points, mesh.points)
    assert np.array_equal(again.triangles, mesh.triangles)
    assert not gmsh.isInitialized()


def test_session_keeps_a_callers_gmsh() -> None:
    import gmsh

    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        with gmsh_session("inner"):
            pass
        assert gmsh.isInitialized()
    finally:
        gmsh.finalize()


def test_session_cleans_up_after_an_error() -> None:
    import gmsh

    with pytest.raises(RuntimeError), gmsh_session():
        raise RuntimeError("boom")
    assert not gmsh.isInitialized()


@pytest.mark.parametrize(
    "centre, radius", [((0.02, 0.2), 0.05), ((0.2, 0.38), 0.05), ((0.2, 0.2), -0.01)]
)
def test_geometry_rejects_a_cylinder_outside_the_channel(centre, radius) -> None:
    with pytest.raises(ValueError, match="circle|radius"):
        ChannelGeometry(centre=centre, radius=radius)


@pytest.mark.parametrize(
    "obstacle",
    [
        Obstacle("ellipse", (0.3, 0.2), 0.06, aspect=0.5, angle=0.7),
        Obstacle("rectangle", (0.3, 0.2), 0.06, aspect=0.6, angle=0.3),
        Obstacle("triangle", (0.3, 0.2), 0.06, aspect=0.8, angle=2.0),
    ],
)
def test_each_obstacle_shape_meshes_with_its_exact_area_and_wall_nodes(obstacle) -> None:
    geometry = ChannelGeometry(obstacles=(obstacle,))
    mesh = channel_mesh(geometry, num_vertices=600)
    tri = mesh.points[mesh.triangles]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    area = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert (area > 0).all()
    assert area.sum() == pytest.approx(geometry.area, rel=2e-3)
    # Nodes on the outline are walls and none lies inside (up to the outline's sampling,
    # ~0.7 mm, far below the ~1 cm elements there).
    distance = geometry.obstacle_distance(mesh.points)
    assert distance.min() > -1e-3
    near = np.abs(distance) < 1e-3
    assert near.sum() > 10 and (mesh.node_type[near] == NodeType.WALL).all()


def test_obstacles_must_not_overlap() -> None:
    a, b = Obstacle("circle", (0.3, 0.2), 0.05), Obstacle("circle", (0.36, 0.2), 0.05)
    with pytest.raises(ValueError, match="apart"):
        ChannelGeometry(obstacles=(a, b))
