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
Across replicas, the outbox hands a case's actions in a sink to one replica at a time, and
gives each the ticket an earlier action of the case reported (`SinkAction.case_ticket`).
A case none of whose actions was handed to this sink before (`SinkAction.first_of_case`, from
the outbox) cannot have a ticket yet: it is opened without a search. The ticket is created
with what the case's first actions set (`fold`: crmbot's fields, the rules' priority, stage,
tags...); HubSpot refusing one of those values opens the ticket without them, and the
actions are then written as updates (only the culprit is skipped).
Search is limited to a few requests a second: the references of one claim are looked up five
at a time (one filter group each), the requesters' contacts by a batch read keyed by
e-mail (`idProperty`), which is not a search, and what is missing is created in batches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
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
FILTER_GROUPS = 5  # HubSpot search: at most 5 filter groups (ORed)
BATCH_MAX = 100


def _find_many(api: HubSpotApi, references: list[str]) -> dict[str, str]:
    """Reference -> ticket id for those that have a ticket (five references a search)."""
    found: dict[str, str] = {}
    for start in range(0, len(references), FILTER_GROUPS):
        part = references[start : start + FILTER_GROUPS]
        groups = [
            {"filters": [{"propertyName": REFERENCE_PROPERTY, "operator": "EQ", "value": ref}]}
            for ref in part
        ]
        body = {
            "filterGroups": groups,
            "properties": [REFERENCE_PROPERTY],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "limit": 100,
        }
        for result in (api.search("tickets", body) or {}).get("results") or []:
            ref = (result.get("properties") or {}).get(REFERENCE_PROPERTY)
            if ref in part:
                found.setdefault(str(ref), str(result["id"]))  # the oldest, if two
    return found


def _known_contacts(api: HubSpotApi, emails: list[str], contacts: dict[str, str]) -> None:
    """Fill `contacts` with the ids of these e-mails' contacts, read in batches by e-mail."""
    wanted = [e for e in dict.fromkeys(emails) if e not in contacts]
    for start in range(0, len(wanted), BATCH_MAX):
        body = {
            "idProperty": "email",
            "properties": ["email"],
            "inputs": [{"id": e} for e in wanted[start : start + BATCH_MAX]],
        }
        data = api.http.post(
            "/crm/v3/objects/contacts/batch/read", json=body, limiters=[api.general]
        )
        for result in (data or {}).get("results") or []:
            email = str((result.get("properties") or {}).get("email") or "").lower()
            if email:
                contacts[email] = str(result["id"])


def _contact(api: HubSpotApi, email: str, contacts: dict[str, str]) -> str | None:
    """The id of the contact with this e-mail, created if HubSpot has none."""
    key = email.strip().lower()
    if not key or "@" not in key:
        return None
    if key in contacts:
        return contacts[key]
    _known_contacts(api, [key], contacts)
    if key in contacts:
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


def _ticket_input(
    settings: HubSpotSettings,
    target: dict[str, Any],
    contact_id: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    reference = str(target["reference"])
    subject = str(target.get("subject") or "").strip() or "(no subject)"
    properties = {
        "hs_pipeline": settings.pipeline or "0",
        "hs_pipeline_stage": settings.new_ticket_stage,
        **(extra or {}),  # what the case's first actions set (a rule's stage wins)
        "subject": f"[#{reference}] {subject}"[:250],
        REFERENCE_PROPERTY: reference,
    }
    body: dict[str, Any] = {"properties": properties}
    if contact_id:  # agents see who asked; a HubSpot source reading it threads it back
        kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TICKET_TO_CONTACT}
        body["associations"] = [{"to": {"id": contact_id}, "types": [kind]}]
    return body


def _email(target: dict[str, Any]) -> str:
    return str(target.get("email") or "").strip().lower()


@dataclass
class Opening:
    """A ticket to open for a case: where it points, and what its first actions set."""

    target: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict)  # folded into the creation
    outbox_ids: list[int] = field(default_factory=list)  # the actions those came from


@dataclass
class Opened:
    """A ticket opened for a case, and whether its actions' properties went in with it."""

    ticket_id: str
    version: Any
    folded: bool


def _create(
    api: HubSpotApi, settings: HubSpotSettings, opening: Opening, contacts: dict[str, str]
) -> Opened:
    """Open one ticket; if HubSpot refuses it with the actions' properties (a bad value),
    open it without them: those actions are then written as updates, where HubSpot's
    refusal skips only the culprit, with its reason."""
    target = opening.target
    contact_id = _contact(api, _email(target), contacts)
    folded = bool(opening.properties)
    try:
        body = _ticket_input(settings, target, contact_id, opening.properties)
        created = api.post("/crm/v3/objects/tickets", body)
    except HttpRejected as exc:
        if not folded or exc.status_code != 400:
            raise
        log.warning("hubspot_ticket_refused_with_properties", case=target["reference"])
        folded = False
        created = api.post("/crm/v3/objects/tickets", _ticket_input(settings, target, contact_id))
    log.info("hubspot_ticket_opened_for_case", case=target["reference"], ticket_id=created["id"])
    return Opened(str(created["id"]), _version(created), folded)


def _version(record: dict[str, Any]) -> Any:
    return (record.get("properties") or {}).get("hs_lastmodifieddate") or record.get("updatedAt")


def _created(
    api: HubSpotApi, object_type: str, inputs: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Batch-create records keyed by trace id; trace -> the record of those created (others
    failed)."""
    if not inputs:
        return {}
    traced = [{**body, "objectWriteTraceId": trace} for trace, body in inputs.items()]
    outcome = api.batch_create(object_type, traced)
    return {
        str(r["objectWriteTraceId"]): r
        for r in outcome.results
        if r.get("objectWriteTraceId") in inputs
    }


def _open_many(
    api: HubSpotApi,
    settings: HubSpotSettings,
    openings: dict[str, Opening],
    contacts: dict[str, str],
) -> dict[str, Opened]:
    """Open a ticket for each case reference (contacts first): in batches, one by one for
    those a batch refused (the single create says why, or finds the contact made meanwhile)."""
    emails = {_email(o.target) for o in openings.values()}
    wanted = sorted(e for e in emails if "@" in e and e not in contacts)
    _known_contacts(api, wanted, contacts)
    new = {e: {"properties": {"email": e}} for e in wanted if e not in contacts}
    contacts.update({e: str(r["id"]) for e, r in _created(api, "contacts", new).items()})
    inputs = {
        ref: _ticket_input(settings, o.target, contacts.get(_email(o.target)), o.properties)
        for ref, o in openings.items()
        if "@" not in _email(o.target) or _email(o.target) in contacts
    }
    opened = {
        ref: Opened(str(record["id"]), _version(record), bool(openings[ref].properties))
        for ref, record in _created(api, "tickets", inputs).items()
    }
    for ref, opening in openings.items():
        if ref not in opened:
            opened[ref] = _create(api, settings, opening, contacts)
    log.info("hubspot_tickets_opened_for_cases", count=len(opened))
    return opened


Fold = Callable[[list[SinkAction]], tuple[dict[str, Any], list[int]]]


def resolve(
    api: HubSpotApi,
    settings: HubSpotSettings,
    actions: list[SinkAction],
    known: dict[str, str],
    known_contacts: dict[str, str],
    fold: Fold | None = None,
) -> dict[int, Opened]:
    """Point every action aimed at a case at that case's ticket (found or opened) in place.

    A case none of whose actions was handed to this sink before (`first_of_case`) has no
    ticket yet: it is opened without a search. `fold(actions)` gives the properties a new
    ticket can be created with (and the outbox ids of the actions they come from): those
    actions are then done with the creation, and returned (outbox id -> the ticket opened).
    """
    cases: dict[str, dict[str, Any]] = {}
    of_case: dict[str, list[SinkAction]] = {}
    for action in actions:
        target = action.target or {}
        if target.get("type") == "case" and target.get("reference"):
            ref = str(target["reference"])
            cases.setdefault(ref, target)
            of_case.setdefault(ref, []).append(action)
    for ref, acts in of_case.items():
        if ref not in known:  # what an earlier action of the case opened or found here
            ticket = next((a.case_ticket for a in acts if a.case_ticket), None)
            if ticket is not None:
                known[ref] = ticket
    done: dict[int, Opened] = {}
    missing = [ref for ref in cases if ref not in known]
    if missing and settings.open_tickets_for_cases:
        maybe = [ref for ref in missing if not all(a.first_of_case for a in of_case[ref])]
        if maybe:
            known.update(_find_many(api, maybe))
        openings: dict[str, Opening] = {}
        for ref in missing:
            if ref in known:
                continue
            properties, outbox_ids = fold(of_case[ref]) if fold else ({}, [])
            openings[ref] = Opening(cases[ref], properties, outbox_ids)
        for ref, opened in _open_many(api, settings, openings, known_contacts).items():
            known[ref] = opened.ticket_id
            if opened.folded:
                done.update(dict.fromkeys(openings[ref].outbox_ids, opened))
    for action in actions:
        target = action.target or {}
        if target.get("type") != "case" or not target.get("reference"):
            continue
        ticket_id = known.get(str(target["reference"]))
        if ticket_id is not None:
            action.target = {"type": "ticket", "id": ticket_id}
    return done
