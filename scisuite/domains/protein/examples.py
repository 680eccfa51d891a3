"""Tiny real protein inputs for the demo and the contract suite: three sequences, a FASTA
file with bad records, teacher-forced labelled examples and a small peptide training set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from torch_geometric.data import Data

from scisuite.core.config import FrozenConfig
from scisuite.core.io import atomic_path, write_table
from scisuite.core.plugin import TrainRequest
from scisuite.core.records import Record
from scisuite.domains.protein.catalogue import DATASETS
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.datasets import PROVENANCE_FILE
from scisuite.domains.protein.prompts import Example
from scisuite.domains.protein.tasks import featurize_examples

EXAMPLES = (
    (
        "ubiquitin",
        "human ubiquitin",
        "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
    ),
    ("magainin2", "antimicrobial peptide from Xenopus laevis", "GIGKFLHSAKKFGKAFVGEIMNS"),
    ("trp_cage", "designed miniprotein TC5b", "NLYIQWLKDGGPSSGRPPPS"),
)
#: Crambin (PDB 1EJG chain A) with its DSSP3 from the built structures set.
CRAMBIN = (
    "TTCCPSIVARSNFNVCRLPGTPEALCATYTGCIIIPGATCPGDYAN",
    "CEECCCHHHHHHHHHHHCCCCCHHHHHHHHCCEECCCCCCCCCCCC",
)
#: Rows of the modlamp 4.3.3 peptide files (sequence, label, task) with an example split.
PEPTIDE_ROWS = (
    ("GLWSKIKEVGKEAAKAAAKAAGKAALGAVSEAV", 1, "antimicrobial", "train"),
    ("SGGGDGSGMWFGPRL", 0, "antimicrobial", "train"),
    ("IIGPVLGMVGSALGGLLKKI", 1, "antimicrobial", "train"),
    ("LWIVIACLACVGSAAALTLRA", 0, "antimicrobial", "train"),
    ("AAKKWAKAKWAKAKKWAKAA", 1, "anticancer", "train"),
    ("FSSVMMGSMALGLAGPQLAVL", 0, "anticancer", "train"),
    ("AAVPIVNLKDELLFPSWEALFSGSE", 1, "anticancer", "train"),
    ("VFIDILDKVENAIHNAAQVGIGFAKPFEKLINPK", 1, "antimicrobial", "validation"),
    ("ARRRRRHASTKLKRRRRRRRHGKKSHK", 0, "antimicrobial", "validation"),
    ("FAKKLAKKLAKLAL", 1, "anticancer", "validation"),
    ("GLLDIVKKVVGAFGSL", 1, "antimicrobial", "test"),
    ("HHLAIAVLFIVAGHM", 0, "anticancer", "test"),
)


def example_inputs() -> list[Record]:
    return [
        Record(rid, {"sequence": seq, "description": desc, "notes": ""}, i + 1, "<example>")
        for i, (rid, desc, seq) in enumerate(EXAMPLES)
    ]


def example_objects() -> list[Any]:
    return [seq for _, _, seq in EXAMPLES]


def write_example_file(directory: Path) -> tuple[Path, int, int]:
    """``proteins.fasta`` with three good and two bad records (an internal stop, digits)."""
    path = Path(directory) / "proteins.fasta"
    entries = [f">{rid} {desc}\n{seq}" for rid, desc, seq in EXAMPLES[:2]]
    entries += [
        ">internal_stop translated past a stop codon\nMKTAYIAKQR*QISFVKSHFSRQ",
        ">digits_only line numbers but no residues\n1 61 121",
        f">{EXAMPLES[2][0]} {EXAMPLES[2][1]}\n{EXAMPLES[2][2].lower()}",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(entries) + "\n")
    return path, 5, 2


def labelled(config: FrozenConfig) -> list[Data]:
    """Teacher-forced examples with answer tokens: crambin's DSSP3 (cut to the config's
    window) and magainin 2 as antimicrobial."""
    config = ProteinConfig.coerce(config)
    window = config.residue_window()
    sequence, ss = CRAMBIN[0][:window], CRAMBIN[1][:window]
    examples = [
        Example("ss3", sequence=sequence, ss=ss),
        Example("amp", sequence=EXAMPLES[1][2], values=(1.0,)),
    ]
    return featurize_examples(examples, config, seed=0, train=False)


def training_request(directory: Path) -> TrainRequest:
    """A built-format ``peptides`` data set of twelve modlamp rows under ``directory``
    (antimicrobial / anticancer tasks; train, validation and test splits)."""
    folder, table = DATASETS["peptides"]
    target = Path(directory) / folder
    frame = pd.DataFrame(PEPTIDE_ROWS, columns=["sequence", "label", "task", "split"])
    write_table(frame, target / table)
    provenance = {"source": "rows of PyPI modlamp 4.3.3", "split": "example split"}
    with atomic_path(target / PROVENANCE_FILE) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2) + "\n")
    return TrainRequest(dataset="peptides", columns={"data_dir": str(directory)})
