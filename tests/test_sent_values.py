"""What the client keeps of Sent's replies is cleaned and bounded: no value from Sent can make a
commit fail (a NUL, a lone surrogate, a code or request id longer than its column, huge details),
and an id that cannot be kept whole is refused rather than cut."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from workflow.adapters.sent_client import HttpxSentApi
from workflow.adapters.sent_replies import MAX_REPLY_BYTES
from workflow.core.errors import SentStatusError, UnexpectedResponseError


def _raw(status: int, body: str) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, content=body.encode(), headers={"content-type": "application/json"}
        )

    return handler


def _client(handler: Any) -> HttpxSentApi:
    return HttpxSentApi("https://sent.test", "k", transport=httpx.MockTransport(handler))


def _storable(text: str) -> bool:
    return "\x00" not in text and text.encode("utf-8", errors="strict") is not None


def test_an_error_body_is_cleaned_and_cut_to_its_columns() -> None:
    """A 100-character code and request id are cut to 64 (ending in an ellipsis); NUL and
    lone surrogates in the message and details become U+FFFD; the error's text encodes."""
    body = (
        '{"error": {"code": "' + "C" * 100 + '", "message": "a\\ud800b\\u0000c", '
        '"details": {"x\\udfff": ["\\u0000"]}}, "meta": {"request_id": "' + "r" * 100 + '"}}'
    )
    with _client(_raw(503, body)) as client, pytest.raises(SentStatusError) as caught:
        client.get_profile("p1")
    error = caught.value
    assert error.code == "C" * 63 + "\u2026"
    assert error.request_id == "r" * 63 + "\u2026"
    assert error.message == "a\ufffdb\ufffdc"
    assert error.details == {"x\ufffd": ["\ufffd"]}
    assert _storable(str(error))
    assert error.retryable


def test_details_of_any_shape_become_a_bounded_field_to_messages_map() -> None:
    """Details with 500 fields, long texts, scalars and nested values: at most 20 fields, five
    messages each, 4,000 characters in all; a single text is one message (not its letters)."""
    fields = ", ".join(f'"field{n}": ["{"m" * 400}"]' for n in range(500))
    body = (
        '{"error": {"code": "VALIDATION_001", "message": "bad", "details": {'
        '"name": "Profile name is required", "count": 7, "nested": {"a": [1, {"b": null}]}, '
        '"many": ["1", "2", "3", "4", "5", "6", "7"], ' + fields + "}}}"
    )
    with _client(_raw(400, body)) as client, pytest.raises(SentStatusError) as caught:
        client.get_profile("p1")
    details = caught.value.details
    assert details["name"] == ["Profile name is required"]
    assert details["count"] == ["7"]
    assert details["nested"] == ['{"a": [1, {"b": null}]}']
    assert details["many"] == ["1", "2", "3", "4", "5"]
    assert len(details) <= 20
    assert sum(len(k) + sum(len(m) for m in v) for k, v in details.items()) <= 4000 + 20 * 128
    assert all(len(m) <= 300 for v in details.values() for m in v)


def test_a_reply_s_text_is_cleaned_and_its_request_id_cut() -> None:
    """A created profile whose name holds a NUL and a lone surrogate, with a 100-character
    request id: the name is cleaned, the request id cut, the id kept whole."""
    body = (
        '{"success": true, "data": {"id": "prof_1", "name": "Acme\\u0000\\udc00", '
        '"status": "' + "s" * 200 + '"}, "meta": {"request_id": "' + "q" * 100 + '"}}'
    )
    with _client(_raw(201, body)) as client:
        reply = client.create_profile({"name": "Acme"}, idempotency_key="k1")
    assert reply.data.id == "prof_1"
    assert reply.data.name == "Acme\ufffd\ufffd"
    assert reply.data.status == "s" * 63 + "\u2026"
    assert reply.request_id == "q" * 63 + "\u2026"


@pytest.mark.parametrize("profile_id", ["p" * 65, ""])
def test_an_id_that_does_not_fit_its_column_is_an_unexpected_reply(profile_id: str) -> None:
    """An id longer than 64 characters (or empty) is not cut into another resource's id: the
    reply is unexpected (retried on the short budget, then a pause)."""
    body = '{"success": true, "data": {"id": "' + profile_id + '"}}'
    with _client(_raw(201, body)) as client, pytest.raises(UnexpectedResponseError) as caught:
        client.create_profile({"name": "Acme"}, idempotency_key="k1")
    assert "id:" in str(caught.value)
    assert caught.value.retryable


def test_a_reply_that_is_not_utf_8_is_not_json() -> None:
    """Surrogates encoded as bytes (which Python's JSON decoder would let through from bytes)
    make a reply not JSON, as any body that is not UTF-8."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"data": {"id": "p1", "name": "\xed\xa0\x80"}}')

    with _client(handler) as client, pytest.raises(UnexpectedResponseError) as caught:
        client.get_profile("p1")
    assert "not JSON" in str(caught.value)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_numbers_no_database_stores_make_a_reply_unexpected(number: str) -> None:
    """NaN and infinities (which PostgreSQL's JSON refuses) make a success reply not JSON."""
    body = '{"success": true, "data": {"id": "p1", "extra": ' + number + "}}"
    with _client(_raw(200, body)) as client, pytest.raises(UnexpectedResponseError) as caught:
        client.get_profile("p1")
    assert "not JSON" in str(caught.value)


def test_a_reply_longer_than_the_limit_is_refused_without_reading_it_all() -> None:
    """A reply past MAX_REPLY_BYTES is unexpected, and only that much of it is read."""
    pulled = 0
    chunk = b" " * (1024 * 1024)

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        yield b'{"data": {"id": "p1"}, "padding": "'
        while True:
            pulled += 1
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    with _client(handler) as client, pytest.raises(UnexpectedResponseError) as caught:
        client.get_profile("p1")
    assert f"longer than {MAX_REPLY_BYTES} bytes" in str(caught.value)
    assert pulled == MAX_REPLY_BYTES // len(chunk)  # with the opening, just past the limit
