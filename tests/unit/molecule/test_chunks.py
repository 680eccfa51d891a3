"""Bulk chunk featurisation (prediction) equals the per-record path, and bf16 inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from scisuite import api
from scisuite.core.plugin import Task
from scisuite.core.records import Record
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.featurize import (
    _CHARGED_ATOM,
    dense_random_walk_pe,
    mol_to_graph,
    random_walk_pe_of_graphs,
)
from scisuite.domains.molecule.task import MoleculeTask

# Drug-like, charged, salts, isotopes, stereo, unusual elements, one-atom, and three invalid.
SMILES = [
    "CC(=O)Nc1ccc(O)cc1",
    "C[C@H](N)C(=O)O",
    "F/C=C/F",
    "F/C=C\\F",
    "[13CH4]",
    "[NH4+]",
    "[O-][N+](=O)c1ccccc1",
    "C#N",
    "[Pt](Cl)(Cl)(N)N",
    "CC(=O)[O-].[Na+]",
    "C",
    "not a smiles(",
    "",
    "c1cccc1",
    "[Fe+3]",
    "O=S(=O)(O)O",
    "C[Si](C)(C)C",
    "OB(O)c1ccccc1",
    "CC[C@@](C)(O)Cl",
    "C/C=C/C=C/C",
    "c1ccc2[nH]ccc2c1",
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",
    "O=C(O)CC[N+](C)(C)C",
    "C1CC1",
]


def _records() -> list[Record]:
    return [
        Record(id=f"m{i}", payload={"smiles": s, "targets": {"logS": float(i)}, "cliff": i % 2})
        for i, s in enumerate(SMILES)
    ]


def _configs() -> list[MoleculeConfig]:
    shipped = MoleculeConfig.coerce(api.load("molecule", device="cpu").config)
    wide = shipped.replace(
        fingerprint_use="select", backbone=shipped.backbone.replace(lap_pe_dim=3)
    )
    return [shipped, wide]


@pytest.mark.parametrize("config", _configs(), ids=["shipped", "fingerprint+laplacian"])
def test_bulk_chunk_equals_per_record_featurisation(config: MoleculeConfig) -> None:
    task = MoleculeTask()
    per_record = Task.featurize_records(task, _records(), config)
    bulk = task.featurize_records(_records(), config)
    assert bulk.valid == per_record.valid and bulk.errors == per_record.errors
    assert sorted(bulk.errors) == [11, 12, 13]
    expected, got = per_record.batch, bulk.batch
    assert expected is not None and got is not None
    assert sorted(got.keys()) == sorted(expected.keys())
    assert got.num_graphs == expected.num_graphs == len(SMILES) - 3
    for key in expected.keys():
        if isinstance(expected[key], torch.Tensor):
            assert got[key].dtype == expected[key].dtype, key
            assert torch.equal(got[key].nan_to_num(-1.0), expected[key].nan_to_num(-1.0)), key
        else:
            assert got[key] == expected[key], key


def test_random_walk_encodings_of_many_graphs_equal_each_graph_alone() -> None:
    graphs = [mol_to_graph(Chem.MolFromSmiles(s), 0, 0) for s in ("CCO", "c1ccccc1", "CCN", "C")]
    counts = np.array([g.num_nodes for g in graphs])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    edges = np.concatenate(
        [g.edge_index.numpy() + s for g, s in zip(graphs, starts, strict=True)], axis=1
    )
    together = random_walk_pe_of_graphs(edges, counts, 6)
    alone = np.concatenate(
        [dense_random_walk_pe(g.edge_index.numpy(), g.num_nodes, 6) for g in graphs]
    )
    np.testing.assert_array_equal(together, alone)


@pytest.mark.parametrize(
    ("smiles", "charged"),
    [("CCO", False), ("CC(=O)[O-]", True), ("[O-2]", True), ("[Fe+3]", True), ("*C", False)],
)
def test_charged_atom_query_finds_every_formal_charge(smiles: str, charged: bool) -> None:
    mol = Chem.MolFromSmiles(smiles)
    assert mol.HasSubstructMatch(_CHARGED_ATOM) is charged
    assert any(atom.GetFormalCharge() for atom in mol.GetAtoms()) is charged


def test_bf16_inference_stays_close_to_float32() -> None:
    smiles = SMILES * 3
    full = api.load("molecule", device="cpu").predict(smiles)
    reduced = api.load("molecule", device="cpu", precision="bf16").predict(smiles)
    assert list(reduced.status) == list(full.status)
    ok = full.status == "ok"
    for column in ("logS", "hydration_free_energy"):
        difference = (reduced[column][ok] - full[column][ok]).abs()
        assert reduced[column][ok].dtype == np.float64
        assert difference.max() < 0.25 and difference.max() > 0  # bf16 really ran


def test_bf16_is_refused_where_it_was_not_measured_and_unknown_precisions() -> None:
    with pytest.raises(ValueError, match="not offered for the protein domain"):
        api.load("protein", device="cpu", precision="bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        api.load("molecule", device="cpu", precision="fp8")
