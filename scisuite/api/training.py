"""Training: a domain's training data through Lightning into a checkpoint directory."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from lightning import Callback
from torch import nn

from scisuite._version import __version__
from scisuite.api.checkpoints import PRETRAINED, pretrained_checkpoint
from scisuite.api.common import registry_or_default
from scisuite.api.evaluating import metrics_on
from scisuite.core.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from scisuite.core.config import FrozenConfig, TrainConfig
from scisuite.core.devices import resolve_device
from scisuite.core.plugin import DomainPlugin, TrainingData, TrainRequest
from scisuite.core.registry import PluginRegistry
from scisuite.core.training import FitResult, distributed_barrier, fit, seed_run


def train(
    domain: str,
    request: TrainRequest,
    train_config: TrainConfig,
    output: str | Path,
    command: str | None = None,
    quiet: bool = False,
    registry: PluginRegistry | None = None,
    init_from: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Train a model and write a checkpoint directory to ``output`` (atomically).

    The best epoch by validation loss is kept; test metrics (when the request has a
    test part) are stored in ``config.json`` next to the validation metrics.

    Distributed training (``train_config.strategy="ddp"`` with several ``devices`` and/or
    ``num_nodes``) runs this call in every process (``sci train`` relaunches itself, or
    ``torchrun`` / ``srun`` start one process per device). Rank 0 alone computes the final
    metrics and writes ``output``; every rank returns once it is written.

    Args:
        init_from: a checkpoint of the same domain and architecture whose weights start the
            training (fine-tuning, or the next stage of a curriculum), or ``"pretrained"``
            (the domain's shipped pretrained backbone); the config fields the task's
            :meth:`~scisuite.core.plugin.Task.inherited_settings` names are taken from it
            unless the request overrides them; its path and command are recorded in the new
            checkpoint. None: random initialisation from the seed.
            Normalisers are fitted on the new training data, as for a fresh model.
        resume: continue an interrupted run with the same ``output`` from the last epoch
            checkpoint in its work directory (``.<output name>.work/lightning/last.ckpt``,
            kept until a run completes) up to ``train_config.max_epochs``; finished epochs are
            not rerun. Raises :class:`~scisuite.core.training.ResumeError` when there is no
            such checkpoint or it was written with other settings.
        callbacks: extra Lightning callbacks for the training loop (monitoring, custom stops).
    """
    plugin = registry_or_default(registry).get(domain)
    # The seed fixes data building (random splits, encodings) and the initial weights too,
    # not only the training loop: the same command twice gives the same model.
    seed_run(train_config.seed)
    source = _initial_checkpoint(plugin, Path(init_from)) if init_from else None
    inherited: dict[str, Any] = {}
    if source is not None:
        inherited = plugin.task.inherited_settings(source.meta.model_config)
        inherited = {k: v for k, v in inherited.items() if k not in request.model_overrides}
        request = replace(request, model_overrides={**inherited, **request.model_overrides})
    data = plugin.data.build_training_data(request)
    model = plugin.task.build_model(data.config)
    initial = _load_initial_weights(model, plugin, source) if source is not None else None
    if initial is not None:
        initial["inherited_settings"] = sorted(inherited)
    output = Path(output)
    result = fit(
        plugin.task,
        model,
        data.config,
        data.train,
        data.val,
        train_config,
        output.with_name(f".{output.name}.work"),
        quiet=quiet,
        resume=resume,
        callbacks=callbacks,
    )
    if result.is_global_zero:
        _write_checkpoint(
            plugin, model, data, result, train_config, output, command, initial, resume
        )
    distributed_barrier()  # the other ranks return once rank 0 has written the checkpoint
    return output


def _write_checkpoint(
    plugin: DomainPlugin,
    model: nn.Module,
    data: TrainingData,
    result: FitResult,
    train_config: TrainConfig,
    output: Path,
    command: str | None,
    initial: dict[str, Any] | None,
    resume: bool,
) -> Path:
    """Rank 0's part of :func:`train`: best weights, final metrics, ``config.json``."""
    model.load_state_dict(result.state_dict)
    device = resolve_device("cuda" if train_config.accelerator in ("gpu", "cuda") else "cpu")
    metrics: dict[str, Any] = {
        "best_val_loss": result.best_val_loss,
        "epochs": result.epochs_run,
        "train_seconds": round(result.train_seconds, 2),
    }
    # a last choice on the validation set (never the test set)
    model, config, selection = plugin.data.finalize_model(
        model, data.config, data.val, train_config.batch_size, device
    )
    if selection:
        metrics["selection"] = selection
    batch_size = train_config.batch_size
    metrics["val"] = metrics_on(plugin, model, config, data.val, batch_size, device)[0]
    if data.test:
        metrics["test"] = metrics_on(plugin, model, config, data.test, batch_size, device)[0]
    meta = CheckpointMeta(
        domain=plugin.name,
        schema_version=plugin.schema_version,
        model_config=config.to_dict(),
        normalizers=_normalizers(config),
        data_fingerprint=data.fingerprint,
        metrics=metrics,
        command=command if command is not None else shlex.join(["sci", *sys.argv[1:]]),
        package_version=__version__,
        extra={
            "provenance": data.provenance,
            "train_config": train_config.to_dict(),
            "rejected_records": len(data.rejected),
            "threads": torch.get_num_threads(),
            **({"init_from": initial} if initial else {}),
            **({"resumed": True} if resume else {}),
        },
    )
    return save_checkpoint(output, model.state_dict(), meta)


@dataclass(frozen=True)
class _InitialCheckpoint:
    """The ``--init-from`` checkpoint, read once: its directory, metadata and weights."""

    path: Path
    meta: CheckpointMeta
    state: dict[str, Any]


def _initial_checkpoint(plugin: DomainPlugin, path: Path) -> _InitialCheckpoint:
    """Read the ``--init-from`` checkpoint (``"pretrained"``: the domain's shipped
    pretrained backbone), refusing another domain's before anything is taken from it.

    Raises:
        ValueError: another domain's checkpoint.
    """
    path = pretrained_checkpoint(plugin.name) if str(path) == PRETRAINED else path
    meta, state = load_checkpoint(path)
    if meta.domain != plugin.name:
        raise ValueError(f"--init-from {path} is a {meta.domain} checkpoint, not {plugin.name}")
    return _InitialCheckpoint(path, meta, state)


def _load_initial_weights(
    model: nn.Module, plugin: DomainPlugin, source: _InitialCheckpoint
) -> dict[str, Any]:
    """Start a freshly built model from a checkpoint's weights (``--init-from``): the
    tensors the task's :meth:`~scisuite.core.plugin.Task.transferable_weights` maps (for
    molecules: the backbone into every ensemble member; heads when their targets match);
    the rest keep their fresh initialisation.

    Returns:
        what the new checkpoint records about its start: path, command, data fingerprint,
        and which tensors were transferred or re-initialised.

    Raises:
        ValueError: a checkpoint whose weights cover less than half of the new model's
            parameters (its architecture differs).
    """
    path, meta, state = source.path, source.meta, source.state
    own = model.state_dict()
    chosen = plugin.task.transferable_weights(own, state)
    fresh = sorted(set(own) - set(chosen))
    covered = sum(own[name].numel() for name in chosen)
    total = sum(tensor.numel() for tensor in own.values())
    if covered * 2 < total:
        different = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        raise ValueError(
            f"--init-from {path} covers {covered:,} of the {total:,} parameters of the model "
            f"being trained (different shapes: {', '.join(different[:5]) or 'none'}; missing: "
            f"{', '.join(fresh[:5])}); give the same architecture settings (--set) as the "
            "checkpoint's config.json"
        )
    model.load_state_dict({**own, **chosen})
    return {
        "path": str(path),
        "command": meta.command,
        "data_fingerprint": meta.data_fingerprint,
        "transferred_tensors": len(chosen),
        "reinitialised_tensors": fresh,
    }


def _normalizers(config: FrozenConfig) -> dict[str, Any]:
    values = config.to_dict()
    return {k: v for k, v in values.items() if k.startswith(("target_mean", "target_std"))}
