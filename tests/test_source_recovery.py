"""A CRM source recovers from an outage: after the worker closed it, the next poll reopens it.

Issue 8: the worker closes a source after any error, which closed the shared HTTP client for
good; every later poll failed with "the client has been closed" until a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import rules_provider
from bot.pipeline import Pipeline
from bot.stages import DEFAULT_STAGES
from bot.store import Store, open_store
from bot.store.schema import outbox
from bot.worker import Worker
from connectors.base import Sink, Source
from connectors.kit.clock import FakeClock
from tests.helpers.clocks import RealTimeFakeClock
from tests.helpers.runtime import make_settings
from tests.servers.rt import FaultProxy, RtServer, rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here


class StepClock:
    """The worker's clock: real time plus what the test skipped (past any backoff)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.skipped)

    def advance(self, seconds: float) -> None:
        self.skipped += seconds


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A migrated SQLite store and its URL."""
    url = f"sqlite:///{tmp_path / 'crmbot.db'}"
    store = open_store(url)
    try:
        yield store, url
    finally:
        store.dispose()


def _worker(store: Store, url: str, source: Source, sink: Sink, conf: dict[str, Any]) -> Worker:
    settings = make_settings(
        url, {"crm": {**conf, "write_back": "crm_out"}}, sinks={"crm_out": conf}
    )
    model = type(source.settings)  # type: ignore[attr-defined]
    return Worker(
        settings,
        store,
        {"crm": (source, model(**{**conf, "write_back": "crm_out"}))},
        Pipeline(DEFAULT_STAGES),
        sinks={"crm_out": sink},
        rules=rules_provider(settings),
        clock=StepClock(),
    )


AFTER = (
    "Coupure de courant dans notre entrepôt, la production est arrêtée",
    "Je souhaite résilier mon contrat au 31 décembre",
    "Where is my refund for invoice 2291? Still nothing on my account",
)


def _written_back(store: Store) -> dict[str, set[str]]:
    """Outbox rows of the write-back sink: target id -> states."""
    out: dict[str, set[str]] = {}
    with store.connect() as conn:
        for payload, state in conn.execute(
            select(outbox.c.payload, outbox.c.state).where(outbox.c.sink == "crm_out")
        ):
            target = str((payload.get("target") or {}).get("id"))
            out.setdefault(target, set()).add(state)
    return out


def _outage_then_recovery(
    worker: Worker,
    store: Store,
    create: Callable[[str], str],
    fail: Callable[[], None],
    clear: Callable[[], None],
    settle: Callable[[], None] = lambda: None,
) -> list[str]:
    """One ticket, an outage of the source, then tickets after it; returns those ids.

    Each ticket has its own subject and body (dedup would attach the same text to one case).
    """
    worker.run_once()
    create("Avant la panne: facture 100 euros fausse")
    settle()
    assert worker.run_once() == 1
    fail()
    settle()
    worker.poll_source("crm")  # the source fails and the worker closes it
    assert worker.sources["crm"].health.failing_since is not None
    clear()
    after = [create(f"{topic}") for topic in AFTER]
    settle()
    worker.clock.advance(3600)  # type: ignore[attr-defined]
    worker.run_once()
    assert worker.sources["crm"].health.failing_since is None, worker.sources["crm"].health
    worker.housekeeping()
    written = _written_back(store)
    for ticket in after:
        assert ticket in written, f"ticket {ticket} was not written back: {written}"
        assert written[ticket] <= {"done", "skipped"}, written[ticket]
    return after


def test_a_hubspot_source_reads_and_writes_back_every_ticket_after_an_outage(
    sqlite_store: tuple[Store, str],
) -> None:
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.settings import HubSpotSettings
    from connectors.hubspot.setup import ensure_properties
    from connectors.hubspot.sink import HubSpotSink
    from connectors.hubspot.source import HubSpotSource
    from tests.fakes.hubspot import FakeHubSpot, settings_for

    store, url = sqlite_store
    clock = RealTimeFakeClock()
    with FakeHubSpot(search_lag=0.0) as fake:
        ensure_properties(HubSpotApi("crm", settings_for(fake)))
        conf = {
            "type": "hubspot",
            "base_url": fake.url,
            "token": fake.token,
            "search_lag_seconds": 0,
        }
        settings = HubSpotSettings(**conf)
        source = HubSpotSource("crm", settings, clock=clock)
        sink = HubSpotSink("crm_out", settings, clock=clock)
        worker = _worker(store, url, source, sink, conf)
        contact = fake.create_contact("claire@client.example", "Claire", "Durand")
        after = _outage_then_recovery(
            worker,
            store,
            lambda subject: fake.create_ticket(subject, subject + ".", contact_id=contact),
            lambda: fake.fail_with_status(503, 1000),
            fake.clear_faults,
        )
        for ticket in after:
            assert (fake.ticket(ticket)["crmbot_case_reference"] or "").startswith("CB-")


def test_a_zendesk_source_reads_and_writes_back_every_ticket_after_an_outage(
    sqlite_store: tuple[Store, str],
) -> None:
    from connectors.zendesk.settings import ZendeskSettings
    from connectors.zendesk.sink import ZendeskSink
    from connectors.zendesk.source import ZendeskSource
    from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk

    store, url = sqlite_store
    clock = FakeClock(start=time.time())
    with FakeZendesk(clock=clock) as fake:
        conf = {
            "type": "zendesk",
            "base_url": fake.url,
            "email": EMAIL,
            "api_token": TOKEN,
            "requests_per_minute": 700,
            "export_requests_per_minute": 30,
            "job_poll_interval_seconds": 0.01,
        }
        settings = ZendeskSettings(**conf)
        source = ZendeskSource("crm", settings, clock=clock)
        sink = ZendeskSink("crm_out", settings, clock=clock)
        worker = _worker(store, url, source, sink, conf)
        user = fake.add_user("Carla Client", "carla@example.com")

        def create(subject: str) -> str:
            clock.advance(2)
            return str(fake.add_ticket(subject, subject + ".", requester_id=user["id"])["id"])

        def settle() -> None:
            clock.advance(120)  # past the export's hold-back and rate limit

        after = _outage_then_recovery(
            worker, store, create, lambda: fake.fail_next(503, 1000), fake.clear_faults, settle
        )
        for ticket in after:
            assert fake.ticket(int(ticket))["priority"] is not None


def test_an_rt_source_reads_and_writes_back_every_ticket_after_an_outage(
    sqlite_store: tuple[Store, str], rt_server: RtServer
) -> None:
    from connectors.rt.settings import RtSettings
    from connectors.rt.sink import RtSink
    from connectors.rt.source import RtSource

    store, url = sqlite_store
    clock = RealTimeFakeClock()
    with FaultProxy(rt_server.url, clock=clock) as proxy:
        conf = {
            "type": "rt",
            "url": proxy.url,
            "username": rt_server.username,
            "password": rt_server.password,
        }
        settings = RtSettings(**conf)
        source = RtSource("crm", settings, clock=clock)
        sink = RtSink("crm_out", settings, clock=clock)
        worker = _worker(store, url, source, sink, conf)
        # Only tickets changed from now on: the shared RT holds other tests' tickets.
        with store.begin() as conn:
            from bot.store.cursors import save_cursor

            stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
            save_cursor(conn, "crm", {"last_updated": stamp, "id": 0})

        def settle() -> None:  # RT's LastUpdated is per second; the current one is held back
            time.sleep(2.05 - (time.time() % 1))

        after = _outage_then_recovery(
            worker,
            store,
            lambda subject: str(
                rt_server.create_ticket(subject, "rita@example.com", subject + ".")
            ),
            lambda: proxy.fail_next(503, 1000),
            proxy.clear,
            settle,
        )
        for ticket in after:  # crmbot's priority (P1..P4 as RT numbers) replaced RT's default 0
            assert int(rt_server.ticket(int(ticket))["Priority"]) > 0
