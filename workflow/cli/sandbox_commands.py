"""``onboarding sandbox serve``: the fake Sent API on loopback, with faults on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from workflow.cli.application import app
from workflow.cli.processes import LogFormat, LogLevel, setup_logging
from workflow.cli.wiring import fail, finite

if TYPE_CHECKING:
    from workflow.sandbox import Sandbox

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


def _seconds(most: float, text: str) -> Any:
    return typer.Option(min=0, max=most, callback=finite, help=text)


# The options, one type each; rates (probabilities, nan and inf included) are checked by
# FaultConfig, naming the rule.
Host = Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")]
ApiKeys = Annotated[list[str] | None, typer.Option(help="Accepted x-api-key (repeatable).")]
ErrorRates = Annotated[
    list[str] | None, typer.Option(help="STATUS=RATE, e.g. 503=0.1 (repeatable).")
]
RetryAfter = Annotated[float, _seconds(86400, "Retry-After seconds on 429.")]
LostRate = Annotated[float, typer.Option(help="Executed, then answered 502.")]
Latency = Annotated[float, _seconds(600_000, "Added to every request.")]
HangRate = Annotated[float, typer.Option(help="Requests that hang --hang-seconds.")]
HangSeconds = Annotated[float, typer.Option(min=0, max=86400, callback=finite)]
Rate = Annotated[float, typer.Option()]
RateLimit = Annotated[float, _seconds(1_000_000, "Requests per second per key (0: none).")]
Seed = Annotated[int | None, typer.Option(help="Random seed for repeatable faults.")]
OrgBrand = Annotated[bool, typer.Option(help="The organization has a brand.")]
OrgBrandTcr = Annotated[bool, typer.Option(help="Its brand is a TCR application.")]
OrgCampaigns = Annotated[bool, typer.Option(help="The organization has campaigns.")]
OrgWhatsapp = Annotated[bool, typer.Option(help="It has a WhatsApp account.")]
CompletionDelay = Annotated[float, _seconds(86400, "Seconds a completion takes.")]
PageSize = Annotated[
    int | None,
    typer.Option(
        min=1, max=10_000, help="Answer GET /v3/profiles in pages of this many (later API)."
    ),
]
Rejection = Annotated[
    str | None, typer.Option(help="End every completion 'rejected' with this reason.")
]
CacheClientErrors = Annotated[
    bool,
    typer.Option(
        "--cache-client-errors/--no-cache-client-errors",
        help="Replay refused (4xx) answers per Idempotency-Key for 24 h, as Sent may.",
    ),
]
SigningSecret = Annotated[
    str | None, typer.Option(envvar="ONBOARDING_SANDBOX_SIGNING_SECRET", help="Sign callbacks.")
]
Revision = Annotated[
    str,
    typer.Option(
        help="The Sent API revision played: 2026-03 (the seeds') or 2026-10 (SDK 0.46's)."
    ),
]
CompletePerMinute = Annotated[
    float,
    _seconds(1_000_000, "/complete requests per minute per API key before 429 (0: no limit)."),
]
Kyc = Annotated[
    bool, typer.Option("--kyc/--no-kyc", help="2026-10: the organization's KYC form is in.")
]
CompletionFailure = Annotated[
    str | None,
    typer.Option(help="2026-10: every completion fails with this reason (status unchanged)."),
]


@sandbox_app.command("serve")
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8765,
    api_key: ApiKeys = None,
    error_rate: ErrorRates = None,
    retry_after: RetryAfter = 1.0,
    lost_response_rate: LostRate = 0.0,
    latency_ms: Latency = 0.0,
    hang_rate: HangRate = 0.0,
    hang_seconds: HangSeconds = 30.0,
    callback_drop_rate: Rate = 0.0,
    callback_duplicate_rate: Rate = 0.0,
    rate_limit: RateLimit = 0.0,
    seed: Seed = None,
    org_brand: OrgBrand = True,
    org_brand_tcr: OrgBrandTcr = True,
    org_campaigns: OrgCampaigns = True,
    org_whatsapp: OrgWhatsapp = True,
    completion_delay: CompletionDelay = 0.2,
    list_page_size: PageSize = None,
    rejection_reason: Rejection = None,
    cache_client_errors: CacheClientErrors = True,
    signing_secret: SigningSecret = None,
    api_revision: Revision = "2026-03",
    complete_per_minute: CompletePerMinute = 0.0,
    kyc: Kyc = True,
    completion_failure: CompletionFailure = None,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Serve the sandbox until interrupted. Inspect it at /_sandbox/state."""
    setup_logging(log_level, log_format)
    box = _sandbox(dict(locals()))
    from workflow.cli.processes import check_port_free

    check_port_free(host, port, "sandbox")
    keys = ", ".join(box.state.organization.api_keys)
    typer.echo(
        f"Sent sandbox on http://{host}:{port} (x-api-key: {keys}; API revision "
        f"{box.state.organization.api_revision})"
    )
    import uvicorn

    try:
        # log_config=None: uvicorn's records go through our handler (text or JSON), not its own.
        uvicorn.run(
            box.app, host=host, port=port, log_level="warning", lifespan="off", log_config=None
        )
    finally:
        box.close()


def _sandbox(o: dict[str, Any]) -> Sandbox:
    """The sandbox the options of ``serve`` describe; refused options fail in one line."""
    from pydantic import ValidationError

    from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox

    try:
        return Sandbox(
            OrganizationConfig(
                api_keys=o["api_key"] or ["sandbox-key"],
                has_brand=o["org_brand"],
                brand_is_tcr_application=o["org_brand_tcr"],
                has_campaigns=o["org_campaigns"],
                has_whatsapp_account=o["org_whatsapp"],
                completion_delay_seconds=o["completion_delay"],
                list_page_size=o["list_page_size"],
                rejection_reason=o["rejection_reason"],
                api_revision=o["api_revision"],
                complete_per_minute=o["complete_per_minute"],
                kyc_submitted=o["kyc"],
                completion_failure_reason=o["completion_failure"],
            ),
            FaultConfig(
                error_rates=_rates(o["error_rate"] or []),
                retry_after=o["retry_after"],
                lost_response_rate=o["lost_response_rate"],
                latency_ms=o["latency_ms"],
                hang_rate=o["hang_rate"],
                hang_seconds=o["hang_seconds"],
                callback_drop_rate=o["callback_drop_rate"],
                callback_duplicate_rate=o["callback_duplicate_rate"],
                rate_limit_per_second=o["rate_limit"],
                seed=o["seed"],
            ),
            signing_secret=o["signing_secret"],
            cache_client_errors=o["cache_client_errors"],
        )
    except ValidationError as exc:  # an empty rejection reason
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise fail(f"sandbox options refused: {problems}") from exc
    except ValueError as exc:  # a signing secret that is not base64
        raise fail(str(exc)) from exc
