"""Shard rows held as Arrow chunks: the part holds the rows as written, whatever the chunking."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scisuite.api.parts import ShardRows, write_part

COLUMNS = ["id", "score", "count", "status", "error"]


def _row(i: int) -> dict:
    bad = i % 5 == 4
    return {
        "id": f"r{i}",
        "score": None if bad else i / 3,
        "count": None if bad else i,
        "status": "error" if bad else "ok",
        "error": "unparsable" if bad else "",
    }


def test_chunked_rows_write_the_part_one_table_writes(tmp_path: Path) -> None:
    rows = [_row(i) for i in range(23)]
    chunked, whole = ShardRows(COLUMNS, chunk_rows=4), ShardRows(COLUMNS, chunk_rows=100)
    for row in rows:
        chunked.append(row)
        whole.append(row)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    entry = write_part(tmp_path / "a", 3, 60, chunked, run=2, seconds=1.5)
    write_part(tmp_path / "b", 3, 60, whole, run=2, seconds=1.5)
    assert (tmp_path / "a" / entry.file).read_bytes() == (tmp_path / "b" / entry.file).read_bytes()
    assert pq.read_table(tmp_path / "a" / entry.file).to_pylist() == rows
    assert (entry.first, entry.last, entry.rows, entry.errors, entry.ok) == (60, 82, 23, 4, 19)
    assert entry.file == "part-00003.parquet" and entry.run == 2


def test_a_chunk_where_a_column_is_all_missing_takes_the_other_chunks_type(tmp_path) -> None:
    rows = ShardRows(COLUMNS, chunk_rows=2)
    for i in (4, 9, 0, 1):  # the first chunk's score and count are all None
        rows.append(_row(i))
    table = rows.table()
    assert str(table.schema.field("score").type) == "double"
    assert str(table.schema.field("count").type) == "int64"
    assert table.column("count").to_pylist() == [None, None, 0, 1]


def test_a_column_mixing_text_and_numbers_is_refused_by_name() -> None:
    rows = ShardRows(COLUMNS, chunk_rows=2)
    for row in (_row(0), _row(1), {**_row(2), "score": "high"}, {**_row(3), "score": "low"}):
        rows.append(row)  # each chunk is of one type: the concatenation refuses
    with pytest.raises(ValueError, match="mixes value types"):
        rows.table()
    within = ShardRows(COLUMNS, chunk_rows=2)
    within.append(_row(0))
    with pytest.raises(ValueError, match="column 'score' mixes value types"):
        within.append({**_row(1), "score": "high"})
    empty = ShardRows(COLUMNS)
    assert empty.table().num_rows == 0 and empty.table().column_names == COLUMNS
