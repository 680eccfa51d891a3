"""File helpers shared by every domain: transparent gzip / stdin, atomic writes, tables."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gzip
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

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


@contextlib.contextmanager
def open_binary(path: str | Path) -> Iterator[IO[bytes]]:
    """Open a binary input: ``"-"`` is stdin; gzip (magic ``1f 8b``) is decompressed."""
    with contextlib.ExitStack() as stack:
        if str(path) == "-":
            raw: IO[bytes] = sys.stdin.buffer
        else:
            if not Path(path).exists():
                raise FileNotFoundError(f"input file {str(path)!r} does not exist")
            raw = stack.enter_context(Path(path).open("rb"))
        buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            yield stack.enter_context(gzip.GzipFile(fileobj=buffered, mode="rb"))
        else:
            yield buffered


@contextlib.contextmanager
def open_text(path: str | Path) -> Iterator[IO[str]]:
    """Open a text input: ``"-"`` is stdin, ``*.gz`` is decompressed on the fly."""
    if str(path) == "-":
        yield sys.stdin
        return
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file {str(path)!r} does not exist")
    with path.open("rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    if gzipped:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            yield handle
    else:
        with path.open("r", encoding="utf-8", newline="") as handle:
            yield handle


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
