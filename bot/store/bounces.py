"""Bounces in the store: the contact's address marked bouncing, the reply that bounced, and
the bounce attached to its case (without counting it as a customer's request)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from bot.store.batch import contacts_written, pending
from bot.store.schema import case_requests, contacts, outbox, requests
from bot.store.sql import utcnow

_BOUNCING = select(contacts.c.id).where(contacts.c.bouncing_email == bindparam("address")).limit(1)
_CONTACTS_WITH = select(contacts.c.id).where(contacts.c.email == bindparam("address"))
_SENT_REPLIES = (
    select(outbox.c.id, outbox.c.case_id, outbox.c.result)
    .where(
        outbox.c.action == "send_reply",
        outbox.c.state == "done",
        outbox.c.updated_at >= bindparam("since"),
    )
    .order_by(outbox.c.id.desc())
    .limit(bindparam("limit"))
)


def address_bouncing(conn: Connection, address: str) -> bool:
    """Whether mail to `address` bounced (it is marked on a contact)."""
    return conn.execute(_BOUNCING, {"address": address.strip().lower()}).first() is not None


def mark_bouncing(conn: Connection, address: str, reason: str, at: datetime) -> list[int]:
    """Mark every contact whose address is `address` as bouncing; their ids."""
    address = address.strip().lower()
    ids = [int(i) for (i,) in conn.execute(_CONTACTS_WITH, {"address": address})]
    if ids:
        contacts_written(conn, ids)
        conn.execute(
            update(contacts)
            .where(contacts.c.id.in_(ids))
            .values(
                bouncing_email=address,
                bouncing_since=at,
                bounce_reason=reason[:300],
                updated_at=utcnow(),
            )
        )
    return ids


def reply_with_message_id(
    conn: Connection, message_ids: list[str], since: datetime, limit: int = 20_000
) -> dict[str, Any] | None:
    """The sent reply (outbox id, case id) whose Message-ID is one of `message_ids`."""
    wanted = {m.strip("<> ").lower() for m in message_ids}
    if not wanted:
        return None
    for row in conn.execute(_SENT_REPLIES, {"since": since, "limit": limit}):
        sent = str((row.result or {}).get("message_id") or "").strip("<> ").lower()
        if sent and sent in wanted:
            return {"outbox_id": row.id, "case_id": row.case_id, "message_id": sent}
    return None


def attach_bounce(conn: Connection, request_id: int, case_id: int, reason: str) -> None:
    """File the bounce's stored request under its case, as a `bounce` (no counter moves)."""
    writes = pending(conn)
    if writes is not None:  # the request moves to another case: the batch's read is stale
        writes.open_requests = None
    conn.execute(update(requests).where(requests.c.id == request_id).values(case_id=case_id))
    conn.execute(
        insert(case_requests).values(
            case_id=case_id,
            request_id=request_id,
            relation="bounce",
            reason=reason,
            created_at=utcnow(),
        )
    )
