"""Device resolution for ``--device auto|cpu|cuda`` (no Lightning import: inference uses it)."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; ``"cpu"``/``"cuda"``/``"cuda:1"`` as given.

    Raises:
        RuntimeError: CUDA was asked for and none is available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but no CUDA device is available")
    return resolved


def lightning_accelerator(device: str) -> str:
    """The ``--device`` flag as Lightning's accelerator name (``auto``, ``cpu``, ``gpu``)."""
    return {"auto": "auto", "cpu": "cpu"}.get(device, "gpu")
