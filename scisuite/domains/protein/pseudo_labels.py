"""Secondary-structure pseudo-labels of UniProt sequences by a teacher checkpoint
(``sci data generate protein pseudo-ss``).

The structures set holds 241 training chains; a content-conditioned design task
(``design_content``) drawn from them alone sees a few hundred (content, sequence) pairs per
epoch, and the shipped model learned to ignore the content payload. S4PRED's recipe (Moffat
and Jones 2021) is to label many unlabelled sequences with a predictor and train on those
labels. Here a teacher checkpoint (in the recipe: the stage-1 secondary-structure model)
predicts DSSP3 for a seeded sample of the UniProt *training* sequences; the table has the
structures set's columns (``id, sequence, dssp3, split``), so the structure tasks named in
``ProteinConfig.pseudo_ss_tasks`` draw training examples from it as from real chains.
Validation and test examples never come from it: model selection stays on measured labels.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from scisuite.core.checkpoint import load_checkpoint
from scisuite.core.sources import sha256_file
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.datasets import (
    PROVENANCE_FILE,
    SCHEMA_VERSION,
    UNIPROT_DIR,
    scisuite_version,
    write_dataset,
)
from scisuite.domains.protein.generation import predict_sequences
from scisuite.domains.protein.model import ProteinLM
from scisuite.domains.protein.prompts import AMINO_ACIDS, ss_content

PSEUDO_SS_DIR = "uniprot_pseudo_ss"
PSEUDO_SS_TABLE = "sequences.parquet"
DATASET_NAME = "pseudo-ss"
_AMINO = frozenset(AMINO_ACIDS)


def pseudo_ss_path(data_dir: str | Path) -> Path:
    """Where ``generate_pseudo_ss`` writes its table under a data folder."""
    return Path(data_dir) / PSEUDO_SS_DIR / PSEUDO_SS_TABLE


def pick_sequences(
    uniprot: pd.DataFrame, count: int, min_length: int, max_length: int, seed: int
) -> pd.DataFrame:
    """A seeded sample of ``count`` UniProt training sequences of ``min_length..max_length``
    residues over the 20 amino acids (designs never contain X), in the table's order."""
    part = uniprot[uniprot["split"] == "train"]
    lengths = part["sequence"].str.len()
    part = part[(lengths >= min_length) & (lengths <= max_length)]
    part = part[[_AMINO.issuperset(s) for s in part["sequence"]]]
    rows = list(range(len(part)))
    chosen = sorted(random.Random(seed).sample(rows, min(count, len(rows))))
    return part.iloc[chosen].reset_index(drop=True)


def generate_pseudo_ss(
    data_dir: str | Path,
    teacher: str | Path,
    sequences: int = 4000,
    min_length: int = 30,
    max_length: int = 400,
    seed: int = 0,
    batch_size: int = 64,
    chunk: int = 256,
    quiet: bool = False,
) -> Path:
    """Label a sample of the built UniProt training sequences with a teacher's DSSP3.

    Args:
        data_dir: the folder of built protein data sets (holds ``uniprot_sequences/``;
            the table goes to ``uniprot_pseudo_ss/sequences.parquet`` there).
        teacher: a protein checkpoint folder whose ``predict_tasks`` may be anything; only
            its ``ss3`` answers are used.
        sequences: how many sequences to label (fewer when fewer qualify).
        min_length, max_length: residues of the sequences labelled.
        seed: the sample's seed.
        batch_size: prompts decoded together.
        chunk: sequences per progress step.
        quiet: no progress bar.

    Returns:
        The table's path: ``id, sequence, dssp3, split`` (``split`` is ``train``).

    Raises:
        FileNotFoundError: the UniProt set is not built in ``data_dir``.
        ValueError: ``teacher`` is not a protein checkpoint.
    """
    source = Path(data_dir) / UNIPROT_DIR / "sequences.parquet"
    if not source.exists():
        raise FileNotFoundError(
            f"{source} does not exist; build it first: sci data build protein uniprot -o {data_dir}"
        )
    meta, state = load_checkpoint(teacher)
    if meta.domain != "protein":
        raise ValueError(f"{teacher} is a {meta.domain} checkpoint, not a protein one")
    config = ProteinConfig.from_dict(meta.model_config).replace(predict_tasks=("ss3",))
    model = ProteinLM(config)
    model.load_state_dict(state)
    model.eval()
    picked = pick_sequences(pd.read_parquet(source), sequences, min_length, max_length, seed)
    # decode in order of length so a batch's windows are alike; rows keep the table's order
    order = sorted(range(len(picked)), key=lambda i: len(picked["sequence"].iloc[i]))
    labels: list[str | None] = [None] * len(picked)
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), chunk), disable=quiet, desc="pseudo-labels"):
            part = order[start : start + chunk]
            found = predict_sequences(
                model, [picked["sequence"].iloc[i] for i in part], config, batch_size
            )
            for index, prediction in zip(part, found, strict=True):
                labels[index] = prediction.ss3
    frame = pd.DataFrame(
        {
            "id": picked["id"],
            "sequence": picked["sequence"],
            "dssp3": labels,
            "split": "train",
        }
    )
    unlabelled = frame["dssp3"].isna() | (frame["dssp3"].str.len() != frame["sequence"].str.len())
    refused = {
        str(i): "the teacher gave no DSSP3 of the sequence's length"
        for i in frame["id"][unlabelled]
    }
    if refused:
        print(f"{len(refused)} sequences left unlabelled (see provenance)", file=sys.stderr)
    frame = frame[~unlabelled].reset_index(drop=True)
    content = pd.DataFrame(
        [ss_content(s) for s in frame["dssp3"]], columns=["helix", "strand", "coil"]
    )
    provenance: dict[str, Any] = {
        "dataset": PSEUDO_SS_DIR,
        "schema_version": SCHEMA_VERSION,
        "builder": f"scisuite {scisuite_version()} generate_pseudo_ss",
        "seed": seed,
        "source": {
            "uniprot_table": str(source),
            "uniprot_provenance": str(source.parent / PROVENANCE_FILE),
            "teacher": str(teacher),
            "teacher_weights_sha256": sha256_file(Path(teacher) / "model.safetensors"),
            "teacher_command": meta.command,
        },
        "split": {"method": "UniProt training sequences only (pseudo-labels never validate)"},
        "selection": {"min_length": min_length, "max_length": max_length, "requested": sequences},
        "counts": {
            "sequences": len(frame),
            "residues": int(frame["sequence"].str.len().sum()),
            "content_mean": content.mean().round(4).to_dict(),
            "content_p90": content.quantile(0.9).round(4).to_dict(),
        },
        "refused": refused,
    }
    return write_dataset(data_dir, PSEUDO_SS_DIR, PSEUDO_SS_TABLE, frame, provenance)


def generate(name: str, output_dir: Path, options: Mapping[str, Any]) -> Path:
    """``sci data generate protein pseudo-ss -o DATA_DIR --teacher CHECKPOINT
    [--sequences N --max-residues L --seed S]``.

    Args:
        name: the data set, ``pseudo-ss``.
        output_dir: the folder of built protein data sets (as ``sci data build -o``).
        options: ``teacher``, ``sequences``, ``max_residues`` (defaults filled by the API)
            plus ``seed``, ``workers`` (one process: decoding uses torch's threads) and
            ``quiet``.

    Raises:
        ValueError: another data set name, or no ``--teacher``.
    """
    if name != DATASET_NAME:
        raise ValueError(f"the protein domain generates {DATASET_NAME!r}, not {name!r}")
    if not options.get("teacher"):
        raise ValueError(
            "pseudo-ss needs --teacher CHECKPOINT (a protein checkpoint folder that predicts "
            "ss3, e.g. the stage-1 model of make weights-protein, or scisuite/weights/protein)"
        )
    return generate_pseudo_ss(
        output_dir,
        options["teacher"],
        sequences=int(options["sequences"]),
        max_length=int(options["max_residues"]),
        seed=int(options.get("seed", 0)),
        quiet=bool(options.get("quiet", False)),
    )
