"""The pipeline's typed entities: a case and a contact as stored, built from their rows,
and the key of the CRM ticket a request came from.

The store's read functions (bot/store/cases.py, bot/store/contacts.py) return these; stages
change them through their update methods, never in place. `as_row` gives the stored columns
back (what the held-back batch writes and the row adapter use); `as_template_dict` the plain
values templates and rule facts read (status as its string, tags as a list).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from bot.errors import SkippableError
from bot.status import CaseStatus


class UnknownCaseStatus(SkippableError, ValueError):
    """A stored case has a status outside `CaseStatus`: the row is not one crmbot wrote."""


class InvalidEntityRow(SkippableError, ValueError):
    """A stored row lacks a required column or holds a value of the wrong type."""


def case_status(value: Any, *, reference: str = "") -> CaseStatus:
    """A stored status as `CaseStatus`; anything else is refused with the known values."""
    if isinstance(value, CaseStatus):
        return value
    try:
        return CaseStatus(str(value))
    except ValueError:
        known = ", ".join(s.value for s in CaseStatus)
        where = f"case {reference}" if reference else "a case"
        raise UnknownCaseStatus(
            f"{where} has the unknown status {value!r} (known: {known})"
        ) from None


def _json(value: Any) -> Any:
    """A JSON column's value (some drivers hand raw SQL results back as text)."""
    return json.loads(value) if isinstance(value, str) else value


def _required(row: Mapping[str, Any], name: str) -> Any:
    if name not in row or row[name] is None:
        raise InvalidEntityRow(f"row {row.get('id')!r} has no {name}")
    return row[name]


def _datetime(row: Mapping[str, Any], name: str) -> datetime:
    value = _required(row, name)
    if not isinstance(value, datetime):
        raise InvalidEntityRow(f"row {row.get('id')!r}: {name} is not a datetime: {value!r}")
    return value


def _optional_datetime(row: Mapping[str, Any], name: str) -> datetime | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidEntityRow(f"row {row.get('id')!r}: {name} is not a datetime: {value!r}")
    return value


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """A CRM ticket's stable key: every version of the ticket threads to one case. Stored
    (requests.thread_key, `Request.thread_key`) as its string, "source:ticket_id"."""

    source: str
    ticket_id: str

    @classmethod
    def parse(cls, key: str) -> ThreadKey:
        """The key of a stored string (no ':' gives an empty ticket id)."""
        source, _, ticket_id = key.partition(":")
        return cls(source, ticket_id)

    def __str__(self) -> str:
        return f"{self.source}:{self.ticket_id}"


Pause = tuple[str, str | None]  # (start, end) ISO timestamps; end None while paused


@dataclass(frozen=True, slots=True)
class Case:
    """A case as stored (with the batch's held-back changes applied)."""

    # The columns of the `cases` table, in its order (bot/store/schema.py).
    id: int
    reference: str
    contact_id: int | None
    subject: str
    status: CaseStatus
    channel: str
    language: str | None
    category: str | None
    category_confidence: float | None
    priority: str | None
    impact_score: float | None
    reasons: tuple[dict[str, Any], ...]
    tags: tuple[str, ...]
    sla: dict[str, Any] | None
    pauses: tuple[Pause, ...]
    first_response_due: datetime | None
    resolution_due: datetime | None
    request_count: int
    follow_up_count: int
    duplicate_count: int
    merged_into: int | None
    opened_at: datetime
    last_request_at: datetime
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Case:
        """The case of a `cases` row (extra columns, e.g. a join's, are ignored)."""
        reference = str(row.get("reference") or "")
        return cls(
            id=int(_required(row, "id")),
            reference=reference,
            subject=str(row.get("subject") or ""),
            status=case_status(_required(row, "status"), reference=reference),
            channel=str(_required(row, "channel")),
            opened_at=_datetime(row, "opened_at"),
            last_request_at=_datetime(row, "last_request_at"),
            created_at=_datetime(row, "created_at"),
            updated_at=_datetime(row, "updated_at"),
            contact_id=_optional_int(row.get("contact_id")),
            language=_optional_str(row.get("language")),
            category=_optional_str(row.get("category")),
            category_confidence=_optional_float(row.get("category_confidence")),
            priority=_optional_str(row.get("priority")),
            impact_score=_optional_float(row.get("impact_score")),
            reasons=tuple(dict(r) for r in _json(row.get("reasons")) or ()),
            tags=tuple(str(t) for t in _json(row.get("tags")) or ()),
            sla=_json(row.get("sla")),
            pauses=tuple(_pause(p) for p in _json(row.get("pauses")) or ()),
            first_response_due=_optional_datetime(row, "first_response_due"),
            resolution_due=_optional_datetime(row, "resolution_due"),
            request_count=int(row.get("request_count") or 0),
            follow_up_count=int(row.get("follow_up_count") or 0),
            duplicate_count=int(row.get("duplicate_count") or 0),
            merged_into=_optional_int(row.get("merged_into")),
            first_response_at=_optional_datetime(row, "first_response_at"),
        )

    @property
    def is_merged(self) -> bool:
        """Whether the case was soft-merged into another one."""
        return self.merged_into is not None

    def previous_fields(self) -> dict[str, Any]:
        """What the rules compare a decision with (`previous.status`, `.category`,
        `.priority`): these fields before the request."""
        return {"status": self.status.value, "category": self.category, "priority": self.priority}

    def pause_list(self) -> list[list[str | None]]:
        """The SLA pauses as stored: [[start, end|null], …]."""
        return [[start, end] for start, end in self.pauses]

    def with_request(
        self, *, relation: str, last_request_at: datetime, updated_at: datetime
    ) -> Case:
        """The case with one more request of this relation counted."""
        return replace(
            self,
            request_count=self.request_count + 1,
            follow_up_count=self.follow_up_count + int(relation == "follow_up"),
            duplicate_count=self.duplicate_count + int(relation == "duplicate"),
            last_request_at=last_request_at,
            updated_at=updated_at,
        )

    def with_decision(self, values: Mapping[str, Any], *, updated_at: datetime) -> Case:
        """The case with a decision's fields (bot/store/cases.py: DECISION_FIELDS) set."""
        return replace(
            self,
            category=_optional_str(values["category"]),
            category_confidence=_optional_float(values["category_confidence"]),
            priority=_optional_str(values["priority"]),
            impact_score=_optional_float(values["impact_score"]),
            reasons=tuple(values["reasons"] or ()),
            tags=tuple(str(t) for t in values["tags"] or ()),
            sla=values["sla"],
            first_response_due=values["first_response_due"],
            resolution_due=values["resolution_due"],
            updated_at=updated_at,
        )

    def decision_values(self) -> dict[str, Any]:
        """The decision's fields as stored (bot/store/cases.py: DECISION_FIELDS)."""
        return {
            "category": self.category,
            "category_confidence": self.category_confidence,
            "priority": self.priority,
            "impact_score": self.impact_score,
            "reasons": list(self.reasons),
            "tags": list(self.tags),
            "sla": self.sla,
            "first_response_due": self.first_response_due,
            "resolution_due": self.resolution_due,
        }

    def as_row(self) -> dict[str, Any]:
        """The stored columns (JSON ones as lists, status as its string)."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["status"] = self.status.value
        row["reasons"] = list(self.reasons)
        row["tags"] = list(self.tags)
        row["pauses"] = self.pause_list()
        return row

    def as_template_dict(self) -> dict[str, Any]:
        """The case's own variables in rule conditions and templates (`case.status` …), as
        plain values: status as its string, tags and pauses as lists, created_at the opening.
        (bot/facts.py adds those of the request: `case.source`, `case.amount` ….)"""
        return {
            "reference": self.reference,
            "status": self.status.value,
            "category": self.category,
            "priority": self.priority,
            "follow_up_count": self.follow_up_count,
            "request_count": self.request_count,
            "duplicate_count": self.duplicate_count,
            "channel": self.channel,
            "language": self.language,
            "created_at": self.opened_at,
            "updated_at": self.updated_at,
            "tags": list(self.tags),
            "pauses": self.pause_list(),
            "first_response_due": self.first_response_due,
            "resolution_due": self.resolution_due,
        }


def _pause(value: Any) -> Pause:
    start, end = value
    return (str(start), None if end is None else str(end))


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as stored."""

    # The columns of the `contacts` table, in its order (bot/store/schema.py).
    id: int
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    company: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    merged_into: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    bouncing_email: str | None = None
    bouncing_since: datetime | None = None
    bounce_reason: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Contact:
        """The contact of a `contacts` row (extra columns are ignored)."""
        return cls(
            id=int(_required(row, "id")),
            email=_optional_str(row.get("email")),
            name=_optional_str(row.get("name")),
            phone=_optional_str(row.get("phone")),
            company=_optional_str(row.get("company")),
            external_ids={
                str(k): str(v) for k, v in (_json(row.get("external_ids")) or {}).items()
            },
            attributes=dict(_json(row.get("attributes")) or {}),
            merged_into=_optional_int(row.get("merged_into")),
            created_at=_optional_datetime(row, "created_at"),
            updated_at=_optional_datetime(row, "updated_at"),
            bouncing_email=_optional_str(row.get("bouncing_email")),
            bouncing_since=_optional_datetime(row, "bouncing_since"),
            bounce_reason=_optional_str(row.get("bounce_reason")),
        )

    def with_attributes(self, attributes: Mapping[str, Any]) -> Contact:
        """The contact with these attributes (its CRM profile) in place of its own."""
        return replace(self, attributes=dict(attributes))

    def as_row(self) -> dict[str, Any]:
        """The stored columns."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["external_ids"] = dict(self.external_ids)
        row["attributes"] = dict(self.attributes)
        return row

    def as_template_dict(self) -> dict[str, Any]:
        """The contact's variables in rule conditions and templates (`contact.tier` …): its
        address, name and phone, then its CRM profile (attributes less company and identity,
        which the rules see elsewhere or not at all)."""
        return {
            "email": self.email,
            "name": self.name,
            "phone": self.phone,
            "tier": self.attributes.get("tier"),
            "vip": bool(self.attributes.get("vip", False)),
            **{k: v for k, v in self.attributes.items() if k not in ("company", "identity")},
        }
