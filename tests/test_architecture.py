"""The package layers: foundations below stages, stages below the report, the runner on top.

Read from the source with `ast` (function-level imports included), so a new import that
breaks the layering fails here before it becomes a cycle someone must untangle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import pcfm

pytestmark = pytest.mark.unit

PACKAGE_ROOT = Path(pcfm.__file__).parent

#: Each top-level part of `pcfm` and the parts it may import (besides itself).
ALLOWED = {
    "params": set(),
    "base": {"params"},
    "reference": set(),
    "inputs": {"params", "base", "reference", "data"},
    "data": {"params", "base", "reference"},
    "model": {"params", "base", "reference", "data"},
    "need": {"params", "base", "model"},
    "allocation": {"params", "base", "model", "need"},
    "uncertainty": {"params", "base", "model", "need", "allocation"},
    "report": {"params", "base", "reference", "data", "model", "need", "allocation", "stages"},
    "stages": {"base"},
    # the runner hashes the data contract's files (and only those) for the manifest
    "pipeline": {"params", "base", "inputs", "data", "report", "stages"},
    "cli": {"params", "base", "inputs", "data", "pipeline", "__init__"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_part(name: str) -> bool:
    return (PACKAGE_ROOT / name).is_dir() or (PACKAGE_ROOT / f"{name}.py").exists()


def import_graph() -> dict[str, set[str]]:
    """Top-level part → the top-level parts of `pcfm` it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
        source_part = _part_of(".".join(relative.parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "pcfm":  # `from pcfm import x`: a part, or the package itself
                    names = [
                        f"pcfm.{alias.name}" if _is_part(alias.name) else "pcfm"
                        for alias in node.names
                    ]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("pcfm.") and _part_of(name) != source_part:
                    graph[source_part].add(_part_of(name))
    return graph


def test_every_part_is_declared() -> None:
    parts = {_part_of(f"pcfm.{p.stem}") for p in PACKAGE_ROOT.iterdir() if p.suffix == ".py"}
    parts |= {p.name for p in PACKAGE_ROOT.iterdir() if (p / "__init__.py").exists()}
    assert parts <= set(ALLOWED), f"declare the layer of {sorted(parts - set(ALLOWED))}"


def test_parts_import_only_the_layers_below() -> None:
    wrong = {
        f"{part} → {target}"
        for part, targets in import_graph().items()
        for target in targets - ALLOWED[part]
    }
    assert not wrong, f"imports against the layering: {sorted(wrong)}"


def test_no_two_parts_import_each_other() -> None:
    graph = import_graph()
    pairs = {tuple(sorted((a, b))) for a in graph for b in graph[a] if a in graph.get(b, set())}
    assert not pairs, f"two-way imports: {sorted(pairs)}"


def test_the_layering_table_itself_has_no_cycle() -> None:
    """A cycle in ALLOWED would let a two-way import in through the back door."""
    seen: dict[str, int] = {}

    def visit(part: str) -> None:
        if seen.get(part) == 1:
            raise AssertionError(f"cycle in ALLOWED through {part}")
        if seen.get(part) == 2:
            return
        seen[part] = 1
        for target in ALLOWED[part]:
            visit(target)
        seen[part] = 2

    for part in ALLOWED:
        visit(part)
