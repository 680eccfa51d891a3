"""Prompt grammar and task definitions: every task is text in, text out.

One example is ``<bos> keyword [ input ] = answer <eos>`` in bytes (``tokenizer.py``); the
loss counts only on the answer (after the answer delimiter) and the eos. With the default
:class:`PromptGrammar`:

==================  =========  ================================  ===============================
task                direction  prompt                            answer
==================  =========  ================================  ===============================
``ss3``             forward    ``ss3[MKVL]=``                    ``MKVLCHHH`` (echo, DSSP3)
``ss8``             forward    ``ss8[MKVL]=``                    ``MKVLCGGH`` (echo, DSSP8)
``content``         forward    ``ssc[MKVL]=``                    ``0.45,0.10,0.45`` (H, E, C)
``amp``             forward    ``amp[GLFKK]=``                   ``1`` (antimicrobial) / ``0``
``acp``             forward    ``acp[GLFKK]=``                   ``1`` (anticancer) / ``0``
``continue``        forward    ``cont[MKVLAT]=``                 the next ``n`` residues
``solubility``      forward    ``sol[MKVL]=``                    ``0.73`` (fraction soluble)
``design_ss3``      inverse    ``dss3[CHHH]=``                   ``CHHHMKVL`` (echo, residues)
``design_content``  inverse    ``dssc[0.60,0.10,0.30]=``         ``MKVL...`` (free length)
``design_amp``      inverse    ``damp[1]=``                      ``GLFKK...`` (free length)
``design_prefix``   inverse    ``dpre[MKVL]=``                   the rest of a whole protein
==================  =========  ================================  ===============================

Per-residue tasks *echo* the known letters into the answer (``echo_residues``): the
answer first repeats residues ``1..k`` (``k = echo_lookahead``, default 4), then alternates
residue ``i + k`` and label ``i``, then the last ``k`` labels (so a 4-residue input echoes
all four residues first, as in the table; ``ss3[MKVLAT]=`` is answered ``MKVLACTHHHHH``).
When label ``i`` is predicted the residues up to ``i + k`` sit at fixed distances behind
it, so the model reads a local sequence window without counting positions to align answer
and input (the echoed letters are forced at decoding and carry no loss). With ``k = 0``
the answer is plain ``residue, label`` pairs (``MCKHVHLH``); ``echo_residues=False`` gives the bare
``ss3[MKVL]=CHHH`` form. Training inputs may replace previous labels with random ones
(``ProteinConfig.answer_noise``) so that the model reads the sequence rather than copying
its last label.

Each :class:`Task` knows its prompt, its training answer, the :class:`AnswerConstraint`
that constrained decoding enforces (amino acids for designs, digits and fixed punctuation
for numbers, SS letters for per-residue answers) and how to parse a generated answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from scisuite.core.config import FrozenConfig, require
from scisuite.domains.protein.fasta import STANDARD_RESIDUES
from scisuite.domains.protein.tokenizer import BOS_ID, EOS_ID, ByteTokenizer

SS3_ALPHABET = "HEC"
SS8_ALPHABET = "HGIEBTSC"
#: Letters designs may use (no ``X``: a design names every residue).
AMINO_ACIDS = STANDARD_RESIDUES
DIGITS = "0123456789"
BINARY = "01"
#: DSSP marker of an unlabelled residue (``dssp.py``): no loss at that position.
UNLABELLED = "?"

FORWARD_TASKS = ("ss3", "ss8", "content", "amp", "acp", "continue", "solubility")
INVERSE_TASKS = ("design_ss3", "design_content", "design_amp", "design_prefix")
TASK_NAMES = FORWARD_TASKS + INVERSE_TASKS
CONTENT_CLASSES = ("helix", "strand", "coil")

DEFAULT_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("ss3", "ss3"),
    ("ss8", "ss8"),
    ("content", "ssc"),
    ("amp", "amp"),
    ("acp", "acp"),
    ("continue", "cont"),
    ("solubility", "sol"),
    ("design_ss3", "dss3"),
    ("design_content", "dssc"),
    ("design_amp", "damp"),
    ("design_prefix", "dpre"),
)


@dataclass(frozen=True)
class PromptGrammar(FrozenConfig):
    """How tasks are written as text.

    Args:
        keywords: ``(task, keyword)`` pairs; a keyword starts the prompt (ASCII letters /
            digits; unique).
        open: delimiter before the task input (default ``"["``).
        close: delimiter after the task input (default ``"]"``).
        answer: the answer delimiter; the loss counts only after it (default ``"="``).
        separator: between numbers of a multi-number field (default ``","``).
        decimals: digits after the point of fractions (default 2, e.g. ``0.45``).
        echo_residues: per-residue answers interleave the known letters and the predicted
            ones (default True; see the module docstring).
        echo_lookahead: residues echoed ahead of their label (default 4; 0 = pairs).
    """

    keywords: tuple[tuple[str, str], ...] = DEFAULT_KEYWORDS
    open: str = "["
    close: str = "]"
    answer: str = "="
    separator: str = ","
    decimals: int = 2
    echo_residues: bool = True
    echo_lookahead: int = 4

    def validate(self) -> None:
        names = [task for task, _ in self.keywords]
        words = [word for _, word in self.keywords]
        missing = sorted(set(TASK_NAMES) - set(names))
        require(not missing, f"grammar keywords lack task(s) {missing}")
        require(len(set(names)) == len(names), "a task has two keywords")
        require(len(set(words)) == len(words), f"keywords must be unique, got {words}")
        require(all(w.isascii() and w.isalnum() for w in words), "keywords must be ASCII alnum")
        delimiters = (self.open, self.close, self.answer, self.separator)
        require(
            all(len(d) == 1 and d.isascii() and not d.isalnum() for d in delimiters),
            f"delimiters must be single ASCII punctuation characters, got {delimiters}",
        )
        require(len(set(delimiters)) == 4, f"delimiters must differ, got {delimiters}")
        require(
            "." not in delimiters and UNLABELLED not in delimiters,
            "'.' (decimal point) and '?' (unlabelled) cannot be delimiters",
        )
        require(1 <= self.decimals <= 4, f"decimals must be in 1..4, got {self.decimals}")
        require(self.echo_lookahead >= 0, f"echo_lookahead must be >= 0, got {self.echo_lookahead}")

    def keyword(self, task: str) -> str:
        for name, word in self.keywords:
            if name == task:
                return word
        raise KeyError(f"unknown task {task!r}; tasks are {list(TASK_NAMES)}")

    def prompt(self, task: str, payload: str) -> str:
        """``keyword open payload close answer``, e.g. ``"ss3[MKV]="``."""
        return f"{self.keyword(task)}{self.open}{payload}{self.close}{self.answer}"

    def prompt_overhead(self, task: str) -> int:
        """Characters of a prompt besides its payload, plus bos and eos tokens."""
        return len(self.prompt(task, "")) + 2

    def format_fraction(self, value: float) -> str:
        """A fraction in [0, 1] with ``decimals`` digits (values outside are clipped)."""
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} as a fraction")
        return f"{min(max(value, 0.0), 1.0):.{self.decimals}f}"

    def fraction_slots(self) -> tuple[str, ...]:
        """Allowed characters per position of a fraction: ``[01] . d d``."""
        return (BINARY, ".", *([DIGITS] * self.decimals))

    def format_fractions(self, values: Sequence[float]) -> str:
        return self.separator.join(self.format_fraction(v) for v in values)

    def fractions_slots(self, count: int) -> tuple[str, ...]:
        slots: list[str] = []
        for index in range(count):
            if index:
                slots.append(self.separator)
            slots.extend(self.fraction_slots())
        return tuple(slots)

    def parse_fractions(self, text: str, count: int) -> tuple[float, ...]:
        """``"0.45,0.10,0.45"`` -> floats; NaNs when the text does not hold ``count`` numbers."""
        parts = text.split(self.separator)
        try:
            values = tuple(float(p) for p in parts)
        except ValueError:
            return (math.nan,) * count
        return values if len(values) == count else (math.nan,) * count


@dataclass(frozen=True)
class AnswerConstraint:
    """What constrained decoding lets an answer hold.

    The answer is ``len(slots)`` fixed positions (``slots[t]`` = the characters allowed at
    position ``t``; one character = forced), then a free part of ``min_free..max_free``
    characters of ``alphabet``, then eos. With ``max_free == 0`` the answer ends after the
    slots.
    """

    slots: tuple[str, ...] = ()
    alphabet: str = ""
    min_free: int = 0
    max_free: int = 0

    def __post_init__(self) -> None:
        if any(not s for s in self.slots):
            raise ValueError("every slot needs at least one allowed character")
        if self.max_free and not self.alphabet:
            raise ValueError("a free answer part needs an alphabet")
        if not 0 <= self.min_free <= self.max_free:
            raise ValueError(
                f"need 0 <= min_free <= max_free, got {self.min_free}, {self.max_free}"
            )

    @property
    def max_length(self) -> int:
        """Most answer characters (eos not counted)."""
        return len(self.slots) + self.max_free

    def allowed(self, position: int) -> tuple[str, bool]:
        """``(characters, eos allowed)`` at answer ``position`` (0-based)."""
        if position < len(self.slots):
            return self.slots[position], False
        free = position - len(self.slots)
        if free >= self.max_free:
            return "", True
        return self.alphabet, free >= self.min_free

    def forced(self, position: int) -> str | None:
        """The only character allowed at ``position``, if exactly one is (and no eos)."""
        chars, eos = self.allowed(position)
        return chars if len(chars) == 1 and not eos else None

    def is_complete(self, position: int) -> bool:
        """True when ``position`` characters make a whole answer that must stop there."""
        return position >= len(self.slots) and self.max_free == 0


@dataclass(frozen=True)
class Example:
    """Inputs and labels of one task example (fields a task does not use stay empty).

    Attributes:
        task: task name.
        sequence: residues (the input of forward tasks, the answer of inverse ones).
        ss: per-residue SS string (DSSP3 or DSSP8, as long as ``sequence``).
        values: numbers: SS fractions (helix, strand, coil) or a label.
        prefix: the given start of a sequence (``continue`` / ``design_prefix``).
    """

    task: str
    sequence: str = ""
    ss: str = ""
    values: tuple[float, ...] = ()
    prefix: str = ""


def echo_layout(length: int, lookahead: int) -> list[tuple[bool, int]]:
    """Positions of an echoed per-residue answer of ``length`` residues.

    Returns:
        per answer character ``(is_label, index)``: the label or the known letter of
        residue ``index`` (see the module docstring).
    """
    k = min(lookahead, length)
    layout = [(False, j) for j in range(k)]
    for i in range(length):
        if i + k < length:
            layout.append((False, i + k))
        layout.append((True, i))
    return layout


def _echo(known: str, predicted: str, lookahead: int) -> str:
    layout = echo_layout(len(known), lookahead)
    return "".join(predicted[i] if is_label else known[i] for is_label, i in layout)


@dataclass(frozen=True)
class Task:
    """One task of the multi-task model.

    Attributes:
        name: task name (a key of :data:`TASKS`).
        inverse: True for design tasks (the answer is a sequence).
        source: data set the examples come from: ``structures``, ``peptides``, ``uniprot``
            or ``solubility`` (user data only).
        answer_alphabet: characters the answer's predicted positions may hold.
        description: one line for documentation.
    """

    name: str
    inverse: bool
    source: str
    answer_alphabet: str
    description: str = ""
    per_residue: bool = field(default=False)

    # -- text ---------------------------------------------------------------------------------
    def payload(self, grammar: PromptGrammar, example: Example) -> str:
        """The task input written between the delimiters."""
        if self.name in ("design_ss3",):
            return example.ss
        if self.name == "design_content":
            return grammar.format_fractions(example.values)
        if self.name == "design_amp":
            return str(int(example.values[0]))
        if self.name in ("continue", "design_prefix"):
            return example.prefix
        return example.sequence

    def prompt(self, grammar: PromptGrammar, example: Example) -> str:
        """Prompt text up to and including the answer delimiter."""
        return grammar.prompt(self.name, self.payload(grammar, example))

    def answer(self, grammar: PromptGrammar, example: Example) -> tuple[str, list[bool]]:
        """Training answer text and, per character, whether it carries loss."""
        name = self.name
        if name in ("ss3", "ss8", "design_ss3"):
            known, target = (
                (example.sequence, example.ss)
                if name != "design_ss3"
                else (example.ss, example.sequence)
            )
            if len(known) != len(target):
                raise ValueError(f"{name}: sequence and SS string differ in length")
            labelled = [c != UNLABELLED for c in target]
            if grammar.echo_residues:
                layout = echo_layout(len(known), grammar.echo_lookahead)
                text = _echo(known, target, grammar.echo_lookahead)
                return text, [is_label and labelled[i] for is_label, i in layout]
            return target, labelled
        if name == "content":
            text = grammar.format_fractions(example.values)
            return text, [c in DIGITS for c in text]
        if name in ("amp", "acp"):
            text = str(int(example.values[0]))
            return text, [True]
        if name == "solubility":
            text = grammar.format_fraction(example.values[0])
            return text, [c in DIGITS for c in text]
        if name == "continue":
            return example.sequence, [True] * len(example.sequence)
        # design_content, design_amp, design_prefix: the sequence, then eos
        return example.sequence, [True] * len(example.sequence)

    # -- decoding ----------------------------------------------------------------------------
    def constraint(
        self,
        grammar: PromptGrammar,
        example: Example,
        min_length: int = 1,
        max_length: int = 0,
    ) -> AnswerConstraint:
        """The answer constraint for ``example`` (labels unused; only the inputs).

        Args:
            grammar: the grammar.
            example: the task inputs.
            min_length, max_length: residues of free-length designs (``design_content``,
                ``design_amp``, ``design_prefix``) and of ``continue`` (its fixed length:
                ``max_length``).
        """
        name = self.name
        if name in ("ss3", "ss8"):
            alphabet = SS3_ALPHABET if name == "ss3" else SS8_ALPHABET
            if grammar.echo_residues:
                return AnswerConstraint(
                    slots=_echo_slots(example.sequence, alphabet, grammar.echo_lookahead)
                )
            return AnswerConstraint(slots=(alphabet,) * len(example.sequence))
        if name == "design_ss3":
            if grammar.echo_residues:
                return AnswerConstraint(
                    slots=_echo_slots(example.ss, AMINO_ACIDS, grammar.echo_lookahead)
                )
            return AnswerConstraint(slots=(AMINO_ACIDS,) * len(example.ss))
        if name == "content":
            return AnswerConstraint(slots=grammar.fractions_slots(len(CONTENT_CLASSES)))
        if name in ("amp", "acp"):
            return AnswerConstraint(slots=(BINARY,))
        if name == "solubility":
            return AnswerConstraint(slots=grammar.fraction_slots())
        if name == "continue":
            return AnswerConstraint(slots=(AMINO_ACIDS,) * max(max_length, 1))
        if max_length < min_length or max_length < 1:
            raise ValueError(
                f"{name}: need 1 <= min_length <= max_length, got {min_length}, {max_length}"
            )
        return AnswerConstraint(
            alphabet=AMINO_ACIDS, min_free=max(min_length, 1), max_free=max_length
        )

    def parse(self, grammar: PromptGrammar, text: str) -> str | tuple[float, ...]:
        """A generated answer (eos removed) -> the value: an SS string or a sequence
        (``str``), or numbers (``tuple``; NaN when unreadable)."""
        name = self.name
        if self.per_residue:
            if not grammar.echo_residues:
                return text
            layout = echo_layout(len(text) // 2, grammar.echo_lookahead)
            return "".join(text[p] for p, (is_label, _) in enumerate(layout) if is_label)
        if name == "content":
            return grammar.parse_fractions(text, len(CONTENT_CLASSES))
        if name in ("amp", "acp", "solubility"):
            try:
                return (float(text),)
            except ValueError:
                return (math.nan,)
        return text


def _echo_slots(known: str, alphabet: str, lookahead: int) -> tuple[str, ...]:
    """Constraint slots of an echoed answer: known letters forced, labels over ``alphabet``."""
    return tuple(
        alphabet if is_label else known[i] for is_label, i in echo_layout(len(known), lookahead)
    )


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("ss3", False, "structures", SS3_ALPHABET, "per-residue DSSP 3-state", True),
        Task("ss8", False, "structures", SS8_ALPHABET, "per-residue DSSP 8-state", True),
        Task("content", False, "structures", DIGITS, "helix, strand, coil fractions"),
        Task("amp", False, "peptides", BINARY, "antimicrobial activity (1 = active)"),
        Task("acp", False, "peptides", BINARY, "anticancer activity (1 = active)"),
        Task("continue", False, "uniprot", AMINO_ACIDS, "the next residues of a sequence"),
        Task("solubility", False, "solubility", DIGITS, "soluble fraction (user data only)"),
        Task("design_ss3", True, "structures", AMINO_ACIDS, "sequence for an SS string", True),
        Task("design_content", True, "structures", AMINO_ACIDS, "sequence for SS fractions"),
        Task("design_amp", True, "peptides", AMINO_ACIDS, "peptide for an activity label"),
        Task("design_prefix", True, "uniprot", AMINO_ACIDS, "whole protein from a prefix"),
    )
}


def get_task(name: str) -> Task:
    """The task called ``name`` (a helpful error otherwise)."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; tasks are {list(TASKS)}")
    return TASKS[name]


def ss_content(ss3: str) -> tuple[float, float, float]:
    """Helix, strand and coil fractions of a DSSP3 string (``?`` positions not counted)."""
    labelled = [c for c in ss3 if c in SS3_ALPHABET]
    if not labelled:
        return (math.nan, math.nan, math.nan)
    n = len(labelled)
    return tuple(labelled.count(c) / n for c in SS3_ALPHABET)  # type: ignore[return-value]


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of one training example and where its loss counts.

    Attributes:
        ids: ``[T]`` token ids: bos, prompt, answer, eos.
        supervised: ``[T]`` True where the token is a supervised answer token (or the eos).
        answer_start: index in ``ids`` of the first answer token.
    """

    ids: list[int]
    supervised: list[bool]
    answer_start: int


def encode_example(
    grammar: PromptGrammar, example: Example, tokenizer: ByteTokenizer | None = None
) -> EncodedExample:
    """Build the token ids and loss mask of a training example.

    The model reads ``ids[:-1]`` and is trained to predict ``ids[1:]`` where
    ``supervised[1:]`` is True: the answer's labelled characters and the closing eos.
    Prompt tokens and echoed letters never carry loss.
    """
    tokenizer = tokenizer or ByteTokenizer()
    task = get_task(example.task)
    prompt = task.prompt(grammar, example)
    answer, flags = task.answer(grammar, example)
    prompt_ids = tokenizer.encode(prompt)
    answer_ids = tokenizer.encode(answer)
    if len(answer_ids) != len(flags):
        raise ValueError(f"{example.task}: answer must be single-byte characters")
    ids = [BOS_ID, *prompt_ids, *answer_ids, EOS_ID]
    supervised = [False] * (1 + len(prompt_ids)) + flags + [True]
    return EncodedExample(ids, supervised, 1 + len(prompt_ids))


def per_residue_window(grammar: PromptGrammar, task: str, max_tokens: int) -> int:
    """Most residues a per-residue task example (``ss3``, ``ss8``, ``design_ss3``) may hold
    within ``max_tokens`` tokens (bos, prompt, answer and eos)."""
    per_residue = 3 if grammar.echo_residues else 2
    return max((max_tokens - grammar.prompt_overhead(task)) // per_residue, 0)


def single_input_window(grammar: PromptGrammar, task: str, max_tokens: int, answer: int) -> int:
    """Most residues a sequence-input task (``amp``, ``content``, ...) may hold when its
    answer takes ``answer`` characters."""
    return max(max_tokens - grammar.prompt_overhead(task) - answer, 0)
