"""What the engine decides for one case: category, priority with reasons, SLA, actions, trace."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.actions import PlannedAction
from bot.reasons import Reason
from rules.sla import SlaResult

__all__ = ["Decision", "PlannedAction", "Reason", "RuleTrace", "Wakeup"]


@dataclass(slots=True)
class Wakeup:
    """An exact time at which the engine must be called again with `event`."""

    at: datetime
    event: Literal["sla.warning", "sla.breached"]
    rule_id: str
    target: Literal["first_response", "resolution"] = "first_response"


@dataclass(slots=True)
class RuleTrace:
    """Whether one rule fired, and why (or why not)."""

    rule_id: str
    kind: str
    fired: bool
    why: str


@dataclass(slots=True)
class Decision:
    """The engine's verdict on one case for one event."""

    category: str
    category_confidence: float
    category_reasons: list[str]
    tags: list[str]
    priority: str
    score: float
    reasons: list[Reason]
    sla: SlaResult | None
    actions: list[PlannedAction]
    wakeups: list[Wakeup]
    trace: list[RuleTrace]
    event: str = "case.created"
    base_priority: str | None = None
    category_label_fr: str = ""
    category_label_en: str = ""
    timezone: str = "UTC"
    field_changes: dict[str, Any] = field(default_factory=dict)
    category_source: str = "rules"
    model_version: str | None = None
    judgement: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (datetimes as ISO 8601 strings)."""
        return {
            "event": self.event,
            "category": self.category,
            "category_confidence": round(self.category_confidence, 4),
            "category_reasons": list(self.category_reasons),
            "category_source": self.category_source,
            "model_version": self.model_version,
            "judgement": _json_safe(self.judgement),
            "tags": list(self.tags),
            "priority": self.priority,
            "base_priority": self.base_priority,
            "score": self.score,
            "reasons": [r.to_dict() for r in self.reasons],
            "sla": self.sla.to_dict() if self.sla else None,
            "actions": [
                {"type": a.type, "params": a.params, "rule_id": a.rule_id, "key": a.key}
                for a in self.actions
            ],
            "wakeups": [
                {"at": w.at.isoformat(), "event": w.event, "rule_id": w.rule_id, "target": w.target}
                for w in self.wakeups
            ],
            "field_changes": _json_safe(self.field_changes),
            "trace": [
                {"rule_id": t.rule_id, "kind": t.kind, "fired": t.fired, "why": t.why}
                for t in self.trace
            ],
        }

    def note(self, lang: str = "fr") -> str:
        """A short human note for the CRM explaining category, priority and due dates."""
        en = lang == "en"
        label = (self.category_label_en if en else self.category_label_fr) or self.category
        conf = _num(self.category_confidence, en, 2)
        lines = [
            f"Category: {label} (confidence {conf})"
            if en
            else f"Catégorie : {label} (confiance {conf})"
        ]
        if self.category_reasons:
            shown = ", ".join(self.category_reasons[:6])
            lines.append(f"Signals: {shown}" if en else f"Indices : {shown}")
        boosts = ", ".join(
            f"{r.text(lang)} ({'+' if r.points >= 0 else ''}{_num(r.points, en, 0)})"
            for r in self.reasons
        )
        base = f" (base {self.base_priority})" if self.base_priority else ""
        head = f"Priority {self.priority}" if en else f"Priorité {self.priority}"
        sep = ": " if en else " : "
        lines.append(f"{head}{base}{sep}{boosts}" if boosts else f"{head}{base}")
        if self.sla is not None:
            fr_due = _when(self.sla.first_response_due, en, self.timezone)
            res_due = _when(self.sla.resolution_due, en, self.timezone)
            if en:
                lines.append(f"First response due: {fr_due}; resolution due: {res_due}")
            else:
                lines.append(f"Échéance première réponse : {fr_due} ; résolution : {res_due}")
        if self.tags:
            lines.append(("Tags: " if en else "Étiquettes : ") + ", ".join(self.tags))
        return "\n".join(lines)


def _num(value: float, en: bool, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text if en else text.replace(".", ",")


def _when(at: datetime, en: bool, tz: str) -> str:
    with contextlib.suppress(ValueError, KeyError):
        at = at.astimezone(ZoneInfo(tz))
    return at.strftime("%Y-%m-%d %H:%M %Z") if en else at.strftime("%d/%m/%Y %H:%M %Z")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
