"""Fuzzed mesh inputs (#16): VTU single meshes, XDMF time series and MeshGraphNets H5.

Generated cases: valid channel meshes with one or more defects (NaN/inf fields, degenerate,
inverted, repeated-vertex, quad, 3-D and unknown cells, points no cell uses, wrong field
shapes, non-planar points, unknown node types), files cut at a random byte or with random
bytes overwritten, and arbitrary arrays given to the in-memory forms. The invariant: reading
never raises anything but our typed errors, a file gives one record per mesh, every bad mesh
is one :class:`BadRecord` (or a :class:`RecordError` from the featurizer) with a reason,
and every mesh that is read featurizes or fails with a typed error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import meshio
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scisuite.core.records import BadRecord, Record, RecordError
from scisuite.domains.mesh.h5 import read_h5_trajectories, write_h5_trajectory
from scisuite.domains.mesh.io import MeshFormatError, MeshState, MeshTrajectory
from scisuite.domains.mesh.readers import MeshInput, read_single_mesh_records, read_xdmf_records
from scisuite.domains.mesh.task import MeshTask
from scisuite.domains.mesh.xdmf import write_xdmf_series

TASK = MeshTask()
CONFIG = TASK.default_config()

# A 4 x 3 grid of a 1.6 m x 0.4 m channel: 12 points, 12 counter-clockwise triangles.
_NX, _NY = 4, 3
_X, _Y = np.meshgrid(np.linspace(0, 1.6, _NX), np.linspace(0, 0.4, _NY))
POINTS = np.c_[_X.ravel(), _Y.ravel()]
TRIANGLES = np.array(
    [
        cell
        for j in range(_NY - 1)
        for i in range(_NX - 1)
        for a in [j * _NX + i]
        for cell in ([a, a + 1, a + _NX + 1], [a, a + _NX + 1, a + _NX])
    ]
)
NODE_TYPE = np.where(POINTS[:, 0] == 0, 4, np.where(POINTS[:, 0] == 1.6, 5, 0))
NODE_TYPE[(POINTS[:, 1] == 0) | (POINTS[:, 1] == 0.4)] = 6
N = len(POINTS)

DEFECTS = (
    "nan_velocity",
    "inf_pressure",
    "nan_point",
    "degenerate",
    "repeated_vertex",
    "inverted",
    "isolated_node",
    "quads",
    "tetra",
    "hexahedron",
    "wedge",
    "out_of_range_index",
    "non_planar",
    "unknown_node_type",
    "velocity_3_components",
    "short_pressure",
    "no_node_type",
    "no_cells",
)

#: Cases per file format: the profile's count under ``make fuzz`` (10,000), 40 in the short
#: profile of ``make test`` (each case writes and reads files, ~0.05-0.2 s).
FILE_EXAMPLES = settings.default.max_examples if settings.default.max_examples >= 10_000 else 40


def _mesh_with(defects: set[str], rng: np.random.Generator) -> meshio.Mesh:
    """The channel mesh as meshio data, with ``defects`` applied."""
    points = np.c_[POINTS, np.zeros(N)]
    triangles = TRIANGLES.copy()
    velocity = np.c_[rng.normal(1.0, 0.3, N), rng.normal(0.0, 0.1, N)]
    pressure = rng.normal(size=N)
    node_type = NODE_TYPE.copy()
    cells: list[tuple[str, np.ndarray]] = []
    if "nan_velocity" in defects:
        velocity[rng.integers(N), rng.integers(2)] = np.nan
    if "inf_pressure" in defects:
        pressure[rng.integers(N)] = rng.choice([np.inf, -np.inf])
    if "nan_point" in defects:
        points[rng.integers(N), rng.integers(2)] = np.nan
    if "degenerate" in defects:
        triangles = np.r_[triangles, [[0, 1, 2]]]  # three collinear points on the wall
    if "repeated_vertex" in defects:
        triangles = np.r_[triangles, [[5, 5, 6]]]
    if "inverted" in defects:
        row = rng.integers(len(triangles))
        triangles[row] = triangles[row, ::-1]
    if "isolated_node" in defects:
        points = np.r_[points, [[3.0, 3.0, 0.0]]]
        velocity = np.r_[velocity, [[0.1, 0.0]]]
        pressure = np.r_[pressure, [0.0]]
        node_type = np.r_[node_type, [0]]
    if "out_of_range_index" in defects:
        triangles[rng.integers(len(triangles)), rng.integers(3)] = len(points) + 7
    if "quads" in defects:
        cells.append(("quad", np.array([[0, 1, 5, 4]])))
    for kind, size in (("tetra", 4), ("hexahedron", 8), ("wedge", 6)):
        if kind in defects:
            cells.append((kind, np.arange(size)[None] % len(points)))
    if "non_planar" in defects:
        points[rng.integers(N), 2] = 0.5
    if "unknown_node_type" in defects:
        node_type[rng.integers(N)] = int(rng.choice([1, 2, 3, 7, 99, -1]))
    if "velocity_3_components" in defects:
        velocity = np.c_[velocity, rng.choice([0.0, 0.3], size=len(velocity))]
    if "short_pressure" in defects:
        pressure = pressure[:-1]
    if "no_cells" not in defects:
        cells.insert(0, ("triangle", triangles))
    else:
        cells.append(("line", np.array([[0, 1]])))
    point_data = {"velocity": velocity, "pressure": pressure}
    if "no_node_type" not in defects:
        point_data["node_type"] = node_type.astype(np.int32)
    return meshio.Mesh(points, cells, point_data=point_data)


#: Defects that make a mesh unusable whatever else is damaged: its record must be a BadRecord.
ALWAYS_BAD = frozenset(
    {"nan_velocity", "inf_pressure", "degenerate", "inverted", "repeated_vertex"}
)


def _check_known_bad(records: list[Record | BadRecord], defects: set[str]) -> None:
    if defects & ALWAYS_BAD:
        assert isinstance(records[0], BadRecord)


def _check_records(records: list[Record | BadRecord], expected: int | None = 1) -> None:
    """The invariant: ``expected`` records, each bad one with a reason, each good one a
    mesh that featurizes or fails with a :class:`RecordError`."""
    if expected is not None:
        assert len(records) == expected
    for record in records:
        if isinstance(record, BadRecord):
            assert record.reason.strip()
            continue
        try:
            TASK.featurize(Record(record.id, MeshInput(record.payload, 1)), CONFIG)
        except RecordError as error:
            assert error.reason.strip()


def _cut_or_scribble(data: bytes, cut: float, scribble: bytes, at: float) -> bytes:
    """``data`` truncated at fraction ``cut`` (1 = whole), then ``scribble`` written over
    it at fraction ``at``."""
    data = data[: int(len(data) * cut)]
    if scribble and data:
        start = int((len(data) - 1) * at)
        data = data[:start] + scribble + data[start + len(scribble) :]
    return data


defects = st.sets(st.sampled_from(DEFECTS), max_size=3)
seeds = st.integers(0, 2**32 - 1)
damage = st.tuples(
    st.one_of(st.just(1.0), st.floats(0.0, 1.0)),
    st.one_of(st.just(b""), st.binary(min_size=1, max_size=16)),
    st.floats(0.0, 1.0),
)


@settings(max_examples=FILE_EXAMPLES)
@given(defects=defects, seed=seeds, damage=damage, binary=st.booleans())
def test_vtu(defects: set[str], seed: int, damage, binary: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.vtu"
        try:
            meshio.write(path, _mesh_with(defects, np.random.default_rng(seed)), binary=binary)
        except (ValueError, KeyError, IndexError):
            return  # meshio itself refuses to build or write this combination
        path.write_bytes(_cut_or_scribble(path.read_bytes(), *damage))
        records = list(read_single_mesh_records(path))
    _check_records(records)
    if not defects - {"quads"} and damage[0] == 1.0 and not damage[1]:
        assert isinstance(records[0], Record), records[0]
    if defects & {"degenerate", "inverted", "isolated_node", "nan_point", "tetra"}:
        assert isinstance(records[0], BadRecord)


@settings(max_examples=FILE_EXAMPLES)
@given(defects=defects, seed=seeds, damage=damage, target=st.sampled_from(["xdmf", "h5"]))
def test_xdmf(defects: set[str], seed: int, damage, target: str) -> None:
    rng = np.random.default_rng(seed)
    mesh = _mesh_with(defects & {"nan_velocity", "inf_pressure"}, rng)
    triangles = mesh.cells[0].data
    for name in defects & {"degenerate", "inverted", "repeated_vertex"}:
        triangles = _mesh_with({name}, rng).cells[0].data
    frames = 3
    velocity = np.stack([mesh.point_data["velocity"]] * frames)
    pressure = np.stack([mesh.point_data["pressure"]] * frames)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "series.xdmf"
        write_xdmf_series(
            path, POINTS, triangles, np.arange(frames) * 0.01, velocity, pressure, NODE_TYPE
        )
        damaged = path if target == "xdmf" else path.with_suffix(".h5")
        damaged.write_bytes(_cut_or_scribble(damaged.read_bytes(), *damage))
        records = list(read_xdmf_records(path))
    _check_records(records)
    _check_known_bad(records, defects)


h5_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int32]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)


@settings(max_examples=FILE_EXAMPLES)
@given(
    defects=defects,
    seed=seeds,
    damage=damage,
    replaced=st.dictionaries(
        st.sampled_from(["mesh_pos", "cells", "node_type", "velocity", "pressure"]),
        h5_arrays,
        max_size=2,
    ),
    dropped=st.sets(st.sampled_from(["mesh_pos", "cells", "velocity"]), max_size=1),
)
def test_h5(defects: set[str], seed: int, damage, replaced, dropped) -> None:
    rng = np.random.default_rng(seed)
    mesh = _mesh_with(defects & {"nan_velocity", "inf_pressure"}, rng)
    triangles = mesh.cells[0].data
    for name in defects & {"degenerate", "inverted", "repeated_vertex", "out_of_range_index"}:
        triangles = _mesh_with({name}, rng).cells[0].data
    frames = 3
    trajectory = MeshTrajectory.__new__(MeshTrajectory)  # skip validation: write raw
    for name, value in (
        ("points", POINTS),
        ("triangles", triangles),
        ("node_type", NODE_TYPE),
        ("velocity", np.stack([mesh.point_data["velocity"]] * frames)),
        ("pressure", np.stack([mesh.point_data["pressure"]] * frames)),
        ("times", np.arange(frames) * 0.01),
        ("attrs", {}),
    ):
        object.__setattr__(trajectory, name, value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traj.h5"
        write_h5_trajectory(path, trajectory)
        if replaced or dropped:
            with h5py.File(path, "r+") as handle:
                for name in dropped | set(replaced):
                    del handle[name]
                for name, value in replaced.items():
                    handle.create_dataset(name, data=value)
        path.write_bytes(_cut_or_scribble(path.read_bytes(), *damage))
        records = list(read_h5_trajectories(path))
    _check_records(records)
    _check_known_bad(records, defects)


finite_or_not = st.one_of(
    st.floats(-10, 10), st.sampled_from([float("nan"), float("inf"), -float("inf")])
)


@given(
    points=hnp.arrays(
        np.float64, st.tuples(st.integers(0, 8), st.integers(1, 3)), elements=finite_or_not
    ),
    triangles=hnp.arrays(
        np.int64, st.tuples(st.integers(0, 8), st.integers(2, 4)), elements=st.integers(-2, 9)
    ),
    node_type=hnp.arrays(np.int64, st.integers(0, 8), elements=st.sampled_from([0, 4, 5, 6, 3])),
    fields=hnp.arrays(
        np.float64, st.tuples(st.integers(0, 8), st.integers(1, 3)), elements=finite_or_not
    ),
)
def test_in_memory_states(points, triangles, node_type, fields) -> None:
    try:
        state = MeshState(points, triangles, node_type, fields[:, :2], fields[:, 0])
    except MeshFormatError as error:
        assert str(error).strip()
        return
    _check_records([Record("state", state)])
