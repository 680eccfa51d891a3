"""Multi-head attention under an :mod:`~scisuite.core.patterns` pattern.

Two kernels, one interface (:func:`attend`), the same math:

* **dense** — nodes are scattered into a padded ``[B, H, L, Dh]`` layout with
  :func:`torch_geometric.utils.to_dense_batch` and run through
  :func:`torch.nn.functional.scaled_dot_product_attention` with a boolean mask
  (flash / memory-efficient paths on GPU). O(sum L^2) memory.
* **sparse** — one score per pattern edge, softmax grouped by receiver with
  :func:`torch_geometric.utils.softmax`, weighted sum per receiver. O(E) memory. On CPU,
  for receiver-sorted patterns (every builder's output), scores are a sampled dense-dense
  product and the sum a CSR x dense product (:mod:`scisuite.core.sparse_ops`, whose
  backward passes stay in CSR), so no ``[E, H, Dh]`` temporary exists; otherwise edges are
  gathered and scattered in chunks.
  A 300k-node / 3M-edge forward (d=128, 4 heads) needs ~1.4 GiB (docs/benchmarks.md).

Attention-graph propagation (Buehler 2023, "causal multi-headed graph attention"):
each head's attention matrix ``A_h`` is also a weighted adjacency. Starting from
the attention output ``Y_0 = A_h V_h`` we run ``K`` hops ``Y_k = A_h (Y_{k-1} W_k)``
and add ``sum_k Y_k`` to the output. ``A_h`` is lower-triangular under a causal
pattern, so every power of it is too and causality is preserved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax, to_dense_batch

from scisuite.core.patterns import AttentionPattern, DensePattern, EdgePattern
from scisuite.core.sparse_ops import CsrStructure, sampled_scores, weighted_sum


@dataclass
class AttentionWeights:
    """Attention probabilities as returned by a kernel (for propagation or inspection).

    Exactly one of ``dense`` (``[B, H, L, L]`` with ``node_mask`` ``[B, L]``) or
    ``edges`` (``[E, H]``, aligned with ``pattern.edge_index``) is set.
    """

    pattern: AttentionPattern
    dense: Tensor | None = None
    node_mask: Tensor | None = None
    edges: Tensor | None = None


def _dense_layout(x: Tensor, pattern: DensePattern) -> tuple[Tensor, Tensor]:
    """``[N, H, Dh]`` -> ``[B, H, L, Dh]`` plus the ``[B, L]`` real-node mask."""
    n, h, dh = x.shape
    padded, mask = to_dense_batch(x.reshape(n, h * dh), pattern.batch)
    b, length = mask.shape
    return padded.view(b, length, h, dh).transpose(1, 2), mask


def _dense_mask(node_mask: Tensor, causal: bool) -> Tensor:
    """``[B, 1, L, L]`` boolean: keys must be real nodes, and ``j <= i`` if causal."""
    mask = node_mask[:, None, None, :]
    if causal:
        length = node_mask.size(1)
        tril = torch.ones(length, length, dtype=torch.bool, device=node_mask.device).tril()
        mask = mask & tril
    return mask


def dense_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pattern: DensePattern,
    dropout_p: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, AttentionWeights | None]:
    """Dense masked attention.

    Args:
        q, k, v: ``[N, H, Dh]`` per-node queries, keys and values.
        pattern: graph membership (block-diagonal) and causality.
        dropout_p: dropout on attention probabilities (pass 0 in eval).
        need_weights: also return the probabilities (uses the explicit path, not SDPA).

    Returns:
        ``[N, H, Dh]`` outputs and, if asked, the weights.
    """
    if not need_weights and pattern.buckets is not None:
        return _bucketed_dense_attention(q, k, v, pattern.buckets, dropout_p), None
    qd, node_mask = _dense_layout(q, pattern)
    kd, _ = _dense_layout(k, pattern)
    vd, _ = _dense_layout(v, pattern)
    mask = _dense_mask(node_mask, pattern.causal)
    if need_weights:
        # Scaling q ([B, H, L, Dh]) costs L*Dh, scaling the scores L*L.
        scores = (qd / math.sqrt(q.size(-1))) @ kd.transpose(-1, -2)
        probs = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        probs = F.dropout(probs, dropout_p, training=dropout_p > 0)
        out = probs @ vd
        weights = AttentionWeights(pattern, dense=probs, node_mask=node_mask)
    else:
        out = F.scaled_dot_product_attention(qd, kd, vd, attn_mask=mask, dropout_p=dropout_p)
        weights = None
    return out.transpose(1, 2)[node_mask], weights


def _bucketed_dense_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    buckets: tuple[tuple[Tensor, DensePattern], ...],
    dropout_p: float,
) -> Tensor:
    """Dense attention run once per size bucket of graphs (:attr:`DensePattern.buckets`).

    For ragged batches this computes a few times the real pairs instead of
    ``num_graphs * L_max^2``; on CPU it is also several times faster than the same pattern
    as an edge list, whose sparse-CSR backward converts layouts on every call.
    """
    outputs = [
        dense_attention(q[index], k[index], v[index], bucket, dropout_p)[0]
        for index, bucket in buckets
    ]
    nodes = torch.cat([index for index, _ in buckets])
    return torch.cat(outputs)[torch.argsort(nodes)]


def _csr_route(pattern: EdgePattern, dtype: torch.dtype) -> CsrStructure | None:
    """The pattern's CSR structure when the CSR kernels apply (CPU, float32/float64,
    receiver-sorted pattern), else None: the chunked gather/scatter route is used."""
    if dtype not in (torch.float32, torch.float64):
        return None
    return pattern.csr


def edge_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pattern: EdgePattern,
    dropout_p: float = 0.0,
    need_weights: bool = False,
    chunk_edges: int = 1 << 20,
) -> tuple[Tensor, AttentionWeights | None]:
    """Sparse edge-list attention, O(E) memory.

    On CPU with receiver-sorted patterns the scores are a sampled dense-dense product per head
    (``torch.sparse.sampled_addmm``: ``q_i . k_j`` only at pattern entries), which never
    materialises ``[E, H, Dh]``; otherwise edges are gathered in chunks.

    Args:
        q, k, v: ``[N, H, Dh]``.
        pattern: ``edge_index[0]`` = sender (key/value), ``edge_index[1]`` = receiver (query).
        dropout_p: dropout on attention probabilities.
        need_weights: also return the ``[E, H]`` probabilities.
        chunk_edges: edges gathered at once on the gather route; bounds its
            ``[chunk, H, Dh]`` temporaries.

    Returns:
        ``[N, H, Dh]`` outputs (receivers with no edge get zeros) and, if asked, the weights.
    """
    sender, receiver = pattern.edge_index
    scale = 1.0 / math.sqrt(q.size(-1))
    structure = _csr_route(pattern, q.dtype)
    if structure is not None:
        scores = sampled_scores(q, k, structure, scale)
    else:
        chunks = [
            (q[receiver[s : s + chunk_edges]] * k[sender[s : s + chunk_edges]]).sum(-1) * scale
            for s in range(0, pattern.num_edges, chunk_edges)
        ]
        scores = torch.cat(chunks) if chunks else q.new_zeros(0, q.size(1))
    probs = softmax(scores, index=receiver, num_nodes=pattern.num_nodes)
    probs = F.dropout(probs, dropout_p, training=dropout_p > 0)
    out = propagate_edges(probs, v, pattern, chunk_edges)
    weights = AttentionWeights(pattern, edges=probs) if need_weights else None
    return out, weights


def propagate_edges(
    probs: Tensor, values: Tensor, pattern: EdgePattern, chunk_edges: int
) -> Tensor:
    """``out[i] = sum_j probs[(j, i)] * values[j]`` for ``probs [E, H]``, ``values [N, H, Dh]``.

    On CPU with receiver-sorted patterns this is one sparse CSR x dense product per head;
    otherwise messages are gathered and scattered ``chunk_edges`` at a time.
    """
    sender, receiver = pattern.edge_index
    structure = _csr_route(pattern, values.dtype)
    if structure is not None:
        return weighted_sum(probs, values, structure)
    out = values.new_zeros(pattern.num_nodes, *values.shape[1:])
    for s in range(0, pattern.num_edges, chunk_edges):
        sl = slice(s, s + chunk_edges)
        message = probs[sl, :, None] * values[sender[sl]]
        out = out + scatter(message, receiver[sl], dim=0, dim_size=pattern.num_nodes, reduce="sum")
    return out


def propagate(weights: AttentionWeights, values: Tensor, chunk_edges: int = 1 << 20) -> Tensor:
    """Multiply ``values [N, H, Dh]`` by each head's attention matrix: ``A_h @ values_h``."""
    if weights.edges is not None:
        assert isinstance(weights.pattern, EdgePattern)
        return propagate_edges(weights.edges, values, weights.pattern, chunk_edges)
    assert isinstance(weights.pattern, DensePattern) and weights.dense is not None
    vd, node_mask = _dense_layout(values, weights.pattern)
    return (weights.dense @ vd).transpose(1, 2)[node_mask]


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pattern: AttentionPattern,
    dropout_p: float = 0.0,
    need_weights: bool = False,
    chunk_edges: int = 1 << 20,
) -> tuple[Tensor, AttentionWeights | None]:
    """Dispatch to the dense or the sparse kernel according to the pattern's type."""
    if isinstance(pattern, DensePattern):
        return dense_attention(q, k, v, pattern, dropout_p, need_weights)
    if isinstance(pattern, EdgePattern):
        return edge_attention(q, k, v, pattern, dropout_p, need_weights, chunk_edges)
    raise TypeError(f"unknown attention pattern {type(pattern).__name__}")


def rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def rotary_tables(
    positions: Tensor, head_dim: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Rotary ``cos`` and ``sin`` ``[N, 1, Dh]`` at ``positions [N]`` (computed once and
    shared by queries, keys and every layer)."""
    exponents = torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32)
    inv_freq = 1.0 / (base ** (exponents / head_dim))
    angles = positions.to(torch.float32)[:, None] * inv_freq[None, :]  # [N, Dh/2]
    angles = torch.cat([angles, angles], dim=-1)[:, None, :]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotary position embedding (Su et al. 2021) on ``x [N, H, Dh]`` at ``positions [N]``."""
    cos, sin = rotary_tables(positions, x.size(-1), base, x.dtype)
    return x * cos + rotate_half(x) * sin


class MultiHeadGraphAttention(nn.Module):
    """Multi-head attention under a pattern, with optional attention-graph propagation.

    Args:
        d_model: input/output width.
        num_heads: number of heads (``d_model % num_heads == 0``).
        dropout: dropout on attention probabilities (default 0).
        propagation_hops: hops ``K`` of attention-graph propagation (default 0 = off).
        rotary: apply rotary position embeddings to queries and keys (default False).
        chunk_edges: edges per chunk in the sparse kernel (default 2^20).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dropout: float = 0.0,
        propagation_hops: int = 0,
        rotary: bool = False,
        chunk_edges: int = 1 << 20,
    ) -> None:
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        if propagation_hops < 0:
            raise ValueError(f"propagation_hops must be >= 0, got {propagation_hops}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.rotary = rotary
        self.chunk_edges = chunk_edges
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.hops = nn.ModuleList(
            nn.Linear(self.head_dim, self.head_dim, bias=False) for _ in range(propagation_hops)
        )
        self.out = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        for hop in self.hops:
            nn.init.xavier_uniform_(hop.weight, gain=0.5)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, x: Tensor, pattern: AttentionPattern, positions: Tensor | None = None
    ) -> Tensor:
        """Args:
            x: ``[N, d_model]`` node states.
            pattern: who attends to whom.
            positions: ``[N]`` integer token positions (needed when ``rotary``).

        Returns:
            ``[N, d_model]``.
        """
        if x.dim() != 2 or x.size(-1) != self.d_model:
            raise ValueError(f"expected x of shape [N, {self.d_model}], got {tuple(x.shape)}")
        n = x.size(0)
        q, k, v = self.qkv(x).view(n, 3, self.num_heads, self.head_dim).unbind(dim=1)
        if self.rotary:
            if positions is None:
                raise ValueError("rotary attention needs token positions")
            q, k = apply_rotary(q, positions), apply_rotary(k, positions)
        p = self.dropout if self.training else 0.0
        out, weights = attend(
            q, k, v, pattern, p, need_weights=len(self.hops) > 0, chunk_edges=self.chunk_edges
        )
        if weights is not None:
            hop_state, extra = out, torch.zeros_like(out)
            for hop in self.hops:
                hop_state = propagate(weights, hop(hop_state), self.chunk_edges)
                extra = extra + hop_state
            out = out + extra
        return self.out(out.reshape(n, self.d_model))

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, num_heads={self.num_heads}, "
            f"propagation_hops={len(self.hops)}, rotary={self.rotary}"
        )
