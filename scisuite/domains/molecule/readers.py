"""Streaming readers for molecule inputs: CSV/TSV tables, SD files and SMILES files.

Every reader iterates its input one row (or SD record) at a time and yields, for each
input row, either a :class:`~scisuite.core.records.Record` or a
:class:`~scisuite.core.records.BadRecord`; nothing is dropped and the whole file is never
held in memory (only the ids seen so far, to report duplicates).

A readable record has the payload::

    {"smiles": str, "targets": {column: float}, "name": str (optional)}

where a blank (or ``NA``/``nan``) target cell is ``nan``: a missing label, which is legal.
The readers check *structure* only (columns, field counts, empty SMILES, numbers,
duplicate ids). Chemistry (unparsable SMILES, size limits, salts) is the featurizer's job;
the one exception is the CSV SMILES-column auto-detection, which asks RDKit which column
parses.

Ids come from an id column / property when there is one, else ``"<file name>:<line>"``
(``"<file name>:<record>"`` for SD files). The second and later rows with an id already
seen become a :class:`BadRecord` saying where the id was first seen.

Damage stays local (#16): a table row is one physical line (an unmatched quote refuses its
line only); an SD record is cut by its structure, so a truncated one never swallows the
next; a row or record holding bytes that are not UTF-8 is refused with the byte and where
it is, the rest is read (UTF-16/32 and UTF-8 with a byte-order mark are decoded); damaged
gzip ends the stream with one BadRecord after every record before the damage.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rdkit import Chem, rdBase

from scisuite.core.io import TextLines, open_binary, open_text, strip_suffixes
from scisuite.core.records import (
    PYTHON_SOURCE,
    BadRecord,
    IdRegistry,
    InputFileError,
    Record,
    damage_record,
    printable,
    source_name,
    undecodable,
)

RecordStream = Iterator[Record | BadRecord]

#: Cell values (compared lower-case, stripped) that mean "no label" in a target column.
MISSING_VALUES = frozenset({"", "na", "nan", "n/a", "none", "null"})
#: Header names taken as the SMILES column, compared case-insensitively.
SMILES_HEADERS = ("smiles", "canonical_smiles", "smi")
#: Header names taken as the id column, in order of preference, compared case-insensitively.
ID_HEADERS = ("id", "name", "compound_id", "mol_id")
#: Header name taken as the molecule's display name (``payload["name"]``).
NAME_HEADER = "name"
#: Data rows looked at when sniffing the delimiter and the SMILES column.
SAMPLE_ROWS = 20
#: Delimiters considered when the suffix does not say (stdin, ``.txt``).
CANDIDATE_DELIMITERS = (",", "\t", ";")
_SUFFIX_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


def parse_target(text: str) -> float:
    """A target cell as a float: blank / ``NA`` / ``nan`` -> ``nan`` (missing label).

    Raises:
        ValueError: the cell is not a number, or is infinite.
    """
    value = text.strip()
    if value.lower() in MISSING_VALUES:
        return math.nan
    number = float(value)
    if math.isinf(number):
        raise ValueError(f"{text!r} is infinite")
    return number


# --------------------------------------------------------------------------- CSV / TSV


@dataclass(frozen=True)
class _CsvLayout:
    """Which column holds what, resolved once from the header (indices into a row)."""

    header: list[str]
    delimiter: str
    smiles: int
    targets: dict[str, int]
    id: int | None
    name: int | None
    extra: dict[str, int]


_COLUMN_ARGUMENTS = {
    "SMILES": "smiles_column= (CLI: --smiles-column)",
    "target": "target_columns= (CLI: --target-columns)",
    "id": "id_column= (CLI: --id-column)",
    "name": "name_column=",
    "extra": "extra_columns=",
}


def _find_column(header: Sequence[str], wanted: str, what: str, source: str) -> int:
    """Index of column ``wanted`` (exact match first, then case-insensitive).

    ``what`` is a key of :data:`_COLUMN_ARGUMENTS`, used to say which argument to fix.
    """
    if wanted in header:
        return header.index(wanted)
    folded = [i for i, column in enumerate(header) if column.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    raise InputFileError(
        f"{what} column {wanted!r} is not in the header of {source}; its columns are "
        f"{list(header)}; pass the right name with {_COLUMN_ARGUMENTS[what]}"
    )


def _first_header(header: Sequence[str], names: Sequence[str], skip: set[int]) -> int | None:
    lowered = [column.lower() for column in header]
    for name in names:
        for index, column in enumerate(lowered):
            if column == name and index not in skip:
                return index
    return None


def _parses_as_smiles(text: str) -> bool:
    if undecodable(text) is not None:
        return False  # RDKit cannot even be handed bytes that are not UTF-8
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(text, sanitize=False) is not None


def _detect_smiles_column(
    header: Sequence[str], sample: Sequence[Sequence[str]], source: str
) -> int:
    """The SMILES column: a header named like SMILES, else the first column whose sampled
    non-empty values mostly (> 50%) parse with RDKit."""
    by_name = _first_header(header, SMILES_HEADERS, skip=set())
    if by_name is not None:
        return by_name
    for index in range(len(header)):
        values = [row[index].strip() for row in sample if index < len(row) and row[index].strip()]
        if values and sum(map(_parses_as_smiles, values)) > len(values) / 2:
            return index
    raise InputFileError(
        f"could not find a SMILES column in {source}: no header is one of {list(SMILES_HEADERS)} "
        f"and no column's first rows parse as SMILES (columns: {list(header)}); "
        "pass smiles_column= (CLI: --smiles-column)"
    )


def _sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter that occurs most often in the header line (default ``,``)."""
    counts = {d: header_line.count(d) for d in CANDIDATE_DELIMITERS}
    best = max(CANDIDATE_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _resolve_layout(
    header: list[str],
    sample: Sequence[Sequence[str]],
    delimiter: str,
    source: str,
    smiles_column: str | None,
    target_columns: Sequence[str],
    id_column: str | None,
    name_column: str | None,
    extra_columns: Sequence[str],
) -> _CsvLayout:
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise InputFileError(f"the header of {source} repeats column(s) {duplicated}; rename them")
    if smiles_column is not None:
        smiles = _find_column(header, smiles_column, "SMILES", source)
    else:
        smiles = _detect_smiles_column(header, sample, source)
    targets = {name: _find_column(header, name, "target", source) for name in target_columns}
    if id_column is not None:
        id_index: int | None = _find_column(header, id_column, "id", source)
    else:
        id_index = _first_header(header, ID_HEADERS, skip={smiles, *targets.values()})
    if name_column is not None:
        name_index: int | None = _find_column(header, name_column, "name", source)
    else:
        name_index = _first_header(header, (NAME_HEADER,), skip={smiles})
    extra = {name: _find_column(header, name, "extra", source) for name in extra_columns}
    return _CsvLayout(header, delimiter, smiles, targets, id_index, name_index, extra)


def _cell(row: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _split_line(line: str, delimiter: str) -> list[str] | str:
    """One physical line as CSV fields, or why it is not one row.

    Each line is parsed on its own, so an unmatched quote cannot swallow the lines after it
    (a quoted value may not span lines in a molecule table).
    """
    try:
        fields = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error as error:
        return f"the line is not valid CSV ({error})"
    if any("\n" in field or "\r" in field for field in fields):
        return (
            "a quoted value is not closed on this line (an unmatched '\"'); close the quote "
            "or remove it (values in a molecule table cannot span lines)"
        )
    return fields


def _csv_row(
    line_text: str, line: int, layout: _CsvLayout, source: str, ids: IdRegistry
) -> Record | BadRecord | None:
    """One CSV line -> Record, or BadRecord with the reason (ids checked first); None for a
    blank line."""
    split = _split_line(line_text, layout.delimiter)
    if isinstance(split, str):
        fields = {layout.header[layout.smiles]: printable(line_text.strip())}
        return BadRecord(f"{source}:{line}", split, line=line, source=source, fields=fields)
    row = split
    if not any(field.strip() for field in row):
        return None
    fields = dict(zip(layout.header, map(printable, row), strict=False))
    not_utf8 = next(
        (
            f"column {name!r}: {reason}"
            for name, value in zip(layout.header, row, strict=False)
            if (reason := undecodable(value, "character")) is not None
        ),
        None,
    )
    file_id = printable(_cell(row, layout.id))
    record_id = file_id or f"{source}:{line}"

    def bad(reason: str) -> BadRecord:
        return BadRecord(record_id, reason, line=line, source=source, fields=fields)

    if not_utf8 is not None:
        return bad(not_utf8)
    if file_id:
        duplicate = ids.duplicate_reason(file_id, line)
        if duplicate:
            return bad(duplicate)
    if len(row) != len(layout.header):
        return bad(
            f"expected {len(layout.header)} fields like the header but found {len(row)}; "
            f"look for a missing value or an unquoted {layout.delimiter!r} inside a value"
        )
    smiles = _cell(row, layout.smiles)
    if not smiles:
        return bad(f"empty SMILES in column {layout.header[layout.smiles]!r}")
    targets: dict[str, float] = {}
    for name, index in layout.targets.items():
        try:
            targets[name] = parse_target(row[index])
        except ValueError:
            return bad(
                f"target {name!r} is {row[index]!r}, not a number "
                "(leave the cell empty for a missing label)"
            )
    payload: dict[str, Any] = {"smiles": smiles, "targets": targets}
    if _cell(row, layout.name):
        payload["name"] = _cell(row, layout.name)
    if layout.extra:
        payload["columns"] = {name: row[index] for name, index in layout.extra.items()}
    return Record(record_id, payload, line=line, source=source)


def _is_bare_smiles(header: Sequence[str], head: Sequence[str]) -> bool:
    """Whether a table's first line is data, not a header: one column whose first line is
    not a header word (:data:`SMILES_HEADERS`, :data:`ID_HEADERS`) and parses as SMILES, as in
    ``printf 'CCO\\nCCN\\n' | sci predict -``. A one-column header that is itself a SMILES
    (a column named ``CO``) is read as a molecule: one row too many, never one lost."""
    if len(header) != 1 or not head:
        return False
    first = header[0].strip()
    if not first or first.lower() in (*SMILES_HEADERS, *ID_HEADERS, NAME_HEADER):
        return False
    return undecodable(first) is None and _parses_as_smiles(first.split()[0])


def iter_csv(
    handle: IO[str] | Iterable[str],
    source: str,
    *,
    delimiter: str | None = None,
    smiles_column: str | None = None,
    target_columns: Sequence[str] = (),
    id_column: str | None = None,
    name_column: str | None = None,
    extra_columns: Sequence[str] = (),
) -> RecordStream:
    """Stream records from a delimited table with a header line.

    Every physical line is one row: a quoted value may hold the delimiter but not a line
    break, so an unmatched ``"`` refuses its own line only instead of swallowing the lines
    after it. A row holding bytes that are not UTF-8 (see :func:`~scisuite.core.io.open_text`)
    is refused with the column and byte. A one-column input whose first line parses as
    SMILES and is not a header word is bare SMILES without a header and is read like a
    ``.smi`` file (:func:`iter_smi`), first line included. A damaged (gzip) input ends with
    one BadRecord naming the line where reading stopped.

    Args:
        handle: text lines (an open file, stdin, or any iterable of lines).
        source: file name used in ids (``"<source>:<line>"``) and messages.
        delimiter: field separator; ``None`` sniffs it from the header (``,`` tab ``;``).
        smiles_column: SMILES column; ``None`` takes a header named like ``smiles``, else the
            first column whose first rows mostly parse with RDKit.
        target_columns: label columns, parsed as floats (blank -> ``nan``).
        id_column: id column; ``None`` takes the first header in :data:`ID_HEADERS`.
        name_column: display-name column; ``None`` takes a column named ``name``.
        extra_columns: raw string columns copied into ``payload["columns"]`` (for loaders
            that need e.g. a split column).

    Yields:
        One Record or BadRecord per non-blank data row; ``line`` is the 1-based line number.

    Raises:
        InputFileError: a named column is missing, the header repeats a name, or no SMILES
            column can be found: the whole file is unusable as given.
    """
    lines = handle if isinstance(handle, TextLines) else TextLines(handle)
    stream = iter(lines)
    head = list(itertools.islice(stream, SAMPLE_ROWS + 1))
    if head:
        delimiter = delimiter or _sniff_delimiter(head[0])
        split = _split_line(head[0], delimiter)
        header = [printable(c.strip()) for c in (split if isinstance(split, list) else [])]
        if header:
            header[0] = header[0].lstrip("\ufeff")
        if _is_bare_smiles(header, head) and smiles_column in (None, header[0]):
            yield from iter_smi(itertools.chain(head, stream), source)
        else:
            yield from _csv_rows(
                head,
                stream,
                header,
                delimiter,
                source,
                smiles_column,
                target_columns,
                id_column,
                name_column,
                extra_columns,
            )
    if lines.damage is not None:
        yield damage_record(lines.damage, lines.count + 1)


def _csv_rows(
    head: list[str],
    stream: Iterator[str],
    header: list[str],
    delimiter: str,
    source: str,
    smiles_column: str | None,
    target_columns: Sequence[str],
    id_column: str | None,
    name_column: str | None,
    extra_columns: Sequence[str],
) -> RecordStream:
    """The data rows of :func:`iter_csv` once its header line is read."""
    sample = [row for row in (_split_line(line, delimiter) for line in head[1:]) if row]
    layout = _resolve_layout(
        header,
        [row for row in sample if isinstance(row, list)],
        delimiter,
        source,
        smiles_column,
        target_columns,
        id_column,
        name_column,
        extra_columns,
    )
    ids = IdRegistry("line")
    for line, text in enumerate(itertools.chain(head[1:], stream), start=2):
        item = _csv_row(text, line, layout, source, ids)
        if item is not None:
            yield item


def read_csv(
    path: str | Path,
    smiles_column: str | None = None,
    target_columns: Sequence[str] = (),
    id_column: str | None = None,
) -> RecordStream:
    """Stream records from a CSV/TSV file (``.gz`` transparently; ``"-"`` is stdin).

    The delimiter follows the suffix (``.csv`` comma, ``.tsv``/``.tab`` tab) and is sniffed
    from the header otherwise. See :func:`iter_csv` for the arguments.
    """
    delimiter = _SUFFIX_DELIMITERS.get(strip_suffixes(path)) if str(path) != "-" else None
    with open_text(path, errors="surrogateescape") as handle:
        yield from iter_csv(
            TextLines(handle),
            source_name(path),
            delimiter=delimiter,
            smiles_column=smiles_column,
            target_columns=target_columns,
            id_column=id_column,
        )


# --------------------------------------------------------------------------- SMI


def iter_smi(handle: IO[str] | Iterable[str], source: str) -> RecordStream:
    """Stream records from a SMILES file: ``SMILES [whitespace name]`` per line.

    Blank lines and lines starting with ``#`` are skipped, as is a first line whose first
    token is a SMILES header word (``smiles``, ``smi``, ...). The rest of the line after the
    SMILES is the id and name (names may contain spaces); without it the id is
    ``"<source>:<line>"``. A line holding bytes that are not UTF-8 is refused (id
    ``"<source>:<line>"``); a damaged (gzip) input ends with one BadRecord.
    """
    lines = handle if isinstance(handle, TextLines) else TextLines(handle)
    ids = IdRegistry("line")
    first_content = True
    for line, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        smiles, *rest = text.split(None, 1)
        name = rest[0].strip() if rest else ""
        if first_content and smiles.lower() in SMILES_HEADERS:
            first_content = False
            continue
        first_content = False
        not_utf8 = undecodable(text, "character")
        if not_utf8 is not None:
            fields = {"smiles": printable(smiles), "name": printable(name)}
            record_id = f"{source}:{line}"
            yield BadRecord(record_id, not_utf8, line=line, source=source, fields=fields)
            continue
        record_id = name or f"{source}:{line}"
        duplicate = ids.duplicate_reason(name, line) if name else None
        if duplicate:
            fields = {"smiles": smiles, "name": name}
            yield BadRecord(record_id, duplicate, line=line, source=source, fields=fields)
            continue
        payload: dict[str, Any] = {"smiles": smiles, "targets": {}}
        if name:
            payload["name"] = name
        yield Record(record_id, payload, line=line, source=source)
    if lines.damage is not None:
        yield damage_record(lines.damage, lines.count + 1)


def read_smi(
    path: str | Path,
    smiles_column: str | None = None,
    target_columns: Sequence[str] = (),
    id_column: str | None = None,
) -> RecordStream:
    """Stream records from a ``.smi`` file (``.gz`` transparently; ``"-"`` is stdin).

    SMILES files have no columns: ``smiles_column`` and ``id_column`` are ignored and
    ``target_columns`` must be empty.
    """
    if target_columns:
        raise InputFileError(
            f"{path} is a SMILES file, which has no target columns; "
            "put labels in a CSV with a header instead"
        )
    with open_text(path, errors="surrogateescape") as handle:
        yield from iter_smi(TextLines(handle), source_name(path))


# --------------------------------------------------------------------------- SDF


def _mol_to_smiles(mol: Chem.Mol) -> str:
    """Canonical SMILES of a parsed SD record.

    The record is sanitized on a copy (keeping the stereo read from the wedges). If RDKit
    rejects its chemistry, the unsanitized SMILES is returned so that the featurizer, which
    owns chemistry checks, reports the reason.
    """
    clean = Chem.Mol(mol)
    try:
        with rdBase.BlockLogs():
            Chem.SanitizeMol(clean)
            Chem.AssignStereochemistry(clean, cleanIt=True, force=True)
            clean = Chem.RemoveHs(clean)
        return Chem.MolToSmiles(clean)
    except (ValueError, RuntimeError):
        return Chem.MolToSmiles(mol)


def _sd_props(mol: Chem.Mol) -> dict[str, str]:
    return {name: mol.GetProp(name) for name in mol.GetPropNames()}


def _sd_record(
    mol: Chem.Mol,
    number: int,
    source: str,
    ids: IdRegistry,
    target_columns: Sequence[str],
    id_column: str | None,
    extra_columns: Sequence[str],
) -> Record | BadRecord:
    """One parsed SD record -> Record, or BadRecord with the reason."""
    props = _sd_props(mol)
    title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    file_id = props.get(id_column, "").strip() if id_column is not None else title
    record_id = file_id or f"{source}:{number}"

    def bad(reason: str) -> BadRecord:
        return BadRecord(record_id, reason, line=number, source=source, fields=props)

    if file_id:
        duplicate = ids.duplicate_reason(file_id, number)
        if duplicate:
            return bad(duplicate)
    targets: dict[str, float] = {}
    for name in target_columns:
        try:
            targets[name] = parse_target(props.get(name, ""))
        except ValueError:
            return bad(
                f"SD property {name!r} is {props[name]!r}, not a number "
                "(leave it out for a missing label)"
            )
    smiles = _mol_to_smiles(mol)
    if not smiles:
        return bad("the SD record has no atoms")
    payload: dict[str, Any] = {"smiles": smiles, "targets": targets}
    if title:
        payload["name"] = title
    if extra_columns:
        payload["columns"] = {name: props.get(name, "") for name in extra_columns}
    return Record(record_id, payload, line=number, source=source)


#: A molfile counts line: atom and bond counts in columns 1-6, ``V2000``/``V3000`` at the end.
_COUNTS_LINE = re.compile(rb"^[ \d]{6}.*V[23]000\s*$")
_TERMINATOR = b"$$$$"
_PREVIEW = 40


@dataclass(frozen=True)
class _SdBlock:
    """The lines of one SD record as found by :func:`_sd_blocks`.

    Attributes:
        first: 1-based line of its title line; ``last``: of its last line.
        text: its bytes, ``$$$$`` included when present.
        problem: why its structure is incomplete (RDKit is not asked), or None.
    """

    first: int
    last: int
    text: bytes
    problem: str | None


def _atom_line(line: bytes) -> bool:
    try:
        float(line[0:10]), float(line[10:20]), float(line[20:30])
    except ValueError:
        return False
    return bool(line[31:34].strip())


def _bond_line(line: bytes) -> bool:
    try:
        int(line[0:3]), int(line[3:6]), int(line[6:9])
    except ValueError:
        return False
    return True


def _counts(line: bytes) -> tuple[int, int] | None:
    """``(atoms, bonds)`` of a V2000 counts line, ``(0, 0)`` for V3000, None if not one."""
    if not _COUNTS_LINE.match(line):
        return None
    if b"V3000" in line:
        return 0, 0
    try:
        return int(line[0:3]), int(line[3:6])
    except ValueError:
        return None


def _show(line: bytes) -> str:
    text = printable(line.rstrip(b"\r\n").decode("utf-8", "replace"))
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "..."


def _sd_blocks(lines: Iterable[bytes]) -> Iterator[_SdBlock]:
    """Cut an SD file into records by their structure, not only by ``$$$$``.

    A record is a 3-line header, a counts line, as many atom and bond lines as it declares
    (V2000; a V3000 block is not counted), properties up to ``M  END``, data items and
    ``$$$$``; blank lines between records are skipped. Where a record ends early (a line that
    is not the atom or bond line due, the end of the input, a new record's counts line
    before its ``M  END``), it becomes a block with a ``problem``, and the next record starts
    3 lines above the next counts line, so a truncated record never swallows the one after
    it (RDKit's supplier reads on to the next ``$$$$`` and loses it). A complete record whose
    ``$$$$`` is missing ends where the next record's header starts.
    """
    ahead: list[bytes] = []  # lines given back, read again first
    source = iter(lines)
    taken = 0  # lines taken from ``source``

    def take() -> bytes | None:
        nonlocal taken
        if ahead:
            return ahead.pop(0)
        line = next(source, None)
        taken += line is not None
        return line

    def give_back(block: list[bytes], keep: int, line: bytes) -> None:
        """Return the last 3 lines of ``block`` (leaving ``keep``) and ``line`` to be read
        again as the next record's header and counts line."""
        count = max(min(3, len(block) - keep), 0)
        ahead[0:0] = [*block[len(block) - count :], line]
        del block[len(block) - count :]

    while True:
        first = taken - len(ahead) + 1
        block: list[bytes] = []
        while len(block) < 4:  # header and counts line
            line = take()
            if line is None:
                break
            block.append(line)
            if line.rstrip() == _TERMINATOR:
                break
        if not block:
            return
        ended = block[-1].rstrip() == _TERMINATOR
        counts = _counts(block[3]) if len(block) == 4 else None
        problem: str | None = None
        if counts is None:
            problem = (
                f"line {first + 3} is not a molfile counts line: {_show(block[3])!r}"
                if len(block) == 4 and not ended
                else "it ends before its counts line"
            )
        else:
            atoms, bonds = counts
            for index in range(atoms + bonds):
                line = take()
                if line is None:
                    problem = (
                        f"the input ends after {index} of its {atoms + bonds} atom and bond lines"
                    )
                    break
                is_atom = index < atoms
                if (_atom_line if is_atom else _bond_line)(line):
                    block.append(line)
                    continue
                what = f"atom {index + 1}" if is_atom else f"bond {index - atoms + 1}"
                problem = (
                    f"line {first + len(block)} should be {what} of its {atoms} atoms and "
                    f"{bonds} bonds but is {_show(line)!r}"
                )
                ahead.insert(0, line)
                break
        body = len(block)
        if not ended and problem is None:
            seen_end = False
            while (line := take()) is not None:
                if _counts(line) is not None and len(block) - 3 >= body:
                    give_back(block, body, line)
                    if not seen_end:
                        problem = (
                            f"a new record starts on line {first + len(block)} before its 'M  END'"
                        )
                    break
                block.append(line)
                if line.rstrip() == _TERMINATOR:
                    break
                seen_end = seen_end or line.startswith(b"M  END")
            else:
                if not seen_end:
                    problem = "the input ends before its 'M  END' line"
        elif not ended:
            while (line := take()) is not None:
                if _counts(line) is not None:
                    give_back(block, 1, line)
                    break
                block.append(line)
                if line.rstrip() == _TERMINATOR:
                    break
        text = b"".join(block)
        if problem is not None and not ended and not text.strip():
            continue  # blank lines between or after records are layout, not a record
        yield _SdBlock(first, first + len(block) - 1, text, problem)


def _parse_sd_block(block: _SdBlock) -> Chem.Mol | str:
    """The molecule of one complete block, or why RDKit refused it."""
    try:
        block.text.decode("utf-8")
    except UnicodeDecodeError as error:
        line = block.first + block.text[: error.start].count(b"\n")
        return f"line {line} holds byte 0x{block.text[error.start]:02X}, which is not UTF-8 text"
    text = block.text if block.text.rstrip().endswith(_TERMINATOR) else block.text + b"\n$$$$\n"
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(text), sanitize=False, removeHs=False)
    with rdBase.BlockLogs():
        mol = next(supplier, None)
    if mol is None:
        return "RDKit could not parse it; check its counts line, atom and bond blocks"
    return mol


def iter_sdf(
    stream: IO[bytes] | Iterable[bytes],
    source: str,
    *,
    target_columns: Sequence[str] = (),
    id_column: str | None = None,
    extra_columns: Sequence[str] = (),
) -> RecordStream:
    """Stream records from an SD file: cut by structure (:func:`_sd_blocks`), each record
    parsed by RDKit on its own.

    Args:
        stream: binary stream (or lines) of (already decompressed) SD text.
        source: file name used in ids (``"<source>:<record>"``) and messages.
        target_columns: SD properties parsed as float labels (absent/blank -> ``nan``).
        id_column: SD property holding the id; ``None`` uses the title line (``_Name``).
        extra_columns: SD properties copied as strings into ``payload["columns"]``.

    Yields:
        One Record or BadRecord per SD record; ``line`` is the 1-based *record* number (the
        reasons name file lines). A record that is truncated or that RDKit cannot parse
        becomes a BadRecord with id ``"<source>:<record>"``; a damaged (gzip) input ends
        with one BadRecord for the record it cuts.
    """
    lines = TextLines(stream)
    ids = IdRegistry("record")
    for number, block in enumerate(_sd_blocks(lines), start=1):
        where = f"SD record {number} (lines {block.first}-{block.last})"
        cut = not block.text.rstrip().endswith(_TERMINATOR) and block.last >= lines.count
        if lines.damage is not None and cut:
            damaged = damage_record(lines.damage, lines.count + 1)
            reason = f"{where} is incomplete: {damaged.reason}"
            yield BadRecord(f"{source}:{number}", reason, line=number, source=source)
            return
        parsed = _parse_sd_block(block) if block.problem is None else None
        if not isinstance(parsed, Chem.Mol):
            detail = block.problem or parsed
            reason = (
                f"{where} is incomplete: {detail}; reading goes on with the next record"
                if block.problem is not None
                else f"{where}: {detail}; check it against the molfile format"
            )
            yield BadRecord(f"{source}:{number}", reason, line=number, source=source)
            continue
        yield _sd_record(parsed, number, source, ids, target_columns, id_column, extra_columns)
    if lines.damage is not None:
        yield damage_record(lines.damage, lines.count + 1, "line")


def read_sdf(
    path: str | Path,
    smiles_column: str | None = None,
    target_columns: Sequence[str] = (),
    id_column: str | None = None,
) -> RecordStream:
    """Stream records from an SD file (gzip transparently; ``"-"`` is stdin).

    ``smiles_column`` is ignored (the SMILES is written from the structure); ``id_column``
    names the SD property holding the id (default: the title line). See :func:`iter_sdf`.
    """
    with open_binary(path) as stream:
        yield from iter_sdf(
            stream, source_name(path), target_columns=target_columns, id_column=id_column
        )


# --------------------------------------------------------------------------- dispatch

Reader = Callable[..., RecordStream]

#: Format suffix (under any ``.gz``) -> reader taking
#: ``(path, smiles_column=None, target_columns=(), id_column=None)``.
READERS: dict[str, Reader] = {
    ".csv": read_csv,
    ".tsv": read_csv,
    ".tab": read_csv,
    ".sdf": read_sdf,
    ".sd": read_sdf,
    ".smi": read_smi,
    ".smiles": read_smi,
}


def reader_for(path: str | Path) -> Reader:
    """The reader for a training / evaluation file, by its suffix (``"-"``: a delimited table
    on stdin). Prediction inputs are dispatched once, by the API, on ``PLUGIN.io.readers``.

    Raises:
        ValueError: the suffix is not one of :data:`READERS`.
    """
    if str(path) == "-":
        return read_csv
    suffix = strip_suffixes(path)
    if suffix not in READERS:
        raise InputFileError(
            f"cannot read {str(path)!r}: unknown molecule file suffix {suffix!r}; use one of "
            f"{sorted(READERS)} (optionally gzipped, '.gz')"
        )
    return READERS[suffix]


def records_from_smiles(smiles: Iterable[str], ids: Iterable[str] | None = None) -> RecordStream:
    """Records from Python strings (notebooks, the Python API).

    Args:
        smiles: SMILES strings.
        ids: one id per SMILES; default the 0-based position as a string (``"0"``, ...),
            matching a pandas default index.

    Yields:
        One Record per SMILES (``source="<python>"``, ``line`` = 1-based position), or a
        BadRecord for an empty / non-string SMILES, a string that is a molecule file name
        (``"mols.csv"``) or a repeated id.

    Raises:
        ValueError: ``ids`` and ``smiles`` have different lengths (raised when one runs out).
    """
    registry = IdRegistry("position")
    id_iter: Iterable[Any] = ids if ids is not None else (str(i) for i in itertools.count())
    for position, (value, record_id) in enumerate(zip(smiles, id_iter, strict=ids is not None)):
        record_id = str(record_id)
        line = position + 1
        fields = {"smiles": value}
        duplicate = registry.duplicate_reason(record_id, line)
        if duplicate:
            yield BadRecord(record_id, duplicate, line=line, source=PYTHON_SOURCE, fields=fields)
        elif not isinstance(value, str):
            reason = f"expected a SMILES string, got {type(value).__name__}"
            yield BadRecord(record_id, reason, line=line, source=PYTHON_SOURCE, fields=fields)
        elif not value.strip():
            yield BadRecord(
                record_id, "empty SMILES", line=line, source=PYTHON_SOURCE, fields=fields
            )
        elif undecodable(value) is not None:
            reason = f"the SMILES is not text: {undecodable(value)}"
            fields = {"smiles": printable(value)}
            yield BadRecord(record_id, reason, line=line, source=PYTHON_SOURCE, fields=fields)
        elif strip_suffixes(value.strip()) in READERS:
            reason = (
                f"{value!r} looks like a molecule file name, not a SMILES; to read the file "
                "pass its path itself (a str or Path, not inside a list)"
            )
            yield BadRecord(record_id, reason, line=line, source=PYTHON_SOURCE, fields=fields)
        else:
            payload = {"smiles": value.strip(), "targets": {}}
            yield Record(record_id, payload, line=line, source=PYTHON_SOURCE)
