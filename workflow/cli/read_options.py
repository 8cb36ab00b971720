"""The options the reading commands share: states, codes, cursors, times, the onboarding named.

Each is checked while the command line is parsed, so a wrong value is a usage error naming its
option before anything is read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from workflow.cli.wiring import fail, open_reader
from workflow.core.clock import as_utc
from workflow.core.errors import OnboardingError
from workflow.management import public

__all__ = [
    "Codes",
    "Internals",
    "Json",
    "States",
    "Target",
    "cursor",
    "found",
    "known_codes_option",
    "known_states",
    "moment",
    "stored_code",
]


def known_states(values: list[str] | None) -> list[str] | None:
    if not values:
        return values
    from workflow.core.flow_catalogue import CATALOGUE

    built_in = {state for facts in CATALOGUE.values() for state in facts.states}
    if all(value in built_in for value in values):
        return values  # the flow definition (and pydantic with it) is not loaded
    from workflow.flows import FLOWS

    for value in values:
        if value not in FLOWS.states:  # every version's: onboardings of each run side by side
            states = ", ".join(FLOWS.states)
            raise typer.BadParameter(f"unknown state {value!r}; states are {states}")
    return values


def cursor(value: str | None) -> str | None:
    try:
        public.decode_cursor(value)  # refused at parse time, naming --after
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 date or time, e.g. 2026-05-01 or "
            "2026-05-01T12:00:00+00:00 (UTC when no offset is given)"
        ) from None
    try:
        return as_utc(moment)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the last time there is
        raise typer.BadParameter(
            f"{value!r} is outside the times supported, 0001-01-01 to 9999-12-31 UTC"
        ) from None


States = Annotated[
    list[str] | None,
    typer.Option(
        "--state", callback=known_states, help="Only these states (repeatable), e.g. pending."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="JSON Lines (see docs/json.md).")]
Internals = Annotated[
    bool,
    typer.Option("--internals", help="Also the engine's internals: lease, version, digests."),
]
Target = Annotated[str, typer.Argument(help="Onboarding id, key or Sent profile id.")]


def known_codes_option(values: list[str] | None) -> list[str] | None:
    """``--code`` in any case, as the engine writes it; an unknown code is a usage error."""
    if not values:
        return values
    from workflow.core.errors import SelectionError
    from workflow.management.selection import known_codes

    try:
        return known_codes(values, stored_code)
    except SelectionError as exc:
        raise fail(str(exc), 2) from None


def stored_code(code: str) -> bool:
    """Whether some onboarding has exactly this error code (one Sent does not document)."""
    with open_reader() as reader:
        return bool(reader.has_code(code))


Codes = Annotated[
    list[str] | None,
    typer.Option(
        "--code",
        metavar="CODE",
        callback=known_codes_option,
        help="Only those with this pause code, in any case, e.g. PREREQUISITES (repeatable).",
    ),
]


def found(reader: Any, onboarding: str, *, spec: bool = False) -> dict[str, Any]:
    try:
        row: dict[str, Any] = reader.find(onboarding, spec=spec)
    except OnboardingError as exc:
        raise fail(str(exc)) from exc
    return row
