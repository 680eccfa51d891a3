"""File helpers shared by every domain: transparent gzip / stdin / byte-order marks for inputs,
atomic writes, tables."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from scisuite.core.records import DamagedInputError, InputFileError, source_name

TABLE_FORMATS = ("csv", "tsv", "parquet", "jsonl")
_GZIP_MAGIC = b"\x1f\x8b"


class ResumeError(ValueError):
    """An interrupted run (training, sharded scoring) cannot be resumed: there is nothing to
    resume, or its input or settings changed; the message says what and how to start fresh."""


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    current = os.umask(0)
    os.umask(current)
    return current


def _publish_mode(path: Path, directory: bool) -> None:
    """mkstemp/mkdtemp create 0600/0700; give the final file the usual umask-based mode."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


#: Byte-order marks, longest first (UTF-32 LE starts like UTF-16 LE), and the codec that reads
#: (and drops) them.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
#: Bytes of (decompressed) input looked at for a byte-order mark and binary content.
_SNIFF_BYTES = 4096
_COMPRESSED_CHUNK = 64 * 1024
_INFLATED_CHUNK = 1024 * 1024


class _SalvagingGzip(io.RawIOBase):
    """Decompresses gzip (one or more members) and, at a truncation or corruption, first
    delivers every byte decompressed before it and only then raises
    :class:`~scisuite.core.records.DamagedInputError` (``gzip.GzipFile`` raises ``EOFError``
    or ``BadGzipFile`` and loses what it had decompressed of the current block)."""

    def __init__(self, raw: IO[bytes], source: str) -> None:
        super().__init__()
        self._raw = raw
        self._source = source
        self._inflate: Any = None
        self._pending = b""
        self._leftover = b""
        self._delivered = 0
        self._error: DamagedInputError | None = None
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and self._error is None and not self._eof:
            self._fill()
        if self._pending:
            size = min(len(buffer), len(self._pending))
            buffer[:size] = self._pending[:size]
            self._pending = self._pending[size:]
            self._delivered += size
            return size
        if self._error is not None:
            raise self._error
        return 0

    def _damaged(self, detail: str) -> None:
        self._error = DamagedInputError(self._source, detail, self._delivered + len(self._pending))

    def _fill(self) -> None:
        if self._inflate is not None and self._inflate.unconsumed_tail:
            data = self._inflate.unconsumed_tail
        elif self._leftover:
            data, self._leftover = self._leftover, b""
        else:
            data = self._raw.read(_COMPRESSED_CHUNK)
            if not data:
                self._eof = True
                if self._inflate is not None:
                    self._damaged("the gzip data ends early (the file is truncated)")
                return
        if self._inflate is None:
            if not data.strip(b"\0"):
                return  # zero padding after the last member, as tape tools write
            if not data.startswith(_GZIP_MAGIC[: len(data)]):
                self._damaged("bytes after the end of the gzip data are not gzip")
                return
            self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        backup = self._inflate.copy()
        try:
            self._pending = self._inflate.decompress(data, _INFLATED_CHUNK)
        except zlib.error as error:
            # zlib returns nothing of a call that fails: replay it byte by byte from the copy
            # to deliver what decompresses before the damage.
            self._pending = _inflate_until_error(backup, data)
            detail = f"corrupt gzip data ({error})"
            if "check" in str(error):  # the CRC / length check at the end of a member
                detail += (
                    "; the check covers the whole gzip member, so the records read from it "
                    "may be damaged too"
                )
            self._damaged(detail)
            return
        if self._inflate.eof:
            self._leftover = self._inflate.unused_data
            self._inflate = None


def _inflate_until_error(inflate: Any, data: bytes) -> bytes:
    """What ``inflate`` gives for ``data`` fed one byte at a time, up to its first error."""
    out = []
    for index in range(len(data)):
        try:
            out.append(inflate.decompress(data[index : index + 1]))
        except zlib.error:
            break
    return b"".join(out)


def _open_raw(path: str | Path, stack: contextlib.ExitStack) -> IO[bytes]:
    """The raw bytes of an input: stdin for ``"-"``, else the file (typed errors if it is
    missing, a directory or unreadable)."""
    if str(path) == "-":
        return sys.stdin.buffer
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(
            f"input file {str(path)!r} does not exist (looked in {Path.cwd()}); check the path"
        )
    if file.is_dir():
        raise InputFileError(
            f"{str(path)!r} is a directory, not an input file; pass the files in it "
            f"(e.g. {str(Path(path) / '*')})"
        )
    try:
        return stack.enter_context(file.open("rb"))
    except OSError as error:
        raise InputFileError(f"cannot open input file {str(path)!r}: {error.strerror}") from error


@contextlib.contextmanager
def open_binary(path: str | Path) -> Iterator[IO[bytes]]:
    """Open a binary input: ``"-"`` is stdin; gzip (magic ``1f 8b``) is decompressed.

    Damaged gzip data delivers every byte before the damage, then raises
    :class:`~scisuite.core.records.DamagedInputError` from ``read``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputFileError: ``path`` is a directory or cannot be opened.
    """
    with contextlib.ExitStack() as stack:
        raw = _open_raw(path, stack)
        buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            yield io.BufferedReader(_SalvagingGzip(buffered, source_name(path)))
        else:
            yield buffered


@contextlib.contextmanager
def open_text(path: str | Path, errors: str = "strict") -> Iterator[IO[str]]:
    """Open a text input: ``"-"`` is stdin, gzip is decompressed on the fly (see
    :func:`open_binary`); lines keep their line endings (``newline=""``).

    The encoding is UTF-8, or what a byte-order mark says (UTF-8, UTF-16 or UTF-32 with a BOM;
    the mark is dropped). Readers pass ``errors="surrogateescape"`` so that a byte that is not
    UTF-8 does not stop the read: it arrives as a lone surrogate that
    :func:`~scisuite.core.records.undecodable` finds, and only its record is refused. UTF-16/32
    text always decodes with ``errors="replace"`` (U+FFFD for a broken pair).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputFileError: ``path`` is a directory, cannot be opened, or is binary (a NUL byte
            in its first 4 KiB outside UTF-16/32).
    """
    if str(path) == "-" and not hasattr(sys.stdin, "buffer"):
        yield sys.stdin  # already text (a test's StringIO, an embedding application)
        return
    with open_binary(path) as stream:
        buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
        try:
            head = buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
        except DamagedInputError:
            head = b""  # raised again, with the reader's position, at the first read
        encoding = next((codec for bom, codec in _BOMS if head.startswith(bom)), "utf-8")
        if encoding in ("utf-8", "utf-8-sig") and _looks_binary(head):
            raise InputFileError(
                f"{source_name(path)} is binary data, not text (its first {len(head)} bytes "
                "hold NUL bytes and are mostly control characters or not UTF-8); pass a text "
                "file (optionally gzipped)"
            )
        if encoding.startswith(("utf-16", "utf-32")):
            errors = "replace"
        handle = io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")
        try:
            yield handle
        finally:
            handle.detach()  # the stream (stdin included) is closed by open_binary, not here


def _looks_binary(head: bytes) -> bool:
    """Whether the first bytes of an input are binary data rather than text with a few bad
    bytes: they hold a NUL byte and more than 30% of them are control characters or not
    UTF-8 (one stray byte in a text file refuses its record, never the file)."""
    if b"\0" not in head:
        return False
    text = head.decode("utf-8", "surrogateescape")
    odd = sum(
        1 for char in text if (ord(char) < 32 and char not in "\t\n\r\f\v") or char in _ESCAPES
    )
    return odd > 0.3 * len(text)


_ESCAPES = frozenset(map(chr, range(0xDC80, 0xDD00)))


class TextLines:
    """The lines of a text handle, counted, stopping at damage instead of raising.

    Attributes:
        count: lines delivered so far.
        damage: the :class:`~scisuite.core.records.DamagedInputError` that stopped the lines,
            or None (the input ended normally).
    """

    def __init__(self, handle: Iterable[str]) -> None:
        self._handle = handle
        self.count = 0
        self.damage: DamagedInputError | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            for line in self._handle:
                self.count += 1
                yield line
        except DamagedInputError as error:
            self.damage = error


def strip_suffixes(path: str | Path) -> str:
    """``"mols.csv.gz"`` -> ``".csv"``: the format suffix under any compression suffix."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    A crash or exception leaves ``path`` untouched (old content, or absent) and removes
    the temporary file, so no half-written output ever exists under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _publish_mode(tmp_path, directory=False)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_or_print(text: str, path: str | Path | None) -> None:
    """``text`` plus a newline written atomically to ``path``, or printed when ``path`` is
    None (the ``-o FILE`` / stdout choice of the bench scripts)."""
    if path is None:
        print(text)
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns:
        True if swapped; False where the platform or file system cannot (nothing changed).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no libc symbol (glibc < 2.28, musl)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
            return False
        raise OSError(code, os.strerror(code), str(second))
    return True


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Like :func:`atomic_path` for a directory (checkpoints): build aside, then swap in.

    An existing ``path`` is exchanged with the new directory in one atomic step where the
    system allows it (Linux), so a process killed at any point leaves the complete old or
    the complete new directory under ``path``. Elsewhere the old directory is first moved
    to ``.<name>.old`` next to it: a kill between the two renames leaves it there (the
    loader's message names it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        if path.is_dir() and exchange_paths(tmp, path):
            if tmp.is_symlink():  # path was a link to a directory: drop the link only
                tmp.unlink()
            else:
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old directory
        elif path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def table_format(path: str | Path, explicit: str | None = None) -> str:
    """The table format from ``--format`` or the output suffix (default csv)."""
    fmt = (explicit or strip_suffixes(path).lstrip(".") or "csv").lower()
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose one of {list(TABLE_FORMATS)}")
    return fmt


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write a DataFrame atomically as CSV, TSV, Parquet or JSON Lines."""
    fmt = table_format(path, fmt)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        elif fmt == "tsv":
            frame.to_csv(tmp, index=False, sep="\t")
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True)
    return Path(path)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (format from the suffix)."""
    fmt = table_format(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, orient="records", lines=True)
    return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")


def text_stream(text: str) -> IO[str]:
    """An in-memory text handle (for readers fed from Python strings)."""
    return io.StringIO(text)


class TableSink:
    """A table written row by row: CSV / TSV / JSON Lines / Parquet, atomically.

    Rows are buffered ``chunk_rows`` at a time and appended to a temporary file next to
    ``path``; :meth:`close` renames it onto ``path`` (so memory holds one chunk, and the
    file appears under its final name only once complete); :meth:`abort` removes it.

    Args:
        path: the table's final path.
        columns: column order; a row's other keys are dropped, missing ones are empty.
        fmt: ``csv``, ``tsv``, ``parquet`` or ``jsonl`` (default: from the suffix).
        chunk_rows: rows per write.
    """

    def __init__(
        self,
        path: str | Path,
        columns: list[str],
        fmt: str | None = None,
        chunk_rows: int = 10_000,
    ) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.fmt = table_format(path, fmt)
        self.chunk_rows = chunk_rows
        self.rows = 0
        self._pending: list[dict[str, Any]] = []
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._handle: IO[str] | None = None
        self._parquet: Any = None
        self._header = True

    def write(self, row: dict[str, Any]) -> None:
        """Add one row (written when the chunk is full)."""
        self._pending.append(row)
        if len(self._pending) >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        frame = pd.DataFrame.from_records(self._pending).reindex(columns=self.columns)
        self._pending = []
        self.rows += len(frame)
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self._tmp), table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
            return
        if self._handle is None:
            self._handle = self._tmp.open("w", encoding="utf-8", newline="")
        if self.fmt == "jsonl":
            self._handle.write(frame.to_json(orient="records", lines=True).rstrip("\n") + "\n")
        else:
            sep = "\t" if self.fmt == "tsv" else ","
            frame.to_csv(self._handle, index=False, header=self._header, sep=sep)
        self._header = False

    def close(self) -> list[Path]:
        """Write what is left and publish the table; returns ``[path]``."""
        try:
            self._flush()
            if self.fmt == "parquet":
                if self._parquet is None:
                    pd.DataFrame(columns=self.columns).to_parquet(self._tmp, index=False)
                else:
                    self._parquet.close()
            else:
                if self._handle is None:
                    self._handle = self._tmp.open("w", encoding="utf-8", newline="")
                if self._header and self.fmt != "jsonl":
                    sep = "\t" if self.fmt == "tsv" else ","
                    self._handle.write(sep.join(self.columns) + "\n")
                self._handle.close()
        except BaseException as error:
            self._release(error)
            raise
        self._atomic.__exit__(None, None, None)
        return [self.path]

    def abort(self) -> None:
        """Remove the temporary file; ``path`` keeps its old content (or stays absent)."""
        self._release(RuntimeError("aborted"))

    def _release(self, error: BaseException) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        if self._parquet is not None:
            with contextlib.suppress(Exception):
                self._parquet.close()
        with contextlib.suppress(RuntimeError):
            self._atomic.__exit__(type(error), error, error.__traceback__)


def write_rows(
    rows: Iterable[dict[str, Any]],
    path: str | Path,
    columns: list[str],
    fmt: str | None = None,
    chunk_rows: int = 10_000,
) -> int:
    """Stream rows to a table atomically with a fixed column order; returns the row count.

    Memory holds one chunk of ``chunk_rows`` rows; the file appears under its final name
    only once complete (see :class:`TableSink`).
    """
    sink = TableSink(path, columns, fmt, chunk_rows)
    try:
        for row in rows:
            sink.write(row)
    except BaseException:
        sink.abort()
        raise
    sink.close()
    return sink.rows
