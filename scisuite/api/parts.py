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


class ShardRows:
    """The rows of one shard as they arrive, held as Arrow tables of ``chunk_rows`` rows.

    A shard of Python row dicts costs ~1 KB a row (~80 MB for an 80,000-row shard); Arrow
    columns hold the same rows in roughly a tenth of that and are freed whole. A column keeps
    each value's own type across chunks (a chunk where a column is all missing takes the
    other chunks' type).

    Args:
        columns: the output columns, in order.
        chunk_rows: rows converted to Arrow at a time.
    """

    def __init__(self, columns: list[str], chunk_rows: int = 10_000) -> None:
        self.columns, self.chunk_rows = columns, chunk_rows
        self.count = 0
        self._pending: list[dict[str, Any]] = []
        self._chunks: list[Any] = []

    def __len__(self) -> int:
        return self.count

    def append(self, row: dict[str, Any]) -> None:
        self._pending.append(row)
        self.count += 1
        if len(self._pending) >= self.chunk_rows:
            self._freeze()

    def _freeze(self) -> None:
        if self._pending or not self._chunks:
            self._chunks.append(arrow_table(self._pending, self.columns))
            self._pending = []

    def table(self) -> Any:
        """All rows so far as one Arrow table."""
        import pyarrow as pa

        self._freeze()
        try:
            table = pa.concat_tables(self._chunks, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise ValueError(
                f"a column mixes value types within one shard and cannot be stored in a part "
                f"file ({error}); write it without --resume / --shard-size"
            ) from error
        return table.combine_chunks()


def write_part(
    parts: Path,
    index: int,
    first: int,
    rows: ShardRows,
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
        run: which run of the job (1, 2, ...) scored it.
        seconds: wall time the shard took, s.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    name = part_file(index)
    table = rows.table()
    with atomic_path(parts / name) as tmp:
        pq.write_table(table, tmp)
        checksum = sha256_file(tmp)
    errors = int(pc.sum(pc.equal(table["status"], "error")).as_py() or 0)
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
        # Microseconds: a small shard of a fast domain takes well under a millisecond,
        # and a rate needs its time to be non-zero.
        seconds=round(seconds, 6),
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
