"""Discovery of domain plugins through the ``scisuite.domains`` entry-point group.

Discovery is lazy: listing domains reads entry-point *names* only, and a plugin's
module (with its heavy dependencies such as RDKit or meshio) is imported the first
time that domain is used. Importing :mod:`scisuite` therefore imports no domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the plugin module imports torch; keep `sci --help` fast
    from scisuite.core.plugin import DomainPlugin

ENTRY_POINT_GROUP = "scisuite.domains"
PLANNED_DOMAINS = ("molecule", "protein", "mesh")


class UnknownDomainError(LookupError):
    """The requested domain is not registered (or not built yet)."""


class PluginRegistry:
    """Name -> plugin, from entry points and/or plugins given explicitly (tests, notebooks).

    Args:
        plugins: plugin objects to register directly.
        use_entry_points: also discover installed plugins (default True).
    """

    def __init__(self, plugins: Iterable[DomainPlugin] = (), use_entry_points: bool = True) -> None:
        self._loaded: dict[str, DomainPlugin] = {p.name: p for p in plugins}
        self._entry_points: dict[str, EntryPoint] = {}
        if use_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._entry_points.setdefault(ep.name, ep)

    def names(self) -> list[str]:
        """Registered domain names (nothing is imported)."""
        return sorted(set(self._loaded) | set(self._entry_points))

    def get(self, name: str) -> DomainPlugin:
        """The plugin called ``name``, importing its module on first use."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._entry_points:
            available = ", ".join(self.names()) or "none"
            if name in PLANNED_DOMAINS:
                raise UnknownDomainError(
                    f"the {name!r} domain is not built yet in this version of scisuite "
                    f"(available: {available})"
                )
            raise UnknownDomainError(f"unknown domain {name!r} (available: {available})")
        from scisuite.core.plugin import DomainPlugin

        plugin = self._entry_points[name].load()
        if not isinstance(plugin, DomainPlugin):
            raise TypeError(f"entry point {name!r} does not provide a DomainPlugin")
        self._loaded[name] = plugin
        return plugin
