"""Every registered plugin, plus the in-test toy plugin, runs the whole contract suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from toy_plugin import PLUGIN as TOY_PLUGIN  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

INSTALLED = PluginRegistry().names()


@pytest.fixture(scope="module", params=["toyring", *INSTALLED])
def plugin(request: pytest.FixtureRequest):
    if request.param == "toyring":
        return TOY_PLUGIN
    return PluginRegistry().get(request.param)


@pytest.fixture(scope="module")
def registry(plugin) -> PluginRegistry:
    return PluginRegistry(plugins=[plugin], use_entry_points=False)


@pytest.fixture(scope="module")
def saved(plugin, tmp_path_factory: pytest.TempPathFactory):
    """``(checkpoint path, model, config)``: a seeded untrained model saved once per plugin."""
    torch.manual_seed(0)
    config = plugin.task.default_config()
    model = plugin.task.build_model(config).eval()
    meta = CheckpointMeta(plugin.name, plugin.schema_version, config.to_dict())
    folder = tmp_path_factory.mktemp(f"{plugin.name}-checkpoint")
    return save_checkpoint(folder / "ckpt", model.state_dict(), meta), model, config


@pytest.fixture(scope="module")
def predictor(saved, registry):
    """The saved checkpoint loaded through the API."""
    return api.load(saved[0], device="cpu", registry=registry)


@pytest.fixture(scope="module")
def example(plugin, tmp_path_factory: pytest.TempPathFactory):
    """``(path, records, bad records)`` of the plugin's example file (with bad records)."""
    return plugin.examples.write_file(tmp_path_factory.mktemp(f"{plugin.name}-example"))
