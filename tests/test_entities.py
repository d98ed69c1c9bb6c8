"""Cases and contacts are typed entities built from their rows: the mapping keeps every
column, the template variables are the ones rules and templates always read, and a row
crmbot did not write (an unknown status) is refused with a message naming it."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.entities import Case, Contact, InvalidEntityRow, ThreadKey, UnknownCaseStatus
from bot.errors import SkippableError
from bot.facts import build_facts
from bot.models import Request
from bot.status import CaseStatus
from bot.store import Store
from bot.store.cases import create_case, get_case, link_request, record_decision, update_case
from bot.store.contacts import create_contact, get_contact, remember_profile
from bot.store.requests import insert_request
from bot.store.schema import cases

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 7,
        "reference": "CB-7",
        "contact_id": 3,
        "subject": "Facture en double",
        "status": "waiting_customer",
        "channel": "email",
        "language": "fr",
        "category": "billing",
        "category_confidence": 0.91,
        "priority": "P2",
        "impact_score": 41.5,
        "reasons": [{"code": "vip", "message": "client VIP"}],
        "tags": ["possible_repeat:CB-3", "sla:warning"],
        "sla": {"policy": "standard"},
        "pauses": [["2026-11-27T10:00:00+00:00", None]],
        "first_response_due": NOW + timedelta(hours=4),
        "resolution_due": NOW + timedelta(days=2),
        "request_count": 3,
        "follow_up_count": 1,
        "duplicate_count": 1,
        "merged_into": None,
        "opened_at": NOW,
        "last_request_at": NOW + timedelta(hours=1),
        "created_at": NOW,
        "updated_at": NOW + timedelta(hours=1),
        "first_response_at": None,
    }
    return {**row, **changes}


def _request() -> Request:
    return Request(
        source="inbox",
        source_id="1",
        channel="email",
        message_id="m1@example.fr",
        subject="Facture",
        body_text="Bonjour",
        body_clean="Bonjour",
        sender_email="claire@client.example",
        received_at=NOW,
    )


def test_a_case_row_maps_to_typed_fields_and_back_to_the_same_row() -> None:
    row = _row()
    case = Case.from_row(row)
    assert case.status is CaseStatus.WAITING_CUSTOMER
    assert case.tags == ("possible_repeat:CB-3", "sla:warning")
    assert case.pauses == (("2026-11-27T10:00:00+00:00", None),)
    assert isinstance(case.opened_at, datetime)
    assert case.as_row() == row
    assert list(case.as_row()) == list(row)  # the table's column order, as a row read gives
    assert Case.from_row(case.as_row()) == case


def test_a_case_gives_templates_the_variables_they_always_read_as_plain_values() -> None:
    case = Case.from_row(_row())
    variables = case.as_template_dict()
    assert variables == {
        "reference": "CB-7",
        "status": "waiting_customer",
        "category": "billing",
        "priority": "P2",
        "follow_up_count": 1,
        "request_count": 3,
        "duplicate_count": 1,
        "channel": "email",
        "language": "fr",
        "created_at": NOW,
        "updated_at": NOW + timedelta(hours=1),
        "tags": ["possible_repeat:CB-3", "sla:warning"],
        "pauses": [["2026-11-27T10:00:00+00:00", None]],
        "first_response_due": NOW + timedelta(hours=4),
        "resolution_due": NOW + timedelta(days=2),
    }
    assert type(variables["status"]) is str  # not the enum: templates print it as stored
    facts = build_facts(_request(), None, case)
    assert {k: facts["case"][k] for k in variables} == variables
    assert facts["case"]["source"] == "inbox"


def test_a_request_without_a_case_or_contact_sees_the_same_variables_with_defaults() -> None:
    contact = Contact.from_row({"id": 3, "email": "claire@client.example", "attributes": {}})
    with_case = build_facts(_request(), contact, Case.from_row(_row()))
    without = build_facts(_request(), None, None)
    assert set(without["case"]) == set(with_case["case"])
    assert set(without["contact"]) == set(with_case["contact"])
    assert without["case"]["request_count"] == 1 and without["case"]["status"] is None
    assert without["contact"]["vip"] is False


def test_an_unknown_status_is_refused_with_the_case_and_the_known_statuses() -> None:
    with pytest.raises(UnknownCaseStatus) as refused:
        Case.from_row(_row(status="escalated"))
    message = str(refused.value)
    assert "CB-7" in message and "'escalated'" in message and "waiting_customer" in message
    assert isinstance(refused.value, SkippableError)  # this item is bad; the others go on


def test_a_row_missing_a_required_column_is_refused() -> None:
    row = _row()
    del row["opened_at"]
    with pytest.raises(InvalidEntityRow, match="opened_at"):
        Case.from_row(row)
    with pytest.raises(InvalidEntityRow, match="not a datetime"):
        Case.from_row(_row(last_request_at="2026-11-27"))


def test_entities_change_only_through_their_update_methods() -> None:
    case = Case.from_row(_row())
    with pytest.raises(FrozenInstanceError):
        case.priority = "P1"  # type: ignore[misc]
    later = NOW + timedelta(hours=2)
    chased = case.with_request(relation="follow_up", last_request_at=later, updated_at=later)
    assert (chased.request_count, chased.follow_up_count, chased.duplicate_count) == (4, 2, 1)
    assert case.request_count == 3  # the original is unchanged


def test_a_contact_row_maps_to_typed_fields_and_its_template_variables() -> None:
    row = {
        "id": 3,
        "email": "claire@client.example",
        "name": "Claire Durand",
        "phone": None,
        "company": "Northwind",
        "external_ids": {"hubspot": "501"},
        "attributes": {"tier": "gold", "vip": True, "identity": {"k": 1}, "company": {"a": 1}},
        "merged_into": None,
        "created_at": NOW,
        "updated_at": NOW,
        "bouncing_email": None,
        "bouncing_since": None,
        "bounce_reason": None,
    }
    contact = Contact.from_row(row)
    assert contact.as_row() == row and list(contact.as_row()) == list(row)
    assert contact.as_template_dict() == {
        "email": "claire@client.example",
        "name": "Claire Durand",
        "phone": None,
        "tier": "gold",
        "vip": True,
    }


def test_the_store_reads_and_writes_cases_as_entities_that_match_their_rows(
    store: Store,
) -> None:
    with store.begin() as conn:
        opened = create_case(
            conn,
            prefix="CB",
            subject="Livraison",
            channel="email",
            language="fr",
            contact_id=None,
            opened_at=NOW,
            tags=["b", "a"],
        )
        assert isinstance(opened, Case) and opened.status is CaseStatus.NEW
        assert opened.tags == ("a", "b") and opened.reference == f"CB-{opened.id}"
        request_id = insert_request(
            conn, _request(), case_id=opened.id, contact_id=None, raw_max_bytes=100
        )
        assert request_id is not None
        linked = link_request(
            conn, opened, request_id, relation="origin", reason="new", received_at=NOW
        )
        decided = record_decision(conn, linked, {"category": "delivery", "priority": "P3"})
        stored = get_case(conn, opened.id)
        raw = dict(conn.execute(select(cases).where(cases.c.id == opened.id)).one()._mapping)
    assert stored is not None and stored.as_row() == raw
    assert (stored.category, stored.priority, stored.request_count) == ("delivery", "P3", 1)
    assert decided.as_row() == {**raw, "first_response_at": None}


def test_a_stored_case_with_an_unknown_status_is_refused_on_read(store: Store) -> None:
    with store.begin() as conn:
        case = create_case(
            conn,
            prefix="CB",
            subject="x",
            channel="email",
            language=None,
            contact_id=None,
            opened_at=NOW,
        )
        moved = update_case(conn, case.id, status=CaseStatus.WAITING_THIRD_PARTY)
        assert moved.status is CaseStatus.WAITING_THIRD_PARTY
        conn.execute(update(cases).where(cases.c.id == case.id).values(status="archived"))
        with pytest.raises(UnknownCaseStatus, match="archived"):
            get_case(conn, case.id)


def test_the_store_reads_and_writes_contacts_as_entities(store: Store) -> None:
    with store.begin() as conn:
        created = create_contact(conn, email="claire@client.example", name="Claire")
        profiled = remember_profile(conn, created, {"tier": "gold"})
        stored = get_contact(conn, created.id)
    assert isinstance(stored, Contact)
    assert profiled.attributes == stored.attributes == {"tier": "gold"}
    assert created.attributes == {}  # the entity it was given is unchanged


def test_a_thread_key_reads_back_the_source_and_ticket_it_was_written_with() -> None:
    key = ThreadKey("hubspot", "4211:7")  # a ticket id may itself hold a colon
    assert str(key) == "hubspot:4211:7"
    assert ThreadKey.parse(str(key)) == key
    assert ThreadKey.parse("zendesk") == ThreadKey("zendesk", "")
