"""The shared backbone: input embeddings + encodings + N x :class:`GraphSeqLayer`.

The same module serves all domains; what differs is the input (token ids or node
features), the encodings that are switched on, and the attention pattern passed to
:meth:`Backbone.forward`, which the domain builds per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from scisuite.core.config import BackboneConfig
from scisuite.core.encodings import SinusoidalPositions, positions_in_graph
from scisuite.core.layers import GraphSeqLayer, reset_children
from scisuite.core.patterns import AttentionPattern, DensePattern, EdgePattern, global_token_pattern


@dataclass
class BackboneOutput:
    """What the backbone returns.

    Attributes:
        node_states: ``[N, d_model]`` final states of the real nodes / tokens.
        edge_states: ``[E, d_model]`` final edge states (None without edge features).
        global_states: ``[num_graphs * global_tokens, d_model]`` learned-token states, or None.
    """

    node_states: Tensor
    edge_states: Tensor | None = None
    global_states: Tensor | None = None


class Backbone(nn.Module):
    """Embeddings, encodings and a stack of :class:`GraphSeqLayer` blocks.

    Args:
        config: validated :class:`~scisuite.core.config.BackboneConfig`.
    """

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        if config.vocab_size > 0:
            self.embed: nn.Module = nn.Embedding(config.vocab_size, d)
        else:
            self.embed = nn.Linear(config.node_in_dim, d)
        self.positions = (
            SinusoidalPositions(d, config.max_positions)
            if config.position == "sinusoidal"
            else None
        )
        self.lap_pe = nn.Linear(config.lap_pe_dim, d, bias=False) if config.lap_pe_dim else None
        self.rw_pe = nn.Linear(config.rw_pe_dim, d, bias=False) if config.rw_pe_dim else None
        self.edge_embed = nn.Linear(config.edge_in_dim, d) if config.edge_in_dim else None
        self.global_tokens = (
            nn.Parameter(torch.zeros(config.global_tokens, d)) if config.global_tokens else None
        )
        self.layers = nn.ModuleList(
            GraphSeqLayer(
                d_model=d,
                num_heads=config.num_heads,
                attention=config.attention != "none",
                local_mp=config.local_mp,
                propagation_hops=config.propagation_hops,
                ffn_multiplier=config.ffn_multiplier,
                dropout=config.dropout,
                rotary=config.position == "rotary",
            )
            for _ in range(config.num_layers)
        )
        self.final_norm = nn.LayerNorm(d)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_children(self)
        if self.global_tokens is not None:
            nn.init.normal_(self.global_tokens, std=0.02)

    def _check_pattern(self, pattern: AttentionPattern | None) -> None:
        kind = self.config.attention
        if kind == "dense" and not isinstance(pattern, DensePattern):
            raise TypeError(f"attention='dense' needs a DensePattern, got {type(pattern).__name__}")
        if kind == "sparse" and not isinstance(pattern, EdgePattern):
            raise TypeError(
                f"attention='sparse' needs an EdgePattern, got {type(pattern).__name__}"
            )

    def forward(
        self,
        x: Tensor,
        batch: Tensor,
        pattern: AttentionPattern | None = None,
        edge_index: Tensor | None = None,
        edge_attr: Tensor | None = None,
        lap_pe: Tensor | None = None,
        rw_pe: Tensor | None = None,
        positions: Tensor | None = None,
    ) -> BackboneOutput:
        """Args:
        x: ``[N]`` token ids (``vocab_size > 0``) or ``[N, node_in_dim]`` features.
        batch: ``[N]`` graph/sequence id of each node, sorted.
        pattern: attention pattern over the ``N`` real nodes (None if ``attention="none"``).
        edge_index: ``[2, E]`` real edges for local message passing.
        edge_attr: ``[E, edge_in_dim]`` raw edge features.
        lap_pe: ``[N, lap_pe_dim]`` Laplacian eigenvectors.
        rw_pe: ``[N, rw_pe_dim]`` random-walk encodings.
        positions: ``[N]`` token positions; derived from ``batch`` when omitted.
        """
        self._check_pattern(pattern)
        n = x.size(0)
        h = self.embed(x)
        need_positions = self.positions is not None or self.config.position == "rotary"
        if need_positions and positions is None:
            positions = positions_in_graph(batch)
        if self.positions is not None:
            h = h + self.positions(positions)
        if self.lap_pe is not None:
            h = h + self.lap_pe(_required(lap_pe, "lap_pe"))
        if self.rw_pe is not None:
            h = h + self.rw_pe(_required(rw_pe, "rw_pe"))
        e = (
            self.edge_embed(_required(edge_attr, "edge_attr"))
            if self.edge_embed is not None
            else None
        )
        if self.global_tokens is not None:
            assert isinstance(pattern, EdgePattern)
            pattern, token_graph = global_token_pattern(pattern, self.global_tokens.size(0), batch)
            num_graphs = int(token_graph.numel()) // self.global_tokens.size(0)
            h = torch.cat([h, self.global_tokens.repeat(num_graphs, 1)], dim=0)
            if positions is not None:
                positions = torch.cat([positions, positions.new_zeros(token_graph.numel())])
        for layer in self.layers:
            h, e = layer(h, pattern, edge_index, e, positions)
        h = self.final_norm(h)
        global_states = h[n:] if self.global_tokens is not None else None
        return BackboneOutput(node_states=h[:n], edge_states=e, global_states=global_states)


def _required(value: Tensor | None, name: str) -> Tensor:
    if value is None:
        raise ValueError(f"the backbone config enables {name}, but the batch has none")
    return value
