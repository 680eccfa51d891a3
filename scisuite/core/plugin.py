"""The domain plugin contract.

Optional hooks a plugin may also define (looked up with ``getattr``):
``metric_subsets(batch)`` (extra metric groups), ``evaluation_report(pred, target, config,
out_dir)`` (plots for ``sci evaluate``), ``after_predict(output_path, predictor)`` (extra files
next to a prediction table, e.g. per-residue tracks), ``design(options: dict)`` (``sci design``:
the common flags checkpoint/output/seed/device/batch_size/num_workers/quiet plus the domain's
``cli_options``) and ``generate(options: dict)`` (``sci data generate DOMAIN NAME``: name,
output, seed, workers, quiet plus the domain's ``cli_options`` with ``verbs=("generate",)``)
and ``finalize_model(model, config, val, batch_size, device) -> (model, config, report)``
(called by ``sci train`` after the best epoch is restored: a last choice made on the
validation set only, e.g. the molecule domain's head selection; ``report`` is stored in the
checkpoint's metrics under ``"selection"``).

Each domain package exports one ``PLUGIN`` object satisfying :class:`DomainPlugin`.
The core, API and CLI talk to domains only through it; ``tests/contract`` checks every
registered plugin against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.config import FrozenConfig
from scisuite.core.records import BadRecord, Record

Reader = Callable[..., Iterator[Record | BadRecord]]
"""``reader(path, **options) -> iterator of records``; streams, never loads the whole file."""

Writer = Callable[[pd.DataFrame, Path], Path]
"""``writer(rows, path) -> path``; writes atomically."""


@dataclass(frozen=True)
class Metric:
    """A scalar metric on ``(predictions, targets)`` in original units.

    Attributes:
        name: column name in reports, e.g. ``"rmse"``.
        fn: ``fn(pred [M, T], target [M, T]) -> float``; NaN targets are missing labels.
        higher_is_better: direction, for model selection and early stopping.
        perfect: its value on perfect predictions (checked by the contract tests).
    """

    name: str
    fn: Callable[[Tensor, Tensor], float]
    higher_is_better: bool
    perfect: float


@dataclass(frozen=True)
class DatasetSpec:
    """A named builder of real data (``sci data build DOMAIN NAME``).

    Attributes:
        name: e.g. ``"freesolv"``.
        description: what it is, its units and its documented split.
        build: ``build(out_dir, cache_dir) -> path`` writes the dataset and its provenance.
    """

    name: str
    description: str
    build: Callable[[Path, Path | None], Path]


@dataclass(frozen=True)
class CliOption:
    """A domain-specific command-line flag, declared as data (the CLI adds it to argparse).

    Attributes:
        flag: e.g. ``"--smiles-column"``.
        dest: key in the reader options / ``TrainRequest.columns``.
        help: one line for ``--help``.
        nargs: argparse ``nargs`` (``"+"`` for lists), or None.
        type: ``"str"``, ``"int"`` or ``"float"``.
        verbs: the verbs that accept it.
        aliases: other spellings, e.g. ``("-n",)``.
        default: value when the flag is not given.
    """

    flag: str
    dest: str
    help: str
    nargs: str | None = None
    type: str = "str"
    verbs: tuple[str, ...] = ("predict", "train", "evaluate")
    aliases: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True)
class TrainRequest:
    """What ``sci train`` / :func:`scisuite.api.train` asks a domain to prepare.

    Attributes:
        dataset: a name from the plugin's ``datasets`` (e.g. ``"freesolv"``), or None.
        data: a user file with training records (used when ``dataset`` is None).
        val: optional user validation file.
        test: optional user test file.
        split: ``"random"``, ``"scaffold"``, ``"fixed"``, ... (domain-defined).
        seed: seeds splitting and initialisation.
        columns: reader options, e.g. ``{"smiles_column": "smiles", "target_columns": ["y"]}``.
        model_overrides: config fields to change from the default, e.g. ``{"d_model": 64}``.
    """

    dataset: str | None = None
    data: Path | None = None
    val: Path | None = None
    test: Path | None = None
    split: str = "auto"
    seed: int = 0
    columns: Mapping[str, Any] = field(default_factory=dict)
    model_overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TrainingData:
    """Featurized splits plus the config with fitted normalisers.

    Attributes:
        config: domain config whose normaliser fields are fitted on ``train`` only.
        train, val, test: featurized graphs (``test`` may be empty).
        fingerprint: sha256 of the training data identity.
        provenance: dataset name, source package/file/checksum, split description.
        rejected: records that could not be featurized (id -> reason), reported to the user.
    """

    config: FrozenConfig
    train: list[Data]
    val: list[Data]
    test: list[Data]
    fingerprint: str
    provenance: dict[str, Any] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class DomainPlugin(Protocol):
    """What a domain provides (see ``DESIGN.md``, "Plugin contract")."""

    name: str
    schema_version: int
    config_class: type[FrozenConfig]
    readers: Mapping[str, Reader]
    writers: Mapping[str, Writer]
    datasets: Mapping[str, DatasetSpec]
    metrics: Sequence[Metric]
    cli_options: Sequence[CliOption]

    def default_config(self) -> FrozenConfig:
        """A config that builds a small working model."""
        ...

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        """Record -> PyG ``Data`` (pure, picklable, CPU). Raises ``RecordError`` if invalid."""
        ...

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        """Load, validate, split and featurize the data a training run asks for."""
        ...

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        """Featurized labelled test graphs for ``config``: a dataset's test split or a user file."""
        ...

    def output_columns(self, config: FrozenConfig) -> list[str]:
        """Column order of prediction rows (``status``/``error`` are appended by the core)."""
        ...

    def build_model(self, config: FrozenConfig) -> nn.Module:
        """Backbone + head; ``model(batch)`` returns the raw outputs tensor. If prediction is
        not one forward pass (generation), the model also defines ``predict(batch)``, which
        prediction uses instead and whose output ``postprocess`` receives."""
        ...

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        """Scalar training loss (normalised units; missing labels masked)."""
        ...

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        """``(predictions, targets)`` in original units for :attr:`metrics`."""
        ...

    def postprocess(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> list[dict[str, Any]]:
        """One output row per graph/sequence in the batch (without status columns)."""
        ...

    def record_columns(self, record: Record | BadRecord) -> dict[str, Any]:
        """Input columns echoed into every output row (id, input SMILES, ...)."""
        ...

    def records_from_objects(self, objects: Iterable[Any]) -> Iterator[Record | BadRecord]:
        """Python objects (SMILES strings, sequences, ...) -> records, for the Python API."""
        ...

    def example_inputs(self) -> list[Record]:
        """A few valid records for smoke tests and the demo."""
        ...

    def example_objects(self) -> list[Any]:
        """Plain Python inputs a notebook user would pass (SMILES strings, sequences, ...)."""
        ...

    def write_example_file(self, directory: Path) -> tuple[Path, int, int]:
        """Write example inputs, including at least one bad record, in the domain's main
        input format. Returns ``(path, number of records, number of bad records)``."""
        ...
