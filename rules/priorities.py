"""Priority arithmetic: raise, lower, the higher of two, a priority read from a case."""

from __future__ import annotations

from typing import Any

from bot import actions
from rules import schema as s

DEFAULT_PRIORITY = "P3"


def raise_by(priority: str, levels: int) -> str:
    """`priority` raised by `levels` (never above P1)."""
    return actions.raise_priority(priority, levels)


def higher(a: str, b: str) -> str:
    """The more urgent of two priorities."""
    return a if s.PRIORITIES.index(a) <= s.PRIORITIES.index(b) else b


def lower_by(priority: str, levels: int) -> str:
    """`priority` lowered by `levels` (never below the last one)."""
    index = min(len(s.PRIORITIES) - 1, s.PRIORITIES.index(priority) + levels)
    return s.PRIORITIES[index]


def priority_or_none(value: Any) -> str | None:
    """A known priority read from stored data, or None."""
    text = str(value).strip().upper() if value is not None else ""
    return text if text in s.PRIORITIES else None
