from __future__ import annotations

import pytest
import torch

from scisuite.core.backbone import Backbone
from scisuite.core.config import BackboneConfig
from scisuite.core.heads import GraphHead, NodeHead, TokenLMHead
from scisuite.core.patterns import DensePattern, adjacency_pattern


def test_gps_mode_with_encodings_and_edges() -> None:
    config = BackboneConfig(
        d_model=16,
        num_heads=2,
        num_layers=2,
        node_in_dim=5,
        edge_in_dim=3,
        local_mp="gine",
        lap_pe_dim=4,
        rw_pe_dim=6,
    )
    model = Backbone(config)
    n, batch = 7, torch.tensor([0, 0, 0, 1, 1, 1, 1])
    edge_index = torch.tensor([[0, 1, 3, 4, 5], [1, 2, 4, 5, 6]])
    out = model(
        torch.randn(n, 5),
        batch,
        DensePattern(batch),
        edge_index,
        torch.randn(5, 3),
        lap_pe=torch.randn(n, 4),
        rw_pe=torch.randn(n, 6),
    )
    assert out.node_states.shape == (n, 16)
    assert GraphHead(16, 3, "attention")(out.node_states, batch, 2).shape == (2, 3)
    assert NodeHead(16, 2)(out.node_states).shape == (n, 2)


def test_sparse_mode_with_global_tokens_and_mgn_edges() -> None:
    config = BackboneConfig(
        d_model=16,
        num_heads=2,
        num_layers=2,
        node_in_dim=3,
        edge_in_dim=3,
        attention="sparse",
        local_mp="mgn",
        global_tokens=2,
    )
    model = Backbone(config)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    batch = torch.zeros(5, dtype=torch.long)
    out = model(
        torch.randn(5, 3), batch, adjacency_pattern(edge_index, 5), edge_index, torch.randn(4, 3)
    )
    assert out.node_states.shape == (5, 16) and out.global_states.shape == (2, 16)
    assert out.edge_states.shape == (4, 16)


def test_mgn_baseline_without_attention() -> None:
    config = BackboneConfig(
        d_model=16,
        num_heads=1,
        num_layers=3,
        node_in_dim=3,
        edge_in_dim=3,
        attention="none",
        local_mp="mgn",
        ffn_multiplier=0,
    )
    edge_index = torch.tensor([[0, 1], [1, 2]])
    out = Backbone(config)(
        torch.randn(3, 3), torch.zeros(3, dtype=torch.long), None, edge_index, torch.randn(2, 3)
    )
    assert out.node_states.shape == (3, 16)


def test_causal_token_model_with_tied_lm_head() -> None:
    config = BackboneConfig(
        d_model=16,
        num_heads=2,
        num_layers=1,
        vocab_size=30,
        position="sinusoidal",
        propagation_hops=2,
    )
    model = Backbone(config)
    head = TokenLMHead(16, 30, tied_embedding=model.embed)
    batch = torch.tensor([0, 0, 0, 1, 1])
    logits = head(model(torch.randint(0, 30, (5,)), batch, DensePattern(batch, True)).node_states)
    assert logits.shape == (5, 30) and head.proj.weight is model.embed.weight


def test_wrong_pattern_type_is_rejected() -> None:
    model = Backbone(
        BackboneConfig(d_model=8, num_heads=2, num_layers=1, node_in_dim=2, attention="sparse")
    )
    batch = torch.zeros(3, dtype=torch.long)
    with pytest.raises(TypeError, match="EdgePattern"):
        model(torch.randn(3, 2), batch, DensePattern(batch))
    with pytest.raises(ValueError, match="rw_pe"):
        Backbone(BackboneConfig(d_model=8, num_heads=2, num_layers=1, node_in_dim=2, rw_pe_dim=3))(
            torch.randn(3, 2), batch, DensePattern(batch)
        )


def test_norm_pooling_is_the_sum_over_the_norm_scale() -> None:
    from scisuite.core.heads import NORM_POOLING_SCALE

    states, batch = torch.randn(5, 4), torch.tensor([0, 0, 1, 1, 1])
    pooled = GraphHead(4, 1, "norm").pool(states, batch, dim_size=2)
    expected = torch.stack([states[:2].sum(0), states[2:].sum(0)]) / NORM_POOLING_SCALE
    torch.testing.assert_close(pooled, expected)
