"""A script the distributed tests launch: ``python ddp_worker.py train|predict ...``.

Lightning's DDP launcher starts the other ranks by running this same command again (with
``LOCAL_RANK`` set), the way ``sci train --devices N --strategy ddp`` relaunches ``sci``; so
every rank runs the same real code path. It is a script and not a pytest process because a
pytest process cannot be relaunched that way.

``train DOMAIN WORKDIR DEVICES EPOCHS [resume]``: trains on the plugin's tiny training set
(``examples.training_request``), each rank writing ``rank<R>.json`` with a checksum of its
final parameters; the checkpoint goes to ``WORKDIR/ckpt``.

``predict CHECKPOINT_OR_DOMAIN INPUT OUTPUT DEVICES BATCH_SIZE``: distributed prediction.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))

from toy_plugin import PLUGIN as TOY_PLUGIN  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

#: Small models so that a few DDP steps take seconds on CPU.
TINY = {
    "toyring": {},
    "molecule": {"backbone.d_model": 16, "backbone.num_layers": 1, "backbone.num_heads": 2},
    "protein": {"backbone.d_model": 16, "backbone.num_layers": 1, "backbone.num_heads": 2},
    "mesh": {"backbone.d_model": 16, "backbone.num_layers": 1, "backbone.num_heads": 2},
}


def registry() -> PluginRegistry:
    """The installed plugins plus the toy plugin."""
    installed = PluginRegistry()
    plugins = [installed.get(name) for name in installed.names()]
    return PluginRegistry([TOY_PLUGIN, *plugins], use_entry_points=False)


def tensor_digest(state: dict[str, torch.Tensor]) -> dict[str, str]:
    """``{name: sha256 of the tensor's bytes}`` (a state dict's parameters and buffers)."""
    return {
        name: hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        for name, tensor in state.items()
    }


class WriteDigest(L.Callback):
    """Each rank writes ``rank<R>.json``: its epochs and final parameter digests."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.epochs: list[int] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs.append(trainer.current_epoch)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "epochs": self.epochs,
            "steps": trainer.global_step,
            "digest": tensor_digest(pl_module.model.state_dict()),
        }
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def train(domain: str, workdir: Path, devices: int, epochs: int, resume: bool) -> None:
    reg = registry()
    plugin = reg.get(domain)
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    request = plugin.examples.training_request(data_dir)
    request = type(request)(**{**vars(request), "model_overrides": TINY[domain]})
    config = api.TrainConfig(
        max_epochs=epochs,
        batch_size=4,
        accelerator="cpu",
        devices=str(devices),
        strategy="ddp" if devices > 1 else "auto",
        seed=3,
    )
    torch.manual_seed(3)  # the model is built before fit seeds Lightning
    api.train(
        domain,
        request,
        config,
        workdir / "ckpt",
        command=f"ddp_worker train {domain}",
        quiet=True,
        registry=reg,
        resume=resume,
        callbacks=[WriteDigest(workdir)],
    )


def predict(model: str, inputs: Path, output: Path, devices: int, batch_size: int) -> None:
    reg = registry()
    predictor = api.load(model, device="cpu", registry=reg)
    summary = api.predict_distributed(
        predictor,
        inputs,
        output,
        batch_size=batch_size,
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
    )
    record = {"rows": summary.rows, "errors": summary.errors, "exists": output.is_file()}
    rank = os.environ.get("LOCAL_RANK", "0")
    (output.parent / f"summary{rank}.json").write_text(json.dumps(record))


def main(argv: list[str]) -> int:
    if argv[0] == "predict":
        model, inputs, output = argv[1], Path(argv[2]), Path(argv[3])
        predict(model, inputs, output, int(argv[4]), int(argv[5]))
        return 0
    if argv[0] == "train":
        domain, workdir, devices, epochs = argv[1], Path(argv[2]), int(argv[3]), int(argv[4])
        train(domain, workdir, devices, epochs, resume=argv[5:] == ["resume"])
        return 0
    raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    finally:
        api.end_distributed()
    sys.exit(code)
