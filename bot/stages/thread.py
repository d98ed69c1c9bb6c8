"""Stage 4: exact threading: same ticket, a reply header, or a case reference in the subject."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from bot.entities import Case
from bot.pipeline import StageContext, Work
from bot.reasons import Reason
from bot.stages.rethread import RELATED_TAG
from bot.store import audit
from bot.store.cases import case_by_reference, get_case, merge_cases
from bot.store.requests import case_of_thread_key, cases_of_message_ids


@cache
def reference_pattern(prefix: str) -> re.Pattern[str]:
    """Matches a case reference in a subject: [#CB-12], [CB-12] or #CB-12."""
    return re.compile(rf"(?:\[#?|#)({re.escape(prefix)}-\d{{1,12}})\b\]?", re.IGNORECASE)


def find_reference(subject: str, prefix: str) -> str | None:
    """The first case reference in a subject, upper-cased, or None."""
    match = reference_pattern(prefix).search(subject)
    return match.group(1).upper() if match else None


def _follow(ctx: StageContext, case: Case | None) -> Case | None:
    """Follow soft merges: a merged case sends its requests to the surviving case."""
    hops = 0
    while case is not None and case.merged_into and hops < 20:
        case = get_case(ctx.conn, case.merged_into)
        hops += 1
    return case


def _kept_apart(cases: Iterable[Case]) -> bool:
    """One of these cases was opened by a reply kept apart from another of them."""
    cases = list(cases)
    references = {c.reference for c in cases}
    return any(
        tag.startswith(RELATED_TAG) and tag[len(RELATED_TAG) :] in references
        for c in cases
        for tag in c.tags
    )


def _join(ctx: StageContext, work: Work, found: list[tuple[int, str]]) -> Case | None:
    """The case a reply belongs to; when its headers reach several cases, they are one
    conversation: the newer cases are soft-merged into the oldest (reversible, audited,
    tagged for review) instead of splitting it, unless one was opened by a reply kept apart
    from another (`bot/stages/rethread.py`), or all are the sender's own (kept apart when
    they opened: linked, not merged)."""
    survivors: dict[int, Case] = {}
    for case_id, _ in found:
        case = _follow(ctx, get_case(ctx.conn, case_id))
        if case is not None:
            survivors.setdefault(case.id, case)
    if len(survivors) < 2:
        return next(iter(survivors.values()), None)
    if _kept_apart(survivors.values()):
        # A reply once kept apart as another matter (its case is `related_to` the other):
        # the thread goes on where it was replied to, the newest message it names.
        newest = _follow(ctx, get_case(ctx.conn, found[0][0]))
        return newest if newest is not None else next(iter(survivors.values()))
    if _one_contacts(work, survivors.values()):
        return _link_not_merge(ctx, work, found, survivors)
    keep_id = min(survivors)
    for other_id in sorted(survivors):
        if other_id == keep_id:
            continue
        keep, other = survivors[keep_id], survivors[other_id]
        merge_cases(ctx.conn, keep_id, other_id)
        why = "one reply's References name messages of both cases"
        for case_id in (keep_id, other_id):
            audit.record(
                ctx.conn,
                "case_merged",
                case_id=case_id,
                survivor=keep.reference,
                absorbed=other.reference,
                why=why,
                review=True,
            )
        work.tags.append(f"merged_by_reply:{other.reference}")
        work.reasons.append(
            Reason(
                "cases_joined_by_reply",
                f"{other.reference} soft-merged into {keep.reference}: {why} "
                "(reversible: crmbot cases unmerge)",
                {"survivor": keep.reference, "absorbed": other.reference},
            )
        )
        ctx.log.info("cases_joined_by_reply", survivor=keep.reference, absorbed=other.reference)
    return get_case(ctx.conn, keep_id)


def _one_contacts(work: Work, cases: Iterable[Case]) -> bool:
    """All these cases are the sender's own: the grouping rules kept them apart already."""
    contact_id = work.contact.id if work.contact else None
    return contact_id is not None and all(c.contact_id == contact_id for c in cases)


def _link_not_merge(
    ctx: StageContext, work: Work, found: list[tuple[int, str]], survivors: dict[int, Case]
) -> Case:
    """A reply whose headers reach two or more of its sender's own cases: those cases were
    kept apart as two matters when they opened, and a References header (a mail client's
    whole history) does not overrule that. The reply joins the case of the message it
    answers (In-Reply-To, else the newest it names); the others are linked for review."""
    req = work.request
    assert req is not None
    answered = cases_of_message_ids(ctx.conn, [req.in_reply_to]) if req.in_reply_to else []
    direct = (answered or found)[0][0]
    chosen = _follow(ctx, get_case(ctx.conn, direct)) or next(iter(survivors.values()))
    others = sorted(c.reference for c in survivors.values() if c.id != chosen.id)
    work.tags.extend(f"{RELATED_TAG}{r}" for r in others)
    work.reasons.append(
        Reason(
            "cases_linked_by_reply",
            f"its References also name {', '.join(others)}, another case of the same contact: "
            f"not merged (kept apart when it opened), linked for review",
            {"case": chosen.reference, "linked": others},
        )
    )
    ctx.log.info("cases_linked_by_reply", case=chosen.reference, linked=others)
    return chosen


def thread_exactly(ctx: StageContext, work: Work) -> Work | None:
    """Attach the request to the case it unambiguously belongs to, with the reason."""
    req = work.request
    assert req is not None
    if req.thread_key:
        case_id = case_of_thread_key(ctx.conn, req.thread_key)
        if case_id is not None:
            work.case = _follow(ctx, get_case(ctx.conn, case_id))
            work.relation = "update"
            work.reasons.append(Reason("threaded_same_ticket", f"same ticket {req.thread_key}"))
            return work
    found = cases_of_message_ids(ctx.conn, [*req.references, *filter(None, [req.in_reply_to])])
    if found:
        case_id, message_id = found[0]
        work.case = _join(ctx, work, found)
        work.relation = "follow_up"
        header = "In-Reply-To" if message_id == req.in_reply_to else "References"
        work.reasons.append(
            Reason(
                "threaded_reply_header", f"{header} points at <{message_id}>", {"header": header}
            )
        )
        return work
    reference = find_reference(req.subject, ctx.settings.cases.reference_prefix)
    if reference:
        case = _follow(ctx, case_by_reference(ctx.conn, reference))
        if case is None:
            work.reasons.append(
                Reason("reference_unknown", f"subject names {reference}, which does not exist")
            )
            return work
        contact_id = work.contact.id if work.contact else None
        if case.contact_id is not None and case.contact_id != contact_id:
            work.tags.append(f"foreign_reference:{reference}")
            work.reasons.append(
                Reason(
                    "foreign_reference",
                    f"subject names {reference}, but the sender is not that case's contact: "
                    "not merged, flagged for review",
                    {"reference": reference, "case_id": case.id},
                )
            )
            return work
        work.case = case
        work.relation = "follow_up"
        work.reasons.append(Reason("threaded_reference", f"subject names {reference}"))
    return work
