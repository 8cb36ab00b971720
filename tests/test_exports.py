"""Public names are exported explicitly, sorted, and all resolve."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["workflow", "persistence", "workflow.console"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    """Each package's __all__ is sorted and every name in it exists."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for attribute in exported:
        assert hasattr(module, attribute), attribute


@pytest.mark.parametrize("name", PACKAGES)
def test_heavy_imports_stay_out_of_init(name: str) -> None:
    """Importing a package loads neither uvicorn nor rich."""
    import subprocess
    import sys

    code = f"import sys, {name}; print(any(m in sys.modules for m in ('uvicorn', 'rich')))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
