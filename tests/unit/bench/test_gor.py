"""The GOR-style peer of the secondary-structure benchmark (``bench/peers/gor.py``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[3] / "bench" / "peers"))

import gor  # noqa: E402

# Residues 1-34 of ubiquitin (PDB 1UBI) with the DSSP3 pydssp assigns to the backbone in
# tests/fixtures/1ubi_residues_1-34.pdb (asserted in tests/unit/protein/test_dssp.py), and
# crambin (PDB 1EJG chain A) with its DSSP3 from the built structures set.
UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKE"
UBIQUITIN_SS = "CEEEEECCCCCEEEEECCCCCCHHHHHHHHHHHC"
CRAMBIN = "TTCCPSIVARSNFNVCRLPGTPEALCATYTGCIIIPGATCPGDYAN"  # crambin
CRAMBIN_SS = "CEECCCHHHHHHHHHHHCCCCCHHHHHHHHCCEECCCCCCCCCCCC"


def test_counts_add_up_to_the_labelled_residues() -> None:
    labels = [UBIQUITIN_SS[:-2] + "??", CRAMBIN_SS]
    counts = gor.fit_counts([UBIQUITIN, CRAMBIN], labels, half_window=4)
    labelled = sum(c in "HEC" for label in labels for c in label)
    assert counts.states.sum() == labelled
    centre = counts.half_window
    np.testing.assert_array_equal(counts.singles[centre].sum(axis=0), counts.states)
    assert counts.singles.sum() == labelled * (2 * 4 + 1)
    assert counts.pairs.shape[0] == 9 * 8 // 2
    assert np.all(counts.pairs.sum(axis=(1, 2, 3)) == labelled)
    # positions before the chain start are padding for the first residue's window
    assert counts.singles[0, gor.PADDING].sum() >= 4


def test_single_terms_are_the_summed_log_odds() -> None:
    counts = gor.fit_counts([UBIQUITIN], [UBIQUITIN_SS], half_window=1)
    predictor = gor.GorPredictor(counts, alpha=1.0, pairs=False, prior=False)
    info = predictor.information("MQI")

    def log_odds(table: np.ndarray, state: int) -> float:
        cell = table + 1.0
        return math.log(cell[state]) - math.log(cell.sum() - cell[state])

    prior = [log_odds(counts.states, s) for s in range(3)]
    # residue Q (index 1): window M, Q, I at positions 0, 1, 2
    symbols = [gor.encode("MQI", 1)[i] for i in (1, 2, 3)]
    expected = [
        sum(log_odds(counts.singles[p, symbols[p]], s) - prior[s] for p in range(3))
        for s in range(3)
    ]
    np.testing.assert_allclose(info[1], expected)


def test_pair_terms_reduce_to_singles_when_pairs_are_independent() -> None:
    """With pair log-odds equal to the sum of their single log-odds, GOR IV's weights give
    back the single-residue information (2/W * (W-1) - (W-2)/W = 1)."""
    width = 5
    assert math.isclose(2 / width * (width - 1) - (width - 2) / width, 1.0)


def test_a_trained_predictor_recovers_its_training_chains_and_keeps_the_alphabet() -> None:
    counts = gor.fit_counts([UBIQUITIN, CRAMBIN], [UBIQUITIN_SS, CRAMBIN_SS])
    predictor = gor.GorPredictor(counts, alpha=0.1)
    predicted = [predictor.predict(s) for s in (UBIQUITIN, CRAMBIN)]
    assert gor.q3(predicted, [UBIQUITIN_SS, CRAMBIN_SS]) > 0.8
    assert set("".join(predicted)) <= set("HEC") and len(predicted[0]) == len(UBIQUITIN)
    assert predictor.predict("") == ""


def test_q3_skips_unlabelled_residues_and_selection_uses_validation() -> None:
    assert gor.q3(["HHEC"], ["HH?C"]) == 1.0
    assert gor.q3(["CCCC"], ["HH?C"]) == pytest.approx(1 / 3)
    counts = gor.fit_counts([UBIQUITIN], [UBIQUITIN_SS])
    chosen, variants = gor.select_on_validation(counts, [CRAMBIN], [CRAMBIN_SS], alphas=(1.0,))
    assert len(variants) == 4
    assert max(v["val_q3"] for v in variants) == gor.q3([chosen.predict(CRAMBIN)], [CRAMBIN_SS])


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        gor.fit_counts(["MKT"], ["HH"])
