"""Seeded random / scaffold / fixed splits and the validation carve-out."""

from __future__ import annotations

import numpy as np
import pytest

from scisuite.domains.molecule.splits import (
    Split,
    carve_validation,
    fixed_split,
    murcko_scaffold,
    random_split,
    scaffold_split,
)

# 40 real molecules: 16 on a benzene scaffold, 6 pyridines, 5 naphthalenes, 4 cyclohexanes,
# 3 indoles, 2 piperidines, 4 acyclic (scaffold "").
BENZENES = [
    "c1ccccc1", "Cc1ccccc1", "CCc1ccccc1", "Oc1ccccc1", "Nc1ccccc1", "Clc1ccccc1",
    "Brc1ccccc1", "Fc1ccccc1", "OC(=O)c1ccccc1", "CC(=O)c1ccccc1", "COc1ccccc1",
    "Cc1ccc(C)cc1", "Oc1ccc(O)cc1", "CC(=O)Nc1ccc(O)cc1", "CC(=O)Oc1ccccc1C(=O)O",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
]  # fmt: skip
PYRIDINES = ["c1ccncc1", "Cc1ccncc1", "Nc1ccncc1", "Oc1ccncc1", "Clc1ccncc1", "CCc1ccncc1"]
NAPHTHALENES = ["c1ccc2ccccc2c1", "Cc1ccc2ccccc2c1", "Oc1ccc2ccccc2c1", "Nc1ccc2ccccc2c1",
                "COc1ccc2cc([C@H](C)C(=O)O)ccc2c1"]  # fmt: skip
CYCLOHEXANES = ["C1CCCCC1", "CC1CCCCC1", "OC1CCCCC1", "NC1CCCCC1"]
INDOLES = ["c1ccc2[nH]ccc2c1", "Cc1c[nH]c2ccccc12", "NCCc1c[nH]c2ccc(O)cc12"]
PIPERIDINES = ["C1CCNCC1", "CN1CCCCC1"]
ACYCLIC = ["CCO", "CCCC", "CC(=O)O", "NC(N)=O"]
SMILES = BENZENES + PYRIDINES + NAPHTHALENES + CYCLOHEXANES + INDOLES + PIPERIDINES + ACYCLIC


def as_sets(split: Split) -> tuple[set[int], set[int], set[int]]:
    return set(split.train.tolist()), set(split.val.tolist()), set(split.test.tolist())


def assert_partition(split: Split, n: int) -> None:
    train, val, test = as_sets(split)
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(n))


def test_split_rejects_overlap_missing_and_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"repeated indices \[1\]"):
        Split(np.array([0, 1]), np.array([1]), np.array([2, 3]))
    with pytest.raises(ValueError, match="must lie in 0 .. 2"):
        Split(np.array([0, 1]), np.array([]), np.array([5]))
    split = Split(np.array([3, 0]), np.array([1]), np.array([2]))
    assert split.train.tolist() == [0, 3]
    assert split.labels() == ["train", "val", "test", "train"]


@pytest.mark.parametrize("n", [0, 1, 10, 642])
def test_random_split_partitions_with_expected_sizes(n: int) -> None:
    split = random_split(n, (0.8, 0.1, 0.1), seed=0)
    assert_partition(split, n)
    assert len(split.train) == int(0.8 * n + 1e-9)
    assert len(split.val) == int(0.1 * n + 1e-9)


def test_random_split_is_seeded() -> None:
    first, again = random_split(100, seed=3), random_split(100, seed=3)
    other = random_split(100, seed=4)
    assert as_sets(first) == as_sets(again)
    assert as_sets(first) != as_sets(other)


def test_random_split_does_not_touch_the_global_rng() -> None:
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    random_split(50, seed=1)
    assert np.random.rand() == expected


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_rejected(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        random_split(10, fractions, seed=0)


def test_murcko_scaffold() -> None:
    assert murcko_scaffold("CC(=O)Oc1ccccc1C(=O)O") == "c1ccccc1"
    assert murcko_scaffold("CCO") == ""
    assert murcko_scaffold("C[C@H]1CCCN1c1ccccc1") == murcko_scaffold("C[C@@H]1CCCN1c1ccccc1")
    with pytest.raises(ValueError, match="could not be parsed"):
        murcko_scaffold("C1CC(C")


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_scaffold_split_keeps_each_scaffold_in_one_part(seed: int) -> None:
    split = scaffold_split(SMILES, (0.8, 0.1, 0.1), seed=seed)
    assert_partition(split, len(SMILES))
    part_of = split.labels()
    by_scaffold: dict[str, set[str]] = {}
    for index, smiles in enumerate(SMILES):
        by_scaffold.setdefault(murcko_scaffold(smiles), set()).add(part_of[index])
    assert all(len(parts) == 1 for parts in by_scaffold.values()), by_scaffold
    assert len(split.train) <= 0.8 * len(SMILES)


# 14 ring systems, one molecule each (each its own scaffold)
SINGLETONS = ["c1ccncc1", "C1CCCCC1", "c1ccc2ccccc2c1", "c1ccc2[nH]ccc2c1", "C1CCNCC1", "c1ccoc1",
              "c1ccsc1", "c1cc[nH]c1", "C1CCCC1", "C1CC1", "c1cncnc1", "C1COCCN1", "C1CNCCN1",
              "c1c[nH]cn1"]  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_scaffold_split_is_balanced_big_groups_go_to_train(seed: int) -> None:
    # 30 molecules, val/test capacity 3: the 16 benzenes (> 3 / 2) are placed before the
    # singletons, so they always fit into train (capacity 24); singletons fill the rest.
    smiles = SINGLETONS[:7] + BENZENES + SINGLETONS[7:]
    split = scaffold_split(smiles, (0.8, 0.1, 0.1), seed=seed)
    assert split.sizes() == {"train": 24, "val": 3, "test": 3}
    benzene_indices = set(range(7, 7 + len(BENZENES)))
    assert benzene_indices <= set(split.train.tolist())


def test_scaffold_split_is_seeded_and_varies_with_the_seed() -> None:
    runs = [as_sets(scaffold_split(SMILES, seed=seed)) for seed in range(6)]
    assert as_sets(scaffold_split(SMILES, seed=0)) == runs[0]
    assert len({tuple(frozenset(part) for part in run) for run in runs}) > 1


def test_scaffold_split_rejects_unparsable_smiles() -> None:
    with pytest.raises(ValueError, match="record 1"):
        scaffold_split(["CCO", "C1CC(C", "c1ccccc1"], seed=0)


def test_fixed_split_reads_labels() -> None:
    split = fixed_split(["train", "Test", "valid", "train", " val ", "TRAIN"])
    assert split.sizes() == {"train": 3, "val": 2, "test": 1}
    assert split.test.tolist() == [1]
    with pytest.raises(ValueError, match="'holdout' of record 1"):
        fixed_split(["train", "holdout"])


def test_carve_validation_random_moves_only_train() -> None:
    fixed = fixed_split(["train"] * 30 + ["test"] * 10)
    carved = carve_validation(fixed, 0.2, seed=0)
    assert_partition(carved, 40)
    assert carved.test.tolist() == fixed.test.tolist()
    assert len(carved.val) == 6 and set(carved.val) <= set(fixed.train)
    assert np.array_equal(carve_validation(fixed, 0.2, seed=0).val, carved.val)
    assert not np.array_equal(carve_validation(fixed, 0.2, seed=1).val, carved.val)


def test_carve_validation_scaffold_keeps_groups_whole() -> None:
    labels = ["train"] * 34 + ["test"] * 6  # the last 6 (piperidines, acyclics) are test
    fixed = fixed_split(labels)
    for seed in range(4):
        carved = carve_validation(fixed, 0.2, seed=seed, method="scaffold", smiles=SMILES)
        assert_partition(carved, len(SMILES))
        assert carved.test.tolist() == list(range(34, 40))
        assert len(carved.val) > 0
        train_scaffolds = {murcko_scaffold(SMILES[i]) for i in carved.train}
        val_scaffolds = {murcko_scaffold(SMILES[i]) for i in carved.val}
        assert not train_scaffolds & val_scaffolds
    with pytest.raises(ValueError, match="needs the SMILES"):
        carve_validation(fixed, 0.2, seed=0, method="scaffold")
