"""Fuzzing the molecule readers (CSV/TSV, SMI, SDF) and featurizer (#16 build item 1).

Inputs: generated tables with quoted delimiters and quotes, unmatched quotes, ragged rows,
blank and duplicate ids, non-numeric labels, CRLF, UTF-8 / UTF-8-BOM / UTF-16 text, rows
written in Latin-1; SMILES files with names, comments and headers; SD files of real
molecules (V2000 and V3000) cut at any line, with a missing ``$$$$``, blank lines between
records, non-UTF-8 properties and broken valences; random bytes and random text for every
reader; random and mutated SMILES for the featurizer.

Invariants: no exception but the typed ones (:class:`InputFileError` for a file that is
unusable as a whole, :class:`RecordError` from the featurizer); one item per input row /
SD record, in input order, each bad one with a reason and a truncated SD record never
taking the next one with it; everything a row would hold encodes as UTF-8; end to end
through the shipped model, rows == records in order, and ``on_error="raise"`` stops with an
:class:`InputError` naming file, line and id.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem

from scisuite import api
from scisuite.core.predicting import InputError
from scisuite.core.records import BadRecord, InputFileError, Record, RecordError
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.readers import read_csv, read_sdf, read_smi
from scisuite.domains.molecule.task import MoleculeTask

sys.path.insert(0, str(Path(__file__).parent))
from invariants import check_items  # noqa: E402

_DIR = Path(tempfile.mkdtemp(prefix="fuzz-molecules-"))

#: Real molecules: aromatic, charged, stereo, a salt, a metal complex, a large ring system,
#: and a pentavalent carbon (a broken valence RDKit writes unsanitized).
SMILES = [
    "CCO",
    "c1ccccc1O",
    "C[C@H](N)C(=O)O",
    "F/C=C/F",
    "[Na+].[Cl-]",
    "CC(=O)Oc1ccccc1C(=O)O",
    "[NH3][Pt]([NH3])(Cl)Cl",
    "c1ccc2c(c1)ccc1ccccc12",
    "C[N+](C)(C)C",
    "C(C)(C)(C)(C)C",
]
_TEXT = "".join(map(chr, range(32, 127))) + "\t\u00e9\u00df\u03a9\u4e2d\U0001f600\u00a0\ufeff"
cell_text = st.text(alphabet=_TEXT, max_size=24)
smiles_text = st.one_of(
    st.sampled_from(SMILES),
    st.text(alphabet="CNOSPFIHBrcl()[]=#@+-123456789%/\\.", max_size=30),
)
label = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "NA", "nan", "high", " 1.5 ", "1e400", "-inf"]),
)
_CODECS = ("utf-8", "utf-8-sig", "utf-16")


def _write(name: str, data: bytes) -> Path:
    path = _DIR / name
    path.write_bytes(data)
    return path


def _molecule_values(record: Record) -> list[str]:
    assert record.payload["smiles"].strip()
    return [record.payload["smiles"], str(record.payload.get("name", ""))]


def _check_items(items: list[Record | BadRecord]) -> None:
    """What holds for every read: order, reasons, writable text, one Record per id."""
    check_items(items, _molecule_values, distinct_lines=True)


def _quote(value: str, delimiter: str, how: int) -> str:
    """0: as is (a delimiter inside makes the row ragged), 1: CSV-quoted, 2: an unmatched
    opening quote."""
    if how == 1:
        return '"' + value.replace('"', '""') + '"'
    if how == 2:
        return '"' + value
    return value


@st.composite
def tables(draw: st.DrawFn) -> tuple[bytes, str, list[bool]]:
    """``(file bytes, suffix, per row: not UTF-8)``; row i's id cell is ``r<i % k>``."""
    suffix = draw(st.sampled_from([".csv", ".tsv"]))
    delimiter = "," if suffix == ".csv" else "\t"
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    codec = draw(st.sampled_from(_CODECS))
    repeat = draw(st.integers(1, 12))
    rows = draw(
        st.lists(
            st.tuples(
                smiles_text,
                label,
                cell_text,
                st.integers(0, 2),  # quoting of the name
                st.integers(-1, 1),  # cells dropped (-1) or added (1): ragged rows
                st.booleans(),  # Latin-1 row
            ),
            max_size=12,
        )
    )
    lines = [delimiter.join(["id", "smiles", "y", "name"])]
    latin1: list[bool] = []
    for index, (smiles, y, name, how, ragged, in_latin1) in enumerate(rows):
        cells = [f"r{index % repeat}", smiles, y, _quote(name, delimiter, how)]
        if ragged < 0:
            cells.pop()
        elif ragged > 0:
            cells.append("extra")
        lines.append(delimiter.join(cells))
        latin1.append(in_latin1)
    if codec != "utf-8":
        return (ending.join(lines) + ending).encode(codec), suffix, [False] * len(rows)
    encoded = [(line + ending).encode("utf-8") for line in lines]
    for row, in_latin1 in enumerate(latin1, start=1):
        if in_latin1:
            encoded[row] = (lines[row] + ending).encode("latin-1", "replace")
    return b"".join(encoded), suffix, [not _is_utf8(line) for line in encoded[1:]]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@given(tables())
def test_tables_give_one_item_per_row(case: tuple[bytes, str, list[bool]]) -> None:
    data, suffix, latin1 = case
    items = list(read_csv(_write(f"t{suffix}", data), target_columns=["y"]))
    _check_items(items)
    assert [item.line for item in items] == list(range(2, len(latin1) + 2)), "one per row"
    for item, not_utf8 in zip(items, latin1, strict=True):
        if not_utf8:  # refused: for its bytes, or for a broken quote found first
            assert isinstance(item, BadRecord)


@given(st.lists(st.text(alphabet=_TEXT + '",;\r\n', max_size=40), max_size=10))
def test_random_text_tables_never_crash(lines: list[str]) -> None:
    path = _write("free.csv", "\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        items = list(read_csv(path))
    except InputFileError as error:
        assert "free.csv" in str(error)
        return
    _check_items(items)


@given(st.binary(max_size=1500), st.sampled_from(["r.csv", "r.smi", "r.sdf", "r.tsv"]))
def test_random_bytes_never_crash(data: bytes, name: str) -> None:
    reader = {".csv": read_csv, ".tsv": read_csv, ".smi": read_smi, ".sdf": read_sdf}
    try:
        items = list(reader[Path(name).suffix](_write(name, data)))
    except InputFileError as error:
        assert name in str(error)
        return
    _check_items(items)


@given(
    st.lists(
        st.tuples(smiles_text, st.one_of(st.just(""), cell_text), st.sampled_from(["", "#"])),
        max_size=12,
    ),
    st.booleans(),
)
def test_smi_files_give_one_item_per_line(rows, header: bool) -> None:
    lines = ["SMILES Name"] if header else []
    expected = 0
    for smiles, name, comment in rows:
        text = f"{comment}{smiles} {name}".rstrip()
        lines.append(text)
        stripped = text.strip()
        first = not any(line.strip() and not line.strip().startswith("#") for line in lines[:-1])
        is_header = first and stripped and stripped.split()[0].lower() in ("smiles", "smi")
        expected += bool(stripped) and not stripped.startswith("#") and not is_header
    items = list(read_smi(_write("s.smi", ("\n".join(lines) + "\n").encode())))
    _check_items(items)
    assert len(items) == expected


def _molblock(smiles: str, title: str, v3000: bool, note: str) -> str:
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    mol.UpdatePropertyCache(strict=False)
    mol.SetProp("_Name", title)
    block = Chem.MolToV3KMolBlock(mol) if v3000 else Chem.MolToMolBlock(mol)
    return block + f"> <NOTE>\n{note}\n\n$$$$\n"


@st.composite
def sd_files(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """``(file bytes, per record: "ok" | "bad" | "bytes")``: records of real molecules, some
    cut at a line after their counts line, some without '$$$$', some with a Latin-1
    property, blank lines between."""
    count = draw(st.integers(1, 8))
    chunks: list[bytes] = []
    expected: list[str] = []
    for index in range(count):
        smiles = draw(st.sampled_from(SMILES))
        block = _molblock(smiles, f"t{index}", draw(st.booleans()), "caf@")
        lines = block.splitlines(keepends=True)
        damage = draw(st.sampled_from(["none", "none", "cut", "terminator", "latin1", "blank"]))
        if damage == "cut":
            # cut after the counts line: a fragment of header lines alone has nothing to be
            # told apart by (it joins a neighbouring damaged record, or the data items of a
            # record without '$$$$'); the unit tests cover such fragments
            cut = draw(st.integers(4, len(lines) - 1))
            end = next(i for i, line in enumerate(lines) if line.startswith("M  END"))
            lines = lines[:cut]
            expected.append("ok" if cut > end else "bad")
        elif damage == "terminator" and index < count - 1:
            lines = lines[:-1]
            expected.append("ok")
        else:
            expected.append("bytes" if damage == "latin1" else "ok")
        text = "".join(lines).encode()
        if damage == "latin1":
            text = text.replace(b"caf@", b"caf\xe9")
        if damage == "blank":
            text += b"\n\n"
        chunks.append(text)
    return b"".join(chunks), expected


@given(sd_files())
def test_sd_files_give_one_item_per_record(case: tuple[bytes, list[str]]) -> None:
    data, expected = case
    items = list(read_sdf(_write("m.sdf", data)))
    _check_items(items)
    got = [
        "ok" if isinstance(i, Record) else "bytes" if "not UTF-8" in i.reason else "bad"
        for i in items
    ]
    assert got == expected, "a damaged record never takes another one with it"
    assert [i.id for i in items if isinstance(i, Record)] == [
        f"t{n}" for n, kind in enumerate(expected) if kind == "ok"
    ]


_TASK = MoleculeTask()
_CONFIGS = [MoleculeConfig(), MoleculeConfig(max_heavy_atoms=8, standardise=False)]


@given(
    st.one_of(
        smiles_text,
        st.builds(lambda a, b: a + b, st.sampled_from(SMILES), smiles_text),
        st.integers(1, 300).map(lambda n: "C" * n),
    ),
    st.sampled_from(_CONFIGS),
)
def test_featurizer_raises_only_record_errors(smiles: str, config: MoleculeConfig) -> None:
    record = Record("m", {"smiles": smiles, "targets": {}}, line=1, source="x")
    try:
        data = _TASK.featurize(record, config)
    except RecordError as error:
        assert error.reason and error.record_id == "m"
        return
    assert data.num_nodes >= 1


@pytest.fixture(scope="module")
def molecules() -> api.Predictor:
    return api.load("molecule", device="cpu")


def _first_error_raises(predictor, inputs, frame, name: str, batch_size: int) -> None:
    bad = frame[frame["status"] == "error"]
    if len(bad):
        assert bad["error"].str.len().gt(0).all()
        where = rf"{re.escape(name)} line \d+ \(id {re.escape(repr(bad['id'].iloc[0]))}\)"
        with pytest.raises(InputError, match=where):
            predictor.predict(inputs, batch_size=batch_size, on_error="raise")


@settings(max_examples=20)
@given(tables(), st.integers(1, 3))
def test_predictor_rows_match_table_records(molecules, case, batch_size: int) -> None:
    """End to end through the shipped molecule model, small batches."""
    data, suffix, _ = case
    path = _write(f"e2e{suffix}", data)
    read = list(read_csv(path))
    frame = molecules.predict(path, batch_size=batch_size)
    assert list(frame["id"]) == [item.id for item in read], "one row per record, in order"
    _first_error_raises(molecules, path, frame, f"e2e{suffix}", batch_size)


@settings(max_examples=20)
@given(st.lists(smiles_text, max_size=8), st.integers(1, 3))
def test_predictor_rows_match_python_smiles(molecules, smiles: list[str], batch_size) -> None:
    frame = molecules.predict(smiles, batch_size=batch_size)
    assert list(frame["id"]) == [str(i) for i in range(len(smiles))]
    assert set(frame["status"]) <= {"ok", "error"}
    _first_error_raises(molecules, smiles, frame, "<python>", batch_size)


@settings(max_examples=10)
@given(sd_files(), st.integers(1, 3))
def test_predictor_rows_match_sd_records(molecules, case, batch_size: int) -> None:
    data, expected = case
    path = _write("e2e.sdf", data)
    frame = molecules.predict(path, batch_size=batch_size)
    assert len(frame) == len(expected)
    _first_error_raises(molecules, path, frame, "e2e.sdf", batch_size)


def test_csv_quoting_in_the_generator_is_what_csv_reads() -> None:
    """The generator's quoting (kind 1) is the csv module's own."""
    assert next(csv.reader([_quote('a,"b"', ",", 1)])) == ['a,"b"']
    assert io.StringIO().getvalue() == ""
