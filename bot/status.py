"""Case statuses: the one vocabulary (CaseStatus), vendors' ticket statuses mapped to it,
and the SLA pauses they imply. Dedup, timers, write-back and the CLI all use this module."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any


class CaseStatus(StrEnum):
    """crmbot's case statuses (stored as their string value)."""

    NEW = "new"
    OPEN = "open"
    WAITING_CUSTOMER = "waiting_customer"
    WAITING_THIRD_PARTY = "waiting_third_party"
    PENDING_VERIFICATION = "pending_verification"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Open: the case may still get requests attached (a chase of a case waiting on the customer
# is a follow-up of it) and its SLA timers still fire. Closed: done with.
OPEN_STATUSES: frozenset[CaseStatus] = frozenset(
    {
        CaseStatus.NEW,
        CaseStatus.OPEN,
        CaseStatus.WAITING_CUSTOMER,
        CaseStatus.WAITING_THIRD_PARTY,
        CaseStatus.PENDING_VERIFICATION,
    }
)
CLOSED_STATUSES: frozenset[CaseStatus] = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})


def is_open(status: str | None) -> bool:
    """Whether a stored status is an open one (an unknown status counts as open)."""
    return status not in CLOSED_STATUSES


DEFAULT_STATUS_MAP: dict[str, CaseStatus] = {
    # Zendesk
    "new": CaseStatus.NEW,
    "open": CaseStatus.OPEN,
    "pending": CaseStatus.WAITING_CUSTOMER,
    "hold": CaseStatus.WAITING_THIRD_PARTY,
    "solved": CaseStatus.RESOLVED,
    "closed": CaseStatus.CLOSED,
    # Request Tracker
    "stalled": CaseStatus.WAITING_THIRD_PARTY,
    "resolved": CaseStatus.RESOLVED,
    "rejected": CaseStatus.CLOSED,
    "deleted": CaseStatus.CLOSED,
    # HubSpot's default ticket pipeline stages
    "1": CaseStatus.NEW,
    "2": CaseStatus.WAITING_CUSTOMER,
    "3": CaseStatus.OPEN,
    "4": CaseStatus.CLOSED,
    # crmbot's own names pass through
    **{status.value: status for status in CaseStatus},
}


def map_status(raw: Any, source_map: dict[str, str]) -> CaseStatus | None:
    """crmbot's status for a vendor status (the source's own map first), or None if unknown."""
    if raw is None or raw == "":
        return None
    key = str(raw).strip().lower()
    mapped = {k.lower(): v for k, v in source_map.items()}
    value = mapped.get(key)
    if value is not None:
        try:
            return CaseStatus(str(value).strip().lower())
        except ValueError:
            return None
    return DEFAULT_STATUS_MAP.get(key)


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
