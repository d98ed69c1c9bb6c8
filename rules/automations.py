"""Run a pack's automations on one event: plan their actions, re-run on case.updated."""

from __future__ import annotations

from typing import Any

from rules.actions import Step, rule_for
from rules.compiled import CompiledAutomation
from rules.context import Templates
from rules.decision import Decision, PlannedAction, RuleTrace
from rules.operators import EvalContext


def action_key(work: dict[str, Any], rule_id: str, index: int, event: str) -> str:
    """The idempotency key of one planned action: case, rule, action, and the event's instant."""
    case, request = work["case"], work["request"]
    ref = case.get("reference") or request.get("source_id") or "new"
    key = f"{ref}/{rule_id}/{index}"
    if event == "case.follow_up":
        key += f"/follow_up#{case.get('follow_up_count') or 0}"
    elif event == "case.updated":
        key += f"/updated@{case.get('updated_at') or ''}"
    elif event.startswith("sla."):  # one key per deadline: a reopened case breaches anew
        due = case.get("timer_due_at")
        key += f"/{event}@{due}" if due else f"/{event}"
    return key


def plan_action(
    ctx: EvalContext,
    decision: Decision,
    templates: Templates,
    auto: CompiledAutomation,
    index: int,
    action: Any,
    event: str,
) -> bool:
    """Plan one action of a fired automation; True if it changed the facts."""
    work = ctx.facts
    assert isinstance(work, dict)
    rule_id = auto.model.id
    key = action_key(work, rule_id, index, event)
    step = Step(work, decision, templates, rule_id)
    try:
        handler = rule_for(action)
        planned = handler.render(action, step)
    except ValueError as exc:  # a template that fails skips this action only
        decision.trace.append(
            RuleTrace(rule_id, "action", False, f"{action.type} #{index} skipped: {exc}")
        )
        return False
    planned, changed = handler.apply(action, planned, step)
    if changed:
        ctx.invalidate()
    decision.actions.append(PlannedAction(planned, key, rule_id))
    return changed


def automate(
    automations: list[CompiledAutomation],
    templates: Templates,
    limit: int,
    ctx: EvalContext,
    decision: Decision,
    event: str,
) -> None:
    """Fire the automations listening to `event`; while they change the case, run the
    ones listening to case.updated (each rule once), at most `limit` rounds."""
    work = ctx.facts
    assert isinstance(work, dict)
    fired: set[str] = set()
    current_event = event
    depth = 0
    while True:
        before = dict(work["case"])
        changed = False
        for auto in automations:
            model = auto.model
            if not model.enabled:
                if depth == 0:
                    decision.trace.append(RuleTrace(model.id, "automation", False, "disabled"))
                continue
            if current_event not in model.events:
                if depth == 0:
                    listens = ", ".join(model.events)
                    decision.trace.append(
                        RuleTrace(model.id, "automation", False, f"listens to {listens}")
                    )
                continue
            if model.id in fired:
                continue
            ok, why = auto.cond(ctx)
            label = f"[{current_event}] {why}" if depth else why
            decision.trace.append(RuleTrace(model.id, "automation", ok, label))
            if not ok:
                continue
            fired.add(model.id)
            for index, action in enumerate(model.actions):
                changed |= plan_action(ctx, decision, templates, auto, index, action, current_event)
            if model.stop:
                break
        if not changed:
            return
        if depth + 1 >= limit:
            decision.trace.append(
                RuleTrace(
                    "recursion_limit",
                    "automation",
                    False,
                    f"stopped: {limit} rounds of case.updated reached",
                )
            )
            return
        work["previous"] = before
        ctx.invalidate()
        current_event = "case.updated"
        depth += 1
