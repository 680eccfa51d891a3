from __future__ import annotations

import hashlib
import json
import time

import h5py
import numpy as np
import pytest

pytest.importorskip("gmsh")
pytest.importorskip("skfem")

from scisuite.core.records import Record  # noqa: E402
from scisuite.domains.mesh import generate as gen  # noqa: E402
from scisuite.domains.mesh.config import NodeType  # noqa: E402
from scisuite.domains.mesh.geometry import ChannelGeometry, channel_mesh  # noqa: E402
from scisuite.domains.mesh.graph import nearest_node, strouhal_number  # noqa: E402
from scisuite.domains.mesh.h5 import read_h5_trajectories  # noqa: E402
from scisuite.domains.mesh.solver import (  # noqa: E402
    CylinderFlowSolver,
    FlowConfig,
    reynolds_number,
    simulate,
)

TINY = {"frames": 4, "warmup_frames": 2, "num_vertices": 250, "progress": False}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- solver ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coarse_mesh():
    return channel_mesh(num_vertices=400)


def test_solver_conserves_mass_and_holds_boundary_values(coarse_mesh) -> None:
    config = FlowConfig(peak_inflow=1.5, ramp_time=0.2)
    solver = CylinderFlowSolver(coarse_mesh, config)
    for _ in range(5):
        solver.advance_frame()
    height = coarse_mesh.geometry.height
    inflow = -solver.boundary_flux("inlet")
    # The P2 field reproduces the parabolic profile exactly: flux = 2/3 Um H ramp(t).
    assert inflow == pytest.approx(2 / 3 * 1.5 * height * solver.ramp(solver.time), rel=1e-9)
    # Taylor-Hood is exactly mass-conservative against constant test functions.
    assert solver.boundary_flux("outlet") == pytest.approx(inflow, rel=1e-8)
    assert abs(solver.boundary_flux("walls")) < 1e-12
    assert abs(solver.boundary_flux("cylinder")) < 1e-12
    assert solver.divergence_ratio() < 0.3

    velocity, pressure = solver.vertex_fields()
    assert velocity.shape == (coarse_mesh.num_nodes, 2) and pressure.shape == (
        coarse_mesh.num_nodes,
    )
    wall = coarse_mesh.node_type == NodeType.WALL
    assert np.all(velocity[wall] == 0)
    inflow_nodes = coarse_mesh.node_type == NodeType.INFLOW
    y = coarse_mesh.points[inflow_nodes, 1]
    profile = 4 * 1.5 * y * (height - y) / height**2 * solver.ramp(solver.time)
    assert np.allclose(velocity[inflow_nodes, 0], profile) and np.all(
        velocity[inflow_nodes, 1] == 0
    )
    assert np.isfinite(pressure).all() and solver.ms_per_step > 0


def test_simulate_stores_frames_after_warmup(coarse_mesh) -> None:
    seen = []
    flow = simulate(
        coarse_mesh,
        FlowConfig(peak_inflow=1.0),
        frames=3,
        warmup_frames=2,
        on_frame=lambda d, t: seen.append((d, t)),
    )
    assert flow.velocity.shape == (3, coarse_mesh.num_nodes, 2)
    assert np.allclose(flow.times, [0.02, 0.03, 0.04])
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert flow.solver_dt == pytest.approx(0.01 / flow.substeps)


def test_solver_reports_a_blow_up_with_advice(coarse_mesh) -> None:
    solver = CylinderFlowSolver(coarse_mesh, FlowConfig(peak_inflow=2.0, substeps=1, ramp_time=0))
    with pytest.raises(FloatingPointError, match="more substeps"):
        for _ in range(200):
            solver.advance_frame()


@pytest.mark.parametrize(
    "kwargs", [{"peak_inflow": 0}, {"peak_inflow": 1, "nu": -1}, {"peak_inflow": 1, "substeps": 0}]
)
def test_flow_config_validates(kwargs) -> None:
    with pytest.raises(ValueError):
        FlowConfig(**kwargs)


def test_reynolds_number_dfg() -> None:
    assert reynolds_number(1.5, 0.05) == pytest.approx(100.0)


# -- generator ------------------------------------------------------------------------------


def test_parameters_depend_on_seed_and_index_only() -> None:
    a = [gen.sample_parameters(7, i) for i in range(50)]
    assert gen.sample_parameters(7, 3) == a[3] and gen.sample_parameters(8, 3) != a[3]
    for p in a:
        assert gen.CENTRE_X_RANGE[0] <= p.centre[0] <= gen.CENTRE_X_RANGE[1]
        assert gen.CENTRE_Y_RANGE[0] <= p.centre[1] <= gen.CENTRE_Y_RANGE[1]
        assert gen.RADIUS_RANGE[0] <= p.radius <= gen.RADIUS_RANGE[1]
        assert 35 < p.reynolds(1e-3) < 190
        ChannelGeometry(centre=p.centre, radius=p.radius)  # fits in the channel


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("cylinder")
    gen.generate_flow_dataset(out, trajectories=2, seed=5, **TINY)
    return out


def test_layout_attrs_and_manifest(dataset) -> None:
    assert sorted(p.name for p in dataset.iterdir()) == [
        "manifest.json",
        "traj_00000.h5",
        "traj_00001.h5",
    ]
    with h5py.File(dataset / "traj_00001.h5") as handle:
        n = handle["mesh_pos"].shape[0]
        assert 200 < n < 300 and handle["mesh_pos"].dtype == np.float32
        assert handle["cells"].shape[1] == 3 and handle["node_type"].shape == (n, 1)
        assert handle["velocity"].shape == (4, n, 2) and handle["pressure"].shape == (4, n, 1)
        attrs = handle.attrs
        params = gen.sample_parameters(5, 1)
        assert attrs["dt"] == 0.01 and attrs["nu"] == 1e-3 and attrs["seed"] == 5
        assert attrs["radius"] == params.radius and attrs["Um"] == params.peak_inflow
        assert np.allclose(attrs["centre"], params.centre) and attrs["t0"] == pytest.approx(0.02)
        assert "Taylor-Hood" in attrs["solver"] and "scikit-fem" in json.loads(attrs["versions"])
        assert set(np.unique(handle["node_type"][()]).tolist()) == {0, 4, 5, 6}
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["settings"]["frames"] == 4
    assert manifest["versions"]["gmsh"] and manifest["versions"]["scikit-fem"]
    for entry in manifest["trajectories"]:
        assert entry["sha256"] == _sha(dataset / entry["file"])
        assert entry["ms_per_step"] > 0
    records = list(read_h5_trajectories(dataset))
    assert [r.id for r in records] == ["traj_00000", "traj_00001"]
    assert all(isinstance(r, Record) and r.payload.num_frames == 4 for r in records)


def test_second_run_skips_and_extends(dataset, monkeypatch) -> None:
    before = {p.name: (p.stat().st_mtime_ns, _sha(p)) for p in dataset.glob("traj_*.h5")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished trajectory was generated again")

    monkeypatch.setattr(gen, "generate_trajectory", must_not_run)
    gen.generate_flow_dataset(dataset, trajectories=2, seed=5, **TINY)
    assert {p.name: (p.stat().st_mtime_ns, _sha(p)) for p in dataset.glob("traj_*.h5")} == before

    monkeypatch.undo()
    gen.generate_flow_dataset(dataset, trajectories=3, seed=5, **TINY)
    assert (dataset / "traj_00002.h5").exists()
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert len(manifest["trajectories"]) == 3
    assert all(entry["ms_per_step"] for entry in manifest["trajectories"])  # kept on resume


def test_corrupt_file_is_regenerated_identically(dataset) -> None:
    path = dataset / "traj_00000.h5"
    good = _sha(path)
    path.write_bytes(b"half a file")
    gen.generate_flow_dataset(dataset, trajectories=2, seed=5, **TINY)
    assert _sha(path) == good  # the solver is deterministic


def test_other_settings_stop_the_run(dataset) -> None:
    with pytest.raises(ValueError, match="frames .* new directory"):
        gen.generate_flow_dataset(dataset, trajectories=2, seed=5, **{**TINY, "frames": 5})
    with pytest.raises(ValueError, match="seed"):
        gen.generate_flow_dataset(dataset, trajectories=1, seed=6, **TINY)


def test_parallel_workers_write_the_same_files(dataset, tmp_path) -> None:
    gen.generate_flow_dataset(tmp_path, trajectories=2, seed=5, workers=2, **TINY)
    for name in ("traj_00000.h5", "traj_00001.h5"):
        assert _sha(tmp_path / name) == _sha(dataset / name)


def test_a_blown_up_run_is_retried_with_smaller_steps(tmp_path, monkeypatch) -> None:
    from scisuite.domains.mesh import solver

    real = solver.simulate
    calls = []

    def first_run_blows_up(mesh, config, *args, **kwargs):
        calls.append(config.substeps)
        if len(calls) == 1:
            raise FloatingPointError("blew up")
        return real(mesh, config, *args, **kwargs)

    monkeypatch.setattr(solver, "simulate", first_run_blows_up)
    gen.generate_flow_dataset(tmp_path, trajectories=1, seed=5, **TINY)
    assert calls[1] == -(-3 * calls[0] // 2)
    with h5py.File(tmp_path / "traj_00000.h5") as handle:
        assert handle.attrs["substeps"] == calls[1]


def test_merge_into_one_meshgraphnets_file(dataset, tmp_path) -> None:
    merged = gen.merge_trajectories(dataset, tmp_path / "all.h5")
    with h5py.File(merged) as handle:
        assert sorted(handle) == ["traj_00000", "traj_00001", "traj_00002"]
        assert handle["traj_00001"]["velocity"].shape[0] == 4
        assert handle["traj_00001"].attrs["seed"] == 5
    records = list(read_h5_trajectories(merged))
    direct = {r.id: r.payload for r in read_h5_trajectories(dataset)}
    assert [r.id for r in records] == sorted(direct)
    assert np.array_equal(records[1].payload.velocity, direct["traj_00001"].velocity)


# -- validation (slow) ----------------------------------------------------------------------


@pytest.mark.slow
def test_dfg_benchmark_strouhal_number() -> None:
    """DFG 2D-2: centre (0.2, 0.2), r = 0.05, Um = 1.5 (U_mean = 1, Re = 100), St ~ 0.30."""
    start = time.perf_counter()
    mesh = channel_mesh(ChannelGeometry(centre=(0.2, 0.2), radius=0.05), num_vertices=1800)
    flow = simulate(mesh, FlowConfig(peak_inflow=1.5), frames=500, warmup_frames=300)
    probe = nearest_node(mesh.points, (0.4, 0.2))  # two diameters behind the cylinder
    signal = flow.velocity[:, probe, 1]
    assert np.ptp(signal) > 0.5  # developed shedding, not noise
    st = strouhal_number(signal, 0.01, diameter=0.1, mean_velocity=1.0)
    elapsed = time.perf_counter() - start
    print(
        f"St = {st:.4f}, {flow.ms_per_step:.2f} ms/step, {flow.substeps} substeps, {elapsed:.1f} s"
    )
    assert st == pytest.approx(0.30, rel=0.10)


@pytest.mark.slow
def test_mesh_for_the_inference_scale_benchmark() -> None:
    mesh = channel_mesh(num_vertices=300_000)
    assert abs(mesh.num_nodes / 300_000 - 1) <= 0.1


def test_obstacle_flow_cycles_families_and_every_draw_fits() -> None:
    params = [gen.sample_parameters(0, i, "obstacle-flow") for i in range(18)]
    assert [p.family for p in params[:9]] == list(gen.FAMILY_CYCLE)
    assert params[3] == gen.sample_parameters(0, 3, "obstacle-flow")
    assert len(params[3].obstacles) == 2 and params[8].family == gen.HELD_OUT_FAMILY
    reynolds = [p.reynolds(1e-3) for p in params]
    assert min(reynolds) < 50 < max(reynolds)  # near-steady and shedding flows
    for p in params:
        p.geometry()  # inside the channel, obstacles apart
    with pytest.raises(ValueError, match="unknown mesh data set"):
        gen.sample_parameters(0, 0, "airfoil")
