"""MeshGraphNets-style H5 trajectories: read (a file or a directory of them) and write.

See :mod:`~scisuite.domains.mesh.io` for the layout (``mesh_pos``, ``cells``, ``node_type``,
``velocity``, ``pressure``; attributes ``dt`` and ``t0``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from scisuite.core.io import atomic_path
from scisuite.core.records import BadRecord, Record
from scisuite.domains.mesh.io import MeshFormatError, MeshTrajectory

RecordStream = Iterator[Record | BadRecord]

#: Frame spacing assumed for H5 trajectories without a ``dt`` attribute, s.
DEFAULT_DT = 0.01
#: Datasets of one MeshGraphNets-style trajectory.
H5_FIELDS = ("mesh_pos", "cells", "node_type", "velocity", "pressure")
H5_SUFFIXES = (".h5", ".hdf5")


#: What h5py raises on damaged files and datasets of the wrong kind (besides our own).
_DAMAGE_ERRORS = (OSError, KeyError, ValueError, RuntimeError, IndexError, TypeError)


def _static(data: np.ndarray, trailing_dims: int, name: str, where: str) -> np.ndarray:
    """Drop a leading time axis of a static field (converted MeshGraphNets data has one)."""
    if data.ndim == trailing_dims + 1:
        if data.shape[0] == 0:
            raise MeshFormatError(f"{where}: {name} has an empty time axis {data.shape}")
        return data[0]
    return data


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
    points = _static(np.asarray(group["mesh_pos"][()]), 2, "mesh_pos", where)
    cells = _static(np.asarray(group["cells"][()]), 2, "cells", where)
    node_type = np.asarray(group["node_type"][()])
    if node_type.ndim == 3:
        node_type = _static(node_type, 2, "node_type", where)
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
        try:
            # Any trajectory dataset at the root makes the root one trajectory (a missing
            # one is then named), else each group is one.
            if any(name in handle for name in H5_FIELDS):
                entries: list[tuple[str, h5py.Group]] = [(path.stem, handle)]
            else:
                entries = [
                    (f"{id_prefix}{name}", handle[name])
                    for name in sorted(handle)
                    if isinstance(handle[name], h5py.Group)
                ]
        except _DAMAGE_ERRORS as err:
            yield BadRecord(
                id=path.stem,
                reason=(
                    f"{path.name}: the H5 file is damaged ({type(err).__name__}: {err}); "
                    "rewrite or re-download it"
                ),
                source=source,
            )
            return
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
            where = f"{path.name}:{group.name}"
            try:
                trajectory = _trajectory_from_group(group, where)
            except MeshFormatError as err:
                yield BadRecord(id=record_id, reason=str(err), line=number, source=source)
            except _DAMAGE_ERRORS as err:
                reason = (
                    f"{where}: cannot read the trajectory ({type(err).__name__}: {err}); the "
                    "file is damaged or a dataset has the wrong type"
                )
                yield BadRecord(id=record_id, reason=reason, line=number, source=source)
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
