"""scisuite: one graph/sequence transformer backbone for proteins, molecules and meshes.

Public API (imported lazily so that ``import scisuite`` stays light)::

    scisuite.load(domain_or_checkpoint) -> Predictor
    scisuite.predict(domain, inputs) -> pandas.DataFrame
    scisuite.train(domain, request, train_config, output) -> Path
    scisuite.evaluate(request, checkpoint) -> EvaluationResult
    scisuite.design(domain, ...) -> Designs
    scisuite.list_domains() -> list[str]

Everything ``sci`` does is in :mod:`scisuite.api`.
"""

from __future__ import annotations

from typing import Any

from scisuite._version import __version__

_API = ("load", "predict", "train", "evaluate", "design", "list_domains")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from scisuite import api

        return getattr(api, name)
    raise AttributeError(f"module 'scisuite' has no attribute {name!r}")
