"""Figures written to files: matplotlib's object-oriented API on the Agg canvas.

No ``pyplot`` and no ``matplotlib.use`` (a process-wide switch): each figure gets its own
canvas, so plotting never opens a window and never changes a notebook's backend.
matplotlib is imported when a figure is made, not when this module is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scisuite.core.io import atomic_path


def new_figure(width: float, height: float, dpi: int | None = None) -> Any:
    """A ``matplotlib.figure.Figure`` of ``width x height`` inches on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Any, path: str | Path, dpi: int | None = None, tight: bool = False) -> Path:
    """Write ``figure`` as PNG atomically (the file appears complete or not at all)."""
    with atomic_path(path) as tmp:
        figure.savefig(
            tmp, format="png", dpi=dpi or "figure", bbox_inches="tight" if tight else None
        )
    return Path(path)


def draw_parity(
    axes: Any, reference: np.ndarray, predicted: np.ndarray, name: str, hexbin: bool = False
) -> None:
    """Predicted against reference on ``axes`` with the identity line; NaN pairs are dropped.

    Args:
        axes: a matplotlib ``Axes``.
        reference, predicted: 1-D arrays of the same length.
        name: the quantity with its unit, for the axis labels.
        hexbin: a log-density hexbin (many points, e.g. mesh nodes) instead of a scatter.
    """
    keep = np.isfinite(reference) & np.isfinite(predicted)
    x, y = reference[keep], predicted[keep]
    if hexbin:
        axes.hexbin(x, y, gridsize=60, bins="log", mincnt=1)
    else:
        axes.scatter(x, y, s=10, alpha=0.6)
    low, high = (
        (float(min(x.min(), y.min())), float(max(x.max(), y.max()))) if keep.any() else (0.0, 1.0)
    )
    axes.plot([low, high], [low, high], color="k", lw=0.8, ls="--")
    axes.set_xlabel(f"reference {name}")
    axes.set_ylabel(f"predicted {name}")
