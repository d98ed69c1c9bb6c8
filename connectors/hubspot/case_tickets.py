"""A case that came by mail has no HubSpot ticket yet: find it by reference, or open one.

An action whose target is {"type": "case", "reference": "CB-12", "subject": …} (a request
from a mailbox whose source writes back to HubSpot) is pointed at the ticket whose
`crmbot_case_reference` is that reference. If none exists, the sink creates one in
`pipeline` / `new_ticket_stage`, its subject prefixed with "[#CB-12]" (so a HubSpot source
polling the same account threads it back into the same case), with crmbot_case_reference set.

HubSpot search trails writes by some seconds, so the sink also remembers the tickets it
created (for its lifetime): a second cycle right after the first finds them without search.
"""

from __future__ import annotations

from typing import Any

import structlog

from connectors.base import SinkAction
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.settings import HubSpotSettings

log = structlog.get_logger(__name__)

REFERENCE_PROPERTY = "crmbot_case_reference"


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


def _create(api: HubSpotApi, settings: HubSpotSettings, target: dict[str, Any]) -> str:
    reference = str(target["reference"])
    subject = str(target.get("subject") or "").strip() or "(no subject)"
    properties = {
        "subject": f"[#{reference}] {subject}"[:250],
        "content": str(target.get("email") or ""),
        "hs_pipeline": settings.pipeline or "0",
        "hs_pipeline_stage": settings.new_ticket_stage,
        REFERENCE_PROPERTY: reference,
    }
    created = api.post("/crm/v3/objects/tickets", {"properties": properties})
    log.info("hubspot_ticket_opened_for_case", case=reference, ticket_id=str(created["id"]))
    return str(created["id"])


def resolve(
    api: HubSpotApi,
    settings: HubSpotSettings,
    actions: list[SinkAction],
    known: dict[str, str],
) -> None:
    """Point every action aimed at a case at that case's ticket (found or opened) in place."""
    for action in actions:
        target = action.target or {}
        if target.get("type") != "case" or not target.get("reference"):
            continue
        reference = str(target["reference"])
        ticket_id = known.get(reference)
        if ticket_id is None and settings.open_tickets_for_cases:
            ticket_id = _find(api, reference) or _create(api, settings, target)
            known[reference] = ticket_id
        if ticket_id is not None:
            action.target = {"type": "ticket", "id": ticket_id}
