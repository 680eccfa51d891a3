"""scisuite: one graph/sequence transformer backbone for proteins, molecules and meshes.

Public API (imported lazily so that ``import scisuite`` stays light)::

    scisuite.load(domain_or_checkpoint) -> Predictor
    scisuite.predict(domain, inputs) -> pandas.DataFrame
    scisuite.train(domain, request, train_config, output) -> Path
    scisuite.list_domains() -> list[str]
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "list_domains", "load", "predict", "train"]


def __getattr__(name: str) -> Any:
    if name in ("load", "predict", "train", "evaluate", "list_domains"):
        from scisuite import api

        return getattr(api, name)
    raise AttributeError(f"module 'scisuite' has no attribute {name!r}")
