"""Prediction inputs: the reader for each file suffix, and Python objects -> records.

Each suffix maps to its final reader (one dispatch): a directory (``""``) or ``.h5`` /
``.hdf5`` file -> :func:`~scisuite.domains.mesh.h5.read_h5_trajectories`; ``.xdmf`` ->
:func:`~scisuite.domains.mesh.xdmf.read_xdmf_series`; a single mesh meshio reads (VTU, VTK,
``.msh``, ...) -> :func:`~scisuite.domains.mesh.io.read_single_mesh`. For prediction the
reader adds the ``--steps`` / ``--start-frame`` options to each record's payload
(:class:`MeshInput`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scisuite.core.io import strip_suffixes
from scisuite.core.plugin import Reader
from scisuite.core.records import PYTHON_SOURCE, BadRecord, Record
from scisuite.domains.mesh.h5 import read_h5_trajectories
from scisuite.domains.mesh.io import MeshFormatError, MeshState, MeshTrajectory, read_single_mesh
from scisuite.domains.mesh.xdmf import read_xdmf_series

RecordStream = Iterator[Record | BadRecord]


@dataclass(frozen=True)
class MeshInput:
    """A prediction record's payload.

    Attributes:
        mesh: the initial state, or a trajectory (the rollout starts at ``start_frame``,
            at least at the model's ``history``).
        rollout_steps: prediction length (``--steps``); None = the model's default.
        start_frame: first frame of a trajectory input (``--start-frame``).
        max_nodes: this run's node limit (``--max-nodes``); None = the model config's.
        max_steps: this run's rollout-step limit (``--max-steps``); None = the config's.
        max_frames_gib: this run's limit on the frames one record holds, GiB
            (``--max-frames-gib``); None = the config's.
    """

    mesh: MeshState | MeshTrajectory
    rollout_steps: int | None = None
    start_frame: int = 0
    max_nodes: int | None = None
    max_steps: int | None = None
    max_frames_gib: float | None = None


def _one_file(read: Callable[[Path], MeshState | MeshTrajectory]) -> Callable[..., RecordStream]:
    """A reader of one mesh per file -> a stream of one record (id: the file's stem); a file
    that cannot be used becomes a :class:`BadRecord` with the reason."""

    def records(path: str | Path) -> RecordStream:
        path = Path(path)
        try:
            payload = read(path)
        except (MeshFormatError, OSError) as err:
            yield BadRecord(id=path.stem, reason=str(err), line=1, source=str(path))
        else:
            yield Record(id=path.stem, payload=payload, line=1, source=str(path))

    return records


read_single_mesh_records = _one_file(read_single_mesh)
read_xdmf_records = _one_file(read_xdmf_series)

#: Mesh inputs by file suffix (``""`` = a directory of H5 trajectories).
FORMATS: dict[str, Callable[..., RecordStream]] = {
    "": read_h5_trajectories,
    ".h5": read_h5_trajectories,
    ".hdf5": read_h5_trajectories,
    ".xdmf": read_xdmf_records,
    **{
        suffix: read_single_mesh_records
        for suffix in (".vtu", ".vtk", ".msh", ".mesh", ".med", ".su2", ".ply", ".obj", ".off")
    },
}


def read_mesh_file(path: str | Path) -> RecordStream:
    """Records of any mesh input (a directory, H5, XDMF, or any other file as a single mesh),
    for paths that do not come through the plugin's reader table (evaluation files,
    Python objects)."""
    suffix = "" if Path(path).is_dir() else strip_suffixes(path)
    return FORMATS.get(suffix, read_single_mesh_records)(path)


def with_options(read: Callable[..., RecordStream]) -> Reader:
    """``read`` as a prediction reader: each record's payload becomes a :class:`MeshInput`
    with the ``rollout_steps`` (``--steps``) and ``start_frame`` (``--start-frame``) options.

    The limits ``max_nodes`` (``--max-nodes``), ``max_steps`` (``--max-steps``) and
    ``max_frames_gib`` (``--max-frames-gib``) ride along too; the featurizer checks every
    record against them.

    Raises (when iterated):
        ValueError: ``rollout_steps < 1``, ``start_frame < 0``, ``max_nodes < 1``,
            ``max_steps < 1`` or ``max_frames_gib <= 0``.
    """

    def reader(
        path: str | Path,
        rollout_steps: int | None = None,
        start_frame: int | None = None,
        max_nodes: int | None = None,
        max_steps: int | None = None,
        max_frames_gib: float | None = None,
        **_: Any,
    ) -> RecordStream:
        if max_frames_gib is not None and not float(max_frames_gib) > 0:
            raise ValueError(f"--max-frames-gib must be > 0, got {max_frames_gib}")
        frames_cap = None if max_frames_gib is None else float(max_frames_gib)
        for flag, value, least in (
            ("--steps", rollout_steps, 1),
            ("--start-frame", start_frame, 0),
            ("--max-nodes", max_nodes, 1),
            ("--max-steps", max_steps, 1),
        ):
            if value is not None and int(value) < least:
                raise ValueError(f"{flag} must be >= {least}, got {value}")
        steps = None if rollout_steps is None else int(rollout_steps)
        nodes_cap = None if max_nodes is None else int(max_nodes)
        steps_cap = None if max_steps is None else int(max_steps)
        for record in read(path):
            if isinstance(record, Record):
                payload = MeshInput(
                    record.payload, steps, int(start_frame or 0), nodes_cap, steps_cap, frames_cap
                )
                record = dataclasses.replace(record, payload=payload)
            yield record

    return reader


#: The plugin's reader table.
READERS: dict[str, Reader] = {suffix: with_options(read) for suffix, read in FORMATS.items()}


def records_from_objects(objects: Iterable[Any]) -> RecordStream:
    """:class:`MeshState` / :class:`MeshTrajectory` objects, or paths of mesh files."""
    for number, obj in enumerate(objects, start=1):
        if isinstance(obj, MeshState | MeshTrajectory):
            yield Record(f"mesh_{number}", MeshInput(obj), number, PYTHON_SOURCE)
        elif isinstance(obj, str | Path) and Path(obj).exists():
            yield from with_options(read_mesh_file)(obj)
        else:
            yield BadRecord(
                f"mesh_{number}",
                f"expected a MeshState, a MeshTrajectory or the path of a mesh file, got "
                f"{type(obj).__name__} {str(obj)[:60]!r}",
                number,
                PYTHON_SOURCE,
            )


def echo_columns(record: Record | BadRecord) -> dict[str, Any]:
    """The input columns of every row: ``id`` and ``source``."""
    return {"id": record.id, "source": record.source}
