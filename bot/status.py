"""Case statuses: vendors' ticket statuses mapped to crmbot's, and the SLA pauses they imply."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# crmbot's statuses: new, open, waiting_customer, waiting_third_party, resolved, closed.
DEFAULT_STATUS_MAP: dict[str, str] = {
    # Zendesk
    "new": "new",
    "open": "open",
    "pending": "waiting_customer",
    "hold": "waiting_third_party",
    "solved": "resolved",
    "closed": "closed",
    # Request Tracker
    "stalled": "waiting_third_party",
    "resolved": "resolved",
    "rejected": "closed",
    "deleted": "closed",
    # HubSpot's default ticket pipeline stages
    "1": "new",
    "2": "waiting_customer",
    "3": "open",
    "4": "closed",
    # crmbot's own names pass through
    "waiting_customer": "waiting_customer",
    "waiting_third_party": "waiting_third_party",
}


def map_status(raw: Any, source_map: dict[str, str]) -> str | None:
    """crmbot's status for a vendor status (the source's own map first), or None if unknown."""
    if raw is None or raw == "":
        return None
    key = str(raw).strip().lower()
    mapped = {k.lower(): v for k, v in source_map.items()}
    return mapped.get(key) or DEFAULT_STATUS_MAP.get(key)


def track_pauses(
    pauses: list[list[Any]], old: str | None, new: str, paused: frozenset[str], at: datetime
) -> list[list[Any]]:
    """The pause list after a status change: a pause opens entering a paused status, and
    the open one closes when leaving it."""
    result = [list(p) for p in pauses]
    is_open = bool(result) and result[-1][1] is None
    if new in paused and not is_open:
        result.append([at.isoformat(), None])
    elif new not in paused and is_open:
        result[-1][1] = at.isoformat()
    return result
