"""FASTA reader and residue policy: one test per policy row, and the file-level rules.

Sequences are real: human ubiquitin (UniProt P0CG48, residues 1-40) and the first
residues of entries of Debian ``mmseqs2-examples`` ``DB.fasta.gz``.
"""

from __future__ import annotations

import gzip
import io
import sys

import pytest

from scisuite.core.records import BadRecord, InputFileError, Record, RecordError
from scisuite.domains.protein.fasta import (
    READERS,
    SEQUENCE_ALPHABET,
    iter_fasta,
    normalise_sequence,
    read_fasta,
    records_from_sequences,
)

UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQ"
MULTI_FASTA = (
    ">sp|P0CG48|UBC_HUMAN Polyubiquitin-C OS=Homo sapiens\n"
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKI\n"
    "QDKEGIPPDQ\n"
    ">tr|M4KW32|M4KW32_BACIU Choline ABC transporter OS=Bacillus subtilis\n"
    "MLTLENVSKTYKGGKKAVNNVNLKIAKGEF\n"
)


def _read(text: str) -> list[Record | BadRecord]:
    return list(iter_fasta(io.StringIO(text), "test.fasta"))


# --------------------------------------------------------------------------- policy rows


def test_clean_sequence_passes_unchanged() -> None:
    assert normalise_sequence(UBIQUITIN) == (UBIQUITIN, "")


def test_whitespace_is_layout_and_removed_silently() -> None:
    sequence, notes = normalise_sequence("MQIFV KTLTG\tKTITL\r\nEVEPS\n")
    assert sequence == "MQIFVKTLTGKTITLEVEPS"
    assert notes == ""


def test_lower_case_is_upper_cased_with_a_note() -> None:
    sequence, notes = normalise_sequence("MQIFvktltg")
    assert sequence == "MQIFVKTLTG"
    assert notes == "upper-cased 6 lower-case letter(s)"


def test_digits_are_removed_with_a_note() -> None:
    sequence, notes = normalise_sequence("1 mqifvktltg 11 ktitleveps")
    assert sequence == "MQIFVKTLTGKTITLEVEPS"
    assert "removed 3 digit(s) (line numbering)" in notes


@pytest.mark.parametrize("gapped", ["MQIF--VKTL", "MQIF..VKTL", "-MQIF.-VKTL"])
def test_gaps_are_removed_with_a_note(gapped: str) -> None:
    sequence, notes = normalise_sequence(gapped)
    assert sequence == "MQIFVKTL"
    assert "gap character(s)" in notes


def test_terminal_stop_is_removed_with_a_note() -> None:
    assert normalise_sequence("MQIFVKTL*") == ("MQIFVKTL", "removed terminal stop '*'")
    assert normalise_sequence("MQIFVKTL**")[0] == "MQIFVKTL"


def test_internal_stop_is_refused_with_its_position() -> None:
    with pytest.raises(RecordError, match=r"internal stop '\*' at position 5"):
        normalise_sequence("MQIF*VKTL", "seq1")


@pytest.mark.parametrize(
    ("letter", "target", "meaning"),
    [
        ("U", "C", "selenocysteine"),
        ("O", "K", "pyrrolysine"),
        ("B", "X", "D or N"),
        ("Z", "X", "E or Q"),
        ("J", "X", "L or I"),
    ],
)
def test_special_letters_are_mapped_with_a_note(letter: str, target: str, meaning: str) -> None:
    sequence, notes = normalise_sequence(f"MQ{letter}FV{letter.lower()}")
    assert sequence == f"MQ{target}FV{target}"
    assert f"mapped {letter}->{target} ({meaning}) x2" in notes


def test_unknown_residue_x_is_kept_without_a_note() -> None:
    assert normalise_sequence("MQXFV") == ("MQXFV", "")


@pytest.mark.parametrize(("bad", "position"), [("MQ#FV", 3), ("MQIF?", 5), ("MQ;F", 3)])
def test_other_characters_are_refused_by_name_and_position(bad: str, position: int) -> None:
    char = bad[position - 1]
    with pytest.raises(RecordError, match=rf"character '\{char}' at position {position}"):
        normalise_sequence(bad)


def test_non_ascii_letters_are_refused() -> None:
    with pytest.raises(RecordError, match="character 'é' at position 3"):
        normalise_sequence("MQéFV")


def test_refusal_counts_the_other_invalid_characters() -> None:
    with pytest.raises(RecordError, match=r"and 2 more invalid characters"):
        normalise_sequence("M?Q?F?")


@pytest.mark.parametrize("empty", ["", "   \n", "--..", "12 34", "*", "-*"])
def test_empty_sequences_are_refused(empty: str) -> None:
    with pytest.raises(RecordError, match="empty sequence"):
        normalise_sequence(empty)


def test_output_alphabet_is_closed() -> None:
    sequence, _ = normalise_sequence("acdefghiklmnpqrstvwyBJOUXZ*")
    assert set(sequence) <= set(SEQUENCE_ALPHABET)
    assert len(sequence) == 26


# --------------------------------------------------------------------------- file level


def test_multi_fasta_yields_one_record_per_entry_with_header_lines() -> None:
    records = _read(MULTI_FASTA)
    assert [r.id for r in records] == ["sp|P0CG48|UBC_HUMAN", "tr|M4KW32|M4KW32_BACIU"]
    assert all(isinstance(r, Record) for r in records)
    first = records[0]
    assert first.payload == {
        "sequence": UBIQUITIN,
        "description": "Polyubiquitin-C OS=Homo sapiens",
        "notes": "",
    }
    assert (first.line, first.source) == (1, "test.fasta")
    assert records[1].line == 4


def test_every_entry_yields_exactly_one_item_in_order() -> None:
    text = ">ok\nMQIFV\n>stop\nMQ*IF\n>empty\n>ok\nMQIFV\n>lower\nmqifv\n>bad\nMQ!F\n>last\nMK\n"
    items = _read(text)
    assert [i.id for i in items] == ["ok", "stop", "empty", "ok", "lower", "bad", "last"]
    kinds = [type(i).__name__ for i in items]
    assert kinds == [
        "Record",
        "BadRecord",
        "BadRecord",
        "BadRecord",
        "Record",
        "BadRecord",
        "Record",
    ]
    assert [i.line for i in items] == [1, 3, 5, 6, 8, 10, 12]


def test_duplicate_ids_keep_the_first_and_report_later_ones() -> None:
    items = _read(">a\nMQIFV\n>a second copy\nMKTLT\n")
    assert isinstance(items[0], Record)
    assert isinstance(items[1], BadRecord)
    assert items[1].reason == "duplicate id 'a' (first seen on line 1)"
    assert items[1].fields == {"sequence": "MKTLT", "description": "second copy"}


def test_refused_entry_keeps_its_raw_sequence_in_fields() -> None:
    (item,) = _read(">x desc\nMQ*IF\n")
    assert isinstance(item, BadRecord)
    assert item.fields == {"sequence": "MQ*IF", "description": "desc"}
    assert "internal stop" in item.reason


def test_header_without_id_gets_a_positional_id() -> None:
    (item,) = _read(">\nMQIFV\n")
    assert isinstance(item, Record)
    assert item.id == "test.fasta:1"


def test_text_before_the_first_header_is_one_not_fasta_bad_record() -> None:
    items = _read("id,sequence\n1,MQIFV\n>a\nMQIFV\n")
    assert isinstance(items[0], BadRecord)
    assert items[0].reason.startswith("not FASTA: 2 line(s) of text before the first '>'")
    assert (items[0].id, items[0].line) == ("test.fasta:1", 1)
    assert isinstance(items[1], Record)
    assert items[1].line == 3


def test_file_without_any_header_is_one_bad_record() -> None:
    items = _read("\nMQIFVKTLTGKTITLEVEPS\nDTIENVKAKI\n")
    assert len(items) == 1
    assert isinstance(items[0], BadRecord)
    assert items[0].line == 2
    assert items[0].fields == {"first_line": "MQIFVKTLTGKTITLEVEPS", "lines": 2}


def test_blank_lines_are_ignored_and_empty_input_yields_nothing() -> None:
    assert _read("") == []
    assert _read("\n\n") == []
    items = _read("\n\n>a\n\nMQ\n\nIF\n")
    assert [i.payload["sequence"] for i in items] == ["MQIF"]


def test_windows_line_endings() -> None:
    (item,) = _read(">a desc\r\nMQIF\r\nVKTL\r\n")
    assert item.payload == {"sequence": "MQIFVKTL", "description": "desc", "notes": ""}


def test_read_fasta_handles_gzip_and_readers_map(tmp_path) -> None:
    path = tmp_path / "seqs.fa.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(MULTI_FASTA)
    records = list(read_fasta(path))
    assert [r.source for r in records] == ["seqs.fa.gz", "seqs.fa.gz"]
    assert set(READERS) == {".fasta", ".fa", ".faa", ".fas"}
    assert all(reader is read_fasta for reader in READERS.values())


def test_read_fasta_from_stdin(monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(">a\nMQIF\n"))
    (item,) = list(read_fasta("-"))
    assert (item.id, item.source) == ("a", "<stdin>")


def test_a_byte_that_is_not_utf8_refuses_only_its_entry(tmp_path) -> None:
    # Until #16 one such byte stopped the whole file with a ValueError; now only the entry
    # holding it is refused, naming the byte, and the entries around it are read.
    path = tmp_path / "x.fasta"
    path.write_bytes(b">a\nMQIF\n>b caf\xe9\nMKV\n>c\nMQ\xff\xfeIF\n>d\nGAV\n")
    items = list(read_fasta(path))
    assert [(type(i).__name__, i.id, i.line) for i in items] == [
        ("Record", "a", 1),
        ("BadRecord", "b", 3),
        ("BadRecord", "c", 5),
        ("Record", "d", 7),
    ]
    assert "in the header: byte 0xE9 at column 7 is not UTF-8" in items[1].reason
    assert "in the sequence: byte 0xFF at position 3" in items[2].reason
    assert "iconv" in items[1].reason
    assert items[2].fields["sequence"] == "MQ\ufffd\ufffdIF"  # printable in the output row


def test_binary_file_is_refused_with_a_clear_error(tmp_path) -> None:
    path = tmp_path / "x.fasta"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00>a\nMQ\n")
    with pytest.raises(InputFileError, match="x.fasta is binary data"):
        list(read_fasta(path))


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_byte_order_mark_picks_the_encoding(tmp_path, codec) -> None:
    path = tmp_path / "x.fasta"
    text = ">a Ubiquitin \u00e9\r\nMQIF\r\nVKTL\r\n>b\r\nGAV\r\n"
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    items = list(read_fasta(path))
    assert [(i.id, i.payload["sequence"]) for i in items] == [("a", "MQIFVKTL"), ("b", "GAV")]
    assert items[0].payload["description"] == "Ubiquitin \u00e9"


def _damaged_gzip(tmp_path, text: str, how: str):
    data = gzip.compress(text.encode())
    if how == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        data = data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]  # wrong CRC
    path = tmp_path / "x.fasta.gz"
    path.write_bytes(data)
    return path


def test_truncated_gzip_keeps_the_entries_before_the_damage(tmp_path) -> None:
    text = "".join(f">p{i}\n{UBIQUITIN}\n" for i in range(3000))
    items = list(read_fasta(_damaged_gzip(tmp_path, text, "truncated")))
    good = [i for i in items if isinstance(i, Record)]
    assert len(good) > 1500 and [i.id for i in good] == [f"p{n}" for n in range(len(good))]
    assert all(i.payload["sequence"] == UBIQUITIN for i in good)
    (last,) = [i for i in items if isinstance(i, BadRecord)]
    assert last is items[-1] and last.id == f"p{len(good)}"
    assert "is incomplete: the input is damaged: the gzip data ends early" in last.reason
    assert "reading stopped at line" in last.reason


def test_corrupt_gzip_ends_with_one_error_row(tmp_path, monkeypatch) -> None:
    text = "".join(f">p{i}\n{UBIQUITIN}\n" for i in range(50))
    items = list(read_fasta(_damaged_gzip(tmp_path, text, "crc")))
    assert len(items) == 50 and isinstance(items[-1], BadRecord)
    assert "incorrect data check" in items[-1].reason
    assert "the records read from it may be damaged too" in items[-1].reason
    raw = _damaged_gzip(tmp_path, text, "truncated").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    piped = list(read_fasta("-"))
    assert isinstance(piped[-1], BadRecord) and piped[-1].source == "<stdin>"
    assert "the gzip data ends early" in piped[-1].reason


def test_directory_is_refused(tmp_path) -> None:
    (tmp_path / "d.fasta").mkdir()
    with pytest.raises(InputFileError, match="is a directory, not an input file"):
        list(read_fasta(tmp_path / "d.fasta"))


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        list(read_fasta("/nonexistent/x.fasta"))


# --------------------------------------------------------------------------- Python input


def test_records_from_sequences_applies_the_policy_and_ids() -> None:
    items = list(records_from_sequences(["mqifv", "MQ*IF", 7, "MQIFV"], ids=["a", "b", "c", "a"]))
    assert isinstance(items[0], Record)
    assert items[0].payload["sequence"] == "MQIFV"
    assert items[0].payload["notes"] == "upper-cased 5 lower-case letter(s)"
    assert isinstance(items[1], BadRecord) and "internal stop" in items[1].reason
    assert isinstance(items[2], BadRecord) and "expected a sequence string" in items[2].reason
    assert isinstance(items[3], BadRecord) and "duplicate id 'a'" in items[3].reason
    assert [i.line for i in items] == [1, 2, 3, 4]


def test_records_from_sequences_default_ids_and_length_mismatch() -> None:
    assert [r.id for r in records_from_sequences(["MQ", "IF"])] == ["0", "1"]
    with pytest.raises(ValueError):
        list(records_from_sequences(["MQ", "IF"], ids=["only-one"]))


def test_records_from_sequences_refuses_a_file_name() -> None:
    # ["proteins.fasta"] used to be read as the sequence PRKTEINSFASTA with status ok (#16).
    items = list(records_from_sequences(["proteins.fasta", "MQIF", "db.fa.gz"]))
    assert [type(i).__name__ for i in items] == ["BadRecord", "Record", "BadRecord"]
    assert "looks like a FASTA file name, not a sequence" in items[0].reason
