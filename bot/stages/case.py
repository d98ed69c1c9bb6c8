"""Stage 5: store the request and open a case for it, or attach it to the case it belongs to."""

from __future__ import annotations

from datetime import datetime

from bot.pipeline import StageContext, Work
from bot.reasons import Reason
from bot.status import map_status, track_pauses
from bot.store import audit
from bot.store.cases import create_case, link_request, update_case
from bot.store.requests import insert_request


def open_or_attach_case(ctx: StageContext, work: Work) -> Work | None:
    """Insert the request, then create or update its case; the audit trail says why."""
    req = work.request
    assert req is not None and req.received_at is not None
    contact_id = work.contact.id if work.contact else None
    if work.case is not None:
        work.previous = work.case.previous_fields()
    if work.case is None:
        work.case = create_case(
            ctx.conn,
            prefix=ctx.settings.cases.reference_prefix,
            subject=req.subject or "(no subject)",
            channel=req.channel,
            language=req.language,
            contact_id=contact_id,
            opened_at=req.received_at,
            tags=work.tags,
        )
        work.relation = "origin"
        work.events.append("case.created")
        work.reasons.append(Reason("case_created", f"new case {work.case.reference}"))
    request_id = insert_request(
        ctx.conn,
        req,
        case_id=work.case.id,
        contact_id=contact_id,
        raw_max_bytes=ctx.settings.store.raw_max_bytes,
    )
    if request_id is None:  # another replica stored it between our check and now
        work.drop("already stored")
        return None
    work.request_id = request_id
    relation = work.relation or "origin"
    why = "; ".join(r.message for r in work.reasons) or relation
    work.case = link_request(
        ctx.conn, work.case, request_id, relation=relation, reason=why, received_at=req.received_at
    )
    _apply_status(ctx, work)
    if relation == "follow_up":
        work.events.append("case.follow_up")
    elif relation in ("duplicate", "update"):
        work.events.append("case.updated")
    audit.record(
        ctx.conn,
        "request_attached" if relation != "origin" else "case_opened",
        case_id=work.case.id,
        request_id=request_id,
        relation=relation,
        reasons=[r.to_dict() for r in work.reasons],
    )
    ctx.log.info(
        "dry_run_request" if ctx.settings.dry_run else "request_stored",  # nothing is kept
        source=req.source,
        request_id=request_id,
        case=work.case.reference,
        relation=relation,
    )
    return work


def _apply_status(ctx: StageContext, work: Work) -> None:
    """A CRM ticket carries its status: the case follows it, and SLA pauses are recorded."""
    req, case = work.request, work.case
    assert req is not None and case is not None
    conf = ctx.source_settings(req.source)
    source_map = conf.status_map if conf is not None else {}
    status = map_status(req.headers.get("status"), source_map)
    if status is None or status == case.status:
        return
    paused = ctx.rules.paused_statuses if ctx.rules is not None else frozenset()
    at = req.received_at or ctx.now
    if req.headers.get("updated_at"):
        at = datetime.fromisoformat(req.headers["updated_at"].replace("Z", "+00:00"))
    pauses = track_pauses(case.pause_list(), case.status, status, paused, at)
    work.case = update_case(ctx.conn, case.id, status=status, pauses=pauses)
    work.reasons.append(
        Reason("status_changed", f"status {case.status} → {status} in {req.source}")
    )
    if "case.updated" not in work.events:
        work.events.append("case.updated")
