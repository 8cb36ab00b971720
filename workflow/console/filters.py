"""Jinja filters of the console's templates: times in UTC, ages, JSON shown as text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from workflow.core.clock import as_utc

__all__ = ["age", "install", "pretty", "utc"]


def utc(value: datetime | None) -> str:
    """``2026-05-01 12:00:00 UTC`` (empty for none)."""
    if value is None:
        return ""
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(total: float) -> str:
    """A duration in its largest two units: ``3d 4h``, ``5m 10s``, ``42s``."""
    value = int(abs(total))
    days, rest = divmod(value, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def age(value: datetime | None, now: datetime) -> str:
    """``5m 10s ago`` or ``in 30s`` (empty for none)."""
    if value is None:
        return ""
    delta = (now - value).total_seconds()
    return f"{seconds(delta)} ago" if delta >= 0 else f"in {seconds(delta)}"


def pretty(value: Any) -> str:
    """JSON as indented text (the template escapes it)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def install(env: Any) -> None:
    """Register the filters on a Jinja environment."""
    env.filters.update(utc=utc, age=age, pretty=pretty, seconds=seconds)
