"""Prediction rows: the input columns echoed into every row, the output column order, and
:class:`~scisuite.domains.molecule.model.MoleculePrediction` -> one row per molecule."""

from __future__ import annotations

from typing import Any

from torch_geometric.data import Batch

from scisuite.core.plugin import Predicted
from scisuite.core.records import EchoField
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.model import MoleculePrediction

#: Input columns copied into every row (``echo_columns``), first in the table.
ECHO_COLUMNS = ("id", "smiles")


echo_columns = EchoField("smiles")
"""The record's id and its input SMILES (also for unreadable records)."""


def value_columns(config: MoleculeConfig) -> list[str]:
    """One column per target, each followed by ``<target>_std`` when the model reports one
    (an ensemble, or mean-variance estimation)."""
    columns = []
    for name in config.target_names:
        columns.append(name)
        if config.reports_std():
            columns.append(f"{name}_std")
    return columns


def output_columns(config: MoleculeConfig) -> list[str]:
    """Echoed input, canonical SMILES, the values, the standardisation note and
    ``applicability`` (empty in the training domain, else ``;``-joined reasons such as
    ``heavy_atoms>max_train(47)``, ``element:Pt``, ``fragments_dropped:2``)."""
    return [
        *ECHO_COLUMNS,
        "canonical_smiles",
        *value_columns(config),
        "standardisation",
        "applicability",
    ]


def postprocess(
    prediction: MoleculePrediction, batch: Batch, config: MoleculeConfig
) -> list[Predicted]:
    """One :class:`Predicted` per molecule: its row (canonical SMILES, the values and, where
    the model reports one, their std, the standardisation note) and its own
    :class:`MoleculeValues`."""
    results = []
    for i in range(batch.num_graphs):
        values = prediction.values(i, config.target_names)
        row: dict[str, Any] = {
            "canonical_smiles": batch.canonical_smiles[i],
            "standardisation": batch.standardisation[i],
            "applicability": batch.applicability[i],
        }
        for name in config.target_names:
            row[name] = values.mean[name]
            if config.reports_std():
                row[f"{name}_std"] = values.std[name]
        results.append(Predicted(row, values))
    return results
