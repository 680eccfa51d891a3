"""Overlapping windows over a long sequence: which residues each prompt sees and labels.

Used by the forward tasks at prediction time (``generation.py``) and by the training-data
builder (``tasks.py``), which tiles held-out chains the same way; imports nothing heavy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Residues ``[start, end)`` of a sequence fed as one prompt; the residues
    ``[keep_start, keep_end)`` take their labels from it."""

    start: int
    end: int
    keep_start: int
    keep_end: int


def plan_windows(length: int, window: int, overlap: int) -> list[Window]:
    """Overlapping windows covering ``length`` residues (a single one if it fits).

    Windows are at most ``window`` long, spread evenly, neighbours share at least
    ``overlap`` residues; each residue is kept from the window whose centre is nearest (the
    one where it is furthest from an edge; ties go to the earlier window), so every residue
    is labelled exactly once. O(number of windows).
    """
    if length <= window:
        return [Window(0, length, 0, length)]
    stride = max(window - overlap, 1)
    count = math.ceil((length - window) / stride) + 1
    starts = [round(k * (length - window) / (count - 1)) for k in range(count)]
    # residue p goes to window k while p <= (end_k - 1 + start_k+1) / 2
    middles = [(s + window - 1 + t) // 2 + 1 for s, t in zip(starts, starts[1:], strict=False)]
    bounds = [0, *middles, length]
    return [
        Window(s, s + window, keep_start, keep_end)
        for s, keep_start, keep_end in zip(starts, bounds, bounds[1:], strict=False)
        if keep_end > keep_start
    ]
