"""What a rule's templates see: the request (echo-safe), contact, company, case, decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.echo import echo_safe
from rules import schema as s
from rules.decision import Decision
from rules.templates import TemplateRenderer


def local_time(at: datetime, tz: str) -> datetime:
    """`at` in the time zone `tz` (unchanged if the zone is unknown)."""
    try:
        return at.astimezone(ZoneInfo(tz))
    except (ValueError, KeyError):
        return at


class Templates:
    """Renders a rule's French/English texts in the language of the request."""

    def __init__(self, renderer: TemplateRenderer, settings: s.Settings) -> None:
        self.renderer = renderer
        self.settings = settings

    def lang(self, work: dict[str, Any]) -> str:
        """The language to answer in: the request's, the case's, else the pack's default."""
        lang = work["request"].get("language") or work["case"].get("language")
        return lang if lang in ("fr", "en") else self.settings.default_language

    def context(self, work: dict[str, Any], decision: Decision) -> dict[str, Any]:
        """The variables a template may read."""
        lang = self.lang(work)
        sla = decision.sla
        # What the sender wrote is echoed cut and cleaned (bot/echo.py): no backscatter relay.
        return {
            "request": echo_safe(work["request"], subject=("subject",), name=("sender_name",)),
            "contact": echo_safe(work["contact"], name=("name", "first_name", "last_name")),
            "company": work["company"],
            "case": work["case"],
            "lang": lang,
            "decision": {
                "category": decision.category,
                "category_label": (
                    decision.category_label_en if lang == "en" else decision.category_label_fr
                ),
                "priority": decision.priority,
                "score": decision.score,
                "reasons": [r.text(lang) for r in decision.reasons],
                "first_response_due": local_time(sla.first_response_due, decision.timezone)
                if sla
                else None,
                "resolution_due": local_time(sla.resolution_due, decision.timezone)
                if sla
                else None,
            },
        }

    def render(self, text: s.LocalizedText | None, work: dict[str, Any], decision: Decision) -> str:
        """One text rendered in the request's language (ValueError if the template fails)."""
        source = s.pick_text(text, self.lang(work), self.settings.default_language)
        return self.renderer.render(source, self.context(work, decision))
