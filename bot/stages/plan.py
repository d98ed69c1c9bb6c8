"""Stage 7: plan the decided actions into the outbox, in the transaction that took the decision."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bot.actions import PlannedAction, UpdateFields
from bot.entities import Case, ThreadKey
from bot.pipeline import StageContext, Work
from bot.replies import admit_reply
from bot.routing import Route, route
from bot.store import audit
from bot.store import outbox as outbox_store
from bot.store import replies as reply_store
from bot.store.batch import schedule_timers


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def resolve_sink(ctx: StageContext, action: PlannedAction, source: str) -> Route:
    """The configured sink that performs an action (see bot/routing.py), or why none does."""
    return route(ctx.write_back(), action.type, source, action.sink)


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def enrichment_fields(case: Case) -> dict[str, Any]:
    """The CRM fields crmbot owns, in crmbot's names (each sink maps them to its own)."""
    return {
        "crmbot_case_reference": case.reference,
        "crmbot_category": case.category,
        "crmbot_priority": case.priority,
        "crmbot_sla_policy": (case.sla or {}).get("policy"),
        "crmbot_first_response_due": _iso(case.first_response_due),
        "crmbot_resolution_due": _iso(case.resolution_due),
        "crmbot_impact_score": case.impact_score,
        "crmbot_impact_reasons": "; ".join(
            str(r.get("message_en") or r.get("message") or r.get("code", "")) for r in case.reasons
        ),
        "crmbot_followup_count": case.follow_up_count,
        "crmbot_duplicate_of": None,
    }


def last_written(ctx: StageContext, case_id: int) -> dict[str, Any] | None:
    """The fields crmbot last wrote for this case (so a sink can tell its own values)."""
    return outbox_store.last_written_fields(ctx.conn, case_id)


def write_back_action(ctx: StageContext, work: Work) -> PlannedAction | None:
    """The enrichment crmbot writes to the CRM record a ticket came from."""
    case, req = work.case, work.request
    if case is None or req is None:
        return None
    conf = ctx.source_settings(req.source)
    if req.thread_key is None and not (conf is not None and conf.write_back):
        return None  # a mailbox with no CRM to write to
    fields = enrichment_fields(case)
    written = last_written(ctx, case.id)
    if written is not None and _digest(written) == _digest(fields):
        return None  # the CRM already shows exactly this (and reading our own write ends here)
    update = UpdateFields(
        fields=fields, expected_version=req.headers.get("version"), written=written
    )
    return PlannedAction(
        update,
        # fields A, then B, then A again: three writes, since each follows another state
        key=f"write_back:{_digest({'fields': fields, 'after': written})}",
        target=record_target(case, req),
    )


def record_target(case: Case, req: Any) -> dict[str, Any]:
    """The CRM record an action is for: the request's ticket, or (mail) the case itself.

    A case target lets a write-back sink find or open the case's record (HubSpot does).
    """
    if req.thread_key:
        return {"type": "ticket", "id": ThreadKey.parse(req.thread_key).ticket_id}
    return {
        "type": "case",
        "reference": case.reference,
        "subject": req.subject,
        "email": req.sender_email,
    }


def _reply_admitted(ctx: StageContext, work: Work, action: PlannedAction, key: str) -> bool:
    """Apply the reply discipline (bot/replies.py); a refusal is audited and logged."""
    case, req = work.case, work.request
    assert case is not None and req is not None
    if reply_store.reply_planned(ctx.conn, key):
        return True  # planned before: enqueueing it again is harmless
    verdict = admit_reply(
        ctx.conn,
        ctx.settings.replies,
        case_id=case.id,
        contact_id=case.contact_id or (work.contact.id if work.contact else None),
        recipient=action.payload.get("to"),
        trigger_auto_reply=req.auto_reply,
        now=ctx.now,
    )
    if verdict.allowed:
        return True
    event = "reply_loop_detected" if verdict.code == "reply_loop" else "reply_suppressed"
    ctx.log.info(event, case=case.reference, rule_id=action.rule_id, code=verdict.code)
    audit.record(
        ctx.conn,
        "reply_suppressed",
        case_id=case.id,
        request_id=work.request_id,
        rule_id=action.rule_id,
        code=verdict.code,
        why=verdict.why,
    )
    return False


def plan_actions(ctx: StageContext, work: Work) -> Work | None:
    """Enqueue each planned action once (idempotency key), and the decision's wake-ups."""
    case, req = work.case, work.request
    assert case is not None and req is not None
    planned = list(work.actions)
    enrichment = write_back_action(ctx, work)
    if enrichment is not None:
        planned.append(enrichment)
    unplanned: list[dict[str, Any]] = []
    for action in planned:
        where = resolve_sink(ctx, action, req.source)
        # Rule keys already carry the case reference and the event; ours get it here.
        key = action.key if action.rule_id else f"{case.reference}/crmbot/{action.key}"
        if where.sink is None and where.refusal is None:
            unplanned.append({"action": action.type, "rule_id": action.rule_id})
            continue
        if action.type == "send_reply" and not _reply_admitted(ctx, work, action, key):
            continue
        target = action.target or record_target(case, req)
        payload = {
            **action.params,
            "target": target,
            "request_id": work.request_id,
            "case_reference": case.reference,
        }
        record = work.record  # None for a timer's event: no arrival to measure from
        if record is not None and record.received_at is not None:  # arrival → written latency
            payload["arrived_at"] = record.received_at.isoformat()
        refused = where.refusal is not None
        new_id = outbox_store.enqueue(
            ctx.conn,
            idempotency_key=key,
            sink=where.sink or "",
            action=action.type,
            payload=payload,
            case_id=case.id,
            rule_id=action.rule_id,
            state="refused" if refused else "pending",
            result={"reason": where.refusal} if refused else None,
            now=ctx.now,
        )
        if new_id is None:
            continue
        if refused:  # rules reloaded with an action no sink performs: visible, never silent
            ctx.log.warning(
                "action_refused", case=case.reference, action=action.type, why=where.refusal
            )
        else:
            ctx.log.info("action_planned", case=case.reference, action=action.type, sink=where.sink)
    if unplanned:
        audit.record(
            ctx.conn,
            "actions_not_planned",
            case_id=case.id,
            request_id=work.request_id,
            actions=unplanned,
            why="no sink of their kind is configured: they change crmbot's case only",
        )
    wakeups = [
        {"case_id": case.id, "event": w.event, "due_at": w.at, "rule_id": w.rule_id}
        for w in getattr(work.decision, "wakeups", None) or []
    ]
    if wakeups:
        schedule_timers(ctx.conn, wakeups)
    return work
