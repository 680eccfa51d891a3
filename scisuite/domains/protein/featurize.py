"""A sequence record -> the model's input graph for prediction (the length policy applies)."""

from __future__ import annotations

import re
from collections import Counter

import torch
from torch_geometric.data import Data

from scisuite.core.config import FrozenConfig
from scisuite.core.records import Record, RecordError
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.fasta import UNKNOWN_RESIDUE
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
            f"sequence of {length} residues exceeds the limit max_sequence_length="
            f"{config.max_sequence_length}; split it into domains and predict them "
            "separately, or raise max_sequence_length in the checkpoint's config.json (in "
            "Python: predictor.config = predictor.config.replace(max_sequence_length=N))",
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
    notes = str(record.payload.get("notes", ""))
    ids = ByteTokenizer().encode(sequence)
    tokens = torch.tensor([BOS_ID, *ids, EOS_ID], dtype=torch.long)
    return Data(
        x=tokens[:-1],
        y=tokens[1:],
        loss_mask=torch.zeros(len(ids) + 1, dtype=torch.bool),
        task=torch.tensor([-1]),
        num_nodes=len(ids) + 1,
        sequence=sequence,
        notes=notes,
        applicability=";".join(applicability_flags(sequence, notes, config)),
    )


#: What a reader note says for each letter it replaced (``fasta.normalise_sequence``).
_MAPPED = re.compile(r"mapped \w->\w \([^)]*\) x(\d+)")
#: One residue above this fraction of a sequence is unusual composition.
MAX_RESIDUE_FRACTION = 0.5


def applicability_flags(sequence: str, notes: str, config: ProteinConfig) -> list[str]:
    """Where a sequence lies outside the training domain; empty: in domain.

    Flags: ``peptide_length>max_train(N)`` / ``peptide_length<min_train(N)`` when an
    antimicrobial / anticancer probability is given for a length the peptide data did not
    span (checkpoints without ``amp_domain`` / ``acp_domain``; with them the postprocessor
    flags each probability, ``applicability.domain_flags``); ``chain_length>max_train(N)``
    when the config knows its longest training chain; ``composition:A=62%`` when one
    residue is more than half of the sequence (10 residues or more);
    ``unknown_residues:K`` for ``X``; ``mapped_residues:K`` for letters the reader replaced
    (selenocysteine, ambiguous codes; its notes say which).
    """
    flags = []
    length = len(sequence)
    low, high = config.train_peptide_length
    legacy = config.amp_domain is None and config.acp_domain is None
    if (
        legacy
        and any(t in config.predict_tasks for t in ("amp", "acp"))
        and length <= config.peptide_max_length
    ):
        if length > high:
            flags.append(f"peptide_length>max_train({high})")
        elif length < low:
            flags.append(f"peptide_length<min_train({low})")
    if config.train_max_chain_length and length > config.train_max_chain_length:
        flags.append(f"chain_length>max_train({config.train_max_chain_length})")
    if length >= 10:
        letter, count = Counter(sequence).most_common(1)[0]
        if count > MAX_RESIDUE_FRACTION * length:
            flags.append(f"composition:{letter}={100 * count / length:.0f}%")
    unknown = sequence.count(UNKNOWN_RESIDUE)
    if unknown:
        flags.append(f"unknown_residues:{unknown}")
    mapped = sum(int(count) for count in _MAPPED.findall(notes))
    if mapped:
        flags.append(f"mapped_residues:{mapped}")
    return flags
