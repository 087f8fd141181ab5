"""How the package is layered, read statically from its source: every import of every module
(at module level and inside functions, relative ones resolved) makes one graph.

Among the top-level modules and subpackages of robustest that graph has no cycle: a cycle
hides one behind a function-level import and makes the import order matter. And only the
pytest wiring (robustest.plugin) and the shipped suites (robustest.suites) import pytest: the
engine and the core work in a notebook or a script.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "robustest"

# Cycles between units that are allowed, each with why. Empty: keep it that way.
ALLOWED_CYCLES: list[set[str]] = []

PYTEST_USERS = ("robustest.plugin", "robustest.suites")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every module `name` imports, anywhere in its source; `from a import b` also names a.b
    when that is a module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found |= {f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in MODULES}
    return found


def unit(module: str) -> str:
    """The top-level module or subpackage a module belongs to: robustest.perturb.typos -> robustest.perturb."""
    return ".".join(module.split(".")[:2])


def unit_graph() -> dict[str, set[str]]:
    """unit -> the units it imports. The package's own __init__ (the lazy public names) is no unit."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        if name == "robustest":
            continue
        for target in imports_of(name):
            if target.startswith("robustest.") and unit(target) != unit(name):
                graph.setdefault(unit(name), set()).add(unit(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if node not in index:
            visit(node)
    return found


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo += graph.get(node, ())
    return False


def test_the_graph_sees_function_level_and_relative_imports():
    """The reader itself: a lazy relative import inside a function is an edge."""
    assert "robustest.retrievers.resolve" in imports_of("robustest.perturb.loaders")  # inside guard_load_options
    assert "robustest.perturb.protocol" in imports_of("robustest.families")  # from .perturb.protocol import ...
    assert "robustest.families" in imports_of("robustest.stability")  # inside perturb_seeds
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_units_of_the_package_import_each_other_without_cycles():
    found = cycles(unit_graph())
    unexpected = [sorted(c) for c in found if c not in ALLOWED_CYCLES]
    assert not unexpected, f"import cycles between units of robustest: {unexpected}"


def test_the_registry_sits_above_settings_perturbations_and_retrievers():
    graph = unit_graph()
    # settings and the family config parse values; they know no family by name
    assert not reaches(graph, "robustest.settings", "robustest.families")
    assert not reaches(graph, "robustest.family_config", "robustest.families")
    assert not reaches(graph, "robustest.family_config", "robustest.perturb")
    # perturb takes its sampler from the caller that knows the family
    assert not reaches(graph, "robustest.perturb", "robustest.families")
    # GloVe is data (robustest.data.glove): the GloVe retriever and the GloVe swaps share it
    assert not reaches(graph, "robustest.retrievers", "robustest.perturb")
    assert reaches(graph, "robustest.families", "robustest.perturb")  # the edges do point this way


def test_only_the_plugin_and_the_suites_import_pytest():
    users = sorted(
        name for name in MODULES
        if not name.startswith(PYTEST_USERS) and any(t.split(".")[0] in ("pytest", "_pytest") for t in imports_of(name))
    )
    assert not users, f"modules outside {', '.join(PYTEST_USERS)} that import pytest: {users}"
    assert any(t == "pytest" for t in imports_of("robustest.plugin.hooks"))  # the check can see one
