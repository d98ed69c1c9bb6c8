"""Stage 2: drop what was stored already (a re-read is harmless) and file auto-replies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.bounces import file_bounce
from bot.models import SourceRecord
from bot.own_writes import own_ticket_values
from bot.pipeline import StageContext, Work
from bot.store import audit
from bot.store.requests import (
    find_seen,
    insert_request,
    lock_message_id,
    read_seen_for_batch,
    unchanged_ticket_version,
)


def skip_seen_and_auto_replies(ctx: StageContext, work: Work) -> Work | None:
    """Same source id or same Message-ID: already here. Auto-replies: stored, no case."""
    req = work.request
    assert req is not None
    # Two replicas reading two mailboxes that got the same mail: the second waits for the
    # first's transaction, then sees its request (held until the batch commits).
    lock_message_id(ctx.conn, req.message_id)
    seen = find_seen(ctx.conn, req.source, req.source_id, req.message_id)
    if seen is not None:
        same_source = seen["source"] == req.source and seen["source_id"] == req.source_id
        if not same_source:
            ctx.log.info(
                "request_already_seen",
                source=req.source,
                source_id=req.source_id,
                message_id=req.message_id,
                stored_as=seen["id"],
            )
            audit.record(
                ctx.conn,
                "request_already_seen",
                case_id=seen["case_id"],
                request_id=seen["id"],
                source=req.source,
                source_id=req.source_id,
                why="same Message-ID as a stored request",
            )
        work.drop("already stored")
        return None
    if req.channel == "ticket":
        source, thread_key = req.source, req.thread_key or ""

        def own(case_id: int, since: datetime) -> dict[str, set[str]]:
            return own_ticket_values(ctx, source, thread_key, case_id, since)

        same_as = unchanged_ticket_version(ctx.conn, req, own)
        if same_as is not None:  # crmbot's own write read back, or a field it does not read
            ctx.log.info("ticket_version_unchanged", source=req.source, same_as=same_as)
            work.drop("ticket version changes nothing crmbot reads")
            return None
    if req.auto_reply:
        request_id = insert_request(
            ctx.conn,
            req,
            case_id=None,
            contact_id=None,
            raw_max_bytes=ctx.settings.store.raw_max_bytes,
        )
        audit.record(
            ctx.conn,
            "auto_reply_ignored",
            request_id=request_id,
            kind=req.auto_reply,
            sender=req.sender_email,
            subject=req.subject[:200],
        )
        ctx.log.info("auto_reply_ignored", source=req.source, kind=req.auto_reply)
        work.request_id = request_id
        if req.auto_reply == "bounce" and request_id is not None:  # None: stored already
            file_bounce(ctx, work, request_id)
        work.drop(f"auto-reply ({req.auto_reply})")
        return None
    return work


def read_seen_ahead(ctx: StageContext, records: Sequence[SourceRecord]) -> None:
    """For the mails parsed ahead: their Message-IDs locked and what they may repeat read,
    once for the batch (`bot/store/requests.py: read_seen_for_batch`)."""
    keys = [
        (req.source, req.source_id, req.message_id)
        for rec in records
        if (req := ctx.parsed.get(id(rec))) is not None
    ]
    read_seen_for_batch(ctx.conn, keys)


skip_seen_and_auto_replies.prepare = read_seen_ahead  # type: ignore[attr-defined]
