from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from scisuite.core.backbone import Backbone
from scisuite.core.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    save_checkpoint,
)
from scisuite.core.config import BackboneConfig
from scisuite.core.patterns import DensePattern


def _model() -> Backbone:
    torch.manual_seed(0)
    return Backbone(
        BackboneConfig(
            d_model=16,
            num_heads=2,
            num_layers=2,
            vocab_size=20,
            position="rotary",
            propagation_hops=1,
        )
    ).eval()


def test_round_trip_is_bit_identical(tmp_path) -> None:
    model = _model()
    meta = CheckpointMeta("toy", 1, model.config.to_dict(), metrics={"rmse": 1.0})
    save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta)
    loaded_meta, state = load_checkpoint(tmp_path / "ckpt")
    assert loaded_meta == meta
    clone = Backbone(BackboneConfig.from_dict(loaded_meta.model_config)).eval()
    clone.load_state_dict(state)
    tokens, batch = torch.randint(0, 20, (9,)), torch.tensor([0] * 4 + [1] * 5)
    pattern = DensePattern(batch, causal=True)
    assert torch.equal(
        model(tokens, batch, pattern).node_states, clone(tokens, batch, pattern).node_states
    )


def test_pickled_files_are_refused(tmp_path) -> None:
    model = _model()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(tmp_path / "model.pt")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(
        json.dumps({"domain": "toy", "schema_version": 1, "model_config": {}})
    )
    (ckpt / "model.safetensors").write_bytes(pickle.dumps({"evil": 1}))
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(ckpt)
    (ckpt / "model.safetensors").unlink()
    torch.save({}, ckpt / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(ckpt)


def test_failed_save_keeps_the_old_checkpoint(tmp_path) -> None:
    model = _model()
    meta = CheckpointMeta("toy", 1, model.config.to_dict())
    save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta)
    with pytest.raises(AttributeError):
        save_checkpoint(tmp_path / "ckpt", {"w": "not a tensor"}, meta)  # type: ignore[dict-item]
    assert load_checkpoint(tmp_path / "ckpt")[0] == meta
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_resave_keeps_the_model_card_and_uses_umask_permissions(tmp_path) -> None:
    model = _model()
    meta = CheckpointMeta("toy", 1, model.config.to_dict())
    save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta)
    (tmp_path / "ckpt" / "README.md").write_text("# card\n")
    newer = CheckpointMeta("toy", 2, meta.model_config)
    save_checkpoint(tmp_path / "ckpt", model.state_dict(), newer)
    assert (tmp_path / "ckpt" / "README.md").read_text() == "# card\n"
    assert load_checkpoint(tmp_path / "ckpt")[0].schema_version == 2
    umask = os.umask(0)
    os.umask(umask)
    for name in ("README.md", "config.json", "model.safetensors"):
        assert (tmp_path / "ckpt" / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_pieces_give_clear_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        load_checkpoint(tmp_path / "empty")


def test_a_file_of_a_checkpoint_names_its_folder(tmp_path) -> None:
    model = _model()
    save_checkpoint(tmp_path / "ckpt", model.state_dict(), CheckpointMeta("toy", 1, {}))
    for name in ("model.safetensors", "config.json"):
        with pytest.raises(CheckpointError, match=f"pass its folder {tmp_path / 'ckpt'}$"):
            load_checkpoint(tmp_path / "ckpt" / name)
