"""Pattern builders on tiny hand-built graphs with known answers."""

from __future__ import annotations

import pytest
import torch

from scisuite.core.patterns import (
    DensePattern,
    EdgePattern,
    adjacency_pattern,
    dilated_ring_pattern,
    global_node_pattern,
    global_token_pattern,
    hop_rings,
    khop_pattern,
    random_jump_pattern,
    union,
    within_graph_edges,
)

PATH6 = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])  # 0-1-2-3-4-5


def _pairs(pattern: EdgePattern) -> set[tuple[int, int]]:
    return {(int(j), int(i)) for j, i in pattern.edge_index.t()}


def test_adjacency_is_symmetric_with_self_loops() -> None:
    pairs = _pairs(adjacency_pattern(PATH6, 6))
    assert (0, 1) in pairs and (1, 0) in pairs and (3, 3) in pairs
    assert (0, 2) not in pairs and len(pairs) == 10 + 6


def test_hop_rings_are_exact_distances_on_a_path() -> None:
    rings = hop_rings(PATH6, 6, 5)
    for h, ring in enumerate(rings, start=1):
        assert all(abs(int(j) - int(i)) == h for j, i in ring.t())
        assert ring.size(1) == 2 * (6 - h)


def test_khop_contains_everything_within_k() -> None:
    pairs = _pairs(khop_pattern(PATH6, 6, 2))
    expected = {(j, i) for i in range(6) for j in range(6) if abs(i - j) <= 2}
    assert pairs == expected


def test_dilated_rings_pick_multiples_of_the_dilation() -> None:
    pairs = _pairs(dilated_ring_pattern(PATH6, 6, dilation=2, rings=2))
    assert pairs == {(j, i) for i in range(6) for j in range(6) if abs(i - j) in (2, 4)}


def test_random_jumps_are_seeded_and_stay_in_their_graph() -> None:
    batch = torch.tensor([0] * 10 + [1] * 5)
    a = random_jump_pattern(15, 3, torch.Generator().manual_seed(7), batch)
    b = random_jump_pattern(15, 3, torch.Generator().manual_seed(7), batch)
    c = random_jump_pattern(15, 3, torch.Generator().manual_seed(8), batch)
    assert torch.equal(a.edge_index, b.edge_index) and not torch.equal(a.edge_index, c.edge_index)
    assert (batch[a.edge_index[0]] == batch[a.edge_index[1]]).all()


def test_global_nodes_see_and_are_seen_by_their_graph_only() -> None:
    batch = torch.tensor([0, 0, 0, 1, 1])
    pairs = _pairs(global_node_pattern(torch.tensor([1, 4]), 5, batch))
    assert {(1, 0), (0, 1), (1, 2), (2, 1), (4, 3), (3, 4)} <= pairs
    assert (1, 3) not in pairs and (4, 0) not in pairs and (0, 2) not in pairs


def test_global_tokens_extend_each_graph() -> None:
    batch = torch.tensor([0, 0, 1, 1, 1])
    base = adjacency_pattern(torch.tensor([[0, 2, 3], [1, 3, 4]]), 5)
    pattern, token_graph = global_token_pattern(base, 2, batch)
    assert pattern.num_nodes == 9 and token_graph.tolist() == [0, 0, 1, 1]
    pairs = _pairs(pattern)
    assert (5, 0) in pairs and (0, 5) in pairs and (7, 3) in pairs and (5, 6) in pairs
    assert (5, 3) not in pairs and (7, 0) not in pairs and (5, 7) not in pairs


def test_union_and_masks() -> None:
    a, b = adjacency_pattern(PATH6, 6), dilated_ring_pattern(PATH6, 6, 3, 1)
    assert torch.equal(union(a, b).to_mask(), a.to_mask() | b.to_mask())
    with pytest.raises(ValueError):
        union(a, EdgePattern(torch.zeros(2, 0, dtype=torch.long), 3))


def test_dense_pattern_mask_is_block_diagonal_and_causal() -> None:
    mask = DensePattern(torch.tensor([0, 0, 1, 1, 1]), causal=True).to_mask()
    assert mask[1, 0] and not mask[0, 1] and not mask[2, 1] and mask[4, 2] and not mask[2, 4]


def test_edge_pattern_validates() -> None:
    with pytest.raises(ValueError):
        EdgePattern(torch.tensor([[0, 5]]), 3)
    with pytest.raises(ValueError):
        EdgePattern(torch.tensor([[0], [5]]), 3)


@pytest.mark.parametrize("causal", [False, True])
def test_within_graph_edges_match_the_dense_mask(causal: bool) -> None:
    batch = torch.tensor([0, 0, 0, 1, 3, 3, 3, 3])  # graph 2 is empty
    edges = within_graph_edges(batch, causal)
    receiver, sender = DensePattern(batch, causal).to_mask().nonzero(as_tuple=True)
    assert torch.equal(edges.edge_index, torch.stack([sender, receiver]))
    assert edges.num_nodes == 8


def test_dense_pattern_asks_for_size_buckets_only_when_ragged() -> None:
    even = torch.repeat_interleave(torch.arange(4), torch.tensor([5, 5, 6, 5]))
    assert not DensePattern(even, max_padding_ratio=2.0).needs_buckets()
    ragged = torch.repeat_interleave(torch.arange(8), torch.tensor([3] * 7 + [30]))
    # padded 8 * 30^2 = 7200 scores against 7 * 9 + 900 = 963 real pairs
    pattern = DensePattern(ragged, max_padding_ratio=5.0)
    assert (pattern.padded_pairs(), pattern.real_pairs()) == (7200, 963)
    assert pattern.needs_buckets()
    assert not DensePattern(ragged, max_padding_ratio=10.0).needs_buckets()
    assert not DensePattern(ragged).needs_buckets()  # off unless asked


def test_size_buckets_cover_every_non_empty_graph_once() -> None:
    sizes = torch.tensor([3, 0, 7, 2, 30, 4, 1, 60])
    buckets = DensePattern(torch.repeat_interleave(torch.arange(8), sizes)).size_buckets(2.0)
    assert [b.tolist() for b in buckets] == [[3, 6], [0, 5], [2], [4, 7]]
    for bucket in buckets:
        assert int(sizes[bucket].max()) <= 2 * int(sizes[bucket].min())
