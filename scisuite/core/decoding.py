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

from scisuite.core.attention import MultiHeadGraphAttention, apply_rotary
from scisuite.core.backbone import Backbone
from scisuite.core.layers import GraphSeqLayer


@dataclass
class LayerCache:
    """Per-layer decoding state for ``B`` sequences of ``T`` cached positions.

    Attributes:
        keys, values: ``[B, H, T, Dh]``.
        hops: ``K`` tensors ``[B, H, T, Dh]``: the propagation inputs ``Z_k`` per position.
    """

    keys: Tensor
    values: Tensor
    hops: list[Tensor] = field(default_factory=list)

    @property
    def length(self) -> int:
        return int(self.keys.size(2))


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


def _append(old: Tensor | None, new: Tensor) -> Tensor:
    return new if old is None else torch.cat([old, new], dim=2)


def attention_step(
    module: MultiHeadGraphAttention,
    x: Tensor,
    key_mask: Tensor,
    positions: Tensor,
    cache: LayerCache | None,
) -> tuple[Tensor, LayerCache]:
    """Causal attention of ``L`` new tokens over the cache and themselves.

    Args:
        module: the attention module whose weights are used.
        x: ``[B, L, d]`` normalised states of the new tokens.
        key_mask: ``[B, T + L]`` real-token mask over cached and new positions.
        positions: ``[B, L]`` token positions of the new tokens (for rotary).
        cache: this layer's cache (None before the first call).

    Returns:
        ``[B, L, d]`` attention output (before the caller's residual) and the grown cache.
    """
    b, length, _ = x.shape
    q, k, v = (_heads(t, module.num_heads) for t in module.qkv(x).chunk(3, dim=-1))
    if module.rotary:
        flat = positions.reshape(-1)

        def rotate(t: Tensor) -> Tensor:
            rows = t.transpose(1, 2).reshape(b * length, module.num_heads, module.head_dim)
            rotated = apply_rotary(rows, flat).view(b, length, module.num_heads, module.head_dim)
            return rotated.transpose(1, 2)

        q, k = rotate(q), rotate(k)
    keys = _append(cache.keys if cache else None, k)
    values = _append(cache.values if cache else None, v)
    total = keys.size(2)
    past = total - length
    causal = torch.ones(length, total, dtype=torch.bool, device=x.device).tril(diagonal=past)
    allowed = causal[None, None] & key_mask[:, None, None, :]
    scores = (q / math.sqrt(module.head_dim)) @ keys.transpose(-1, -2)
    # a left-padding query row has no real key; give it a uniform row instead of NaN
    probs = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.where(allowed.any(-1, keepdim=True), probs, torch.zeros_like(probs)).softmax(-1)
    out = probs @ values
    hops: list[Tensor] = []
    state, extra = out, torch.zeros_like(out)
    for index, hop in enumerate(module.hops):
        z = hop(state)  # Z_k at the new positions
        z_all = _append(cache.hops[index] if cache else None, z)
        hops.append(z_all)
        state = probs @ z_all
        extra = extra + state
    out = out + extra
    merged = out.transpose(1, 2).reshape(b, length, module.d_model)
    return module.out(merged), LayerCache(keys, values, hops)


def layer_step(
    layer: GraphSeqLayer,
    x: Tensor,
    key_mask: Tensor,
    positions: Tensor,
    cache: LayerCache | None,
) -> tuple[Tensor, LayerCache]:
    """One :class:`GraphSeqLayer` (attention only, no local message passing) on new tokens."""
    if layer.attention is None or layer.local is not None:
        raise ValueError("cached decoding needs attention-only layers (no local message passing)")
    update, cache = attention_step(layer.attention, layer.norm_in(x), key_mask, positions, cache)
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
    caches: list[LayerCache] = []
    for index, layer in enumerate(backbone.layers):
        previous = state.layers[index] if state.layers else None
        h, cache = layer_step(layer, h, key_mask, positions, previous)
        caches.append(cache)
    next_position = state.next_position + token_mask.long().sum(dim=1)
    return backbone.final_norm(h), DecodingState(caches, key_mask, next_position)
