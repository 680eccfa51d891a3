"""Batched, constrained generation: cached decoding (default) or full recompute per token.

:func:`generate` samples answers for a batch of prompts. Every step the logits of the last
position go through a ``transformers.LogitsProcessorList`` — repetition penalty, the
allowed-alphabet constraint (:class:`AllowedAlphabetLogitsProcessor`), temperature, top-k,
top-p — and one token per row is drawn with that row's own ``torch.Generator`` (seed
``seed + row``), or taken greedily (``temperature=0``). Characters an answer constraint
forces (echoed residues, the ``.`` and ``,`` of numbers) are appended without sampling and
fed together with the sampled token in the next step.

Two ways to get the logits, same tokens (tested with greedy decoding):

* ``mode="cached"`` — :func:`scisuite.core.decoding.decode_step` keeps keys, values and the
  attention-graph propagation states of every layer, so a new token costs one attention
  row per layer: O(length).
* ``mode="recompute"`` — the whole sequence goes through the flat causal path again for
  every new token (how the original implementation generated): O(length^2) per token.
  Kept for the benchmark and the equality test only.

:func:`predict_sequences` runs the forward tasks (per-residue SS by greedy constrained
decoding over the config's windows, activity probabilities from the first answer token)
and :func:`design_sequences` the inverse ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import Tensor
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from scisuite.core.backbone import Backbone
from scisuite.core.config import FrozenConfig, require
from scisuite.core.decoding import DecodingState, empty_state
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.prompts import (
    AnswerConstraint,
    Example,
    get_task,
    single_input_window,
)
from scisuite.domains.protein.tokenizer import EOS_ID, PAD_ID, VOCAB_SIZE, ByteTokenizer
from scisuite.domains.protein.windows import Window, plan_windows

Mode = Literal["cached", "recompute"]


class TokenLM(Protocol):
    """What generation needs of a model (:class:`~scisuite.domains.protein.model.ProteinLM`)."""

    backbone: Backbone

    def token_logits(self, tokens: Tensor, sequence: Tensor) -> Tensor: ...

    def step(
        self, tokens: Tensor, token_mask: Tensor, state: DecodingState
    ) -> tuple[Tensor, DecodingState]: ...


@dataclass(frozen=True)
class SamplingConfig(FrozenConfig):
    """How tokens are chosen.

    Args:
        temperature: softmax temperature; 0 = greedy (argmax) (default 1.0).
        top_k: keep the ``k`` most likely tokens (0 = off).
        top_p: nucleus sampling mass (1.0 = off).
        repetition_penalty: CTRL-style penalty on tokens already in the answer (1.0 = off).
        max_new_tokens: hard cap on answer tokens per row (beyond the constraint's length).
        seed: row ``i`` samples with ``torch.Generator().manual_seed(seed + i)``.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 4096
    seed: int = 0

    def validate(self) -> None:
        require(self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        require(self.top_k >= 0, f"top_k must be >= 0, got {self.top_k}")
        require(0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}")
        require(self.repetition_penalty > 0, "repetition_penalty must be positive")
        require(self.max_new_tokens >= 1, "max_new_tokens must be >= 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class AllowedAlphabetLogitsProcessor(LogitsProcessor):
    """Sets the logits of characters an :class:`AnswerConstraint` forbids to ``-inf``.

    Args:
        constraints: one constraint per batch row.
        vocab_size: logits width.

    ``input_ids`` given to ``__call__`` are the answer tokens so far, right-padded with
    :data:`~scisuite.domains.protein.tokenizer.PAD_ID`; a row's answer position is its
    number of non-pad tokens.
    """

    def __init__(self, constraints: Sequence[AnswerConstraint], vocab_size: int = VOCAB_SIZE):
        self.constraints = list(constraints)
        self.vocab_size = vocab_size
        self._tokenizer = ByteTokenizer()
        self._masks: dict[tuple[str, bool], Tensor] = {}

    def _forbidden(self, chars: str, eos: bool, device: torch.device) -> Tensor:
        """``[vocab]`` True on the tokens outside ``chars`` (and eos unless ``eos``)."""
        key = (chars, eos)
        if key not in self._masks:
            forbidden = torch.ones(self.vocab_size, dtype=torch.bool)
            forbidden[self._tokenizer.ids_of(chars)] = False
            forbidden[EOS_ID] = not eos
            self._masks[key] = forbidden.to(device)
        return self._masks[key]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        positions = (input_ids != PAD_ID).sum(dim=1).tolist()
        masks = [
            self._forbidden(*constraint.allowed(int(position)), scores.device)
            for constraint, position in zip(self.constraints, positions, strict=True)
        ]
        forbidden = masks[0][None] if len(masks) == 1 else torch.stack(masks)
        return scores.masked_fill(forbidden, float("-inf"))


def build_processors(
    sampling: SamplingConfig, constraints: Sequence[AnswerConstraint]
) -> LogitsProcessorList:
    """Repetition penalty, allowed alphabet, then (when sampling) temperature, top-k, top-p."""
    processors = LogitsProcessorList()
    if sampling.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty))
    processors.append(AllowedAlphabetLogitsProcessor(constraints))
    if not sampling.greedy:
        if sampling.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k > 0:
            processors.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            processors.append(TopPLogitsWarper(sampling.top_p))
    return processors


def _processed(processors: LogitsProcessorList, input_ids: Tensor, scores: Tensor) -> Tensor:
    """``processors(input_ids, scores)`` without the list's per-call signature inspection
    (``inspect.signature`` on every processor each token: ~10% of a cached step); ours all
    take exactly ``(input_ids, scores)``."""
    for processor in processors:
        scores = processor(input_ids, scores)
    return scores


@dataclass
class GenerationResult:
    """Answers of one :func:`generate` call, in prompt order.

    Attributes:
        answers: answer text per row (eos not included).
        stop_reasons: per row ``"eos"``, ``"complete"`` (the constraint's fixed length was
            reached) or ``"max_new_tokens"``.
        steps: model calls made (prefill included).
        new_tokens: answer tokens produced over all rows (forced ones included).
    """

    answers: list[str]
    stop_reasons: list[str]
    steps: int
    new_tokens: int


class _AnswerIds:
    """The answers so far as the right-padded ``[B, width]`` ids the logits processors read,
    written in place as tokens arrive (rebuilding it from lists cost O(length) per token).

    Args:
        batch: rows.
        device: where :meth:`tensor` puts the ids.
    """

    def __init__(self, batch: int, device: torch.device) -> None:
        self._ids = torch.full((batch, 64), PAD_ID, dtype=torch.long)
        self._lengths = [0] * batch
        self._device = device

    def extend(self, row: int, tokens: Sequence[int]) -> None:
        start, end = self._lengths[row], self._lengths[row] + len(tokens)
        if end > self._ids.size(1):
            grown = torch.full((self._ids.size(0), max(end, 2 * self._ids.size(1))), PAD_ID)
            grown[:, : self._ids.size(1)] = self._ids
            self._ids = grown
        if tokens:
            self._ids[row, start:end] = torch.tensor(tokens, dtype=torch.long)
        self._lengths[row] = end

    def tensor(self) -> Tensor:
        """``[B, longest answer]`` ids, :data:`PAD_ID` after each row's end."""
        return self._ids[:, : max(self._lengths, default=0)].to(self._device)


def _left_padded(rows: Sequence[Sequence[int]], device: torch.device) -> tuple[Tensor, Tensor]:
    width = max((len(r) for r in rows), default=0)
    padded = [[PAD_ID] * (width - len(r)) + list(r) for r in rows]
    tokens = torch.tensor(padded, dtype=torch.long, device=device).view(len(rows), width)
    return tokens, tokens != PAD_ID


class _Recompute:
    """Full recompute: every step re-runs each live row's whole sequence (flat causal path)."""

    def __init__(self, model: TokenLM, device: torch.device) -> None:
        self.model, self.device = model, device

    def __call__(self, sequences: Sequence[Sequence[int]], live: Sequence[int]) -> Tensor:
        rows = [sequences[i] for i in live]
        tokens = torch.tensor([t for row in rows for t in row], device=self.device)
        lengths = torch.tensor([len(row) for row in rows], device=self.device)
        sequence = torch.repeat_interleave(torch.arange(len(rows), device=self.device), lengths)
        logits = self.model.token_logits(tokens, sequence)
        return logits[torch.cumsum(lengths, 0) - 1]


def _device_of(model: TokenLM) -> torch.device:
    return next(model.backbone.parameters()).device


@torch.inference_mode()
def generate(
    model: TokenLM,
    prompts: Sequence[str],
    constraints: Sequence[AnswerConstraint],
    sampling: SamplingConfig | None = None,
    mode: Mode = "cached",
) -> GenerationResult:
    """Generate one constrained answer per prompt.

    Args:
        model: the language model (in eval mode).
        prompts: prompt texts up to and including the answer delimiter (bos is added).
        constraints: one :class:`AnswerConstraint` per prompt.
        sampling: temperature / top-k / top-p / repetition penalty / seed (default: sampling
            at temperature 1).
        mode: ``"cached"`` (default) or ``"recompute"`` (benchmark reference).

    Returns:
        the answers, why each stopped, and counters.
    """
    if len(prompts) != len(constraints):
        raise ValueError(f"{len(prompts)} prompts but {len(constraints)} constraints")
    sampling = sampling or SamplingConfig()
    device = _device_of(model)
    tokenizer = ByteTokenizer()
    batch = len(prompts)
    answers: list[list[int]] = [[] for _ in range(batch)]
    reasons = [""] * batch
    generators = [torch.Generator().manual_seed(sampling.seed + i) for i in range(batch)]
    processors = build_processors(sampling, constraints)

    def forced_run(row: int) -> list[int]:
        """Append the characters the constraint forces next; mark the row complete."""
        run: list[int] = []
        while len(answers[row]) < sampling.max_new_tokens:
            char = constraints[row].forced(len(answers[row]))
            if char is None:
                break
            token = tokenizer.ids_of(char)[0]
            answers[row].append(token)
            run.append(token)
        if constraints[row].is_complete(len(answers[row])):
            reasons[row] = "complete"
        elif len(answers[row]) >= sampling.max_new_tokens:
            reasons[row] = "max_new_tokens"
        return run

    pending = [tokenizer.encode(p, bos=True) + forced_run(i) for i, p in enumerate(prompts)]
    sequences = [list(p) for p in pending]
    answer_ids = _AnswerIds(batch, device)
    for row, answer in enumerate(answers):
        answer_ids.extend(row, answer)
    state = empty_state(batch, device) if mode == "cached" else None
    recompute = _Recompute(model, device) if mode == "recompute" else None
    steps = 0
    while True:
        live = [i for i in range(batch) if not reasons[i]]
        if not live:
            break
        if state is not None:
            tokens, mask = _left_padded(pending, device)
            logits_all, state = model.step(tokens, mask, state)
            logits = logits_all[:, -1].float()
        else:
            assert recompute is not None
            logits = torch.zeros(batch, VOCAB_SIZE, device=device)
            logits[live] = recompute(sequences, live).float()
        steps += 1
        scores = _processed(processors, answer_ids.tensor(), logits)
        if len(live) < batch:
            scores = scores[live]
        if sampling.greedy:
            chosen = scores.argmax(dim=-1).tolist()
        else:
            probs = torch.softmax(scores, dim=-1).cpu()
            chosen = [
                int(torch.multinomial(probs[k], 1, generator=generators[i]))
                for k, i in enumerate(live)
            ]
        pending = [[] for _ in range(batch)]
        for i, token in zip(live, chosen, strict=True):
            if token == EOS_ID:
                reasons[i] = "eos"
                continue
            answers[i].append(int(token))
            new = [int(token), *forced_run(i)]
            answer_ids.extend(i, new)
            pending[i] = new
            sequences[i].extend(new)
    return GenerationResult(
        answers=[tokenizer.decode(a) for a in answers],
        stop_reasons=reasons,
        steps=steps,
        new_tokens=sum(len(a) for a in answers),
    )


@torch.inference_mode()
def first_answer_distribution(
    model: TokenLM, prompts: Sequence[str], constraints: Sequence[AnswerConstraint]
) -> Tensor:
    """Probabilities of the first answer token over the allowed characters (one prefill).

    Returns:
        ``[B, vocab]`` probabilities, zero outside each row's allowed set.
    """
    device = _device_of(model)
    tokenizer = ByteTokenizer()
    tokens, mask = _left_padded([tokenizer.encode(p, bos=True) for p in prompts], device)
    logits, _ = model.step(tokens, mask, empty_state(len(prompts), device))
    empty = torch.full((len(prompts), 0), PAD_ID, dtype=torch.long, device=device)
    scores = AllowedAlphabetLogitsProcessor(constraints)(empty, logits[:, -1].float())
    return torch.softmax(scores, dim=-1)


# --------------------------------------------------------------------------- forward tasks


@dataclass
class SequencePrediction:
    """Forward-task results for one sequence (``None`` / NaN where a task was not run).

    Attributes:
        ss3, ss8: per-residue strings as long as the sequence.
        content: helix, strand, coil fractions from the ``content`` task.
        amp, acp: probability of answer ``1`` (antimicrobial / anticancer).
        solubility: predicted soluble fraction.
        windows: windows the per-residue tasks used.
    """

    ss3: str | None = None
    ss8: str | None = None
    content: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    amp: float = math.nan
    acp: float = math.nan
    solubility: float = math.nan
    windows: int = 0
    notes: list[str] = field(default_factory=list)


def _chunks(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _greedy_answers(
    model: TokenLM,
    sequences: Sequence[str],
    jobs: Sequence[tuple[int, Window]],
    task: str,
    config: ProteinConfig,
    batch_size: int,
    mode: Mode = "cached",
) -> Iterator[tuple[int, Window, Any]]:
    """Greedy constrained answers of ``(sequence index, window)`` jobs, ``batch_size`` windows
    per call in the order given: ``(index, window, parsed answer)``."""
    grammar, spec = config.grammar, get_task(task)
    greedy = SamplingConfig(temperature=0.0)
    for part in _chunks(jobs, batch_size):
        examples = [Example(task, sequence=sequences[i][w.start : w.end]) for i, w in part]
        result = generate(
            model,
            [spec.prompt(grammar, e) for e in examples],
            [spec.constraint(grammar, e) for e in examples],
            greedy,
            mode,
        )
        for (i, w), answer in zip(part, result.answers, strict=True):
            yield i, w, spec.parse(grammar, answer)


def _per_residue(
    model: TokenLM,
    sequences: Sequence[str],
    task: str,
    config: ProteinConfig,
    batch_size: int,
    mode: Mode = "cached",
) -> tuple[list[str], list[int]]:
    """Greedy per-residue labels of every sequence, window by window."""
    plans = [
        plan_windows(len(s), config.residue_window(), config.window_overlap) for s in sequences
    ]
    jobs = [(i, w) for i, plan in enumerate(plans) for w in plan]
    labels = [[""] * len(s) for s in sequences]
    jobs.sort(key=lambda job: job[1].end - job[1].start)  # similar lengths together
    for i, w, parsed in _greedy_answers(model, sequences, jobs, task, config, batch_size, mode):
        values = str(parsed)
        for position in range(w.keep_start, w.keep_end):
            labels[i][position] = values[position - w.start]
    return ["".join(row) for row in labels], [len(p) for p in plans]


def _binary_probability(
    model: TokenLM, sequences: Sequence[str], task: str, config: ProteinConfig, batch_size: int
) -> list[float]:
    """P(answer ``1``) for sequences up to ``peptide_max_length`` residues, mapped by the
    config's Platt calibration (``calibration.py``); NaN otherwise."""
    grammar, spec = config.grammar, get_task(task)
    limit = min(config.peptide_max_length, single_input_window(grammar, task, config.max_length, 1))
    out = [math.nan] * len(sequences)
    todo = [i for i, s in enumerate(sequences) if len(s) <= limit]
    one = ByteTokenizer().ids_of("1")[0]
    for part in _chunks(todo, batch_size):
        examples = [Example(task, sequence=sequences[i]) for i in part]
        probs = first_answer_distribution(
            model,
            [spec.prompt(grammar, e) for e in examples],
            [spec.constraint(grammar, e) for e in examples],
        )
        for i, p in zip(part, probs[:, one].tolist(), strict=True):
            out[i] = float(p)
    slope, intercept = config.platt(task)
    if (slope, intercept) != (1.0, 0.0):
        z = torch.tensor(out, dtype=torch.float64).clamp(1e-7, 1 - 1e-7).logit()
        out = torch.sigmoid(slope * z + intercept).tolist()  # NaN rows stay NaN
    return out


def _numbers(
    model: TokenLM, sequences: Sequence[str], task: str, config: ProteinConfig, batch_size: int
) -> list[tuple[float, ...]]:
    """Greedy numeric answers (``content``, ``solubility``), residue-weighted over windows."""
    grammar, spec = config.grammar, get_task(task)
    answer = len(spec.constraint(grammar, Example(task, sequence="A")).slots)
    window = single_input_window(grammar, task, config.max_length, answer)
    plans = [plan_windows(len(s), window, config.window_overlap) for s in sequences]
    jobs = [(i, w) for i, plan in enumerate(plans) for w in plan]
    sums: list[list[float]] = [[] for _ in sequences]
    weights = [0] * len(sequences)
    for i, w, values in _greedy_answers(model, sequences, jobs, task, config, batch_size):
        assert isinstance(values, tuple)
        kept = w.keep_end - w.keep_start
        if not sums[i]:
            sums[i] = [0.0] * len(values)
        sums[i] = [a + kept * v for a, v in zip(sums[i], values, strict=True)]
        weights[i] += kept
    return [tuple(v / max(w, 1) for v in s) for s, w in zip(sums, weights, strict=True)]


@torch.inference_mode()
def predict_sequences(
    model: TokenLM,
    sequences: Sequence[str],
    config: ProteinConfig,
    batch_size: int = 64,
    mode: Mode = "cached",
) -> list[SequencePrediction]:
    """Run ``config.predict_tasks`` on every sequence (greedy, constrained, cached).

    Args:
        model: the language model in eval mode.
        sequences: normalised amino-acid sequences.
        config: tasks, grammar, windows.
        batch_size: prompts decoded together.
        mode: ``"cached"`` (default) or ``"recompute"`` for the per-residue tasks (benchmark).
    """
    results = [SequencePrediction() for _ in sequences]
    for task in config.predict_tasks:
        if task in ("ss3", "ss8"):
            labels, windows = _per_residue(model, sequences, task, config, batch_size, mode)
            for result, label, count in zip(results, labels, windows, strict=True):
                setattr(result, task, label)
                result.windows = max(result.windows, count)
        elif task in ("amp", "acp"):
            for result, p in zip(
                results,
                _binary_probability(model, sequences, task, config, batch_size),
                strict=True,
            ):
                setattr(result, task, p)
        elif task == "content":
            for result, values in zip(
                results, _numbers(model, sequences, task, config, batch_size), strict=True
            ):
                result.content = values  # type: ignore[assignment]
        elif task == "solubility":
            for result, values in zip(
                results, _numbers(model, sequences, task, config, batch_size), strict=True
            ):
                result.solubility = values[0]
    return results


# --------------------------------------------------------------------------- inverse tasks


@dataclass(frozen=True)
class Design:
    """One generated design.

    Attributes:
        sequence: the designed residues (the continuation for ``design_prefix``, prefixed).
        seed: the seed of the generator that sampled it.
        stop_reason: ``"eos"``, ``"complete"`` or ``"max_new_tokens"``.
    """

    sequence: str
    seed: int
    stop_reason: str


@torch.inference_mode()
def design_sequences(
    model: TokenLM,
    config: ProteinConfig,
    example: Example,
    count: int,
    sampling: SamplingConfig,
    min_length: int | None = None,
    max_length: int | None = None,
    mode: Mode = "cached",
) -> list[Design]:
    """Sample ``count`` designs for one inverse-task target.

    Args:
        model: the language model in eval mode.
        config: grammar and default design lengths.
        example: the target: ``Example("design_content", values=(h, e, c))``,
            ``Example("design_ss3", ss=...)``, ``Example("design_amp", values=(1.0,))`` or
            ``Example("design_prefix", prefix=...)``.
        count: designs to sample; design ``i`` uses seed ``sampling.seed + i``.
        sampling: temperature, top-k, top-p, repetition penalty, seed.
        min_length, max_length: residues of free-length designs (default from ``config``).
        mode: cached (default) or recompute decoding.
    """
    spec = get_task(example.task)
    if not spec.inverse:
        raise ValueError(f"{example.task} is not a design task")
    low = min_length or config.design_min_length
    high = max_length or config.design_max_length
    prompt = spec.prompt(config.grammar, example)
    constraint = spec.constraint(config.grammar, example, low, high)
    result = generate(model, [prompt] * count, [constraint] * count, sampling, mode)
    designs = []
    for i, (answer, reason) in enumerate(zip(result.answers, result.stop_reasons, strict=True)):
        sequence = str(spec.parse(config.grammar, answer))
        if example.task == "design_prefix":
            sequence = example.prefix + sequence
        designs.append(Design(sequence, sampling.seed + i, reason))
    return designs
