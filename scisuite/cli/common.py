"""Flags several verbs share, and the domain's own flags (declared by the plugin as data)."""

from __future__ import annotations

import argparse
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


def add_common(parser: argparse.ArgumentParser, *, domain: bool = True) -> None:
    """``--domain --checkpoint --batch-size --device --num-workers --threads --seed --quiet``."""
    if domain:
        parser.add_argument("--domain", required=True, help="molecule, protein or mesh")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (default: shipped)")
    parser.add_argument("--batch-size", type=int, default=64, help="records per batch (64)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (auto)")
    parser.add_argument("--num-workers", type=int, default=0, help="data-loading workers (0)")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: the usable cores that no other process keeps "
        "busy, at least 1; `sci info` shows the figure)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


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


_TYPES: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float}
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
