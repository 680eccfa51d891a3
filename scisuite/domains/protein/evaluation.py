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
- :func:`synergy_experiment`: the same training budget (training tokens) spent on SS
  tasks only vs on every task, Q3/Q8 on the same test chains.

Run ``python -m scisuite.domains.protein.evaluation --checkpoint DIR --data-dir DIR`` to
write every number of the model card as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from scisuite.core.io import atomic_path
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.fasta import STANDARD_RESIDUES
from scisuite.domains.protein.generation import (
    SamplingConfig,
    TokenLM,
    design_sequences,
    predict_sequences,
)
from scisuite.domains.protein.identity import IdentityConfig, pairwise_identity
from scisuite.domains.protein.prompts import (
    CONTENT_CLASSES,
    SS3_ALPHABET,
    SS8_ALPHABET,
    Example,
    ss_content,
)

_RESIDUES = frozenset(STANDARD_RESIDUES)


# --------------------------------------------------------------------------- metrics


def q_accuracy(predicted: Sequence[str], reference: Sequence[str]) -> float:
    """Residue-level accuracy over labelled positions (Q3 for DSSP3, Q8 for DSSP8).

    Positions whose reference is not a DSSP letter (``?``) are not counted; a predicted
    string shorter than its reference counts the missing residues as wrong.
    """
    right = total = 0
    for pred, ref in zip(predicted, reference, strict=True):
        for position, label in enumerate(ref):
            if label not in SS8_ALPHABET:
                continue
            total += 1
            right += position < len(pred) and pred[position] == label
    return right / total if total else math.nan


def majority_baseline(reference: Sequence[str], alphabet: str = SS3_ALPHABET) -> tuple[str, float]:
    """The most frequent label and its share of labelled residues."""
    counts = {c: sum(r.count(c) for r in reference) for c in alphabet}
    total = sum(counts.values())
    label = max(counts, key=counts.__getitem__)
    return label, counts[label] / total if total else math.nan


def content_error(predicted: Sequence[float], target: Sequence[float]) -> float:
    """Mean absolute error of helix / strand / coil fractions."""
    return float(np.mean(np.abs(np.asarray(predicted, float) - np.asarray(target, float))))


def content_metrics(predicted: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """MAE and R^2 of SS fractions, per class and averaged.

    Args:
        predicted, reference: ``[N, 3]`` helix, strand, coil fractions.
    """
    metrics: dict[str, float] = {}
    for k, name in enumerate(CONTENT_CLASSES):
        p, r = predicted[:, k], reference[:, k]
        metrics[f"mae_{name}"] = float(np.mean(np.abs(p - r)))
        variance = float(np.sum((r - r.mean()) ** 2))
        metrics[f"r2_{name}"] = (
            1.0 - float(np.sum((p - r) ** 2)) / variance if variance else math.nan
        )
    metrics["mae"] = float(np.mean([metrics[f"mae_{c}"] for c in CONTENT_CLASSES]))
    metrics["r2"] = float(np.nanmean([metrics[f"r2_{c}"] for c in CONTENT_CLASSES]))
    return metrics


def binary_metrics(probabilities: Sequence[float], labels: Sequence[int]) -> dict[str, float]:
    """ROC-AUC and accuracy at 0.5 (NaN AUC when only one class is present)."""
    p, y = np.asarray(probabilities, float), np.asarray(labels, int)
    auc = float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else math.nan
    return {"roc_auc": auc, "accuracy": float(np.mean((p >= 0.5) == (y == 1))), "n": int(len(y))}


def is_valid_design(sequence: str, min_length: int, max_length: int) -> bool:
    """Only the 20 standard amino-acid letters, and ``min_length <= len <= max_length``."""
    return (
        bool(sequence)
        and _RESIDUES.issuperset(sequence)
        and min_length <= len(sequence) <= max_length
    )


def diversity(sequences: Sequence[str], config: IdentityConfig | None = None) -> float:
    """Mean pairwise identity among designs (0 = unrelated, 1 = identical); NaN if < 2."""
    aligner = (config or IdentityConfig()).aligner()
    values = [
        pairwise_identity(a, b, aligner=aligner)
        for a, b in itertools.combinations([s for s in sequences if s], 2)
    ]
    return float(np.mean(values)) if values else math.nan


def novelty(
    sequences: Sequence[str], reference: Sequence[str], config: IdentityConfig | None = None
) -> list[float]:
    """Per design, the highest identity to any reference (training) sequence."""
    aligner = (config or IdentityConfig()).aligner()
    return [
        max((pairwise_identity(s, r, aligner=aligner) for r in reference if r), default=math.nan)
        if s
        else math.nan
        for s in sequences
    ]


# --------------------------------------------------------------------------- evaluations


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
    """ROC-AUC / accuracy of the ``amp`` and ``acp`` probabilities on ``peptides`` rows."""
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
        metrics[task] = binary_metrics(
            [probabilities[i] for i in known], [int(part["label"].iloc[i]) for i in known]
        )
    return metrics


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


def evaluate_checkpoint(
    checkpoint: Path,
    data_dir: Path,
    split: str = "test",
    designs_per_target: int = 10,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Every model-card number of a checkpoint on one split of the built data sets."""
    from scisuite.domains.protein.plugin import _load_model as load_model

    model, config = load_model(checkpoint, "cpu")
    results = evaluate_model(model, config, data_dir, split, designs_per_target, seed, batch_size)
    return {"checkpoint": str(checkpoint), **results}


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
    from scisuite.domains.protein.plugin import DATASETS, PLUGIN

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
    results["plugin"] = PLUGIN.name
    return results


# --------------------------------------------------------------------------- synergy


def synergy_experiment(
    data_dir: Path,
    output_dir: Path,
    epochs_all_tasks: int,
    seed: int = 0,
    batch_size: int = 1,
    overrides: dict[str, Any] | None = None,
    ss_tasks: Sequence[str] = ("ss3", "ss8"),
    learning_rate: float = 2e-3,
) -> dict[str, Any]:
    """Same budget, SS tasks only vs every default task; Q3/Q8 on the same test chains.

    The budget is training tokens: the SS-only run gets ``epochs_all_tasks x (tokens per
    epoch of the all-task mix) / (tokens per epoch of the SS mix)`` epochs (rounded).

    Args:
        data_dir: built data sets.
        output_dir: checkpoints ``all_tasks`` and ``ss_only`` go here.
        epochs_all_tasks: epochs of the all-task run.
        seed: data and initialisation seed.
        batch_size: graphs per step (1 with ``bucket_tokens`` overrides).
        overrides: config overrides for both runs (e.g. ``{"bucket_tokens": 2048}``).
        ss_tasks: the tasks of the SS-only run.
        learning_rate: peak AdamW learning rate of both runs.

    Returns:
        per run: epochs, training tokens, optimiser steps, seconds, validation and test Q3/Q8.
    """
    from scisuite import api
    from scisuite.core.config import TrainConfig
    from scisuite.core.plugin import TrainRequest
    from scisuite.core.registry import PluginRegistry
    from scisuite.domains.protein.plugin import PLUGIN
    from scisuite.domains.protein.plugin import _load_model as load_model

    registry = PluginRegistry([PLUGIN], use_entry_points=False)
    chains = pd.read_parquet(data_dir / "protein_structures" / "chains.parquet")
    runs: dict[str, Any] = {}
    plans = {"all_tasks": None, "ss_only": tuple(ss_tasks)}
    tokens: dict[str, int] = {}
    for name, tasks in plans.items():
        columns: dict[str, Any] = {"data_dir": str(data_dir)}
        if tasks:
            columns["tasks"] = list(tasks)
        request = TrainRequest(
            dataset="all", seed=seed, columns=columns, model_overrides=dict(overrides or {})
        )
        data = PLUGIN.build_training_data(request)
        tokens[name] = sum(int(d.num_nodes) for d in data.train)
        if name == "all_tasks":
            epochs = epochs_all_tasks
        else:
            epochs = max(1, round(epochs_all_tasks * tokens["all_tasks"] / tokens[name]))
        train_config = TrainConfig(
            max_epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            accelerator="cpu",
        )
        start = time.perf_counter()
        path = api.train(
            "protein",
            request,
            train_config,
            output_dir / name,
            command=f"synergy:{name}",
            quiet=True,
            registry=registry,
        )
        seconds = time.perf_counter() - start
        model, config = load_model(path, "cpu")
        held_out = {
            split: evaluate_structures(model, config, chains[chains["split"] == split])
            for split in ("validation", "test")
        }
        metrics = held_out["test"]
        runs[name] = {
            "tasks": list(config.tasks),
            "epochs": epochs,
            "train_tokens_per_epoch": tokens[name],
            "train_tokens": tokens[name] * epochs,
            "optimizer_steps": epochs * math.ceil(len(data.train) / batch_size),
            "train_seconds": round(seconds, 1),
            "test_q3": metrics["q3"],
            "test_q8": metrics.get("q8"),
            "test_q3_majority_baseline": metrics["q3_majority_baseline"],
            "validation_q3": held_out["validation"]["q3"],
            "validation_q8": held_out["validation"].get("q8"),
            "validation_q3_majority_baseline": held_out["validation"]["q3_majority_baseline"],
            "test_content_from_ss3": metrics["content_from_ss3"],
        }
    return runs


def headline_metrics(results: dict[str, Any]) -> dict[str, float]:
    """The scalar numbers of :func:`evaluate_model`'s result, flat (for ``metrics.json``):
    ``q3``, ``q8``, their majority baselines, ``ss_content_mae``, ``amp_roc_auc`` /
    ``amp_accuracy``, ``acp_...``, and per design target ``design_<i>_<task>_validity`` and
    its self-consistency."""
    flat: dict[str, float] = {}
    structures = results.get("structures", {})
    for key in ("q3", "q8", "q3_majority_baseline", "q8_majority_baseline"):
        if structures.get(key) is not None:
            flat[key] = float(structures[key])
    if "content_from_ss3" in structures:
        flat["ss_content_mae"] = float(structures["content_from_ss3"]["mae"])
    for task, scores in results.get("peptides", {}).items():
        for key in ("roc_auc", "accuracy"):
            if scores.get(key) is not None:
                flat[f"{task}_{key}"] = float(scores[key])
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scisuite.domains.protein.evaluation``: metrics JSON of a checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="built data sets")
    parser.add_argument("--split", default="test", choices=("validation", "test"))
    parser.add_argument("--designs", type=int, default=10, help="designs per target (10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    results = evaluate_checkpoint(
        args.checkpoint, args.data_dir, args.split, args.designs, args.seed
    )
    text = json.dumps(results, indent=2, default=json_default)
    if args.output is None:
        print(text)
    else:
        with atomic_path(args.output) as tmp:
            tmp.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
