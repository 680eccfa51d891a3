"""Rows to an open text stream (stdout) as CSV, TSV or JSON Lines, a chunk at a time, so a
pipe such as ``sci predict x.smi | head`` sees the first rows while scoring goes on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

import pandas as pd

STREAM_FORMATS = ("csv", "tsv", "jsonl")


def stream_rows(
    rows: Iterable[dict[str, Any]],
    stream: IO[str],
    columns: list[str],
    fmt: str = "csv",
    header: bool = True,
    chunk_rows: int = 64,
) -> int:
    """Write ``rows`` to ``stream`` with a fixed column order; returns the row count.

    Args:
        fmt: ``csv``, ``tsv`` or ``jsonl`` (Parquet needs a seekable file, not a stream).
        header: write the header line before the first row (CSV/TSV), also for no rows.
        chunk_rows: rows per write and flush.
    """
    if fmt not in STREAM_FORMATS:
        raise ValueError(f"{fmt} cannot be streamed; choose one of {list(STREAM_FORMATS)}")
    count, pending = 0, []

    def flush() -> None:
        nonlocal header
        frame = pd.DataFrame.from_records(pending).reindex(columns=columns)
        if fmt == "jsonl":
            stream.write(frame.to_json(orient="records", lines=True).rstrip("\n") + "\n")
        else:
            frame.to_csv(stream, index=False, header=header, sep="\t" if fmt == "tsv" else ",")
            header = False
        stream.flush()
        pending.clear()

    for row in rows:
        pending.append(row)
        count += 1
        if len(pending) >= chunk_rows:
            flush()
    if pending:
        flush()
    elif header and fmt != "jsonl":
        stream.write(("\t" if fmt == "tsv" else ",").join(columns) + "\n")
        stream.flush()
    return count
