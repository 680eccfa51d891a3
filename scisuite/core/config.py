"""Frozen, validated, JSON round-trippable configuration dataclasses.

Every config in scisuite subclasses :class:`FrozenConfig`. Unknown keys are an
error (no silent typos), nested configs are rebuilt from their type hints, and
``validate()`` runs in ``__post_init__`` so an invalid config cannot exist.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

ConfigT = TypeVar("ConfigT", bound="FrozenConfig")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the fix."""


@dataclass(frozen=True)
class FrozenConfig:
    """Base class: subclasses are ``@dataclass(frozen=True)`` and override ``validate``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` if a field is out of range."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _to_plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"{cls.__name__} got unknown field(s) {unknown}; valid fields are {sorted(known)}"
            )
        hints = get_type_hints(cls)
        kwargs = {name: _from_plain(hints[name], value) for name, value in values.items()}
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[ConfigT], text: str) -> ConfigT:
        return cls.from_dict(json.loads(text))

    def replace(self: ConfigT, **changes: Any) -> ConfigT:
        return dataclasses.replace(self, **changes)

    @classmethod
    def coerce(cls: type[ConfigT], config: FrozenConfig) -> ConfigT:
        """``config`` typed as this class (a domain receives the base type through the
        plugin contract); raises ``TypeError`` for another domain's config."""
        if not isinstance(config, cls):
            raise TypeError(f"expected a {cls.__name__}, got {type(config).__name__}")
        return config


def _to_plain(value: Any) -> Any:
    if isinstance(value, FrozenConfig):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def _from_plain(hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, FrozenConfig) and isinstance(value, dict):
        return hint.from_dict(value)
    if origin in (typing.Union, types.UnionType):
        for option in get_args(hint):
            if option is type(None) and value is None:
                return None
            if isinstance(option, type) and issubclass(option, FrozenConfig):
                if isinstance(value, dict):
                    return option.from_dict(value)
        return value
    if origin is tuple and isinstance(value, list):
        args = get_args(hint)
        inner = args[0] if args else Any
        return tuple(_from_plain(inner, v) for v in value)
    return value


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a config dict with ``{"backbone.d_model": 64, "dropout": 0.2}``-style
    overrides applied (dotted keys reach into nested configs). Unknown keys are errors."""
    result = json.loads(json.dumps(values))
    for dotted, value in overrides.items():
        node = result
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise ConfigError(f"--set {dotted}: {key!r} is not a nested config")
            node = node[key]
        if leaf not in node:
            raise ConfigError(f"--set {dotted}: unknown field {leaf!r}; known: {sorted(node)}")
        node[leaf] = value
    return result


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    require(value in choices, f"{name}={value!r} is not one of {list(choices)}")


LocalMP = Literal["none", "gine", "gatedgcn", "mgn"]
AttentionKind = Literal["none", "dense", "sparse"]
PositionKind = Literal["none", "sinusoidal", "rotary"]
Pooling = Literal["mean", "sum", "attention"]


@dataclass(frozen=True)
class BackboneConfig(FrozenConfig):
    """Architecture of :class:`scisuite.core.backbone.Backbone`.

    Args:
        d_model: width of node/token states.
        num_heads: attention heads; ``d_model`` must be divisible by it.
        num_layers: number of :class:`GraphSeqLayer` blocks.
        ffn_multiplier: feed-forward hidden width is ``ffn_multiplier * d_model``; 0 removes it.
        dropout: dropout on residual branches and attention weights.
        attention: ``"dense"`` (SDPA with a mask), ``"sparse"`` (edge-list, O(E)) or
            ``"none"`` (message passing only, e.g. the MeshGraphNets baseline).
        local_mp: local message passing over real edges: ``"none"``, ``"gine"``,
            ``"gatedgcn"`` or ``"mgn"`` (edge + node update, MeshGraphNets style).
        propagation_hops: hops of attention-graph propagation (0 disables it).
        position: token position encoding: ``"none"``, ``"sinusoidal"`` or ``"rotary"``.
        max_positions: largest token position the sinusoidal table covers.
        vocab_size: if > 0 the input is token ids embedded with a table of this size.
        node_in_dim: if > 0 the input is a float feature matrix of this width.
        edge_in_dim: width of raw edge features (0: no edge features).
        lap_pe_dim: Laplacian-eigenvector encoding width (0: off).
        rw_pe_dim: random-walk structural encoding width (0: off).
        global_tokens: learned global tokens appended to every graph (sparse kernel).
    """

    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 4
    ffn_multiplier: int = 2
    dropout: float = 0.0
    attention: AttentionKind = "dense"
    local_mp: LocalMP = "none"
    propagation_hops: int = 0
    position: PositionKind = "none"
    max_positions: int = 4096
    vocab_size: int = 0
    node_in_dim: int = 0
    edge_in_dim: int = 0
    lap_pe_dim: int = 0
    rw_pe_dim: int = 0
    global_tokens: int = 0

    def validate(self) -> None:
        require(self.d_model > 0, f"d_model must be positive, got {self.d_model}")
        require(self.num_heads > 0, f"num_heads must be positive, got {self.num_heads}")
        require(
            self.d_model % self.num_heads == 0,
            f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}",
        )
        require(self.num_layers >= 1, f"num_layers must be >= 1, got {self.num_layers}")
        require(self.ffn_multiplier >= 0, "ffn_multiplier must be >= 0 (0 removes the block)")
        require(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        check_choice("attention", self.attention, ("none", "dense", "sparse"))
        check_choice("local_mp", self.local_mp, ("none", "gine", "gatedgcn", "mgn"))
        check_choice("position", self.position, ("none", "sinusoidal", "rotary"))
        require(self.propagation_hops >= 0, "propagation_hops must be >= 0")
        require(
            self.attention != "none" or self.local_mp != "none",
            "a layer needs attention or local message passing (both are 'none')",
        )
        require(
            self.propagation_hops == 0 or self.attention != "none",
            "propagation_hops > 0 needs attention (it propagates over attention weights)",
        )
        require(
            (self.vocab_size > 0) != (self.node_in_dim > 0),
            "set exactly one of vocab_size (token input) or node_in_dim (feature input)",
        )
        require(
            self.local_mp in ("none", "gatedgcn") or self.edge_in_dim > 0,
            f"local_mp={self.local_mp!r} needs edge features (edge_in_dim > 0)",
        )
        require(self.max_positions > 0, "max_positions must be positive")
        require(min(self.lap_pe_dim, self.rw_pe_dim, self.global_tokens) >= 0, "negative width")
        require(
            self.global_tokens == 0 or self.attention == "sparse",
            "global_tokens need the sparse attention kernel (they are extra pattern nodes)",
        )
        require(
            self.position != "rotary" or (self.d_model // self.num_heads) % 2 == 0,
            "rotary positions need an even head dimension",
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads


@dataclass(frozen=True)
class TrainConfig(FrozenConfig):
    """Optimisation and hardware settings shared by every domain.

    Args:
        max_epochs: passes over the training set.
        batch_size: graphs (or sequences) per optimisation step.
        learning_rate: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_fraction: fraction of steps with linear warm-up before cosine decay.
        grad_clip: gradient-norm clip (0 disables).
        patience: early-stopping patience in epochs on the validation loss (0 disables).
        seed: seeds Python, NumPy and torch through Lightning.
        accelerator: ``"auto"``, ``"cpu"`` or ``"gpu"``.
        devices: number of devices per node, or ``"auto"``.
        num_nodes: machines that train together (DDP across nodes; launched by SLURM or
            ``torchrun``, one process per device on each node).
        strategy: Lightning strategy, e.g. ``"auto"`` or ``"ddp"``.
        precision: Lightning precision string, e.g. ``"32-true"`` or ``"bf16-mixed"``.
        num_workers: DataLoader worker processes.
    """

    max_epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    patience: int = 0
    seed: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_workers: int = 0

    def validate(self) -> None:
        require(self.max_epochs >= 1, "max_epochs must be >= 1")
        require(self.batch_size >= 1, "batch_size must be >= 1")
        require(self.learning_rate > 0, "learning_rate must be positive")
        require(self.weight_decay >= 0, "weight_decay must be >= 0")
        require(0 <= self.warmup_fraction < 1, "warmup_fraction must be in [0, 1)")
        require(self.grad_clip >= 0, "grad_clip must be >= 0")
        require(self.patience >= 0, "patience must be >= 0")
        check_choice("accelerator", self.accelerator, ("auto", "cpu", "gpu", "cuda", "mps"))
        require(self.num_workers >= 0, "num_workers must be >= 0")
        require(self.num_nodes >= 1, "num_nodes must be >= 1")


__all__ = [
    "BackboneConfig",
    "ConfigError",
    "FrozenConfig",
    "TrainConfig",
    "check_choice",
    "require",
]
