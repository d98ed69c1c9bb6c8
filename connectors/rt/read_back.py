"""The priority crmbot's actions set on an RT ticket, as the RT source reads it back."""

from __future__ import annotations

from typing import Any

from bot.actions import Escalate, SetPriority, UpdateFields
from bot.errors import MalformedInput
from connectors.base import SinkAction
from connectors.kit.writeback import split_owned
from connectors.rt.settings import RtSettings


def read_back(settings: RtSettings, action: SinkAction) -> dict[str, str]:
    """What performing `action` sets among the ticket's status and priority: RT's Priority
    (update_fields, set_priority and escalate, through `priority_map`); crmbot never writes
    an RT ticket's Status."""
    try:
        spec = action.typed()
    except MalformedInput:
        return {}
    level: Any = None
    if isinstance(spec, UpdateFields):
        level = split_owned(spec.fields, frozenset({"priority"}))[0].get("priority")
    elif isinstance(spec, SetPriority):
        level = spec.priority
    elif isinstance(spec, Escalate):
        level = spec.to
    if level is None:
        return {}
    try:
        number = int(settings.priority_map.get(str(level), level))
    except (TypeError, ValueError):
        return {}
    return {"priority": str(number)} if 0 <= number <= 99 else {}
