"""The Python API: what the CLI, notebooks and batch-scoring scripts all call.

>>> import scisuite
>>> predictor = scisuite.load("molecule")            # shipped default weights
>>> predictor.predict(["CCO", "c1ccccc1O"])          # -> pandas.DataFrame
"""

from __future__ import annotations

import platform
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch_geometric.loader import DataLoader

from scisuite import __version__
from scisuite.core.checkpoint import (
    CONFIG_NAME,
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    save_checkpoint,
)
from scisuite.core.config import FrozenConfig, TrainConfig
from scisuite.core.io import strip_suffixes, write_rows
from scisuite.core.plugin import DomainPlugin, TrainRequest
from scisuite.core.predicting import OnError, predict_rows
from scisuite.core.records import BadRecord, Record
from scisuite.core.registry import PluginRegistry
from scisuite.core.training import compute_metrics, fit, resolve_device


def _registry(registry: PluginRegistry | None) -> PluginRegistry:
    return registry if registry is not None else PluginRegistry()


def list_domains(registry: PluginRegistry | None = None) -> list[str]:
    """Names of the installed domain plugins (imports none of them)."""
    return _registry(registry).names()


def shipped_checkpoint(domain: str) -> Path | None:
    """The default checkpoint shipped in ``scisuite/weights/<domain>/``, if there is one."""
    folder = Path(str(resources.files("scisuite") / "weights" / domain))
    return folder if (folder / CONFIG_NAME).exists() else None


@dataclass
class WriteSummary:
    """What :meth:`Predictor.predict_file` wrote: the file, its rows and how many are errors."""

    path: Path
    rows: int = 0
    errors: int = 0
    table: Path | None = None  # the summary table, when ``path`` is a plugin writer's format


@dataclass
class Predictor:
    """A loaded model ready to predict; returned by :func:`load`.

    Attributes:
        plugin: the domain plugin.
        model: the model, on ``device`` and in eval mode.
        config: the domain config it was built from.
        meta: checkpoint metadata (metrics, provenance), or None for an untrained model.
        device: where inference runs.
    """

    plugin: DomainPlugin
    model: nn.Module
    config: FrozenConfig
    meta: CheckpointMeta | None
    device: torch.device

    def records(self, inputs: Any, **reader_options: Any) -> Iterator[Record | BadRecord]:
        """Turn a file path, ``"-"`` (stdin) or an iterable of Python objects into records."""
        if isinstance(inputs, str | Path) and (str(inputs) == "-" or Path(inputs).exists()):
            return read_records(self.plugin, inputs, **reader_options)
        if isinstance(inputs, str):
            inputs = [inputs]
        return self.plugin.records_from_objects(inputs)

    def iter_rows(
        self,
        inputs: Any,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> Iterator[dict[str, Any]]:
        """Stream one output row per input record (bounded memory)."""
        return predict_rows(
            self.plugin,
            self.model,
            self.config,
            self.records(inputs, **reader_options),
            batch_size,
            self.device,
            on_error,
            num_workers,
        )

    def predict(
        self,
        inputs: Any,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> pd.DataFrame:
        """Predict and return a DataFrame with one row per input, in input order."""
        rows = list(self.iter_rows(inputs, batch_size, on_error, num_workers, **reader_options))
        return pd.DataFrame.from_records(rows).reindex(columns=self.columns())

    def predict_file(
        self,
        inputs: Any,
        output: str | Path,
        fmt: str | None = None,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> WriteSummary:
        """Stream predictions to ``output`` (CSV/TSV/Parquet/JSONL, written atomically).

        An output suffix the plugin has a writer for (``plugin.writers``, e.g. ``.xdmf`` for
        meshes) goes to that writer instead, with the rows collected in memory, and the
        summary table is written next to it as ``<output stem>.csv``.
        """
        summary = WriteSummary(Path(output))

        def counted(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for row in rows:
                summary.errors += row["status"] == "error"
                yield row

        rows = self.iter_rows(inputs, batch_size, on_error, num_workers, **reader_options)
        writer = None if fmt else self.plugin.writers.get(strip_suffixes(output))
        if writer is None:
            summary.rows = write_rows(counted(rows), output, self.columns(), fmt)
            return summary
        collected = list(counted(rows))
        writer(pd.DataFrame.from_records(collected), Path(output))
        table = Path(output).with_suffix(".csv")
        summary.rows = write_rows(iter(collected), table, self.columns(), "csv")
        summary.table = table
        return summary

    def columns(self) -> list[str]:
        return [*self.plugin.output_columns(self.config), "status", "error"]


def read_records(
    plugin: DomainPlugin, path: str | Path, **reader_options: Any
) -> Iterator[Record | BadRecord]:
    """Stream records from a file with the plugin's reader for its suffix."""
    suffix = strip_suffixes(path) if str(path) != "-" else reader_options.pop("stdin_format", "")
    reader = plugin.readers.get(suffix)
    if reader is None:
        raise ValueError(
            f"the {plugin.name} domain cannot read {suffix or 'suffix-less'} files "
            f"({path}); supported: {sorted(plugin.readers)}"
        )
    return reader(path, **{k: v for k, v in reader_options.items() if v is not None})


def _model_from(
    plugin: DomainPlugin, config: FrozenConfig, state: dict[str, torch.Tensor] | None
) -> nn.Module:
    model = plugin.build_model(config)
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model.eval()


def load(
    domain_or_path: str | Path,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    registry: PluginRegistry | None = None,
) -> Predictor:
    """Load a predictor.

    Args:
        domain_or_path: a domain name (uses ``checkpoint`` or the shipped default) or a
            checkpoint directory (its ``config.json`` names the domain).
        checkpoint: checkpoint directory, overriding the shipped default.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        registry: plugin registry (default: installed plugins).
    """
    reg = _registry(registry)
    if Path(domain_or_path).exists() and checkpoint is None:
        checkpoint = Path(domain_or_path)
    if checkpoint is not None:
        meta, state = load_checkpoint(checkpoint)
        plugin = reg.get(meta.domain)
        if meta.schema_version != plugin.schema_version:
            raise CheckpointError(
                f"checkpoint {checkpoint} has {meta.domain} schema v{meta.schema_version}, "
                f"this scisuite reads v{plugin.schema_version}; retrain with `sci train`"
            )
        config = plugin.config_class.from_dict(meta.model_config)
    else:
        plugin = reg.get(str(domain_or_path))
        default = shipped_checkpoint(plugin.name)
        if default is None:
            raise CheckpointError(
                f"the {plugin.name} domain ships no default weights yet; pass --checkpoint "
                "(train one with `sci train`)"
            )
        return load(default, device=device, registry=reg)
    target = resolve_device(device)
    return Predictor(plugin, _model_from(plugin, config, state).to(target), config, meta, target)


def predict(
    domain: str,
    inputs: Any,
    checkpoint: str | Path | None = None,
    batch_size: int = 64,
    device: str = "auto",
    on_error: OnError = "skip",
    registry: PluginRegistry | None = None,
    **reader_options: Any,
) -> pd.DataFrame:
    """One-call prediction: ``predict("molecule", ["CCO"])`` -> DataFrame."""
    predictor = load(domain, checkpoint=checkpoint, device=device, registry=registry)
    return predictor.predict(inputs, batch_size, on_error, **reader_options)


def _metrics_on(
    plugin: DomainPlugin,
    model: nn.Module,
    config: FrozenConfig,
    graphs: list,
    batch_size: int,
    device: torch.device,
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """Metrics over ``graphs``; also ``<metric>_<subset>`` for the plugin's optional
    ``metric_subsets(batch) -> {name: bool mask}`` (e.g. MoleculeACE's ``rmse_cliff``)."""
    preds, targets, masks = [], [], {}
    subsets = getattr(plugin, "metric_subsets", None)
    model = model.to(device).eval()
    with torch.inference_mode():
        for batch in DataLoader(graphs, batch_size=batch_size, shuffle=False):
            batch = batch.to(device)
            pred, target = plugin.evaluation_arrays(model(batch), batch, config)
            preds.append(pred.float().cpu())
            targets.append(target.float().cpu())
            for name, mask in (subsets(batch) if subsets else {}).items():
                masks.setdefault(name, []).append(mask.cpu())
    pred, target = torch.cat(preds), torch.cat(targets)
    metrics = compute_metrics(plugin.metrics, pred, target)
    names = getattr(config, "target_names", ())
    if pred.dim() == 2 and pred.size(1) > 1 and len(names) == pred.size(1):
        for t, name in enumerate(names):  # macro averages mix units; report each target too
            per_target = compute_metrics(plugin.metrics, pred[:, t : t + 1], target[:, t : t + 1])
            metrics.update({f"{metric}:{name}": v for metric, v in per_target.items()})
    for name, parts in masks.items():
        mask = torch.cat(parts)
        if mask.any():
            for metric, value in compute_metrics(plugin.metrics, pred[mask], target[mask]).items():
                metrics[f"{metric}_{name}"] = value
    return {k: v for k, v in metrics.items() if v == v}, pred, target


def train(
    domain: str,
    request: TrainRequest,
    train_config: TrainConfig,
    output: str | Path,
    command: str | None = None,
    quiet: bool = False,
    registry: PluginRegistry | None = None,
    init_from: str | Path | None = None,
) -> Path:
    """Train a model and write a checkpoint directory to ``output`` (atomically).

    The best epoch by validation loss is kept; test metrics (when the request has a
    test part) are stored in ``config.json`` next to the validation metrics.

    Args:
        init_from: a checkpoint of the same domain and architecture whose weights start the
            training (fine-tuning, or the next stage of a curriculum); its path and command
            are recorded in the new checkpoint. None: random initialisation from the seed.
            Normalisers are fitted on the new training data, as for a fresh model.
    """
    plugin = _registry(registry).get(domain)
    data = plugin.build_training_data(request)
    model = plugin.build_model(data.config)
    initial = _load_initial_weights(model, plugin, Path(init_from)) if init_from else None
    output = Path(output)
    result = fit(
        plugin,
        model,
        data.config,
        data.train,
        data.val,
        train_config,
        output.with_name(f".{output.name}.work"),
        quiet=quiet,
    )
    model.load_state_dict(result.state_dict)
    device = resolve_device("cuda" if train_config.accelerator in ("gpu", "cuda") else "cpu")
    metrics: dict[str, Any] = {
        "best_val_loss": result.best_val_loss,
        "epochs": result.epochs_run,
        "train_seconds": round(result.train_seconds, 2),
    }
    config = data.config
    finalize = getattr(plugin, "finalize_model", None)
    if finalize is not None:  # a last choice on the validation set (never the test set)
        model, config, selection = finalize(
            model, config, data.val, train_config.batch_size, device
        )
        if selection:
            metrics["selection"] = selection
    batch_size = train_config.batch_size
    metrics["val"] = _metrics_on(plugin, model, config, data.val, batch_size, device)[0]
    if data.test:
        metrics["test"] = _metrics_on(
            plugin, model, config, data.test, train_config.batch_size, device
        )[0]
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
            **({"init_from": initial} if initial else {}),
        },
    )
    return save_checkpoint(output, model.state_dict(), meta)


def _load_initial_weights(model: nn.Module, plugin: DomainPlugin, path: Path) -> dict[str, Any]:
    """Copy a checkpoint's weights into a freshly built model (all tensors, same shapes).

    Returns:
        what the new checkpoint records about its start: path, command and data fingerprint.
    """
    meta, state = load_checkpoint(path)
    if meta.domain != plugin.name:
        raise ValueError(f"--init-from {path} is a {meta.domain} checkpoint, not {plugin.name}")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    reshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or reshaped:
        problems = [
            f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("different shape", reshaped),
            )
            if keys
        ]
        raise ValueError(
            f"--init-from {path} does not fit the model being trained ({'; '.join(problems)}); "
            "give the same architecture settings (--set) as the checkpoint's config.json"
        )
    model.load_state_dict(state)
    return {"path": str(path), "command": meta.command, "data_fingerprint": meta.data_fingerprint}


def _normalizers(config: FrozenConfig) -> dict[str, Any]:
    values = config.to_dict()
    return {k: v for k, v in values.items() if k.startswith(("target_mean", "target_std"))}


def evaluate(
    request: TrainRequest,
    checkpoint: str | Path | None = None,
    domain: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    registry: PluginRegistry | None = None,
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor, Predictor]:
    """Metrics of a checkpoint on labelled data; returns ``(metrics, pred, target, predictor)``."""
    if checkpoint is None and domain is None:
        raise ValueError("give a checkpoint or a domain (to use its shipped default)")
    predictor = load(checkpoint or domain, device=device, registry=registry)  # type: ignore[arg-type]
    graphs = predictor.plugin.evaluation_data(request, predictor.config)
    if not graphs:
        raise ValueError("no labelled records to evaluate")
    metrics, pred, target = _metrics_on(
        predictor.plugin, predictor.model, predictor.config, graphs, batch_size, predictor.device
    )
    return metrics, pred, target, predictor


def info(registry: PluginRegistry | None = None) -> dict[str, Any]:
    """Versions, device and the domains with their shipped checkpoints (for ``sci info``)."""
    reg = _registry(registry)
    domains: dict[str, Any] = {}
    for name in reg.names():
        shipped = shipped_checkpoint(name)
        entry: dict[str, Any] = {"checkpoint": str(shipped) if shipped else None}
        if shipped is not None:
            meta, _ = load_checkpoint(shipped)
            entry["metrics"] = meta.metrics.get("test", meta.metrics.get("val", {}))
        domains[name] = entry
    return {
        "scisuite": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": str(resolve_device("auto")),
        "threads": torch.get_num_threads(),
        "domains": domains,
    }
