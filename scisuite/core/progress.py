"""Progress bars for long runs: records (or items) per second and ETA, on stderr.

One rule for every verb: shown when asked (``True``), hidden with ``False`` (``--quiet``), and
by default (``None``) shown only when stderr is a terminal, so logs and pipes get no
carriage-return noise.
"""

from __future__ import annotations

import sys
from typing import Any


def wanted(enabled: bool | None) -> bool:
    """Whether to show progress: ``enabled``, or by default whether stderr is a terminal."""
    if enabled is not None:
        return enabled
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(
    total: int | None,
    desc: str,
    unit: str = "rec",
    enabled: bool | None = None,
    initial: int = 0,
    leave: bool = True,
) -> Any:
    """A tqdm bar on stderr (a no-op bar when not :func:`wanted`); use as a context manager
    and call ``update(n)``. With ``total`` it shows the ETA, otherwise the count and rate."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        disable=not wanted(enabled),
        leave=leave,
        file=sys.stderr,
        dynamic_ncols=True,
    )
