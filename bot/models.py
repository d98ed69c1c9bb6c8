"""The data that flows through the pipeline: what a source read, and the normalised request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Channel = Literal["email", "ticket", "form"]


@dataclass(slots=True, frozen=True)
class Attachment:
    """An attachment as listed (never stored): name, MIME type and decoded size in bytes."""

    filename: str
    content_type: str
    size: int


@dataclass(slots=True)
class SourceRecord:
    """One item exactly as a source read it, before normalisation.

    `source_id` is stable within the source (IMAP: "<uidvalidity>:<uid>", Maildir: the key,
    a CRM: the ticket id). Mail sources fill `raw`; CRM sources fill `fields` with the
    vendor record already mapped to crmbot's names. A "contact" record (a CRM's contact
    list) feeds identity and customer tier only: it opens no case. A source that refuses to
    download an item (over the size cap) sets `quarantine_reason` and puts only the headers
    in `raw`: the item is recorded, never silently dropped.
    """

    source: str
    source_id: str
    kind: Literal["email", "ticket", "contact"]
    raw: bytes | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    received_at: datetime | None = None
    quarantine_reason: str | None = None


@dataclass(slots=True)
class Request:
    """One incoming request, normalised whatever its channel."""

    source: str
    source_id: str
    channel: Channel
    message_id: str
    subject: str
    body_text: str
    body_clean: str
    sender_email: str | None = None
    sender_name: str | None = None
    sender_phone: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    thread_key: str | None = None  # a CRM ticket's stable key: every version threads to one case
    language: str | None = None
    received_at: datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    auto_reply: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)
    external_ids: dict[str, str] = field(default_factory=dict)
    # What a CRM says of the requester: {"tier", "vip", "company": {"name", "domain", "tier",
    # "strategic"}}; kept on the contact, so that the rules see strategic customers.
    crm_profile: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
