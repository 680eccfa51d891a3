"""The plugin contract (DESIGN.md): every domain must pass these."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from scisuite import api
from scisuite.cli import main
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint
from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import DomainPlugin


def _checkpoint(plugin, tmp_path, seed: int = 0):
    torch.manual_seed(seed)
    config = plugin.default_config()
    model = plugin.build_model(config).eval()
    meta = CheckpointMeta(plugin.name, plugin.schema_version, config.to_dict())
    return save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta), model, config


def test_satisfies_protocol(plugin) -> None:
    assert isinstance(plugin, DomainPlugin)
    assert plugin.readers, "a plugin needs at least one reader"
    config = plugin.default_config()
    assert isinstance(config, plugin.config_class)
    assert plugin.config_class.from_json(config.to_json()) == config


def test_featurize_batch_forward_shapes(plugin) -> None:
    config = plugin.default_config()
    records = plugin.example_inputs()
    assert len(records) >= 2
    graphs = [plugin.featurize(r, config) for r in records]
    pickle.loads(pickle.dumps(graphs[0]))  # featurized data must be picklable (workers, DDP)
    assert all(g.x.device.type == "cpu" for g in graphs)
    batch = Batch.from_data_list(graphs)
    model = plugin.build_model(config).eval()
    with torch.inference_mode():
        outputs = model(batch)
    assert torch.isfinite(outputs).all()
    rows = plugin.postprocess(outputs, batch, config)
    assert len(rows) == len(records)
    pred, target = plugin.evaluation_arrays(outputs, batch, config)
    assert pred.shape == target.shape


def test_featurize_is_deterministic(plugin) -> None:
    config = plugin.default_config()
    record = plugin.example_inputs()[0]
    a, b = plugin.featurize(record, config), plugin.featurize(record, config)
    for key in a.keys():
        if isinstance(a[key], torch.Tensor):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, equal_nan=True, msg=key)


def test_checkpoint_round_trip_bit_identical(plugin, registry, tmp_path) -> None:
    path, model, config = _checkpoint(plugin, tmp_path)
    predictor = api.load(path, device="cpu", registry=registry)
    batch = Batch.from_data_list([plugin.featurize(r, config) for r in plugin.example_inputs()])
    with torch.inference_mode():
        assert torch.equal(model(batch), predictor.model(batch))
    assert isinstance(predictor.config, FrozenConfig) and predictor.config == config


def test_metrics_perfect_on_perfect_predictions(plugin) -> None:
    config = plugin.default_config()
    batch = Batch.from_data_list([plugin.featurize(r, config) for r in plugin.example_inputs()])
    with torch.inference_mode():
        outputs = plugin.build_model(config).eval()(batch)
    _, target = plugin.evaluation_arrays(outputs, batch, config)
    target = torch.nan_to_num(target, nan=0.0)
    for metric in plugin.metrics:
        value = metric.fn(target.clone(), target.clone())
        if value == value:  # NaN is allowed when a metric is undefined (e.g. one class)
            assert value == pytest.approx(metric.perfect, abs=1e-6), metric.name


def test_predict_reports_bad_records_and_keeps_order(plugin, registry, tmp_path) -> None:
    path, _, _ = _checkpoint(plugin, tmp_path)
    example, n_records, n_bad = plugin.write_example_file(tmp_path)
    frame = api.load(path, device="cpu", registry=registry).predict(example)
    assert len(frame) == n_records, "every input record yields exactly one row"
    assert (frame["status"] == "error").sum() == n_bad
    errors = frame[frame["status"] == "error"]
    assert errors["error"].str.len().gt(0).all() and errors["id"].notna().all()


def test_sci_predict_smoke(plugin, registry, tmp_path) -> None:
    path, _, _ = _checkpoint(plugin, tmp_path)
    example, n_records, n_bad = plugin.write_example_file(tmp_path)
    out = tmp_path / "pred.csv"
    argv = [
        "predict",
        "--domain",
        plugin.name,
        str(example),
        "--checkpoint",
        str(path),
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(argv, registry=registry) == 0
    frame = pd.read_csv(out)
    assert len(frame) == n_records and (frame["status"] == "error").sum() == n_bad
    assert main([*argv[:-1], "--on-error", "raise"], registry=registry) == 1


def test_python_objects_predict(plugin, registry, tmp_path) -> None:
    path, _, _ = _checkpoint(plugin, tmp_path)
    predictor = api.load(path, device="cpu", registry=registry)
    objects = plugin.example_objects()
    frame = predictor.predict(objects)
    assert len(frame) == len(objects) and (frame["status"] == "ok").all()
    assert list(frame.columns) == predictor.columns()
