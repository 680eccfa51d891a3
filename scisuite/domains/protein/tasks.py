"""Multi-task training examples from the built protein data sets.

Sources (``datasets.py``) and the tasks drawn from them:

- structures (``chains.parquet``; identity-based split kept as built) -> ``ss3``, ``ss8``,
  ``content``, ``design_ss3``, ``design_content``;
- peptides (``peptides.parquet``; its seeded stratified split) -> ``amp``, ``acp``,
  ``design_amp``;
- UniProt (``sequences.parquet``; its seeded random split) -> ``continue``,
  ``design_prefix``;
- a user solubility table (``load_solubility_csv``) -> ``solubility``;
- teacher-labelled UniProt sequences (``pseudo_labels.py``) -> the training examples of
  ``ProteinConfig.pseudo_ss_tasks``, drawn like those of real chains.

Chains longer than a task's window are cut into windows. Training draws, per chain and
task, ``task_weight x chain weight x ceil(length / window)`` windows at random offsets (a
whole chain when it fits; the chain weight is the table's ``weight`` column, 1 when a table
has none: ``datasets.family_weights``); validation and test tile each chain once,
deterministically. Every draw uses one ``random.Random(seed)``, so the same request gives the
same examples. Mixing is by example counts (``ProteinConfig.task_weights``); the loss is
the mean over answer tokens of the batch. No curriculum: all tasks are mixed from the first step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch_geometric.data import Data

from scisuite.core.records import Record
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.prompts import (
    AMINO_ACIDS,
    SS3_ALPHABET,
    SS8_ALPHABET,
    TASK_NAMES,
    Example,
    encode_example,
    get_task,
    per_residue_window,
    single_input_window,
    ss_content,
)
from scisuite.domains.protein.tokenizer import ByteTokenizer
from scisuite.domains.protein.windows import plan_windows

SPLITS = ("train", "validation", "test")
#: UniProt examples per task in validation / test, as a fraction of ``uniprot_examples``.
HELD_OUT_UNIPROT_FRACTION = 0.2
_AMINO = frozenset(AMINO_ACIDS)


@dataclass
class Sources:
    """The tables the enabled tasks draw from (None when no enabled task needs one).

    Attributes:
        structures: ``id, sequence, dssp3, dssp8, split`` per chain.
        peptides: ``sequence, label, task, split`` per peptide.
        uniprot: ``id, sequence, split`` per sequence.
        solubility: ``id, sequence, label, split`` per user record (labels in [0, 1]).
        pseudo_ss: ``id, sequence, dssp3, split`` per teacher-labelled UniProt sequence
            (``pseudo_labels.py``), read by ``ProteinConfig.pseudo_ss_tasks`` in training.
    """

    structures: pd.DataFrame | None = None
    peptides: pd.DataFrame | None = None
    uniprot: pd.DataFrame | None = None
    solubility: pd.DataFrame | None = None
    pseudo_ss: pd.DataFrame | None = None


def needed_sources(tasks: Sequence[str]) -> set[str]:
    """Data sets the tasks draw from (``structures``, ``peptides``, ``uniprot``, ...)."""
    return {get_task(t).source for t in tasks}


def solubility_frame(
    records: Sequence[Record], seed: int, splits: Sequence[str] = ()
) -> pd.DataFrame:
    """Solubility records -> a table with labels in [0, 1] and a split.

    Labels above 1 are read as percentages (eSOL) and divided by 100. Without ``splits``
    the records are split 80/10/10 at random with ``random.Random(seed)``.
    """
    rows = [
        {"id": r.id, "sequence": r.payload["sequence"], "label": float(r.payload["label"])}
        for r in records
    ]
    frame = pd.DataFrame(rows, columns=["id", "sequence", "label"])
    if len(frame) and frame["label"].max() > 1.0:
        frame["label"] = frame["label"] / 100.0
    frame["label"] = frame["label"].clip(0.0, 1.0)
    if splits:
        frame["split"] = list(splits)
    else:
        order = list(range(len(frame)))
        random.Random(seed).shuffle(order)
        cut = [round(f * len(frame)) for f in (0.8, 0.9)]
        names = ["train"] * len(frame)
        for rank, index in enumerate(order):
            names[index] = "train" if rank < cut[0] else "validation" if rank < cut[1] else "test"
        frame["split"] = names
    return frame


def _draws(weight: float, base: int, rng: random.Random) -> int:
    """``weight * base`` rounded stochastically (so weights below 1 subsample)."""
    exact = weight * base
    whole = math.floor(exact)
    return whole + (1 if rng.random() < exact - whole else 0)


def _windows(
    length: int, window: int, weight: float, train: bool, rng: random.Random
) -> list[tuple[int, int]]:
    """Residue ranges of one chain: random windows (train) or a tiling (held out)."""
    if not train:
        return [(w.start, w.end) for w in plan_windows(length, window, 0)]
    count = _draws(weight, math.ceil(length / window), rng)
    if length <= window:
        return [(0, length)] * count
    starts = [rng.randint(0, length - window) for _ in range(count)]
    return [(s, s + window) for s in starts]


def structure_examples(
    frame: pd.DataFrame, config: ProteinConfig, split: str, rng: random.Random
) -> Iterator[Example]:
    """Structure-task examples of one split (windows as in the module docstring)."""
    grammar, train = config.grammar, split == "train"
    part = frame[frame["split"] == split]
    windows = {
        "ss3": per_residue_window(grammar, "ss3", config.max_length),
        "ss8": per_residue_window(grammar, "ss8", config.max_length),
        "design_ss3": per_residue_window(grammar, "design_ss3", config.max_length),
        "content": single_input_window(grammar, "content", config.max_length, 14),
        "design_content": config.design_max_length,
    }
    for task in config.tasks:
        if task not in windows:
            continue
        weight = config.task_weight(task)
        for row in part.itertuples(index=False):
            labels = row.dssp8 if task == "ss8" else row.dssp3
            if not isinstance(labels, str) or len(labels) != len(row.sequence):
                continue
            draws = weight * float(getattr(row, "weight", 1.0))  # family weight, if built
            for start, end in _windows(len(row.sequence), windows[task], draws, train, rng):
                sequence, ss = row.sequence[start:end], labels[start:end]
                if task in ("ss3", "ss8"):
                    yield Example(task, sequence=sequence, ss=ss)
                    continue
                if not _AMINO.issuperset(sequence):
                    continue  # designs never contain X
                if task == "design_ss3":
                    if set(ss) <= set(SS3_ALPHABET):
                        yield Example(task, sequence=sequence, ss=ss)
                    continue
                content = ss_content(ss)
                if math.isnan(content[0]):
                    continue
                if task == "content":
                    yield Example(task, sequence=sequence, values=content)
                else:
                    rounded = tuple(float(config.grammar.format_fraction(v)) for v in content)
                    yield Example(task, sequence=sequence, values=rounded)


def _sample_rows(part: pd.DataFrame, weight: float, train: bool, rng: random.Random) -> list:
    rows = list(part.itertuples(index=False))
    if not train:
        return rows
    count = _draws(weight, len(rows), rng)
    picked = [rows[i % len(rows)] for i in range(count)] if rows else []
    rng.shuffle(picked)
    return picked


def peptide_examples(
    frame: pd.DataFrame, config: ProteinConfig, split: str, rng: random.Random
) -> Iterator[Example]:
    """``amp`` / ``acp`` / ``design_amp`` examples of one split."""
    part = frame[frame["split"] == split]
    limit = single_input_window(config.grammar, "amp", config.max_length, 1)
    part = part[part["sequence"].str.len() <= limit]
    train = split == "train"
    for task in config.tasks:
        weight = config.task_weight(task)
        if task in ("amp", "acp", "design_amp"):
            kind = "anticancer" if task == "acp" else "antimicrobial"
            for row in _sample_rows(part[part["task"] == kind], weight, train, rng):
                if task == "design_amp" and not _AMINO.issuperset(row.sequence):
                    continue
                yield Example(task, sequence=row.sequence, values=(float(row.label),))


def uniprot_examples(
    frame: pd.DataFrame, config: ProteinConfig, split: str, rng: random.Random
) -> Iterator[Example]:
    """``continue`` / ``design_prefix`` examples drawn from one split."""
    part = frame[frame["split"] == split]
    train = split == "train"
    base = (
        config.uniprot_examples
        if train
        else max(1, round(config.uniprot_examples * HELD_OUT_UNIPROT_FRACTION))
    )
    longest_whole = config.max_length - config.grammar.prompt_overhead("design_prefix")
    whole = part[part["sequence"].str.len() <= longest_whole]
    for task in config.tasks:
        if task == "continue":
            pool = part
        elif task == "design_prefix":
            pool = whole
        else:
            continue
        sequences = list(pool["sequence"])
        if not sequences:
            continue
        count = _draws(config.task_weight(task), base, rng) if train else base
        local = rng if train else random.Random(TASK_NAMES.index(task))
        for _ in range(count):
            sequence = sequences[local.randrange(len(sequences))]
            if task == "continue":
                need = 8 + config.continue_length
                if len(sequence) < need:
                    continue
                p = local.randint(
                    8, min(config.prefix_length, len(sequence) - config.continue_length)
                )
                start = local.randint(0, len(sequence) - p - config.continue_length)
                prefix = sequence[start : start + p]
                answer = sequence[start + p : start + p + config.continue_length]
            else:
                p = local.randint(1, min(config.prefix_length, len(sequence) - 1))
                prefix, answer = sequence[:p], sequence[p:]
            if _AMINO.issuperset(answer) and prefix:
                yield Example(task, sequence=answer, prefix=prefix)


def solubility_examples(
    frame: pd.DataFrame, config: ProteinConfig, split: str, rng: random.Random
) -> Iterator[Example]:
    """``solubility`` examples of one split (sequences longer than the window are skipped)."""
    if "solubility" not in config.tasks:
        return
    limit = single_input_window(config.grammar, "solubility", config.max_length, 4)
    part = frame[(frame["split"] == split) & (frame["sequence"].str.len() <= limit)]
    for row in _sample_rows(part, config.task_weight("solubility"), split == "train", rng):
        yield Example("solubility", sequence=row.sequence, values=(float(row.label),))


def pseudo_ss_view(config: ProteinConfig) -> ProteinConfig:
    """The config that draws the pseudo-labelled examples: only ``pseudo_ss_tasks``, each
    at its task weight x ``pseudo_ss_weight``."""
    tasks = config.pseudo_ss_tasks
    weights = tuple(config.task_weight(t) * config.pseudo_ss_weight for t in tasks)
    return config.replace(tasks=tasks, task_weights=weights)


def split_examples(sources: Sources, config: ProteinConfig, split: str, seed: int) -> list[Example]:
    """All examples of one split, in a seeded shuffled order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    rng = random.Random(f"{seed}:{split}")
    examples: list[Example] = []
    if sources.structures is not None:
        examples += structure_examples(sources.structures, config, split, rng)
    if sources.peptides is not None:
        examples += peptide_examples(sources.peptides, config, split, rng)
    if sources.uniprot is not None:
        examples += uniprot_examples(sources.uniprot, config, split, rng)
    if sources.solubility is not None:
        examples += solubility_examples(sources.solubility, config, split, rng)
    if sources.pseudo_ss is not None and config.pseudo_ss_tasks and split == "train":
        # drawn last, so the other tasks' examples are those of a run without pseudo-labels
        examples += structure_examples(sources.pseudo_ss, pseudo_ss_view(config), split, rng)
    rng.shuffle(examples)
    return examples


def example_to_data(
    example: Example, config: ProteinConfig, rng: random.Random | None = None
) -> Data:
    """Featurize one example: ``x [T-1]`` input ids, ``y [T-1]`` next-token targets,
    ``loss_mask [T-1]`` (answer tokens and eos), ``task [1]`` index into ``TASK_NAMES``.

    With ``rng`` and ``config.answer_noise > 0``, previous-label inputs of ``ss3`` / ``ss8``
    answers are replaced by random labels at that rate (targets unchanged).

    Raises:
        ValueError: the example does not fit in ``config.max_length`` tokens.
    """
    encoded = encode_example(config.grammar, example)
    if len(encoded.ids) > config.max_length:
        raise ValueError(
            f"{example.task} example of {len(encoded.ids)} tokens exceeds max_length="
            f"{config.max_length}"
        )
    ids = torch.tensor(encoded.ids, dtype=torch.long)
    supervised = torch.tensor(encoded.supervised, dtype=torch.bool)
    x = ids[:-1].clone()
    if rng is not None and config.answer_noise > 0 and example.task in ("ss3", "ss8"):
        alphabet = ByteTokenizer().ids_of(SS3_ALPHABET if example.task == "ss3" else SS8_ALPHABET)
        for position in torch.nonzero(supervised[:-1]).flatten().tolist():
            if rng.random() < config.answer_noise:
                x[position] = alphabet[rng.randrange(len(alphabet))]
    return Data(
        x=x,
        y=ids[1:],
        loss_mask=supervised[1:],
        task=torch.tensor([TASK_NAMES.index(example.task)]),
        num_nodes=int(x.numel()),
    )


def featurize_examples(
    examples: Sequence[Example], config: ProteinConfig, seed: int, train: bool
) -> list[Data]:
    """Featurize examples (answer noise only when ``train``)."""
    rng = random.Random(f"noise:{seed}") if train else None
    return [example_to_data(e, config, rng) for e in examples]


def bucket_examples(graphs: Sequence[Data], bucket_tokens: int, seed: int) -> list[Data]:
    """Group examples of similar length into graphs of at most ``bucket_tokens`` padded
    tokens (``examples x longest``), so a batch of one bucket wastes little attention on
    padding.

    Each bucket holds ``x, y, loss_mask`` of its examples end to end, ``segment [T]`` (the
    example of every token, from 0) and ``task [k]``; the model keeps examples apart. The
    grouping is seeded (ties in length are broken at random); buckets come back shuffled.
    """
    rng = random.Random(f"buckets:{seed}")
    order = sorted(range(len(graphs)), key=lambda i: (int(graphs[i].num_nodes), rng.random()))
    buckets: list[list[Data]] = []
    for index in order:
        graph = graphs[index]
        current = buckets[-1] if buckets else None
        if current is not None and (len(current) + 1) * int(graph.num_nodes) <= bucket_tokens:
            current.append(graph)
        else:
            buckets.append([graph])
    rng.shuffle(buckets)
    return [
        Data(
            x=torch.cat([g.x for g in bucket]),
            y=torch.cat([g.y for g in bucket]),
            loss_mask=torch.cat([g.loss_mask for g in bucket]),
            segment=torch.cat(
                [torch.full((int(g.num_nodes),), k, dtype=torch.long) for k, g in enumerate(bucket)]
            ),
            task=torch.cat([g.task for g in bucket]),
            num_nodes=sum(int(g.num_nodes) for g in bucket),
        )
        for bucket in buckets
    ]


def example_key(example: Example) -> str:
    """A stable text identity of an example (for the training-data fingerprint)."""
    return f"{example.task}|{example.prefix}|{example.sequence}|{example.ss}|{example.values}"


def load_table(path: Path) -> pd.DataFrame:
    """Read a built data set's Parquet table."""
    return pd.read_parquet(path)
