"""How specific a topic word is to one matter rather than to its category, for grouping.

Two problems of one person in one area (two billing questions) share the area's common words
("facture", "bill", "payment", "compteur"); a chase of the same matter shares what is its
own ("contribution tarifaire", "radiators cold", "standing charge"). A word weighs its inverse
document frequency over the FR/EN request corpus shipped with crmbot (`rules/model/corpus`):
the table `bot/topic_df.json` holds each topic word's document count, made by
`build_table()` and checked against the corpus by a test. A word the corpus never saw weighs
the most. Signature lines (a name, a title, a company under the text) say who writes, not
what about: `content_words` leaves them out before weighing.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.textfold import strip_accents
from bot.topic import topic_of

TABLE = Path(__file__).with_name("topic_df.json")
# A trailing line of at most this many words without a sentence's punctuation: a signature.
SIGNATURE_MAX_WORDS = 6
# A sign-off this near the end: it and what follows (name, title, company, address) go.
SIGN_OFF_LAST_LINES = 10
_SENTENCE_END = re.compile(r"[.!?:;…]\s*$")
_WORDS = re.compile(r"\w+")
_SIGN_OFF = re.compile(
    r"^\W*(?:(?:bien |tres )?cordialement|bien a (?:vous|toi)|(?:sinceres |meilleures )?salutations"
    r"|merci(?: beaucoup| d['’ ]avance| par avance| a vous)?|a bientot|bonne journee"
    r"|(?:many |thank )?thanks(?: again| in advance)?|thank you|(?:best |kind |warm )?regards"
    r"|best wishes|best|cheers|(?:yours )?(?:sincerely|faithfully)|-- ?)"
    r"\s*[.!]?(?:\s*,\s*[^\s,.!?]+(?:\s+[^\s,.!?]+){0,2})?\W*$"
)


@lru_cache(maxsize=1)
def _table() -> tuple[int, dict[str, int]]:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    return int(data["documents"]), {str(k): int(v) for k, v in data["df"].items()}


def weight(word: str) -> float:
    """The word's inverse document frequency over the bundled corpus (rarer: heavier)."""
    documents, df = _table()
    return math.log((documents + 1) / (df.get(word, 0) + 1))


def mass(words: Iterable[str]) -> float:
    """The summed weight of these words."""
    return sum(weight(w) for w in words)


def shared(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    """The words of `a` that `b` uses too, a word's variant by one trailing letter included
    ("fuite" and "fuit", "payer" and "paye"); the form of `a` is kept."""
    both = set(a & b)
    for word in a - b:
        if len(word) >= 4 and (word[:-1] in b or any(o[:-1] == word for o in b if len(o) >= 5)):
            both.add(word)
    return frozenset(both)


def strip_signature(body: str) -> str:
    """The body without its signature: a sign-off near the end ("Cordialement", "Kind
    regards, Anna") and what follows it, then trailing short lines (a name, a title, a
    company) that end no sentence. The first line always stays."""
    lines = [line for line in (body or "").splitlines() if line.strip()]
    for index in range(len(lines) - 1, max(0, len(lines) - SIGN_OFF_LAST_LINES), -1):
        if _SIGN_OFF.match(strip_accents(lines[index]).lower()):
            del lines[index:]
            break
    while len(lines) > 1:
        last = lines[-1].strip()
        if _SENTENCE_END.search(last) or len(_WORDS.findall(last)) > SIGNATURE_MAX_WORDS:
            break
        lines.pop()
    return "\n".join(lines)


def content_words(subject: str, body: str, ignore: frozenset[str] = frozenset()) -> frozenset[str]:
    """A request's topic words without its signature lines nor the words in `ignore`."""
    return topic_of(subject, strip_signature(body)).words - ignore


def build_table(examples: Iterable[Any]) -> dict[str, Any]:
    """The document count of every topic word over examples with a subject and a body."""
    df: Counter[str] = Counter()
    documents = 0
    for example in examples:
        documents += 1
        df.update(topic_of(example.subject, example.body).words)
    return {"documents": documents, "df": dict(sorted(df.items()))}
