"""After training, on the validation set: resolve ``fingerprint_use="select"``, then fit the
std calibration (``std_scale``) of the model that is kept."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from scisuite.core.config import FrozenConfig
from scisuite.core.uncertainty import variance_scale
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.model import MoleculeModel, MoleculePrediction
from scisuite.domains.molecule.task import masked_loss


def finalize_model(
    model: nn.Module,
    config: FrozenConfig,
    val: list[Data],
    batch_size: int,
    device: torch.device,
) -> tuple[nn.Module, MoleculeConfig, dict[str, Any]]:
    """Keep the head with the lower validation loss when ``fingerprint_use="select"``
    (:func:`select_head`), then, for a regression that reports a std, fit ``std_scale`` on
    the validation molecules (:func:`~scisuite.core.uncertainty.variance_scale`).

    Returns the one-head model, its config and what was chosen:
    ``{"fingerprint_use", "val_loss": {variant: loss}, "std_scale"}`` (each when it applies).
    """
    config = MoleculeConfig.coerce(config)
    if not isinstance(model, MoleculeModel):
        raise TypeError(f"expected a MoleculeModel, got {type(model).__name__}")
    choosing = len(config.head_variants()) > 1
    calibrating = config.task_type == "regression" and config.reports_std()
    if not val or not (choosing or calibrating):
        return model, config, {}
    outputs, target = _validation_outputs(model.to(device).eval(), val, batch_size, device)
    info: dict[str, Any] = {}
    if choosing:
        model, config, outputs, info = select_head(model, config, outputs, target)
    if calibrating:
        prediction = MoleculePrediction.from_outputs(outputs, config.replace(std_scale=()))
        scale = variance_scale(prediction.mean, target, prediction.std)
        config = config.replace(std_scale=scale)
        model.config = config
        info["std_scale"] = list(scale)
    return model, config, info


def _validation_outputs(
    model: MoleculeModel, val: list[Data], batch_size: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """``model``'s training outputs ``[R, G, T]`` and the targets ``[G, T]`` over ``val``."""
    outputs, targets = [], []
    with torch.inference_mode():
        for batch in DataLoader(val, batch_size=batch_size, shuffle=False):
            batch = batch.to(device)
            outputs.append(model(batch).float().cpu())
            targets.append(batch.y.float().cpu())
    return torch.cat(outputs, dim=1), torch.cat(targets)


def select_head(
    model: MoleculeModel, config: MoleculeConfig, outputs: Tensor, target: Tensor
) -> tuple[MoleculeModel, MoleculeConfig, Tensor, dict[str, Any]]:
    """Keep the head (graph only, or graph + fingerprint) with the lower validation loss.

    Returns the one-head model, its config (``fingerprint_use`` = ``"on"``/``"off"``), the
    kept head's validation outputs ``[members, G, T]`` and
    ``{"fingerprint_use": chosen, "val_loss": {variant: loss}}``.
    """
    per_variant = model.by_variant(outputs)
    losses = {
        variant: float(masked_loss(head_outputs, target, config))
        for variant, head_outputs in per_variant.items()
    }
    chosen = min(per_variant, key=lambda variant: losses[variant])
    resolved = config.replace(fingerprint_use="on" if chosen == "fingerprint" else "off")
    final = MoleculeModel(resolved)
    final.load_state_dict(
        {
            k: v
            for k, v in model.state_dict().items()
            if ".heads." not in k or f".heads.{chosen}." in k
        }
    )
    info = {"fingerprint_use": resolved.fingerprint_use, "val_loss": losses}
    return final, resolved, per_variant[chosen], info
