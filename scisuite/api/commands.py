"""Domain verbs and data sets: design, generate, list and build named data sets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scisuite.api.common import UnsupportedError, options_with_defaults, registry_or_default
from scisuite.api.predicting import load
from scisuite.core.io import atomic_path, strip_suffixes
from scisuite.core.registry import PluginRegistry


@dataclass
class Designs:
    """What :func:`design` produced.

    Attributes:
        fasta: the designs as FASTA text (sampling parameters in every header).
        table: one row per design (forward-predicted properties, error against the target).
        files: the FASTA file and the table next to it, when an output was given.
    """

    fasta: str
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)


def design(
    domain: str = "protein",
    checkpoint: str | Path | None = None,
    output: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "auto",
    registry: PluginRegistry | None = None,
    **options: Any,
) -> Designs:
    """Inverse design (``sci design``): sample designs for a target and predict their properties.

    Args:
        domain: a domain with a design command (protein).
        checkpoint: checkpoint directory (default: the shipped one).
        output: FASTA path; the table goes next to it as ``.csv``. None: nothing is written.
        seed: seeds sampling (design ``i`` uses ``seed + i``).
        options: the domain's design options (``sci design --help``), e.g. protein's
            ``target="helix=0.6,strand=0.1"``, ``num_designs=20``, ``temperature=0.8``.
    """
    plugin = registry_or_default(registry).get(domain)
    if plugin.commands.design is None:
        raise UnsupportedError(
            f"the {domain} domain has no inverse design; `sci design` is for the protein domain"
        )
    values = options_with_defaults(plugin, "design", options)
    predictor = load(domain, checkpoint=checkpoint, device=device, registry=registry)
    result = plugin.commands.design(
        predictor.model, predictor.config, {**values, "seed": seed, "batch_size": batch_size}
    )
    designs = Designs(result.fasta, pd.DataFrame(result.rows))
    if output is not None:
        output = Path(output)
        known = strip_suffixes(output) in plugin.io.readers
        fasta_path = output if known else output.with_suffix(".fasta")
        table_path = fasta_path.with_suffix(".csv")
        with atomic_path(fasta_path) as tmp:
            tmp.write_text(result.fasta)
        with atomic_path(table_path) as tmp:
            designs.table.to_csv(tmp, index=False)
        designs.files = [fasta_path, table_path]
    return designs


def generate(
    domain: str,
    name: str,
    output: str | Path,
    seed: int = 0,
    workers: int = 1,
    quiet: bool = False,
    registry: PluginRegistry | None = None,
    **options: Any,
) -> Path:
    """Generate a data set with the domain's solver (``sci data generate DOMAIN NAME``).

    Args:
        options: the domain's generate options, e.g. mesh's ``trajectories=40, frames=400``.
    """
    plugin = registry_or_default(registry).get(domain)
    if plugin.commands.generate is None:
        raise UnsupportedError(f"the {domain} domain has nothing to generate; use `data build`")
    values = options_with_defaults(plugin, "generate", options)
    values.update(seed=seed, workers=workers, quiet=quiet)
    return plugin.commands.generate(name, Path(output), values)


def datasets(domain: str | None = None, registry: PluginRegistry | None = None) -> pd.DataFrame:
    """The named real data sets (``sci data list``): columns ``domain, name, description``."""
    reg = registry_or_default(registry)
    rows = [
        {"domain": name, "name": spec.name, "description": spec.description}
        for name in ([domain] if domain else reg.names())
        for spec in reg.get(name).data.datasets.values()
    ]
    return pd.DataFrame(rows, columns=["domain", "name", "description"])


def build_dataset(
    domain: str,
    name: str,
    output: str | Path = "datasets",
    cache_dir: str | Path | None = None,
    registry: PluginRegistry | None = None,
) -> Path:
    """Build a named data set from its real source (``sci data build DOMAIN NAME``)."""
    plugin = registry_or_default(registry).get(domain)
    specs = plugin.data.datasets
    if name not in specs:
        raise UnsupportedError(
            f"unknown {domain} dataset {name!r}; see `sci data list --domain {domain}`"
        )
    return specs[name].build(Path(output), Path(cache_dir) if cache_dir else None)


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["d_model=64", "tasks=[\\"ss3\\"]"]`` -> ``{"d_model": 64, "tasks": ["ss3"]}``
    (values read as JSON where they parse, else kept as strings)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides
