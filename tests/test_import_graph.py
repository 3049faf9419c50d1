"""No import cycles among the project's modules.

Every module of the project's packages is parsed (``ast``, nothing is imported) and each of
its imports becomes an edge to the project module it names: ``from a.b import c`` points at
``a/b/c.py`` when that is a module, else at ``a.b``; an import of a package points at its
``__init__``. What counts:

- imports at any depth, inside functions and methods too: a lazy import still runs, and a
  cycle through one is a cycle that only shows on the code path that takes it;
- imports under ``if TYPE_CHECKING:`` too: they never run, but a module that needs another's
  types while that one needs it back is the same tangle, and the guard is one edit away from
  becoming a real import.

Not counted: the implicit import of a parent package (``import a.b`` also runs
``a/__init__.py``), because the package inits here import nothing of their children's.

A cycle fails the test, named module by module with the line of each import, shortest first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "models",
    "flows",
    "config",
    "db",
    "workflows",
    "activities",
    "worker",
    "api",
    "cli",
    "telemetry",
    "codec",
    "devstack",
    "bench",
)


@dataclass(frozen=True)
class Import:
    """One import statement: what it names and where it is."""

    name: str
    line: int


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path) -> Iterator[Import]:
    """Every module name an import in ``path`` names, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # ``from a.b import c``: c may be a module or a name in a.b (see _owner).
                yield Import(f"{base}.{alias.name}", node.lineno)


def _owner(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module ``name`` is or lives in (the longest such prefix), if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of the first such import}."""
    modules = project_modules(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for found in sorted(imports_of(module, path), key=lambda i: i.line):
            target = _owner(found.name, modules)
            if target is not None and target != module:
                edges.setdefault(target, found.line)
        graph[module] = edges
    return graph


def cycles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph is a few hundred modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_shortest_cycle(graph, group) for group in groups]


def _shortest_cycle(graph: Mapping[str, Mapping[str, int]], group: set[str]) -> list[str]:
    best: list[str] = []
    for start in sorted(group):
        # Breadth first from start back to start, within the group.
        paths = {start: [start]}
        frontier = [start]
        found: list[str] | None = None
        while frontier and found is None:
            following: list[str] = []
            for node in frontier:
                for nxt in sorted(graph[node]):
                    if nxt == start:
                        found = paths[node]
                        break
                    if nxt in group and nxt not in paths:
                        paths[nxt] = [*paths[node], nxt]
                        following.append(nxt)
                if found is not None:
                    break
            frontier = following
        if found is not None and (not best or len(found) < len(best)):
            best = found
    return best


def describe(cycle: list[str], graph: Mapping[str, Mapping[str, int]]) -> str:
    """``a (line 3) -> b (line 9) -> a``: each module with the line of its import."""
    steps = [
        f"{module} (line {graph[module][cycle[(i + 1) % len(cycle)]]})"
        for i, module in enumerate(cycle)
    ]
    return " -> ".join([*steps, cycle[0]])


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = sorted(cycles(graph), key=len)
    assert not found, "import cycles:\n" + "\n".join(describe(c, graph) for c in found)


def test_the_checker_finds_a_cycle_through_a_lazy_and_a_type_checking_import(
    tmp_path: Path,
) -> None:
    """The checker itself: a cycle hidden in a function and behind TYPE_CHECKING is found."""
    package = tmp_path / "models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f() -> None:\n    from models.b import g\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n"
    )
    (package / "c.py").write_text("import models.a\n")
    (package / "d.py").write_text("from models import a, b\n")  # no cycle: nothing imports d
    graph = import_graph(tmp_path)
    assert graph["models.d"] == {"models.a": 1, "models.b": 1}
    found = cycles(graph)
    assert [describe(c, graph) for c in found] == [
        "models.a (line 2) -> models.b (line 3) -> models.c (line 1) -> models.a"
    ]
