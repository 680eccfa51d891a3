"""Distillation: a trained molecule model labels unlabelled molecules for a smaller student.

``sci train --distill-from TEACHER`` adds the teacher's predictions on unlabelled molecules
(a seeded MOSES sample, or ``--distill-data FILE``) to the training split; validation and
test keep their measured labels, so the best epoch and every reported metric are against
experiment, not against the teacher. This is the regression form of knowledge distillation
(Hinton et al. 2015): the student fits the teacher's outputs where no label exists, which
lets a narrower, shallower backbone score several times faster at a measured accuracy cost
(``docs/benchmarks.md``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scisuite.core.checkpoint import (
    WEIGHTS_NAME,
    CheckpointError,
    fingerprint_file,
    load_checkpoint,
    shipped_weights,
)
from scisuite.core.records import BadRecord, Record
from scisuite.domains.molecule.chunks import featurize_records
from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.model import MoleculeModel
from scisuite.domains.molecule.pretraining import MOLSETS, moses_sample
from scisuite.domains.molecule.readers import reader_for

#: ``--distill-from shipped``: the molecule domain's shipped default model.
SHIPPED = "shipped"
#: Molecules the teacher predicts per forward pass.
TEACHER_CHUNK = 256


@dataclass(frozen=True)
class DistillRequest:
    """Where the teacher and the unlabelled molecules come from.

    Attributes:
        teacher: the teacher's checkpoint directory.
        molecules: size of the seeded MOSES sample (ignored with ``data``).
        data: a user file of unlabelled molecules (any molecule reader's format), or None.
        seed: seeds the MOSES sample.
        cache_dir: where source packages are cached.
    """

    teacher: Path
    molecules: int = 100_000
    data: Path | None = None
    seed: int = 0
    cache_dir: Path | None = None


def distill_request(columns: Mapping[str, Any], seed: int) -> DistillRequest | None:
    """The request's distillation settings (``--distill-from`` / ``--distill-molecules`` /
    ``--distill-data``), or None when it asks for none."""
    teacher = columns.get("distill_from")
    size = columns.get("distill_molecules")
    if not teacher:
        if columns.get("distill_data") or size is not None:
            raise ValueError("--distill-data / --distill-molecules need --distill-from TEACHER")
        return None
    molecules = DistillRequest.molecules if size is None else int(size)
    if molecules < 1:
        raise ValueError(f"--distill-molecules must be >= 1, got {molecules}")
    data = columns.get("distill_data")
    cache_dir = columns.get("cache_dir")
    return DistillRequest(
        teacher=teacher_path(str(teacher)),
        molecules=molecules,
        data=Path(data) if data else None,
        seed=seed,
        cache_dir=Path(cache_dir) if cache_dir else None,
    )


def teacher_path(name: str) -> Path:
    """``"shipped"`` -> the shipped molecule default; otherwise the directory itself."""
    if name == SHIPPED:
        return shipped_weights("molecule")
    return Path(name)


def load_teacher(path: Path) -> MoleculeModel:
    """The teacher model in eval mode. Raises ``CheckpointError`` for another domain's
    checkpoint."""
    meta, state = load_checkpoint(path)
    if meta.domain != "molecule":
        raise CheckpointError(f"--distill-from {path} is a {meta.domain} checkpoint, not molecule")
    model = MoleculeModel(MoleculeConfig.from_dict(meta.model_config))
    model.load_state_dict(state)
    return model.eval()


def unlabelled_records(request: DistillRequest) -> tuple[list[Record | BadRecord], dict[str, Any]]:
    """The molecules to label and where they come from (for the checkpoint's provenance)."""
    if request.data is not None:
        reader = reader_for(request.data)
        records = list(reader(request.data, None, (), None))
        return records, {"file": str(request.data), "sha256": fingerprint_file(request.data)}
    smiles = moses_sample(request.molecules, request.seed, request.cache_dir)
    records: list[Record | BadRecord] = [
        Record(f"moses:{i}", {"smiles": s}, None, "moses") for i, s in enumerate(smiles)
    ]
    source = {
        "package": f"{MOLSETS.name}=={MOLSETS.version}",
        "sample": request.molecules,
        "seed": request.seed,
    }
    return records, source


def teacher_labelled(
    records: Sequence[Record | BadRecord],
    teacher: MoleculeModel,
    target_names: Sequence[str],
) -> tuple[list[Record], dict[str, str]]:
    """``records`` with the teacher's predictions as their ``targets`` (original units).

    Args:
        records: unlabelled molecules (bad ones are reported, not labelled).
        teacher: a molecule model predicting every name in ``target_names``.
        target_names: the student's targets, in its order.

    Returns:
        the labelled records, and ``{record id: reason}`` for those the teacher could not
        read.

    Raises:
        ValueError: the teacher does not predict one of ``target_names``, or is a classifier.
    """
    config = teacher.config
    if config.task_type != "regression":
        raise ValueError("distillation supports regression teachers only")
    missing = [name for name in target_names if name not in config.target_names]
    if missing:
        raise ValueError(
            f"the teacher predicts {list(config.target_names)}, not {missing}; distil into "
            "the teacher's targets"
        )
    columns = [config.target_names.index(name) for name in target_names]
    labelled: list[Record] = []
    rejected: dict[str, str] = {}
    good = [r for r in records if isinstance(r, Record)]
    rejected.update({r.id: r.reason for r in records if isinstance(r, BadRecord)})
    with torch.inference_mode():
        for start in range(0, len(good), TEACHER_CHUNK):
            chunk = good[start : start + TEACHER_CHUNK]
            featurized = featurize_records(chunk, config)
            rejected.update({chunk[i].id: reason for i, reason in featurized.errors.items()})
            if featurized.batch is None:
                continue
            means = teacher.predict(featurized.batch).mean[:, columns].tolist()
            kept = [chunk[i] for i in featurized.valid]
            for record, values in zip(kept, means, strict=True):
                targets = dict(zip(target_names, values, strict=True))
                labelled.append(
                    Record(
                        record.id,
                        {**record.payload, "targets": targets},
                        record.line,
                        record.source,
                    )
                )
    if rejected:
        example = next(iter(rejected.items()))
        print(
            f"distillation: the teacher could not read {len(rejected)} molecule(s), e.g. {example}",
            file=sys.stderr,
        )
    return labelled, rejected


def teacher_provenance(request: DistillRequest, source: Mapping[str, Any], kept: int) -> dict:
    """What the checkpoint records of a distillation: the teacher's identity, the unlabelled
    source, and how many teacher-labelled molecules joined the training split."""
    return {
        "teacher": SHIPPED if request.teacher == teacher_path(SHIPPED) else str(request.teacher),
        "teacher_weights_sha256": fingerprint_file(request.teacher / WEIGHTS_NAME),
        "unlabelled": dict(source),
        "teacher_labelled_molecules": kept,
    }
