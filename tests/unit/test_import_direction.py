"""Imports follow cli -> api -> domains -> core (DESIGN.md), including imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "scisuite"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "scisuite":
            found.update(f"scisuite.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "scisuite" or name.startswith("scisuite.")}


MODULES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] == "domains" and len(parts) > 2:
        return f"domains.{parts[2]}"
    return parts[1]


def _allowed(source: str, target: str) -> bool:
    src, dst = _layer(source), _layer(target)
    if target == "scisuite" or dst == "root":
        return src == "root"  # only the package root re-exports the API
    if src == dst or dst == "_version":
        return True
    if src == "core":
        return dst == "core"
    if src.startswith("domains."):
        return dst == "core" or target == "scisuite.domains"
    if src == "api":
        return dst == "core"
    if src == "cli":
        return dst == "api"
    if src == "__main__":
        return dst == "cli"
    return src == "root" and dst == "api"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module: str) -> None:
    wrong = sorted(t for t in MODULES[module] if not _allowed(module, t))
    assert not wrong, f"{module} must not import {wrong} (cli -> api -> domains -> core)"


def test_the_rules_catch_a_break() -> None:
    assert not _allowed("scisuite.domains.protein.bench", "scisuite.api")
    assert not _allowed("scisuite.domains.mesh.io", "scisuite.domains.molecule.readers")
    assert not _allowed("scisuite.core.plugin", "scisuite.domains.mesh")
    assert not _allowed("scisuite.cli.train", "scisuite.core.config")
    assert _allowed("scisuite.domains.mesh.io", "scisuite.core.io")


def test_no_module_uses_pyplot_or_switches_the_backend() -> None:
    """Figures use the object-oriented API on their own canvas (``core/plots.py``): pyplot's
    global state and ``matplotlib.use`` would change a notebook user's backend."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(name == "matplotlib.pyplot" for name in names):
                offenders.append(f"{path.name}: imports pyplot")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "use"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "matplotlib"
            ):
                offenders.append(f"{path.name}: calls matplotlib.use")
    assert not offenders, offenders
