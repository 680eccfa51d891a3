"""``sci convert checkpoint`` (#16 build item 3): a real Lightning ``.ckpt`` left by an
interrupted ``sci train`` run, and plain ``torch.save`` state dicts, become checkpoint
directories; files that need code to be unpickled are refused without running it."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))

from toy_plugin import PLUGIN, RingConfig  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.api.checkpoints import convert_checkpoint  # noqa: E402
from scisuite.cli import main  # noqa: E402
from scisuite.core.checkpoint import (  # noqa: E402
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    save_checkpoint,
)
from scisuite.core.registry import PluginRegistry  # noqa: E402

OTHER = dataclasses.replace(PLUGIN, name="toyother")
REGISTRY = PluginRegistry([PLUGIN, OTHER], use_entry_points=False)


class _StopAtEpoch(L.Callback):
    """Stands in for a killed job: fails when epoch ``epoch`` starts."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.fixture(scope="module")
def lightning_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``last.ckpt`` of a real toy training run interrupted after its first epoch."""
    out = tmp_path_factory.mktemp("train") / "model"
    config = api.TrainConfig(
        max_epochs=3, batch_size=4, learning_rate=1e-2, accelerator="cpu", seed=1
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        api.train(
            "toyring", api.TrainRequest(dataset="rings"), config, out, quiet=True,
            registry=REGISTRY, callbacks=[_StopAtEpoch(1)],
        )  # fmt: skip
    last = out.with_name(".model.work") / "lightning" / "last.ckpt"
    assert last.is_file()
    return last


def _rings(tmp_path: Path) -> Path:
    path = tmp_path / "in.ring"
    path.write_text("a,3,3\nb,7,7\nc,12,12\n")
    return path


def test_a_sci_train_lightning_ckpt_converts_and_predicts(lightning_ckpt, tmp_path, capsys):
    rings = _rings(tmp_path)
    predict = ["predict", "--domain", "toyring", str(rings), "-o", str(tmp_path / "p.csv")]
    assert main([*predict, "--checkpoint", str(lightning_ckpt)], registry=REGISTRY) == 1
    err = capsys.readouterr().err
    assert "sci convert checkpoint" in err and "Traceback" not in err
    out = tmp_path / "converted"
    convert = ["convert", "checkpoint", str(lightning_ckpt), "-o", str(out), "--domain"]
    assert main([*convert, "toyring"], registry=REGISTRY) == 0
    meta, state = load_checkpoint(out)
    raw = torch.load(lightning_ckpt, map_location="cpu", weights_only=True)
    assert set(state) == {k.removeprefix("model.") for k in raw["state_dict"]}
    for name, tensor in raw["state_dict"].items():
        assert torch.equal(state[name.removeprefix("model.")], tensor)
    assert meta.model_config == raw["scisuite"]["config"]
    assert meta.extra["converted_from"]["epoch"] == 0
    assert meta.command.startswith("sci convert checkpoint")
    assert meta.normalizers == {"target_mean": 16.0, "target_std": 8.0}
    assert main([*predict, "--checkpoint", str(out)], registry=REGISTRY) == 0
    assert (tmp_path / "p.csv").read_text().count("\n") == 4
    # the same file again: the output exists and is kept
    assert main([*convert, "toyring"], registry=REGISTRY) == 1
    assert "exists" in capsys.readouterr().err
    # a --config of another domain than --domain is refused
    with pytest.raises(CheckpointError, match="is a toyring config, not toyother"):
        convert_checkpoint(lightning_ckpt, tmp_path / "x", "toyother", config=out,
                           registry=REGISTRY)  # fmt: skip


@pytest.fixture
def plain(tmp_path: Path) -> tuple[Path, Path]:
    """A state dict saved with torch.save (DDP ``module.`` prefix) and a checkpoint
    directory of the same architecture."""
    torch.manual_seed(3)
    config = RingConfig()
    model = PLUGIN.task.build_model(config)
    pt = tmp_path / "weights.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, pt)
    torch.manual_seed(4)
    other = PLUGIN.task.build_model(config)
    meta = CheckpointMeta("toyring", 1, config.to_dict())
    return pt, save_checkpoint(tmp_path / "like", other.state_dict(), meta)


def test_a_plain_state_dict_converts_with_a_config(plain, tmp_path: Path) -> None:
    pt, like = plain
    with pytest.raises(CheckpointError, match="give --config"):
        convert_checkpoint(pt, tmp_path / "out", "toyring", registry=REGISTRY)
    assert not (tmp_path / "out").exists()
    for config in (like, like / "config.json"):
        out = tmp_path / f"out_{config.name}"
        convert_checkpoint(pt, out, "toyring", config=config, registry=REGISTRY)
        _, state = load_checkpoint(out)
        saved = torch.load(pt, weights_only=True)
        assert all(torch.equal(state[k.removeprefix("module.")], v) for k, v in saved.items())
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(json.loads((like / "config.json").read_text())["model_config"]))
    convert_checkpoint(pt, tmp_path / "out_bare", "toyring", config=bare, registry=REGISTRY)


def test_weights_that_do_not_fit_the_config_are_refused(plain, tmp_path: Path) -> None:
    pt, like = plain
    wide = tmp_path / "wide.json"
    values = json.loads((like / "config.json").read_text())["model_config"]
    values["backbone"]["d_model"] = 32
    wide.write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match="does not fit.*different shape"):
        convert_checkpoint(pt, tmp_path / "out", "toyring", config=wide, registry=REGISTRY)
    assert not (tmp_path / "out").exists()


class _Trap:
    touched: Path

    def __reduce__(self):
        return (Path.touch, (self.touched,))


def test_files_that_need_code_are_refused_without_running_it(tmp_path: Path, capsys) -> None:
    trap = _Trap()
    trap.touched = tmp_path / "touched"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": {"w": trap}}))
    whole = tmp_path / "whole_model.pt"
    torch.save(PLUGIN.task.build_model(RingConfig()), whole)
    for source in (evil, whole):
        args = ["convert", "checkpoint", str(source), "-o", str(tmp_path / "o"), "--domain"]
        assert main([*args, "toyring"], registry=REGISTRY) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "needs code to be unpickled" in err or "not a readable" in err, err
    assert not trap.touched.exists() and not (tmp_path / "o").exists()
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="garbage.ckpt"):
        convert_checkpoint(garbage, tmp_path / "o", "toyring", registry=REGISTRY)
