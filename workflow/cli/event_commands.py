"""``onboarding events``: forward transition events to a webhook, list subscribers, prune."""

from __future__ import annotations

import json
import logging
import signal
from datetime import timedelta
from types import FrameType
from typing import Annotated

import typer

from workflow.cli.application import app
from workflow.cli.processes import LogFormat, LogLevel, setup_logging
from workflow.cli.wiring import echo, fail, finite, open_store
from workflow.core.clock import SystemClock
from workflow.management.public import utc

events_app = typer.Typer(
    help="Transition events: forward them to a webhook, see subscribers, prune old ones.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")

log = logging.getLogger("workflow.cli")


def parse_duration(value: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``7d`` or ``2w`` as a time span (zero included), at most
    :data:`workflow.management.selection.MAX_DURATION`.

    Raises:
        typer.BadParameter: anything else.
    """
    from workflow.core.errors import SelectionError
    from workflow.management.selection import parse_duration as parse

    try:
        return parse(value, allow_zero=True)
    except SelectionError as exc:
        raise typer.BadParameter(
            str(exc).removeprefix("--older-than "), param_hint="'--older-than'"
        ) from None


def _subscriber_name(value: str) -> str:
    from workflow.following.events import check_subscriber_name

    try:
        return check_subscriber_name(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _url(value: str) -> str:
    from workflow.following.forwarding import check_url

    try:
        return check_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _secret(value: str) -> str:
    from workflow.engine.callbacks import check_signing_secret

    try:
        check_signing_secret(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


Subscriber = Annotated[
    str,
    typer.Option(
        "--subscriber", callback=_subscriber_name,
        help="Subscriber name: its position is kept, so a restart goes on where it stopped.",
    ),
]  # fmt: skip


@events_app.command("forward")
def forward(
    url: Annotated[str, typer.Option("--url", callback=_url, help="Where to POST each event.")],
    secret: Annotated[
        str,
        typer.Option(
            "--secret", envvar="ONBOARDING_EVENTS_SECRET", callback=_secret,
            help="Standard Webhooks signing secret (whsec_ + base64).",
        ),
    ],
    subscriber: Subscriber = "webhook",
    poll_interval: Annotated[
        float,
        typer.Option(
            min=0.01, max=3600, callback=finite, help="Seconds between looks when nothing is new."
        ),
    ] = 0.5,
    backoff_cap: Annotated[
        float,
        typer.Option(
            min=0.1, max=86400, callback=finite,
            help="Longest wait between attempts of a failing event.",
        ),
    ] = 60.0,
    timeout: Annotated[
        float, typer.Option(min=0.1, max=3600, callback=finite, help="Seconds for each POST.")
    ] = 10.0,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:  # fmt: skip
    """POST every transition event to --url, signed, in order, at least once (until 2xx).

    The subscriber's position moves past an event only once the receiver answered 2xx; a
    failing event is sent again with backoff, and later events wait for it. SIGINT/SIGTERM
    stop after the event being sent.
    """
    from workflow.following.events import Subscriber as EventSubscriber
    from workflow.following.forwarding import WebhookForwarder

    setup_logging(log_level, log_format)
    store = open_store()
    with WebhookForwarder(url, secret, timeout=timeout) as handler:
        follower = EventSubscriber(
            store, subscriber, handler, poll_interval=poll_interval,
            backoff_initial=min(0.5, backoff_cap), backoff_cap=backoff_cap,
        )  # fmt: skip

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping after the event being sent", signum)
            follower.stop(timeout=0)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)
        log.info("forwarding events of subscriber %s to %s", subscriber, handler.shown)
        follower.run()
    log.info("forwarder stopped: %d events delivered", follower.delivered)


@events_app.command("subscribers")
def subscribers(
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines.")] = False,
) -> None:
    """Each subscriber: events handled, events kept that it has not handled yet."""
    rows = open_store().subscribers()
    for row in rows:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "schema_version": 1, "kind": "subscriber", "subscriber": row.name,
                        "delivered": row.delivered, "pending": row.pending,
                        "updated_at": utc(row.updated_at),
                    }
                )
            )  # fmt: skip
        else:
            echo(f"{row.name}: {row.delivered} delivered, {row.pending} pending")
    if not rows and not as_json:
        typer.echo("no subscribers")


@events_app.command("prune")
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of the events to delete: 7d, 12h, 30m ...")
    ],
    undelivered: Annotated[
        bool,
        typer.Option(
            "--undelivered", help="Also delete old events some subscriber has not handled yet."
        ),
    ] = False,
) -> None:
    """Delete events older than --older-than that every subscriber has handled.

    Events are only a feed (the audit log keeps every transition for good), so deleting
    delivered ones loses nothing. A subscriber that stopped for good holds every later event
    back: drop it with 'onboarding events drop NAME', or pass --undelivered.
    """
    span = parse_duration(older_than)
    cutoff = SystemClock().now() - span
    count = open_store().prune_events(cutoff, undelivered=undelivered)
    typer.echo(f"pruned {count} events from before {cutoff.isoformat(timespec='seconds')}")


@events_app.command("drop")
def drop(
    name: Annotated[str, typer.Argument(callback=_subscriber_name, help="Subscriber name.")],
) -> None:
    """Forget a subscriber: old events no longer wait for it (it starts over if it returns)."""
    if not open_store().drop_subscriber(name):
        raise fail(f"no subscriber named {name!r}; 'onboarding events subscribers' lists them")
    echo(f"dropped subscriber {name}")
