from __future__ import annotations

import json

import meshio
import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from scisuite import api
from scisuite.cli import main
from scisuite.core.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from scisuite.core.plugin import DomainPlugin, TrainRequest
from scisuite.core.records import BadRecord, Record
from scisuite.core.registry import PluginRegistry
from scisuite.domains.mesh import plugin as mesh_plugin
from scisuite.domains.mesh.config import MeshConfig
from scisuite.domains.mesh.features import NoisyFrames, model_targets
from scisuite.domains.mesh.io import MeshTrajectory, write_h5_trajectory
from scisuite.domains.mesh.plugin import (
    PLUGIN,
    example_trajectories,
    read_records,
    rollout_report,
    split_trajectories,
    write_prediction_xdmf,
)

REGISTRY = PluginRegistry(plugins=[PLUGIN], use_entry_points=False)
TINY = {"backbone.d_model": 16, "backbone.num_heads": 2, "backbone.num_layers": 1}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Four small trajectories of 8 frames in a generated-data-set layout."""
    out = tmp_path_factory.mktemp("cylinder")
    base = example_trajectories(frames=8)
    for index in range(4):
        source = base[index % 2]
        scale = 1.0 + 0.1 * index
        trajectory = MeshTrajectory(
            source.points,
            source.triangles,
            source.node_type,
            source.velocity * scale,
            source.pressure * scale,
            source.times,
        )
        write_h5_trajectory(out / f"traj_{index:05d}.h5", trajectory, {"dt": 0.01})
    return out


@pytest.fixture(scope="module")
def data(dataset):
    return PLUGIN.build_training_data(TrainRequest(data=dataset, seed=0, model_overrides=TINY))


def _checkpoint(config: MeshConfig, path) -> None:
    torch.manual_seed(0)
    model = PLUGIN.build_model(config)
    save_checkpoint(path, model.state_dict(), CheckpointMeta("mesh", 1, config.to_dict()))


def test_plugin_satisfies_the_protocol_and_registers() -> None:
    assert isinstance(PLUGIN, DomainPlugin)
    assert REGISTRY.get("mesh") is PLUGIN
    assert {".h5", ".xdmf", ".vtu", ".vtk", ".msh", ""} <= set(PLUGIN.readers)
    assert "cylinder-flow" in PLUGIN.datasets


def test_example_file_has_a_bad_record_and_steps_reach_the_graph(tmp_path) -> None:
    path, count, bad = PLUGIN.write_example_file(tmp_path)
    records = list(PLUGIN.readers[".h5"](path))
    assert len(records) == count and sum(isinstance(r, BadRecord) for r in records) == bad
    assert "pressure" in next(r for r in records if isinstance(r, BadRecord)).reason
    (vtu,) = list(read_records(tmp_path / "case.vtu", rollout_steps=7))
    assert isinstance(vtu, Record)
    graph = PLUGIN.featurize(vtu, PLUGIN.default_config())
    assert int(graph.rollout_steps[0]) == 7 and graph.face.size(0) == 3
    with pytest.raises(ValueError, match="--steps"):
        list(read_records(tmp_path / "case.vtu", rollout_steps=0))


def test_split_is_by_trajectory_seeded_and_complete() -> None:
    ids = [f"traj_{i:05d}" for i in range(10)]
    split = split_trajectories(ids, seed=0)
    assert sorted(split) == ids and list(split.values()).count("test") == 1
    assert split == split_trajectories(list(reversed(ids)), seed=0)
    assert split != split_trajectories(ids, seed=1)
    assert set(split_trajectories(ids[:2], 0).values()) == {"train", "val"}


def test_training_data_split_normalisers_and_noise(data) -> None:
    split = data.provenance["split"]
    parts = [set(split[name]) for name in ("train", "val", "test")]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    config = data.config
    assert config.velocity_std != (1.0, 1.0) and config.target_std != (1.0, 1.0, 1.0)
    assert isinstance(data.train, NoisyFrames) and len(data.train) == 2 * 7
    assert len(data.val) == 7 and len(data.test) == 7
    assert config.backbone.d_model == 16 and data.fingerprint


def test_model_presets_and_overrides(dataset) -> None:
    def config(**columns):
        request = TrainRequest(
            data=dataset, columns=columns, model_overrides={**TINY, "history": 1}
        )
        return PLUGIN._config_for(request)

    assert config(model="mgn").backbone.attention == "none"
    assert config().backbone.node_in_dim == 9  # follows history=1
    request = TrainRequest(data=dataset, model_overrides={"pressure_input": False})
    assert PLUGIN._config_for(request).backbone.node_in_dim == 6
    assert config(noise=0.0).noise_std == 0.0
    with pytest.raises(ValueError, match="--model"):
        config(model="gnn")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (TrainRequest(dataset="airfoil"), "unknown mesh dataset"),
        (TrainRequest(data="/nonexistent/dir"), "sci data generate mesh"),
    ],
)
def test_bad_sources_say_what_to_do(request_, message) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        PLUGIN.build_training_data(request_)


def test_loss_and_evaluation_arrays(data) -> None:
    config = data.config
    batch = Batch.from_data_list(data.val[:2])
    mean, std = torch.tensor(config.target_mean), torch.tensor(config.target_std)
    perfect = (model_targets(batch.y, batch.x, config) - mean) / std
    boundary = ~PLUGIN.metric_subsets(batch)["updated"]
    garbage = perfect.clone()
    garbage[boundary, :2] = 1e6  # boundary velocities are not in the loss (pressure is)
    assert PLUGIN.loss(garbage, batch, config).item() == pytest.approx(0.0, abs=1e-10)
    assert PLUGIN.loss(perfect + 1.0, batch, config).item() == pytest.approx(1.0)
    pred, target = PLUGIN.evaluation_arrays(perfect, batch, config)
    torch.testing.assert_close(pred, target, atol=1e-5, rtol=0)


def test_a_short_training_reduces_the_loss(data) -> None:
    torch.manual_seed(0)
    model = PLUGIN.build_model(data.config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = Batch.from_data_list(data.train.graphs[:4])  # clean frames
    losses = []
    for _ in range(40):
        loss = PLUGIN.loss(model(batch), batch, data.config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_predict_writes_a_paraview_time_series(tmp_path) -> None:
    _checkpoint(PLUGIN.default_config(), tmp_path / "ckpt")
    PLUGIN.write_example_file(tmp_path)
    predictor = api.load(tmp_path / "ckpt", device="cpu", registry=REGISTRY)
    rows = pd.DataFrame.from_records(
        list(predictor.iter_rows(tmp_path / "case.vtu", rollout_steps=3))
    )
    assert rows.loc[0, "status"] == "ok" and rows.loc[0, "steps"] == 3
    assert set(predictor.columns()) <= set(rows.columns)
    out = write_prediction_xdmf(rows, tmp_path / "out.xdmf")
    with meshio.xdmf.TimeSeriesReader(out) as reader:
        points, cells = reader.read_points_cells()
        assert reader.num_steps == 4 and cells[0].type == "triangle"
        for step in range(reader.num_steps):
            t, point_data, _ = reader.read_data(step)
            assert point_data["velocity"].shape == (len(points), 2)
            assert point_data["pressure"].shape[0] == len(points)
        assert t == pytest.approx(0.03)
    several = pd.concat([rows, rows.assign(id="other")], ignore_index=True)
    write_prediction_xdmf(several, tmp_path / "many.xdmf")
    assert (tmp_path / "many.case.xdmf").exists() and (tmp_path / "many.other.h5").exists()


def test_rollout_report_writes_table_and_plots(dataset, tmp_path) -> None:
    config = PLUGIN.default_config()
    torch.manual_seed(0)
    model = PLUGIN.build_model(config)
    request = TrainRequest(data=dataset, seed=0)
    summary, paths = rollout_report(
        model, config, PLUGIN.evaluation_trajectories(request), tmp_path, steps=5
    )
    assert summary["trajectories"] == 1 and summary["rmse_pooled_all_all_nodes"] > 0
    assert {p.name for p in paths} >= {
        "rollout_rmse.csv",
        "rollout_rmse.json",
        "rollout_error_vs_time.png",
        "rollout_fields_0.png",
    }
    assert all(p.stat().st_size > 0 for p in paths)
    assert json.loads((tmp_path / "rollout_rmse.json").read_text())["trajectories"] == 1


def test_cli_generate_passes_the_domain_flags(tmp_path, monkeypatch) -> None:
    seen = {}

    def fake(out, **kwargs):
        seen.update(kwargs, out=out)
        return out

    monkeypatch.setattr("scisuite.domains.mesh.generate.generate_cylinder_flow", fake)
    argv = ["data", "generate", "mesh", "cylinder-flow", "-o", str(tmp_path), "--seed", "3"]
    argv += ["--trajectories", "2", "--frames", "5", "--num-vertices", "400", "--quiet"]
    assert main(argv, registry=REGISTRY) == 0
    assert seen["trajectories"] == 2 and seen["frames"] == 5 and seen["seed"] == 3
    assert seen["num_vertices"] == 400 and seen["warmup_frames"] == 300
    assert main([*argv[:3], "other-flow", *argv[4:]], registry=REGISTRY) == 1


def test_cli_train_evaluate_predict(dataset, tmp_path) -> None:
    ckpt = tmp_path / "ckpt"
    sets = [item for key, value in TINY.items() for item in ("--set", f"{key}={value}")]
    argv = ["train", "--domain", "mesh", "--data", str(dataset), "--epochs", "1"]
    argv += ["--batch-size", "4", "--model", "mgn", "--noise", "0.01", *sets]
    assert main([*argv, "-o", str(ckpt), "--quiet", "--device", "cpu"], registry=REGISTRY) == 0
    meta, _ = load_checkpoint(ckpt)
    assert meta.model_config["noise_std"] == 0.01 and meta.normalizers["target_std"] != [1, 1, 1]
    assert "rmse_updated" in meta.metrics["test"]
    report = tmp_path / "report"
    argv = ["evaluate", "--domain", "mesh", "--dataset", "cylinder-flow", "--checkpoint", str(ckpt)]
    argv += ["--dataset-dir", str(dataset), "-o", str(report), "--quiet"]
    assert main(argv, registry=REGISTRY) == 0
    assert (report / "one_step_parity.png").exists() and (report / "metrics.json").exists()
    # the rollout part of the report: table, error-vs-time plot, fields, metrics merged
    assert (report / "rollout_rmse.csv").exists() and (
        report / "rollout_error_vs_time.png"
    ).exists()
    assert list(report.glob("rollout_fields_*.png"))
    merged = json.loads((report / "metrics.json").read_text())
    assert "rmse_updated" in merged and "rmse_pooled_all_all_nodes" in merged
    # --data DIR evaluates that directory's test split, as training split it
    argv = ["evaluate", "--domain", "mesh", "--data", str(dataset), "--checkpoint", str(ckpt)]
    assert main([*argv, "--steps", "2", "--quiet"], registry=REGISTRY) == 0
    PLUGIN.write_example_file(tmp_path)
    out = tmp_path / "pred.csv"
    argv = ["predict", "--domain", "mesh", str(tmp_path / "case.vtu"), "--checkpoint", str(ckpt)]
    assert main([*argv, "--steps", "2", "-o", str(out), "--quiet"], registry=REGISTRY) == 0
    frame = pd.read_csv(out)
    assert frame.loc[0, "steps"] == 2 and bool(frame.loc[0, "finite"])
    assert np.isclose(frame.loc[0, "t_end"], 0.02)
    # -o *.xdmf: a ParaView time series (every step) plus the summary rows as CSV next to it
    series = tmp_path / "flow.xdmf"
    argv = ["predict", "--domain", "mesh", str(tmp_path / "case.vtu"), "--checkpoint", str(ckpt)]
    assert main([*argv, "--steps", "3", "-o", str(series), "--quiet"], registry=REGISTRY) == 0
    with meshio.xdmf.TimeSeriesReader(series) as reader:
        reader.read_points_cells()
        assert reader.num_steps == 4
        assert reader.read_data(3)[1]["velocity"].shape[1] == 2
    assert pd.read_csv(tmp_path / "flow.csv").loc[0, "status"] == "ok"
    assert mesh_plugin.DATASET_NAME == "cylinder-flow"
