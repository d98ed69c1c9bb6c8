"""The dispatcher performs each outbox row once, records each result as it comes, defers
outages without burning attempts, and never lets a broken sink stop the worker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from structlog.testing import capture_logs

from bot.dispatcher import Dispatcher
from bot.errors import AuthError, SourceUnavailable
from bot.settings import DispatchSettings
from bot.store import Store
from bot.store import outbox as outbox_store
from bot.store.schema import outbox
from connectors.base import SinkAction, SinkResult, in_action_order, new_results
from tests.helpers.outage import store_outage


class ScriptedSink:
    """A sink that answers what the test tells it to, and records what it was given."""

    name = "crm"

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []

    def perform(self, actions: list[SinkAction]) -> list[SinkResult]:
        self.calls.append([a.idempotency_key for a in actions])
        answer = self.answer() if callable(self.answer) else self.answer
        if isinstance(answer, Exception):
            raise answer
        return [SinkResult(a.outbox_id, answer, {"retry_after": 1}) for a in actions]

    def check(self) -> str:
        return "scripted"

    def close(self) -> None:
        pass


class YieldingSink:
    """A sink that yields one result per action and runs `between` before each next one."""

    name = "crm"

    def __init__(self, between: Callable[[SinkResult], None] = lambda _r: None) -> None:
        self.between = between
        self.performed: list[str] = []

    def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
        for action in actions:
            self.performed.append(action.idempotency_key)
            result = SinkResult(action.outbox_id, "done", {"n": len(self.performed)})
            yield result
            self.between(result)

    def check(self) -> str:
        return "yielding"

    def close(self) -> None:
        pass


FAST = DispatchSettings(retry_base_seconds=0.001, outage_max_seconds=0.001)


def _enqueue(store: Store, n: int = 1, sink: str = "crm") -> None:
    with store.begin() as conn:
        for i in range(n):
            outbox_store.enqueue(
                conn,
                idempotency_key=f"CB-1/{sink}/k{i}",
                sink=sink,
                action="add_note",
                payload={"text": "x"},
                case_id=None,
            )


def _make_due(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(update(outbox).values(available_at=outbox_store.utcnow()))


def _rows(store: Store) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(outbox).order_by(outbox.c.id))]


def _counts(store: Store) -> dict[str, int]:
    with store.connect() as conn:
        return outbox_store.counts(conn)


def test_a_done_row_is_never_performed_again(store: Store) -> None:
    _enqueue(store, 3)
    sink = ScriptedSink("done")
    dispatcher = Dispatcher(store, {"crm": sink}, "me")
    assert dispatcher.run_once() == 3
    assert dispatcher.run_once() == 0
    assert len(sink.calls) == 1
    assert _counts(store) == {"done": 3}


def test_each_row_is_marked_done_as_soon_as_the_sink_yields_it(store: Store) -> None:
    _enqueue(store, 3)
    seen: list[dict[str, int]] = []
    sink = YieldingSink(lambda _result: seen.append(_counts(store)))
    assert Dispatcher(store, {"crm": sink}, "me").run_once() == 3
    assert seen == [{"done": 1, "claimed": 2}, {"done": 2, "claimed": 1}, {"done": 3}]


def test_results_a_sink_reports_together_are_written_in_one_transaction(store: Store) -> None:
    _enqueue(store, 4)
    seen: list[dict[str, int]] = []
    transactions: list[str] = []

    class CountingStore:
        def begin(self) -> Any:
            transactions.append("begin")
            return store.begin()

    class BatchSink(YieldingSink):
        """One batch call answers for three actions; the fourth needs another call."""

        def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
            for n, action in enumerate(actions[:3], 1):
                yield SinkResult(action.outbox_id, "done", {}, more_ready=n < 3)
            seen.append(_counts(store))  # the next call to the CRM
            transactions.append("call")
            yield SinkResult(actions[3].outbox_id, "done", {})

    dispatcher = Dispatcher(CountingStore(), {"crm": BatchSink()}, "me")  # type: ignore[arg-type]
    assert dispatcher.run_once() == 4
    assert seen == [{"done": 3, "claimed": 1}]  # written before the next call
    # claim, one write for the three, the call, one write for the fourth
    assert transactions[-4:] == ["begin", "begin", "call", "begin"]


def test_results_of_one_phase_are_marked_ready_together_but_the_last() -> None:
    results = {n: SinkResult(n, "done", {}) for n in (3, 1, 2)}
    handed: set[int] = set()
    assert [r.more_ready for r in new_results(results, handed)] == [True, True, False]
    actions = [SinkAction(n, f"k{n}", "add_note", {}, {}) for n in (1, 2, 3)]
    reordered = in_action_order(actions, iter([results[2], results[1], results[3]]))
    # 2 waits for 1; then 1 and 2 go together, and 3 alone
    assert [(r.outbox_id, r.more_ready) for r in reordered] == [(1, True), (2, False), (3, False)]


def test_a_crash_in_the_middle_of_a_batch_keeps_what_was_performed_done(store: Store) -> None:
    _enqueue(store, 3)

    def crash(result: SinkResult) -> None:
        if result.detail["n"] == 2:
            raise SystemExit("kill -9")  # nothing after this line runs, as after a kill

    with pytest.raises(SystemExit):
        Dispatcher(store, {"crm": YieldingSink(crash)}, "me").run_once()
    assert [r["state"] for r in _rows(store)] == ["done", "done", "claimed"]


def test_claims_are_small_batches_of_one_sink_at_a_time(store: Store) -> None:
    _enqueue(store, 45, sink="crm")
    _enqueue(store, 5, sink="mail")
    crm, mail = ScriptedSink("done"), ScriptedSink("done")
    settings = DispatchSettings(batch_size=20)
    dispatcher = Dispatcher(store, {"crm": crm, "mail": mail}, "me", settings)
    assert dispatcher.run_once() == 50
    assert [len(c) for c in crm.calls] == [20, 20, 5]
    assert [len(c) for c in mail.calls] == [5]
    assert all("/crm/" in key for call in crm.calls for key in call)


def test_a_sink_outage_longer_than_max_attempts_claims_never_kills_rows(store: Store) -> None:
    _enqueue(store)
    state = {"down": True}
    sink = ScriptedSink(lambda: SourceUnavailable("CRM down") if state["down"] else "done")
    dispatcher = Dispatcher(store, {"crm": sink}, "me", FAST)
    for _ in range(outbox_store.MAX_ATTEMPTS * 3):
        dispatcher.run_once()
        _make_due(store)
    assert len(sink.calls) == outbox_store.MAX_ATTEMPTS * 3
    [row] = _rows(store)
    assert row["state"] == "pending" and row["attempts"] == 0
    state["down"] = False
    assert dispatcher.run_once() == 1
    assert _counts(store) == {"done": 1}


def test_an_outage_uses_the_retry_after_the_error_carries(store: Store) -> None:
    _enqueue(store)
    sink = ScriptedSink(SourceUnavailable("429", retry_after=120))
    Dispatcher(store, {"crm": sink}, "me", FAST).run_once()
    [row] = _rows(store)
    wait = (row["available_at"] - row["updated_at"]).total_seconds()
    assert 119 <= wait <= 121


def test_outage_logged_once_again_when_its_kind_changes_and_recovery_once(store: Store) -> None:
    _enqueue(store)
    answers = iter([SourceUnavailable("refused")] * 3 + [AuthError("401")] * 3 + ["done"])
    sink = ScriptedSink(lambda: next(answers))
    dispatcher = Dispatcher(store, {"crm": sink}, "me", FAST)
    with capture_logs() as logs:
        for _ in range(7):
            dispatcher.run_once()
            _make_due(store)
    outages = [e for e in logs if e["event"] == "sink_outage"]
    assert [e["kind"] for e in outages] == ["SourceUnavailable", "AuthError"]
    assert "401" in outages[1]["error"]
    assert [e["event"] for e in logs].count("sink_recovered") == 1
    assert _counts(store) == {"done": 1}


def test_only_real_failed_attempts_end_dead_logged_and_can_be_requeued(store: Store) -> None:
    _enqueue(store)
    dispatcher = Dispatcher(store, {"crm": ScriptedSink("failed")}, "me", FAST)
    with capture_logs() as logs:
        for _ in range(FAST.max_attempts):
            dispatcher.run_once()
            _make_due(store)
    events = [e["event"] for e in logs]
    assert events.count("action_dead") == 1
    with store.begin() as conn:
        assert outbox_store.counts(conn) == {"dead": 1}
        assert outbox_store.requeue_dead(conn) == 1
        assert outbox_store.counts(conn) == {"pending": 1}


def test_deferrals_do_not_use_up_attempts(store: Store) -> None:
    _enqueue(store)
    dispatcher = Dispatcher(store, {"crm": ScriptedSink("retry")}, "me", FAST)
    for _ in range(outbox_store.MAX_ATTEMPTS + 3):
        dispatcher.run_once()
        _make_due(store)
    assert _counts(store) == {"pending": 1}


def test_a_bug_in_a_sink_puts_the_rows_back_instead_of_crashing(store: Store) -> None:
    _enqueue(store)
    dispatcher = Dispatcher(store, {"crm": ScriptedSink(KeyError("fields"))}, "me")
    assert dispatcher.run_once() == 0
    [row] = _rows(store)
    assert row["state"] == "pending" and row["attempts"] == 1


def test_rows_for_a_sink_that_is_not_configured_are_put_back_and_logged(store: Store) -> None:
    _enqueue(store, 2, sink="gone")
    with capture_logs() as logs:
        Dispatcher(store, {"crm": ScriptedSink("done")}, "me").run_once()
    assert [e["actions"] for e in logs if e["event"] == "sink_missing"] == [2]
    assert {(r["state"], r["attempts"]) for r in _rows(store)} == {("pending", 0)}


def test_the_heartbeat_keeps_a_short_lease_alive_while_a_slow_batch_runs(store: Store) -> None:
    _enqueue(store, 2)
    short = DispatchSettings(lease_seconds=0.6)
    taken: list[int] = []
    left: list[float] = []

    def other_replica_tries(_result: SinkResult) -> None:
        time.sleep(1.5)  # longer than the lease: only the heartbeat keeps the claim
        with store.begin() as conn:
            taken.extend(r["id"] for r in outbox_store.claim(conn, "replica-b"))
        [claimed] = [r for r in _rows(store) if r["state"] == "claimed"]
        left.append((claimed["claimed_until"] - outbox_store.utcnow()).total_seconds())

    sink = YieldingSink(other_replica_tries)
    assert Dispatcher(store, {"crm": sink}, "replica-a", short).run_once() == 2
    assert taken == []
    assert 0 < left[0] <= 0.6  # a short lease, renewed


def test_the_rows_of_a_killed_holder_come_back_after_the_short_lease(store: Store) -> None:
    _enqueue(store, 3)

    def killed(_result: SinkResult) -> None:
        raise SystemExit("kill -9")

    with pytest.raises(SystemExit):
        Dispatcher(
            store, {"crm": YieldingSink(killed)}, "killed", DispatchSettings(lease_seconds=0.5)
        ).run_once()
    sink = ScriptedSink("done")
    dispatcher = Dispatcher(store, {"crm": sink}, "me")
    assert dispatcher.run_once() == 0
    time.sleep(0.7)
    assert dispatcher.run_once() == 2
    assert _counts(store) == {"done": 3}


def test_a_store_outage_after_a_send_does_not_send_again(store: Store, store_url: str) -> None:
    _enqueue(store, 3)
    outage = store_outage(store, store_url)

    # the store goes down between the first effect and its mark-done
    class BreaksBeforeYield(YieldingSink):
        def perform(self, actions: list[SinkAction]) -> Iterator[SinkResult]:
            for result in super().perform(actions):
                if result.detail["n"] == 1:
                    outage.start()
                yield result

    sink = BreaksBeforeYield()
    dispatcher = Dispatcher(store, {"crm": sink}, "me", sleep=lambda _s: None)
    try:
        with capture_logs() as logs:
            assert dispatcher.run_once() == 0
            assert dispatcher.run_once() == 0  # still down: nothing claimed, nothing performed
            outage.stop()
            dispatcher.run_once()
    finally:
        outage.stop()
    assert sink.performed == ["CB-1/crm/k0", "CB-1/crm/k1", "CB-1/crm/k2"]
    assert _counts(store) == {"done": 3}
    assert "dispatch_store_recovered" in [e["event"] for e in logs]


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


def test_a_sink_is_told_when_nothing_of_a_case_was_handed_to_it_before(store: Store) -> None:
    """A HubSpot sink opens a mail case's ticket without searching for it first only then."""
    from datetime import UTC, datetime

    from bot.store.rows import create_case

    seen: dict[str, bool] = {}
    answers: dict[str, str] = {}

    class FlagSink(ScriptedSink):
        def perform(self, actions: list[SinkAction]) -> list[SinkResult]:
            seen.update({a.idempotency_key: a.first_of_case for a in actions})
            return [
                SinkResult(a.outbox_id, answers.get(a.idempotency_key, "done")) for a in actions
            ]

    def plan(case_id: int, key: str) -> None:
        with store.begin() as conn:
            outbox_store.enqueue(
                conn, idempotency_key=key, sink="crm", action="add_note",
                payload={"text": "x"}, case_id=case_id,
            )  # fmt: skip

    with store.begin() as conn:
        one, two = (
            create_case(
                conn, prefix="CB", subject=s, channel="email", language="fr",
                contact_id=None, opened_at=datetime.now(UTC),
            )["id"]
            for s in ("un", "deux")
        )  # fmt: skip
    dispatcher = Dispatcher(store, {"crm": FlagSink("done")}, "me")
    plan(one, "one/a")
    plan(one, "one/b")
    dispatcher.run_once()
    assert seen == {"one/a": True, "one/b": True}  # the case's first rows, in one claim
    plan(one, "one/c")
    plan(two, "two/a")
    answers["two/a"] = "retry"
    dispatcher.run_once()
    assert (seen["one/c"], seen["two/a"]) == (False, True)
    _make_due(store)
    dispatcher.run_once()
    assert seen["two/a"] is False  # its first attempt may have made something
