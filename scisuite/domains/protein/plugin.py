"""The protein domain plugin: a multi-task byte-level protein language model.

``sci predict --domain protein seqs.fasta -o pred.csv`` runs the forward tasks
(``ProteinConfig.predict_tasks``: per-residue DSSP3 / DSSP8 by constrained greedy
decoding, antimicrobial / anticancer probabilities from the first answer token) and
writes one row per FASTA entry, and from the same stream ``pred.residues.csv`` with one
row per residue and ``pred.ss.png``, a plot of the predicted secondary structure.
``sci design --domain protein --target helix=0.6,strand=0.1 -n 20 --seed 0 -o d.fasta``
samples designs (FASTA, with seed / temperature / target in the headers) and writes
``d.csv`` with the forward-predicted properties of each design.

Long sequences follow ``ProteinConfig.long_sequence_policy`` (``config.py``): chunked
into overlapping windows (default) or refused with a per-record error; never truncated.

The stages, one module each: ``fasta.py`` (reader) -> ``featurize.py`` -> ``model.py``
(``predict`` -> ``generation.py``) -> ``postprocess.py`` -> ``tracks.py`` (residue table
and plot); ``task.py`` (loss, metrics), ``training_data.py`` / ``tasks.py`` /
``catalogue.py`` (data), ``report.py`` (evaluation extras), ``design.py``, ``examples.py``.
"""

from __future__ import annotations

from scisuite.core.plugin import CliOption, Commands, DomainPlugin, Examples, RecordIO
from scisuite.domains.protein import examples, pseudo_labels
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.design import DESIGN_TASKS, design
from scisuite.domains.protein.fasta import READERS, read_fasta, records_from_sequences
from scisuite.domains.protein.postprocess import echo_columns
from scisuite.domains.protein.prompts import TASK_NAMES
from scisuite.domains.protein.report import ProteinReports
from scisuite.domains.protein.task import ProteinTask
from scisuite.domains.protein.training_data import ProteinData

OPTIONS = (
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
        "design target: helix=0.6,strand=0.1 | an SS string (HHHHCCEEEE) | amp=1 | prefix=MKT...",
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
        "--oversample",
        "oversample",
        "sample K x --num-designs and keep those whose predicted properties are closest to "
        "the target (1 = off)",
        type="int",
        verbs=("design",),
    ),
    CliOption(
        "--task",
        "task",
        f"design task ({', '.join(DESIGN_TASKS)}); default from --target",
        verbs=("design",),
    ),
    CliOption(
        "--teacher",
        "teacher",
        "pseudo-ss: the protein checkpoint whose DSSP3 labels the UniProt sequences",
        verbs=("generate",),
    ),
    CliOption(
        "--sequences",
        "sequences",
        "pseudo-ss: UniProt training sequences to label (4000)",
        type="int",
        verbs=("generate",),
        default=4000,
    ),
    CliOption(
        "--max-residues",
        "max_residues",
        "pseudo-ss: longest sequence labelled (400)",
        type="int",
        verbs=("generate",),
        default=400,
    ),
)

PLUGIN = DomainPlugin(
    name="protein",
    schema_version=1,
    config_class=ProteinConfig,
    io=RecordIO(
        readers={**READERS, "": read_fasta},
        stdin=read_fasta,
        from_objects=records_from_sequences,
        echo_columns=echo_columns,
    ),
    task=ProteinTask(),
    data=ProteinData(),
    examples=Examples(
        inputs=examples.example_inputs,
        objects=examples.example_objects,
        write_file=examples.write_example_file,
        labelled=examples.labelled,
        training_request=examples.training_request,
    ),
    reports=ProteinReports(),
    commands=Commands(design=design, generate=pseudo_labels.generate),
    options=OPTIONS,
)
