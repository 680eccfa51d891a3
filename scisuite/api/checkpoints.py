"""Checkpoints as the API sees them: the shipped defaults and a checkpoint's metadata."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from scisuite.core.checkpoint import (
    CONFIG_NAME,
    CheckpointError,
    CheckpointMeta,
    config_type_problem,
    read_meta,
)
from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import DomainPlugin
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
    ``domain_or_path`` when it is a directory, else the domain's shipped default.

    Raises:
        CheckpointError: ``checkpoint`` is given with a domain name and is another domain's
            checkpoint (a checkpoint never switches the domain asked for), or it is not a
            readable checkpoint (see :func:`~scisuite.core.checkpoint.read_meta`).
    """
    if checkpoint is not None:
        if not Path(domain_or_path).exists():
            asked = registry.get(str(domain_or_path)).name
            found = read_meta(checkpoint).domain
            if found != asked:
                raise CheckpointError(
                    f"checkpoint {checkpoint} is a {found} checkpoint, not {asked}; pass "
                    f"--domain {found}, or a {asked} checkpoint"
                )
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


def checked_config(plugin: DomainPlugin, meta: CheckpointMeta, checkpoint: Path) -> FrozenConfig:
    """The domain config of a checkpoint of ``plugin``'s domain, checked before any model is
    built: its schema version, then the JSON types of ``model_config`` field by field, then
    the config's own validation, each refused in one line naming the file and the key."""
    where = Path(checkpoint) / CONFIG_NAME
    version = meta.schema_version
    if version != plugin.schema_version:
        advice = (
            "retrain with `sci train`"
            if version < plugin.schema_version
            else "upgrade scisuite to read it"
        )
        raise CheckpointError(
            f"{where}: {meta.domain} schema_version {version}, this scisuite reads "
            f"{plugin.schema_version}; {advice}"
        )
    problem = config_type_problem(plugin.config_class, meta.model_config)
    if problem is not None:
        raise CheckpointError(f"{where}: {problem}; fix it or retrain with `sci train`")
    try:
        return plugin.config_class.from_dict(meta.model_config)
    except (ValueError, TypeError) as error:
        raise CheckpointError(
            f"{where}: model_config is not a valid {meta.domain} config: {error}"
        ) from error
