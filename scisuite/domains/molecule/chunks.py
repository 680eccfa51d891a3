"""Molecule records -> prepared molecules -> one ``Data`` (training) or one ``Batch`` (a
prediction chunk).

Both paths read RDKit the same way (:func:`prepare`); they differ in where the NumPy work
happens. A prediction chunk is encoded once for all its molecules (one-hot blocks, edge
lists, random-walk powers of equal-size graphs stacked), and its ``Batch`` is assembled
from the concatenated arrays instead of one ``Data`` per molecule and
``Batch.from_data_list``: on MOSES drug-like molecules the per-molecule objects and their
collation cost more than the RDKit calls themselves (``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from scisuite.core.encodings import laplacian_pe
from scisuite.core.plugin import FeaturizedRecords
from scisuite.core.records import Record, RecordError
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.featurize import (
    ATOM_CODES,
    BOND_CODES,
    applicability_flags,
    atom_codes,
    bond_codes,
    encode_atoms,
    encode_bonds,
    graph_from_codes,
    morgan_counts,
    parse_smiles,
    random_walk_pe_of_graphs,
    standardise,
)


@dataclass(frozen=True)
class PreparedMolecule:
    """One record after RDKit: everything its graph is made of, before any encoding.

    Attributes:
        atoms: :func:`~scisuite.domains.molecule.featurize.atom_codes` of the kept molecule.
        bonds: its :func:`~scisuite.domains.molecule.featurize.bond_codes`.
        fingerprint: ``[1, fingerprint_bits]`` log1p Morgan counts, or None when no head
            uses them.
        targets: labels by ``config.target_names`` (NaN: unknown), original units.
        cliff: MoleculeACE activity-cliff flag (1/0), NaN when not given.
        canonical_smiles, standardisation, applicability: the row's text columns.
    """

    atoms: list[tuple[float, ...]]
    bonds: list[tuple[int, ...]]
    fingerprint: Tensor | None
    targets: list[float]
    cliff: float
    canonical_smiles: str
    standardisation: str
    applicability: str


def prepare(record: Record, config: MoleculeConfig) -> PreparedMolecule:
    """Parse, standardise and read one record. Raises ``RecordError`` if it is invalid."""
    mol = parse_smiles(record.payload.get("smiles", ""), record.id, record.line)
    std = standardise(mol, record.id, record.line, config.max_heavy_atoms, config.standardise)
    fingerprint = None
    if "fingerprint" in config.head_variants():
        fingerprint = morgan_counts(std.mol, config.fingerprint_bits, config.fingerprint_radius)
    targets = record.payload.get("targets") or {}
    cliff = record.payload.get("cliff")
    flags = applicability_flags(mol, std.mol, config.train_max_heavy_atoms, config.train_elements)
    return PreparedMolecule(
        atoms=atom_codes(std.mol),
        bonds=bond_codes(std.mol),
        fingerprint=fingerprint,
        targets=[float(targets.get(name, math.nan)) for name in config.target_names],
        cliff=math.nan if cliff is None else float(cliff),
        canonical_smiles=std.canonical_smiles,
        standardisation=std.note,
        applicability=";".join(flags),
    )


def molecule_graph(prepared: PreparedMolecule, config: MoleculeConfig) -> Data:
    """One molecule's ``Data``: ``x [N, ATOM_DIM]``, ``edge_index [2, 2B]``,
    ``edge_attr [2B, BOND_DIM]``, the encodings the backbone uses (``rw_pe``, ``lap_pe``),
    ``fingerprint [1, bits]`` when a head uses it, ``y [1, T]``, ``cliff [1]`` and the text
    columns."""
    backbone = config.backbone
    data = graph_from_codes(prepared.atoms, prepared.bonds, backbone.rw_pe_dim, backbone.lap_pe_dim)
    if prepared.fingerprint is not None:
        data.fingerprint = prepared.fingerprint
    data.y = torch.tensor([prepared.targets])
    data.cliff = torch.tensor([prepared.cliff])
    data.canonical_smiles = prepared.canonical_smiles
    data.standardisation = prepared.standardisation
    data.applicability = prepared.applicability
    return data


def _codes(rows: list[tuple], width: int, dtype: type) -> np.ndarray:
    return np.array(rows, dtype=dtype).reshape(-1, width)


def molecule_batch(molecules: Sequence[PreparedMolecule], config: MoleculeConfig) -> Batch:
    """The ``Batch`` that ``Batch.from_data_list([molecule_graph(m) ...])`` gives (same
    keys, values and dtypes), encoded in one pass over all atoms and bonds."""
    node_counts = np.array([len(m.atoms) for m in molecules], dtype=np.int64)
    bond_counts = np.array([len(m.bonds) for m in molecules], dtype=np.int64)
    x = encode_atoms(_codes([a for m in molecules for a in m.atoms], ATOM_CODES, np.float64))
    bonds = _codes([b for m in molecules for b in m.bonds], BOND_CODES, np.int64)
    node_starts = np.concatenate([[0], np.cumsum(node_counts)[:-1]])
    bonds[:, :2] += np.repeat(node_starts, bond_counts)[:, None]
    edge_index, edge_attr = encode_bonds(bonds)
    graph_of_node = np.repeat(np.arange(len(molecules)), node_counts)
    batch = Batch(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(edge_index),
        edge_attr=torch.from_numpy(edge_attr),
        batch=torch.from_numpy(graph_of_node),
        ptr=torch.from_numpy(np.concatenate([[0], np.cumsum(node_counts)])),
        num_nodes=int(node_counts.sum()),
    )
    backbone = config.backbone
    if backbone.rw_pe_dim:
        pe = random_walk_pe_of_graphs(edge_index, node_counts, backbone.rw_pe_dim)
        batch.rw_pe = torch.from_numpy(pe)
    if backbone.lap_pe_dim:
        edges = torch.from_numpy(edge_index)
        batch.lap_pe = torch.cat(
            [
                laplacian_pe(edges[:, s : s + 2 * b] - start, int(n), backbone.lap_pe_dim)
                for start, n, s, b in zip(
                    node_starts,
                    node_counts,
                    np.concatenate([[0], np.cumsum(2 * bond_counts)[:-1]]),
                    bond_counts,
                    strict=True,
                )
            ]
        )
    if molecules[0].fingerprint is not None:
        batch.fingerprint = torch.cat([m.fingerprint for m in molecules])  # type: ignore[misc]
    batch.y = torch.tensor([m.targets for m in molecules])
    batch.cliff = torch.tensor([m.cliff for m in molecules])
    batch.canonical_smiles = [m.canonical_smiles for m in molecules]
    batch.standardisation = [m.standardisation for m in molecules]
    batch.applicability = [m.applicability for m in molecules]
    batch._num_graphs = len(molecules)
    return batch


def featurize_records(records: Sequence[Record], config: MoleculeConfig) -> FeaturizedRecords:
    """A prediction chunk -> one batch of its valid molecules and the reasons of the rest."""
    prepared: list[PreparedMolecule] = []
    valid: list[int] = []
    errors: dict[int, str] = {}
    for i, record in enumerate(records):
        try:
            prepared.append(prepare(record, config))
            valid.append(i)
        except RecordError as error:
            errors[i] = error.reason
    batch = molecule_batch(prepared, config) if prepared else None
    return FeaturizedRecords(batch, valid, errors)
