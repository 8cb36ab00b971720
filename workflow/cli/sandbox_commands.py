"""``onboarding sandbox serve``: the fake Sent API on loopback, with faults on demand."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow.cli.application import app
from workflow.cli.run_commands import LogFormat, LogLevel, setup_logging
from workflow.cli.wiring import fail, finite

sandbox_app = typer.Typer(
    help="The Sent sandbox: a faithful fake of the v3 profile API.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")


def _rates(values: list[str]) -> dict[int, float]:
    rates: dict[int, float] = {}
    for value in values:
        status, _, rate = value.partition("=")
        try:
            rates[int(status)] = float(rate)
        except ValueError as exc:
            raise typer.BadParameter(f"{value!r}: expected STATUS=RATE, e.g. 503=0.1") from exc
    return rates


@sandbox_app.command("serve")
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8765,
    api_key: Annotated[
        list[str] | None, typer.Option(help="Accepted x-api-key (repeatable).")
    ] = None,
    error_rate: Annotated[
        list[str] | None, typer.Option(help="STATUS=RATE, e.g. 503=0.1 (repeatable).")
    ] = None,
    retry_after: Annotated[
        float, typer.Option(min=0, max=86400, callback=finite, help="Retry-After seconds on 429.")
    ] = 1.0,
    lost_response_rate: Annotated[float, typer.Option(help="Executed, then answered 502.")] = 0.0,
    latency_ms: Annotated[
        float, typer.Option(min=0, max=600_000, callback=finite, help="Added to every request.")
    ] = 0.0,
    hang_rate: Annotated[float, typer.Option(help="Requests that hang --hang-seconds.")] = 0.0,
    hang_seconds: Annotated[float, typer.Option(min=0, max=86400, callback=finite)] = 30.0,
    # Rates (probabilities, nan and inf included) are checked by FaultConfig, naming the rule.
    callback_drop_rate: Annotated[float, typer.Option()] = 0.0,
    callback_duplicate_rate: Annotated[float, typer.Option()] = 0.0,
    rate_limit: Annotated[
        float,
        typer.Option(
            min=0, max=1_000_000, callback=finite, help="Requests per second per key (0: none)."
        ),
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Random seed for repeatable faults.")] = None,
    org_brand: Annotated[bool, typer.Option(help="The organization has a brand.")] = True,
    org_brand_tcr: Annotated[bool, typer.Option(help="Its brand is a TCR application.")] = True,
    org_campaigns: Annotated[bool, typer.Option(help="The organization has campaigns.")] = True,
    org_whatsapp: Annotated[bool, typer.Option(help="It has a WhatsApp account.")] = True,
    completion_delay: Annotated[
        float,
        typer.Option(min=0, max=86400, callback=finite, help="Seconds a completion takes."),
    ] = 0.2,
    list_page_size: Annotated[
        int | None,
        typer.Option(
            min=1, max=10_000, help="Answer GET /v3/profiles in pages of this many (later API)."
        ),
    ] = None,
    rejection_reason: Annotated[
        str | None, typer.Option(help="End every completion 'rejected' with this reason.")
    ] = None,
    cache_client_errors: Annotated[
        bool,
        typer.Option(
            "--cache-client-errors/--no-cache-client-errors",
            help="Replay refused (4xx) answers per Idempotency-Key for 24 h, as Sent may.",
        ),
    ] = True,
    signing_secret: Annotated[
        str | None, typer.Option(envvar="ONBOARDING_SANDBOX_SIGNING_SECRET", help="Sign callbacks.")
    ] = None,
    api_revision: Annotated[
        str,
        typer.Option(
            help="The Sent API revision played: 2026-03 (the seeds') or 2026-10 (SDK 0.46's)."
        ),
    ] = "2026-03",
    complete_per_minute: Annotated[
        float,
        typer.Option(
            min=0,
            max=1_000_000,
            callback=finite,
            help="/complete requests per minute per API key before 429 (0: no limit).",
        ),
    ] = 0.0,
    kyc: Annotated[
        bool, typer.Option("--kyc/--no-kyc", help="2026-10: the organization's KYC form is in.")
    ] = True,
    completion_failure: Annotated[
        str | None,
        typer.Option(help="2026-10: every completion fails with this reason (status unchanged)."),
    ] = None,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Serve the sandbox until interrupted. Inspect it at /_sandbox/state."""
    import uvicorn
    from pydantic import ValidationError

    setup_logging(log_level, log_format)

    from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox

    try:
        box = Sandbox(
            OrganizationConfig(
                api_keys=api_key or ["sandbox-key"],
                has_brand=org_brand,
                brand_is_tcr_application=org_brand_tcr,
                has_campaigns=org_campaigns,
                has_whatsapp_account=org_whatsapp,
                completion_delay_seconds=completion_delay,
                list_page_size=list_page_size,
                rejection_reason=rejection_reason,
                api_revision=api_revision,
                complete_per_minute=complete_per_minute,
                kyc_submitted=kyc,
                completion_failure_reason=completion_failure,
            ),
            FaultConfig(
                error_rates=_rates(error_rate or []),
                retry_after=retry_after,
                lost_response_rate=lost_response_rate,
                latency_ms=latency_ms,
                hang_rate=hang_rate,
                hang_seconds=hang_seconds,
                callback_drop_rate=callback_drop_rate,
                callback_duplicate_rate=callback_duplicate_rate,
                rate_limit_per_second=rate_limit,
                seed=seed,
            ),
            signing_secret=signing_secret,
            cache_client_errors=cache_client_errors,
        )
    except ValidationError as exc:  # an empty rejection reason
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise fail(f"sandbox options refused: {problems}") from exc
    except ValueError as exc:  # a signing secret that is not base64
        raise fail(str(exc)) from exc
    from workflow.cli.run_commands import check_port_free

    check_port_free(host, port, "sandbox")
    keys = ", ".join(box.state.organization.api_keys)
    typer.echo(
        f"Sent sandbox on http://{host}:{port} (x-api-key: {keys}; API revision "
        f"{box.state.organization.api_revision})"
    )
    try:
        # log_config=None: uvicorn's records go through our handler (text or JSON), not its own.
        uvicorn.run(
            box.app, host=host, port=port, log_level="warning", lifespan="off", log_config=None
        )
    finally:
        box.close()
