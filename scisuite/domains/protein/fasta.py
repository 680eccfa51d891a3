"""Streaming FASTA / multi-FASTA reader with one documented residue policy.

Every ``>`` entry of the input yields exactly one :class:`~scisuite.core.records.Record`
(payload ``{"sequence": str, "description": str, "notes": str}``) or one
:class:`~scisuite.core.records.BadRecord` (with the reason), so a later writer emits one
output row per input entry. Parsing is Biopython's ``SimpleFastaParser`` over
:func:`scisuite.core.io.open_text` (``.gz`` transparently, ``"-"`` is stdin); the file is
read one entry at a time and never held in memory (only the ids seen so far are kept, to
report duplicates).

Residue policy (:func:`normalise_sequence`). Sequences come out over the alphabet
``ACDEFGHIKLMNPQRSTVWY`` plus ``X`` (unknown); everything that is changed is listed in
``payload["notes"]``; nothing is dropped or truncated silently.

=========================================  ==========  ==========================================
Input                                      Action      Note / error
=========================================  ==========  ==========================================
line breaks, spaces, tabs, ``\\r``         removed     none (layout, not sequence; Biopython
                                                       already drops spaces and ``\\r``)
lower case (``mkv``; soft-masked regions)  upper-case  "upper-cased N lower-case letter(s)"
digits (GenBank-style line numbers)        removed     "removed N digit(s) (line numbering)"
gaps ``-`` and ``.`` (aligned FASTA)       removed     "removed N gap character(s) ('-', '.')"
``*`` at the end (one or more)             removed     "removed terminal stop '*'"
``*`` followed by residues                 refused     internal stop: error with its position
``U`` selenocysteine                       -> ``C``    "mapped U->C (selenocysteine) xN"
``O`` pyrrolysine                          -> ``K``    "mapped O->K (pyrrolysine) xN"
``B`` (D or N), ``Z`` (E or Q), ``J``      -> ``X``    "mapped B->X (D or N) xN" etc.: ambiguity
(L or I)                                               codes become unknown, never a guess
``X``                                      kept        none (unknown residue is legal)
any other character (``#``, ``;``, ``?``,  refused     error naming the first such character
non-ASCII letters, ...)                                and its 1-based position
no residues left (empty record, or only    refused     "empty sequence ..."
gaps / digits / stops)
=========================================  ==========  ==========================================

File-level policy (:func:`iter_fasta`):

- An id is the first word of the header; a header with no text gets ``"<source>:<line>"``.
  ``description`` is the rest of the header after the id.
- A repeated id: the first entry is read normally, each later one becomes a BadRecord
  ``duplicate id ... (first seen on line N)``.
- Non-blank text before the first ``>`` header (a CSV, a bare sequence, a ``#`` comment)
  becomes one BadRecord ``not FASTA`` (id ``"<source>:<line>"``), listed before the entries
  that follow; a file without any ``>`` header therefore yields just that one BadRecord.
  An empty (or all-blank) input yields nothing.
- Encoding: UTF-8, or UTF-16/UTF-32/UTF-8 with a byte-order mark (the mark says which).
  A byte that is not UTF-8 refuses only its entry (a BadRecord naming the byte and where
  it is); the entries around it are read as usual. A file that is binary from the start
  (NUL bytes and mostly control characters or non-UTF-8 bytes in its first 4 KiB) is
  refused whole with
  :class:`~scisuite.core.records.InputFileError`.
- Damaged gzip (truncated or corrupt): the entries before the damage are read; the entry
  the damage cuts (or, between entries, the damage itself) becomes one BadRecord naming
  the line where reading stopped; nothing after it can be read.

Positions in messages count the characters of the sequence after whitespace removal, from 1.
"""

from __future__ import annotations

import itertools
import string
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from Bio.SeqIO.FastaIO import SimpleFastaParser

from scisuite.core.io import TextLines, open_text, strip_suffixes
from scisuite.core.plugin import Reader
from scisuite.core.records import (
    PYTHON_SOURCE,
    BadRecord,
    Record,
    RecordError,
    damage_record,
    printable,
    source_name,
    undecodable,
)

RecordStream = Iterator[Record | BadRecord]

#: The 20 standard amino acids, one-letter codes.
STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
#: The letter for an unknown residue.
UNKNOWN_RESIDUE = "X"
#: Every letter a normalised sequence may contain.
SEQUENCE_ALPHABET = STANDARD_RESIDUES + UNKNOWN_RESIDUE
#: Letters replaced by another letter: letter -> (replacement, what the letter means).
RESIDUE_MAP: dict[str, tuple[str, str]] = {
    "U": ("C", "selenocysteine"),
    "O": ("K", "pyrrolysine"),
    "B": (UNKNOWN_RESIDUE, "D or N"),
    "Z": (UNKNOWN_RESIDUE, "E or Q"),
    "J": (UNKNOWN_RESIDUE, "L or I"),
}
#: Alignment gap characters, removed.
GAP_CHARACTERS = "-."
#: Translation stop, removed at the end and refused inside a sequence.
STOP_CHARACTER = "*"

_LETTERS = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_TRANSLATION = str.maketrans({letter: target for letter, (target, _) in RESIDUE_MAP.items()})
_PREVIEW_CHARS = 60


def normalise_sequence(
    raw: str, record_id: str = "<sequence>", line: int | None = None
) -> tuple[str, str]:
    """Apply the residue policy of this module to one raw sequence.

    Args:
        raw: the sequence as written (any case, may hold whitespace, digits, gaps, ``*``).
        record_id: the record's id, for the error message.
        line: 1-based line of the record's header, for the error message.

    Returns:
        ``(sequence, notes)``: the sequence over :data:`SEQUENCE_ALPHABET` (length = number
        of residue letters in ``raw``) and a ``"; "``-separated list of every change made
        (``""`` when none).

    Raises:
        RecordError: an invalid character, an internal stop ``*``, or no residues at all.
    """
    text = "".join(raw.split())
    if text.isascii() and text.isalpha():  # letters only (the usual case): no loop needed
        return _normalise_letters(text)
    residues: list[str] = []
    positions: list[int] = []
    digits = gaps = 0
    for position, char in enumerate(text, start=1):
        if char in _DIGITS:
            digits += 1
        elif char in GAP_CHARACTERS:
            gaps += 1
        elif char in _LETTERS or char == STOP_CHARACTER:
            residues.append(char)
            positions.append(position)
        else:
            invalid = [c for c in text[position:] if not _allowed(c)]
            more = f" (and {len(invalid)} more invalid characters)" if invalid else ""
            raise RecordError(
                record_id,
                f"character {char!r} at position {position} is not an amino-acid letter, gap "
                f"('-', '.'), stop ('*') or digit{more}; correct the sequence or remove this "
                "record",
                line,
            )
    stops = 0
    while residues and residues[-1] == STOP_CHARACTER:
        residues.pop()
        stops += 1
    if STOP_CHARACTER in residues:
        position = positions[residues.index(STOP_CHARACTER)]
        raise RecordError(
            record_id,
            f"internal stop '*' at position {position}: the sequence continues after a stop "
            "codon; split it into separate records or remove the '*'",
            line,
        )
    if not residues:
        removed = "" if not text else " after removing gaps, digits and stops"
        raise RecordError(
            record_id,
            f"empty sequence{removed}: the record has a header but no residues; add its "
            "sequence or remove the record",
            line,
        )
    notes = []
    if digits:
        notes.append(f"removed {digits} digit(s) (line numbering)")
    if gaps:
        notes.append(f"removed {gaps} gap character(s) ('-', '.')")
    if stops:
        notes.append("removed terminal stop '*'")
    sequence, letter_notes = _normalise_letters("".join(residues))
    return sequence, "; ".join([*notes, letter_notes] if letter_notes else notes)


def _normalise_letters(letters: str) -> tuple[str, str]:
    """Upper-case and map ASCII letters (the last steps of :func:`normalise_sequence`)."""
    upper = letters.upper()
    notes = []
    if upper != letters:
        lower = sum(map(str.islower, letters))
        notes.append(f"upper-cased {lower} lower-case letter(s)")
    for letter, (target, meaning) in RESIDUE_MAP.items():
        count = upper.count(letter)
        if count:
            notes.append(f"mapped {letter}->{target} ({meaning}) x{count}")
    return upper.translate(_TRANSLATION), "; ".join(notes)


def _allowed(char: str) -> bool:
    return (
        char in _LETTERS
        or char in _DIGITS
        or char in GAP_CHARACTERS
        or char == STOP_CHARACTER
        or char.isspace()
    )


class _LineTracker:
    """Feeds lines to ``SimpleFastaParser`` while noting header line numbers and any text
    before the first header (which the parser would skip without a word)."""

    def __init__(self, handle: Iterable[str]) -> None:
        self._handle = handle
        self.headers: deque[int] = deque()
        self.preamble_first: tuple[int, str] | None = None
        self.preamble_lines = 0
        self.done = False

    def __iter__(self) -> Iterator[str]:
        seen_header = False
        for number, raw in enumerate(self._handle, start=1):
            if raw.startswith(">"):
                seen_header = True
                self.headers.append(number)
            elif not seen_header and raw.strip():
                self.preamble_lines += 1
                if self.preamble_first is None:
                    self.preamble_first = (number, raw.strip())
            if raw:
                yield raw
        self.done = True


def _preamble_record(tracker: _LineTracker, source: str) -> BadRecord:
    assert tracker.preamble_first is not None
    line, first = tracker.preamble_first
    first = printable(first)
    preview = first if len(first) <= _PREVIEW_CHARS else first[:_PREVIEW_CHARS] + "..."
    reason = (
        f"not FASTA: {tracker.preamble_lines} line(s) of text before the first '>' header "
        f"(line {line}: {preview!r}); FASTA entries start with a '>id description' line, "
        "add a header or pass a FASTA file"
    )
    fields = {"first_line": first, "lines": tracker.preamble_lines}
    return BadRecord(f"{source}:{line}", reason, line=line, source=source, fields=fields)


def iter_fasta(handle: IO[str] | Iterable[str], source: str) -> RecordStream:
    """Stream one Record or BadRecord per FASTA entry of ``handle`` (see the module policy).

    Args:
        handle: text lines (an open file, ``io.StringIO``, a list of lines).
        source: name used in ids and messages (file name, ``"<stdin>"``).

    Yields:
        Records with payload ``{"sequence", "description", "notes"}`` and ``line`` = the
        header's line; BadRecords for refused entries, duplicates and non-FASTA text.
    """
    lines = handle if isinstance(handle, TextLines) else TextLines(handle)
    tracker = _LineTracker(lines)
    first_seen: dict[str, int] = {}
    preamble_reported = False
    cut = False
    for title, raw in SimpleFastaParser(iter(tracker)):
        if not preamble_reported and tracker.preamble_first is not None:
            yield _preamble_record(tracker, source)
        preamble_reported = True
        line = tracker.headers.popleft()
        words = title.split(None, 1)
        record_id = printable(words[0]) if words else f"{source}:{line}"
        description = printable(words[1].strip()) if len(words) > 1 else ""
        fields = {"sequence": printable(raw), "description": description}
        if tracker.done and lines.damage is not None:
            cut = True  # the parser's last entry, cut short by the damage
            damaged = damage_record(lines.damage, lines.count + 1)
            reason = f"this entry (header on line {line}) is incomplete: {damaged.reason}"
            yield BadRecord(record_id, reason, line=line, source=source, fields=fields)
            continue
        if record_id in first_seen:
            reason = f"duplicate id {record_id!r} (first seen on line {first_seen[record_id]})"
            yield BadRecord(record_id, reason, line=line, source=source, fields=fields)
            continue
        first_seen[record_id] = line
        bad_bytes = _undecodable_entry(title, raw)
        if bad_bytes is not None:
            yield BadRecord(record_id, bad_bytes, line=line, source=source, fields=fields)
            continue
        try:
            sequence, notes = normalise_sequence(raw, record_id, line)
        except RecordError as error:
            yield BadRecord(record_id, error.reason, line=line, source=source, fields=fields)
            continue
        payload = {"sequence": sequence, "description": description, "notes": notes}
        yield Record(record_id, payload, line=line, source=source)
    if not preamble_reported and tracker.preamble_first is not None:
        yield _preamble_record(tracker, source)
    if lines.damage is not None and not cut:
        yield damage_record(lines.damage, lines.count + 1)


def _undecodable_entry(title: str, raw: str) -> str | None:
    """Why an entry holds bytes that are not UTF-8 (in its header or sequence), or None."""
    for part, text, unit in (("header", ">" + title, "column"), ("sequence", raw, "position")):
        reason = undecodable(text, unit)
        if reason is not None:
            return f"in the {part}: {reason}"
    return None


def read_fasta(path: str | Path, **_options: Any) -> RecordStream:
    """Stream records from a FASTA file (``.gz`` transparently; ``"-"`` is stdin; UTF-8, or
    UTF-16/32 with a byte-order mark).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputFileError: ``path`` is a directory or binary data.
    """
    with open_text(path, errors="surrogateescape") as handle:
        yield from iter_fasta(TextLines(handle), source_name(path))


#: Format suffix (under any ``.gz``) -> reader taking ``(path)``.
READERS: dict[str, Reader] = {
    ".fasta": read_fasta,
    ".fa": read_fasta,
    ".faa": read_fasta,
    ".fas": read_fasta,
}


def records_from_sequences(
    sequences: Iterable[str], ids: Iterable[str] | None = None
) -> RecordStream:
    """Records from Python strings (notebooks, the Python API), under the same policy.

    Args:
        sequences: raw amino-acid sequences.
        ids: one id per sequence; default the 0-based position as a string (``"0"``, ...),
            matching a pandas default index.

    Yields:
        One Record per sequence (``source="<python>"``, ``line`` = 1-based position,
        ``description=""``), or a BadRecord for a non-string, a string that is a FASTA file
        name (``"x.fasta"``), a refused sequence or a repeated id.

    Raises:
        ValueError: ``ids`` and ``sequences`` have different lengths (raised when one runs
            out).
    """
    first_seen: dict[str, int] = {}
    id_iter: Iterable[Any] = ids if ids is not None else (str(i) for i in itertools.count())
    pairs = zip(sequences, id_iter, strict=ids is not None)
    for position, (value, raw_id) in enumerate(pairs, start=1):
        record_id = str(raw_id)
        fields = {"sequence": value, "description": ""}
        reason = None
        if record_id in first_seen:
            reason = f"duplicate id {record_id!r} (first seen at position {first_seen[record_id]})"
        else:
            first_seen[record_id] = position
            if not isinstance(value, str):
                reason = f"expected a sequence string, got {type(value).__name__}"
            elif strip_suffixes(value) in READERS:
                reason = (
                    f"{value!r} looks like a FASTA file name, not a sequence; to read the file "
                    "pass its path itself (a str or Path, not inside a list)"
                )
        if reason is None:
            try:
                sequence, notes = normalise_sequence(value, record_id, position)
            except RecordError as error:
                reason = error.reason
        if reason is not None:
            yield BadRecord(record_id, reason, line=position, source=PYTHON_SOURCE, fields=fields)
            continue
        payload = {"sequence": sequence, "description": "", "notes": notes}
        yield Record(record_id, payload, line=position, source=PYTHON_SOURCE)
