"""A new request and one contact's open cases, compared: the evidence the dedup stage weighs.

Per open case (all its recent requests together): what both name (an identifier, a site, a
customer number), where they disagree (numbers or sites of one kind: a conflict; amounts or
months of bills: weak), how alike their topics are, and how long the case has been quiet.
Per open case too: the words it shares with the request that are its own, not its area's
(`bot/distinctive.py`: weighed by how rare they are in the bundled request corpus, signatures
left out). Per request: whether it chases, says nothing but "any news?", or says it raises
another matter. Per reply joined by its headers: the same comparison with the case it replies to,
whether it corrects itself, and whether its subject changed (`read_reply`). Pure reading
and arithmetic; `bot/stages/dedup.py` and `bot/stages/rethread.py` decide and explain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.distinctive import content_words, mass, shared
from bot.specifics import (
    Comparison,
    Specifics,
    compare,
    says_correction,
    says_new_matter,
    says_unrelated,
    specifics_of,
    union,
)
from bot.topic import (
    IDENTIFIER_BONUS,
    Topic,
    is_status_chase,
    name_words,
    points_back,
    says_chase,
    subject_key,
    topic_of,
    topic_similarity,
)

# Both name amounts (or months of bills) and none agree: weak evidence against, each (a
# chase may quote a total, or the next bill that repeats the error).
WEAK_PENALTY = 0.10


@dataclass(frozen=True, slots=True)
class NewRequest:
    """The request being grouped, read once."""

    topic: Topic
    words: frozenset[str]  # its topic words without the sender's name
    specifics: Specifics
    new_matter: str | None  # the words saying it raises another matter
    chase: bool  # it says it chases
    bare_chase: bool  # it only asks for news
    sender: frozenset[str]  # the sender's name words, never a topic
    content: frozenset[str] = frozenset()  # its topic words without signature nor name
    unrelated: str | None = None  # the words saying outright it is about something else
    points_back: bool = False  # it chases the sender's own recent mail ("my email from today")


@dataclass(slots=True)
class Candidate:
    """One open case of the contact, with its recent requests and how the new one compares."""

    case_id: int
    reference: str
    category: str | None
    rows: list[Any] = field(default_factory=list)
    words: frozenset[str] = frozenset()  # its requests' topic words, the sender's name left out
    comparison: Comparison = field(default_factory=lambda: Comparison((), (), ()))
    last_at: datetime | None = None
    content: frozenset[str] = frozenset()  # its requests' topic words, no signature nor name
    distinct: tuple[str, ...] = ()  # content words both use, the most specific first
    distinct_mass: float = 0.0  # their summed weight (`bot.distinctive.mass`)
    distinct_share: float = 0.0  # that weight over the request's own words' weight

    @property
    def named(self) -> bool:
        """Something specific says it is this case: an identifier, a site or an amount both
        name (a customer number says who writes, not about what)."""
        return bool(self.comparison.shared or self.comparison.alike)

    @property
    def names_number(self) -> bool:
        """Both name an identifier (any kind but a customer number), not only a site."""
        return any(not s.startswith("site ") for s in self.comparison.shared)

    @property
    def names_matter(self) -> bool:
        """Both name a number of one matter (a bill, an order, a ticket), not only what all of
        one person's matters may carry (a contract, a meter, a site, a customer number)."""
        return bool(self.comparison.matter)

    @property
    def against(self) -> str | None:
        """Why the new request cannot belong to this case, or None."""
        if self.comparison.conflicts:
            return "names " + "; ".join(self.comparison.conflicts)
        return None

    def evidence(self) -> str:
        """What both name, or where they weakly disagree, for a reason's sentence."""
        named = (*self.comparison.shared, *self.comparison.party)
        if named:
            return f"; both name {', '.join(named[:3])}"
        if self.comparison.differ:
            return f"; though {'; '.join(self.comparison.differ)}"
        return ""


@dataclass(frozen=True, slots=True)
class ReplyEvidence:
    """A reply (its own text, the quote removed) beside the case its headers join it to."""

    comparison: Comparison  # what the reply names against what the case's requests name
    new_matter: str | None  # the words saying it raises another matter
    correction: str | None  # the words saying it corrects itself or answers a question
    subject_changed: bool  # its subject (prefixes and reference left out) is none of the case's
    unrelated: str | None = None  # the words saying outright it is not about the case

    @property
    def names_case(self) -> bool:
        """The reply names an identifier or a site of the case."""
        return bool(self.comparison.shared)


def read_reply(
    new: NewRequest, subject: str, body: str, case_requests: Sequence[Mapping[str, Any]]
) -> ReplyEvidence:
    """Compare a reply with the requests of the case it replies to. A subject the reply kept
    from its case (prefixes aside) is the case's, not the reply's own words: left out."""
    texts = [(r.get("subject") or "", r.get("body_clean") or "") for r in case_requests]
    specifics = union([specifics_of(s, b) for s, b in texts])
    words = frozenset().union(*(topic_of(s, b).words for s, b in texts)) - new.sender
    mine = subject_key(subject)
    changed = bool(mine) and mine not in {subject_key(s) for s, _ in texts}
    own = subject if changed else ""
    own_words = topic_of(own, body).words - new.sender
    return ReplyEvidence(
        comparison=compare(specifics_of(own, body), own_words, specifics, words, new.sender),
        new_matter=new.new_matter,
        correction=says_correction(own, body),
        subject_changed=changed,
        unrelated=new.unrelated,
    )


def read_request(
    subject: str, body: str, sender_name: str | None, contact_name: str | None
) -> NewRequest:
    """Everything grouping reads in a request, once."""
    sender = name_words(sender_name, contact_name)
    topic = topic_of(subject, body)
    return NewRequest(
        topic=topic,
        words=topic.words - sender,
        specifics=specifics_of(subject, body),
        new_matter=says_new_matter(subject, body),
        chase=says_chase(subject, body),
        bare_chase=is_status_chase(subject, body),
        sender=sender,
        content=content_words(subject, body, sender),
        unrelated=says_unrelated(subject, body),
        points_back=points_back(subject, body),
    )


def candidates(rows: Sequence[Any], new: NewRequest) -> list[Candidate]:
    """The contact's open cases (from their recent requests, newest first), each compared
    with the new request."""
    by_case: dict[int, Candidate] = {}
    for row in rows:
        cand = by_case.setdefault(row.case_id, Candidate(row.case_id, row.reference, row.category))
        cand.rows.append(row)
        if cand.last_at is None or row.received_at > cand.last_at:
            cand.last_at = row.received_at
    for cand in by_case.values():
        texts = [(r.subject, r.body_clean) for r in cand.rows]
        specifics = union([specifics_of(s, b) for s, b in texts])
        cand.words = frozenset().union(*(topic_of(s, b).words for s, b in texts)) - new.sender
        cand.comparison = compare(new.specifics, new.words, specifics, cand.words, new.sender)
        cand.content = frozenset().union(*(content_words(s, b, new.sender) for s, b in texts))
        both = shared(new.content, cand.content)
        cand.distinct = tuple(sorted(both, key=lambda w: (-mass([w]), w)))
        cand.distinct_mass = mass(both)
        own = mass(new.content)
        cand.distinct_share = cand.distinct_mass / own if own else 0.0
    return list(by_case.values())


def score(new: NewRequest, cand: Candidate) -> float:
    """Topic likeness to the case's closest request, with the bonus and penalty of what both
    name. A customer number both name earns the bonus too (as before), but never names a case
    for a chase nor outweighs a conflict or a 'new matter' cue: all of one person's mails may
    carry it."""
    mine = _without(new.topic, new.sender)
    best = max(
        topic_similarity(mine, _without(topic_of(r.subject, r.body_clean), new.sender))
        for r in cand.rows
    )
    if cand.comparison.shared or cand.comparison.party:
        best += IDENTIFIER_BONUS
    else:
        best -= WEAK_PENALTY * len(cand.comparison.differ)
    return max(0.0, min(1.0, best))


def quiet_days(now: datetime, cand: Candidate) -> float:
    """Days since the case's last request."""
    if cand.last_at is None:
        return 0.0
    return (now - cand.last_at).total_seconds() / 86400


def _without(topic: Topic, ignore: frozenset[str]) -> Topic:
    if not ignore:
        return topic
    kept = [w for w in topic.text.split() if w not in ignore]
    return Topic(frozenset(kept), topic.identifiers, " ".join(kept))
