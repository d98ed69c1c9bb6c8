"""What the reply discipline needs to know: automatic replies planned, mail received."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select

from bot.store.schema import cases, outbox, requests

# A refused (skipped) or abandoned (dead) reply was never sent: it does not count.
_LIVE_STATES = ("pending", "claimed", "done")

_REPLIES_TO_CASE = (
    select(func.count())
    .select_from(outbox)
    .where(
        outbox.c.action == "send_reply",
        outbox.c.case_id == bindparam("case_id"),
        outbox.c.created_at >= bindparam("since"),
        outbox.c.state.in_(_LIVE_STATES),
    )
)

_REPLY_TIMES_TO_CONTACT = (
    select(outbox.c.created_at, outbox.c.payload)
    .select_from(outbox.join(cases, cases.c.id == outbox.c.case_id))
    .where(
        outbox.c.action == "send_reply",
        cases.c.contact_id == bindparam("contact_id"),
        outbox.c.created_at >= bindparam("since"),
        outbox.c.state.in_(_LIVE_STATES),
    )
    .order_by(outbox.c.created_at.desc())
    .limit(bindparam("limit"))
)

_MAIL_TIMES_FROM = (
    select(requests.c.received_at, requests.c.id)
    .where(
        requests.c.sender_email == bindparam("sender"),
        requests.c.received_at >= bindparam("since"),
    )
    .order_by(requests.c.received_at.desc())
    .limit(bindparam("limit"))
)

_KEY_PLANNED = select(outbox.c.id).where(outbox.c.idempotency_key == bindparam("key"))


def reply_planned(conn: Connection, key: str) -> bool:
    """True when a reply with this idempotency key is in the outbox already."""
    return conn.execute(_KEY_PLANNED, {"key": key[:300]}).first() is not None


def replies_to_case_since(conn: Connection, case_id: int, since: datetime) -> int:
    """Automatic replies planned or sent on one case since `since`."""
    return int(conn.execute(_REPLIES_TO_CASE, {"case_id": case_id, "since": since}).scalar_one())


def reply_times_to_contact(
    conn: Connection, contact_id: int, since: datetime, limit: int = 500
) -> list[tuple[datetime, int]]:
    """Automatic replies to one contact since `since`: when planned, and the request that
    triggered each (0 if unknown), newest first."""
    params = {"contact_id": contact_id, "since": since, "limit": limit}
    rows = conn.execute(_REPLY_TIMES_TO_CONTACT, params)
    return [(at, int((payload or {}).get("request_id") or 0)) for at, payload in rows]


def mail_times_from(
    conn: Connection, sender: str, since: datetime, limit: int = 500
) -> list[tuple[datetime, int]]:
    """Mail from one address received since `since`: when, and its request id; newest first."""
    params = {"sender": sender, "since": since, "limit": limit}
    return [(at, int(request_id)) for at, request_id in conn.execute(_MAIL_TIMES_FROM, params)]
