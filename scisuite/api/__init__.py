"""The Python API: what the CLI, notebooks and batch-scoring scripts all call.

It owns orchestration: every ``sci`` verb is one call here with the same result.

>>> import scisuite
>>> predictor = scisuite.load("molecule")            # shipped default weights
>>> predictor.predict(["CCO", "c1ccccc1O"])          # -> pandas.DataFrame

Modules: ``predicting`` (load, Predictor, predict_file), ``training`` (train),
``evaluating`` (evaluate), ``commands`` (design, generate, data sets), ``environment`` (info),
``checkpoints`` (shipped defaults, metadata), ``common`` (registry, domain options).
Names are imported when first used, so that ``sci`` finds a domain's flags, or reports an
unknown one, without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module that defines it.
_SOURCES = {
    "BatchSummary": "scisuite.api.batch",
    "DEFAULT_SHARD_SIZE": "scisuite.api.batch",
    "ShardEntry": "scisuite.api.manifest",
    "checkpoint_fingerprint": "scisuite.api.manifest",
    "predict_sharded": "scisuite.api.batch",
    "read_manifest": "scisuite.api.manifest",
    "Designs": "scisuite.api.commands",
    "build_dataset": "scisuite.api.commands",
    "datasets": "scisuite.api.commands",
    "design": "scisuite.api.commands",
    "generate": "scisuite.api.commands",
    "info": "scisuite.api.environment",
    "parse_overrides": "scisuite.api.commands",
    "checkpoint_meta": "scisuite.api.checkpoints",
    "convert_checkpoint": "scisuite.api.checkpoints",
    "shipped_checkpoint": "scisuite.api.checkpoints",
    "UnsupportedError": "scisuite.api.common",
    "domain_options": "scisuite.api.common",
    "list_domains": "scisuite.api.common",
    "predict_distributed": "scisuite.api.distributed",
    "EvaluationResult": "scisuite.api.evaluating",
    "evaluate": "scisuite.api.evaluating",
    "Predictor": "scisuite.api.predicting",
    "WriteSummary": "scisuite.api.predicting",
    "load": "scisuite.api.predicting",
    "predict": "scisuite.api.predicting",
    "read_records": "scisuite.api.predicting",
    "train": "scisuite.api.training",
    "CheckpointError": "scisuite.core.checkpoint",
    "TrainConfig": "scisuite.core.config",
    "lightning_accelerator": "scisuite.core.devices",
    "TrainRequest": "scisuite.core.plugin",
    "InputError": "scisuite.core.predicting",
    "UnknownDomainError": "scisuite.core.registry",
    "ResumeError": "scisuite.core.io",
    "end_distributed": "scisuite.core.training",
    "set_threads": "scisuite.core.threads",
    "stream_rows": "scisuite.core.table_stream",
    "is_global_zero": "scisuite.core.training",
}
__all__ = [
    "DEFAULT_SHARD_SIZE",
    "BatchSummary",
    "CheckpointError",
    "Designs",
    "EvaluationResult",
    "InputError",
    "Predictor",
    "ResumeError",
    "ShardEntry",
    "TrainConfig",
    "TrainRequest",
    "UnknownDomainError",
    "UnsupportedError",
    "WriteSummary",
    "build_dataset",
    "checkpoint_fingerprint",
    "checkpoint_meta",
    "convert_checkpoint",
    "datasets",
    "design",
    "domain_options",
    "end_distributed",
    "evaluate",
    "generate",
    "info",
    "is_global_zero",
    "lightning_accelerator",
    "list_domains",
    "load",
    "parse_overrides",
    "predict",
    "predict_distributed",
    "predict_sharded",
    "read_manifest",
    "read_records",
    "set_threads",
    "shipped_checkpoint",
    "stream_rows",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module 'scisuite.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from scisuite.api.batch import DEFAULT_SHARD_SIZE, BatchSummary, predict_sharded
    from scisuite.api.checkpoints import checkpoint_meta, convert_checkpoint, shipped_checkpoint
    from scisuite.api.commands import (
        Designs,
        build_dataset,
        datasets,
        design,
        generate,
        info,
        parse_overrides,
    )
    from scisuite.api.common import UnsupportedError, domain_options, list_domains
    from scisuite.api.distributed import predict_distributed
    from scisuite.api.evaluating import EvaluationResult, evaluate
    from scisuite.api.manifest import ShardEntry, checkpoint_fingerprint, read_manifest
    from scisuite.api.predicting import Predictor, WriteSummary, load, predict, read_records
    from scisuite.api.training import train
    from scisuite.core.checkpoint import CheckpointError
    from scisuite.core.config import TrainConfig
    from scisuite.core.devices import lightning_accelerator
    from scisuite.core.io import ResumeError
    from scisuite.core.plugin import TrainRequest
    from scisuite.core.predicting import InputError
    from scisuite.core.registry import UnknownDomainError
    from scisuite.core.table_stream import stream_rows
    from scisuite.core.threads import set_threads
    from scisuite.core.training import end_distributed, is_global_zero
