from __future__ import annotations

import pytest

from scisuite.core.records import BadRecord, Record
from scisuite.domains.mesh.examples import example_trajectories, write_example_file
from scisuite.domains.mesh.h5 import read_h5_trajectories
from scisuite.domains.mesh.io import MeshState, MeshTrajectory
from scisuite.domains.mesh.readers import (
    FORMATS,
    READERS,
    MeshInput,
    read_single_mesh_records,
    read_xdmf_records,
    records_from_objects,
)
from scisuite.domains.mesh.xdmf import write_xdmf_series


def test_each_suffix_has_its_final_reader() -> None:
    assert FORMATS[""] is FORMATS[".h5"] is FORMATS[".hdf5"] is read_h5_trajectories
    assert FORMATS[".xdmf"] is read_xdmf_records
    assert FORMATS[".vtu"] is FORMATS[".msh"] is read_single_mesh_records
    assert set(READERS) == set(FORMATS)


def test_readers_add_the_options_to_the_payload(tmp_path) -> None:
    path, _, _ = write_example_file(tmp_path)
    records = list(READERS[".h5"](path, rollout_steps=4, start_frame=1))
    good = [r for r in records if isinstance(r, Record)]
    assert [r.id for r in good] == ["channel_1", "channel_2"]
    assert all(r.payload == MeshInput(r.payload.mesh, 4, 1) for r in good)
    assert isinstance(good[0].payload.mesh, MeshTrajectory)
    assert good[0].source == str(path) and good[0].line == 1
    (single,) = READERS[".vtu"](tmp_path / "case.vtu")
    assert isinstance(single.payload.mesh, MeshState) and single.payload.rollout_steps is None
    (directory,) = [r for r in READERS[""](tmp_path) if isinstance(r, Record)][:1]
    assert directory.id == "mesh_examples/channel_1"


def test_bad_options_are_refused(tmp_path) -> None:
    write_example_file(tmp_path)
    with pytest.raises(ValueError, match="--steps must be >= 1, got 0"):
        list(READERS[".vtu"](tmp_path / "case.vtu", rollout_steps=0))
    with pytest.raises(ValueError, match="--start-frame must be >= 0, got -1"):
        list(READERS[".vtu"](tmp_path / "case.vtu", start_frame=-1))
    with pytest.raises(ValueError, match="--max-nodes must be >= 1, got 0"):
        list(READERS[".vtu"](tmp_path / "case.vtu", max_nodes=0))
    with pytest.raises(ValueError, match="--max-steps must be >= 1, got -5"):
        list(READERS[".vtu"](tmp_path / "case.vtu", max_steps=-5))
    with pytest.raises(ValueError, match="--max-frames-gib must be > 0, got 0"):
        list(READERS[".vtu"](tmp_path / "case.vtu", max_frames_gib=0))
    (record,) = READERS[".vtu"](tmp_path / "case.vtu", max_nodes=7, max_steps=9, max_frames_gib=0.5)
    payload = record.payload
    assert (payload.max_nodes, payload.max_steps, payload.max_frames_gib) == (7, 9, 0.5)


def test_xdmf_and_unreadable_files_are_one_record_each(tmp_path) -> None:
    t = example_trajectories()[0]
    write_xdmf_series(
        tmp_path / "s.xdmf", t.points, t.triangles, t.times, t.velocity, t.pressure, t.node_type
    )
    (series,) = READERS[".xdmf"](tmp_path / "s.xdmf", rollout_steps=2)
    assert series.id == "s" and series.payload.mesh.num_frames == t.num_frames
    (tmp_path / "broken.vtu").write_text("garbage")
    (bad,) = READERS[".vtu"](tmp_path / "broken.vtu")
    assert isinstance(bad, BadRecord) and "meshio could not read" in bad.reason


def test_records_from_objects(tmp_path) -> None:
    write_example_file(tmp_path)
    trajectory = example_trajectories()[0]
    records = list(
        records_from_objects([trajectory, trajectory.state(0), tmp_path / "case.vtu", 3.5])
    )
    assert [r.id for r in records] == ["mesh_1", "mesh_2", "case", "mesh_4"]
    assert records[0].payload == MeshInput(trajectory) and records[0].source == "<python>"
    assert isinstance(records[2].payload, MeshInput)
    assert isinstance(records[3], BadRecord) and "expected a MeshState" in records[3].reason
