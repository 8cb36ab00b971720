"""``onboarding worker``: run onboardings until stopped (or idle), with its receiver and metrics."""

from __future__ import annotations

import logging
import os
import threading
from typing import Annotated, Any

import typer

from workflow.cli.application import app
from workflow.cli.engine_settings import engine_config
from workflow.cli.processes import (
    MAX_CONCURRENCY,
    LogFormat,
    LogLevel,
    check_port_free,
    checked_revision,
    setup_logging,
)
from workflow.cli.wiring import (
    MAX_SECONDS,
    fail,
    finite,
    open_store,
    open_vault,
    settings,
)

__all__: list[str] = []  # the command registers itself on the app
log = logging.getLogger("workflow.cli")


UntilIdle = Annotated[
    bool, typer.Option("--until-idle", help="Exit 0 once every onboarding is terminal or paused.")
]
Concurrency = Annotated[
    int, typer.Option(min=1, max=MAX_CONCURRENCY, help="Onboardings in flight at once.")
]
PollInterval = Annotated[
    float, typer.Option(min=0.01, max=3600, callback=finite, help="Seconds between claims.")
]
ServeCallbacks = Annotated[bool, typer.Option(help="Serve the completion-callback receiver.")]
CallbackHost = Annotated[str, typer.Option()]
CallbackPort = Annotated[int, typer.Option(min=1, max=65535)]
MaxSeconds = Annotated[
    float | None,
    typer.Option(min=0, max=MAX_SECONDS, callback=finite, help="Stop after this long."),
]
LeaseSeconds = Annotated[
    float,
    typer.Option(
        min=1, max=86400, callback=finite,
        help="Claim length; a dead worker's onboardings wait this long.",
    ),
]  # fmt: skip
SigningSecret = Annotated[
    str | None,
    typer.Option(envvar="ONBOARDING_SIGNING_SECRET", help="Verify callback signatures."),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(min=0, max=65535, help="Serve Prometheus metrics at http://HOST:PORT/metrics."),
]
MetricsHost = Annotated[str, typer.Option(help="Address the metrics listen on.")]
SentApi = Annotated[
    str,
    typer.Option(
        "--sent-api", envvar="ONBOARDING_SENT_API", callback=checked_revision,
        help="The Sent API revision onboardings this worker's process starts take (each "
        "onboarding runs under the revision it started under).",
    ),
]  # fmt: skip


@app.command()
def worker(
    until_idle: UntilIdle = False,
    concurrency: Concurrency = 8,
    poll_interval: PollInterval = 0.5,
    serve_callbacks: ServeCallbacks = False,
    callback_host: CallbackHost = "127.0.0.1",
    callback_port: CallbackPort = 8780,
    max_seconds: MaxSeconds = None,
    lease_seconds: LeaseSeconds = 60.0,
    signing_secret: SigningSecret = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
    sent_api: SentApi = "2026-03",
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Run onboardings: claim due ones, call Sent, retry, wait for completion."""
    from workflow.cli.memory import share_malloc_arenas

    share_malloc_arenas()  # before the step threads start (see workflow.cli.memory)
    from workflow.engine.runner import Worker

    setup_logging(log_level, log_format)
    runners = _stopped_by_signals()
    _preflight(
        (callback_host, callback_port) if serve_callbacks else None,
        (metrics_host, metrics_port) if metrics_port else None,
    )
    store, vault, api = _connect()
    callbacks = f"http://{callback_host}:{callback_port}" if serve_callbacks else None
    config = engine_config(**({"callback_base_url": callbacks} if callbacks else {}))
    observer, metrics = _metrics(store, metrics_host, metrics_port)
    receiver = None
    try:
        if serve_callbacks:
            receiver = _receiver(store, vault, signing_secret, callback_host, callback_port)
        runner = Worker(
            store, api, vault, config=config, concurrency=concurrency,
            poll_interval=poll_interval, lease_seconds=lease_seconds, observer=observer,
        )  # fmt: skip
        runners.append(runner)
        log.info(
            "worker %s started: database %s, concurrency %d, callbacks at %s, Sent API %s "
            "for new onboardings, rate limits %s",
            runner.owner, _safe_url(settings().db), concurrency, config.callback_base_url,
            sent_api, _limits_text(config.rate_limits),
        )  # fmt: skip
        idle = runner.run(until_idle=until_idle, max_seconds=max_seconds)
    finally:
        for server in (receiver, metrics):
            if server is not None:
                server.stop()
        api.close()
    log.info("worker stopped%s", " (nothing left to do)" if idle else "")
    if until_idle and not idle:
        raise typer.Exit(2)


class _Runners(list[Any]):
    """The workers a signal stops: those started, and any started after it came."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()

    def stop(self) -> None:
        self.asked.set()
        for runner in self:
            runner.request_stop()

    def append(self, runner: Any) -> None:
        super().append(runner)
        if self.asked.is_set():
            runner.request_stop()


def _stopped_by_signals() -> _Runners:
    """From now on, not only once the worker runs: the first signal stops it (draining the
    steps in flight), a second ends the process at once (130/143)."""
    from workflow.engine.shutdown import install_signal_handlers

    runners = _Runners()
    install_signal_handlers(runners.stop)
    return runners


def _preflight(callbacks: tuple[str, int] | None, metrics: tuple[str, int] | None) -> None:
    """What would stop the worker later, refused now in one line: no API key, a taken port."""
    if not (settings().api_key or os.environ.get("SENT_DM_API_KEY")):
        raise fail(
            "no Sent API key: pass --api-key (before the command) or set SENT_DM_API_KEY; to run "
            "without Sent, start 'onboarding sandbox serve' and pass its URL as --api-url"
        )
    if callbacks is not None:
        check_port_free(*callbacks)
    if metrics is not None:
        check_port_free(*metrics, "metrics")


def _connect() -> tuple[Any, Any, Any]:
    """The store, the vault and the Sent client the worker runs on."""
    from workflow.adapters.sent_client import HttpxSentApi

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
    return store, vault, api


def _receiver(store: Any, vault: Any, secret: str | None, host: str, port: int) -> Any:
    """The completion-callback receiver, serving on ``host:port`` in a thread."""
    from workflow.adapters.serving import ServerThread
    from workflow.engine.callbacks import create_callback_app

    try:
        callback_app = create_callback_app(store, vault, signing_secret=secret)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    return ServerThread(callback_app, host, port).start()


def _limits_text(limits: Any) -> str:
    return ", ".join(f"{k} {v:g}/min" for k, v in sorted(limits.items())) or "none"


def _safe_url(url: str) -> str:
    from persistence.db import safe_url

    return safe_url(url)


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
