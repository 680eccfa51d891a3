"""Train / validation / test splits for molecule data sets, all seeded explicitly.

Every random choice goes through ``numpy.random.default_rng(seed)`` created inside the
function that needs it; nothing touches a global generator. Splits are returned as a
:class:`Split` of three sorted index arrays that are checked to be disjoint and to cover
``0 .. n-1`` exactly.

The scaffold split follows chemprop's *balanced* scaffold split (Yang et al., 2019,
"Analyzing learned molecular representations for property prediction"): molecules are
grouped by Bemis-Murcko scaffold; groups larger than half the validation or test size are
placed first (so they land in train), the rest follow in seeded random order, and each group
goes whole into the first part that still has room (else into test, as in chemprop).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold

PART_NAMES = ("train", "val", "test")
#: Accepted spellings of each part in a split column (compared lower-case, stripped).
SPLIT_LABELS = {
    "train": "train",
    "training": "train",
    "valid": "val",
    "val": "val",
    "validation": "val",
    "test": "test",
}


@dataclass(frozen=True)
class Split:
    """Indices of the train, validation and test parts of a data set of ``n`` records.

    Attributes:
        train: ``[n_train]`` int64 record indices, sorted.
        val: ``[n_val]`` int64 record indices, sorted.
        test: ``[n_test]`` int64 record indices, sorted.

    Raises:
        ValueError: the parts overlap or do not cover ``0 .. n-1`` with
            ``n = n_train + n_val + n_test``.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __post_init__(self) -> None:
        for name in PART_NAMES:
            array = np.sort(np.asarray(getattr(self, name), dtype=np.int64).reshape(-1))
            object.__setattr__(self, name, array)
        together = np.concatenate([self.train, self.val, self.test])
        total = len(together)
        if total == 0:
            return
        if together.min() < 0 or together.max() >= total:
            raise ValueError(
                f"split indices must lie in 0 .. {total - 1} (the number of records); "
                f"got values from {together.min()} to {together.max()}"
            )
        counts = np.bincount(together, minlength=total)
        if not np.all(counts == 1):
            repeated = np.flatnonzero(counts > 1)[:5].tolist()
            missing = np.flatnonzero(counts == 0)[:5].tolist()
            raise ValueError(
                "split parts must be disjoint and cover every record once; "
                f"repeated indices {repeated}, missing indices {missing} (first 5 shown)"
            )

    @property
    def n(self) -> int:
        """Number of records split."""
        return len(self.train) + len(self.val) + len(self.test)

    def sizes(self) -> dict[str, int]:
        """``{"train": n_train, "val": n_val, "test": n_test}``."""
        return {name: len(getattr(self, name)) for name in PART_NAMES}

    def labels(self) -> list[str]:
        """Per-record part name, ``[n]`` (inverse of :func:`fixed_split`)."""
        out = [""] * self.n
        for name in PART_NAMES:
            for index in getattr(self, name):
                out[index] = name
        return out


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions):
        raise ValueError(
            f"fractions must be three non-negative numbers (train, val, test); got {fractions}"
        )
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1; got {fractions} (sum {sum(fractions)})")
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def _part_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Integer part sizes: train and val rounded down, the rest to test."""
    n_train = math.floor(fractions[0] * n + 1e-9)
    n_val = min(math.floor(fractions[1] * n + 1e-9), n - n_train)
    return n_train, n_val, n - n_train - n_val


def random_split(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int) -> Split:
    """Shuffle ``0 .. n-1`` with ``seed`` and cut it into train / val / test.

    Args:
        n: number of records.
        fractions: (train, val, test) fractions summing to 1; train and val sizes are
            rounded down, test takes the remainder.
        seed: seed for ``numpy.random.default_rng``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    n_train, n_val, _ = _part_sizes(n, _check_fractions(fractions))
    order = np.random.default_rng(seed).permutation(n)
    return Split(order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])


def murcko_scaffold(smiles: str) -> str:
    """Bemis-Murcko scaffold SMILES without chirality (``""`` for acyclic molecules).

    Raises:
        ValueError: RDKit cannot parse ``smiles``.
    """
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"SMILES {smiles!r} could not be parsed")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_groups(smiles: Sequence[str]) -> list[list[int]]:
    """Indices grouped by scaffold, groups in order of first appearance.

    Raises:
        ValueError: a SMILES cannot be parsed (drop invalid molecules before splitting).
    """
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(smiles):
        try:
            scaffold = murcko_scaffold(text)
        except ValueError as error:
            raise ValueError(
                f"cannot compute the scaffold of record {index}: {error}; "
                "drop molecules that fail featurization before a scaffold split"
            ) from error
        groups.setdefault(scaffold, []).append(index)
    return list(groups.values())


def _balanced_assign(
    groups: list[list[int]],
    capacities: Sequence[float],
    rng: np.random.Generator,
    overflow: int,
) -> list[list[int]]:
    """Place whole groups into parts: big groups first, then small ones, each shuffled.

    A group is *big* if it is larger than half of any non-empty non-first part's capacity.
    Each group goes to the first part it fits into (``len + group <= capacity``); a group
    that fits nowhere goes to part ``overflow``.
    """
    later = [c for c in capacities[1:] if c > 0]
    threshold = min(later) / 2 if later else math.inf
    big = [g for g in groups if len(g) > threshold]
    small = [g for g in groups if len(g) <= threshold]
    ordered = [big[i] for i in rng.permutation(len(big))]
    ordered += [small[i] for i in rng.permutation(len(small))]
    parts: list[list[int]] = [[] for _ in capacities]
    for group in ordered:
        target = next(
            (i for i, cap in enumerate(capacities) if len(parts[i]) + len(group) <= cap),
            overflow,
        )
        parts[target].extend(group)
    return parts


def scaffold_split(
    smiles: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int
) -> Split:
    """Balanced Bemis-Murcko scaffold split (chemprop's ``scaffold_balanced``).

    Every scaffold's molecules end up in exactly one part. Part sizes only approximate
    ``fractions`` because scaffold groups are not cut.

    Args:
        smiles: ``[n]`` SMILES strings, all parsable by RDKit.
        fractions: target (train, val, test) fractions summing to 1.
        seed: seed for ``numpy.random.default_rng`` (group order).
    """
    fractions = _check_fractions(fractions)
    n = len(smiles)
    capacities = [f * n for f in fractions]
    rng = np.random.default_rng(seed)
    train, val, test = _balanced_assign(scaffold_groups(smiles), capacities, rng, overflow=2)
    return Split(*(np.array(part, dtype=np.int64) for part in (train, val, test)))


def fixed_split(labels: Sequence[str]) -> Split:
    """A split read from a column of part names.

    Args:
        labels: ``[n]`` values such as ``train``, ``valid``/``val``/``validation``, ``test``
            (case-insensitive).

    Raises:
        ValueError: a label is not a known part name.
    """
    parts: dict[str, list[int]] = {name: [] for name in PART_NAMES}
    for index, label in enumerate(labels):
        part = SPLIT_LABELS.get(str(label).strip().lower())
        if part is None:
            raise ValueError(
                f"split label {label!r} of record {index} is not one of {sorted(SPLIT_LABELS)}; "
                "fix the split column or use a random / scaffold split"
            )
        parts[part].append(index)
    return Split(*(np.array(parts[name], dtype=np.int64) for name in PART_NAMES))


def carve_validation(
    split: Split,
    val_fraction: float = 0.1,
    *,
    seed: int,
    method: str = "random",
    smiles: Sequence[str] | None = None,
) -> Split:
    """Move part of a fixed split's train set into validation; test is untouched.

    Use it for benchmarks that ship only train/test (MoleculeACE, the Huuskonen
    solubility set): model selection then never sees the test set.

    Args:
        split: the fixed split; any validation indices it already has are kept.
        val_fraction: fraction of the *train* part moved to validation, in [0, 1).
        seed: seed for ``numpy.random.default_rng``.
        method: ``"random"`` or ``"scaffold"`` (balanced scaffold, whole groups).
        smiles: ``[n]`` SMILES of all records (indexed like the split); required for
            ``method="scaffold"``.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}")
    train = split.train
    if method == "random":
        n_moved = round(val_fraction * len(train))
        order = np.random.default_rng(seed).permutation(len(train))
        keep, moved = train[order[n_moved:]], train[order[:n_moved]]
    elif method == "scaffold":
        if smiles is None or len(smiles) != split.n:
            raise ValueError(
                f"method='scaffold' needs the SMILES of all {split.n} records (smiles=...)"
            )
        capacities = [(1 - val_fraction) * len(train), val_fraction * len(train)]
        groups = [[int(train[i]) for i in g] for g in scaffold_groups([smiles[i] for i in train])]
        rng = np.random.default_rng(seed)
        keep_list, moved_list = _balanced_assign(groups, capacities, rng, overflow=0)
        keep, moved = np.array(keep_list, dtype=np.int64), np.array(moved_list, dtype=np.int64)
    else:
        raise ValueError(f"method must be 'random' or 'scaffold'; got {method!r}")
    return Split(keep, np.concatenate([split.val, moved]), split.test)
