"""``onboarding start``, ``onboarding worker`` and ``onboarding demo``."""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from workflow.cli.application import app
from workflow.cli.wiring import (
    MAX_SECONDS,
    checked_actor,
    echo,
    engine_config,
    fail,
    finite,
    open_store,
    open_vault,
    settings,
)
from workflow.core.clock import SystemClock
from workflow.core.errors import SpecConflictError
from workflow.following.logs import LEVELS, configure_logging

log = logging.getLogger("workflow.cli")
#: Onboardings one worker runs at once: each takes a thread and, while it commits, a connection.
MAX_CONCURRENCY = 1000


def _level(value: str) -> str:
    if value.upper() not in LEVELS:
        raise typer.BadParameter(f"{value!r} is not a level; use one of {', '.join(LEVELS)}")
    return value.upper()


def _format(value: str) -> str:
    if value not in ("text", "json"):
        raise typer.BadParameter(f"{value!r} is not a format; use text or json")
    return value


LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level", envvar="ONBOARDING_LOG_LEVEL", callback=_level,
        help=f"Our log lines from this level ({', '.join(LEVELS)}); libraries log warnings only.",
    ),
]  # fmt: skip
LogFormat = Annotated[
    str,
    typer.Option(
        "--log-format", envvar="ONBOARDING_LOG_FORMAT", callback=_format,
        help="text, or json (one object a line, with onboarding_id, key, profile_id, state).",
    ),
]  # fmt: skip


def setup_logging(level: str, fmt: str) -> None:
    """Configure logging for a long-running command from its options."""
    configure_logging(level, "json" if fmt == "json" else "text")


@app.command()
def start(
    specs: Annotated[list[Path], typer.Argument(help="Spec files (.json, .yaml).")],
    actor: Annotated[
        str,
        typer.Option(
            "--actor",
            envvar="USER",
            callback=checked_actor,
            help="Who starts them (kept in the audit log, at most 128 characters).",
        ),
    ] = "cli",
    sent_api: Annotated[
        str,
        typer.Option(
            "--sent-api",
            envvar="ONBOARDING_SENT_API",
            callback=checked_revision,
            help="The Sent API revision new onboardings start under: 2026-03 (the seeds') or "
            "2026-10 (SDK 0.46's); each keeps its own.",
        ),
    ] = "2026-03",
) -> None:
    """Validate and store onboardings (idempotent on each spec's key); a worker runs them.

    Every spec of the input is stored in one transaction, or none is. A missing SQLite
    database is created with its schema; its key file is created beside it.
    """
    from persistence.db import check_supported
    from workflow.core.spec import find_key_conflicts, read_specs
    from workflow.management.onboardings import Onboardings

    check_supported(settings().db)  # before the key question, which depends on the database
    valid, errors = read_specs(specs, today=SystemClock().now().date())
    errors += find_key_conflicts(valid)
    for error in errors:
        echo(f"{error.source}: {len(error.problems)} problem(s)", err=True)
        for problem in error.problems:
            echo(f"  {problem.path}: {problem.message}", err=True)
    if errors:
        raise fail("nothing was stored: fix the specs above and start again")
    store = open_store(create=True, write=True)
    # The key seals secrets and anchors the audit rows: without one, nothing is stored.
    onboardings = Onboardings(store, open_vault(), sent_api=sent_api)
    try:
        stored = onboardings.start_many([item.spec for item in valid], actor=actor)
    except SpecConflictError as exc:
        how = f" (to change it: 'onboarding amend {exc.key} FILE')" if exc.key else ""
        raise fail(f"{exc}{how}; nothing was stored") from exc
    for checkpoint, created in stored:
        note = "" if created else ", already started"
        echo(f"{checkpoint.key}: {checkpoint.id} ({checkpoint.state}{note})")


def checked_revision(value: str) -> str:
    """A ``--sent-api`` value, or one line naming the revisions."""
    from workflow.core.rules import check_revision

    try:
        return check_revision(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _limits_text(limits: Any) -> str:
    return ", ".join(f"{k} {v:g}/min" for k, v in sorted(limits.items())) or "none"


def _safe_url(url: str) -> str:
    from persistence.db import safe_url

    return safe_url(url)


def check_port_free(host: str, port: int, what: str = "callback") -> None:
    """Fail now, in one line, when a port is taken (uvicorn would die in a thread)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise fail(
                f"{what} port {port} on {host} is already in use: stop what listens there "
                f"or pass another {'--port' if what == 'sandbox' else f'--{what}-port'}"
            ) from exc


def _metrics(store: Any, host: str, port: int | None) -> tuple[Any, Any]:
    """The Prometheus observer and its server when a port is given (else nothing is loaded)."""
    if port is None:
        return None, None
    from workflow.following.metrics import MetricsServer, PrometheusObserver

    observer = PrometheusObserver(next_due=store.next_due, rate_waiting=store.count_rate_waiting)
    try:
        server = MetricsServer(observer.registry, port, host)
    except OSError as exc:
        raise fail(
            f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}): stop what listens "
            "there or pass another --metrics-port"
        ) from exc
    log.info("metrics at %s", server.url)
    return observer, server


@app.command()
def worker(
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Exit 0 once every onboarding is terminal or paused."),
    ] = False,
    concurrency: Annotated[
        int, typer.Option(min=1, max=MAX_CONCURRENCY, help="Onboardings in flight at once.")
    ] = 8,
    poll_interval: Annotated[
        float,
        typer.Option(min=0.01, max=3600, callback=finite, help="Seconds between claims."),
    ] = 0.5,
    serve_callbacks: Annotated[
        bool, typer.Option(help="Serve the completion-callback receiver.")
    ] = False,
    callback_host: Annotated[str, typer.Option()] = "127.0.0.1",
    callback_port: Annotated[int, typer.Option(min=1, max=65535)] = 8780,
    max_seconds: Annotated[
        float | None,
        typer.Option(min=0, max=MAX_SECONDS, callback=finite, help="Stop after this long."),
    ] = None,
    lease_seconds: Annotated[
        float,
        typer.Option(
            min=1,
            max=86400,
            callback=finite,
            help="Claim length; a dead worker's onboardings wait this long.",
        ),
    ] = 60.0,
    signing_secret: Annotated[
        str | None,
        typer.Option(envvar="ONBOARDING_SIGNING_SECRET", help="Verify callback signatures."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Serve Prometheus metrics at http://HOST:PORT/metrics."
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics listen on.")] = (
        "127.0.0.1"
    ),
    sent_api: Annotated[
        str,
        typer.Option(
            "--sent-api",
            envvar="ONBOARDING_SENT_API",
            callback=checked_revision,
            help="The Sent API revision onboardings this worker's process starts take (each "
            "onboarding runs under the revision it started under).",
        ),
    ] = "2026-03",
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Run onboardings: claim due ones, call Sent, retry, wait for completion."""
    from workflow.cli.memory import share_malloc_arenas

    share_malloc_arenas()  # before the step threads start (see workflow.cli.memory)
    from workflow.adapters.sent_client import HttpxSentApi
    from workflow.engine.runner import Worker
    from workflow.engine.shutdown import install_signal_handlers

    setup_logging(log_level, log_format)
    # From now on, not only once the worker runs: the first signal stops it (draining the
    # steps in flight), a second ends the process at once (130/143).
    asked = threading.Event()
    runners: list[Worker] = []

    def stop() -> None:
        asked.set()
        for runner in runners:
            runner.request_stop()

    install_signal_handlers(stop)
    if not (settings().api_key or os.environ.get("SENT_DM_API_KEY")):
        raise fail(
            "no Sent API key: pass --api-key (before the command) or set SENT_DM_API_KEY; to run "
            "without Sent, start 'onboarding sandbox serve' and pass its URL as --api-url"
        )
    if serve_callbacks:
        check_port_free(callback_host, callback_port)
    if metrics_port:
        check_port_free(metrics_host, metrics_port, "metrics")
    store = open_store(write=True)
    vault = open_vault(announce=log.warning)
    unanchored = store.count_unanchored(runnable=True)
    if unanchored:
        # Rows written on a head without an anchor could never be verified.
        raise fail(
            f"{unanchored} onboarding(s) to run have audit logs without an anchor (written "
            "before anchoring): run 'onboarding audit anchor' first"
        )
    try:
        api = HttpxSentApi(settings().api_url, settings().api_key, timeout=30)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    overrides: dict[str, object] = {}
    if serve_callbacks:
        overrides["callback_base_url"] = f"http://{callback_host}:{callback_port}"
    config = engine_config(**overrides)
    observer, metrics = _metrics(store, metrics_host, metrics_port)
    receiver = None
    if serve_callbacks:
        from workflow.engine.callbacks import create_callback_app

        try:
            callback_app = create_callback_app(store, vault, signing_secret=signing_secret)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        from workflow.adapters.serving import ServerThread

        receiver = ServerThread(callback_app, callback_host, callback_port).start()
    try:
        runner = Worker(
            store,
            api,
            vault,
            config=config,
            concurrency=concurrency,
            poll_interval=poll_interval,
            lease_seconds=lease_seconds,
            observer=observer,
        )
        runners.append(runner)
        if asked.is_set():
            runner.request_stop()
        log.info(
            "worker %s started: database %s, concurrency %d, callbacks at %s, Sent API %s "
            "for new onboardings, rate limits %s",
            runner.owner, _safe_url(settings().db), concurrency, config.callback_base_url,
            sent_api, _limits_text(config.rate_limits),
        )  # fmt: skip
        idle = runner.run(until_idle=until_idle, max_seconds=max_seconds)
    finally:
        if receiver is not None:
            receiver.stop()
        if metrics is not None:
            metrics.stop()
        api.close()
    log.info("worker stopped%s", " (nothing left to do)" if idle else "")
    if until_idle and not idle:
        raise typer.Exit(2)


@app.command()
def demo(
    db: Annotated[
        str,
        typer.Option(
            help="SQLite file for the demo, recreated each run (a file an earlier demo made; "
            "any other database is refused). The global --db is not used."
        ),
    ] = "demo.db",
    concurrency: Annotated[int, typer.Option(min=1, max=MAX_CONCURRENCY)] = 8,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Onboard the sample profiles end to end against the in-process sandbox (no API key)."""
    from workflow.cli.demo import demo_path, run_demo

    setup_logging(log_level, log_format)
    run_demo(demo_path(db), concurrency)
