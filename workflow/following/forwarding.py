"""Forward events to a webhook URL, signed as Standard Webhooks specifies.

:class:`WebhookForwarder` is a :class:`~workflow.following.events.Subscriber` handler: it POSTs the
event's JSON (``docs/schema/event.json``) with the ``webhook-id`` (the event id, stable across
retries, so the receiver deduplicates on it), ``webhook-timestamp`` and ``webhook-signature``
headers made by the ``standardwebhooks`` library, and raises
:class:`~workflow.core.errors.DeliveryError` unless the receiver answers 2xx. The subscriber then
offers the same event again after a backoff, and moves its position only past delivered events: at
least once, in order.
"""

from __future__ import annotations

import json
from types import TracebackType

import httpx
from standardwebhooks import Webhook

from workflow.adapters.sent_transport import shared_ssl_context
from workflow.core.clock import Clock, SystemClock
from workflow.core.errors import DeliveryError
from workflow.engine.callbacks import check_signing_secret
from workflow.following.events import Event

__all__ = ["WebhookForwarder", "check_url", "shown"]


def check_url(url: str) -> str:
    """Return ``url`` if events can be posted to it.

    Raises:
        ValueError: it is not an absolute http(s) URL with a host.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"url {url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"url {url!r} must be an absolute http:// or https:// URL")
    return url


def shown(url: str) -> str:
    """``url`` without credentials or query (they may carry a token), for messages and logs."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


class WebhookForwarder:
    """Posts each event, signed, to ``url``; raises ``DeliveryError`` unless 2xx.

    Args:
        url: the receiver.
        secret: the Standard Webhooks signing secret (``whsec_`` + base64).
        timeout: seconds for each POST.

    Raises:
        ValueError: the URL or the secret is malformed (the secret is never echoed).
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = check_url(url)
        self.shown = shown(url)
        check_signing_secret(secret)
        self._signer = Webhook(secret)
        self._clock: Clock = clock or SystemClock()
        self._client = httpx.Client(
            timeout=timeout, transport=transport, verify=shared_ssl_context()
        )

    def __call__(self, event: Event) -> None:
        """Deliver one event.

        Raises:
            DeliveryError: no answer, or an answer other than 2xx.
        """
        body = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)
        now = self._clock.now()  # signed afresh on every attempt: receivers check the time
        headers = {
            "content-type": "application/json",
            "webhook-id": event.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(event.event_id, now, body),
        }
        try:
            response = self._client.post(self.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"event {event.event_id} not delivered to {self.shown}: {type(exc).__name__}"
            ) from exc
        if not response.is_success:
            raise DeliveryError(
                f"event {event.event_id} not delivered to {self.shown}: HTTP {response.status_code}"
            )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> WebhookForwarder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
