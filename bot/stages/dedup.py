"""Stage 4b: the same contact asking again: a duplicate, or a follow-up (a chase) of a case.

Exact threading (headers, references) has found nothing, or found a case the reply raises
another matter than (`bot/stages/rethread.py`: that case is no candidate). The contact's
open cases with a request in the window are the candidates. Evidence against a candidate
comes first: the new request names an invoice/contract/order/meter/serial number, or a site,
of the kind the case names too but none of the case's own (`bot/specifics.py`); or it says
it raises another matter ("autre problème", "par ailleurs", "another issue") and names no
number of one matter of the case (a bill, a credit note, an order, a ticket: a site, a
contract or a customer number is what all of one person's matters carry). Such a
candidate is kept apart whatever the wording, and the reason trail says why. Then, in this order:

1. the same cleaned text within the duplicate window is a duplicate;
2. a reply whose headers were stripped (a RE:/TR:/AW:/Fwd:/Réf: prefix before the subject of
   one of the contact's open cases) is a follow-up of it, unless it says outright it is
   about something else or rethread kept it apart from the case it answers;
3. a chase without content ("any update?", "des nouvelles ?", "relance", or a chase of a few
   words) from a contact with exactly one open case is a follow-up of that case, whatever
   category the chase reads as, unless its own words (two or so) are none of the case's;
4. a chase that names what only one of several open cases names (its invoice number, its
   site, an amount) is a follow-up of that case;
5. a chase without content from a contact with two or more open cases joins the one case
   the sender (address and name) wrote about in the last `bare_chase_sender_days`; with
   none or several, it is not guessed: its own case, tagged `ambiguous_chase` and
   `related_to:` each open case, whose answer asks which request it is about;
6. the same topic: content words (greetings, sign-offs and boilerplate left out) alike
   enough, with a bonus for a number or site both name and a penalty when both name amounts
   and none agree. Very alike attaches; fairly alike attaches when the rules read the same
   category, the message names one of the case's numbers again, or it says it chases,
   unless the case has been quiet for weeks;
   otherwise the new case is flagged `possible_repeat` for review. Two open cases about as
   alike, nothing named to tell them apart: not guessed, flagged for review. Likeness alone
   is thin evidence when nothing specific is named in common (an identifier, a site, an
   amount) and the words both use weigh less than `distinct_mass`, or less than
   `distinct_share` of the request's own words (`bot/distinctive.py`: the area's common
   words weigh little): then kept apart, tagged `related_to:` the alike case for review,
   unless it is a chase all of whose words are the case's. A request about a bill of a month
   the case never names, naming nothing specific of it, is kept apart the same way
   (`kept_apart_other_bill`). See `docs/grouping.md`.

The evidence is gathered in `bot/grouping.py`; this stage decides and writes every decision,
and every case it kept the request apart from, in the reason trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bot.distinctive import mass
from bot.facts import build_facts
from bot.grouping import Candidate, NewRequest, candidates, quiet_days, read_request, score
from bot.models import SourceRecord
from bot.pipeline import StageContext, Work
from bot.reasons import Reason
from bot.settings import DedupSettings
from bot.stages.rethread import RELATED_TAG, related_references
from bot.status import OPEN_STATUSES
from bot.store.batch import pending
from bot.store.cases import get_case
from bot.store.requests import (
    body_fingerprint,
    read_open_requests_for_batch,
    recent_open_requests,
)
from bot.textfold import strip_accents
from bot.topic import REPLY_PREFIX, grouping_score, strip_reply_prefix, subject_key, topic_of

# Categories a chase may read as whatever it chases: they say nothing about the topic.
CHASE_CATEGORIES = frozenset({"status_request", "other"})
# A chase of at most this many content words says nothing but "where is it?".
CHASE_CONTENT_WORDS = 4
# Two open cases within this much likeness of each other, nothing named: not guessed.
AMBIGUOUS_MARGIN = 0.08
# A bare chase from a sender with several open cases, not guessed: its case asks which.
AMBIGUOUS_CHASE_TAG = "ambiguous_chase"
# A bare chase pointing at "my email from this morning" joins the one open case quiet no
# longer than this.
POINTS_BACK_DAYS = 2.0


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
    return ctx.rules.categorise(facts, now=ctx.now)  # what decide() would say, cheaper


def match_open_case(ctx: StageContext, work: Work) -> Work | None:
    """Attach a repeat of an open request of the same contact as a duplicate or a follow-up."""
    req, contact = work.request, work.contact
    if work.case is not None or req is None or contact is None or req.received_at is None:
        return work
    if work.new_contact:  # a contact seen for the first time has no open case to repeat
        return work
    conf = ctx.settings.dedup
    since = req.received_at - timedelta(days=conf.follow_up_window_days)
    rows = recent_open_requests(ctx.conn, contact.id, since, OPEN_STATUSES, conf.candidates)
    if not rows:
        return work
    if _duplicate(ctx, work, rows):
        return work
    new = read_request(req.subject, req.body_clean, req.sender_name, contact.name)
    apart = related_references(work)  # a reply kept apart from the case it answers
    cases = [c for c in candidates(rows, new) if c.reference not in apart]
    steps = (
        _reply_without_headers,
        _status_chase,
        _chase_naming_one_case,
        _bare_chase_of_several,
        _same_topic,
    )
    for step in steps:
        if step(ctx, work, new, cases):
            return work
    _explain_kept_apart(work, new, cases)
    return work


def read_open_cases_ahead(ctx: StageContext, records: Sequence[SourceRecord]) -> None:
    """For the mails parsed ahead: the open requests of every contact their senders' keys
    name, read once for the batch (`bot/store/requests.py: read_open_requests_for_batch`);
    `match_open_case` then reads a contact's from it unless the batch stored one since."""
    writes = pending(ctx.conn)
    if writes is None or not writes.keys_read:
        return
    received = [
        req.received_at or ctx.now
        for rec in records
        if (req := ctx.parsed.get(id(rec))) is not None
    ]
    if not received:
        return
    conf = ctx.settings.dedup
    since = min(received) - timedelta(days=conf.follow_up_window_days)
    ids = {cid for found in writes.keys_read.values() for cid in found}
    read_open_requests_for_batch(ctx.conn, ids, since, OPEN_STATUSES, conf.candidates)


match_open_case.prepare = read_open_cases_ahead  # type: ignore[attr-defined]


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


def _reply_without_headers(
    ctx: StageContext, work: Work, new: NewRequest, cases: list[Candidate]
) -> bool:
    req = work.request
    assert req is not None
    stripped, had_prefix = strip_reply_prefix(req.subject)
    key = subject_key(stripped)
    # A reply kept apart from the case it answers, or that says it is about something else,
    # carries an old thread's subject, not its own.
    if not had_prefix or not key or new.unrelated or related_references(work):
        return False
    for cand in cases:
        if cand.against:
            continue
        if any(key in (subject_key(r.subject), subject_key(r.case_subject)) for r in cand.rows):
            _attach(
                ctx,
                work,
                cand.case_id,
                "follow_up",
                Reason(
                    "reply_without_headers",
                    f"a reply (no reply headers) from the contact to the subject of "
                    f"{cand.reference}",
                    {"case": cand.reference},
                ),
            )
            return True
    return False


def _status_chase(ctx: StageContext, work: Work, new: NewRequest, cases: list[Candidate]) -> bool:
    if len(cases) != 1 or new.new_matter:
        return False
    (cand,) = cases
    # A chase of a few words joins too, unless those words are about something else, or it
    # names another bill's month or amount ("still no December bill" after November's).
    few_words = (
        new.chase
        and len(new.words) <= CHASE_CONTENT_WORDS
        and (len(new.words) <= 1 or bool(new.words & cand.words))
        and not (cand.comparison.differ and not cand.named)
    )
    if not (new.bare_chase or few_words) or cand.against:
        return False
    if (
        not few_words
        and _about_something_else(new, cand, ctx.settings.dedup)
        and not _chases_its_last_mail(work, new, cand)
    ):
        return False
    what = "asks for news" if new.bare_chase else f"a chase of {len(new.words)} content words"
    _attach(
        ctx,
        work,
        cand.case_id,
        "follow_up",
        Reason(
            "status_chase",
            f"{what} and the contact has one open case, {cand.reference}",
            {"case": cand.reference},
        ),
    )
    return True


def _chases_its_last_mail(work: Work, new: NewRequest, cand: Candidate) -> bool:
    """A bare chase pointing at the sender's own recent mail ("following up on my email from
    this morning") whose one open case had a mail within `POINTS_BACK_DAYS`: news of it."""
    req = work.request
    assert req is not None and req.received_at is not None
    return new.points_back and quiet_days(req.received_at, cand) <= POINTS_BACK_DAYS


def _about_something_else(new: NewRequest, cand: Candidate, conf: DedupSettings) -> bool:
    """A short mail that asks for news ("avez-vous pu ...", "still waiting for ...") but
    whose own words, weighing half the likeness bar or more, are none of the case's and name
    nothing of it: news of another matter, not of this case."""
    if cand.named or cand.distinct:
        return False
    return mass(new.content) >= conf.distinct_mass / 2


def _chase_naming_one_case(
    ctx: StageContext, work: Work, new: NewRequest, cases: list[Candidate]
) -> bool:
    if len(cases) < 2 or not (new.chase or new.bare_chase) or new.new_matter:
        return False
    named = [c for c in cases if c.named and not c.against]
    if len(named) != 1:
        return False
    (cand,) = named
    shared = ", ".join((*cand.comparison.shared, *cand.comparison.alike)[:3])
    _attach(
        ctx,
        work,
        cand.case_id,
        "follow_up",
        Reason(
            "chase_names_case",
            f"a chase naming {shared}, which only {cand.reference} of the contact's "
            f"{len(cases)} open cases names",
            {
                "case": cand.reference,
                "shared": [*cand.comparison.shared, *cand.comparison.alike],
            },
        ),
    )
    return True


def _bare_chase_of_several(
    ctx: StageContext, work: Work, new: NewRequest, cases: list[Candidate]
) -> bool:
    """A bare "any update?" (no word of its own) from a contact with two or more open cases:
    joined to the one case the sender (same address and name) wrote about in the last days
    when there is exactly one; otherwise not guessed: a case of its own, tagged
    `ambiguous_chase` and linked to each open case, whose answer asks which one it is."""
    req = work.request
    assert req is not None and req.received_at is not None
    if not new.bare_chase or new.content or new.new_matter or len(cases) < 2:
        return False
    open_cases = [c for c in cases if not c.against]
    since = req.received_at - timedelta(days=ctx.settings.dedup.bare_chase_sender_days)
    mine = [c for c in open_cases if _sender_wrote(c, req.sender_email, req.sender_name, since)]
    if len(mine) == 1:
        (cand,) = mine
        _attach(
            ctx,
            work,
            cand.case_id,
            "follow_up",
            Reason(
                "status_chase_sender_case",
                f"asks for news; of the contact's {len(open_cases)} open cases, only "
                f"{cand.reference} has a request from this sender in the last "
                f"{ctx.settings.dedup.bare_chase_sender_days:.0f} days",
                {"case": cand.reference},
            ),
        )
        return True
    listed = sorted(mine or open_cases, key=lambda c: c.case_id)
    references = [c.reference for c in listed]
    work.tags.append(AMBIGUOUS_CHASE_TAG)
    work.tags.extend(f"{RELATED_TAG}{r}" for r in references)
    work.reasons.append(
        Reason(
            "ambiguous_chase",
            f"asks for news, names nothing, and the sender has {len(listed)} open cases "
            f"({', '.join(references)}): not guessed, linked to each; the answer asks which",
            {"cases": references},
        )
    )
    ctx.log.info("bare_chase_not_assigned", cases=references)
    return True


def _sender_wrote(cand: Candidate, email: str | None, name: str | None, since: Any) -> bool:
    """Whether the case has a request from this sender (address, and name when both have
    one: colleagues share a mailbox) since `since`."""
    mine = (email or "").lower()
    me = fold_text(name or "").strip()
    for row in cand.rows:
        if row.received_at < since or (row.sender_email or "").lower() != mine:
            continue
        theirs = fold_text(row.sender_name or "").strip()
        if not me or not theirs or me == theirs:
            return True
    return False


def _same_topic(ctx: StageContext, work: Work, new: NewRequest, cases: list[Candidate]) -> bool:
    req = work.request
    assert req is not None and req.received_at is not None
    conf = ctx.settings.dedup
    eligible = [c for c in cases if not c.against and not (new.new_matter and not c.names_matter)]
    if not eligible:
        return False
    ranked = sorted(((score(new, c), c) for c in eligible), key=lambda pair: -pair[0])
    best, cand = ranked[0]
    detail = {"case": cand.reference, "similarity": round(best, 3)}
    evidence = cand.evidence()
    if _ambiguous(work, ranked, conf.similar_text_chase):
        return False
    if best >= conf.similar_text:
        reason = Reason(
            "similar_text", f"topic {best:.0%} alike {cand.reference}{evidence}", detail
        )
        return _attach_unless_thin(ctx, work, new, cand, reason)
    if best < conf.similar_text_chase:
        return False
    quiet = quiet_days(req.received_at, cand)
    stale = quiet >= conf.stale_after_days and not cand.comparison.shared
    category = _category_of(ctx, work)
    same = category is not None and (category == cand.category or category in CHASE_CATEGORIES)
    # A number of the case named again (its meter, its invoice): the same matter, whatever
    # category the new words read as ("here is a photo of meter 0987" after a billing mail).
    named = [s for s in cand.comparison.shared if not s.startswith("site ")]
    if new.chase or ((same or named) and best >= conf.similar_text_same_category and not stale):
        if new.chase:
            why = "a chase"
        elif same:
            why = f"same category {category}"
        else:
            why = f"names {', '.join(named[:3])} again"
        reason = Reason(
            "similar_text_same_category",
            f"topic {best:.0%} alike {cand.reference}, {why}{evidence}",
            detail,
        )
        return _attach_unless_thin(ctx, work, new, cand, reason)
    # Alike, but not enough, read as another matter, or the case long quiet: a new case,
    # flagged for review.
    why = (
        f"quiet for {quiet:.0f} days"
        if stale and same and best >= conf.similar_text_same_category
        else f"read as {category}"
    )
    work.tags.append(f"possible_repeat:{cand.reference}")
    work.reasons.append(
        Reason(
            "possible_repeat",
            f"topic {best:.0%} alike {cand.reference} ({cand.category}), {why}: "
            "kept apart, flagged for review",
            detail,
        )
    )
    return False


def _attach_unless_thin(
    ctx: StageContext, work: Work, new: NewRequest, cand: Candidate, reason: Reason
) -> bool:
    """Attach on likeness, unless the evidence is thin: then kept apart, linked for review."""
    if _other_bill(new, cand):
        _keep_apart_other_bill(work, cand, reason.detail)
        return False
    if _thin(new, cand, ctx.settings.dedup):
        _keep_apart_thin(work, cand, reason.detail)
        return False
    _attach(ctx, work, cand.case_id, "follow_up", reason)
    return True


def _thin(new: NewRequest, cand: Candidate, conf: DedupSettings) -> bool:
    """Nothing specific names the case (a number, an amount; for a chase, a site or the month
    of a bill: one person's home or shop is named in each of their matters), the words both
    use weigh little (the area's common words) or little of the request's own, and the
    request is no chase all of whose words are the case's ("the thermostat is still
    offline"): likeness alone is thin evidence."""
    if cand.names_number or cand.comparison.alike:
        return False
    if new.chase and (cand.named or cand.comparison.months):
        return False
    if cand.distinct_mass >= conf.distinct_mass and cand.distinct_share >= conf.distinct_share:
        return False
    # "Any update on my broadband?": asks for news about the case's own words. "Still no
    # bill": says it chases, but with the area's common words only, maybe a new matter.
    enough = new.bare_chase or cand.distinct_mass >= conf.distinct_mass / 2
    return not (_chase_of_its_words(new, cand) and enough)


def _other_bill(new: NewRequest, cand: Candidate) -> bool:
    """The request names the bill of a month the case never names, and nothing specific of
    the case (a number, a site, an amount): one person's second bill, however alike."""
    return bool(cand.comparison.other_months) and not cand.named


def _keep_apart_other_bill(work: Work, cand: Candidate, detail: dict[str, Any]) -> None:
    """An alike request about another month's bill: a new case linked to the alike one."""
    best = float(detail.get("similarity") or 0.0)
    work.tags.append(f"{RELATED_TAG}{cand.reference}")
    work.reasons.append(
        Reason(
            "kept_apart_other_bill",
            f"topic {best:.0%} alike {cand.reference} ({cand.category}), but names the "
            f"{'; '.join(cand.comparison.other_months)} and nothing specific of that case: "
            "kept apart, linked for review",
            {**detail, "months": list(cand.comparison.other_months)},
        )
    )


def _chase_of_its_words(new: NewRequest, cand: Candidate) -> bool:
    """A chase all of whose content words are the case's."""
    return new.chase and bool(new.content) and new.content <= cand.content


def _keep_apart_thin(work: Work, cand: Candidate, detail: dict[str, Any]) -> None:
    """An alike request on thin evidence: a new case linked to the alike one for review (one
    person's two problems in one area read alike; a false merge hides one of them)."""
    best = float(detail.get("similarity") or 0.0)
    words = ", ".join(cand.distinct[:4]) or "no word of its own"
    work.tags.append(f"{RELATED_TAG}{cand.reference}")
    work.reasons.append(
        Reason(
            "kept_apart_thin_evidence",
            f"topic {best:.0%} alike {cand.reference} ({cand.category}), but nothing specific "
            f"in common and few words of that matter's own ({words}): kept apart, linked "
            "for review",
            {
                **detail,
                "shared_words": list(cand.distinct[:8]),
                "weight": round(cand.distinct_mass, 1),
                "share": round(cand.distinct_share, 2),
            },
        )
    )


def _ambiguous(work: Work, ranked: list[tuple[float, Candidate]], bar: float) -> bool:
    """Two open cases alike enough and about as alike, and nothing the request names tells
    them apart: not guessed (a wrong guess merges two matters), flagged for review."""
    if len(ranked) < 2 or ranked[1][0] < bar or ranked[0][0] - ranked[1][0] >= AMBIGUOUS_MARGIN:
        return False
    (first, a), (second, b) = ranked[0], ranked[1]
    if a.comparison.shared or b.comparison.shared:
        return False
    work.tags.extend(f"possible_repeat:{c.reference}" for c in (a, b))
    work.reasons.append(
        Reason(
            "ambiguous_cases",
            f"topic {first:.0%} alike {a.reference} and {second:.0%} alike {b.reference}, "
            "nothing it names tells them apart: not guessed, flagged for review",
            {"cases": [a.reference, b.reference]},
        )
    )
    return True


def _explain_kept_apart(work: Work, new: NewRequest, cases: list[Candidate]) -> None:
    """Say which open cases the request was kept apart from, and why (conflicting numbers or
    sites, or a mail that says it raises another matter)."""
    for cand in cases:
        if cand.against:
            work.reasons.append(
                Reason(
                    "kept_apart_conflict",
                    f"not {cand.reference}: the request {cand.against}",
                    {"case": cand.reference, "conflicts": list(cand.comparison.conflicts)},
                )
            )
        elif new.new_matter and not cand.names_matter:
            work.reasons.append(
                Reason(
                    "kept_apart_new_matter",
                    f"not {cand.reference}: the request says \u201c{new.new_matter}\u201d "
                    "and names nothing of that case",
                    {"case": cand.reference, "cue": new.new_matter},
                )
            )


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
