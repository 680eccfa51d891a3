"""SMILES -> standardised RDKit molecule -> PyG ``Data`` with atom/bond features and encodings.

Atom features (one-hot unless noted): element (common organic/medicinal set + other), degree
0..5+, formal charge -2..+2, hybridisation, aromatic (bool), in ring (bool), total H count
0..4, chirality tag, and atomic mass / 100 (a float). Bond features: type (single/double/
triple/aromatic), conjugated, in ring, stereo (none/any/Z/E/cis/trans). Widths are :data:`ATOM_DIM` and :data:`BOND_DIM`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize
from torch_geometric.data import Data

from scisuite.core.encodings import laplacian_pe, random_walk_pe
from scisuite.core.records import RecordError

ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se", "H", "Na", "K")
HYBRIDISATIONS = (
    Chem.rdchem.HybridizationType.S,
    Chem.rdchem.HybridizationType.SP,
    Chem.rdchem.HybridizationType.SP2,
    Chem.rdchem.HybridizationType.SP3,
    Chem.rdchem.HybridizationType.SP3D,
    Chem.rdchem.HybridizationType.SP3D2,
)
CHIRALITY = (
    Chem.rdchem.ChiralType.CHI_UNSPECIFIED,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CCW,
)
BOND_TYPES = (
    Chem.rdchem.BondType.SINGLE,
    Chem.rdchem.BondType.DOUBLE,
    Chem.rdchem.BondType.TRIPLE,
    Chem.rdchem.BondType.AROMATIC,
)
BOND_STEREO = (
    Chem.rdchem.BondStereo.STEREONONE,
    Chem.rdchem.BondStereo.STEREOANY,
    Chem.rdchem.BondStereo.STEREOZ,
    Chem.rdchem.BondStereo.STEREOE,
    Chem.rdchem.BondStereo.STEREOCIS,
    Chem.rdchem.BondStereo.STEREOTRANS,
)
DEGREES = 6
CHARGES = (-2, -1, 0, 1, 2)
H_COUNTS = 5

ATOM_DIM = (
    len(ELEMENTS)
    + 1
    + DEGREES
    + len(CHARGES)
    + len(HYBRIDISATIONS)
    + 1
    + 2
    + H_COUNTS
    + len(CHIRALITY)
    + 1
    + 1  # the last 1 is atomic mass / 100
)
BOND_DIM = len(BOND_TYPES) + 2 + len(BOND_STEREO)


@dataclass(frozen=True)
class Standardised:
    """A parsed, standardised molecule and what standardisation did to it."""

    mol: Chem.Mol
    canonical_smiles: str
    note: str


def _one_hot(value: object, choices: tuple, other: bool = True) -> list[float]:
    hot = [float(value == choice) for choice in choices]
    if other:
        hot.append(float(value not in choices))
    return hot


def atom_features(atom: Chem.Atom) -> list[float]:
    """One atom -> ``ATOM_DIM`` floats."""
    return (
        _one_hot(atom.GetSymbol(), ELEMENTS)
        + _one_hot(min(atom.GetDegree(), DEGREES - 1), tuple(range(DEGREES)), other=False)
        + _one_hot(atom.GetFormalCharge(), CHARGES, other=False)
        + _one_hot(atom.GetHybridization(), HYBRIDISATIONS)
        + [float(atom.GetIsAromatic()), float(atom.IsInRing())]
        + _one_hot(min(atom.GetTotalNumHs(), H_COUNTS - 1), tuple(range(H_COUNTS)), other=False)
        + _one_hot(atom.GetChiralTag(), CHIRALITY)
        + [atom.GetMass() / 100.0]
    )


def bond_features(bond: Chem.Bond) -> list[float]:
    """One bond -> ``BOND_DIM`` floats."""
    return (
        _one_hot(bond.GetBondType(), BOND_TYPES, other=False)
        + [float(bond.GetIsConjugated()), float(bond.IsInRing())]
        + _one_hot(bond.GetStereo(), BOND_STEREO, other=False)
    )


def parse_smiles(smiles: str, record_id: str, line: int | None = None) -> Chem.Mol:
    """Parse and sanitise, turning RDKit's failure into a :class:`RecordError` with its reason."""
    if not smiles or not smiles.strip():
        raise RecordError(record_id, "empty SMILES", line)
    # RDKit logs its reasons to stderr; capture them into the record's error instead.
    with rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        raise RecordError(record_id, f"invalid SMILES: {_first_reason(capture.messages)}", line)
    with rdBase.CaptureErrorLog():
        try:
            Chem.SanitizeMol(mol)
        except Exception as error:  # RDKit raises several sanitisation exception types
            raise RecordError(record_id, f"RDKit sanitisation failed: {error}", line) from error
    return mol


def _first_reason(log: str) -> str:
    """First RDKit log line without its ``[hh:mm:ss]`` prefix."""
    lines = [ln.split("] ", 1)[-1].strip() for ln in log.splitlines() if ln.strip()]
    return lines[0] if lines else "RDKit could not parse it"


def standardise(
    mol: Chem.Mol, record_id: str, line: int | None, max_heavy_atoms: int, enabled: bool = True
) -> Standardised:
    """Keep the largest organic fragment and neutralise charges where a neutral form exists.

    Salts and mixtures are not errors: the parent molecule is predicted and the row's
    ``standardisation`` column says what was removed. Molecules with no heavy atom, or
    more than ``max_heavy_atoms``, are refused.
    """
    notes = []
    if enabled:
        fragments = Chem.GetMolFrags(mol, asMols=False)
        if len(fragments) > 1:
            with rdBase.BlockLogs():
                mol = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
            notes.append(f"kept largest of {len(fragments)} fragments")
        before = Chem.MolToSmiles(mol)
        with rdBase.BlockLogs():
            mol = rdMolStandardize.Uncharger().uncharge(mol)
        if Chem.MolToSmiles(mol) != before:
            notes.append("neutralised")
    heavy = mol.GetNumHeavyAtoms()
    if heavy == 0:
        raise RecordError(record_id, "molecule has no heavy atoms", line)
    if heavy > max_heavy_atoms:
        raise RecordError(
            record_id, f"molecule has {heavy} heavy atoms (limit {max_heavy_atoms})", line
        )
    return Standardised(mol, Chem.MolToSmiles(mol), "; ".join(notes))


def mol_to_graph(mol: Chem.Mol, rw_steps: int, lap_k: int) -> Data:
    """RDKit molecule -> ``Data(x [N, ATOM_DIM], edge_index [2, 2B], edge_attr [2B, BOND_DIM])``
    plus ``rw_pe [N, rw_steps]`` and ``lap_pe [N, lap_k]`` (deterministic signs)."""
    x = torch.tensor([atom_features(atom) for atom in mol.GetAtoms()], dtype=torch.float32)
    senders, receivers, features = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feats = bond_features(bond)
        senders += [i, j]
        receivers += [j, i]
        features += [feats, feats]
    edge_index = torch.tensor([senders, receivers], dtype=torch.long).view(2, -1)
    edge_attr = torch.tensor(features, dtype=torch.float32).view(-1, BOND_DIM)
    n = x.size(0)
    data = Data(x=x, edge_index=edge_index, edge_attr=edge_attr, num_nodes=n)
    if rw_steps:
        data.rw_pe = random_walk_pe(edge_index, n, rw_steps)
    if lap_k:
        data.lap_pe = laplacian_pe(edge_index, n, lap_k)
    return data
