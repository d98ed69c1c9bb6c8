"""Small helpers to map vendor records to crmbot's field names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.errors import MalformedInput
from bot.models import SourceRecord


def parse_timestamp(value: Any) -> datetime:
    """An aware UTC datetime from ISO 8601 (with Z or offset) or epoch milliseconds/seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):  # beyond what a calendar date can be
            raise MalformedInput(f"timestamp out of range: {str(value)[:40]!r}") from None
    if not isinstance(value, str) or not value.strip():
        raise MalformedInput(f"not a timestamp: {str(value)[:40]!r}")
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²" is a digit to isdigit(), not to int()
        return parse_timestamp(int(text))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedInput(f"not a timestamp: {text[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, the form HubSpot and Zendesk use."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch."""
    return round(moment.timestamp() * 1000)


def synthetic_message_id(connector: str, kind: str, record_id: str) -> str:
    """A stable Message-ID-like key for a CRM record, e.g. hubspot-ticket-42@crmbot.invalid."""
    return f"{connector}-{kind}-{record_id}@crmbot.invalid"


def clean_str(value: Any) -> str | None:
    """A stripped string, or None for empty/None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def truthy(value: Any) -> bool:
    """A vendor boolean as a bool ("true", "1", "yes", True)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes", "y", "on"}


def ticket_record(
    source: str, ticket_id: str, fields: dict[str, Any], body: str, created: datetime
) -> SourceRecord:
    """A CRM ticket as a record: `ticket:<id>`, its size the body's UTF-8 bytes."""
    return SourceRecord(
        source=source,
        source_id=f"ticket:{ticket_id}",
        kind="ticket",
        fields=fields,
        size=len(body.encode()),
        received_at=created,
    )
