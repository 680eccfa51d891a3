"""Sequence-level sanity measures of the design checks (``bench/peers/sequence_sanity.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[3] / "bench" / "peers"))

import sequence_sanity as sanity  # noqa: E402

MAGAININ_2 = "GIGKFLHSAKKFGKAFVGEIMNS"


def test_composition_divergence_is_zero_for_equal_and_one_for_disjoint_sets() -> None:
    a = sanity.pooled_composition(["ACDE", "EDCA"])
    assert a.sum() == pytest.approx(1.0)
    assert sanity.js_divergence(a, a) == pytest.approx(0.0)
    assert sanity.js_divergence(a, sanity.pooled_composition(["KKLL"])) == pytest.approx(1.0)


def test_low_complexity_marks_repeats_not_varied_sequence() -> None:
    repeat = "ACDEFGHIKLMN" + "Q" * 14 + "PRSTVWYACDEF"
    mask = sanity.low_complexity_mask(repeat)
    assert mask[12:26].all() and not mask[:3].any() and not mask[-3:].any()
    assert sanity.window_entropy("ACDEFGHIKLMN") == pytest.approx(np.log2(12))
    assert sanity.low_complexity_fraction(["ACDEFGHIKLMNPQRSTVWY"]) == 0.0
    assert sanity.longest_run(repeat) == 14
    assert sanity.longest_run("") == 0


def test_modlamp_descriptors_of_magainin_2() -> None:
    # magainin 2 carries +3 at neutral pH (K4, K10, K11, K14, free N-terminus vs E19 and the
    # C-terminus) and is a strongly amphipathic helix
    charge = sanity.net_charge([MAGAININ_2, "DDEEDDEE"])
    assert charge[0] == pytest.approx(3.0, abs=0.1)
    assert charge[1] < -7
    moment = sanity.hydrophobic_moment([MAGAININ_2, "LLLLLLLLLL"])
    assert moment[0] > 0.3 > moment[1]
