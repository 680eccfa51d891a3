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
import torch.nn.functional as F
from torch import Tensor

from scisuite.core.attention import rotary_tables
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
class LayerWeights:
    """One attention-only layer's parameters laid out for a decoding step.

    Built once per generation (:func:`decoding_plan`) so that a step calls ``torch.addmm`` /
    ``F.layer_norm`` on plain tensors: at batch 1 a step is ~100 small operations, and the
    ``nn.Module`` call machinery around each cost as much as the operation itself.

    Attributes:
        norm_in: ``(weight, bias, eps)`` of the pre-attention LayerNorm.
        qkv_weight, qkv_bias: ``[d, P]`` / ``[P]``: query and key columns (queries
            pre-scaled by ``1/sqrt(Dh)``), value columns, and with rotary positions the query
            and key columns again with ``rotate_half`` folded in (a signed permutation, so
            exact): ``P = 3d`` or ``5d``.
        hop_weights: ``K`` tensors ``[Dh, Dh]`` of the attention-graph propagation.
        out_weight, out_bias: output projection.
        ffn: ``(norm weight, norm bias, eps, W1, b1, W2, b2)`` or None without a
            feed-forward block.

    Every weight is stored transposed and contiguous (``[in, out]``): ``torch.addmm`` on that
    layout is ~1.7x faster for one row than ``F.linear`` on the ``[out, in]`` parameter.
    """

    norm_in: tuple[Tensor, Tensor, float]
    qkv_weight: Tensor
    qkv_bias: Tensor
    hop_weights: tuple[Tensor, ...]
    out_weight: Tensor
    out_bias: Tensor
    ffn: tuple[Tensor, Tensor, float, Tensor, Tensor, Tensor, Tensor] | None


def _rotated_rows(rows: Tensor, num_heads: int) -> Tensor:
    """``rows [2d, ...]`` (queries and keys, head-major) with each head's ``rotate_half``
    applied along the row axis: ``x @ W_rot.T == rotate_half(x @ W.T)`` exactly."""
    per_head = rows.reshape(2 * num_heads, -1, *rows.shape[1:])
    first, second = per_head.chunk(2, dim=1)
    return torch.cat([-second, first], dim=1).reshape(rows.shape)


def layer_weights(layer: GraphSeqLayer) -> LayerWeights:
    """The decoding layout of one attention-only :class:`GraphSeqLayer`."""
    module = layer.attention
    if module is None or layer.local is not None:
        raise ValueError("cached decoding needs attention-only layers (no local message passing)")
    d = module.d_model
    scale = torch.ones(3 * d, dtype=module.qkv.weight.dtype, device=module.qkv.weight.device)
    scale[:d] = 1.0 / math.sqrt(module.head_dim)
    weight = module.qkv.weight * scale[:, None]
    bias = module.qkv.bias * scale
    if module.rotary:
        weight = torch.cat([weight, _rotated_rows(weight[: 2 * d], module.num_heads)])
        bias = torch.cat([bias, _rotated_rows(bias[: 2 * d], module.num_heads)])
    ffn = None
    if layer.ffn is not None:
        norm, block = layer.ffn[0], layer.ffn[1]
        first, second = block[0], block[2]
        ffn = (
            norm.weight,
            norm.bias,
            norm.eps,
            _transposed(first.weight),
            first.bias,
            _transposed(second.weight),
            second.bias,
        )
    return LayerWeights(
        norm_in=(layer.norm_in.weight, layer.norm_in.bias, layer.norm_in.eps),
        qkv_weight=_transposed(weight),
        qkv_bias=bias,
        hop_weights=tuple(_transposed(hop.weight) for hop in module.hops),
        out_weight=_transposed(module.out.weight),
        out_bias=module.out.bias,
        ffn=ffn,
    )


def _transposed(weight: Tensor) -> Tensor:
    """``[out, in]`` parameter -> contiguous ``[in, out]`` copy (detached: decoding only)."""
    return weight.detach().t().contiguous()


@dataclass
class DecodingPlan:
    """A backbone's layers in decoding layout, plus rotary tables grown on demand.

    Attributes:
        layers: one :class:`LayerWeights` per layer.
        num_heads, head_dim: attention geometry.
        rotary: whether queries and keys are rotated.
        cos_table, sin_table: ``[positions, Dh]`` rotary tables (empty until needed).
    """

    layers: tuple[LayerWeights, ...]
    num_heads: int
    head_dim: int
    rotary: bool
    cos_table: Tensor
    sin_table: Tensor

    def rotary_at(self, positions: Tensor, bound: int) -> tuple[Tensor, Tensor]:
        """``cos, sin [B, 1, L, Dh]`` at ``positions [B, L]``, all ``< bound``; the tables
        double when ``bound`` is past their end (computed with :func:`rotary_tables`, so
        identical). ``bound`` is a host integer, so no device sync is needed."""
        needed = bound
        if needed > self.cos_table.size(0):
            size = max(_INITIAL_CAPACITY, needed, 2 * self.cos_table.size(0))
            table_positions = torch.arange(size, device=positions.device)
            cos, sin = rotary_tables(table_positions, self.head_dim, dtype=self.cos_table.dtype)
            self.cos_table, self.sin_table = cos[:, 0], sin[:, 0]
        b, length = positions.shape
        cos = self.cos_table[positions].view(b, 1, length, self.head_dim)
        sin = self.sin_table[positions].view(b, 1, length, self.head_dim)
        return cos, sin


def decoding_plan(backbone: Backbone) -> DecodingPlan:
    """The decoding layout of a token backbone's layers (read from its current weights)."""
    config = backbone.config
    head_dim = config.d_model // config.num_heads
    dtype = backbone.final_norm.weight.dtype
    device = backbone.final_norm.weight.device
    empty = torch.zeros(0, head_dim, dtype=dtype, device=device)
    return DecodingPlan(
        layers=tuple(layer_weights(layer) for layer in backbone.layers),
        num_heads=config.num_heads,
        head_dim=head_dim,
        rotary=config.position == "rotary",
        cos_table=empty,
        sin_table=empty,
    )


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
        plan: the backbone's decoding layout, built by the first :func:`decode_step`.
    """

    layers: list[LayerCache]
    key_mask: Tensor
    next_position: Tensor
    plan: DecodingPlan | None = None

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


def step_context(key_mask: Tensor, positions: Tensor, plan: DecodingPlan) -> StepContext:
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
    if plan.rotary:
        cos, sin = plan.rotary_at(positions, bound=total)  # a position counts real tokens
    return StepContext(allowed, has_key, cos, sin)


def attention_step(
    weights: LayerWeights,
    plan: DecodingPlan,
    x: Tensor,
    context: StepContext,
    cache: LayerCache | None,
) -> tuple[Tensor, LayerCache]:
    """Causal attention of ``L`` new tokens over the cache and themselves.

    Args:
        weights: the layer's parameters (:func:`layer_weights`).
        plan: attention geometry.
        x: ``[B, L, d]`` normalised states of the new tokens.
        context: this step's masks and rotary tables (:func:`step_context`).
        cache: this layer's cache (None before the first call); consumed.

    Returns:
        ``[B * L, d]`` attention output (before the caller's residual) and the grown cache.
    """
    b, length, d = x.shape
    heads, head_dim = plan.num_heads, plan.head_dim
    projected = torch.addmm(weights.qkv_bias, x.view(b * length, d), weights.qkv_weight)
    projected = projected.view(b, length, -1)
    if context.cos is not None:
        assert context.sin is not None
        query_key, value, rotated = projected.split([2 * d, d, 2 * d], dim=-1)
        # queries and keys rotated in one pass; rotate_half is folded into ``rotated``
        query_key = torch.addcmul(
            _heads(query_key, 2 * heads) * context.cos, _heads(rotated, 2 * heads), context.sin
        )
    else:
        query_key, value = projected.split([2 * d, d], dim=-1)
        query_key = _heads(query_key, 2 * heads)
    q, k, v = query_key[:, :heads], query_key[:, heads:], _heads(value, heads)
    used = cache.length if cache else 0
    key_buffer = _write(cache.key_buffer if cache else None, used, k)
    value_buffer = _write(cache.value_buffer if cache else None, used, v)
    total = used + length
    # torch.bmm on [B*H, ., Dh] views: the 4-D ``@`` adds expand/reshape layers per call
    rows = b * heads
    keys = key_buffer.view(rows, -1, head_dim)[:, :total]
    scores = torch.bmm(q.reshape(rows, length, head_dim), keys.transpose(1, 2))
    if context.allowed is None:
        probs = scores.softmax(-1)
    else:
        # a left-padding query row has no real key; give it a zero row instead of NaN
        allowed = context.allowed.expand(b, heads, length, total).reshape(rows, length, total)
        probs = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        has_key = context.has_key.expand(b, heads, length, 1).reshape(rows, length, 1)
        probs = probs.masked_fill(~has_key, 0.0)
    out = torch.bmm(probs, value_buffer.view(rows, -1, head_dim)[:, :total])
    hop_buffers: list[Tensor] = []
    state = out
    for index, hop_weight in enumerate(weights.hop_weights):
        z = torch.mm(state.view(-1, head_dim), hop_weight).view(b, heads, length, head_dim)
        buffer = _write(cache.hop_buffers[index] if cache else None, used, z)
        hop_buffers.append(buffer)
        state = torch.bmm(probs, buffer.view(rows, -1, head_dim)[:, :total])
        out = out + state
    out = out.view(b, heads, length, head_dim)
    merged = out.transpose(1, 2).reshape(b * length, d)
    update = torch.addmm(weights.out_bias, merged, weights.out_weight)
    return update, LayerCache(key_buffer, value_buffer, hop_buffers, total)


def layer_step(
    weights: LayerWeights,
    plan: DecodingPlan,
    x: Tensor,
    context: StepContext,
    cache: LayerCache | None,
) -> tuple[Tensor, LayerCache]:
    """One attention-only :class:`GraphSeqLayer` on new tokens (eval: no dropout).

    ``x`` is ``[B, L, d]``; returns the same shape and the layer's grown cache.
    """
    b, length, d = x.shape
    norm_weight, norm_bias, eps = weights.norm_in
    normed = F.layer_norm(x, (d,), norm_weight, norm_bias, eps)
    update, cache = attention_step(weights, plan, normed, context, cache)
    flat = x.view(b * length, d) + update
    if weights.ffn is not None:
        ffn_norm_weight, ffn_norm_bias, ffn_eps, w1, b1, w2, b2 = weights.ffn
        hidden = F.layer_norm(flat, (d,), ffn_norm_weight, ffn_norm_bias, ffn_eps)
        flat = flat + torch.addmm(b2, F.gelu(torch.addmm(b1, hidden, w1)), w2)
    return flat.view(b, length, d), cache


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
    if tokens.size(1) == 1:  # one token per row: padding rows' positions are never read
        positions = state.next_position[:, None]
    else:
        positions = state.next_position[:, None] + torch.cumsum(token_mask.long(), dim=1) - 1
        positions = positions.clamp_min(0)
    h = backbone.embed(tokens)
    if backbone.positions is not None:
        h = h + backbone.positions(positions.reshape(-1)).view_as(h)
    key_mask = torch.cat([state.key_mask, token_mask], dim=1)
    plan = state.plan or decoding_plan(backbone)
    context = step_context(key_mask, positions, plan)
    caches: list[LayerCache] = []
    for index, weights in enumerate(plan.layers):
        previous = state.layers[index] if state.layers else None
        h, cache = layer_step(weights, plan, h, context, previous)
        caches.append(cache)
    next_position = state.next_position + token_mask.long().sum(dim=1)
    return backbone.final_norm(h), DecodingState(caches, key_mask, next_position, plan)
