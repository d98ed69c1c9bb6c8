"""Stage 4b: the same contact asking the same thing again: a duplicate, or a chase of a case.

Exact threading (headers, references) has found nothing. Among the contact's open cases
with a request in the window, the same cleaned text is a duplicate; a similar text is a
follow-up (a chase, which feeds priority) when it is very similar, or when it is fairly
similar and the rules put it in the same category as the case.
"""

from __future__ import annotations

import re
from datetime import timedelta

from rapidfuzz import fuzz
from sqlalchemy import bindparam, select

from bot.facts import build_facts
from bot.pipeline import StageContext, Work
from bot.reasons import Reason
from bot.store.requests import body_fingerprint
from bot.store.schema import cases, requests
from bot.textfold import strip_accents

_SUBJECT_CHARS = 300
_BODY_CHARS = 3000
OPEN_STATUSES = ("new", "open", "pending", "waiting", "reopened")
_PREFIX = re.compile(r"^\s*((re|tr|fw|fwd|aw|wg|réf|ref)\s*(\[\d+\])?\s*:\s*)+", re.I)
_CANDIDATES = (
    select(
        requests.c.case_id,
        requests.c.subject,
        requests.c.body_clean,
        requests.c.body_hash,
        requests.c.received_at,
        cases.c.category,
        cases.c.reference,
    )
    .join(cases, cases.c.id == requests.c.case_id)
    .where(
        requests.c.contact_id == bindparam("contact_id"),
        requests.c.received_at >= bindparam("since"),
        cases.c.status.in_(OPEN_STATUSES),
        cases.c.merged_into.is_(None),
    )
    .order_by(requests.c.received_at.desc())
    .limit(bindparam("limit"))
)


def fold_text(text: str) -> str:
    """Lower-case, accents removed, reply prefixes dropped: the text used for similarity."""
    return _PREFIX.sub("", strip_accents(text))


def comparable(subject: str, body: str) -> str:
    """The folded text two requests are compared on (capped: a hostile 16 KB subject must
    not make each of the candidate comparisons cost more than the whole parse)."""
    return fold_text(f"{subject[:_SUBJECT_CHARS]}\n{body[:_BODY_CHARS]}")


def similarity(a_subject: str, a_body: str, b_subject: str, b_body: str) -> float:
    """How alike two requests read, 0..1 (token-set ratio on subject and cleaned body)."""
    return _ratio(comparable(a_subject, a_body), comparable(b_subject, b_body))


def _ratio(a: str, b: str) -> float:
    return fuzz.token_set_ratio(a, b) / 100.0


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
    rows = ctx.conn.execute(
        _CANDIDATES, {"contact_id": contact["id"], "since": since, "limit": conf.candidates}
    ).all()
    if not rows:
        return work
    fingerprint = body_fingerprint(req.body_clean)
    duplicate_since = req.received_at - timedelta(hours=conf.duplicate_window_hours)
    for row in rows:
        if row.body_hash == fingerprint and row.received_at >= duplicate_since and req.body_clean:
            _attach(
                ctx,
                work,
                row.case_id,
                "duplicate",
                Reason(
                    "duplicate_text",
                    f"same text as a request of {row.reference} "
                    f"{_ago(req.received_at - row.received_at)} earlier",
                    {"case": row.reference},
                ),
            )
            return work
    mine = comparable(req.subject, req.body_clean)
    scored = sorted(
        ((_ratio(mine, comparable(r.subject, r.body_clean)), r) for r in rows),
        key=lambda pair: pair[0],
        reverse=True,
    )
    best_score, best = scored[0]
    if best_score >= conf.similar_text:
        _attach(
            ctx,
            work,
            best.case_id,
            "follow_up",
            Reason(
                "similar_text",
                f"text {best_score:.0%} similar to {best.reference}",
                {"case": best.reference, "similarity": round(best_score, 3)},
            ),
        )
        return work
    if best_score >= conf.similar_text_same_category and best.category:
        category = _category_of(ctx, work)
        if category == best.category:
            _attach(
                ctx,
                work,
                best.case_id,
                "follow_up",
                Reason(
                    "similar_text_same_category",
                    f"text {best_score:.0%} similar to {best.reference}, same category {category}",
                    {"case": best.reference, "similarity": round(best_score, 3)},
                ),
            )
            return work
        # Similar, but the rules read it as another matter: a new case, linked for review.
        work.tags.append(f"possible_repeat:{best.reference}")
        work.reasons.append(
            Reason(
                "possible_repeat",
                f"text {best_score:.0%} similar to {best.reference} ({best.category}) but read "
                f"as {category}: kept apart, flagged for review",
                {"case": best.reference, "similarity": round(best_score, 3)},
            )
        )
    return work


def _attach(ctx: StageContext, work: Work, case_id: int, relation: str, reason: Reason) -> None:
    row = ctx.conn.execute(select(cases).where(cases.c.id == case_id)).one()
    work.case = dict(row._mapping)
    work.relation = relation
    work.reasons.append(reason)


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
