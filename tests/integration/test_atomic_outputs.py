"""Atomic outputs (#16 build item 2): a writer killed with SIGKILL mid-write leaves the old
output or the complete new one under the final name, never a partial one (tables in every
format, PNG, checkpoint directories at every step of the two-file save, XDMF + H5), and a
clean run leaves no temporary file behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scisuite.core.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    save_checkpoint,
)
from scisuite.core.io import TABLE_FORMATS, TableSink, read_table, write_table

ROOT = Path(__file__).parents[2]
WORKER = Path(__file__).with_name("atomic_worker.py")


def _start(fmt: str, directory: Path) -> subprocess.Popen:
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), fmt, str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(function, calls: int = 1):
    """``function`` that kills the process once it has returned ``calls`` times."""
    count = [0]

    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        count[0] += 1
        if count[0] == calls:
            _die()
        return result

    return wrapped


def _killed(action, timeout_s: float = 60.0) -> None:
    """Run ``action`` in a forked child (modules already imported), which patches a step of
    a writer to SIGKILL the process right after it; the parent checks it died so.

    The child runs torch on one thread: once the parent has used OpenMP's thread pool
    (any large tensor op), a parallel region in a forked child waits forever on threads
    that were not forked (a libgomp limit; CI's idle cores hit it, a loaded machine did
    not). A child still alive after ``timeout_s`` is killed and the test fails.
    """
    pid = os.fork()
    if pid == 0:
        try:
            torch.set_num_threads(1)
            action()
        finally:
            os._exit(3)  # not killed: the parent's assertion reports it
    deadline = time.monotonic() + timeout_s
    while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked writer did not finish in {timeout_s:.0f} s")
        time.sleep(0.02)
    status = waited[1]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


def _strays(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
def test_a_table_killed_mid_write_keeps_the_old_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"table.{fmt}"
    old = pd.DataFrame({"id": ["old"], "value": [1.5], "text": ["kept"]})
    write_table(old, path)
    before = path.read_bytes()
    child = _start(fmt, tmp_path)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    partial = [p for p in tmp_path.iterdir() if p.name.startswith(".table.")]
    assert len(partial) == 1 and partial[0].stat().st_size > 0, "the child is mid-write"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    pd.testing.assert_frame_equal(read_table(path), old)


def test_a_png_killed_mid_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    path.write_bytes(b"old png")

    def write() -> None:
        from scisuite.core import plots

        figure = plots.new_figure(2, 2)
        figure.add_subplot().plot([0, 1], [1, 0])
        real = figure.savefig

        def partial(target, **kwargs) -> None:  # part of the PNG is on disk when it dies
            real(target, **kwargs)
            with open(target, "r+b") as handle:
                handle.truncate(100)
            _die()

        figure.savefig = partial
        plots.save_png(figure, path)

    _killed(write)
    assert path.read_bytes() == b"old png"


OLD = CheckpointMeta("toy", 1, {"width": 2})


def _save_new_checkpoint(directory: Path, point: str) -> None:
    """Save the new checkpoint over the old one, killed right after ``point``."""
    from scisuite.core import checkpoint as ckpt
    from scisuite.core import io

    if point == "weights":  # model.safetensors written in the temporary folder, no config
        ckpt.save_file = _after(ckpt.save_file)
    elif point == "config":  # both files written, not yet swapped in
        os.chmod = _after(os.chmod)
    elif point == "swap":  # swapped in, the old one not yet removed
        io.exchange_paths = _after(io.exchange_paths)
    elif point == "fallback":  # no atomic exchange: killed between the two renames
        io.exchange_paths = lambda first, second: False
        os.replace = _after(os.replace)
    new = CheckpointMeta("toy", 2, {"width": 4})
    save_checkpoint(directory / "ckpt", {"w": torch.ones(1000, 100)}, new)


@pytest.mark.parametrize("point", ["weights", "config", "swap"])
def test_a_checkpoint_killed_at_any_step_is_the_old_or_the_new_pair(tmp_path, point) -> None:
    save_checkpoint(tmp_path / "ckpt", {"w": torch.zeros(3)}, OLD)
    _killed(lambda: _save_new_checkpoint(tmp_path, point))
    meta, state = load_checkpoint(tmp_path / "ckpt")
    if point == "swap":  # the new pair is complete once swapped in
        assert meta.schema_version == 2 and torch.equal(state["w"], torch.ones(1000, 100))
    else:
        assert meta == OLD and torch.equal(state["w"], torch.zeros(3))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]


def test_a_checkpoint_save_without_atomic_exchange_leaves_a_recoverable_old_copy(
    tmp_path: Path,
) -> None:
    """Where the system cannot swap two directories atomically, a kill between the two
    renames leaves no checkpoint under the name, and the message names the old copy."""
    save_checkpoint(tmp_path / "ckpt", {"w": torch.zeros(3)}, OLD)
    _killed(lambda: _save_new_checkpoint(tmp_path, "fallback"))
    with pytest.raises(CheckpointError, match=r"interrupted.*\.ckpt\.old"):
        load_checkpoint(tmp_path / "ckpt")
    assert load_checkpoint(tmp_path / ".ckpt.old")[0] == OLD


def _series(steps: int, scale: float) -> dict[str, np.ndarray]:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    velocity = scale * np.arange(steps * 4 * 2, dtype=np.float64).reshape(steps, 4, 2)
    return {
        "points": points,
        "triangles": np.array([[0, 1, 2], [1, 3, 2]]),
        "times": np.arange(steps) * 0.1,
        "velocity": velocity,
        "pressure": velocity[..., 0] + 1.0,
    }


def _write_series(path: Path, series: dict[str, np.ndarray]) -> None:
    from scisuite.domains.mesh.xdmf import write_xdmf_series

    write_xdmf_series(
        path,
        series["points"],
        series["triangles"],
        series["times"],
        series["velocity"],
        series["pressure"],
    )


@pytest.mark.parametrize("point", ["data", "h5"])
def test_an_xdmf_series_killed_mid_write_is_never_a_mixed_pair(tmp_path, point) -> None:
    from scisuite.domains.mesh import xdmf
    from scisuite.domains.mesh.xdmf import read_xdmf_series

    old, new = _series(2, 1.0), _series(3, -2.0)
    _write_series(tmp_path / "flow.xdmf", old)

    def write() -> None:
        if point == "data":  # the second step is being written into the temporary folder
            writer = xdmf._TimeSeriesWriterBesideXdmf
            writer.write_data = _after(writer.write_data, calls=2)
        else:  # the new .h5 is in place, the new .xdmf not yet
            os.replace = _after(os.replace)
        _write_series(tmp_path / "flow.xdmf", new)

    _killed(write)
    if point == "data":  # killed while writing: the old series is untouched
        read = read_xdmf_series(tmp_path / "flow.xdmf", node_type=np.zeros(4, dtype=np.int64))
        np.testing.assert_array_equal(read.velocity, old["velocity"])
    else:  # killed between the renames: the .h5 is the new one, and no .xdmf describes it
        assert not (tmp_path / "flow.xdmf").exists()
        import h5py

        with h5py.File(tmp_path / "flow.h5") as handle:
            assert len(handle.keys()) > len(old["times"])


def test_a_clean_run_of_every_writer_leaves_no_temporary_file(tmp_path: Path) -> None:
    from scisuite.api.manifest import write_manifest
    from scisuite.core.plots import new_figure, save_png
    from scisuite.domains.mesh.examples import example_trajectories, write_example_file
    from scisuite.domains.mesh.h5 import write_h5_trajectories

    frame = pd.DataFrame({"id": ["a", "b"], "value": [1.0, 2.0]})
    for fmt in TABLE_FORMATS:
        write_table(frame, tmp_path / f"t.{fmt}")
        sink = TableSink(tmp_path / f"s.{fmt}", ["id", "value"], chunk_rows=1)
        for row in frame.to_dict("records"):
            sink.write(row)
        sink.close()
        TableSink(tmp_path / f"aborted.{fmt}", ["id"]).abort()
    figure = new_figure(1, 1)
    for _ in range(2):  # new, then over the old one
        save_png(figure, tmp_path / "p.png")
        save_checkpoint(tmp_path / "ckpt", {"w": torch.zeros(2)}, OLD)
        _write_series(tmp_path / "flow.xdmf", _series(2, 1.0))
        write_manifest(tmp_path, {"shards": [{"index": 1}, {"index": 0}]})
    write_example_file(tmp_path)  # an H5 of trajectories and a VTU
    write_h5_trajectories(tmp_path / "copy.h5", [("one", example_trajectories()[0])])
    assert _strays(tmp_path) == [], "a temporary file was left behind"
    assert _strays(tmp_path / "ckpt") == []
    assert json.loads((tmp_path / "_manifest.json").read_text())["shards"][0] == {"index": 0}
    assert not any((tmp_path / f"aborted.{fmt}").exists() for fmt in TABLE_FORMATS)


def test_sci_predict_and_convert_leave_only_their_outputs(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "contract"))
    from toy_plugin import PLUGIN, RingConfig

    from scisuite.cli import main
    from scisuite.core.registry import PluginRegistry

    registry = PluginRegistry([PLUGIN], use_entry_points=False)
    model = PLUGIN.task.build_model(RingConfig())
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    like = CheckpointMeta("toyring", 1, RingConfig().to_dict())
    save_checkpoint(tmp_path / "like", model.state_dict(), like)
    convert = ["convert", "checkpoint", str(tmp_path / "weights.pt"), "--domain", "toyring"]
    convert += ["-o", str(tmp_path / "ckpt"), "--config", str(tmp_path / "like")]
    assert main(convert, registry=registry) == 0
    (tmp_path / "in.ring").write_text("a,3,3\nbroken\nb,5,5\n")
    for suffix in ("csv", "parquet", "jsonl", "tsv", "csv"):
        args = ["predict", "--domain", "toyring", "--checkpoint", str(tmp_path / "ckpt")]
        args += [str(tmp_path / "in.ring"), "-o", str(tmp_path / f"out.{suffix}"), "--quiet"]
        assert main(args, registry=registry) == 0
    assert _strays(tmp_path) == [] and _strays(tmp_path / "ckpt") == []


def test_a_lightning_checkpoint_killed_mid_save_keeps_the_previous_one(tmp_path: Path) -> None:
    """``sci train``'s epoch checkpoints (``last.ckpt``, the resume point)."""
    from scisuite.core.training import AtomicCheckpointIO

    last = tmp_path / "lightning" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 1, "state_dict": {}}, last)

    def save() -> None:
        real = torch.save

        def partial(obj, target, *args, **kwargs) -> None:  # part of the file, then killed
            real(obj, target, *args, **kwargs)
            with open(target, "r+b") as handle:
                handle.truncate(50)
            _die()

        torch.save = partial
        AtomicCheckpointIO().save_checkpoint({"epoch": 2, "state_dict": {}}, last)

    _killed(save)
    assert torch.load(last, weights_only=True)["epoch"] == 1
