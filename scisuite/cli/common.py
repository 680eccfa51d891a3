"""Flags several verbs share, and the domain's own flags (declared by the plugin as data)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol


class UsageError(Exception):
    """Bad invocation: reported on stderr with exit code 2."""


class Verb(Protocol):
    """One ``sci`` verb: its flags and what it runs."""

    name: str
    help: str

    def add_args(self, parser: argparse.ArgumentParser, domain_options: Sequence[Any]) -> None:
        """Add the verb's flags (and the domain's ``domain_options`` for it)."""
        ...

    def run(self, args: argparse.Namespace, registry: Any) -> int:
        """Call the API; return the exit code."""
        ...


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[minimum, maximum]``; anything else is a
    usage error naming the flag (argparse adds it) and the allowed range, not a traceback
    or a silently empty run (``--batch-size 0`` used to exit 0 with no rows)."""
    allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number {allowed}, got {text!r}"
            ) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def finite_number(text: str) -> float:
    """An argparse ``type``: a finite float (``nan`` and ``inf`` are usage errors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


finite_number.__name__ = "number"


def positive_number(text: str) -> float:
    """An argparse ``type``: a finite float above 0 (a learning rate)."""
    value = finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


positive_number.__name__ = "positive number"

#: ``--seed``: what numpy's and torch's generators both accept.
SEED = whole_number(0, 2**63 - 1)
POSITIVE = whole_number(1)
NON_NEGATIVE = whole_number(0)


def add_common(parser: argparse.ArgumentParser, *, domain: bool = True) -> None:
    """``--domain --checkpoint --batch-size --device --num-workers --threads --seed --quiet``."""
    if domain:
        parser.add_argument("--domain", required=True, help="molecule, protein or mesh")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint directory, or a shipped variant by name (molecule: fast) (default: "
        "the shipped default)",
    )
    parser.add_argument("--batch-size", type=POSITIVE, default=64, help="records per batch (64)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (auto)")
    parser.add_argument(
        "--num-workers", type=NON_NEGATIVE, default=0, help="data-loading workers (0)"
    )
    parser.add_argument(
        "--threads",
        type=POSITIVE,
        help="CPU threads for torch (default: the usable cores that no other process keeps "
        "busy, at least 1; `sci info` shows the figure)",
    )
    parser.add_argument("--seed", type=SEED, default=0, help="random seed (0)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def add_precision(parser: argparse.ArgumentParser) -> None:
    """``--precision`` of inference (``sci predict``, ``sci evaluate``)."""
    parser.add_argument(
        "--precision",
        choices=("32", "bf16"),
        default="32",
        help="inference precision: 32 (default) or bf16 autocast, ~2x faster model on CPUs "
        "with native bf16 and on GPUs (molecule domain; its accuracy cost is in "
        "docs/benchmarks.md)",
    )


def add_training_data(parser: argparse.ArgumentParser) -> None:
    """``--dataset --data --val --test --split`` (train and evaluate)."""
    parser.add_argument("--dataset", help="named real dataset (see `sci data list`)")
    parser.add_argument("--data", type=Path, help="training file (instead of --dataset)")
    parser.add_argument("--val", type=Path, help="validation file")
    parser.add_argument("--test", type=Path, help="test file")
    parser.add_argument(
        "--split",
        default="auto",
        help="auto (fixed if the dataset has one, else random) | random | scaffold | fixed; "
        "mesh evaluation: test (auto) | val | held-out (the unseen geometry family)",
    )


_TYPES: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": finite_number}
_PREFIX = "opt_"


def add_domain_options(parser: argparse.ArgumentParser, options: Sequence[Any]) -> None:
    """Add a domain's :class:`~scisuite.core.plugin.CliOption` flags to ``parser``."""
    for option in options:
        parser.add_argument(
            *option.aliases,
            option.flag,
            dest=f"{_PREFIX}{option.dest}",
            nargs=option.nargs,
            type=_TYPES[option.type],
            help=option.help,
            default=option.default,
        )


def check_inputs(inputs: Sequence[str]) -> None:
    """Input arguments are always files or ``-`` (stdin), never data: a name that is not
    there is an error before anything runs (``sci predict x.fasta`` in the wrong folder used
    to predict the sequence ``XFASTA`` and exit 0).

    Raises:
        FileNotFoundError: inputs that do not exist (all of them named).
        UsageError: ``-`` given more than once (stdin can be read only once).
    """
    missing = [path for path in inputs if path != "-" and not Path(path).exists()]
    if missing:
        names = ", ".join(repr(path) for path in missing)
        raise FileNotFoundError(
            f"input file(s) {names} do not exist (looked in {Path.cwd()}); inputs are file "
            "paths or '-' for stdin; check the path"
        )
    if list(inputs).count("-") > 1:
        raise UsageError("'-' (stdin) can be given only once: stdin is read once")


def domain_values(args: argparse.Namespace) -> dict[str, Any]:
    """The domain flags that were given (or have a default), by destination."""
    return {
        key.removeprefix(_PREFIX): value
        for key, value in vars(args).items()
        if key.startswith(_PREFIX) and value is not None
    }


def train_request(args: argparse.Namespace, inputs: Sequence[Path] = ()) -> Any:
    """The :class:`~scisuite.core.plugin.TrainRequest` of ``train`` / ``evaluate`` flags."""
    from scisuite import api

    test = args.test or (Path(inputs[0]) if inputs else None)
    try:
        overrides = api.parse_overrides(getattr(args, "set", []))
    except ValueError as error:
        raise UsageError(str(error)) from error
    return api.TrainRequest(
        dataset=args.dataset,
        data=args.data,
        val=args.val,
        test=test,
        split=args.split,
        seed=args.seed,
        columns=domain_values(args),
        model_overrides=overrides,
    )
