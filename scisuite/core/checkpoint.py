"""Checkpoints: a directory with ``config.json`` + ``model.safetensors``. Never pickles.

The layout matches Hugging Face's (``config.json`` next to ``model.safetensors``), so
the directory can be published as is. Lightning ``.ckpt`` files are only used to
resume training and are never loaded here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from scisuite.core.io import atomic_directory, current_umask

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2, or torch.save's zip


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or not in the safetensors format."""


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
    def from_dict(cls, values: Mapping[str, Any]) -> CheckpointMeta:
        required = ("domain", "schema_version", "model_config")
        missing = [key for key in required if key not in values]
        if missing:
            raise CheckpointError(f"{CONFIG_NAME} lacks required key(s) {missing}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


def fingerprint(items: Iterable[str]) -> str:
    """sha256 over an ordered sequence of strings (e.g. training SMILES + labels)."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.encode("utf-8"))
        digest.update(b"\x00")
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


def _refuse_pickle(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(8)
    if any(head.startswith(magic) for magic in _PICKLE_MAGIC):
        raise CheckpointError(
            f"{path} is a pickled/torch.save file; scisuite never unpickles (it can run "
            "arbitrary code). Save weights as a checkpoint directory with config.json + "
            "model.safetensors (scisuite.core.checkpoint.save_checkpoint)."
        )


def read_meta(directory: str | Path) -> CheckpointMeta:
    """The metadata of a checkpoint directory (``config.json``), checked like
    :func:`load_checkpoint` checks it but without reading the weights."""
    return _checked(Path(directory))[0]


def _checked(path: Path) -> tuple[CheckpointMeta, Path]:
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if path.is_file():
        _refuse_pickle(path)
        raise CheckpointError(
            f"{path} is a file; a scisuite checkpoint is a directory with {CONFIG_NAME} "
            f"and {WEIGHTS_NAME}"
        )
    config_path, weights_path = path / CONFIG_NAME, path / WEIGHTS_NAME
    for required in (config_path, weights_path):
        if not required.exists():
            pickled = sorted(
                p.name for p in path.iterdir() if p.suffix in (".pt", ".pth", ".bin", ".ckpt")
            )
            hint = f" (found pickled file(s) {pickled}, which are refused)" if pickled else ""
            raise CheckpointError(f"checkpoint {path} has no {required.name}{hint}")
    _refuse_pickle(weights_path)
    try:
        meta = CheckpointMeta.from_dict(json.loads(config_path.read_text()))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{config_path} is not valid JSON: {error}") from error
    return meta, weights_path


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
