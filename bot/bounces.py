"""Bounces: a delivery failure marks the address, is filed under the case whose reply
bounced, tells the CRM, and stops further automatic mail to that address.

A bounce is machine-sent (bot/mail/autoreply.py detects it) and never opens a case. Its
delivery report (RFC 3464) names the failed recipients (Final-Recipient, Action, Status) and
the returned message's Message-ID: crmbot gave each reply its own
(connectors/smtp/compose.py `message_id_for`) and kept it in the outbox result, so the case
whose reply bounced is found from it. A permanent failure marks the contact's address as
bouncing (bot/replies.py then refuses automatic replies to it); the case gets the bounce,
an audit entry and a note in the CRM.
"""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from typing import Any

from bot.entities import Case
from bot.mail.autoreply import DeliveryReport, parse_delivery_report
from bot.routing import route
from bot.store import audit
from bot.store import bounces as bounce_store
from bot.store import outbox as outbox_store
from bot.store.cases import get_case
from bot.store.requests import request_from_row, requests_of_case

LOOK_BACK = timedelta(days=60)  # how old a reply may be and still be found for its bounce


def read_report(raw: bytes | None) -> DeliveryReport:
    """The delivery report of a raw bounce (empty when there is none)."""
    if not raw:
        return DeliveryReport()
    try:
        msg = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception:  # a bounce we cannot read is still filed, just not understood
        return DeliveryReport()
    return parse_delivery_report(msg)


def file_bounce(ctx: Any, work: Any, request_id: int) -> None:
    """Mark bouncing addresses and attach the bounce to the case whose reply bounced."""
    req = work.request
    if req is None or req.auto_reply != "bounce":
        return
    report = read_report(req.raw)
    failed = [f for f in report.failures if f.permanent]
    for failure in failed:
        why = f"{failure.action or 'failed'} {failure.status}".strip()
        contacts = bounce_store.mark_bouncing(ctx.conn, failure.address, why, ctx.now)
        ctx.log.info("address_bouncing", address_contacts=len(contacts), status=failure.status)
    ids = [*report.original_message_ids, *(req.references or [])]
    if req.in_reply_to:
        ids.append(req.in_reply_to)
    sent = bounce_store.reply_with_message_id(ctx.conn, ids, ctx.now - LOOK_BACK)
    if sent is None or sent["case_id"] is None:
        audit.record(
            ctx.conn,
            "bounce_unmatched",
            request_id=request_id,
            addresses=[f.address for f in failed],
            message_ids=ids[:10],
        )
        return
    case = get_case(ctx.conn, sent["case_id"])
    if case is None:
        return
    addresses = ", ".join(f.address for f in failed) or "?"
    bounce_store.attach_bounce(ctx.conn, request_id, case.id, f"reply bounced: {addresses}")
    audit.record(
        ctx.conn,
        "reply_bounced",
        case_id=case.id,
        request_id=request_id,
        addresses=[f.address for f in failed],
        statuses=[f.status for f in failed],
        reply_outbox_id=sent["outbox_id"],
        message_id=sent["message_id"],
        automatic_mail_stopped=bool(failed),
    )
    ctx.log.info("reply_bounced", case=case.reference, addresses=len(failed))
    _note_in_crm(ctx, case, request_id, addresses)


def _note_in_crm(ctx: Any, case: Case, request_id: int, addresses: str) -> None:
    """A note on the case's CRM record: the address bounces, no automatic mail goes to it."""
    from bot.stages.plan import record_target

    rows = requests_of_case(ctx.conn, case.id)
    origin = next((r for r in rows if r["id"] != request_id), None)
    if origin is None:
        return
    req = request_from_row(origin)
    where = route(ctx.write_back(), "add_note", req.source)
    if where.sink is None:
        return
    text = (
        f"L'adresse {addresses} rejette nos e-mails (non distribuable) : crmbot ne lui envoie "
        "plus de réponse automatique. Vérifier l'adresse du contact."
    )
    outbox_store.enqueue(
        ctx.conn,
        idempotency_key=f"{case.reference}/crmbot/bounce/{request_id}",
        sink=where.sink,
        action="add_note",
        payload={
            "text": text,
            "language": "fr",
            "target": record_target(case, req),
            "request_id": request_id,
            "case_reference": case.reference,
        },
        case_id=case.id,
        now=ctx.now,
    )
