"""The facts the rules see: request, contact, company and case, as plain dicts."""

from __future__ import annotations

from typing import Any

from bot.models import Request

_FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.fr",
        "hotmail.com",
        "hotmail.fr",
        "live.com",
        "live.fr",
        "yahoo.com",
        "yahoo.fr",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "sfr.fr",
        "laposte.net",
        "icloud.com",
        "me.com",
        "gmx.com",
        "gmx.fr",
        "proton.me",
        "protonmail.com",
        "aol.com",
        "bbox.fr",
        "neuf.fr",
    }
)


def sender_domain(email: str | None) -> str | None:
    """The domain of an address, lower-cased, or None."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].lower()


def request_facts(req: Request) -> dict[str, Any]:
    """What the rules may test about the request itself."""
    return {
        "message_id": req.message_id,
        "subject": req.subject,
        "body": req.body_clean,
        "body_text": req.body_text,
        "language": req.language,
        "channel": req.channel,
        "source": req.source,
        "sender_email": req.sender_email,
        "sender_name": req.sender_name,
        "sender_domain": sender_domain(req.sender_email),
        "received_at": req.received_at,
        "attachments": len(req.attachments),
        "auto_reply": req.auto_reply,
    }


def build_facts(
    req: Request,
    contact: dict[str, Any] | None,
    case: dict[str, Any] | None,
    company: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    timer_due_at: Any = None,
) -> dict[str, Any]:
    """All facts for one decision."""
    contact = contact or {}
    attributes = dict(contact.get("attributes") or {})
    domain = sender_domain(req.sender_email)
    company_facts: dict[str, Any] = {
        "domain": None if domain in _FREE_MAIL else domain,
        "name": contact.get("company"),
        **(attributes.get("company") or {}),
        **(company or {}),
    }
    case = case or {}
    return {
        "request": request_facts(req),
        "contact": {
            "email": contact.get("email"),
            "name": contact.get("name"),
            "phone": contact.get("phone"),
            "tier": attributes.get("tier"),
            "vip": bool(attributes.get("vip", False)),
            **{k: v for k, v in attributes.items() if k not in ("company", "identity")},
        },
        "company": company_facts,
        "case": {
            "reference": case.get("reference"),
            "status": case.get("status"),
            "category": case.get("category"),
            "priority": case.get("priority"),
            "follow_up_count": case.get("follow_up_count", 0),
            "request_count": case.get("request_count", 1),
            "duplicate_count": case.get("duplicate_count", 0),
            "channel": case.get("channel", req.channel),
            "language": case.get("language", req.language),
            "source": req.source,
            "created_at": case.get("opened_at"),
            "updated_at": case.get("updated_at"),
            "amount": attributes.get("amount"),
            "tags": list(case.get("tags") or []),
            "pauses": list(case.get("pauses") or []),
            "first_response_due": case.get("first_response_due"),
            "resolution_due": case.get("resolution_due"),
            "timer_due_at": timer_due_at.isoformat() if timer_due_at else None,
        },
        "previous": previous or {},
    }
