"""The layering of the package (README, "Architecture"): import-linter contracts and no cycles."""

from __future__ import annotations

from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Components of more than one node (= import cycles) of a directed graph (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles():
    graph = grimp.build_graph("genjscc")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert strongly_connected(edges) == []


def test_import_contracts_hold(capsys):
    """The import-linter contracts in pyproject.toml (one per layer) are all kept."""
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 broken" in out and "KEPT" in out


def test_nothing_imports_cli_app_train_or_evaluation():
    """The entry points import the rest; only the CLI imports the app, and nothing imports the CLI."""
    graph = grimp.build_graph("genjscc")
    for top in ("genjscc.cli", "genjscc.app", "genjscc.train", "genjscc.evaluation"):
        entry_points = ("genjscc.cli",) if top == "genjscc.cli" else ("genjscc.cli", "genjscc.app")
        importers = {m for m in graph.find_downstream_modules(top, as_package=True)}
        outside = {m for m in importers if not (m == "genjscc.__main__" or m.startswith(entry_points))}
        assert outside == set(), f"{top} is imported by {sorted(outside)}"
