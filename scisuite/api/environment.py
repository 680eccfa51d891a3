"""``sci info``: versions, device and the installed domains with their shipped checkpoints.

Reads only each checkpoint's ``config.json`` and imports no domain."""

from __future__ import annotations

import platform
from typing import Any

import torch

from scisuite._version import __version__
from scisuite.api.checkpoints import checkpoint_meta, shipped_checkpoint, shipped_variants
from scisuite.api.common import registry_or_default
from scisuite.core.devices import resolve_device
from scisuite.core.registry import PluginRegistry
from scisuite.core.threads import busy_cpus, default_threads, usable_cpus


def info(registry: PluginRegistry | None = None) -> dict[str, Any]:
    """Versions, device and the domains with their shipped checkpoints (for ``sci info``)."""
    reg = registry_or_default(registry)
    domains: dict[str, Any] = {}
    for name in reg.names():
        shipped = shipped_checkpoint(name)
        entry: dict[str, Any] = {"checkpoint": str(shipped) if shipped else None}
        if shipped is not None:
            meta = checkpoint_meta(shipped)
            entry["metrics"] = meta.metrics.get("test", meta.metrics.get("val", {}))
        entry["variants"] = {v: str(path) for v, path in shipped_variants(name).items()}
        domains[name] = entry
    return {
        "scisuite": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": str(resolve_device("auto")),
        "threads": torch.get_num_threads(),
        "usable_cpus": usable_cpus(),
        "busy_cpus": round(busy_cpus(), 2),
        "default_threads": default_threads(),
        "domains": domains,
    }
