"""The peptide applicability domain: fit, nearest-neighbour search, flags, config round trip."""

from __future__ import annotations

import math
import random

import pytest
from torch_geometric.data import Batch

from scisuite.core.records import Record
from scisuite.domains.protein.applicability import (
    EVIDENCE_IDENTITY,
    NeighbourIndex,
    PeptideDomain,
    composition,
    domain_flags,
    evidence_threshold,
    fit_domain,
)
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.featurize import applicability_flags, featurize
from scisuite.domains.protein.generation import SequencePrediction
from scisuite.domains.protein.postprocess import postprocess

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
ACTIVE = ["GIGKFLHSAKKFGKAFVGEIMNS", "GIGAVLKVLTTGLPALISWIKRKRQQ", "KWKLFKKIGAVLKVL"]
INACTIVE = ["MSDNEKLAQEAAERLTGSPVDE", "MTEYKLVVVGAGGVGKSALTIQ", "GSSGSSGMEPQDLTNQW"]


def _domain() -> PeptideDomain:
    train = [(s, True) for s in ACTIVE] + [(s, False) for s in INACTIVE]
    validation = [(ACTIVE[0][:-2] + "KK", True), (INACTIVE[0][:-3] + "AAA", False)]
    return fit_domain(train, validation)


def _mutants(rng: random.Random, parent: str, rate: float, count: int) -> list[str]:
    return [
        "".join(rng.choice(RESIDUES) if rng.random() < rate else r for r in parent)
        for _ in range(count)
    ]


def test_fit_domain_records_ranges_and_thresholds_from_the_data() -> None:
    domain = _domain()
    assert domain.length == (15, 26)
    cys = RESIDUES.index("C")
    assert domain.max_fraction[cys] == 0.0  # no training peptide has a cysteine
    assert domain.max_fraction[RESIDUES.index("K")] == pytest.approx(composition(ACTIVE[2])[8])
    # both validation peptides are near copies of a training one: the threshold is high
    assert domain.min_identity > 0.8
    # too few validation peptides to choose the evidence threshold: the default
    assert domain.evidence_identity == EVIDENCE_IDENTITY
    assert sorted(domain.peptides()[0]) == sorted(ACTIVE + INACTIVE)


def test_flags_name_length_composition_distance_and_contradiction() -> None:
    domain = _domain()
    assert domain_flags("amp", ACTIVE[0], 0.9, domain) == []
    assert domain_flags("amp", ACTIVE[0], math.nan, domain) == []  # no probability given
    flags = domain_flags("amp", ACTIVE[0], 0.2, domain)
    assert flags == ["amp_nearest_train_disagrees(1.00,active)"]
    short = domain_flags("acp", "GIGKFLHS", 0.9, domain)
    assert short[0] == "acp_length<min_train(15)"
    insulin_a = domain_flags("amp", "GIVEQCCTSICSLYQLENYCN", 0.9, domain)
    assert insulin_a[0] == "amp_composition:C=19%>max_train(0%)"
    assert insulin_a[1].startswith(f"amp_nearest_train<{domain.min_identity:.2f}(")


def test_prefiltered_search_finds_the_exhaustive_nearest_on_related_peptides() -> None:
    rng = random.Random(0)
    parents = ["".join(rng.choice(RESIDUES) for _ in range(rng.randint(10, 40))) for _ in range(40)]
    references = [m for p in parents for m in _mutants(rng, p, 0.3, 10)]
    index = NeighbourIndex(references, [i % 2 == 0 for i in range(len(references))], 32)
    queries = [m for p in parents[:20] for m in _mutants(rng, p, 0.2, 1)]
    found = [index.nearest(q).identity for q in queries]
    exact = [index.nearest(q, exhaustive=True).identity for q in queries]
    assert all(f <= e + 1e-12 for f, e in zip(found, exact, strict=True))
    assert sum(abs(f - e) < 1e-12 for f, e in zip(found, exact, strict=True)) >= 18
    assert index.identity("GIGK", "AAGIGKAA") == 1.0  # query coverage, not reference
    assert index.identity("GIGKFLHSAK", "GIGK") == pytest.approx(0.4)


def test_evidence_threshold_is_the_lowest_identity_where_neighbours_are_right() -> None:
    identities = [0.42] * 30 + [0.62] * 30
    agrees = [i % 2 == 0 for i in range(30)] + [True] * 29 + [False]
    assert evidence_threshold(identities, agrees) == pytest.approx(0.45)
    assert evidence_threshold(identities[:10], agrees[:10]) == EVIDENCE_IDENTITY


def test_config_round_trips_the_domain_and_postprocess_flags_each_probability() -> None:
    domain = _domain()
    config = ProteinConfig(amp_domain=domain, acp_domain=domain)
    assert ProteinConfig.from_json(config.to_json()) == config
    record = Record(id="insulin_a", payload={"sequence": "GIVEQCCTSICSLYQLENYCN"})
    graph = featurize(record, config)
    assert graph.applicability == ""  # the peptide flags need the probability
    assert applicability_flags("MKT", "", ProteinConfig()) == ["peptide_length<min_train(7)"]
    assert applicability_flags("MKT", "", config) == []
    prediction = SequencePrediction(ss3="C" * 21, ss8="C" * 21, amp=0.9, acp=math.nan, windows=1)
    (result,) = postprocess([prediction], Batch.from_data_list([graph]), config)
    flags = result.row["applicability"].split(";")
    assert flags[0] == "amp_composition:C=19%>max_train(0%)"
    assert not any(f.startswith("acp_") for f in flags)  # no anticancer probability given


def test_domain_validation_rejects_malformed_values() -> None:
    with pytest.raises(ValueError, match="length"):
        PeptideDomain(length=(10, 5))
    with pytest.raises(ValueError, match="max_fraction"):
        PeptideDomain(max_fraction=(0.5,))
    with pytest.raises(ValueError, match="fit_domain needs"):
        fit_domain([], [])
