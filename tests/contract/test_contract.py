"""The plugin contract (DESIGN.md): every domain, and the toy plugin, must pass these."""

from __future__ import annotations

import io
import math
import pickle
import sys

import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from scisuite import api
from scisuite.cli import main
from scisuite.core.config import FrozenConfig
from scisuite.core.io import TABLE_FORMATS, read_table, write_rows
from scisuite.core.plugin import DataCatalog, DomainPlugin, Predicted, RecordIO, Reports, Task
from scisuite.core.records import Record


def _batch(plugin, config, records=None) -> Batch:
    records = plugin.examples.inputs() if records is None else records
    return Batch.from_data_list([plugin.task.featurize(r, config) for r in records])


def _echoed(plugin) -> set[str]:
    return set(plugin.io.echo_columns(plugin.examples.inputs()[0]))


def test_plugin_is_a_table_of_typed_parts(plugin) -> None:
    assert isinstance(plugin, DomainPlugin)
    assert isinstance(plugin.io, RecordIO) and plugin.io.readers
    assert isinstance(plugin.task, Task) and plugin.task.metrics
    assert isinstance(plugin.data, DataCatalog) and isinstance(plugin.reports, Reports)
    config = plugin.task.default_config()
    assert isinstance(config, plugin.config_class)
    assert plugin.config_class.from_json(config.to_json()) == config
    flags = [o.flag for o in plugin.options]
    assert len(flags) == len(set(flags)), "a flag is declared twice"


def test_predict_path_rows_have_exactly_the_declared_columns(plugin) -> None:
    config = plugin.task.default_config()
    records = plugin.examples.inputs()
    assert len(records) >= 2
    graphs = [plugin.task.featurize(r, config) for r in records]
    pickle.loads(pickle.dumps(graphs[0]))  # featurized data must be picklable (workers, DDP)
    assert all(g.x.device.type == "cpu" for g in graphs)
    batch = Batch.from_data_list(graphs)
    model = plugin.task.build_model(config).eval()
    with torch.inference_mode():
        prediction = model.predict(batch)
    results = plugin.task.postprocess(prediction, batch, config)
    assert len(results) == len(records)
    predicted_columns = set(plugin.task.output_columns(config)) - _echoed(plugin)
    for result in results:
        assert isinstance(result, Predicted)
        assert set(result.row) == predicted_columns
        assert result.item is not None


def test_training_forward_gives_finite_outputs_and_aligned_arrays(plugin) -> None:
    config = plugin.task.default_config()
    batch = _batch(plugin, config, None)
    model = plugin.task.build_model(config).eval()
    with torch.inference_mode():
        outputs = model(batch)
    assert torch.isfinite(outputs).all()
    pred, target = plugin.task.evaluation_arrays(outputs, batch, config)
    assert pred.shape == target.shape


def test_featurize_is_deterministic(plugin) -> None:
    config = plugin.task.default_config()
    record = plugin.examples.inputs()[0]
    a, b = plugin.task.featurize(record, config), plugin.task.featurize(record, config)
    assert sorted(a.keys()) == sorted(b.keys())
    for key in a.keys():
        if isinstance(a[key], torch.Tensor):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, equal_nan=True, msg=key)
        else:
            assert a[key] == b[key], key


def test_checkpoint_round_trip_gives_identical_predictions(plugin, saved, predictor) -> None:
    _, model, config = saved
    loaded = predictor
    assert isinstance(loaded.config, FrozenConfig) and loaded.config == config
    batch = _batch(plugin, config)
    with torch.inference_mode():
        assert torch.equal(model(batch), loaded.model(batch))
    original = api.Predictor(plugin, model, config, None, torch.device("cpu"))
    objects = plugin.examples.objects()
    pd.testing.assert_frame_equal(original.predict(objects), loaded.predict(objects))


def test_every_metric_is_perfect_on_perfect_predictions(plugin) -> None:
    config = plugin.task.default_config()
    graphs = plugin.examples.labelled(config)
    batch = Batch.from_data_list(graphs)
    with torch.inference_mode():
        outputs = plugin.task.build_model(config).eval()(batch)
    pred, target = plugin.task.evaluation_arrays(outputs, batch, config)
    assert pred.shape == target.shape and len(target) > 0
    perfect = torch.where(torch.isnan(target), pred, target)
    for metric in plugin.task.metrics:
        value = metric.fn(perfect.clone(), target.clone())
        assert not math.isnan(value), f"{metric.name} is NaN on the labelled examples"
        assert value == pytest.approx(metric.perfect, abs=1e-6), metric.name


def test_one_optimiser_step_on_training_data(plugin, tmp_path) -> None:
    request = plugin.examples.training_request(tmp_path)
    data = plugin.data.build_training_data(request)
    assert len(data.train) > 0 and len(data.val) > 0
    torch.manual_seed(0)
    model = plugin.task.build_model(data.config).train()
    batch = Batch.from_data_list([data.train[i] for i in range(min(4, len(data.train)))])
    loss = plugin.task.loss(model(batch), batch, data.config)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and bool(g.abs().sum() > 0) for g in grads)
    assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)
    torch.optim.SGD(model.parameters(), lr=1e-3).step()


def test_predict_reports_bad_records_and_keeps_input_order(plugin, predictor, example) -> None:
    path, n_records, n_bad = example
    read_ids = [record.id for record in api.read_records(plugin, path)]
    for batch_size in (1, 64):
        frame = predictor.predict(path, batch_size=batch_size)
        assert len(frame) == n_records, "every input record yields exactly one row"
        assert list(frame["id"]) == read_ids, "rows come back in input order"
        assert (frame["status"] == "error").sum() == n_bad
        errors = frame[frame["status"] == "error"]
        assert errors["error"].str.len().gt(0).all() and errors["id"].notna().all()


def test_sci_predict_smoke(plugin, registry, saved, example, tmp_path) -> None:
    path, n_records, n_bad = example
    out = tmp_path / "pred.csv"
    argv = [
        "predict",
        "--domain",
        plugin.name,
        str(path),
        "--checkpoint",
        str(saved[0]),
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(argv, registry=registry) == 0
    frame = pd.read_csv(out)
    assert len(frame) == n_records and (frame["status"] == "error").sum() == n_bad
    assert main([*argv[:-1], "--on-error", "raise"], registry=registry) == 1


def test_python_objects_predict(plugin, predictor) -> None:
    objects = plugin.examples.objects()
    frame = predictor.predict(objects)
    assert len(frame) == len(objects) and (frame["status"] == "ok").all()
    assert frame.notna().any().all(), "a declared column is empty for every record"


def test_tables_write_and_read_back(predictor, example, tmp_path) -> None:
    path, n_records, _ = example
    summary = predictor.predict_file(path, tmp_path / "pred.parquet", reports=False)
    rows = read_table(tmp_path / "pred.parquet")
    assert summary.rows == n_records == len(rows)
    assert list(rows.columns) == predictor.columns()
    for fmt in TABLE_FORMATS:  # the same rows through every table format
        out = tmp_path / f"again.{fmt}"
        assert write_rows(rows.to_dict("records"), out, predictor.columns()) == n_records
        back = read_table(out)
        assert list(back.columns) == predictor.columns() and len(back) == n_records
        assert list(back["id"].astype(str)) == list(rows["id"].astype(str))


def test_domain_writers_write_and_read_back(plugin, predictor, example, tmp_path) -> None:
    if not plugin.io.writers:
        pytest.skip(f"{plugin.name} has no domain output format")
    path, _, n_bad = example
    for suffix in plugin.io.writers:
        out = tmp_path / f"written{suffix}"
        summary = predictor.predict_file(path, out)
        assert summary.table is not None and len(pd.read_csv(summary.table)) == summary.rows
        ok = summary.rows - n_bad
        written = [out] if ok == 1 else sorted(tmp_path.glob(f"written.*{suffix}"))
        assert len(written) == ok
        for file in written:
            assert list(api.read_records(plugin, file)), f"{file} does not read back"


def test_report_outputs_come_from_the_api(plugin, predictor, example, tmp_path) -> None:
    summary = predictor.predict_file(example[0], tmp_path / "reported.csv")
    expected = plugin.reports.prediction_outputs(tmp_path / "probe.csv", predictor.config)
    for sink in expected:
        sink.abort()
    assert len(summary.extra) >= len(expected)
    assert all(p.exists() and p.stat().st_size > 0 for p in summary.extra)


def test_stdin_reads_like_the_file(plugin, example, monkeypatch) -> None:
    if plugin.io.stdin is None:
        pytest.skip(f"{plugin.name} reads no standard input")
    from_file = list(api.read_records(plugin, example[0]))
    raw = example[0].read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    from_stdin = list(api.read_records(plugin, "-"))
    assert [type(r) for r in from_stdin] == [type(r) for r in from_file]
    ok = [(r.id, r.payload) for r in from_file if isinstance(r, Record)]
    assert [(r.id, r.payload) for r in from_stdin if isinstance(r, Record)] == ok
