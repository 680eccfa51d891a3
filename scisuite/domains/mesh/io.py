"""Mesh readers and writers: MeshGraphNets-style H5, XDMF time series, single meshes.

Three inputs, one in-memory form (2D triangle meshes, SI units):

* **MeshGraphNets-style H5** (:func:`read_h5_trajectories`): a file whose root holds one
  trajectory, a file with one group per trajectory, or a directory of such files (what
  ``sci data generate cylinder-flow`` writes). Each trajectory has the datasets
  ``mesh_pos [N, 2]``, ``cells [T, 3]``, ``node_type [N, 1]``, ``velocity [F, N, 2]`` and
  ``pressure [F, N, 1]``; the static ones may also carry a leading time axis (``[F, N, 2]``,
  as in converted MeshGraphNets TFRecords), of which the first entry is used. The frame
  spacing is the ``dt`` attribute (0.01 s, MeshGraphNets' CylinderFlow value, when absent)
  and the first frame's time the ``t0`` attribute (default 0). Yields one
  :class:`~scisuite.core.records.Record` per trajectory with a :class:`MeshTrajectory`
  payload, or a :class:`~scisuite.core.records.BadRecord` with the reason when a file or
  group is unusable; the others are still read.
* **XDMF time series** (:func:`read_xdmf_series`, ``meshio.xdmf.TimeSeriesReader``): point
  fields ``velocity`` and ``pressure`` at every step.
* **A single mesh** in any format meshio reads (VTU, VTK, gmsh ``.msh``, ...;
  :func:`read_single_mesh`): the initial condition of a rollout, as a :class:`MeshState`.

The single-mesh convention (also for XDMF):

* cells: triangles. Quads are split into two triangles along their 0-2 diagonal; ``line``
  and ``vertex`` cells are read only as boundary tags; any other cell type is an error.
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
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import meshio
import numpy as np

from scisuite.core.io import atomic_path
from scisuite.core.records import BadRecord, Record
from scisuite.domains.mesh.geometry import NodeType

RecordStream = Iterator[Record | BadRecord]

#: Frame spacing assumed for H5 trajectories without a ``dt`` attribute, s.
DEFAULT_DT = 0.01
#: Datasets of one MeshGraphNets-style trajectory.
H5_FIELDS = ("mesh_pos", "cells", "node_type", "velocity", "pressure")
H5_SUFFIXES = (".h5", ".hdf5")
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


def _check_finite(name: str, values: np.ndarray, where: str) -> None:
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
    if node_type.shape != (n,):
        raise MeshFormatError(f"{where}: node_type must be [{n}], got shape {node_type.shape}")
    unknown = sorted(set(np.unique(node_type).tolist()) - KNOWN_NODE_TYPES)
    if unknown:
        raise MeshFormatError(
            f"{where}: unknown node_type code(s) {unknown}; use MeshGraphNets codes "
            "0 normal, 4 inflow, 5 outflow, 6 wall"
        )
    _check_finite("points", points, where)


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
    """

    points: np.ndarray
    triangles: np.ndarray
    node_type: np.ndarray
    velocity: np.ndarray
    pressure: np.ndarray
    time: float | None = None

    def __post_init__(self) -> None:
        for name, dtype in (
            ("points", np.float64),
            ("triangles", np.int64),
            ("node_type", np.int64),
            ("velocity", np.float64),
            ("pressure", np.float64),
        ):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        _check_mesh(self.points, self.triangles, self.node_type, "mesh state")
        n = self.num_nodes
        if self.velocity.shape != (n, 2):
            raise MeshFormatError(f"velocity must be [{n}, 2], got shape {self.velocity.shape}")
        if self.pressure.shape != (n,):
            raise MeshFormatError(f"pressure must be [{n}], got shape {self.pressure.shape}")
        _check_finite("velocity", self.velocity, "mesh state")
        _check_finite("pressure", self.pressure, "mesh state")

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
        object.__setattr__(self, "triangles", np.asarray(self.triangles, dtype=np.int64))
        object.__setattr__(self, "node_type", np.asarray(self.node_type, dtype=np.int64))
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
        _check_finite("velocity", self.velocity, "trajectory")
        _check_finite("pressure", self.pressure, "trajectory")

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


# -- MeshGraphNets-style H5 -------------------------------------------------------------------


def _static(data: np.ndarray, trailing_dims: int) -> np.ndarray:
    """Drop a leading time axis of a static field (converted MeshGraphNets data has one)."""
    return data[0] if data.ndim == trailing_dims + 1 else data


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _trajectory_from_group(group: h5py.Group, where: str) -> MeshTrajectory:
    missing = [name for name in H5_FIELDS if name not in group]
    if missing:
        raise MeshFormatError(
            f"{where}: missing dataset(s) {missing}; a MeshGraphNets-style trajectory needs "
            f"{list(H5_FIELDS)}"
        )
    points = _static(np.asarray(group["mesh_pos"][()]), 2)
    cells = _static(np.asarray(group["cells"][()]), 2)
    node_type = np.asarray(group["node_type"][()])
    if node_type.ndim == 3:
        node_type = node_type[0]
    if node_type.ndim == 2 and node_type.shape[1] == 1:
        node_type = node_type[:, 0]
    velocity = np.asarray(group["velocity"][()])
    pressure = np.asarray(group["pressure"][()])
    if pressure.ndim == 3 and pressure.shape[2] == 1:
        pressure = pressure[..., 0]
    attrs = {key: _attr_value(value) for key, value in group.attrs.items()}
    dt = float(attrs.get("dt", DEFAULT_DT))
    t0 = float(attrs.get("t0", 0.0))
    if velocity.ndim != 3:
        raise MeshFormatError(f"{where}: velocity must be [F, N, 2], got shape {velocity.shape}")
    times = t0 + dt * np.arange(velocity.shape[0])
    try:
        return MeshTrajectory(
            points=points.astype(np.float64),
            triangles=cells,
            node_type=node_type,
            velocity=velocity,
            pressure=pressure,
            times=times,
            attrs=attrs,
        )
    except MeshFormatError as err:
        raise MeshFormatError(f"{where}: {err}") from err


def _h5_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in H5_SUFFIXES)
    # Skip the heavy-data companions of XDMF files (same stem): they are not trajectories.
    return [p for p in files if not p.with_suffix(".xdmf").exists()]


def _records_from_file(path: Path, id_prefix: str) -> RecordStream:
    source = str(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        yield BadRecord(
            id=path.stem, reason=f"cannot open H5 file {path.name}: {err}", source=source
        )
        return
    with handle:
        if "mesh_pos" in handle:
            entries: list[tuple[str, h5py.Group]] = [(path.stem, handle)]
        else:
            entries = [
                (f"{id_prefix}{name}", handle[name])
                for name in sorted(handle)
                if isinstance(handle[name], h5py.Group)
            ]
            if not entries:
                yield BadRecord(
                    id=path.stem,
                    reason=(
                        f"{path.name} holds neither a trajectory (mesh_pos, cells, ...) at its "
                        "root nor groups of trajectories"
                    ),
                    source=source,
                )
                return
        for number, (record_id, group) in enumerate(entries, start=1):
            try:
                trajectory = _trajectory_from_group(group, f"{path.name}:{group.name}")
            except (MeshFormatError, OSError, KeyError, ValueError) as err:
                yield BadRecord(id=record_id, reason=str(err), line=number, source=source)
            else:
                yield Record(id=record_id, payload=trajectory, line=number, source=source)


def read_h5_trajectories(path: str | Path) -> RecordStream:
    """Stream MeshGraphNets-style trajectories from an H5 file or a directory of them.

    Ids: a file whose root is one trajectory is named by its stem (``traj_00000``); groups
    of a multi-trajectory file by their name (``"0"``, ``"1"``, ... or whatever the file
    uses), prefixed with ``"<stem>/"`` when read from a directory. Only one trajectory is
    held in memory at a time.

    Args:
        path: ``.h5``/``.hdf5`` file or a directory (its ``*.h5``/``*.hdf5`` files in name
            order, skipping XDMF heavy-data companions).

    Yields:
        :class:`Record` with a :class:`MeshTrajectory` payload, or :class:`BadRecord`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"H5 input {str(path)!r} does not exist")
    if path.is_dir():
        files = _h5_files(path)
        if not files:
            raise MeshFormatError(
                f"directory {str(path)!r} has no .h5/.hdf5 trajectory files; generate some "
                "with `sci data generate cylinder-flow -o DIR`"
            )
        for file in files:
            yield from _records_from_file(file, id_prefix=f"{file.stem}/")
    else:
        yield from _records_from_file(path, id_prefix="")


def _write_group(group: h5py.Group, trajectory: MeshTrajectory, attrs: Mapping[str, Any]):
    def put(name: str, data: np.ndarray) -> None:
        group.create_dataset(name, data=data, track_times=False)

    put("mesh_pos", np.asarray(trajectory.points, dtype=np.float32))
    put("cells", trajectory.triangles.astype(np.int32))
    put("node_type", trajectory.node_type.astype(np.int32)[:, None])
    put("velocity", np.asarray(trajectory.velocity, dtype=np.float32))
    put("pressure", np.asarray(trajectory.pressure, dtype=np.float32)[..., None])
    merged = {**trajectory.attrs, **attrs}
    if trajectory.num_frames > 1:
        merged.setdefault("dt", float(trajectory.times[1] - trajectory.times[0]))
    merged.setdefault("t0", float(trajectory.times[0]))
    for key, value in merged.items():
        group.attrs[key] = value


def write_h5_trajectory(
    path: str | Path, trajectory: MeshTrajectory, attrs: Mapping[str, Any] | None = None
) -> Path:
    """Write one trajectory at the root of an H5 file, atomically (MeshGraphNets layout).

    Datasets: ``mesh_pos [N, 2]`` float32, ``cells [T, 3]`` int32, ``node_type [N, 1]``
    int32, ``velocity [F, N, 2]`` float32, ``pressure [F, N, 1]`` float32. Attributes: the
    trajectory's ``attrs`` updated with ``attrs``, plus ``dt`` and ``t0`` (s). Values must
    be what h5py stores as attributes (numbers, strings, flat arrays).
    """
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as handle:
        _write_group(handle, trajectory, attrs or {})
    return path


def write_h5_trajectories(
    path: str | Path, trajectories: Iterable[tuple[str, MeshTrajectory]]
) -> Path:
    """Write several trajectories into one H5 file, one group per trajectory, atomically.

    Args:
        path: output ``.h5`` file.
        trajectories: ``(group name, trajectory)`` pairs; names must be unique and contain
            no ``/``.
    """
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as handle:
        for name, trajectory in trajectories:
            if "/" in name or name in handle:
                raise ValueError(f"group name {name!r} is empty, has a '/' or is a duplicate")
            _write_group(handle.create_group(name, track_order=True), trajectory, {})
    return path


# -- single meshes and XDMF ---------------------------------------------------------------


def _field(data: Mapping[str, Any], name: str) -> Any | None:
    for key, value in data.items():
        if key.lower() == name:
            return value
    return None


def _points_2d(points: np.ndarray, where: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise MeshFormatError(f"{where}: points must be [N, 2] or [N, 3], got {points.shape}")
    _check_finite("points", points, where)
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


def _triangles(cells: Iterable[Any], where: str) -> tuple[np.ndarray, list[int]]:
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
    codes_field = _field(cell_data, "node_type")
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


def _resolve_node_type(
    n: int,
    point_data: Mapping[str, Any],
    cells: list[Any],
    line_blocks: list[int],
    cell_data: Mapping[str, list[np.ndarray]],
    field_data: Mapping[str, Any],
    where: str,
) -> np.ndarray:
    raw = _field(point_data, "node_type")
    if raw is not None:
        values = np.asarray(raw, dtype=np.float64).reshape(n, -1)
        if values.shape[1] != 1:
            raise MeshFormatError(f"{where}: node_type must be one value per point")
        _check_finite("node_type", values, where)
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


def _flow_fields(point_data: Mapping[str, Any], n: int, where: str):
    raw_velocity = _field(point_data, "velocity")
    raw_pressure = _field(point_data, "pressure")
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
    _check_finite("velocity", velocity, where)
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
    _check_finite("pressure", pressure, where)
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
    try:
        mesh = meshio.read(path)
    # meshio raises many types for unreadable input, and SystemExit when no reader for the
    # suffix can parse the file.
    except (Exception, SystemExit) as err:
        raise MeshFormatError(
            f"{where}: meshio could not read the file ({type(err).__name__}: {err}); use a "
            "format meshio reads (e.g. .vtu, .vtk, .msh, .xdmf)"
        ) from err
    points = _points_2d(mesh.points, where)
    triangles, line_blocks = _triangles(mesh.cells, where)
    n = len(points)
    velocity, pressure = _flow_fields(mesh.point_data, n, where)
    node_type = _resolve_node_type(
        n, mesh.point_data, mesh.cells, line_blocks, mesh.cell_data, mesh.field_data, where
    )
    try:
        return MeshState(points, triangles, node_type, velocity, pressure)
    except MeshFormatError as err:
        raise MeshFormatError(f"{where}: {err}") from err


def read_xdmf_series(path: str | Path, node_type: np.ndarray | None = None) -> MeshTrajectory:
    """Read an XDMF time series (``meshio.xdmf.TimeSeriesReader``) into a trajectory.

    Every step needs point fields ``velocity`` and ``pressure``; node types come from
    ``node_type`` (argument), else a ``node_type`` point field of any step, else boundary
    tags of the mesh (see the module docstring).

    Args:
        path: ``.xdmf`` file (its ``.h5`` heavy data next to it).
        node_type: ``[N]`` MeshGraphNets codes, overriding what the file has.

    Returns:
        the trajectory (float64 fields; ``times`` from the file's time values).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"XDMF file {str(path)!r} does not exist")
    where = path.name
    try:
        reader = meshio.xdmf.TimeSeriesReader(path)
    except Exception as err:
        raise MeshFormatError(
            f"{where}: not a readable XDMF time series ({type(err).__name__}: {err})"
        ) from err
    with reader:
        try:
            raw_points, cells = reader.read_points_cells()
        except Exception as err:
            raise MeshFormatError(
                f"{where}: cannot read the mesh ({type(err).__name__}: {err}); is the .h5 "
                "file next to the .xdmf?"
            ) from err
        points = _points_2d(raw_points, where)
        triangles, line_blocks = _triangles(cells, where)
        n = len(points)
        if reader.num_steps == 0:
            raise MeshFormatError(f"{where}: the time series has no steps")
        times, velocities, pressures = [], [], []
        found_types: np.ndarray | None = None
        first_cell_data: dict[str, list[np.ndarray]] = {}
        for step in range(reader.num_steps):
            t, point_data, cell_data = reader.read_data(step)
            velocity, pressure = _flow_fields(point_data, n, f"{where} step {step} (t = {t})")
            times.append(t)
            velocities.append(velocity)
            pressures.append(pressure)
            if step == 0:
                first_cell_data = cell_data
            if (
                found_types is None
                and node_type is None
                and _field(point_data, "node_type") is not None
            ):
                found_types = _resolve_node_type(n, point_data, cells, [], {}, {}, where)
    if node_type is not None:
        found_types = np.asarray(node_type, dtype=np.int64)
    if found_types is None:
        found_types = _resolve_node_type(n, {}, cells, line_blocks, first_cell_data, {}, where)
    try:
        return MeshTrajectory(
            points=points,
            triangles=triangles,
            node_type=found_types,
            velocity=np.stack(velocities),
            pressure=np.stack(pressures),
            times=np.asarray(times),
            attrs={"source": str(path)},
        )
    except MeshFormatError as err:
        raise MeshFormatError(f"{where}: {err}") from err


def read_mesh_records(path: str | Path) -> RecordStream:
    """Any supported mesh input as a stream of records (what the plugin's readers use).

    A directory or ``.h5``/``.hdf5`` file -> :func:`read_h5_trajectories`; ``.xdmf`` -> one
    record with a :class:`MeshTrajectory`; anything else -> one record with a
    :class:`MeshState` (:func:`read_single_mesh`). A file that cannot be used becomes a
    :class:`BadRecord` with the reason. Ids of single files are their stem.
    """
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in H5_SUFFIXES:
        yield from read_h5_trajectories(path)
        return
    reader = read_xdmf_series if path.suffix.lower() == ".xdmf" else read_single_mesh
    try:
        payload = reader(path)
    except (MeshFormatError, OSError) as err:
        yield BadRecord(id=path.stem, reason=str(err), line=1, source=str(path))
    else:
        yield Record(id=path.stem, payload=payload, line=1, source=str(path))


class _TimeSeriesWriterBesideXdmf(meshio.xdmf.TimeSeriesWriter):
    """meshio's writer puts the ``.h5`` in the working directory; put it next to the xdmf."""

    def __enter__(self) -> _TimeSeriesWriterBesideXdmf:
        self.h5_filename = str(self.filename.with_suffix(".h5"))
        self.h5_file = h5py.File(self.h5_filename, "w")
        return self


def write_xdmf_series(
    path: str | Path,
    points: np.ndarray,
    triangles: np.ndarray,
    times: np.ndarray,
    velocity_frames: np.ndarray,
    pressure_frames: np.ndarray,
    node_type: np.ndarray | None = None,
) -> Path:
    """Write a flow time series as XDMF + HDF5 (ParaView), atomically.

    Both files are written into a temporary directory next to ``path`` and then moved into
    place (``<stem>.h5`` first, then the ``.xdmf`` that refers to it by its file name), so a
    crash never leaves a half-written series under the final names.

    Args:
        path: the ``.xdmf`` file; heavy data goes to ``<stem>.h5`` beside it.
        points: ``[N, 2]`` coordinates, m.
        triangles: ``[T, 3]`` vertex indices.
        times: ``[F]`` times, s.
        velocity_frames: ``[F, N, 2]``, m/s (point field ``velocity`` at every step).
        pressure_frames: ``[F, N]`` (point field ``pressure`` at every step).
        node_type: optional ``[N]`` codes, written as point field ``node_type`` at every step.

    Returns:
        ``path``.
    """
    path = Path(path)
    if path.suffix.lower() != ".xdmf":
        raise ValueError(f"XDMF output must end in .xdmf, got {path.name!r}")
    points = np.asarray(points, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    times = np.asarray(times, dtype=np.float64)
    velocity_frames = np.asarray(velocity_frames, dtype=np.float64)
    pressure_frames = np.asarray(pressure_frames, dtype=np.float64)
    f, n = len(times), len(points)
    if velocity_frames.shape != (f, n, 2) or pressure_frames.shape != (f, n):
        raise ValueError(
            f"expected velocity_frames [{f}, {n}, 2] and pressure_frames [{f}, {n}], got "
            f"{velocity_frames.shape} and {pressure_frames.shape}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        tmp_xdmf = tmp_dir / path.name
        with _TimeSeriesWriterBesideXdmf(tmp_xdmf) as writer:
            writer.write_points_cells(points, [("triangle", triangles)])
            for index, t in enumerate(times):
                point_data: dict[str, np.ndarray] = {
                    "velocity": velocity_frames[index],
                    "pressure": pressure_frames[index],
                }
                if node_type is not None:
                    point_data["node_type"] = np.asarray(node_type, dtype=np.int64)
                writer.write_data(float(t), point_data=point_data)
        os.replace(tmp_xdmf.with_suffix(".h5"), path.with_suffix(".h5"))
        os.replace(tmp_xdmf, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp_dir)
    return path


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
