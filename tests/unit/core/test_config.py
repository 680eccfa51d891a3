from __future__ import annotations

import pytest

from scisuite.core.config import BackboneConfig, ConfigError, TrainConfig


def test_round_trip_through_json() -> None:
    config = BackboneConfig(
        d_model=64, num_heads=4, vocab_size=260, position="rotary", propagation_hops=2
    )
    assert BackboneConfig.from_json(config.to_json()) == config


def test_unknown_field_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError, match="d_modle"):
        BackboneConfig.from_dict({"d_modle": 3, "node_in_dim": 4})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 30, "num_heads": 4, "node_in_dim": 1}, "divisible"),
        ({"node_in_dim": 1, "vocab_size": 5}, "exactly one"),
        ({"node_in_dim": 1, "local_mp": "gine"}, "edge features"),
        ({"node_in_dim": 1, "attention": "none"}, "needs attention or local"),
        ({"node_in_dim": 1, "global_tokens": 2}, "sparse"),
        ({"node_in_dim": 1, "attention": "flash"}, "attention"),
    ],
)
def test_invalid_configs_raise(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        BackboneConfig(**kwargs)


def test_configs_are_frozen() -> None:
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.max_epochs = 3  # type: ignore[misc]
    assert config.replace(max_epochs=3).max_epochs == 3
