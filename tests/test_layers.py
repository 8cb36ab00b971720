"""The layers of ARCHITECTURE.md hold: dependencies point down only, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The pure core: no I/O, no adapter, no framework.
CORE = [
    "workflow/core/spec.py", "workflow/core/validation", "workflow/core/rules.py", "workflow/core/machine.py",
    "workflow/flows/__init__.py", "workflow/steps", "workflow/core/audit_chain.py", "workflow/ports.py",
    "workflow/core/errors.py", "workflow/core/backoff.py", "workflow/core/clock.py", "workflow/core/redaction.py",
    "workflow/core/bounds.py",
]  # fmt: skip
#: Engine, runner, management and receiver: they see the store only through the ports.
ENGINE = [
    "workflow/engine/executor.py", "workflow/engine/runner.py", "workflow/management/onboardings.py", "workflow/management/bulk.py",
    "workflow/management/adoption.py",
    "workflow/engine/callbacks.py", "workflow/following/events.py", "workflow/following/waiting.py", "workflow/management/aio.py",
    "workflow/engine/holds.py",
]  # fmt: skip
ADAPTERS = ("persistence", "sqlalchemy", "sqlmodel", "alembic", "httpx", "starlette", "uvicorn")
FRAMEWORKS = ("typer", "rich", "prometheus_client", "apscheduler")
#: What persistence may know of the workflow package: errors and the types of the ports.
PORT_TYPES = (
    "workflow.core.errors", "workflow.ports", "workflow.management.audit_verify", "workflow.following.events",
    "workflow.management.selection",
)  # fmt: skip


def _files(entries: list[str]) -> list[Path]:
    found: list[Path] = []
    for entry in entries:
        path = ROOT / entry
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [p for p in found if p.exists()]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _offending(path: Path, banned: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in _imports(path)
        if any(name == b or name.startswith(b + ".") for b in banned)
    )


@pytest.mark.parametrize("path", _files(CORE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_adapter_or_framework(path: Path) -> None:
    """Spec, rules, machine, flow and steps load no database, HTTP or CLI library."""
    assert _offending(path, ADAPTERS + FRAMEWORKS) == []


@pytest.mark.parametrize("path", _files(ENGINE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_reaches_the_database_through_the_ports_only(path: Path) -> None:
    """Executor, runner, management and receiver never import persistence or a SQL library."""
    assert _offending(path, ("persistence", "sqlalchemy", "sqlmodel", "alembic")) == []


@pytest.mark.parametrize(
    "path",
    [p for p in _files(["persistence"]) if "migrations" not in p.parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_persistence_knows_only_the_port_types_of_the_workflow(path: Path) -> None:
    """persistence imports workflow errors and port types, never the engine (no cycle)."""
    workflow = {n for n in _imports(path) if n == "workflow" or n.startswith("workflow.")}
    assert sorted(n for n in workflow if n not in PORT_TYPES) == []


def test_persistence_names_no_workflow_state() -> None:
    """No state of the flow appears as a string literal in persistence's SQL code."""
    from workflow.flows import STATES

    for path in _files(["persistence"]):
        if "migrations" in path.parts:
            continue
        literals = {
            node.value
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert literals.isdisjoint(STATES), (path.name, literals & set(STATES))
