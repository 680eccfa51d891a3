"""XDMF time series (ParaView): read one as a trajectory, write one, and the streaming
``.xdmf`` prediction writer (``sci predict --domain mesh case.vtu -o flow.xdmf``)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import h5py
import meshio
import numpy as np

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import Predicted
from scisuite.domains.mesh.io import (
    MeshFormatError,
    MeshTrajectory,
    field_named,
    flow_fields,
    points_2d,
    resolve_node_type,
    triangle_cells,
)


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
        points = points_2d(raw_points, where)
        triangles, line_blocks = triangle_cells(cells, where)
        n = len(points)
        if reader.num_steps == 0:
            raise MeshFormatError(f"{where}: the time series has no steps")
        times, velocities, pressures = [], [], []
        found_types: np.ndarray | None = None
        first_cell_data: dict[str, list[np.ndarray]] = {}
        for step in range(reader.num_steps):
            try:
                t, point_data, cell_data = reader.read_data(step)
            # A damaged .h5 beside the .xdmf fails inside h5py/meshio with many types.
            except Exception as err:
                raise MeshFormatError(
                    f"{where}: cannot read step {step} ({type(err).__name__}: {err}); the "
                    ".h5 file next to the .xdmf is damaged or incomplete"
                ) from err
            velocity, pressure = flow_fields(point_data, n, f"{where} step {step} (t = {t})")
            times.append(t)
            velocities.append(velocity)
            pressures.append(pressure)
            if step == 0:
                first_cell_data = cell_data
            if (
                found_types is None
                and node_type is None
                and field_named(point_data, "node_type") is not None
            ):
                found_types = resolve_node_type(n, point_data, cells, [], {}, {}, where)
    if node_type is not None:
        found_types = np.asarray(node_type, dtype=np.int64)
    if found_types is None:
        found_types = resolve_node_type(n, {}, cells, line_blocks, first_cell_data, {}, where)
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
    place: an old ``.xdmf`` is removed first, then ``<stem>.h5`` is replaced, then the new
    ``.xdmf`` (which refers to the ``.h5`` by its file name) appears. A process killed at any
    point leaves no half-written file under the final names and never an ``.xdmf`` next to
    an ``.h5`` of another write: the old series, the complete new one, or (killed between
    the three renames) an ``.h5`` without its ``.xdmf``.

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
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # an old .xdmf must never describe the new .h5
        os.replace(tmp_xdmf.with_suffix(".h5"), path.with_suffix(".h5"))
        os.replace(tmp_xdmf, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp_dir)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "mesh"


def _remove_series(path: Path) -> None:
    for file in (path, path.with_suffix(".h5")):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


class XdmfPredictionSink:
    """The ``.xdmf`` writer: each successful record's rollout as an XDMF time series.

    One successful record -> ``path``; several -> ``<stem>.<id>.xdmf`` next to it (each with
    its ``.h5``). Point fields at every step: ``velocity [N, 2]``, ``pressure [N]``,
    ``node_type [N]``. Streams: at most one rollout is held, until a second successful
    record shows whether the output is one file or several.

    Args:
        path: the ``.xdmf`` output asked for.
        config: the domain config (unused; the sink factory signature).
    """

    def __init__(self, path: Path, config: FrozenConfig | None = None) -> None:
        self.path = Path(path)
        self._pending: tuple[str, Any] | None = None
        self._several = False
        self._written: list[Path] = []
        self._failed: list[str] = []

    def write(self, predicted: Predicted) -> None:
        if predicted.row.get("status", "ok") != "ok" or predicted.item is None:
            self._failed.append(f"{predicted.row.get('id')}: {predicted.row.get('error', '')}")
            return
        record = (str(predicted.row["id"]), predicted.item)
        if self._pending is not None:
            self._several = True
            self._write_one(self._pending)
            self._pending = None
        if self._several:
            self._write_one(record)
        else:
            self._pending = record

    def _write_one(self, record: tuple[str, Any], target: Path | None = None) -> None:
        record_id, rollout = record
        target = target or self.path.with_name(f"{self.path.stem}.{_slug(record_id)}.xdmf")
        self._written.append(
            write_xdmf_series(
                target,
                rollout.points,
                rollout.triangles,
                rollout.times,
                rollout.velocity,
                rollout.pressure,
                node_type=rollout.node_type,
            )
        )

    def close(self) -> list[Path]:
        """Write the single pending rollout to ``path``; return the ``.xdmf`` files written.

        Raises:
            ValueError: no record succeeded (nothing to write); the message gives the first
                failed records' reasons.
        """
        if self._pending is not None:
            self._write_one(self._pending, self.path)
            self._pending = None
        if not self._written:
            shown = "\n".join(f"  {line}" for line in self._failed[:5])
            more = len(self._failed) - 5
            rest = f"\n  ... and {more} more" if more > 0 else ""
            raise ValueError(
                f"no prediction succeeded, nothing to write to {self.path}:\n{shown}{rest}\n"
                "(every record's reason is in the error column of the .csv table written "
                "next to it)"
            )
        return list(self._written)

    def abort(self) -> None:
        self._pending = None
        for path in self._written:
            _remove_series(path)
        self._written = []
