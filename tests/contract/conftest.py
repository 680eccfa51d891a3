"""Every registered plugin, plus the in-test toy plugin, runs the whole contract suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from toy_plugin import PLUGIN as TOY_PLUGIN  # noqa: E402

from scisuite.core.registry import PluginRegistry  # noqa: E402

INSTALLED = PluginRegistry().names()


@pytest.fixture(params=["toyring", *INSTALLED])
def plugin(request: pytest.FixtureRequest):
    if request.param == "toyring":
        return TOY_PLUGIN
    return PluginRegistry().get(request.param)


@pytest.fixture
def registry(plugin) -> PluginRegistry:
    return PluginRegistry(plugins=[plugin], use_entry_points=False)
