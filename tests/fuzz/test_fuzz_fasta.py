"""Fuzzing the FASTA reader and the protein featurizer (#16 build item 1).

Inputs: random bytes; generated multi-FASTA with random (Unicode) headers, sequences of
any characters, huge lines, missing headers (text before the first ``>``), LF / CRLF / CR
line ends, UTF-16 / UTF-32 / UTF-8 with a byte-order mark, stray Latin-1 bytes, gzip, and
gzip cut at any byte.

Invariants: no exception but the typed ones (:class:`InputFileError` for a binary file,
:class:`RecordError` from the featurizer); one item per ``>`` entry (plus one for text
before the first header, plus one for damage), in input order; every bad item has a
reason; everything an output row would hold encodes as UTF-8; with ``on_error="raise"``
the first bad record stops the run with an :class:`InputError` naming file, line and id.
"""

from __future__ import annotations

import gzip
import io
import re
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from invariants import check_items  # noqa: E402

from scisuite import api
from scisuite.core.predicting import InputError
from scisuite.core.records import BadRecord, InputFileError, Record, RecordError
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.fasta import SEQUENCE_ALPHABET, read_fasta
from scisuite.domains.protein.featurize import featurize

_DIR = Path(tempfile.mkdtemp(prefix="fuzz-fasta-"))
_LINE_ENDS = ("\n", "\r\n", "\r")
_CODECS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-32")

residues = st.text(alphabet="ACDEFGHIKLMNPQRSTVWYXUOBZJacdefgh*-. 0123456789", max_size=120)
#: Text on one line: printable ASCII and a few Unicode letters, marks, spaces and symbols
#: (a fixed alphabet keeps generation fast; control characters and arbitrary bytes are left
#: to the random-bytes test).
_UNICODE = "\u00e9\u00df\u03a9\u0416\u4e2d\U0001f600\u00a0\u2028\ufeff\u0301\u200b"
any_text = st.text(alphabet="".join(map(chr, range(32, 127))) + "\t" + _UNICODE, max_size=60)
sequence_line = st.one_of(residues, any_text).filter(lambda line: not line.startswith(">"))
#: One line of 20,000 residues, put into about one generated file in eight.
HUGE_LINE = "M" * 20_000


def _write(name: str, data: bytes) -> Path:
    path = _DIR / name
    path.write_bytes(data)
    return path


def _encode(text: str, codec: str) -> bytes:
    if codec == "utf-16-le-bom":
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode(codec)


def _sequence_values(record: Record) -> list[str]:
    sequence = record.payload["sequence"]
    assert sequence and set(sequence) <= set(SEQUENCE_ALPHABET)
    return [sequence, record.payload["description"], record.payload["notes"]]


def _check_items(items: list[Record | BadRecord]) -> None:
    """What holds for every read: order, reasons, writable text, clean sequences."""
    check_items(items, _sequence_values)


def _expected_items(text: str) -> int:
    """Entries (``>`` lines) plus one for non-blank text before the first header."""
    lines = list(io.StringIO(text, newline=""))
    headers = [i for i, line in enumerate(lines) if line.startswith(">")]
    before = lines[: headers[0]] if headers else lines
    return len(headers) + any(line.strip() for line in before)


@st.composite
def fasta_files(draw: st.DrawFn, huge: bool = True) -> tuple[str, str]:
    """``(text, codec)``: a multi-FASTA text and the encoding to write it in."""
    preamble = draw(st.one_of(st.just(""), any_text.map(lambda t: t + "\n")))
    ending = draw(st.sampled_from(_LINE_ENDS))
    entry = st.tuples(st.one_of(any_text, st.just("")), st.lists(sequence_line, max_size=4))
    entries = draw(st.lists(entry, max_size=8))
    if huge and entries and draw(st.integers(0, 7)) == 0:
        entries[-1][1].append(HUGE_LINE)
    body = "".join(
        f">{header}{ending}" + "".join(line + ending for line in lines) for header, lines in entries
    )
    return preamble.replace("\n", ending) + body, draw(st.sampled_from(_CODECS))


@given(fasta_files())
def test_generated_fasta_gives_one_item_per_entry(case: tuple[str, str]) -> None:
    text, codec = case
    items = list(read_fasta(_write("gen.fasta", _encode(text, codec))))
    _check_items(items)
    assert len(items) == _expected_items(text)


@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        items = list(read_fasta(_write("random.fasta", data)))
    except InputFileError as error:
        assert "random.fasta" in str(error)
        return
    _check_items(items)


@given(fasta_files(), st.binary(min_size=1, max_size=3), st.integers(0, 10_000))
def test_stray_bytes_refuse_only_their_entry(case, junk: bytes, at: int) -> None:
    """Latin-1 (or any non-UTF-8) bytes spliced into UTF-8 FASTA: the entry count holds."""
    text, _ = case
    data = text.encode("utf-8")
    at = min(at, len(data))
    junk = bytes(b | 0x80 for b in junk)  # never ASCII: cannot make or break a line or '>'
    spliced = data[:at] + junk + data[at:]
    while True:  # splice at a character boundary
        try:
            data[:at].decode("utf-8")
            break
        except UnicodeDecodeError:
            at -= 1
            spliced = data[:at] + junk + data[at:]
    if spliced.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return  # became a byte-order mark: another encoding, covered above
    items = list(read_fasta(_write("spliced.fasta", spliced)))
    _check_items(items)
    assert len(items) == _expected_items(spliced.decode("utf-8", "surrogateescape"))


@given(fasta_files(), st.floats(0.0, 1.0))
def test_cut_gzip_keeps_every_entry_before_the_cut(case, where: float) -> None:
    text, _ = case
    whole = list(read_fasta(_write("whole.fasta", text.encode())))
    data = gzip.compress(text.encode(), mtime=0)
    cut = 2 + int(where * (len(data) - 3))  # inside the stream: magic kept, trailer lost
    items = list(read_fasta(_write("cut.fasta.gz", data[:cut])))
    _check_items(items)
    assert isinstance(items[-1], BadRecord) and "the input is damaged" in items[-1].reason
    kept = items[:-1]
    assert [(i.line, type(i)) for i in kept] == [(i.line, type(i)) for i in whole[: len(kept)]]
    assert [i.id.replace("cut.fasta.gz:", "") for i in kept if isinstance(i, Record)] == [
        i.id.replace("whole.fasta:", "") for i in whole[: len(kept)] if isinstance(i, Record)
    ]
    assert len(items) <= len(whole) + 1


@given(
    st.text(alphabet=SEQUENCE_ALPHABET + "acdxuoBZ*-.!é ", max_size=3000),
    st.sampled_from(["refuse", "chunk"]),
)
def test_featurizer_raises_only_record_errors(raw: str, policy: str) -> None:
    config = ProteinConfig(long_sequence_policy=policy)
    record = Record("r", {"sequence": raw, "description": "", "notes": ""}, line=1, source="x")
    try:
        data = featurize(record, config)
    except RecordError as error:
        assert error.reason
        return
    assert data.num_nodes >= 1


@pytest.fixture(scope="module")
def proteins() -> api.Predictor:
    return api.load("protein", device="cpu")


@settings(max_examples=15)
@given(fasta_files(huge=False), st.integers(1, 3))
def test_predictor_rows_match_records(proteins, case, batch_size: int) -> None:
    """End to end through the shipped protein model, small batches."""
    text, codec = case
    path = _write("e2e.fasta", _encode(text, codec))
    read = list(read_fasta(path))
    frame = proteins.predict(path, batch_size=batch_size)
    assert list(frame["id"]) == [item.id for item in read], "one row per record, in order"
    bad = frame[frame["status"] == "error"]
    assert len(bad) >= sum(isinstance(item, BadRecord) for item in read)
    if len(bad):
        assert bad["error"].str.len().gt(0).all()
        where = rf"e2e\.fasta line \d+ \(id {re.escape(repr(bad['id'].iloc[0]))}\)"
        with pytest.raises(InputError, match=where):
            proteins.predict(path, batch_size=batch_size, on_error="raise")
