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
_PERIODIC_TABLE = Chem.GetPeriodicTable()


def _lookup(size: int, codes: dict[int, int], other: int) -> np.ndarray:
    """``table[code]`` -> block column, ``other`` for every code not in ``codes``."""
    table = np.full(size, other, dtype=np.int64)
    for code, column in codes.items():
        table[code] = column
    return table


# RDKit codes (atomic number, enum values) -> one-hot column within their block, so a
# molecule's features are filled by one fancy-index assignment per block (no per-atom
# numpy writes). -1 marks "no column" (charges outside -2..+2, unknown bond types).
_ELEMENT_COLUMN = _lookup(
    256,
    {_PERIODIC_TABLE.GetAtomicNumber(symbol): i for i, symbol in enumerate(ELEMENTS)},
    len(ELEMENTS),
)
_HYB_COLUMN = _lookup(64, {int(h): i for i, h in enumerate(HYBRIDISATIONS)}, len(HYBRIDISATIONS))
_CHI_COLUMN = _lookup(64, {int(c): i for i, c in enumerate(CHIRALITY)}, len(CHIRALITY))
_BOND_COLUMN = _lookup(64, {int(b): i for i, b in enumerate(BOND_TYPES)}, -1)
_STEREO_COLUMN = _lookup(64, {int(s): i for i, s in enumerate(BOND_STEREO)}, -1)


#: Any atom with a non-zero formal charge (one substructure search instead of a Python loop).
_CHARGED_ATOM = Chem.MolFromSmarts("[!+0]")


def atoms_of(mol: Chem.Mol) -> list[Chem.Atom]:
    """The atoms in index order.

    ``mol.GetAtoms()`` is a pure-Python sequence wrapper in RDKit 2026 (five Python calls
    per atom, about as slow as the features themselves); indexing directly is ~2x faster.
    """
    return [mol.GetAtomWithIdx(i) for i in range(mol.GetNumAtoms())]


def bonds_of(mol: Chem.Mol) -> list[Chem.Bond]:
    """The bonds in index order (see :func:`atoms_of` for why not ``GetBonds()``)."""
    return [mol.GetBondWithIdx(i) for i in range(mol.GetNumBonds())]


def _one_hot(x: np.ndarray, start: int, columns: np.ndarray) -> None:
    """Set ``x[i, start + columns[i]] = 1`` where ``columns[i] >= 0``."""
    rows = np.flatnonzero(columns >= 0)
    x[rows, start + columns[rows]] = 1.0


#: Columns of :func:`atom_codes`: atomic number, degree, formal charge, hybridisation,
#: aromatic, in ring, total H count, chirality tag, atomic mass (Da).
ATOM_CODES = 9
#: Columns of :func:`bond_codes`: begin atom, end atom, bond type, conjugated, in ring, stereo.
BOND_CODES = 6


def atom_codes(mol: Chem.Mol) -> list[tuple[float, ...]]:
    """What the atom features are made of, one :data:`ATOM_CODES`-tuple per atom.

    Reading these is most of the featurizer's cost (one RDKit call per atom and property);
    the one-hot encoding is then done in NumPy, for a whole chunk of molecules at once in
    batch prediction (:func:`encode_atoms`).
    """
    return [
        (
            atom.GetAtomicNum(),
            atom.GetDegree(),
            atom.GetFormalCharge(),
            int(atom.GetHybridization()),
            atom.GetIsAromatic(),
            atom.IsInRing(),
            atom.GetTotalNumHs(),
            int(atom.GetChiralTag()),
            atom.GetMass(),
        )
        for atom in atoms_of(mol)
    ]


def encode_atoms(codes: np.ndarray) -> np.ndarray:
    """``[N, ATOM_CODES]`` codes (any number of molecules) -> ``[N, ATOM_DIM]`` float32
    features, each one-hot block filled for all atoms by one code -> column lookup."""
    ints = codes[:, : ATOM_CODES - 1].astype(np.int64)
    number, degree, charge, hybrid, aromatic, ring, hydrogens, chiral = ints.T
    x = np.zeros((codes.shape[0], ATOM_DIM), dtype=np.float32)
    _one_hot(x, _ELEM, _ELEMENT_COLUMN[number])
    _one_hot(x, _DEG, np.minimum(degree, DEGREES - 1))
    in_range = (charge >= CHARGES[0]) & (charge <= CHARGES[-1])
    _one_hot(x, _CHG, np.where(in_range, charge - CHARGES[0], -1))
    _one_hot(x, _HYB, _HYB_COLUMN[hybrid])
    x[:, _AROM] = aromatic
    x[:, _RING] = ring
    _one_hot(x, _HS, np.minimum(hydrogens, H_COUNTS - 1))
    _one_hot(x, _CHI, _CHI_COLUMN[chiral])
    x[:, _MASS] = codes[:, ATOM_CODES - 1] / 100.0
    return x


def bond_codes(mol: Chem.Mol) -> list[tuple[int, ...]]:
    """One :data:`BOND_CODES`-tuple per bond (see :func:`atom_codes`)."""
    return [
        (
            bond.GetBeginAtomIdx(),
            bond.GetEndAtomIdx(),
            int(bond.GetBondType()),
            bond.GetIsConjugated(),
            bond.IsInRing(),
            int(bond.GetStereo()),
        )
        for bond in bonds_of(mol)
    ]


def encode_bonds(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[B, BOND_CODES]`` int64 codes -> ``edge_index [2, 2B]`` and ``edge_attr [2B, BOND_DIM]``;
    bond ``b`` gives edges ``2b`` (begin -> end) and ``2b + 1`` (end -> begin)."""
    begin, end, kind, conjugated, ring, stereo = codes.T
    edge_index = np.empty((2, 2 * codes.shape[0]), dtype=np.int64)
    edge_index[0, 0::2], edge_index[1, 0::2] = begin, end
    edge_index[0, 1::2], edge_index[1, 1::2] = end, begin
    per_bond = np.zeros((codes.shape[0], BOND_DIM), dtype=np.float32)
    _one_hot(per_bond, _BTYPE, _BOND_COLUMN[kind])
    per_bond[:, _CONJ] = conjugated
    per_bond[:, _BRING] = ring
    _one_hot(per_bond, _STEREO, _STEREO_COLUMN[stereo])
    return edge_index, np.repeat(per_bond, 2, axis=0)


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


def random_walk_pe_of_graphs(
    edge_index: np.ndarray, node_counts: np.ndarray, steps: int
) -> np.ndarray:
    """:func:`dense_random_walk_pe` of many graphs at once: ``[sum(node_counts), steps]``.

    Args:
        edge_index: ``[2, E]`` edges of all graphs, node ids offset so that graph ``g``'s
            nodes are the contiguous range after those of graphs ``0..g-1``.
        node_counts: ``[G]`` nodes per graph.
        steps: walk lengths 1..steps.

    Graphs of equal size are stacked and raised to the powers together (one batched matmul
    per size and step instead of one per molecule); the result equals the per-graph one.
    """
    starts = np.concatenate([[0], np.cumsum(node_counts)[:-1]]).astype(np.int64)
    out = np.empty((int(node_counts.sum()), steps), dtype=np.float32)
    graph_of_node = np.repeat(np.arange(node_counts.size), node_counts)
    edge_graph = graph_of_node[edge_index[0]] if edge_index.size else edge_index[0]
    for size in np.unique(node_counts):
        graphs = np.flatnonzero(node_counts == size)
        slot = np.full(node_counts.size, -1, dtype=np.int64)
        slot[graphs] = np.arange(graphs.size)
        edges = np.flatnonzero(slot[edge_graph] >= 0)
        owner = edge_graph[edges]
        adjacency = np.zeros((graphs.size, size, size), dtype=np.float64)
        adjacency[
            slot[owner], edge_index[0, edges] - starts[owner], edge_index[1, edges] - starts[owner]
        ] = 1.0
        degree = adjacency.sum(axis=2, keepdims=True)
        transition = np.divide(adjacency, degree, out=np.zeros_like(adjacency), where=degree > 0)
        rows = (starts[graphs][:, None] + np.arange(size)).reshape(-1)
        power = transition
        for k in range(steps):
            out[rows, k] = np.diagonal(power, axis1=1, axis2=2).reshape(-1)
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
        if mol.HasSubstructMatch(_CHARGED_ATOM):
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
    unseen = sorted({atom.GetSymbol() for atom in atoms_of(original)} - set(elements))
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
        elements.update(atom.GetSymbol() for atom in atoms_of(mol))
    return largest, tuple(sorted(elements))


def morgan_counts(mol: Chem.Mol, bits: int, radius: int) -> Tensor:
    """``[1, bits]`` log1p Morgan count fingerprint (radius 2 ~ ECFP4), a graph-level feature."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    counts = generator.GetCountFingerprintAsNumPy(mol).astype(np.float32)
    return torch.from_numpy(np.log1p(counts))[None, :]


def mol_to_graph(mol: Chem.Mol, rw_steps: int, lap_k: int) -> Data:
    """RDKit molecule -> ``Data(x [N, ATOM_DIM], edge_index [2, 2B], edge_attr [2B, BOND_DIM])``
    plus ``rw_pe [N, rw_steps]`` and ``lap_pe [N, lap_k]`` (deterministic signs)."""
    return graph_from_codes(atom_codes(mol), bond_codes(mol), rw_steps, lap_k)


def graph_from_codes(
    atoms: list[tuple[float, ...]], bonds: list[tuple[int, ...]], rw_steps: int, lap_k: int
) -> Data:
    """:func:`mol_to_graph` from a molecule's :func:`atom_codes` and :func:`bond_codes`."""
    x = encode_atoms(np.array(atoms, dtype=np.float64).reshape(-1, ATOM_CODES))
    edge_index, edge_attr = encode_bonds(np.array(bonds, dtype=np.int64).reshape(-1, BOND_CODES))
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
