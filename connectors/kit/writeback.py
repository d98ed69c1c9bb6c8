"""Write-back helpers shared by CRM sinks: which fields crmbot owns, what it wrote last."""

from __future__ import annotations

from typing import Any

# What crmbot's pipeline calls the CRM's own priority field.
FIELD_ALIASES = {"crmbot_priority": "priority", "crmbot_tags": "tags"}


def split_owned(fields: dict[str, Any], owned: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    """(owned fields by their canonical name, without None values; names not owned here)."""
    kept: dict[str, Any] = {}
    refused: list[str] = []
    for name, value in fields.items():
        key = FIELD_ALIASES.get(name, name)
        if key not in owned:
            refused.append(name)
        elif value is not None:
            kept[key] = value
    return kept, sorted(refused)


def last_written(payload: dict[str, Any]) -> dict[str, Any]:
    """The values crmbot last wrote (`written`, as the HubSpot sink names it, or `previous`)."""
    raw = payload.get("written") or payload.get("previous") or {}
    if not isinstance(raw, dict):
        return {}
    return {FIELD_ALIASES.get(str(k), str(k)): v for k, v in raw.items()}
