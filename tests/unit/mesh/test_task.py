from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from scisuite.core.records import Record, RecordError
from scisuite.domains.mesh.examples import example_trajectories
from scisuite.domains.mesh.features import initial_graph, model_targets
from scisuite.domains.mesh.readers import MeshInput
from scisuite.domains.mesh.rollout import rollout_batch
from scisuite.domains.mesh.task import MeshTask, applicability_flags

TASK = MeshTask()


def test_featurize_takes_the_options_or_a_bare_mesh() -> None:
    config = TASK.default_config()
    trajectory = example_trajectories(frames=4)[0]
    graph = TASK.featurize(Record("a", MeshInput(trajectory, 3, 1)), config)
    assert int(graph.rollout_steps[0]) == 3
    assert float(graph.time[0]) == pytest.approx(trajectory.times[1])
    bare = TASK.featurize(Record("b", trajectory.state(0)), config)
    assert int(bare.rollout_steps[0]) == config.rollout_steps
    with pytest.raises(RecordError, match="expected a mesh state"):
        TASK.featurize(Record("c", MeshInput("not a mesh")), config)  # type: ignore[arg-type]
    with pytest.raises(RecordError, match="beyond"):
        TASK.featurize(Record("d", MeshInput(trajectory, None, 9)), config)


def test_loss_and_evaluation_arrays(data) -> None:
    config = data.config
    batch = Batch.from_data_list(data.val[:2])
    mean, std = torch.tensor(config.target_mean), torch.tensor(config.target_std)
    perfect = (model_targets(batch.y, batch.x, config) - mean) / std
    boundary = ~TASK.metric_subsets(batch, config)["updated"]
    garbage = perfect.clone()
    garbage[boundary, :2] = 1e6  # boundary velocities are not in the loss (pressure is)
    assert TASK.loss(garbage, batch, config).item() == pytest.approx(0.0, abs=1e-10)
    assert TASK.loss(perfect + 1.0, batch, config).item() == pytest.approx(1.0)
    pred, target = TASK.evaluation_arrays(perfect, batch, config)
    torch.testing.assert_close(pred, target, atol=1e-5, rtol=0)


def test_evaluation_arrays_are_one_rollout_step(data) -> None:
    """The one-step metrics and the rollout use the same integrator."""
    config = data.config
    trajectory = example_trajectories(frames=3)[1]
    batch = Batch.from_data_list([initial_graph(trajectory, config)])
    torch.manual_seed(0)
    model = TASK.build_model(config).eval()
    with torch.inference_mode():
        outputs = model(batch)
    pred, _ = TASK.evaluation_arrays(outputs, batch, config)
    frames = rollout_batch(model, config, batch, 1)
    assert torch.equal(pred, frames[:, 1])


def test_a_short_training_reduces_the_loss(data) -> None:
    torch.manual_seed(0)
    model = TASK.build_model(data.config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = Batch.from_data_list(list(data.train[:4]))  # clean frames (noise is per step)
    losses = []
    for _ in range(40):
        loss = TASK.loss(model(batch), batch, data.config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_resource_limits_are_per_record_errors_that_say_how_to_raise_them() -> None:
    config = TASK.default_config()
    state = example_trajectories(frames=2)[0].state(0)
    with pytest.raises(RecordError, match=rf"{state.num_nodes:,} nodes, above the limit of 10 "):
        TASK.featurize(Record("big", MeshInput(state, max_nodes=10)), config)
    with pytest.raises(RecordError, match=f"--max-nodes {state.num_nodes}"):
        TASK.featurize(Record("big", MeshInput(state)), config.replace(max_nodes=10))
    with pytest.raises(RecordError, match="--steps 20 is above the limit of 5 .*--max-steps 20"):
        TASK.featurize(Record("long", MeshInput(state, 20, max_steps=5)), config)
    with pytest.raises(RecordError, match="above the limit of 10,000 rollout steps"):
        TASK.featurize(Record("long", MeshInput(state, 10_001)), config)
    graph = TASK.featurize(Record("ok", MeshInput(state, 5, max_steps=5)), config)
    assert int(graph.rollout_steps[0]) == 5
    # frames of 78 nodes x 11 stored steps x 48 B = 41,184 B: over a 40,000 B budget
    tight = MeshInput(state, 10, max_frames_gib=40_000 / 2**30)
    with pytest.raises(RecordError, match=r"above the limit of .* GiB.*use at most --steps 9"):
        TASK.featurize(Record("frames", tight), config)


def test_applicability_flags_name_what_is_outside_the_training_domain() -> None:
    state = example_trajectories(frames=2)[0].state(0)
    inflow = state.node_type == 4
    speed = float(np.hypot(*state.velocity[inflow].T).max())
    extent = float(np.ptp(state.points, axis=0).max())
    inside = TASK.default_config().replace(
        train_nodes=(state.num_nodes, state.num_nodes),
        train_inflow_speed=(speed, speed),
        train_extent=(extent, extent),
    )
    assert applicability_flags(state, inside) == []
    outside = inside.replace(
        train_nodes=(1.0, 2.0), train_inflow_speed=(10.0, 20.0), train_extent=(0.0, 0.5)
    )
    assert applicability_flags(state, outside) == [
        "nodes>max_train(2)",
        "inflow_speed<min_train(10)",
        "extent>max_train(0.5)",
    ]
    graph = TASK.featurize(Record("x", MeshInput(state)), outside)
    assert (
        graph.applicability == "nodes>max_train(2);inflow_speed<min_train(10);extent>max_train(0.5)"
    )
