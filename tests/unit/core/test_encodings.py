from __future__ import annotations

import pytest
import torch

from scisuite.core.encodings import (
    SinusoidalPositions,
    laplacian_pe,
    positions_in_graph,
    random_walk_pe,
    relative_position_features,
)

CYCLE5 = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])


def test_positions_restart_in_each_graph() -> None:
    assert positions_in_graph(torch.tensor([0, 0, 0, 1, 1, 2])).tolist() == [0, 1, 2, 0, 1, 0]


def test_sinusoidal_refuses_positions_beyond_the_table() -> None:
    table = SinusoidalPositions(8, 10)
    assert table(torch.tensor([0, 9])).shape == (2, 8)
    with pytest.raises(ValueError, match="max_positions"):
        table(torch.tensor([10]))


def test_laplacian_pe_is_seeded_orthonormal_and_padded() -> None:
    a = laplacian_pe(CYCLE5, 5, 3, torch.Generator().manual_seed(0))
    b = laplacian_pe(CYCLE5, 5, 3, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    torch.testing.assert_close(a.t() @ a, torch.eye(3), atol=1e-5, rtol=0)
    small = laplacian_pe(torch.tensor([[0], [1]]), 2, 4)
    assert small.shape == (2, 4) and torch.equal(small[:, 1:], torch.zeros(2, 3))
    signs = {
        tuple(torch.sign(laplacian_pe(CYCLE5, 5, 3, torch.Generator().manual_seed(s))[0]).tolist())
        for s in range(8)
    }
    assert len(signs) > 1  # signs are flipped by the explicit generator


def test_laplacian_pe_sparse_path_matches_dense() -> None:
    n = 600  # above the dense threshold: ARPACK path
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    pe = laplacian_pe(ring, n, 2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(pe.t() @ pe, torch.eye(2), atol=1e-4, rtol=0)


def test_random_walk_pe_on_a_cycle() -> None:
    pe = random_walk_pe(torch.cat([CYCLE5, CYCLE5.flip(0)], 1), 5, 4)
    assert pe.shape == (5, 4)
    torch.testing.assert_close(pe[:, 1], torch.full((5,), 0.5))  # return after 2 steps
    assert torch.equal(pe[:, 0], torch.zeros(5))


def test_relative_position_features() -> None:
    pos = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    feats = relative_position_features(pos, torch.tensor([[1], [0]]))
    assert feats.tolist() == [[3.0, 4.0, 5.0]]
