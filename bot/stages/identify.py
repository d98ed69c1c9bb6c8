"""Stage 3: find the contact behind a request (probabilistic matching), or create one.

The matcher scores candidates found through blocking keys: "same" attaches the request to
that contact, "possible" creates a new contact linked to the candidate for review (never a
silent merge), "new" creates a contact. CRM ids join contacts across connectors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers

from bot.entities import Contact
from bot.identity import ContactMatcher, ContactRecord, SqlContactIndex
from bot.identity.matcher import MatchResult
from bot.models import Request, SourceRecord
from bot.pipeline import StageContext, Work
from bot.reasons import Reason
from bot.store.batch import pending
from bot.store.contact_index import read_keys_for_batch
from bot.store.contacts import get_contact, read_contacts_for_batch, remember_profile
from bot.store.schema import contact_links
from bot.store.sql import insert_ignore, utcnow

SIGNATURE_TAIL_CHARS = 800
_DIGITS = re.compile(r"\d(?:[\s.()-]*\d){7}")


def phone_in_signature(text: str, region: str) -> str | None:
    """The last phone number written near the end of a message (its signature), E.164."""
    tail = text[-SIGNATURE_TAIL_CHARS:]
    if not _DIGITS.search(tail):  # cheap test first: most messages have no phone number
        return None
    found = None
    for match in phonenumbers.PhoneNumberMatcher(
        tail, region, leniency=phonenumbers.Leniency.VALID
    ):
        found = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return found


def _record(ctx: StageContext, work: Work) -> ContactRecord:
    req = work.request
    assert req is not None
    return _contact_record(ctx, req)


def _contact_record(ctx: StageContext, req: Request) -> ContactRecord:
    phone = req.sender_phone or phone_in_signature(
        req.body_text, ctx.settings.identity.default_region
    )
    return ContactRecord(
        email=req.sender_email,
        name=req.sender_name,
        phone=phone,
        external_ids={k: str(v) for k, v in req.external_ids.items()},
    )


def _brings_news(contact: Contact, record: ContactRecord) -> bool:
    known_ids = contact.external_ids
    return bool(
        (record.name and not contact.name)
        or (record.phone and not contact.phone)
        or any(known_ids.get(k) != v for k, v in record.external_ids.items())
    )


def _why(result: MatchResult) -> str:
    return ", ".join(result.reasons[:4]) or f"score {result.score:.2f}"


def identify_contact(ctx: StageContext, work: Work) -> Work | None:
    """Attach the request to the contact it comes from, with the score and the reasons."""
    _match_contact(ctx, work)
    req = work.request
    if work.contact is not None and req is not None and req.crm_profile:
        work.contact = remember_profile(ctx.conn, work.contact, req.crm_profile)
    return work


def _match_contact(ctx: StageContext, work: Work) -> Work | None:
    record = _record(ctx, work)
    if not (record.email or record.phone or record.external_ids):
        work.reasons.append(Reason("contact_unknown", "no address, phone or CRM id: no contact"))
        return work
    index = SqlContactIndex(ctx.conn)
    matcher = ContactMatcher(index, ctx.settings.identity)
    result = matcher.match(record)
    if result.relation == "same" and result.contact_id is not None:
        contact = get_contact(ctx.conn, result.contact_id)
        assert contact is not None
        if _brings_news(contact, record):
            matcher.add(contact.id, record)
            contact = get_contact(ctx.conn, contact.id)
        work.contact = contact
        work.reasons.append(
            Reason(
                "contact_matched",
                f"known contact {contact and contact.email} ({_why(result)})",
                {"score": round(result.score, 3)},
            )
        )
        return work
    contact_id = matcher.create(record)
    created = index.created.get(contact_id) or get_contact(ctx.conn, contact_id)
    assert created is not None  # just inserted in this transaction
    work.contact = created
    work.new_contact = True
    work.reasons.append(Reason("contact_created", f"new contact {record.email or record.phone}"))
    if result.relation == "possible" and result.candidates:
        other, score, reasons = result.candidates[0]
        insert_ignore(
            ctx.conn,
            contact_links,
            {
                "contact_id": created.id,
                "other_id": other,
                "relation": "possible",
                "score": score,
                "reasons": reasons,
                "created_at": utcnow(),
            },
            ["contact_id", "other_id"],
        )
        work.tags.append(f"possible_same_contact:{other}")
        work.reasons.append(
            Reason(
                "contact_possible_duplicate",
                f"may be the same person as contact {other} (score {score:.2f}: "
                f"{', '.join(reasons[:3])}): linked for review, not merged",
                {"other_contact": other, "score": round(score, 3)},
            )
        )
    return work


def read_keys_ahead(ctx: StageContext, records: Sequence[SourceRecord]) -> None:
    """For the mails parsed ahead: the contacts under every blocking key of their senders,
    read once for the batch (`bot/store/contact_index.py: read_keys_for_batch`)."""
    matcher = ContactMatcher(SqlContactIndex(ctx.conn), ctx.settings.identity)
    caps: dict[str, int] = {}
    for rec in records:
        req = ctx.parsed.get(id(rec))
        if req is None:
            continue
        record = _contact_record(ctx, req)
        if record.email or record.phone or record.external_ids:
            caps.update(matcher.blocking_caps(matcher.profile(record)))
    read_keys_for_batch(ctx.conn, caps)
    writes = pending(ctx.conn)
    if writes is not None and writes.keys_read:
        ids = {cid for found in writes.keys_read.values() for cid in found}
        read_contacts_for_batch(ctx.conn, ids)


identify_contact.prepare = read_keys_ahead  # type: ignore[attr-defined]
