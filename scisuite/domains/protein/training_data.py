"""Training and evaluation data of the protein model: which tasks a request asks for, the
source tables they draw from (built data sets, a user solubility table) and their splits.

Named data sets are built on first use into ``--data-dir`` (default
``~/.cache/scisuite/datasets``); their splits are kept as built (structures by identity,
peptides stratified, UniProt random); a user solubility file is split 80/10/10 unless
``--val`` / ``--test`` files are given.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch_geometric.data import Data

from scisuite.core.checkpoint import fingerprint
from scisuite.core.config import FrozenConfig, apply_overrides
from scisuite.core.plugin import DataCatalog, DatasetSpec, TrainingData, TrainRequest
from scisuite.core.records import Record
from scisuite.domains.protein.applicability import fit_domain
from scisuite.domains.protein.calibration import calibrate
from scisuite.domains.protein.catalogue import (
    DATASETS,
    SCHEMA_VERSIONS,
    build_dataset,
    built_version,
    dataset_specs,
    default_data_dir,
)
from scisuite.domains.protein.config import DEFAULT_TASK_WEIGHTS, DEFAULT_TASKS, ProteinConfig
from scisuite.domains.protein.datasets import PROVENANCE_FILE, load_solubility_csv
from scisuite.domains.protein.prompts import TASK_NAMES, Example, get_task
from scisuite.domains.protein.pseudo_labels import DATASET_NAME as PSEUDO_SS_NAME
from scisuite.domains.protein.pseudo_labels import pseudo_ss_path
from scisuite.domains.protein.tasks import (
    Sources,
    bucket_examples,
    example_key,
    featurize_examples,
    load_table,
    needed_sources,
    solubility_frame,
    split_examples,
)


def data_dir_of(request: TrainRequest) -> Path:
    """The folder of built data sets a request names (``--data-dir``, else the default)."""
    value = request.columns.get("data_dir")
    return Path(value) if value else default_data_dir()


def load_sources(
    request: TrainRequest, tasks: Sequence[str], pseudo_ss: bool = False
) -> tuple[Sources, dict[str, Any]]:
    """The tables ``tasks`` draw from (named data sets built into ``--data-dir`` when
    missing; the solubility table from ``--data``; with ``pseudo_ss`` the teacher-labelled
    UniProt table, which is never built implicitly: it needs a teacher), and their
    provenance."""
    columns = dict(request.columns)
    data_dir = data_dir_of(request)
    cache_dir = Path(columns["cache_dir"]) if columns.get("cache_dir") else None
    sources, provenance = Sources(), {"data_dir": str(data_dir)}
    for name in sorted(needed_sources(tasks) - {"solubility"}):
        folder, table = DATASETS[name]
        path = data_dir / folder / table
        # a table without provenance was put there by hand and is used as it is; a build by
        # an older scisuite (an older schema in its provenance) is rebuilt
        found = built_version(path) if path.exists() else None
        if not path.exists() or (found is not None and found < SCHEMA_VERSIONS[name]):
            why = f" (built with schema {found}, now {SCHEMA_VERSIONS[name]})" if found else ""
            print(f"building the protein {name} data set in {data_dir}{why} ...", file=sys.stderr)
            path = build_dataset(name, data_dir, cache_dir)
        setattr(sources, name, load_table(path))
        meta = path.parent / PROVENANCE_FILE
        info = json.loads(meta.read_text()) if meta.exists() else {}
        provenance[name] = {
            "table": str(path),
            "source": info.get("source") or info.get("sources"),
            "split": info.get("split") or info.get("identity", {}).get("clustering"),
            "counts": info.get("counts"),
        }
    if pseudo_ss:
        path = pseudo_ss_path(data_dir)
        if not path.exists():
            raise FileNotFoundError(
                f"pseudo_ss_tasks needs {path}; label UniProt with a teacher first: sci data "
                f"generate protein {PSEUDO_SS_NAME} -o {data_dir} --teacher CHECKPOINT"
            )
        sources.pseudo_ss = load_table(path)
        info = json.loads((path.parent / PROVENANCE_FILE).read_text())
        provenance["pseudo_ss"] = {
            "table": str(path),
            "source": info.get("source"),
            "counts": info.get("counts"),
        }
    if "solubility" in tasks:
        sources.solubility = solubility_table(request)
        provenance["solubility"] = {"data": str(request.data), "val": str(request.val)}
    return sources, provenance


def solubility_table(request: TrainRequest) -> pd.DataFrame:
    """Solubility records of ``--data`` (split 80/10/10, or by ``--val`` / ``--test``
    files when given); for evaluation a ``--test`` file alone is all test."""
    if request.data is None and request.test is None:
        raise ValueError(
            "the solubility task needs a labelled table: pass --data FILE.csv (sequence,"
            "label; DeepSol / eSOL style); no solubility data ships with scisuite"
        )
    records, splits = [], []
    parts = ((request.data, "train"), (request.val, "validation"), (request.test, "test"))
    for path, split in parts:
        if path is None:
            continue
        for record in load_solubility_csv(path):
            if isinstance(record, Record):
                records.append(record)
                splits.append(split)
    explicit = request.data is None or request.val is not None or request.test is not None
    return solubility_frame(records, request.seed, splits if explicit else [])


def resolve_tasks(request: TrainRequest) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The tasks to train (``--tasks``, else every default task of ``--dataset``, else
    ``solubility`` for a user file) and their default weights."""
    chosen = tuple(request.columns.get("tasks") or ())
    if request.dataset is not None:
        wanted = set(request.dataset.split("+"))
        if wanted == {"all"}:
            wanted = set(DATASETS)
        unknown = sorted(wanted - set(DATASETS))
        if unknown:
            raise ValueError(
                f"unknown protein data set(s) {unknown}; choose from {sorted(DATASETS)} "
                "or 'all' (join several with '+')"
            )
        default = tuple(t for t in DEFAULT_TASKS if get_task(t).source in wanted)
    else:
        default = ("solubility",)
    tasks = chosen or default
    unknown_tasks = sorted(set(tasks) - set(TASK_NAMES))
    if unknown_tasks:
        raise ValueError(f"unknown task(s) {unknown_tasks}; tasks are {list(TASK_NAMES)}")
    weights = dict(zip(DEFAULT_TASKS, DEFAULT_TASK_WEIGHTS, strict=True))
    return tasks, tuple(weights.get(t, 1.0) for t in tasks)


def training_domain(
    examples: Sequence[Example], validation: Sequence[Example] = ()
) -> dict[str, Any]:
    """The ``train_*`` / ``*_domain`` fields of the config from the training examples (for
    the applicability flags): the peptide length range of the ``amp`` / ``acp`` examples,
    the longest chain of the structure tasks, and each activity task's
    :class:`~scisuite.domains.protein.applicability.PeptideDomain` (thresholds from the
    ``validation`` examples); a field the examples say nothing of is kept."""
    peptides = [len(e.sequence) for e in examples if e.task in ("amp", "acp") and e.sequence]
    chains = [len(e.sequence) for e in examples if e.task in ("ss3", "ss8") and e.sequence]
    values: dict[str, Any] = {}
    if peptides:
        values["train_peptide_length"] = (min(peptides), max(peptides))
    if chains:
        values["train_max_chain_length"] = max(chains)
    for task in ("amp", "acp"):
        labelled = [(e.sequence, e.values[0] >= 0.5) for e in examples if e.task == task]
        if labelled:
            held_out = [(e.sequence, e.values[0] >= 0.5) for e in validation if e.task == task]
            values[f"{task}_domain"] = fit_domain(labelled, held_out)
    return values


def build_training_data(request: TrainRequest) -> TrainingData:
    """Examples of the requested tasks per split, featurized (and length-bucketed when
    ``bucket_tokens`` is set), with the config that trains on them."""
    if request.dataset is None and request.data is None:
        raise ValueError("give --dataset structures|peptides|uniprot|all or --data FILE.csv")
    tasks, weights = resolve_tasks(request)
    values = ProteinConfig().to_dict()
    values.update(tasks=list(tasks), task_weights=list(weights))
    if request.columns.get("max_length"):
        values["max_length"] = int(request.columns["max_length"])
    values = apply_overrides(values, dict(request.model_overrides))
    config = ProteinConfig.from_dict(values)
    sources, provenance = load_sources(request, config.tasks, bool(config.pseudo_ss_tasks))
    parts = {
        s: split_examples(sources, config, s, request.seed) for s in ("train", "validation", "test")
    }
    if not parts["validation"]:
        raise ValueError("no validation examples: the data has no validation split for these tasks")
    counts = {
        split: {t: sum(e.task == t for e in examples) for t in config.tasks}
        for split, examples in parts.items()
    }
    provenance["examples"] = counts
    config = config.replace(**training_domain(parts["train"], parts["validation"]))
    provenance["split"] = "as built: structures by identity, peptides stratified, UniProt random"
    train = featurize_examples(parts["train"], config, request.seed, train=True)
    val = featurize_examples(parts["validation"], config, request.seed, train=False)
    test = featurize_examples(parts["test"], config, request.seed, train=False)
    if config.bucket_tokens:
        train, val, test = (
            bucket_examples(part, config.bucket_tokens, request.seed) for part in (train, val, test)
        )
    print_counts = ", ".join(f"{k}: {sum(v.values())}" for k, v in counts.items())
    print(f"protein examples per split: {print_counts}", file=sys.stderr)
    return TrainingData(
        config, train, val, test, fingerprint(map(example_key, parts["train"])), provenance
    )


def evaluation_data(request: TrainRequest, config: FrozenConfig) -> list[Data]:
    """Teacher-forced test examples of the config's tasks (those of ``--dataset`` only,
    when given; ``--tasks`` narrows further). Generation-based Q3 / Q8 / ROC-AUC come from
    the evaluation extras (``report.py``)."""
    config = ProteinConfig.coerce(config)
    tasks = tuple(request.columns.get("tasks") or config.tasks)
    if request.dataset is not None:
        wanted = set(DATASETS) if request.dataset == "all" else set(request.dataset.split("+"))
        tasks = tuple(t for t in tasks if get_task(t).source in wanted)
    if not tasks:
        raise ValueError(
            f"the checkpoint has no task on {request.dataset!r}; tasks: {config.tasks}"
        )
    config = config.replace(tasks=tasks, task_weights=(1.0,) * len(tasks))
    sources, _ = load_sources(request, tasks)
    examples = split_examples(sources, config, "test", request.seed)
    return featurize_examples(examples, config, request.seed, train=False)


class ProteinData(DataCatalog):
    """Implements :class:`scisuite.core.plugin.DataCatalog` for the protein data sets."""

    @property
    def datasets(self) -> Mapping[str, DatasetSpec]:
        return dataset_specs()

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        return build_training_data(request)

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        return evaluation_data(request, config)

    def finalize_model(
        self,
        model: nn.Module,
        config: FrozenConfig,
        val: list[Data],
        batch_size: int,
        device: torch.device,
    ) -> tuple[nn.Module, FrozenConfig, dict[str, Any]]:
        """Platt-calibrate the peptide probabilities on the validation examples."""
        model.to(device).eval()
        calibrated, report = calibrate(model, ProteinConfig.coerce(config), val, batch_size)  # type: ignore[arg-type]
        return model, calibrated, ({"peptide_calibration": report} if report else {})
