"""Fuzzed checkpoints (#16 build item 3): ``config.json`` with mutated keys and values or
damaged text, a damaged ``model.safetensors``, and damaged ``torch.save`` files given to the
converter. Invariant: the checkpoint loads, or a one-line :class:`CheckpointError` says why;
never another exception (the CLI would print a traceback) and never unpickled code."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))

from toy_plugin import PLUGIN, RingConfig  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.api.checkpoints import convert_checkpoint  # noqa: E402
from scisuite.core.checkpoint import CheckpointError, CheckpointMeta, save_checkpoint  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

REGISTRY = PluginRegistry([PLUGIN], use_entry_points=False)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "4", "dense", "sparse", "toyring", "none", "rotary"])
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


class _Files(dict):
    """The fixture's files, shown by name only in hypothesis' reports."""

    def __repr__(self) -> str:
        return f"<checkpoint files in {self['folder']}>"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A valid toy checkpoint, its files' bytes, and a torch.save of its weights."""
    torch.manual_seed(0)
    config = RingConfig()
    model = PLUGIN.task.build_model(config)
    meta = CheckpointMeta("toyring", PLUGIN.schema_version, config.to_dict())
    folder = save_checkpoint(tmp_path_factory.mktemp("fuzz") / "ckpt", model.state_dict(), meta)
    pt = folder.parent / "weights.pt"
    torch.save(model.state_dict(), pt)
    return _Files(
        folder=folder,
        config=json.loads((folder / "config.json").read_text()),
        config_bytes=(folder / "config.json").read_bytes(),
        weights_bytes=(folder / "model.safetensors").read_bytes(),
        pt_bytes=pt.read_bytes(),
    )


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into nested dicts and lists (``()`` is the whole document)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _loads_or_refuses(base: dict[str, Any], config: bytes, weights: bytes) -> None:
    folder = base["folder"]
    (folder / "config.json").write_bytes(config)
    (folder / "model.safetensors").write_bytes(weights)
    try:
        api.load("toyring", checkpoint=folder, device="cpu", registry=REGISTRY)
    except CheckpointError as error:
        assert "\n" not in str(error) and str(folder) in str(error), str(error)


@given(data=st.data())
def test_mutated_config_json_loads_or_is_refused(base, data) -> None:
    document = copy.deepcopy(base["config"])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(_paths(document)), label="path")
        action = data.draw(st.sampled_from(["set", "delete", "add"]), label="action")
        if not path:
            document = data.draw(JSON_VALUES, label="document") if action == "set" else document
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if action == "set":
            parent[path[-1]] = data.draw(JSON_VALUES, label="value")
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8), label="key")] = data.draw(JSON_VALUES)
    text = json.dumps(document).encode()
    _loads_or_refuses(base, text, base["weights_bytes"])


def _damaged(original: bytes, data: st.DataObject, limit: int | None = None) -> bytes:
    """``original`` truncated, or with bytes replaced or inserted (within ``limit``)."""
    end = min(len(original), limit or len(original))
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        where = data.draw(st.integers(0, end), label="at")
        kind = data.draw(st.sampled_from(["truncate", "replace", "insert"]), label="edit")
        if kind == "truncate":
            return bytes(damaged[:where])
        chunk = data.draw(st.binary(min_size=1, max_size=4), label="bytes")
        if kind == "replace":
            damaged[where : where + len(chunk)] = chunk
        else:
            damaged[where:where] = chunk
    return bytes(damaged)


@given(data=st.data())
def test_damaged_config_text_loads_or_is_refused(base, data) -> None:
    _loads_or_refuses(base, _damaged(base["config_bytes"], data), base["weights_bytes"])


@given(data=st.data())
def test_damaged_safetensors_loads_or_is_refused(base, data) -> None:
    header = 8 + int.from_bytes(base["weights_bytes"][:8], "little")
    # mostly the header (names, dtypes, shapes, offsets), sometimes the whole file
    limit = data.draw(st.sampled_from([header, None]), label="region")
    _loads_or_refuses(base, base["config_bytes"], _damaged(base["weights_bytes"], data, limit))


@given(data=st.data())
def test_damaged_torch_files_convert_or_are_refused(base, data) -> None:
    folder = base["folder"].parent
    source = folder / "damaged.pt"
    source.write_bytes(_damaged(base["pt_bytes"], data))
    output = folder / "converted"
    (base["folder"] / "config.json").write_bytes(base["config_bytes"])
    (base["folder"] / "model.safetensors").write_bytes(base["weights_bytes"])
    try:
        convert_checkpoint(source, output, "toyring", config=base["folder"], registry=REGISTRY)
    except CheckpointError as error:
        assert "\n" not in str(error), str(error)
        assert not output.exists()
    else:
        api.load(output, device="cpu", registry=REGISTRY)
        shutil.rmtree(output)
