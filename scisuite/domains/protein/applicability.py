"""Applicability domain of the peptide probabilities: is a peptide like the training peptides?

An antimicrobial / anticancer probability is trustworthy only for inputs like the peptides
the model was trained on; a 21-residue insulin A chain is a peptide, but not one the
activity data speak about. For each task the checkpoint keeps a :class:`PeptideDomain`
(fitted at training by :func:`fit_domain`: the training peptides and their labels, their
length range and per-residue composition bounds, and an identity threshold read off the
validation peptides) and :func:`domain_flags` names each way a query falls outside it:

* ``amp_length>max_train(N)`` / ``amp_length<min_train(N)``: length outside the training
  range of that task (the ``acp`` peptides span 8-30 residues, the ``amp`` ones 7-174);
* ``amp_composition:C=19%>max_train(0%)``: a residue more frequent than in any training
  peptide (a bounding box on composition, the classic range-based domain; the worst
  residue is named);
* ``amp_nearest_train<0.42(0.31)``: the nearest training peptide is less identical than
  the threshold (the 5th percentile of the validation peptides' nearest identity), with
  the query's own identity in brackets;
* ``amp_nearest_train_disagrees(0.71,inactive)``: a training peptide at least
  ``evidence_identity`` identical carries the opposite label to the prediction: the data
  closest to the query contradict the model (this is what flags insulin A, whose nearest
  training peptides are inactive proinsulin-like negatives, 71% identical). The threshold
  is the lowest identity at which, on the validation peptides, the nearest training
  label is right >= 95% of the time (shipped: 0.55 ``amp``, 0.45 ``acp``).

Identity here is query coverage: identical positions of the best local alignment
(``identity.IdentityConfig``: BLOSUM62, -10/-0.5) over the query's length, so a short
training peptide matching part of a long query does not make the query "known".
Candidates are the :data:`CANDIDATES` training peptides sharing the most distinct 2-mers
with the query, each then aligned exactly. An exhaustive scan costs ~0.4 s per query over
the 3.9k distinct ``amp`` training peptides (Biopython, ~75 µs per alignment); the
prefiltered one 24 ms (``acp``: 12 ms) and finds the exhaustive nearest identity for 96%
of the held-out ``amp`` peptides and 98% of the ``acp`` ones (99-100% of those >= 0.45
identical; a miss underestimates by <= 0.15). 3-mers with 64 candidates were 5x faster
but exact for only 84% / 82%. The thresholds are fitted with the same search, so the
approximation is inside them.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scisuite.core.config import FrozenConfig, require
from scisuite.domains.protein.fasta import STANDARD_RESIDUES
from scisuite.domains.protein.identity import IdentityConfig

#: Residue order of :attr:`PeptideDomain.max_fraction` (the reader's standard residues).
AMINO_ACIDS = STANDARD_RESIDUES
#: Training peptides aligned exactly per query: those sharing the most 2-mers with it.
CANDIDATES = 256
KMER = 2
#: Share of the validation peptides allowed below the identity threshold.
MIN_IDENTITY_QUANTILE = 0.05
#: Identity from which a training peptide's label counts as evidence against a prediction,
#: when the validation peptides cannot set it (:func:`evidence_threshold`).
EVIDENCE_IDENTITY = 0.6
#: Identities tried by :func:`evidence_threshold`, lowest first.
EVIDENCE_GRID = tuple(round(0.4 + 0.05 * i, 2) for i in range(12))
#: Share of near validation peptides whose nearest training label must be right.
EVIDENCE_PRECISION = 0.95
#: Fewest validation peptides near enough for :func:`evidence_threshold` to choose.
EVIDENCE_MINIMUM = 20
#: Separator of the sequences in :attr:`PeptideDomain.active` / ``inactive``.
SEPARATOR = ","


@dataclass(frozen=True)
class PeptideDomain(FrozenConfig):
    """The training peptides of one activity task, as the applicability flags need them.

    Args:
        length: ``(min, max)`` residues of the training peptides.
        max_fraction: ``[20]`` the largest fraction of each residue (order
            :data:`AMINO_ACIDS`) in any training peptide.
        min_identity: nearest-training-peptide identity below which a query is flagged.
        evidence_identity: identity from which a training label contradicting the
            prediction is flagged.
        active, inactive: the distinct training peptides of each label, ``,``-joined
            (sorted; a peptide with both labels in the data is in both).
    """

    length: tuple[int, ...] = (1, 1)
    max_fraction: tuple[float, ...] = (1.0,) * len(AMINO_ACIDS)
    min_identity: float = 0.0
    evidence_identity: float = EVIDENCE_IDENTITY
    active: str = ""
    inactive: str = ""

    def validate(self) -> None:
        require(
            len(self.length) == 2 and 1 <= self.length[0] <= self.length[1],
            f"length must be (min, max), got {self.length}",
        )
        require(
            len(self.max_fraction) == len(AMINO_ACIDS)
            and all(0.0 <= f <= 1.0 for f in self.max_fraction),
            f"max_fraction must be {len(AMINO_ACIDS)} fractions in [0, 1]",
        )
        require(0.0 <= self.min_identity <= 1.0, "min_identity must be in [0, 1]")
        require(0.0 < self.evidence_identity <= 1.0, "evidence_identity must be in (0, 1]")

    def peptides(self) -> tuple[list[str], list[bool]]:
        """The training peptides and whether each is active."""
        active = [s for s in self.active.split(SEPARATOR) if s]
        inactive = [s for s in self.inactive.split(SEPARATOR) if s]
        return active + inactive, [True] * len(active) + [False] * len(inactive)


@dataclass(frozen=True)
class Neighbour:
    """The training peptide nearest a query: its identity (query coverage), label, residues."""

    identity: float
    active: bool
    sequence: str


def composition(sequence: str) -> np.ndarray:
    """``[20]`` fraction of each residue of :data:`AMINO_ACIDS` in ``sequence``."""
    counts = Counter(sequence)
    return np.array([counts[a] for a in AMINO_ACIDS], dtype=float) / max(len(sequence), 1)


def _kmers(sequence: str, k: int = KMER) -> set[str]:
    return {sequence[i : i + k] for i in range(len(sequence) - k + 1)}


class NeighbourIndex:
    """Nearest training peptide by query-coverage identity (module docstring).

    Args:
        sequences: ``[n]`` reference peptides.
        active: ``[n]`` their labels.
        candidates: references aligned exactly per query (the most shared 2-mers first).
    """

    def __init__(
        self, sequences: Sequence[str], active: Sequence[bool], candidates: int = CANDIDATES
    ) -> None:
        self.sequences = list(sequences)
        self.active = list(active)
        self.candidates = candidates
        postings: dict[str, list[int]] = defaultdict(list)
        for index, sequence in enumerate(self.sequences):
            for kmer in _kmers(sequence):
                postings[kmer].append(index)
        self._postings = {k: np.array(v, dtype=np.int64) for k, v in postings.items()}
        self._aligner = IdentityConfig().aligner()

    def _candidates(self, query: str) -> np.ndarray:
        hits = [self._postings[k] for k in _kmers(query) if k in self._postings]
        if not hits:
            return np.arange(len(self.sequences))[: self.candidates]
        shared = np.bincount(np.concatenate(hits), minlength=len(self.sequences))
        order = np.argsort(-shared, kind="stable")[: self.candidates]
        return order[shared[order] > 0]

    def identity(self, query: str, reference: str) -> float:
        """Identical positions of the best local alignment / ``len(query)``."""
        alignments = self._aligner.align(query, reference)
        if alignments.score <= 0:
            return 0.0
        return alignments[0].counts().identities / len(query)

    def nearest(self, query: str, exhaustive: bool = False) -> Neighbour | None:
        """The nearest reference (ties: the first), or None without references or query;
        ``exhaustive`` aligns every reference instead of the 2-mer candidates."""
        if not query or not self.sequences:
            return None
        indices = np.arange(len(self.sequences)) if exhaustive else self._candidates(query)
        best, best_identity = -1, -1.0
        for index in indices:
            value = self.identity(query, self.sequences[index])
            if value > best_identity:
                best, best_identity = int(index), value
        if best < 0:
            return Neighbour(0.0, False, "")
        return Neighbour(best_identity, self.active[best], self.sequences[best])


@functools.lru_cache(maxsize=8)
def neighbour_index(domain: PeptideDomain) -> NeighbourIndex:
    """The (cached) index of a domain's training peptides: built once per checkpoint
    (~0.1 s); the cache is keyed by the domain's value, not by a module-level toggle."""
    return NeighbourIndex(*domain.peptides())


def evidence_threshold(
    identities: Sequence[float],
    agrees: Sequence[bool],
    precision: float = EVIDENCE_PRECISION,
    minimum: int = EVIDENCE_MINIMUM,
) -> float:
    """The lowest identity on :data:`EVIDENCE_GRID` from which the nearest training
    peptide's label equals the validation label for at least ``precision`` of the (at
    least ``minimum``) validation peptides that near; :data:`EVIDENCE_IDENTITY` if none."""
    identities, agrees = np.asarray(identities, dtype=float), np.asarray(agrees, dtype=bool)
    for threshold in EVIDENCE_GRID:
        near = identities >= threshold
        if near.sum() >= minimum and agrees[near].mean() >= precision:
            return float(threshold)
    return EVIDENCE_IDENTITY


def fit_domain(
    train: Sequence[tuple[str, bool]],
    validation: Sequence[tuple[str, bool]],
    quantile: float = MIN_IDENTITY_QUANTILE,
) -> PeptideDomain:
    """The domain of one task from its training and validation peptides ``(sequence,
    active)`` (repeats allowed): ranges from the training peptides; ``min_identity`` the
    ``quantile`` of the validation peptides' nearest identity; ``evidence_identity`` by
    :func:`evidence_threshold` on the validation peptides.

    Raises:
        ValueError: no training peptides.
    """
    if not train:
        raise ValueError("fit_domain needs training peptides")
    active = sorted({s for s, label in train if label})
    inactive = sorted({s for s, label in train if not label})
    lengths = [len(s) for s, _ in train]
    fractions = np.max([composition(s) for s, _ in train], axis=0)
    domain = PeptideDomain(
        length=(min(lengths), max(lengths)),
        max_fraction=tuple(float(f) for f in fractions),
        active=SEPARATOR.join(active),
        inactive=SEPARATOR.join(inactive),
    )
    index = NeighbourIndex(*domain.peptides())
    neighbours = [(index.nearest(s), label) for s, label in validation if s]
    if not neighbours:
        return domain
    identities = [n.identity for n, _ in neighbours if n is not None]
    agrees = [n.active == label for n, label in neighbours if n is not None]
    return domain.replace(
        min_identity=float(np.quantile(identities, quantile)),
        evidence_identity=evidence_threshold(identities, agrees),
    )


def domain_flags(task: str, sequence: str, probability: float, domain: PeptideDomain) -> list[str]:
    """Why the ``task`` probability of ``sequence`` lies outside ``domain`` (module
    docstring); empty: inside, or no probability (NaN) to qualify."""
    if math.isnan(probability) or not sequence:
        return []
    flags = []
    low, high = domain.length
    if len(sequence) > high:
        flags.append(f"{task}_length>max_train({high})")
    elif len(sequence) < low:
        flags.append(f"{task}_length<min_train({low})")
    fractions, bounds = composition(sequence), np.asarray(domain.max_fraction)
    worst = int(np.argmax(fractions - bounds))
    if fractions[worst] > bounds[worst] + 1e-9:
        share, bound = 100 * fractions[worst], 100 * bounds[worst]
        flags.append(
            f"{task}_composition:{AMINO_ACIDS[worst]}={share:.0f}%>max_train({bound:.0f}%)"
        )
    neighbour = neighbour_index(domain).nearest(sequence)
    if neighbour is None:
        return flags
    if neighbour.identity < domain.min_identity:
        flags.append(f"{task}_nearest_train<{domain.min_identity:.2f}({neighbour.identity:.2f})")
    if neighbour.identity >= domain.evidence_identity and neighbour.active != (probability >= 0.5):
        label = "active" if neighbour.active else "inactive"
        flags.append(f"{task}_nearest_train_disagrees({neighbour.identity:.2f},{label})")
    return flags
