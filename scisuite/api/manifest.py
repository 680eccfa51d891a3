"""The manifest of a sharded scoring job: what identifies the job, and its finished shards.

``_manifest.json`` sits in the parts directory (pandas / pyarrow / Polars / Spark skip
``_``-prefixed files when reading the directory as a data set) and is rewritten atomically
after every shard; ``docs/batch_scoring.md`` lists its fields.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scisuite.core.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from scisuite.core.io import ResumeError, atomic_path
from scisuite.core.sources import sha256_file

MANIFEST_NAME = "_manifest.json"
MANIFEST_VERSION = 1
PART_SUFFIX = ".parquet"
RANK_MANIFEST_GLOB = "_manifest.rank-*.json"


@dataclass(frozen=True)
class ShardEntry:
    """One finished shard, as recorded in the manifest.

    Attributes:
        index: shard number (``part-{index:05d}.parquet``).
        first: index of its first record in the input stream (0-based, bad records count).
        last: index of its last record (inclusive).
        rows: rows in the part (``last - first + 1``).
        ok: rows with ``status == "ok"``.
        errors: rows with ``status == "error"``.
        file: the part file's name inside the parts directory.
        sha256: checksum of the part file's bytes.
        run: the run (1, 2, ...) that scored it.
        seconds: wall time from the end of the previous part of the same run (or from the
            start of scoring) to this part written, s; the rate of a job resumed over
            several runs is ``sum(rows) / sum(seconds)``. 0.0 in manifests from before it
            was recorded.
    """

    index: int
    first: int
    last: int
    rows: int
    ok: int
    errors: int
    file: str
    sha256: str
    run: int
    seconds: float = 0.0


def checkpoint_fingerprint(checkpoint: str | Path) -> str:
    """sha256 of a checkpoint's ``config.json`` and ``model.safetensors`` bytes (hex)."""
    digest = hashlib.sha256()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        digest.update(name.encode() + b"\0")
        digest.update(bytes.fromhex(sha256_file(Path(checkpoint) / name)))
    return digest.hexdigest()


def read_manifest(parts_dir: str | Path) -> dict[str, Any]:
    """The manifest of a parts directory (or Parquet data set written by
    :func:`predict_sharded`) as a dict; see ``docs/batch_scoring.md`` for its fields."""
    return json.loads((Path(parts_dir) / MANIFEST_NAME).read_text())


def input_identity(inputs: str | Path) -> dict[str, Any]:
    if str(inputs) == "-":
        return {"path": "-", "size": None, "sha256": None}
    path = Path(inputs)
    if not path.is_file():
        raise FileNotFoundError(f"input file {str(inputs)!r} does not exist")
    return {"path": str(path.resolve()), "size": path.stat().st_size, "sha256": sha256_file(path)}


def jsonable(options: dict[str, Any]) -> dict[str, Any]:
    """Reader options as the manifest stores them (Paths and tuples as JSON types)."""
    return json.loads(json.dumps(options, default=str))


def shard_span(index: int, shard_size: int, records: int) -> tuple[int, int]:
    """``(first record, rows)`` of shard ``index`` in an input of ``records`` records."""
    first = index * shard_size
    return first, min(shard_size, records - first)


def rank_manifest_name(rank: int) -> str:
    """``_manifest.rank-00003.json``: the shards rank 3 of a distributed run has finished."""
    return f"_manifest.rank-{rank:05d}.json"


def write_rank_manifest(parts: Path, rank: int, entries: list[ShardEntry]) -> None:
    """Record (atomically) the shards one rank has written so far: each rank of a
    distributed run keeps its own list, so no two processes rewrite the same file."""
    body = {"rank": rank, "shards": [asdict(entry) for entry in entries]}
    with atomic_path(parts / rank_manifest_name(rank)) as tmp:
        tmp.write_text(json.dumps(body, indent=1) + "\n")


def check_resumable(parts: Path, identity: dict[str, Any]) -> None:
    """Raise :class:`ResumeError` if the manifest in ``parts`` belongs to another job
    (reads only: safe to call on every rank before any of them writes)."""
    path = parts / MANIFEST_NAME
    if not path.exists():
        return
    changed = changes(json.loads(path.read_text()), identity)
    if changed:
        raise ResumeError(
            f"cannot resume from {parts}: {'; '.join(changed)}. Its parts belong to "
            "another job; start fresh by running without --resume (resume=False), which "
            f"replaces them, or delete {parts}"
        )


def start_manifest(parts: Path, identity: dict[str, Any], resume: bool) -> dict[str, Any]:
    """The manifest to continue (``resume`` and it matches) or a fresh one (old parts gone).

    On resume, the shards recorded by the ranks of an interrupted distributed run
    (:func:`write_rank_manifest`) join the manifest, which is rewritten before their
    files are removed; so a distributed job can be resumed by one process and the other
    way round."""
    path = parts / MANIFEST_NAME
    rank_files = sorted(parts.glob(RANK_MANIFEST_GLOB)) if parts.is_dir() else []
    if resume and path.exists():
        check_resumable(parts, identity)
        manifest = json.loads(path.read_text())
        known = {entry["index"] for entry in manifest["shards"]}
        for rank_file in rank_files:
            for entry in json.loads(rank_file.read_text())["shards"]:
                if entry["index"] not in known:
                    manifest["shards"].append(entry)
                    known.add(entry["index"])
        if rank_files:
            write_manifest(parts, manifest)
            for rank_file in rank_files:
                rank_file.unlink()
        return manifest
    if path.exists():
        for name in json.loads(path.read_text()).get("shards", []):
            with contextlib.suppress(FileNotFoundError):
                (parts / name["file"]).unlink()
        path.unlink()
    for stray in [*parts.glob(f"part-*{PART_SUFFIX}"), *rank_files] if parts.is_dir() else ():
        stray.unlink()
    return {"scisuite_batch_manifest": MANIFEST_VERSION, **identity, "shards": []}


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between a manifest and this run, in words."""
    if old.get("scisuite_batch_manifest") != MANIFEST_VERSION:
        return [f"the manifest has version {old.get('scisuite_batch_manifest')!r}"]
    changed = []
    old_input, new_input = old["input"], new["input"]
    if old_input["path"] == "-":
        changed.append("the earlier run read standard input, which cannot be resumed")
    elif (old_input["size"], old_input["sha256"]) != (new_input["size"], new_input["sha256"]):
        changed.append(
            f"the input changed ({old_input['path']}: {old_input['size']} bytes, sha256 "
            f"{old_input['sha256'][:12]}…; now {new_input['path']}: {new_input['size']} "
            f"bytes, sha256 {new_input['sha256'][:12]}…)"
        )
    if old["domain"] != new["domain"]:
        changed.append(f"the domain changed ({old['domain']} -> {new['domain']})")
    if old["checkpoint"]["fingerprint"] != new["checkpoint"]["fingerprint"]:
        changed.append(
            f"the checkpoint changed ({old['checkpoint']['path']} -> "
            f"{new['checkpoint']['path']}, fingerprint "
            f"{old['checkpoint']['fingerprint'][:12]}… -> "
            f"{new['checkpoint']['fingerprint'][:12]}…)"
        )
    for key, words in (
        ("shard_size", "the shard size"),
        ("batch_size", "the batch size (a prediction depends on its batch at the rounding level)"),
        ("reader_options", "the reader options"),
        ("columns", "the output columns"),
    ):
        if old[key] != new[key]:
            changed.append(f"{words} changed ({old[key]} -> {new[key]})")
    # Absent means "32" (manifests from before the option have no precision).
    old_precision, new_precision = old.get("precision", "32"), new.get("precision", "32")
    if old_precision != new_precision:
        changed.append(f"the inference precision changed ({old_precision} -> {new_precision})")
    return changed


def write_manifest(parts: Path, manifest: dict[str, Any]) -> None:
    manifest["shards"].sort(key=lambda entry: entry["index"])
    with atomic_path(parts / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
