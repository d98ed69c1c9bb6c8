"""The status and priority crmbot's actions set on a Zendesk ticket, as the source reads them."""

from __future__ import annotations

from typing import Any

from bot.actions import Escalate, SetField, SetPriority, UpdateFields
from bot.errors import MalformedInput
from connectors.base import SinkAction
from connectors.kit.tickets import mapped_key
from connectors.kit.writeback import split_owned
from connectors.zendesk.settings import ZendeskSettings


def read_back(settings: ZendeskSettings, action: SinkAction) -> dict[str, str]:
    """What performing `action` sets among the ticket's `status` and `priority` (the sink's
    mapping: update_fields and set_priority through `priority_map`, escalate's level,
    set_field on Zendesk's own status or priority)."""
    try:
        spec = action.typed()
    except MalformedInput:
        return {}
    out: dict[str, Any] = {}
    if isinstance(spec, UpdateFields):
        out["priority"] = _priority(settings, split_owned(spec.fields, frozenset({"priority"}))[0])
    elif isinstance(spec, SetPriority):
        out["priority"] = _priority(settings, {"priority": spec.priority})
    elif isinstance(spec, Escalate) and spec.to:
        out["priority"] = _priority(settings, {"priority": spec.to})
    elif isinstance(spec, SetField) and mapped_key(spec.field, settings.custom_fields) is None:
        name = spec.field.split(".", 1)[1] if "." in spec.field else spec.field
        if name in ("status", "priority"):
            out[name] = spec.value
    return {k: str(v) for k, v in out.items() if v is not None and str(v)}


def _priority(settings: ZendeskSettings, fields: dict[str, Any]) -> str | None:
    value = fields.get("priority")
    if value is None:
        return None
    return str(settings.priority_map.get(str(value), str(value)))
