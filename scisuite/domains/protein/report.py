"""Protein outputs beyond the prediction table and the teacher-forced metrics: per-residue
tracks of a prediction (``tracks.py``) and the generation-based evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_path
from scisuite.core.plots import new_figure, save_png
from scisuite.core.plugin import PredictionSink, Reports, TrainRequest
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.evaluation import evaluate_model, headline_metrics, json_default
from scisuite.domains.protein.tracks import ResidueTracks
from scisuite.domains.protein.training_data import data_dir_of


class ProteinReports(Reports):
    """Implements :class:`scisuite.core.plugin.Reports` for proteins."""

    def prediction_outputs(self, output: Path, config: FrozenConfig) -> list[PredictionSink]:
        """``<stem>.residues.<ext>`` and ``<stem>.ss.png`` next to the prediction table."""
        return [ResidueTracks(output, config)]

    def evaluation_extras(
        self, model: nn.Module, config: FrozenConfig, request: TrainRequest, out_dir: Path
    ) -> tuple[dict[str, float], list[Path]]:
        """Generation-based metrics (``sci evaluate --domain protein --dataset NAME``): Q3 / Q8
        by constrained greedy decoding of the built data's test chains, peptide ROC-AUC, and
        designs scored for validity, diversity, novelty and self-consistency; written in full
        to ``generation_metrics.json``. Nothing for user files (``--data``): teacher-forced
        metrics only."""
        if request.dataset is None:
            return {}, []
        results = evaluate_model(
            model,
            ProteinConfig.coerce(config),
            data_dir_of(request),
            "test",
            seed=request.seed,
        )
        path = Path(out_dir) / "generation_metrics.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(results, indent=2, default=json_default) + "\n")
        paths = [path]
        if results.get("peptides"):
            paths.append(plot_reliability(results["peptides"], Path(out_dir) / "reliability.png"))
        return headline_metrics(results), paths


def plot_reliability(peptides: dict[str, dict[str, Any]], path: Path) -> Path:
    """Reliability diagram of the peptide probabilities: per task, the fraction of positives
    against the mean probability of each bin (marker area ~ bin size), the diagonal, and
    the ECE in the legend.

    Args:
        peptides: ``evaluate_peptides``' result (``task -> {"reliability", "ece", ...}``).
        path: where the PNG goes (written atomically).
    """
    figure = new_figure(5, 5)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="calibrated")
    names = {"amp": "antimicrobial", "acp": "anticancer"}
    for task, scores in peptides.items():
        rows = [r for r in scores.get("reliability", []) if r["n"]]
        if not rows:
            continue
        axes.plot(
            [r["mean_probability"] for r in rows],
            [r["fraction_positive"] for r in rows],
            marker="o",
            label=f"{names.get(task, task)} (ECE {scores['ece']:.3f}; "
            f"uncalibrated {scores['ece_uncalibrated']:.3f})",
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("mean predicted probability (bin)")
    axes.set_ylabel("fraction positive")
    axes.set_title("peptide probability calibration (test)")
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    return save_png(figure, path, dpi=110)
