from __future__ import annotations

import dataclasses
import math

import meshio
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from scisuite.core.plugin import Predicted
from scisuite.core.records import Record
from scisuite.domains.mesh.examples import example_trajectories
from scisuite.domains.mesh.postprocess import PredictedRollout, output_columns, postprocess
from scisuite.domains.mesh.readers import MeshInput
from scisuite.domains.mesh.rollout import MeshPrediction, start_times
from scisuite.domains.mesh.task import MeshTask
from scisuite.domains.mesh.xdmf import XdmfPredictionSink

TASK = MeshTask()


def _batch(steps=(2, 4)):
    config = TASK.default_config()
    records = [
        Record(f"r{i}", MeshInput(t.state(0), s))
        for i, (t, s) in enumerate(zip(example_trajectories(), steps, strict=True))
    ]
    return config, Batch.from_data_list([TASK.featurize(r, config) for r in records])


def test_rows_and_rollouts_are_cut_to_each_meshs_steps() -> None:
    config, batch = _batch()
    torch.manual_seed(0)
    model = TASK.build_model(config).eval()
    prediction = model.predict(batch)
    assert prediction.frames.shape[1] == 5 and prediction.steps.tolist() == [2, 4]
    results = postprocess(prediction, batch, config)
    assert len(results) == 2
    for result, steps in zip(results, (2, 4), strict=True):
        assert set(result.row) == set(output_columns(config)) - {"id", "source"}
        assert result.row["steps"] == steps and result.row["num_nodes"] == 78
        assert result.row["t_start"] == 3.0 and result.row["t_end"] == pytest.approx(
            3.0 + 0.01 * steps
        )
        rollout = result.item
        assert isinstance(rollout, PredictedRollout)
        assert rollout.velocity.shape == (steps + 1, 78, 2)
        assert rollout.pressure.shape == (steps + 1, 78)
        assert rollout.times.dtype == np.float64 and len(rollout.times) == steps + 1
        assert rollout.points.shape == (78, 2) and rollout.triangles.shape[1] == 3
    own = prediction.frames[78:, :5].permute(1, 0, 2)
    assert np.array_equal(results[1].item.velocity, own[..., :2].numpy())


def test_unknown_times_start_at_zero() -> None:
    config, batch = _batch()
    batch.time = torch.tensor([float("nan"), 2.5], dtype=torch.float64)
    assert start_times(batch).tolist() == [0.0, 2.5]
    frames = torch.zeros(batch.num_nodes, 3, 3)
    prediction = MeshPrediction(frames, torch.tensor([2, 0]), start_times(batch))
    rows = [p.row for p in postprocess(prediction, batch, config)]
    assert rows[0]["t_start"] == 0.0 and rows[1]["t_end"] == 2.5
    assert math.isnan(rows[1]["mean_pressure"])  # no step predicted


def _predicted(record_id: str, status: str = "ok", frames: int = 3) -> Predicted:
    t = example_trajectories(frames=frames)[0]
    item = PredictedRollout(t.points, t.triangles, t.node_type, t.times, t.velocity, t.pressure)
    return Predicted({"id": record_id, "status": status}, item if status == "ok" else None)


def test_xdmf_sink_writes_one_series_to_the_path(tmp_path) -> None:
    sink = XdmfPredictionSink(tmp_path / "out.xdmf", TASK.default_config())
    sink.write(_predicted("only"))
    sink.write(_predicted("bad", "error"))
    assert not list(tmp_path.iterdir()), "one pending rollout, nothing written yet"
    assert sink.close() == [tmp_path / "out.xdmf"]
    with meshio.xdmf.TimeSeriesReader(tmp_path / "out.xdmf") as reader:
        points, cells = reader.read_points_cells()
        assert reader.num_steps == 3 and cells[0].type == "triangle"
        t, point_data, _ = reader.read_data(2)
        assert point_data["velocity"].shape == (len(points), 2)
        assert point_data["node_type"].shape == (len(points),)
        assert t == pytest.approx(3.02)


def test_xdmf_sink_streams_several_series(tmp_path) -> None:
    sink = XdmfPredictionSink(tmp_path / "many.xdmf")
    sink.write(_predicted("a/1"))
    sink.write(_predicted("b"))
    assert (tmp_path / "many.a_1.xdmf").exists() and (tmp_path / "many.b.h5").exists()
    sink.write(_predicted("c"))
    assert [p.name for p in sink.close()] == ["many.a_1.xdmf", "many.b.xdmf", "many.c.xdmf"]
    aborted = XdmfPredictionSink(tmp_path / "gone.xdmf")
    aborted.write(_predicted("x"))
    aborted.write(_predicted("y"))
    aborted.abort()
    assert not list(tmp_path.glob("gone.*"))


def test_xdmf_sink_without_a_success_says_so(tmp_path) -> None:
    sink = XdmfPredictionSink(tmp_path / "none.xdmf")
    sink.write(_predicted("bad", "error"))
    with pytest.raises(ValueError, match="no prediction succeeded, nothing to write"):
        sink.close()


def test_xdmf_sink_without_a_success_names_each_failed_mesh_and_its_reason(tmp_path) -> None:
    # With -o flow.xdmf the reason used to reach only the .csv table beside it.
    sink = XdmfPredictionSink(tmp_path / "none.xdmf")
    for i in range(7):
        sink.write(Predicted({"id": f"m{i}", "status": "error", "error": f"reason {i}"}))
    with pytest.raises(ValueError, match=r"(?s)m0: reason 0\n.*m4: reason 4\n  \.\.\. and 2 more"):
        sink.close()


def test_rows_carry_the_readers_notes_and_the_applicability_flags() -> None:
    config = TASK.default_config().replace(train_nodes=(1.0, 2.0))
    state = example_trajectories()[0].state(0)
    noted = dataclasses.replace(state, notes=("3 quad cell(s) split into 6 triangles",))
    graphs = [
        TASK.featurize(Record(i, MeshInput(s, 1)), config) for i, s in (("a", state), ("b", noted))
    ]
    batch = Batch.from_data_list(graphs)
    model = TASK.build_model(config).eval()
    rows = [r.row for r in postprocess(model.predict(batch), batch, config)]
    assert [r["notes"] for r in rows] == ["", "3 quad cell(s) split into 6 triangles"]
    assert all(r["applicability"].startswith("nodes>max_train(2)") for r in rows)
    assert all(set(r) == set(output_columns(config)) - {"id", "source"} for r in rows)
