"""Dense vs sparse kernels, permutation equivariance, causality with propagation."""

from __future__ import annotations

import pytest
import torch

from scisuite.core.attention import MultiHeadGraphAttention, apply_rotary
from scisuite.core.layers import GraphSeqLayer
from scisuite.core.patterns import DensePattern, EdgePattern, adjacency_pattern


def _random_batch(generator: torch.Generator, sizes=(5, 9, 1, 7)) -> torch.Tensor:
    return torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])


def _random_graph(num_nodes: int, num_edges: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, num_nodes, (2, num_edges), generator=generator)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("hops", [0, 2])
@pytest.mark.parametrize("rotary", [False, True])
def test_dense_and_sparse_kernels_agree_forward_and_grad(causal, hops, rotary) -> None:
    g = torch.Generator().manual_seed(0)
    batch = _random_batch(g)
    n = batch.numel()
    torch.manual_seed(1)
    module = MultiHeadGraphAttention(16, 4, propagation_hops=hops, rotary=rotary).double()
    x = torch.randn(n, 16, generator=g, dtype=torch.float64, requires_grad=True)
    positions = torch.arange(n)
    dense = DensePattern(batch, causal)
    out_dense = module(x, dense, positions)
    (grad_dense,) = torch.autograd.grad(out_dense.square().sum(), x)
    out_sparse = module(x, dense.to_edges(), positions)
    (grad_sparse,) = torch.autograd.grad(out_sparse.square().sum(), x)
    torch.testing.assert_close(out_dense, out_sparse, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_dense, grad_sparse, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
def test_size_buckets_give_the_padded_result_forward_and_grad(causal) -> None:
    """A ragged batch (graph 3 empty, one 40-node graph) run in size buckets equals the
    one-layout dense kernel and the edge-list kernel."""
    g = torch.Generator().manual_seed(5)
    batch = torch.repeat_interleave(torch.arange(7), torch.tensor([3, 1, 4, 0, 40, 6, 2]))
    bucketed = DensePattern(batch, causal, max_padding_ratio=2.0)
    assert bucketed.needs_buckets()
    torch.manual_seed(2)
    module = MultiHeadGraphAttention(16, 4, rotary=True).double()
    x = torch.randn(batch.numel(), 16, generator=g, dtype=torch.float64, requires_grad=True)
    positions = torch.arange(batch.numel())
    results = []
    for pattern in (bucketed, DensePattern(batch, causal), bucketed.to_edges()):
        out = module(x, pattern, positions)
        results.append((out, *torch.autograd.grad(out.square().sum(), x)))
    for out, grad in results[1:]:
        torch.testing.assert_close(results[0][0], out, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(results[0][1], grad, rtol=1e-10, atol=1e-10)


def test_dense_kernel_sdpa_path_matches_explicit_path() -> None:
    g = torch.Generator().manual_seed(3)
    batch = _random_batch(g)
    torch.manual_seed(0)
    plain = MultiHeadGraphAttention(16, 2)
    x = torch.randn(batch.numel(), 16, generator=g)
    pattern = DensePattern(batch, causal=True)
    # the sparse kernel computes explicit softmax weights; SDPA must agree with it
    torch.testing.assert_close(
        plain(x, pattern), plain(x, pattern.to_edges()), atol=1e-5, rtol=1e-5
    )


def test_sparse_kernel_on_random_graph_matches_dense_mask() -> None:
    """A random edge pattern run sparse == the same pattern as a dense boolean mask."""
    g = torch.Generator().manual_seed(5)
    n = 30
    pattern = adjacency_pattern(_random_graph(n, 80, g), n)
    torch.manual_seed(0)
    module = MultiHeadGraphAttention(8, 2).double()
    x = torch.randn(n, 8, generator=g, dtype=torch.float64)
    q, k, v = module.qkv(x).view(n, 3, 2, 4).unbind(1)
    scores = torch.einsum("ihd,jhd->hij", q, k) / 2.0
    probs = scores.masked_fill(~pattern.to_mask(), float("-inf")).softmax(-1)
    expected = module.out(torch.einsum("hij,jhd->ihd", probs, v).reshape(n, 8))
    torch.testing.assert_close(module(x, pattern), expected)


def _permute_pattern(pattern, perm: torch.Tensor, inverse: torch.Tensor):
    if isinstance(pattern, DensePattern):
        return DensePattern(pattern.batch[perm], pattern.causal)
    return EdgePattern(inverse[pattern.edge_index], pattern.num_nodes)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("local_mp", ["none", "gine", "gatedgcn", "mgn"])
def test_layer_is_permutation_equivariant(kind, local_mp) -> None:
    g = torch.Generator().manual_seed(2)
    n = 12
    edge_index = _random_graph(n, 30, g)
    edge_attr = torch.randn(edge_index.size(1), 16, generator=g, dtype=torch.float64)
    batch = torch.zeros(n, dtype=torch.long)
    pattern = DensePattern(batch) if kind == "dense" else adjacency_pattern(edge_index, n)
    torch.manual_seed(0)
    layer = GraphSeqLayer(16, 4, local_mp=local_mp, propagation_hops=2).double().eval()
    x = torch.randn(n, 16, generator=g, dtype=torch.float64)
    out, edges_out = layer(x, pattern, edge_index, edge_attr)
    perm = torch.randperm(n, generator=g)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n)
    out_p, edges_out_p = layer(
        x[perm], _permute_pattern(pattern, perm, inverse), inverse[edge_index], edge_attr
    )
    torch.testing.assert_close(out_p, out[perm])
    if local_mp == "mgn":
        torch.testing.assert_close(edges_out_p, edges_out)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_causality_with_attention_graph_propagation(kind) -> None:
    g = torch.Generator().manual_seed(4)
    length = 16
    batch = torch.zeros(length, dtype=torch.long)
    dense = DensePattern(batch, causal=True)
    pattern = dense if kind == "dense" else dense.to_edges()
    torch.manual_seed(0)
    layers = [
        GraphSeqLayer(16, 4, propagation_hops=3, rotary=True).double().eval() for _ in range(2)
    ]
    x = torch.randn(length, 16, generator=g, dtype=torch.float64)
    positions = torch.arange(length)

    def run(inputs: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            inputs, _ = layer(inputs, pattern, positions=positions)
        return inputs

    reference = run(x)
    for t in (0, 5, 14):
        changed = x.clone()
        changed[t + 1 :] = torch.randn(length - t - 1, 16, generator=g, dtype=torch.float64)
        out = run(changed)
        torch.testing.assert_close(out[: t + 1], reference[: t + 1])
        assert not torch.allclose(out[t + 1 :], reference[t + 1 :])


def test_propagation_changes_output_and_gets_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 8, generator=g)
    pattern = DensePattern(torch.zeros(6, dtype=torch.long))
    torch.manual_seed(0)
    with_hops = MultiHeadGraphAttention(8, 2, propagation_hops=2)
    torch.manual_seed(0)
    without = MultiHeadGraphAttention(8, 2)
    assert not torch.allclose(with_hops(x, pattern), without(x, pattern))
    with_hops(x, pattern).sum().backward()
    assert all(
        hop.weight.grad is not None and hop.weight.grad.abs().sum() > 0 for hop in with_hops.hops
    )


def test_rotary_scores_depend_only_on_relative_position() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 8, generator=g, dtype=torch.float64)
    k = torch.randn(1, 1, 8, generator=g, dtype=torch.float64)

    def score(i: int, j: int) -> float:
        return float(
            (apply_rotary(q, torch.tensor([i])) * apply_rotary(k, torch.tensor([j]))).sum()
        )

    assert score(3, 1) == pytest.approx(score(10, 8))
    assert score(3, 1) != pytest.approx(score(3, 2))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadGraphAttention(10, 3)
    with pytest.raises(ValueError, match="attention or local"):
        GraphSeqLayer(8, 2, attention=False, local_mp="none")
    module = MultiHeadGraphAttention(8, 2)
    with pytest.raises(ValueError, match="shape"):
        module(torch.randn(3, 4), DensePattern(torch.zeros(3, dtype=torch.long)))
