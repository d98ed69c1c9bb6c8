"""HubSpot: a ticket's last public agent reply, from its associated e-mail engagements.

The ticket's e-mails come from the v4 associations batch read (tickets → emails, each result
paged on its own), then a batch read of the e-mails with hs_timestamp, hs_email_direction,
hs_email_text and hubspot_owner_id. A reply counts when HubSpot sent it (`EMAIL`, not
`INCOMING_EMAIL` or `FORWARDED_EMAIL`) and an owner is set on it (sent by a user of the
account, not an automated sequence without owner).
"""

from __future__ import annotations

from typing import Any

from connectors.kit.mapping import parse_timestamp
from connectors.kit.replies import MAX_ITEMS, PublicReply

PROPERTIES = ("hs_timestamp", "hs_email_direction", "hs_email_text", "hubspot_owner_id")


def last_public_reply(api: Any, ticket_id: str) -> PublicReply | None:
    """The newest e-mail an owner sent from the ticket `ticket_id`, or None."""
    email_ids = api.associations("tickets", "emails", [str(ticket_id)]).get(str(ticket_id), [])
    if not email_ids:
        return None
    emails = api.batch_read("emails", email_ids[-MAX_ITEMS:], PROPERTIES)
    best: PublicReply | None = None
    for email in emails.values():
        props = email.get("properties") or {}
        text = props.get("hs_email_text") or ""
        if props.get("hs_email_direction") != "EMAIL" or not props.get("hubspot_owner_id"):
            continue
        if not isinstance(text, str) or not text.strip() or not props.get("hs_timestamp"):
            continue
        reply = PublicReply(
            parse_timestamp(props["hs_timestamp"]), text, str(props["hubspot_owner_id"])
        )
        if best is None or reply.at > best.at:
            best = reply
    return best
