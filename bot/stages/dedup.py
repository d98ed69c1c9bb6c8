"""Stage 4b: the same contact asking again: a duplicate, or a follow-up (a chase) of a case.

Exact threading (headers, references) has found nothing. Among the contact's open cases with
a request in the window, in this order:

1. the same cleaned text within the duplicate window is a duplicate;
2. a reply whose headers were stripped (a RE:/TR:/AW:/Fwd:/Réf: prefix before the subject of
   one of the contact's open cases) is a follow-up of it;
3. a bare status chase ("any update?", "des nouvelles ?", "relance") from a contact with
   exactly one open case is a follow-up of that case, whatever category the chase reads as;
4. the same topic: the same invoice/contract number, or content words (greetings, sign-offs
   and boilerplate left out) alike enough. Very alike attaches; fairly alike attaches when
   the rules read the same category (or the message says it chases); otherwise the new case
   is flagged `possible_repeat` for review. One person's different topics stay apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bot.facts import build_facts
from bot.pipeline import StageContext, Work
from bot.reasons import Reason
from bot.status import OPEN_STATUSES
from bot.store.cases import get_case
from bot.store.requests import body_fingerprint, recent_open_requests
from bot.textfold import strip_accents
from bot.topic import (
    REPLY_PREFIX,
    grouping_score,
    is_status_chase,
    name_words,
    says_chase,
    strip_reply_prefix,
    subject_key,
    topic_of,
)

# Categories a chase may read as whatever it chases: they say nothing about the topic.
CHASE_CATEGORIES = frozenset({"status_request", "other"})


def fold_text(text: str) -> str:
    """Lower-case, accents removed, reply prefixes dropped: the text used for similarity."""
    return REPLY_PREFIX.sub("", strip_accents(text))


def similarity(a_subject: str, a_body: str, b_subject: str, b_body: str) -> float:
    """How alike two requests' topics are, 0..1 (content words, boilerplate left out)."""
    return grouping_score(topic_of(a_subject, a_body), topic_of(b_subject, b_body))


def _category_of(ctx: StageContext, work: Work) -> str | None:
    if ctx.rules is None or work.request is None:
        return None
    facts = build_facts(work.request, work.contact, None)
    return ctx.rules.decide(facts, event="request.received", now=ctx.now).category


def match_open_case(ctx: StageContext, work: Work) -> Work | None:
    """Attach a repeat of an open request of the same contact as a duplicate or a follow-up."""
    req, contact = work.request, work.contact
    if work.case is not None or req is None or contact is None or req.received_at is None:
        return work
    if work.new_contact:  # a contact seen for the first time has no open case to repeat
        return work
    conf = ctx.settings.dedup
    since = req.received_at - timedelta(days=conf.follow_up_window_days)
    rows = recent_open_requests(ctx.conn, contact["id"], since, OPEN_STATUSES, conf.candidates)
    if not rows:
        return work
    for step in (_duplicate, _reply_without_headers, _status_chase, _same_topic):
        if step(ctx, work, rows):
            return work
    return work


def _duplicate(ctx: StageContext, work: Work, rows: Sequence[Any]) -> bool:
    req = work.request
    assert req is not None and req.received_at is not None
    if not req.body_clean.strip():
        return False
    fingerprint = body_fingerprint(req.body_clean)
    since = req.received_at - timedelta(hours=ctx.settings.dedup.duplicate_window_hours)
    for row in rows:
        if row.body_hash == fingerprint and row.received_at >= since:
            ago = _ago(req.received_at - row.received_at)
            _attach(
                ctx,
                work,
                row.case_id,
                "duplicate",
                Reason(
                    "duplicate_text",
                    f"same text as a request of {row.reference} {ago} earlier",
                    {"case": row.reference},
                ),
            )
            return True
    return False


def _reply_without_headers(ctx: StageContext, work: Work, rows: Sequence[Any]) -> bool:
    req = work.request
    assert req is not None
    stripped, had_prefix = strip_reply_prefix(req.subject)
    key = subject_key(stripped)
    if not had_prefix or not key:
        return False
    for row in rows:
        if key in (subject_key(row.subject), subject_key(row.case_subject)):
            _attach(
                ctx,
                work,
                row.case_id,
                "follow_up",
                Reason(
                    "reply_without_headers",
                    f"a reply (no reply headers) from the contact to the subject of "
                    f"{row.reference}",
                    {"case": row.reference},
                ),
            )
            return True
    return False


def _status_chase(ctx: StageContext, work: Work, rows: Sequence[Any]) -> bool:
    req = work.request
    assert req is not None
    open_cases = {row.case_id: row for row in rows}
    if len(open_cases) != 1 or not is_status_chase(req.subject, req.body_clean):
        return False
    (row,) = open_cases.values()
    _attach(
        ctx,
        work,
        row.case_id,
        "follow_up",
        Reason(
            "status_chase",
            f"asks for news and the contact has one open case, {row.reference}",
            {"case": row.reference},
        ),
    )
    return True


def _same_topic(ctx: StageContext, work: Work, rows: Sequence[Any]) -> bool:
    req = work.request
    assert req is not None
    conf = ctx.settings.dedup
    mine = topic_of(req.subject, req.body_clean)
    sender = name_words(req.sender_name, (work.contact or {}).get("name"))
    score, row = max(
        ((grouping_score(mine, topic_of(r.subject, r.body_clean), sender), r) for r in rows),
        key=lambda pair: pair[0],
    )
    detail = {"case": row.reference, "similarity": round(score, 3)}
    if score >= conf.similar_text:
        reason = Reason("similar_text", f"topic {score:.0%} alike {row.reference}", detail)
        _attach(ctx, work, row.case_id, "follow_up", reason)
        return True
    chase = says_chase(req.subject, req.body_clean)
    if score < conf.similar_text_chase:
        return False
    category = _category_of(ctx, work)
    same = category is not None and (category == row.category or category in CHASE_CATEGORIES)
    if chase or (same and score >= conf.similar_text_same_category):
        why = "a chase" if chase else f"same category {category}"
        reason = Reason(
            "similar_text_same_category",
            f"topic {score:.0%} alike {row.reference}, {why}",
            detail,
        )
        _attach(ctx, work, row.case_id, "follow_up", reason)
        return True
    # Alike, but not enough, or read as another matter: a new case, flagged for review.
    work.tags.append(f"possible_repeat:{row.reference}")
    work.reasons.append(
        Reason(
            "possible_repeat",
            f"topic {score:.0%} alike {row.reference} ({row.category}), read as "
            f"{category}: kept apart, flagged for review",
            detail,
        )
    )
    return False


def _attach(ctx: StageContext, work: Work, case_id: int, relation: str, reason: Reason) -> None:
    work.case = get_case(ctx.conn, case_id)
    work.relation = relation
    work.reasons.append(reason)


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
