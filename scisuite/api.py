"""The Python API: what the CLI, notebooks and batch-scoring scripts all call.

It owns orchestration: every ``sci`` verb is one call here with the same result.

>>> import scisuite
>>> predictor = scisuite.load("molecule")            # shipped default weights
>>> predictor.predict(["CCO", "c1ccccc1O"])          # -> pandas.DataFrame
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch_geometric.loader import DataLoader

from scisuite._version import __version__
from scisuite.core.checkpoint import (
    CONFIG_NAME,
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    save_checkpoint,
)
from scisuite.core.config import FrozenConfig, TrainConfig
from scisuite.core.devices import lightning_accelerator, resolve_device
from scisuite.core.io import TableSink, atomic_path, strip_suffixes
from scisuite.core.plugin import CliOption, DomainPlugin, Predicted, PredictionSink, TrainRequest
from scisuite.core.predicting import InputError, OnError, predict_records
from scisuite.core.records import BadRecord, Record
from scisuite.core.registry import PluginRegistry, UnknownDomainError
from scisuite.core.training import compute_metrics, fit

__all__ = [
    "CheckpointError",
    "Designs",
    "EvaluationResult",
    "InputError",
    "Predictor",
    "TrainConfig",
    "TrainRequest",
    "UnknownDomainError",
    "UnsupportedError",
    "WriteSummary",
    "build_dataset",
    "checkpoint_meta",
    "datasets",
    "design",
    "evaluate",
    "generate",
    "info",
    "lightning_accelerator",
    "list_domains",
    "load",
    "predict",
    "read_records",
    "shipped_checkpoint",
    "train",
]


class UnsupportedError(LookupError):
    """The domain has no such verb or named data set (a usage error: ``sci`` exits 2)."""


def _registry(registry: PluginRegistry | None) -> PluginRegistry:
    return registry if registry is not None else PluginRegistry()


def list_domains(registry: PluginRegistry | None = None) -> list[str]:
    """Names of the installed domain plugins (imports none of them)."""
    return _registry(registry).names()


def domain_options(
    domain: str, verb: str, registry: PluginRegistry | None = None
) -> tuple[CliOption, ...]:
    """The extra flags / keyword arguments a domain takes for ``verb`` (e.g. ``"design"``)."""
    return _registry(registry).get(domain).options_for(verb)


def _with_defaults(plugin: DomainPlugin, verb: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` completed with the domain's declared defaults for ``verb`` (the CLI's and
    the API's defaults are the same), unknown keys refused."""
    declared = plugin.options_for(verb)
    known = {option.dest for option in declared}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"the {plugin.name} domain's {verb} takes no option(s) {unknown}; "
            f"it takes {sorted(known)}"
        )
    values = {o.dest: o.default for o in declared if o.default is not None}
    values.update({k: v for k, v in options.items() if v is not None})
    return values


def shipped_checkpoint(domain: str) -> Path | None:
    """The default checkpoint shipped in ``scisuite/weights/<domain>/``, if there is one."""
    folder = Path(str(resources.files("scisuite") / "weights" / domain))
    return folder if (folder / CONFIG_NAME).exists() else None


def checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """The metadata of a checkpoint directory (domain, config, metrics, command)."""
    return load_checkpoint(path)[0]


@dataclass
class WriteSummary:
    """What :meth:`Predictor.predict_file` wrote.

    Attributes:
        path: the output asked for.
        rows: rows written (one per input record).
        errors: rows with ``status == "error"``.
        table: the summary table, when ``path`` is a domain format (e.g. ``.xdmf``).
        extra: the domain's post-prediction outputs (per-residue tracks, plots, ...).
    """

    path: Path
    rows: int = 0
    errors: int = 0
    table: Path | None = None
    extra: list[Path] = field(default_factory=list)


class _RowTable:
    """A :class:`PredictionSink` writing each prediction's row to a table."""

    def __init__(self, path: Path, columns: list[str], fmt: str | None) -> None:
        self.table = TableSink(path, columns, fmt)

    def write(self, predicted: Predicted) -> None:
        self.table.write(predicted.row)

    def close(self) -> list[Path]:
        return self.table.close()

    def abort(self) -> None:
        self.table.abort()


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
        return self.plugin.io.from_objects(inputs)

    def iter_predictions(
        self,
        inputs: Any,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> Iterator[Predicted]:
        """Stream one :class:`Predicted` (row + the record's typed prediction, e.g. a mesh
        rollout) per input record, in input order, with bounded memory."""
        return predict_records(
            self.plugin.task,
            self.plugin.io.echo_columns,
            self.model,
            self.config,
            self.records(inputs, **reader_options),
            batch_size,
            self.device,
            on_error,
            num_workers,
        )

    def iter_rows(
        self,
        inputs: Any,
        batch_size: int = 64,
        on_error: OnError = "skip",
        num_workers: int = 0,
        **reader_options: Any,
    ) -> Iterator[dict[str, Any]]:
        """Stream one output row per input record (bounded memory)."""
        for predicted in self.iter_predictions(
            inputs, batch_size, on_error, num_workers, **reader_options
        ):
            yield predicted.row

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
        reports: bool = True,
        **reader_options: Any,
    ) -> WriteSummary:
        """Stream predictions to ``output`` (CSV/TSV/Parquet/JSONL), written atomically.

        An output suffix the domain has a writer for (``plugin.io.writers``, e.g. ``.xdmf``
        for meshes) goes to that writer, and the summary table is written next to it as
        ``<output stem>.csv``. With ``reports`` the domain's post-prediction outputs (e.g.
        per-residue tracks and a plot for proteins) are written next to ``output`` from the
        same stream. Memory stays at one batch whatever the input size.
        """
        output = Path(output)
        summary = WriteSummary(output)
        writer = None if fmt else self.plugin.io.writers.get(strip_suffixes(output))
        sinks: list[PredictionSink] = []
        try:
            if writer is None:
                sinks.append(_RowTable(output, self.columns(), fmt))
            else:
                summary.table = output.with_suffix(".csv")
                sinks.append(_RowTable(summary.table, self.columns(), "csv"))
                sinks.append(writer(output, self.config))
            if reports:
                sinks += self.plugin.reports.prediction_outputs(output, self.config)
            for predicted in self.iter_predictions(
                inputs, batch_size, on_error, num_workers, **reader_options
            ):
                summary.rows += 1
                summary.errors += predicted.row["status"] == "error"
                for sink in sinks:
                    sink.write(predicted)
            written = [path for sink in sinks for path in sink.close()]
        except BaseException:
            for sink in sinks:
                sink.abort()
            raise
        summary.extra = [p for p in written if p not in (output, summary.table)]
        return summary

    def columns(self) -> list[str]:
        """The output table's columns, in order."""
        return [*self.plugin.task.output_columns(self.config), "status", "error"]


def read_records(
    plugin: DomainPlugin, path: str | Path, **reader_options: Any
) -> Iterator[Record | BadRecord]:
    """Stream records from a file with the domain's reader for its suffix (``"-"``: stdin)."""
    if str(path) == "-":
        reader = plugin.io.stdin
        if reader is None:
            raise ValueError(f"the {plugin.name} domain does not read standard input")
    else:
        suffix = strip_suffixes(path)
        reader = plugin.io.readers.get(suffix)
        if reader is None:
            raise ValueError(
                f"the {plugin.name} domain cannot read {suffix or 'suffix-less'} files "
                f"({path}); supported: {sorted(plugin.io.readers)}"
            )
    return reader(path, **{k: v for k, v in reader_options.items() if v is not None})


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
    if checkpoint is None:
        plugin = reg.get(str(domain_or_path))
        checkpoint = shipped_checkpoint(plugin.name)
        if checkpoint is None:
            raise CheckpointError(
                f"the {plugin.name} domain ships no default weights yet; pass --checkpoint "
                "(train one with `sci train`)"
            )
    meta, state = load_checkpoint(checkpoint)
    plugin = reg.get(meta.domain)
    if meta.schema_version != plugin.schema_version:
        raise CheckpointError(
            f"checkpoint {checkpoint} has {meta.domain} schema v{meta.schema_version}, "
            f"this scisuite reads v{plugin.schema_version}; retrain with `sci train`"
        )
    config = plugin.config_class.from_dict(meta.model_config)
    model = plugin.task.build_model(config)
    model.load_state_dict(state, strict=True)
    target = resolve_device(device)
    return Predictor(plugin, model.eval().to(target), config, meta, target)


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
    """Metrics over ``graphs``; also ``<metric>_<subset>`` for the task's
    ``metric_subsets(batch, config) -> {name: bool mask}`` (e.g. MoleculeACE's ``rmse_cliff``)."""
    task = plugin.task
    preds, targets, masks = [], [], {}
    model = model.to(device).eval()
    with torch.inference_mode():
        for batch in DataLoader(graphs, batch_size=batch_size, shuffle=False):
            batch = batch.to(device)
            pred, target = task.evaluation_arrays(model(batch), batch, config)
            preds.append(pred.float().cpu())
            targets.append(target.float().cpu())
            for name, mask in task.metric_subsets(batch, config).items():
                masks.setdefault(name, []).append(mask.cpu())
    pred, target = torch.cat(preds), torch.cat(targets)
    metrics = compute_metrics(task.metrics, pred, target)
    names = getattr(config, "target_names", ())
    if pred.dim() == 2 and pred.size(1) > 1 and len(names) == pred.size(1):
        for t, name in enumerate(names):  # macro averages mix units; report each target too
            per_target = compute_metrics(task.metrics, pred[:, t : t + 1], target[:, t : t + 1])
            metrics.update({f"{metric}:{name}": v for metric, v in per_target.items()})
    for name, parts in masks.items():
        mask = torch.cat(parts)
        if mask.any():
            for metric, value in compute_metrics(task.metrics, pred[mask], target[mask]).items():
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
    data = plugin.data.build_training_data(request)
    model = plugin.task.build_model(data.config)
    initial = _load_initial_weights(model, plugin, Path(init_from)) if init_from else None
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
    )
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
    metrics["val"] = _metrics_on(plugin, model, config, data.val, batch_size, device)[0]
    if data.test:
        metrics["test"] = _metrics_on(plugin, model, config, data.test, batch_size, device)[0]
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


@dataclass
class EvaluationResult:
    """What :func:`evaluate` measured.

    Attributes:
        metrics: metric name -> value (test data; with a report also the domain's extras,
            e.g. rollout RMSE or generation-based Q3).
        pred, target: the evaluation arrays ``[M, T]`` in original units.
        predictor: the loaded model that was evaluated.
        files: what was written (``metrics.json``, plots, tables); empty without ``out_dir``.
    """

    metrics: dict[str, float]
    pred: torch.Tensor
    target: torch.Tensor
    predictor: Predictor
    files: list[Path] = field(default_factory=list)


def evaluate(
    request: TrainRequest,
    checkpoint: str | Path | None = None,
    domain: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    registry: PluginRegistry | None = None,
    out_dir: str | Path | None = None,
) -> EvaluationResult:
    """Metrics of a checkpoint (or a domain's shipped default) on labelled data.

    With ``out_dir`` the domain's evaluation report (plots) and extras (metrics that need the
    model, e.g. rollouts or generation) are written there too, with ``metrics.json``.
    """
    if checkpoint is None and domain is None:
        raise ValueError("give a checkpoint or a domain (to use its shipped default)")
    predictor = load(checkpoint or domain, device=device, registry=registry)  # type: ignore[arg-type]
    plugin = predictor.plugin
    graphs = plugin.data.evaluation_data(request, predictor.config)
    if not graphs:
        raise ValueError("no labelled records to evaluate")
    metrics, pred, target = _metrics_on(
        plugin, predictor.model, predictor.config, graphs, batch_size, predictor.device
    )
    result = EvaluationResult(metrics, pred, target, predictor)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        reports = plugin.reports
        result.files += reports.evaluation_report(pred, target, predictor.config, out_dir)
        extra_metrics, extra_files = reports.evaluation_extras(
            predictor.model, predictor.config, request, out_dir
        )
        result.metrics = {**metrics, **extra_metrics}
        result.files += extra_files
        with atomic_path(out_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(result.metrics, indent=2))
        result.files.append(out_dir / "metrics.json")
    return result


@dataclass
class Designs:
    """What :func:`design` produced.

    Attributes:
        fasta: the designs as FASTA text (sampling parameters in every header).
        table: one row per design (forward-predicted properties, error against the target).
        files: the FASTA file and the table next to it, when an output was given.
    """

    fasta: str
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)


def design(
    domain: str = "protein",
    checkpoint: str | Path | None = None,
    output: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "auto",
    registry: PluginRegistry | None = None,
    **options: Any,
) -> Designs:
    """Inverse design (``sci design``): sample designs for a target and predict their properties.

    Args:
        domain: a domain with a design command (protein).
        checkpoint: checkpoint directory (default: the shipped one).
        output: FASTA path; the table goes next to it as ``.csv``. None: nothing is written.
        seed: seeds sampling (design ``i`` uses ``seed + i``).
        options: the domain's design options (``sci design --help``), e.g. protein's
            ``target="helix=0.6,strand=0.1"``, ``num_designs=20``, ``temperature=0.8``.
    """
    plugin = _registry(registry).get(domain)
    if plugin.commands.design is None:
        raise UnsupportedError(
            f"the {domain} domain has no inverse design; `sci design` is for the protein domain"
        )
    values = _with_defaults(plugin, "design", options)
    predictor = load(domain, checkpoint=checkpoint, device=device, registry=registry)
    result = plugin.commands.design(
        predictor.model, predictor.config, {**values, "seed": seed, "batch_size": batch_size}
    )
    designs = Designs(result.fasta, pd.DataFrame(result.rows))
    if output is not None:
        output = Path(output)
        known = strip_suffixes(output) in plugin.io.readers
        fasta_path = output if known else output.with_suffix(".fasta")
        table_path = fasta_path.with_suffix(".csv")
        with atomic_path(fasta_path) as tmp:
            tmp.write_text(result.fasta)
        with atomic_path(table_path) as tmp:
            designs.table.to_csv(tmp, index=False)
        designs.files = [fasta_path, table_path]
    return designs


def generate(
    domain: str,
    name: str,
    output: str | Path,
    seed: int = 0,
    workers: int = 1,
    quiet: bool = False,
    registry: PluginRegistry | None = None,
    **options: Any,
) -> Path:
    """Generate a data set with the domain's solver (``sci data generate DOMAIN NAME``).

    Args:
        options: the domain's generate options, e.g. mesh's ``trajectories=40, frames=400``.
    """
    plugin = _registry(registry).get(domain)
    if plugin.commands.generate is None:
        raise UnsupportedError(f"the {domain} domain has nothing to generate; use `data build`")
    values = _with_defaults(plugin, "generate", options)
    values.update(seed=seed, workers=workers, quiet=quiet)
    return plugin.commands.generate(name, Path(output), values)


def datasets(domain: str | None = None, registry: PluginRegistry | None = None) -> pd.DataFrame:
    """The named real data sets (``sci data list``): columns ``domain, name, description``."""
    reg = _registry(registry)
    rows = [
        {"domain": name, "name": spec.name, "description": spec.description}
        for name in ([domain] if domain else reg.names())
        for spec in reg.get(name).data.datasets.values()
    ]
    return pd.DataFrame(rows, columns=["domain", "name", "description"])


def build_dataset(
    domain: str,
    name: str,
    output: str | Path = "datasets",
    cache_dir: str | Path | None = None,
    registry: PluginRegistry | None = None,
) -> Path:
    """Build a named data set from its real source (``sci data build DOMAIN NAME``)."""
    plugin = _registry(registry).get(domain)
    specs = plugin.data.datasets
    if name not in specs:
        raise UnsupportedError(
            f"unknown {domain} dataset {name!r}; see `sci data list --domain {domain}`"
        )
    return specs[name].build(Path(output), Path(cache_dir) if cache_dir else None)


def info(registry: PluginRegistry | None = None) -> dict[str, Any]:
    """Versions, device and the domains with their shipped checkpoints (for ``sci info``)."""
    reg = _registry(registry)
    domains: dict[str, Any] = {}
    for name in reg.names():
        shipped = shipped_checkpoint(name)
        entry: dict[str, Any] = {"checkpoint": str(shipped) if shipped else None}
        if shipped is not None:
            meta = checkpoint_meta(shipped)
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


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["d_model=64", "tasks=[\\"ss3\\"]"]`` -> ``{"d_model": 64, "tasks": ["ss3"]}``
    (values read as JSON where they parse, else kept as strings)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides
