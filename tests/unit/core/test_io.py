from __future__ import annotations

import gzip

import pandas as pd
import pytest

from scisuite.core.io import atomic_path, open_text, read_table, strip_suffixes, write_rows

ROWS = [{"id": "a", "value": 1.5, "status": "ok"}, {"id": "b", "status": "error"}]


@pytest.mark.parametrize("suffix", ["csv", "tsv", "parquet", "jsonl"])
def test_write_rows_all_formats_fixed_columns(tmp_path, suffix) -> None:
    path = tmp_path / f"out.{suffix}"
    assert write_rows(iter(ROWS), path, ["id", "value", "status"], chunk_rows=1) == 2
    frame = read_table(path)
    assert list(frame.columns) == ["id", "value", "status"] and len(frame) == 2
    assert frame["value"].isna().tolist() == [False, True]


def test_write_rows_is_atomic_on_failure(tmp_path) -> None:
    path = tmp_path / "out.csv"

    def rows():
        yield ROWS[0]
        raise RuntimeError("crash mid-way")

    with pytest.raises(RuntimeError):
        write_rows(rows(), path, ["id", "value", "status"], chunk_rows=1)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_old_content(tmp_path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(ValueError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise ValueError
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_open_text_reads_gzip_transparently(tmp_path) -> None:
    path = tmp_path / "a.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("x\n1\n")
    with open_text(path) as handle:
        assert handle.read() == "x\n1\n"
    assert strip_suffixes(path) == ".csv"
    assert pd.read_csv(path)["x"].tolist() == [1]


def test_atomic_outputs_get_umask_permissions_not_0600(tmp_path) -> None:
    import os

    from scisuite.core.io import atomic_directory

    expected = 0o666 & ~(current := os.umask(0)) & 0o777
    os.umask(current)
    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == expected
    with atomic_directory(tmp_path / "d") as tmp:
        (tmp / "a").write_text("x")
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~current


def test_exchange_paths_swaps_two_directories_in_one_step(tmp_path) -> None:
    from scisuite.core.io import exchange_paths

    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "name").write_text(folder.name)
    if not exchange_paths(first, second):
        pytest.skip("this system cannot exchange two paths atomically")
    assert (first / "name").read_text() == "b" and (second / "name").read_text() == "a"


def test_atomic_directory_replaces_a_directory_or_a_link_to_one_and_leaves_nothing(
    tmp_path,
) -> None:
    from scisuite.core.io import atomic_directory

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)
    (tmp_path / "plain").mkdir()
    for name in ("plain", "linked", "new"):
        with atomic_directory(tmp_path / name) as tmp:
            (tmp / "file").write_text(name)
        assert (tmp_path / name / "file").read_text() == name
        assert not (tmp_path / name).is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "linked", "new", "plain"]
