"""Positional and structural encodings.

* token positions: :func:`positions_in_graph`, :class:`SinusoidalPositions`
  (rotary lives in :mod:`scisuite.core.attention`);
* graph structure: :func:`laplacian_pe` (Dwivedi et al. 2020) and :func:`random_walk_pe`
  (Dwivedi et al. 2022), computed once per graph in the featurizer;
* geometry: :func:`relative_position_features` for mesh edges.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse.linalg import eigsh
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.transforms import AddRandomWalkPE
from torch_geometric.utils import get_laplacian, to_scipy_sparse_matrix, to_undirected

# Below this size a dense eigendecomposition is exact and faster than ARPACK.
_DENSE_EIGEN_MAX_NODES = 512


def positions_in_graph(batch: Tensor) -> Tensor:
    """Position of every node within its own graph: ``[N]`` -> ``[N]`` (0-based)."""
    counts = torch.bincount(batch)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(batch.numel(), device=batch.device) - starts[batch]


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal token-position table (Vaswani et al. 2017).

    Args:
        d_model: embedding width (even).
        max_positions: table length; positions beyond it raise an error, never wrap.
    """

    def __init__(self, d_model: int, max_positions: int) -> None:
        super().__init__()
        if d_model % 2:
            raise ValueError(f"sinusoidal positions need an even d_model, got {d_model}")
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        freq = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model)
        )
        table = torch.zeros(max_positions, d_model)
        table[:, 0::2] = torch.sin(position * freq)
        table[:, 1::2] = torch.cos(position * freq)
        self.register_buffer("table", table, persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        """``[N]`` integer positions -> ``[N, d_model]``."""
        if positions.numel() and int(positions.max()) >= self.table.size(0):
            raise ValueError(
                f"position {int(positions.max())} exceeds max_positions={self.table.size(0)}"
            )
        return self.table[positions]


def laplacian_pe(
    edge_index: Tensor, num_nodes: int, k: int, generator: torch.Generator | None = None
) -> Tensor:
    """First ``k`` non-trivial eigenvectors of the symmetric normalised Laplacian.

    Uses torch-geometric's Laplacian utilities; unlike
    :class:`torch_geometric.transforms.AddLaplacianEigenvectorPE` it (a) takes an explicit
    generator for the random sign flip and the ARPACK start vector instead of the global
    RNG, and (b) zero-pads graphs with ``num_nodes <= k`` instead of failing.

    Args:
        edge_index: ``[2, E]`` edges.
        num_nodes: ``N``.
        k: number of eigenvectors.
        generator: RNG for signs; ``None`` keeps the solver's signs (deterministic).

    Returns:
        ``[N, k]`` float32.
    """
    pe = torch.zeros(num_nodes, k)
    if num_nodes < 2 or k == 0:
        return pe
    lap_index, lap_weight = get_laplacian(
        to_undirected(edge_index, num_nodes=num_nodes), normalization="sym", num_nodes=num_nodes
    )
    laplacian = to_scipy_sparse_matrix(lap_index, lap_weight, num_nodes)
    if num_nodes <= _DENSE_EIGEN_MAX_NODES or k + 1 >= num_nodes:
        values, vectors = np.linalg.eigh(laplacian.toarray())
    else:
        v0 = torch.rand(num_nodes, generator=generator, dtype=torch.float64).numpy()
        values, vectors = eigsh(laplacian, k=k + 1, which="SA", v0=v0, tol=1e-6)
    order = np.argsort(values)
    chosen = torch.from_numpy(np.real(vectors[:, order[1 : k + 1]])).float()
    if generator is not None:
        chosen = chosen * (torch.randint(0, 2, (chosen.size(1),), generator=generator) * 2 - 1)
    pe[:, : chosen.size(1)] = chosen
    return pe


def random_walk_pe(edge_index: Tensor, num_nodes: int, walk_length: int) -> Tensor:
    """Random-walk structural encoding: return probabilities after 1..walk_length steps.

    Thin wrapper over :class:`torch_geometric.transforms.AddRandomWalkPE` (deterministic).

    Returns:
        ``[N, walk_length]`` float32.
    """
    if walk_length == 0:
        return torch.zeros(num_nodes, 0)
    data = AddRandomWalkPE(walk_length, attr_name="rw_pe")(
        Data(edge_index=edge_index, num_nodes=num_nodes)
    )
    return data.rw_pe.float()


def relative_position_features(pos: Tensor, edge_index: Tensor) -> Tensor:
    """Mesh edge features: ``[pos_j - pos_i, |pos_j - pos_i|]`` for each edge ``(j -> i)``.

    Args:
        pos: ``[N, D]`` node coordinates (any length unit).
        edge_index: ``[2, E]``.

    Returns:
        ``[E, D + 1]`` in the same unit as ``pos``.
    """
    sender, receiver = edge_index
    delta = pos[sender] - pos[receiver]
    return torch.cat([delta, delta.norm(dim=-1, keepdim=True)], dim=-1)
