"""HubSpot ticket changes that an admin's rules ask for: priority, owner, queue, fields, tags.

What each action becomes (settings in connectors/hubspot/settings.py):
- set_priority {"priority"} and escalate {"to"}: `hs_ticket_priority`, through
  `priority_map` (P1 URGENT, P2 HIGH, P3 MEDIUM, P4 LOW by default).
- assign {"owner"}: `hubspot_owner_id` (an owner id, or a name/e-mail listed in `owners`).
- assign {"queue"} and escalate {"queue"} (or `escalation_queue`): the pipeline stage listed
  in `queue_stages` (`hs_pipeline_stage`), else the `crmbot_queue` property.
- set_field {"field": "case.x"}: the property `field_properties` maps "x" (or "case.x") to;
  without a mapping, `crmbot_status` / `crmbot_queue` for status and queue; else skipped.
- add_tag / remove_tag: HubSpot tickets have no tags. crmbot keeps them in the `crmbot_tags`
  text property, ";"-separated. A multiple-checkbox property would only take options defined
  beforehand, so every new tag in a rule would need a schema change (the
  crm.schemas.tickets.write scope) at run time; a text property takes any tag, and HubSpot
  still filters views on "contains".
These are written as asked, without the enrichment's conflict check: a rule decided them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.actions import AddTag, Assign, Escalate, RemoveTag, SetField, SetPriority
from bot.errors import MalformedInput
from connectors.hubspot.settings import HubSpotSettings

TAGS_PROPERTY = "crmbot_tags"
DEFAULT_FIELD_PROPERTIES = {"status": "crmbot_status", "queue": "crmbot_queue"}


@dataclass
class TicketChange:
    """Everything the rules want changed on one ticket in this call."""

    ticket_id: str
    properties: dict[str, Any] = field(default_factory=dict)
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)

    @property
    def touches_tags(self) -> bool:
        """True when the current tags must be read first."""
        return bool(self.add_tags or self.remove_tags)


def _queue(settings: HubSpotSettings, queue: str) -> dict[str, Any]:
    stage = settings.queue_stages.get(queue)
    return {"hs_pipeline_stage": stage} if stage else {"crmbot_queue": queue}


def _priority(settings: HubSpotSettings, priority: str) -> str:
    return settings.priority_map.get(priority, priority)


def properties_for(settings: HubSpotSettings, spec: Any) -> dict[str, Any]:
    """The ticket properties one rule action sets; MalformedInput when it cannot be mapped."""
    if isinstance(spec, SetPriority):
        return {"hs_ticket_priority": _priority(settings, spec.priority)}
    if isinstance(spec, Escalate):
        out: dict[str, Any] = {}
        if spec.to:
            out["hs_ticket_priority"] = _priority(settings, spec.to)
        queue = spec.queue or settings.escalation_queue
        if queue:
            out.update(_queue(settings, queue))
        return out
    if isinstance(spec, Assign):
        out = {}
        if spec.queue:
            out.update(_queue(settings, spec.queue))
        if spec.owner:
            owner = settings.owners.get(spec.owner, spec.owner)
            if not str(owner).isdigit():
                raise MalformedInput(
                    f"assign owner {spec.owner!r}: not a HubSpot owner id nor listed in owners"
                )
            out["hubspot_owner_id"] = str(owner)
        return out
    if isinstance(spec, SetField):
        name = spec.field.split(".", 1)[1] if spec.field.startswith("case.") else spec.field
        prop = (
            settings.field_properties.get(spec.field)
            or settings.field_properties.get(name)
            or DEFAULT_FIELD_PROPERTIES.get(name)
        )
        if not prop:
            raise MalformedInput(
                f"set_field {spec.field}: no HubSpot property is mapped to it (field_properties)"
            )
        return {prop: "" if spec.value is None else spec.value}
    raise MalformedInput(f"not a property change: {spec.type}")


def collect(
    settings: HubSpotSettings, spec: Any, ticket_id: str, outbox_id: int, into: dict[str, Any]
) -> None:
    """Fold one rule action into the ticket's change (MalformedInput if it cannot be mapped)."""
    if isinstance(spec, AddTag | RemoveTag):
        props: dict[str, Any] = {}
    else:
        props = properties_for(settings, spec)
    change = into.setdefault(ticket_id, TicketChange(ticket_id))
    change.outbox_ids.append(outbox_id)
    change.properties.update(props)
    if isinstance(spec, AddTag):
        change.add_tags.append(spec.tag)
    elif isinstance(spec, RemoveTag):
        change.remove_tags.append(spec.tag)


def merged_tags(current: str | None, add: list[str], remove: list[str]) -> str:
    """The new `crmbot_tags` value: current tags, plus `add`, less `remove`, sorted."""
    tags = {t for t in (current or "").split(";") if t}
    tags |= set(add)
    tags -= set(remove)
    return ";".join(sorted(tags))


# The ticket properties the HubSpot source reads back as crmbot's "status" and "priority".
READ_BACK = {"hs_pipeline_stage": "status", "hs_ticket_priority": "priority"}


def read_back(settings: HubSpotSettings, action: Any) -> dict[str, str]:
    """The status and priority performing `action` sets, as the HubSpot source reads them."""
    try:
        spec = action.typed()
        if isinstance(spec, AddTag | RemoveTag):
            return {}
        props = properties_for(settings, spec)
    except MalformedInput:
        return {}
    return {READ_BACK[k]: str(v).strip() for k, v in props.items() if k in READ_BACK and v}
