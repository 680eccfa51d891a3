"""Input records and the typed errors that carry a record's id and the reason it failed.

Readers yield :class:`Record` (readable) or :class:`BadRecord` (could not even be read,
e.g. a truncated FASTA entry or a CSV row with a missing column). Featurizers raise
:class:`RecordError`. Either way the record still produces one output row, with
``status="error"`` and the reason, so nothing is silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STDIN_SOURCE = "<stdin>"
PYTHON_SOURCE = "<python>"


def source_name(path: str | Path) -> str:
    """What records read from ``path`` name as their source: the file name, or
    :data:`STDIN_SOURCE` for ``"-"``."""
    return STDIN_SOURCE if str(path) == "-" else Path(path).name


@dataclass(frozen=True)
class Record:
    """One input item.

    Attributes:
        id: stable identifier (from the file, or ``"<source>:<line>"`` when it has none).
        payload: domain data, e.g. ``{"smiles": ..., "targets": {...}}`` or a sequence string.
        line: 1-based line (or record) number in the source, for error messages.
        source: file name or ``"<stdin>"`` / ``"<python>"``.
    """

    id: str
    payload: Any
    line: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be read; carries what is known of it and why.

    Attributes:
        id: identifier if one could be read, else ``"<source>:<line>"``.
        reason: what is wrong, in words a user can act on.
        line: 1-based line number in the source.
        source: file name.
        fields: whatever raw fields were read (echoed into the output row).
    """

    id: str
    reason: str
    line: int | None = None
    source: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class RecordError(ValueError):
    """A record is invalid for this domain (unparsable SMILES, non-standard residue, ...).

    Args:
        record_id: the record's id.
        reason: why it failed.
        line: 1-based line number in the source, when known.
    """

    def __init__(self, record_id: str, reason: str, line: int | None = None) -> None:
        self.record_id = record_id
        self.reason = reason
        self.line = line
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"record {record_id!r}{where}: {reason}")


class InputFileError(ValueError):
    """A whole input cannot be read as given: it is missing, a directory, binary, or has no
    usable header. The message names the file and says what to do; no record of it is read.
    (Damage found part-way through a file is not this error: the records read before it keep
    their rows and the damage becomes one :class:`BadRecord`, see
    :class:`DamagedInputError`.)"""


class DamagedInputError(InputFileError):
    """The compressed data of an input is truncated or corrupt part-way through.

    Raised by the input stream when it reaches the damage, after every byte before it has
    been delivered; readers catch it and report it as one :class:`BadRecord` after the
    records read so far (see :func:`damage_record`).

    Args:
        source: the input's name (file name or ``"<stdin>"``).
        detail: what is wrong, e.g. ``"the gzip stream ends before its end marker"``.
        offset: bytes of decompressed data delivered before the damage.
    """

    def __init__(self, source: str, detail: str, offset: int) -> None:
        self.source = source
        self.detail = detail
        self.offset = offset
        super().__init__(f"{source} is damaged after {offset} decompressed bytes: {detail}")


def damage_record(error: DamagedInputError, line: int, what: str = "line") -> BadRecord:
    """The one row a damaged input ends with: id ``"<source>:<line>"``, where ``line`` is the
    first line (or record, per ``what``) that could not be read."""
    reason = (
        f"the input is damaged: {error.detail}; reading stopped at {what} {line} after "
        f"{error.offset} decompressed bytes; the records before it were read, any after it are "
        "lost; re-download or re-compress the file (e.g. `gzip -t FILE` shows the damage)"
    )
    return BadRecord(f"{error.source}:{line}", reason, line=line, source=error.source)


#: Lone surrogates U+DC80..U+DCFF: the bytes that were not UTF-8, kept by ``surrogateescape``.
_ESCAPED = range(0xDC80, 0xDD00)


def undecodable(text: str, unit: str = "column") -> str | None:
    """Why ``text`` (decoded with ``errors="surrogateescape"``) is not UTF-8, or None if it is:
    names the first bad byte (or other lone surrogate, from Python strings) and its 1-based
    ``unit`` (column, position)."""
    try:
        text.encode("utf-8")
        return None  # the common case, at C speed
    except UnicodeEncodeError as error:
        start = error.start
    for column, char in enumerate(text[start:], start=start + 1):
        if ord(char) in _ESCAPED:
            byte = ord(char) - 0xDC00
            return (
                f"byte 0x{byte:02X} at {unit} {column} is not UTF-8 text (Latin-1 / Windows-1252, "
                "as some spreadsheets export, writes e.g. 'e acute' as 0xE9); convert the file "
                "with `iconv -f cp1252 -t utf-8 IN > OUT` or re-save it as UTF-8"
            )
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"U+{ord(char):04X} at {unit} {column} is a lone surrogate, not a character"
    return None


def printable(text: str) -> str:
    """``text`` with undecodable bytes (lone surrogates) shown as U+FFFD, safe to write."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    return text


def location(record: Record | BadRecord) -> str:
    """``"file.csv line 17"``-style location for messages."""
    parts = [record.source or "input"]
    if record.line is not None:
        parts.append(f"line {record.line}")
    return " ".join(parts)


class IdRegistry:
    """Remembers where each id of one input was first seen, to report duplicates.

    Args:
        unit: what the position counts, ``"line"``, ``"record"`` or ``"position"`` (messages).
    """

    def __init__(self, unit: str = "line") -> None:
        self._unit = unit
        self._first: dict[str, int | None] = {}

    def duplicate_reason(self, record_id: str, position: int | None) -> str | None:
        """Register ``record_id``; return why it is a duplicate, or ``None`` if it is new."""
        if record_id in self._first:
            return (
                f"duplicate id {record_id!r} (first seen on {self._unit} {self._first[record_id]})"
            )
        self._first[record_id] = position
        return None


@dataclass(frozen=True)
class EchoField:
    """``echo_columns`` of a domain whose rows repeat the record's ``id`` and one input field
    (the SMILES, the sequence), read from the payload, or from what a bad record kept.

    Attributes:
        name: the payload key, also the output column.
    """

    name: str

    def __call__(self, record: Record | BadRecord) -> dict[str, Any]:
        if isinstance(record, Record):
            value = record.payload.get(self.name) if isinstance(record.payload, dict) else None
        else:
            value = record.fields.get(self.name)
        return {"id": record.id, self.name: value}
