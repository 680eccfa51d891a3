"""``api.load`` on tampered, foreign and pickled checkpoints (#16 finding 6, build item 3):
each is refused with one :class:`CheckpointError` line naming the file and the key, and
nothing is ever unpickled."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parents[2] / "contract"))

from toy_plugin import PLUGIN, RingConfig  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.cli import main  # noqa: E402
from scisuite.core.checkpoint import CheckpointError, CheckpointMeta, save_checkpoint  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

OTHER = dataclasses.replace(PLUGIN, name="toyother")
REGISTRY = PluginRegistry([PLUGIN, OTHER], use_entry_points=False)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A valid toy checkpoint (random weights)."""
    torch.manual_seed(0)
    config = RingConfig()
    model = PLUGIN.task.build_model(config)
    meta = CheckpointMeta("toyring", PLUGIN.schema_version, config.to_dict())
    return save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta)


def _edit(checkpoint: Path, change) -> None:
    path = checkpoint / "config.json"
    values = json.loads(path.read_text())
    change(values)
    path.write_text(json.dumps(values))


def _refused(checkpoint: Path, match: str, domain: str = "toyring") -> str:
    with pytest.raises(CheckpointError, match=match) as caught:
        api.load(domain, checkpoint=checkpoint, device="cpu", registry=REGISTRY)
    message = str(caught.value)
    assert "\n" not in message, "one line"
    return message


def test_the_valid_checkpoint_loads(checkpoint: Path) -> None:
    predictor = api.load("toyring", checkpoint=checkpoint, device="cpu", registry=REGISTRY)
    assert predictor.plugin.name == "toyring"
    assert api.load(checkpoint, device="cpu", registry=REGISTRY).plugin.name == "toyring"


def test_a_string_where_an_int_is_expected_names_file_key_and_type(checkpoint: Path) -> None:
    _edit(checkpoint, lambda v: v["model_config"]["backbone"].update(num_layers="4"))
    message = _refused(checkpoint, "model_config.backbone.num_layers must be an integer")
    assert str(checkpoint / "config.json") in message and "the string '4'" in message


def test_sharded_scoring_refuses_the_tampered_checkpoint_alike(checkpoint: Path) -> None:
    _edit(checkpoint, lambda v: v["model_config"]["backbone"].update(num_layers="4"))
    inputs = checkpoint.parent / "in.ring"
    inputs.write_text("a,3,3\n")
    with pytest.raises(CheckpointError, match="num_layers must be an integer"):
        api.predict_sharded(
            "toyring", inputs, checkpoint.parent / "out.csv", checkpoint=checkpoint,
            shard_size=1, device="cpu", registry=REGISTRY,
        )  # fmt: skip


def test_a_string_schema_version_is_named_as_a_string(checkpoint: Path) -> None:
    _edit(checkpoint, lambda v: v.update(schema_version="1"))
    message = _refused(checkpoint, "schema_version must be an integer, got the string '1'")
    assert "v1, this scisuite reads v1" not in message


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda v: v.update(schema_version=7), "schema_version 7, this scisuite reads 1; upgrade"),
        (lambda v: v.update(schema_version=0), "schema_version 0, this scisuite reads 1; retrain"),
        (lambda v: v.update(schema_version=True), "must be an integer, got the boolean true"),
        (lambda v: v.update(surprise=1), r"unknown key\(s\) \['surprise'\]"),
        (lambda v: v.pop("model_config"), r"lacks required key\(s\) \['model_config'\]"),
        (lambda v: v.update(domain=3), "domain must be a string, got the integer 3"),
        (lambda v: v.update(metrics=[]), "metrics must be an object, got a list"),
        (lambda v: v["model_config"].update(max_nodes=50.0), "max_nodes must be an integer"),
        (lambda v: v["model_config"].update(target_std=None), "target_std must be a number"),
        (lambda v: v["model_config"].update(typo=1), r"unknown field\(s\) \['typo'\]"),
        (lambda v: v["model_config"].update(backbone=[]), "backbone must be an object"),
        (
            lambda v: v["model_config"]["backbone"].update(attention="fast"),
            'attention must be one of "none", "dense", "sparse", got the string',
        ),
        (lambda v: v["model_config"].update(target_std=-1.0), "target_std must be positive"),
    ],
)
def test_tampered_config_json_is_refused_in_one_line(checkpoint: Path, change, match) -> None:
    _edit(checkpoint, change)
    assert str(checkpoint) in _refused(checkpoint, match)


@pytest.mark.parametrize("text", ["{", "", "[1, 2]", '"config"', "\xff\xfe"])
def test_config_json_that_is_not_a_json_object_is_refused(checkpoint: Path, text: str) -> None:
    (checkpoint / "config.json").write_bytes(text.encode("latin-1"))
    _refused(checkpoint, "config.json (is not valid JSON|is not UTF-8|must hold a JSON object)")


def test_weights_of_another_shape_than_the_config_are_refused(checkpoint: Path) -> None:
    _edit(checkpoint, lambda v: v["model_config"]["backbone"].update(d_model=32))
    message = _refused(checkpoint, "does not fit the model its config.json describes")
    assert "different shape" in message and "[16" in message and "[32" in message


def test_a_huge_size_in_config_json_is_refused_before_any_memory_is_used(checkpoint) -> None:
    """d_model 2**20 would need terabytes for its weight matrices: the shapes are compared
    on torch's meta device first."""
    _edit(checkpoint, lambda v: v["model_config"]["backbone"].update(d_model=2**20))
    _refused(checkpoint, "different shape")


def test_missing_and_unexpected_tensors_are_named(checkpoint: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(checkpoint / "model.safetensors")
    dropped = sorted(state)[0]
    state.pop(dropped)
    state["stow\naway"] = torch.zeros(2)  # a line break in a name stays on one line
    save_file(state, checkpoint / "model.safetensors")
    message = _refused(checkpoint, f"missing 1: {dropped}")
    assert "unexpected 1: stow\\naway" in message


def test_a_missing_or_broken_weights_file_is_refused(checkpoint: Path) -> None:
    (checkpoint / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    _refused(checkpoint, "not a valid safetensors file")
    (checkpoint / "model.safetensors").unlink()
    _refused(checkpoint, "has no model.safetensors")


def test_another_domains_checkpoint_never_switches_the_domain(checkpoint: Path) -> None:
    message = _refused(checkpoint, "is a toyring checkpoint, not toyother", domain="toyother")
    assert "--domain toyring" in message


def test_a_folder_named_like_the_domain_is_not_taken_as_its_checkpoint(
    checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    """``sci predict --domain toyother`` where the working directory has a ``toyother/``
    folder (here holding a toyring checkpoint) uses the domain, not the folder."""
    monkeypatch.chdir(tmp_path)
    checkpoint.rename(tmp_path / "toyother")
    with pytest.raises(CheckpointError, match="toyother domain ships no default weights"):
        api.load("toyother", device="cpu", registry=REGISTRY)
    _refused(tmp_path / "toyother", "is a toyring checkpoint, not toyother", domain="toyother")
    assert api.load("./toyother", device="cpu", registry=REGISTRY).plugin.name == "toyring"


class _Trap:
    """Unpickling this object creates ``touched``: proof that something was unpickled."""

    touched: Path

    def __reduce__(self):
        return (Path.touch, (self.touched,))


@pytest.mark.parametrize("where", ["file", "folder", "weights"])
def test_pickles_are_refused_unread_and_the_converter_is_named(tmp_path: Path, where) -> None:
    trap = _Trap()
    trap.touched = tmp_path / "touched"
    payload = pickle.dumps({"weight": trap})
    folder = tmp_path / "model"
    folder.mkdir()
    if where == "file":
        target = tmp_path / "model.ckpt"
        target.write_bytes(payload)
        match = "convert it once with `sci convert checkpoint"
    elif where == "folder":
        target = folder
        (folder / "pytorch_model.pt").write_bytes(payload)
        match = r"only pickled file\(s\) \['pytorch_model.pt'\].*sci convert checkpoint"
    else:
        target = folder
        (folder / "config.json").write_text(
            json.dumps({"domain": "toyring", "schema_version": 1, "model_config": {}})
        )
        (folder / "model.safetensors").write_bytes(payload)
        match = "pickled .*sci convert checkpoint"
    assert "--domain toyring`" in _refused(target, match)
    with pytest.raises(CheckpointError, match="sci convert checkpoint .*--domain DOMAIN"):
        api.load(target, device="cpu", registry=REGISTRY)
    assert not trap.touched.exists(), "nothing may be unpickled"


def test_the_cli_reports_a_bad_checkpoint_in_one_line(checkpoint: Path, capsys) -> None:
    _edit(checkpoint, lambda v: v["model_config"]["backbone"].update(num_layers="4"))
    inputs = checkpoint.parent / "in.ring"
    inputs.write_text("a,3,3\n")
    args = ["predict", "--domain", "toyring", "--checkpoint", str(checkpoint), str(inputs)]
    assert main(args, registry=REGISTRY) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("sci: error: ") and "num_layers must be an integer" in err
