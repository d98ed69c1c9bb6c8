"""Stage 3: find the contact behind a request, or create one."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from bot.pipeline import Reason, StageContext, Work
from bot.store.contacts import create_contact, enrich_contact
from bot.store.schema import contacts

_BY_EMAIL = (
    select(contacts)
    .where(contacts.c.email == bindparam("email"), contacts.c.merged_into.is_(None))
    .order_by(contacts.c.id)
    .limit(1)
)


def _by_email(ctx: StageContext, email: str) -> dict | None:
    row = ctx.conn.execute(_BY_EMAIL, {"email": email}).first()
    return None if row is None else dict(row._mapping)


def identify_contact(ctx: StageContext, work: Work) -> Work | None:
    """Attach the request to a known contact (same email), or create the contact."""
    req = work.request
    assert req is not None
    if not req.sender_email:
        work.reasons.append(Reason("contact_unknown", "no sender address: no contact"))
        return work
    email = req.sender_email.strip().lower()
    contact = _by_email(ctx, email)
    if contact is None:
        work.contact = create_contact(
            ctx.conn,
            email=email,
            name=req.sender_name,
            phone=req.sender_phone,
            external_ids=req.external_ids,
        )
        work.reasons.append(Reason("contact_created", f"new contact {email}"))
    else:
        enrich_contact(
            ctx.conn,
            contact,
            name=req.sender_name,
            phone=req.sender_phone,
            external_ids=req.external_ids,
        )
        work.contact = contact
        work.reasons.append(Reason("contact_matched", f"known contact {email} (same address)"))
    return work
