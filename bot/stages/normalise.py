"""Stage 1: turn what a source read into one normalised Request (or quarantine it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.budget import BudgetExceeded, deadline, over_size
from bot.entities import ThreadKey
from bot.identity.sync import sync_crm_contact
from bot.mail.parse import parse_email
from bot.models import Request, SourceRecord
from bot.pipeline import StageContext, Work
from bot.store import audit
from bot.store.requests import quarantine_record


def _quarantine(ctx: StageContext, work: Work, reason: str) -> None:
    rec = work.record
    assert rec is not None
    if quarantine_record(ctx.conn, rec, reason, raw_max_bytes=ctx.settings.store.raw_max_bytes):
        audit.record(
            ctx.conn, "request_quarantined", source=rec.source, id=rec.source_id, why=reason
        )
        ctx.log.warning(
            "request_quarantined", source=rec.source, source_id=rec.source_id, why=reason
        )
    work.drop(f"quarantined: {reason}")


def request_from_email(record: SourceRecord, max_body_chars: int) -> Request:
    """Parse a raw message into a Request (never raises: problems become defects)."""
    mail = parse_email(record.raw or b"", max_body_chars=max_body_chars)
    return Request(
        source=record.source,
        source_id=record.source_id,
        channel="email",
        message_id=mail.message_id,
        subject=mail.subject,
        body_text=mail.body_text,
        body_clean=mail.body_clean,
        sender_email=mail.sender_email,
        sender_name=mail.sender_name,
        to=mail.to,
        cc=mail.cc,
        in_reply_to=mail.in_reply_to,
        references=mail.references,
        language=mail.language,
        received_at=mail.date or record.received_at,
        attachments=mail.attachments,
        auto_reply=mail.auto_reply,
        headers=mail.headers,
        defects=mail.defects,
        raw=record.raw,
    )


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _crm_profile(fields: dict[str, Any]) -> dict[str, Any]:
    """Tier and VIP flag of the requester and their company, as the CRM record gives them."""
    contact = fields.get("contact") or {}
    company = fields.get("company") or {}
    profile: dict[str, Any] = {k: contact[k] for k in ("tier", "vip") if contact.get(k) is not None}
    kept = {k: company[k] for k in ("name", "domain", "tier", "strategic") if company.get(k)}
    if kept:
        profile["company"] = kept
    return profile


def request_from_ticket(record: SourceRecord) -> Request:
    """Map a CRM ticket (fields already in crmbot's names) into a Request."""
    f = record.fields
    ticket_id = str(f.get("ticket_id") or record.source_id)
    version = str(f.get("version") or f.get("updated_at") or "")
    body = str(f.get("body") or "")
    return Request(
        source=record.source,
        source_id=f"{record.source_id}@{version}" if version else record.source_id,
        channel="ticket",
        # One id per version of the ticket: each version is its own request of one case.
        message_id=f"{record.source}-{ticket_id}-{version or 'v0'}@crmbot.invalid",
        subject=str(f.get("subject") or ""),
        body_text=body,
        body_clean=body,
        sender_email=(str(f["sender_email"]).lower() if f.get("sender_email") else None),
        sender_name=f.get("sender_name"),
        sender_phone=f.get("sender_phone"),
        thread_key=str(ThreadKey(record.source, ticket_id)),
        language=f.get("language"),
        received_at=_as_datetime(f.get("created_at")) or record.received_at,
        external_ids=dict(f.get("external_ids") or {}),
        crm_profile=_crm_profile(f),
        headers={
            k: str(v)
            for k, v in f.items()
            if k in ("status", "updated_at", "version", "priority") and v is not None
        },
    )


def normalise(ctx: StageContext, work: Work) -> Work | None:
    """Parse or map the record; quarantine what cannot be read, with its reason."""
    rec = work.record
    assert rec is not None
    if rec.quarantine_reason:
        _quarantine(ctx, work, rec.quarantine_reason)
        return None
    if rec.kind == "contact":  # a CRM contact: identity and tier only, no request
        sync_crm_contact(ctx.conn, ctx.settings.identity, rec, ctx.log)
        work.drop("contact synced")
        return None
    if rec.kind == "email":
        if not rec.raw:
            _quarantine(ctx, work, "empty message")
            return None
        parsed = ctx.parsed.pop(id(rec), None)
        work.request = parsed or request_from_email(rec, ctx.settings.cases.max_body_chars)
    else:
        try:
            work.request = request_from_ticket(rec)
        except (TypeError, ValueError, KeyError) as exc:
            _quarantine(ctx, work, f"ticket cannot be mapped: {exc}")
            return None
    if work.request.received_at is None:
        work.request.received_at = ctx.now
    work.events.append("request.received")
    return work


def parse_ahead(ctx: StageContext, records: Sequence[SourceRecord]) -> None:
    """Parse a batch's mails before its records run (the seen check reads them all at once).

    Each within its own time budget: one over it is marked for quarantine, as the worker
    would (`bot/budget.py`), and `normalise` quarantines it. Parsing has no side effect, so
    a record parsed here is the same as one parsed in turn.
    """
    conf = ctx.settings.budget
    for rec in records:
        if rec.kind != "email" or not rec.raw or rec.quarantine_reason:
            continue
        if over_size(rec, conf.item_max_bytes):
            continue  # run_item marks it
        try:
            with deadline(conf.item_seconds):
                ctx.parsed[id(rec)] = request_from_email(rec, ctx.settings.cases.max_body_chars)
        except BudgetExceeded as exc:
            rec.quarantine_reason = str(exc)
            ctx.log.warning(
                "item_over_budget", source=rec.source, source_id=rec.source_id, why=str(exc)
            )


normalise.prepare = parse_ahead  # type: ignore[attr-defined]
