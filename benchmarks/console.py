"""The console at 100,000 onboardings: server time and size of its pages, and a bulk action
over 10,000 with its progress.

python benchmarks/console.py [--db URL] [--count 100000] [--runs 7]

Without ``--db`` a SQLite file is made in a temporary directory and filled with
``benchmarks/populate.py`` (10 % paused with COMPLETION_TIMEOUT). The console is served by
uvicorn on loopback in this process, an operator signs in, and each page is fetched ``--runs``
times: the server time is the app's own ``Server-Timing`` (request in to first byte: guards,
queries, template), the first (for the overview: counted then, cached for 10 s after), the best
and the median; the size is the body's. Then a bulk resume of
every COMPLETION_TIMEOUT pause is started from the console with the count typed, and its batch
page is polled every 0.5 s for the progress until it is done.

The bulk run changes the database: give ``--db`` a database whose timeouts are still paused.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from persistence.console_access import ConsoleAccess
from persistence.db import make_engine, safe_url
from persistence.migrate import upgrade
from persistence.store import SqlStore
from populate import populate
from workflow.adapters.serving import ServerThread
from workflow.adapters.vault import FernetVault
from workflow.console import ConsoleSettings, create_console_app
from workflow.console.access import hash_password
from workflow.core.clock import SystemClock

PASSWORD = "benchmark password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    reply = client.post(
        "/login",
        data={"user": "bench", "password": PASSWORD, "csrf": token.group(1), "next": "/workers"},
    )
    assert reply.status_code == 200, reply.text[:300]
    assert "<h1>Workers</h1>" in reply.text  # not the overview: its first count is timed


def _time(client: httpx.Client, path: str, runs: int) -> tuple[float, float, float, int]:
    timings, size = [], 0
    for _ in range(runs):
        reply = client.get(path)
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
        timings.append(float(reply.headers["server-timing"].split("dur=")[1]))
        size = len(reply.content)
    return timings[0], min(timings), statistics.median(timings), size


def _pages(client: httpx.Client) -> dict[str, str]:
    first = client.get("/onboardings")
    middle = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert middle is not None
    one = re.search(r'href="(/onboardings/[0-9a-f]{32})"', first.text)
    assert one is not None
    return {
        "overview": "/",
        "onboardings (50 rows)": "/onboardings",
        "onboardings, next page": middle.group(1).replace("&amp;", "&"),
        "onboardings, state+code filter": (
            "/onboardings?state=needs_attention&code=COMPLETION_TIMEOUT"
        ),
        "onboardings, key prefix": "/onboardings?key_prefix=load-0500",
        "stuck (ten a group)": "/stuck",
        "one onboarding": one.group(1),
        "search (request id miss)": "/search?q=req_nothing",
    }


def _bulk(client: httpx.Client) -> None:
    query = "action=resume&state=needs_attention&code=COMPLETION_TIMEOUT"
    started = time.perf_counter()
    dry = client.get(f"/bulk?{query}")
    count = re.search(r'id="dry-count"><strong>(\d+)</strong>', dry.text)
    assert count is not None, dry.text[-500:]
    print(f"bulk dry run: {count.group(1)} selected in {time.perf_counter() - started:.2f} s")
    token = CSRF.search(dry.text)
    assert token is not None
    form = {
        "csrf": token.group(1), "action": "resume", "state": "needs_attention",
        "code": "COMPLETION_TIMEOUT", "reason": "benchmark", "confirm_count": count.group(1),
    }  # fmt: skip
    started = time.perf_counter()
    reply = client.post("/bulk", data=form, follow_redirects=False)
    batch = reply.headers["location"]
    progress: list[str] = []
    while True:
        page = client.get(batch).text
        done = re.search(r'id="progress" role="status">(\d+) of (\S+) written; (\w+)', page)
        assert done is not None, page[-800:]
        progress.append(f"{time.perf_counter() - started:.1f}s:{done.group(1)}")
        if done.group(3) == "done":
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    applied = re.search(r'id="applied">Changed: (\d+)\. Skipped: (\d+)', page)
    assert applied is not None, page[-800:]
    print(
        f"bulk resume: changed {applied.group(1)}, skipped {applied.group(2)} in {elapsed:.1f} s "
        f"({elapsed / max(1, int(applied.group(1))) * 1000:.2f} ms each)"
    )
    print("  progress (time:rows written): " + " ".join(progress[:: max(1, len(progress) // 12)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a new SQLite file, populated)")
    parser.add_argument("--count", type=int, default=100_000, help="onboardings to populate")
    parser.add_argument("--runs", type=int, default=7, help="fetches of each page")
    parser.add_argument("--no-bulk", action="store_true", help="time the pages only")
    args = parser.parse_args()
    workdir = tempfile.TemporaryDirectory(prefix="console-bench-")
    url = args.db or f"sqlite:///{Path(workdir.name) / 'console.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    if not store.list_onboardings(limit=1):
        started = time.perf_counter()
        written = populate(url, args.count)
        print(
            f"populated {safe_url(url)}: {written['onboardings']} onboardings in "
            f"{time.perf_counter() - started:.1f} s"
        )
    access = ConsoleAccess(engine)
    access.remove_user("bench")
    access.add_user("bench", hash_password(PASSWORD), "operator", SystemClock().now())
    settings = ConsoleSettings(session_secret=b"b" * 32, secure_cookies=False,
                               bulk_confirm_above=100)  # fmt: skip
    vault = FernetVault.from_environment(db_url=url)
    app: Any = create_console_app(store, vault, database_url=url, settings=settings)
    with (
        ServerThread(app) as server,
        httpx.Client(base_url=server.url, timeout=120, follow_redirects=True) as client,
    ):
        _sign_in(client)
        print(f"{'page':34} {'first ms':>9} {'best ms':>8} {'median ms':>10} {'KiB':>7}")
        for name, path in _pages(client).items():
            first, best, median, size = _time(client, path, args.runs)
            print(f"{name:34} {first:9.1f} {best:8.1f} {median:10.1f} {size / 1024:7.1f}")
        if not args.no_bulk:
            _bulk(client)
    engine.dispose()
    workdir.cleanup()


if __name__ == "__main__":
    main()
