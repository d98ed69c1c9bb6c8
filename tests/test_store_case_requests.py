"""A case's requests: its own and those of the cases merged into it, read in one statement
that leaves a batch's held-back case changes held back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bot.models import Request
from bot.store import Store
from bot.store import batch as batch_store
from bot.store.requests import insert_request, requests_of_case
from bot.store.rows import create_case, merge_cases, record_decision

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def _case(conn: Any, subject: str) -> dict[str, Any]:
    return create_case(
        conn,
        prefix="CB",
        subject=subject,
        channel="email",
        language="fr",
        contact_id=None,
        opened_at=NOW,
    )


def _store_request(conn: Any, case_id: int, n: int) -> None:
    request = Request(
        source="inbox",
        source_id=str(n),
        channel="email",
        message_id=f"m{n}@example.fr",
        subject=f"Demande {n}",
        body_text="Bonjour",
        body_clean="Bonjour",
        sender_email="jean@example.fr",
        received_at=NOW + timedelta(minutes=n),
    )
    insert_request(conn, request, case_id=case_id, contact_id=None, raw_max_bytes=100)


def test_a_cases_requests_include_those_of_cases_merged_into_it_through_another(
    store: Store,
) -> None:
    with store.begin() as conn:
        survivor, middle, last, other = (_case(conn, s) for s in ("a", "b", "c", "d"))
        for n, case in enumerate((survivor, middle, last, other, survivor)):
            _store_request(conn, case["id"], n)
        merge_cases(conn, middle["id"], last["id"])  # last -> middle -> survivor
        merge_cases(conn, survivor["id"], middle["id"])
        rows = requests_of_case(conn, survivor["id"])
        found = [r["source_id"] for r in rows]
        of_middle = [r["source_id"] for r in requests_of_case(conn, middle["id"])]
        of_other = [r["source_id"] for r in requests_of_case(conn, other["id"])]
    assert found == ["0", "1", "2", "4"]  # oldest first, the unrelated case's left out
    assert of_middle == ["1", "2"] and of_other == ["3"]
    assert all("raw" not in r for r in rows)


def test_reading_a_cases_requests_in_a_batch_is_one_statement_and_flushes_nothing(
    store: Store,
) -> None:
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    with store.begin() as conn, batch_store.batch_writes(conn) as writes:
        case = _case(conn, "Facture")
        _store_request(conn, case["id"], 1)
        record_decision(conn, case, {"category": "billing"})
        event.listen(store.engine, "before_cursor_execute", count)
        try:
            rows = requests_of_case(conn, case["id"])
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
        assert [r["source_id"] for r in rows] == ["1"]
        assert len(sent) == 1 and sent[0].lstrip().upper().startswith(("WITH", "SELECT"))
        assert writes.case_updates  # the decision is still held back for the batch's end
