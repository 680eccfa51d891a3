"""Distillation: the teacher's predictions become the unlabelled molecules' targets."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from scisuite.core.records import BadRecord, Record
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.distillation import (
    SHIPPED,
    distill_request,
    teacher_labelled,
    teacher_path,
)
from scisuite.domains.molecule.model import MoleculeModel
from scisuite.domains.molecule.task import MoleculeTask


@pytest.fixture(scope="module")
def teacher() -> MoleculeModel:
    torch.manual_seed(0)
    config = MoleculeConfig.from_dict(
        {
            **MoleculeConfig().to_dict(),
            "backbone": {**MoleculeConfig().to_dict()["backbone"], "d_model": 16, "num_layers": 1},
            "target_names": ["logS", "hydration_free_energy"],
            "target_mean": [-3.0, -4.0],
            "target_std": [2.0, 3.0],
            "fingerprint_use": "off",
        }
    )
    return MoleculeModel(config).eval()


def test_teacher_predictions_become_targets_and_bad_molecules_are_reported(teacher) -> None:
    records = [
        Record("a", {"smiles": "CCO"}, 1, "f"),
        Record("b", {"smiles": "not a smiles"}, 2, "f"),
        BadRecord("c", "empty row", 3, "f"),
        Record("d", {"smiles": "c1ccccc1O"}, 4, "f"),
    ]
    labelled, rejected = teacher_labelled(records, teacher, ["hydration_free_energy"])
    assert [r.id for r in labelled] == ["a", "d"]
    assert set(rejected) == {"b", "c"}
    # the label is the teacher's own prediction, de-normalised, for that target only
    task = MoleculeTask()
    batch = Batch.from_data_list([task.featurize(records[i], teacher.config) for i in (0, 3)])
    with torch.inference_mode():
        expected = teacher.predict(batch).mean[:, 1].tolist()
    got = [r.payload["targets"]["hydration_free_energy"] for r in labelled]
    assert got == pytest.approx(expected, rel=1e-5)
    assert all(set(r.payload["targets"]) == {"hydration_free_energy"} for r in labelled)


def test_a_target_the_teacher_does_not_predict_is_refused(teacher) -> None:
    with pytest.raises(ValueError, match="not \\['pIC50'\\]"):
        teacher_labelled([Record("a", {"smiles": "CCO"}, 1, "f")], teacher, ["pIC50"])


def test_distill_options_without_a_teacher_are_refused() -> None:
    assert distill_request({}, seed=0) is None
    with pytest.raises(ValueError, match="need --distill-from"):
        distill_request({"distill_data": "x.csv"}, seed=0)
    with pytest.raises(ValueError, match=">= 1"):
        distill_request({"distill_from": SHIPPED, "distill_molecules": 0}, seed=0)
    request = distill_request({"distill_from": SHIPPED, "distill_molecules": 5}, seed=3)
    assert request is not None and request.teacher == teacher_path(SHIPPED)
    assert request.molecules == 5 and request.seed == 3 and request.data is None
