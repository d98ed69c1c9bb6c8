"""`RuleSet`: a compiled pack, and `decide`: category, priority, SLA, actions, wake-ups.

`RuleSet.decide(facts, event=..., now=...)` is pure: it reads the facts and returns a
Decision; it performs nothing. Each concern lives in its own module: `rules/classify.py`
(category), `rules/impact.py` (policy and priority), `rules/deadlines.py` (SLA and timers),
`rules/automations.py` and `rules/actions.py` (planned actions).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.routing import ActionUse
from rules import schema as s
from rules.automations import automate
from rules.calendar import BusinessCalendar
from rules.classify import RulesVerdict, classify_rules, judge, model_facts
from rules.compiled import CompiledPolicy, Pack
from rules.context import Templates
from rules.deadlines import case_sla, wakeups
from rules.decision import Decision, RuleTrace
from rules.impact import choose_policy, score_impact
from rules.model.artifact import LinearModel
from rules.model.combine import Judgement
from rules.operators import EvalContext
from rules.priorities import DEFAULT_PRIORITY
from rules.sla import SlaResult
from rules.templates import TemplateRenderer

CREATION_EVENTS = ("request.received", "case.created")


def working_copy(facts: dict[str, Any]) -> dict[str, Any]:
    """A copy of the facts the decision may change (one level deep; deeper on write)."""
    work: dict[str, Any] = {}
    for key, value in facts.items():
        work[key] = dict(value) if isinstance(value, dict) else value
    for root in ("request", "contact", "company", "case"):
        if not isinstance(work.get(root), dict):
            work[root] = {}
    return work


class RuleSet:
    """A compiled, immutable rules pack; `decide` is safe to call from many threads."""

    def __init__(
        self,
        pack: Pack,
        renderer: TemplateRenderer,
        default_calendar: str,
        counts: dict[str, int],
        files: list[str],
    ) -> None:
        self._pack = pack
        self.model: LinearModel | None = None  # the learned model beside the rules
        self._renderer = renderer
        self._templates = Templates(renderer, pack.settings)
        self.default_calendar = default_calendar
        self.counts = counts
        self.files = files
        self.settings = pack.settings
        self.category_ids = [c.id for c in pack.categories]

    def action_uses(self) -> list[ActionUse]:
        """Every action of every enabled automation, with its rule and where it is written."""
        out = []
        for auto in self._pack.automations:
            if not auto.model.enabled:
                continue
            for j, action in enumerate(auto.model.actions):
                file, line, key = auto.where[j] if j < len(auto.where) else ("", 0, "")
                out.append(ActionUse(auto.model.id, action.type, file, line, key))
        return out

    @property
    def paused_statuses(self) -> frozenset[str]:
        """Case statuses that stop the SLA clock (waiting on the customer, a third party)."""
        return frozenset(self._pack.paused_statuses)

    def calendar(self, name: str | None = None) -> BusinessCalendar:
        """A business calendar of the pack (the default one unless named)."""
        return self._pack.calendars[name or self.default_calendar]

    def describe(self) -> str:
        """A one-line summary: how many files, categories, policies, rules."""
        c = self.counts
        return (
            f"{c['files']} files, {c['categories']} categories, {c['sla_policies']} SLA policies,"
            f" {c['impact_rules']} impact rules, {c['automations']} automations,"
            f" {c['calendars']} calendars"
        )

    # -- categories

    def _active_model(self) -> LinearModel | None:
        return self.model if self.settings.categories.model else None

    def classify(self, ctx: EvalContext) -> tuple[str, float, list[str], list[RuleTrace], bool]:
        """Rules and model together: (category, confidence, reasons, trace, low_confidence)."""
        j, trace = self.judge(ctx)
        return j.category, j.confidence, j.reasons, trace, j.low

    def judge(self, ctx: EvalContext) -> tuple[Judgement, list[RuleTrace]]:
        """The category from the rules and the learned model (rules/model/combine.py)."""
        cfg = self.settings.categories
        rules = self.classify_rules(ctx)
        return judge(rules, self._active_model(), cfg, self.category_ids, ctx)

    def classify_rules(self, ctx: EvalContext) -> RulesVerdict:
        """The rules alone: (category, confidence, reasons, trace, low, best score, explicit)."""
        return classify_rules(self._pack.categories, self.settings.categories, ctx)

    def categorise(self, facts: dict[str, Any], *, now: datetime) -> str:
        """The category `decide` gives a new request, without its priority, SLA or actions."""
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        ctx = EvalContext(working_copy(facts), now, self._pack.calendars)
        return self.judge(ctx)[0].category

    # -- the decision

    def decide(
        self, facts: dict[str, Any], *, event: str = "case.created", now: datetime
    ) -> Decision:
        """Decide category, priority, SLA, planned actions and wake-ups for one case."""
        if event not in s.EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {', '.join(s.EVENTS)}")
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        pack = self._pack
        work = working_copy(facts)
        ctx = EvalContext(work, now, pack.calendars)
        case = work["case"]
        trace: list[RuleTrace] = []
        tags: list[str] = []

        existing = case.get("category")
        judgement: Judgement | None = None
        if event not in CREATION_EVENTS and existing and existing in self.category_ids:
            category = str(existing)
            confidence = float(case.get("category_confidence") or 1.0)
            cat_reasons = [f"kept from the case ({category})"]
            trace.append(RuleTrace(category, "category", True, "category kept on " + event))
            work["model"] = model_facts(self._active_model(), work)
        else:
            judgement, cat_trace = self.judge(ctx)
            category, confidence, cat_reasons = (
                judgement.category,
                judgement.confidence,
                judgement.reasons,
            )
            trace.extend(cat_trace)
            if judgement.low:
                tags.append(self.settings.categories.low_confidence_tag)
            work["model"] = judgement.model_facts()
        case["category"] = category
        ctx.invalidate()

        policy = choose_policy(pack.policies, ctx, category, trace)
        base = policy.priority if policy else DEFAULT_PRIORITY
        score, reasons, priority = score_impact(
            pack.impacts, pack.thresholds, ctx, base, trace, tags
        )
        case["priority"] = priority

        decision = Decision(
            category=category,
            category_confidence=confidence,
            category_reasons=cat_reasons,
            tags=tags,
            priority=priority,
            score=score,
            reasons=reasons,
            sla=None,
            actions=[],
            wakeups=[],
            trace=trace,
            event=event,
            base_priority=base,
        )
        if judgement is not None:
            decision.category_source = judgement.source
            decision.judgement = judgement.to_dict()
        else:
            decision.category_source = "case"  # kept from the case on a later event
        if self.model is not None and self.settings.categories.model:
            decision.model_version = self.model.version
        cat = next((c for c in pack.categories if c.id == category), None)
        if cat is not None:
            decision.category_label_fr, decision.category_label_en = cat.label_fr, cat.label_en
        if policy is not None:
            decision.timezone = pack.calendar_tz.get(policy.calendar, "UTC")
            decision.sla = self._sla(work, policy, priority, now)
        automate(
            pack.automations, self._templates, self.settings.recursion_limit, ctx, decision, event
        )
        if policy is not None:
            if decision.priority != priority:
                decision.sla = self._sla(work, policy, decision.priority, now)
            decision.wakeups = wakeups(work, decision.sla, policy, pack.paused_statuses, now, event)
        return decision

    def _sla(
        self, work: dict[str, Any], policy: CompiledPolicy, priority: str, now: datetime
    ) -> SlaResult:
        pack = self._pack
        calendar = pack.calendars[policy.calendar]
        return case_sla(
            work, policy, priority, calendar, pack.paused_statuses, pack.warning_ratio, now
        )
