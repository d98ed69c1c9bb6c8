"""Contacts as stored: create, read, and attach CRM ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from bot.entities import Contact
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
    """One contact, or None."""
    row = conn.execute(_BY_ID, {"contact_id": contact_id}).first()
    return None if row is None else Contact.from_row(dict(row._mapping))


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
        conn.execute(update(contacts).where(contacts.c.id == contact.id).values(**values))


def remember_profile(conn: Connection, contact: Contact, profile: dict[str, Any]) -> Contact:
    """Keep what a CRM says of a contact (tier, VIP, company) in its attributes; returns it."""
    attributes = dict(contact.attributes)
    merged = {**attributes, **profile}
    if profile.get("company"):
        merged["company"] = {**(attributes.get("company") or {}), **profile["company"]}
    if merged == attributes:
        return contact
    conn.execute(
        update(contacts)
        .where(contacts.c.id == contact.id)
        .values(attributes=merged, updated_at=utcnow())
    )
    return contact.with_attributes(merged)
