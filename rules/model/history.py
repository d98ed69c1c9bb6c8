"""Training examples from a CRM's closed tickets, read through crmbot's own source connectors.

The category an agent gave a ticket is read from one of its mapped fields:
- `tags` with a prefix (Zendesk: the tag `cat_billing` gives `billing`),
- `custom_fields.<name>` (Zendesk custom field, by its crmbot name),
- `queue` (Request Tracker: the queue, through a queue → category map),
- `category` (HubSpot: the ticket category property),
each value optionally mapped (`mapping`) to a pack category. Only closed tickets count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connectors.base import Source
from rules.model.data import Example, clean_body

CLOSED = frozenset({"closed", "solved", "resolved"})


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """Where a ticket's category is, and how its raw value becomes a pack category."""

    field: str
    prefix: str = ""
    mapping: dict[str, str] = dataclasses.field(default_factory=dict)
    closed: frozenset[str] = CLOSED

    @classmethod
    def parse(cls, text: str, closed: str | None = None) -> LabelSpec:
        """From `FIELD[:PREFIX][;raw=category,…]`, e.g. `tags:cat_` or `queue;Factu=billing`.

        `closed` lists the statuses that count as closed, comma-separated.
        """
        head, _, maps = text.partition(";")
        name, _, prefix = head.partition(":")
        mapping = dict(pair.split("=", 1) for pair in maps.split(",") if "=" in pair)
        statuses = (
            frozenset(x.strip().lower() for x in closed.split(",") if x.strip())
            if closed
            else CLOSED
        )
        return cls(
            name.strip(), prefix, {k.strip(): v.strip() for k, v in mapping.items()}, statuses
        )

    def _raw(self, fields: dict[str, Any]) -> list[str]:
        if self.field == "tags":
            tags = fields.get("tags") or []
            return [t[len(self.prefix) :] for t in tags if str(t).startswith(self.prefix)]
        value: Any = fields
        for key in self.field.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return [str(value)] if value not in (None, "") else []

    def label(self, fields: dict[str, Any]) -> str | None:
        """The category of one mapped ticket, or None (no label, or two different ones)."""
        found = {self.mapping.get(v, v) for v in self._raw(fields)}
        if self.mapping:
            found &= set(self.mapping.values())
        return found.pop() if len(found) == 1 else None


def closed_examples(records: Iterable[Any], spec: LabelSpec) -> list[Example]:
    """Labelled examples from mapped ticket records (closed tickets with one category)."""
    out = []
    for rec in records:
        fields = rec.fields
        if rec.kind != "ticket" or str(fields.get("status") or "").lower() not in spec.closed:
            continue
        category = spec.label(fields)
        if category is None:
            continue
        out.append(
            Example(
                subject=str(fields.get("subject") or ""),
                body=clean_body(str(fields.get("body") or "")),
                category=category,
                id=f"{rec.source}:{rec.source_id}",
            )
        )
    return out


def read_closed(source: Source, spec: LabelSpec, batch_size: int = 100) -> list[Example]:
    """Every closed, labelled ticket of a source, read from the beginning (no cursor kept)."""
    records: list[Any] = []
    for batch in source.poll(None, batch_size):
        records.extend(batch.records)
    return closed_examples(records, spec)
