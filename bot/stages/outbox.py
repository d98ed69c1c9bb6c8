"""Stage 7: record planned actions in the outbox, in the transaction that took the decision."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from bot.pipeline import PlannedAction, StageContext, Work
from bot.replies import admit_reply
from bot.store import audit
from bot.store import outbox as outbox_store
from bot.store import replies as reply_store
from bot.store.schema import outbox, timers
from bot.store.sql import insert_ignore_many

CRM_ACTIONS = frozenset(
    {"set_field", "add_tag", "remove_tag", "assign", "add_note", "escalate", "update_fields"}
)


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def resolve_sink(ctx: StageContext, action: PlannedAction, source: str) -> str | None:
    """Which configured sink performs an action: its own, the source's write-back, or SMTP."""
    if action.sink:
        return action.sink if action.sink in ctx.settings.sinks else None
    if action.action == "send_reply":
        return next((n for n, c in ctx.settings.sinks.items() if c.get("type") == "smtp"), None)
    if action.action == "webhook":
        return next((n for n, c in ctx.settings.sinks.items() if c.get("type") == "webhook"), None)
    if action.action in CRM_ACTIONS:
        sink = (ctx.settings.sources.get(source) or {}).get("write_back")
        return sink if sink in ctx.settings.sinks else None
    return None


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def enrichment_fields(case: dict[str, Any]) -> dict[str, Any]:
    """The CRM fields crmbot owns, in crmbot's names (each sink maps them to its own)."""
    reasons = case.get("reasons") or []
    return {
        "crmbot_case_reference": case.get("reference"),
        "crmbot_category": case.get("category"),
        "crmbot_priority": case.get("priority"),
        "crmbot_sla_policy": (case.get("sla") or {}).get("policy"),
        "crmbot_first_response_due": _iso(case.get("first_response_due")),
        "crmbot_resolution_due": _iso(case.get("resolution_due")),
        "crmbot_impact_score": case.get("impact_score"),
        "crmbot_impact_reasons": "; ".join(
            str(r.get("message_en") or r.get("message") or r.get("code", "")) for r in reasons
        ),
        "crmbot_followup_count": case.get("follow_up_count"),
        "crmbot_duplicate_of": None,
    }


def last_written(ctx: StageContext, case_id: int) -> dict[str, Any] | None:
    """The fields crmbot last wrote for this case (so a sink can tell its own values)."""
    row = ctx.conn.execute(
        select(outbox.c.payload)
        .where(
            outbox.c.case_id == case_id,
            outbox.c.action == "update_fields",
            outbox.c.state == "done",
        )
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).scalar()
    return None if row is None else row.get("fields")


def write_back_action(ctx: StageContext, work: Work) -> PlannedAction | None:
    """The enrichment crmbot writes to the CRM record a ticket came from."""
    case, req = work.case, work.request
    if case is None or req is None or req.thread_key is None:
        return None
    fields = enrichment_fields(case)
    written = last_written(ctx, case["id"])
    if written is not None and _digest(written) == _digest(fields):
        return None  # the CRM already shows exactly this (and reading our own write ends here)
    payload = {"fields": fields, "expected_version": req.headers.get("version"), "written": written}
    return PlannedAction(
        sink="",
        action="update_fields",
        payload=payload,
        # fields A, then B, then A again: three writes, since each follows another state
        key=f"write_back:{_digest({'fields': fields, 'after': written})}",
        target={"type": "ticket", "id": req.thread_key.split(":", 1)[1]},
    )


def _reply_admitted(ctx: StageContext, work: Work, action: PlannedAction, key: str) -> bool:
    """Apply the reply discipline (bot/replies.py); a refusal is audited and logged."""
    case, req = work.case, work.request
    assert case is not None and req is not None
    if reply_store.reply_planned(ctx.conn, key):
        return True  # planned before: enqueueing it again is harmless
    verdict = admit_reply(
        ctx.conn,
        ctx.settings.replies,
        case_id=case["id"],
        contact_id=case.get("contact_id") or (work.contact or {}).get("id"),
        recipient=action.payload.get("to"),
        trigger_auto_reply=req.auto_reply,
        now=ctx.now,
    )
    if verdict.allowed:
        return True
    event = "reply_loop_detected" if verdict.code == "reply_loop" else "reply_suppressed"
    ctx.log.info(event, case=case["reference"], rule_id=action.rule_id, code=verdict.code)
    audit.record(
        ctx.conn,
        "reply_suppressed",
        case_id=case["id"],
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
        sink = resolve_sink(ctx, action, req.source)
        # Rule keys already carry the case reference and the event; ours get it here.
        key = action.key if action.rule_id else f"{case['reference']}/crmbot/{action.key}"
        if sink is None:
            unplanned.append({"action": action.action, "rule_id": action.rule_id})
            continue
        if action.action == "send_reply" and not _reply_admitted(ctx, work, action, key):
            continue
        target = action.target or (
            {"type": "ticket", "id": req.thread_key.split(":", 1)[1]} if req.thread_key else {}
        )
        payload = {
            **action.payload,
            "target": target,
            "request_id": work.request_id,
            "case_reference": case["reference"],
        }
        new_id = outbox_store.enqueue(
            ctx.conn,
            idempotency_key=key,
            sink=sink,
            action=action.action,
            payload=payload,
            case_id=case["id"],
            rule_id=action.rule_id,
            now=ctx.now,
        )
        if new_id is not None:
            ctx.log.info("action_planned", case=case["reference"], action=action.action, sink=sink)
    if unplanned:
        audit.record(
            ctx.conn,
            "actions_not_planned",
            case_id=case["id"],
            request_id=work.request_id,
            actions=unplanned,
            why="no sink configured for these actions",
        )
    wakeups = [
        {"case_id": case["id"], "event": w.event, "due_at": w.at, "rule_id": w.rule_id}
        for w in getattr(work.decision, "wakeups", None) or []
    ]
    if wakeups:
        insert_ignore_many(ctx.conn, timers, wakeups, ["case_id", "event", "due_at"])
    return work
