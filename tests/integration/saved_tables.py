"""Compare an output with a saved one: text exactly, numbers to float32 rounding.

The saved outputs in ``tests/fixtures/shipped_outputs`` were written on one CPU. Another CPU
(other SIMD kernels, another thread split) rounds float32 sums differently in the last bit,
~1e-7 relative, so a byte comparison fails there while every id, label, sequence and status
is the same. Numbers are therefore compared with ``rtol`` (1e-5, a hundred times that noise
and far below any change of the model), everything else exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

RTOL, ATOL = 1e-5, 1e-6


def _numeric(column: pd.Series) -> pd.Series | None:
    """The column as floats if every non-empty cell is a number, else None."""
    filled = column[column != ""]
    values = pd.to_numeric(filled, errors="coerce")
    if filled.empty or values.isna().any():
        return None
    return pd.to_numeric(column.replace("", np.nan), errors="coerce")


def assert_same_table(actual: Path, saved: Path, ignore: tuple[str, ...] = ()) -> None:
    """``actual`` holds the rows of ``saved`` (CSV): same columns and rows, text equal,
    numbers within ``RTOL``; ``ignore`` columns are compared by file name (paths)."""
    left = pd.read_csv(actual, dtype=str, keep_default_na=False)
    right = pd.read_csv(saved, dtype=str, keep_default_na=False)
    assert list(left.columns) == list(right.columns), (actual.name, list(left.columns))
    assert len(left) == len(right), (actual.name, len(left), len(right))
    for name in left.columns:
        a, b = left[name], right[name]
        if name in ignore:
            a, b = a.map(lambda p: Path(p).name), b.map(lambda p: Path(p).name)
        x, y = _numeric(a), _numeric(b)
        if x is None or y is None:
            mismatch = (a != b).to_numpy().nonzero()[0]
            assert not len(mismatch), f"{actual.name} column {name!r}, rows {mismatch[:5]}"
            continue
        assert ((a == "") == (b == "")).all(), f"{actual.name} column {name!r}: empty cells"
        close = np.isclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)
        assert close.all(), f"{actual.name} column {name!r}, rows {np.flatnonzero(~close)[:5]}"


def assert_close_arrays(actual: np.ndarray, saved: np.ndarray) -> None:
    """Same shape, values within ``RTOL``."""
    assert actual.shape == saved.shape
    assert np.allclose(actual, saved, rtol=RTOL, atol=ATOL)
