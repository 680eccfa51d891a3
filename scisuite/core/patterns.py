"""Attention patterns: *who may attend to whom*, as data.

Two representations cover every domain:

* :class:`DensePattern` — every node attends to every node of its own graph
  (block-diagonal over a PyG batch), optionally causally (node order = token order).
  Run by the dense kernel (``scaled_dot_product_attention`` with a mask).
* :class:`EdgePattern` — an explicit edge list ``(sender j -> receiver i)`` meaning
  *i attends to j*. Run by the sparse kernel in O(E) memory. Builders below make
  mesh adjacency, K-hop neighbourhoods, dilated rings, random jumps, global nodes
  and learned global tokens, and :func:`union` combines them.

Either pattern converts to a boolean ``[N, N]`` mask (small graphs only) so the
two kernels can be tested against each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from scisuite.core.sparse_ops import CsrStructure


@dataclass(frozen=True)
class DensePattern:
    """Full attention within each graph of a batch.

    Attributes:
        batch: ``[N]`` graph id of every node, sorted ascending (PyG convention).
        causal: if True node ``i`` attends only to nodes ``j <= i`` of its graph.
        max_padding_ratio: if set, and padding every graph to the largest one would compute
            more than this many times the real pairs (e.g. drug-like molecules batched with
            one 200-atom peptide), the dense kernel runs the graphs in size buckets, each
            padded only to its own largest graph. Same attention either way.
    """

    batch: Tensor
    causal: bool = False
    max_padding_ratio: float | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.batch.numel())

    def to_mask(self) -> Tensor:
        """Boolean ``[N, N]`` mask, ``mask[i, j]`` = i may attend to j."""
        same = self.batch[:, None] == self.batch[None, :]
        if self.causal:
            idx = torch.arange(self.num_nodes, device=self.batch.device)
            same = same & (idx[None, :] <= idx[:, None])
        return same

    def to_edges(self) -> EdgePattern:
        """The same pattern as an explicit edge list, sorted by (receiver, sender).

        Built per graph in ``O(sum_g n_g^2)`` time and memory (never an ``[N, N]`` mask).
        """
        return within_graph_edges(self.batch, self.causal)

    def padded_pairs(self) -> int:
        """Score entries one padded layout computes: ``num_graphs * L_max^2``."""
        counts = torch.bincount(self.batch)
        return int(counts.numel()) * int(counts.max()) ** 2 if counts.numel() else 0

    def real_pairs(self) -> int:
        """Pairs the pattern allows (causal or not, the full ``sum_g n_g^2`` block count)."""
        return int((torch.bincount(self.batch) ** 2).sum())

    def needs_buckets(self) -> bool:
        """True when :attr:`max_padding_ratio` asks the dense kernel for size buckets."""
        if self.max_padding_ratio is None or self.num_nodes == 0:
            return False
        return self.padded_pairs() > self.max_padding_ratio * self.real_pairs()

    def size_buckets(self, growth: float = 2.0) -> list[Tensor]:
        """Non-empty graph ids grouped by size, ascending, each group sorted.

        A new group starts when a graph has more than ``growth`` times the nodes of the
        group's smallest graph, so no group pads a graph to more than ``growth`` times its
        size (``growth^2`` times its pairs).
        """
        counts = torch.bincount(self.batch)
        graphs = torch.nonzero(counts).squeeze(1)
        sizes, order = torch.sort(counts[graphs], stable=True)
        groups, start, smallest = [], 0, int(sizes[0]) if sizes.numel() else 0
        for i, size in enumerate(sizes.tolist()):
            if size > growth * smallest:
                groups.append(torch.sort(graphs[order[start:i]]).values)
                start, smallest = i, size
        groups.append(torch.sort(graphs[order[start:]]).values)
        return groups

    @cached_property
    def buckets(self) -> tuple[tuple[Tensor, DensePattern], ...] | None:
        """``(node index, sub-pattern)`` per size bucket if :meth:`needs_buckets`, else None.

        Cached on the pattern, so every layer of one forward reuses the same split.
        """
        if not self.needs_buckets():
            return None
        split = []
        for graphs in self.size_buckets():
            index = torch.isin(self.batch, graphs).nonzero().squeeze(1)
            sub_batch = torch.searchsorted(graphs, self.batch[index])
            split.append((index, DensePattern(sub_batch, self.causal)))
        return tuple(split)


@dataclass(frozen=True)
class EdgePattern:
    """Sparse attention pattern as an edge list.

    Attributes:
        edge_index: ``[2, E]`` long tensor; column ``(j, i)`` lets receiver ``i`` attend
            to sender ``j`` (PyG ``source_to_target`` flow). Sorted by receiver, no duplicates.
        num_nodes: number of nodes ``N`` (including any global-token nodes).
    """

    edge_index: Tensor
    num_nodes: int

    def __post_init__(self) -> None:
        if self.edge_index.dim() != 2 or self.edge_index.size(0) != 2:
            raise ValueError(f"edge_index must be [2, E], got {tuple(self.edge_index.shape)}")
        if self.edge_index.numel() and int(self.edge_index.max()) >= self.num_nodes:
            raise ValueError("edge_index refers to a node >= num_nodes")

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.size(1))

    @cached_property
    def csr(self) -> CsrStructure | None:
        """The pattern and its transpose in CSR, when the sparse kernel can use them: on CPU,
        with ``edge_index`` strictly sorted by (receiver, sender), as every builder here
        guarantees (then edge ``e`` is CSR entry ``e``). None otherwise (the kernel then
        gathers and scatters edges). Cached: every layer of one forward reuses it."""
        sender, receiver = self.edge_index
        if self.num_edges == 0 or sender.device.type != "cpu":
            return None
        key = receiver * self.num_nodes + sender
        if not bool((key[1:] > key[:-1]).all()):
            return None
        return CsrStructure.from_sorted_edges(sender, receiver, self.num_nodes)

    def to_mask(self) -> Tensor:
        mask = torch.zeros(
            self.num_nodes, self.num_nodes, dtype=torch.bool, device=self.edge_index.device
        )
        mask[self.edge_index[1], self.edge_index[0]] = True
        return mask


AttentionPattern = DensePattern | EdgePattern


def _finalise(edge_index: Tensor, num_nodes: int) -> EdgePattern:
    """Deduplicate and sort by receiver so the sparse kernel reads contiguous segments."""
    edge_index = coalesce(edge_index, num_nodes=num_nodes, sort_by_row=False)
    return EdgePattern(edge_index, num_nodes)


def _self_loops(num_nodes: int, device: torch.device) -> Tensor:
    loop = torch.arange(num_nodes, device=device)
    return torch.stack([loop, loop])


def adjacency_pattern(edge_index: Tensor, num_nodes: int, self_loops: bool = True) -> EdgePattern:
    """Attend along the (symmetrised) graph edges, plus each node to itself.

    Args:
        edge_index: ``[2, E]`` graph edges (e.g. mesh edges from cells).
        num_nodes: number of nodes.
        self_loops: add ``i -> i`` so every receiver has at least one key (default True).
    """
    edges = to_undirected(remove_self_loops(edge_index)[0], num_nodes=num_nodes)
    if self_loops:
        edges = torch.cat([edges, _self_loops(num_nodes, edges.device)], dim=1)
    return _finalise(edges, num_nodes)


def hop_rings(edge_index: Tensor, num_nodes: int, max_hops: int) -> list[Tensor]:
    """Pairs at exact shortest-path distance ``1..max_hops``, by breadth-first expansion.

    Sparse matrix products in scipy (CPU): memory is O(sum of ring sizes), never O(N^2).

    Returns:
        ``rings[h-1]``: ``[2, E_h]`` pairs ``(j, i)`` with ``dist(i, j) == h``.
    """
    if max_hops < 1:
        raise ValueError(f"max_hops must be >= 1, got {max_hops}")
    edges = to_undirected(remove_self_loops(edge_index)[0], num_nodes=num_nodes).cpu().numpy()
    shape = (num_nodes, num_nodes)
    adjacency = sp.csr_matrix((np.ones(edges.shape[1], dtype=np.int8), (edges[1], edges[0])), shape)
    reached = sp.identity(num_nodes, dtype=np.int8, format="csr")
    frontier = reached
    rings: list[Tensor] = []
    for _ in range(max_hops):
        expanded = (frontier @ adjacency).astype(bool).astype(np.int8)
        new = (expanded - expanded.multiply(reached)).tocoo()
        new.eliminate_zeros()
        rows, cols = new.row.astype(np.int64), new.col.astype(np.int64)
        rings.append(
            torch.stack([torch.from_numpy(cols), torch.from_numpy(rows)]).to(edge_index.device)
        )
        frontier = sp.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape)
        reached = reached + frontier
    return rings


def khop_pattern(edge_index: Tensor, num_nodes: int, hops: int) -> EdgePattern:
    """Attend to every node within ``hops`` graph hops (and to itself)."""
    rings = hop_rings(edge_index, num_nodes, hops)
    edges = torch.cat([_self_loops(num_nodes, edge_index.device), *rings], dim=1)
    return _finalise(edges, num_nodes)


def dilated_ring_pattern(
    edge_index: Tensor, num_nodes: int, dilation: int, rings: int
) -> EdgePattern:
    """Dilated sliding window on a graph: attend to nodes at exact hop distance ``d*k``.

    After Garnier et al. (2025), the graph analogue of dilated convolution: for
    ``k = 1..rings`` each node attends to the nodes exactly ``dilation * k`` hops away,
    widening the receptive field without attending to everything in between.

    Args:
        edge_index: ``[2, E]`` graph edges.
        num_nodes: number of nodes.
        dilation: hop stride ``d >= 1``.
        rings: number of rings ``K >= 1``.
    """
    if dilation < 1 or rings < 1:
        raise ValueError(f"dilation and rings must be >= 1, got {dilation}, {rings}")
    all_rings = hop_rings(edge_index, num_nodes, dilation * rings)
    chosen = [all_rings[dilation * k - 1] for k in range(1, rings + 1)]
    return _finalise(torch.cat(chosen, dim=1), num_nodes)


def random_jump_pattern(
    num_nodes: int, jumps_per_node: int, generator: torch.Generator, batch: Tensor | None = None
) -> EdgePattern:
    """Each node attends to ``jumps_per_node`` uniformly random nodes of its own graph.

    Args:
        num_nodes: number of nodes.
        jumps_per_node: random senders per receiver.
        generator: explicit RNG (no hidden global state).
        batch: optional ``[N]`` graph id; jumps then stay inside each graph.
    """
    receivers = torch.arange(num_nodes).repeat_interleave(jumps_per_node)
    if batch is None:
        senders = torch.randint(0, num_nodes, (receivers.numel(),), generator=generator)
    else:
        batch = batch.cpu()
        counts = torch.bincount(batch)
        starts = torch.cumsum(counts, 0) - counts
        graph = batch[receivers]
        offsets = torch.rand(receivers.numel(), generator=generator)
        senders = starts[graph] + (offsets * counts[graph]).long().clamp_max(counts[graph] - 1)
    return _finalise(torch.stack([senders, receivers]), num_nodes)


def global_node_pattern(
    global_nodes: Tensor, num_nodes: int, batch: Tensor | None = None
) -> EdgePattern:
    """Selected nodes attend to, and are attended by, every node of their graph.

    Args:
        global_nodes: ``[G]`` indices of the selected nodes (e.g. boundary nodes).
        num_nodes: number of nodes.
        batch: optional ``[N]`` graph id; without it the whole input is one graph.
    """
    device = global_nodes.device
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=device)
    others = torch.arange(num_nodes, device=device)
    pairs_g = global_nodes.repeat_interleave(num_nodes)
    pairs_o = others.repeat(global_nodes.numel())
    keep = batch[pairs_g] == batch[pairs_o]
    pairs_g, pairs_o = pairs_g[keep], pairs_o[keep]
    edges = torch.cat([torch.stack([pairs_o, pairs_g]), torch.stack([pairs_g, pairs_o])], dim=1)
    return _finalise(edges, num_nodes)


def global_token_pattern(
    base: EdgePattern, num_tokens: int, batch: Tensor | None = None
) -> tuple[EdgePattern, Tensor]:
    """Append ``num_tokens`` learned global tokens per graph, connected both ways to it.

    The token nodes are numbered after the ``base.num_nodes`` real nodes, graph by graph.

    Returns:
        the extended pattern, and ``[num_graphs * num_tokens]`` graph id of each token node.
    """
    device = base.edge_index.device
    n = base.num_nodes
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=device)
    num_graphs = int(batch.max()) + 1 if n else 0
    token_graph = torch.arange(num_graphs, device=device).repeat_interleave(num_tokens)
    token_ids = n + torch.arange(token_graph.numel(), device=device)
    # every real node <-> every token of its graph; tokens <-> tokens of the same graph
    node_ids = torch.arange(n, device=device)
    tok = token_ids.view(num_graphs, num_tokens)[batch]  # [N, T]
    to_node = torch.stack([tok.reshape(-1), node_ids.repeat_interleave(num_tokens)])
    tok_tok = torch.cartesian_prod(
        torch.arange(num_tokens, device=device), torch.arange(num_tokens, device=device)
    ).t()
    graph_offsets = n + torch.arange(num_graphs, device=device) * num_tokens
    tok_tok = (tok_tok[:, None, :] + graph_offsets[None, :, None]).reshape(2, -1)
    edges = torch.cat([base.edge_index, to_node, to_node.flip(0), tok_tok], dim=1)
    return _finalise(edges, n + token_ids.numel()), token_graph


def union(*patterns: EdgePattern) -> EdgePattern:
    """All pairs allowed by any of the patterns (they must share ``num_nodes``)."""
    if not patterns:
        raise ValueError("union() needs at least one pattern")
    num_nodes = patterns[0].num_nodes
    if any(p.num_nodes != num_nodes for p in patterns):
        raise ValueError("patterns in a union must have the same num_nodes")
    return _finalise(torch.cat([p.edge_index for p in patterns], dim=1), num_nodes)


def within_graph_edges(batch: Tensor, causal: bool = False) -> EdgePattern:
    """Every pair ``(j -> i)`` of nodes in the same graph (``j <= i`` if causal), self
    loops included, as an edge list sorted by (receiver, sender).

    Args:
        batch: ``[N]`` sorted graph ids (PyG convention).
        causal: keep only senders at or before the receiver.

    Returns:
        an :class:`EdgePattern` with ``sum_g n_g^2`` edges (``sum_g n_g (n_g + 1) / 2`` if
        causal).
    """
    n = int(batch.numel())
    device = batch.device
    if n == 0:
        return EdgePattern(torch.zeros(2, 0, dtype=torch.long, device=device), 0)
    counts = torch.bincount(batch)
    starts = torch.cumsum(counts, 0) - counts  # first node of each graph
    node = torch.arange(n, device=device)
    first = starts[batch]  # [N] first node of each node's graph
    # Each receiver i sees senders first..last of its graph, or first..i if causal.
    per_receiver = (node - first + 1) if causal else counts[batch]
    receiver = torch.repeat_interleave(node, per_receiver)
    offsets = torch.cumsum(per_receiver, 0) - per_receiver
    sender = first[receiver] + torch.arange(receiver.numel(), device=device) - offsets[receiver]
    return EdgePattern(torch.stack([sender, receiver]), n)
