"""Parity plots of the molecule evaluation report."""

from __future__ import annotations

from pathlib import Path

import torch

from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.plugin import PLUGIN


def test_one_parity_png_per_target_skipping_missing_labels(tmp_path: Path) -> None:
    config = MoleculeConfig(target_names=("logS", "expt"), target_mean=(0, 0), target_std=(1, 1))
    target = torch.tensor([[1.0, float("nan")], [2.0, 3.0], [3.0, 4.0]])
    pred = target + 0.1
    paths = PLUGIN.reports.evaluation_report(pred, target, config, tmp_path)
    assert paths == [tmp_path / "parity_logS.png", tmp_path / "parity_expt.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parity_expt.png", "parity_logS.png"]
