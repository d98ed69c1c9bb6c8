"""The counts /metrics and the status page read cheaply (tallies kept by triggers, the first
response kept on the case) equal a straightforward recount, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from bot.store import Store, open_store, tallies
from bot.store import kpi as kpi_store
from bot.store import outbox as outbox_store
from bot.store import rows as case_store
from bot.store.engine import _alembic_config, make_engine
from tests.helpers.steering import CaseSpec, seed
from tests.helpers.stores import postgres_schema_url

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _sorted(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(str(v) for v in r.values()) for r in rows)


def _assert_tallies_match_a_recount(store: Store) -> None:
    with store.connect() as conn:
        assert _sorted(tallies.case_counts(conn)) == _sorted(kpi_store.case_counts(conn))
        assert tallies.case_totals(conn) == kpi_store.case_totals(conn)
        assert tallies.requests_by_source(conn) == kpi_store.requests_by_source(conn)
        assert _sorted(tallies.outbox_by_state(conn)) == _sorted(kpi_store.outbox_by_state(conn))
        assert kpi_store.stored_first_responses(conn) == kpi_store.first_responses(conn)


def _history() -> list[CaseSpec]:
    return [
        CaseSpec(NOW - timedelta(hours=5), replied_at=NOW - timedelta(hours=4), follow_ups=2),
        CaseSpec(NOW - timedelta(hours=3), category="complaint", priority="P1", source="crm"),
        CaseSpec(
            NOW - timedelta(days=2),
            status="closed",
            closed_at=NOW - timedelta(days=1),
            replied_at=NOW - timedelta(days=2) + timedelta(hours=1),
            duplicates=1,
        ),
    ]


def _every_kind_of_write(store: Store) -> None:
    """Cases opened, decided, chased, closed, merged and unmerged; actions planned, claimed,
    retried, done and refused: what the pipeline and the dispatcher do."""
    with store.begin() as conn:
        opened = [
            case_store.create_case(
                conn,
                prefix="CB",
                subject=f"Demande {n}",
                channel="email",
                language="fr",
                contact_id=None,
                opened_at=NOW - timedelta(minutes=n),
            )
            for n in range(4)
        ]
        a, b, c, d = opened
        seed(conn, _history())  # explicit ids, after those the database numbered
        case_store.record_decision(conn, a, {"category": "billing", "priority": "P2"})
        case_store.record_decision(conn, b, {"category": "complaint", "priority": "P1"})
        case_store.update_case(conn, c["id"], status="closed")
        case_store.merge_cases(conn, a["id"], d["id"])
        for n, case in enumerate((a, b)):
            outbox_store.enqueue(
                conn,
                idempotency_key=f"answer:{n}",
                sink="smtp",
                action="send_reply",
                payload={},
                case_id=case["id"],
            )
        outbox_store.enqueue(
            conn,
            idempotency_key="answer:0",  # the same key again: not planned twice
            sink="smtp",
            action="send_reply",
            payload={},
            case_id=a["id"],
        )
        outbox_store.enqueue(
            conn,
            idempotency_key="refused",
            sink="-",
            action="set_field",
            payload={},
            case_id=None,
            state="refused",
            result={"reason": "no sink"},
        )
    with store.begin() as conn:
        claimed = outbox_store.claim(conn, "replica-1", limit=10)
        assert len(claimed) == 2
        outbox_store.finish(conn, claimed[0], "done", {})
        outbox_store.retry_later(conn, claimed[1], "greylisted", 0.0, attempted=False)
    with store.begin() as conn:
        case_store.unmerge_case(conn, d["id"])
        case_store.update_case(conn, b["id"], status="resolved", category="billing")


def test_tallies_and_first_responses_equal_a_recount_after_every_kind_of_write(
    store: Store,
) -> None:
    _assert_tallies_match_a_recount(store)  # empty
    _every_kind_of_write(store)
    _assert_tallies_match_a_recount(store)
    with store.connect() as conn:
        replied = kpi_store.stored_first_responses(conn)
        assert len(replied) == 3  # two seeded replies and the one just done
        assert {r["status"] for r in tallies.case_counts(conn)} == {"new", "closed", "resolved"}


def test_compacting_tallies_keeps_every_count(store: Store) -> None:
    _every_kind_of_write(store)
    with store.begin() as conn:
        folded = tallies.compact(conn)
    if store.is_postgres:
        assert folded > 0  # each transaction had written its own rows
        with store.connect() as conn:
            assert (
                conn.execute(text("SELECT count(*) FROM case_tallies WHERE tx <> 0")).scalar() == 0
            )
    _assert_tallies_match_a_recount(store)
    with store.begin() as conn:  # writes after a compaction add to the folded rows
        seed(conn, _history())
    _assert_tallies_match_a_recount(store)


@pytest.mark.postgres
def test_replicas_writing_cases_at_once_never_wait_on_a_shared_counter() -> None:
    with postgres_schema_url() as url:
        store = open_store(url)
        try:
            with store.begin() as first:
                seed(first, _history()[:1])  # not committed yet: its tally rows are its own
                with store.begin() as second:
                    # a lock wait would fail at once instead of waiting for `first`
                    second.exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
                    seed_ids = kpi_store.next_id(second, "cases") + 100
                    second.execute(
                        text(
                            "INSERT INTO cases (id, subject, status, channel, category, priority,"
                            " reasons, tags, pauses, request_count, follow_up_count,"
                            " duplicate_count, opened_at, last_request_at, created_at,"
                            " updated_at) VALUES (:id, 's', 'new', 'email', 'billing', 'P3',"
                            " '[]', '[]', '[]', 1, 0, 0, :at, :at, :at, :at)"
                        ),
                        {"id": seed_ids, "at": NOW},
                    )
            _assert_tallies_match_a_recount(store)
        finally:
            store.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrading_a_store_counts_its_existing_rows(kind: str, tmp_path: Path) -> None:
    from tests.helpers.stores import store_url

    with store_url(kind, tmp_path) as url:
        engine = make_engine(url)
        config = _alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")  # the schema before the tallies
        with engine.begin() as conn:
            seed(conn, _history())
        engine.dispose()
        store = open_store(url)  # upgrades to head: the tallies are backfilled
        try:
            _assert_tallies_match_a_recount(store)
            with store.connect() as conn:
                assert len(kpi_store.stored_first_responses(conn)) == 2
            with store.begin() as conn:
                seed(conn, _history())
            _assert_tallies_match_a_recount(store)
        finally:
            store.dispose()


def test_the_worker_folds_tally_rows_even_when_nobody_scrapes_metrics(
    store: Store, store_url: str
) -> None:
    from bot.app import rules_provider
    from bot.pipeline import Pipeline
    from bot.stages import DEFAULT_STAGES
    from bot.worker import Worker
    from tests.helpers.runtime import make_settings

    _every_kind_of_write(store)
    settings = make_settings(store_url, {})
    worker = Worker(settings, store, {}, Pipeline(DEFAULT_STAGES), rules=rules_provider(settings))
    assert worker.fire_timers() is None
    with store.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM case_tallies WHERE tx <> 0")).scalar()
    assert left == 0
    _assert_tallies_match_a_recount(store)
