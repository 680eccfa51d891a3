"""Checkpoints as the API sees them: the shipped defaults and a checkpoint's metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scisuite.core.checkpoint import (
    CONFIG_NAME,
    CheckpointError,
    CheckpointMeta,
    config_type_problem,
    read_meta,
    shipped_weights,
)
from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import DomainPlugin
from scisuite.core.registry import PluginRegistry


def shipped_checkpoint(domain: str) -> Path | None:
    """The default checkpoint shipped in ``scisuite/weights/<domain>/``, if there is one."""
    folder = shipped_weights(domain)
    return folder if (folder / CONFIG_NAME).exists() else None


#: ``sci train --init-from pretrained``: the domain's shipped pretrained backbone.
PRETRAINED = "pretrained"


def pretrained_checkpoint(domain: str) -> Path:
    """The pretrained backbone shipped in ``scisuite/weights/<domain>-pretrained/``.

    Raises:
        CheckpointError: the domain ships none.
    """
    folder = shipped_weights(f"{domain}-pretrained")
    if not (folder / CONFIG_NAME).exists():
        raise CheckpointError(
            f"the {domain} domain ships no pretrained backbone; pass a checkpoint directory "
            "to --init-from"
        )
    return folder


def shipped_variant(domain: str, name: str) -> Path | None:
    """A named variant shipped beside the default, ``scisuite/weights/<domain>-<name>/``
    (e.g. ``molecule-fast``), or None when the domain ships no such variant."""
    if not name or "/" in name or name.startswith("."):
        return None
    return shipped_checkpoint(f"{domain}-{name}")


def shipped_variants(domain: str) -> dict[str, Path]:
    """``{name: folder}`` of the variants shipped beside a domain's default
    (``scisuite/weights/<domain>-<name>/``), sorted by name."""
    root = shipped_weights()
    prefix = f"{domain}-"
    return {
        folder.name.removeprefix(prefix): folder
        for folder in sorted(root.glob(f"{prefix}*"))
        if (folder / CONFIG_NAME).exists()
    }


def checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """The metadata of a checkpoint directory (domain, config, metrics, command)."""
    return read_meta(path)


def resolve_checkpoint(
    domain_or_path: str | Path, checkpoint: str | Path | None, registry: PluginRegistry
) -> Path:
    """The checkpoint directory :func:`~scisuite.api.load` uses: ``checkpoint`` (a directory,
    or the name of a shipped variant such as ``"fast"``: :func:`shipped_variant`), else
    ``domain_or_path`` when it is a path, else the domain's shipped default; its
    ``config.json`` is checked (see :func:`checked_config`) before it is returned, so that
    every caller refuses a tampered checkpoint in one line.

    A registered domain name is a domain even where a folder of that name exists in the
    working directory (write ``./molecule`` for the folder).

    Raises:
        CheckpointError: ``checkpoint`` is given with a domain name and is another domain's
            checkpoint (a checkpoint never switches the domain asked for), or it is not a
            readable checkpoint of this scisuite (see :func:`checked_config`).
    """
    name = str(domain_or_path)
    is_path = name not in registry.names() and Path(name).exists()
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.exists() and not is_path:  # a shipped variant's name, e.g. "fast"
            path = shipped_variant(registry.get(name).name, str(checkpoint)) or path
    elif is_path:
        path = Path(name)
    else:
        plugin = registry.get(name)
        shipped = shipped_checkpoint(plugin.name)
        if shipped is None:
            raise CheckpointError(
                f"the {plugin.name} domain ships no default weights yet; pass --checkpoint "
                "(train one with `sci train`)"
            )
        path = shipped
    meta = read_meta(path, None if is_path else registry.get(name).name)
    if checkpoint is not None and not is_path:
        asked = registry.get(name).name
        if meta.domain != asked:
            raise CheckpointError(
                f"checkpoint {checkpoint} is a {meta.domain} checkpoint, not {asked}; pass "
                f"--domain {meta.domain}, or a {asked} checkpoint"
            )
    checked_config(registry.get(meta.domain), meta, path)
    return path


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


def _model_shapes(plugin: DomainPlugin, config: FrozenConfig) -> dict[str, Any]:
    """The state dict of ``config``'s model built on torch's ``meta`` device (shapes, no
    memory); a plugin whose model cannot be built there gets a real one."""
    import torch

    try:
        with torch.device("meta"):
            return plugin.task.build_model(config).state_dict()
    except Exception:  # e.g. a model computing a buffer's values from real tensors at init
        return plugin.task.build_model(config).state_dict()


def checked_model(
    plugin: DomainPlugin, config: FrozenConfig, state: dict[str, Any], where: Path
) -> Any:
    """The domain's model for ``config`` with ``state`` loaded, refused before its weights
    are allocated when the names or shapes differ (checked on the ``meta`` device first, so
    a tampered size in ``config.json`` costs no memory).

    Raises:
        CheckpointError: see :func:`~scisuite.core.checkpoint.check_state_fits`.
    """
    from scisuite.core.checkpoint import check_state_fits

    check_state_fits(_model_shapes(plugin, config), state, where)
    model = plugin.task.build_model(config)
    model.load_state_dict(state, strict=True)
    return model


def _tensors_only(source: Path) -> Any:
    """``torch.load(weights_only=True)``: tensors and plain containers, never code."""
    import pickle
    import re
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it may not read
            warnings.simplefilter("ignore")
            return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        needs = f"the Python object {found.group(1)}" if found else "pickle instructions"
        raise CheckpointError(
            f"{source} needs code to be unpickled ({needs} that torch's tensors-only loader "
            "refuses), which scisuite never runs: export the model's state_dict (tensors "
            "only) with torch.save where it was trained, and convert that"
        ) from error
    except Exception as error:  # torch's parsers raise any Python error on damaged bytes
        first = str(error).splitlines()[0] if str(error) else ""
        raise CheckpointError(
            f"{source} is not a readable torch.save file ({type(error).__name__}: {first})"
        ) from error


def _state_of(loaded: Any, expected: set[str], source: Path) -> dict[str, Any]:
    """The model's tensors in a loaded file: a Lightning checkpoint's ``state_dict`` (the
    ``model.`` prefix of scisuite's Lightning module removed), or a plain state dict
    (``module.`` of DDP removed when every key has it)."""
    import torch

    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{source} holds no state dict (tensor names -> tensors)")
    not_tensors = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise CheckpointError(
            f"{source}: the state dict holds entries that are not tensors: {not_tensors[:3]}"
        )
    if set(state) != expected:
        for prefix in ("model.", "module."):
            if all(str(k).startswith(prefix) for k in state):
                return {str(k).removeprefix(prefix): v for k, v in state.items()}
    return dict(state)


def _config_values(config: str | Path | None, loaded: Any, domain: str, source: Path) -> Any:
    """The model config a converted checkpoint gets: ``--config`` (a checkpoint directory
    or its ``config.json`` of the same domain, or a bare model-config JSON object), else
    the one scisuite's training loop stored in its Lightning checkpoint."""
    if config is not None:
        config = Path(config)
        if config.is_dir():
            meta = read_meta(config)
        else:
            try:
                values = json.loads(config.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise CheckpointError(f"--config {config}: not a JSON file ({error})") from error
            if not (isinstance(values, dict) and "model_config" in values):
                return values
            meta = CheckpointMeta.from_dict(values, config)
        if meta.domain != domain:
            raise CheckpointError(f"--config {config} is a {meta.domain} config, not {domain}")
        return meta.model_config
    stored = loaded.get("scisuite") if isinstance(loaded, dict) else None
    if isinstance(stored, dict) and "config" in stored:
        return stored["config"]
    raise CheckpointError(
        f"{source} does not say which architecture its weights are for (it was not written "
        "by `sci train`); give --config with a checkpoint directory or config.json of that "
        "architecture"
    )


def convert_checkpoint(
    source: str | Path,
    output: str | Path,
    domain: str,
    config: str | Path | None = None,
    registry: PluginRegistry | None = None,
    command: str = "",
) -> Path:
    """Turn a PyTorch / Lightning ``.pt`` / ``.ckpt`` file into a checkpoint directory.

    The file is read with ``torch.load(weights_only=True)``: tensors and plain containers
    only, so a file that needs code to be unpickled is refused. A Lightning ``.ckpt`` from
    ``sci train``'s work directory (``.<output>.work/lightning/last.ckpt``) carries its
    model config; other files need ``config``. The weights are checked against the model
    that config builds (names and shapes) before ``output`` is written (atomically).

    Args:
        source: the ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` file.
        output: the checkpoint directory to write (must not exist).
        domain: the domain the weights are for.
        config: a checkpoint directory / ``config.json`` of the same architecture, or a
            JSON file with the domain's model config; None: the config the Lightning
            checkpoint stores.
        registry: plugin registry (default: installed plugins).
        command: the command line, recorded in the new ``config.json``.

    Returns:
        ``output``.

    Raises:
        CheckpointError: the file needs unpickling of code, holds no state dict, has no
            config to go with it, or its tensors do not fit the domain's model.
    """
    from scisuite._version import __version__
    from scisuite.api.common import registry_or_default
    from scisuite.core.checkpoint import fingerprint_file, save_checkpoint

    source, output = Path(source), Path(output)
    plugin = registry_or_default(registry).get(domain)
    if not source.is_file():
        raise CheckpointError(f"{source} is not a file (give the .pt / .ckpt file to convert)")
    if output.exists():
        raise CheckpointError(f"output {output} exists; choose a new directory")
    loaded = _tensors_only(source)
    values = _config_values(config, loaded, plugin.name, source)
    meta = CheckpointMeta(plugin.name, plugin.schema_version, values)
    model_config = checked_config(plugin, meta, source)
    state = _state_of(loaded, set(_model_shapes(plugin, model_config)), source)
    model = checked_model(plugin, model_config, state, source)
    # the target statistics, as `sci train` records them (without importing Lightning)
    plain = model_config.to_dict()
    normalizers = {k: v for k, v in plain.items() if k.startswith(("target_mean", "target_std"))}
    epoch = loaded.get("epoch") if isinstance(loaded, dict) else None
    step = loaded.get("global_step") if isinstance(loaded, dict) else None
    meta = CheckpointMeta(
        domain=plugin.name,
        schema_version=plugin.schema_version,
        model_config=plain,
        normalizers=normalizers,
        command=command,
        package_version=__version__,
        extra={
            "converted_from": {
                "path": str(source),
                "sha256": fingerprint_file(source),
                **({"epoch": epoch} if isinstance(epoch, int) else {}),
                **({"global_step": step} if isinstance(step, int) else {}),
            }
        },
    )
    return save_checkpoint(output, model.state_dict(), meta)
