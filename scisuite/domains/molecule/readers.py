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
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rdkit import Chem, rdBase

from scisuite.core.io import open_binary, open_text, strip_suffixes
from scisuite.core.records import PYTHON_SOURCE, BadRecord, IdRegistry, Record, source_name

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
    raise ValueError(
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
    raise ValueError(
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
        raise ValueError(f"the header of {source} repeats column(s) {duplicated}; rename them")
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


def _csv_row(
    row: list[str], line: int, layout: _CsvLayout, source: str, ids: IdRegistry
) -> Record | BadRecord:
    """One CSV row -> Record, or BadRecord with the reason (ids checked first)."""
    fields = dict(zip(layout.header, row, strict=False))
    file_id = _cell(row, layout.id)
    record_id = file_id or f"{source}:{line}"

    def bad(reason: str) -> BadRecord:
        return BadRecord(record_id, reason, line=line, source=source, fields=fields)

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
        ValueError: a named column is missing, the header repeats a name, or no SMILES
            column can be found: the whole file is unusable as given.
    """
    lines = iter(handle)
    head = list(itertools.islice(lines, SAMPLE_ROWS + 1))
    if not head:
        return
    delimiter = delimiter or _sniff_delimiter(head[0])
    reader = csv.reader(itertools.chain(head, lines), delimiter=delimiter)
    header = [column.strip() for column in next(reader)]
    if header:
        header[0] = header[0].lstrip("\ufeff")
    sample = list(csv.reader(head[1:], delimiter=delimiter))
    layout = _resolve_layout(
        header,
        sample,
        delimiter,
        source,
        smiles_column,
        target_columns,
        id_column,
        name_column,
        extra_columns,
    )
    ids = IdRegistry("line")
    for row in reader:
        if not any(field.strip() for field in row):
            continue
        yield _csv_row(row, reader.line_num, layout, source, ids)


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
    with open_text(path) as handle:
        yield from iter_csv(
            handle,
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
    ``"<source>:<line>"``.
    """
    ids = IdRegistry("line")
    first_content = True
    for line, raw in enumerate(handle, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        smiles, *rest = text.split(None, 1)
        name = rest[0].strip() if rest else ""
        if first_content and smiles.lower() in SMILES_HEADERS:
            first_content = False
            continue
        first_content = False
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
        raise ValueError(
            f"{path} is a SMILES file, which has no target columns; "
            "put labels in a CSV with a header instead"
        )
    with open_text(path) as handle:
        yield from iter_smi(handle, source_name(path))


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


def iter_sdf(
    stream: IO[bytes],
    source: str,
    *,
    target_columns: Sequence[str] = (),
    id_column: str | None = None,
    extra_columns: Sequence[str] = (),
) -> RecordStream:
    """Stream records from an SD file with RDKit's ``ForwardSDMolSupplier``.

    Args:
        stream: binary stream of (already decompressed) SD text.
        source: file name used in ids (``"<source>:<record>"``) and messages.
        target_columns: SD properties parsed as float labels (absent/blank -> ``nan``).
        id_column: SD property holding the id; ``None`` uses the title line (``_Name``).
        extra_columns: SD properties copied as strings into ``payload["columns"]``.

    Yields:
        One Record or BadRecord per SD record; ``line`` is the 1-based *record* number.
        A record RDKit cannot parse becomes a BadRecord with id ``"<source>:<record>"``.
    """
    supplier = Chem.ForwardSDMolSupplier(stream, sanitize=False, removeHs=False)
    ids = IdRegistry("record")
    for number in itertools.count(1):
        with rdBase.BlockLogs():
            mol = next(supplier, False)
        if mol is False:
            return
        if mol is None:
            yield BadRecord(
                f"{source}:{number}",
                f"RDKit could not parse SD record {number}; check its counts line, atom and "
                "bond blocks and the '$$$$' terminator",
                line=number,
                source=source,
            )
            continue
        yield _sd_record(mol, number, source, ids, target_columns, id_column, extra_columns)


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
        raise ValueError(
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
        BadRecord for an empty / non-string SMILES or a repeated id.

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
        else:
            payload = {"smiles": value.strip(), "targets": {}}
            yield Record(record_id, payload, line=line, source=PYTHON_SOURCE)
