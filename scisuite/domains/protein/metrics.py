"""Protein metrics: the teacher-forced answer accuracy (the task's metric) and the
generation-based scores of ``evaluation.py`` (Q3 / Q8, SS content, peptide ROC-AUC, design
validity, diversity and novelty)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from scisuite.core.metrics import masked, roc_auc_score
from scisuite.domains.protein.fasta import STANDARD_RESIDUES
from scisuite.domains.protein.identity import IdentityConfig, pairwise_identity
from scisuite.domains.protein.prompts import CONTENT_CLASSES, SS3_ALPHABET, SS8_ALPHABET

_RESIDUES = frozenset(STANDARD_RESIDUES)


def _exact(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(pred == target))


answer_accuracy = masked(_exact)
"""Share of answer tokens predicted exactly (teacher forced), over the known targets
(``[M, 1]`` token ids as floats); NaN without any."""


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
