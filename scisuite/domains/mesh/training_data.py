"""Training and evaluation data of the mesh domain: generated trajectories, split by trajectory.

``sci train --domain mesh --data DIR`` (or ``--dataset cylinder-flow``) splits the
trajectories of a generated data set by trajectory (seeded 80/10/10), fits the normalisers
on the training frames, and trains one-step prediction with noise on the input velocity.
Evaluation uses the test split's frames (one-step metrics) and whole trajectories
(rollouts, :mod:`~scisuite.domains.mesh.report`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch_geometric.data import Data

from scisuite.core.checkpoint import fingerprint
from scisuite.core.config import FrozenConfig, apply_overrides
from scisuite.core.plugin import DataCatalog, DatasetSpec, TrainingData, TrainRequest
from scisuite.core.records import BadRecord, Record
from scisuite.domains.mesh.config import (
    DATASET_NAME,
    MODEL_PRESETS,
    MeshConfig,
    node_feature_dim,
)
from scisuite.domains.mesh.features import (
    fit_normalisers,
    trajectory_frames,
    valid_frames,
)
from scisuite.domains.mesh.generate import HELD_OUT_FAMILY
from scisuite.domains.mesh.h5 import read_h5_trajectories
from scisuite.domains.mesh.io import MeshTrajectory
from scisuite.domains.mesh.readers import read_mesh_file

#: Where ``--dataset cylinder-flow`` looks without ``--dataset-dir`` (what
#: ``sci data build mesh cylinder-flow`` writes with its default ``-o datasets``).
DEFAULT_DATASET_DIR = Path("datasets") / "mesh" / DATASET_NAME
#: Trajectory split fractions (train, validation, test).
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
#: Frames per validation / test trajectory used for one-step metrics (evenly spaced).
VAL_FRAMES = 20
TEST_FRAMES = 50
#: ``sci data build mesh cylinder-flow`` settings (the shipped default's training data).
BUILD_TRAJECTORIES = 40
BUILD_FRAMES = 400


def split_trajectories(
    ids: Sequence[str], seed: int, families: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Trajectory id -> ``"train"`` / ``"val"`` / ``"test"`` / ``"held-out"``.

    Trajectories of the held-out geometry family (:data:`HELD_OUT_FAMILY`, by
    ``families[id]``) are ``"held-out"``: training and model selection never see them. The
    others are split by a seeded permutation, 80/10/10; with 3 or more of them validation
    and test get at least one each; with 2, one trains and one validates (no test).
    """
    families = families or {}
    held_out = {i: "held-out" for i in ids if families.get(i) == HELD_OUT_FAMILY}
    ordered = sorted(i for i in ids if i not in held_out)
    n = len(ordered)
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(SPLIT_FRACTIONS[2] * n)) if n >= 3 else 0
    n_val = max(1, round(SPLIT_FRACTIONS[1] * n)) if n >= 2 else 0
    parts = {}
    for rank, index in enumerate(order):
        parts[ordered[index]] = (
            "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
        )
    return {**parts, **held_out}


def record_split(records: Sequence[Record], seed: int) -> dict[str, str]:
    """:func:`split_trajectories` of records, families from their files' ``family``."""
    families = {r.id: str(r.payload.attrs.get("family", "")) for r in records}
    return split_trajectories([r.id for r in records], seed, families)


def _spread(frames: range, count: int) -> list[int]:
    """``count`` evenly spaced frames (all if fewer)."""
    if len(frames) <= count:
        return list(frames)
    return [frames[int(i)] for i in np.linspace(0, len(frames) - 1, count).round()]


def _sample_frames(frames: range, count: Any, rng: np.random.Generator) -> list[int]:
    if count is None or int(count) >= len(frames):
        return list(frames)
    return sorted(int(f) for f in rng.choice(np.asarray(frames), int(count), replace=False))


def _build_cylinder_flow(out_dir: Path, cache_dir: Path | None) -> Path:
    from scisuite.domains.mesh.generate import generate_flow_dataset

    target = Path(out_dir) / "mesh" / DATASET_NAME
    return generate_flow_dataset(target, BUILD_TRAJECTORIES, BUILD_FRAMES, seed=0, workers=1)


def generated_dataset_name(path: Path) -> str | None:
    """The data set a generated directory's ``manifest.json`` names (None without one)."""
    try:
        return str(json.loads((Path(path) / "manifest.json").read_text())["dataset"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def frame_spacing(trajectory: MeshTrajectory) -> float:
    """Time between stored frames of a trajectory, s (its ``dt`` attribute, else the
    spacing of its times)."""
    if "dt" in trajectory.attrs:
        return float(trajectory.attrs["dt"])
    times = np.asarray(trajectory.times, dtype=np.float64)
    return float(times[1] - times[0]) if times.size > 1 else 0.01


def trajectory_source(
    request: TrainRequest,
) -> tuple[Path, list[Record], dict[str, str]]:
    """The trajectories a request names (path, readable records, rejected id -> reason)."""
    columns = dict(request.columns)
    if request.dataset is not None and request.dataset != DATASET_NAME:
        raise ValueError(
            f"unknown mesh dataset {request.dataset!r}; the mesh domain has "
            f"{DATASET_NAME!r} (generate it with `sci data generate mesh {DATASET_NAME} "
            "-o DIR`) or train on a directory with --data DIR"
        )
    if request.dataset is not None:
        path = Path(columns.get("dataset_dir") or DEFAULT_DATASET_DIR)
    elif request.data is not None:
        path = Path(request.data)
    else:
        raise ValueError(f"give --data DIR (generated trajectories) or --dataset {DATASET_NAME}")
    if not path.exists():
        raise FileNotFoundError(
            f"no trajectories at {path}; create them with `sci data generate mesh "
            f"{DATASET_NAME} -o {path}` (or `sci data build mesh {DATASET_NAME}`)"
        )
    records, rejected = [], {}
    for record in read_h5_trajectories(path):
        if isinstance(record, BadRecord):
            rejected[record.id] = record.reason
        else:
            records.append(record)
    if rejected:
        first = next(iter(rejected.items()))
        print(f"{len(rejected)} trajectory file(s) unusable, e.g. {first}", file=sys.stderr)
    return path, records, rejected


def config_for(request: TrainRequest) -> MeshConfig:
    columns = dict(request.columns)
    preset = str(columns.get("model") or "transformer")
    if preset not in MODEL_PRESETS:
        raise ValueError(f"--model {preset!r}: choose one of {sorted(MODEL_PRESETS)}")
    overrides = dict(request.model_overrides)
    values = apply_overrides(MODEL_PRESETS[preset]().to_dict(), overrides)
    if "backbone.node_in_dim" not in overrides:  # follows --set history / pressure_input
        values["backbone"]["node_in_dim"] = node_feature_dim(
            int(values["history"]), bool(values["pressure_input"])
        )
    if columns.get("noise") is not None:
        values["noise_std"] = float(columns["noise"])
    return MeshConfig.from_dict(values)


def build_training_data(request: TrainRequest) -> TrainingData:
    """Split trajectories (seeded, by trajectory), fit normalisers on the training frames,
    featurize frames; training frames get fresh noise at every draw."""
    config = config_for(request)
    path, records, rejected = trajectory_source(request)
    split = record_split(records, request.seed)
    stride = config.frame_stride
    if records:  # one model step advances `stride` stored frames of the data
        config = config.replace(dt=stride * frame_spacing(records[0].payload))
    per_trajectory = request.columns.get("frames_per_trajectory")
    rng = np.random.default_rng(request.seed)
    chosen: dict[str, list[int]] = {}
    for record in records:
        part = split[record.id]
        if part == "train":
            frames = valid_frames(
                record.payload.num_frames, config.history, config.unroll_steps, stride
            )
            chosen[record.id] = _sample_frames(frames, per_trajectory, rng)
        else:
            frames = valid_frames(record.payload.num_frames, config.history, 1, stride)
            chosen[record.id] = _spread(frames, VAL_FRAMES if part == "val" else TEST_FRAMES)
    config = fit_normalisers(
        config,
        ((r.payload, chosen[r.id]) for r in records if split[r.id] == "train"),
    )
    parts: dict[str, list[Data]] = {"train": [], "val": [], "test": []}
    for record in records:
        part = split[record.id]
        if part not in parts:  # the held-out family: evaluation only
            continue
        ahead = config.unroll_steps if part == "train" else 1
        parts[part] += trajectory_frames(record.payload, config, chosen[record.id], ahead=ahead)
    if not parts["train"] or not parts["val"]:
        raise ValueError(
            f"{path} has {len(records)} usable trajectories; training needs at least 2 "
            "(one for validation): generate more with `sci data generate mesh "
            f"{DATASET_NAME} --trajectories N`"
        )
    identity = (
        f"{r.id}|{r.payload.num_frames}|{float(np.asarray(r.payload.velocity).sum()):.6e}"
        for r in records
        if split[r.id] == "train"
    )
    provenance = {
        "data": str(path),
        "dataset": request.dataset or generated_dataset_name(path),
        "split": {
            "method": "by trajectory, seeded permutation",
            "seed": request.seed,
            "fractions": list(SPLIT_FRACTIONS),
            "held_out_family": HELD_OUT_FAMILY,
            **{
                name: sorted(i for i, p in split.items() if p == name)
                for name in (*parts, "held-out")
            },
        },
        "frames": {name: len(graphs) for name, graphs in parts.items()},
        "noise_std": config.noise_std,
        "noise_std_end": config.noise_std_end,
        "unroll_steps": config.unroll_steps,
        "unroll_curriculum": config.unroll_curriculum,
    }
    return TrainingData(
        config,
        parts["train"],
        parts["val"],
        parts["test"],
        fingerprint(identity),
        provenance,
        rejected,
    )


#: ``sci evaluate --domain mesh --split S``: which trajectories of a data set are scored.
EVALUATION_SPLITS = {"auto": "test", "test": "test", "val": "val", "held-out": "held-out"}


def evaluation_trajectories(request: TrainRequest) -> Iterator[MeshTrajectory]:
    """Trajectories a request evaluates: the ``test`` file's, else the data set's split
    named by ``--split`` (``test`` by default, ``val`` for model selection, ``held-out`` for
    the unseen geometry family)."""
    if request.test is not None:
        for record in read_mesh_file(request.test):
            if isinstance(record, BadRecord):
                print(f"skipped {record.id}: {record.reason}", file=sys.stderr)
            elif isinstance(record.payload, MeshTrajectory):
                yield record.payload
            else:
                print(f"skipped {record.id}: a single state has no reference", file=sys.stderr)
        return
    if request.split not in EVALUATION_SPLITS:
        raise ValueError(
            f"--split {request.split!r}: mesh evaluation takes one of {sorted(EVALUATION_SPLITS)}"
        )
    wanted = EVALUATION_SPLITS[request.split]
    _, records, _ = trajectory_source(request)
    split = record_split(records, request.seed)
    for record in records:
        if split[record.id] == wanted:
            yield record.payload


def evaluation_data(request: TrainRequest, config: FrozenConfig) -> list[Data]:
    """One-step graphs: the test split of a data set (``--data DIR`` / ``--dataset``), or
    every trajectory of a labelled file (``sci evaluate --domain mesh test.h5``)."""
    config = MeshConfig.coerce(config)
    graphs: list[Data] = []
    for trajectory in evaluation_trajectories(request):
        allowed = valid_frames(trajectory.num_frames, config.history, 1, config.frame_stride)
        frames = _spread(allowed, TEST_FRAMES)
        graphs += trajectory_frames(trajectory, config, frames)
    return graphs


class MeshData(DataCatalog):
    """The ``cylinder-flow`` data set and the trajectory-split training data."""

    @property
    def datasets(self) -> Mapping[str, DatasetSpec]:
        return {
            DATASET_NAME: DatasetSpec(
                DATASET_NAME,
                "CylinderFlow-like 2D flow past a cylinder (scikit-fem solver, dt 0.01 s, "
                f"~1.8k nodes): {BUILD_TRAJECTORIES} trajectories x {BUILD_FRAMES} frames; "
                "split 80/10/10 by trajectory (seeded)",
                _build_cylinder_flow,
            )
        }

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        return build_training_data(request)

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        return evaluation_data(request, config)
