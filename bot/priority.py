"""A CRM ticket's own priority read back as crmbot's P1–P4, and whether an agent set it.

crmbot writes its priority to the CRM; an agent may change it there. When a later version of
the ticket comes back with a priority that differs from the previous version's and from what
crmbot last wrote, an agent set it: the case keeps that priority, and the reasons crmbot had
so far count as judged, until the agent changes it again.
"""

from __future__ import annotations

from typing import Any

PRIORITIES = ("P1", "P2", "P3", "P4")
AGENT_REASON = "agent_priority"
_WORDS = {
    "urgent": "P1",
    "critical": "P1",
    "highest": "P1",
    "high": "P2",
    "normal": "P3",
    "medium": "P3",
    "low": "P4",
    "lowest": "P4",
}
_RT_CUTS = ((80, "P1"), (60, "P2"), (35, "P3"))  # RT 0–99; crmbot writes 90/70/50/20


def as_level(raw: Any) -> str | None:
    """P1–P4 for a vendor priority ("P2", "high", "URGENT", RT's 0–99), or None."""
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if not text:
        return None
    if text.upper() in PRIORITIES:
        return text.upper()
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    try:
        number = float(text)
    except ValueError:
        return None
    return next((level for cut, level in _RT_CUTS if number >= cut), "P4")


def agent_priority(current: Any, previous_version: Any, last_written: Any) -> str | None:
    """The priority an agent set on the ticket, or None when nobody changed it (the same as
    the previous version, or crmbot's own write read back)."""
    now = as_level(current)
    if now is None:
        return None
    before = as_level(previous_version)
    if before is None or before == now or now == as_level(last_written):
        return None
    return now


def agent_reason(priority: str, judged: list[str]) -> dict[str, Any]:
    """The reason kept on a case whose priority an agent set."""
    return {
        "code": AGENT_REASON,
        "points": 0.0,
        "message_fr": f"priorité {priority} fixée par un agent",
        "message_en": f"priority {priority} set by an agent",
        "rule_id": AGENT_REASON,
        "priority": priority,
        "judged": sorted(set(judged)),
    }
