"""The mesh domain plugin: learned CFD on triangle meshes (graph transformer or MeshGraphNets).

Inputs: MeshGraphNets-style H5 trajectories (a file or a generated directory), XDMF time
series, or a single mesh meshio reads (VTU, VTK, ``.msh``, ...) with point fields
``velocity``, ``pressure`` and ``node_type`` (or boundary tags); see
:mod:`~scisuite.domains.mesh.io`. Prediction is an autoregressive rollout of ``--steps``
steps from the input state (an H5/XDMF trajectory starts at its first usable frame); each
output row summarises one rollout, and the ``.xdmf`` writer writes the predicted fields as a
ParaView time series (point fields ``velocity`` and ``pressure`` at every step).

Training (``sci train --domain mesh --data DIR`` or ``--dataset cylinder-flow``) splits the
trajectories of a generated data set by trajectory (seeded 80/10/10), fits the normalisers
on the training frames, and trains one-step prediction with noise on the input velocity.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.checkpoint import fingerprint
from scisuite.core.config import FrozenConfig, apply_overrides
from scisuite.core.io import atomic_path, write_table
from scisuite.core.plugin import CliOption, DatasetSpec, TrainingData, TrainRequest
from scisuite.core.records import BadRecord, Record, RecordError
from scisuite.domains.mesh.config import (
    MODEL_PRESETS,
    VELOCITY_START,
    MeshConfig,
    node_feature_dim,
    transformer_config,
)
from scisuite.domains.mesh.features import (
    NoisyFrames,
    fit_normalisers,
    initial_graph,
    model_targets,
    trajectory_frames,
    updated_mask,
    valid_frames,
)
from scisuite.domains.mesh.geometry import CHANNEL_HEIGHT, CHANNEL_LENGTH, NodeType
from scisuite.domains.mesh.io import (
    MeshState,
    MeshTrajectory,
    read_h5_trajectories,
    read_mesh_records,
    write_h5_trajectories,
    write_vtu,
    write_xdmf_series,
)
from scisuite.domains.mesh.metrics import METRICS, RolloutErrors
from scisuite.domains.mesh.model import MeshModel
from scisuite.domains.mesh.rollout import Rollout, rollout, rollout_batch

DATASET_NAME = "cylinder-flow"
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
#: File suffixes read as meshes ("" = a directory of H5 trajectories).
MESH_SUFFIXES = (
    "",
    ".h5",
    ".hdf5",
    ".xdmf",
    ".vtu",
    ".vtk",
    ".msh",
    ".mesh",
    ".med",
    ".su2",
    ".ply",
    ".obj",
    ".off",
)
#: Snapshot times (rollout steps; -1 = last) drawn in the evaluation report.
REPORT_STEPS = (1, 50, -1)


def _as_config(config: FrozenConfig) -> MeshConfig:
    if not isinstance(config, MeshConfig):
        raise TypeError(f"expected a MeshConfig, got {type(config).__name__}")
    return config


def read_records(
    path: str | Path,
    rollout_steps: int | None = None,
    start_frame: int | None = None,
    **_: Any,
) -> Iterator[Record | BadRecord]:
    """Stream mesh inputs as records with payload ``{"mesh", "rollout_steps", "start_frame"}``.

    Args:
        path: H5 file or directory, XDMF series, or a single mesh file.
        rollout_steps: prediction length (``--steps``); None = the model's default.
        start_frame: first frame of a trajectory input (``--start-frame``, default 0).

    Raises:
        ValueError: ``rollout_steps < 1`` or ``start_frame < 0``.
    """
    if rollout_steps is not None and int(rollout_steps) < 1:
        raise ValueError(f"--steps must be >= 1, got {rollout_steps}")
    if start_frame is not None and int(start_frame) < 0:
        raise ValueError(f"--start-frame must be >= 0, got {start_frame}")
    for record in read_mesh_records(path):
        if isinstance(record, BadRecord):
            yield record
            continue
        payload = {
            "mesh": record.payload,
            "rollout_steps": None if rollout_steps is None else int(rollout_steps),
            "start_frame": int(start_frame or 0),
        }
        yield Record(record.id, payload, record.line, record.source)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "mesh"


def write_prediction_xdmf(rows: pd.DataFrame, path: Path) -> Path:
    """Writer for ``.xdmf`` outputs: each successful row's rollout as an XDMF time series.

    One row -> ``path``; several -> ``<stem>.<id>.xdmf`` next to it (each with its ``.h5``).
    Point fields at every step: ``velocity [N, 2]``, ``pressure [N]``, ``node_type [N]``.
    Returns ``path`` (or, for several rows, the first file written).

    Raises:
        ValueError: no row carries predicted fields (every record failed).
    """
    path = Path(path)
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    ok = ok[ok["_velocity"].notna()] if "_velocity" in ok else ok.iloc[0:0]
    if ok.empty:
        raise ValueError(
            f"no prediction succeeded, nothing to write to {path}; see the error column "
            "(write a .csv table to read it)"
        )
    written: list[Path] = []
    for _, row in ok.iterrows():
        target = path if len(ok) == 1 else path.with_name(f"{path.stem}.{_slug(row['id'])}.xdmf")
        written.append(
            write_xdmf_series(
                target,
                row["_points"],
                row["_triangles"],
                row["_times"],
                row["_velocity"],
                row["_pressure"],
                node_type=row["_node_type"],
            )
        )
    return written[0]


class MeshPlugin:
    """Implements :class:`scisuite.core.plugin.DomainPlugin` for flows on 2D triangle meshes."""

    name = "mesh"
    schema_version = 1
    config_class = MeshConfig
    readers = {suffix: read_records for suffix in MESH_SUFFIXES}
    writers = {".xdmf": write_prediction_xdmf}
    metrics = METRICS
    cli_options = (
        CliOption(
            "--steps",
            "rollout_steps",
            "rollout length in steps of dt (default: the model's, 50)",
            type="int",
            verbs=("predict", "evaluate"),
        ),
        CliOption(
            "--start-frame",
            "start_frame",
            "first frame of an H5/XDMF trajectory input (0)",
            type="int",
            verbs=("predict",),
        ),
        CliOption(
            "--model",
            "model",
            "architecture: transformer (default) or mgn (MeshGraphNets baseline)",
            verbs=("train",),
        ),
        CliOption(
            "--noise",
            "noise",
            "training noise std on normal-node velocity (m/s) and pressure (0.02)",
            type="float",
            verbs=("train",),
        ),
        CliOption(
            "--frames-per-trajectory",
            "frames_per_trajectory",
            "training frames sampled per trajectory (all)",
            type="int",
            verbs=("train",),
        ),
        CliOption(
            "--dataset-dir",
            "dataset_dir",
            f"where --dataset {DATASET_NAME} is ({DEFAULT_DATASET_DIR})",
            verbs=("train", "evaluate"),
        ),
        CliOption(
            "--trajectories",
            "trajectories",
            "trajectories to generate (10)",
            type="int",
            verbs=("generate",),
            default=10,
        ),
        CliOption(
            "--frames",
            "frames",
            "stored frames per trajectory, dt = 0.01 s (600)",
            type="int",
            verbs=("generate",),
            default=600,
        ),
        CliOption(
            "--warmup-frames",
            "warmup_frames",
            "frames simulated and discarded first (300)",
            type="int",
            verbs=("generate",),
            default=300,
        ),
        CliOption(
            "--num-vertices",
            "num_vertices",
            "target mesh vertex count (1800)",
            type="int",
            verbs=("generate",),
            default=1800,
        ),
    )

    # -- data ------------------------------------------------------------------------------
    @property
    def datasets(self) -> dict[str, DatasetSpec]:
        return {
            DATASET_NAME: DatasetSpec(
                DATASET_NAME,
                "CylinderFlow-like 2D flow past a cylinder (scikit-fem solver, dt 0.01 s, "
                f"~1.8k nodes): {BUILD_TRAJECTORIES} trajectories x {BUILD_FRAMES} frames; "
                "split 80/10/10 by trajectory (seeded)",
                _build_cylinder_flow,
            )
        }

    def generate(self, args: dict[str, Any]) -> int:
        """``sci data generate mesh cylinder-flow -o DIR [--trajectories N --frames T ...]``.

        Args:
            args: ``name``, ``output``, ``seed``, ``workers``, ``quiet`` and the domain's
                generate options (``trajectories``, ``frames``, ``warmup_frames``,
                ``num_vertices``).
        """
        from scisuite.domains.mesh.generate import generate_cylinder_flow

        if args.get("name") != DATASET_NAME:
            raise ValueError(
                f"the mesh domain generates {DATASET_NAME!r}, not {args.get('name')!r}"
            )
        out = generate_cylinder_flow(
            args["output"],
            trajectories=int(args.get("trajectories") or 10),
            frames=int(args.get("frames") or 600),
            seed=int(args.get("seed") or 0),
            workers=int(args.get("workers") or 1),
            warmup_frames=int(300 if args.get("warmup_frames") is None else args["warmup_frames"]),
            progress=not args.get("quiet", False),
            num_vertices=int(args.get("num_vertices") or 1800),
        )
        if not args.get("quiet", False):
            print(f"generated {DATASET_NAME} in {out}", file=sys.stderr)
        return 0

    def default_config(self) -> MeshConfig:
        return transformer_config()

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        """Record -> the graph a rollout starts from (with ``rollout_steps``, ``pos``,
        ``face``, ``pressure``, ``time``); ``y`` is the one-step target when known."""
        config = _as_config(config)
        payload = record.payload
        if isinstance(payload, dict):
            mesh, steps, start = (
                payload.get("mesh"),
                payload.get("rollout_steps"),
                payload.get("start_frame"),
            )
        else:
            mesh, steps, start = payload, None, 0
        if not isinstance(mesh, MeshState | MeshTrajectory):
            raise RecordError(
                record.id,
                f"expected a mesh state or trajectory, got {type(mesh).__name__}",
                record.line,
            )
        try:
            data = initial_graph(mesh, config, int(start or 0))
        except ValueError as error:
            raise RecordError(record.id, str(error), record.line) from error
        data.rollout_steps = torch.tensor([int(steps or config.rollout_steps)])
        return data

    def _trajectory_source(
        self, request: TrainRequest
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
            raise ValueError(
                f"give --data DIR (generated trajectories) or --dataset {DATASET_NAME}"
            )
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

    def _config_for(self, request: TrainRequest) -> MeshConfig:
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

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        """Split trajectories (seeded, by trajectory), fit normalisers on the training frames,
        featurize frames; training frames get fresh noise at every draw."""
        config = self._config_for(request)
        path, records, rejected = self._trajectory_source(request)
        split = split_trajectories([r.id for r in records], request.seed)
        per_trajectory = request.columns.get("frames_per_trajectory")
        rng = np.random.default_rng(request.seed)
        chosen: dict[str, list[int]] = {}
        for record in records:
            frames = valid_frames(record.payload.num_frames, config.history)
            part = split[record.id]
            if part == "train":
                chosen[record.id] = _sample_frames(frames, per_trajectory, rng)
            else:
                chosen[record.id] = _spread(frames, VAL_FRAMES if part == "val" else TEST_FRAMES)
        config = fit_normalisers(
            config,
            ((r.payload, chosen[r.id]) for r in records if split[r.id] == "train"),
        )
        parts: dict[str, list[Data]] = {"train": [], "val": [], "test": []}
        for record in records:
            trajectory = record.payload
            parts[split[record.id]] += trajectory_frames(trajectory, config, chosen[record.id])
        if not parts["train"] or not parts["val"]:
            raise ValueError(
                f"{path} has {len(records)} usable trajectories; training needs at least 2 "
                "(one for validation): generate more with `sci data generate mesh "
                f"{DATASET_NAME} --trajectories N`"
            )
        train: Sequence[Data] = parts["train"]
        if config.noise_std > 0:
            train = NoisyFrames(
                parts["train"], config.noise_std, request.seed, config.pressure_column
            )
        identity = (
            f"{r.id}|{r.payload.num_frames}|{float(np.asarray(r.payload.velocity).sum()):.6e}"
            for r in records
            if split[r.id] == "train"
        )
        provenance = {
            "data": str(path),
            "dataset": request.dataset or DATASET_NAME,
            "split": {
                "method": "by trajectory, seeded permutation",
                "seed": request.seed,
                "fractions": list(SPLIT_FRACTIONS),
                **{name: sorted(i for i, p in split.items() if p == name) for name in parts},
            },
            "frames": {name: len(graphs) for name, graphs in parts.items()},
            "noise_std": config.noise_std,
        }
        return TrainingData(
            config,
            train,  # type: ignore[arg-type]  # a Sequence that draws noise
            parts["val"],
            parts["test"],
            fingerprint(identity),
            provenance,
            rejected,
        )

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        """One-step graphs: the test split of a data set (``--data DIR`` / ``--dataset``), or
        every trajectory of a labelled file (``sci evaluate --domain mesh test.h5``)."""
        config = _as_config(config)
        graphs: list[Data] = []
        for trajectory in self.evaluation_trajectories(request):
            frames = _spread(valid_frames(trajectory.num_frames, config.history), TEST_FRAMES)
            graphs += trajectory_frames(trajectory, config, frames)
        return graphs

    def evaluation_trajectories(self, request: TrainRequest) -> Iterator[MeshTrajectory]:
        """Test trajectories of a request: the ``test`` file's, else the data set's test split."""
        if request.test is not None:
            for record in read_mesh_records(request.test):
                if isinstance(record, BadRecord):
                    print(f"skipped {record.id}: {record.reason}", file=sys.stderr)
                elif isinstance(record.payload, MeshTrajectory):
                    yield record.payload
                else:
                    print(f"skipped {record.id}: a single state has no reference", file=sys.stderr)
            return
        _, records, _ = self._trajectory_source(request)
        split = split_trajectories([r.id for r in records], request.seed)
        for record in records:
            if split[record.id] == "test":
                yield record.payload

    # -- model -------------------------------------------------------------------------------
    def build_model(self, config: FrozenConfig) -> nn.Module:
        return MeshModel(_as_config(config))

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        """MSE on the normalised targets (:func:`model_targets`): velocity change over updated
        (normal + outflow) nodes, pressure (change) over every node."""
        config = _as_config(config)
        mean = outputs.new_tensor(config.target_mean)
        std = outputs.new_tensor(config.target_std)
        target = (model_targets(batch.y, batch.x, config).to(outputs.dtype) - mean) / std
        scored = torch.ones_like(target, dtype=torch.bool)
        scored[:, :2] = updated_mask(batch.node_type)[:, None]
        known = scored & ~torch.isnan(target)
        if not bool(known.any()):
            return outputs.sum() * 0.0
        return ((outputs - torch.nan_to_num(target)) ** 2)[known].mean()

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        """``(pred, target)`` ``[N, 3]``: the next state ``(u, v, p)`` in physical units, every
        node (boundary conditions applied to the prediction); NaN targets where unknown."""
        config = _as_config(config)
        pred = next_state(outputs, batch, config)
        velocity = batch.x[:, VELOCITY_START : VELOCITY_START + 2]
        target = torch.cat([velocity + batch.y[:, :2], batch.y[:, 2:3]], dim=1)
        return pred, target

    def metric_subsets(self, batch: Batch) -> dict[str, Tensor]:
        """``<metric>_updated``: the same metrics over normal + outflow nodes only."""
        return {"updated": updated_mask(batch.node_type)}

    def output_columns(self, config: FrozenConfig) -> list[str]:
        return [
            "id",
            "source",
            "num_nodes",
            "num_triangles",
            "steps",
            "t_start",
            "t_end",
            "mean_speed",
            "max_speed",
            "mean_pressure",
            "finite",
        ]

    def postprocess(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> list[dict[str, Any]]:
        """One row per input mesh: a summary of the final frame, plus the predicted fields
        under ``_``-prefixed keys (``_velocity [S+1, N, 2]``, ``_pressure``, ``_times``,
        ``_points``, ``_triangles``, ``_node_type``) for the ``.xdmf`` writer; tables drop them.

        ``outputs`` is a rollout ``[N, S+1, 3]`` (``model.predict``) or one step ``[N, 3]``
        (``model(batch)``, normalised), which is treated as a one-step rollout.
        """
        config = _as_config(config)
        if outputs.dim() == 2:
            velocity = batch.x[:, VELOCITY_START : VELOCITY_START + 2]
            first = torch.cat([velocity, _initial_pressure(batch)[:, None]], dim=1)
            outputs = torch.stack([first, next_state(outputs, batch, config)], dim=1)
        frames = outputs.detach().float().cpu()
        rows = []
        for i in range(batch.num_graphs):
            graph = batch.get_example(i)
            lo, hi = int(batch.ptr[i]), int(batch.ptr[i + 1])
            requested = getattr(graph, "rollout_steps", None)
            steps = frames.size(1) - 1
            if requested is not None:
                steps = min(steps, int(requested[0]))
            own = frames[lo:hi, : steps + 1].permute(1, 0, 2).numpy()  # [S+1, n, 3]
            t0 = float(graph.time[0]) if getattr(graph, "time", None) is not None else 0.0
            t0 = 0.0 if math.isnan(t0) else t0
            times = t0 + config.dt * np.arange(steps + 1)
            last = own[-1]
            speed = np.hypot(last[:, 0], last[:, 1])
            rows.append(
                {
                    "num_nodes": hi - lo,
                    "num_triangles": int(graph.face.size(1)) if "face" in graph else None,
                    "steps": steps,
                    "t_start": float(times[0]),
                    "t_end": float(times[-1]),
                    "mean_speed": float(speed.mean()),
                    "max_speed": float(speed.max()),
                    "mean_pressure": float(np.nanmean(last[:, 2])) if steps else math.nan,
                    "finite": bool(np.isfinite(own[1:]).all()),
                    "_velocity": own[:, :, :2],
                    "_pressure": own[:, :, 2],
                    "_times": times,
                    "_points": graph.pos.numpy() if "pos" in graph else None,
                    "_triangles": graph.face.t().numpy() if "face" in graph else None,
                    "_node_type": graph.node_type.numpy(),
                }
            )
        return rows

    def record_columns(self, record: Record | BadRecord) -> dict[str, Any]:
        return {"id": record.id, "source": record.source}

    def records_from_objects(self, objects: Iterable[Any]) -> Iterator[Record | BadRecord]:
        """:class:`MeshState` / :class:`MeshTrajectory` objects, or paths of mesh files."""
        for number, obj in enumerate(objects, start=1):
            if isinstance(obj, MeshState | MeshTrajectory):
                payload = {"mesh": obj, "rollout_steps": None, "start_frame": 0}
                yield Record(f"mesh_{number}", payload, number, "<python>")
            elif isinstance(obj, str | Path) and Path(obj).exists():
                yield from read_records(obj)
            else:
                yield BadRecord(
                    f"mesh_{number}",
                    f"expected a MeshState, a MeshTrajectory or the path of a mesh file, got "
                    f"{type(obj).__name__} {str(obj)[:60]!r}",
                    number,
                    "<python>",
                )

    # -- examples and reports -----------------------------------------------------------------
    def example_inputs(self) -> list[Record]:
        return [
            Record(f"channel_{i}", {"mesh": t, "rollout_steps": None, "start_frame": 0}, i)
            for i, t in enumerate(example_trajectories(), start=1)
        ]

    def example_objects(self) -> list[Any]:
        return [trajectory.state(0) for trajectory in example_trajectories()]

    def write_example_file(self, directory: Path) -> tuple[Path, int, int]:
        """``mesh_examples.h5``: two channel-flow trajectories and one group without
        ``pressure`` (a bad record). Also writes ``case.vtu``, the first example's initial
        state as a single-mesh input (``sci predict --domain mesh case.vtu``)."""
        directory = Path(directory)
        examples = example_trajectories()
        path = directory / "mesh_examples.h5"
        write_h5_trajectories(path, [(f"channel_{i}", t) for i, t in enumerate(examples, 1)])
        import h5py

        with h5py.File(path, "a") as handle:
            broken = handle.create_group("no_pressure")
            for name in ("mesh_pos", "cells", "node_type", "velocity"):
                broken.create_dataset(name, data=handle["channel_1"][name][()])
        write_vtu(directory / "case.vtu", examples[0].state(0))
        return path, len(examples) + 1, 1

    def evaluation_report(
        self, pred: Tensor, target: Tensor, config: FrozenConfig, out_dir: Path
    ) -> list[Path]:
        """One-step report: ``one_step_rmse.csv`` and a parity plot per field (PNG)."""
        out_dir = Path(out_dir)
        rows = [{"metric": metric.name, "value": metric.fn(pred, target)} for metric in METRICS]
        paths = [write_table(pd.DataFrame(rows), out_dir / "one_step_rmse.csv")]
        paths.append(_parity_plot(pred, target, out_dir / "one_step_parity.png"))
        return paths

    def evaluation_extras(
        self, predictor: Any, request: TrainRequest, out_dir: Path
    ) -> tuple[dict[str, float], list[Path]]:
        """Rollout evaluation (needs the model): roll out every test trajectory from its first
        usable frame to its end (or ``--steps``), and write ``rollout_rmse.csv``,
        ``rollout_rmse.json``, ``rollout_error_vs_time.png`` and
        ``rollout_fields_<id>.png`` (predicted vs reference at a few times) to ``out_dir``.

        Returns:
            the flat RMSE summary (see :meth:`RolloutErrors.summary`) and the files written.
        """
        config = _as_config(predictor.config)
        steps = request.columns.get("rollout_steps")
        return rollout_report(
            predictor.model,
            config,
            self.evaluation_trajectories(request),
            Path(out_dir),
            steps=None if steps is None else int(steps),
        )


PLUGIN = MeshPlugin()


# -- helpers ---------------------------------------------------------------------------------


def _initial_pressure(batch: Data | Batch) -> Tensor:
    pressure = getattr(batch, "pressure", None)
    if pressure is None:
        return torch.full((batch.num_nodes,), float("nan"))
    return pressure.to(torch.float32)


def next_state(outputs: Tensor, batch: Data | Batch, config: MeshConfig) -> Tensor:
    """``[N, 3]`` physical next state ``(u, v, p)`` from one step of normalised outputs,
    with the boundary conditions applied (the same integrator as the rollout)."""
    return rollout_batch(_Fixed(outputs), config, batch, 1)[:, 1]


class _Fixed:
    """A "model" that returns given outputs (to reuse the rollout integrator for one step)."""

    def __init__(self, outputs: Tensor) -> None:
        self.outputs = outputs

    def __call__(self, batch: Data | Batch) -> Tensor:
        return self.outputs


def split_trajectories(ids: Sequence[str], seed: int) -> dict[str, str]:
    """Trajectory id -> ``"train"`` / ``"val"`` / ``"test"`` (seeded permutation, 80/10/10).

    With 3 or more trajectories validation and test get at least one each; with 2, one
    trains and one validates (no test).
    """
    ordered = sorted(ids)
    n = len(ordered)
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(SPLIT_FRACTIONS[2] * n)) if n >= 3 else 0
    n_val = max(1, round(SPLIT_FRACTIONS[1] * n)) if n >= 2 else 0
    parts = {}
    for rank, index in enumerate(order):
        parts[ordered[index]] = (
            "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
        )
    return parts


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
    from scisuite.domains.mesh.generate import generate_cylinder_flow

    target = Path(out_dir) / "mesh" / DATASET_NAME
    return generate_cylinder_flow(target, BUILD_TRAJECTORIES, BUILD_FRAMES, seed=0, workers=1)


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


# -- rollout evaluation report -----------------------------------------------------------------


def rollout_report(
    model: nn.Module,
    config: MeshConfig,
    trajectories: Iterable[MeshTrajectory],
    out_dir: Path,
    steps: int | None = None,
    snapshots: int = 1,
) -> tuple[dict[str, float], list[Path]]:
    """Roll out every trajectory, write the RMSE table and plots, return the summary.

    Args:
        model: one-step model.
        config: its config.
        trajectories: test trajectories (ground truth); each is rolled out from frame
            ``history`` for ``steps`` steps (default: to its last frame).
        out_dir: report directory.
        steps: rollout length cap.
        snapshots: trajectories that get a predicted-vs-reference field plot.

    Returns:
        ``(summary, paths)``: :meth:`RolloutErrors.summary` plus ``seconds_per_step`` and
        ``trajectories``; the files written.
    """
    out_dir = Path(out_dir)
    errors = RolloutErrors()
    paths: list[Path] = []
    seconds, count = 0.0, 0
    for number, trajectory in enumerate(trajectories):
        length = trajectory.num_frames - 1 - config.history
        if steps is not None:
            length = min(length, steps)
        if length < 1:
            continue
        result = rollout(model, config, trajectory, length, reference=trajectory)
        assert result.errors is not None
        errors.merge(result.errors)
        seconds += result.seconds_per_step
        count += 1
        if number < snapshots:
            paths.append(
                _field_plot(trajectory, result, config, out_dir / f"rollout_fields_{number}.png")
            )
    if count == 0:
        raise ValueError("no test trajectory with at least 2 frames to roll out")
    summary: dict[str, float] = {
        **errors.summary(),
        "seconds_per_step": seconds / count,
        "trajectories": count,
    }
    paths.insert(0, write_table(pd.DataFrame(errors.table()), out_dir / "rollout_rmse.csv"))
    with atomic_path(out_dir / "rollout_rmse.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    paths.insert(1, out_dir / "rollout_rmse.json")
    paths.insert(2, _error_plot(errors, config, out_dir / "rollout_error_vs_time.png"))
    return summary, paths


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _error_plot(errors: RolloutErrors, config: MeshConfig, path: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=False)
    time = config.dt * np.arange(1, errors.steps + 1)
    for ax, nodes in zip(axes, ("all_nodes", "updated_nodes"), strict=True):
        for group in ("u", "v", "p"):
            ax.plot(time, errors.per_step(nodes, group).numpy(), label=group)
        ax.set_yscale("log")
        ax.set_xlabel("rollout time (s)")
        ax.set_title(f"RMSE per step, {nodes.replace('_', ' ')}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("RMSE (u, v: m/s; p: m²/s²)")
    axes[0].legend()
    return _save(fig, path)


def _field_plot(trajectory: MeshTrajectory, result: Rollout, config: MeshConfig, path: Path):
    plt = _pyplot()
    from matplotlib.tri import Triangulation

    tri = Triangulation(trajectory.points[:, 0], trajectory.points[:, 1], trajectory.triangles)
    offset = config.history
    picks = sorted({s if s >= 0 else result.steps for s in REPORT_STEPS if s <= result.steps})
    fig, axes = plt.subplots(len(picks), 2, figsize=(12, 1.9 * len(picks)), squeeze=False)
    ref_speed = np.hypot(*np.moveaxis(np.asarray(trajectory.velocity, dtype=np.float64), -1, 0))
    vmax = float(ref_speed.max())
    for row, step in enumerate(picks):
        predicted = result.velocity[step].double().norm(dim=-1).numpy()
        reference = ref_speed[offset + step]
        for col, (values, label) in enumerate(((predicted, "predicted"), (reference, "reference"))):
            ax = axes[row, col]
            image = ax.tripcolor(tri, values, shading="gouraud", vmin=0, vmax=vmax, cmap="viridis")
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"|u| {label}, step {step} (t + {step * config.dt:.2f} s)", fontsize=9)
        fig.colorbar(image, ax=axes[row].tolist(), fraction=0.02, label="m/s")
    return _save(fig, path)


def _parity_plot(pred: Tensor, target: Tensor, path: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for i, (ax, name) in enumerate(zip(axes, ("u (m/s)", "v (m/s)", "p (m²/s²)"), strict=True)):
        p, t = pred[:, i].double().numpy(), target[:, i].double().numpy()
        keep = np.isfinite(t) & np.isfinite(p)
        ax.hexbin(t[keep], p[keep], gridsize=60, bins="log", mincnt=1)
        low, high = (float(t[keep].min()), float(t[keep].max())) if keep.any() else (0.0, 1.0)
        ax.plot([low, high], [low, high], color="k", lw=0.8)
        ax.set_xlabel(f"reference {name}")
        ax.set_ylabel(f"predicted {name}")
    fig.suptitle("one-step prediction, all nodes")
    return _save(fig, path)


__all__ = [
    "DATASET_NAME",
    "PLUGIN",
    "MeshPlugin",
    "example_trajectories",
    "next_state",
    "read_records",
    "rollout_report",
    "split_trajectories",
    "write_prediction_xdmf",
]
