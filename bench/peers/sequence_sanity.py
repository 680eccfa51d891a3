"""Sequence-level sanity of designed proteins and peptides, by measures not from our model.

* composition: Jensen-Shannon divergence (bits, 0 = identical, 1 = disjoint) between the
  pooled residue composition of a set of sequences and a reference set's;
* low complexity: the share of residues inside a window of :data:`SEG_WINDOW` residues whose
  Shannon entropy is below :data:`SEG_ENTROPY` bits, the trigger of Wootton & Federhen's SEG
  (window 12, K1 = 2.2 bits; SEG then extends and merges such windows, which this does not:
  it counts the trigger windows' residues only), and the longest single-residue run;
* peptide descriptors from ``modlamp`` 4.3.3 (Müller et al. 2017), as AMP papers report
  them: net charge at pH 7.4 (``GlobalDescriptor.calculate_charge``, free C-terminus) and
  the Eisenberg hydrophobic moment (``PeptideDescriptor('eisenberg').calculate_moment``,
  100° per residue, an ideal alpha-helix).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from scisuite.domains.protein.fasta import STANDARD_RESIDUES as AMINO_ACIDS

SEG_WINDOW = 12
SEG_ENTROPY = 2.2


def pooled_composition(sequences: Sequence[str]) -> np.ndarray:
    """``[20]`` fraction of each standard residue over all ``sequences`` (others ignored)."""
    counts = Counter(c for s in sequences for c in s)
    values = np.array([counts[a] for a in AMINO_ACIDS], dtype=float)
    return values / values.sum() if values.sum() else values


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence of two distributions, in bits (in [0, 1])."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def window_entropy(window: str) -> float:
    """Shannon entropy (bits) of the residue counts of ``window``."""
    counts = np.array(list(Counter(window).values()), dtype=float)
    shares = counts / counts.sum()
    return float(-(shares * np.log2(shares)).sum())


def low_complexity_mask(
    sequence: str, window: int = SEG_WINDOW, threshold: float = SEG_ENTROPY
) -> np.ndarray:
    """``[L]`` True where a residue lies in a window of entropy below ``threshold`` bits; a
    sequence shorter than ``window`` is one window."""
    mask = np.zeros(len(sequence), dtype=bool)
    if not sequence:
        return mask
    width = min(window, len(sequence))
    for start in range(len(sequence) - width + 1):
        if window_entropy(sequence[start : start + width]) < threshold:
            mask[start : start + width] = True
    return mask


def low_complexity_fraction(sequences: Sequence[str]) -> float:
    """Share of all residues of ``sequences`` in low-complexity windows."""
    masks = [low_complexity_mask(s) for s in sequences if s]
    total = sum(len(m) for m in masks)
    return float(sum(m.sum() for m in masks) / total) if total else math.nan


def longest_run(sequence: str) -> int:
    """Length of the longest run of one residue."""
    best = run = 0
    previous = ""
    for residue in sequence:
        run = run + 1 if residue == previous else 1
        previous = residue
        best = max(best, run)
    return best


def net_charge(sequences: Sequence[str], ph: float = 7.4) -> np.ndarray:
    """``[n]`` net charge at ``ph`` (modlamp ``GlobalDescriptor``, free C-terminus)."""
    from modlamp.descriptors import GlobalDescriptor

    descriptor = GlobalDescriptor(list(sequences))
    descriptor.calculate_charge(ph=ph, amide=False)
    return np.asarray(descriptor.descriptor, float).reshape(-1)


def hydrophobic_moment(sequences: Sequence[str], angle: int = 100) -> np.ndarray:
    """``[n]`` Eisenberg hydrophobic moment (modlamp ``PeptideDescriptor``; ``angle``
    degrees per residue, 100 = alpha-helix)."""
    from modlamp.descriptors import PeptideDescriptor

    descriptor = PeptideDescriptor(list(sequences), "eisenberg")
    descriptor.calculate_moment(angle=angle)
    return np.asarray(descriptor.descriptor, float).reshape(-1)
