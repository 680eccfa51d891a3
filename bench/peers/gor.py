"""GOR-style secondary-structure prediction: information theory on a window of residues.

The classic single-sequence statistical method (Garnier, Osguthorpe & Robson 1978, GOR I;
Garnier, Gibrat & Robson 1996, GOR IV; as restated by Kloczkowski et al., Proteins 2002,
"Distributions of the propensities of the 20 amino acids in secondary structures"). For
residue ``j`` with a window of ``2M + 1`` residues (``M = 8``, 17 positions), the information
that the window carries about state ``S`` against the other states ``n-S`` is

    I(S) = 2 / (2M + 1) * sum_{m < n} I(S; R_{j+m}, R_{j+n})
           - (2M - 1) / (2M + 1) * sum_m I(S; R_{j+m})

    I(S; R...) = log[f(S, R...) / f(n-S, R...)] - log[f(S) / f(n-S)]

where ``f`` are counts over the training residues with a pseudo-count ``alpha`` per cell
(pair terms: GOR IV; ``pairs=False`` keeps only single-residue terms: GOR I / III-like).
The predicted state maximises ``I(S)`` plus, with ``prior=True``, the prior log-odds
``log f(S) / f(n-S)`` (the posterior log-odds). Both choices and ``alpha`` are made on
validation chains by :func:`select_on_validation`, never on the test chains.

Positions outside the chain use a padding symbol of their own; unknown residues
(anything outside the 20 standard letters) share one symbol. Residues whose label is not
one of ``H``, ``E``, ``C`` (e.g. ``?``: no DSSP label) are skipped in training and scoring.
Written here with numpy; no code from GOR implementations was used.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
STATES = "HEC"
UNKNOWN = len(AMINO_ACIDS)  # any other letter
PADDING = UNKNOWN + 1  # outside the chain
SYMBOLS = PADDING + 1
_INDEX = {letter: i for i, letter in enumerate(AMINO_ACIDS)}


def encode(sequence: str, half_window: int) -> np.ndarray:
    """Residue symbols of ``sequence`` padded with ``half_window`` padding symbols each side.

    Returns:
        ``[L + 2M]`` int array.
    """
    codes = [_INDEX.get(c, UNKNOWN) for c in sequence.upper()]
    pad = [PADDING] * half_window
    return np.asarray(pad + codes + pad, dtype=np.int64)


def _windows(sequence: str, half_window: int) -> np.ndarray:
    """``[L, 2M + 1]`` symbols of each residue's window."""
    padded = encode(sequence, half_window)
    width = 2 * half_window + 1
    return np.lib.stride_tricks.sliding_window_view(padded, width)


@dataclass
class GorCounts:
    """Training counts: singles ``[2M+1, SYMBOLS, 3]``, pairs ``[P, SYMBOLS, SYMBOLS, 3]`` for
    the ``P = (2M+1)(2M)/2`` position pairs ``m < n``, and states ``[3]``."""

    half_window: int
    singles: np.ndarray
    pairs: np.ndarray
    states: np.ndarray

    @property
    def pair_positions(self) -> list[tuple[int, int]]:
        width = 2 * self.half_window + 1
        return list(itertools.combinations(range(width), 2))


def fit_counts(sequences: Iterable[str], labels: Iterable[str], half_window: int = 8) -> GorCounts:
    """Count singles, pairs and states over every labelled residue of the training chains.

    Args:
        sequences: one-letter sequences.
        labels: DSSP3 strings as long as each sequence (``H``/``E``/``C``; others skipped).
        half_window: ``M``; the window has ``2M + 1`` residues.
    """
    width = 2 * half_window + 1
    positions = list(itertools.combinations(range(width), 2))
    first = np.array([m for m, _ in positions])
    second = np.array([n for _, n in positions])
    singles = np.zeros((width, SYMBOLS, len(STATES)), dtype=np.float64)
    pairs = np.zeros((len(positions), SYMBOLS, SYMBOLS, len(STATES)), dtype=np.float64)
    states = np.zeros(len(STATES), dtype=np.float64)
    for sequence, label in zip(sequences, labels, strict=True):
        if len(sequence) != len(label):
            raise ValueError(f"sequence and label lengths differ ({len(sequence)} vs {len(label)})")
        windows = _windows(sequence, half_window)
        state = np.array([STATES.find(c) for c in label])
        keep = state >= 0
        windows, state = windows[keep], state[keep]
        if not len(state):
            continue
        np.add.at(states, state, 1.0)
        for m in range(width):
            np.add.at(singles, (m, windows[:, m], state), 1.0)
        # every residue adds one count to each of the P position pairs
        pair_index = np.broadcast_to(np.arange(len(positions)), (len(state), len(positions)))
        np.add.at(
            pairs,
            (
                pair_index,
                windows[:, first],
                windows[:, second],
                np.broadcast_to(state[:, None], pair_index.shape),
            ),
            1.0,
        )
    return GorCounts(half_window, singles, pairs, states)


def _log_odds(counts: np.ndarray, alpha: float) -> np.ndarray:
    """``log[(n(S) + alpha) / (n(not S) + 2 alpha)]`` along the last (state) axis."""
    smoothed = counts + alpha
    others = smoothed.sum(axis=-1, keepdims=True) - smoothed
    return np.log(smoothed) - np.log(others)


@dataclass(frozen=True)
class GorPredictor:
    """A fitted GOR predictor (log-odds tables precomputed).

    Attributes:
        counts: the training counts.
        alpha: pseudo-count per table cell.
        pairs: use the pair (GOR IV) terms; False: single-residue terms only.
        prior: add the prior log-odds of each state to its window information.
    """

    counts: GorCounts
    alpha: float = 1.0
    pairs: bool = True
    prior: bool = True

    def information(self, sequence: str) -> np.ndarray:
        """``[L, 3]`` information ``I(S)`` of each residue's window for H, E, C."""
        counts, m = self.counts, self.counts.half_window
        width = 2 * m + 1
        windows = _windows(sequence, m)
        state_odds = _log_odds(counts.states, self.alpha)  # [3]
        single = _log_odds(counts.singles, self.alpha) - state_odds  # [W, A, 3]
        single_sum = sum(single[p, windows[:, p]] for p in range(width))  # [L, 3]
        if self.pairs:
            pair = _log_odds(counts.pairs, self.alpha) - state_odds  # [P, A, A, 3]
            pair_sum = sum(
                pair[i, windows[:, a], windows[:, b]]
                for i, (a, b) in enumerate(counts.pair_positions)
            )
            info = (2.0 / width) * pair_sum - ((width - 2.0) / width) * single_sum
        else:
            info = single_sum
        return info + state_odds if self.prior else info

    def predict(self, sequence: str) -> str:
        """The DSSP3 string (``H``/``E``/``C``) of highest information per residue."""
        if not sequence:
            return ""
        best = self.information(sequence).argmax(axis=1)
        return "".join(STATES[i] for i in best)


def q3(predicted: Sequence[str], reference: Sequence[str]) -> float:
    """Share of labelled reference residues (``H``/``E``/``C``) predicted correctly, pooled
    over chains."""
    right = total = 0
    for p, r in zip(predicted, reference, strict=True):
        for a, b in zip(p, r, strict=True):
            if b in STATES:
                total += 1
                right += a == b
    return right / total if total else float("nan")


def select_on_validation(
    counts: GorCounts,
    sequences: Sequence[str],
    labels: Sequence[str],
    alphas: Sequence[float] = (0.1, 0.5, 1.0, 2.0),
) -> tuple[GorPredictor, list[dict[str, float]]]:
    """The variant (pairs or singles, with or without the prior, ``alpha``) with the best
    validation Q3, and every variant's validation Q3."""
    scores = []
    best: tuple[float, GorPredictor] | None = None
    for pairs, prior, alpha in itertools.product((True, False), (True, False), alphas):
        predictor = GorPredictor(counts, alpha=alpha, pairs=pairs, prior=prior)
        value = q3([predictor.predict(s) for s in sequences], labels)
        scores.append({"pairs": pairs, "prior": prior, "alpha": alpha, "val_q3": value})
        if best is None or value > best[0]:
            best = (value, predictor)
    assert best is not None
    return best[1], scores
