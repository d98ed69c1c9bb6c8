"""Why crmbot decided something: one Reason type for the pipeline stages and the rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Reason:
    """A stable code and a sentence; rule reasons also carry points, an English text, a rule.

    `message` is the stage's sentence, or a rule reason's French text (`message_fr`).
    """

    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)
    points: float = 0.0
    rule_id: str | None = None
    message_en: str = ""

    @property
    def message_fr(self) -> str:
        """The French text (a stage's sentence has only one language)."""
        return self.message

    def text(self, lang: str = "fr") -> str:
        """The message in `lang` ("fr" or "en")."""
        return self.message_en if lang == "en" and self.message_en else self.message

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for the case and the audit trail."""
        out: dict[str, Any] = {"code": self.code, "message": self.message, **self.detail}
        if self.rule_id is not None:
            out.update(
                points=self.points,
                message_fr=self.message,
                message_en=self.message_en or self.message,
                rule_id=self.rule_id,
            )
        return out
