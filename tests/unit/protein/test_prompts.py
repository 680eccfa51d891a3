"""Prompt grammar and tasks: formats, loss masks, and constraints that accept every answer."""

from __future__ import annotations

import math

import pytest

from scisuite.core.config import ConfigError
from scisuite.domains.protein.prompts import (
    AMINO_ACIDS,
    DEFAULT_KEYWORDS,
    FORWARD_TASKS,
    INVERSE_TASKS,
    TASKS,
    AnswerConstraint,
    Example,
    PromptGrammar,
    echo_layout,
    encode_example,
    get_task,
    per_residue_window,
    ss_content,
)
from scisuite.domains.protein.tokenizer import BOS_ID, EOS_ID, ByteTokenizer

SEQ = "MKTAYIAKQR"
SS = "CHHHHEE?CC"
EXAMPLES = {
    "ss3": Example("ss3", sequence=SEQ, ss=SS),
    "ss8": Example("ss8", sequence=SEQ, ss="CHHGGEBTSC"),
    "content": Example("content", sequence=SEQ, values=(0.4, 0.2, 0.4)),
    "amp": Example("amp", sequence="GIGKFLHSAK", values=(1.0,)),
    "acp": Example("acp", sequence="GIGKFLHSAK", values=(0.0,)),
    "continue": Example("continue", prefix="MKTA", sequence="YIAK"),
    "solubility": Example("solubility", sequence=SEQ, values=(0.73,)),
    "design_ss3": Example("design_ss3", sequence=SEQ, ss="CHHHHEEECC"),
    "design_content": Example("design_content", sequence=SEQ, values=(0.4, 0.2, 0.4)),
    "design_amp": Example("design_amp", sequence="GIGKFLHSAK", values=(1.0,)),
    "design_prefix": Example("design_prefix", prefix="MK", sequence="TAYIAKQR"),
}


def test_at_least_eight_tasks_forward_and_inverse() -> None:
    assert len(TASKS) >= 8 and set(TASKS) == set(FORWARD_TASKS) | set(INVERSE_TASKS)
    assert {t for t in TASKS if TASKS[t].inverse} == set(INVERSE_TASKS)


def test_grammar_round_trips_and_validates() -> None:
    grammar = PromptGrammar(open="<", close=">", decimals=3)
    assert PromptGrammar.from_json(grammar.to_json()) == grammar
    with pytest.raises(ConfigError, match="unique"):
        PromptGrammar(keywords=(*DEFAULT_KEYWORDS[:-1], ("design_prefix", "ss3")))
    with pytest.raises(ConfigError, match="lack"):
        PromptGrammar(keywords=DEFAULT_KEYWORDS[:-1])
    with pytest.raises(ConfigError, match="differ"):
        PromptGrammar(open="=")
    with pytest.raises(ConfigError, match="delimiters"):
        PromptGrammar(answer="A")


def test_prompt_formats() -> None:
    g = PromptGrammar()
    assert get_task("ss3").prompt(g, EXAMPLES["ss3"]) == "ss3[MKTAYIAKQR]="
    assert get_task("design_content").prompt(g, EXAMPLES["design_content"]) == (
        "dssc[0.40,0.20,0.40]="
    )
    assert get_task("design_amp").prompt(g, EXAMPLES["design_amp"]) == "damp[1]="
    assert get_task("continue").prompt(g, EXAMPLES["continue"]) == "cont[MKTA]="
    answer, _ = get_task("content").answer(g, EXAMPLES["content"])
    assert answer == "0.40,0.20,0.40"
    custom = PromptGrammar(open="<", close=">", answer=":", decimals=1)
    assert get_task("design_content").prompt(custom, EXAMPLES["design_content"]) == (
        "dssc<0.4,0.2,0.4>:"
    )


def test_echoed_per_residue_answer_and_loss_mask() -> None:
    g = PromptGrammar(echo_lookahead=0)
    encoded = encode_example(g, EXAMPLES["ss3"])
    text = ByteTokenizer().decode(encoded.ids)
    assert text == "ss3[MKTAYIAKQR]=MCKHTHAHYHIEAEK?QCRC"
    assert encoded.ids[0] == BOS_ID and encoded.ids[-1] == EOS_ID
    assert encoded.ids[encoded.answer_start - 1] == ord("=")
    pairs = zip(encoded.ids, encoded.supervised, strict=True)
    supervised = [ByteTokenizer().decode([i]) for i, flag in pairs if flag]
    # only the labels (not the echoed residues, not '?') and the eos carry loss
    assert "".join(supervised) == "CHHHHEECC"
    assert not any(encoded.supervised[: encoded.answer_start])
    plain = encode_example(PromptGrammar(echo_residues=False), EXAMPLES["ss3"])
    assert ByteTokenizer().decode(plain.ids).endswith("=CHHHHEE?CC")
    ahead = encode_example(PromptGrammar(echo_lookahead=2), EXAMPLES["ss3"])
    # residues 1-2, then (residue i + 2, label i) pairs, then the last two labels
    assert ByteTokenizer().decode(ahead.ids).endswith("=MKTCAHYHIHAHKEQER?CC")


@pytest.mark.parametrize("length", [1, 3, 4, 9])
@pytest.mark.parametrize("lookahead", [0, 2, 4])
def test_echo_layout_places_every_residue_and_label_once(length: int, lookahead: int) -> None:
    layout = echo_layout(length, lookahead)
    assert len(layout) == 2 * length
    assert sorted(i for is_label, i in layout if is_label) == list(range(length))
    assert sorted(i for is_label, i in layout if not is_label) == list(range(length))
    for position, (is_label, i) in enumerate(layout):
        if is_label:  # residues up to i + lookahead are already in the answer
            seen = {j for flag, j in layout[:position] if not flag}
            assert set(range(min(i + lookahead, length - 1) + 1)) <= seen


@pytest.mark.parametrize("echo", [(True, 0), (True, 4), (False, 0)])
@pytest.mark.parametrize("task", sorted(EXAMPLES))
def test_training_answer_satisfies_its_constraint(task: str, echo: tuple[bool, int]) -> None:
    g = PromptGrammar(echo_residues=echo[0], echo_lookahead=echo[1])
    example = EXAMPLES[task]
    spec = get_task(task)
    answer, flags = spec.answer(g, example)
    assert len(answer) == len(flags)
    longest = len(answer) if task == "continue" else len(answer) + 5  # continue: fixed length
    constraint = spec.constraint(g, example, min_length=1, max_length=longest)
    for position, char in enumerate(answer):
        allowed, _ = constraint.allowed(position)
        if char != "?":
            assert char in allowed, (task, position, char, allowed)
    _, eos_allowed = constraint.allowed(len(answer))
    assert eos_allowed or constraint.is_complete(len(answer))
    parsed = spec.parse(g, answer)
    if task in ("ss3", "ss8"):
        assert parsed == example.ss
    elif task.startswith("design_") or task == "continue":
        assert parsed == example.sequence
    else:
        assert parsed == pytest.approx(example.values, abs=0.01)


def test_constraint_semantics() -> None:
    c = AnswerConstraint(slots=("M", "HEC"), alphabet=AMINO_ACIDS, min_free=1, max_free=2)
    assert c.forced(0) == "M" and c.forced(1) is None
    assert c.allowed(2) == (AMINO_ACIDS, False)
    assert c.allowed(3) == (AMINO_ACIDS, True)
    assert c.allowed(4) == ("", True) and c.max_length == 4
    with pytest.raises(ValueError):
        AnswerConstraint(alphabet="", max_free=3)
    assert AnswerConstraint(slots=("A",)).is_complete(1)


def test_parse_bad_numbers_and_content() -> None:
    g = PromptGrammar()
    assert all(math.isnan(v) for v in get_task("content").parse(g, "0.1,0.2"))
    assert ss_content("HHEC?") == (0.5, 0.25, 0.25)
    assert all(math.isnan(v) for v in ss_content("??"))


def test_window_sizes() -> None:
    g = PromptGrammar()
    overhead = len("ss3[]=") + 2
    assert per_residue_window(g, "ss3", 400) == (400 - overhead) // 3
    assert (
        per_residue_window(PromptGrammar(echo_residues=False), "ss3", 400) == (400 - overhead) // 2
    )
