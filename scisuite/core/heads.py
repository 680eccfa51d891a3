"""Output heads on top of :class:`~scisuite.core.backbone.Backbone` states."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn.aggr import AttentionalAggregation, MeanAggregation, SumAggregation

from scisuite.core.layers import mlp, reset_children

NORM_POOLING_SCALE = 100.0
"""``"norm"`` pooling divides the per-graph sum by this (chemprop v2's default norm): it
keeps the size information of a sum while starting the head near unit scale. Plain sum
pooling of ~25 layer-normed atom states collapsed a 175-target descriptor regression to
the target means (standardised val loss 1.00 after 3 epochs; mean and norm pooling learn)."""


class ScaledSum(nn.Module):
    """Per-graph sum of node states times ``1 / scale``: ``[N, d] -> [num_graphs, d]``."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.sum = SumAggregation()

    def forward(self, x: Tensor, index: Tensor, dim_size: int) -> Tensor:
        return self.sum(x, index, dim_size=dim_size) / self.scale


class GraphHead(nn.Module):
    """Pool node states per graph, then an MLP: ``[N, d] -> [num_graphs, out_dim]``.

    Args:
        d_model: node state width.
        out_dim: outputs per graph (tasks, or classes).
        pooling: ``"mean"``, ``"sum"``, ``"norm"`` (sum divided by
            :data:`NORM_POOLING_SCALE`, chemprop v2's ``NormAggregation``) or ``"attention"``
            (gated attention pooling, Li et al. 2016) (default ``"mean"``).
        hidden_dim: MLP hidden width (default ``d_model``).
        graph_feature_dim: width of optional per-graph features (e.g. fingerprints) that are
            projected to ``d_model`` and concatenated with the pooled vector (default 0: none).
    """

    def __init__(
        self,
        d_model: int,
        out_dim: int,
        pooling: Literal["mean", "sum", "norm", "attention"] = "mean",
        hidden_dim: int | None = None,
        graph_feature_dim: int = 0,
    ) -> None:
        super().__init__()
        if pooling == "mean":
            self.pool: nn.Module = MeanAggregation()
        elif pooling == "sum":
            self.pool = SumAggregation()
        elif pooling == "norm":
            self.pool = ScaledSum(NORM_POOLING_SCALE)
        elif pooling == "attention":
            self.pool = AttentionalAggregation(gate_nn=nn.Linear(d_model, 1))
        else:
            raise ValueError(f"unknown pooling {pooling!r}; use mean, sum, norm or attention")
        self.pooling = pooling
        self.graph_features = (
            nn.Sequential(nn.Linear(graph_feature_dim, d_model), nn.GELU(), nn.LayerNorm(d_model))
            if graph_feature_dim
            else None
        )
        width = 2 * d_model if graph_feature_dim else d_model
        self.mlp = mlp(width, hidden_dim or d_model, out_dim)

    def reset_parameters(self) -> None:
        reset_children(self)

    def forward(
        self,
        node_states: Tensor,
        batch: Tensor,
        num_graphs: int,
        graph_features: Tensor | None = None,
    ) -> Tensor:
        """``node_states [N, d]``, ``batch [N]`` (+ ``graph_features [num_graphs, F]``)
        -> ``[num_graphs, out_dim]``."""
        pooled = self.pool(node_states, batch, dim_size=num_graphs)
        if self.graph_features is not None:
            if graph_features is None:
                raise ValueError("this head was built with graph features; pass them")
            pooled = torch.cat([pooled, self.graph_features(graph_features)], dim=-1)
        return self.mlp(pooled)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(pooling={self.pooling}, mlp={self.mlp})"


class NodeHead(nn.Module):
    """Per-node MLP: ``[N, d] -> [N, out_dim]``.

    Args:
        d_model: node state width.
        out_dim: outputs per node.
        hidden_dim: MLP hidden width (default ``d_model``).
    """

    def __init__(self, d_model: int, out_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        self.mlp = mlp(d_model, hidden_dim or d_model, out_dim)

    def reset_parameters(self) -> None:
        reset_children(self)

    def forward(self, node_states: Tensor) -> Tensor:
        return self.mlp(node_states)


class TokenLMHead(nn.Module):
    """Next-token logits: ``[N, d] -> [N, vocab_size]``.

    Args:
        d_model: token state width.
        vocab_size: number of token ids.
        tied_embedding: share weights with this input embedding (default: untied).
    """

    def __init__(
        self, d_model: int, vocab_size: int, tied_embedding: nn.Embedding | None = None
    ) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, vocab_size, bias=False)
        if tied_embedding is not None:
            if tied_embedding.weight.shape != self.proj.weight.shape:
                raise ValueError("tied embedding shape does not match [vocab_size, d_model]")
            self.proj.weight = tied_embedding.weight

    def forward(self, token_states: Tensor) -> Tensor:
        return self.proj(token_states)
