"""Imports that load nothing the engine does not use.

httpx's package, on import, also loads its command-line tool (``httpx._main``: click, rich and
pygments, about 6 MiB of memory and 40 ms) whenever those happen to be installed, as they are
beside typer and uvicorn. No part of this project runs that tool, so :func:`defer_httpx_tool`
registers a stand-in whose ``main`` loads the real tool on its first call. ``import workflow``
applies it, before anything imports httpx.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ["defer_httpx_tool"]

_TOOL = "httpx._main"


def _main(*args: Any, **kwargs: Any) -> Any:
    """httpx's command-line tool, loaded now (the stand-in gives way to the real module)."""
    sys.modules.pop(_TOOL, None)
    return importlib.import_module(_TOOL).main(*args, **kwargs)


def defer_httpx_tool() -> None:
    """Register the stand-in for ``httpx._main`` unless httpx (or its tool) is loaded already."""
    if "httpx" in sys.modules or _TOOL in sys.modules:
        return
    stand_in = types.ModuleType(_TOOL, "httpx's command-line tool, loaded on first use")
    stand_in.main = _main  # type: ignore[attr-defined]
    sys.modules[_TOOL] = stand_in
