"""Generation: cached == full recompute, constraints hold, seeds reproduce, windows tile."""

from __future__ import annotations

import math

import pytest
import torch

from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import (
    AllowedAlphabetLogitsProcessor,
    SamplingConfig,
    design_sequences,
    first_answer_distribution,
    generate,
    predict_sequences,
)
from scisuite.domains.protein.model import ProteinLM
from scisuite.domains.protein.prompts import (
    AMINO_ACIDS,
    SS3_ALPHABET,
    SS8_ALPHABET,
    AnswerConstraint,
    Example,
    PromptGrammar,
    echo_layout,
    get_task,
)
from scisuite.domains.protein.tokenizer import EOS_ID, VOCAB_SIZE
from scisuite.domains.protein.windows import plan_windows


@pytest.fixture(scope="module")
def model(tiny_config) -> ProteinLM:
    torch.manual_seed(0)
    return ProteinLM(tiny_config()).double().eval()


def _jobs(config: ProteinConfig) -> tuple[list[str], list[AnswerConstraint]]:
    g = config.grammar
    examples = [
        Example("ss3", sequence="MKTAYIAKQR"),
        Example("ss8", sequence="GIGK"),
        Example("content", sequence="MKVLA"),
        Example("design_content", values=(0.5, 0.2, 0.3)),
        Example("design_ss3", ss="CHHHEEC"),
        Example("design_prefix", prefix="MK"),
    ]
    prompts = [get_task(e.task).prompt(g, e) for e in examples]
    constraints = [get_task(e.task).constraint(g, e, 3, 12) for e in examples]
    return prompts, constraints


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingConfig(temperature=0.0),
        SamplingConfig(temperature=0.0, repetition_penalty=1.3),
        SamplingConfig(temperature=1.5, top_k=5, top_p=0.9, seed=7),
    ],
)
def test_cached_equals_full_recompute(model, sampling) -> None:
    prompts, constraints = _jobs(model.config)
    cached = generate(model, prompts, constraints, sampling, mode="cached")
    full = generate(model, prompts, constraints, sampling, mode="recompute")
    assert cached.answers == full.answers
    assert cached.stop_reasons == full.stop_reasons and cached.steps == full.steps


def test_constrained_outputs_use_only_their_alphabet(model) -> None:
    config = model.config
    prompts, constraints = _jobs(config)
    hot = SamplingConfig(temperature=5.0, seed=3)
    for seed in range(3):
        result = generate(model, prompts, constraints, hot.replace(seed=seed))
        ss3, ss8, content, design, design_ss3, prefix = result.answers
        assert _known(ss3) == "MKTAYIAKQR" and set(_labels(ss3)) <= set(SS3_ALPHABET)
        assert len(ss3) == 20 and result.stop_reasons[0] == "complete"
        assert _known(ss8) == "GIGK" and set(_labels(ss8)) <= set(SS8_ALPHABET)
        values = get_task("content").parse(config.grammar, content)
        assert len(content) == 14 and all(0 <= v <= 1.99 for v in values)
        assert set(design) <= set(AMINO_ACIDS) and 3 <= len(design) <= 12
        assert _known(design_ss3) == "CHHHEEC" and set(_labels(design_ss3)) <= set(AMINO_ACIDS)
        assert set(prefix) <= set(AMINO_ACIDS) and 3 <= len(prefix) <= 12


def _known(answer: str) -> str:
    """The echoed letters of a per-residue answer, in residue order."""
    layout = echo_layout(len(answer) // 2, PromptGrammar().echo_lookahead)
    known = sorted((i, answer[p]) for p, (is_label, i) in enumerate(layout) if not is_label)
    return "".join(char for _, char in known)


def _labels(answer: str) -> str:
    return str(get_task("ss3").parse(PromptGrammar(), answer))


def test_seeded_sampling_reproduces(model) -> None:
    example = Example("design_content", values=(0.6, 0.1, 0.3))
    sampling = SamplingConfig(temperature=1.0, top_p=0.95, seed=11)
    first = design_sequences(model, model.config, example, 4, sampling)
    again = design_sequences(model, model.config, example, 4, sampling)
    assert [d.sequence for d in first] == [d.sequence for d in again]
    assert [d.seed for d in first] == [11, 12, 13, 14]
    other = design_sequences(model, model.config, example, 4, sampling.replace(seed=99))
    assert [d.sequence for d in other] != [d.sequence for d in first]
    prefixed = design_sequences(
        model, model.config, Example("design_prefix", prefix="MKV"), 2, sampling
    )
    assert all(d.sequence.startswith("MKV") for d in prefixed)


def test_allowed_alphabet_processor() -> None:
    processor = AllowedAlphabetLogitsProcessor(
        [AnswerConstraint(slots=("HE",)), AnswerConstraint(alphabet="A", max_free=2)]
    )
    ids = torch.tensor([[256, 256], [65, 256]])
    scores = processor(ids, torch.zeros(2, VOCAB_SIZE))
    assert torch.isfinite(scores[0]).sum() == 2 and torch.isfinite(scores[0, [72, 69]]).all()
    assert torch.isfinite(scores[1, 65]) and torch.isfinite(scores[1, EOS_ID])
    assert torch.isfinite(scores[1]).sum() == 2


def test_first_answer_distribution_is_over_allowed(model) -> None:
    g = model.config.grammar
    example = Example("amp", sequence="GIGKFLHS")
    probs = first_answer_distribution(
        model, [get_task("amp").prompt(g, example)], [get_task("amp").constraint(g, example)]
    )
    assert probs[0, [48, 49]].sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("length", [5, 18, 19, 40, 101])
def test_windows_cover_every_residue_once(length: int) -> None:
    windows = plan_windows(length, 18, 4)
    assert all(w.end - w.start <= 18 for w in windows)
    kept = [p for w in windows for p in range(w.keep_start, w.keep_end)]
    assert kept == list(range(length))
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.end - b.start >= 4  # neighbours overlap


def test_predict_chunks_long_sequences(model) -> None:
    config = model.config.replace(predict_tasks=("ss3", "ss8", "amp", "acp", "content"))
    long = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"
    results = predict_sequences(model, [long, "GIGKFLHSAK"], config, batch_size=3)
    assert len(results[0].ss3) == len(long) and len(results[0].ss8) == len(long)
    assert results[0].windows > 1 and results[1].windows == 1
    assert math.isnan(results[0].amp) and 0 <= results[1].amp <= 1  # longer than 30: no amp
    assert 0 <= results[1].acp <= 1 and not any(math.isnan(v) for v in results[0].content)


def test_answer_ids_grow_and_pad_after_each_rows_end() -> None:
    from scisuite.domains.protein.generation import _AnswerIds
    from scisuite.domains.protein.tokenizer import PAD_ID

    ids = _AnswerIds(2, torch.device("cpu"))
    ids.extend(0, list(range(1, 71)))  # past the first 64 columns
    ids.extend(1, [5, 6])
    ids.extend(1, [])
    table = ids.tensor()
    assert table.shape == (2, 70)
    assert table[0].tolist() == list(range(1, 71))
    assert table[1, :2].tolist() == [5, 6] and (table[1, 2:] == PAD_ID).all()
