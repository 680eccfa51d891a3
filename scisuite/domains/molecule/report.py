"""Evaluation plots for the molecule domain."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never opens a window (CI, servers)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from torch import Tensor  # noqa: E402

from scisuite.core.io import atomic_path  # noqa: E402
from scisuite.domains.molecule.config import MoleculeConfig  # noqa: E402


def parity_plots(pred: Tensor, target: Tensor, config: MoleculeConfig, out_dir: Path) -> list[Path]:
    """One predicted-vs-measured scatter per target, with the identity line and RMSE."""
    paths = []
    pred_np, target_np = pred.double().numpy(), target.double().numpy()
    for t, name in enumerate(config.target_names):
        known = ~np.isnan(target_np[:, t])
        x, y = target_np[known, t], pred_np[known, t]
        fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
        ax.scatter(x, y, s=10, alpha=0.6)
        low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([low, high], [low, high], "k--", lw=1)
        rmse = float(np.sqrt(np.mean((x - y) ** 2)))
        ax.set(
            xlabel=f"measured {name}",
            ylabel=f"predicted {name}",
            title=f"{name}: RMSE {rmse:.3f}, n={known.sum()}",
        )
        fig.tight_layout()
        path = Path(out_dir) / f"parity_{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        paths.append(path)
    return paths
