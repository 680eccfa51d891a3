"""File helpers shared by every domain: transparent gzip / stdin, atomic writes, tables."""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

TABLE_FORMATS = ("csv", "tsv", "parquet", "jsonl")


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    current = os.umask(0)
    os.umask(current)
    return current


def _publish_mode(path: Path, directory: bool) -> None:
    """mkstemp/mkdtemp create 0600/0700; give the final file the usual umask-based mode."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


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
        gzipped = probe.read(2) == b"\x1f\x8b"
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


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Like :func:`atomic_path` for a directory (checkpoints): build aside, then swap in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        if path.exists():
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


def _chunks(
    rows: Iterable[dict[str, Any]], columns: list[str], size: int
) -> Iterator[pd.DataFrame]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield pd.DataFrame.from_records(chunk).reindex(columns=columns)


def write_rows(
    rows: Iterable[dict[str, Any]],
    path: str | Path,
    columns: list[str],
    fmt: str | None = None,
    chunk_rows: int = 10_000,
) -> int:
    """Stream rows to a table atomically with a fixed column order; returns the row count.

    Memory holds one chunk of ``chunk_rows`` rows; the file appears under its final name
    only once complete.
    """
    fmt = table_format(path, fmt)
    count = 0
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer: pq.ParquetWriter | None = None
            for frame in _chunks(rows, columns, chunk_rows):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(str(tmp), table.schema)
                writer.write_table(table.cast(writer.schema))
                count += len(frame)
            if writer is None:
                pd.DataFrame(columns=columns).to_parquet(tmp, index=False)
            else:
                writer.close()
            return count
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            sep = "\t" if fmt == "tsv" else ","
            header = True
            for frame in _chunks(rows, columns, chunk_rows):
                if fmt == "jsonl":
                    handle.write(frame.to_json(orient="records", lines=True).rstrip("\n") + "\n")
                else:
                    frame.to_csv(handle, index=False, header=header, sep=sep)
                header = False
                count += len(frame)
            if header and fmt != "jsonl":
                handle.write(sep.join(columns) + "\n")
    return count
