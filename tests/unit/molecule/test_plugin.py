from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from scisuite import api
from scisuite.cli import main
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint
from scisuite.core.records import Record
from scisuite.core.registry import PluginRegistry
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from scisuite.domains.molecule.model import MoleculePrediction, MoleculeValues
from scisuite.domains.molecule.plugin import PLUGIN
from scisuite.domains.molecule.selection import finalize_model

TASK = PLUGIN.task

REGISTRY = PluginRegistry([PLUGIN], use_entry_points=False)


def _config(**changes) -> MoleculeConfig:
    base = MoleculeConfig(target_names=("a", "b"), target_mean=(1.0, -2.0), target_std=(2.0, 0.5))
    return base.replace(**changes)


def _batch(config: MoleculeConfig, targets: list[dict]) -> Batch:
    records = [
        Record(str(i), {"smiles": s, "targets": t})
        for i, (s, t) in enumerate(zip(["CCO", "CCN", "c1ccccc1"], targets, strict=False))
    ]
    return Batch.from_data_list([TASK.featurize(r, config) for r in records])


def test_loss_ignores_missing_labels() -> None:
    config = _config()
    batch = _batch(config, [{"a": 3.0}, {"a": 1.0, "b": -2.0}])
    outputs = torch.zeros(1, 2, 2)
    # known labels in standardised units: a: (3-1)/2=1, (1-1)/2=0; b: 0 -> mean of 1,0,0
    assert TASK.loss(outputs, batch, config).item() == pytest.approx(1.0 / 3.0)
    outputs[0, 0, 1] = 1e6  # a prediction for a missing label must not matter
    assert TASK.loss(outputs, batch, config).item() == pytest.approx(1.0 / 3.0)


def test_predictions_are_in_original_units_with_ensemble_std() -> None:
    config = _config(ensemble_size=2)
    batch = _batch(config, [{}, {}])
    outputs = torch.tensor([[[0.0, 0.0], [1.0, 2.0]], [[2.0, 0.0], [1.0, 2.0]]])
    results = TASK.postprocess(MoleculePrediction.from_outputs(outputs, config), batch, config)
    rows = [result.row for result in results]
    assert rows[0]["a"] == pytest.approx(1.0 + 2.0 * 1.0) and rows[0]["b"] == pytest.approx(-2.0)
    assert rows[0]["a_std"] == pytest.approx(math.sqrt(2.0) * 2.0) and rows[1]["a_std"] == 0.0
    assert rows[1]["canonical_smiles"] == "CCN"
    assert results[0].item == MoleculeValues(
        {"a": rows[0]["a"], "b": rows[0]["b"]}, {"a": rows[0]["a_std"], "b": rows[0]["b_std"]}
    )
    assert set(rows[0]) == set(TASK.output_columns(config)) - {"id", "smiles"}
    assert TASK.output_columns(config) == [
        "id",
        "smiles",
        "canonical_smiles",
        "a",
        "a_std",
        "b",
        "b_std",
        "standardisation",
        "applicability",
    ]


def test_model_predict_is_the_denormalised_training_forward() -> None:
    torch.manual_seed(0)
    config = _config(ensemble_size=2)
    batch = _batch(config, [{}, {}, {}])
    model = TASK.build_model(config).eval()
    with torch.inference_mode():
        outputs, prediction = model(batch), model.predict(batch)
    assert isinstance(prediction, MoleculePrediction) and prediction.mean.shape == (3, 2)
    values = outputs * torch.tensor([2.0, 0.5]) + torch.tensor([1.0, -2.0])
    assert torch.equal(prediction.mean, values.mean(dim=0))
    torch.testing.assert_close(prediction.std, values.std(dim=0))
    pred, target = TASK.evaluation_arrays(outputs, batch, config)
    assert torch.equal(pred, prediction.mean) and target.shape == pred.shape
    single = MoleculePrediction.from_outputs(outputs[:1], config)
    assert torch.equal(single.std, torch.zeros(3, 2))


def test_by_variant_splits_member_major_rows() -> None:
    config = _config(ensemble_size=3)
    model = TASK.build_model(config)
    outputs = torch.arange(6.0).view(6, 1, 1).expand(6, 2, 2)
    parts = model.by_variant(outputs)
    assert list(parts) == ["graph", "fingerprint"]
    assert parts["graph"][:, 0, 0].tolist() == [0.0, 2.0, 4.0]
    assert parts["fingerprint"][:, 0, 0].tolist() == [1.0, 3.0, 5.0]


def test_cliff_subsets_only_for_flagged_molecules() -> None:
    config = _config()
    records = [
        Record("a", {"smiles": "CCO", "targets": {}, "cliff": 1}),
        Record("b", {"smiles": "CCN", "targets": {}, "cliff": 0}),
    ]
    batch = Batch.from_data_list([TASK.featurize(r, config) for r in records])
    assert TASK.metric_subsets(batch, config)["cliff"].tolist() == [True, False]
    assert TASK.metric_subsets(_batch(config, [{}, {}]), config) == {}


def test_classification_loss_and_probabilities() -> None:
    config = _config(task_type="classification")
    batch = _batch(config, [{"a": 1.0, "b": 0.0}, {"a": 0.0}])
    outputs = torch.tensor([[[10.0, -10.0], [-10.0, 3.0]]])
    assert TASK.loss(outputs, batch, config).item() < 1e-3
    pred, _ = TASK.evaluation_arrays(outputs, batch, config)
    assert pred[0, 0] > 0.99 and 0 < pred[1, 1] < 1


def test_metrics_on_known_values() -> None:
    pred = torch.tensor([[1.0], [2.0], [3.0], [5.0]])
    target = torch.tensor([[1.0], [2.0], [float("nan")], [3.0]])
    scores = {m.name: m.fn(pred, target) for m in REGRESSION_METRICS}
    assert scores["rmse"] == pytest.approx(math.sqrt(4 / 3)) and scores["mae"] == pytest.approx(
        2 / 3
    )
    probs = torch.tensor([[0.9], [0.2], [0.7], [0.1]])
    labels = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    assert {m.name: m.fn(probs, labels) for m in CLASSIFICATION_METRICS}["roc_auc"] == 1.0


def test_head_variants_follow_the_fingerprint_choice() -> None:
    assert _config().head_variants() == ("graph", "fingerprint")
    assert _config(fingerprint_use="on").head_variants() == ("fingerprint",)
    assert _config(fingerprint_use="off").head_variants() == ("graph",)
    assert _config(fingerprint_bits=0).head_variants() == ("graph",)
    with pytest.raises(ValueError, match="fingerprint_use"):
        _config(fingerprint_use="maybe")
    batch = _batch(_config(fingerprint_use="off"), [{}, {}])
    assert getattr(batch, "fingerprint", None) is None
    batch = _batch(_config(ensemble_size=3), [{}, {}])
    assert batch.fingerprint.shape == (2, 2048)
    model = TASK.build_model(_config(ensemble_size=3))
    assert model(batch).shape == (6, 2, 2)  # 3 members x 2 heads, member-major


@pytest.mark.parametrize("better", ["graph", "fingerprint"])
def test_finalize_keeps_the_head_with_lower_validation_loss(better: str) -> None:
    torch.manual_seed(0)
    config = _config(ensemble_size=2)
    val = [
        TASK.featurize(Record(str(i), {"smiles": s, "targets": {"a": 1.0, "b": -2.0}}), config)
        for i, s in enumerate(["CCO", "CCN", "CCCl"])
    ]
    model = TASK.build_model(config)
    for member in model.members:  # the chosen head predicts the mean exactly (zero loss)
        head = member.heads[better].mlp
        last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    final, resolved, report = finalize_model(model, config, val, 2, torch.device("cpu"))
    assert resolved.fingerprint_use == ("on" if better == "fingerprint" else "off")
    assert report["fingerprint_use"] == resolved.fingerprint_use
    assert report["val_loss"][better] == pytest.approx(0.0)
    assert report["val_loss"][better] < min(report["val_loss"].values()) + 1e-12
    assert all(list(member.heads) == [better] for member in final.members)
    for key, value in final.state_dict().items():
        assert torch.equal(value, reference[key])
    batch = Batch.from_data_list([TASK.featurize(Record("x", {"smiles": "CCO"}), resolved)])
    assert torch.allclose(final(batch), torch.zeros(2, 1, 2))


def test_finalize_is_a_no_op_when_nothing_is_open() -> None:
    config = _config(fingerprint_use="on")
    model = TASK.build_model(config)
    assert finalize_model(model, config, [], 2, torch.device("cpu")) == (model, config, {})


def _checkpoint(tmp_path):
    torch.manual_seed(0)
    config = MoleculeConfig(target_names=("logS",))
    model = TASK.build_model(config)
    return save_checkpoint(
        tmp_path / "ckpt",
        model.state_dict(),
        CheckpointMeta("molecule", PLUGIN.schema_version, config.to_dict()),
    )


def test_predict_file_one_row_per_record_with_reasons(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path)
    src = tmp_path / "in.tsv"
    src.write_text("compound\tstructure\nA\tCCO\nB\tnot_a_smiles\nA\tCCC\nC\t\n")
    out = tmp_path / "out.parquet"
    assert (
        main(
            [
                "predict",
                "--domain",
                "molecule",
                str(src),
                "--checkpoint",
                str(ckpt),
                "--smiles-column",
                "structure",
                "--id-column",
                "compound",
                "-o",
                str(out),
                "--quiet",
            ],
            registry=REGISTRY,
        )
        == 0
    )
    frame = pd.read_parquet(out)
    assert frame["id"].tolist() == ["A", "B", "A", "C"]
    assert frame["status"].tolist() == ["ok", "error", "error", "error"]
    assert "duplicate id" in frame["error"][2] and "SMILES" in frame["error"][1]
    assert frame["canonical_smiles"][0] == "CCO" and not math.isnan(frame["logS"][0])


def test_on_error_raise_names_the_line(tmp_path, capsys) -> None:
    ckpt = _checkpoint(tmp_path)
    src = tmp_path / "in.csv"
    src.write_text("smiles\nCCO\nC1CC(C\n")
    code = main(
        [
            "predict",
            "--domain",
            "molecule",
            str(src),
            "--checkpoint",
            str(ckpt),
            "--on-error",
            "raise",
        ],
        registry=REGISTRY,
    )
    assert code == 1 and "line 3" in capsys.readouterr().err


def test_python_api_accepts_smiles_lists(tmp_path) -> None:
    frame = api.load(_checkpoint(tmp_path), registry=REGISTRY).predict(["CCO", "", "c1ccccc1"])
    assert frame["status"].tolist() == ["ok", "error", "ok"]


def test_worker_featurization_gives_identical_rows_in_order(tmp_path) -> None:
    predictor = api.load(_checkpoint(tmp_path), registry=REGISTRY)
    smiles = ["CCO", "C1CC(C", "c1ccccc1", "", "CC(=O)[O-].[Na+]", "CCN"] * 3
    serial = predictor.predict(smiles, batch_size=4)
    parallel = predictor.predict(smiles, batch_size=4, num_workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    summary = predictor.predict_file(smiles, tmp_path / "o.jsonl", batch_size=4)
    assert (summary.rows, summary.errors) == (18, 6)


def test_ragged_batches_run_in_size_buckets_with_the_same_result(monkeypatch) -> None:
    from scisuite.core import patterns
    from scisuite.domains.molecule import model as model_module

    config = _config(fingerprint_use="off")
    peptide = "CC(C)C[C@H](NC(=O)[C@H](CC1=CC=CC=C1)NC(=O)CN)C(=O)NCCCCCCCCCCCCCCCCCCCC"
    smiles = ["C", "CO", "CCN", "CC", "O"] * 4 + [peptide]  # padding ratio ~20
    batch = Batch.from_data_list(
        [TASK.featurize(Record(str(i), {"smiles": s}), config) for i, s in enumerate(smiles)]
    )
    seen: list[patterns.DensePattern] = []

    def recording(*args, **kwargs):
        seen.append(patterns.DensePattern(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(model_module, "DensePattern", recording)
    torch.manual_seed(0)
    model = TASK.build_model(config).double().eval()
    for key in ("x", "edge_attr", "rw_pe"):
        batch[key] = batch[key].double()
    with torch.no_grad():
        bucketed = model(batch)
        assert seen and seen[-1].needs_buckets()
        monkeypatch.setattr(
            model_module, "DensePattern", lambda b, max_padding_ratio: patterns.DensePattern(b)
        )
        padded = model(batch)
    torch.testing.assert_close(bucketed, padded, rtol=1e-9, atol=1e-9)


def test_readers_are_final_and_suffix_less_files_are_refused(tmp_path, monkeypatch) -> None:
    import io
    import sys

    from scisuite.domains.molecule.readers import read_csv

    assert PLUGIN.io.stdin is read_csv and "" not in PLUGIN.io.readers
    plain = tmp_path / "mols"
    plain.write_text("smiles\nCCO\n")
    with pytest.raises(ValueError, match="cannot read suffix-less files"):
        api.read_records(PLUGIN, plain)
    monkeypatch.setattr(sys, "stdin", io.StringIO("id\tsmiles\nm1\tCCO\n"))
    (record,) = api.read_records(PLUGIN, "-")
    assert (record.id, record.payload["smiles"], record.source) == ("m1", "CCO", "<stdin>")


def test_mve_std_combines_predicted_variance_and_member_spread() -> None:
    config = _config(uncertainty="mve", ensemble_size=2)
    raw = torch.tensor([0.3, -1.0])  # per-target raw variances, both members
    means = torch.tensor([[[0.0, 1.0]], [[2.0, 1.0]]])  # [members, G=1, T]
    outputs = torch.cat([means, raw.expand(2, 1, 2)], dim=-1)
    prediction = MoleculePrediction.from_outputs(outputs, config)
    variance = torch.nn.functional.softplus(raw) + 1e-6
    values = means * torch.tensor([2.0, 0.5]) + torch.tensor([1.0, -2.0])
    expected = (values.var(dim=0) + variance * torch.tensor([4.0, 0.25])).sqrt()
    torch.testing.assert_close(prediction.mean, values.mean(dim=0))
    torch.testing.assert_close(prediction.std, expected)
    scaled = MoleculePrediction.from_outputs(outputs, config.replace(std_scale=(2.0, 0.5)))
    torch.testing.assert_close(scaled.std, expected * torch.tensor([2.0, 0.5]))
    assert TASK.build_model(config)(_batch(config, [{}])).shape == (4, 1, 4)  # 2 x 2 heads


def test_mve_loss_is_beta_weighted_gaussian_nll_on_known_labels() -> None:
    from scisuite.domains.molecule.task import MVE_BETA

    config = _config(uncertainty="mve")
    batch = _batch(config, [{"a": 3.0}])  # standardised: a = 1, b missing
    outputs = torch.tensor([[[0.0, 5.0, 0.0, 7.0]]])
    variance = math.log(2.0) + 1e-6  # softplus(0)
    expected = 0.5 * (math.log(variance) + 1.0 / variance) * variance**MVE_BETA
    assert TASK.loss(outputs, batch, config).item() == pytest.approx(expected, rel=1e-5)


def test_mve_needs_a_regression_and_one_scale_per_target() -> None:
    with pytest.raises(ValueError, match="regression"):
        _config(uncertainty="mve", task_type="classification")
    with pytest.raises(ValueError, match="std_scale"):
        _config(std_scale=(1.0,))


def test_finalize_fits_the_std_scale_on_validation() -> None:
    torch.manual_seed(0)
    config = _config(uncertainty="mve", fingerprint_use="off")
    labels = [{"a": 1.0 + i, "b": -2.0 - i / 3} for i in range(4)]
    val = [
        TASK.featurize(Record(str(i), {"smiles": s, "targets": t}), config)
        for i, (s, t) in enumerate(zip(["CCO", "CCN", "CCCl", "CCCC"], labels, strict=True))
    ]
    model = TASK.build_model(config)
    final, resolved, report = finalize_model(model, config, val, 2, torch.device("cpu"))
    assert report["std_scale"] == list(resolved.std_scale) and final.config is resolved
    batch = Batch.from_data_list(val)
    with torch.inference_mode():
        prediction = final.predict(batch)
    z = (batch.y - prediction.mean) / prediction.std
    torch.testing.assert_close(z.pow(2).mean(dim=0), torch.ones(2), rtol=1e-4, atol=1e-4)
