"""Case- and accent-insensitive word and phrase matching on word boundaries (FR and EN).

A term is a word or a phrase. Matching is done on normalised tokens: lower case, accents
removed, apostrophes and punctuation turned into spaces ("l'avocat" gives "l avocat").
A trailing `*` on a word makes it a prefix ("factur*" matches "facture", "facturé",
"facturation"). A plain word also matches its plural ("facture" matches "factures",
"bureau" matches "bureaux"). Texts are tokenised once per decision (`TextIndex`) and every
compiled `TermMatcher` then works on sets, so many rules cost little.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from bot.budget import checkpoint
from bot.textfold import strip_accents

_NON_WORD = re.compile(r"[^0-9a-z]+")
MIN_PREFIX = 3
_PLURAL_SUFFIXES = ("s", "x", "es")


def normalise(text: str) -> str:
    """Lower-case, strip accents and turn every non-alphanumeric run into one space."""
    return _NON_WORD.sub(" ", strip_accents(text)).strip()


def tokenise(text: str) -> list[str]:
    """Split a text into normalised tokens."""
    norm = normalise(text)
    return norm.split() if norm else []


@dataclass(slots=True)
class TextIndex:
    """A text tokenised once: its token list, token set and (lazily) short token prefixes.

    Only prefixes up to the longest prefix term asked for are indexed: indexing every
    prefix of every token costs the square of a token's length (a 60 KB "word" in a
    hostile mail would make 1.8 GB of strings).
    """

    tokens: list[str]
    token_set: frozenset[str]
    _prefixes: set[str] = field(default_factory=set)
    _prefix_len: int = MIN_PREFIX - 1

    @classmethod
    def of(cls, text: str) -> TextIndex:
        """Index a raw text."""
        checkpoint()
        tokens = tokenise(text)
        return cls(tokens, frozenset(tokens))

    def prefixes_upto(self, length: int) -> set[str]:
        """Every prefix of MIN_PREFIX..`length` characters of every token."""
        if length > self._prefix_len:
            checkpoint()
            longer = [tok for tok in self.token_set if len(tok) > self._prefix_len]
            for size in range(self._prefix_len + 1, length + 1):
                self._prefixes.update(tok[:size] for tok in longer if len(tok) >= size)
            self._prefix_len = length
        return self._prefixes

    def has_prefix(self, stem: str) -> bool:
        """Whether some token starts with `stem` (MIN_PREFIX characters or more)."""
        return stem in self.prefixes_upto(len(stem))


@dataclass(frozen=True, slots=True)
class _Part:
    """One word of a term: exact (with its plural forms) or a prefix."""

    text: str
    prefix: bool
    forms: frozenset[str]

    def matches(self, token: str) -> bool:
        """Whether one token matches this part."""
        return token.startswith(self.text) if self.prefix else token in self.forms


def _parse_part(word: str) -> _Part:
    if word.endswith("*"):
        stem = word.rstrip("*")
        return _Part(stem, True, frozenset())
    forms = {word}
    if len(word) > 2 and not word.isdigit():
        forms.update(word + suffix for suffix in _PLURAL_SUFFIXES)
    return _Part(word, False, frozenset(forms))


class TermError(ValueError):
    """A term cannot be compiled (empty after normalisation, or a prefix too short)."""


def parse_term(term: str) -> tuple[_Part, ...]:
    """Compile one term into its normalised parts; raise TermError when it is unusable."""
    raw_words = term.split()
    parts: list[_Part] = []
    for raw in raw_words:
        star = raw.endswith("*")
        words = normalise(raw).split()
        if not words:
            continue
        for i, word in enumerate(words):
            is_last = i == len(words) - 1
            parts.append(_parse_part(word + "*" if star and is_last else word))
    if not parts:
        raise TermError(f"term {term!r} has no letters or digits")
    for part in parts:
        if part.prefix and len(part.text) < MIN_PREFIX:
            raise TermError(
                f"term {term!r}: a prefix needs at least {MIN_PREFIX} characters before '*'"
            )
    return tuple(parts)


@dataclass(slots=True)
class TermMatcher:
    """A precompiled list of terms; tells which terms occur in an indexed text."""

    terms: list[str]
    _single_exact: dict[str, str] = field(default_factory=dict)
    _single_prefix: dict[str, str] = field(default_factory=dict)
    _phrases: list[tuple[str, tuple[_Part, ...]]] = field(default_factory=list)
    _exact_keys: frozenset[str] = frozenset()
    _prefix_keys: frozenset[str] = frozenset()
    _gate_exact: frozenset[str] = frozenset()
    _gate_prefix: frozenset[str] = frozenset()
    _max_prefix: int = 0
    _order: dict[str, int] = field(default_factory=dict)
    _phrase_gates: list[tuple[str, tuple[_Part, ...], frozenset[str] | None]] = field(
        default_factory=list
    )

    @classmethod
    def compile(cls, terms: Iterable[str]) -> TermMatcher:
        """Compile terms; raise TermError on an unusable one."""
        terms = list(terms)
        matcher = cls(terms)
        matcher._order = {term: i for i, term in reversed(list(enumerate(terms)))}
        for term in terms:
            parts = parse_term(term)
            if len(parts) == 1:
                part = parts[0]
                if part.prefix:
                    matcher._single_prefix.setdefault(part.text, term)
                else:
                    for form in part.forms:
                        matcher._single_exact.setdefault(form, term)
            else:
                matcher._phrases.append((term, parts))
        matcher._exact_keys = frozenset(matcher._single_exact)
        matcher._prefix_keys = frozenset(matcher._single_prefix)
        phrase_parts = [part for _, parts in matcher._phrases for part in parts]
        matcher._gate_exact = matcher._exact_keys.union(
            *(part.forms for part in phrase_parts if not part.prefix)
        )
        matcher._gate_prefix = matcher._prefix_keys.union(
            part.text for part in phrase_parts if part.prefix
        )
        matcher._max_prefix = max(map(len, matcher._gate_prefix), default=0)
        for term, parts in matcher._phrases:
            exact = [part.forms for part in parts if not part.prefix]
            if exact:
                matcher._phrase_gates.append((term, parts, exact[0]))
            else:  # prefixes only: no gate, checked in full
                matcher._phrase_gates.append((term, parts, None))
        return matcher

    def found(self, index: TextIndex) -> list[str]:
        """The terms (as written) that occur in the text, without duplicates."""
        checkpoint()
        if self._gate_exact.isdisjoint(index.token_set) and (
            not self._gate_prefix
            or self._gate_prefix.isdisjoint(index.prefixes_upto(self._max_prefix))
        ):
            return []
        hits: dict[str, None] = {}
        if self._exact_keys:
            exact = self._single_exact
            for tok in self._exact_keys & index.token_set:
                hits[exact[tok]] = None
        if self._prefix_keys:
            prefix = self._single_prefix
            for stem in self._prefix_keys & index.prefixes_upto(self._max_prefix):
                hits[prefix[stem]] = None
        tokens = index.token_set
        for term, parts, gate in self._phrase_gates:
            # The gate (one word of the phrase) rules most phrases out without a call.
            if (
                term not in hits
                and (gate is None or not tokens.isdisjoint(gate))
                and _phrase_in(parts, index)
            ):
                hits[term] = None
        # In the order the terms are written: set order changes with the hash seed per process,
        # and the reasons (and which of equal terms `max_hits` keeps) must not.
        return sorted(hits, key=self._order.__getitem__) if len(hits) > 1 else list(hits)

    def any_in(self, index: TextIndex) -> str | None:
        """The first term found, or None."""
        found = self.found(index)
        return found[0] if found else None


def _phrase_in(parts: tuple[_Part, ...], index: TextIndex) -> bool:
    for part in parts:
        if part.prefix:
            if not index.has_prefix(part.text):
                return False
        elif index.token_set.isdisjoint(part.forms):
            return False
    tokens = index.tokens
    n = len(parts)
    first = parts[0]
    for start in range(len(tokens) - n + 1):
        if first.matches(tokens[start]) and all(
            parts[k].matches(tokens[start + k]) for k in range(1, n)
        ):
            return True
    return False


@lru_cache(maxsize=8192)
def fold(value: str) -> str:
    """Case- and accent-insensitive form of a short value (for equality tests)."""
    return strip_accents(value).strip()
