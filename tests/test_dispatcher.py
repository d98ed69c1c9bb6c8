"""The dispatcher performs each outbox row once, defers without burning attempts, and
never lets a broken sink stop the worker."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from bot.dispatcher import Dispatcher
from bot.errors import SourceUnavailable
from bot.store import Store
from bot.store import outbox as outbox_store
from connectors.base import SinkAction, SinkResult


class ScriptedSink:
    """A sink that answers what the test tells it to, and records what it was given."""

    name = "crm"

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []

    def perform(self, actions: list[SinkAction]) -> list[SinkResult]:
        self.calls.append([a.idempotency_key for a in actions])
        if isinstance(self.answer, Exception):
            raise self.answer
        return [SinkResult(a.outbox_id, self.answer, {"retry_after": 1}) for a in actions]

    def close(self) -> None:
        pass


def _enqueue(store: Store, n: int = 1) -> None:
    with store.begin() as conn:
        for i in range(n):
            outbox_store.enqueue(
                conn,
                idempotency_key=f"CB-1/k{i}",
                sink="crm",
                action="add_note",
                payload={"text": "x"},
                case_id=None,
            )


def _make_due(store: Store) -> None:
    from sqlalchemy import update

    from bot.store.schema import outbox

    with store.begin() as conn:
        conn.execute(update(outbox).values(available_at=outbox_store.utcnow()))


def test_a_done_row_is_never_performed_again(store: Store) -> None:
    _enqueue(store, 3)
    sink = ScriptedSink("done")
    dispatcher = Dispatcher(store, {"crm": sink}, "me")
    assert dispatcher.run_once() == 3
    assert dispatcher.run_once() == 0
    assert len(sink.calls) == 1
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"done": 3}


def test_deferrals_do_not_use_up_attempts(store: Store) -> None:
    _enqueue(store)
    dispatcher = Dispatcher(store, {"crm": ScriptedSink("retry")}, "me")
    for _ in range(outbox_store.MAX_ATTEMPTS + 3):
        dispatcher.run_once()
        _make_due(store)
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"pending": 1}


def test_repeated_failures_end_dead_logged_and_can_be_requeued(store: Store) -> None:
    _enqueue(store)
    dispatcher = Dispatcher(store, {"crm": ScriptedSink(SourceUnavailable("CRM down"))}, "me")
    with capture_logs() as logs:
        for _ in range(outbox_store.MAX_ATTEMPTS):
            dispatcher.run_once()
            _make_due(store)
    events = [e["event"] for e in logs]
    assert events.count("sink_outage") == 1 and events.count("action_dead") == 1
    with store.begin() as conn:
        assert outbox_store.counts(conn) == {"dead": 1}
        assert outbox_store.dead_rows(conn)[0]["last_error"].endswith("CRM down")
        assert outbox_store.requeue_dead(conn) == 1
        assert outbox_store.counts(conn) == {"pending": 1}


def test_a_bug_in_a_sink_puts_the_rows_back_instead_of_crashing(store: Store) -> None:
    _enqueue(store)
    dispatcher = Dispatcher(store, {"crm": ScriptedSink(KeyError("fields"))}, "me")
    assert dispatcher.run_once() == 0
    with store.connect() as conn:
        assert outbox_store.counts(conn) == {"pending": 1}


def test_a_claim_taken_over_by_another_replica_is_not_overwritten(store: Store) -> None:
    _enqueue(store)
    with store.begin() as conn:
        (mine,) = outbox_store.claim(conn, "replica-a", lease_seconds=-1)  # already expired
    with store.begin() as conn:
        (theirs,) = outbox_store.claim(conn, "replica-b")
        assert outbox_store.finish(conn, theirs, "done", {})
    with store.begin() as conn:
        assert not outbox_store.finish(conn, mine, "skipped", {})
        assert outbox_store.retry_later(conn, mine, "late", 10) is None
        assert outbox_store.counts(conn) == {"done": 1}
