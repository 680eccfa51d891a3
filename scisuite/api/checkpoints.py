"""Checkpoints as the API sees them: the shipped defaults and a checkpoint's metadata."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from scisuite.core.checkpoint import CONFIG_NAME, CheckpointError, CheckpointMeta, read_meta
from scisuite.core.registry import PluginRegistry


def shipped_checkpoint(domain: str) -> Path | None:
    """The default checkpoint shipped in ``scisuite/weights/<domain>/``, if there is one."""
    folder = Path(str(resources.files("scisuite") / "weights" / domain))
    return folder if (folder / CONFIG_NAME).exists() else None


def checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """The metadata of a checkpoint directory (domain, config, metrics, command)."""
    return read_meta(path)


def resolve_checkpoint(
    domain_or_path: str | Path, checkpoint: str | Path | None, registry: PluginRegistry
) -> Path:
    """The checkpoint directory :func:`~scisuite.api.load` uses: ``checkpoint``, else
    ``domain_or_path`` when it is a directory, else the domain's shipped default."""
    if checkpoint is not None:
        return Path(checkpoint)
    if Path(domain_or_path).exists():
        return Path(domain_or_path)
    plugin = registry.get(str(domain_or_path))
    shipped = shipped_checkpoint(plugin.name)
    if shipped is None:
        raise CheckpointError(
            f"the {plugin.name} domain ships no default weights yet; pass --checkpoint "
            "(train one with `sci train`)"
        )
    return shipped
