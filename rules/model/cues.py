"""Legal cues for the learned classifier: a legal word, and whether the sender negates it.

"Je ne vais pas aller en justice" and "I'm not going to the ombudsman" name the same words
as a threat; what tells them apart is a negation just before the word, in the same clause.
Each legal word of a message adds one `w ~legal` or one `w ~neg_legal` feature, so the
model learns what a negated legal word weighs from every such word at once, not from each
phrasing. A conditional threat ("if you don't refund me, I'll sue"; "si vous ne payez pas
je saisis le tribunal") is not a negation: a clause boundary or an "if"/"si" before the
negation resets it, and so does a new subject ("no answer so I am going to court"); "je
n'hésiterai pas à saisir", "I will not hesitate to sue" are threats, not negations.
"""

from __future__ import annotations

import re
from collections import Counter

from bot.textfold import strip_accents
from rules.text import normalise

LEGAL = "w ~legal"
NEG_LEGAL = "w ~neg_legal"
WINDOW = 6  # words before a legal word where a negation counts

# Folded words (FR and EN) that name a legal step, an authority or a right: short ones
# whole (with their plural), longer ones as prefixes ("avocat" for "avocats", "avocate").
_LEGAL_WORDS = frozenset(
    ["sue", "sues", "sued", "suing", "court", "courts", "juge", "juges", "proces", "counsel"]
)
_LEGAL_PREFIXES = (
    "avocat",
    "tribunal",
    "tribunaux",
    "justice",
    "judiciaire",
    "juriste",
    "plainte",
    "mediateur",
    "mediation",
    "conciliat",
    "huissier",
    "contentieux",
    "litige",
    "assignation",
    "injonction",
    "demeure",
    "cnil",
    "rgpd",
    "dgccrf",
    "signalconso",
    "lawyer",
    "attorney",
    "solicitor",
    "lawsuit",
    "litigation",
    "proceedings",
    "ombudsman",
    "gdpr",
    "regulator",
)
_NEGATORS = frozenset(
    {"pas", "ni", "jamais", "aucun", "aucune", "aucunement", "plutot"}
    | {"not", "never", "nor", "no", "won", "wont", "dont", "don", "didn"}
)
_CONDITIONS = frozenset(["si", "sinon", "if", "unless", "otherwise", "faute", "defaut"])
# A new subject starts a new statement: "pas eu de réponse, je saisis le médiateur".
_SUBJECTS = frozenset(["je", "j", "nous", "on", "i", "we", "they", "ils", "elles"])
_CLAUSE = re.compile(r"[.,;:!?\n()]+")


# Most mails name no legal word: one scan of the folded text skips the clause-by-clause pass.
_ANY_LEGAL = re.compile("|".join(sorted(_LEGAL_WORDS | set(_LEGAL_PREFIXES), key=len)))


def _is_legal(word: str) -> bool:
    return word in _LEGAL_WORDS or word.startswith(_LEGAL_PREFIXES)


def legal_cues(subject: str | None, body: str | None, max_chars: int) -> Counter[str]:
    """One `~legal` or `~neg_legal` count per legal word of the message."""
    out: Counter[str] = Counter()
    text = f"{(subject or '')[:300]}\n{(body or '')[:max_chars]}"
    if not _ANY_LEGAL.search(strip_accents(text).lower()):
        return out
    for clause in _CLAUSE.split(text):
        words = normalise(clause).split()
        negated_at, conditional = -WINDOW - 1, False
        for i, word in enumerate(words):
            if word in _CONDITIONS:
                negated_at, conditional = -WINDOW - 1, True
            elif word in _NEGATORS:
                near = words[max(i - 1, 0) : i + 3]
                threat = any(w.startswith(("hesit", "manqu")) for w in near)
                if not conditional and not threat:
                    negated_at = i
            elif word in _SUBJECTS:
                negated_at = -WINDOW - 1
            elif _is_legal(word):
                out[NEG_LEGAL if i - negated_at <= WINDOW else LEGAL] += 1
    return out
