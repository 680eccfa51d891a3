"""Shared fixtures for the protein unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scisuite.core.config import BackboneConfig
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.tokenizer import VOCAB_SIZE


def _tiny_config(**changes) -> ProteinConfig:
    """A 2-layer, width-16 protein model config with short windows (fast CPU tests)."""
    backbone = BackboneConfig(
        d_model=16,
        num_heads=2,
        num_layers=2,
        vocab_size=VOCAB_SIZE,
        position="rotary",
        propagation_hops=2,
    )
    values = dict(
        backbone=backbone,
        max_length=64,
        window_overlap=4,
        design_min_length=3,
        design_max_length=12,
        prefix_length=8,
        continue_length=4,
        peptide_max_length=30,
    )
    return ProteinConfig(**{**values, **changes})


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., ProteinConfig]:
    """Factory: ``tiny_config(**changes)`` -> :class:`ProteinConfig`."""
    return _tiny_config
