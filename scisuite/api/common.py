"""What every API module shares: the registry and the domains' option defaults.

Light on purpose (no torch): ``sci`` uses it to find a domain's flags, and an unknown domain
is reported before anything heavy is imported."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scisuite.core.registry import PluginRegistry

if TYPE_CHECKING:
    from scisuite.core.plugin import CliOption, DomainPlugin


class UnsupportedError(LookupError):
    """The domain has no such verb or named data set (a usage error: ``sci`` exits 2)."""


def registry_or_default(registry: PluginRegistry | None) -> PluginRegistry:
    return registry if registry is not None else PluginRegistry()


def list_domains(registry: PluginRegistry | None = None) -> list[str]:
    """Names of the installed domain plugins (imports none of them)."""
    return registry_or_default(registry).names()


def domain_options(
    domain: str, verb: str, registry: PluginRegistry | None = None
) -> tuple[CliOption, ...]:
    """The extra flags / keyword arguments a domain takes for ``verb`` (e.g. ``"design"``)."""
    return registry_or_default(registry).get(domain).options_for(verb)


def options_with_defaults(
    plugin: DomainPlugin, verb: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """``options`` completed with the domain's declared defaults for ``verb`` (the CLI's and
    the API's defaults are the same), unknown keys refused."""
    declared = plugin.options_for(verb)
    known = {option.dest for option in declared}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"the {plugin.name} domain's {verb} takes no option(s) {unknown}; "
            f"it takes {sorted(known)}"
        )
    values = {o.dest: o.default for o in declared if o.default is not None}
    values.update({k: v for k, v in options.items() if v is not None})
    return values
