"""The peptide function data set: antimicrobial and anticancer labels from PyPI ``modlamp``
4.3.3 (``sci data build protein peptides`` -> ``peptide_function/peptides.parquet``),
split seeded and stratified by (file, label), one split per unique sequence."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scisuite.core.records import RecordError
from scisuite.core.sources import PackageSpec, open_package
from scisuite.domains.protein.datasets import (
    PEPTIDES_DIR,
    SCHEMA_VERSION,
    scisuite_version,
    split_counts,
    write_dataset,
)
from scisuite.domains.protein.fasta import normalise_sequence
from scisuite.domains.protein.identity import DEFAULT_FRACTIONS, SPLIT_NAMES

MODLAMP = PackageSpec("modlamp", "4.3.3")
#: modlamp files: file name -> task.
PEPTIDE_FILES: dict[str, str] = {
    "AMPvsUniProt.csv": "antimicrobial",
    "AMPvsTMset.csv": "antimicrobial",
    "ACP_CancPPD_vs_TM.csv": "anticancer",
    "ACP_CancPPD_vs_Random.csv": "anticancer",
}
PEPTIDE_FOLDER = "modlamp/data"


def parse_modlamp_csv(text: str, file_name: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Rows of a modlamp benchmark CSV.

    The first line is ``n,1,<negative set>,<positive set>`` (``5200,1,UniProt,AMP``); each
    further line is ``sequence,label`` with label 0 (negative) or 1 (positive); surrounding
    spaces and ``\\r`` are ignored.

    Returns:
        ``(header, rows)``: ``{"n", "negative", "positive"}`` and one dict per data line
        with ``line`` (1-based), ``raw`` sequence and ``label`` (int).

    Raises:
        ValueError: a malformed header or line, a label other than 0/1, or a row count that
            differs from the header's ``n``.
    """
    lines = text.splitlines()
    header = [cell.strip() for cell in (lines[0].split(",") if lines else [])]
    if len(header) != 4 or not header[0].isdigit():
        raise ValueError(f"{file_name}: expected a header 'n,1,negative,positive'; got {header}")
    rows = []
    for number, raw_line in enumerate(lines[1:], start=2):
        if not raw_line.strip():
            continue
        cells = [cell.strip() for cell in raw_line.split(",")]
        if len(cells) != 2 or cells[1] not in ("0", "1"):
            raise ValueError(
                f"{file_name} line {number}: expected 'sequence,0|1'; got {raw_line!r}"
            )
        rows.append({"line": number, "raw": cells[0], "label": int(cells[1])})
    if len(rows) != int(header[0]):
        raise ValueError(f"{file_name}: header says {header[0]} rows, found {len(rows)}")
    return {"n": header[0], "negative": header[2], "positive": header[3]}, rows


def stratified_group_split(
    groups: Sequence[tuple[str, Sequence[str]]],
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> dict[str, str]:
    """Split keys (sequences) stratum by stratum, so that each key gets one split everywhere.

    Strata are visited in the given order with one ``random.Random(seed)``. In each stratum
    the split sizes are ``fractions`` of its unique keys (largest remainder); keys already
    placed by an earlier stratum keep their split and count toward these sizes; the others
    are shuffled and fill the splits still below size (then the one furthest below).

    Args:
        groups: ``(stratum name, keys)`` pairs, e.g. ``("AMPvsTMset.csv/1", sequences)``.
        seed: random seed.
        fractions: train / validation / test fractions.

    Returns:
        key -> split name.
    """
    rng = random.Random(seed)
    placed: dict[str, str] = {}
    for _, keys in groups:
        unique = list(dict.fromkeys(keys))
        sizes = _largest_remainder(len(unique), fractions)
        taken = Counter(placed[k] for k in unique if k in placed)
        free = [k for k in unique if k not in placed]
        rng.shuffle(free)
        for key in free:
            name = max(SPLIT_NAMES, key=lambda n: (sizes[n] - taken[n], -SPLIT_NAMES.index(n)))
            placed[key] = name
            taken[name] += 1
    return placed


def _largest_remainder(count: int, fractions: Sequence[float]) -> dict[str, int]:
    raw = [f * count for f in fractions]
    sizes = [math.floor(r) for r in raw]
    for index in sorted(range(len(raw)), key=lambda i: raw[i] - sizes[i], reverse=True):
        if sum(sizes) >= count:
            break
        sizes[index] += 1
    return dict(zip(SPLIT_NAMES, sizes, strict=True))


def build_peptides(
    out_dir: str | Path,
    cache_dir: Path | None = None,
    seed: int = 0,
    source_dir: Path | None = None,
) -> Path:
    """Build the antimicrobial / anticancer peptide classification set from modlamp 4.3.3.

    Rows are read as published, then cleaned (each step counted in the provenance):
    sequences go through the FASTA residue policy (refused ones are left out); within a file,
    repeated copies of a sequence with the same label are left out (the first is kept), and
    a sequence carrying both labels in one file is left out entirely (ambiguous). Splits are
    seeded and stratified by (file, label); a sequence gets the same split in every file and
    task it appears in (the files share positives), so no sequence crosses splits.

    Args:
        out_dir: parent folder; the data set goes to ``out_dir/peptide_function/``.
        cache_dir: package download cache (default ``~/.cache/scisuite/sources``).
        seed: split seed.
        source_dir: folder holding a ``modlamp-4.3.3`` wheel or sdist (offline).

    Returns:
        Path of ``peptides.parquet``: ``id, sequence, label, task, dataset, negative_set,
        source, line, split`` (``id`` = ``"<file>:<line>"``; ``label`` 1 = active).
    """
    rows: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    refused: dict[str, str] = {}
    with open_package(MODLAMP, cache_dir, source_dir) as archive:
        for file_name, task in PEPTIDE_FILES.items():
            data, member = archive.read(f"{PEPTIDE_FOLDER}/{file_name}")
            header, parsed = parse_modlamp_csv(data.decode("utf-8"), file_name)
            labels: dict[str, set[int]] = defaultdict(set)
            cleaned = []
            for row in parsed:
                row_id = f"{file_name}:{row['line']}"
                try:
                    sequence, _ = normalise_sequence(row["raw"], row_id, row["line"])
                except RecordError as error:
                    refused[row_id] = error.reason
                    continue
                labels[sequence].add(row["label"])
                cleaned.append((row_id, row["line"], sequence, row["label"]))
            conflicting = {s for s, found in labels.items() if len(found) > 1}
            seen: set[str] = set()
            kept = 0
            for row_id, line, sequence, label in cleaned:
                if sequence in conflicting or sequence in seen:
                    continue
                seen.add(sequence)
                kept += 1
                rows.append(
                    {
                        "id": row_id,
                        "sequence": sequence,
                        "label": label,
                        "task": task,
                        "dataset": file_name.removesuffix(".csv"),
                        "negative_set": header["negative"],
                        "source": member.member,
                        "line": line,
                    }
                )
            files.append(
                {
                    **{"member": member.member, "sha256": member.sha256, "task": task},
                    "header": header,
                    "rows": len(parsed),
                    "conflicting_sequences_removed": len(conflicting),
                    "rows_removed_conflicting": sum(s in conflicting for _, _, s, _ in cleaned),
                    "duplicate_rows_removed": len(cleaned)
                    - kept
                    - sum(s in conflicting for _, _, s, _ in cleaned),
                    "rows_kept": kept,
                }
            )
        archive_info = {
            "package": MODLAMP.name,
            "version": MODLAMP.version,
            "archive": archive.path.name,
            "archive_sha256": archive.sha256,
            "license": archive.license,
        }
    frame = pd.DataFrame(rows)
    groups = [
        (f"{dataset}/{label}", list(part["sequence"]))
        for (dataset, label), part in frame.groupby(["dataset", "label"], sort=False)
    ]
    split_of = stratified_group_split(groups, seed)
    frame["split"] = frame["sequence"].map(split_of)
    per_dataset = {
        dataset: {
            f"{split}/{label}": int(n)
            for (split, label), n in part.groupby(["split", "label"]).size().items()
        }
        for dataset, part in frame.groupby("dataset", sort=False)
    }
    provenance = {
        "dataset": "peptide_function",
        "schema_version": SCHEMA_VERSION,
        "builder": f"scisuite {scisuite_version()} build_peptides",
        "seed": seed,
        "source": {**archive_info, "files": files},
        "split": {
            "method": "seeded, stratified by (file, label), one split per unique sequence",
            "fractions": dict(zip(SPLIT_NAMES, DEFAULT_FRACTIONS, strict=True)),
        },
        "counts": {
            "rows": len(frame),
            "unique_sequences": int(frame["sequence"].nunique()),
            "rows_per_task": {k: int(v) for k, v in Counter(frame["task"]).items()},
            "rows_per_split": split_counts(frame),
            "per_dataset_split_label": per_dataset,
            "refused_sequences": len(refused),
        },
        "refused": refused,
    }
    return write_dataset(out_dir, PEPTIDES_DIR, "peptides.parquet", frame, provenance)
