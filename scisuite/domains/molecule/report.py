"""Evaluation plots for the molecule domain: one parity plot per target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from scisuite.core.config import FrozenConfig
from scisuite.core.metrics import rmse
from scisuite.core.plots import draw_parity, new_figure, save_png
from scisuite.core.plugin import Reports
from scisuite.domains.molecule.config import MoleculeConfig


def parity_plots(pred: Tensor, target: Tensor, config: MoleculeConfig, out_dir: Path) -> list[Path]:
    """One predicted-vs-measured scatter per target (``parity_<target>.png``), with the
    identity line and the RMSE, written atomically."""
    paths = []
    pred_np, target_np = pred.double().numpy(), target.double().numpy()
    for t, name in enumerate(config.target_names):
        known = ~np.isnan(target_np[:, t])
        x, y = target_np[known, t], pred_np[known, t]
        figure = new_figure(4.5, 4.5, dpi=120)
        axes = figure.add_subplot()
        draw_parity(axes, x, y, name)
        axes.set(
            xlabel=f"measured {name}",
            title=f"{name}: RMSE {rmse(y, x):.3f}, n={known.sum()}",
        )
        figure.tight_layout()
        paths.append(save_png(figure, Path(out_dir) / f"parity_{name}.png"))
    return paths


class MoleculeReports(Reports):
    """The evaluation report is a parity plot per target; no extra prediction outputs."""

    def evaluation_report(
        self, pred: Tensor, target: Tensor, config: FrozenConfig, out_dir: Path
    ) -> list[Path]:
        return parity_plots(pred, target, MoleculeConfig.coerce(config), out_dir)
