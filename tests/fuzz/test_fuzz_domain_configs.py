"""Fuzzed ``model_config`` of the shipped checkpoints (#16 build item 3): every field of
the molecule, protein and mesh configs set to values of its own type and of others (NaN,
negative sizes, unknown choices, lists for numbers, ...). Invariant: the config is built, or
a one-line :class:`CheckpointError` names ``config.json`` and the field; never another
exception (a domain's ``validate`` comparing, dividing or indexing a value it did not
expect)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scisuite import api
from scisuite.api.checkpoints import checked_config
from scisuite.core.checkpoint import CheckpointError, CheckpointMeta, read_meta
from scisuite.core.registry import PluginRegistry

VALUES = (
    st.integers(-3, 5000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.sampled_from(["", "4", "none", "dense", "sparse", "rotary", "chunk", "mean", "gine"])
    | st.lists(st.integers(-2, 10) | st.floats(allow_nan=True) | st.text(max_size=3), max_size=4)
    | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)
)


class _Shipped(dict):
    def __repr__(self) -> str:
        return f"<shipped {self['plugin'].name} checkpoint>"


@pytest.fixture(scope="module", params=["molecule", "protein", "mesh"])
def shipped(request: pytest.FixtureRequest) -> dict[str, Any]:
    path = api.shipped_checkpoint(request.param)
    assert path is not None
    return _Shipped(plugin=PluginRegistry().get(request.param), meta=read_meta(path), path=path)


def _leaves(value: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*prefix, key))]
    if isinstance(value, list) and value:
        return [prefix, *(leaf for i, v in enumerate(value) for leaf in _leaves(v, (*prefix, i)))]
    return [prefix]


@given(data=st.data())
def test_mutated_domain_configs_build_or_are_refused(shipped: dict[str, Any], data) -> None:
    meta: CheckpointMeta = shipped["meta"]
    values = copy.deepcopy(meta.model_config)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(_leaves(values)), label="field")
        parent = values
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = data.draw(VALUES, label="value")
    tampered = CheckpointMeta(meta.domain, meta.schema_version, values)
    try:
        checked_config(shipped["plugin"], tampered, Path(shipped["path"]))
    except CheckpointError as error:
        assert "\n" not in str(error) and "config.json" in str(error), str(error)
