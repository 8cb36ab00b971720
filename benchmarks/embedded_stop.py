"""How long an embedded service takes to exit after Ctrl-C (SIGINT), and after an exception.

A service process (the README's worker process: ``Worker(...).run()``, SQLite, the sandbox
served over HTTP by this process with ``--latency-ms`` added to each call) is given
``--onboardings`` onboardings; once the worker holds leases on them (their steps are in flight)
it gets SIGINT, and the time until the process has exited is measured from outside. The same
with the worker idle (nothing to do), and with ``threading.Thread(target=worker.run)`` and an
exception raised in the main thread (the worker is then stopped at interpreter exit). The floor
is the same process without a worker: what Python's own exit takes (unloading SQLAlchemy,
pydantic, httpx ...). Each figure is the median of ``--repeat`` runs, start-up excluded.

    python benchmarks/embedded_stop.py [--latency-ms 200] [--onboardings 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from persistence import SqlStore, upgrade
from workflow import FernetVault, Onboardings, parse_spec
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ServerThread

ROOT = Path(__file__).resolve().parent.parent
SERVICE = """\
import os
import threading

from persistence import SqlStore
from workflow import EngineConfig, FernetVault, HttpxSentApi, Worker


def worker_presence(owner):
    from datetime import UTC, datetime

    from workflow.ports import WorkerPresence

    now = datetime.now(UTC)
    return WorkerPresence(id=owner, host="-", pid=os.getpid(), version="-", started_at=now,
                          last_seen=now, concurrency=1, in_flight=0, heartbeat_seconds=5.0)

url = os.environ["ONBOARDING_DATABASE_URL"]
vault = FernetVault.from_environment(db_url=url)
config = EngineConfig(callback_base_url="http://127.0.0.1:9")
with SqlStore.from_url(url) as store, HttpxSentApi() as api:
    worker = Worker(store, api, vault, config=config, concurrency=16, poll_interval=0.05)
    if os.environ.get("FLOOR"):  # the same process without a worker: Python's own exit
        store.record_worker(worker_presence(worker.owner))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            raise SystemExit(0) from None
    if os.environ.get("FAIL"):
        threading.Thread(target=worker.run).start()
        while not worker.in_flight() and not os.environ.get("IDLE"):
            threading.Event().wait(0.005)
        raise SystemExit("the service failed")
    worker.run()
"""


def one_run(url: str, env: dict[str, str], count: int, fail: bool, floor: bool = False) -> float:
    """Seconds from SIGINT (or the service's exception) to the process's exit."""
    store = SqlStore.from_url(url)
    vault = FernetVault.from_environment(db_url=url)
    onboardings = Onboardings(store, vault)
    stamp = time.time_ns()
    for n in range(count):
        raw = {
            "key": f"stop-{stamp}-{n}",
            "profile": {"name": "Support", "short_name": "Support",
                        "description": "Customer support", "billing_model": "organization"},
        }  # fmt: skip
        onboardings.start(parse_spec(raw, today=time_today()))
    script = Path(env["WORKDIR"]) / "service.py"
    process = subprocess.Popen(
        [sys.executable, str(script)],
        env={**env, **({"FAIL": "1"} if fail else {}), **({"FLOOR": "1"} if floor else {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        leased = _leased_count(store)
        if (count and leased) or (not count and _worker_row(store)):
            break
        if fail and process.poll() is not None:
            break
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the service never started its work")
        time.sleep(0.005)
    started = time.perf_counter()
    if not fail:
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    took = time.perf_counter() - started
    if "cannot schedule" in err or "can't register atexit" in err:
        raise SystemExit(f"shutdown printed a traceback:\n{err}")
    with store.engine.begin() as connection:  # the floor's row says nothing
        connection.exec_driver_sql("DELETE FROM workers WHERE stopped_at IS NULL")
    store.close()
    return took


def _leased_count(store: SqlStore) -> int:
    with store.engine.connect() as connection:
        return int(
            connection.exec_driver_sql(
                "SELECT count(*) FROM onboardings WHERE lease_owner IS NOT NULL"
            ).scalar_one()
        )


def _worker_row(store: SqlStore) -> bool:
    with store.engine.connect() as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT count(*) FROM workers WHERE stopped_at IS NULL"
            ).scalar_one()
        )


def time_today():  # type: ignore[no-untyped-def]
    from datetime import date

    return date.today()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--onboardings", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sandbox = Sandbox(
        OrganizationConfig(completion_delay_seconds=3600),
        FaultConfig(latency_ms=args.latency_ms),
    )
    with tempfile.TemporaryDirectory(prefix="stop-") as tmp, ServerThread(sandbox.app) as sent:
        url = f"sqlite:///{Path(tmp) / 'service.db'}"
        with SqlStore.from_url(url) as store:
            upgrade(store.engine)
        FernetVault.from_environment(db_url=url)  # the key file, made once
        (Path(tmp) / "service.py").write_text(SERVICE)
        env = {
            **os.environ, "ONBOARDING_DATABASE_URL": url, "SENT_BASE_URL": sent.url,
            "SENT_DM_API_KEY": "sandbox-key", "WORKDIR": tmp, "PYTHONPATH": str(ROOT),
        }  # fmt: skip
        env.pop("ONBOARDING_SECRET_KEY", None)
        floor = [one_run(url, env, 0, False, floor=True) for _ in range(args.repeat)]
        print(f"sandbox latency {args.latency_ms:g} ms per call; median of {args.repeat} runs")
        floor_ms = statistics.median(floor) * 1000
        print(f"  floor: the same process without a worker exits {floor_ms:.0f} ms after Ctrl-C")
        cases = [
            ("Ctrl-C, worker idle", 0, False),
            (f"Ctrl-C, {args.onboardings} steps in flight", args.onboardings, False),
            (f"exception, {args.onboardings} steps in flight (Thread(target=run))",
             args.onboardings, True),
        ]  # fmt: skip
        for label, count, fail in cases:
            times = [one_run(url, env, count, fail) for _ in range(args.repeat)]
            print(f"  {label}: {statistics.median(times) * 1000:.0f} ms to exit "
                  f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")  # fmt: skip
    sandbox.close()


if __name__ == "__main__":
    main()
