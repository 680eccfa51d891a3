"""``sci``: thin command-line verbs over :mod:`scisuite.api` (no model logic here).

Exit codes: 0 success, 1 the run failed, 2 usage error (bad flags, unknown or unbuilt
domain, a verb the domain does not offer).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scisuite import __version__
from scisuite.core.registry import UnknownDomainError

USAGE_ERROR = 2
VERBS = ("predict", "train", "evaluate", "design", "data", "info")


class UsageError(Exception):
    """Bad invocation: reported on stderr with exit code 2."""


def _common(parser: argparse.ArgumentParser, *, domain: bool = True) -> None:
    if domain:
        parser.add_argument("--domain", required=True, help="molecule, protein or mesh")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (default: shipped)")
    parser.add_argument("--batch-size", type=int, default=64, help="records per batch (64)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (auto)")
    parser.add_argument("--num-workers", type=int, default=0, help="data-loading workers (0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="named real dataset (see `sci data list`)")
    parser.add_argument("--data", type=Path, help="training file (instead of --dataset)")
    parser.add_argument("--val", type=Path, help="validation file")
    parser.add_argument("--test", type=Path, help="test file")
    parser.add_argument(
        "--split",
        default="auto",
        help="auto (fixed if the dataset has one, else random) | random | scaffold | fixed",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sci",
        description="scisuite: one graph/sequence transformer for proteins, molecules and meshes.",
    )
    parser.add_argument("--version", action="version", version=f"scisuite {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    p = verbs.add_parser("predict", help="predict properties for records in files")
    p.add_argument("inputs", nargs="+", help="input files ('-' = stdin)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        help="output table (default: CSV on stdout), or a domain format such as .xdmf (mesh)",
    )
    p.add_argument("--format", choices=("csv", "tsv", "parquet", "jsonl"), help="output format")
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="skip",
        help="bad records: stop (raise) or report them as error rows (skip, default)",
    )
    _common(p)

    t = verbs.add_parser("train", help="train a model and write a checkpoint directory")
    _training_flags(t)
    t.add_argument("-o", "--output", type=Path, required=True, help="checkpoint directory")
    t.add_argument("--epochs", type=int, default=50, help="max epochs (50)")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (1e-3)")
    t.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (1e-4)")
    t.add_argument("--patience", type=int, default=0, help="early-stopping patience (0 = off)")
    t.add_argument("--devices", default="auto", help="number of devices (auto)")
    t.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (auto)")
    t.add_argument("--precision", default="32-true", help="Lightning precision (32-true)")
    t.add_argument(
        "--init-from",
        type=Path,
        metavar="CHECKPOINT",
        help="start from this checkpoint's weights (fine-tuning or a curriculum stage; "
        "same domain and architecture)",
    )
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field, e.g. --set d_model=64 (repeatable)",
    )
    _common(t)

    e = verbs.add_parser("evaluate", help="metrics (and plots) of a checkpoint on labelled data")
    e.add_argument("inputs", nargs="*", help="labelled input file (or use --dataset)")
    _training_flags(e)
    e.add_argument("-o", "--output", type=Path, help="report directory (metrics.json, plots)")
    _common(e)

    d = verbs.add_parser("design", help="inverse design (protein)")
    d.add_argument("-o", "--output", type=Path, help="output file")
    _common(d)

    data = verbs.add_parser("data", help="list, build or generate datasets")
    data_verbs = data.add_subparsers(dest="data_verb", metavar="ACTION")
    listing = data_verbs.add_parser("list", help="list named datasets")
    listing.add_argument("--domain", help="only this domain")
    build = data_verbs.add_parser("build", help="build a named dataset from its real source")
    build.add_argument("domain")
    build.add_argument("name")
    build.add_argument("-o", "--output", type=Path, default=Path("datasets"), help="output dir")
    build.add_argument("--cache-dir", type=Path, help="where source packages are cached")
    generate = data_verbs.add_parser("generate", help="generate data with a solver (mesh)")
    generate.add_argument("domain")
    generate.add_argument("name")
    generate.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    generate.add_argument("--seed", type=int, default=0, help="random seed (0)")
    generate.add_argument("--workers", type=int, default=1, help="parallel processes (1)")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")

    i = verbs.add_parser("info", help="versions, device, domains and shipped checkpoints")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _add_domain_options(parser: argparse.ArgumentParser, verb: str, options: Sequence[Any]) -> None:
    sub = _subparser(parser, verb)
    types: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float}
    for option in options:
        if verb in option.verbs:
            sub.add_argument(
                *option.aliases,
                option.flag,
                dest=f"opt_{option.dest}",
                nargs=option.nargs,
                type=types[option.type],
                help=option.help,
                default=option.default,
            )


def _subparser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser:
    """The subparser of ``verb``; ``"generate"`` is the one under ``data``."""
    path = ["data", "generate"] if verb == "generate" else [verb]
    current = parser
    for name in path:
        for action in current._subparsers._group_actions:  # type: ignore[union-attr]
            if isinstance(action, argparse._SubParsersAction):
                current = action.choices[name]
                break
    return current


def _domain_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k.removeprefix("opt_"): v
        for k, v in vars(args).items()
        if k.startswith("opt_") and v is not None
    }


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def _request(args: argparse.Namespace, inputs: Sequence[Path] = ()) -> Any:
    from scisuite.core.plugin import TrainRequest

    test = args.test or (Path(inputs[0]) if inputs else None)
    return TrainRequest(
        dataset=args.dataset,
        data=args.data,
        val=args.val,
        test=test,
        split=args.split,
        seed=args.seed,
        columns=_domain_options(args),
        model_overrides=_parse_overrides(getattr(args, "set", [])),
    )


def _cmd_info(args: argparse.Namespace, registry: Any) -> int:
    from scisuite import api

    facts = api.info(registry)
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    print(f"scisuite {facts['scisuite']}  (python {facts['python']}, torch {facts['torch']})")
    print(
        f"device: {facts['device']}  cuda available: {facts['cuda_available']}  "
        f"threads: {facts['threads']}"
    )
    print("domains:" if facts["domains"] else "domains: none installed")
    for name, entry in facts["domains"].items():
        ckpt = entry["checkpoint"] or "no shipped checkpoint"
        print(f"  {name:<10} {ckpt}")
        rmse = {k: v for k, v in entry.get("metrics", {}).items() if k.startswith("rmse")}
        if rmse:
            shown = ", ".join(f"{k}={v:.3f}" for k, v in rmse.items())
            print(f"  {'':<10} test {shown}")
    return 0


def _cmd_predict(args: argparse.Namespace, registry: Any) -> int:
    from scisuite import api

    predictor = api.load(
        args.domain, checkpoint=args.checkpoint, device=args.device, registry=registry
    )
    options = _domain_options(args)
    total, errors = 0, 0
    for path in args.inputs:
        if args.output is None:
            frame = predictor.predict(
                path, args.batch_size, args.on_error, args.num_workers, **options
            )
            frame.to_csv(sys.stdout, index=False, header=total == 0)
            count, bad = len(frame), int((frame["status"] == "error").sum())
        else:
            out = (
                args.output
                if len(args.inputs) == 1
                else args.output.with_name(f"{Path(path).name.split('.')[0]}.{args.output.name}")
            )
            summary = predictor.predict_file(
                path, out, args.format, args.batch_size, args.on_error, args.num_workers, **options
            )
            count, bad = summary.rows, summary.errors
            if not args.quiet:
                table = f" (summary rows in {summary.table})" if summary.table else ""
                print(f"wrote {count} rows to {out}{table}", file=sys.stderr)
            after = getattr(predictor.plugin, "after_predict", None)
            for extra in after(out, predictor) if after else ():
                if not args.quiet:
                    print(f"wrote {extra}", file=sys.stderr)
        total, errors = total + count, errors + bad
    if not args.quiet:
        print(f"{total} records, {total - errors} ok, {errors} with errors", file=sys.stderr)
    return 0


def _cmd_train(args: argparse.Namespace, registry: Any) -> int:
    from scisuite import api
    from scisuite.core.config import TrainConfig

    if (args.dataset is None) == (args.data is None):
        raise UsageError("give exactly one of --dataset NAME or --data FILE")
    accelerator = {"auto": "auto", "cpu": "cpu"}.get(args.device, "gpu")
    train_config = TrainConfig(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        seed=args.seed,
        accelerator=accelerator,
        devices=args.devices,
        strategy=args.strategy,
        precision=args.precision,
        num_workers=args.num_workers,
    )
    command = shlex.join(["sci", *args.argv])
    path = api.train(
        args.domain,
        _request(args),
        train_config,
        args.output,
        command=command,
        quiet=args.quiet,
        registry=registry,
        init_from=args.init_from,
    )
    if not args.quiet:
        from scisuite.core.checkpoint import load_checkpoint

        meta, _ = load_checkpoint(path)
        print(json.dumps(meta.metrics, indent=2))
    print(f"checkpoint written to {path}", file=sys.stderr)
    return 0


def _cmd_evaluate(args: argparse.Namespace, registry: Any) -> int:
    from scisuite import api
    from scisuite.core.io import atomic_path

    if not args.inputs and args.dataset is None and args.test is None and args.data is None:
        raise UsageError("give a labelled input file, --dataset NAME or --data (its test split)")
    request = _request(args, args.inputs)
    metrics, pred, target, predictor = api.evaluate(
        request,
        checkpoint=args.checkpoint,
        domain=args.domain,
        batch_size=args.batch_size,
        device=args.device,
        registry=registry,
    )
    written: list[Path] = []
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        report = getattr(predictor.plugin, "evaluation_report", None)
        if report is not None:
            written += report(pred, target, predictor.config, args.output)
        # metrics that need the model itself (e.g. mesh rollouts), with their own tables/plots
        extras = getattr(predictor.plugin, "evaluation_extras", None)
        if extras is not None:
            extra_metrics, extra_files = extras(predictor, request, args.output)
            metrics = {**metrics, **extra_metrics}
            written += extra_files
        with atomic_path(args.output / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _cmd_design(args: argparse.Namespace, registry: Any) -> int:
    plugin = registry_get(registry, args.domain)
    if not hasattr(plugin, "design"):
        raise UsageError(
            f"the {args.domain} domain has no inverse design; `sci design` is for "
            "the protein domain"
        )
    common = {
        key: getattr(args, key)
        for key in ("checkpoint", "output", "seed", "device", "batch_size", "num_workers", "quiet")
    }
    return int(plugin.design({**common, **_domain_options(args)}) or 0)


def _cmd_data(args: argparse.Namespace, registry: Any) -> int:
    from scisuite.core.registry import PluginRegistry

    reg = registry or PluginRegistry()
    if args.data_verb == "list" or args.data_verb is None:
        names = [args.domain] if getattr(args, "domain", None) else reg.names()
        for name in names:
            plugin = reg.get(name)
            for spec in plugin.datasets.values():
                print(f"{name:<10} {spec.name:<28} {spec.description}")
        return 0
    plugin = reg.get(args.domain)
    if args.data_verb == "generate":
        generate = getattr(plugin, "generate", None)
        if generate is None:
            raise UsageError(f"the {args.domain} domain has nothing to generate; use `data build`")
        common = {
            "name": args.name,
            "output": args.output,
            "seed": args.seed,
            "workers": args.workers,
            "quiet": args.quiet,
        }
        return int(generate({**common, **_domain_options(args)}) or 0)
    if args.name not in plugin.datasets:
        raise UsageError(
            f"unknown {args.domain} dataset {args.name!r}; "
            f"see `sci data list --domain {args.domain}`"
        )
    path = plugin.datasets[args.name].build(args.output, args.cache_dir)
    print(f"built {args.domain}/{args.name} at {path}")
    return 0


def registry_get(registry: Any, name: str) -> Any:
    from scisuite.core.registry import PluginRegistry

    return (registry or PluginRegistry()).get(name)


COMMANDS: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "info": _cmd_info,
    "predict": _cmd_predict,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "design": _cmd_design,
    "data": _cmd_data,
}


def _peek_domain(argv: Sequence[str]) -> str | None:
    for i, token in enumerate(argv):
        if token == "--domain" and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith("--domain="):
            return token.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None, registry: Any = None) -> int:
    """Entry point of the ``sci`` console script. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        verb = next((a for a in argv if a in VERBS), None)
        domain = _peek_domain(argv)
        if verb == "data" and "generate" in argv:
            position = argv.index("generate")
            domain = argv[position + 1] if position + 1 < len(argv) else None
            verb = "generate"
        if verb in ("predict", "train", "evaluate", "design", "generate") and domain is not None:
            plugin = registry_get(registry, domain)
            _add_domain_options(parser, verb, getattr(plugin, "cli_options", ()))
        args = parser.parse_args(argv)
        if args.verb is None:
            parser.print_help()
            return USAGE_ERROR
        args.argv = argv
        return COMMANDS[args.verb](args, registry)
    except UsageError as error:
        print(f"sci: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except UnknownDomainError as error:
        print(f"sci: error: {error.args[0]}", file=sys.stderr)
        return USAGE_ERROR
    except SystemExit as exit_:  # argparse
        return int(exit_.code or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"sci: error: {error}", file=sys.stderr)
        return 1
