"""Base priority from the SLA policy, then impact rules: score, reasons, final priority."""

from __future__ import annotations

import math
from typing import Any

from rules import schema as s
from rules.compiled import CompiledImpact, CompiledPolicy
from rules.decision import Reason, RuleTrace
from rules.operators import MISSING, EvalContext, lookup
from rules.priorities import higher, lower_by, priority_or_none, raise_by
from rules.text import fold


def choose_policy(
    policies: list[CompiledPolicy], ctx: EvalContext, category: str, trace: list[RuleTrace]
) -> CompiledPolicy | None:
    """The first SLA policy that covers this category, customer tier and condition."""
    tier_values = {
        fold(str(v))
        for v in (
            lookup(ctx.facts, ("contact", "tier")),
            lookup(ctx.facts, ("company", "tier")),
        )
        if v is not MISSING and v is not None
    }
    chosen = None
    for pol in policies:
        if chosen is not None:
            trace.append(RuleTrace(pol.id, "sla_policy", False, f"{chosen.id} matched first"))
            continue
        if "*" not in pol.categories and category not in pol.categories:
            trace.append(RuleTrace(pol.id, "sla_policy", False, f"not for {category}"))
            continue
        if pol.tiers is not None and not (pol.tiers & tier_values):
            trace.append(RuleTrace(pol.id, "sla_policy", False, "customer tier not listed"))
            continue
        ok, why = pol.cond(ctx)
        if not ok:
            trace.append(RuleTrace(pol.id, "sla_policy", False, why))
            continue
        chosen = pol
        trace.append(RuleTrace(pol.id, "sla_policy", True, f"base priority {pol.priority}"))
    return chosen


def carried_reason(old: Any, rules: dict[str, s.ImpactRule], skip: set[str]) -> Reason | None:
    """A reason stored on the case by an earlier decision, kept when nothing replaced it
    (not for rules that only describe one request, such as "not urgent")."""
    if not isinstance(old, dict) or not old.get("code") or old["code"] in skip:
        return None
    rule = rules.get(str(old["code"]))
    if rule is not None and rule.lower_by:
        return None
    try:
        points = float(old.get("points") or 0.0)
    except (TypeError, ValueError):
        points = 0.0
    if not math.isfinite(points):
        points = 0.0
    fr = str(old.get("message_fr") or old.get("message") or old["code"])
    en = str(old.get("message_en") or fr)
    return Reason(
        str(old["code"]),
        fr,
        points=points,
        rule_id=str(old.get("rule_id") or old["code"]),
        message_en=en,
    )


def score_impact(
    impacts: list[CompiledImpact],
    thresholds: list[s.Threshold],
    ctx: EvalContext,
    base: str,
    trace: list[RuleTrace],
    tags: list[str],
) -> tuple[float, list[Reason], str]:
    """Score the impact rules; a case's reasons accumulate over its requests (union by
    code) and its priority never drops, until an agent sets it (`case.agent_priority`)."""
    case = ctx.facts.get("case") or {}
    agent = priority_or_none(case.get("agent_priority"))
    judged = set(case.get("agent_codes") or []) if agent else set()
    score = 0.0
    reasons: list[Reason] = []
    floor = "P4"
    lower = 0
    rules_by_id = {imp.model.id: imp.model for imp in impacts}
    for imp in impacts:
        rule = imp.model
        if rule.id in judged:
            trace.append(RuleTrace(rule.id, "impact", False, "judged by an agent already"))
            continue
        ok, why = imp.cond(ctx)
        if not ok:
            trace.append(RuleTrace(rule.id, "impact", False, why))
            continue
        points = rule.points
        fr, en = rule.reason.fr or rule.reason.en or rule.id, rule.reason.en or rule.reason.fr
        if imp.per is not None:
            raw = lookup(ctx.facts, imp.per)
            count = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else 0
            if not math.isfinite(count) or count < 0:
                count = 0
            points = rule.points * count
            fr = f"{fr} ×{count:g}"
            en = f"{en} ×{count:g}"
        if rule.max_points is not None:
            points = min(points, rule.max_points)
        score += points
        if rule.min_priority:
            floor = higher(floor, rule.min_priority)
        lower = max(lower, rule.lower_by)
        reasons.append(Reason(rule.id, fr, points=points, rule_id=rule.id, message_en=en or fr))
        if rule.tag and rule.tag not in tags:
            tags.append(rule.tag)
        trace.append(RuleTrace(rule.id, "impact", True, f"+{points:g}: {why}"))
    fired = {r.code for r in reasons}
    for old in case.get("reasons") or []:
        carried = carried_reason(old, rules_by_id, fired | judged)
        if carried is None:
            continue
        fired.add(carried.code)
        reasons.append(carried)
        carried_rule = rules_by_id.get(carried.code)
        if carried_rule is not None:
            score += carried.points
            if carried_rule.min_priority:
                floor = higher(floor, carried_rule.min_priority)
            if carried_rule.tag and carried_rule.tag not in tags:
                tags.append(carried_rule.tag)
        trace.append(RuleTrace(carried.code, "impact", True, "carried from an earlier request"))
    levels = 0
    for threshold in thresholds:
        if score >= threshold.min_score:
            levels = threshold.raise_by
    priority = raise_by(agent or base, levels)
    if lower and agent is None:
        priority = lower_by(priority, lower)
    priority = higher(priority, floor)
    kept = agent or priority_or_none(case.get("priority"))
    if kept is not None and higher(kept, priority) != priority:
        trace.append(RuleTrace("priority_kept", "impact", True, f"never below {kept}"))
        priority = kept
    return score, reasons, priority
