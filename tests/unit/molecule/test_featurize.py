from __future__ import annotations

import pytest
import torch

from scisuite.core.records import RecordError
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.featurize import (
    ATOM_DIM,
    BOND_DIM,
    ELEMENTS,
    applicability_flags,
    mol_to_graph,
    parse_smiles,
    standardise,
    training_domain,
)


def _std(smiles: str, limit: int = 500):
    return standardise(parse_smiles(smiles, "m1", 3), "m1", 3, limit)


def test_benzene_graph_shapes_and_aromatic_flags() -> None:
    graph = mol_to_graph(_std("c1ccccc1").mol, rw_steps=8, lap_k=4)
    assert graph.x.shape == (6, ATOM_DIM) and graph.edge_attr.shape == (12, BOND_DIM)
    assert graph.edge_index.shape == (2, 12)
    carbon = ELEMENTS.index("C")
    assert graph.x[:, carbon].eq(1).all()
    aromatic_bond = 3  # index of AROMATIC in BOND_TYPES
    assert graph.edge_attr[:, aromatic_bond].eq(1).all()
    assert graph.rw_pe.shape == (6, 8) and graph.lap_pe.shape == (6, 4)
    # every node of a ring is equivalent: identical random-walk encodings
    assert torch.allclose(graph.rw_pe, graph.rw_pe[:1].expand(6, 8))


def test_single_atom_molecule_has_no_edges() -> None:
    graph = mol_to_graph(_std("C").mol, rw_steps=4, lap_k=0)
    assert graph.x.shape == (1, ATOM_DIM) and graph.edge_index.shape == (2, 0)


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("C1CC(C", "invalid SMILES: SMILES Parse Error"),
        ("", "empty SMILES"),
        ("c1cccc1", "sanitisation failed: Can't kekulize"),
        ("[H][H]", "no heavy atoms"),
        ("C" * 501, "501 heavy atoms, above the limit of 500 (max_heavy_atoms"),
    ],
)
def test_bad_molecules_raise_typed_errors_with_id_line_and_reason(smiles, reason) -> None:
    with pytest.raises(RecordError) as caught:
        _std(smiles)
    assert caught.value.record_id == "m1" and caught.value.line == 3
    assert reason in caught.value.reason


def test_salt_is_reduced_to_neutral_parent_and_reported() -> None:
    result = _std("CC(=O)[O-].[Na+]")
    assert result.canonical_smiles == "CC(=O)O"
    assert "kept largest of 2 fragments" in result.note and "neutralised" in result.note
    assert _std("CCO").note == ""


def test_standardisation_can_be_switched_off() -> None:
    result = standardise(parse_smiles("CC(=O)[O-].[Na+]", "x"), "x", None, 500, enabled=False)
    assert "." in result.canonical_smiles


@pytest.mark.parametrize("smiles", ["c1ccccc1O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "C", "C1CC1.CCO"])
def test_dense_random_walk_pe_equals_torch_geometric(smiles) -> None:
    from rdkit import Chem

    from scisuite.core.encodings import random_walk_pe

    graph = mol_to_graph(Chem.MolFromSmiles(smiles), rw_steps=12, lap_k=0)
    expected = random_walk_pe(graph.edge_index, graph.num_nodes, 12)
    torch.testing.assert_close(graph.rw_pe, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("smiles", "flags"),
    [
        ("CCO", []),
        ("C" * 200, ["heavy_atoms>max_train(47)"]),  # was logS -98.6 with a bare "ok"
        ("N.N.Cl[Pt]Cl", ["element:Pt", "fragments_dropped:2"]),  # was predicted as ammonia
        ("[NH3][Pt]([NH3])(Cl)Cl", ["element:Pt"]),
        ("CC(=O)[O-].[Na+]", ["element:Na", "fragments_dropped:1"]),
    ],
)
def test_applicability_flags_of_the_shipped_training_domain(smiles, flags) -> None:
    config = MoleculeConfig()
    original = parse_smiles(smiles, "m1", 1)
    kept = _std(smiles).mol
    assert (
        applicability_flags(original, kept, config.train_max_heavy_atoms, config.train_elements)
        == flags
    )


def test_training_domain_of_training_molecules() -> None:
    assert training_domain(["CCO", "c1ccccc1Br", "not smiles"]) == (7, ("Br", "C", "H", "O"))


def test_rows_carry_the_applicability_column() -> None:
    from torch_geometric.data import Batch

    from scisuite.core.records import Record
    from scisuite.domains.molecule.plugin import PLUGIN

    config = PLUGIN.task.default_config()
    graphs = [
        PLUGIN.task.featurize(Record(str(i), {"smiles": s}), config)
        for i, s in enumerate(["CCO", "N.N.Cl[Pt]Cl"])
    ]
    batch = Batch.from_data_list(graphs)
    model = PLUGIN.task.build_model(config).eval()
    with torch.inference_mode():
        rows = [p.row for p in PLUGIN.task.postprocess(model.predict(batch), batch, config)]
    assert [r["applicability"] for r in rows] == ["", "element:Pt;fragments_dropped:2"]
