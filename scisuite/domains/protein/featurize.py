"""A sequence record -> the model's input graph for prediction (the length policy applies)."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from scisuite.core.config import FrozenConfig
from scisuite.core.records import Record, RecordError
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.tokenizer import BOS_ID, EOS_ID, ByteTokenizer


def featurize(record: Record, config: FrozenConfig) -> Data:
    """A sequence for prediction: ``x`` = bos + its bytes (``[L + 1]``), ``y`` the next
    tokens, no loss positions; the sequence and its reader notes ride along.

    Raises:
        RecordError: empty, too long for ``max_sequence_length``, or longer than one
            window under ``long_sequence_policy="refuse"``.
    """
    config = ProteinConfig.coerce(config)
    sequence = record.payload.get("sequence", "") if isinstance(record.payload, dict) else ""
    if not sequence:
        raise RecordError(
            record.id, "empty sequence; add residues or remove the record", record.line
        )
    length, window = len(sequence), config.residue_window()
    if length > config.max_sequence_length:
        raise RecordError(
            record.id,
            f"sequence of {length} residues exceeds max_sequence_length="
            f"{config.max_sequence_length}; split it into domains and predict them separately",
            record.line,
        )
    if config.long_sequence_policy == "refuse" and length > window:
        raise RecordError(
            record.id,
            f"sequence of {length} residues exceeds the model's {window}-residue window and "
            "long_sequence_policy='refuse'; split it, or use a checkpoint with "
            "long_sequence_policy='chunk'",
            record.line,
        )
    ids = ByteTokenizer().encode(sequence)
    tokens = torch.tensor([BOS_ID, *ids, EOS_ID], dtype=torch.long)
    return Data(
        x=tokens[:-1],
        y=tokens[1:],
        loss_mask=torch.zeros(len(ids) + 1, dtype=torch.bool),
        task=torch.tensor([-1]),
        num_nodes=len(ids) + 1,
        sequence=sequence,
        notes=str(record.payload.get("notes", "")),
    )
