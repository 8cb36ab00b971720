"""The non-durable floor: httpx and a thread pool making the engine's calls, no database.

Run by ``compare.py`` in its own process. Prints a ready line once it can work, then a done line
with the final statuses. Exits 1 if an onboarding fails (at zero faults none should).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tcr_path import DONE_LINE, READY_LINE, SentCallError, SentCalls, documents, onboard


class FloorSteps:
    """Each call straight to Sent; nothing is recorded anywhere."""

    def __init__(self, calls: SentCalls) -> None:
        self.calls = calls

    def create_profile(self, body: dict[str, Any], key: str) -> str:
        return str(self.calls.call("POST", "/v3/profiles", body, key)["id"])

    def update_profile(self, profile_id: str, body: dict[str, Any], key: str) -> None:
        self.calls.call("PATCH", f"/v3/profiles/{profile_id}", body, key)

    def create_campaign(self, profile_id: str, body: dict[str, Any], key: str) -> str:
        return str(self.calls.call("POST", f"/v3/profiles/{profile_id}/campaigns", body, key)["id"])

    def get_profile(self, profile_id: str) -> dict[str, Any]:
        return dict(self.calls.call("GET", f"/v3/profiles/{profile_id}"))

    def list_campaigns(self, profile_id: str) -> list[dict[str, Any]]:
        return list(self.calls.call("GET", f"/v3/profiles/{profile_id}/campaigns") or [])

    def complete(self, profile_id: str, web_hook_url: str, key: str) -> None:
        path = f"/v3/profiles/{profile_id}/complete"
        self.calls.call("POST", path, {"webHookUrl": web_hook_url}, key)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--api-key", default="sandbox-key")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--completion-poll", type=float, default=0.1)
    args = parser.parse_args()
    calls = SentCalls(args.api_url, args.api_key)
    steps = FloorSteps(calls)
    docs = documents(args.count, "floor")
    print(READY_LINE, flush=True)

    def run(doc: dict[str, Any]) -> str:
        return onboard(steps, doc, uuid.uuid4().hex, args.completion_poll)

    try:
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            statuses = Counter(pool.map(run, docs))
    except SentCallError as exc:
        print(f"floor: onboarding failed: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        calls.close()
    print(DONE_LINE, json.dumps({"statuses": statuses}), flush=True)
    if sum(statuses.values()) != args.count:
        sys.exit(1)


if __name__ == "__main__":
    main()
