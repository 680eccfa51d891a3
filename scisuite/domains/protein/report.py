"""Protein outputs beyond the prediction table and the teacher-forced metrics: per-residue
tracks of a prediction (``tracks.py``) and the generation-based evaluation."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_path
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
        return headline_metrics(results), [path]
