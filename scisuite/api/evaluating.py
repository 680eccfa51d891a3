"""Metrics of a model on labelled data, and the domain's evaluation report."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch_geometric.loader import DataLoader

from scisuite.api.predicting import Predictor, load
from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_path
from scisuite.core.metrics import compute_metrics
from scisuite.core.plugin import DomainPlugin, TrainRequest
from scisuite.core.progress import progress_bar, wanted
from scisuite.core.registry import PluginRegistry
from scisuite.core.uncertainty import uncertainty_metrics


def metrics_on(
    plugin: DomainPlugin,
    model: nn.Module,
    config: FrozenConfig,
    graphs: list,
    batch_size: int,
    device: torch.device,
    progress: bool | None = False,
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """Metrics over ``graphs``; also ``<metric>_<subset>`` for the task's
    ``metric_subsets(batch, config) -> {name: bool mask}`` (e.g. MoleculeACE's ``rmse_cliff``),
    and the uncertainty metrics (:mod:`scisuite.core.uncertainty`) where the task's
    ``evaluation_std`` gives a predicted std.
    ``progress``: a bar over the records (None: when stderr is a terminal)."""
    task = plugin.task
    preds, targets, stds, masks = [], [], [], {}
    model = model.to(device).eval()
    bar = progress_bar(len(graphs), "evaluating", enabled=progress)
    with torch.inference_mode(), bar:
        for batch in DataLoader(graphs, batch_size=batch_size, shuffle=False):
            bar.update(batch.num_graphs)
            batch = batch.to(device)
            outputs = model(batch)
            pred, target = task.evaluation_arrays(outputs, batch, config)
            std = task.evaluation_std(outputs, batch, config)
            if std is not None:
                stds.append(std.float().cpu())
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
    if stds:
        metrics.update(uncertainty_metrics(pred, target, torch.cat(stds), tuple(names)))
    for name, parts in masks.items():
        mask = torch.cat(parts)
        if mask.any():
            for metric, value in compute_metrics(task.metrics, pred[mask], target[mask]).items():
                metrics[f"{metric}_{name}"] = value
    return {k: v for k, v in metrics.items() if v == v}, pred, target


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
    progress: bool | None = False,
    precision: str = "32",
) -> EvaluationResult:
    """Metrics of a checkpoint (or a domain's shipped default) on labelled data.

    With ``out_dir`` the domain's evaluation report (plots) and extras (metrics that need the
    model, e.g. rollouts or generation) are written there too, with ``metrics.json``.
    ``progress``: a bar over the records and a line before the extras, on stderr (None: when
    stderr is a terminal). ``precision``: ``"32"`` or ``"bf16"`` (as in :func:`load`), to
    measure what bf16 inference costs in accuracy.
    """
    if checkpoint is None and domain is None:
        raise ValueError("give a checkpoint or a domain (to use its shipped default)")
    # with both, the checkpoint must be of that domain (load refuses another one)
    predictor = load(
        domain or checkpoint,  # type: ignore[arg-type]
        checkpoint=checkpoint,
        device=device,
        registry=registry,
        precision=precision,
    )
    plugin = predictor.plugin
    graphs = plugin.data.evaluation_data(request, predictor.config)
    if not graphs:
        raise ValueError("no labelled records to evaluate")
    metrics, pred, target = metrics_on(
        plugin, predictor.model, predictor.config, graphs, batch_size, predictor.device, progress
    )
    result = EvaluationResult(metrics, pred, target, predictor)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        reports = plugin.reports
        result.files += reports.evaluation_report(pred, target, predictor.config, out_dir)
        if wanted(progress):
            print(f"{plugin.name}: evaluation extras (rollouts, generation) ...", file=sys.stderr)
        extra_metrics, extra_files = reports.evaluation_extras(
            predictor.model, predictor.config, request, out_dir
        )
        result.metrics = {**metrics, **extra_metrics}
        result.files += extra_files
        with atomic_path(out_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(result.metrics, indent=2))
        result.files.append(out_dir / "metrics.json")
    return result
