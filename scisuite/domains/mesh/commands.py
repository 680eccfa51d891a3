"""Mesh domain verbs: ``sci data generate mesh cylinder-flow | obstacle-flow`` (the solver)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scisuite.domains.mesh.config import DATASET_NAME, OBSTACLE_DATASET


def generate(name: str, output_dir: Path, options: Mapping[str, Any]) -> Path:
    """``sci data generate mesh cylinder-flow -o DIR [--trajectories N --frames T ...]``.

    Args:
        name: the data set, ``cylinder-flow`` or ``obstacle-flow``.
        output_dir: where the ``traj_*.h5`` files and the manifest go.
        options: the domain's generate options (``trajectories``, ``frames``,
            ``warmup_frames``, ``num_vertices``; defaults filled by the API) plus ``seed``,
            ``workers`` and ``quiet``.

    Returns:
        ``output_dir``.

    Raises:
        ValueError: another data set name.
    """
    if name not in (DATASET_NAME, OBSTACLE_DATASET):
        raise ValueError(
            f"the mesh domain generates {DATASET_NAME!r} or {OBSTACLE_DATASET!r}, not {name!r}"
        )
    from scisuite.domains.mesh.generate import generate_flow_dataset

    return generate_flow_dataset(
        output_dir,
        trajectories=int(options["trajectories"]),
        frames=int(options["frames"]),
        seed=int(options.get("seed", 0)),
        workers=int(options.get("workers", 1)),
        warmup_frames=int(options["warmup_frames"]),
        progress=False if options.get("quiet", False) else None,
        num_vertices=int(options["num_vertices"]),
        dataset=name,
    )
