"""Streaming molecule readers: CSV/TSV, SMI, SDF, gzip, stdin, bad rows and duplicate ids."""

from __future__ import annotations

import gzip
import io
import itertools
import math
import sys
from pathlib import Path

import pytest
from rdkit import Chem

from scisuite.core.records import BadRecord, InputFileError, Record
from scisuite.domains.molecule.readers import (
    READERS,
    iter_csv,
    read_csv,
    read_sdf,
    read_smi,
    reader_for,
    records_from_smiles,
)

EXAMPLE_CSV = Path(__file__).resolve().parents[3] / "data" / "molecules_example.csv"

# Real compounds; the numbers in column y only exercise parsing, they are not measurements.
TABLE = (
    "name,smiles,y\n"
    "aspirin,CC(=O)Oc1ccccc1C(=O)O,-1.72\n"  # line 2: good
    "blank label,CCO,\n"  # line 3: good, missing label -> nan
    "no structure,,0.5\n"  # line 4: empty SMILES
    "\n"  # line 5: blank line, not a record
    "bad number,c1ccccc1,high\n"  # line 6: non-numeric target
    "short row,CCN\n"  # line 7: too few fields
    "aspirin,CC(=O)O,1.0\n"  # line 8: duplicate id
    '"phenol, neat",Oc1ccccc1,0.0\n'  # line 9: quoted comma in the name
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_gz(path: Path, data: str | bytes) -> Path:
    raw = data.encode() if isinstance(data, str) else data
    with gzip.open(path, "wb") as handle:
        handle.write(raw)
    return path


def read_records(path, *args, **kwargs):
    """Read ``path`` with the reader its suffix maps to, as the API and training data do."""
    return reader_for(path)(path, *args, **kwargs)


def summary(items: list[Record | BadRecord]) -> list[tuple[str, str, int | None]]:
    return [(type(item).__name__, item.id, item.line) for item in items]


def test_csv_one_item_per_row_with_line_numbers_and_reasons(tmp_path: Path) -> None:
    items = list(read_records(write(tmp_path / "mols.csv", TABLE), target_columns=["y"]))
    assert summary(items) == [
        ("Record", "aspirin", 2),
        ("Record", "blank label", 3),
        ("BadRecord", "no structure", 4),
        ("BadRecord", "bad number", 6),
        ("BadRecord", "short row", 7),
        ("BadRecord", "aspirin", 8),
        ("Record", "phenol, neat", 9),
    ]
    good = {item.id: item for item in items if isinstance(item, Record)}
    assert good["aspirin"].payload == {
        "smiles": "CC(=O)Oc1ccccc1C(=O)O",
        "targets": {"y": -1.72},
        "name": "aspirin",
    }
    assert math.isnan(good["blank label"].payload["targets"]["y"])
    assert good["aspirin"].source == "mols.csv"
    reasons = {item.line: item.reason for item in items if isinstance(item, BadRecord)}
    assert "empty SMILES" in reasons[4]
    assert "'high', not a number" in reasons[6]
    assert "expected 3 fields" in reasons[7] and "found 2" in reasons[7]
    assert reasons[8] == "duplicate id 'aspirin' (first seen on line 2)"
    bad_number = next(item for item in items if item.line == 6)
    assert bad_number.fields == {"name": "bad number", "smiles": "c1ccccc1", "y": "high"}


def test_csv_without_id_column_uses_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.csv", "smiles\nCCO\nCCO\n\nc1ccccc1\n")
    items = list(read_records(path))
    assert [item.id for item in items] == ["plain.csv:2", "plain.csv:3", "plain.csv:5"]
    assert all(isinstance(item, Record) for item in items)
    assert items[0].payload == {"smiles": "CCO", "targets": {}}


def test_csv_detects_smiles_column_by_parsing(tmp_path: Path) -> None:
    text = "compound,structure,mw\nethanol,CCO,46.07\nbenzene,c1ccccc1,78.11\nurea,NC(N)=O,60.06\n"
    items = list(read_records(write(tmp_path / "x.csv", text)))
    assert [item.payload["smiles"] for item in items] == ["CCO", "c1ccccc1", "NC(N)=O"]
    assert [item.id for item in items] == ["x.csv:2", "x.csv:3", "x.csv:4"]


def test_csv_explicit_columns_and_missing_column_error(tmp_path: Path) -> None:
    text = "Compound_ID,SMI_in,pIC50\nc1,CCO,5.1\nc2,CCN,6\n"
    path = write(tmp_path / "explicit.csv", text)
    items = list(read_records(path, "SMI_in", ["pIC50"], "Compound_ID"))
    assert [(item.id, item.payload["targets"]["pIC50"]) for item in items] == [
        ("c1", 5.1),
        ("c2", 6.0),
    ]
    with pytest.raises(ValueError, match=r"target column 'logS' is not in the header.*pIC50"):
        list(read_records(path, "SMI_in", ["logS"]))


def test_csv_without_any_smiles_column_says_what_to_pass(tmp_path: Path) -> None:
    path = write(tmp_path / "names.csv", "name,mw\nethanol,46.07\nbenzene,78.11\n")
    with pytest.raises(ValueError, match="smiles_column"):
        list(read_records(path))


def test_tsv_by_suffix_and_gzip_give_the_same_records(tmp_path: Path) -> None:
    tsv = TABLE.replace(",", "\t").replace('"phenol\t neat"', "phenol neat")
    plain = list(read_records(write(tmp_path / "mols.tsv", tsv), target_columns=["y"]))
    zipped = list(read_records(write_gz(tmp_path / "mols.tsv.gz", tsv), target_columns=["y"]))
    assert len(plain) == 7
    assert summary(plain) == summary(zipped)
    assert [i.payload for i in plain if isinstance(i, Record)][0]["targets"] == {"y": -1.72}


@pytest.mark.parametrize("delimiter", ["\t", ";", ","])
def test_stdin_table_sniffs_the_delimiter(monkeypatch: pytest.MonkeyPatch, delimiter: str) -> None:
    text = f"id{delimiter}smiles{delimiter}y\nm1{delimiter}CCO{delimiter}1.5\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    (item,) = list(read_csv("-", target_columns=["y"]))
    assert isinstance(item, Record)
    assert (item.id, item.payload["smiles"], item.source) == ("m1", "CCO", "<stdin>")
    assert item.payload["targets"] == {"y": 1.5}


def test_csv_reader_streams_instead_of_loading_everything() -> None:
    def lines():
        yield "smiles\n"
        for _ in range(30):
            yield "CCO\n"
        raise AssertionError("the reader read past the rows it was asked for")

    first = list(itertools.islice(iter_csv(lines(), "gen"), 3))
    assert [item.id for item in first] == ["gen:2", "gen:3", "gen:4"]


def test_smi_comments_header_names_and_auto_ids(tmp_path: Path) -> None:
    text = (
        "SMILES Name\n"  # header, skipped
        "# a comment\n"
        "CCO ethanol\n"
        "c1ccccc1\tbenzene ring\n"
        "CC(=O)O\n"
        "\n"
        "CCN ethanol\n"  # duplicate id
    )
    items = list(read_records(write(tmp_path / "mols.smi", text)))
    assert summary(items) == [
        ("Record", "ethanol", 3),
        ("Record", "benzene ring", 4),
        ("Record", "mols.smi:5", 5),
        ("BadRecord", "ethanol", 7),
    ]
    assert items[1].payload == {"smiles": "c1ccccc1", "targets": {}, "name": "benzene ring"}
    assert items[3].reason == "duplicate id 'ethanol' (first seen on line 3)"
    with pytest.raises(ValueError, match="no target columns"):
        list(read_records(tmp_path / "mols.smi", target_columns=["y"]))


def test_smi_from_stdin_gzipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("CCO a\nCCC b\n"))
    assert [item.id for item in read_smi("-")] == ["a", "b"]
    path = write_gz(tmp_path / "mols.smi.gz", "CCO a\nCCC b\n")
    assert [item.payload["smiles"] for item in read_records(path)] == ["CCO", "CCC"]


BROKEN_BLOCK = (
    "broken\n  hand-made\n\n"
    "  2  1  0  0  0  0            999 V2000\n"  # declares 2 atoms, gives none
    "M  END\n$$$$\n"
)


def sd_text(rows: list[tuple[str, str, dict[str, str]]]) -> str:
    stream = io.StringIO()
    writer = Chem.SDWriter(stream)
    for smiles, title, props in rows:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", title)
        for key, value in props.items():
            mol.SetProp(key, value)
        writer.write(mol)
    writer.close()
    return stream.getvalue()


SD_ROWS = [
    ("CCO", "ethanol", {"SOL": "1.10", "ID": "7"}),
    ("C[C@H](N)C(=O)O", "L-alanine", {"SOL": "0.27", "ID": "8"}),
    ("c1ccccc1", "benzene", {"ID": "9"}),  # no SOL: missing label
]


def sd_file_text() -> str:
    first, rest = SD_ROWS[0], SD_ROWS[1:]
    return sd_text([first]) + BROKEN_BLOCK + sd_text(rest) + sd_text([("CCC", "ethanol", {})])


def test_sdf_records_bad_block_and_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path / "mols.sdf", sd_file_text())
    items = list(read_records(path, target_columns=["SOL"]))
    assert summary(items) == [
        ("Record", "ethanol", 1),
        ("BadRecord", "mols.sdf:2", 2),
        ("Record", "L-alanine", 3),
        ("Record", "benzene", 4),
        ("BadRecord", "ethanol", 5),
    ]
    assert items[1].reason.startswith(
        "SD record 2 (lines 18-23) is incomplete: line 22 should be atom 1 of its 2 atoms"
    )
    assert items[4].reason == "duplicate id 'ethanol' (first seen on record 1)"
    alanine = items[2].payload
    assert alanine["smiles"] == "C[C@H](N)C(=O)O"  # stereo read from the wedge survives
    assert alanine["targets"] == {"SOL": 0.27}
    assert alanine["name"] == "L-alanine"
    assert math.isnan(items[3].payload["targets"]["SOL"])


def test_sdf_gzip_id_property_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = sd_text(SD_ROWS).encode()
    path = write_gz(tmp_path / "mols.sdf.gz", raw)
    items = list(read_records(path, target_columns=["SOL"], id_column="ID"))
    assert [item.id for item in items] == ["7", "8", "9"]
    assert items[0].payload["targets"] == {"SOL": 1.10}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(raw))))
    piped = list(read_sdf("-"))
    assert [(item.id, item.source) for item in piped][0] == ("ethanol", "<stdin>")
    assert [item.payload["smiles"] for item in piped] == [item.payload["smiles"] for item in items]


def test_sdf_non_numeric_property_is_a_bad_record(tmp_path: Path) -> None:
    path = write(tmp_path / "m.sdf", sd_text([("CCO", "ethanol", {"SOL": "soluble"})]))
    (item,) = list(read_records(path, target_columns=["SOL"]))
    assert isinstance(item, BadRecord)
    assert item.line == 1 and "'soluble', not a number" in item.reason


def test_dispatch_table_and_unknown_suffix(tmp_path: Path) -> None:
    assert {".csv", ".tsv", ".sdf", ".smi"} <= set(READERS)
    assert READERS[".tab"] is read_csv and READERS[".sd"] is read_sdf
    assert READERS[".smiles"] is read_smi and "" not in READERS
    assert reader_for("-") is read_csv and reader_for(tmp_path / "m.SDF.gz") is read_sdf
    with pytest.raises(ValueError, match=r"unknown molecule file suffix '\.xyz'"):
        reader_for(write(tmp_path / "m.xyz", "CCO\n"))
    with pytest.raises(ValueError, match=r"unknown molecule file suffix ''"):
        reader_for(write(tmp_path / "mols", "smiles\nCCO\n"))


def test_records_from_smiles() -> None:
    items = list(records_from_smiles(["CCO", "", "c1ccccc1"]))
    assert summary(items) == [("Record", "0", 1), ("BadRecord", "1", 2), ("Record", "2", 3)]
    assert items[0].payload == {"smiles": "CCO", "targets": {}}
    named = list(records_from_smiles(["CCO", "CCN"], ids=["a", "a"]))
    assert isinstance(named[1], BadRecord) and "duplicate id 'a'" in named[1].reason
    with pytest.raises(ValueError):
        list(records_from_smiles(["CCO", "CCN"], ids=["only one"]))


def test_example_file_reads_one_item_per_row() -> None:
    items = list(read_records(EXAMPLE_CSV))
    data_rows = len(EXAMPLE_CSV.read_text(encoding="utf-8").strip().splitlines()) - 1
    assert len(items) == data_rows == 22
    bad = [item for item in items if isinstance(item, BadRecord)]
    assert [(item.id, item.line) for item in bad] == [("empty SMILES", 23)]
    by_id = {item.id: item for item in items}
    # chemistry is the featurizer's job: the reader passes these through unchanged
    assert by_id["sodium acetate"].payload["smiles"] == "CC(=O)[O-].[Na+]"
    assert by_id["unclosed ring (invalid SMILES)"].payload["smiles"] == "C1CC(C"


# --------------------------------------------------------------------------- #16 findings


def test_truncated_sd_record_does_not_swallow_the_next(tmp_path: Path) -> None:
    # RDKit's supplier read a record cut in its atom block on to the next '$$$$' and lost
    # the following record: 4 records in, 3 out (#16 finding 2).
    rows = [("CCO", "m1", {}), ("c1ccccc1", "m2", {}), ("CC(=O)O", "m3", {}), ("CCN", "m4", {})]
    blocks = [sd_text([row]) for row in rows]
    cut = "".join(blocks[1].splitlines(keepends=True)[:7])  # header, counts, 3 of 6 atoms
    no_terminator = blocks[2].replace("$$$$\n", "")  # complete, only its '$$$$' is missing
    path = write(tmp_path / "t.sdf", blocks[0] + cut + no_terminator + blocks[3])
    items = list(read_sdf(path))
    assert summary(items) == [
        ("Record", "m1", 1),
        ("BadRecord", "t.sdf:2", 2),
        ("Record", "m3", 3),
        ("Record", "m4", 4),
    ]
    assert "SD record 2 (lines 12-18) is incomplete: line 19 should be atom 4" in items[1].reason
    tail = write(tmp_path / "tail.sdf", blocks[0] + cut)
    assert summary(list(read_sdf(tail))) == [("Record", "m1", 1), ("BadRecord", "tail.sdf:2", 2)]


def test_blank_lines_between_sd_records_are_layout(tmp_path: Path) -> None:
    text = sd_text([("CCO", "a", {})]) + "\n\n" + sd_text([("CCN", "b", {})]) + "\n\n"
    assert [item.id for item in read_sdf(write(tmp_path / "b.sdf", text))] == ["a", "b"]


def test_sd_property_that_is_not_utf8_refuses_its_record(tmp_path: Path) -> None:
    text = sd_text([("CCO", "a", {"NOTE": "caf@"}), ("CCN", "b", {})]).encode()
    path = tmp_path / "l.sdf"
    path.write_bytes(text.replace(b"caf@", b"caf\xe9"))
    items = list(read_sdf(path))
    assert summary(items) == [("BadRecord", "l.sdf:1", 1), ("Record", "b", 2)]
    assert "holds byte 0xE9, which is not UTF-8" in items[0].reason


def _damage(data: bytes, how: str) -> bytes:
    if how == "truncated":
        return data[: len(data) // 2]
    return data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]  # wrong CRC


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
def test_damaged_gzip_table_keeps_the_rows_before_the_damage(tmp_path: Path, how: str) -> None:
    text = "id,smiles\n" + "".join(f"m{i},CCO\n" for i in range(5000))
    path = tmp_path / "m.csv.gz"
    path.write_bytes(_damage(gzip.compress(text.encode()), how))
    items = list(read_csv(path))
    good = [item for item in items if isinstance(item, Record)]
    assert [item.id for item in good] == [f"m{i}" for i in range(len(good))]
    assert len(good) > (2000 if how == "truncated" else 4900)
    (last,) = [item for item in items if isinstance(item, BadRecord)]
    assert last is items[-1] and last.id == f"m.csv.gz:{len(good) + 2}"
    assert "the input is damaged" in last.reason and "reading stopped at line" in last.reason


def test_damaged_gzip_on_stdin_and_sdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = "id,smiles\n" + "".join(f"m{i},CCO\n" for i in range(3000))
    raw = _damage(gzip.compress(table.encode()), "truncated")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    items = list(read_csv("-"))
    assert isinstance(items[-1], BadRecord) and items[-1].source == "<stdin>"
    assert all(isinstance(item, Record) for item in items[:-1]) and len(items) > 1000
    sdf = sd_text([(s, f"m{i}", {}) for i, s in enumerate(["CCO", "CCN", "CCC"] * 30)])
    path = tmp_path / "m.sdf.gz"
    path.write_bytes(_damage(gzip.compress(sdf.encode()), "truncated"))
    items = list(read_sdf(path))
    assert [item.id for item in items[:-1]] == [f"m{i}" for i in range(len(items) - 1)]
    assert items[-1].id == f"m.sdf.gz:{len(items)}" and "is incomplete" in items[-1].reason


def test_one_latin1_byte_refuses_its_row_only(tmp_path: Path) -> None:
    # Until #16 one Latin-1 byte on row 1,501 stopped the read with a UnicodeDecodeError
    # naming neither the file nor the line, and all 2,001 rows were lost.
    lines = [f"m{i},CCO,name {i}\n".encode() for i in range(2001)]
    lines[1499] = "m1499,CCO,caf\u00e9\n".encode("latin-1")  # row 1,500 = line 1,501
    path = tmp_path / "export.csv"
    path.write_bytes(b"id,smiles,name\n" + b"".join(lines))
    items = list(read_csv(path))
    assert len(items) == 2001 and [item.id for item in items][1499] == "m1499"
    bad = [item for item in items if isinstance(item, BadRecord)]
    assert [(item.id, item.line) for item in bad] == [("m1499", 1501)]
    assert bad[0].reason.startswith("column 'name': byte 0xE9 at character 4 is not UTF-8")
    assert bad[0].fields["name"] == "caf\ufffd"


def test_utf16_table_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("id,smiles\r\na,CCO\r\nb,CCN\r\n".encode("utf-16"))
    assert [(i.id, i.payload["smiles"]) for i in read_csv(path)] == [("a", "CCO"), ("b", "CCN")]


def test_unmatched_quote_refuses_its_line_only(tmp_path: Path) -> None:
    # csv.reader read on to the next quote: the rows after a stray '"' became one value.
    text = 'id,smiles\na,CCO\nb,"CCN\nc,CCC\nd,"C,C"\n'
    items = list(read_csv(write(tmp_path / "q.csv", text)))
    assert summary(items) == [
        ("Record", "a", 2),
        ("BadRecord", "q.csv:3", 3),
        ("Record", "c", 4),
        ("Record", "d", 5),
    ]
    assert "a quoted value is not closed on this line" in items[1].reason


@pytest.mark.parametrize("column", [None, "CCO"])
def test_bare_smiles_on_stdin_keep_the_first_molecule(
    monkeypatch: pytest.MonkeyPatch, column: str | None
) -> None:
    # `printf 'CCO\nc1ccccc1\n' | sci predict -` took CCO as the header, with or without the
    # suggested --smiles-column CCO, and lost the first molecule.
    monkeypatch.setattr(sys, "stdin", io.StringIO("CCO\nc1ccccc1\nCC(=O)O ethanoic acid\n"))
    items = list(read_csv("-", smiles_column=column))
    assert [(i.id, i.payload["smiles"]) for i in items] == [
        ("<stdin>:1", "CCO"),
        ("<stdin>:2", "c1ccccc1"),
        ("ethanoic acid", "CC(=O)O"),
    ]


def test_one_column_table_with_a_header_is_still_a_table(tmp_path: Path) -> None:
    items = list(read_csv(write(tmp_path / "s.csv", "SMILES\nCCO\nCCN\n")))
    assert [i.id for i in items] == ["s.csv:2", "s.csv:3"]


def test_records_from_smiles_refuses_a_file_name() -> None:
    items = list(records_from_smiles(["mols.csv", "CCO", "x.sdf.gz"]))
    assert [type(i).__name__ for i in items] == ["BadRecord", "Record", "BadRecord"]
    assert "looks like a molecule file name, not a SMILES" in items[0].reason


def test_directory_and_binary_inputs_are_typed_errors(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(InputFileError, match="is a directory"):
        list(read_csv(tmp_path / "d.csv"))
    (tmp_path / "b.smi").write_bytes(b"CCO\x00\x01\x02")
    with pytest.raises(InputFileError, match="is binary data"):
        list(read_smi(tmp_path / "b.smi"))


def test_bytes_that_are_not_utf8_in_the_sniffed_sample_do_not_reach_rdkit(tmp_path: Path) -> None:
    # Found by tests/fuzz: RDKit raised UnicodeEncodeError on an escaped byte while the SMILES
    # column was being detected, and on a lone surrogate from Python.
    path = tmp_path / "s.csv"
    path.write_bytes(b"a,b\n\x80,CCO\nx,CCN\n")
    items = list(read_csv(path))
    assert [type(i).__name__ for i in items] == ["BadRecord", "Record"]
    assert items[1].payload["smiles"] == "CCN"
    (item,) = list(records_from_smiles(["C\ud800C"]))
    assert isinstance(item, BadRecord) and "lone surrogate" in item.reason
