"""DBOS Transact on SQLite making the engine's calls: one ``@DBOS.step`` per API call.

Run by ``compare.py`` in its own process (``pip install -e '.[bench]'``). One workflow per
onboarding, keyed by the spec's key, enqueued on a queue running 16 at once on this process; the
wait for the final status uses ``DBOS.sleep`` (durable) between profile reads. Prints ``ready``
once DBOS is launched, then a done line with the final statuses and the enqueue time.
``--migrate-only`` creates the system database and exits (the engine's ``db upgrade``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID

from tcr_path import DONE_LINE, READY_LINE, SentCalls, documents, onboard

QUEUE = "onboarding"
_calls: SentCalls | None = None


def _sent() -> SentCalls:
    assert _calls is not None, "main() sets the client before launching DBOS"
    return _calls


@DBOS.step()
def create_profile(body: dict[str, Any], key: str) -> str:
    return str(_sent().call("POST", "/v3/profiles", body, key)["id"])


@DBOS.step()
def update_profile(profile_id: str, body: dict[str, Any], key: str) -> None:
    _sent().call("PATCH", f"/v3/profiles/{profile_id}", body, key)


@DBOS.step()
def create_campaign(profile_id: str, body: dict[str, Any], key: str) -> str:
    return str(_sent().call("POST", f"/v3/profiles/{profile_id}/campaigns", body, key)["id"])


@DBOS.step()
def get_profile(profile_id: str) -> dict[str, Any]:
    return dict(_sent().call("GET", f"/v3/profiles/{profile_id}"))


@DBOS.step()
def list_campaigns(profile_id: str) -> list[dict[str, Any]]:
    return list(_sent().call("GET", f"/v3/profiles/{profile_id}/campaigns") or [])


@DBOS.step()
def complete(profile_id: str, web_hook_url: str, key: str) -> None:
    path = f"/v3/profiles/{profile_id}/complete"
    _sent().call("POST", path, {"webHookUrl": web_hook_url}, key)


class DbosSteps:
    """:class:`tcr_path.Steps` as DBOS steps, so each call's result is checkpointed."""

    create_profile = staticmethod(create_profile)
    update_profile = staticmethod(update_profile)
    create_campaign = staticmethod(create_campaign)
    get_profile = staticmethod(get_profile)
    list_campaigns = staticmethod(list_campaigns)
    complete = staticmethod(complete)
    sleep = staticmethod(DBOS.sleep)


@DBOS.workflow()
def onboarding(doc: dict[str, Any], poll: float) -> str:
    workflow_id = DBOS.workflow_id
    assert workflow_id is not None
    return onboard(DbosSteps(), doc, workflow_id, poll)


def main() -> None:
    global _calls
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--api-key", default="sandbox-key")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--completion-poll", type=float, default=0.1)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--migrate-only", action="store_true")
    args = parser.parse_args()
    _calls = SentCalls(args.api_url, args.api_key)
    config: DBOSConfig = {
        "name": "onboarding-bench",
        "system_database_url": f"sqlite:///{args.workdir / 'dbos.sqlite'}",
    }
    DBOS(config=config)
    DBOS.launch()
    if args.migrate_only:
        DBOS.destroy()
        return
    # Same claim cadence as the engine's worker (--poll-interval), 16 in flight on this process.
    DBOS.register_queue(
        QUEUE, worker_concurrency=args.concurrency, polling_interval_sec=args.poll_interval
    )
    docs = documents(args.count, "dbos")
    print(READY_LINE, flush=True)
    began = time.monotonic()
    handles = []
    for doc in docs:
        with SetWorkflowID(doc["key"]):
            handles.append(DBOS.enqueue_workflow(QUEUE, onboarding, doc, args.completion_poll))
    enqueue_s = time.monotonic() - began
    try:
        statuses = Counter(handle.get_result() for handle in handles)
        print(DONE_LINE, json.dumps({"statuses": statuses, "enqueue_s": round(enqueue_s, 3)}))
        sys.stdout.flush()
    except Exception as exc:  # DBOS may re-raise a step's error in its own type
        print(f"dbos: onboarding failed: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        DBOS.destroy()
        _calls.close()
    if sum(statuses.values()) != args.count:
        sys.exit(1)


if __name__ == "__main__":
    main()
