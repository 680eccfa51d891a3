"""Generic Lightning training: one module for every domain; the task supplies loss and metrics.

Devices, precision, DDP, seeding and checkpoints for resuming come from Lightning and
:class:`~scisuite.core.config.TrainConfig`; nothing here knows about a domain.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from scisuite.core.config import FrozenConfig, TrainConfig
from scisuite.core.io import ResumeError, atomic_path
from scisuite.core.metrics import compute_metrics
from scisuite.core.plugin import Task, TrainingProgress
from scisuite.core.progress import wanted

#: Lightning's epoch checkpoints (the resume point ``last.ckpt`` and ``best.ckpt``) live in
#: this folder of the run's work directory until the run completes.
CHECKPOINT_FOLDER = "lightning"
LAST_CHECKPOINT = "last.ckpt"

#: Settings a resumed run must share with the run it continues (epochs, patience, devices,
#: strategy, nodes, precision and workers may change).
_RESUME_KEYS = (
    "batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_fraction",
    "grad_clip",
    "seed",
)


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

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what a resumed run must match, and the RNG state (dropout) to continue."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state()
        checkpoint["scisuite"] = {
            "config": self.config.to_dict(),
            "train_config": {k: getattr(self.train_config, k) for k in _RESUME_KEYS},
            "rng": rng,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a run with other settings (before its weights are loaded); restore RNG."""
        saved = checkpoint.get("scisuite")
        if saved is None:
            raise ResumeError("the Lightning checkpoint was not written by scisuite's fit")
        ours = {k: getattr(self.train_config, k) for k in _RESUME_KEYS}
        changed = sorted(k for k in ours if saved["train_config"].get(k) != ours[k])
        if saved["config"] != self.config.to_dict():
            changed.append("model/data config (architecture, normalisers of the training data)")
        if changed:
            raise ResumeError(
                f"the interrupted run was started with other settings ({', '.join(changed)}); "
                "rerun with the same flags and data, or without --resume to start over"
            )
        torch.set_rng_state(saved["rng"]["torch"])
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(saved["rng"]["cuda"])

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        progress = TrainingProgress(
            step=int(self.global_step),
            total_steps=max(int(self.trainer.estimated_stepping_batches), 1),
            seed=self.train_config.seed,
            rank=int(self.global_rank),
        )
        batch = self.task.training_batch(self.model, batch, self.config, progress)
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
        pred, target = self._val_pred, self._val_target
        if self.trainer.world_size > 1:  # every rank scores the whole validation set
            shares: list[Any] = [None] * self.trainer.world_size
            dist.all_gather_object(shares, (pred, target))
            pred = [p for share_pred, _ in shares for p in share_pred]
            target = [t for _, share_target in shares for t in share_target]
        if not pred:
            return
        scores = compute_metrics(self.task.metrics, torch.cat(pred), torch.cat(target))
        for name, value in scores.items():
            if math.isfinite(value):
                self.log(f"val_{name}", value)
        self._val_pred.clear()
        self._val_target.clear()

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.train_config
        params = [p for p in self.model.parameters() if p.requires_grad]
        # The fused kernel is faster on CPU and GPU, but Lightning refuses gradient clipping
        # with a fused optimizer under mixed precision (it unscales gradients internally).
        fused = "mixed" not in str(cfg.precision) or not cfg.grad_clip
        try:  # not every device/dtype has the fused kernel
            optimizer = torch.optim.AdamW(
                params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=fused
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
    """Lists of PyG ``Data`` -> shuffled (seeded) training / ordered validation loaders.

    The shuffling generator's state goes into Lightning checkpoints, so a resumed run draws
    the same epoch orders as an uninterrupted one. Under DDP Lightning replaces the sampler
    by a ``DistributedSampler`` (seeded, reshuffled per epoch): each rank gets a disjoint
    share, padded by repeating a few graphs so that every rank runs the same number of steps.
    """

    def __init__(
        self, train: Sequence[Data], val: list[Data], batch_size: int, num_workers: int, seed: int
    ) -> None:
        super().__init__()
        self.train, self.val = train, val
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.generator.set_state(state_dict["generator"])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            generator=self.generator,
            drop_last=False,
        )

    def val_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = None
        if trainer is not None and trainer.world_size > 1:
            # each validation graph on exactly one rank (no padding): the metrics gathered
            # from all ranks are those of the whole validation set
            sampler = UnrepeatedDistributedSampler(
                self.val, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return DataLoader(
            self.val,
            batch_size=self.batch_size,
            shuffle=False,
            sampler=sampler,
            num_workers=self.num_workers,
        )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed into place, so a crash
    while saving leaves the previous ``last.ckpt`` intact (Lightning saves on rank 0 only)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class _FreshStart(L.Callback):
    """A run that does not resume starts from an empty checkpoint folder: rank 0 removes
    the files of an earlier run once all processes exist, the others wait for it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            shutil.rmtree(self.folder, ignore_errors=True)
        trainer.strategy.barrier("scisuite-fresh-start")


class EpochLog(L.Callback):
    """One line per epoch on stderr (losses, seconds per epoch, ETA): progress for runs
    whose stderr is a log file, where Lightning's bar would write carriage-return noise."""

    def __init__(self) -> None:
        self._start = 0.0
        self._first_epoch = 0  # a resumed run starts later; its rate counts its own epochs

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._first_epoch = trainer.current_epoch

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        done = trainer.current_epoch + 1
        per_epoch = (time.perf_counter() - self._start) / max(1, done - self._first_epoch)
        left = per_epoch * max(0, trainer.max_epochs - done)
        losses = "  ".join(
            f"{name} {float(value):.4g}"
            for name, value in trainer.callback_metrics.items()
            if name in ("train_loss", "val_loss")
        )
        print(
            f"epoch {done}/{trainer.max_epochs}  {losses}  "
            f"step {trainer.global_step}  {per_epoch:.1f} s/epoch  ETA {left / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )


@dataclass
class FitResult:
    """Outcome of :func:`fit`: the best weights (by validation loss) and what was measured.

    Attributes:
        state_dict: the best epoch's weights on rank 0 of a distributed run; other ranks
            get their final weights (identical across ranks under DDP) and must not write.
        is_global_zero: whether this process is rank 0 (the one that writes outputs).
        world_size: processes that trained together (devices x nodes).
        resumed_from: the Lightning checkpoint the run continued from, or None.
    """

    state_dict: dict[str, Tensor]
    best_val_loss: float
    epochs_run: int
    train_seconds: float
    history: dict[str, Any] = field(default_factory=dict)
    is_global_zero: bool = True
    world_size: int = 1
    resumed_from: Path | None = None


def resume_point(work_dir: str | Path) -> Path:
    """The ``last.ckpt`` an interrupted :func:`fit` left in ``work_dir``.

    Raises:
        ResumeError: there is none (the run finished, never started, or ran elsewhere).
    """
    last = Path(work_dir) / CHECKPOINT_FOLDER / LAST_CHECKPOINT
    if not last.is_file():
        raise ResumeError(
            f"nothing to resume: {last} does not exist (a run that completed removes it, and "
            "one interrupted before its first epoch ended never wrote it); rerun without "
            "--resume to start training"
        )
    return last


def is_global_zero() -> bool:
    """Whether this process is rank 0 of a distributed run (True in a single process)."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def end_distributed() -> None:
    """Close the process group of a distributed run once its work is done (no-op in a single
    process). Call it at the end of a process: left open, gloo's threads can abort the
    interpreter's exit ("terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def distributed_barrier() -> None:
    """Wait for every process of a distributed run (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def seed_run(seed: int) -> None:
    """Seed Python, numpy and torch (and, through Lightning, data-loader workers) for one run."""
    L.seed_everything(seed, workers=True, verbose=False)


def fit(
    task: Task,
    model: nn.Module,
    config: FrozenConfig,
    train: Sequence[Data],
    val: list[Data],
    train_config: TrainConfig,
    work_dir: str | Path,
    quiet: bool = False,
    resume: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> FitResult:
    """Train ``model`` with Lightning and return the best-validation-loss weights.

    Under DDP (``train_config.strategy="ddp"``, ``devices`` and ``num_nodes``) every process
    runs this function on the same data; Lightning gives each rank a disjoint (padded) share
    of ``train`` per epoch, keeps the weights identical across ranks and saves epoch
    checkpoints from rank 0 only.

    Args:
        task: the domain's task (loss, metrics).
        model: freshly built model.
        config: its domain config.
        train, val: featurized graphs.
        train_config: epochs, batch size, optimiser, devices, nodes, precision, strategy, seed.
        work_dir: Lightning's CSV logs (kept) and its epoch ``.ckpt`` files go here; the
            folder ``lightning/`` (``last.ckpt``, written atomically after every epoch, and
            ``best.ckpt``) is removed only once the run completes.
        quiet: no progress bar or model summary.
        resume: continue from ``work_dir/lightning/last.ckpt`` (weights, optimiser, schedule,
            epoch, best score, shuffling and RNG state) up to ``train_config.max_epochs``.
        callbacks: extra Lightning callbacks (monitoring, loggers' helpers, custom stops).

    Raises:
        ResumeError: ``resume`` without a ``last.ckpt``, or with other settings than the run
            that wrote it.
    """
    if not train:
        raise ValueError("no training records left after featurization")
    if not val:
        raise ValueError("no validation records; give --val or a split with a validation part")
    seed_run(train_config.seed)
    work_dir = Path(work_dir)
    ckpt_dir = work_dir / CHECKPOINT_FOLDER
    resumed_from = resume_point(work_dir) if resume else None
    module = DomainLightningModule(task, model, config, train_config)
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        save_last=True,
        filename="best",
    )
    # Epoch checkpoints of an earlier run would otherwise mix with this run's (best-v1.ckpt).
    run_callbacks: list[L.Callback] = [] if resume else [_FreshStart(ckpt_dir)]
    run_callbacks += [checkpoint, *callbacks]
    bar = not quiet and wanted(None)
    if not quiet and not bar:
        run_callbacks.append(EpochLog())
    if train_config.patience:
        run_callbacks.append(EarlyStopping(monitor="val_loss", patience=train_config.patience))
    if quiet:  # Lightning reports devices and tips through this logger at INFO level
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    trainer = L.Trainer(
        max_epochs=train_config.max_epochs,
        accelerator=train_config.accelerator,
        devices=train_config.devices if train_config.devices != "auto" else "auto",
        num_nodes=train_config.num_nodes,
        strategy=train_config.strategy,
        precision=train_config.precision,
        gradient_clip_val=train_config.grad_clip or None,
        callbacks=run_callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=CSVLogger(str(work_dir), name="logs"),
        enable_progress_bar=bar,
        enable_model_summary=not quiet,
        deterministic=False,
        # at most once per epoch on small data, so Lightning does not warn about the interval
        log_every_n_steps=max(1, min(10, math.ceil(len(train) / train_config.batch_size))),
    )
    data = GraphDataModule(
        train, val, train_config.batch_size, train_config.num_workers, train_config.seed
    )
    start = time.perf_counter()
    with warnings.catch_warnings():  # a deprecation inside Lightning, nothing a user can act on
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        # our own file (written by fit): Lightning .ckpt files need torch.load; no pickled code
        trainer.fit(module, datamodule=data, ckpt_path=resumed_from, weights_only=True)
    elapsed = time.perf_counter() - start
    best_path = checkpoint.best_model_path
    if trainer.is_global_zero and best_path:
        best = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
        state = {k.removeprefix("model."): v for k, v in best.items() if k.startswith("model.")}
    else:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if trainer.is_global_zero:
        shutil.rmtree(ckpt_dir, ignore_errors=True)  # the run is complete; CSV logs are kept
    best_score = checkpoint.best_model_score
    return FitResult(
        state_dict=state,
        best_val_loss=float(best_score) if best_score is not None else float("nan"),
        epochs_run=trainer.current_epoch,
        train_seconds=elapsed,
        is_global_zero=trainer.is_global_zero,
        world_size=trainer.world_size,
        resumed_from=resumed_from,
    )
