"""Tiny example meshes (no solver needed) for the demo, the docs and the contract suite."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from torch_geometric.data import Data

from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_path
from scisuite.core.plugin import TrainRequest
from scisuite.core.records import Record
from scisuite.domains.mesh.config import MeshConfig, NodeType
from scisuite.domains.mesh.features import trajectory_frames
from scisuite.domains.mesh.geometry import CHANNEL_HEIGHT, CHANNEL_LENGTH
from scisuite.domains.mesh.h5 import write_h5_trajectories, write_h5_trajectory
from scisuite.domains.mesh.io import MeshState, MeshTrajectory, write_vtu
from scisuite.domains.mesh.readers import MeshInput


def example_trajectories(frames: int = 3) -> list[MeshTrajectory]:
    """Two tiny channel flows (no solver needed): a 13 x 6 grid of the CylinderFlow channel
    with Poiseuille inflow plus a travelling wave, inflow/outflow/wall node types."""
    nx, ny = 13, 6
    xs, ys = np.linspace(0, CHANNEL_LENGTH, nx), np.linspace(0, CHANNEL_HEIGHT, ny)
    grid_x, grid_y = np.meshgrid(xs, ys, indexing="xy")
    points = np.c_[grid_x.ravel(), grid_y.ravel()]
    index = np.arange(nx * ny).reshape(ny, nx)
    lower = np.c_[index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, 1:].ravel()]
    upper = np.c_[index[:-1, :-1].ravel(), index[1:, 1:].ravel(), index[1:, :-1].ravel()]
    triangles = np.concatenate([lower, upper])
    node_type = np.full(nx * ny, int(NodeType.NORMAL))
    node_type[points[:, 0] == 0] = int(NodeType.INFLOW)
    node_type[points[:, 0] == CHANNEL_LENGTH] = int(NodeType.OUTFLOW)
    node_type[(points[:, 1] == 0) | (points[:, 1] == CHANNEL_HEIGHT)] = int(NodeType.WALL)
    x, y = points[:, 0], points[:, 1]
    profile = 4 * y * (CHANNEL_HEIGHT - y) / CHANNEL_HEIGHT**2
    result = []
    for peak in (1.0, 1.5):
        times = 3.0 + 0.01 * np.arange(frames)
        wave = np.stack([np.sin(2 * np.pi * (x / 0.8 - 2.0 * t)) for t in times])  # [F, N]
        u = peak * profile * (1 + 0.1 * wave)
        v = 0.1 * peak * profile * wave
        u[:, node_type == int(NodeType.INFLOW)] = peak * profile[node_type == int(NodeType.INFLOW)]
        v[:, node_type == int(NodeType.INFLOW)] = 0.0
        velocity = np.stack([u, v], axis=-1)
        velocity[:, node_type == int(NodeType.WALL)] = 0.0
        pressure = np.tile(peak * (CHANNEL_LENGTH - x) * 0.05, (frames, 1)) + 0.01 * wave
        result.append(
            MeshTrajectory(points, triangles, node_type, velocity, pressure, times, {"Um": peak})
        )
    return result


def example_inputs() -> list[Record]:
    """The two example trajectories as prediction records (``channel_1``, ``channel_2``)."""
    return [
        Record(f"channel_{i}", MeshInput(t), i)
        for i, t in enumerate(example_trajectories(), start=1)
    ]


def example_objects() -> list[MeshState]:
    """The examples' initial states, as a notebook user would pass them."""
    return [trajectory.state(0) for trajectory in example_trajectories()]


def write_example_file(directory: Path) -> tuple[Path, int, int]:
    """``mesh_examples.h5``: two channel-flow trajectories and one group without
    ``pressure`` (a bad record). Also writes ``case.vtu``, the first example's initial
    state as a single-mesh input (``sci predict --domain mesh case.vtu``)."""
    directory = Path(directory)
    examples = example_trajectories()
    path = directory / "mesh_examples.h5"
    with atomic_path(path) as tmp:
        write_h5_trajectories(tmp, [(f"channel_{i}", t) for i, t in enumerate(examples, 1)])
        with h5py.File(tmp, "a") as handle:
            broken = handle.create_group("no_pressure")
            for name in ("mesh_pos", "cells", "node_type", "velocity"):
                broken.create_dataset(name, data=handle["channel_1"][name][()])
    write_vtu(directory / "case.vtu", examples[0].state(0))
    return path, len(examples) + 1, 1


def labelled(config: FrozenConfig) -> list[Data]:
    """One-step frames of the example trajectories, with their targets (every ``(u, v, p)``
    known, so every metric is defined)."""
    config = MeshConfig.coerce(config)
    return [graph for t in example_trajectories() for graph in trajectory_frames(t, config)]


def write_example_dataset(directory: Path, trajectories: int = 4, frames: int = 8) -> Path:
    """A generated-data-set-like folder of ``traj_<i>.h5`` files: the two example flows,
    alternately, scaled by ``1 + 0.1 i``. Returns ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base = example_trajectories(frames=frames)
    for index in range(trajectories):
        source = base[index % 2]
        scale = 1.0 + 0.1 * index
        trajectory = MeshTrajectory(
            source.points,
            source.triangles,
            source.node_type,
            source.velocity * scale,
            source.pressure * scale,
            source.times,
        )
        write_h5_trajectory(directory / f"traj_{index:05d}.h5", trajectory, {"dt": 0.01})
    return directory


def training_request(directory: Path) -> TrainRequest:
    """A tiny training set (:func:`write_example_dataset`: 4 trajectories, so train,
    validation and test are all non-empty) written into ``directory``."""
    return TrainRequest(data=write_example_dataset(directory), seed=0)
