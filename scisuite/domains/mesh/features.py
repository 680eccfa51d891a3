"""Flow frames on a mesh -> PyG graphs, normaliser statistics and training noise.

One graph per frame ``t`` (MeshGraphNets' CylinderFlow recipe, Pfaff et al. 2021):

* nodes: ``x = [one_hot(node_type) (4), u_t, v_t, u_{t-1}, v_{t-1}, ..., u_{t-H}, v_{t-H},
  p_t]`` in physical units (m/s, m^2/s^2; ``p_t`` only with ``pressure_input``);
  normalisation happens inside the model, from the statistics in
  :class:`~scisuite.domains.mesh.config.MeshConfig`;
* edges: every triangle side in both directions (``edge_index``), with
  ``edge_attr = [dx, dy, |d|]`` (m), the sender's position relative to the receiver;
* ``pattern_index``: the sparse attention pattern ``(sender, receiver)`` (mesh adjacency,
  K-hop, dilated rings, global boundary nodes), built once per mesh; the name contains
  ``index`` so that PyG batching offsets it like ``edge_index``;
* ``y = [u_{t+1} - u_t, v_{t+1} - v_t, p_{t+1}]`` (NaN where the next frame is unknown),
  whatever the config; the model's targets (:func:`model_targets`) are the velocity change
  and either the pressure change (``pressure_input``, default) or, as MeshGraphNets'
  CylinderFlow, the pressure after the step.

Static tensors of a mesh (edges, pattern, one-hot) are computed once by :func:`mesh_graph`
and shared by all frame graphs of that mesh, so a trajectory of ``F`` frames costs
``F * N * (x + y)`` floats, not ``F`` copies of the pattern.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from scisuite.core.encodings import relative_position_features
from scisuite.core.patterns import EdgePattern, global_node_pattern, hop_rings, union
from scisuite.domains.mesh.config import (
    NODE_TYPE_CODES,
    VELOCITY_START,
    MeshConfig,
    NodeType,
    PatternConfig,
)
from scisuite.domains.mesh.graph import edges_from_triangles
from scisuite.domains.mesh.io import MeshState, MeshTrajectory

#: Node types whose velocity the model updates (the others are boundary conditions).
UPDATED_TYPES = (int(NodeType.NORMAL), int(NodeType.OUTFLOW))


def node_type_one_hot(node_type: Tensor) -> Tensor:
    """``[N]`` MeshGraphNets codes -> ``[N, 4]`` float one-hot in :data:`NODE_TYPE_CODES` order.

    Raises:
        ValueError: a code other than 0 (normal), 4 (inflow), 5 (outflow), 6 (wall).
    """
    codes = torch.tensor(NODE_TYPE_CODES, dtype=torch.long, device=node_type.device)
    one_hot = node_type.long()[:, None] == codes[None, :]
    unknown = ~one_hot.any(dim=1)
    if bool(unknown.any()):
        bad = sorted(set(node_type[unknown].tolist()))
        raise ValueError(
            f"unknown node_type code(s) {bad}; use 0 normal, 4 inflow, 5 outflow, 6 wall"
        )
    return one_hot.to(torch.float32)


def updated_mask(node_type: Tensor) -> Tensor:
    """``[N]`` bool: nodes whose velocity the model predicts (normal and outflow)."""
    mask = torch.zeros_like(node_type, dtype=torch.bool)
    for code in UPDATED_TYPES:
        mask |= node_type == code
    return mask


def select_global_nodes(pos: Tensor, node_type: Tensor, count: int) -> Tensor:
    """``count`` boundary nodes spread evenly over the boundary (farthest-point sampling).

    Deterministic: starts from the boundary node closest to the origin corner.

    Args:
        pos: ``[N, 2]`` positions.
        node_type: ``[N]`` codes; boundary = every type but normal.
        count: nodes wanted (fewer if the boundary has fewer).

    Returns:
        ``[G]`` long node indices, ``G = min(count, boundary nodes)``.
    """
    boundary = torch.nonzero(node_type != int(NodeType.NORMAL)).flatten()
    if count <= 0 or boundary.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    points = pos[boundary].double()
    chosen = [int(torch.argmin(points.norm(dim=1)))]
    distance = (points - points[chosen[0]]).norm(dim=1)
    for _ in range(min(count, boundary.numel()) - 1):
        nxt = int(torch.argmax(distance))
        chosen.append(nxt)
        distance = torch.minimum(distance, (points - points[nxt]).norm(dim=1))
    return boundary[torch.tensor(sorted(chosen), dtype=torch.long)]


def attention_pattern(
    edge_index: Tensor, pos: Tensor, node_type: Tensor, pattern: PatternConfig
) -> Tensor:
    """The sparse attention pattern of one mesh as ``[2, P]`` (sender, receiver) pairs.

    Union of self loops, all pairs within ``pattern.khop`` hops, the dilated rings at
    exactly ``dilation * k`` hops (``k = 1..rings``) and, both ways, ``global_nodes``
    boundary nodes to every node. Sorted by receiver, no duplicates; memory is
    O(P), never O(N^2) (breadth-first expansion with scipy sparse products).

    Args:
        edge_index: ``[2, E]`` mesh edges.
        pos: ``[N, 2]`` positions (to spread the global nodes).
        node_type: ``[N]`` codes.
        pattern: which parts to include.
    """
    n = int(pos.size(0))
    rings = hop_rings(edge_index, n, pattern.max_hops)
    loops = torch.arange(n).repeat(2, 1)
    chosen = [loops, *rings[: pattern.khop]]
    chosen += [rings[pattern.dilation * k - 1] for k in range(1, pattern.rings + 1)]
    parts = [EdgePattern(torch.cat(chosen, dim=1), n)]
    if pattern.global_nodes:
        hubs = select_global_nodes(pos, node_type, pattern.global_nodes)
        parts.append(global_node_pattern(hubs, n))
    return union(*parts).edge_index


@dataclass(frozen=True)
class MeshGraph:
    """Static tensors of one mesh, shared by every frame graph on it.

    Attributes:
        pos: ``[N, 2]`` float32 positions, m.
        face: ``[3, T]`` long triangles (PyG ``face`` convention, offset when batched).
        node_type: ``[N]`` long codes.
        one_hot: ``[N, 4]`` float32 node-type one-hot.
        edge_index: ``[2, E]`` long, both directions of every triangle side.
        edge_attr: ``[E, 3]`` float32 ``(dx, dy, |d|)``, m.
        pattern_index: ``[2, P]`` long attention pattern, or None without attention.
    """

    pos: Tensor
    face: Tensor
    node_type: Tensor
    one_hot: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    pattern_index: Tensor | None

    @property
    def num_nodes(self) -> int:
        """``N``."""
        return int(self.pos.size(0))


def mesh_graph(
    points: np.ndarray | Tensor,
    triangles: np.ndarray | Tensor,
    node_type: np.ndarray | Tensor,
    config: MeshConfig,
) -> MeshGraph:
    """Build the static graph of a mesh: edges from triangles, edge features, pattern.

    Args:
        points: ``[N, 2]`` positions, m.
        triangles: ``[T, 3]`` vertex indices.
        node_type: ``[N]`` MeshGraphNets codes.
        config: decides whether an attention pattern is built, and which.
    """
    pos = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    types = torch.as_tensor(np.asarray(node_type), dtype=torch.long)
    tri = torch.as_tensor(np.asarray(triangles), dtype=torch.long)
    edge_index = edges_from_triangles(tri, int(pos.size(0)))
    edge_attr = relative_position_features(pos, edge_index).to(torch.float32)
    pattern = (
        attention_pattern(edge_index, pos, types, config.pattern) if config.uses_attention else None
    )
    return MeshGraph(
        pos=pos.to(torch.float32),
        face=tri.t().contiguous(),
        node_type=types,
        one_hot=node_type_one_hot(types),
        edge_index=edge_index,
        edge_attr=edge_attr,
        pattern_index=pattern,
    )


def frame_graph(
    mesh: MeshGraph,
    velocities: Tensor,
    target: Tensor | None,
    pressure: Tensor | None = None,
    geometry: bool = False,
) -> Data:
    """One frame as a graph.

    Args:
        mesh: static tensors of the mesh (shared, not copied).
        velocities: ``[H + 1, N, 2]`` velocity at ``t, t-1, ..., t-H``, m/s.
        target: ``[N, 3]`` ``(du, dv, p_next)``, or None (NaN: unknown).
        pressure: ``[N]`` pressure at ``t`` as the last node feature, or None (not an input).
        geometry: also attach ``pos`` and ``face`` (for writing predicted fields).

    Returns:
        ``Data`` with ``x [N, 4 + 2(H+1) (+1)]``, ``edge_index``, ``edge_attr``,
        ``pattern_index`` (with attention), ``node_type``, ``y [N, 3]``.
    """
    n = mesh.num_nodes
    if velocities.dim() != 3 or velocities.shape[1:] != (n, 2):
        raise ValueError(f"velocities must be [H+1, {n}, 2], got {tuple(velocities.shape)}")
    columns = [mesh.one_hot, velocities.to(torch.float32).permute(1, 0, 2).reshape(n, -1)]
    if pressure is not None:
        columns.append(pressure.to(torch.float32).reshape(n, 1))
    y = torch.full((n, 3), float("nan")) if target is None else target.to(torch.float32)
    data = Data(
        x=torch.cat(columns, dim=1),
        edge_index=mesh.edge_index,
        edge_attr=mesh.edge_attr,
        node_type=mesh.node_type,
        y=y,
    )
    if mesh.pattern_index is not None:
        data.pattern_index = mesh.pattern_index
    if geometry:
        data.pos = mesh.pos
        data.face = mesh.face
    return data


def _window(velocity: np.ndarray | Tensor, t: int, history: int, stride: int = 1) -> Tensor:
    """``[H + 1, N, 2]`` velocities at ``t, t - s, ..., t - H s`` (``s = stride``)."""
    first = t - history * stride
    frames = np.asarray(velocity[first : t + 1 : stride])
    return torch.as_tensor(frames, dtype=torch.float32).flip(0)


def _pressure(trajectory: MeshTrajectory, t: int, config: MeshConfig) -> Tensor | None:
    if not config.pressure_input:
        return None
    return torch.as_tensor(np.asarray(trajectory.pressure[t]), dtype=torch.float32)


def model_targets(y: Tensor, x: Tensor, config: MeshConfig) -> Tensor:
    """Physical targets of the model's three outputs: ``(du, dv, p_next - p_t)`` with
    ``pressure_input``, else ``(du, dv, p_next)``.

    Args:
        y: ``[N, 3]`` ``(du, dv, p_next)``.
        x: ``[N, F]`` raw node features (for ``p_t``).
        config: says whether pressure is an input.
    """
    column = config.pressure_column
    if column is None:
        return y
    return torch.cat([y[:, :2], y[:, 2:3] - x[:, column : column + 1]], dim=1)


def one_step_target(trajectory: MeshTrajectory, t: int, stride: int = 1) -> Tensor:
    """``[N, 3]`` ``(u_{t+s} - u_t, v_{t+s} - v_t, p_{t+s})`` from frames ``t`` and ``t + s``
    (``s = stride``, the stored frames one model step advances)."""
    velocity = np.asarray(trajectory.velocity[t : t + stride + 1 : stride])
    velocity = torch.as_tensor(velocity, dtype=torch.float64)
    pressure = torch.as_tensor(np.asarray(trajectory.pressure[t + stride]), dtype=torch.float64)
    return torch.cat([velocity[1] - velocity[0], pressure[:, None]], dim=1).to(torch.float32)


def valid_frames(num_frames: int, history: int, ahead: int = 1, stride: int = 1) -> range:
    """Frames ``t`` with ``history`` previous model steps and ``ahead`` next ones, each
    ``stride`` stored frames long: ``H s <= t < F - ahead s``."""
    return range(history * stride, num_frames - ahead * stride)


def future_states(trajectory: MeshTrajectory, t: int, ahead: int, stride: int = 1) -> Tensor:
    """``[N, ahead, 3]`` ``(u, v, p)`` at frames ``t + s, ..., t + ahead s`` (pushforward
    targets; ``s = stride``)."""
    chosen = slice(t + stride, t + ahead * stride + 1, stride)
    velocity = np.asarray(trajectory.velocity[chosen], dtype=np.float32)
    pressure = np.asarray(trajectory.pressure[chosen], dtype=np.float32)
    states = np.concatenate([velocity, pressure[..., None]], axis=-1)
    return torch.from_numpy(states).permute(1, 0, 2).contiguous()


def trajectory_frames(
    trajectory: MeshTrajectory,
    config: MeshConfig,
    frames: Iterable[int] | None = None,
    mesh: MeshGraph | None = None,
    ahead: int = 1,
) -> list[Data]:
    """Training/evaluation graphs of a trajectory, one per frame ``t`` (target from ``t+1``).

    Args:
        trajectory: the frames.
        config: history length and pattern.
        frames: which ``t`` (default: every valid one, :func:`valid_frames`).
        mesh: its static graph, if already built.
        ahead: with ``ahead > 1`` each graph also holds ``future [N, ahead, 3]``
            (:func:`future_states`, for pushforward training).
    """
    mesh = mesh or mesh_graph(trajectory.points, trajectory.triangles, trajectory.node_type, config)
    stride = config.frame_stride
    allowed = valid_frames(trajectory.num_frames, config.history, ahead, stride)
    graphs = []
    for t in allowed if frames is None else frames:
        if t not in allowed:
            raise ValueError(
                f"frame {t} has fewer than {ahead} next model step(s) or fewer than "
                f"{config.history} previous ones ({stride} frame(s) per step; the trajectory "
                f"has {trajectory.num_frames} frames)"
            )
        window = _window(trajectory.velocity, t, config.history, stride)
        target = one_step_target(trajectory, t, stride)
        graph = frame_graph(mesh, window, target, _pressure(trajectory, t, config))
        if ahead > 1:
            graph.future = future_states(trajectory, t, ahead, stride)
        graphs.append(graph)
    return graphs


def initial_graph(source: MeshState | MeshTrajectory, config: MeshConfig, start: int = 0) -> Data:
    """The graph a rollout starts from, with ``pos``/``face``/``pressure``/``time`` attached.

    A :class:`MeshState` is one frame (needs ``history == 0``). A :class:`MeshTrajectory`
    starts at frame ``max(start, history)``; the one-step target ``y`` is filled when the
    next frame exists.

    Raises:
        ValueError: a single state for a model that needs previous frames, or ``start`` out
            of range.
    """
    mesh = mesh_graph(source.points, source.triangles, source.node_type, config)
    if isinstance(source, MeshState):
        if config.history:
            raise ValueError(
                f"this model needs {config.history} previous frame(s); give an H5 or XDMF "
                "trajectory instead of a single mesh"
            )
        window = torch.as_tensor(source.velocity, dtype=torch.float32)[None]
        target, time = None, source.time
        pressure = torch.as_tensor(source.pressure, dtype=torch.float32)
    else:
        stride = config.frame_stride
        t = max(start, config.history * stride)
        if t >= source.num_frames:
            raise ValueError(
                f"start frame {t} is beyond the trajectory's {source.num_frames} frames "
                f"(the model needs {config.history} previous frame(s))"
            )
        window = _window(source.velocity, t, config.history, stride)
        target = one_step_target(source, t, stride) if t + stride < source.num_frames else None
        time = float(source.times[t])
        pressure = torch.as_tensor(np.asarray(source.pressure[t]), dtype=torch.float32)
    data = frame_graph(
        mesh, window, target, pressure if config.pressure_input else None, geometry=True
    )
    data.pressure = pressure
    data.time = torch.tensor([float("nan") if time is None else time], dtype=torch.float64)
    return data


# -- normalisers --------------------------------------------------------------------------


class RunningMoments:
    """Streaming mean and standard deviation per column, accumulated in float64.

    Args:
        width: number of columns ``D``.
    """

    def __init__(self, width: int) -> None:
        self.count = 0
        self.total = torch.zeros(width, dtype=torch.float64)
        self.total_sq = torch.zeros(width, dtype=torch.float64)

    def update(self, values: Tensor) -> None:
        """Add ``values [M, D]`` (rows with NaN are skipped)."""
        values = values.reshape(-1, self.total.numel()).double()
        values = values[~torch.isnan(values).any(dim=1)]
        self.count += int(values.size(0))
        self.total += values.sum(dim=0)
        self.total_sq += (values**2).sum(dim=0)

    def mean(self) -> tuple[float, ...]:
        """Column means (0 before any update)."""
        return tuple((self.total / max(self.count, 1)).tolist())

    def std(self, floor: float = 1e-8) -> tuple[float, ...]:
        """Column standard deviations; 1.0 for a column with (near) zero spread."""
        mean = self.total / max(self.count, 1)
        var = (self.total_sq / max(self.count, 1) - mean**2).clamp_min(0.0)
        return tuple(float(s) if s > floor else 1.0 for s in var.sqrt().tolist())


def fit_normalisers(
    config: MeshConfig, sources: Iterable[tuple[MeshTrajectory, Sequence[int]]]
) -> MeshConfig:
    """Warm-up pass: statistics of inputs, edges and targets over the training frames.

    Velocity and pressure statistics are over all nodes of every chosen frame; the velocity
    change over the updated (normal + outflow) nodes only and the pressure target over all
    nodes, as the loss sees them; edge statistics once per mesh. Noise is not included. One
    trajectory is held at a time.

    Args:
        config: the config to fill (its other fields are kept).
        sources: ``(trajectory, frames t)`` pairs of the training split.

    Returns:
        ``config`` with ``velocity_*``, ``pressure_*``, ``edge_*`` and ``target_*``
        statistics, and the training domain (``train_nodes``, ``train_inflow_speed``,
        ``train_extent``) for the applicability flags.

    Raises:
        ValueError: no frames at all.
    """
    velocity, pressure, edges = RunningMoments(2), RunningMoments(1), RunningMoments(3)
    change, pressure_target = RunningMoments(2), RunningMoments(1)
    nodes, speeds, extents = [], [], []
    for trajectory, frames in sources:
        frames = list(frames)
        if not frames:
            continue
        nodes.append(float(trajectory.num_nodes))
        extents.append(float(np.ptp(np.asarray(trajectory.points), axis=0).max()))
        inflow = np.asarray(trajectory.node_type) == NodeType.INFLOW
        if inflow.any():
            inflow_velocity = np.asarray(trajectory.velocity)[:, inflow]
            speeds.append(float(np.hypot(inflow_velocity[..., 0], inflow_velocity[..., 1]).max()))
        pos = torch.as_tensor(np.asarray(trajectory.points), dtype=torch.float64)
        edge_index = edges_from_triangles(trajectory.triangles, trajectory.num_nodes)
        edges.update(relative_position_features(pos, edge_index))
        updated = updated_mask(torch.as_tensor(trajectory.node_type))
        for t in frames:
            current = torch.as_tensor(np.asarray(trajectory.pressure[t]), dtype=torch.float32)
            velocity.update(torch.as_tensor(np.asarray(trajectory.velocity[t])))
            pressure.update(current[:, None])
            target = one_step_target(trajectory, t, config.frame_stride)
            if config.pressure_input:  # the same targets as model_targets
                target[:, 2] -= current
            change.update(target[updated, :2])
            pressure_target.update(target[:, 2:])
    if velocity.count == 0:
        raise ValueError("no training frames to fit the normalisers on")
    return config.replace(
        velocity_mean=velocity.mean(),
        velocity_std=velocity.std(),
        pressure_mean=pressure.mean(),
        pressure_std=pressure.std(),
        edge_mean=edges.mean(),
        edge_std=edges.std(),
        target_mean=change.mean() + pressure_target.mean(),
        target_std=change.std() + pressure_target.std(),
        train_nodes=(min(nodes), max(nodes)),
        train_inflow_speed=(min(speeds), max(speeds)) if speeds else config.train_inflow_speed,
        train_extent=(min(extents), max(extents)),
    )


# -- training noise -----------------------------------------------------------------------


def add_input_noise(
    graph: Data, std: float, generator: torch.Generator, pressure_column: int | None = None
) -> Data:
    """A copy of ``graph`` with Gaussian noise on the current inputs of normal nodes.

    Velocity: ``x[:, 4:6] += n`` and ``y[:, :2] -= n`` (MeshGraphNets' noise correction: the
    target becomes ``u_{t+1} - (u_t + n)``, so the model learns to pull a perturbed state
    back, which keeps long rollouts stable). Pressure (when ``pressure_column`` is given):
    ``x[:, column] += n_p``; ``y`` holds the absolute next pressure, so the pressure-change
    target ``p_{t+1} - (p_t + n_p)`` is corrected by construction. Other tensors are shared
    with ``graph``.

    Args:
        graph: a frame graph (:func:`frame_graph`) or a batch of them.
        std: noise standard deviation, m/s for velocity and m^2/s^2 for pressure (0 returns
            ``graph``).
        generator: explicit RNG.
        pressure_column: node-feature column of the input pressure, or None.
    """
    if std <= 0:
        return graph
    normal = (graph.node_type == int(NodeType.NORMAL)).to(graph.x.dtype)[:, None]
    width = 2 if pressure_column is None else 3
    noise = torch.randn(graph.num_nodes, width, generator=generator).to(graph.x) * std * normal
    noisy = copy.copy(graph)
    x = graph.x.clone()
    x[:, VELOCITY_START : VELOCITY_START + 2] += noise[:, :2]
    if pressure_column is not None:
        x[:, pressure_column] += noise[:, 2]
    y = graph.y.clone()
    y[:, :2] -= noise[:, :2]
    noisy.x, noisy.y = x, y
    return noisy
