"""Cached causal decoding for token backbones: a new token costs O(length), not a recompute.

The flat path (:class:`~scisuite.core.patterns.DensePattern` with ``causal=True``) runs a
whole batch of sequences at once and is what training uses. Generation instead works on a
padded ``[B, L]`` layout and keeps, per layer, a :class:`LayerCache` with

* the keys and values of every position so far, and
* the **attention-graph propagation states**: with ``Y_0 = A V`` and
  ``Z_k = Y_(k-1) W_k``, ``Y_k = A Z_k``, row ``t`` of ``Y_k`` needs ``Z_k`` at positions
  ``<= t`` only, and ``Z_k[j]`` never changes once position ``j`` exists (``A`` is causal).
  So ``Z_1..Z_K`` are cached like keys and values, and a new token needs one attention row.

Prompts of different lengths are left-padded; ``key_mask`` marks real tokens and token
positions count from each sequence's first real token. :func:`decode_step` on a prompt
("prefill") and then one token at a time gives the same states as the flat path on the
whole sequence (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from scisuite.core.attention import MultiHeadGraphAttention, rotary_tables, rotate_half
from scisuite.core.backbone import Backbone
from scisuite.core.layers import GraphSeqLayer

#: Positions a fresh cache buffer holds before it first doubles.
_INITIAL_CAPACITY = 64


@dataclass
class LayerCache:
    """Per-layer decoding state for ``B`` sequences of ``length`` cached positions.

    The tensors live in buffers with spare capacity along the position axis, written in place
    and doubled when full, so a new token copies nothing already cached (``torch.cat`` per
    step and tensor made decoding O(T^2) in copies). A state is consumed by
    :func:`decode_step`: do not reuse an older state after a newer one was computed from it.

    Attributes:
        key_buffer, value_buffer: ``[B, H, capacity, Dh]``; the first ``length`` are valid.
        hop_buffers: ``K`` buffers of the propagation inputs ``Z_k``, same layout.
        length: valid positions.
    """

    key_buffer: Tensor
    value_buffer: Tensor
    hop_buffers: list[Tensor] = field(default_factory=list)
    length: int = 0

    @property
    def keys(self) -> Tensor:
        """``[B, H, length, Dh]``."""
        return self.key_buffer[:, :, : self.length]

    @property
    def values(self) -> Tensor:
        """``[B, H, length, Dh]``."""
        return self.value_buffer[:, :, : self.length]

    @property
    def hops(self) -> list[Tensor]:
        """``K`` tensors ``[B, H, length, Dh]``: the propagation inputs ``Z_k``."""
        return [buffer[:, :, : self.length] for buffer in self.hop_buffers]


def _write(buffer: Tensor | None, used: int, new: Tensor) -> Tensor:
    """``new [B, H, L, Dh]`` written at positions ``used..used+L`` of ``buffer`` (grown by
    doubling when too small); returns the buffer holding them."""
    end = used + new.size(2)
    if buffer is None or buffer.size(2) < end:
        capacity = max(_INITIAL_CAPACITY, end, 2 * (buffer.size(2) if buffer is not None else 0))
        grown = new.new_empty(new.size(0), new.size(1), capacity, new.size(3))
        if buffer is not None and used:
            grown[:, :, :used] = buffer[:, :, :used]
        buffer = grown
    buffer[:, :, used:end] = new
    return buffer


@dataclass(frozen=True)
class StepContext:
    """What every layer of one :func:`decode_step` shares, computed once per step.

    Attributes:
        allowed: ``[B, 1, L, T + L]`` which cached and new positions each new token sees;
            None when it sees all of them (one new token per sequence and no padding: the
            usual step of a single sequence), so no masking is done.
        has_key: ``[B, 1, L, 1]`` whether a new token sees any real position (left padding
            rows do not; they get a zero row instead of NaN); None with ``allowed``.
        cos, sin: ``[B, 1, L, Dh]`` rotary tables at the new tokens' positions (None
            without rotary positions).
    """

    allowed: Tensor | None
    has_key: Tensor | None
    cos: Tensor | None
    sin: Tensor | None


@dataclass
class DecodingState:
    """Everything generation carries between steps.

    Attributes:
        layers: one :class:`LayerCache` per backbone layer (empty before the prompt).
        key_mask: ``[B, T]`` True where a cached position is a real (non-padding) token.
        next_position: ``[B]`` token position of the next token of each sequence.
    """

    layers: list[LayerCache]
    key_mask: Tensor
    next_position: Tensor

    @property
    def length(self) -> int:
        return int(self.key_mask.size(1))


def empty_state(batch_size: int, device: torch.device | None = None) -> DecodingState:
    """The state before any token (prompt and generation both go through :func:`decode_step`)."""
    return DecodingState(
        layers=[],
        key_mask=torch.zeros(batch_size, 0, dtype=torch.bool, device=device),
        next_position=torch.zeros(batch_size, dtype=torch.long, device=device),
    )


def _heads(x: Tensor, num_heads: int) -> Tensor:
    b, length, d = x.shape
    return x.view(b, length, num_heads, d // num_heads).transpose(1, 2)  # [B, H, L, Dh]


def step_context(
    key_mask: Tensor, positions: Tensor, head_dim: int, rotary: bool, base: float = 10000.0
) -> StepContext:
    """The masks and rotary tables of one step for ``L`` new tokens (``positions [B, L]``)
    over ``key_mask [B, T + L]``."""
    length, total = positions.size(1), key_mask.size(1)
    allowed = has_key = None
    if length > 1 or not bool(key_mask.all()):
        causal = torch.ones(length, total, dtype=torch.bool, device=key_mask.device).tril(
            diagonal=total - length
        )
        allowed = causal[None, None] & key_mask[:, None, None, :]
        has_key = allowed.any(-1, keepdim=True)
    cos = sin = None
    if rotary:
        cos, sin = rotary_tables(positions.reshape(-1), head_dim, base)
        cos = cos.view(*positions.shape, 1, head_dim).transpose(1, 2)
        sin = sin.view(*positions.shape, 1, head_dim).transpose(1, 2)
    return StepContext(allowed, has_key, cos, sin)


def attention_step(
    module: MultiHeadGraphAttention,
    x: Tensor,
    context: StepContext,
    cache: LayerCache | None,
) -> tuple[Tensor, LayerCache]:
    """Causal attention of ``L`` new tokens over the cache and themselves.

    Args:
        module: the attention module whose weights are used.
        x: ``[B, L, d]`` normalised states of the new tokens.
        context: this step's masks and rotary tables (:func:`step_context`).
        cache: this layer's cache (None before the first call); consumed.

    Returns:
        ``[B, L, d]`` attention output (before the caller's residual) and the grown cache.
    """
    b, length, _ = x.shape
    heads = module.num_heads
    query_key, value = module.qkv(x).split([2 * module.d_model, module.d_model], dim=-1)
    query_key = _heads(query_key, 2 * heads)  # queries and keys rotated in one pass
    if module.rotary:
        assert context.cos is not None and context.sin is not None
        query_key = query_key * context.cos + rotate_half(query_key) * context.sin
    q, k, v = query_key[:, :heads], query_key[:, heads:], _heads(value, heads)
    used = cache.length if cache else 0
    key_buffer = _write(cache.key_buffer if cache else None, used, k)
    value_buffer = _write(cache.value_buffer if cache else None, used, v)
    total = used + length
    keys, values = key_buffer[:, :, :total], value_buffer[:, :, :total]
    scores = (q / math.sqrt(module.head_dim)) @ keys.transpose(-1, -2)
    if context.allowed is None:
        probs = scores.softmax(-1)
    else:
        # a left-padding query row has no real key; give it a zero row instead of NaN
        probs = scores.masked_fill(~context.allowed, float("-inf")).softmax(-1)
        probs = probs.masked_fill(~context.has_key, 0.0)
    out = probs @ values
    hop_buffers: list[Tensor] = []
    state, extra = out, None
    for index, hop in enumerate(module.hops):
        z = hop(state)  # Z_k at the new positions
        buffer = _write(cache.hop_buffers[index] if cache else None, used, z)
        hop_buffers.append(buffer)
        state = probs @ buffer[:, :, :total]
        extra = state if extra is None else extra + state
    if extra is not None:
        out = out + extra
    merged = out.transpose(1, 2).reshape(b, length, module.d_model)
    return module.out(merged), LayerCache(key_buffer, value_buffer, hop_buffers, total)


def layer_step(
    layer: GraphSeqLayer,
    x: Tensor,
    context: StepContext,
    cache: LayerCache | None,
) -> tuple[Tensor, LayerCache]:
    """One :class:`GraphSeqLayer` (attention only, no local message passing) on new tokens."""
    if layer.attention is None or layer.local is not None:
        raise ValueError("cached decoding needs attention-only layers (no local message passing)")
    update, cache = attention_step(layer.attention, layer.norm_in(x), context, cache)
    x = x + update
    if layer.ffn is not None:
        x = x + layer.ffn(x)
    return x, cache


def decode_step(
    backbone: Backbone, tokens: Tensor, token_mask: Tensor, state: DecodingState
) -> tuple[Tensor, DecodingState]:
    """Run new tokens (a prompt, or one token per sequence) through a token backbone.

    Args:
        backbone: a token backbone (``vocab_size > 0``, causal use, no graph encodings).
        tokens: ``[B, L]`` token ids of the new positions (padding ids are ignored).
        token_mask: ``[B, L]`` True for real tokens (False for left padding).
        state: the state after the previous call (:func:`empty_state` at first).

    Returns:
        ``[B, L, d_model]`` final-normed states of the new positions, and the new state.
    """
    if backbone.config.vocab_size == 0:
        raise ValueError("decode_step needs a token backbone (vocab_size > 0)")
    positions = state.next_position[:, None] + torch.cumsum(token_mask.long(), dim=1) - 1
    positions = positions.clamp_min(0)
    h = backbone.embed(tokens)
    if backbone.positions is not None:
        h = h + backbone.positions(positions.reshape(-1)).view_as(h)
    key_mask = torch.cat([state.key_mask, token_mask], dim=1)
    head_dim = backbone.config.d_model // backbone.config.num_heads
    context = step_context(key_mask, positions, head_dim, backbone.config.position == "rotary")
    caches: list[LayerCache] = []
    for index, layer in enumerate(backbone.layers):
        previous = state.layers[index] if state.layers else None
        h, cache = layer_step(layer, h, context, previous)
        caches.append(cache)
    next_position = state.next_position + token_mask.long().sum(dim=1)
    return backbone.final_norm(h), DecodingState(caches, key_mask, next_position)
