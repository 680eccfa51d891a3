"""Training / evaluation data from user files, splits, and the examples the contract uses."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch

from scisuite.core.plugin import TrainRequest
from scisuite.domains.molecule import examples
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.plugin import PLUGIN
from scisuite.domains.molecule.training_data import SPLIT_FRACTIONS, read_file, split_for

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "freesolv_sample.csv"


def test_examples_training_request_is_real_freesolv(tmp_path: Path) -> None:
    request = examples.training_request(tmp_path)
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        sample = [(r["id"], r["smiles"], float(r["expt"])) for r in csv.DictReader(handle)]
    assert list(examples.FREESOLV_ROWS) == sample[:30]
    data = PLUGIN.data.build_training_data(request)
    assert [len(data.train), len(data.val), len(data.test)] == [24, 3, 3]
    assert data.provenance["split"]["sizes"] == [24, 3, 3] and not data.rejected
    y = torch.cat([g.y for g in data.train]).double()
    assert data.config.target_names == ("expt",)
    assert data.config.target_mean[0] == pytest.approx(float(y.mean()))
    assert data.config.target_std[0] == pytest.approx(float(y.std(unbiased=False)))
    # the training domain travels in the config, for the applicability flags
    assert data.config.train_max_heavy_atoms == max(g.num_nodes for g in data.train)
    assert "C" in data.config.train_elements and "Pt" not in data.config.train_elements


def test_user_val_file_keeps_the_given_split_and_reports_rejects(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("smiles,y\nCCO,1.0\nCCN,2.0\nC1CC(C,3.0\nCCC,4.0\n")
    val = tmp_path / "val.smi"
    val.write_text("c1ccccc1 benzene\n")
    with pytest.raises(ValueError, match="no target columns"):
        PLUGIN.data.build_training_data(
            TrainRequest(data=train, val=val, columns={"target_columns": ["y"]})
        )
    val = tmp_path / "val.csv"
    val.write_text("smiles,y\nc1ccccc1,5.0\n")
    request = TrainRequest(
        data=train, val=val, columns={"target_columns": ["y"], "ensemble_size": 2}
    )
    data = PLUGIN.data.build_training_data(request)
    assert (len(data.train), len(data.val), len(data.test)) == (3, 1, 0)
    assert list(data.rejected) == ["train.csv:4"] and data.config.ensemble_size == 2
    assert data.config.target_mean == pytest.approx((7.0 / 3.0,))


def test_requests_without_data_or_targets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--dataset NAME or --data FILE"):
        PLUGIN.data.build_training_data(TrainRequest())
    with pytest.raises(ValueError, match="--target-columns"):
        PLUGIN.data.build_training_data(TrainRequest(data=SAMPLE))
    with pytest.raises(ValueError, match="unknown molecule file suffix"):
        read_file(tmp_path / "mols.xyz", {})


def test_split_for_methods() -> None:
    smiles = ["CCO", "c1ccccc1", "c1ccccc1C", "CCN", "C1CCCCC1"] * 4
    random = split_for(TrainRequest(split="auto"), smiles, None)
    assert sorted([*random.train, *random.val, *random.test]) == list(range(20))
    assert len(random.train) == round(SPLIT_FRACTIONS[0] * 20)
    scaffold = split_for(TrainRequest(split="scaffold"), smiles, None)
    assert sorted([*scaffold.train, *scaffold.val, *scaffold.test]) == list(range(20))
    with pytest.raises(ValueError, match="fixed split"):
        split_for(TrainRequest(split="fixed"), smiles, None)
    with pytest.raises(ValueError, match="unknown split 'time'"):
        split_for(TrainRequest(split="time"), smiles, None)


def test_evaluation_data_reads_the_config_targets(tmp_path: Path) -> None:
    config = MoleculeConfig(target_names=("expt",))
    graphs = PLUGIN.data.evaluation_data(TrainRequest(data=SAMPLE), config)
    assert len(graphs) == 64 and all(not math.isnan(float(g.y)) for g in graphs)
    with pytest.raises(ValueError, match="labelled file"):
        PLUGIN.data.evaluation_data(TrainRequest(), config)


def test_labelled_examples_define_every_metric() -> None:
    config = MoleculeConfig(target_names=("a", "b"), target_mean=(0, 0), target_std=(1, 1))
    batch = Batch.from_data_list(examples.labelled(config))
    assert batch.y.shape == (len(examples.AROMATIC), 2)
    assert {metric.name for metric in PLUGIN.task.metrics} == {
        "rmse",
        "mae",
        "r2",
        "spearman",
        "roc_auc",
        "pr_auc",
    }
    for metric in PLUGIN.task.metrics:
        assert metric.fn(batch.y.clone(), batch.y.clone()) == pytest.approx(metric.perfect)


def test_class_metrics_are_undefined_for_a_two_valued_regression_target() -> None:
    import math

    import torch

    from scisuite.domains.molecule.metrics import CLASSIFICATION_METRICS

    target = torch.tensor([[-3.2], [1.5], [1.5], [-3.2]])
    pred = torch.tensor([[-3.0], [1.0], [1.2], [-2.0]])
    for metric in CLASSIFICATION_METRICS:
        assert math.isnan(metric.fn(pred, target)), metric.name
    labels = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    assert CLASSIFICATION_METRICS[0].fn(pred, labels) == 1.0
