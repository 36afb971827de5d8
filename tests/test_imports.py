"""The import graph of the project (built by grimp from the source): no cycles, and the
domain stays below the layers that use it."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("gis", "api", "cli", "maps", "data")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """The project's import cycles: strongly connected groups of more than one module."""
    ours = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        # Tarjan's algorithm; the project is small enough for recursion.
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & ours:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(ours):
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert strongly_connected(graph) == []


def test_a_cycle_would_be_found(graph: grimp.ImportGraph) -> None:
    graph.add_import(importer="gis.core.vocabulary", imported="gis.reports.actions")
    try:
        cycles = strongly_connected(graph)
    finally:
        graph.remove_import(importer="gis.core.vocabulary", imported="gis.reports.actions")
    assert any({"gis.core.vocabulary", "gis.reports.actions"} <= group for group in cycles)


@pytest.mark.parametrize("upper", ["api", "cli", "maps", "fastapi", "starlette", "typer"])
def test_the_domain_never_imports_the_layers_above(graph: grimp.ImportGraph, upper: str) -> None:
    assert graph.find_shortest_chain(importer="gis", imported=upper, as_packages=True) is None


def test_the_vocabulary_is_a_leaf(graph: grimp.ImportGraph) -> None:
    imported = graph.find_modules_directly_imported_by("gis.core.vocabulary")
    assert not {m for m in imported if m.split(".")[0] in PACKAGES}
