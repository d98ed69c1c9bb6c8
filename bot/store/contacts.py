"""Contacts as stored: create, read, and attach CRM ids."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from bot.entities import Contact
from bot.store.batch import contacts_written, pending
from bot.store.schema import contacts
from bot.store.sql import fit_to_columns, utcnow


def create_contact(
    conn: Connection,
    *,
    email: str | None,
    name: str | None,
    phone: str | None = None,
    company: str | None = None,
    external_ids: dict[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> Contact:
    """Insert a contact and return it as stored."""
    now = utcnow()
    values = {
        "email": email,
        "name": name,
        "phone": phone,
        "company": company,
        "external_ids": external_ids or {},
        "attributes": attributes or {},
        "merged_into": None,
        "created_at": now,
        "updated_at": now,
    }
    contact_id = conn.execute(_INSERT, fit_to_columns(contacts, values)).scalar_one()
    return Contact.from_row({**values, "id": contact_id})


_INSERT = insert(contacts).returning(contacts.c.id)


_BY_ID = select(contacts).where(contacts.c.id == bindparam("contact_id"))


def get_contact(conn: Connection, contact_id: int) -> Contact | None:
    """One contact, or None (from the batch's read of its contacts while that holds)."""
    read = read_contact(conn, contact_id)
    if read is not None:
        return Contact.from_row(read)
    row = conn.execute(_BY_ID, {"contact_id": contact_id}).first()
    return None if row is None else Contact.from_row(dict(row._mapping))


# Contacts per read of `read_contacts_for_batch` (bound parameters stay few).
CONTACTS_PER_READ = 500


@dataclass(slots=True)
class ContactsRead:
    """Contact rows read once for a batch, by id; those written since no longer answer."""

    rows: dict[int, dict[str, Any]]
    stale: set[int] = field(default_factory=set)


def read_contacts_for_batch(conn: Connection, ids: Iterable[int]) -> None:
    """Read these contacts' rows at once for the batch (`get_contact` and the identity index
    then answer from it while it holds). A no-op outside a batch (bot/store/batch.py)."""
    writes = pending(conn)
    wanted = sorted(set(ids))
    if writes is None or not wanted:
        return
    read = ContactsRead({})
    for start in range(0, len(wanted), CONTACTS_PER_READ):
        chunk = wanted[start : start + CONTACTS_PER_READ]
        for row in conn.execute(select(contacts).where(contacts.c.id.in_(chunk))):
            read.rows[row.id] = dict(row._mapping)
    writes.contacts_read = read


def read_contact(conn: Connection, contact_id: int) -> dict[str, Any] | None:
    """A contact as the batch read it (a copy: the caller may change it), or None when the
    batch did not read it or wrote it since."""
    writes = pending(conn)
    read = None if writes is None else writes.contacts_read
    if read is None or contact_id in read.stale:
        return None
    row = read.rows.get(contact_id)
    return None if row is None else {name: _copied(value) for name, value in row.items()}


def _copied(value: Any) -> Any:
    """A JSON column's value as a fresh copy (cheaper than deepcopy); others are immutable."""
    return json.loads(json.dumps(value)) if isinstance(value, dict | list) else value


def enrich_contact(
    conn: Connection,
    contact: Contact,
    *,
    name: str | None = None,
    phone: str | None = None,
    external_ids: dict[str, str] | None = None,
) -> None:
    """Fill a contact's missing name/phone and add CRM ids, never overwriting known values."""
    values: dict[str, Any] = {}
    if name and not contact.name:
        values["name"] = name
    if phone and not contact.phone:
        values["phone"] = phone
    if external_ids:
        merged = {**external_ids, **contact.external_ids}
        if merged != contact.external_ids:
            values["external_ids"] = merged
    if values:
        values["updated_at"] = utcnow()
        contacts_written(conn, [contact.id])
        conn.execute(update(contacts).where(contacts.c.id == contact.id).values(**values))


def remember_profile(conn: Connection, contact: Contact, profile: dict[str, Any]) -> Contact:
    """Keep what a CRM says of a contact (tier, VIP, company) in its attributes; returns it."""
    attributes = dict(contact.attributes)
    merged = {**attributes, **profile}
    if profile.get("company"):
        merged["company"] = {**(attributes.get("company") or {}), **profile["company"]}
    if merged == attributes:
        return contact
    contacts_written(conn, [contact.id])
    conn.execute(
        update(contacts)
        .where(contacts.c.id == contact.id)
        .values(attributes=merged, updated_at=utcnow())
    )
    return contact.with_attributes(merged)
