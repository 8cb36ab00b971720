"""The engine's settings from the environment: the callback URL, polling, the completion
timeout, the organization's facts and the rate limits (``onboarding worker`` reads them)."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Final

from workflow.cli.wiring import MAX_SECONDS, fail

if TYPE_CHECKING:
    from workflow.engine.executor import EngineConfig

__all__ = ["DEFAULT_RATE_LIMITS", "RATE_CLASSES", "engine_config", "rate_limits"]


def _seconds(variable: str, default: float, low: float, high: float) -> float:
    """A number of seconds from the environment, from ``low`` to ``high``, else one line."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # nan and inf too
        raise fail(
            f"{variable} must be a number of seconds from {low:g} to {high:.0f} "
            f"(it is {raw[:40]!r})"
        )
    return value


#: Sent's documented limit on ``/complete`` (10 a minute); other classes unpaced unless set.
DEFAULT_RATE_LIMITS: Final = "complete=10"
RATE_CLASSES: Final = ("complete", "write", "read")


def rate_limits(text: str | None) -> dict[str, float]:
    """``ONBOARDING_RATE_LIMITS``: ``class=N`` per minute, comma-separated (``complete=10,
    write=300``); ``complete`` is 10 unless named; ``class=0`` turns a class's pacing off.

    Raises:
        typer.Exit: one line naming the entry and the rule.
    """
    limits: dict[str, float] = {}
    for entry in f"{DEFAULT_RATE_LIMITS},{text or ''}".split(","):
        if not entry.strip():
            continue
        name, _, raw = entry.partition("=")
        name = name.strip()
        try:
            value = float(raw.strip().removesuffix("/min"))
        except ValueError:
            value = math.nan
        if name not in RATE_CLASSES or not 0 <= value <= 1_000_000:
            raise fail(
                f"ONBOARDING_RATE_LIMITS: {entry.strip()[:40]!r} must be CLASS=N requests per "
                f"minute, CLASS one of {', '.join(RATE_CLASSES)}, N from 0 (not paced) to 1000000"
            )
        limits[name] = value
    return {name: value for name, value in limits.items() if value > 0}


def engine_config(**overrides: object) -> EngineConfig:
    """Engine settings from the environment, with overrides.

    Raises:
        typer.Exit: a number in the environment is not one, or out of its range (one line).
    """
    from workflow.core.spec import OrganizationFacts
    from workflow.engine.executor import EngineConfig

    values: dict[str, object] = {
        "callback_base_url": os.environ.get(
            "ONBOARDING_CALLBACK_BASE_URL", "http://127.0.0.1:8780"
        ),
        "poll_interval": _seconds("ONBOARDING_POLL_INTERVAL", 5, 0.01, 3600),
        "completion_timeout": _seconds("ONBOARDING_COMPLETION_TIMEOUT", 3600, 1, MAX_SECONDS),
        "organization": OrganizationFacts(
            whatsapp_has_phone_number=os.environ.get("ONBOARDING_ORG_WHATSAPP_NUMBER", "1") == "1"
        ),
        "rate_limits": rate_limits(os.environ.get("ONBOARDING_RATE_LIMITS")),
    }
    values.update(overrides)
    return EngineConfig(**values)  # type: ignore[arg-type]
