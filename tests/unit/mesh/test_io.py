from __future__ import annotations

import h5py
import meshio
import numpy as np
import pytest

from scisuite.core.records import BadRecord, Record
from scisuite.domains.mesh.h5 import (
    read_h5_trajectories,
    write_h5_trajectories,
    write_h5_trajectory,
)
from scisuite.domains.mesh.io import (
    MeshFormatError,
    MeshState,
    MeshTrajectory,
    read_single_mesh,
    write_vtu,
)
from scisuite.domains.mesh.readers import read_mesh_file
from scisuite.domains.mesh.xdmf import read_xdmf_series, write_xdmf_series

# A 3 x 2 grid of the unit-ish channel [0, 2] x [0, 1]: 6 points, 4 triangles.
POINTS = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]], dtype=float)
TRIANGLES = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
NODE_TYPE = np.array([6, 6, 6, 6, 6, 6])
NODE_TYPE[[0, 3]] = 6  # inlet corners are walls
FRAMES = 3


def _trajectory(frames: int = FRAMES) -> MeshTrajectory:
    rng = np.random.default_rng(0)
    return MeshTrajectory(
        points=POINTS,
        triangles=TRIANGLES,
        node_type=np.array([4, 0, 5, 6, 6, 6]),
        velocity=rng.normal(size=(frames, 6, 2)),
        pressure=rng.normal(size=(frames, 6)),
        times=0.5 + 0.01 * np.arange(frames),
        attrs={"Um": 1.5},
    )


def _state(**changes) -> MeshState:
    values = {
        "points": POINTS,
        "triangles": TRIANGLES,
        "node_type": np.array([4, 0, 5, 6, 6, 6]),
        "velocity": np.arange(12.0).reshape(6, 2),
        "pressure": np.linspace(0, 1, 6),
    }
    values.update(changes)
    return MeshState(**values)


# -- XDMF ---------------------------------------------------------------------------------


def test_xdmf_round_trip_through_meshio_reader(tmp_path) -> None:
    trajectory = _trajectory()
    path = write_xdmf_series(
        tmp_path / "flow.xdmf",
        POINTS,
        TRIANGLES,
        trajectory.times,
        trajectory.velocity,
        trajectory.pressure,
        node_type=trajectory.node_type,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.h5", "flow.xdmf"]
    with meshio.xdmf.TimeSeriesReader(path) as reader:
        points, cells = reader.read_points_cells()
        assert np.allclose(points[:, :2], POINTS) and cells[0].type == "triangle"
        for step in range(FRAMES):
            t, point_data, _ = reader.read_data(step)
            assert t == pytest.approx(trajectory.times[step])
            assert np.allclose(point_data["velocity"], trajectory.velocity[step])
            assert np.allclose(point_data["pressure"].ravel(), trajectory.pressure[step])
    back = read_xdmf_series(path)
    assert np.array_equal(back.node_type, trajectory.node_type)
    assert np.allclose(back.velocity, trajectory.velocity)
    assert np.allclose(back.pressure, trajectory.pressure)
    assert np.allclose(back.times, trajectory.times)


def test_xdmf_written_from_another_directory_keeps_its_h5_beside_it(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    t = _trajectory()
    write_xdmf_series(
        tmp_path / "out" / "a.xdmf", POINTS, TRIANGLES, t.times, t.velocity, t.pressure
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.h5", "a.xdmf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_xdmf_node_types_from_argument_or_error(tmp_path) -> None:
    t = _trajectory()
    path = write_xdmf_series(
        tmp_path / "a.xdmf", POINTS, TRIANGLES, t.times, t.velocity, t.pressure
    )
    with pytest.raises(MeshFormatError, match="node_type"):
        read_xdmf_series(path)
    back = read_xdmf_series(path, node_type=t.node_type)
    assert np.array_equal(back.node_type, t.node_type)


def test_xdmf_writer_checks_shapes_and_leaves_nothing_behind(tmp_path) -> None:
    t = _trajectory()
    with pytest.raises(ValueError, match="velocity_frames"):
        write_xdmf_series(
            tmp_path / "a.xdmf", POINTS, TRIANGLES, t.times, t.velocity[:2], t.pressure
        )
    with pytest.raises(TypeError):
        write_xdmf_series(
            tmp_path / "b.xdmf",
            POINTS,
            TRIANGLES,
            t.times,
            t.velocity,
            t.pressure,
            node_type=object(),
        )
    assert list(tmp_path.iterdir()) == []


# -- single meshes --------------------------------------------------------------------------


def test_vtu_round_trip(tmp_path) -> None:
    state = _state()
    path = write_vtu(tmp_path / "init.vtu", state)
    back = read_single_mesh(path)
    for name in ("points", "triangles", "node_type", "velocity", "pressure"):
        assert np.array_equal(getattr(back, name), getattr(state, name)), name
    assert back.time is None


def _write(tmp_path, name, points=POINTS, cells=None, point_data=None, cell_data=None, **kw):
    mesh = meshio.Mesh(
        points,
        cells if cells is not None else [("triangle", TRIANGLES)],
        point_data=point_data
        if point_data is not None
        else {"velocity": np.ones((6, 2)), "pressure": np.zeros(6), "node_type": NODE_TYPE},
        cell_data=cell_data or {},
        **kw,
    )
    path = tmp_path / name
    meshio.write(path, mesh)
    return path


def test_velocity_with_zero_z_and_3d_points_in_a_plane_are_accepted(tmp_path) -> None:
    points = np.c_[POINTS, np.full(6, 2.5)]
    velocity = np.c_[np.ones((6, 2)), np.zeros(6)]
    data = {"Velocity": velocity, "Pressure": np.zeros((6, 1)), "node_type": NODE_TYPE}
    state = read_single_mesh(_write(tmp_path, "a.vtu", points=points, point_data=data))
    assert state.points.shape == (6, 2) and state.velocity.shape == (6, 2)


def test_quads_are_split_into_triangles(tmp_path) -> None:
    quads = np.array([[0, 1, 4, 3], [1, 2, 5, 4]])
    state = read_single_mesh(_write(tmp_path, "q.vtu", cells=[("quad", quads)]))
    assert state.triangles.shape == (4, 3)
    assert state.notes == ("2 quad cell(s) split into 4 triangles",)
    assert read_single_mesh(_write(tmp_path, "t.vtu")).notes == ()


@pytest.mark.parametrize(
    "point_data, message",
    [
        (
            {"pressure": np.zeros(6), "node_type": NODE_TYPE},
            r"missing point field\(s\) \['velocity'\]",
        ),
        ({"velocity": np.ones((6, 2)), "node_type": NODE_TYPE}, r"\['pressure'\]"),
        ({"velocity": np.ones((6, 2)), "pressure": np.zeros(6)}, "no node types"),
        (
            {
                "velocity": np.ones((6, 2)),
                "pressure": np.r_[np.zeros(5), np.nan],
                "node_type": NODE_TYPE,
            },
            "pressure has 1 NaN/inf",
        ),
        (
            {"velocity": np.full((6, 2), np.inf), "pressure": np.zeros(6), "node_type": NODE_TYPE},
            "velocity has 12 NaN/inf",
        ),
        (
            {"velocity": np.ones((6, 3)), "pressure": np.zeros(6), "node_type": NODE_TYPE},
            "non-zero third component",
        ),
        (
            {"velocity": np.ones((6, 2)), "pressure": np.zeros(6), "node_type": np.full(6, 3)},
            r"unknown node_type code\(s\) \[3\]",
        ),
    ],
)
def test_single_mesh_field_errors(tmp_path, point_data, message) -> None:
    path = _write(tmp_path, "bad.vtu", point_data=point_data)
    with pytest.raises(MeshFormatError, match=message):
        read_single_mesh(path)


def test_unsupported_cells_are_named(tmp_path) -> None:
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    data = {"velocity": np.ones((4, 2)), "pressure": np.zeros(4), "node_type": np.zeros(4)}
    path = _write(
        tmp_path,
        "tet.vtu",
        points=points,
        cells=[("tetra", np.array([[0, 1, 2, 3]]))],
        point_data=data,
    )
    with pytest.raises(MeshFormatError, match=r"not planar|\['tetra'\]"):
        read_single_mesh(path)
    flat = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=float)
    path = _write(
        tmp_path,
        "mixed.vtu",
        points=flat,
        cells=[("triangle", np.array([[0, 1, 2]])), ("tetra", np.array([[0, 1, 2, 3]]))],
        point_data=data,
    )
    with pytest.raises(MeshFormatError, match=r"unsupported cell type\(s\) \['tetra'\]"):
        read_single_mesh(path)


def test_unreadable_and_missing_files(tmp_path, capsys) -> None:
    bad = tmp_path / "x.vtu"
    bad.write_text("not a mesh")
    with pytest.raises(MeshFormatError, match="meshio could not read"):
        read_single_mesh(bad)
    # meshio's own complaint goes into the reason, not onto stdout (the CSV may be there)
    assert capsys.readouterr() == ("", "")
    with pytest.raises(FileNotFoundError):
        read_single_mesh(tmp_path / "absent.vtu")


def test_node_types_from_line_cell_codes(tmp_path) -> None:
    # inlet x=0 (edge 0-3), outlet x=2 (edge 2-5), walls y=0 / y=1.
    lines = np.array([[0, 3], [2, 5], [0, 1], [1, 2], [3, 4], [4, 5]])
    codes = np.array([4, 5, 6, 6, 6, 6])
    path = _write(
        tmp_path,
        "tags.vtu",
        cells=[("triangle", TRIANGLES), ("line", lines)],
        point_data={"velocity": np.ones((6, 2)), "pressure": np.zeros(6)},
        cell_data={"node_type": [np.zeros(4), codes]},
    )
    assert read_single_mesh(path).node_type.tolist() == [6, 6, 6, 6, 6, 6]


def test_node_types_from_gmsh_physical_groups_match_the_mesher(tmp_path) -> None:
    pytest.importorskip("gmsh")
    from scisuite.domains.mesh.geometry import BOUNDARY_NAMES, channel_mesh

    mesh = channel_mesh(num_vertices=300)
    tags = {name: index + 1 for index, name in enumerate(BOUNDARY_NAMES)}
    cells = [("triangle", mesh.triangles)] + [
        ("line", mesh.boundary_edges[n]) for n in BOUNDARY_NAMES
    ]
    physical = [np.full(len(mesh.triangles), 9)] + [
        np.full(len(mesh.boundary_edges[n]), tags[n]) for n in BOUNDARY_NAMES
    ]
    field_data = {name: np.array([tag, 1]) for name, tag in tags.items()}
    field_data["fluid"] = np.array([9, 2])
    msh = meshio.Mesh(
        np.c_[mesh.points, np.zeros(mesh.num_nodes)],
        cells,
        point_data={
            "velocity": np.zeros((mesh.num_nodes, 3)),  # gmsh stores 1, 3 or 9 components
            "pressure": np.zeros(mesh.num_nodes),
        },
        cell_data={"gmsh:physical": physical, "gmsh:geometrical": physical},
        field_data=field_data,
    )
    path = tmp_path / "channel.msh"
    meshio.write(path, msh, file_format="gmsh22", binary=True)  # ASCII breaks on numpy 2
    state = read_single_mesh(path)
    assert np.array_equal(state.node_type, mesh.node_type)

    field_data["sides"] = field_data.pop("walls")  # a name that says nothing about the flow
    meshio.write(
        path,
        meshio.Mesh(
            msh.points,
            cells,
            point_data=msh.point_data,
            cell_data=msh.cell_data,
            field_data=field_data,
        ),
        file_format="gmsh22",
        binary=True,
    )
    with pytest.raises(MeshFormatError, match=r"\['sides'\] are not recognised"):
        read_single_mesh(path)


# -- MeshGraphNets-style H5 -------------------------------------------------------------------


def test_h5_single_file_round_trip(tmp_path) -> None:
    trajectory = _trajectory()
    path = write_h5_trajectory(tmp_path / "traj_00007.h5", trajectory, {"seed": 3})
    with h5py.File(path) as handle:
        assert handle["mesh_pos"].shape == (6, 2) and handle["mesh_pos"].dtype == np.float32
        assert handle["cells"].shape == (4, 3) and handle["cells"].dtype == np.int32
        assert handle["node_type"].shape == (6, 1)
        assert handle["velocity"].shape == (FRAMES, 6, 2)
        assert handle["pressure"].shape == (FRAMES, 6, 1)
        assert handle.attrs["dt"] == pytest.approx(0.01) and handle.attrs["seed"] == 3
    (record,) = list(read_h5_trajectories(path))
    assert isinstance(record, Record) and record.id == "traj_00007"
    back = record.payload
    assert np.allclose(back.velocity, trajectory.velocity, atol=1e-6)
    assert np.allclose(back.times, trajectory.times)
    assert back.attrs["Um"] == 1.5


def test_h5_groups_and_bad_entries_become_bad_records(tmp_path) -> None:
    good = _trajectory()
    path = write_h5_trajectories(tmp_path / "mgn.h5", [("0", good), ("1", good)])
    with h5py.File(path, "a") as handle:
        broken = handle.create_group("2")
        broken["mesh_pos"] = POINTS
        nan = handle.create_group("3")
        for name in ("mesh_pos", "cells", "node_type", "pressure"):
            nan[name] = handle["0"][name][()]
        velocity = handle["0"]["velocity"][()]
        velocity[1, 2, 0] = np.nan
        nan["velocity"] = velocity
    records = list(read_h5_trajectories(path))
    assert [r.id for r in records] == ["0", "1", "2", "3"]
    assert [type(r) for r in records] == [Record, Record, BadRecord, BadRecord]
    assert "missing dataset(s) ['cells', 'node_type', 'velocity', 'pressure']" in records[2].reason
    assert "NaN" in records[3].reason


def test_h5_static_fields_with_a_time_axis(tmp_path) -> None:
    t = _trajectory()
    path = tmp_path / "converted.h5"
    with h5py.File(path, "w") as handle:
        group = handle.create_group("0")
        group["mesh_pos"] = np.repeat(POINTS[None], FRAMES, 0)
        group["cells"] = np.repeat(TRIANGLES[None], FRAMES, 0)
        group["node_type"] = np.repeat(t.node_type[None, :, None], FRAMES, 0)
        group["velocity"] = t.velocity
        group["pressure"] = t.pressure[..., None]
    (record,) = list(read_h5_trajectories(path))
    assert isinstance(record, Record)
    assert record.payload.points.shape == (6, 2) and np.array_equal(
        record.payload.node_type, t.node_type
    )
    assert np.allclose(record.payload.times, 0.01 * np.arange(FRAMES))


def test_h5_directory_reads_every_file_and_reports_broken_ones(tmp_path) -> None:
    write_h5_trajectory(tmp_path / "traj_00000.h5", _trajectory())
    (tmp_path / "traj_00001.h5").write_bytes(b"truncated")
    write_h5_trajectories(tmp_path / "pack.h5", [("a", _trajectory())])
    t = _trajectory()
    write_xdmf_series(tmp_path / "view.xdmf", POINTS, TRIANGLES, t.times, t.velocity, t.pressure)
    records = list(read_h5_trajectories(tmp_path))
    assert [(r.id, type(r)) for r in records] == [
        ("pack/a", Record),
        ("traj_00000", Record),
        ("traj_00001", BadRecord),
    ]
    assert "cannot open" in records[2].reason


def test_h5_empty_directory_says_how_to_make_data(tmp_path) -> None:
    with pytest.raises(MeshFormatError, match="sci data generate"):
        list(read_h5_trajectories(tmp_path))


def test_read_mesh_file_dispatches_by_suffix(tmp_path) -> None:
    t = _trajectory()
    write_vtu(tmp_path / "init.vtu", _state())
    write_xdmf_series(
        tmp_path / "s.xdmf",
        POINTS,
        TRIANGLES,
        t.times,
        t.velocity,
        t.pressure,
        node_type=t.node_type,
    )
    write_h5_trajectory(tmp_path / "t.h5", t)
    (tmp_path / "broken.vtu").write_text("garbage")
    (vtu,) = read_mesh_file(tmp_path / "init.vtu")
    (xdmf,) = read_mesh_file(tmp_path / "s.xdmf")
    (h5,) = read_mesh_file(tmp_path / "t.h5")
    (bad,) = read_mesh_file(tmp_path / "broken.vtu")
    assert isinstance(vtu.payload, MeshState) and vtu.id == "init"
    assert isinstance(xdmf.payload, MeshTrajectory) and xdmf.payload.num_frames == FRAMES
    assert isinstance(h5.payload, MeshTrajectory)
    assert isinstance(bad, BadRecord) and "meshio could not read" in bad.reason


def test_mesh_state_validates_shapes() -> None:
    with pytest.raises(MeshFormatError, match="velocity must be"):
        _state(velocity=np.ones((5, 2)))
    with pytest.raises(MeshFormatError, match="indices must be in"):
        _state(triangles=np.array([[0, 1, 9]]))


# -- cells a flow model cannot be given (issue 16) ----------------------------------------


def test_points_no_triangle_uses_are_refused() -> None:
    # They used to be accepted, and gained velocity from nothing during the rollout.
    points = np.r_[POINTS, [[5.0, 5.0]]]
    with pytest.raises(MeshFormatError, match=r"1 of 7 point\(s\) belong to no triangle.*6"):
        _state(
            points=points,
            node_type=np.r_[_state().node_type, 0],
            velocity=np.ones((7, 2)),
            pressure=np.zeros(7),
        )


@pytest.mark.parametrize(
    "triangles",
    [
        np.r_[TRIANGLES, [[0, 1, 2]]],  # collinear corners
        np.r_[TRIANGLES, [[3, 3, 4]]],  # a repeated vertex
    ],
)
def test_degenerate_triangles_are_refused(triangles) -> None:
    with pytest.raises(MeshFormatError, match=r"1 of 5 triangle\(s\) are degenerate.*4"):
        _state(triangles=triangles)


def test_inverted_triangles_are_refused_but_a_consistently_clockwise_mesh_is_not() -> None:
    flipped = TRIANGLES.copy()
    flipped[2] = flipped[2, ::-1]
    with pytest.raises(MeshFormatError, match=r"1 of 4 triangle\(s\) are inverted.*2"):
        _state(triangles=flipped)
    _state(triangles=TRIANGLES[:, ::-1])  # every cell clockwise: one orientation


def test_bad_cells_in_a_file_are_one_bad_record(tmp_path) -> None:
    path = _write(tmp_path, "d.vtu", cells=[("triangle", np.r_[TRIANGLES, [[0, 1, 2]]])])
    (record,) = read_mesh_file(path)
    assert isinstance(record, BadRecord) and "degenerate" in record.reason
    assert record.reason.startswith("d.vtu:")


def test_cells_and_node_types_must_be_whole_numbers() -> None:
    # A NaN in a float cell list used to be cast to a huge negative index.
    with pytest.raises(MeshFormatError, match="triangles has 3 NaN/inf"):
        _state(triangles=np.where(TRIANGLES == 4, np.nan, TRIANGLES))
    with pytest.raises(MeshFormatError, match="node_type must hold whole numbers"):
        _state(node_type=np.array([4, 0, 5, 6, 6, 6.5]))
    assert _state(triangles=TRIANGLES.astype(float)).triangles.dtype == np.int64
