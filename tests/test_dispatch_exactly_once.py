"""Acknowledgements reach the customer exactly once through kills, store and SMTP outages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from structlog.testing import capture_logs

from bot.dispatcher import Dispatcher
from bot.settings import DispatchSettings
from bot.store import Store
from bot.store import outbox as outbox_store
from bot.store.schema import outbox
from connectors.base import SinkAction, SinkResult
from connectors.smtp import SmtpSettings, SmtpSink
from tests.helpers.dispatch_run import run_with_kills
from tests.helpers.outage import StoreOutage, store_outage
from tests.servers.smtp import PASSWORD, USERNAME, SmtpServer, running_smtp


@pytest.mark.slow
def test_kill_9_during_dispatch_repeats_at_most_the_message_in_flight(tmp_path: Path) -> None:
    kills = 5
    with running_smtp() as server:
        figures = run_with_kills(tmp_path, server, messages=150, kills=kills, seed=8)
    print(figures.line())
    assert figures.kills >= 3, "most kills must land while the worker runs"
    assert figures.acks == 150
    assert figures.lost == 0 and figures.dead == 0
    assert figures.unique == 150
    assert figures.duplicates <= figures.kills


def _smtp(port: int, password: str = PASSWORD) -> SmtpSink:
    settings = SmtpSettings.model_validate(
        {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "security": "plain",
            "username": USERNAME,
            "password": password,
            "from_address": "support@acme-energie.fr",
            "timeout_seconds": 5,
            "max_per_minute": 100_000,
        }
    )
    return SmtpSink("mail", settings)


def _plan_acks(store: Store, n: int) -> None:
    with store.begin() as conn:
        for i in range(n):
            outbox_store.enqueue(
                conn,
                idempotency_key=f"CB-{i}:acknowledge_new_request:r{i}",
                sink="mail",
                action="send_reply",
                payload={
                    "to": f"client{i}@example.fr",
                    "subject": f"Nous avons bien reçu votre demande CB-{i}",
                    "body": "Bonjour,\n\nVotre demande est enregistrée.\n",
                    "language": "fr",
                    "case_reference": f"CB-{i}",
                },
                case_id=None,
            )


def _make_due(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(update(outbox).values(available_at=outbox_store.utcnow()))


def _message_ids(server: SmtpServer) -> Counter[str]:
    return Counter(m.message()["Message-ID"] for m in server.messages)


FAST = DispatchSettings(retry_base_seconds=0.001, outage_max_seconds=0.001)


def test_an_smtp_outage_of_many_claims_then_recovery_delivers_all_none_dead(
    store: Store,
) -> None:
    _plan_acks(store, 5)
    server = SmtpServer()  # its port is known, it does not listen yet: connection refused
    dispatcher = Dispatcher(store, {"mail": _smtp(server.port)}, "me", FAST)
    with capture_logs() as logs:
        for _ in range(outbox_store.MAX_ATTEMPTS * 2):
            dispatcher.run_once()
            _make_due(store)
        server.start()
        try:
            assert dispatcher.run_once() == 5
        finally:
            server.stop()
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"done": 5}
    assert sorted(_message_ids(server).values()) == [1] * 5
    events = [e["event"] for e in logs]
    assert events.count("sink_outage") == 1 and events.count("sink_recovered") == 1


def test_a_401_during_an_smtp_outage_is_logged(store: Store) -> None:
    _plan_acks(store, 1)
    server = SmtpServer()
    dispatcher = Dispatcher(store, {"mail": _smtp(server.port, "wrong")}, "me", FAST)
    with capture_logs() as logs:
        dispatcher.run_once()  # refused
        _make_due(store)
        dispatcher.run_once()  # still refused: not logged again
        _make_due(store)
        server.start()
        try:
            dispatcher.run_once()  # up, but our password is refused
        finally:
            server.stop()
    outages = [e for e in logs if e["event"] == "sink_outage"]
    assert [e["kind"] for e in outages] == ["RetriableError", "AuthError"]
    assert "refused the credentials" in outages[1]["error"]
    assert "wrong" not in str(logs)
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"pending": 1}


class _StoreBreaksAfterFirstSend:
    """The real SMTP sink; the store goes away between the first 250 and its mark-done."""

    name = "mail"

    def __init__(self, sink: SmtpSink, outage: StoreOutage) -> None:
        self.sink, self.outage, self.broken = sink, outage, False

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        for result in self.sink.perform(actions):
            if not self.broken:
                self.broken = True
                self.outage.start()
            yield result

    def check(self) -> str:
        return self.sink.check()

    def close(self) -> None:
        self.sink.close()


def test_a_store_outage_between_send_and_mark_done_does_not_resend(
    store: Store, store_url: str
) -> None:
    _plan_acks(store, 4)
    outage = store_outage(store, store_url)
    with running_smtp() as server:
        sink = _StoreBreaksAfterFirstSend(_smtp(server.port), outage)
        dispatcher = Dispatcher(store, {"mail": sink}, "me", sleep=lambda _s: None)
        try:
            dispatcher.run_once()
            dispatcher.run_once()  # the store is still away
        finally:
            outage.stop()
        dispatcher.run_once()
        dispatcher.run_once()
        ids = _message_ids(server)
    assert sorted(ids.values()) == [1] * 4
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"done": 4}
