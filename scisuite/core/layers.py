"""The backbone block: :class:`GraphSeqLayer` and the local message-passing operators it uses.

GraphSeqLayer follows GraphGPS (Rampášek et al. 2022): a local message-passing
branch over the real edges and a global attention branch under a pattern, computed
in parallel from the same pre-normalised input and added to the residual stream,
followed by a feed-forward block. With ``attention=False`` and ``local_mp="mgn"`` it
is one MeshGraphNets processor step (Pfaff et al. 2021); with ``local_mp="none"`` and a
causal pattern it is a decoder-only transformer block.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINEConv, MessagePassing, ResGatedGraphConv

from scisuite.core.attention import MultiHeadGraphAttention
from scisuite.core.patterns import AttentionPattern


def reset_children(module: nn.Module) -> None:
    """Call ``reset_parameters()`` of every submodule that has one (not of ``module`` itself)."""
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()


def mlp(in_dim: int, hidden_dim: int, out_dim: int, layer_norm: bool = False) -> nn.Sequential:
    """Two-layer GELU MLP, optionally followed by LayerNorm (MeshGraphNets style)."""
    layers: list[nn.Module] = [
        nn.Linear(in_dim, hidden_dim),
        nn.GELU(),
        nn.Linear(hidden_dim, out_dim),
    ]
    if layer_norm:
        layers.append(nn.LayerNorm(out_dim))
    return nn.Sequential(*layers)


class EdgeNodeUpdate(MessagePassing):
    """MeshGraphNets processor step: update edges from their endpoints, then nodes from edges.

    ``e'_ij = MLP_e([e_ij, x_i, x_j])``, ``x'_i = MLP_n([x_i, sum_j e'_ij])``; the caller
    adds both residuals. (Pfaff et al., "Learning Mesh-Based Simulation with Graph
    Networks", ICLR 2021.)

    Args:
        d_model: node and edge latent width.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__(aggr="sum")
        self.d_model = d_model
        self.edge_mlp = mlp(3 * d_model, d_model, d_model, layer_norm=True)
        self.node_mlp = mlp(2 * d_model, d_model, d_model, layer_norm=True)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for module in (*self.edge_mlp, *self.node_mlp):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(node_delta [N, d], edge_delta [E, d])``."""
        sender, receiver = edge_index
        edge_delta = self.edge_mlp(torch.cat([edge_attr, x[receiver], x[sender]], dim=-1))
        aggregated = self.propagate(edge_index, edge_delta=edge_delta, size=(x.size(0), x.size(0)))
        node_delta = self.node_mlp(torch.cat([x, aggregated], dim=-1))
        return node_delta, edge_delta

    def message(self, edge_delta: Tensor) -> Tensor:
        return edge_delta

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.d_model})"


LocalMPKind = Literal["none", "gine", "gatedgcn", "mgn"]


class LocalMessagePassing(nn.Module):
    """Local message passing over real edges, one of GINE / GatedGCN-style / MGN-style.

    Args:
        kind: ``"gine"`` (Hu et al. 2020, :class:`~torch_geometric.nn.GINEConv`),
            ``"gatedgcn"`` (Bresson & Laurent 2017, :class:`~torch_geometric.nn.ResGatedGraphConv`)
            or ``"mgn"`` (:class:`EdgeNodeUpdate`, also updates edge states).
        d_model: node/edge latent width (edge features are already embedded to it).
    """

    def __init__(self, kind: LocalMPKind, d_model: int) -> None:
        super().__init__()
        if kind not in ("gine", "gatedgcn", "mgn"):
            raise ValueError(f"unknown local message passing {kind!r}")
        self.kind = kind
        if kind == "gine":
            self.conv: nn.Module = GINEConv(mlp(d_model, d_model, d_model), edge_dim=d_model)
        elif kind == "gatedgcn":
            self.conv = ResGatedGraphConv(d_model, d_model, edge_dim=d_model)
        else:
            self.conv = EdgeNodeUpdate(d_model)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Returns ``(node_delta, edge_delta or None)``."""
        if self.kind == "mgn":
            if edge_attr is None:
                raise ValueError("MGN-style message passing needs edge features")
            return self.conv(x, edge_index, edge_attr)
        if self.kind == "gine":
            if edge_attr is None:
                raise ValueError("GINE needs edge features")
            return self.conv(x, edge_index, edge_attr), None
        return self.conv(x, edge_index, edge_attr), None


class GraphSeqLayer(nn.Module):
    """Pre-norm residual block: (local MP || attention [+ propagation]) then feed-forward.

    Args:
        d_model: width of node states.
        num_heads: attention heads.
        attention: include the attention branch (default True).
        local_mp: local message passing kind, or ``"none"`` (default).
        propagation_hops: attention-graph propagation hops (default 0).
        ffn_multiplier: feed-forward hidden width multiplier; 0 removes the block (default 2).
        dropout: residual-branch and attention dropout (default 0).
        rotary: rotary positions in attention (default False).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        attention: bool = True,
        local_mp: LocalMPKind = "none",
        propagation_hops: int = 0,
        ffn_multiplier: int = 2,
        dropout: float = 0.0,
        rotary: bool = False,
    ) -> None:
        super().__init__()
        if not attention and local_mp == "none":
            raise ValueError("GraphSeqLayer needs attention or local message passing")
        self.norm_in = nn.LayerNorm(d_model)
        self.attention = (
            MultiHeadGraphAttention(d_model, num_heads, dropout, propagation_hops, rotary)
            if attention
            else None
        )
        self.local = LocalMessagePassing(local_mp, d_model) if local_mp != "none" else None
        self.ffn = (
            nn.Sequential(nn.LayerNorm(d_model), mlp(d_model, ffn_multiplier * d_model, d_model))
            if ffn_multiplier > 0
            else None
        )
        self.dropout = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        reset_children(self)

    def forward(
        self,
        x: Tensor,
        pattern: AttentionPattern | None,
        edge_index: Tensor | None = None,
        edge_attr: Tensor | None = None,
        positions: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Args:
            x: ``[N, d_model]`` node states.
            pattern: attention pattern (required when the layer has attention).
            edge_index: ``[2, E]`` real edges for local message passing.
            edge_attr: ``[E, d_model]`` edge states.
            positions: ``[N]`` token positions for rotary attention.

        Returns:
            updated ``x`` and ``edge_attr`` (edge states change only under ``"mgn"``).
        """
        h = self.norm_in(x)
        update = torch.zeros_like(x)
        if self.local is not None:
            if edge_index is None:
                raise ValueError("local message passing needs edge_index")
            node_delta, edge_delta = self.local(h, edge_index, edge_attr)
            update = update + node_delta
            if edge_delta is not None and edge_attr is not None:
                edge_attr = edge_attr + self.dropout(edge_delta)
        if self.attention is not None:
            if pattern is None:
                raise ValueError("the attention branch needs an attention pattern")
            update = update + self.attention(h, pattern, positions)
        x = x + self.dropout(update)
        if self.ffn is not None:
            x = x + self.dropout(self.ffn(x))
        return x, edge_attr
