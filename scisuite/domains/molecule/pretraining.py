"""Descriptor pretraining data: MOSES molecules labelled with RDKit's 2D descriptors.

Self-supervised pretraining in the manner of CheMeleon (descriptor regression; it uses
Mordred, we use RDKit's own ~200 2D descriptors so that nothing but RDKit is needed): the
backbone learns to predict standardised descriptors of unlabelled drug-like molecules, then
fine-tunes on a labelled set (``sci train --init-from ...``).

- Molecules: a seeded sample of the 1,584,663 SMILES in MOSES' training file (PyPI
  ``molsets`` 0.3.1, ``moses/dataset/data/train.csv.gz``, read from the package archive).
- Labels: every descriptor of ``rdkit.Chem.Descriptors`` except :data:`EXCLUDED`; each column
  is clipped to its 0.5-99.5 percentiles over the sample (a few descriptors have extreme
  tails), and columns that are constant over the sample are dropped. The model's own
  normalisers standardise them at training time.
- Computed once per (sample size, seed, RDKit version) in parallel and cached as Parquet
  under the source cache directory; a later call reads the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from scisuite.core.io import atomic_path
from scisuite.core.records import Record
from scisuite.core.sources import PackageSpec, default_cache_dir, open_package

MOLSETS = PackageSpec("molsets", "0.3.1")
MOSES_TRAIN = "moses/dataset/data/train.csv.gz"
#: Descriptors left out: ``Ipc`` spans ~1e1-1e30 (no scale survives it), ``qed`` and ``SPS``
#: are composites of others and the two slowest to compute.
EXCLUDED = ("Ipc", "qed", "SPS")
CLIP_PERCENTILES = (0.5, 99.5)
#: Molecules per worker task.
CHUNK = 2_000


def descriptor_names() -> tuple[str, ...]:
    """RDKit's 2D descriptor names used as pretraining targets, in RDKit's order."""
    from rdkit.Chem import Descriptors

    return tuple(name for name, _ in Descriptors._descList if name not in EXCLUDED)


def descriptor_rows(smiles: list[str]) -> np.ndarray:
    """``[n, D]`` float64 descriptors of ``smiles`` (NaN rows for unparsable SMILES and NaN
    where a descriptor fails)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors

    RDLogger.DisableLog("rdApp.*")
    functions = dict(Descriptors._descList)
    names = descriptor_names()
    out = np.full((len(smiles), len(names)), np.nan)
    for i, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            continue
        for j, name in enumerate(names):
            try:
                out[i, j] = float(functions[name](mol))
            except (ValueError, ZeroDivisionError, RuntimeError, OverflowError):
                pass
    with np.errstate(invalid="ignore"):
        out[~np.isfinite(out)] = np.nan
    return out


def moses_sample(
    size: int, seed: int, cache_dir: Path | None = None, source_dir: Path | None = None
) -> list[str]:
    """``size`` SMILES drawn without replacement from MOSES' training file (seeded), in file
    order."""
    with open_package(MOLSETS, cache_dir, source_dir) as archive:
        data, _ = archive.read(MOSES_TRAIN)
    lines = gzip.decompress(data).decode("utf-8").splitlines()[1:]
    smiles = [line.split(",", 1)[0] for line in lines if line]
    if size > len(smiles):
        raise ValueError(f"MOSES has {len(smiles)} training SMILES; asked for {size}")
    picked = np.random.default_rng(seed).permutation(len(smiles))[:size]
    return [smiles[i] for i in np.sort(picked)]


def descriptor_table(
    size: int,
    seed: int,
    workers: int = 1,
    cache_dir: Path | None = None,
    source_dir: Path | None = None,
) -> pd.DataFrame:
    """The labelled sample: ``smiles`` plus one clipped column per kept descriptor.

    Cached as ``<cache>/moses-descriptors-<size>-<seed>-rdkit<version>.parquet`` (written
    atomically once complete, so an interrupted build starts again rather than half-read).
    """
    from rdkit import __version__ as rdkit_version

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = folder / f"moses-descriptors-{size}-{seed}-rdkit{rdkit_version}.parquet"
    if cached.exists():
        return pd.read_parquet(cached)
    smiles = moses_sample(size, seed, cache_dir, source_dir)
    chunks = [smiles[i : i + CHUNK] for i in range(0, len(smiles), CHUNK)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            values = np.concatenate(list(pool.map(descriptor_rows, chunks)))
    else:
        values = np.concatenate([descriptor_rows(chunk) for chunk in chunks])
    frame = pd.DataFrame(values, columns=list(descriptor_names()))
    low, high = np.nanpercentile(values, CLIP_PERCENTILES, axis=0)
    frame = frame.clip(
        lower=pd.Series(low, frame.columns), upper=pd.Series(high, frame.columns), axis=1
    )
    frame = frame.loc[:, frame.std(skipna=True) > 0]
    frame.insert(0, "smiles", smiles)
    with atomic_path(cached) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


def descriptor_records(frame: pd.DataFrame) -> list[Record]:
    """One record per molecule: ``{"smiles", "targets": {descriptor: value}}`` (NaN where a
    descriptor failed: masked out of the loss)."""
    names = [c for c in frame.columns if c != "smiles"]
    values = frame[names].to_numpy(dtype=float)
    records = []
    for i, (text, row) in enumerate(zip(frame["smiles"], values, strict=True)):
        targets = {n: float(v) for n, v in zip(names, row, strict=True)}  # NaN stays NaN
        records.append(Record(f"moses:{i}", {"smiles": text, "targets": targets}, i + 1, "moses"))
    return records


def table_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the table's bytes as CSV (recorded as provenance)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def provenance(size: int, seed: int, frame: pd.DataFrame) -> dict[str, object]:
    """Where the sample and its labels come from, for ``config.json``."""
    from rdkit import __version__ as rdkit_version

    return {
        "package": MOLSETS.requirement,
        "member": MOSES_TRAIN,
        "sample": {"size": size, "seed": seed, "method": "numpy permutation, sorted"},
        "labels": f"rdkit {rdkit_version} Descriptors minus {list(EXCLUDED)}, clipped to "
        f"percentiles {list(CLIP_PERCENTILES)}, constant columns dropped",
        "descriptors": json.dumps([c for c in frame.columns if c != "smiles"]),
    }
