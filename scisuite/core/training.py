"""Generic Lightning training: one module for every domain; the task supplies loss and metrics.

Devices, precision, DDP, seeding and checkpoints for resuming come from Lightning and
:class:`~scisuite.core.config.TrainConfig`; nothing here knows about a domain.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from scisuite.core.config import FrozenConfig, TrainConfig
from scisuite.core.metrics import compute_metrics
from scisuite.core.plugin import Task


class DomainLightningModule(L.LightningModule):
    """Trains any task's model: ``loss = task.loss(model(batch), batch, config)``.

    Args:
        task: supplies ``loss``, ``evaluation_arrays`` and ``metrics``.
        model: the module from ``task.build_model``.
        config: the domain config (normaliser statistics for loss and metrics).
        train_config: optimiser and schedule settings.
    """

    def __init__(
        self,
        task: Task,
        model: nn.Module,
        config: FrozenConfig,
        train_config: TrainConfig,
    ) -> None:
        super().__init__()
        self.task = task
        self.model = model
        self.config = config
        self.train_config = train_config
        self._val_pred: list[Tensor] = []
        self._val_target: list[Tensor] = []

    def forward(self, batch: Batch) -> Tensor:
        return self.model(batch)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self.task.loss(self.model(batch), batch, self.config)
        self.log(
            "train_loss",
            loss,
            batch_size=batch.num_graphs,
            prog_bar=True,
            on_epoch=True,
            on_step=False,
            sync_dist=True,
        )
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        outputs = self.model(batch)
        loss = self.task.loss(outputs, batch, self.config)
        self.log("val_loss", loss, batch_size=batch.num_graphs, prog_bar=True, sync_dist=True)
        pred, target = self.task.evaluation_arrays(outputs, batch, self.config)
        self._val_pred.append(pred.detach().float().cpu())
        self._val_target.append(target.detach().float().cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._val_pred:
            return
        scores = compute_metrics(
            self.task.metrics, torch.cat(self._val_pred), torch.cat(self._val_target)
        )
        for name, value in scores.items():
            if math.isfinite(value):
                self.log(f"val_{name}", value, sync_dist=True)
        self._val_pred.clear()
        self._val_target.clear()

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.train_config
        params = [p for p in self.model.parameters() if p.requires_grad]
        try:  # the fused kernel is faster on CPU and GPU; not every device/dtype has it
            optimizer = torch.optim.AdamW(
                params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True
            )
        except (RuntimeError, ValueError):
            optimizer = torch.optim.AdamW(
                params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay
            )
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = int(cfg.warmup_fraction * total)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = (step - warmup) / max(total - warmup, 1)
            return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class GraphDataModule(L.LightningDataModule):
    """Lists of PyG ``Data`` -> shuffled (seeded) training / ordered validation loaders."""

    def __init__(
        self, train: Sequence[Data], val: list[Data], batch_size: int, num_workers: int, seed: int
    ) -> None:
        super().__init__()
        self.train, self.val = train, val
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.train,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            generator=generator,
            drop_last=False,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers
        )


@dataclass
class FitResult:
    """Outcome of :func:`fit`: the best weights (by validation loss) and what was measured."""

    state_dict: dict[str, Tensor]
    best_val_loss: float
    epochs_run: int
    train_seconds: float
    history: dict[str, Any] = field(default_factory=dict)


def fit(
    task: Task,
    model: nn.Module,
    config: FrozenConfig,
    train: Sequence[Data],
    val: list[Data],
    train_config: TrainConfig,
    work_dir: str | Path,
    quiet: bool = False,
) -> FitResult:
    """Train ``model`` with Lightning and return the best-validation-loss weights.

    Args:
        task: the domain's task (loss, metrics).
        model: freshly built model.
        config: its domain config.
        train, val: featurized graphs.
        train_config: epochs, batch size, optimiser, devices, precision, strategy, seed.
        work_dir: Lightning's CSV logs (kept) and its per-run epoch ``.ckpt`` files (removed
            once the best weights are loaded) go here.
        quiet: no progress bar or model summary.
    """
    if not train:
        raise ValueError("no training records left after featurization")
    if not val:
        raise ValueError("no validation records; give --val or a split with a validation part")
    L.seed_everything(train_config.seed, workers=True, verbose=False)
    work_dir = Path(work_dir)
    # Epoch checkpoints live only for this run (the best one is reloaded below); a folder
    # left by an interrupted run would otherwise mix old files with new ones.
    ckpt_dir = work_dir / "lightning"
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    module = DomainLightningModule(task, model, config, train_config)
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        save_last=True,
        filename="best",
    )
    callbacks: list[L.Callback] = [checkpoint]
    if train_config.patience:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=train_config.patience))
    if quiet:  # Lightning reports devices and tips through this logger at INFO level
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    trainer = L.Trainer(
        max_epochs=train_config.max_epochs,
        accelerator=train_config.accelerator,
        devices=train_config.devices if train_config.devices != "auto" else "auto",
        strategy=train_config.strategy,
        precision=train_config.precision,
        gradient_clip_val=train_config.grad_clip or None,
        callbacks=callbacks,
        logger=CSVLogger(str(work_dir), name="logs"),
        enable_progress_bar=not quiet,
        enable_model_summary=not quiet,
        deterministic=False,
        log_every_n_steps=10,
    )
    data = GraphDataModule(
        train, val, train_config.batch_size, train_config.num_workers, train_config.seed
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    elapsed = time.perf_counter() - start
    best_path = checkpoint.best_model_path
    if best_path:
        # Our own file, written by this process moments ago: Lightning .ckpt needs torch.load.
        best = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
        state = {k.removeprefix("model."): v for k, v in best.items() if k.startswith("model.")}
    else:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    shutil.rmtree(ckpt_dir, ignore_errors=True)  # the CSV logs next to it are kept
    best_score = checkpoint.best_model_score
    return FitResult(
        state_dict=state,
        best_val_loss=float(best_score) if best_score is not None else float("nan"),
        epochs_run=trainer.current_epoch,
        train_seconds=elapsed,
    )
