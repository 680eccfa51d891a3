"""Checkpoints as the API sees them: the shipped defaults and a checkpoint's metadata."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from scisuite.core.checkpoint import CONFIG_NAME, CheckpointMeta, read_meta


def shipped_checkpoint(domain: str) -> Path | None:
    """The default checkpoint shipped in ``scisuite/weights/<domain>/``, if there is one."""
    folder = Path(str(resources.files("scisuite") / "weights" / domain))
    return folder if (folder / CONFIG_NAME).exists() else None


def checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """The metadata of a checkpoint directory (domain, config, metrics, command)."""
    return read_meta(path)
