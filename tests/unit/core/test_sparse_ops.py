"""CSR kernels of edge-list attention: values and gradients equal a gather/scatter reference."""

from __future__ import annotations

import torch

from scisuite.core.patterns import EdgePattern, adjacency_pattern
from scisuite.core.sparse_ops import sampled_scores, weighted_sum


def _pattern(num_nodes: int, seed: int) -> EdgePattern:
    generator = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, num_nodes, (2, 5 * num_nodes), generator=generator)
    return adjacency_pattern(edges, num_nodes)


def _inputs(num_nodes: int, seed: int, *shape: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_nodes, *shape, generator=generator, dtype=torch.float64)


def test_pattern_csr_is_cached_and_its_transpose_lists_every_edge_once() -> None:
    pattern = _pattern(30, 0)
    structure = pattern.csr
    assert structure is not None and pattern.csr is structure
    sender, receiver = pattern.edge_index
    t_ptr, t_col, t_perm = structure.transpose_order
    assert torch.equal(torch.sort(t_perm).values, torch.arange(pattern.num_edges))
    # transposed rows are senders: entry e of the transpose is (sender -> receiver) edge t_perm[e]
    rows = torch.repeat_interleave(torch.arange(30), t_ptr.diff())
    assert torch.equal(rows, sender[t_perm])
    assert torch.equal(t_col, receiver[t_perm])


def test_unsorted_patterns_have_no_csr_route() -> None:
    pattern = _pattern(10, 1)
    shuffled = EdgePattern(pattern.edge_index.flip(1), pattern.num_nodes)
    assert shuffled.csr is None


def test_sampled_scores_and_weighted_sum_match_gather_scatter_with_gradients() -> None:
    pattern = _pattern(40, 2)
    sender, receiver = pattern.edge_index
    a, b, x = (_inputs(40, s, 3, 5).requires_grad_() for s in (3, 4, 5))
    weights = torch.rand(pattern.num_edges, 3, dtype=torch.float64, requires_grad=True)

    scores = sampled_scores(a, b, pattern.csr, 0.5)
    out = weighted_sum(weights, x, pattern.csr)
    (scores.square().sum() + (out * _inputs(40, 6, 3, 5)).sum()).backward()
    fast = [t.grad.clone() for t in (a, b, x, weights)]
    for t in (a, b, x, weights):
        t.grad = None

    ref_scores = 0.5 * (a[receiver] * b[sender]).sum(-1)
    ref_out = torch.zeros_like(x).index_add(0, receiver, weights[:, :, None] * x[sender])
    (ref_scores.square().sum() + (ref_out * _inputs(40, 6, 3, 5)).sum()).backward()
    torch.testing.assert_close(scores, ref_scores)
    torch.testing.assert_close(out, ref_out)
    for got, t in zip(fast, (a, b, x, weights), strict=True):
        torch.testing.assert_close(got, t.grad)


def test_gradcheck_on_a_small_pattern() -> None:
    pattern = _pattern(8, 7)
    a, b = (_inputs(8, s, 2, 3).requires_grad_() for s in (8, 9))
    weights = torch.rand(pattern.num_edges, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, q: sampled_scores(p, q, pattern.csr, 0.7), (a, b))
    assert torch.autograd.gradcheck(lambda w, v: weighted_sum(w, v, pattern.csr), (weights, a))
