"""gmsh meshes of the CylinderFlow geometry: a channel with one or more obstacles.

The domain is the rectangle ``[0, length] x [0, height]`` (default ``[0, 1.6] x [0, 0.41]``
m, the DFG benchmark channel used by MeshGraphNets' CylinderFlow) minus the obstacles
(:mod:`~scisuite.domains.mesh.obstacles`: a circular cylinder by default; ellipses,
rectangles and triangles too). It is meshed
with linear (P1) triangles by gmsh's Frontal-Delaunay algorithm; the element size is
smallest on the obstacles (``mesh_size / cylinder_refinement``) and grows linearly to
``mesh_size`` at ``grading_distance`` from it. ``mesh_size`` is chosen so that the mesh has
about ``num_vertices`` vertices (one correction remesh when the first try is off by more
than ``tolerance``).

Node types follow MeshGraphNets (:class:`NodeType`): inlet ``x = 0`` is INFLOW, outlet
``x = length`` is OUTFLOW, the channel walls ``y = 0`` / ``y = height`` and the cylinder are
WALL, everything else NORMAL. The obstacles' boundary keeps the name ``"cylinder"`` whatever
their shape (the solver and the files name it so). The four channel corners belong to two
boundaries; they are WALL (the parabolic inflow profile and the no-slip condition both give
zero velocity there, so a learned simulator can hold them at zero).

gmsh keeps one global C++ state per process. :func:`gmsh_session` initialises it (unless the
caller already did), works in a fresh model, and always removes that model and finalises
what it initialised; a lock serialises sessions between threads of one process. Separate
processes (``ProcessPoolExecutor``) each have their own gmsh.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scisuite.domains.mesh.config import NodeType
from scisuite.domains.mesh.obstacles import Obstacle, inside_polygon

#: DFG / CylinderFlow channel, metres.
CHANNEL_LENGTH = 1.6
CHANNEL_HEIGHT = 0.41
#: Boundary names, in the order used for :attr:`ChannelMesh.boundary_edges`.
BOUNDARY_NAMES = ("inlet", "outlet", "walls", "cylinder")

# gmsh's state is process-global; this lock only stops two threads meshing at once.
_GMSH_LOCK = threading.Lock()
# gmsh element type 2 = 3-node triangle, 1 = 2-node line.
_GMSH_TRIANGLE = 2
_GMSH_LINE = 1


@dataclass(frozen=True)
class ChannelGeometry:
    """A channel ``[0, length] x [0, height]`` with obstacles removed.

    Attributes:
        centre: centre ``(x, y)`` of the default circular cylinder, m (used when
            ``obstacles`` is empty).
        radius: its radius, m.
        length: channel length, m.
        height: channel height ``H``, m.
        obstacles: the obstacles; empty means one circle of ``radius`` at ``centre``.
    """

    centre: tuple[float, float] = (0.2, 0.2)
    radius: float = 0.05
    length: float = CHANNEL_LENGTH
    height: float = CHANNEL_HEIGHT
    obstacles: tuple[Obstacle, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "centre", tuple(float(c) for c in self.centre))
        if not (self.length > 0 and self.height > 0):
            raise ValueError(f"channel size must be positive, got {self.length} x {self.height}")
        if not self.obstacles:
            if self.radius <= 0:
                raise ValueError(f"cylinder radius must be positive, got {self.radius}")
            object.__setattr__(self, "obstacles", (Obstacle("circle", self.centre, self.radius),))
        else:
            object.__setattr__(self, "obstacles", tuple(self.obstacles))
            first = self.obstacles[0]
            object.__setattr__(self, "centre", first.centre)
            object.__setattr__(self, "radius", first.size)
        for obstacle in self.obstacles:
            # At least 10% of its size of fluid between an obstacle and every boundary.
            gap = 0.1 * obstacle.size
            x, y = obstacle.outline().T
            if not (
                x.min() > gap
                and x.max() < self.length - gap
                and y.min() > gap
                and y.max() < self.height - gap
            ):
                raise ValueError(
                    f"{obstacle.shape} (centre {obstacle.centre}, size {obstacle.size}) must "
                    f"lie inside the channel [0, {self.length}] x [0, {self.height}] with a "
                    f"gap of {gap:.3g} m"
                )
        for i, a in enumerate(self.obstacles):
            for b in self.obstacles[i + 1 :]:
                distance = math.dist(a.centre, b.centre)
                if distance < 1.1 * (a.size + b.size):
                    raise ValueError(
                        f"obstacles at {a.centre} and {b.centre} are {distance:.3g} m apart; "
                        f"keep at least {1.1 * (a.size + b.size):.3g} m (1.1x their sizes)"
                    )

    @property
    def area(self) -> float:
        """Fluid area, m^2."""
        return self.length * self.height - sum(o.area for o in self.obstacles)

    @property
    def frontal_height(self) -> float:
        """The largest obstacle's extent across the flow, m (the length scale of Re, St)."""
        return max(o.frontal_height for o in self.obstacles)

    def obstacle_distance(self, points: np.ndarray) -> np.ndarray:
        """``[M]`` distance of ``points [M, 2]`` to the nearest obstacle boundary, m; negative
        inside an obstacle (boundary polygons, so exact for polygons and within a fraction
        of a percent of the size for curved shapes)."""
        from scipy.spatial import cKDTree

        outlines = [o.outline() for o in self.obstacles]
        dense = np.concatenate([_densify(outline, 512) for outline in outlines])
        distance, _ = cKDTree(dense).query(points)
        solid = np.zeros(len(points), dtype=bool)
        for outline in outlines:
            solid |= inside_polygon(points, outline)
        return np.where(solid, -distance, distance)


def _densify(polygon: np.ndarray, count: int) -> np.ndarray:
    """About ``count`` points evenly spaced along a closed polygon."""
    following = np.roll(polygon, -1, axis=0)
    lengths = np.linalg.norm(following - polygon, axis=1)
    per_side = np.maximum(1, np.round(count * lengths / lengths.sum()).astype(int))
    pieces = [
        a + (b - a) * np.linspace(0.0, 1.0, k, endpoint=False)[:, None]
        for a, b, k in zip(polygon, following, per_side, strict=True)
    ]
    return np.concatenate(pieces)


@dataclass(frozen=True)
class ChannelMesh:
    """A P1 triangle mesh of a :class:`ChannelGeometry`.

    Attributes:
        points: ``[N, 2]`` float64 vertex coordinates, m.
        triangles: ``[T, 3]`` int64 vertex indices, counter-clockwise.
        node_type: ``[N]`` int64 :class:`NodeType` codes.
        boundary_edges: ``{"inlet" | "outlet" | "walls" | "cylinder": [F, 2]}`` int64 vertex
            pairs of the boundary segments.
        geometry: what was meshed.
        mesh_size: far-field element size used, m.
    """

    points: np.ndarray
    triangles: np.ndarray
    node_type: np.ndarray
    boundary_edges: dict[str, np.ndarray] = field(repr=False)
    geometry: ChannelGeometry
    mesh_size: float

    @property
    def num_nodes(self) -> int:
        """Number of vertices ``N``."""
        return int(self.points.shape[0])

    @property
    def min_edge_length(self) -> float:
        """Shortest triangle edge, m (sets the explicit time-step limit of the solver)."""
        tri = self.points[self.triangles]
        edges = tri - np.roll(tri, 1, axis=1)
        return float(np.sqrt((edges**2).sum(-1)).min())


@contextlib.contextmanager
def gmsh_session(model_name: str = "scisuite", verbose: bool = False) -> Iterator[Any]:
    """Use gmsh safely: yields the ``gmsh`` module with a fresh current model.

    Initialises gmsh if it is not initialised yet (without reading user config files and
    without installing a SIGINT handler, so it works in worker threads/processes), and
    finalises it afterwards; if the caller had already initialised gmsh, only the model
    created here is removed. Raises ``ImportError`` with the install command when gmsh is
    missing.
    """
    try:
        import gmsh
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "meshing needs gmsh: pip install 'scisuite[cfd]' (or pip install gmsh)"
        ) from err
    with _GMSH_LOCK:
        owner = not gmsh.isInitialized()
        if owner:
            gmsh.initialize(readConfigFiles=False, interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
            gmsh.option.setNumber("General.Verbosity", 5 if verbose else 1)
            gmsh.model.add(model_name)
            try:
                yield gmsh
            finally:
                gmsh.model.remove()
        finally:
            if owner:
                gmsh.finalize()


def _size_integral(
    geometry: ChannelGeometry, cylinder_refinement: float, grading_distance: float
) -> float:
    """``∫ g(x)^-2 dx`` over the fluid, where the element size is ``mesh_size * g(x)``."""
    nx, ny = 800, 205
    xs = (np.arange(nx) + 0.5) * geometry.length / nx
    ys = (np.arange(ny) + 0.5) * geometry.height / ny
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    dist = geometry.obstacle_distance(np.stack([gx.ravel(), gy.ravel()], axis=1))
    dist = dist.reshape(gx.shape)
    fluid = dist > 0
    ratio = 1.0 / cylinder_refinement
    g = ratio + (1.0 - ratio) * np.clip(dist / grading_distance, 0.0, 1.0)
    cell = (geometry.length / nx) * (geometry.height / ny)
    return float((g[fluid] ** -2).sum() * cell)


def _mesh_size_for(
    num_vertices: int, geometry: ChannelGeometry, cylinder_refinement: float, grading: float
) -> float:
    # A mesh of equilateral triangles of side s has 2 / (sqrt(3) s^2) vertices per unit area.
    integral = _size_integral(geometry, cylinder_refinement, grading)
    return math.sqrt(2.0 * integral / (math.sqrt(3.0) * num_vertices))


def _classify_curve(gmsh: Any, tag: int, geometry: ChannelGeometry) -> str:
    xmin, ymin, _, xmax, ymax, _ = gmsh.model.getBoundingBox(1, tag)
    eps = 1e-6 * max(geometry.length, geometry.height)
    if xmax < eps:
        return "inlet"
    if xmin > geometry.length - eps:
        return "outlet"
    if ymax < eps or ymin > geometry.height - eps:
        return "walls"
    return "cylinder"


def _build_and_mesh(
    gmsh: Any,
    geometry: ChannelGeometry,
    mesh_size: float,
    cylinder_refinement: float,
    grading_distance: float,
) -> ChannelMesh:
    occ = gmsh.model.occ
    rect = occ.addRectangle(0.0, 0.0, 0.0, geometry.length, geometry.height)
    tools = [(2, obstacle.add_to(occ)) for obstacle in geometry.obstacles]
    (surface,), _ = occ.cut([(2, rect)], tools)
    occ.synchronize()

    curves: dict[str, list[int]] = {name: [] for name in BOUNDARY_NAMES}
    for _, tag in gmsh.model.getBoundary([surface], oriented=False):
        curves[_classify_curve(gmsh, abs(tag), geometry)].append(abs(tag))
    missing = [name for name, tags in curves.items() if not tags]
    if missing:
        raise RuntimeError(f"gmsh geometry lost boundaries {missing}; report this as a bug")
    for name, tags in curves.items():
        gmsh.model.setPhysicalName(1, gmsh.model.addPhysicalGroup(1, tags), name)
    gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, [surface[1]]), "fluid")

    field_api = gmsh.model.mesh.field
    distance = field_api.add("Distance")
    field_api.setNumbers(distance, "CurvesList", curves["cylinder"])
    field_api.setNumber(distance, "Sampling", 200)
    threshold = field_api.add("Threshold")
    field_api.setNumber(threshold, "InField", distance)
    field_api.setNumber(threshold, "SizeMin", mesh_size / cylinder_refinement)
    field_api.setNumber(threshold, "SizeMax", mesh_size)
    field_api.setNumber(threshold, "DistMin", 0.0)
    field_api.setNumber(threshold, "DistMax", grading_distance)
    field_api.setAsBackgroundMesh(threshold)
    for option, value in (
        ("Mesh.MeshSizeExtendFromBoundary", 0),
        ("Mesh.MeshSizeFromPoints", 0),
        ("Mesh.MeshSizeFromCurvature", 0),
        ("Mesh.Algorithm", 6),  # Frontal-Delaunay: well-shaped triangles
        ("Mesh.ElementOrder", 1),
        ("General.NumThreads", 1),  # deterministic
    ):
        gmsh.option.setNumber(option, value)
    gmsh.model.mesh.generate(2)

    _, tri_nodes = gmsh.model.mesh.getElementsByType(_GMSH_TRIANGLE, surface[1])
    tri_tags = np.asarray(tri_nodes, dtype=np.int64).reshape(-1, 3)
    used = np.unique(tri_tags)
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    coords = np.asarray(coords).reshape(-1, 3)
    lookup = np.full(int(np.max(node_tags)) + 1, -1, dtype=np.int64)
    lookup[np.asarray(node_tags, dtype=np.int64)] = np.arange(len(node_tags))
    points = coords[lookup[used], :2].astype(np.float64)
    index = np.full(int(used.max()) + 1, -1, dtype=np.int64)
    index[used] = np.arange(len(used))
    triangles = index[tri_tags]

    tri = points[triangles]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    signed = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    triangles[signed < 0] = triangles[signed < 0][:, [0, 2, 1]]

    boundary_edges: dict[str, np.ndarray] = {}
    for name, tags in curves.items():
        pairs = []
        for tag in tags:
            _, line_nodes = gmsh.model.mesh.getElementsByType(_GMSH_LINE, tag)
            pairs.append(np.asarray(line_nodes, dtype=np.int64).reshape(-1, 2))
        boundary_edges[name] = index[np.concatenate(pairs)]

    node_type = np.full(len(points), int(NodeType.NORMAL), dtype=np.int64)
    node_type[boundary_edges["inlet"].ravel()] = NodeType.INFLOW
    node_type[boundary_edges["outlet"].ravel()] = NodeType.OUTFLOW
    node_type[boundary_edges["walls"].ravel()] = NodeType.WALL  # corners become walls
    node_type[boundary_edges["cylinder"].ravel()] = NodeType.WALL
    return ChannelMesh(
        points=points,
        triangles=triangles,
        node_type=node_type,
        boundary_edges=boundary_edges,
        geometry=geometry,
        mesh_size=mesh_size,
    )


def channel_mesh(
    geometry: ChannelGeometry | None = None,
    num_vertices: int = 1800,
    cylinder_refinement: float = 3.0,
    grading_distance: float = 0.2,
    tolerance: float = 0.1,
    verbose: bool = False,
) -> ChannelMesh:
    """Mesh a channel with a cylinder with about ``num_vertices`` vertices.

    Args:
        geometry: channel and cylinder; default is the DFG benchmark (centre (0.2, 0.2),
            radius 0.05, channel 1.6 x 0.41 m).
        num_vertices: target vertex count (e.g. 1,800 for CylinderFlow-like training data,
            300,000 for the inference-scale benchmark).
        cylinder_refinement: far-field element size / element size on the cylinder (>= 1).
        grading_distance: distance from the cylinder over which the size grows to the far
            field size, m.
        tolerance: accepted relative error of the vertex count; one remesh with a corrected
            size is done when the first mesh misses it (the result is returned either way).
        verbose: print gmsh's log.

    Returns:
        the mesh (P1 triangles, node types, boundary edges).
    """
    geometry = geometry or ChannelGeometry()
    if num_vertices < 50:
        raise ValueError(f"num_vertices must be at least 50, got {num_vertices}")
    if cylinder_refinement < 1:
        raise ValueError(f"cylinder_refinement must be >= 1, got {cylinder_refinement}")
    if grading_distance <= 0:
        raise ValueError(f"grading_distance must be positive, got {grading_distance}")
    size = _mesh_size_for(num_vertices, geometry, cylinder_refinement, grading_distance)
    mesh: ChannelMesh | None = None
    for _ in range(2):
        with gmsh_session("channel", verbose=verbose) as gmsh:
            mesh = _build_and_mesh(gmsh, geometry, size, cylinder_refinement, grading_distance)
        if abs(mesh.num_nodes / num_vertices - 1.0) <= tolerance:
            break
        size *= math.sqrt(mesh.num_nodes / num_vertices)
    assert mesh is not None
    return mesh
