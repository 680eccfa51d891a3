"""The ``sci`` entry point: find the verb and domain, build the parser, run the verb.

Parsing runs twice: a first pass without help reads only the verb and the domain (``--domain``,
or the positional domain of ``sci data generate``), so that the full parser can carry the
domain's own flags, declared by its plugin, in its ``--help`` and its parsing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from scisuite._version import __version__
from scisuite.cli.common import UsageError, Verb
from scisuite.cli.convert import Convert
from scisuite.cli.data import Data
from scisuite.cli.design import Design
from scisuite.cli.evaluate import Evaluate
from scisuite.cli.info import Info
from scisuite.cli.predict import Predict
from scisuite.cli.train import Train

USAGE_ERROR = 2
#: What a shell reports for a process ended by SIGPIPE (128 + 13): the rows after the reader
#: stopped were not scored.
BROKEN_PIPE = 141
VERBS: list[Verb] = [Predict(), Train(), Evaluate(), Design(), Data(), Info(), Convert()]
#: Verb (``data`` means ``data generate``) -> the plugin verb name its domain options use.
_OPTION_VERB = {
    "predict": "predict",
    "train": "train",
    "evaluate": "evaluate",
    "design": "design",
    "data": "generate",
}


def _verb_and_domain(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """First pass: the verb and the domain it names, without failing on anything else."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("verb", nargs="?")
    first.add_argument("rest", nargs=argparse.REMAINDER)
    known, _ = first.parse_known_args(argv)
    if known.verb not in _OPTION_VERB:
        return known.verb, None
    second = argparse.ArgumentParser(add_help=False)
    if known.verb == "data":
        second.add_argument("action", nargs="?")
        second.add_argument("domain", nargs="?")
        found, _ = second.parse_known_args(known.rest)
        return known.verb, found.domain if found.action == "generate" else None
    second.add_argument("--domain")
    found, _ = second.parse_known_args(known.rest)
    return known.verb, found.domain


def build_parser(
    verb: str | None = None, domain_options: Sequence[Any] = ()
) -> argparse.ArgumentParser:
    """The ``sci`` parser; ``domain_options`` are added to ``verb``'s flags."""
    parser = argparse.ArgumentParser(
        prog="sci",
        description="scisuite: one graph/sequence transformer for proteins, molecules and meshes.",
    )
    parser.add_argument("--version", action="version", version=f"scisuite {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for command in VERBS:
        sub = subparsers.add_parser(command.name, help=command.help)
        command.add_args(sub, domain_options if command.name == verb else ())
    return parser


def _exit_code(error: Exception) -> int | None:
    """1 for a failed run, 2 for a usage error, None for a bug (re-raised)."""
    if isinstance(error, UsageError):
        return USAGE_ERROR
    from scisuite import api

    if isinstance(error, api.UnknownDomainError | api.UnsupportedError):
        return USAGE_ERROR
    if isinstance(error, ValueError | FileNotFoundError | RuntimeError):
        return 1
    return None


def _end_distributed() -> None:
    """A distributed run's process group is closed before the process exits; ordinary runs
    import nothing for this (the check reads the already-imported torch.distributed)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        from scisuite import api

        api.end_distributed()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush of a closed pipe
    raises no second error at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _set_threads(threads: int | None) -> int:
    """``--threads``: torch's thread count for this run (the default never oversubscribes)."""
    from scisuite import api

    try:
        return api.set_threads(threads)
    except ValueError as error:
        raise UsageError(str(error)) from error


def main(argv: Sequence[str] | None = None, registry: Any = None) -> int:
    """Entry point of the ``sci`` console script. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        verb, domain = _verb_and_domain(argv)
        options: Sequence[Any] = ()
        if verb is not None and domain is not None:
            from scisuite import api

            options = api.domain_options(domain, _OPTION_VERB[verb], registry)
        parser = build_parser(verb, options)
        args = parser.parse_args(argv)
        if args.verb is None:
            parser.print_help()
            return USAGE_ERROR
        args.argv = argv
        if "threads" in vars(args):
            args.threads = _set_threads(args.threads)
        command = next(c for c in VERBS if c.name == args.verb)
        try:
            return command.run(args, registry)
        finally:
            _end_distributed()
    except SystemExit as exit_:  # argparse
        return int(exit_.code or 0)
    except BrokenPipeError:  # the reader of our stdout went away (`sci predict ... | head`)
        _silence_stdout()
        return BROKEN_PIPE
    except Exception as error:
        code = _exit_code(error)
        if code is None:
            raise
        message = error.args[0] if isinstance(error, LookupError) and error.args else error
        print(f"sci: error: {message}", file=sys.stderr)
        return code
