"""Stage 6: the rules decide category, SLA, priority and planned actions; the case keeps why."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from bot.admin_update import record as record_admin_update
from bot.entities import Case
from bot.facts import build_facts
from bot.handling_facts import add_handling_facts
from bot.pipeline import StageContext, Work
from bot.priority import AGENT_REASON, agent_priority, agent_reason
from bot.public_reply import add_last_public_reply
from bot.stages.plan import last_written
from bot.store import audit
from bot.store.cases import record_decision
from bot.store.requests import previous_ticket_headers

EVENT_PRECEDENCE = ("sla.breached", "sla.warning", "case.created", "case.follow_up", "case.updated")


def _reason_dict(reason: Any) -> dict[str, Any]:
    if hasattr(reason, "to_dict"):
        return reason.to_dict()
    if is_dataclass(reason) and not isinstance(reason, type):
        return asdict(reason)
    return dict(reason)


def _tags(case: Case, decision: Any, extra_tags: list[str]) -> list[str]:
    """The case's tags, less those a rule removed, plus the decision's and the pipeline's."""
    removed = {a.spec.tag for a in decision.actions if a.type == "remove_tag"}
    kept = set(case.tags) - removed
    return sorted(kept | set(decision.tags) | set(extra_tags))


def _union_by_code(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One reason per code, the latest of each, in first-seen order."""
    latest: dict[str, dict[str, Any]] = {}
    for reason in reasons:
        latest[str(reason.get("code"))] = reason
    return list(latest.values())


def _case_values(decision: Any, case: Case, extra_tags: list[str]) -> dict[str, Any]:
    sla = decision.sla
    values: dict[str, Any] = {
        "category": decision.category,
        "category_confidence": round(float(decision.category_confidence), 4),
        "priority": decision.priority,
        "impact_score": float(decision.score),
        "reasons": _union_by_code([_reason_dict(r) for r in decision.reasons]),
        "tags": _tags(case, decision, extra_tags),
    }
    if sla is not None:
        values["sla"] = sla.to_dict()
        values["first_response_due"] = sla.first_response_due
        values["resolution_due"] = sla.resolution_due
    return values


def _last_written_priority(ctx: StageContext, case_id: int) -> Any:
    return (last_written(ctx, case_id) or {}).get("crmbot_priority")


def _agent_state(ctx: StageContext, work: Work) -> dict[str, Any] | None:
    """The agent's priority in force on the case: set just now on the ticket, or earlier."""
    req, case = work.request, work.case
    assert req is not None and case is not None
    stored = [r for r in case.reasons if r.get("code") == AGENT_REASON]
    current = stored[-1] if stored else None
    if req.thread_key and req.headers.get("priority") and work.request_id is not None:
        before = previous_ticket_headers(ctx.conn, req.thread_key, work.request_id) or {}
        written = _last_written_priority(ctx, case.id)
        level = agent_priority(req.headers["priority"], before.get("priority"), written)
        if level is not None:
            judged = [str(r.get("code")) for r in case.reasons if r.get("code")]
            current = agent_reason(level, [c for c in judged if c != AGENT_REASON])
            audit.record(
                ctx.conn,
                "agent_priority_read",
                case_id=case.id,
                request_id=work.request_id,
                priority=level,
                source=req.source,
            )
    return current


def decide(ctx: StageContext, work: Work) -> Work | None:
    """Evaluate the rules for each event of this request and store the outcome on the case."""
    req, case = work.request, work.case
    assert req is not None and case is not None
    if ctx.rules is None:
        return work
    previous = work.previous or case.previous_fields()
    event = next((e for e in EVENT_PRECEDENCE if e in work.events), "request.received")
    facts = build_facts(req, work.contact, case, previous=previous, timer_due_at=work.timer_due_at)
    # Reasons accumulate over the case's requests and the priority never drops (rules
    # engine), until an agent sets the priority in the CRM.
    agent = _agent_state(ctx, work)
    stored = [r for r in case.reasons if r.get("code") != AGENT_REASON]
    facts["case"]["reasons"] = stored
    if agent is not None:
        facts["case"]["agent_priority"] = agent["priority"]
        facts["case"]["agent_codes"] = agent["judged"]
    admin = add_handling_facts(ctx, work, facts, event)  # relation, verified sender, update
    add_last_public_reply(ctx, work, facts)  # a status answer quotes the CRM's last reply
    decision = ctx.rules.decide(facts, event=event, now=ctx.now)
    work.decision = decision
    values = _case_values(decision, case, work.tags)  # the pipeline's own flags are kept
    if agent is not None:
        values["reasons"] = [*values["reasons"], agent]
    work.case = record_decision(ctx.conn, case, values)
    fired = [t.rule_id for t in decision.trace if t.fired]
    # An action a fired rule could not plan (its template failed): never silent, since a
    # skipped send_reply is a customer left without an answer.
    skipped = [
        {"rule_id": t.rule_id, "why": t.why}
        for t in decision.trace
        if t.kind == "action" and not t.fired
    ]
    extra: dict[str, Any] = {"actions_skipped": skipped} if skipped else {}
    for item in skipped:
        ctx.log.warning(
            "rule_action_skipped", case=case.reference, rule_id=item["rule_id"], why=item["why"]
        )
    audit.record(
        ctx.conn,
        "case_decided",
        case_id=case.id,
        request_id=work.request_id,
        trigger=event,
        category=decision.category,
        confidence=values["category_confidence"],
        priority=decision.priority,
        score=values["impact_score"],
        reasons=values["reasons"],
        category_reasons=list(decision.category_reasons),
        category_source=decision.category_source,
        model_version=decision.model_version,
        judgement=decision.judgement,
        sla=values.get("sla"),
        rules_fired=fired,
        **extra,
    )
    work.actions.extend(decision.actions)  # the contract's PlannedAction, typed
    if admin is not None and decision.category == "admin_update":
        lang = "en" if str(facts["case"]["language"] or "").startswith("en") else "fr"
        record_admin_update(ctx, work, admin, lang)
    ctx.log.info(
        "case_decided",
        case=case.reference,
        category=decision.category,
        priority=decision.priority,
        rules_fired=len(fired),
        category_source=decision.category_source,
        model_version=decision.model_version,
    )
    return work
