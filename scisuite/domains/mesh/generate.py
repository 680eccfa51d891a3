"""``sci data generate cylinder-flow``: CylinderFlow-like trajectories from a real solver.

Each trajectory is a flow past a cylinder in the DFG channel ``[0, 1.6] x [0, 0.41]`` m,
meshed by gmsh (~1,800 vertices, refined at the cylinder) and solved by
:mod:`~scisuite.domains.mesh.solver` (scikit-fem, Taylor-Hood P2/P1, IMEX BDF2) with
``nu = 1e-3`` m^2/s. Parameters of trajectory ``i`` are drawn from
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(i,)))``, so they depend on
``(seed, i)`` only (not on the number of trajectories, the workers or resumption):

* cylinder centre ``x ~ U[0.15, 0.35]``, ``y ~ U[0.15, 0.26]`` m;
* radius ``r ~ U[0.03, 0.07]`` m;
* peak inflow ``Um ~ U[1.0, 2.0]`` m/s (mean inflow ``2/3 Um``), so
  ``Re = (2/3) Um 2r / nu`` spans about 40-190 (median ~100); vortices shed above
  Re ~ 50, so a few trajectories with the smallest cylinders and slowest inflow are steady.

The flow starts at rest with a 0.5 s smooth inflow ramp; the first ``warmup_frames``
frames (default 300 = 3 s, enough for developed shedding at Re ~ 100) are discarded and the
next ``frames`` are stored ``dt = 0.01`` s apart (every ``substeps``-th solver step). A
run that blows up (explicit convection beyond its step limit) is redone with 1.5x more
solver steps per frame, at most twice; the file records the ``substeps`` used.

Output directory::

    traj_00000.h5 ... traj_{N-1}.h5   one trajectory each, MeshGraphNets layout at the root
                                      (see scisuite.domains.mesh.io.write_h5_trajectory),
                                      attributes: dt, t0, nu, radius, centre, Um, reynolds,
                                      seed, index, frames, warmup_frames, substeps, solver,
                                      solver_dt, num_vertices_target, versions (JSON)
    manifest.json                     settings, parameter ranges, versions, per-file sha256

Runs are resumable: a trajectory file that exists and validates (readable, complete, same
settings and parameters) is skipped; a corrupt one is regenerated; one made with other
settings stops the run before any work (use a new directory). Files are written atomically,
so an interrupted run leaves only complete files.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import platform
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from scisuite.core.io import atomic_path
from scisuite.core.progress import progress_bar
from scisuite.core.records import BadRecord
from scisuite.domains.mesh.config import DATASET_NAME, OBSTACLE_DATASET
from scisuite.domains.mesh.geometry import ChannelGeometry
from scisuite.domains.mesh.h5 import (
    read_h5_trajectories,
    write_h5_trajectories,
    write_h5_trajectory,
)
from scisuite.domains.mesh.io import MeshTrajectory
from scisuite.domains.mesh.obstacles import Obstacle

FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"
# cylinder-flow (format 1's draws, kept so that its files regenerate identically).
CENTRE_X_RANGE = (0.15, 0.35)
CENTRE_Y_RANGE = (0.15, 0.26)
RADIUS_RANGE = (0.03, 0.07)
PEAK_INFLOW_RANGE = (1.0, 2.0)
# obstacle-flow: the family of trajectory i is FAMILY_CYCLE[i % 9], so every 9th trajectory
# is a triangle, the family that training never sees (HELD_OUT_FAMILY).
FAMILY_CYCLE = (
    "circle", "ellipse", "rectangle", "pair", "circle", "ellipse", "rectangle", "pair",
    "triangle",
)  # fmt: skip
HELD_OUT_FAMILY = "triangle"
OBSTACLE_CENTRE_X_RANGE = (0.15, 0.35)
OBSTACLE_CENTRE_Y_RANGE = (0.12, 0.29)
OBSTACLE_SIZE_RANGE = (0.035, 0.075)
PAIR_SIZE_RANGE = (0.025, 0.05)
PAIR_SPACING_RANGE = (0.12, 0.35)
PAIR_CENTRE_Y_RANGE = (0.09, 0.32)
OBSTACLE_PEAK_INFLOW_RANGE = (0.4, 2.0)
#: Families and ranges of each generated data set (``sci data generate mesh NAME``).
DATASET_FAMILIES = {DATASET_NAME: ("circle",), OBSTACLE_DATASET: FAMILY_CYCLE}
#: Reruns of a trajectory with 1.5x more solver steps per frame after a blow-up.
_RETRIES = 2
#: Settings whose value in an existing file must match for it to be reused.
_SETTING_ATTRS = ("frames", "warmup_frames", "dt", "nu", "num_vertices_target", "format_version")


@dataclass(frozen=True)
class TrajectoryParameters:
    """Physical parameters of one generated trajectory.

    Attributes:
        index: trajectory number ``i`` (file ``traj_{i:05d}.h5``).
        obstacles: the solid bodies in the channel.
        peak_inflow: ``Um``, centre-line inflow speed, m/s.
        family: ``circle``, ``ellipse``, ``rectangle``, ``triangle`` or ``pair`` (two
            circles).
    """

    index: int
    obstacles: tuple[Obstacle, ...]
    peak_inflow: float
    family: str = "circle"

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the first obstacle, m."""
        return self.obstacles[0].centre

    @property
    def radius(self) -> float:
        """Size (half-extent) of the first obstacle, m."""
        return self.obstacles[0].size

    @property
    def frontal_height(self) -> float:
        """The largest obstacle's extent across the flow, m (``2r`` for a cylinder)."""
        return max(o.frontal_height for o in self.obstacles)

    def reynolds(self, nu: float) -> float:
        """``Re = (2/3) Um D / nu``, ``D`` the frontal height (``2r`` for a cylinder)."""
        return (2.0 / 3.0) * self.peak_inflow * self.frontal_height / nu

    def geometry(self) -> ChannelGeometry:
        """The channel with these obstacles."""
        return ChannelGeometry(obstacles=self.obstacles)


@dataclass(frozen=True)
class GenerationSettings:
    """Settings shared by all trajectories of one data set.

    Attributes:
        frames: stored frames per trajectory.
        warmup_frames: frames simulated and discarded first.
        dt: time between stored frames, s.
        nu: kinematic viscosity, m^2/s.
        num_vertices: target mesh vertex count.
        courant: Courant number for the solver's automatic substeps.
    """

    frames: int
    warmup_frames: int = 300
    dt: float = 0.01
    nu: float = 1e-3
    num_vertices: int = 1800
    courant: float = 0.4

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")
        if self.warmup_frames < 0:
            raise ValueError(f"warmup_frames must be >= 0, got {self.warmup_frames}")


def sample_parameters(seed: int, index: int, dataset: str = DATASET_NAME) -> TrajectoryParameters:
    """Parameters of trajectory ``index`` of ``dataset`` for seed ``seed`` (ranges: module
    doc). A draw that does not fit the channel is redrawn from the same generator."""
    if dataset not in DATASET_FAMILIES:
        raise ValueError(
            f"unknown mesh data set {dataset!r}; choose one of {sorted(DATASET_FAMILIES)}"
        )
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    if dataset == DATASET_NAME:
        cx = float(rng.uniform(*CENTRE_X_RANGE))
        cy = float(rng.uniform(*CENTRE_Y_RANGE))
        radius = float(rng.uniform(*RADIUS_RANGE))
        peak_inflow = float(rng.uniform(*PEAK_INFLOW_RANGE))
        return TrajectoryParameters(index, (Obstacle("circle", (cx, cy), radius),), peak_inflow)
    family = FAMILY_CYCLE[index % len(FAMILY_CYCLE)]
    peak_inflow = float(rng.uniform(*OBSTACLE_PEAK_INFLOW_RANGE))
    while True:
        obstacles = _draw_obstacles(family, rng)
        try:
            ChannelGeometry(obstacles=obstacles)
        except ValueError:
            continue
        return TrajectoryParameters(index, obstacles, peak_inflow, family)


def _draw_obstacles(family: str, rng: np.random.Generator) -> tuple[Obstacle, ...]:
    centre = (
        float(rng.uniform(*OBSTACLE_CENTRE_X_RANGE)),
        float(rng.uniform(*OBSTACLE_CENTRE_Y_RANGE)),
    )
    if family == "pair":
        first = Obstacle(
            "circle",
            (centre[0], float(rng.uniform(*PAIR_CENTRE_Y_RANGE))),
            float(rng.uniform(*PAIR_SIZE_RANGE)),
        )
        x = centre[0] + float(rng.uniform(*PAIR_SPACING_RANGE))
        second = Obstacle(
            "circle",
            (x, float(rng.uniform(*PAIR_CENTRE_Y_RANGE))),
            float(rng.uniform(*PAIR_SIZE_RANGE)),
        )
        return (first, second)
    size = float(rng.uniform(*OBSTACLE_SIZE_RANGE))
    if family == "circle":
        return (Obstacle("circle", centre, size),)
    aspect_range, angle_range = {
        "ellipse": ((0.4, 0.9), (-math.pi / 3, math.pi / 3)),
        "rectangle": ((0.4, 1.0), (0.0, math.pi / 2)),
        "triangle": ((0.6, 1.0), (0.0, 2 * math.pi)),
    }[family]
    aspect = float(rng.uniform(*aspect_range))
    angle = float(rng.uniform(*angle_range))
    return (Obstacle(family, centre, size, aspect, angle),)


def trajectory_file(out_dir: Path, index: int) -> Path:
    """``out_dir / traj_{index:05d}.h5``."""
    return Path(out_dir) / f"traj_{index:05d}.h5"


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("scisuite", "gmsh", "scikit-fem", "numpy", "scipy", "h5py"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _expected_attrs(
    params: TrajectoryParameters, settings: GenerationSettings, seed: int
) -> dict[str, Any]:
    return {
        "frames": settings.frames,
        "warmup_frames": settings.warmup_frames,
        "dt": settings.dt,
        "nu": settings.nu,
        "num_vertices_target": settings.num_vertices,
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "index": params.index,
        "radius": params.radius,
        "centre": np.asarray(params.centre),
        "Um": params.peak_inflow,
        "family": params.family,
        "obstacles": json.dumps([o.to_dict() for o in params.obstacles], sort_keys=True),
    }


def _file_status(
    path: Path, params: TrajectoryParameters, settings: GenerationSettings, seed: int
) -> str:
    """``"ok"``, ``"corrupt"``, or a sentence saying which setting differs."""
    expected = _expected_attrs(params, settings, seed)
    try:
        with h5py.File(path, "r") as handle:
            attrs = dict(handle.attrs)
            shapes = {name: handle[name].shape for name in ("mesh_pos", "velocity", "pressure")}
    except (OSError, KeyError):
        return "corrupt"
    for key in (*_SETTING_ATTRS, "seed", "index"):
        if key not in attrs or not np.allclose(attrs[key], expected[key]):
            return (
                f"{path.name} was generated with {key} = {attrs.get(key)!r}, this run asks "
                f"for {expected[key]!r}"
            )
    for key in ("radius", "centre", "Um"):
        if key not in attrs or not np.allclose(attrs[key], expected[key]):
            return f"{path.name} has {key} = {attrs.get(key)!r}, expected {expected[key]!r}"
    for key in ("family", "obstacles"):
        if attrs.get(key) != expected[key]:
            return f"{path.name} has {key} = {attrs.get(key)!r}, expected {expected[key]!r}"
    n = shapes["mesh_pos"][0]
    if shapes["velocity"] != (settings.frames, n, 2) or shapes["pressure"] != (
        settings.frames,
        n,
        1,
    ):
        return "corrupt"
    return "ok"


def generate_trajectory(
    path: str | Path,
    params: TrajectoryParameters,
    settings: GenerationSettings,
    seed: int,
    on_frame: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Mesh, solve and write one trajectory file atomically; returns its manifest entry.

    Args:
        path: output ``.h5`` file.
        params: cylinder and inflow.
        settings: frames, warm-up, dt, nu, mesh size.
        seed: the data set's seed (recorded in the file).
        on_frame: progress callback ``on_frame(done, total)`` over simulated frames.
    """
    from scisuite.domains.mesh.geometry import channel_mesh
    from scisuite.domains.mesh.solver import (
        SOLVER_NAME,
        FlowConfig,
        default_substeps,
        simulate,
    )

    start = time.perf_counter()
    mesh = channel_mesh(params.geometry(), num_vertices=settings.num_vertices)
    config = FlowConfig(
        peak_inflow=params.peak_inflow,
        nu=settings.nu,
        frame_dt=settings.dt,
        courant=settings.courant,
    )
    substeps = default_substeps(mesh, config)
    for attempt in range(_RETRIES + 1):
        config = replace(config, substeps=substeps)
        try:
            flow = simulate(mesh, config, settings.frames, settings.warmup_frames, on_frame)
            break
        except FloatingPointError:
            if attempt == _RETRIES:
                raise
            substeps = math.ceil(1.5 * substeps)  # explicit convection: smaller steps
    trajectory = MeshTrajectory(
        points=mesh.points,
        triangles=mesh.triangles,
        node_type=mesh.node_type,
        velocity=flow.velocity,
        pressure=flow.pressure,
        times=flow.times,
    )
    versions = _versions()
    attrs = {
        **_expected_attrs(params, settings, seed),
        "t0": float(flow.times[0]),
        "reynolds": params.reynolds(settings.nu),
        "frontal_height": params.frontal_height,
        "substeps": flow.substeps,
        "solver_dt": flow.solver_dt,
        "ramp_time": config.ramp_time,
        "solver": SOLVER_NAME,
        "versions": json.dumps(versions, sort_keys=True),
    }
    write_h5_trajectory(path, trajectory, attrs)
    return {
        "num_nodes": mesh.num_nodes,
        "num_triangles": int(len(mesh.triangles)),
        "substeps": flow.substeps,
        "ms_per_step": round(flow.ms_per_step, 3),
        "seconds": round(time.perf_counter() - start, 2),
    }


def _worker(
    path: Path, params: TrajectoryParameters, settings: GenerationSettings, seed: int
) -> dict[str, Any]:
    return generate_trajectory(path, params, settings, seed)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _previous_timings(out_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text())
        return {entry["sha256"]: entry for entry in manifest["trajectories"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def generate_flow_dataset(
    out_dir: str | Path,
    trajectories: int,
    frames: int,
    seed: int,
    workers: int = 1,
    warmup_frames: int = 300,
    progress: bool | None = None,
    num_vertices: int = 1800,
    nu: float = 1e-3,
    dataset: str = DATASET_NAME,
) -> Path:
    """Generate (or complete) a CylinderFlow-like data set in ``out_dir``.

    Args:
        out_dir: output directory (created); holds ``traj_*.h5`` and ``manifest.json``.
        dataset: ``cylinder-flow`` (circular cylinders) or ``obstacle-flow`` (varied
            obstacles, a held-out triangle family; module doc).
        trajectories: number of trajectories ``N``.
        frames: stored frames per trajectory (600 in MeshGraphNets' CylinderFlow).
        seed: data-set seed; trajectory ``i`` depends on ``(seed, i)`` only.
        workers: processes solving trajectories in parallel (1 = in this process).
        warmup_frames: frames simulated and discarded before the first stored one.
        progress: show progress bars (trajectories; frames too when ``workers == 1``).
        num_vertices: target mesh vertex count.
        nu: kinematic viscosity, m^2/s.

    Returns:
        ``out_dir``.

    Raises:
        ValueError: bad arguments, or an existing file made with other settings.
    """
    if trajectories < 1:
        raise ValueError(f"trajectories must be >= 1, got {trajectories}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    settings = GenerationSettings(
        frames=frames, warmup_frames=warmup_frames, nu=nu, num_vertices=num_vertices
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = [sample_parameters(seed, index, dataset) for index in range(trajectories)]
    todo: list[TrajectoryParameters] = []
    for p in params:
        path = trajectory_file(out, p.index)
        if not path.exists():
            todo.append(p)
            continue
        status = _file_status(path, p, settings, seed)
        if status == "corrupt":
            todo.append(p)
        elif status != "ok":
            raise ValueError(
                f"{status}; write this data set into a new directory, or delete {path} to "
                "regenerate it"
            )
    timings: dict[int, dict[str, Any]] = {}
    bar = progress_bar(trajectories, dataset, "traj", progress, initial=trajectories - len(todo))
    with bar:
        if workers == 1 or len(todo) <= 1:
            for p in todo:
                frame_bar = progress_bar(
                    settings.warmup_frames + settings.frames - 1,
                    f"traj {p.index} (Re {p.reynolds(nu):.0f})",
                    "frame",
                    progress,
                    leave=False,
                )
                with frame_bar:

                    def on_frame(done: int, total: int, frame_bar=frame_bar) -> None:
                        frame_bar.n = done  # restarts at 0 when a blown-up run is retried
                        frame_bar.refresh()

                    timings[p.index] = generate_trajectory(
                        trajectory_file(out, p.index), p, settings, seed, on_frame
                    )
                bar.update(1)
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {
                    pool.submit(_worker, trajectory_file(out, p.index), p, settings, seed): p
                    for p in todo
                }
                for future in as_completed(futures):
                    timings[futures[future].index] = future.result()
                    bar.update(1)
    write_manifest(out, params, settings, seed, timings, dataset)
    return out


def write_manifest(
    out_dir: Path,
    params: list[TrajectoryParameters],
    settings: GenerationSettings,
    seed: int,
    timings: dict[int, dict[str, Any]],
    dataset: str = DATASET_NAME,
) -> Path:
    """Write ``manifest.json`` atomically: settings, ranges, versions, files and checksums.

    Timings of trajectories not generated in this run are carried over from the previous
    manifest when the file's checksum is unchanged.
    """
    previous = _previous_timings(out_dir)
    entries = []
    for p in params:
        path = trajectory_file(out_dir, p.index)
        digest = _sha256(path)
        with h5py.File(path, "r") as handle:
            num_nodes = int(handle["mesh_pos"].shape[0])
            substeps = int(handle.attrs["substeps"])
        timing = timings.get(p.index) or {
            key: previous.get(digest, {}).get(key) for key in ("ms_per_step", "seconds")
        }
        entries.append(
            {
                "id": path.stem,
                "file": path.name,
                "sha256": digest,
                "bytes": path.stat().st_size,
                "family": p.family,
                "obstacles": [o.to_dict() for o in p.obstacles],
                "centre": list(p.centre),
                "radius": p.radius,
                "Um": p.peak_inflow,
                "reynolds": round(p.reynolds(settings.nu), 3),
                "num_nodes": num_nodes,
                "substeps": substeps,
                "ms_per_step": timing.get("ms_per_step"),
                "seconds": timing.get("seconds"),
            }
        )
    manifest = {
        "dataset": dataset,
        "format": "MeshGraphNets-style H5, one trajectory per file",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "settings": asdict(settings),
        "parameter_ranges": _parameter_ranges(dataset),
        "versions": _versions(),
        "trajectories": entries,
    }
    target = out_dir / MANIFEST_NAME
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return target


def _parameter_ranges(dataset: str) -> dict[str, Any]:
    if dataset == DATASET_NAME:
        return {
            "centre_x": list(CENTRE_X_RANGE),
            "centre_y": list(CENTRE_Y_RANGE),
            "radius": list(RADIUS_RANGE),
            "Um": list(PEAK_INFLOW_RANGE),
        }
    return {
        "family_cycle": list(FAMILY_CYCLE),
        "held_out_family": HELD_OUT_FAMILY,
        "centre_x": list(OBSTACLE_CENTRE_X_RANGE),
        "centre_y": list(OBSTACLE_CENTRE_Y_RANGE),
        "size": list(OBSTACLE_SIZE_RANGE),
        "pair_size": list(PAIR_SIZE_RANGE),
        "pair_spacing": list(PAIR_SPACING_RANGE),
        "pair_centre_y": list(PAIR_CENTRE_Y_RANGE),
        "Um": list(OBSTACLE_PEAK_INFLOW_RANGE),
    }


def merge_trajectories(source: str | Path, output: str | Path) -> Path:
    """Merge a directory of trajectory files into one MeshGraphNets H5 (one group each).

    Group names are the trajectory ids (``traj_00000``, ...); file attributes are kept on
    the groups. Unreadable trajectories stop the merge with their reason.

    Args:
        source: a generated directory (or an H5 file, to re-pack it).
        output: the merged ``.h5`` file, written atomically.
    """

    def readable() -> Iterator[tuple[str, MeshTrajectory]]:
        for record in read_h5_trajectories(source):
            if isinstance(record, BadRecord):
                raise ValueError(f"cannot merge {record.id} ({record.source}): {record.reason}")
            yield record.id.replace("/", "_"), record.payload

    return write_h5_trajectories(output, readable())
