"""The molecule domain plugin: property prediction from SMILES/SDF with a GraphGPS-style model.

A wiring table only; each stage lives in the module named for it:

- ``readers``: CSV/TSV, SD and SMILES files -> records;
- ``task``: featurize, model, loss, evaluation arrays, MoleculeACE cliff subsets;
- ``model``: the ensemble and its typed :class:`~.model.MoleculePrediction`;
- ``postprocess``: echoed input columns, output columns, prediction rows;
- ``training_data`` / ``datasets`` / ``splits``: named data sets, user files, splits;
- ``selection``: the head choice for ``fingerprint_use="select"``;
- ``report``: parity plots; ``examples``: tiny inputs for the demo and the contract tests.
"""

from __future__ import annotations

from scisuite.core.plugin import CliOption, DomainPlugin, Examples, RecordIO
from scisuite.domains.molecule import examples
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.postprocess import echo_columns
from scisuite.domains.molecule.readers import READERS, read_csv, records_from_smiles
from scisuite.domains.molecule.report import MoleculeReports
from scisuite.domains.molecule.task import MoleculeTask
from scisuite.domains.molecule.training_data import MoleculeData

TASK = MoleculeTask()

OPTIONS = (
    CliOption("--smiles-column", "smiles_column", "SMILES column (auto-detected if omitted)"),
    CliOption("--target-columns", "target_columns", "label columns (train/evaluate)", nargs="+"),
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
        "--uncertainty",
        "uncertainty",
        "where <target>_std comes from: ensemble (members' spread; default) or mve "
        "(each member also predicts a variance); calibrated on validation",
        verbs=("train",),
    ),
    CliOption(
        "--distill-from",
        "distill_from",
        "teacher checkpoint (or 'shipped'): its predictions on unlabelled molecules join the "
        "training split; validation and test keep measured labels",
        verbs=("train",),
    ),
    CliOption(
        "--distill-molecules",
        "distill_molecules",
        "unlabelled MOSES molecules the teacher labels (seeded sample; 100000)",
        type="int",
        verbs=("train",),
    ),
    CliOption(
        "--distill-data",
        "distill_data",
        "your unlabelled molecules for the teacher to label, instead of MOSES",
        verbs=("train",),
    ),
    CliOption(
        "--cache-dir",
        "cache_dir",
        "where source packages are cached",
        verbs=("train", "evaluate"),
    ),
)

PLUGIN = DomainPlugin(
    name="molecule",
    schema_version=2,  # v2: per-variant heads (``heads.graph`` / ``heads.fingerprint``)
    config_class=MoleculeConfig,
    io=RecordIO(
        readers=READERS,
        stdin=read_csv,  # a delimited table; the delimiter is sniffed from the header
        from_objects=records_from_smiles,
        echo_columns=echo_columns,
    ),
    task=TASK,
    data=MoleculeData(TASK),
    examples=Examples(
        inputs=examples.inputs,
        objects=examples.objects,
        write_file=examples.write_file,
        labelled=examples.labelled,
        training_request=examples.training_request,
    ),
    reports=MoleculeReports(),
    options=OPTIONS,
)
