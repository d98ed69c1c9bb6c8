"""Stage 4a: a reply joined to a case by its headers, re-examined when it raises another matter.

A customer often hits "reply" on an old thread (or on crmbot's acknowledgement) to report a
new problem. Exact threading joined the reply to the case it answers; here its own text (the
quote removed) is compared with that case's requests (`bot/grouping.py`). The reply opens a
new case, tagged `related_to:<the old case>`, when:

- it names an identifier or a site of a kind the case names, but none of the case's own
  (another invoice, contract, site …), and does not say it corrects itself or answers a
  question ("I meant", "je me suis trompé", "comme demandé"); or
- it says it raises another matter ("autre problème", "another issue"), under a subject
  none of the case's requests has; or
- it says outright it is about something else ("rien à voir avec", "nothing to do with",
  "c'est pour une autre question", "it's a new thing"), whatever its subject,

and in every case it names nothing of the case. A case reference `[#CB-n]` the customer
typed in the subject is a stronger link: kept unless the reply says outright it is about
something else, or says it is another matter AND names a conflicting identifier. A reply
to a CRM ticket (same ticket) is never re-examined.
"""

from __future__ import annotations

from bot.grouping import ReplyEvidence, read_reply, read_request
from bot.pipeline import StageContext, Work
from bot.reasons import Reason
from bot.store.requests import requests_of_case

# The reasons by which exact threading joined a request to a case, and how strong each is.
HEADER_JOIN = "threaded_reply_header"
REFERENCE_JOIN = "threaded_reference"
RELATED_TAG = "related_to:"
# A case's requests compared with the reply, at most.
MAX_CASE_REQUESTS = 50


def reexamine_reply(ctx: StageContext, work: Work) -> Work | None:
    """Open a new case, linked to the old one, for a reply that raises another matter."""
    req, case = work.request, work.case
    if req is None or case is None or work.relation != "follow_up":
        return work
    codes = {r.code for r in work.reasons}
    if "cases_joined_by_reply" in codes or not codes & {HEADER_JOIN, REFERENCE_JOIN}:
        return work
    rows = [r for r in requests_of_case(ctx.conn, case.id) if r["message_id"] != req.message_id]
    if not rows:
        return work
    if len(rows) > MAX_CASE_REQUESTS:  # a long case: its first request and its latest ones
        rows = rows[:1] + rows[1 - MAX_CASE_REQUESTS :]
    new = read_request(
        req.subject, req.body_clean, req.sender_name, work.contact.name if work.contact else None
    )
    evidence = read_reply(new, req.subject, req.body_clean, rows)
    why = _other_matter(evidence, typed_reference=REFERENCE_JOIN in codes)
    if why is None:
        return work
    reference = case.reference
    work.tags.append(f"{RELATED_TAG}{reference}")
    work.reasons.append(
        Reason(
            "kept_apart_new_matter_in_reply",
            f"replies to {reference} but {why}: a new case, related to {reference}",
            {
                "case": reference,
                "conflicts": list(evidence.comparison.conflicts),
                "cue": evidence.new_matter,
                "subject_changed": evidence.subject_changed,
            },
        )
    )
    ctx.log.info("reply_kept_apart", case=reference, why=why)
    work.case, work.relation = None, None
    return work


def related_references(work: Work) -> frozenset[str]:
    """The cases this request was kept apart from although it replies to them."""
    return frozenset(t[len(RELATED_TAG) :] for t in work.tags if t.startswith(RELATED_TAG))


def _other_matter(evidence: ReplyEvidence, *, typed_reference: bool) -> str | None:
    """Why the reply is another matter than its case, or None when it stays."""
    if evidence.names_case:
        return None
    if evidence.unrelated:
        return f"says \u201c{evidence.unrelated}\u201d and names nothing of the case"
    conflicts = "; ".join(evidence.comparison.conflicts)
    cue = evidence.new_matter
    if typed_reference:
        if cue and conflicts:
            return f"says \u201c{cue}\u201d and names {conflicts}"
        return None
    if conflicts and (cue or not evidence.correction):
        said = f"says \u201c{cue}\u201d and " if cue else ""
        return f"{said}names {conflicts}"
    if cue and evidence.subject_changed:
        return f"says \u201c{cue}\u201d under a new subject and names nothing of the case"
    return None
