from __future__ import annotations

import pytest

from scisuite.core.plugin import TrainRequest
from scisuite.domains.mesh.examples import write_example_dataset
from scisuite.domains.mesh.plugin import PLUGIN

TINY = {"backbone.d_model": 16, "backbone.num_heads": 2, "backbone.num_layers": 1}


@pytest.fixture
def tiny() -> dict[str, int]:
    """Config overrides for a small, fast model."""
    return dict(TINY)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Four small trajectories of 8 frames in a generated-data-set layout."""
    return write_example_dataset(tmp_path_factory.mktemp("cylinder"), trajectories=4, frames=8)


@pytest.fixture(scope="module")
def data(dataset):
    return PLUGIN.data.build_training_data(TrainRequest(data=dataset, seed=0, model_overrides=TINY))
