"""Evaluation of the protein model by generation (not teacher forcing).

- Secondary structure on held-out chains: Q3 and Q8 (share of labelled residues whose
  predicted DSSP state is right), with the majority-class baseline; SS content (helix,
  strand, coil fractions of the predicted DSSP3) MAE and R^2 against DSSP.
- Peptides: ROC-AUC and accuracy (threshold 0.5) of the antimicrobial / anticancer
  probability.
- Designs: validity (only the 20 amino-acid letters, length within range), diversity (mean
  pairwise identity among designs; lower = more diverse), novelty (each design's highest
  identity to any training sequence; ``identity.py``, local BLOSUM62 over the shorter
  length), and self-consistency: the design's forward-predicted property against its target
  (content MAE for ``design_content``, 1 - SS agreement for ``design_ss3``, predicted
  antimicrobial probability for ``design_amp``).

The scores themselves are in ``metrics.py``. ``sci evaluate --domain protein --dataset NAME``
reports these numbers (``report.py``); ``bench/protein_evaluation.py`` writes every number
of the model card as JSON.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from scisuite.domains.protein.applicability import domain_flags
from scisuite.domains.protein.calibration import (
    apply_platt,
    expected_calibration_error,
    reliability_table,
)
from scisuite.domains.protein.catalogue import DATASETS
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import (
    SamplingConfig,
    TokenLM,
    design_sequences,
    predict_sequences,
)
from scisuite.domains.protein.metrics import (
    binary_metrics,
    content_error,
    content_metrics,
    diversity,
    is_valid_design,
    majority_baseline,
    novelty,
    q_accuracy,
)
from scisuite.domains.protein.prompts import SS3_ALPHABET, SS8_ALPHABET, Example, ss_content

DOMAIN = "protein"


def evaluate_structures(
    model: TokenLM, config: ProteinConfig, chains: pd.DataFrame, batch_size: int = 64
) -> dict[str, Any]:
    """Q3, Q8 and SS-content metrics of greedy constrained predictions on ``chains``.

    Args:
        model: language model in eval mode.
        config: its config (windows, grammar).
        chains: ``sequence, dssp3, dssp8`` rows (e.g. the test split).
    """
    tasks = tuple(t for t in ("ss3", "ss8") if t in config.tasks or t == "ss3")
    start = time.perf_counter()
    predictions = predict_sequences(
        model, list(chains["sequence"]), config.replace(predict_tasks=tasks), batch_size
    )
    seconds = time.perf_counter() - start
    ss3 = [p.ss3 or "" for p in predictions]
    reference3 = list(chains["dssp3"])
    label, baseline = majority_baseline(reference3)
    metrics: dict[str, Any] = {
        "chains": len(chains),
        "residues": int(sum(len(s) for s in chains["sequence"])),
        "q3": q_accuracy(ss3, reference3),
        "q3_majority_baseline": baseline,
        "majority_label": label,
        "predict_seconds": round(seconds, 2),
    }
    if "ss8" in tasks:
        keep = [i for i, r in enumerate(chains["dssp8"]) if isinstance(r, str)]
        reference8 = [chains["dssp8"].iloc[i] for i in keep]
        metrics["q8"] = q_accuracy([predictions[i].ss8 or "" for i in keep], reference8)
        metrics["q8_majority_baseline"] = majority_baseline(reference8, SS8_ALPHABET)[1]
    predicted_content = np.array([ss_content(s) for s in ss3])
    true_content = np.array([ss_content(s) for s in reference3])
    metrics["content_from_ss3"] = content_metrics(predicted_content, true_content)
    return metrics


def evaluate_peptides(
    model: TokenLM, config: ProteinConfig, peptides: pd.DataFrame, batch_size: int = 64
) -> dict[str, Any]:
    """ROC-AUC, accuracy, expected calibration error (as predicted, and uncalibrated)
    and the reliability table of the ``amp`` and ``acp`` probabilities on ``peptides``
    rows; with an applicability domain in ``config``, the same metrics for the peptides
    in it and for those flagged (:func:`applicability_report`)."""
    metrics: dict[str, Any] = {}
    for task, kind in (("amp", "antimicrobial"), ("acp", "anticancer")):
        if task not in config.tasks:
            continue
        part = peptides[peptides["task"] == kind]
        predictions = predict_sequences(
            model, list(part["sequence"]), config.replace(predict_tasks=(task,)), batch_size
        )
        probabilities = [getattr(p, task) for p in predictions]
        known = [i for i, p in enumerate(probabilities) if p == p]
        scored = [probabilities[i] for i in known]
        labels = [int(part["label"].iloc[i]) for i in known]
        slope, intercept = config.platt(task)
        uncalibrated = apply_platt(scored, 1.0 / slope, -intercept / slope)  # the inverse map
        metrics[task] = {
            **binary_metrics(scored, labels),
            "ece": expected_calibration_error(scored, labels),
            "ece_uncalibrated": expected_calibration_error(uncalibrated, labels),
            "platt": [slope, intercept],
            "reliability": reliability_table(scored, labels),
        }
        domain = config.peptide_domain(task)
        if domain is not None:
            sequences = [str(part["sequence"].iloc[i]) for i in known]
            flags = [
                domain_flags(task, s, p, domain) for s, p in zip(sequences, scored, strict=True)
            ]
            metrics[task]["applicability"] = applicability_report(scored, labels, flags)
    return metrics


#: The name of a flag without its numbers: ``amp_nearest_train<0.32(0.26)`` -> its kind.
_FLAG_KIND = re.compile(r"[a-z0-9_]*")


def applicability_report(
    probabilities: Sequence[float], labels: Sequence[int], flags: Sequence[Sequence[str]]
) -> dict[str, dict[str, float]]:
    """:func:`binary_metrics` of all peptides, those in the domain (no flag), those
    flagged, and those with each kind of flag (the flag name less its numbers)."""
    groups: dict[str, list[int]] = {"in_domain": [], "flagged": []}
    for i, peptide_flags in enumerate(flags):
        groups["flagged" if peptide_flags else "in_domain"].append(i)
        for kind in {_FLAG_KIND.match(f).group(0) for f in peptide_flags}:  # type: ignore[union-attr]
            groups.setdefault(kind, []).append(i)
    report = {"all": binary_metrics(probabilities, labels)}
    for name, rows in groups.items():
        if rows:
            report[name] = binary_metrics(
                [probabilities[i] for i in rows], [labels[i] for i in rows]
            )
    return report


def evaluate_designs(
    model: TokenLM,
    config: ProteinConfig,
    targets: Sequence[Example],
    count: int,
    sampling: SamplingConfig,
    training_sequences: dict[str, Sequence[str]],
    batch_size: int = 64,
) -> list[dict[str, Any]]:
    """Validity, diversity, novelty and self-consistency of designs for each target.

    Args:
        model: language model in eval mode.
        config: its config.
        targets: inverse-task examples (``design_content``, ``design_ss3``, ``design_amp``).
        count: designs per target.
        sampling: sampling settings (seed ``sampling.seed + i`` for design ``i``).
        training_sequences: reference sets for novelty, keyed ``"structures"`` (content and
            SS designs) and ``"peptides"`` (AMP designs).
    """
    results = []
    for target in targets:
        low, high = config.design_min_length, config.design_max_length
        if target.task == "design_ss3":
            low = high = len(target.ss)
        elif target.task == "design_amp":
            low, high = 10, 50
        designs = design_sequences(model, config, target, count, sampling, low, high)
        sequences = [d.sequence for d in designs]
        predicted = predict_sequences(
            model, sequences, config.replace(predict_tasks=("ss3", "amp")), batch_size
        )
        row: dict[str, Any] = {
            "task": target.task,
            "target": target.ss or list(target.values),
            "designs": len(sequences),
            "validity": float(np.mean([is_valid_design(s, low, high) for s in sequences])),
            "mean_length": float(np.mean([len(s) for s in sequences])),
            "diversity_mean_pairwise_identity": diversity(sequences),
        }
        reference = training_sequences.get(
            "peptides" if target.task == "design_amp" else "structures", ()
        )
        if reference:
            closest = novelty(sequences, reference)
            row["novelty_max_identity_mean"] = float(np.nanmean(closest))
            row["novelty_max_identity_max"] = float(np.nanmax(closest))
        if target.task == "design_content":
            errors = [content_error(ss_content(p.ss3 or ""), target.values) for p in predicted]
            row["self_consistency_content_mae"] = float(np.nanmean(errors))
            row["predicted_content_mean"] = [
                float(np.nanmean([ss_content(p.ss3 or "")[k] for p in predicted])) for k in range(3)
            ]
        elif target.task == "design_ss3":
            row["self_consistency_ss3_agreement"] = q_accuracy(
                [p.ss3 or "" for p in predicted], [target.ss] * len(predicted)
            )
        elif target.task == "design_amp":
            row["self_consistency_amp_probability_mean"] = float(
                np.nanmean([p.amp for p in predicted])
            )
        row["examples"] = sequences[:3]
        results.append(row)
    return results


DEFAULT_CONTENT_TARGETS = ((0.6, 0.1, 0.3), (0.1, 0.5, 0.4), (0.3, 0.3, 0.4))


def default_design_targets(chains: pd.DataFrame) -> list[Example]:
    """Content targets (helix-rich, strand-rich, mixed), the DSSP3 of the first two held-out
    chains that fit the window (up to 80 residues), and ``amp=1``."""
    targets = [Example("design_content", values=v) for v in DEFAULT_CONTENT_TARGETS]
    for ss in list(chains["dssp3"])[:2]:
        clean = "".join(c for c in ss if c in SS3_ALPHABET)[:80]
        if clean:
            targets.append(Example("design_ss3", ss=clean))
    targets.append(Example("design_amp", values=(1.0,)))
    return targets


def evaluate_model(
    model: TokenLM,
    config: ProteinConfig,
    data_dir: Path,
    split: str = "test",
    designs_per_target: int = 10,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Generation-based metrics of a loaded model on one split of the built data sets in
    ``data_dir``: Q3 / Q8 and SS content (structures), ROC-AUC / accuracy (peptides), and
    design validity, diversity, novelty and self-consistency; a data set that is not built
    there is skipped."""
    results: dict[str, Any] = {"split": split}
    tables = {
        name: pd.read_parquet(data_dir / folder / table)
        for name, (folder, table) in DATASETS.items()
        if (data_dir / folder / table).exists()
    }
    if "structures" in tables:
        chains = tables["structures"]
        results["structures"] = evaluate_structures(
            model, config, chains[chains["split"] == split], batch_size
        )
    if "peptides" in tables:
        peptides = tables["peptides"]
        results["peptides"] = evaluate_peptides(
            model, config, peptides[peptides["split"] == split], batch_size
        )
    if "structures" in tables and any(t.startswith("design_") for t in config.tasks):
        chains = tables["structures"]
        reference = {"structures": list(chains[chains["split"] == "train"]["sequence"])}
        if "peptides" in tables:
            peptides = tables["peptides"]
            reference["peptides"] = list(peptides[peptides["split"] == "train"]["sequence"])
        targets = [
            t
            for t in default_design_targets(chains[chains["split"] == split])
            if t.task in config.tasks
        ]
        sampling = SamplingConfig(temperature=1.0, top_p=0.95, seed=seed)
        results["designs"] = evaluate_designs(
            model, config, targets, designs_per_target, sampling, reference, batch_size
        )
        results["design_sampling"] = sampling.to_dict()
    results["plugin"] = DOMAIN
    return results


def headline_metrics(results: dict[str, Any]) -> dict[str, float]:
    """The scalar numbers of :func:`evaluate_model`'s result, flat (for ``metrics.json``):
    ``q3``, ``q8``, their majority baselines, ``ss_content_mae``, ``amp_roc_auc`` /
    ``amp_accuracy`` / ``amp_ece`` / ``amp_ece_uncalibrated``, ``amp_in_domain_accuracy`` /
    ``amp_flagged_accuracy`` and their ``_fraction`` of the peptides, ``acp_...``, and per design
    target ``design_<i>_<task>_validity`` and its self-consistency."""
    flat: dict[str, float] = {}
    structures = results.get("structures", {})
    for key in ("q3", "q8", "q3_majority_baseline", "q8_majority_baseline"):
        if structures.get(key) is not None:
            flat[key] = float(structures[key])
    if "content_from_ss3" in structures:
        flat["ss_content_mae"] = float(structures["content_from_ss3"]["mae"])
    for task, scores in results.get("peptides", {}).items():
        for key in ("roc_auc", "accuracy", "ece", "ece_uncalibrated"):
            if scores.get(key) is not None:
                flat[f"{task}_{key}"] = float(scores[key])
        groups = scores.get("applicability", {})
        for group in ("in_domain", "flagged"):
            if group in groups:
                flat[f"{task}_{group}_accuracy"] = float(groups[group]["accuracy"])
                flat[f"{task}_{group}_fraction"] = groups[group]["n"] / groups["all"]["n"]
    for index, design in enumerate(results.get("designs", [])):
        for key, value in design.items():
            if key == "validity" or key.startswith("self_consistency"):
                flat[f"design_{index}_{design['task']}_{key}"] = float(value)
    return flat


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(type(value).__name__)
