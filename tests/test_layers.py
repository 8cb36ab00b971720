"""The layers of ARCHITECTURE.md hold: dependencies point down only, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "workflow"
#: Each folder of ``workflow/`` and its rank: a folder imports only folders of a lower rank
#: (and itself). ``core`` and ``ports`` share the bottom: the ports carry core's errors and
#: core's audit chain reads a port type.
RANKS = {
    "core": 0, "ports": 0,
    "steps": 1, "adapters": 1,
    "flows": 2,
    "engine": 3,
    "following": 4,
    "management": 5,
    "sandbox": 6,
    "console": 7,
    "cli": 8, "testing": 8, "__main__": 9,
}  # fmt: skip
#: Folders that compose adapters with the rest: the only ones that may import ``persistence``.
COMPOSITION = {"cli", "console", "testing"}
PURE = {"core", "ports", "steps", "flows"}
ADAPTERS = ("persistence", "sqlalchemy", "sqlmodel", "alembic", "httpx", "starlette", "uvicorn")
FRAMEWORKS = ("typer", "rich", "prometheus_client", "apscheduler")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _folder(path: Path) -> str:
    """The layer a module of ``workflow/`` belongs to: its folder, or its own name at the top."""
    parts = path.relative_to(WORKFLOW).parts
    return parts[0] if len(parts) > 1 else path.stem


def _modules() -> list[Path]:
    return sorted(
        p for p in WORKFLOW.rglob("*.py") if p.name != "__init__.py" or p.parent != WORKFLOW
    )


def _matches(name: str, banned: tuple[str, ...] | set[str]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


def test_every_module_lives_in_a_layer_folder() -> None:
    """No module escapes the layers: each sits in a folder the rules below know."""
    assert sorted({_folder(p) for p in _modules()} - set(RANKS)) == []
    assert {"core", "ports", "steps", "flows", "engine", "management", "adapters"} <= {
        _folder(p) for p in _modules()
    }


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_layers_import_only_downwards(path: Path) -> None:
    """A folder imports itself and folders below it, never a folder above or beside it."""
    folder = _folder(path)
    above = sorted(
        name
        for name in _imports(path)
        if name.startswith("workflow.")
        and name.split(".")[1] in RANKS
        and name.split(".")[1] != folder
        and RANKS[name.split(".")[1]] >= RANKS[folder]
        and {folder, name.split(".")[1]} != {"core", "ports"}
    )
    assert above == []


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _folder(p) in PURE], ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_core_imports_no_adapter_or_framework(path: Path) -> None:
    """Spec, rules, machine, ports, steps and flows load no database, HTTP or CLI library."""
    assert sorted(n for n in _imports(path) if _matches(n, ADAPTERS + FRAMEWORKS)) == []


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if _folder(p) not in COMPOSITION],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_composition_reaches_the_database(path: Path) -> None:
    """Outside the CLI, the console and ``workflow.testing``, nothing imports persistence or SQL."""
    assert (
        sorted(
            n
            for n in _imports(path)
            if _matches(n, ("persistence", "sqlalchemy", "sqlmodel", "alembic"))
        )
        == []
    )


@pytest.mark.parametrize(
    "path",
    [p for p in sorted((ROOT / "persistence").rglob("*.py")) if "migrations" not in p.parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_persistence_knows_only_the_ports(path: Path) -> None:
    """persistence imports ``workflow.ports`` and nothing else of workflow: no import cycle."""
    workflow = {n for n in _imports(path) if n == "workflow" or n.startswith("workflow.")}
    assert sorted(n for n in workflow if not _matches(n, ("workflow.ports",))) == []


def test_the_folder_graph_has_no_cycle() -> None:
    """Across folders (and persistence) the imports form no cycle, core with ports aside."""
    graph: dict[str, set[str]] = {}
    for path in _modules():
        here = _folder(path)
        for name in _imports(path):
            if name.startswith("workflow.") and name.split(".")[1] in RANKS:
                graph.setdefault(here, set()).add(name.split(".")[1])
            elif _matches(name, ("persistence",)):
                graph.setdefault(here, set()).add("persistence")
    for path in (ROOT / "persistence").rglob("*.py"):
        if "migrations" not in path.parts:
            for name in _imports(path):
                if name.startswith("workflow."):
                    graph.setdefault("persistence", set()).add(name.split(".")[1])
    graph.get("core", set()).discard("ports")
    graph.get("ports", set()).discard("core")
    for start in graph:
        seen: set[str] = set()
        todo = [n for n in graph[start] if n != start]
        while todo:
            node = todo.pop()
            assert node != start, f"import cycle through {start}"
            if node not in seen:
                seen.add(node)
                todo += [n for n in graph.get(node, set()) if n != node]


def test_persistence_names_no_workflow_state() -> None:
    """No state of the flow appears as a string literal in persistence's SQL code."""
    from workflow.flows import STATES

    for path in sorted((ROOT / "persistence").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        literals = {
            node.value
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert literals.isdisjoint(STATES), (path.name, literals & set(STATES))
