"""``sci design --domain protein``: sample designs for a target and predict their properties.

``--target helix=0.6,strand=0.1`` (SS content), an SS string (``HHHHCCEEEE``), ``amp=1`` or
``prefix=MKT...`` picks the inverse task; designs are sampled with the given seed /
temperature / top-k / top-p and each is forward-predicted (DSSP3, helix/strand/coil
fractions, antimicrobial probability) and scored against its target. ``--oversample K``
samples ``K`` times as many and keeps the designs whose forward-predicted properties are
closest to the target (generate, then filter by the model's own forward tasks: check the
kept designs with an independent predictor, e.g. ``bench/protein_design_checks.py``'s GOR
peer). The API writes the FASTA and the table; the CLI prints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from scisuite.core.config import FrozenConfig
from scisuite.core.plugin import DesignResult
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import SamplingConfig, design_sequences, predict_sequences
from scisuite.domains.protein.metrics import content_error, is_valid_design, q_accuracy
from scisuite.domains.protein.prompts import (
    AMINO_ACIDS,
    CONTENT_CLASSES,
    SS3_ALPHABET,
    Example,
    get_task,
    ss_content,
)

DESIGN_TASKS = ("design_content", "design_ss3", "design_amp", "design_prefix")
#: Most designs one ``sci design`` run samples (each one is generated and then
#: forward-predicted, and all rows are held for the table); more: several runs with
#: different ``--seed`` values.
MAX_DESIGNS = 100_000


def design(model: nn.Module, config: FrozenConfig, options: Mapping[str, Any]) -> DesignResult:
    """Sample ``num_designs`` designs for ``target`` and predict their properties.

    Returns:
        the FASTA text (``seed``, ``temperature`` and ``target`` in every header) and one row
        per design: its forward-predicted SS (DSSP3), helix/strand/coil fractions,
        antimicrobial probability and error against the target.
    """
    config = ProteinConfig.coerce(config)
    task, example, target_text = parse_target(options.get("target"), options.get("task"), config)
    low, high = _length_range(options.get("length"), task, example, config)
    sampling = sampling_options(options)
    count = _number(options, "num_designs", int, 10)
    if count < 1:
        raise ValueError(f"--num-designs must be >= 1, got {count}")
    if count > MAX_DESIGNS:
        raise ValueError(
            f"--num-designs {count} is above the limit of {MAX_DESIGNS} designs per run; run "
            "several times with different --seed values"
        )
    batch_size = _number(options, "batch_size", int, 64)
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    oversample = _number(options, "oversample", int, 1)
    if oversample < 1 or count * oversample > MAX_DESIGNS:
        raise ValueError(
            f"--oversample must be >= 1 with --num-designs x --oversample <= {MAX_DESIGNS}, "
            f"got {oversample}"
        )
    if oversample > 1 and task == "design_prefix":
        raise ValueError("--oversample ranks by the target's error; a prefix target has none")
    designs = design_sequences(model, config, example, count * oversample, sampling, low, high)
    predicted = predict_sequences(
        model,
        [d.sequence for d in designs],
        config.replace(predict_tasks=("ss3", "amp")),
        batch_size,
    )
    candidates = [
        (
            generated,
            p,
            _design_row("", task, target_text, example, generated, p, sampling, low, high),
        )
        for generated, p in zip(designs, predicted, strict=True)
    ]
    if oversample > 1:
        # valid designs first, then by the forward-predicted error (stable: seed order on ties)
        candidates.sort(key=lambda c: (not c[2]["valid"], _error_key(c[2]["target_error"])))
    rows, fasta = [], []
    for index, (generated, p, _) in enumerate(candidates[:count]):
        name = f"design_{index:03d}"
        header = (
            f">{name} task={task} target={target_text} seed={generated.seed} "
            f"temperature={sampling.temperature:g} top_k={sampling.top_k} "
            f"top_p={sampling.top_p:g} length={len(generated.sequence)}"
            + (f" kept_of={len(candidates)}" if oversample > 1 else "")
        )
        fasta.append(f"{header}\n{generated.sequence}")
        rows.append(
            _design_row(name, task, target_text, example, generated, p, sampling, low, high)
        )
    return DesignResult("\n".join(fasta) + "\n", rows)


def _error_key(error: float) -> float:
    """Sort key of a target error: NaN (nothing predicted) last."""
    return math.inf if math.isnan(error) else error


def _number(options: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    """``options[name]`` as ``kind`` (``default`` only when absent or None, so ``0`` stays
    ``0``); a non-finite or unreadable value is a :class:`ValueError` naming the flag."""
    flag = "--" + name.replace("_", "-")
    value = options.get(name)
    if value is None:
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{flag} must be a number, got {value!r}") from error
    if not math.isfinite(number):
        raise ValueError(f"{flag} must be finite, got {value!r}")
    return number


def sampling_options(options: Mapping[str, Any]) -> SamplingConfig:
    """The design flags that choose tokens -> :class:`SamplingConfig`.

    Raises:
        ValueError: a flag out of range (``--temperature`` < 0, ``--top-k`` < 0, ``--top-p``
            outside (0, 1], ``--repetition-penalty`` <= 0, or a non-finite value), naming the
            flag.
    """
    temperature = _number(options, "temperature", float, 1.0)
    top_k = _number(options, "top_k", int, 0)
    top_p = _number(options, "top_p", float, 1.0)
    penalty = _number(options, "repetition_penalty", float, 1.0)
    for ok, message in (
        (temperature >= 0, f"--temperature must be >= 0 (0 = greedy), got {temperature:g}"),
        (top_k >= 0, f"--top-k must be >= 0 (0 = off), got {top_k}"),
        (0 < top_p <= 1, f"--top-p must be in (0, 1] (1 = off), got {top_p:g}"),
        (penalty > 0, f"--repetition-penalty must be > 0 (1 = off), got {penalty:g}"),
    ):
        if not ok:
            raise ValueError(message)
    return SamplingConfig(
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=penalty,
        seed=_number(options, "seed", int, 0),
    )


def _check_letters(text: str, alphabet: str, what: str, target: str | None, hint: str) -> None:
    """Refuse the first letter of ``text`` outside ``alphabet``, naming it and its 1-based
    position."""
    for position, letter in enumerate(text, start=1):
        if letter not in alphabet:
            raise ValueError(
                f"--target {target!r}: {what} letter {letter!r} at position {position} is not "
                f"one of {alphabet}; {hint}"
            )


def parse_target(
    target: str | None, task: str | None, config: ProteinConfig
) -> tuple[str, Example, str]:
    """``--target`` (and ``--task``) -> ``(task, Example, canonical target text)``.

    Forms: ``helix=0.6,strand=0.1[,coil=0.3]`` (coil defaults to the rest) ->
    ``design_content``; an SS string over ``HEC`` (or ``ss=...``) -> ``design_ss3``;
    ``amp=1`` / ``amp=0`` -> ``design_amp``; ``prefix=MKT...`` -> ``design_prefix``.

    Raises:
        ValueError: an unreadable target, with the accepted forms.
    """
    text = (target or "").strip().replace(" ", "")
    if not text:
        raise ValueError(
            "give --target: helix=0.6,strand=0.1 | HHHHCCCEEEE | amp=1 | prefix=MKTAYIAK"
        )
    if task is not None and task not in DESIGN_TASKS:
        raise ValueError(f"--task must be one of {list(DESIGN_TASKS)}, got {task!r}")
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    if not fields and "=" not in text:
        # A bare string is an SS target (``--task design_prefix`` makes it a prefix): a
        # letter outside HEC is a typo to report, never an amino-acid prefix guessed.
        fields = {"prefix": text} if task == "design_prefix" else {"ss": text}
    inferred = (
        "design_content"
        if set(fields) & set(CONTENT_CLASSES)
        else "design_amp"
        if "amp" in fields
        else "design_prefix"
        if "prefix" in fields
        else "design_ss3"
        if "ss" in fields
        else None
    )
    task = task or inferred
    if task is None or inferred not in (task, None):
        raise ValueError(f"cannot read --target {target!r} for task {task}")
    if task == "design_content":
        try:
            given = {k: float(v) for k, v in fields.items() if k in CONTENT_CLASSES}
        except ValueError as error:
            raise ValueError(f"--target {target!r}: fractions must be numbers ({error})") from error
        missing = [c for c in CONTENT_CLASSES if c not in given]
        rest = 1.0 - sum(given.values())
        for name in missing:
            given[name] = rest / len(missing)
        values = tuple(round(given[c], config.grammar.decimals) for c in CONTENT_CLASSES)
        if min(values) < 0 or abs(sum(values) - 1.0) > 0.02:
            raise ValueError(
                f"--target {target!r}: helix/strand/coil fractions must be >= 0 and sum to 1 "
                f"(got {dict(zip(CONTENT_CLASSES, values, strict=True))})"
            )
        canonical = ",".join(
            f"{c}={v:.{config.grammar.decimals}f}"
            for c, v in zip(CONTENT_CLASSES, values, strict=True)
        )
        return task, Example(task, values=values), canonical
    if task == "design_ss3":
        ss = fields.get("ss", "").upper()
        if not ss:
            raise ValueError(f"--target {target!r}: an SS string uses only H, E and C")
        _check_letters(
            ss,
            SS3_ALPHABET,
            "SS",
            target,
            "an SS string uses only H (helix), E (strand) and C (coil); for an amino-acid "
            "prefix write prefix=...",
        )
        return task, Example(task, ss=ss), f"ss={ss}"
    if task == "design_amp":
        label = fields.get("amp", "1")
        if label not in ("0", "1"):
            raise ValueError(f"--target {target!r}: use amp=1 (antimicrobial) or amp=0")
        return task, Example(task, values=(float(label),)), f"amp={label}"
    prefix = fields.get("prefix", "").upper()
    if not prefix:
        raise ValueError(f"--target {target!r}: prefix=MKT... needs amino-acid letters")
    _check_letters(
        prefix,
        AMINO_ACIDS,
        "prefix",
        target,
        "a prefix names standard amino acids only (no X or digits)",
    )
    return task, Example(task, prefix=prefix), f"prefix={prefix}"


def _length_range(
    length: Any, task: str, example: Example, config: ProteinConfig
) -> tuple[int, int]:
    """``--length N`` or ``MIN-MAX`` -> residue range of free-length designs."""
    if task == "design_ss3":
        return len(example.ss), len(example.ss)
    room = (
        config.max_length
        - config.grammar.prompt_overhead(task)
        - len(get_task(task).payload(config.grammar, example))
    )
    if length in (None, ""):
        low, high = config.design_min_length, config.design_max_length
        if task == "design_amp":
            low, high = 10, 50
    else:
        parts = str(length).split("-")
        try:
            low, high = int(parts[0]), int(parts[-1])
        except ValueError as error:
            raise ValueError(f"--length {length!r}: give N or MIN-MAX") from error
    if not 1 <= low <= high:
        raise ValueError(f"--length {length!r}: need 1 <= MIN <= MAX")
    if high > room:
        raise ValueError(
            f"--length {length!r}: at most {room} residues fit in this model's context"
        )
    return low, high


def _design_row(
    name: str,
    task: str,
    target_text: str,
    example: Example,
    design: Any,
    predicted: Any,
    sampling: SamplingConfig,
    low: int,
    high: int,
) -> dict[str, Any]:
    helix, strand, coil = ss_content(predicted.ss3 or "")
    error = math.nan
    if task == "design_content":
        error = content_error((helix, strand, coil), example.values)
    elif task == "design_ss3":
        error = 1.0 - q_accuracy([predicted.ss3 or ""], [example.ss])
    elif task == "design_amp":
        error = (
            abs(predicted.amp - example.values[0]) if predicted.amp == predicted.amp else math.nan
        )
    return {
        "id": name,
        "sequence": design.sequence,
        "length": len(design.sequence),
        "task": task,
        "target": target_text,
        "seed": design.seed,
        "temperature": sampling.temperature,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "stop_reason": design.stop_reason,
        "valid": is_valid_design(design.sequence, low, high),
        "predicted_dssp3": predicted.ss3 or "",
        "predicted_helix": helix,
        "predicted_strand": strand,
        "predicted_coil": coil,
        "antimicrobial_probability": predicted.amp,
        "target_error": error,
    }
