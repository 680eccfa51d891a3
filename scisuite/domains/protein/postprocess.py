"""Typed predictions -> output rows: the columns of ``sci predict --domain protein``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch_geometric.data import Batch

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import Predicted
from scisuite.core.records import EchoField
from scisuite.domains.protein.applicability import domain_flags
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import SequencePrediction
from scisuite.domains.protein.prompts import CONTENT_CLASSES, ss_content

echo_columns = EchoField("sequence")
"""The input columns of every row: ``id`` and the (normalised) ``sequence``."""


def output_columns(config: FrozenConfig) -> list[str]:
    """Row columns: id, sequence, SS fractions and strings, activity probabilities, the
    ``content`` / ``solubility`` columns when those tasks are predicted, windows, notes,
    ``applicability`` (empty in the training domain, else ``;``-joined reasons: see
    :func:`~scisuite.domains.protein.featurize.applicability_flags` and, for the activity
    probabilities, :func:`~scisuite.domains.protein.applicability.domain_flags`)."""
    config = ProteinConfig.coerce(config)
    columns = ["id", "sequence", "length", *CONTENT_CLASSES, "dssp3", "dssp8"]
    columns += ["antimicrobial_probability", "anticancer_probability"]
    if "content" in config.predict_tasks:
        columns += [f"content_{c}" for c in CONTENT_CLASSES]
    if "solubility" in config.predict_tasks:
        columns.append("solubility")
    return [*columns, "windows", "notes", "applicability"]


def _row(
    sequence: str,
    note: str,
    flags: str,
    p: SequencePrediction,
    config: ProteinConfig,
    columns: set[str],
) -> dict[str, Any]:
    helix, strand, coil = ss_content(p.ss3) if p.ss3 else (math.nan,) * 3
    remarks = [note] if note else []
    if p.windows > 1:
        window = config.residue_window()
        remarks.append(f"predicted in {p.windows} overlapping windows of <= {window} residues")
    if any(t in config.predict_tasks for t in ("amp", "acp")) and math.isnan(p.amp):
        remarks.append(
            f"no antimicrobial/anticancer probability: longer than "
            f"{config.peptide_max_length} residues (trained on peptides of 7-174)"
        )
    row: dict[str, Any] = {
        "length": len(sequence),
        "helix": helix,
        "strand": strand,
        "coil": coil,
        "dssp3": p.ss3 or "",
        "dssp8": p.ss8 or "",
        "antimicrobial_probability": p.amp,
        "anticancer_probability": p.acp,
        "windows": p.windows,
        "notes": "; ".join(remarks),
        "applicability": ";".join(_flags(sequence, flags, p, config)),
    }
    for name, value in zip(CONTENT_CLASSES, p.content, strict=True):
        row[f"content_{name}"] = value
    row["solubility"] = p.solubility
    return {k: v for k, v in row.items() if k in columns}


def _flags(
    sequence: str, featurized: str, p: SequencePrediction, config: ProteinConfig
) -> list[str]:
    """The featurizer's flags, then those of each activity probability given."""
    flags = [f for f in featurized.split(";") if f]
    for task, probability in (("amp", p.amp), ("acp", p.acp)):
        domain = config.peptide_domain(task)
        if domain is not None and task in config.predict_tasks:
            flags += domain_flags(task, sequence, probability, domain)
    return flags


def postprocess(
    predictions: Sequence[SequencePrediction], batch: Batch, config: FrozenConfig
) -> list[Predicted]:
    """One :class:`Predicted` per sequence of ``batch``: its row (the columns of
    :func:`output_columns` less ``id`` / ``sequence``) and its ``SequencePrediction``."""
    config = ProteinConfig.coerce(config)
    columns = set(output_columns(config)) - {"id", "sequence"}
    sequences, notes = list(batch.sequence), list(batch.notes)
    flags = list(getattr(batch, "applicability", None) or [""] * len(sequences))
    return [
        Predicted(_row(sequence, note, flag, p, config, columns), p)
        for sequence, note, flag, p in zip(sequences, notes, flags, predictions, strict=True)
    ]
