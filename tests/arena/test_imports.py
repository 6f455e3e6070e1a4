"""The arena's modules depend on each other one way: no import cycle, lazy imports included.

Tasks call the quality checks and the ranking; the ranking never imports the tasks (whoever claims a
refresh queues it) and the quality checks never import the ranking (they receive the fit).
"""
from __future__ import annotations

import ast
from pathlib import Path

ARENA = Path(__file__).resolve().parents[2] / "arena"
GROUPED = ("ranking", "export", "views", "management", "services")  # packages counted as one unit


def unit(module: str) -> str | None:
    """arena.ranking.cache -> arena.ranking; arena.services -> arena.services; others -> None."""
    parts = module.split(".")
    if parts[0] != "arena" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def imports_of(path: Path) -> set[str]:
    """Every arena module ``path`` imports, at the top or inside a function."""
    package = ".".join(("arena", *path.relative_to(ARENA).parent.parts))
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # "from arena import tasks"
    return {name for name in found if (ARENA.parent / Path(*name.split("."))).with_suffix(".py").exists()
            or (ARENA.parent / Path(*name.split(".")) / "__init__.py").exists()}


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in ARENA.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        relative = path.relative_to(ARENA).with_suffix("").parts
        source = unit(".".join(("arena", *relative))) if relative[0] != "__init__" else None
        if source is None:
            continue
        targets = {unit(name) for name in imports_of(path)} - {None, source}
        edges.setdefault(source, set()).update(targets)
    return edges


def test_the_graph_sees_the_modules():
    edges = graph()
    assert {"arena.tasks", "arena.quality", "arena.ranking", "arena.services"} <= set(edges)
    assert {"arena.quality", "arena.ranking"} <= edges["arena.tasks"]


def test_ranking_never_imports_tasks_and_quality_never_imports_ranking():
    edges = graph()
    assert "arena.tasks" not in edges["arena.ranking"]
    assert "arena.ranking" not in edges["arena.quality"]
    assert "arena.tasks" not in edges["arena.services"]  # the view hands cast_vote the task to queue


def test_no_import_cycle():
    edges = graph()
    visiting, done = [], set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, " -> ".join([*visiting[visiting.index(node):], node])
        visiting.append(node)
        for target in sorted(edges.get(node, ())):
            visit(target)
        visiting.pop()
        done.add(node)

    for node in sorted(edges):
        visit(node)
