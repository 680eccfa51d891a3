"""Flow quantities CFD engineers check a simulator on: shedding frequency and divergence.

* **Strouhal number** ``St = f D / U``: ``f`` the dominant frequency of the cross-stream
  velocity ``v`` at a wake probe (the mesh node nearest to ``PROBE_DIAMETERS`` frontal
  heights behind the first obstacle, on its centre line), ``D`` the obstacle's frontal
  height and ``U`` the mean inflow speed ``(2/3) Um``. The frequency is the peak of a
  Hann-windowed, 16x zero-padded spectrum of the mean-removed signal, refined by a
  parabola through the peak and its neighbours (the same estimator on the solver's and
  the model's signal). A signal whose standard deviation is below ``STEADY_AMPLITUDE``
  (m/s) is steady: no frequency.
* **Discrete divergence** of a P1 velocity field: on each triangle ``div u =
  sum_i u_i . grad phi_i`` (constant per element); reported as the area-weighted RMS over
  the fluid, 1/s. The solver's field is divergence-free in the weak P2/P1 sense only, so
  its P1 vertex values are not exactly zero either: compare the model against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Probe distance behind the obstacle centre, in frontal heights.
PROBE_DIAMETERS = 2.0
#: Probe-signal standard deviation (m/s) below which a flow counts as steady.
STEADY_AMPLITUDE = 2e-3
_PADDING = 16


@dataclass(frozen=True)
class Shedding:
    """Vortex shedding seen at a wake probe.

    Attributes:
        frequency: dominant frequency, Hz (NaN when steady).
        amplitude: standard deviation of the probe's ``v``, m/s.
        strouhal: ``f D / U`` (NaN when steady or without ``D``/``U``).
    """

    frequency: float
    amplitude: float
    strouhal: float

    @property
    def steady(self) -> bool:
        """No oscillation above :data:`STEADY_AMPLITUDE`."""
        return not math.isfinite(self.frequency)


def probe_node(points: np.ndarray, obstacle_centre: tuple[float, float], frontal: float) -> int:
    """Index of the mesh node nearest the wake probe of an obstacle (module doc)."""
    target = np.array([obstacle_centre[0] + PROBE_DIAMETERS * frontal, obstacle_centre[1]])
    return int(np.argmin(((np.asarray(points)[:, :2] - target) ** 2).sum(axis=1)))


def dominant_frequency(signal: np.ndarray, dt: float) -> float:
    """Peak frequency of ``signal [T]`` sampled every ``dt`` s, Hz (NaN if constant)."""
    values = np.asarray(signal, dtype=np.float64)
    values = values - values.mean()
    if values.size < 8 or not np.any(values):
        return float("nan")
    windowed = values * np.hanning(values.size)
    size = _PADDING * values.size
    power = np.abs(np.fft.rfft(windowed, n=size)) ** 2
    power[0] = 0.0
    peak = int(np.argmax(power))
    shift = 0.0
    if 0 < peak < power.size - 1:
        a, b, c = np.log(power[peak - 1 : peak + 2] + 1e-300)
        denominator = a - 2 * b + c
        shift = 0.5 * (a - c) / denominator if denominator != 0 else 0.0
    return float((peak + shift) / (size * dt))


def shedding(signal: np.ndarray, dt: float, frontal: float, mean_inflow: float) -> Shedding:
    """:class:`Shedding` of a probe signal (``frontal`` m, ``mean_inflow`` m/s)."""
    amplitude = float(np.std(np.asarray(signal, dtype=np.float64)))
    if amplitude < STEADY_AMPLITUDE:
        return Shedding(float("nan"), amplitude, float("nan"))
    frequency = dominant_frequency(signal, dt)
    strouhal = frequency * frontal / mean_inflow if frontal > 0 and mean_inflow > 0 else math.nan
    return Shedding(frequency, amplitude, float(strouhal))


def p1_divergence(points: np.ndarray, triangles: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Divergence per triangle of P1 velocities, 1/s.

    Args:
        points: ``[N, 2]`` vertex coordinates, m.
        triangles: ``[T, 3]`` vertex indices.
        velocity: ``[..., N, 2]`` vertex velocities, m/s (leading frame axes allowed).

    Returns:
        ``[..., T]`` divergence.
    """
    p = np.asarray(points, dtype=np.float64)[:, :2]
    tri = np.asarray(triangles)
    x, y = p[tri, 0], p[tri, 1]  # [T, 3]
    twice_area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (
        y[:, 1] - y[:, 0]
    )
    # grad phi_i = (y_j - y_k, x_k - x_j) / 2A for the cyclic (i, j, k).
    gx = np.stack([y[:, 1] - y[:, 2], y[:, 2] - y[:, 0], y[:, 0] - y[:, 1]], axis=1)
    gy = np.stack([x[:, 2] - x[:, 1], x[:, 0] - x[:, 2], x[:, 1] - x[:, 0]], axis=1)
    u = np.asarray(velocity, dtype=np.float64)[..., tri, :]  # [..., T, 3, 2]
    return ((u[..., 0] * gx).sum(-1) + (u[..., 1] * gy).sum(-1)) / twice_area


def divergence_rms(points: np.ndarray, triangles: np.ndarray, velocity: np.ndarray) -> float:
    """Area-weighted RMS of :func:`p1_divergence` over every triangle and frame, 1/s."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    tri = np.asarray(triangles)
    e1, e2 = p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    div = p1_divergence(p, tri, velocity)
    return float(np.sqrt((div**2 * area).sum(-1).mean() / area.sum()))
