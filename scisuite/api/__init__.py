"""The Python API: what the CLI, notebooks and batch-scoring scripts all call.

It owns orchestration: every ``sci`` verb is one call here with the same result.

>>> import scisuite
>>> predictor = scisuite.load("molecule")            # shipped default weights
>>> predictor.predict(["CCO", "c1ccccc1O"])          # -> pandas.DataFrame

Modules: ``predicting`` (load, Predictor, predict_file), ``training`` (train),
``evaluating`` (evaluate), ``commands`` (design, generate, data sets, info), ``common``.
"""

from scisuite.api.commands import (
    Designs,
    build_dataset,
    datasets,
    design,
    generate,
    info,
    parse_overrides,
)
from scisuite.api.common import (
    UnsupportedError,
    checkpoint_meta,
    domain_options,
    list_domains,
    shipped_checkpoint,
)
from scisuite.api.evaluating import EvaluationResult, evaluate
from scisuite.api.predicting import Predictor, WriteSummary, load, predict, read_records
from scisuite.api.training import train
from scisuite.core.checkpoint import CheckpointError
from scisuite.core.config import TrainConfig
from scisuite.core.devices import lightning_accelerator
from scisuite.core.plugin import TrainRequest
from scisuite.core.predicting import InputError
from scisuite.core.registry import UnknownDomainError

__all__ = [
    "CheckpointError",
    "Designs",
    "EvaluationResult",
    "InputError",
    "Predictor",
    "TrainConfig",
    "TrainRequest",
    "UnknownDomainError",
    "UnsupportedError",
    "WriteSummary",
    "build_dataset",
    "checkpoint_meta",
    "datasets",
    "design",
    "domain_options",
    "evaluate",
    "generate",
    "info",
    "lightning_accelerator",
    "list_domains",
    "load",
    "parse_overrides",
    "predict",
    "read_records",
    "shipped_checkpoint",
    "train",
]
