"""What an embedding service's own tests need: the engine wired to an in-process Sent.

A :class:`TestBed` is everything an onboarding needs, on a fake clock, with no network and no
API key: a migrated database (a temporary SQLite file unless a URL is given), the sandbox (a
faithful fake of Sent) served on loopback, the completion-callback receiver, a worker and the
management API. Time moves only when the bed runs: :meth:`TestBed.run_until_idle` ticks the
worker and jumps the clock to the next due attempt until every onboarding has finished or
paused, so an hour of retries takes milliseconds::

    from workflow.testing import TestBed

    def test_my_service_onboards_a_profile() -> None:
        with TestBed() as bed:
            onboarding = bed.start(my_service.spec_for(customer))
            bed.run_until_idle()
            assert bed.onboardings.get(onboarding).state == "completed"

``bed.sandbox`` shapes what Sent does (``bed.sandbox.state.organization``, fault injection),
``bed.clock`` is the :class:`~workflow.core.clock.FakeClock` every part reads.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from persistence.db import make_engine
from persistence.migrate import upgrade
from persistence.store import SqlStore
from workflow.adapters.sent_client import HttpxSentApi
from workflow.adapters.serving import ServerThread
from workflow.adapters.vault import FernetVault
from workflow.core.backoff import RetryPolicy
from workflow.core.clock import FakeClock
from workflow.core.spec import OrganizationFacts, parse_spec
from workflow.engine.callbacks import create_callback_app
from workflow.engine.executor import EngineConfig
from workflow.engine.runner import Worker, drive_until_idle
from workflow.management.onboardings import Onboardings
from workflow.sandbox import OrganizationConfig, Sandbox

__all__ = ["FakeClock", "Sandbox", "TestBed", "run_until_idle"]

#: What :func:`run_until_idle` is: the worker ticked on the fake clock until nothing is left.
run_until_idle = drive_until_idle


class TestBed:
    """The engine, the sandbox and the callback receiver on one fake clock (a context manager).

    Args:
        database_url: where the onboardings live; by default a SQLite file in a temporary
            directory, removed when the bed closes.
        start: the fake clock's first moment.
        organization: the sandbox organization's setup (its brand, campaigns, WhatsApp
            account, how long a completion takes); by default completions finish at once.
        retry: the worker's retry policy; by default short waits, so that failures settle in a
            few fake minutes.
    """

    __test__ = False  # a tool for tests, not a test class

    def __init__(
        self,
        database_url: str | None = None,
        *,
        start: datetime | None = None,
        organization: OrganizationConfig | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.clock = FakeClock(start)
        self.vault = FernetVault.generate()
        self._directory = tempfile.TemporaryDirectory(prefix="onboarding-testbed-")
        if database_url is None:
            database_url = f"sqlite:///{Path(self._directory.name) / 'onboarding.db'}"
        engine = make_engine(database_url)
        upgrade(engine)
        self.store = SqlStore(engine)
        self.sandbox = Sandbox()
        self.sandbox.state.organization = organization or OrganizationConfig(
            completion_delay_seconds=0.0
        )
        self._sent = ServerThread(self.sandbox.app).start()
        self._receiver = ServerThread(
            create_callback_app(self.store, self.vault, clock=self.clock)
        ).start()
        self.api = HttpxSentApi(self._sent.url, "sandbox-key", timeout=5.0)
        config = EngineConfig(
            callback_base_url=self._receiver.url,
            poll_interval=2.0,
            completion_timeout=600,
            retry=retry or RetryPolicy(initial=0.5, cap=10, max_attempts=12, max_elapsed=3600),
            organization=OrganizationFacts(whatsapp_has_phone_number=True),
        )
        self.worker = Worker(
            self.store,
            self.api,
            self.vault,
            config=config,
            clock=self.clock,
            rng=random.Random(1),
            concurrency=2,
            lease_seconds=60,
        )
        self.onboardings = Onboardings(self.store, self.vault, clock=self.clock)

    def start(self, spec: Mapping[str, Any] | str | bytes, *, actor: str = "test") -> str:
        """Start one onboarding from a spec (an object, or JSON text); returns its id."""
        raw: Any = spec
        if isinstance(spec, (str, bytes)):
            raw = json.loads(spec)
        parsed = parse_spec(raw, today=self.clock.now().date())
        return self.onboardings.start(parsed, actor=actor).id

    def run_until_idle(self, *, max_ticks: int = 100_000) -> int:
        """Run the worker, moving the fake clock, until every onboarding finished or paused."""
        return drive_until_idle(self.worker, self.clock, max_ticks=max_ticks)

    def sent_profiles(self) -> list[dict[str, Any]]:
        """The profiles the sandbox holds, as Sent would list them."""
        return list(self.sandbox.snapshot()["profiles"])

    def close(self) -> None:
        """Stop the worker and both servers, and release the database."""
        self.worker.close()
        self.api.close()
        self._receiver.stop()
        self._sent.stop()
        self.sandbox.close()
        self.store.engine.dispose()
        self._directory.cleanup()

    def __enter__(self) -> TestBed:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
