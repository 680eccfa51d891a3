"""Real 2-process DDP training on CPU (gloo) and resuming an interrupted run.

The DDP runs go through ``ddp_worker.py`` in a subprocess: Lightning relaunches that script
for rank 1, as ``sci train --devices 2 --strategy ddp`` relaunches ``sci``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
sys.path.insert(0, str(Path(__file__).parent))

from ddp_worker import tensor_digest  # noqa: E402
from toy_plugin import PLUGIN  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.core.checkpoint import load_checkpoint  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

WORKER = Path(__file__).parent / "ddp_worker.py"
REPO = Path(__file__).parents[2]
REGISTRY = PluginRegistry([PLUGIN], use_entry_points=False)


def run_worker(*args: str, timeout: float = 600) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK", "MASTER_PORT"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]


def check_ddp_run(domain: str, workdir: Path) -> None:
    """Both ranks trained the same steps to identical parameters; rank 0 wrote a loadable
    checkpoint holding those parameters."""
    run_worker("train", domain, workdir, 2, 1)
    ranks = [json.loads((workdir / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["world_size"] == 2
    assert ranks[0]["steps"] == ranks[1]["steps"] >= 1
    assert ranks[0]["digest"] == ranks[1]["digest"], "DDP ranks ended with different weights"
    meta, state = load_checkpoint(workdir / "ckpt")
    assert meta.domain == domain and meta.metrics["epochs"] == 1
    assert meta.extra["train_config"]["strategy"] == "ddp"
    # one epoch: the best epoch is the last one, so the checkpoint holds the ranks' weights
    saved = {k: v for k, v in tensor_digest(state).items() if k in ranks[0]["digest"]}
    assert len(saved) >= len(ranks[0]["digest"]) // 2, "the checkpoint misses most weights"
    assert all(ranks[0]["digest"][k] == digest for k, digest in saved.items())
    assert not (workdir / ".ckpt.work" / "lightning").exists(), "the finished run keeps no .ckpt"
    registry = None if domain != "toyring" else REGISTRY
    predictor = api.load(workdir / "ckpt", device="cpu", registry=registry)
    inputs = PLUGIN.examples.objects() if domain == "toyring" else None
    if inputs is not None:
        assert (predictor.predict(inputs)["status"] == "ok").all()


def test_two_process_ddp_training_on_cpu_toy(tmp_path: Path) -> None:
    check_ddp_run("toyring", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["molecule", "protein", "mesh"])
def test_two_process_ddp_training_on_cpu(domain: str, tmp_path: Path) -> None:
    check_ddp_run(domain, tmp_path)


class _CrashAtEpoch(L.Callback):
    """Stands in for a killed job: fails when epoch ``epoch`` starts."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


class _Epochs(L.Callback):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen.append(trainer.current_epoch)


def _train(out: Path, **kwargs) -> Path:
    config = api.TrainConfig(
        max_epochs=3, batch_size=4, learning_rate=1e-2, accelerator="cpu", seed=1
    )
    torch.manual_seed(7)  # api.train builds the model before Lightning seeds
    return api.train(
        "toyring", api.TrainRequest(dataset="rings"), config, out, quiet=True,
        registry=REGISTRY, **kwargs,
    )  # fmt: skip


def test_resume_continues_an_interrupted_run_to_identical_weights(tmp_path: Path) -> None:
    reference = _train(tmp_path / "reference")
    out = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(out, callbacks=[_CrashAtEpoch(1)])
    last = tmp_path / ".resumed.work" / "lightning" / "last.ckpt"
    assert last.is_file() and not out.exists(), "an interrupted run keeps last.ckpt only"
    epochs = _Epochs()
    _train(out, resume=True, callbacks=[epochs])
    assert epochs.seen == [1, 2], "finished epochs are not rerun"
    ref_meta, ref_state = load_checkpoint(reference)
    meta, state = load_checkpoint(out)
    assert meta.metrics["epochs"] == ref_meta.metrics["epochs"] == 3
    assert meta.extra["resumed"] is True
    # optimiser, schedule, shuffling generator and RNG come back: the same weights exactly
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)
    assert meta.metrics["val"] == ref_meta.metrics["val"]
    assert not last.exists(), "a completed run removes its Lightning checkpoints"


def test_resume_without_an_interrupted_run_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(api.ResumeError, match="rerun without --resume"):
        _train(tmp_path / "never", resume=True)


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(out, callbacks=[_CrashAtEpoch(1)])
    config = api.TrainConfig(max_epochs=3, batch_size=2, accelerator="cpu", seed=1)
    with pytest.raises(api.ResumeError, match="batch_size"):
        api.train(
            "toyring", api.TrainRequest(dataset="rings"), config, out, quiet=True,
            registry=REGISTRY, resume=True,
        )  # fmt: skip
