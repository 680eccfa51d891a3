"""Checkpoints: a directory with ``config.json`` + ``model.safetensors``. Never pickles.

The layout matches Hugging Face's (``config.json`` next to ``model.safetensors``), so
the directory can be published as is. Lightning ``.ckpt`` files are only used to
resume training and are never loaded here: a ``.pt`` / ``.ckpt`` given as a checkpoint is
refused with the command that converts it once, reading tensors only
(``sci convert checkpoint``, :func:`scisuite.api.checkpoints.convert_checkpoint`).

Everything read from ``config.json`` is checked before use (keys, JSON types, the domain
config's own validation, tensor names and shapes against the model it describes); every
refusal is one :class:`CheckpointError` line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import torch
from safetensors.torch import load_file, save_file

from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_directory, current_umask

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2, or torch.save's zip
#: Suffixes of PyTorch / Lightning / transformers pickle files (``torch.save``).
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")
#: How to turn such a file into a checkpoint directory (see ``sci convert checkpoint``).
CONVERT_HINT = "sci convert checkpoint {path} -o {stem}_converted --domain DOMAIN"


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or not in the safetensors format.

    Its message is always one line: line breaks from a file (a tensor name, a path, a
    parser's message) are shown escaped, so the CLI prints one ``sci: error:`` line.
    """

    def __str__(self) -> str:
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


@dataclass(frozen=True)
class CheckpointMeta:
    """Everything in ``config.json``.

    Attributes:
        domain: plugin name (``"molecule"``, ...).
        schema_version: the plugin's schema version the checkpoint was written with.
        model_config: the domain config as a JSON dict (backbone + head + featurizer).
        normalizers: statistics of target/feature normalisers,
            e.g. ``{"target_mean": [...], "target_std": [...]}``.
        data_fingerprint: sha256 of the training data identity (see :func:`fingerprint`).
        metrics: validation/test metrics at save time.
        command: the command line that produced the checkpoint.
        package_version: scisuite version that wrote it.
        extra: free-form provenance (dataset names, splits, card text).
    """

    domain: str
    schema_version: int
    model_config: dict[str, Any]
    normalizers: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    package_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "schema_version": self.schema_version,
            "model_config": self.model_config,
            "normalizers": self.normalizers,
            "data_fingerprint": self.data_fingerprint,
            "metrics": self.metrics,
            "command": self.command,
            "package_version": self.package_version,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, values: Any, source: str | Path = CONFIG_NAME) -> CheckpointMeta:
        """Check and build the metadata of a parsed ``config.json``.

        Raises:
            CheckpointError: ``values`` is not an object, lacks a required key, has a key
                scisuite does not know (no silent typos), or a value of the wrong JSON type;
                the message names ``source`` and the key.
        """
        if not isinstance(values, dict):
            raise CheckpointError(
                f"{source} must hold a JSON object with domain, schema_version and "
                f"model_config, got {describe_json(values)}"
            )
        required = ("domain", "schema_version", "model_config")
        missing = [key for key in required if key not in values]
        if missing:
            raise CheckpointError(f"{source} lacks required key(s) {missing}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise CheckpointError(
                f"{source} has unknown key(s) {unknown}; the known keys are {known} (remove "
                "the others, or upgrade scisuite if a newer version wrote the checkpoint)"
            )
        hints = get_type_hints(cls)
        for key in known:
            if key in values:
                problem = type_problem(hints[key], values[key], key)
                if problem is not None:
                    raise CheckpointError(
                        f"{source}: {problem}; fix it or retrain with `sci train`"
                    )
        return cls(**values)


def shipped_weights(name: str = "") -> Path:
    """``scisuite/weights/<name>`` inside the installed package (the folder itself when
    ``name`` is empty); it may not exist."""
    return Path(str(resources.files("scisuite") / "weights" / name))


def fingerprint(items: Iterable[str]) -> str:
    """sha256 over an ordered sequence of strings (e.g. training SMILES + labels)."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def fingerprint_file(path: str | Path) -> str:
    """sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(
    directory: str | Path, state_dict: Mapping[str, torch.Tensor], meta: CheckpointMeta
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` atomically (build aside, then rename).

    Tensors are made contiguous and de-aliased (tied weights are stored once per name,
    as safetensors requires distinct storage). Other plain files already in ``directory``
    (a model card ``README.md``, notes) are carried over, as ``save_pretrained`` leaves
    them in place in transformers; files get the usual umask-based permissions.
    """
    tensors = {name: t.detach().cpu().contiguous().clone() for name, t in state_dict.items()}
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        if directory.is_dir():
            for kept in directory.iterdir():
                if kept.is_file() and kept.name not in (WEIGHTS_NAME, CONFIG_NAME):
                    shutil.copy2(kept, tmp / kept.name)
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        (tmp / CONFIG_NAME).write_text(json.dumps(meta.to_dict(), indent=2, sort_keys=True))
        mode = 0o666 & ~current_umask()
        for written in tmp.iterdir():
            os.chmod(written, mode)
    return directory


def describe_json(value: Any) -> str:
    """A JSON value as a user would call it: ``the string '4'``, ``a list``, ``null``."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(hint: Any) -> str:
    """The JSON type a type hint asks for, in words."""
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(v) for v in get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(option) for option in get_args(hint))
    if origin in (tuple, list):
        return "a list"
    if isinstance(hint, type) and issubclass(hint, FrozenConfig):
        return f"an object ({hint.__name__})"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    names.update({type(None): "null", dict: "an object"})
    return names.get(origin or hint, str(hint))


def type_problem(hint: Any, value: Any, key: str) -> str | None:
    """What is wrong with a JSON ``value`` for a field typed ``hint``, or None if it fits.

    Checks JSON types only (an integer where ``int`` is asked, ``"4"`` is not one; a list
    for a tuple; nested :class:`FrozenConfig` objects field by field); ranges and choices
    between fields are the config's own ``validate``. ``key`` names the field in the
    message (``model_config.backbone.num_layers``).
    """
    origin = get_origin(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return None
    if isinstance(hint, type) and issubclass(hint, FrozenConfig):
        if not isinstance(value, dict):
            return f"{key} must be {_expected(hint)}, got {describe_json(value)}"
        return config_type_problem(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        if all(type_problem(option, value, key) for option in get_args(hint)):
            return f"{key} must be {_expected(hint)}, got {describe_json(value)}"
        return None
    if origin is Literal:
        fits = any(v == value and type(v) is type(value) for v in get_args(hint))
        return None if fits else f"{key} must be {_expected(hint)}, got {describe_json(value)}"
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return f"{key} must be a list, got {describe_json(value)}"
        args = get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                return f"{key} must be a list of {len(args)} values, got {len(value)}"
            inner = list(args)
        else:
            inner = [args[0] if args else Any] * len(value)
        for index, (item_hint, item) in enumerate(zip(inner, value, strict=True)):
            problem = type_problem(item_hint, item, f"{key}[{index}]")
            if problem is not None:
                return problem
        return None
    plain = origin or hint
    checks: dict[Any, Any] = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        dict: lambda v: isinstance(v, dict),
        type(None): lambda v: v is None,
    }
    if plain in checks and not checks[plain](value):
        return f"{key} must be {_expected(hint)}, got {describe_json(value)}"
    return None


def config_type_problem(
    config_class: type[FrozenConfig], values: Mapping[str, Any], key: str = "model_config"
) -> str | None:
    """The first JSON-type mismatch of ``values`` against ``config_class``'s fields (see
    :func:`type_problem`), or None. Unknown fields are left to ``from_dict``."""
    hints = get_type_hints(config_class)
    for name, value in values.items():
        if name in hints:
            problem = type_problem(hints[name], value, f"{key}.{name}")
            if problem is not None:
                return problem
    return None


def check_state_fits(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], where: str | Path
) -> None:
    """Refuse weights whose names or shapes differ from the model the config describes.

    Args:
        expected: the freshly built model's ``state_dict()``.
        state: the tensors read from ``where``.
        where: the weights file, for the message.

    Raises:
        CheckpointError: one line naming up to three missing, unexpected and reshaped
            tensors (the config and the weights are from different models).
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    reshaped = [
        f"{name} {list(state[name].shape)} in the file, {list(expected[name].shape)} by the config"
        for name in sorted(set(expected) & set(state))
        if tuple(expected[name].shape) != tuple(state[name].shape)
    ]
    problems = [
        f"{label} {len(items)}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
        for label, items in (
            ("different shape", reshaped),
            ("missing", missing),
            ("unexpected", unexpected),
        )
        if items
    ]
    if problems:
        raise CheckpointError(
            f"{where} does not fit the model its {CONFIG_NAME} describes ({'; '.join(problems)}); "
            f"the two files come from different checkpoints or were edited: restore the pair "
            "or retrain with `sci train`"
        )


def _convert_hint(path: Path, domain: str | None) -> str:
    hint = CONVERT_HINT.format(path=path, stem=path.stem)
    return hint.replace("DOMAIN", domain) if domain else hint


def _refuse_pickle(path: Path, domain: str | None = None) -> None:
    with path.open("rb") as handle:
        head = handle.read(8)
    if any(head.startswith(magic) for magic in _PICKLE_MAGIC):
        raise CheckpointError(
            f"{path} is a pickled (torch.save) file; scisuite never unpickles a checkpoint "
            f"(it can run arbitrary code): convert it once with `{_convert_hint(path, domain)}`, "
            "which reads tensors only (torch.load with weights_only=True)"
        )


def read_meta(directory: str | Path, domain: str | None = None) -> CheckpointMeta:
    """The metadata of a checkpoint directory (``config.json``), checked like
    :func:`load_checkpoint` checks it but without reading the weights.

    Args:
        directory: the checkpoint directory.
        domain: the domain asked for, filled into the converter command a refusal of a
            ``.pt`` / ``.ckpt`` file names (default: ``DOMAIN``).
    """
    return _checked(Path(directory), domain)[0]


def _checked(path: Path, domain: str | None = None) -> tuple[CheckpointMeta, Path]:
    if not path.exists():
        old = path.with_name(f".{path.name}.old")
        if old.is_dir():
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not exist; a save into it was interrupted and "
                f"left the previous checkpoint in {old}: rename that back to {path.name}"
            )
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if path.is_file():
        _refuse_pickle(path, domain)
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{path} is a PyTorch/Lightning file, not a scisuite checkpoint directory; "
                f"convert it once with `{_convert_hint(path, domain)}`"
            )
        ours = path.name in (CONFIG_NAME, WEIGHTS_NAME)
        folder = f": pass its folder {path.parent}" if ours else ""
        raise CheckpointError(
            f"{path} is a file; a scisuite checkpoint is a directory with {CONFIG_NAME} "
            f"and {WEIGHTS_NAME}{folder}"
        )
    config_path, weights_path = path / CONFIG_NAME, path / WEIGHTS_NAME
    for required in (config_path, weights_path):
        if not required.exists():
            pickled = sorted(p for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
            if pickled:
                raise CheckpointError(
                    f"checkpoint {path} has no {required.name}, only pickled file(s) "
                    f"{[p.name for p in pickled]}, which scisuite never loads; convert one "
                    f"with `{_convert_hint(pickled[0], domain)}`"
                )
            raise CheckpointError(
                f"checkpoint {path} has no {required.name}; a checkpoint is a directory with "
                f"{CONFIG_NAME} and {WEIGHTS_NAME} (written by `sci train`)"
            )
    _refuse_pickle(weights_path, domain)
    try:
        values = json.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{config_path} is not UTF-8 text ({error})") from error
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"{config_path} is not valid JSON ({error}); restore it or retrain with `sci train`"
        ) from error
    return CheckpointMeta.from_dict(values, config_path), weights_path


def load_checkpoint(directory: str | Path) -> tuple[CheckpointMeta, dict[str, torch.Tensor]]:
    """Read a checkpoint directory; refuse pickles and anything that is not safetensors.

    Returns:
        the metadata and the CPU state dict.
    """
    meta, weights_path = _checked(Path(directory))
    try:
        state = load_file(str(weights_path), device="cpu")
    except Exception as error:  # safetensors raises its own SafetensorError type
        raise CheckpointError(f"{weights_path} is not a valid safetensors file: {error}") from error
    return meta, state
