"""The contact matcher: normalise a record, fetch candidates by blocking keys, score, decide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.identity.index import ContactIndex
from bot.identity.keys import NAME_ONLY_KINDS, blocking_keys, key_kind
from bot.identity.normalise import ContactRecord, Profile, merge_profiles, normalise_record
from bot.identity.scoring import PairScore, Scorer

Relation = Literal["same", "possible", "new"]


class IdentitySettings(BaseModel):
    """Settings of contact identity: normalisation switches, thresholds, blocking limits."""

    model_config = ConfigDict(extra="forbid")

    fold_plus_addressing: bool = True
    fold_gmail_dots: bool = True
    default_region: str = "FR"
    same_threshold: float = Field(default=0.97, ge=0.0, le=1.0)
    possible_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    # log2 weight that personal identifiers (email, phone, ids, birth date, street address) must
    # add for "same": a name and a town alone are shared by relatives and namesakes.
    min_personal_evidence: float = 3.0
    key_cap: int = Field(default=50, ge=1)  # a key held by more contacts is skipped
    name_key_cap: int = Field(default=20, ge=1)  # the same for keys made of names only
    max_candidates: int = Field(default=6, ge=1)
    max_reported: int = Field(default=5, ge=1)

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        """The default region must be a region code phonenumbers knows (FR, GB, US …)."""
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}; expected a code such as FR or GB")
        return region

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> IdentitySettings:
        """possible_threshold must not be above same_threshold."""
        if self.possible_threshold > self.same_threshold:
            raise ValueError("possible_threshold must be <= same_threshold")
        return self


@dataclass
class MatchResult:
    """The matcher's decision for one record, with the best candidates and the reasons."""

    contact_id: int | None
    relation: Relation
    score: float
    reasons: list[str]
    candidates: list[tuple[int, float, list[str]]] = field(default_factory=list)


class ContactMatcher:
    """Finds the contact a record belongs to, using a `ContactIndex` and calibrated weights."""

    def __init__(
        self,
        index: ContactIndex,
        settings: IdentitySettings | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        """Match against `index` with `settings` (defaults tuned on Febrl)."""
        self.index = index
        self.settings = settings or IdentitySettings()
        self.scorer = scorer or Scorer()

    def profile(self, record: ContactRecord) -> Profile:
        """The normalised profile of a record under these settings."""
        s = self.settings
        return normalise_record(
            record,
            fold_plus_addressing=s.fold_plus_addressing,
            fold_gmail_dots=s.fold_gmail_dots,
            default_region=s.default_region,
        )

    def match(self, record: ContactRecord) -> MatchResult:
        """Decide whether a record is a known contact ("same"), maybe one ("possible"), or new."""
        return self.match_profile(self.profile(record))

    def blocking_caps(self, profile: Profile) -> list[tuple[str, int]]:
        """The profile's blocking keys, each with the number of contacts past which it is
        too common to block on."""
        s = self.settings
        return [
            (key, s.name_key_cap if key_kind(key) in NAME_ONLY_KINDS else s.key_cap)
            for key in dict.fromkeys(blocking_keys(profile))
        ]

    def match_profile(self, profile: Profile) -> MatchResult:
        """`match` for an already normalised profile."""
        s = self.settings
        keys = self.blocking_caps(profile)
        found = self.index.candidates(keys, limit=s.max_candidates)
        best: dict[int, PairScore] = {}
        for cid, other, _shared in found:
            pair = self.scorer.score(profile, other)
            if cid not in best or pair.score > best[cid].score:
                best[cid] = pair
        if not best:
            return MatchResult(None, "new", 0.0, ["no candidate"], [])
        ranked = sorted(best.items(), key=lambda kv: (-kv[1].score, kv[0]))
        top_id, top = ranked[0]
        relation, reasons = self._decide(top)
        reported = [(cid, p.score, p.reasons) for cid, p in ranked[: s.max_reported]]
        if relation == "new":
            return MatchResult(None, "new", top.score, reasons, reported)
        return MatchResult(top_id, relation, top.score, reasons, reported)

    def _decide(self, pair: PairScore) -> tuple[Relation, list[str]]:
        """Relation implied by one pair score, with its reasons."""
        s = self.settings
        reasons = list(pair.reasons)
        if pair.external_id_equal:
            return "same", reasons
        if pair.score >= s.same_threshold:
            if pair.email_equal and pair.name_conflict:
                reasons.append("same email but a different name: left for review")
                return "possible", reasons
            if pair.external_id_conflict:
                reasons.append("different ids in the same CRM: left for review")
                return "possible", reasons
            if pair.personal_weight < s.min_personal_evidence:
                reasons.append("only name and place agree: left for review")
                return "possible", reasons
            if pair.fields.get("given", (0, 1.0))[0] == 4 and not pair.person_proof:
                reasons.append("given names differ: left for review")
                return "possible", reasons
            if pair.fields.get("email", (0, 1.0))[0] == 2 and not _second_signal(pair):
                reasons.append("same name and mailbox at another domain, nothing else: review")
                return "possible", reasons
            return "same", reasons
        if pair.score >= s.possible_threshold:
            return "possible", reasons
        return "new", reasons

    def create(self, record: ContactRecord) -> int:
        """Store and index a new contact for this record; returns its id."""
        profile = self.profile(record)
        return self.index.create(record, profile, blocking_keys(profile))

    def add(self, contact_id: int, record: ContactRecord) -> None:
        """Index a new or updated contact under its blocking keys.

        For a contact already indexed, what the record leaves out is kept from before (a mail
        with only an address does not erase the name and phone a CRM gave); what it says
        replaces the old value.
        """
        profile = self.profile(record)
        old = self.index.get(contact_id)
        if old is not None:
            profile = merge_profiles(old, profile)
        self.index.add(contact_id, record, profile, blocking_keys(profile))


def _second_signal(pair: PairScore) -> bool:
    """Whether something besides the name and the mailbox's local part agrees: a phone, a
    CRM id, a personal identifier or address, or the same company."""
    fields = pair.fields
    return (
        pair.external_id_equal
        or fields.get("phone", (9, 0.0))[0] == 0
        or fields.get("domain", (9, 0.0))[0] == 0
        or fields.get("company", (9, 0.0))[0] <= 1
        or fields.get("national_id", (9, 0.0))[0] <= 1
        or fields.get("birth_date", (9, 0.0))[0] <= 1
        or fields.get("address", (9, 0.0))[0] <= 1
    )
