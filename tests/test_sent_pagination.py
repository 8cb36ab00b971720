"""Listing profiles follows ``data.pagination``: by cursor, by page number, or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from workflow.adapters.sent_client import HttpxSentApi
from workflow.core.errors import UnexpectedResponseError
from workflow.sandbox import OrganizationConfig, Sandbox, ServerThread

KEY = {"x-api-key": "sandbox-key"}
META = {"request_id": "req_1", "timestamp": "t", "version": "v3"}


def _profile(number: int) -> dict[str, Any]:
    return {"id": f"p-{number:03d}", "name": f"Team {number}", "status": "incomplete"}


def _page(profiles: list[dict[str, Any]], pagination: dict[str, Any] | None) -> httpx.Response:
    data: dict[str, Any] = {"profiles": profiles}
    if pagination is not None:
        data["pagination"] = pagination
    return httpx.Response(200, json={"success": True, "data": data, "error": None, "meta": META})


def _client(handler: Any) -> HttpxSentApi:
    return HttpxSentApi("https://sent.test", "k", transport=httpx.MockTransport(handler))


@pytest.fixture
def paged_sandbox() -> Iterator[tuple[Sandbox, str]]:
    """A sandbox answering the profile list in pages of 10, served over HTTP."""
    box = Sandbox(OrganizationConfig(list_page_size=10))
    with ServerThread(box.app) as server:
        yield box, server.url
    box.close()


def test_cursor_pages_are_followed_until_has_more_is_false() -> None:
    """With cursors.after the client asks ?after=<cursor> and collects every page, in order."""
    everyone = [_profile(n) for n in range(7)]
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        asked.append(query)
        start = int(query.get("after", "c0")[1:])
        chunk = everyone[start : start + 3]
        more = start + 3 < len(everyone)
        return _page(
            chunk,
            {
                "page": start // 3 + 1, "page_size": 3, "has_more": more,
                "total_count": len(everyone), "total_pages": 3,
                "cursors": {"after": f"c{start + 3}" if more else None, "before": f"c{start}"},
            },
        )  # fmt: skip

    with _client(handler) as client:
        listed = client.list_profiles()
    assert [p.id for p in listed] == [p["id"] for p in everyone]
    assert asked == [{}, {"after": "c3"}, {"after": "c6"}]


def test_unpaginated_list_is_one_request() -> None:
    """The seed-era answer (no pagination object) is the whole list, fetched once."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return _page([_profile(1), _profile(2)], None)

    with _client(handler) as client:
        assert [p.id for p in client.list_profiles()] == ["p-001", "p-002"]
    assert calls == ["https://sent.test/v3/profiles"]


def test_a_profile_shifted_onto_the_next_page_is_listed_once() -> None:
    """A profile created between two page reads pushes one onto page 2: it is collected once."""
    pages = {
        "1": [_profile(1), _profile(2)],
        "2": [_profile(2), _profile(3)],  # p-002 moved down when a profile was added in front
    }

    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("page", "1")
        return _page(
            pages[page],
            {"page": int(page), "page_size": 2, "has_more": page == "1", "cursors": {}},
        )

    with _client(handler) as client:
        assert [p.id for p in client.list_profiles()] == ["p-001", "p-002", "p-003"]


def test_a_list_that_keeps_answering_the_same_page_is_refused_at_once() -> None:
    """A server that ignores ?page= and always says has_more is an unexpected reply, not a loop."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return _page([_profile(1)], {"page": 1, "page_size": 1, "has_more": True})

    with _client(handler) as client, pytest.raises(UnexpectedResponseError, match="page 2 again"):
        client.list_profiles()
    assert len(calls) == 2


def test_the_sandbox_pages_by_page_number(paged_sandbox: tuple[Sandbox, str]) -> None:
    """list_page_size makes GET /v3/profiles answer ?page=&page_size= with data.pagination."""
    _, url = paged_sandbox
    with httpx.Client(base_url=url, headers=KEY) as http:
        for number in range(23):
            body = {"name": f"Team {number}", "billing_model": "organization"}
            assert http.post("/v3/profiles", json=body).status_code == 201
        first = http.get("/v3/profiles").json()["data"]
        third = http.get("/v3/profiles", params={"page": 3}).json()["data"]
        small = http.get("/v3/profiles", params={"page": 2, "page_size": 5}).json()["data"]
        bad = http.get("/v3/profiles", params={"page": 0, "page_size": "many"})
    assert len(first["profiles"]) == 10
    assert first["pagination"] == {
        "page": 1, "page_size": 10, "has_more": True, "total_count": 23, "total_pages": 3,
        "cursors": {"after": None, "before": None},
    }  # fmt: skip
    assert [p["name"] for p in third["profiles"]] == ["Team 20", "Team 21", "Team 22"]
    assert (third["pagination"]["page"], third["pagination"]["has_more"]) == (3, False)
    assert [p["name"] for p in small["profiles"]] == [f"Team {n}" for n in range(5, 10)]
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "VALIDATION_001"
    assert set(bad.json()["error"]["details"]) == {"page", "page_size"}


def test_the_client_collects_every_profile_across_sandbox_pages(
    paged_sandbox: tuple[Sandbox, str],
) -> None:
    """Against the paging sandbox the client lists all 23 profiles, each once, in order."""
    box, url = paged_sandbox
    with HttpxSentApi(url, "sandbox-key", timeout=10) as client:
        names = [f"Team {n}" for n in range(23)]
        for index, name in enumerate(names):
            client.create_profile(
                {"name": name, "billing_model": "organization"}, idempotency_key=f"k{index}"
            )
        listed = client.list_profiles()
    assert [p.name for p in listed] == names
    assert box.snapshot()["x_profile_ids"] == [
        {"operation": "create_profile", "profile_id": p.id, "x_profile_id": None, "count": 1}
        for p in listed
    ] + [{"operation": "list_profiles", "profile_id": None, "x_profile_id": None, "count": 3}]
