"""The mesh domain's in-memory forms and the single-mesh format convention.

:class:`MeshState` (one flow state) and :class:`MeshTrajectory` (a time series on a fixed
mesh) are what every reader produces (2D triangle meshes, SI units). Three inputs:

* **MeshGraphNets-style H5** (:func:`~scisuite.domains.mesh.h5.read_h5_trajectories`): a
  file whose root holds one trajectory, a file with one group per trajectory, or a directory
  of such files (what ``sci data generate cylinder-flow`` writes). Each trajectory has the datasets
  ``mesh_pos [N, 2]``, ``cells [T, 3]``, ``node_type [N, 1]``, ``velocity [F, N, 2]`` and
  ``pressure [F, N, 1]``; the static ones may also carry a leading time axis (``[F, N, 2]``,
  as in converted MeshGraphNets TFRecords), of which the first entry is used. The frame
  spacing is the ``dt`` attribute (0.01 s, MeshGraphNets' CylinderFlow value, when absent)
  and the first frame's time the ``t0`` attribute (default 0). Yields one
  :class:`~scisuite.core.records.Record` per trajectory with a :class:`MeshTrajectory`
  payload, or a :class:`~scisuite.core.records.BadRecord` with the reason when a file or
  group is unusable; the others are still read.
* **XDMF time series** (:func:`~scisuite.domains.mesh.xdmf.read_xdmf_series`,
  ``meshio.xdmf.TimeSeriesReader``): point fields ``velocity`` and ``pressure`` at every step.
* **A single mesh** in any format meshio reads (VTU, VTK, gmsh ``.msh``, ...;
  :func:`read_single_mesh`, here): the initial condition of a rollout (a :class:`MeshState`).

The single-mesh convention (also for XDMF):

* cells: triangles. Quads are split into two triangles along their 0-2 diagonal (the row's
  ``notes`` column says so, and the predicted fields are written on those triangles);
  ``line`` and ``vertex`` cells are read only as boundary tags; any other cell type is an
  error.
* every point belongs to a triangle, and no triangle is degenerate (zero area) or inverted
  (wound against the rest of the mesh): :func:`check_cells`.
* points: 2D, or 3D with one constant ``z`` (dropped).
* point fields (names compared case-insensitively): ``velocity`` with 2 components (3 are
  accepted when the third is zero), ``pressure`` (scalar), and ``node_type`` with
  MeshGraphNets codes 0 normal, 4 inflow, 5 outflow, 6 wall (:class:`NodeType`).
* without a ``node_type`` point field, node types come from boundary tags on ``line``
  cells: either a cell field ``node_type`` with those codes, or gmsh physical groups
  (cell field ``gmsh:physical`` with names in the file's field data) whose names contain
  ``inlet``/``inflow`` (4), ``outlet``/``outflow`` (5) or ``wall``/``cylinder``/
  ``obstacle``/``noslip``/``no_slip`` (6). A node on several boundaries takes the highest
  code, so corners between the inlet (or outlet) and a wall are walls.
* every value must be finite.

During a rollout, inflow nodes keep their initial velocity and wall nodes zero velocity.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import meshio
import numpy as np

from scisuite.core.io import atomic_path
from scisuite.domains.mesh.config import NodeType

#: Node-type codes this domain understands.
KNOWN_NODE_TYPES = frozenset(int(t) for t in NodeType)
#: Cell types read as boundary tags only.
TAG_CELL_TYPES = frozenset({"line", "vertex"})
_TAG_KEYWORDS = (
    (("wall", "cylinder", "obstacle", "noslip", "no_slip"), NodeType.WALL),
    (("outlet", "outflow"), NodeType.OUTFLOW),
    (("inlet", "inflow"), NodeType.INFLOW),
)


class MeshFormatError(ValueError):
    """A mesh input cannot be used; the message says what is wrong and how to fix it."""


def check_finite(name: str, values: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise MeshFormatError(
            f"{where}: {name} has {int(bad.sum())} NaN/inf value(s); "
            "fix or drop those values before using the mesh"
        )


def _check_mesh(points: np.ndarray, triangles: np.ndarray, node_type: np.ndarray, where: str):
    if points.ndim != 2 or points.shape[1] != 2:
        raise MeshFormatError(f"{where}: points must be [N, 2], got shape {points.shape}")
    n = points.shape[0]
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise MeshFormatError(f"{where}: triangles must be [T, 3], got shape {triangles.shape}")
    if len(triangles) == 0:
        raise MeshFormatError(f"{where}: the mesh has no triangles")
    if triangles.min() < 0 or triangles.max() >= n:
        raise MeshFormatError(
            f"{where}: triangle vertex indices must be in [0, {n}), "
            f"got [{triangles.min()}, {triangles.max()}]"
        )
    check_finite("points", points, where)
    check_cells(points, triangles, where)
    if node_type.shape != (n,):
        raise MeshFormatError(f"{where}: node_type must be [{n}], got shape {node_type.shape}")
    unknown = sorted(set(np.unique(node_type).tolist()) - KNOWN_NODE_TYPES)
    if unknown:
        raise MeshFormatError(
            f"{where}: unknown node_type code(s) {unknown}; use MeshGraphNets codes "
            "0 normal, 4 inflow, 5 outflow, 6 wall"
        )


def integer_array(name: str, values: Any, where: str) -> np.ndarray:
    """``values`` as int64; floats must be finite whole numbers (a NaN or 2.5 in a cell list
    or node-type field is an error, not a silently cast index)."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "b" or array.dtype.kind not in "f":
        raise MeshFormatError(f"{where}: {name} must hold integers, got dtype {array.dtype}")
    check_finite(name, array, where)
    if not np.all(array == np.round(array)):
        raise MeshFormatError(f"{where}: {name} must hold whole numbers (integer codes/indices)")
    if array.size and np.abs(array).max() >= 2**62:
        raise MeshFormatError(f"{where}: {name} holds values too large for indices or codes")
    return array.astype(np.int64)


def _first(indices: np.ndarray, count: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:count])
    return shown + (", ..." if len(indices) > count else "")


def check_cells(points: np.ndarray, triangles: np.ndarray, where: str) -> None:
    """Refuse what a flow model cannot be given: nodes no triangle uses (they have no
    neighbours, so the model would move them from nothing), degenerate (zero-area)
    triangles and inverted ones (wound against the rest of the mesh: the mesh folds over
    itself or its vertex order is broken).

    Args:
        points: ``[N, 2]`` finite coordinates.
        triangles: ``[T, 3]`` vertex indices in ``[0, N)``.

    Raises:
        MeshFormatError: naming how many cells or nodes are bad and the first indices.
    """
    used = np.zeros(len(points), dtype=bool)
    used[triangles.ravel()] = True
    isolated = np.flatnonzero(~used)
    if len(isolated):
        raise MeshFormatError(
            f"{where}: {len(isolated)} of {len(points)} point(s) belong to no triangle "
            f"(point indices {_first(isolated)}); a node without cells has no neighbours to "
            "take its flow from: remove the unused points (and their field values) and "
            "renumber the cells"
        )
    corners = points[triangles]  # [T, 3, 2]
    e1 = corners[:, 1] - corners[:, 0]
    e2 = corners[:, 2] - corners[:, 0]
    twice_area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    longest = np.max(np.sum((corners - np.roll(corners, 1, axis=1)) ** 2, axis=2), axis=1)
    # Zero area relative to the triangle's own size (a sliver whose height is below 1e-6
    # of its longest edge counts as degenerate; so does a triangle with a repeated vertex).
    degenerate = np.flatnonzero(np.abs(twice_area) <= 1e-6 * longest)
    if len(degenerate):
        raise MeshFormatError(
            f"{where}: {len(degenerate)} of {len(triangles)} triangle(s) are degenerate "
            f"(zero area: collinear or repeated vertices; cell indices {_first(degenerate)}); "
            "remove or remesh them"
        )
    clockwise = twice_area < 0
    minority = clockwise if 2 * int(clockwise.sum()) <= len(triangles) else ~clockwise
    inverted = np.flatnonzero(minority)
    if len(inverted):
        raise MeshFormatError(
            f"{where}: {len(inverted)} of {len(triangles)} triangle(s) are inverted (wound "
            f"against the rest of the mesh; cell indices {_first(inverted)}): the mesh "
            "folds over itself or those cells list their vertices in the opposite order; "
            "fix their vertex order or remesh"
        )


@dataclass(frozen=True)
class MeshState:
    """One flow state on a 2D triangle mesh (e.g. a rollout's initial condition).

    Attributes:
        points: ``[N, 2]`` float64 vertex coordinates, m.
        triangles: ``[T, 3]`` int64 vertex indices.
        node_type: ``[N]`` int64 MeshGraphNets codes (:class:`NodeType`).
        velocity: ``[N, 2]`` float64, m/s.
        pressure: ``[N]`` float64 (kinematic, m^2/s^2, for the generated data).
        time: simulation time of the state, s, when known.
        notes: what the reader changed that the user should know (e.g. quads split into
            triangles); shown in the ``notes`` column of the prediction row.
    """

    points: np.ndarray
    triangles: np.ndarray
    node_type: np.ndarray
    velocity: np.ndarray
    pressure: np.ndarray
    time: float | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("triangles", "node_type"):
            object.__setattr__(self, name, integer_array(name, getattr(self, name), "mesh state"))
        for name in ("points", "velocity", "pressure"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        _check_mesh(self.points, self.triangles, self.node_type, "mesh state")
        n = self.num_nodes
        if self.velocity.shape != (n, 2):
            raise MeshFormatError(f"velocity must be [{n}, 2], got shape {self.velocity.shape}")
        if self.pressure.shape != (n,):
            raise MeshFormatError(f"pressure must be [{n}], got shape {self.pressure.shape}")
        check_finite("velocity", self.velocity, "mesh state")
        check_finite("pressure", self.pressure, "mesh state")

    @property
    def num_nodes(self) -> int:
        """``N``."""
        return int(self.points.shape[0])


@dataclass(frozen=True)
class MeshTrajectory:
    """A time series of flow states on one fixed 2D triangle mesh.

    Attributes:
        points: ``[N, 2]`` vertex coordinates, m.
        triangles: ``[T, 3]`` int64 vertex indices.
        node_type: ``[N]`` int64 MeshGraphNets codes.
        velocity: ``[F, N, 2]`` float32 or float64, m/s.
        pressure: ``[F, N]`` float32 or float64.
        times: ``[F]`` float64 frame times, s.
        attrs: metadata (generator parameters, solver, versions, ...).
    """

    points: np.ndarray
    triangles: np.ndarray
    node_type: np.ndarray
    velocity: np.ndarray
    pressure: np.ndarray
    times: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("triangles", "node_type"):
            object.__setattr__(self, name, integer_array(name, getattr(self, name), "trajectory"))
        object.__setattr__(self, "times", np.asarray(self.times, dtype=np.float64))
        _check_mesh(np.asarray(self.points), self.triangles, self.node_type, "trajectory")
        n, f = self.num_nodes, len(self.times)
        if self.velocity.shape != (f, n, 2):
            raise MeshFormatError(
                f"velocity must be [frames={f}, nodes={n}, 2], got shape {self.velocity.shape}"
            )
        if self.pressure.shape != (f, n):
            raise MeshFormatError(
                f"pressure must be [frames={f}, nodes={n}], got shape {self.pressure.shape}"
            )
        if f == 0:
            raise MeshFormatError("trajectory has no frames")
        check_finite("velocity", self.velocity, "trajectory")
        check_finite("pressure", self.pressure, "trajectory")

    @property
    def num_nodes(self) -> int:
        """``N``."""
        return int(np.asarray(self.points).shape[0])

    @property
    def num_frames(self) -> int:
        """``F``."""
        return int(len(self.times))

    def state(self, frame: int) -> MeshState:
        """Frame ``frame`` as a :class:`MeshState`."""
        return MeshState(
            points=self.points,
            triangles=self.triangles,
            node_type=self.node_type,
            velocity=self.velocity[frame],
            pressure=self.pressure[frame],
            time=float(self.times[frame]),
        )


# -- single meshes and XDMF ---------------------------------------------------------------


def field_named(data: Mapping[str, Any], name: str) -> Any | None:
    for key, value in data.items():
        if key.lower() == name:
            return value
    return None


def points_2d(points: np.ndarray, where: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise MeshFormatError(f"{where}: points must be [N, 2] or [N, 3], got {points.shape}")
    check_finite("points", points, where)
    if points.shape[1] == 3:
        z = points[:, 2]
        scale = max(float(np.ptp(points[:, :2], axis=0).max()), 1e-300)
        if float(np.ptp(z)) > 1e-9 * scale:
            raise MeshFormatError(
                f"{where}: the mesh is not planar (z varies over {np.ptp(z):.3g}); only 2D "
                "meshes (or 3D points with one constant z) are supported"
            )
        points = points[:, :2]
    return np.ascontiguousarray(points)


def triangle_cells(cells: Iterable[Any], where: str) -> tuple[np.ndarray, list[int]]:
    """Triangles from meshio cell blocks; also the indices of the tag (line) blocks."""
    triangles: list[np.ndarray] = []
    unsupported: list[str] = []
    for block in cells:
        data = np.asarray(block.data, dtype=np.int64)
        if block.type == "triangle":
            triangles.append(data)
        elif block.type == "quad":
            triangles.extend([data[:, [0, 1, 2]], data[:, [0, 2, 3]]])
        elif block.type not in TAG_CELL_TYPES:
            unsupported.append(block.type)
    if unsupported:
        raise MeshFormatError(
            f"{where}: unsupported cell type(s) {sorted(set(unsupported))}; only 2D linear "
            "triangles (and quads, split into triangles) are supported: convert the mesh to "
            "triangles, e.g. with gmsh or meshio"
        )
    if not triangles:
        raise MeshFormatError(f"{where}: the mesh has no triangle cells")
    return np.concatenate(triangles), [
        index for index, block in enumerate(cells) if block.type == "line"
    ]


def _tag_type(name: str) -> NodeType | None:
    lowered = name.lower()
    for keywords, code in _TAG_KEYWORDS:
        if any(word in lowered for word in keywords):
            return code
    return None


def _node_type_from_tags(
    n: int,
    cells: list[Any],
    line_blocks: list[int],
    cell_data: Mapping[str, list[np.ndarray]],
    field_data: Mapping[str, Any],
    where: str,
) -> np.ndarray | None:
    if not line_blocks:
        return None
    node_type = np.zeros(n, dtype=np.int64)
    codes_field = field_named(cell_data, "node_type")
    if codes_field is not None:
        for index in line_blocks:
            codes = np.asarray(codes_field[index]).reshape(-1).astype(np.int64)
            for edge, code in zip(np.asarray(cells[index].data), codes, strict=True):
                node_type[edge] = np.maximum(node_type[edge], code)
        return node_type
    physical = cell_data.get("gmsh:physical")
    if physical is None:
        return None
    names = {
        int(value[0]): name
        for name, value in field_data.items()
        if np.size(value) >= 2 and int(np.asarray(value).ravel()[1]) == 1
    }
    unknown: set[str] = set()
    for index in line_blocks:
        tags = np.asarray(physical[index]).reshape(-1).astype(np.int64)
        for tag in np.unique(tags):
            name = names.get(int(tag), str(tag))
            code = _tag_type(name)
            if code is None:
                unknown.add(name)
                continue
            nodes = np.asarray(cells[index].data)[tags == tag].ravel()
            node_type[nodes] = np.maximum(node_type[nodes], int(code))
    if unknown:
        raise MeshFormatError(
            f"{where}: boundary tag(s) {sorted(unknown)} are not recognised; name the "
            "physical groups inlet/inflow, outlet/outflow or wall/cylinder/obstacle, or add "
            "a node_type point field (0 normal, 4 inflow, 5 outflow, 6 wall)"
        )
    return node_type


def resolve_node_type(
    n: int,
    point_data: Mapping[str, Any],
    cells: list[Any],
    line_blocks: list[int],
    cell_data: Mapping[str, list[np.ndarray]],
    field_data: Mapping[str, Any],
    where: str,
) -> np.ndarray:
    raw = field_named(point_data, "node_type")
    if raw is not None:
        values = np.asarray(raw, dtype=np.float64).reshape(n, -1)
        if values.shape[1] != 1:
            raise MeshFormatError(f"{where}: node_type must be one value per point")
        check_finite("node_type", values, where)
        if not np.all(values == np.round(values)):
            raise MeshFormatError(f"{where}: node_type must hold integer codes")
        return values[:, 0].astype(np.int64)
    inferred = _node_type_from_tags(n, cells, line_blocks, cell_data, field_data, where)
    if inferred is None:
        raise MeshFormatError(
            f"{where}: no node types: add a point field 'node_type' (0 normal, 4 inflow, "
            "5 outflow, 6 wall) or tag the boundary with line cells (gmsh physical groups "
            f"named inlet/outlet/wall); point fields found: {sorted(point_data)}"
        )
    return inferred


def flow_fields(point_data: Mapping[str, Any], n: int, where: str):
    raw_velocity = field_named(point_data, "velocity")
    raw_pressure = field_named(point_data, "pressure")
    missing = [
        name
        for name, raw in (("velocity", raw_velocity), ("pressure", raw_pressure))
        if raw is None
    ]
    if missing:
        raise MeshFormatError(
            f"{where}: missing point field(s) {missing} (found {sorted(point_data)}); the "
            "initial condition needs point fields 'velocity' (2 components, m/s) and "
            "'pressure' (scalar)"
        )
    velocity = np.asarray(raw_velocity, dtype=np.float64)
    if velocity.ndim != 2 or velocity.shape[0] != n or velocity.shape[1] not in (2, 3):
        raise MeshFormatError(
            f"{where}: velocity must have 2 components per point ([{n}, 2]), got shape "
            f"{velocity.shape}"
        )
    check_finite("velocity", velocity, where)
    if velocity.shape[1] == 3:
        if np.any(velocity[:, 2] != 0):
            raise MeshFormatError(
                f"{where}: velocity has a non-zero third component; only 2D flow is supported"
            )
        velocity = velocity[:, :2]
    pressure = np.asarray(raw_pressure, dtype=np.float64)
    if pressure.ndim == 2 and pressure.shape[1] == 1:
        pressure = pressure[:, 0]
    if pressure.shape != (n,):
        raise MeshFormatError(
            f"{where}: pressure must be one value per point ([{n}]), got shape {pressure.shape}"
        )
    check_finite("pressure", pressure, where)
    return velocity, pressure


def read_single_mesh(path: str | Path) -> MeshState:
    """Read one 2D flow state from any mesh file meshio reads (VTU, VTK, .msh, ...).

    See the module docstring for the convention (triangles; point fields ``velocity``,
    ``pressure``, ``node_type`` or boundary tags; finite values).

    Raises:
        FileNotFoundError: no such file.
        MeshFormatError: unreadable file, unsupported cells, missing or non-finite fields.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"mesh file {str(path)!r} does not exist")
    where = path.name
    # meshio prints why a reader failed (to stdout, which may be the CSV output, and to
    # stderr) before raising SystemExit; keep that text for the error row instead.
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            mesh = meshio.read(path)
    # meshio raises many types for unreadable input, and SystemExit when no reader for the
    # suffix can parse the file.
    except (Exception, SystemExit) as err:
        detail = " ".join(said.getvalue().split()) or f"{type(err).__name__}: {err}"
        raise MeshFormatError(
            f"{where}: meshio could not read the file ({detail[:300]}); use a format meshio "
            "reads (e.g. .vtu, .vtk, .msh, .xdmf)"
        ) from err
    points = points_2d(mesh.points, where)
    triangles, line_blocks = triangle_cells(mesh.cells, where)
    n = len(points)
    velocity, pressure = flow_fields(mesh.point_data, n, where)
    node_type = resolve_node_type(
        n, mesh.point_data, mesh.cells, line_blocks, mesh.cell_data, mesh.field_data, where
    )
    quads = sum(len(block.data) for block in mesh.cells if block.type == "quad")
    notes = (f"{quads} quad cell(s) split into {2 * quads} triangles",) if quads else ()
    try:
        return MeshState(points, triangles, node_type, velocity, pressure, notes=notes)
    except MeshFormatError as err:
        raise MeshFormatError(f"{where}: {err}") from err


def write_vtu(path: str | Path, state: MeshState) -> Path:
    """Write a :class:`MeshState` as a VTU single-mesh input, atomically.

    Point fields: ``velocity [N, 2]``, ``pressure [N]``, ``node_type [N]`` (int32); cells:
    triangles. :func:`read_single_mesh` reads it back unchanged.
    """
    path = Path(path)
    mesh = meshio.Mesh(
        np.c_[state.points, np.zeros(state.num_nodes)],  # VTU stores 3D points
        [("triangle", state.triangles)],
        point_data={
            "velocity": state.velocity,
            "pressure": state.pressure,
            "node_type": state.node_type.astype(np.int32),
        },
    )
    with atomic_path(path) as tmp:
        meshio.write(tmp, mesh, file_format="vtu")
    return path
