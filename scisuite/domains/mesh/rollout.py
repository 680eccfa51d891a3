"""Autoregressive rollout: integrate a one-step model over many steps on a fixed mesh.

Each step (MeshGraphNets' integrator for incompressible flow, Pfaff et al. 2021):

1. the model maps the current graph to normalised ``(du, dv, dp)``; they are de-normalised
   with the config's target statistics;
2. forward Euler on the updated (normal, outflow) nodes: ``u <- u + du``; pressure on every
   node: ``p <- p + dp`` (with ``pressure_input``; without it ``p`` is taken as predicted,
   MeshGraphNets' convention);
3. boundary conditions are reset: inflow nodes keep their initial velocity, walls zero;
4. the history window shifts by one frame.

The graph (edges, pattern) is built once and reused; only the node features change, so
memory is that of one step plus the ``[S + 1, N, 3]`` outputs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from scisuite.domains.mesh.config import VELOCITY_START, MeshConfig, NodeType
from scisuite.domains.mesh.features import initial_graph, updated_mask
from scisuite.domains.mesh.io import MeshState, MeshTrajectory
from scisuite.domains.mesh.metrics import RolloutErrors

StepModel = Callable[[Data | Batch], Tensor]
"""``model(graph) -> [N, 3]`` normalised ``(du, dv, dp)`` (a :class:`MeshModel`)."""


@dataclass(frozen=True)
class MeshPrediction:
    """What :meth:`MeshModel.predict <scisuite.domains.mesh.model.MeshModel.predict>` gives
    for a batch: one rollout per graph, run together for the longest one.

    Attributes:
        frames: ``[N, S + 1, 3]`` float32 ``(u, v, p)`` in physical units, node-major (rows
            split by ``batch.ptr``); frame 0 is the input state.
        steps: ``[G]`` steps asked for per graph (``<= S``; graph ``g`` keeps frames
            ``0..steps[g]``).
        start_times: ``[G]`` float64 time of frame 0 per graph, s (:func:`start_times`).
    """

    frames: Tensor
    steps: Tensor
    start_times: Tensor


def start_times(batch: Data | Batch) -> Tensor:
    """``[G]`` float64 time of each graph's initial state, s: its ``time``, or 0 where unknown
    (the one place a rollout's start time is decided)."""
    time = getattr(batch, "time", None)
    if time is None:
        return torch.zeros(int(getattr(batch, "num_graphs", 1)), dtype=torch.float64)
    time = time.detach().to(device="cpu", dtype=torch.float64).reshape(-1)
    return torch.nan_to_num(time, nan=0.0)


def frame_times(start: float, steps: int, dt: float) -> np.ndarray:
    """``[steps + 1]`` float64 times of a rollout's frames, s."""
    return start + dt * np.arange(steps + 1)


def integrate(
    outputs: Tensor, x: Tensor, node_type: Tensor, config: MeshConfig
) -> tuple[Tensor, Tensor]:
    """One integrator step from the model's normalised outputs.

    De-normalises ``outputs [N, 3]`` with the config's target statistics, integrates the
    velocity of the updated (normal, outflow) nodes and the pressure (or takes the predicted
    pressure without ``pressure_input``), zeroes the wall velocities and shifts the history
    window. Inflow (and other boundary) nodes keep the velocity they have, which in a
    rollout is their initial velocity.

    Args:
        outputs: ``[N, 3]`` normalised ``(du, dv, dp)`` (``p_next`` instead of ``dp``
            without ``pressure_input``).
        x: ``[N, F]`` float32 physical node features of the current state.
        node_type: ``[N]`` codes.
        config: target statistics and history length.

    Returns:
        the next node features ``[N, F]`` and the next state ``[N, 3]`` ``(u, v, p)``.
    """
    start, end = VELOCITY_START, VELOCITY_START + 2 * (config.history + 1)
    mean = torch.tensor(config.target_mean, dtype=torch.float32, device=x.device)
    std = torch.tensor(config.target_std, dtype=torch.float32, device=x.device)
    delta = outputs.to(torch.float32) * std + mean
    velocity = x[:, start : start + 2]
    new = torch.where(updated_mask(node_type)[:, None], velocity + delta[:, :2], velocity)
    wall = (node_type == int(NodeType.WALL))[:, None]
    new = torch.where(wall, torch.zeros_like(new), new)
    if config.pressure_input:
        pressure = x[:, end] + delta[:, 2]
        extra = [pressure[:, None]]
    else:
        pressure, extra = delta[:, 2], []
    following = torch.cat([x[:, :start], new, x[:, start : end - 2], *extra], dim=1)
    return following, torch.cat([new, pressure[:, None]], dim=1)


def pushforward_batch(model: StepModel, batch: Batch, depth: int, config: MeshConfig) -> Batch:
    """The training batch of pushforward depth ``depth`` (Brandstetter et al. 2022).

    The model rolls ``batch`` forward ``depth - 1`` steps without gradient (the integrator
    and boundary conditions of a real rollout); the returned batch holds that state as
    ``x`` and, as ``y``, the change to the true state ``depth`` frames after the start
    (``batch.future[:, depth - 1]``), so one training step teaches the model to correct its
    own rollout error. ``depth == 1`` returns ``batch``.

    Args:
        model: the model being trained (its mode is left as it is).
        batch: frame graphs with ``future [N, K, 3]``, ``K >= depth``.
        depth: unrolled steps including the trained one.
        config: normalisers and history.
    """
    if depth <= 1:
        return batch
    future = getattr(batch, "future", None)
    if future is None or future.size(1) < depth:
        have = 0 if future is None else future.size(1)
        raise ValueError(
            f"pushforward depth {depth} needs {depth} future frames, the batch has {have}"
        )
    x = batch.x
    work = copy.copy(batch)
    with torch.no_grad():
        for _ in range(depth - 1):
            work.x = x
            x, _ = integrate(model(work), x, batch.node_type, config)
    truth = future[:, depth - 1].to(x.dtype)
    velocity = x[:, VELOCITY_START : VELOCITY_START + 2]
    work.x = x.detach()
    work.y = torch.cat([truth[:, :2] - velocity, truth[:, 2:3]], dim=1)
    return work


def rollout_batch(
    model: StepModel,
    config: MeshConfig,
    batch: Data | Batch,
    steps: int,
    on_step: Callable[[int], None] | None = None,
) -> Tensor:
    """Roll every graph of ``batch`` forward ``steps`` steps.

    Args:
        model: one-step model (put in eval mode for the rollout, then restored).
        config: target statistics, history length.
        batch: featurized graph(s); the initial pressure is ``batch.pressure [N]`` or, with
            ``pressure_input``, the pressure column of ``x``.
        steps: number of steps ``S >= 0``.
        on_step: called with the step number after each step (progress).

    Returns:
        ``[N, S + 1, 3]`` float32 ``(u, v, p)`` in physical units, node-major (so rows split
        by ``batch.ptr``); frame 0 is the input state (pressure NaN if unknown).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x = batch.x.detach().to(torch.float32).clone()
    start, end = VELOCITY_START, VELOCITY_START + 2 * (config.history + 1)
    frames = torch.empty(x.size(0), steps + 1, 3, dtype=torch.float32, device=x.device)
    frames[:, 0, :2] = x[:, start : start + 2]
    pressure = getattr(batch, "pressure", None)
    if pressure is None and config.pressure_input:
        pressure = x[:, end]
    frames[:, 0, 2] = float("nan") if pressure is None else pressure.to(torch.float32)
    work = copy.copy(batch)
    was_training = getattr(model, "training", False)
    if isinstance(model, torch.nn.Module):
        model.eval()
    try:
        with torch.inference_mode():
            for step in range(1, steps + 1):
                work.x = x
                x, frames[:, step] = integrate(model(work), x, batch.node_type, config)
                if on_step is not None:
                    on_step(step)
    finally:
        if isinstance(model, torch.nn.Module):
            model.train(was_training)
    return frames


@dataclass
class Rollout:
    """A predicted trajectory on one mesh.

    Attributes:
        velocity: ``[S + 1, N, 2]`` float32, m/s; frame 0 is the initial state.
        pressure: ``[S + 1, N]`` float32 (frame 0: the initial pressure, NaN if unknown).
        times: ``[S + 1]`` float64, s (from the initial state's time, or 0).
        seconds_per_step: mean wall-clock time of one model step, s.
        errors: RMSE against ``reference`` (see :class:`RolloutErrors`), when one was given.
    """

    velocity: Tensor
    pressure: Tensor
    times: Tensor
    seconds_per_step: float
    errors: RolloutErrors | None = field(default=None)

    @property
    def steps(self) -> int:
        """``S``."""
        return int(self.velocity.size(0)) - 1


def rollout(
    model: StepModel,
    config: MeshConfig,
    initial_state: Data | MeshState | MeshTrajectory,
    steps: int,
    reference: MeshTrajectory | None = None,
) -> Rollout:
    """Autoregressive rollout of ``steps`` steps from one state.

    Args:
        model: one-step model (:class:`~scisuite.domains.mesh.model.MeshModel`).
        config: the model's config (normalisers, history, dt).
        initial_state: a featurized graph (:func:`~scisuite.domains.mesh.features.initial_graph`),
            a :class:`MeshState`, or a :class:`MeshTrajectory` (starts at frame ``history``).
        steps: number of steps ``S``.
        reference: ground truth whose frame ``k s`` matches rollout frame ``k`` (``s`` the
            config's ``frame_stride``; for a trajectory input, pass the same trajectory:
            frames before ``history s`` are skipped); errors are computed on the
            overlapping frames.

    Returns:
        the predicted frames and, with ``reference``, their errors.
    """
    graph = (
        initial_state if isinstance(initial_state, Data) else initial_graph(initial_state, config)
    )
    batch = Batch.from_data_list([graph])
    begin = time.perf_counter()
    frames = rollout_batch(model, config, batch, steps)
    elapsed = time.perf_counter() - begin
    velocity = frames[:, :, :2].permute(1, 0, 2).contiguous()
    pressure = frames[:, :, 2].t().contiguous()
    times = torch.as_tensor(frame_times(float(start_times(batch)[0]), steps, config.dt))
    result = Rollout(velocity, pressure, times, elapsed / max(steps, 1))
    if reference is not None:
        stride = config.frame_stride
        offset = config.history * stride if isinstance(initial_state, MeshTrajectory) else 0
        available = min(steps + 1, (reference.num_frames - 1 - offset) // stride + 1)
        frames = slice(offset, offset + (available - 1) * stride + 1, stride)
        errors = RolloutErrors()
        errors.update(
            velocity[:available],
            pressure[:available],
            torch.as_tensor(np.asarray(reference.velocity[frames])),
            torch.as_tensor(np.asarray(reference.pressure[frames])),
            graph.node_type,
        )
        result.errors = errors
    return result
