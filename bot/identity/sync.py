"""A contact read from a CRM's contact list: matched (or created) and given its CRM profile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from bot.entities import Contact
from bot.identity.index import SqlContactIndex
from bot.identity.matcher import ContactMatcher, IdentitySettings
from bot.identity.normalise import ContactRecord
from bot.models import SourceRecord
from bot.store.contacts import get_contact, remember_profile


def sync_crm_contact(
    conn: Connection, settings: IdentitySettings, record: SourceRecord, log: Any
) -> Contact:
    """A contact read from a CRM: matched (or created) and enriched with its CRM id and tier."""
    f = record.fields
    crm = ContactRecord(
        email=f.get("email"),
        name=f.get("name"),
        phone=f.get("phone"),
        external_ids={k: str(v) for k, v in (f.get("external_ids") or {}).items()},
    )
    matcher = ContactMatcher(SqlContactIndex(conn), settings)
    result = matcher.match(crm)
    if result.relation == "same" and result.contact_id is not None:
        matcher.add(result.contact_id, crm)
        contact_id = result.contact_id
    else:
        contact_id = matcher.create(crm)
    contact = get_contact(conn, contact_id)
    assert contact is not None
    profile = {k: v for k, v in (f.get("contact") or {}).items() if k in ("tier", "vip")}
    log.info(
        "crm_contact_synced", source=record.source, contact=contact_id, relation=result.relation
    )
    return remember_profile(conn, contact, {k: v for k, v in profile.items() if v is not None})
