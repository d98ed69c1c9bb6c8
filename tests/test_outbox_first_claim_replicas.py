"""Replicas and the rows of one case: one replica at a time performs a case's actions in a
sink, only the first is told that nothing of the case was handed to that sink before, and the
next one is handed what the sink reported (the ticket it opened).

`first_of_case` lets a CRM sink create a case's ticket without searching for crmbot's key first.
Two replicas claiming different rows of the same case at once must not both be told so, and a
replica performing a later action of the case must not look for the ticket by a search that
trails its creation by seconds: either would give the case two tickets.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from bot.store import Store, open_store, outbox
from bot.store.rows import create_case
from tests.helpers.stores import postgres_schema_url

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _case_with_two_actions(store: Store) -> int:
    with store.begin() as conn:
        case = create_case(
            conn,
            prefix="CB",
            subject="Coupure",
            channel="email",
            language="fr",
            contact_id=None,
            opened_at=NOW,
        )
        for action in ("create_ticket", "add_note"):
            outbox.enqueue(
                conn,
                idempotency_key=f"{case['id']}:{action}",
                sink="hubspot",
                action=action,
                payload={},
                case_id=case["id"],
            )
    return int(case["id"])


def _waiting_on_a_lock(store: Store, pid: int) -> bool:
    with store.engine.connect() as conn:
        event = conn.execute(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar()
    return event == "Lock"


@pytest.mark.postgres
def test_a_replica_claiming_while_another_claims_the_same_new_case_takes_none_of_it() -> None:
    with postgres_schema_url() as url:
        store = open_store(url)
        try:
            _case_with_two_actions(store)
            second: list[dict[str, Any]] = []
            second_pid: list[int] = []

            def claim_as_replica_b() -> None:
                with store.begin() as conn:
                    second_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    second.extend(outbox.claim(conn, "replica-b", limit=10))

            with store.engine.connect() as conn:
                tx = conn.begin()
                first = outbox.claim(conn, "replica-a", limit=1)  # uncommitted, row locked
                other = threading.Thread(target=claim_as_replica_b)
                other.start()
                # Let B run its claim as far as it goes while A's claim is uncommitted: to its
                # end (the race), or until it waits on A (the fix).
                deadline = time.monotonic() + 30
                while other.is_alive() and time.monotonic() < deadline:
                    if second_pid and _waiting_on_a_lock(store, second_pid[0]):
                        break
                    other.join(0.05)
                tx.commit()
            other.join(30)
            assert not other.is_alive()
            assert [r["action"] for r in first] == ["create_ticket"]
            assert first[0]["first_of_case"] is True
            # B saw A's claim once A committed: the case is A's until A is done with it
            assert second == []
        finally:
            store.dispose()


def test_a_case_being_performed_by_one_replica_is_left_to_it_and_others_go_on(
    store: Store,
) -> None:
    busy = _case_with_two_actions(store)
    other = _case_with_two_actions(store)
    with store.begin() as conn:
        [mine] = outbox.claim(conn, "replica-a", limit=1)
    with store.begin() as conn:
        theirs = outbox.claim(conn, "replica-b", limit=10)
    assert mine["case_id"] == busy
    assert {r["case_id"] for r in theirs} == {other}
    assert [r["first_of_case"] for r in theirs] == [True, True]


def test_the_next_replica_is_handed_the_ticket_the_first_one_opened_and_is_not_first(
    store: Store,
) -> None:
    _case_with_two_actions(store)
    with store.begin() as conn:
        [first] = outbox.claim(conn, "replica-a", limit=1)
    with store.begin() as conn:
        assert outbox.finish(conn, first, "done", {"ticket_id": "4711", "opened": True})
    with store.begin() as conn:
        [second] = outbox.claim(conn, "replica-b", limit=10)
    assert (first["first_of_case"], first["case_ticket"]) == (True, None)
    assert (second["first_of_case"], second["case_ticket"]) == (False, "4711")


def test_a_stalled_claim_of_a_dead_replica_does_not_hold_its_case(store: Store) -> None:
    case_id = _case_with_two_actions(store)
    with store.begin() as conn:
        outbox.claim(conn, "replica-a", limit=1, lease_seconds=-1)  # died at once
    with store.begin() as conn:
        taken = outbox.claim(conn, "replica-b", limit=10)
    assert [r["case_id"] for r in taken] == [case_id, case_id]
    assert [r["first_of_case"] for r in taken] == [False, False]


@pytest.mark.postgres
def test_concurrent_claims_of_many_cases_neither_deadlock_nor_share_a_row() -> None:
    with postgres_schema_url() as url:
        store = open_store(url)
        try:
            cases = [_case_with_two_actions(store) for _ in range(6)]
            claimed: list[int] = []
            errors: list[Exception] = []

            def claim_all(owner: str) -> None:
                try:
                    while True:
                        with store.begin() as conn:
                            rows = outbox.claim(conn, owner, limit=3)
                        if not rows:
                            return
                        claimed.extend(r["id"] for r in rows)
                        with store.begin() as conn:
                            for row in rows:
                                outbox.finish(conn, row, "done", {})
                except Exception as exc:  # reported by the assertion below
                    errors.append(exc)

            workers = [threading.Thread(target=claim_all, args=(f"r{i}",)) for i in range(3)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(60)
            assert not errors
            assert sorted(claimed) == sorted(set(claimed))
            assert len(claimed) == 2 * len(cases)
        finally:
            store.dispose()
