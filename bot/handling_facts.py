"""The facts auto-handling adds for the rules: how the request relates to its case, whether
its sender is verified as the case's contact, and the administrative update it announces."""

from __future__ import annotations

from typing import Any

from bot.admin_update import Assessment, assess
from bot.entities import Contact
from bot.pipeline import Work
from bot.store.contacts import get_contact
from bot.store.handling import assigned_queue
from bot.verify import check_sender


def add_handling_facts(
    ctx: Any, work: Work, facts: dict[str, Any], event: str
) -> Assessment | None:
    """Fill `request.relation`, `request.sender_verified`, `request.admin_update` and
    `case.queue` (the queue crmbot's rules assigned the case to)."""
    req, case = work.request, work.case
    assert req is not None and case is not None
    request = facts["request"]
    request["relation"] = work.relation or "origin"
    owner = case.contact_id
    if owner and work.contact and work.contact.id == owner:
        case_contact: Contact | None = work.contact  # the sender is the case's contact
    else:
        case_contact = get_contact(ctx.conn, owner) if owner else None
    on_file = case_contact.email if case_contact is not None else None
    if work.new_contact and request["relation"] == "origin":
        on_file = None  # a first-time sender has no address on file to verify against
    check = check_sender(
        req.sender_email,
        on_file,
        sender_name=req.sender_name,
        authentication_results=(req.headers or {}).get("authentication-results"),
    )
    request["sender_verified"] = check.verified
    opened_now = "case.created" in work.events  # nothing was assigned yet
    if not facts["case"].get("queue") and not opened_now:
        facts["case"]["queue"] = assigned_queue(ctx.conn, case.id)
    admin = None
    if event == "case.created":
        admin = assess(req, None if work.new_contact else work.contact, work.tags)
    lang = "en" if (req.language or "").startswith("en") else "fr"
    request["admin_update"] = admin.facts(lang) if admin else None
    return admin
