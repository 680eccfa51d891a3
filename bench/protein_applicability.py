"""Fit the peptide applicability domain of an existing protein checkpoint, and measure it.

Training does the fit itself (``training_data.training_domain``); this script does the
same for a checkpoint trained before that existed, such as the shipped default: the
``amp`` / ``acp`` domains from the **training** peptides of the built ``peptide_function``
data set, thresholds from the **validation** peptides. It then reports, on validation and
test (test figures are reported, never used to choose), ROC-AUC and accuracy of the
peptides in the domain and of those flagged, by kind of flag, and the flags of a few
peptides outside the activity data (insulin A and B chains, glucagon, ubiquitin). With
``--write`` the domains are stored in the checkpoint's ``config.json`` (weights untouched;
the directory is rewritten atomically).

    python bench/protein_applicability.py --checkpoint scisuite/weights/protein \\
        --data-dir datasets/protein --write -o bench/results/protein_applicability.json
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from scisuite.core.checkpoint import save_checkpoint
from scisuite.domains.protein.applicability import domain_flags
from scisuite.domains.protein.evaluation import evaluate_peptides
from scisuite.domains.protein.generation import predict_sequences
from scisuite.domains.protein.tasks import Sources, split_examples
from scisuite.domains.protein.training_data import training_domain

sys.path.insert(0, str(Path(__file__).parent))

from protein_calibration import (  # noqa: E402
    checkpoint_tool_main,
    load_protein_checkpoint,
    read_peptides,
)

#: Peptides no activity set speaks about (UniProt P01308 insulin A / B chains, P01275
#: glucagon, P0CG48 ubiquitin 1-76): each should be flagged.
OUTSIDERS = {
    "insulin_A": "GIVEQCCTSICSLYQLENYCN",
    "insulin_B": "FVNQHLCGSHLVEALYLVCGERGFFYTPKT",
    "glucagon": "HSQGTFTSDYSKYLDSRRAQDFVQWLMNT",
    "ubiquitin": "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
}


def fit_checkpoint_domain(
    checkpoint: Path, data_dir: Path, write: bool = False, batch_size: int = 64
) -> dict[str, Any]:
    """Fit, report and optionally store the peptide domains of ``checkpoint``."""
    meta, state, config, model = load_protein_checkpoint(checkpoint)
    peptides = read_peptides(data_dir)
    sources = Sources(peptides=peptides)
    parts = {s: split_examples(sources, config, s, 0) for s in ("train", "validation")}
    fitted = config.replace(**training_domain(parts["train"], parts["validation"]))
    results: dict[str, Any] = {"checkpoint": str(checkpoint), "fit_on": "train + validation"}
    for task in ("amp", "acp"):
        domain = fitted.peptide_domain(task)
        if domain is None:
            continue
        results[task] = {
            "length": list(domain.length),
            "min_identity": domain.min_identity,
            "evidence_identity": domain.evidence_identity,
            "peptides": len(domain.peptides()[0]),
        }
    with torch.inference_mode():
        for split in ("validation", "test"):
            metrics = evaluate_peptides(model, fitted, peptides[peptides["split"] == split])
            for task, values in metrics.items():
                results[task][split] = values.get("applicability", {})
        outsiders = predict_sequences(
            model, list(OUTSIDERS.values()), fitted.replace(predict_tasks=("amp", "acp"))
        )
    for task in ("amp", "acp"):
        domain = fitted.peptide_domain(task)
        if domain is None:
            continue
        results[task]["outsiders"] = {
            name: {
                "probability": getattr(p, task),
                "flags": domain_flags(task, sequence, getattr(p, task), domain),
            }
            for (name, sequence), p in zip(OUTSIDERS.items(), outsiders, strict=True)
        }
    if write:
        values = fitted.to_dict()
        metrics = {**meta.metrics, "peptide_applicability": results}
        save_checkpoint(
            checkpoint, state, dataclasses.replace(meta, model_config=values, metrics=metrics)
        )
        results["written"] = True
    return results


def main(argv: Sequence[str] | None = None) -> int:
    description = (__doc__ or "").splitlines()[0]
    return checkpoint_tool_main(description, fit_checkpoint_domain, "store the domains", argv)


if __name__ == "__main__":
    raise SystemExit(main())
