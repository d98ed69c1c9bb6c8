"""The facts the rules see: request, contact, company and case, as plain dicts (the
variables rule conditions and templates name: `case.priority`, `contact.tier` …)."""

from __future__ import annotations

from typing import Any

from bot.entities import Case, Contact
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
    contact: Contact | None,
    case: Case | None,
    company: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    timer_due_at: Any = None,
) -> dict[str, Any]:
    """All facts for one decision."""
    attributes = dict(contact.attributes) if contact is not None else {}
    domain = sender_domain(req.sender_email)
    company_facts: dict[str, Any] = {
        "domain": None if domain in _FREE_MAIL else domain,
        "name": contact.company if contact is not None else None,
        **(attributes.get("company") or {}),
        **(company or {}),
    }
    return {
        "request": request_facts(req),
        "contact": contact.as_template_dict() if contact is not None else dict(_NO_CONTACT),
        "company": company_facts,
        "case": {
            **(case.as_template_dict() if case is not None else _no_case(req)),
            "source": req.source,
            "amount": attributes.get("amount"),
            "timer_due_at": timer_due_at.isoformat() if timer_due_at else None,
        },
        "previous": previous or {},
    }


# The contact variables of a request with no contact (no address, phone or CRM id).
_NO_CONTACT: dict[str, Any] = {
    "email": None,
    "name": None,
    "phone": None,
    "tier": None,
    "vip": False,
}


def _no_case(req: Request) -> dict[str, Any]:
    """The case variables of a request with no case yet (what a rule categorising it sees)."""
    return {
        "reference": None,
        "status": None,
        "category": None,
        "priority": None,
        "follow_up_count": 0,
        "request_count": 1,
        "duplicate_count": 0,
        "channel": req.channel,
        "language": req.language,
        "created_at": None,
        "updated_at": None,
        "tags": [],
        "pauses": [],
        "first_response_due": None,
        "resolution_due": None,
    }
