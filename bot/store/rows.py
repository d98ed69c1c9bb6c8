"""Row adapter: the case and contact store functions with plain dicts in and out.

A boundary for code that works on rows rather than entities (the tests written against
rows, scripts): each function calls its typed namesake in bot/store/cases.py or
bot/store/contacts.py and turns the `Case`/`Contact` back into its stored columns
(`as_row`). The pipeline does not use it. Temporary: callers move to the typed functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot.entities import Case, Contact
from bot.store import cases as case_store
from bot.store import contacts as contact_store

Row = dict[str, Any]


def _case(case: Case | Mapping[str, Any]) -> Case:
    return case if isinstance(case, Case) else Case.from_row(case)


def _contact(contact: Contact | Mapping[str, Any]) -> Contact:
    return contact if isinstance(contact, Contact) else Contact.from_row(contact)


def create_case(conn: Connection, **kw: Any) -> Row:
    """`cases.create_case`, as a row."""
    return case_store.create_case(conn, **kw).as_row()


def get_case(conn: Connection, case_id: int) -> Row | None:
    """`cases.get_case`, as a row."""
    case = case_store.get_case(conn, case_id)
    return None if case is None else case.as_row()


def case_by_reference(conn: Connection, reference: str) -> Row | None:
    """`cases.case_by_reference`, as a row."""
    case = case_store.case_by_reference(conn, reference)
    return None if case is None else case.as_row()


def link_request(
    conn: Connection,
    case: Case | Mapping[str, Any],
    request_id: int,
    *,
    relation: str,
    reason: str,
    received_at: datetime,
) -> Row:
    """`cases.link_request` on a row, as a row."""
    return case_store.link_request(
        conn, _case(case), request_id, relation=relation, reason=reason, received_at=received_at
    ).as_row()


def record_decision(
    conn: Connection, case: Case | Mapping[str, Any], values: dict[str, Any]
) -> Row:
    """`cases.record_decision` on a row, as a row."""
    return case_store.record_decision(conn, _case(case), values).as_row()


def update_case(conn: Connection, case_id: int, **values: Any) -> Row:
    """`cases.update_case`, as a row."""
    return case_store.update_case(conn, case_id, **values).as_row()


def merge_cases(conn: Connection, survivor_id: int, absorbed_id: int) -> Row:
    """`cases.merge_cases`, as a row."""
    return case_store.merge_cases(conn, survivor_id, absorbed_id).as_row()


def unmerge_case(conn: Connection, absorbed_id: int) -> Row:
    """`cases.unmerge_case`, as a row."""
    return case_store.unmerge_case(conn, absorbed_id).as_row()


def create_contact(conn: Connection, **kw: Any) -> Row:
    """`contacts.create_contact`, as a row."""
    return contact_store.create_contact(conn, **kw).as_row()


def get_contact(conn: Connection, contact_id: int) -> Row | None:
    """`contacts.get_contact`, as a row."""
    contact = contact_store.get_contact(conn, contact_id)
    return None if contact is None else contact.as_row()


def remember_profile(
    conn: Connection, contact: Contact | Mapping[str, Any], profile: dict[str, Any]
) -> Row:
    """`contacts.remember_profile` on a row, as a row."""
    return contact_store.remember_profile(conn, _contact(contact), profile).as_row()
