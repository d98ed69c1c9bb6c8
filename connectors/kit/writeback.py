"""Write-back shared by CRM connectors: where it goes, which fields crmbot owns, what it wrote.

`WriteBackSettings` is the typed view of the write-back the runtime routes by: each source's
`write_back` sink and every sink's validated settings (what a sink performs follows from
them, e.g. RT's `tags_custom_field`). bot/routing.py builds it once from the configured
connectors; routing, the CRM merge and the stages read it, never the raw settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import ConnectorSettings

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


class _Target(BaseModel):
    """The write-back part of one source's settings, read from any connector's raw settings."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    write_back: str | None = None


class WriteBackSettings(BaseModel):
    """Where each source writes back (source -> sink name), and every sink's settings."""

    model_config = ConfigDict(frozen=True)

    targets: dict[str, str] = Field(default_factory=dict)
    sinks: dict[str, ConnectorSettings] = Field(default_factory=dict)

    @classmethod
    def of(
        cls,
        sources: Mapping[str, ConnectorSettings | Mapping[str, Any]],
        sinks: Mapping[str, ConnectorSettings] | None = None,
    ) -> WriteBackSettings:
        """From the sources' settings (validated; a raw one is read for `write_back` only)."""
        targets: dict[str, str] = {}
        for name, conf in sources.items():
            target = (
                conf.write_back
                if isinstance(conf, ConnectorSettings)
                else _Target.model_validate(conf).write_back
            )
            if target:
                targets[name] = target
        return cls(targets=targets, sinks=dict(sinks or {}))

    def sink_for(self, source: str | None) -> str | None:
        """The sink that receives the write-back of `source` (None: it writes back nowhere)."""
        return self.targets.get(source or "")

    def write_back_sinks(self) -> list[str]:
        """The names of the sinks some source writes back to, sorted."""
        return sorted(set(self.targets.values()))
