"""A case that came by mail has no HubSpot ticket yet: find it by reference, or open one.

An action whose target is {"type": "case", "reference": "CB-12", "subject": …} (a request
from a mailbox whose source writes back to HubSpot) is pointed at the ticket whose
`crmbot_case_reference` is that reference. If none exists, the sink creates one in
`pipeline` / `new_ticket_stage`, its subject prefixed with "[#CB-12]",
crmbot_case_reference set, and associated with the requester's contact (found by e-mail,
or created): agents see who asked, and a HubSpot source polling the same account threads
the ticket back into the same case.

HubSpot search trails writes by some seconds, so the sink also remembers the tickets it
created (for its lifetime): a second cycle right after the first finds them without search.
"""

from __future__ import annotations

import re
from typing import Any

import structlog

from connectors.base import SinkAction
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.settings import HubSpotSettings
from connectors.kit.http import HttpRejected

log = structlog.get_logger(__name__)

REFERENCE_PROPERTY = "crmbot_case_reference"
TICKET_TO_CONTACT = 16  # HUBSPOT_DEFINED ticket -> contact
_EXISTING = re.compile(r"Existing ID: (\d+)")


def _find(api: HubSpotApi, reference: str) -> str | None:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": REFERENCE_PROPERTY, "operator": "EQ", "value": reference}
                ]
            }
        ],
        "properties": [REFERENCE_PROPERTY],
        "limit": 1,
    }
    found = (api.search("tickets", body) or {}).get("results") or []
    return str(found[0]["id"]) if found else None


def _contact(api: HubSpotApi, email: str, contacts: dict[str, str]) -> str | None:
    """The id of the contact with this e-mail, created if HubSpot has none."""
    key = email.strip().lower()
    if not key or "@" not in key:
        return None
    if key in contacts:
        return contacts[key]
    wanted = {"propertyName": "email", "operator": "EQ", "value": key}
    body = {"filterGroups": [{"filters": [wanted]}], "properties": ["email"], "limit": 1}
    found = (api.search("contacts", body) or {}).get("results") or []
    if found:
        contacts[key] = str(found[0]["id"])
        return contacts[key]
    try:
        created = api.post("/crm/v3/objects/contacts", {"properties": {"email": key}})
        contacts[key] = str(created["id"])
    except HttpRejected as exc:  # 409: created meanwhile (search trails writes)
        existing = _EXISTING.search(exc.vendor_message)
        if exc.status_code != 409 or existing is None:
            raise
        contacts[key] = existing.group(1)
    return contacts[key]


def _create(
    api: HubSpotApi, settings: HubSpotSettings, target: dict[str, Any], contacts: dict[str, str]
) -> str:
    reference = str(target["reference"])
    subject = str(target.get("subject") or "").strip() or "(no subject)"
    properties = {
        "subject": f"[#{reference}] {subject}"[:250],
        "hs_pipeline": settings.pipeline or "0",
        "hs_pipeline_stage": settings.new_ticket_stage,
        REFERENCE_PROPERTY: reference,
    }
    body: dict[str, Any] = {"properties": properties}
    contact_id = _contact(api, str(target.get("email") or ""), contacts)
    if contact_id:  # agents see who asked; a HubSpot source reading it threads it back
        kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TICKET_TO_CONTACT}
        body["associations"] = [{"to": {"id": contact_id}, "types": [kind]}]
    created = api.post("/crm/v3/objects/tickets", body)
    log.info("hubspot_ticket_opened_for_case", case=reference, ticket_id=str(created["id"]))
    return str(created["id"])


def resolve(
    api: HubSpotApi,
    settings: HubSpotSettings,
    actions: list[SinkAction],
    known: dict[str, str],
    known_contacts: dict[str, str],
) -> None:
    """Point every action aimed at a case at that case's ticket (found or opened) in place."""
    for action in actions:
        target = action.target or {}
        if target.get("type") != "case" or not target.get("reference"):
            continue
        reference = str(target["reference"])
        ticket_id = known.get(reference)
        if ticket_id is None and settings.open_tickets_for_cases:
            ticket_id = _find(api, reference) or _create(api, settings, target, known_contacts)
            known[reference] = ticket_id
        if ticket_id is not None:
            action.target = {"type": "ticket", "id": ticket_id}
