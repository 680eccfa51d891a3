"""The domain plugin contract: a plugin is a wiring table of typed parts.

Each domain package exports one ``PLUGIN = DomainPlugin(...)``. The parts, and who uses them:

========== ============================================== ===================================
part       what it is                                     used by
========== ============================================== ===================================
``io``     readers by suffix, stdin reader, Python        ``api`` (reading), ``predicting``
           objects -> records, echoed input columns,      (echo columns), ``api`` (writers)
           streaming writers for domain output formats
``task``   featurize, model, loss, evaluation arrays,     ``predicting``, ``training``,
           metric subsets, postprocess, output columns    ``api.evaluate``
``data``   named data sets, training / evaluation data    ``api.train``, ``api.evaluate``,
           builders, a last choice on validation          ``api.build_dataset``
``reports`` post-prediction outputs (tracks, plots),      ``api`` (``predict_file``,
           evaluation report and extras; no-op defaults   ``evaluate``)
``commands`` domain verbs: ``design``, ``generate``       ``api.design``, ``api.generate``
``examples`` tiny inputs, an example file with bad        the demo and ``tests/contract``
           records, a labelled batch, a training fixture
========== ============================================== ===================================

The prediction path is declared: ``task.build_model(config)`` returns a module whose
``predict(batch)`` gives the domain's **typed prediction** (per-sequence tracks, a rollout, ...);
``task.postprocess(prediction, batch, config)`` turns it into one :class:`Predicted` per graph:
its table row (exactly ``task.output_columns(config)`` less the echoed input columns) and the
record's own slice of the prediction, which writers and report sinks stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.config import FrozenConfig
from scisuite.core.records import BadRecord, Record, RecordError

Reader = Callable[..., Iterator[Record | BadRecord]]
"""``reader(path, **options) -> records``: streams, never loads the whole file. ``options`` are
the domain's :class:`CliOption` destinations given for the verb (``None`` values dropped)."""


@dataclass(frozen=True)
class Predicted:
    """One record's prediction as it leaves the task.

    Attributes:
        row: its table row. From ``postprocess``: the predicted columns; from
            :func:`scisuite.core.predicting.predict_records`: the full row (echoed input
            columns, predicted columns, ``status``, ``error``).
        item: the record's own part of the typed prediction (a sequence's tracks, a mesh
            rollout), for writers and report sinks; None for error rows.
    """

    row: dict[str, Any]
    item: Any = None


class PredictionSink(Protocol):
    """A streaming consumer of predictions (a domain writer or a report output).

    ``write`` is called once per record in input order; ``close`` publishes the files
    atomically and returns them; ``abort`` removes anything half-written.
    """

    def write(self, predicted: Predicted) -> None: ...

    def close(self) -> list[Path]: ...

    def abort(self) -> None: ...


SinkFactory = Callable[[Path, FrozenConfig], PredictionSink]
"""``factory(output_path, config) -> sink``."""


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
    """A domain-specific flag, declared as data (the CLI adds it to argparse; the API takes
    the same name as a keyword argument).

    Attributes:
        flag: e.g. ``"--smiles-column"``.
        dest: key in the reader options / ``TrainRequest.columns`` / command options.
        help: one line for ``--help``.
        nargs: argparse ``nargs`` (``"+"`` for lists), or None.
        type: ``"str"``, ``"int"`` or ``"float"``.
        verbs: the verbs that accept it (``"generate"`` is ``sci data generate``).
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
        dataset: a name from the plugin's ``data.datasets`` (e.g. ``"freesolv"``), or None.
        data: a user file with training records (used when ``dataset`` is None).
        val: optional user validation file.
        test: optional user test file.
        split: ``"random"``, ``"scaffold"``, ``"fixed"``, ... (domain-defined).
        seed: seeds splitting and initialisation.
        columns: domain options, e.g. ``{"smiles_column": "smiles", "target_columns": ["y"]}``.
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
        train, val, test: featurized graphs (``test`` may be empty); ``train`` may be any
            sequence (e.g. one that draws fresh noise per access).
        fingerprint: sha256 of the training data identity.
        provenance: dataset name, source package/file/checksum, split description.
        rejected: records that could not be featurized (id -> reason), reported to the user.
    """

    config: FrozenConfig
    train: Sequence[Data]
    val: list[Data]
    test: list[Data]
    fingerprint: str
    provenance: dict[str, Any] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- the parts


@dataclass(frozen=True)
class RecordIO:
    """Records in and domain formats out.

    Attributes:
        readers: format suffix (under any ``.gz``; ``""`` = no suffix or a directory) ->
            the reader for it (one dispatch: the reader does not dispatch again).
        stdin: the reader for ``"-"`` (standard input), or None if the domain reads no stdin.
        from_objects: Python objects (SMILES strings, sequences, mesh states) -> records.
        echo_columns: ``record -> {column: value}`` copied from the input into its row
            (``id`` first, then e.g. the input SMILES); also for bad records.
        writers: output suffix -> streaming writer of the domain's own format (e.g. ``.xdmf``).
    """

    readers: Mapping[str, Reader]
    from_objects: Callable[[Iterable[Any]], Iterator[Record | BadRecord]]
    echo_columns: Callable[[Record | BadRecord], dict[str, Any]]
    stdin: Reader | None = None
    writers: Mapping[str, SinkFactory] = field(default_factory=dict)


class PredictiveModel(Protocol):
    """What ``task.build_model`` returns: an ``nn.Module`` whose ``forward(batch)`` is the
    training pass (raw outputs for ``loss``) and whose ``predict(batch)`` is inference."""

    def __call__(self, batch: Batch) -> Tensor: ...

    def predict(self, batch: Batch) -> Any: ...


@dataclass(frozen=True)
class TrainingProgress:
    """Where a training run is, for tasks whose training batches depend on it.

    Attributes:
        step: optimiser steps done so far (Lightning's ``global_step``; restored on resume).
        total_steps: optimiser steps of the whole run.
        seed: the run's seed (seeds per-step randomness together with ``step`` and ``rank``).
        rank: this process's global rank (0 without DDP).
    """

    step: int
    total_steps: int
    seed: int
    rank: int = 0

    @property
    def fraction(self) -> float:
        """``step / total_steps`` in ``[0, 1]``."""
        return min(max(self.step / max(self.total_steps, 1), 0.0), 1.0)

    def generator(self) -> torch.Generator:
        """A CPU generator seeded from ``(seed, step, rank)``: the same draws on resume and
        different draws per rank."""
        key = np.random.SeedSequence([self.seed, self.step, self.rank])
        return torch.Generator().manual_seed(int(key.generate_state(1, np.uint64)[0] >> 1))


@dataclass
class FeaturizedRecords:
    """What :meth:`Task.featurize_records` makes of a chunk of ``R`` records.

    Attributes:
        batch: the valid records' graphs as one batch, in chunk order (None: none valid).
        valid: the chunk position of each graph of ``batch``, ascending.
        errors: ``{chunk position: reason}`` of the invalid records.
    """

    batch: Batch | None
    valid: list[int]
    errors: dict[int, str]


class Task(ABC):
    """The learning problem: record -> graph -> model -> prediction -> rows.

    Attributes:
        metrics: evaluated on :meth:`evaluation_arrays` (original units).
        bf16_inference: see below.
    """

    metrics: Sequence[Metric] = ()
    #: Whether ``load(..., precision="bf16")`` may run this domain's model under bfloat16
    #: autocast: True only where the accuracy cost was measured and found negligible.
    bf16_inference: bool = False

    @abstractmethod
    def default_config(self) -> FrozenConfig:
        """A config that builds a small working model."""

    @abstractmethod
    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        """Record -> PyG ``Data`` (pure, picklable, CPU). Raises ``RecordError`` if invalid."""

    def featurize_records(
        self, records: Sequence[Record], config: FrozenConfig
    ) -> FeaturizedRecords:
        """A chunk of records -> one batch of the valid ones (prediction's featurizer).

        Default: :meth:`featurize` per record, then ``Batch.from_data_list``. A domain may
        featurize a chunk in bulk instead (one NumPy pass over all its atoms), but its
        batch must equal the default's."""
        graphs: list[Data] = []
        valid: list[int] = []
        errors: dict[int, str] = {}
        for i, record in enumerate(records):
            try:
                graphs.append(self.featurize(record, config))
                valid.append(i)
            except RecordError as error:
                errors[i] = error.reason
        return FeaturizedRecords(Batch.from_data_list(graphs) if graphs else None, valid, errors)

    @abstractmethod
    def build_model(self, config: FrozenConfig) -> nn.Module:
        """Backbone + head: a :class:`PredictiveModel`."""

    @abstractmethod
    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        """Scalar training loss of ``model(batch)`` (normalised units; missing labels masked)."""

    def training_batch(
        self, model: nn.Module, batch: Batch, config: FrozenConfig, progress: TrainingProgress
    ) -> Batch:
        """The batch the training loss sees, made from a loaded one (default: unchanged).

        Runs on the training device before ``loss(model(batch), ...)``, with the model at
        hand and the run's progress, for what a fixed data set cannot hold: input noise on
        a schedule, or states the model itself produced (pushforward training)."""
        return batch

    def inherited_settings(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """Config fields a model fine-tuned from a checkpoint (``--init-from``) whose
        ``model_config`` is ``source`` takes from it, unless the request sets them itself:
        architecture choices its weights were trained for (e.g. a weight-free pooling, which
        no shape check can catch). Default: none."""
        return {}

    def transferable_weights(
        self, own: Mapping[str, Tensor], source: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        """Which tensors of a source checkpoint start which of a new model's (``sci train
        --init-from``): ``{own name: source tensor}``; the rest keep their fresh
        initialisation. Default: tensors of the same name and shape."""
        return {
            name: source[name]
            for name, tensor in own.items()
            if name in source and source[name].shape == tensor.shape
        }

    @abstractmethod
    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        """``(predictions, targets)`` in original units for :attr:`metrics`."""

    def evaluation_std(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor | None:
        """Predicted standard deviations, shaped and in the units of the predictions of
        :meth:`evaluation_arrays`, for the uncertainty metrics
        (:mod:`scisuite.core.uncertainty`); None (default): the model predicts none."""
        return None

    def metric_subsets(self, batch: Batch, config: FrozenConfig) -> dict[str, Tensor]:
        """Extra metric groups ``{name: bool mask over evaluation rows}`` reported as
        ``<metric>_<name>`` (e.g. MoleculeACE's cliff molecules). Default: none."""
        return {}

    @abstractmethod
    def output_columns(self, config: FrozenConfig) -> list[str]:
        """Column order of prediction rows (``status``/``error`` are appended by the core)."""

    @abstractmethod
    def postprocess(self, prediction: Any, batch: Batch, config: FrozenConfig) -> list[Predicted]:
        """``model.predict(batch)`` -> one :class:`Predicted` per graph, in batch order."""


class DataCatalog(ABC):
    """Named real data sets and the builders of training and evaluation data."""

    @property
    @abstractmethod
    def datasets(self) -> Mapping[str, DatasetSpec]:
        """``sci data list`` / ``sci data build`` entries."""

    @abstractmethod
    def build_training_data(self, request: TrainRequest) -> TrainingData:
        """Load, validate, split and featurize the data a training run asks for."""

    @abstractmethod
    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        """Featurized labelled test graphs for ``config``: a dataset's test split or a user file."""

    def finalize_model(
        self,
        model: nn.Module,
        config: FrozenConfig,
        val: list[Data],
        batch_size: int,
        device: torch.device,
    ) -> tuple[nn.Module, FrozenConfig, dict[str, Any]]:
        """A last choice made on the validation set only, after the best epoch is restored
        (e.g. the molecule head selection). Returns ``(model, config, report)``; ``report``
        goes into the checkpoint's metrics under ``"selection"``. Default: nothing to choose."""
        return model, config, {}


class Reports:
    """Outputs beyond the prediction table and the metrics; every hook defaults to nothing."""

    def prediction_outputs(self, output: Path, config: FrozenConfig) -> list[PredictionSink]:
        """Sinks that write extra files next to a prediction written to ``output`` (e.g.
        per-residue tracks and a plot), fed the same stream as the table."""
        return []

    def evaluation_report(
        self, pred: Tensor, target: Tensor, config: FrozenConfig, out_dir: Path
    ) -> list[Path]:
        """Files (plots, tables) from the evaluation arrays, written atomically to ``out_dir``."""
        return []

    def evaluation_extras(
        self, model: nn.Module, config: FrozenConfig, request: TrainRequest, out_dir: Path
    ) -> tuple[dict[str, float], list[Path]]:
        """Metrics that need the model itself (generation, rollouts) and their files."""
        return {}, []


@dataclass(frozen=True)
class DesignResult:
    """What a design command produced.

    Attributes:
        fasta: the designs as FASTA text (parameters in every header).
        rows: one row per design (its forward-predicted properties and target error).
    """

    fasta: str
    rows: list[dict[str, Any]]


Design = Callable[[nn.Module, FrozenConfig, Mapping[str, Any]], DesignResult]
"""``design(model, config, options) -> DesignResult``; ``options`` are the domain's
``design`` :class:`CliOption` destinations plus ``seed`` and ``batch_size``."""

Generate = Callable[[str, Path, Mapping[str, Any]], Path]
"""``generate(name, output_dir, options) -> output_dir``; ``options`` are the domain's
``generate`` :class:`CliOption` destinations plus ``seed``, ``workers`` and ``quiet``."""


@dataclass(frozen=True)
class Commands:
    """Domain verbs beyond predict / train / evaluate; None where the domain has none.

    Attributes:
        design: inverse design (``sci design``, :func:`scisuite.api.design`).
        generate: data generation with a solver (``sci data generate``,
            :func:`scisuite.api.generate`).
    """

    design: Design | None = None
    generate: Generate | None = None


@dataclass(frozen=True)
class Examples:
    """Tiny real inputs for the demo and the contract suite.

    Attributes:
        inputs: ``() -> records`` (valid, at least two).
        objects: ``() -> Python objects`` a notebook user would pass.
        write_file: ``(directory) -> (path, records, bad records)``: an input file in the
            domain's main format with at least one bad record.
        labelled: ``(config) -> graphs`` with known targets: every metric must be defined
            (not NaN) on them.
        training_request: ``(directory) -> TrainRequest`` for a tiny training set written
            under ``directory`` (built with ``data.build_training_data``).
    """

    inputs: Callable[[], list[Record]]
    objects: Callable[[], list[Any]]
    write_file: Callable[[Path], tuple[Path, int, int]]
    labelled: Callable[[FrozenConfig], list[Data]]
    training_request: Callable[[Path], TrainRequest]


@dataclass(frozen=True)
class DomainPlugin:
    """A domain, as a table of its parts (see the module docstring and ``DESIGN.md``).

    Attributes:
        name: the ``--domain`` value.
        schema_version: checkpoint format version of this domain's config/weights.
        config_class: the domain's :class:`FrozenConfig` (read from ``config.json``).
        io, task, data, reports, commands, examples: the parts.
        options: the domain's extra command-line flags / API keywords.
    """

    name: str
    schema_version: int
    config_class: type[FrozenConfig]
    io: RecordIO
    task: Task
    data: DataCatalog
    examples: Examples
    reports: Reports = field(default_factory=Reports)
    commands: Commands = field(default_factory=Commands)
    options: tuple[CliOption, ...] = ()

    def options_for(self, verb: str) -> tuple[CliOption, ...]:
        """The domain flags ``verb`` accepts."""
        return tuple(option for option in self.options if verb in option.verbs)
