"""Sequence-identity clustering and train/validation/test splits with no close homologs across.

Identity (:func:`pairwise_identity`): Biopython ``PairwiseAligner``, BLOSUM62, gap open
-10, extend -0.5 (EMBOSS ``water`` / ``needle`` defaults), identity = identical aligned
positions / length of the shorter sequence. The default alignment mode is **local**
(Smith-Waterman), not global, for a measured reason: with a global alignment and the
shorter length as denominator, a short chain aligned to a long one gets 30-40% identity by
chance (median 0.40 for length ratios < 0.2 over the 214 structure chains), so at a 30%
threshold single linkage puts all 214 chains in one cluster (at 40%, 98% of the residues)
and no split exists. Local identity over the shorter length is ~0.10 for a typical
unrelated pair, and ~1.0 for a fragment contained in a longer chain, so fragments still
count as duplicates. ``IdentityConfig(mode="global")`` is available.

Split (:func:`identity_split`): every pair is aligned exactly (no heuristic prefilter:
k-mer prefilters either keep ~94% of the pairs, k=3, or miss hundreds of > 30% pairs,
k >= 4, on these chains); chains are clustered by single linkage (connected components of
"identity > threshold", default :data:`DEFAULT_THRESHOLD` = 0.30); whole clusters are
dealt to train / validation / test (default 80/10/10 by residue count) in a seeded random
order, each to the part furthest below its target; the best of 100 seeded deals is kept.
Any two chains in different clusters are <= threshold identical, so no validation or test
chain is more than ``threshold`` identical to any training chain; :func:`verify_split`
checks it again.

Cost: n(n-1)/2 alignments, about 1-3 ms each for ~220-residue chains (~20 s for 214
chains, ~7 min for 540 on a shared core); memory ``[n, n]`` float64. Meant for up to a
few thousand chains; for PDB-scale sets cluster with MMseqs2 (``easy-cluster
--min-seq-id``) instead.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from Bio.Align import PairwiseAligner, substitution_matrices
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

#: Default identity threshold: no held-out chain is more than 30% identical to a train chain.
DEFAULT_THRESHOLD = 0.30
#: Default split names and fractions of residues.
SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
ALIGNMENT_MODES = ("local", "global")
#: Random cluster deals tried by :func:`assign_splits` (the closest to the targets wins).
DEFAULT_TRIALS = 100


@dataclass(frozen=True)
class IdentityConfig:
    """How pairwise identity is measured.

    Attributes:
        mode: ``"local"`` (Smith-Waterman, default) or ``"global"`` (Needleman-Wunsch, end
            gaps penalised like internal ones).
        matrix: substitution matrix name known to ``Bio.Align.substitution_matrices``.
        open_gap_score: score of opening a gap (negative).
        extend_gap_score: score of extending a gap by one position (negative).
    """

    mode: str = "local"
    matrix: str = "BLOSUM62"
    open_gap_score: float = -10.0
    extend_gap_score: float = -0.5

    def __post_init__(self) -> None:
        if self.mode not in ALIGNMENT_MODES:
            raise ValueError(f"mode must be one of {ALIGNMENT_MODES}; got {self.mode!r}")
        if self.matrix not in substitution_matrices.load():
            raise ValueError(
                f"unknown substitution matrix {self.matrix!r}; choose one of "
                f"{sorted(substitution_matrices.load())}"
            )
        if self.open_gap_score > 0 or self.extend_gap_score > 0:
            raise ValueError("gap scores must be <= 0 (they are penalties)")

    def aligner(self) -> PairwiseAligner:
        """A configured ``PairwiseAligner``."""
        return PairwiseAligner(
            mode=self.mode,
            substitution_matrix=substitution_matrices.load(self.matrix),
            open_gap_score=self.open_gap_score,
            extend_gap_score=self.extend_gap_score,
        )

    def describe(self) -> dict[str, object]:
        """Plain dict for provenance files (tool, settings, identity definition)."""
        return {
            "tool": "Bio.Align.PairwiseAligner",
            **asdict(self),
            "identity": "identical aligned positions / length of the shorter sequence",
        }


def pairwise_identity(
    a: str, b: str, config: IdentityConfig | None = None, aligner: PairwiseAligner | None = None
) -> float:
    """Identity of two sequences in [0, 1] (see :class:`IdentityConfig`).

    Args:
        a, b: sequences (non-empty).
        config: alignment settings (default local BLOSUM62 -10/-0.5).
        aligner: a prebuilt ``config.aligner()`` to reuse across calls.

    Raises:
        ValueError: an empty sequence.
    """
    if not a or not b:
        raise ValueError("pairwise_identity needs two non-empty sequences")
    aligner = aligner or (config or IdentityConfig()).aligner()
    alignments = aligner.align(a, b)
    if aligner.mode == "local" and alignments.score <= 0:
        return 0.0  # no positively scoring local alignment: nothing in common
    return alignments[0].counts().identities / min(len(a), len(b))


def identity_matrix(
    sequences: Sequence[str],
    config: IdentityConfig | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Pairwise identities.

    Args:
        sequences: ``[n]`` sequences.
        config: alignment settings.
        pairs: ``(i, j)`` index pairs to align; default every pair ``i < j``. Pairs not
            aligned are NaN.

    Returns:
        ``[n, n]`` symmetric float64 matrix, 1 on the diagonal.
    """
    aligner = (config or IdentityConfig()).aligner()
    n = len(sequences)
    matrix = np.full((n, n), np.nan)
    np.fill_diagonal(matrix, 1.0)
    todo = pairs if pairs is not None else itertools.combinations(range(n), 2)
    for i, j in todo:
        value = pairwise_identity(sequences[i], sequences[j], aligner=aligner)
        matrix[i, j] = matrix[j, i] = value
    return matrix


def single_linkage_clusters(identities: np.ndarray, threshold: float) -> np.ndarray:
    """Connected components of the graph "identity > threshold".

    Args:
        identities: ``[n, n]`` identity matrix (NaN counts as no edge).
        threshold: identity in [0, 1].

    Returns:
        ``[n]`` int cluster ids, 0..k-1, numbered by first member.
    """
    adjacency = np.nan_to_num(identities, nan=0.0) > threshold
    _, labels = connected_components(csr_matrix(adjacency), directed=False)
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[labels]


#: Identity at or above which a chain counts as a near-duplicate of a kept one.
NEAR_DUPLICATE_IDENTITY = 0.95
#: A near-duplicate may be at most this much longer than the chain it duplicates.
NEAR_DUPLICATE_LENGTH_RATIO = 1.1


def near_duplicates(
    identities: np.ndarray,
    lengths: Sequence[int],
    preference: Sequence[int],
    threshold: float = NEAR_DUPLICATE_IDENTITY,
    length_ratio: float = NEAR_DUPLICATE_LENGTH_RATIO,
) -> dict[int, int]:
    """Greedy near-duplicate removal: point mutants and repeats of one protein become one.

    Chains are visited in ``preference`` order (best first); a chain is dropped when it is
    ``>= threshold`` identical to an already kept chain and at most ``length_ratio`` times
    that chain's length (so it adds no residues the kept chain lacks); otherwise it is kept.

    Args:
        identities: ``[n, n]`` identity matrix (:func:`identity_matrix`).
        lengths: ``[n]`` residues per chain.
        preference: a permutation of ``range(n)``, best chain first.
        threshold: identity in (0, 1].
        length_ratio: >= 1.

    Returns:
        dropped index -> index of the kept chain it duplicates (the most identical one).
    """
    if not 0.0 < threshold <= 1.0 or length_ratio < 1.0:
        raise ValueError("need 0 < threshold <= 1 and length_ratio >= 1")
    kept: list[int] = []
    dropped: dict[int, int] = {}
    similar = np.nan_to_num(identities, nan=0.0)
    for index in preference:
        candidates = [
            k
            for k in kept
            if similar[index, k] >= threshold and lengths[index] <= length_ratio * lengths[k]
        ]
        if candidates:
            dropped[index] = max(candidates, key=lambda k: similar[index, k])
        else:
            kept.append(index)
    return dropped


def assign_splits(
    clusters: np.ndarray,
    weights: Sequence[float],
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    names: Sequence[str] = SPLIT_NAMES,
    trials: int = DEFAULT_TRIALS,
) -> list[str]:
    """Deal whole clusters to splits, seeded.

    One deal visits the clusters in a random order and gives each to the split with the
    largest remaining deficit ``fraction * total - assigned`` (ties: first name). ``trials``
    deals are made from ``random.Random(seed)`` and the one closest to the target fractions
    (smallest sum of absolute deviations) is kept.

    Args:
        clusters: ``[n]`` cluster id per item.
        weights: ``[n]`` weight per item (residue count).
        seed: random seed.
        fractions: target fraction of the total weight per split (sums to 1).
        names: split names, one per fraction.
        trials: number of random deals to choose from (>= 1).

    Returns:
        ``[n]`` split name per item.
    """
    if len(fractions) != len(names):
        raise ValueError(f"{len(fractions)} fractions for {len(names)} split names")
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be >= 0 and sum to 1; got {tuple(fractions)}")
    if trials < 1:
        raise ValueError(f"trials must be >= 1; got {trials}")
    clusters = np.asarray(clusters)
    weights_array = np.asarray(weights, dtype=float)
    if clusters.shape != weights_array.shape:
        raise ValueError(f"{clusters.shape[0]} cluster ids for {weights_array.shape[0]} weights")
    ids = sorted(set(clusters.tolist()))
    cluster_weight = {c: float(weights_array[clusters == c].sum()) for c in ids}
    total = sum(cluster_weight.values()) or 1.0
    target = {name: fraction * total for name, fraction in zip(names, fractions, strict=True)}
    rng = random.Random(seed)
    best: tuple[float, dict[int, str]] | None = None
    for _ in range(trials):
        rng.shuffle(ids)
        assigned = dict.fromkeys(names, 0.0)
        split_of: dict[int, str] = {}
        for cluster in ids:
            name = max(names, key=lambda n: (target[n] - assigned[n], -names.index(n)))
            split_of[cluster] = name
            assigned[name] += cluster_weight[cluster]
        deviation = sum(abs(assigned[n] - target[n]) for n in names) / total
        if best is None or deviation < best[0]:
            best = (deviation, split_of)
    assert best is not None
    return [best[1][c] for c in clusters.tolist()]


@dataclass(frozen=True)
class SplitCheck:
    """Largest identity between a held-out chain and a training chain.

    Attributes:
        max_identity: the largest identity over (validation or test, train) pairs; 0.0 when
            a side is empty.
        pair: ``(held-out index, train index)`` of that pair, or ``None``.
        pairs_checked: number of pairs compared.
        threshold: the bound that was checked.
    """

    max_identity: float
    pair: tuple[int, int] | None
    pairs_checked: int
    threshold: float

    @property
    def ok(self) -> bool:
        """``max_identity <= threshold``."""
        return self.max_identity <= self.threshold


def verify_split(
    sequences: Sequence[str],
    splits: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    config: IdentityConfig | None = None,
    identities: np.ndarray | None = None,
    train: str = "train",
) -> SplitCheck:
    """Check that no non-train chain is more than ``threshold`` identical to a train chain.

    Args:
        sequences: ``[n]`` sequences.
        splits: ``[n]`` split name per sequence.
        threshold: the identity bound.
        config: alignment settings (used when ``identities`` is not given).
        identities: a precomputed ``[n, n]`` matrix from the same settings; default: align
            every (held-out, train) pair now.
        train: name of the training split.

    Returns:
        The check; raises when it fails.

    Raises:
        ValueError: a held-out chain is more identical than ``threshold`` to a train chain
            (the message names both), or the lengths disagree.
    """
    if len(sequences) != len(splits):
        raise ValueError(f"{len(sequences)} sequences but {len(splits)} split labels")
    train_idx = [i for i, s in enumerate(splits) if s == train]
    held_idx = [i for i, s in enumerate(splits) if s != train]
    pairs = [(i, j) for i in held_idx for j in train_idx]
    if identities is None:
        identities = identity_matrix(sequences, config, pairs=pairs)
    best, worst = 0.0, None
    for i, j in pairs:
        value = float(identities[i, j])
        if np.isnan(value):
            raise ValueError(f"identity of pair ({i}, {j}) is missing from the matrix")
        if worst is None or value > best:
            best, worst = value, (i, j)
    check = SplitCheck(best, worst, len(pairs), threshold)
    if not check.ok:
        i, j = worst  # type: ignore[misc]
        raise ValueError(
            f"{splits[i]} chain {i} is {best:.1%} identical to train chain {j} (threshold "
            f"{threshold:.0%}); rebuild the split with identity_split"
        )
    return check


@dataclass(frozen=True)
class IdentitySplit:
    """Result of :func:`identity_split`.

    Attributes:
        splits: ``[n]`` split name per sequence.
        clusters: ``[n]`` single-linkage cluster id per sequence.
        identities: ``[n, n]`` identity matrix.
        check: the verified cross-split maximum.
        threshold: identity threshold used.
        seed: seed of the cluster order.
        seconds: wall time of the all-pairs alignment, s.
    """

    splits: list[str]
    clusters: np.ndarray
    identities: np.ndarray
    check: SplitCheck
    threshold: float
    seed: int
    seconds: float


def identity_split(
    sequences: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    config: IdentityConfig | None = None,
    weights: Sequence[float] | None = None,
    identities: np.ndarray | None = None,
) -> IdentitySplit:
    """Cluster by identity and deal whole clusters to train / validation / test.

    Args:
        sequences: ``[n]`` sequences (deduplicate exact copies first; copies simply join
            one cluster).
        threshold: identity bound in [0, 1) between held-out and train chains.
        seed: seed of the cluster order.
        fractions: target fractions (train, validation, test) of the weights.
        config: alignment settings.
        weights: ``[n]`` weights; default the sequence lengths (residues).
        identities: ``[n, n]`` identities already computed with ``config`` (then nothing
            is aligned and ``seconds`` is 0).

    Raises:
        ValueError: a threshold outside [0, 1).
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1); got {threshold}")
    start = time.perf_counter()
    if identities is None:
        identities = identity_matrix(sequences, config)
    seconds = time.perf_counter() - start
    clusters = single_linkage_clusters(identities, threshold)
    weights = weights if weights is not None else [len(s) for s in sequences]
    splits = assign_splits(clusters, weights, seed, fractions)
    check = verify_split(sequences, splits, threshold, config, identities=identities)
    return IdentitySplit(splits, clusters, identities, check, threshold, seed, seconds)
