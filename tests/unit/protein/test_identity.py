"""Pairwise identity, single-linkage clustering and identity-controlled splits.

Sequences are real UniProt entries: human and yeast ubiquitin (P0CG48 / P0CG63, residues
1-76), hen egg-white lysozyme (P00698, mature chain), sperm-whale myoglobin (P02185) and
human haemoglobin alpha / beta (P69905 / P68871).
"""

from __future__ import annotations

import numpy as np
import pytest

from scisuite.domains.protein.identity import (
    SPLIT_NAMES,
    IdentityConfig,
    assign_splits,
    identity_matrix,
    identity_split,
    near_duplicates,
    pairwise_identity,
    single_linkage_clusters,
    verify_split,
)

UBIQUITIN_HUMAN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
UBIQUITIN_YEAST = "MQIFVKTLTGKTITLEVESSDTIDNVKSKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
LYSOZYME = (
    "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSS"
    "DITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL"
)
MYOGLOBIN = (
    "MVLSEGEWQLVLHVWAKVEADVAGHGQDILIRLFKSHPETLEKFDRFKHLKTEAEMKASEDLKKHGVTVLTALGAILKKKGHHEAE"
    "LKPLAQSHATKHKIPIKYLEFISEAIIHVLHSRHPGDFGADAQGAMNKALELFRKDIAAKYKELGYQG"
)
HBA = (
    "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSD"
    "LHAHKLRVDPVNFKLLSHCLLVTLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR"
)
HBB = (
    "MVHLTPEEKSAVTALWGKVNVDEVGGEALGRLLVVYPWTQRFFESFGDLSTPDAVMGNPKVKAHGKKVLGAFSDGLAHLDNLKGTFA"
    "TLSELHCDKLHVDPENFRLLGNVLVCVLAHHFGKEFTPPVQAAYQKVVAGVANALAHKYH"
)
SEQUENCES = [UBIQUITIN_HUMAN, UBIQUITIN_YEAST, LYSOZYME, MYOGLOBIN, HBA, HBB]


def test_identity_of_a_sequence_with_itself_is_one() -> None:
    assert pairwise_identity(LYSOZYME, LYSOZYME) == 1.0


def test_human_and_yeast_ubiquitin_differ_at_three_positions() -> None:
    assert pairwise_identity(UBIQUITIN_HUMAN, UBIQUITIN_YEAST) == pytest.approx(73 / 76)


def test_identity_is_symmetric_and_uses_the_shorter_length() -> None:
    fragment = UBIQUITIN_HUMAN[10:50]
    assert pairwise_identity(fragment, UBIQUITIN_HUMAN) == 1.0
    assert pairwise_identity(UBIQUITIN_HUMAN, fragment) == 1.0
    assert pairwise_identity(HBA, HBB) == pytest.approx(pairwise_identity(HBB, HBA))


def test_unrelated_proteins_are_far_below_the_threshold() -> None:
    assert pairwise_identity(UBIQUITIN_HUMAN, LYSOZYME) < 0.15


def test_global_identity_inflates_length_mismatched_pairs() -> None:
    """Why local is the default: unrelated ubiquitin vs haemoglobin beta is > 30% globally."""
    global_config = IdentityConfig(mode="global")
    assert pairwise_identity(UBIQUITIN_HUMAN, HBB, global_config) > 0.3
    assert pairwise_identity(UBIQUITIN_HUMAN, HBB) < 0.15


def test_empty_sequence_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        pairwise_identity("", LYSOZYME)


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "semiglobal"}, {"matrix": "NOPE"}, {"open_gap_score": 10.0}],
)
def test_config_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        IdentityConfig(**kwargs)


def test_identity_matrix_is_symmetric_with_unit_diagonal() -> None:
    matrix = identity_matrix(SEQUENCES)
    assert matrix.shape == (6, 6)
    assert np.allclose(matrix, matrix.T)
    assert np.allclose(np.diag(matrix), 1.0)
    assert ((matrix >= 0) & (matrix <= 1)).all()


def test_identity_matrix_of_selected_pairs_leaves_the_rest_nan() -> None:
    matrix = identity_matrix(SEQUENCES[:3], pairs=[(0, 1)])
    assert matrix[0, 1] == matrix[1, 0] == pytest.approx(73 / 76)
    assert np.isnan(matrix[0, 2])


def test_single_linkage_is_transitive() -> None:
    # a-b 0.5 and b-c 0.4 link a and c although a-c is 0.1
    identities = np.array([[1.0, 0.5, 0.1, 0.0], [0.5, 1.0, 0.4, 0.0], [0.1, 0.4, 1.0, 0.0]])
    identities = np.pad(identities, ((0, 1), (0, 0)))
    identities[3] = [0.0, 0.0, 0.0, 1.0]
    assert single_linkage_clusters(identities, 0.3).tolist() == [0, 0, 0, 1]
    assert single_linkage_clusters(identities, 0.45).tolist() == [0, 0, 1, 2]


def test_threshold_is_strict() -> None:
    identities = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert single_linkage_clusters(identities, 0.3).tolist() == [0, 1]


def test_real_families_cluster_at_thirty_percent() -> None:
    clusters = single_linkage_clusters(identity_matrix(SEQUENCES), 0.3).tolist()
    assert clusters[0] == clusters[1]  # ubiquitins
    assert clusters[4] == clusters[5]  # haemoglobin alpha / beta (44%)
    assert len({clusters[0], clusters[2], clusters[3], clusters[4]}) == 4


def test_assign_splits_is_seeded_keeps_clusters_whole_and_meets_fractions() -> None:
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(200), 2)
    weights = rng.integers(50, 300, size=400)
    first = assign_splits(clusters, weights, seed=3)
    assert first == assign_splits(clusters, weights, seed=3)
    assert first != assign_splits(clusters, weights, seed=4)
    for cluster in range(200):
        assert len({first[i] for i in np.flatnonzero(clusters == cluster)}) == 1
    total = weights.sum()
    for name, fraction in zip(SPLIT_NAMES, (0.8, 0.1, 0.1), strict=True):
        share = weights[np.array(first) == name].sum() / total
        assert share == pytest.approx(fraction, abs=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [{"fractions": (0.5, 0.5)}, {"fractions": (0.8, 0.1, 0.2)}, {"trials": 0}],
)
def test_assign_splits_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        assign_splits(np.array([0, 1]), [1.0, 1.0], seed=0, **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_identity_split_no_held_out_chain_is_close_to_train(seed: int) -> None:
    sequences = [*SEQUENCES, UBIQUITIN_HUMAN[5:60], HBA[:90]]
    result = identity_split(sequences, threshold=0.3, seed=seed, fractions=(0.5, 0.25, 0.25))
    assert result.check.ok
    assert result.check.max_identity <= 0.3
    train = [i for i, s in enumerate(result.splits) if s == "train"]
    held = [i for i, s in enumerate(result.splits) if s != "train"]
    for i in held:
        for j in train:
            assert result.identities[i, j] <= 0.3
    # clusters stay whole
    for cluster in set(result.clusters.tolist()):
        members = np.flatnonzero(result.clusters == cluster)
        assert len({result.splits[i] for i in members}) == 1
    # an independent recomputation agrees
    check = verify_split(sequences, result.splits, 0.3)
    assert check.max_identity == pytest.approx(result.check.max_identity)


def test_verify_split_rejects_a_leaky_split() -> None:
    splits = ["train", "test", "train", "train", "train", "train"]
    with pytest.raises(ValueError, match=r"test chain 1 is 96\.1% identical to train chain 0"):
        verify_split(SEQUENCES, splits, 0.3)


def test_verify_split_with_an_empty_side() -> None:
    check = verify_split(SEQUENCES[:2], ["train", "train"], 0.3)
    assert (check.max_identity, check.pair, check.pairs_checked) == (0.0, None, 0)


def test_identity_split_rejects_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        identity_split(SEQUENCES, threshold=1.0)


def test_near_duplicates_keep_the_preferred_chain_and_only_drop_covered_ones() -> None:
    human, yeast = UBIQUITIN_HUMAN, UBIQUITIN_YEAST  # 96% identical (3 of 76 differ)
    fragment = UBIQUITIN_HUMAN[:40]  # contained in the full chain: identity 1.0
    sequences = [human, yeast, fragment, LYSOZYME]
    identities = identity_matrix(sequences)
    lengths = [len(s) for s in sequences]
    assert near_duplicates(identities, lengths, [0, 1, 2, 3]) == {1: 0, 2: 0}
    # yeast preferred: human is its near-duplicate; the fragment (37 of 40 like yeast) stays
    assert near_duplicates(identities, lengths, [1, 0, 2, 3]) == {0: 1}
    # the fragment first: the full chain is more than 10% longer, so both are kept
    assert near_duplicates(identities, lengths, [2, 0, 1, 3]) == {1: 0}
    # a threshold above their identity keeps the two species apart
    assert near_duplicates(identities, lengths, [0, 1, 2, 3], threshold=0.99) == {2: 0}


def test_near_duplicates_validates() -> None:
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates(np.eye(2), [10, 10], [0, 1], threshold=0.0)
    with pytest.raises(ValueError, match="length_ratio"):
        near_duplicates(np.eye(2), [10, 10], [0, 1], length_ratio=0.5)


def test_identity_split_reuses_given_identities() -> None:
    sequences = [UBIQUITIN_HUMAN, UBIQUITIN_YEAST, LYSOZYME, MYOGLOBIN]
    identities = identity_matrix(sequences)
    again = identity_split(sequences, identities=identities)
    assert again.identities is identities
    assert again.splits == identity_split(sequences).splits
