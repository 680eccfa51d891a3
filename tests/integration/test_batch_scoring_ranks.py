"""``sci predict --resume --devices 2 --strategy ddp``: two real CPU ranks (gloo), killed
with ``kill -9`` mid-run and resumed, write the shards one process writes (rows, order,
values), with bad records and shards that straddle batches; one process resumes the two
ranks' job, rescoring a corrupted part, to the same output."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scisuite import api
from scisuite.api.batch_ranks import ShardPlan, check_complete
from scisuite.api.manifest import RANK_MANIFEST_GLOB, ShardEntry
from scisuite.cli import main
from scisuite.core.distributed_predict import MergeError

sys.path.insert(0, str(Path(__file__).parent))

from ranks import BAD_ROWS, ddp_env, one_thread, write_scoring_molecules  # noqa: E402

SHARD, BATCH = 20, 8  # 20 is not a multiple of 8: batches straddle shard boundaries


@pytest.fixture(scope="module")
def molecules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """260 real molecules and four bad rows, and their single-process sharded scores."""
    folder = tmp_path_factory.mktemp("molecules")
    source = folder / "molecules.csv"
    write_scoring_molecules(source)
    reference = folder / "reference.parquet"
    with one_thread():
        api.predict_sharded(
            "molecule", source, reference, shard_size=SHARD, batch_size=BATCH, device="cpu"
        )
    return {"input": source, "reference": reference}


def _command(molecules: dict[str, Path], out: Path) -> list[str]:
    command = [sys.executable, "-m", "scisuite", "predict", "--domain", "molecule"]
    command += [str(molecules["input"]), "-o", str(out), "--resume", "--keep-parts"]
    command += ["--shard-size", str(SHARD), "--batch-size", str(BATCH), "--device", "cpu"]
    return [*command, "--threads", "1", "--quiet", "--devices", "2", "--strategy", "ddp"]


def _rank_shards(parts: Path) -> set[int]:
    shards = set()
    for path in parts.glob(RANK_MANIFEST_GLOB):
        with contextlib.suppress(json.JSONDecodeError, FileNotFoundError):
            shards |= {entry["index"] for entry in json.loads(path.read_text())["shards"]}
    return shards


def test_kill_9_of_both_ranks_then_resume_gives_the_uninterrupted_output(
    molecules, tmp_path
) -> None:
    out = tmp_path / "scores.parquet"
    parts = tmp_path / "scores.parquet.parts"
    child = subprocess.Popen(
        _command(molecules, out),
        env=ddp_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # rank 0 and the rank it launches: one process group
    )
    deadline = time.monotonic() + 300
    while not _rank_shards(parts) and child.poll() is None:
        assert time.monotonic() < deadline, "no shard was recorded within 5 minutes"
        time.sleep(0.005)
    os.killpg(child.pid, signal.SIGKILL)
    _, stderr = child.communicate()
    assert child.returncode == -signal.SIGKILL, stderr.decode()[-4000:]
    assert not out.exists()
    finished = _rank_shards(parts)
    total = -(-(4 * 64 + len(BAD_ROWS)) // SHARD)
    assert 1 <= len(finished) < total

    done = subprocess.run(_command(molecules, out), env=ddp_env(), capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    assert out.read_bytes() == molecules["reference"].read_bytes()
    manifest = api.read_manifest(parts)
    assert manifest["runs"] == 2 and manifest["world_size"] == 2
    assert [s["index"] for s in manifest["shards"]] == list(range(total))
    assert manifest["records"] == 4 * 64 + len(BAD_ROWS)
    assert sum(s["errors"] for s in manifest["shards"]) == len(BAD_ROWS)
    for shard in manifest["shards"]:  # a shard recorded before the kill is reused as it was
        assert shard["run"] == (1 if shard["index"] in finished else 2)
    assert not list(parts.glob(RANK_MANIFEST_GLOB)), "rank manifests are merged and removed"

    # a corrupted part is rescored, here by one process resuming the two ranks' job
    victim = parts / manifest["shards"][3]["file"]
    victim.write_bytes(victim.read_bytes()[:-10])
    out.unlink()
    argv = ["predict", "--domain", "molecule", str(molecules["input"]), "-o", str(out)]
    argv += ["--resume", "--shard-size", str(SHARD), "--batch-size", str(BATCH)]
    with one_thread():
        assert main([*argv, "--device", "cpu", "--quiet"]) == 0
    assert out.read_bytes() == molecules["reference"].read_bytes()


def test_a_rank_scores_the_chunks_that_touch_its_shards() -> None:
    plan = ShardPlan(shard_size=20, reused={2})
    # records 16..23 straddle shards 0 (rank 0) and 1 (rank 1): both score the chunk
    assert plan(16, 8, 0, 2) and plan(16, 8, 1, 2)
    assert plan(0, 8, 0, 2) and not plan(0, 8, 1, 2)
    assert not plan(40, 8, 0, 2), "shard 2 is reused: nobody scores it again"
    # records 56..63: shard 2 (rank 0's, reused) and shard 3 (rank 1's)
    assert not plan(56, 8, 0, 2) and plan(56, 8, 1, 2)
    assert not plan(56, 4, 1, 2) and not plan(56, 4, 0, 2)  # records 56..59: shard 2 only


def _entry(index: int, first: int, rows: int) -> ShardEntry:
    return ShardEntry(index, first, first + rows - 1, rows, rows, 0, f"p{index}", "x", 1)


def test_the_merge_refuses_shards_that_do_not_cover_the_input() -> None:
    check_complete([_entry(0, 0, 20), _entry(1, 20, 5)], 20, 25)
    with pytest.raises(MergeError, match=r"missing \[1\]"):
        check_complete([_entry(0, 0, 20)], 20, 25)
    with pytest.raises(MergeError, match="once"):
        check_complete([_entry(0, 0, 20), _entry(0, 0, 20), _entry(1, 20, 5)], 20, 25)
    with pytest.raises(MergeError, match="expected 20..24"):
        check_complete([_entry(0, 0, 20), _entry(1, 20, 4)], 20, 25)
