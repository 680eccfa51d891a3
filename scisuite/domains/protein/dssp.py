"""Secondary structure (DSSP) of a protein chain from its backbone coordinates.

Two tools:

- **3-state, always**: PyPI ``pydssp`` (pure numpy; Kabsch & Sander's electrostatic H-bond
  energy, H atoms placed from the preceding residue's C=O). Residues that cannot donate an
  H-bond are masked as donors: prolines, the first residue, and residues after a chain
  break (C(i-1)-N(i) > :data:`PEPTIDE_BOND_MAX` Å). On the 50 reference chains shipped in
  MDAnalysisTests ``data/dssp/`` this agrees with the reference 3-state strings on 100% of
  the residues (99.7% without the donor mask); see :func:`reference_agreement`.
- **8-state, when the Debian ``dssp`` binary ``mkdssp`` is on PATH** (``apt-get install
  dssp``; tested with mkdssp 4.2.2): run on a clean temporary PDB written from the backbone
  (a HEADER line, CRYST1, ATOM records with chain id ``A`` and residues numbered 1..n, TER,
  END; no REMARKs), because mkdssp rejects non-ISO REMARK dates, blank chain ids and
  files without a HEADER. The classic output column is read back by residue number.

Labels per residue, one character each:

- 3-state ``H`` (helix), ``E`` (strand), ``C`` (coil);
- 8-state ``H`` alpha helix, ``G`` 3-10 helix, ``I`` pi helix, ``E`` strand, ``B`` isolated
  bridge, ``T`` turn, ``S`` bend, ``C`` coil (DSSP's blank). DSSP 4's polyproline-II ``P``
  is written as ``C`` to keep the standard eight classes;
- :data:`UNLABELLED` ``?`` for a residue that was not assigned (incomplete backbone, or
  skipped by mkdssp): mask it in losses and metrics.

8 -> 3 reduction (:func:`reduce_8_to_3`), the standard one: H, G, I -> H; E, B -> E; rest
C. On the reference chains, mkdssp reduced this way agrees with the reference strings on
about 97% of residues.

Each chain is assigned on its own coordinates (not in the context of its complex), so a
strand paired only with another chain is coil here; labels depend on the chain alone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scisuite.core.sources import PackageSpec, open_package
from scisuite.domains.protein.structures import (
    BACKBONE_ATOMS,
    MDANALYSISTESTS,
    extract_chains,
    parse_structure,
)

#: 3-state alphabet.
DSSP3_STATES = "HEC"
#: 8-state alphabet.
DSSP8_STATES = "HGIEBTSC"
#: Label of a residue without an assignment.
UNLABELLED = "?"
#: The standard 8 -> 3 reduction (unlabelled stays unlabelled).
REDUCE_8_TO_3: dict[str, str] = {
    "H": "H",
    "G": "H",
    "I": "H",
    "E": "E",
    "B": "E",
    "T": "C",
    "S": "C",
    "C": "C",
    UNLABELLED: UNLABELLED,
}
#: Longest C(i-1)-N(i) distance in Å still taken as a peptide bond (else a chain break).
PEPTIDE_BOND_MAX = 2.5
#: Reference chains with known 3-state strings, in MDAnalysisTests.
REFERENCE_FOLDER = "MDAnalysisTests/data/dssp"
MKDSSP_TIMEOUT_S = 300

_PYDSSP_LETTERS = {"H": "H", "E": "E", "-": "C"}
_MKDSSP_LETTERS = {" ": "C", "P": "C", **{s: s for s in DSSP8_STATES}}
_THREE_LETTER = {
    "A": "ALA",
    "C": "CYS",
    "D": "ASP",
    "E": "GLU",
    "F": "PHE",
    "G": "GLY",
    "H": "HIS",
    "I": "ILE",
    "K": "LYS",
    "L": "LEU",
    "M": "MET",
    "N": "ASN",
    "P": "PRO",
    "Q": "GLN",
    "R": "ARG",
    "S": "SER",
    "T": "THR",
    "V": "VAL",
    "W": "TRP",
    "Y": "TYR",
}


class DSSPError(RuntimeError):
    """A DSSP tool failed on a chain; the message says what happened and what to do."""


def _check_backbone(backbone: np.ndarray, sequence: str) -> np.ndarray:
    backbone = np.asarray(backbone, dtype=np.float64)
    if backbone.shape != (len(sequence), len(BACKBONE_ATOMS), 3):
        raise ValueError(
            f"backbone must have shape [L, 4, 3] with L = len(sequence) = {len(sequence)}; "
            f"got {backbone.shape}"
        )
    return backbone


def donor_mask(backbone: np.ndarray, sequence: str) -> np.ndarray:
    """``[L]`` bool: residue i can donate a backbone N-H hydrogen bond.

    False for prolines, the first residue, and a residue whose N is more than
    :data:`PEPTIDE_BOND_MAX` Å from the previous residue's C (a chain break), because the
    H atom is placed from the previous peptide bond. ``backbone``: ``[L, 4, 3]`` in Å, all
    atoms present.
    """
    mask = np.array([letter != "P" for letter in sequence], dtype=bool)
    if len(mask):
        mask[0] = False
        gaps = np.linalg.norm(backbone[1:, 0] - backbone[:-1, 2], axis=-1)
        mask[1:] &= gaps <= PEPTIDE_BOND_MAX
    return mask


def assign_dssp3(backbone: np.ndarray, sequence: str) -> str:
    """3-state DSSP with pydssp.

    Args:
        backbone: ``[L, 4, 3]`` coordinates of N, CA, C, O in Å; NaN where missing.
        sequence: ``[L]`` one-letter codes (prolines are masked as H-bond donors).

    Returns:
        ``[L]`` string over ``HEC``, :data:`UNLABELLED` where the backbone is incomplete.
    """
    import pydssp

    backbone = _check_backbone(backbone, sequence)
    complete = ~np.isnan(backbone).any(axis=(1, 2))
    labels = np.full(len(sequence), UNLABELLED)
    kept = backbone[complete]
    if len(kept) >= 3:
        seq = "".join(np.array(list(sequence))[complete])
        states = pydssp.assign(kept, donor_mask=donor_mask(kept, seq), out_type="c3")
        labels[complete] = [_PYDSSP_LETTERS[s] for s in states]
    elif len(kept):
        labels[complete] = "C"
    return "".join(labels)


def find_mkdssp() -> str | None:
    """Path of the ``mkdssp`` executable on PATH, or ``None``."""
    return shutil.which("mkdssp")


def tool_versions(mkdssp: str | None = None) -> dict[str, str | None]:
    """Versions of the DSSP tools: ``{"pydssp": "0.9.1", "mkdssp": "4.2.2" or None}``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pydssp_version: str | None = version("pydssp")
    except PackageNotFoundError:
        pydssp_version = None
    mkdssp = mkdssp or find_mkdssp()
    mkdssp_version = None
    if mkdssp is not None:
        result = subprocess.run(
            [mkdssp, "--version"], capture_output=True, text=True, check=False, timeout=60
        )
        match = re.search(r"(\d+\.\d+(\.\d+)?)", result.stdout + result.stderr)
        mkdssp_version = match.group(1) if match else None
    return {"pydssp": pydssp_version, "mkdssp": mkdssp_version}


def clean_pdb_text(backbone: np.ndarray, sequence: str) -> tuple[str, list[int]]:
    """A minimal PDB that mkdssp accepts, holding the complete-backbone residues.

    Returns:
        ``(text, indices)``: the file text (HEADER, CRYST1, ATOM N/CA/C/O with chain ``A``
        and residue numbers 1..n, TER, END) and the 0-based index in ``sequence`` of each
        written residue (residue number k is ``indices[k - 1]``). ``X`` is written ``UNK``.
    """
    backbone = _check_backbone(backbone, sequence)
    complete = ~np.isnan(backbone).any(axis=(1, 2))
    lines = [
        f"{'HEADER    PROTEIN':<50}01-JAN-00   XXXX",
        "CRYST1    1.000    1.000    1.000  90.00  90.00  90.00 P 1           1",
    ]
    indices: list[int] = []
    serial = 0
    for index in np.flatnonzero(complete):
        indices.append(int(index))
        resname = _THREE_LETTER.get(sequence[index], "UNK")
        for atom, (x, y, z) in zip(BACKBONE_ATOMS, backbone[index], strict=True):
            serial += 1
            lines.append(
                f"ATOM  {serial:5d}  {atom:<3s} {resname} A{len(indices):4d}    "
                f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {atom[0]:>2s}"
            )
    lines += [
        f"TER   {serial + 1:5d}      {resname if indices else 'UNK'} A{len(indices):4d}",
        "END",
    ]
    return "\n".join(lines) + "\n", indices


def parse_classic_dssp(text: str) -> dict[int, str]:
    """Residue number -> raw DSSP letter (``" "`` for none) from mkdssp's classic output."""
    states: dict[int, str] = {}
    in_table = False
    for line in text.splitlines():
        if line.startswith("  #  RESIDUE"):
            in_table = True
            continue
        if not in_table or len(line) < 17 or line[13] == "!":
            continue
        states[int(line[5:10])] = line[16]
    return states


def assign_dssp8(backbone: np.ndarray, sequence: str, mkdssp: str | None = None) -> str:
    """8-state DSSP with mkdssp.

    Args:
        backbone: ``[L, 4, 3]`` coordinates of N, CA, C, O in Å; NaN where missing.
        sequence: ``[L]`` one-letter codes.
        mkdssp: path of the executable (default: found on PATH).

    Returns:
        ``[L]`` string over ``HGIEBTSC``, :data:`UNLABELLED` for residues mkdssp did not
        assign (incomplete backbone).

    Raises:
        DSSPError: mkdssp is not installed, or failed on this chain.
    """
    mkdssp = mkdssp or find_mkdssp()
    if mkdssp is None:
        raise DSSPError(
            "mkdssp is not on PATH; install it (Debian/Ubuntu: apt-get install dssp) or use "
            "the 3-state assign_dssp3"
        )
    text, indices = clean_pdb_text(backbone, sequence)
    labels = [UNLABELLED] * len(sequence)
    if len(indices) < 3:
        return "".join(labels)
    with tempfile.TemporaryDirectory(prefix="scisuite-dssp-") as tmp:
        pdb = Path(tmp) / "chain.pdb"
        out = Path(tmp) / "chain.dssp"
        pdb.write_text(text, encoding="ascii")
        result = subprocess.run(
            [mkdssp, "--output-format", "dssp", str(pdb), str(out)],
            capture_output=True,
            text=True,
            check=False,
            timeout=MKDSSP_TIMEOUT_S,
        )
        if result.returncode != 0 or not out.exists():
            message = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DSSPError(
                f"mkdssp exited with status {result.returncode} ({message[0][:300]}); check "
                "the installation with 'mkdssp --version' or run without 8-state labels"
            )
        states = parse_classic_dssp(out.read_text(encoding="utf-8", errors="replace"))
    for number, raw in states.items():
        if 1 <= number <= len(indices):
            labels[indices[number - 1]] = _MKDSSP_LETTERS.get(raw, "C")
    return "".join(labels)


def reduce_8_to_3(dssp8: str) -> str:
    """The standard reduction: H, G, I -> H; E, B -> E; T, S, C -> C; ``?`` stays ``?``.

    Raises:
        ValueError: a letter outside ``HGIEBTSC?``.
    """
    try:
        return "".join(REDUCE_8_TO_3[state] for state in dssp8)
    except KeyError as error:
        raise ValueError(
            f"{error.args[0]!r} is not an 8-state DSSP letter ({DSSP8_STATES}{UNLABELLED})"
        ) from None


def agreement(predicted: str, reference: str) -> tuple[int, int]:
    """``(matching, compared)`` over positions where both strings carry a label.

    Raises:
        ValueError: the strings differ in length.
    """
    if len(predicted) != len(reference):
        raise ValueError(f"lengths differ: {len(predicted)} vs {len(reference)}")
    pairs = [(a, b) for a, b in zip(predicted, reference, strict=True) if UNLABELLED not in (a, b)]
    return sum(a == b for a, b in pairs), len(pairs)


def read_reference_string(text: str) -> str:
    """The 3-state string of an MDAnalysisTests ``*.pdb.dssp`` file (``-`` coil -> ``C``)."""
    words = text.split()
    if not words:
        raise ValueError("empty DSSP reference file")
    return "".join({"-": "C"}.get(s, s) for s in words[0])


def reference_agreement(
    cache_dir: Path | None = None,
    source_dir: Path | None = None,
    mkdssp: str | None = None,
    spec: PackageSpec = MDANALYSISTESTS,
    folder: str = REFERENCE_FOLDER,
) -> dict[str, Any]:
    """Agreement of our 3-state labels with the reference strings shipped in MDAnalysisTests.

    Every ``<name>.pdb.gz`` in ``folder`` that has a ``<name>.pdb.dssp`` partner is read
    (the first chain of model 1, every residue with a complete backbone, as the references
    were made); pydssp (and mkdssp reduced 8 -> 3, when available) are compared residue by
    residue with the reference.

    Returns:
        ``{"chains", "residues", "pydssp": fraction, "mkdssp_reduced": fraction or None,
        "member_sha256": {member: sha256}, "skipped": {member: reason}}``.
    """
    mkdssp = mkdssp if mkdssp is not None else find_mkdssp()
    totals = {"pydssp": [0, 0], "mkdssp": [0, 0]}
    checksums: dict[str, str] = {}
    skipped: dict[str, str] = {}
    with open_package(spec, cache_dir, source_dir, sdist=True) as archive:
        members = set(archive.members(f"{folder}/*"))
        pairs = sorted(
            (m, m.removesuffix(".gz") + ".dssp")
            for m in members
            if m.endswith(".pdb.gz") and m.removesuffix(".gz") + ".dssp" in members
        )
        for structure_member, reference_member in pairs:
            # members in archive order: a backward seek in a .tar.gz re-reads from the start
            first, second = sorted((structure_member, reference_member))
            read = {first: archive.read(first), second: archive.read(second)}
            data, provenance = read[structure_member]
            reference_bytes, reference_provenance = read[reference_member]
            checksums[structure_member] = provenance.sha256
            checksums[reference_member] = reference_provenance.sha256
            chains, _ = extract_chains(
                parse_structure(data, structure_member),
                structure_member,
                provenance,
                min_residues=1,
                min_backbone_fraction=0.0,
            )
            reference = read_reference_string(reference_bytes.decode("utf-8"))
            if not chains:
                skipped[structure_member] = "no protein chain"
                continue
            chain = chains[0]
            complete = chain.complete
            if int(complete.sum()) != len(reference):
                skipped[structure_member] = (
                    f"{int(complete.sum())} complete residues vs {len(reference)} reference labels"
                )
                continue
            _accumulate(
                totals["pydssp"], assign_dssp3(chain.backbone, chain.sequence), complete, reference
            )
            if mkdssp is not None:
                dssp3 = reduce_8_to_3(assign_dssp8(chain.backbone, chain.sequence, mkdssp))
                _accumulate(totals["mkdssp"], dssp3, complete, reference)
    chains_compared = len(pairs) - len(skipped)
    return {
        "chains": chains_compared,
        "residues": totals["pydssp"][1],
        "pydssp": _fraction(totals["pydssp"]),
        "mkdssp_reduced": _fraction(totals["mkdssp"]) if mkdssp is not None else None,
        "member_sha256": checksums,
        "skipped": skipped,
    }


def _accumulate(total: list[int], labels: str, complete: np.ndarray, reference: str) -> None:
    kept = "".join(np.array(list(labels))[complete])
    matching, compared = agreement(kept, reference)
    total[0] += matching
    total[1] += compared


def _fraction(total: Sequence[int]) -> float | None:
    return total[0] / total[1] if total[1] else None
