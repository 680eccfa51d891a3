"""Mesh-to-graph helpers and flow diagnostics.

* :func:`edges_from_triangles`: the mesh's edge list as a bidirectional PyG ``edge_index``;
* :func:`strouhal_number`: shedding frequency of a signal (lift, or ``v`` at a probe
  behind the cylinder) made dimensionless, ``St = f D / U_mean``;
* :func:`nearest_node`: the vertex closest to a probe point.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def edges_from_triangles(triangles: np.ndarray | Tensor, num_nodes: int | None = None) -> Tensor:
    """Unique mesh edges in both directions, as a PyG ``edge_index``.

    Args:
        triangles: ``[T, 3]`` vertex indices.
        num_nodes: ``N``, used only to check the indices (optional).

    Returns:
        ``[2, E]`` int64, sorted by (sender, receiver); each undirected mesh edge appears
        once per direction and there are no self loops.
    """
    tri = torch.as_tensor(np.asarray(triangles) if not isinstance(triangles, Tensor) else triangles)
    tri = tri.to(torch.int64)
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise ValueError(f"triangles must be [T, 3], got shape {tuple(tri.shape)}")
    if tri.numel() and tri.min() < 0:
        raise ValueError("triangle vertex indices must be non-negative")
    if num_nodes is not None and tri.numel() and int(tri.max()) >= num_nodes:
        raise ValueError(f"triangle vertex index {int(tri.max())} >= num_nodes={num_nodes}")
    pairs = torch.cat([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]], dim=0)
    both = torch.cat([pairs, pairs.flip(1)], dim=0)
    both = both[both[:, 0] != both[:, 1]]
    return torch.unique(both, dim=0).t().contiguous()


def nearest_node(points: np.ndarray, probe: tuple[float, float]) -> int:
    """Index of the vertex of ``points [N, 2]`` closest to ``probe`` (same unit)."""
    points = np.asarray(points)
    return int(np.argmin(np.hypot(points[:, 0] - probe[0], points[:, 1] - probe[1])))


def strouhal_number(signal: np.ndarray, dt: float, diameter: float, mean_velocity: float) -> float:
    """Strouhal number ``St = f D / U_mean`` from the dominant frequency of a signal.

    The mean is removed, a Hann window applied, and the spectrum zero-padded (x16); the peak
    (excluding zero frequency) is refined by a parabola through the log-magnitudes of its
    neighbours. Pass a window of developed shedding (several periods) only.

    Args:
        signal: ``[T]`` samples (e.g. lift, or the cross-stream velocity at a probe in the
            wake), any unit.
        dt: sample spacing, s.
        diameter: cylinder diameter ``D``, m.
        mean_velocity: reference speed ``U_mean`` (``2/3`` of the parabolic peak for the
            DFG benchmark), m/s.

    Returns:
        ``St`` (dimensionless).
    """
    x = np.asarray(signal, dtype=np.float64).ravel()
    if x.size < 8:
        raise ValueError(f"need at least 8 samples to find a frequency, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("signal has NaN/inf values")
    if dt <= 0 or diameter <= 0 or mean_velocity <= 0:
        raise ValueError("dt, diameter and mean_velocity must be positive")
    x = x - x.mean()
    if np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(signal).max())):
        raise ValueError("the signal does not oscillate (no vortex shedding?)")
    n_fft = 16 * int(2 ** np.ceil(np.log2(x.size)))
    magnitude = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft))
    peak = int(np.argmax(magnitude[1:])) + 1
    offset = 0.0
    if 1 <= peak < magnitude.size - 1:
        left, centre, right = np.log(magnitude[peak - 1 : peak + 2] + 1e-300)
        denominator = left - 2 * centre + right
        if denominator < 0:
            offset = 0.5 * (left - right) / denominator
    frequency = (peak + offset) / (n_fft * dt)
    return float(frequency * diameter / mean_velocity)
