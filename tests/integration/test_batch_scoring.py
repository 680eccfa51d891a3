"""``sci predict --resume`` with the shipped molecule model: a real ``kill -9`` in the middle
of a run, then ``--resume``, gives the uninterrupted output and rescores no finished shard."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scisuite import api
from scisuite.cli import main

sys.path.insert(0, str(Path(__file__).parent))

from ranks import BAD_ROWS, write_scoring_molecules  # noqa: E402
from saved_tables import assert_same_table  # noqa: E402

ROOT = Path(__file__).parents[2]
SHARD = 20


@pytest.fixture(scope="module")
def molecules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """260 real molecules (the FreeSolv sample four times, with new ids) and four bad rows,
    and their unsharded prediction."""
    folder = tmp_path_factory.mktemp("molecules")
    source = folder / "molecules.csv"
    write_scoring_molecules(source)
    reference = folder / "reference.parquet"
    api.load("molecule", device="cpu").predict_file(source, reference)
    return {"input": source, "reference": reference}


def test_sharded_molecule_scores_equal_the_stream(molecules, tmp_path) -> None:
    out = tmp_path / "scores.parquet"
    summary = api.predict_sharded(
        "molecule", molecules["input"], out, shard_size=SHARD * 3, device="cpu"
    )
    assert out.read_bytes() == molecules["reference"].read_bytes()
    frame = pd.read_parquet(out)
    assert len(frame) == summary.rows == 4 * 64 + len(BAD_ROWS)
    assert frame["status"].eq("error").sum() == summary.errors == len(BAD_ROWS)
    assert frame.loc[frame["id"] == "bad_2", "error"].item()


def test_kill_9_then_resume_gives_the_uninterrupted_output(molecules, tmp_path) -> None:
    out = tmp_path / "scores.parquet"
    parts = tmp_path / "scores.parquet.parts"
    argv = ["predict", "--domain", "molecule", str(molecules["input"]), "-o", str(out)]
    argv += ["--resume", "--shard-size", str(SHARD), "--keep-parts", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "scisuite", *argv, "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not list(parts.glob("part-*.parquet")) and child.poll() is None:
        assert time.monotonic() < deadline, "no part file appeared within 2 minutes"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    _, stderr = child.communicate()
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    assert not out.exists()
    finished = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.parquet")}
    listed = {s["file"] for s in api.read_manifest(parts)["shards"]}
    total = -(-(4 * 64 + len(BAD_ROWS)) // SHARD)
    assert 1 <= len(finished) < total

    assert main([*argv, "--quiet"]) == 0
    assert out.read_bytes() == molecules["reference"].read_bytes()
    manifest = api.read_manifest(parts)
    assert manifest["runs"] == 2 and len(manifest["shards"]) == total
    for shard in manifest["shards"]:
        part = parts / shard["file"]
        if shard["file"] in listed:  # finished before the kill: reused as it was
            assert shard["run"] == 1 and part.stat().st_mtime_ns == finished[shard["file"]]
        else:
            assert shard["run"] == 2


def test_one_featurisation_worker_gives_the_same_scores(molecules, tmp_path) -> None:
    out = tmp_path / "scores.parquet"
    argv = ["predict", "--domain", "molecule", str(molecules["input"]), "-o", str(out)]
    argv += ["--shard-size", str(SHARD * 5), "--num-workers", "1", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    assert out.read_bytes() == molecules["reference"].read_bytes()


def test_shard_mode_refuses_what_it_cannot_do(tmp_path, capsys) -> None:
    mesh = ["predict", "--domain", "mesh", str(ROOT / "data" / "mesh_example.vtu")]
    assert main([*mesh, "-o", str(tmp_path / "flow.xdmf"), "--resume"]) == 1
    assert ".xdmf writer needs each record's full prediction" in capsys.readouterr().err
    molecule = ["predict", "--domain", "molecule", str(ROOT / "data" / "molecules_example.csv")]
    assert main([*molecule, "--resume"]) == 2
    assert "give -o/--output" in capsys.readouterr().err
    assert main(["predict", "--domain", "molecule", "-", "-o", "x.csv", "--resume"]) == 1
    assert "standard input cannot be resumed" in capsys.readouterr().err


def test_the_example_script_scores_like_sci_predict(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location(
        "batch_score", ROOT / "examples" / "batch_score.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "molecules.csv"
    source = ROOT / "data" / "molecules_example.csv"
    assert (
        script.main(["molecule", str(source), "-o", str(out), "--shard-size", "8", "--quiet"]) == 0
    )
    saved = ROOT / "tests" / "fixtures" / "shipped_outputs" / "molecules.csv"
    assert_same_table(out, saved)


def test_bf16_sharded_scores_resume_only_at_bf16(molecules, tmp_path) -> None:
    out = tmp_path / "scores.csv"
    argv = ["predict", "--domain", "molecule", str(molecules["input"]), "-o", str(out)]
    argv += ["--shard-size", str(SHARD * 3), "--keep-parts", "--device", "cpu", "--quiet"]
    assert main([*argv, "--precision", "bf16"]) == 0
    reduced, full = pd.read_csv(out), pd.read_parquet(molecules["reference"])
    assert list(reduced["id"]) == list(full["id"]) and list(reduced.status) == list(full.status)
    ok = full["status"] == "ok"
    difference = (reduced.loc[ok, "logS"] - full.loc[ok, "logS"]).abs()
    assert 0 < difference.max() < 0.25
    with pytest.raises(api.ResumeError, match="precision"):
        api.predict_sharded(
            "molecule", molecules["input"], out, shard_size=SHARD * 3, device="cpu", resume=True
        )
    assert main([*argv, "--precision", "bf16", "--resume"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), reduced)
