"""Training and evaluation data: named data sets or user files -> split, featurized graphs.

A training request names a data set (``freesolv``, ``solubility``, ``moleculeace/...``, or
several joined with ``+``) or a user file with ``--target-columns``; records are split
(``auto``: the source's fixed split where it has one, else random 80/10/10), featurized, and
the regression normalisers are fitted on the training split only.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data

from scisuite.core.checkpoint import fingerprint
from scisuite.core.config import FrozenConfig, apply_overrides
from scisuite.core.plugin import DataCatalog, DatasetSpec, TrainingData, TrainRequest
from scisuite.core.predicting import featurize_with_rejects
from scisuite.core.records import BadRecord, Record
from scisuite.domains.molecule import distillation, selection
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.datasets import MoleculeDataset, dataset_specs, load_dataset
from scisuite.domains.molecule.featurize import training_domain
from scisuite.domains.molecule.readers import reader_for
from scisuite.domains.molecule.splits import Split, carve_validation, random_split, scaffold_split
from scisuite.domains.molecule.task import MoleculeTask

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
TARGET_ALIASES = {("freesolv", "expt"): "hydration_free_energy", ("solubility", "SOL"): "logS"}

LabelledSource = tuple[list[Record | BadRecord], tuple[str, ...], str, Split, dict[str, Any]]
"""Records, target names, task type, split and provenance of a training request."""


def read_file(path: Path, columns: Mapping[str, Any]) -> list[Record | BadRecord]:
    """Every record of a labelled user file, read with the reader for its suffix."""
    reader = reader_for(path)
    return list(
        reader(
            path,
            columns.get("smiles_column"),
            tuple(columns.get("target_columns") or ()),
            columns.get("id_column"),
        )
    )


def split_for(
    request: TrainRequest, smiles: Sequence[str], dataset: MoleculeDataset | None
) -> Split:
    """The split a request asks for (``auto``: fixed where the data set has one, else random)."""
    method = request.split
    if method == "auto":
        method = "fixed" if dataset is not None and dataset.split is not None else "random"
    if method == "fixed":
        if dataset is None or dataset.split is None:
            raise ValueError("--split fixed needs a dataset with a fixed split")
        return carve_validation(dataset.fixed_split(), 0.1, seed=request.seed, method="random")
    if method == "random":
        return random_split(len(smiles), SPLIT_FRACTIONS, seed=request.seed)
    if method == "scaffold":
        return scaffold_split(list(smiles), SPLIT_FRACTIONS, seed=request.seed)
    raise ValueError(f"unknown split {method!r}; use auto, random, scaffold or fixed")


def labelled_source(request: TrainRequest) -> LabelledSource:
    """Records, target names, task type, split and provenance for a training request."""
    columns = dict(request.columns)
    if request.dataset is not None:
        cache_dir = columns.get("cache_dir")
        return named_source(request, Path(cache_dir) if cache_dir else None)
    if request.data is None:
        raise ValueError("give --dataset NAME or --data FILE")
    targets = tuple(columns.get("target_columns") or ())
    if not targets:
        raise ValueError("training on a file needs --target-columns")
    records = read_file(request.data, columns)
    parts = [records]
    for extra in (request.val, request.test):
        parts.append(read_file(extra, columns) if extra is not None else [])
    if request.val is not None:
        n_train, n_val = len(parts[0]), len(parts[1])
        index = np.arange(n_train + n_val + len(parts[2]))
        split = Split(index[:n_train], index[n_train : n_train + n_val], index[n_train + n_val :])
        records = [*parts[0], *parts[1], *parts[2]]
    else:
        smiles = [r.payload.get("smiles", "") if isinstance(r, Record) else "" for r in records]
        split = split_for(request, smiles, None)
    task = str(columns.get("task_type") or "regression")
    provenance = {"data": str(request.data), "val": str(request.val), "test": str(request.test)}
    return records, targets, task, split, provenance


def named_source(request: TrainRequest, cache_dir: Path | None) -> LabelledSource:
    """One named dataset, or several joined with ``+`` into a multi-task set.

    Each part keeps its own split (``auto``: the source's fixed split where it has one);
    targets get readable aliases (``logS``, ``hydration_free_energy``) and records of one
    part have missing labels (NaN) for the other parts' targets.
    """
    records: list[Record | BadRecord] = []
    names: list[str] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    tasks, provenance = set(), {}
    for name in request.dataset.split("+"):  # type: ignore[union-attr]
        dataset = load_dataset(name, cache_dir=cache_dir)
        alias = {t: TARGET_ALIASES.get((name, t), t) for t in dataset.target_names}
        split = split_for(request, dataset.smiles, dataset)
        offset = len(records)
        parts.append((split.train + offset, split.val + offset, split.test + offset))
        for record in dataset.records:
            payload = dict(record.payload)
            payload["targets"] = {alias[t]: v for t, v in payload["targets"].items()}
            records.append(
                Record(
                    record.id if offset == 0 else f"{name}:{record.id}",
                    payload,
                    record.line,
                    record.source,
                )
            )
        names += [a for a in alias.values() if a not in names]
        tasks.add(dataset.task_type)
        provenance[name] = {
            "source": dataset.provenance,
            "units": {alias[t]: u for t, u in dataset.units.items()},
        }
    if len(tasks) != 1:
        raise ValueError("cannot mix regression and classification datasets in one model")
    split = Split(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
    return records, tuple(names), tasks.pop(), split, {"datasets": provenance}


def build_training_data(request: TrainRequest, task: MoleculeTask) -> TrainingData:
    """Load, split and featurize; fit the regression normalisers on the training split."""
    distill = distillation.distill_request(request.columns, request.seed)
    records, targets, task_type, split, provenance = labelled_source(request)
    overrides = dict(request.model_overrides)
    if request.columns.get("ensemble_size"):
        overrides["ensemble_size"] = int(request.columns["ensemble_size"])
    if request.columns.get("uncertainty"):
        overrides["uncertainty"] = str(request.columns["uncertainty"])
    values = apply_overrides(MoleculeConfig().to_dict(), overrides)
    values.update(
        target_names=list(targets),
        task_type=task_type,
        target_mean=[0.0] * len(targets),
        target_std=[1.0] * len(targets),
    )
    base = MoleculeConfig.from_dict(values)
    graphs, rejected = featurize_with_rejects(task.featurize, base, records)
    if rejected:
        print(
            f"{len(rejected)} record(s) could not be used, e.g. {next(iter(rejected.items()))}",
            file=sys.stderr,
        )

    def part(indices: np.ndarray) -> list[Data]:
        return [graphs[i] for i in indices if graphs[i] is not None]  # type: ignore[misc]

    train, val, test = part(split.train), part(split.val), part(split.test)
    if distill is not None:
        held_out = {g.canonical_smiles for g in (*val, *test)}
        taught, provenance["distillation"] = teacher_graphs(distill, targets, task, base, held_out)
        train = [*train, *taught]
    largest, elements = training_domain([g.canonical_smiles for g in train])
    config = base.replace(train_max_heavy_atoms=largest, train_elements=elements)
    if task_type == "regression":
        y = torch.cat([g.y for g in train]).double().numpy()
        mean, std = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
        config = config.replace(
            target_mean=tuple(float(m) for m in mean),
            target_std=tuple(float(s) if s > 0 else 1.0 for s in std),
        )
    identity = (f"{g.canonical_smiles}|{g.y.tolist()}" for g in train)
    provenance["split"] = {
        "method": request.split,
        "seed": request.seed,
        "sizes": [len(train), len(val), len(test)],
    }
    return TrainingData(config, train, val, test, fingerprint(identity), provenance, rejected)


def teacher_graphs(
    request: distillation.DistillRequest,
    targets: Sequence[str],
    task: MoleculeTask,
    config: MoleculeConfig,
    held_out: set[str],
) -> tuple[list[Data], dict[str, Any]]:
    """The unlabelled molecules, labelled by the teacher and featurized for the student
    (``config``), with the provenance the checkpoint records. Molecules whose canonical
    SMILES is in ``held_out`` (the validation and test molecules) are left out, so the
    student never trains on an input it is scored on."""
    teacher = distillation.load_teacher(request.teacher)
    records, source = distillation.unlabelled_records(request)
    labelled, _ = distillation.teacher_labelled(records, teacher, targets)
    graphs, rejected = featurize_with_rejects(task.featurize, config, labelled)
    kept = [g for g in graphs if g is not None and g.canonical_smiles not in held_out]
    if rejected:
        print(
            f"distillation: {len(rejected)} teacher-labelled molecule(s) skipped", file=sys.stderr
        )
    return kept, distillation.teacher_provenance(request, source, len(kept))


def evaluation_data(
    request: TrainRequest, config: MoleculeConfig, task: MoleculeTask
) -> list[Data]:
    """Featurized labelled test graphs: a data set's test split, or a user file."""
    if request.dataset is not None:
        records, _, _, split, _ = labelled_source(request)
        chosen = [records[i] for i in split.test]
    else:
        path = request.test or request.data
        if path is None:
            raise ValueError("give a labelled file or --dataset NAME to evaluate")
        columns = {"target_columns": list(config.target_names), **request.columns}
        chosen = read_file(path, columns)
    graphs, rejected = featurize_with_rejects(task.featurize, config, chosen)
    if rejected:
        print(f"{len(rejected)} record(s) skipped in evaluation", file=sys.stderr)
    return [g for g in graphs if g is not None]


class MoleculeData(DataCatalog):
    """The molecule data sets and the builders of training / evaluation data.

    Args:
        task: featurizes the records (the same :class:`MoleculeTask` the plugin declares).
    """

    def __init__(self, task: MoleculeTask) -> None:
        self.task = task

    @property
    def datasets(self) -> dict[str, DatasetSpec]:
        return dataset_specs()

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        return build_training_data(request, self.task)

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        return evaluation_data(request, MoleculeConfig.coerce(config), self.task)

    def finalize_model(
        self,
        model: nn.Module,
        config: FrozenConfig,
        val: list[Data],
        batch_size: int,
        device: torch.device,
    ) -> tuple[nn.Module, FrozenConfig, dict[str, Any]]:
        """Head selection for ``fingerprint_use="select"`` (:mod:`.selection`)."""
        return selection.finalize_model(model, config, val, batch_size, device)
