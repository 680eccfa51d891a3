"""Head selection after training: resolve ``fingerprint_use="select"`` on the validation set."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from scisuite.core.config import FrozenConfig
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.model import MoleculeModel
from scisuite.domains.molecule.task import masked_loss


def finalize_model(
    model: nn.Module,
    config: FrozenConfig,
    val: list[Data],
    batch_size: int,
    device: torch.device,
) -> tuple[nn.Module, MoleculeConfig, dict[str, Any]]:
    """Resolve ``fingerprint_use="select"``: keep the head (graph only, or graph +
    fingerprint) with the lower validation loss and drop the other one.

    Returns the one-head model, its config (``fingerprint_use`` = ``"on"``/``"off"``) and
    ``{"fingerprint_use": chosen, "val_loss": {variant: loss}}`` ({} if nothing to choose).
    """
    config = MoleculeConfig.coerce(config)
    variants = config.head_variants()
    if len(variants) == 1:
        return model, config, {}
    if not isinstance(model, MoleculeModel):
        raise TypeError(f"expected a MoleculeModel, got {type(model).__name__}")
    outputs, targets = [], []
    model = model.to(device).eval()
    with torch.inference_mode():
        for batch in DataLoader(val, batch_size=batch_size, shuffle=False):
            batch = batch.to(device)
            outputs.append(model(batch).float().cpu())
            targets.append(batch.y.float().cpu())
    stacked, target = torch.cat(outputs, dim=1), torch.cat(targets)
    losses = {
        variant: float(masked_loss(per_variant, target, config))
        for variant, per_variant in model.by_variant(stacked).items()
    }
    chosen = min(variants, key=lambda variant: losses[variant])
    resolved = config.replace(fingerprint_use="on" if chosen == "fingerprint" else "off")
    final = MoleculeModel(resolved)
    final.load_state_dict(
        {
            k: v
            for k, v in model.state_dict().items()
            if ".heads." not in k or f".heads.{chosen}." in k
        }
    )
    return final, resolved, {"fingerprint_use": resolved.fingerprint_use, "val_loss": losses}
