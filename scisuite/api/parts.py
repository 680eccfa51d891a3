"""Part files of a sharded scoring job: one shard's rows written atomically as Parquet.

A part is written aside and renamed into place, and its checksum is taken from the bytes
written, so a manifest entry always describes a complete file. The single-process path
(:mod:`scisuite.api.batch`) and the distributed one (:mod:`scisuite.api.batch_ranks`) both
write parts here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scisuite.api.manifest import PART_SUFFIX, ShardEntry
from scisuite.core.io import atomic_path
from scisuite.core.sources import sha256_file


def part_file(index: int) -> str:
    """``part-00042.parquet``: the file name of shard ``index``."""
    return f"part-{index:05d}{PART_SUFFIX}"


def write_part(
    parts: Path,
    index: int,
    first: int,
    rows: list[dict[str, Any]],
    columns: list[str],
    run: int,
    seconds: float,
) -> ShardEntry:
    """Write shard ``index`` (records ``first .. first + len(rows) - 1``) atomically to
    ``parts``; returns its manifest entry (the caller records it).

    Args:
        parts: the parts directory.
        index: shard number.
        first: index of the shard's first record in the input.
        rows: its rows, in input order (one per record).
        columns: the output columns, in order.
        run: which run of the job (1, 2, ...) scored it.
        seconds: wall time the shard took, s.
    """
    import pyarrow.parquet as pq

    name = part_file(index)
    table = arrow_table(rows, columns)
    with atomic_path(parts / name) as tmp:
        pq.write_table(table, tmp)
        checksum = sha256_file(tmp)
    errors = sum(row.get("status") == "error" for row in rows)
    return ShardEntry(
        index=index,
        first=first,
        last=first + len(rows) - 1,
        rows=len(rows),
        ok=len(rows) - errors,
        errors=errors,
        file=name,
        sha256=checksum,
        run=run,
        seconds=round(seconds, 3),
    )


def arrow_table(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    """The rows as an Arrow table with each value's own type (ints stay ints next to
    missing values), so that reading a part back gives the rows that were written."""
    import pyarrow as pa

    arrays = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        try:
            arrays[column] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            kinds = sorted({type(v).__name__ for v in values if v is not None})
            raise ValueError(
                f"column {column!r} mixes value types {kinds} within one shard and cannot be "
                f"stored in a part file ({error}); write it without --resume / --shard-size"
            ) from error
    return pa.table(arrays)
