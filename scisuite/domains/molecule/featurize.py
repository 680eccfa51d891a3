"""SMILES -> standardised RDKit molecule -> PyG ``Data`` with atom/bond features and encodings.

Atom features (one-hot unless noted): element (common organic/medicinal set + other), degree
0..5+, formal charge -2..+2, hybridisation, aromatic (bool), in ring (bool), total H count
0..4, chirality tag, and atomic mass / 100 (a float). Bond features: type (single/double/
triple/aromatic), conjugated, in ring, stereo (none/any/Z/E/cis/trans). Widths are
:data:`ATOM_DIM` and :data:`BOND_DIM`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.MolStandardize import rdMolStandardize
from torch import Tensor
from torch_geometric.data import Data

from scisuite.core.encodings import laplacian_pe
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


def _offsets(*widths: int) -> list[int]:
    starts, total = [], 0
    for width in widths:
        starts.append(total)
        total += width
    return starts


# Column where each one-hot block starts; the "other" slot is the last column of a block.
(_ELEM, _DEG, _CHG, _HYB, _AROM, _RING, _HS, _CHI, _MASS) = _offsets(
    len(ELEMENTS) + 1,
    DEGREES,
    len(CHARGES),
    len(HYBRIDISATIONS) + 1,
    1,
    1,
    H_COUNTS,
    len(CHIRALITY) + 1,
    1,
)
(_BTYPE, _CONJ, _BRING, _STEREO) = _offsets(len(BOND_TYPES), 1, 1, len(BOND_STEREO))
_ELEMENT_INDEX = {symbol: i for i, symbol in enumerate(ELEMENTS)}
_HYB_INDEX = {h: i for i, h in enumerate(HYBRIDISATIONS)}
_CHI_INDEX = {c: i for i, c in enumerate(CHIRALITY)}
_CHARGE_INDEX = {c: i for i, c in enumerate(CHARGES)}
_BOND_INDEX = {b: i for i, b in enumerate(BOND_TYPES)}
_STEREO_INDEX = {s: i for i, s in enumerate(BOND_STEREO)}


def atom_features(mol: Chem.Mol) -> np.ndarray:
    """All atoms -> ``[N, ATOM_DIM]`` float32 (one-hot blocks filled by index, not by lists)."""
    atoms = mol.GetAtoms()
    x = np.zeros((mol.GetNumAtoms(), ATOM_DIM), dtype=np.float32)
    for i, atom in enumerate(atoms):
        x[i, _ELEM + _ELEMENT_INDEX.get(atom.GetSymbol(), len(ELEMENTS))] = 1.0
        x[i, _DEG + min(atom.GetDegree(), DEGREES - 1)] = 1.0
        charge = _CHARGE_INDEX.get(atom.GetFormalCharge())
        if charge is not None:
            x[i, _CHG + charge] = 1.0
        x[i, _HYB + _HYB_INDEX.get(atom.GetHybridization(), len(HYBRIDISATIONS))] = 1.0
        x[i, _AROM] = atom.GetIsAromatic()
        x[i, _RING] = atom.IsInRing()
        x[i, _HS + min(atom.GetTotalNumHs(), H_COUNTS - 1)] = 1.0
        x[i, _CHI + _CHI_INDEX.get(atom.GetChiralTag(), len(CHIRALITY))] = 1.0
        x[i, _MASS] = atom.GetMass() / 100.0
    return x


def bond_graph(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray]:
    """Bonds -> ``edge_index [2, 2B]`` (both directions) and ``edge_attr [2B, BOND_DIM]``."""
    num_bonds = mol.GetNumBonds()
    edge_index = np.zeros((2, 2 * num_bonds), dtype=np.int64)
    edge_attr = np.zeros((2 * num_bonds, BOND_DIM), dtype=np.float32)
    for b, bond in enumerate(mol.GetBonds()):
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        edge_index[:, 2 * b] = (i, j)
        edge_index[:, 2 * b + 1] = (j, i)
        row = edge_attr[2 * b]
        bond_type = _BOND_INDEX.get(bond.GetBondType())
        if bond_type is not None:
            row[_BTYPE + bond_type] = 1.0
        row[_CONJ] = bond.GetIsConjugated()
        row[_BRING] = bond.IsInRing()
        stereo = _STEREO_INDEX.get(bond.GetStereo())
        if stereo is not None:
            row[_STEREO + stereo] = 1.0
        edge_attr[2 * b + 1] = row
    return edge_index, edge_attr


def dense_random_walk_pe(edge_index: np.ndarray, num_nodes: int, steps: int) -> np.ndarray:
    """Return probabilities ``diag(P^k)``, k = 1..steps, with ``P = D^-1 A``: ``[N, steps]``.

    Same quantity as :class:`torch_geometric.transforms.AddRandomWalkPE` (tested equal); for
    molecule-sized graphs a dense N x N power is several times faster than its sparse path,
    and featurization speed is the molecule domain's throughput bottleneck.
    """
    adjacency = np.zeros((num_nodes, num_nodes), dtype=np.float64)
    adjacency[edge_index[0], edge_index[1]] = 1.0
    degree = adjacency.sum(axis=1, keepdims=True)
    transition = np.divide(adjacency, degree, out=np.zeros_like(adjacency), where=degree > 0)
    out = np.empty((num_nodes, steps), dtype=np.float32)
    power = transition
    for k in range(steps):
        out[:, k] = np.diagonal(power)
        power = power @ transition
    return out


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
        if any(atom.GetFormalCharge() for atom in mol.GetAtoms()):
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
            record_id,
            f"molecule has {heavy} heavy atoms, above the limit of {max_heavy_atoms} "
            "(max_heavy_atoms; attention within a molecule grows with atoms^2): if the "
            "machine has the memory, raise max_heavy_atoms in the checkpoint's config.json, "
            "or in Python: predictor.config = predictor.config.replace(max_heavy_atoms=N)",
            line,
        )
    return Standardised(mol, Chem.MolToSmiles(mol), "; ".join(notes))


def applicability_flags(
    original: Chem.Mol, kept: Chem.Mol, max_heavy_atoms: int, elements: tuple[str, ...]
) -> list[str]:
    """Where a molecule lies outside the training domain; empty: in domain.

    Args:
        original: the parsed input (all its fragments).
        kept: what is predicted (after standardisation).
        max_heavy_atoms: the largest training molecule.
        elements: the training molecules' elements.

    Returns:
        ``heavy_atoms>max_train(N)`` for a larger molecule, ``element:X`` per element of the
        input unseen in training (also in dropped fragments: cisplatin's Pt), and
        ``fragments_dropped:K`` when standardisation predicted one fragment of ``K + 1``.
    """
    flags = []
    heavy = kept.GetNumHeavyAtoms()
    if heavy > max_heavy_atoms:
        flags.append(f"heavy_atoms>max_train({max_heavy_atoms})")
    unseen = sorted({atom.GetSymbol() for atom in original.GetAtoms()} - set(elements))
    flags.extend(f"element:{symbol}" for symbol in unseen)
    dropped = len(Chem.GetMolFrags(original)) - len(Chem.GetMolFrags(kept))
    if dropped > 0:
        flags.append(f"fragments_dropped:{dropped}")
    return flags


def training_domain(smiles: list[str]) -> tuple[int, tuple[str, ...]]:
    """``(largest heavy-atom count, sorted elements + "H")`` of training molecules (their
    standardised SMILES), for :class:`MoleculeConfig`'s ``train_*`` fields."""
    largest, elements = 1, {"H"}
    for text in smiles:
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            continue
        largest = max(largest, mol.GetNumHeavyAtoms())
        elements.update(atom.GetSymbol() for atom in mol.GetAtoms())
    return largest, tuple(sorted(elements))


def morgan_counts(mol: Chem.Mol, bits: int, radius: int) -> Tensor:
    """``[1, bits]`` log1p Morgan count fingerprint (radius 2 ~ ECFP4), a graph-level feature."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    counts = generator.GetCountFingerprintAsNumPy(mol).astype(np.float32)
    return torch.from_numpy(np.log1p(counts))[None, :]


def mol_to_graph(mol: Chem.Mol, rw_steps: int, lap_k: int) -> Data:
    """RDKit molecule -> ``Data(x [N, ATOM_DIM], edge_index [2, 2B], edge_attr [2B, BOND_DIM])``
    plus ``rw_pe [N, rw_steps]`` and ``lap_pe [N, lap_k]`` (deterministic signs)."""
    x = atom_features(mol)
    edge_index, edge_attr = bond_graph(mol)
    n = x.shape[0]
    data = Data(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(edge_index),
        edge_attr=torch.from_numpy(edge_attr),
        num_nodes=n,
    )
    if rw_steps:
        data.rw_pe = torch.from_numpy(dense_random_walk_pe(edge_index, n, rw_steps))
    if lap_k:
        data.lap_pe = laplacian_pe(data.edge_index, n, lap_k)
    return data
