from __future__ import annotations

import json

import meshio
import numpy as np
import pandas as pd
import pytest
import torch

from scisuite import api
from scisuite.cli import main
from scisuite.core.checkpoint import load_checkpoint
from scisuite.core.plugin import DomainPlugin
from scisuite.core.records import BadRecord, Record
from scisuite.core.registry import PluginRegistry
from scisuite.domains.mesh import commands, config, generate
from scisuite.domains.mesh.examples import example_trajectories
from scisuite.domains.mesh.plugin import PLUGIN
from scisuite.domains.mesh.readers import FORMATS, MeshInput
from scisuite.domains.mesh.xdmf import XdmfPredictionSink

REGISTRY = PluginRegistry(plugins=[PLUGIN], use_entry_points=False)


def test_plugin_is_a_wiring_table_and_registers() -> None:
    assert isinstance(PLUGIN, DomainPlugin)
    assert REGISTRY.get("mesh") is PLUGIN
    assert {".h5", ".xdmf", ".vtu", ".vtk", ".msh", ""} <= set(PLUGIN.io.readers)
    assert set(PLUGIN.io.readers) == set(FORMATS)
    assert PLUGIN.io.writers[".xdmf"] is XdmfPredictionSink
    assert "cylinder-flow" in PLUGIN.data.datasets
    assert PLUGIN.commands.generate is commands.generate and PLUGIN.commands.design is None
    assert [o.flag for o in PLUGIN.options_for("predict")] == [
        "--steps",
        "--start-frame",
        "--max-nodes",
        "--max-steps",
        "--max-frames-gib",
    ]


def test_dataset_name_is_defined_once() -> None:
    assert config.DATASET_NAME == "cylinder-flow"
    assert generate.DATASET_NAME is config.DATASET_NAME


def test_example_file_has_a_bad_record_and_steps_reach_the_graph(tmp_path) -> None:
    path, count, bad = PLUGIN.examples.write_file(tmp_path)
    records = list(PLUGIN.io.readers[".h5"](path))
    assert len(records) == count and sum(isinstance(r, BadRecord) for r in records) == bad
    assert "pressure" in next(r for r in records if isinstance(r, BadRecord)).reason
    (vtu,) = list(PLUGIN.io.readers[".vtu"](tmp_path / "case.vtu", rollout_steps=7))
    assert isinstance(vtu, Record) and isinstance(vtu.payload, MeshInput)
    graph = PLUGIN.task.featurize(vtu, PLUGIN.task.default_config())
    assert int(graph.rollout_steps[0]) == 7 and graph.face.size(0) == 3


def test_examples_are_labelled_and_train(tmp_path) -> None:
    cfg = PLUGIN.task.default_config()
    graphs = PLUGIN.examples.labelled(cfg)
    assert len(graphs) == 2 * 2 and all(not torch.isnan(g.y).any() for g in graphs)
    request = PLUGIN.examples.training_request(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.h5")) == [f"traj_{i:05d}.h5" for i in range(4)]
    data = PLUGIN.data.build_training_data(request)
    assert len(data.train) and len(data.val) and len(data.test)
    assert len(PLUGIN.examples.inputs()) == 2 and len(PLUGIN.examples.objects()) == 2


def test_generate_command_fills_the_solver_arguments(tmp_path, monkeypatch) -> None:
    seen = {}

    def fake(out, **kwargs):
        seen.update(kwargs, out=out)
        return out

    monkeypatch.setattr("scisuite.domains.mesh.generate.generate_flow_dataset", fake)
    options = {"trajectories": 2, "frames": 5, "warmup_frames": 0, "num_vertices": 400}
    assert commands.generate("cylinder-flow", tmp_path, {**options, "seed": 4}) == tmp_path
    assert seen["warmup_frames"] == 0 and seen["seed"] == 4 and seen["workers"] == 1
    assert seen["progress"] is None  # shown when stderr is a terminal
    with pytest.raises(ValueError, match="generates 'cylinder-flow'"):
        commands.generate("other-flow", tmp_path, options)


def test_cli_generate_passes_the_domain_flags(tmp_path, monkeypatch) -> None:
    seen = {}

    def fake(out, **kwargs):
        seen.update(kwargs, out=out)
        return out

    monkeypatch.setattr("scisuite.domains.mesh.generate.generate_flow_dataset", fake)
    argv = ["data", "generate", "mesh", "cylinder-flow", "-o", str(tmp_path), "--seed", "3"]
    argv += ["--trajectories", "2", "--frames", "5", "--num-vertices", "400", "--quiet"]
    assert main(argv, registry=REGISTRY) == 0
    assert seen["trajectories"] == 2 and seen["frames"] == 5 and seen["seed"] == 3
    assert seen["num_vertices"] == 400 and seen["warmup_frames"] == 300
    assert seen["progress"] is False
    assert main([*argv[:3], "other-flow", *argv[4:]], registry=REGISTRY) == 1


def test_cli_train_evaluate_predict(dataset, tiny, tmp_path) -> None:
    ckpt = tmp_path / "ckpt"
    sets = [item for key, value in tiny.items() for item in ("--set", f"{key}={value}")]
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
    PLUGIN.examples.write_file(tmp_path)
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


def test_python_objects_and_paths_predict(tmp_path) -> None:
    torch.manual_seed(0)
    model = PLUGIN.task.build_model(PLUGIN.task.default_config()).eval()
    predictor = api.Predictor(
        PLUGIN, model, PLUGIN.task.default_config(), None, torch.device("cpu")
    )
    PLUGIN.examples.write_file(tmp_path)
    state = example_trajectories()[0].state(0)
    frame = predictor.predict([state, str(tmp_path / "case.vtu"), 42])
    assert list(frame["id"]) == ["mesh_1", "case", "mesh_3"]
    assert list(frame["status"]) == ["ok", "ok", "error"]
    assert frame.loc[0, "source"] == "<python>" and frame.loc[0, "steps"] == 50
