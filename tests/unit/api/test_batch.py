"""``api.predict_sharded`` with the toy plugin: sharded output equals the unsharded stream,
resume reuses intact parts only, and a different job is refused."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[2] / "contract"))

from toy_plugin import PLUGIN  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

REGISTRY = PluginRegistry([PLUGIN], use_entry_points=False)
RECORDS = 230  # 10 shards of 23 at shard size 23, 8 shards (the last short) at 30


def _ring_lines(count: int) -> list[str]:
    """Rings of 3..12 nodes; every 29th is too big (a featurizer error), every 37th line is
    broken (a reader error)."""
    lines = []
    for i in range(count):
        n = 60 if i % 29 == 11 else 3 + (i * 7) % 10
        lines.append("broken line" if i % 37 == 5 else f"r{i},{n},{n}")
    return lines


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A seeded toy checkpoint, an input with bad records, and the unsharded outputs."""
    folder = tmp_path_factory.mktemp("batch")
    torch.manual_seed(0)
    config = PLUGIN.task.default_config()
    model = PLUGIN.task.build_model(config).eval()
    meta = CheckpointMeta(PLUGIN.name, PLUGIN.schema_version, config.to_dict())
    checkpoint = save_checkpoint(folder / "ckpt", model.state_dict(), meta)
    source = folder / "rings.ring"
    source.write_text("\n".join(_ring_lines(RECORDS)) + "\n")
    predictor = api.load(checkpoint, device="cpu", registry=REGISTRY)
    for fmt in ("csv", "parquet", "jsonl"):
        predictor.predict_file(source, folder / f"reference.{fmt}")
    return {"checkpoint": checkpoint, "input": source, "dir": folder}


def _sharded(job: dict[str, Path], output: Path, **options) -> api.BatchSummary:
    options.setdefault("shard_size", 23)
    return api.predict_sharded(
        job["checkpoint"], job["input"], output, device="cpu", registry=REGISTRY, **options
    )


@pytest.mark.parametrize(("fmt", "shard_size"), [("csv", 23), ("parquet", 30), ("jsonl", 1000)])
def test_sharded_output_is_the_unsharded_output(job, tmp_path, fmt, shard_size) -> None:
    out = tmp_path / f"scores.{fmt}"
    summary = _sharded(job, out, shard_size=shard_size)
    assert out.read_bytes() == (job["dir"] / f"reference.{fmt}").read_bytes()
    assert summary.rows == RECORDS and summary.shards == -(-RECORDS // shard_size)
    frame = pd.read_csv(out) if fmt == "csv" else None
    if frame is not None:  # bad records keep their row, in input order, with the reason
        assert frame["id"].tolist()[:5] == [f"r{i}" for i in range(5)]
        broken = frame.iloc[5]
        assert broken["status"] == "error" and "expected id,num_nodes,target" in broken["error"]
        assert summary.errors == int((frame["status"] == "error").sum()) > 7
    assert not summary.parts_dir.exists()  # removed once the table is assembled


def test_manifest_records_every_shard(job, tmp_path) -> None:
    summary = _sharded(job, tmp_path / "scores.parquet", keep_parts=True)
    manifest = api.read_manifest(summary.parts_dir)
    assert manifest["input"]["sha256"] and manifest["input"]["size"] == job["input"].stat().st_size
    assert manifest["checkpoint"]["fingerprint"] == api.checkpoint_fingerprint(job["checkpoint"])
    assert manifest["domain"] == "toyring" and manifest["shard_size"] == 23
    assert manifest["columns"] == ["id", "num_nodes", "prediction", "status", "error"]
    assert manifest["records"] == RECORDS and manifest["format"] == "parquet"
    shards = manifest["shards"]
    assert [s["first"] for s in shards] == list(range(0, RECORDS, 23))
    assert [s["last"] for s in shards] == [min(f + 22, RECORDS - 1) for f in range(0, RECORDS, 23)]
    assert sum(s["ok"] + s["errors"] for s in shards) == RECORDS
    assert all(s["seconds"] > 0 for s in shards)  # rates survive resumes across runs
    assert sum(s["seconds"] for s in shards) <= summary.seconds
    for shard in shards:
        part = pq.read_table(summary.parts_dir / shard["file"])
        assert part.num_rows == shard["rows"]
        assert part.column("id").to_pylist()[0] in (f"r{shard['first']}", "rings.ring:6")


def test_resume_rescores_only_missing_and_corrupt_parts(job, tmp_path) -> None:
    out = tmp_path / "scores.csv"
    parts = _sharded(job, out, keep_parts=True).parts_dir
    out.unlink()
    corrupt, missing = parts / "part-00003.parquet", parts / "part-00007.parquet"
    corrupt.write_bytes(corrupt.read_bytes()[:-20] + b"x" * 20)
    missing.unlink()
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*")}
    summary = _sharded(job, out, resume=True, keep_parts=True)
    assert summary.rescored == [3, 7] and summary.scored == [3, 7]
    assert summary.reused == [0, 1, 2, 4, 5, 6, 8, 9]
    assert out.read_bytes() == (job["dir"] / "reference.csv").read_bytes()
    after = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*")}
    assert {n for n in after if after[n] != before.get(n)} == {corrupt.name, missing.name}
    runs = {s["index"]: s["run"] for s in api.read_manifest(parts)["shards"]}
    assert runs == {i: 2 if i in (3, 7) else 1 for i in range(10)}


def test_a_finished_job_is_reassembled_without_loading_the_model(job, tmp_path) -> None:
    out = tmp_path / "scores.parquet"
    _sharded(job, out, keep_parts=True)
    out.unlink()
    summary = _sharded(job, out, resume=True)
    assert summary.scored == [] and summary.reused == list(range(10))
    assert out.read_bytes() == (job["dir"] / "reference.parquet").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("input", "the input changed"),
        ("shard_size", "the shard size changed"),
        ("checkpoint", "the checkpoint changed"),
        ("options", "the reader options changed"),
        ("batch_size", "the batch size"),
    ],
)
def test_resume_refuses_another_job(job, tmp_path, change, message) -> None:
    out = tmp_path / "scores.csv"
    source = tmp_path / "rings.ring"
    source.write_bytes(job["input"].read_bytes())
    api.predict_sharded(
        job["checkpoint"],
        source,
        out,
        shard_size=23,
        keep_parts=True,
        device="cpu",
        registry=REGISTRY,
    )
    checkpoint, shard_size, batch_size, reader = job["checkpoint"], 23, 64, {}
    if change == "input":
        source.write_text(source.read_text() + "extra,5,5\n")
    elif change == "shard_size":
        shard_size = 24
    elif change == "batch_size":
        batch_size = 32
    elif change == "checkpoint":
        torch.manual_seed(1)
        config = PLUGIN.task.default_config()
        model = PLUGIN.task.build_model(config)
        meta = CheckpointMeta(PLUGIN.name, PLUGIN.schema_version, config.to_dict())
        checkpoint = save_checkpoint(tmp_path / "other", model.state_dict(), meta)
    else:
        reader = {"max_nodes": 40}
    with pytest.raises(api.ResumeError, match=f"{message}.*without --resume"):
        api.predict_sharded(
            checkpoint,
            source,
            out,
            shard_size=shard_size,
            batch_size=batch_size,
            resume=True,
            device="cpu",
            registry=REGISTRY,
            **reader,
        )
    # starting fresh (no resume) replaces the old parts
    fresh = api.predict_sharded(
        checkpoint, source, out, shard_size=shard_size, device="cpu", registry=REGISTRY, **reader
    )
    assert fresh.reused == [] and fresh.rows == len(source.read_text().splitlines())


def test_standard_input_is_not_resumable(job, tmp_path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="standard input cannot be resumed"):
        api.predict_sharded(
            job["checkpoint"], "-", tmp_path / "scores.csv", resume=True, registry=REGISTRY
        )
    text = job["input"].read_text()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    summary = api.predict_sharded(
        job["checkpoint"], "-", tmp_path / "scores.csv", shard_size=50, registry=REGISTRY
    )
    assert summary.rows == RECORDS
    ref = pd.read_csv(job["dir"] / "reference.csv").drop(columns="error")
    got = pd.read_csv(tmp_path / "scores.csv").drop(columns="error")
    pd.testing.assert_frame_equal(got.drop(columns="id"), ref.drop(columns="id"))


def test_parquet_data_set_reads_back_in_input_order(job, tmp_path) -> None:
    # every record of shard 1 is bad: its num_nodes column is all-null in that part
    lines = _ring_lines(60)
    lines[20:40] = ["broken line"] * 20
    source = tmp_path / "rings.ring"
    source.write_text("\n".join(lines) + "\n")
    reference = tmp_path / "reference.parquet"
    api.load(job["checkpoint"], device="cpu", registry=REGISTRY).predict_file(source, reference)
    out = tmp_path / "scores"
    summary = api.predict_sharded(
        job["checkpoint"],
        source,
        out,
        fmt="parquet-dataset",
        shard_size=20,
        device="cpu",
        registry=REGISTRY,
    )
    assert summary.path == out and summary.parts_dir == out and summary.shards == 3
    assert sorted(p.name for p in out.iterdir()) == [
        "_manifest.json",
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(reference))
    schemas = {pq.read_schema(out / f"part-0000{i}.parquet").to_string() for i in range(3)}
    assert len(schemas) == 1  # the all-null part was rewritten with the common schema
    manifest = json.loads((out / "_manifest.json").read_text())
    again = api.predict_sharded(
        job["checkpoint"],
        source,
        out,
        fmt="parquet-dataset",
        shard_size=20,
        resume=True,
        device="cpu",
        registry=REGISTRY,
    )
    assert again.scored == [] and api.read_manifest(out)["shards"] == manifest["shards"]


def test_one_featurisation_worker_gives_the_same_output(job, tmp_path) -> None:
    out = tmp_path / "scores.csv"
    _sharded(job, out, shard_size=30, num_workers=1)
    assert out.read_bytes() == (job["dir"] / "reference.csv").read_bytes()


def test_bad_arguments_say_what_to_do(job, tmp_path) -> None:
    with pytest.raises(ValueError, match="--shard-size must be >= 1"):
        _sharded(job, tmp_path / "x.csv", shard_size=0)
    with pytest.raises(ValueError, match="unknown format 'xlsx'"):
        _sharded(job, tmp_path / "x.csv", fmt="xlsx")
