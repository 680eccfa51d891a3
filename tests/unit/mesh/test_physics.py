from __future__ import annotations

import math

import numpy as np
import pytest

from scisuite.domains.mesh.physics import (
    divergence_rms,
    dominant_frequency,
    p1_divergence,
    probe_node,
    shedding,
)


def _grid(n: int = 9) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 0.5, n), indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    triangles = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, (i + 1) * n + j, (i + 1) * n + j + 1, i * n + j + 1
            triangles += [[a, b, c], [a, c, d]]
    return points, np.asarray(triangles)


def test_frequency_of_a_sampled_sine_is_found_between_bins() -> None:
    dt, f = 0.01, 3.37  # 4 s of signal: FFT bins are 0.25 Hz apart
    t = np.arange(400) * dt
    assert dominant_frequency(0.1 * np.sin(2 * math.pi * f * t) + 0.5, dt) == pytest.approx(
        f, rel=5e-3
    )
    found = shedding(0.1 * np.sin(2 * math.pi * f * t), dt, frontal=0.1, mean_inflow=1.0)
    assert found.strouhal == pytest.approx(0.337, rel=5e-3) and not found.steady
    assert shedding(np.full(400, 0.3) + 1e-4 * t, dt, 0.1, 1.0).steady


def test_divergence_of_linear_fields_is_exact() -> None:
    points, triangles = _grid()
    x, y = points.T
    solenoidal = np.stack([x, -y], axis=1)  # div = 0
    expanding = np.stack([2 * x, 3 * y], axis=1)  # div = 5 1/s
    np.testing.assert_allclose(p1_divergence(points, triangles, solenoidal), 0.0, atol=1e-12)
    np.testing.assert_allclose(p1_divergence(points, triangles, expanding), 5.0, rtol=1e-12)
    frames = np.stack([solenoidal, expanding])  # leading frame axis
    assert divergence_rms(points, triangles, frames) == pytest.approx(math.sqrt(12.5))


def test_probe_sits_behind_the_obstacle() -> None:
    points, _ = _grid(21)
    node = probe_node(points, (0.2, 0.25), frontal=0.1)
    np.testing.assert_allclose(points[node], [0.4, 0.25], atol=0.03)
