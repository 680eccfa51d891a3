"""A batch's rollouts -> one summary row and one rollout record per input mesh."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch_geometric.data import Batch

from scisuite.core.plugin import Predicted
from scisuite.domains.mesh.config import MeshConfig
from scisuite.domains.mesh.rollout import MeshPrediction, frame_times


@dataclass(frozen=True)
class PredictedRollout:
    """One mesh's predicted time series (``Predicted.item``; what the ``.xdmf`` writer writes).

    Attributes:
        points: ``[n, 2]`` vertex coordinates, m (None for a graph built without geometry).
        triangles: ``[T, 3]`` vertex indices (likewise).
        node_type: ``[n]`` MeshGraphNets codes.
        times: ``[S + 1]`` float64 frame times, s.
        velocity: ``[S + 1, n, 2]`` float32, m/s; frame 0 is the input state.
        pressure: ``[S + 1, n]`` float32 (frame 0: the input pressure, NaN if unknown).
    """

    points: np.ndarray | None
    triangles: np.ndarray | None
    node_type: np.ndarray
    times: np.ndarray
    velocity: np.ndarray
    pressure: np.ndarray


def output_columns(config: MeshConfig) -> list[str]:
    """Columns of a prediction row (a summary of the rollout's last frame)."""
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
        "applicability",
        "notes",
    ]


def _text(batch: Batch, name: str, i: int) -> str:
    """Graph ``i``'s string attribute ``name`` ("" for graphs built without it)."""
    values = getattr(batch, name, None)
    if values is None:
        return ""
    return str(values[i] if isinstance(values, list | tuple) else values)


def postprocess(prediction: MeshPrediction, batch: Batch, config: MeshConfig) -> list[Predicted]:
    """One :class:`Predicted` per input mesh: a summary row of its last frame and its
    :class:`PredictedRollout`, cut to the steps that mesh asked for."""
    frames = prediction.frames.detach().float().cpu()
    results = []
    for i in range(batch.num_graphs):
        graph = batch.get_example(i).cpu()
        lo, hi = int(batch.ptr[i]), int(batch.ptr[i + 1])
        steps = int(prediction.steps[i])
        own = frames[lo:hi, : steps + 1].permute(1, 0, 2).numpy()  # [S+1, n, 3]
        times = frame_times(float(prediction.start_times[i]), steps, config.dt)
        last = own[-1]
        speed = np.hypot(last[:, 0], last[:, 1])
        row = {
            "num_nodes": hi - lo,
            "num_triangles": int(graph.face.size(1)) if "face" in graph else None,
            "steps": steps,
            "t_start": float(times[0]),
            "t_end": float(times[-1]),
            "mean_speed": float(speed.mean()),
            "max_speed": float(speed.max()),
            "mean_pressure": float(np.nanmean(last[:, 2])) if steps else math.nan,
            "finite": bool(np.isfinite(own[1:]).all()),
            "applicability": _text(batch, "applicability", i),
            "notes": _text(batch, "notes", i),
        }
        rollout = PredictedRollout(
            points=graph.pos.numpy() if "pos" in graph else None,
            triangles=graph.face.t().numpy() if "face" in graph else None,
            node_type=graph.node_type.numpy(),
            times=times,
            velocity=np.ascontiguousarray(own[:, :, :2]),
            pressure=np.ascontiguousarray(own[:, :, 2]),
        )
        results.append(Predicted(row, rollout))
    return results
