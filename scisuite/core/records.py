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
