"""Legal cues for the learned classifier: a legal word, and whether the sender negates it.

"Je ne vais pas aller en justice" and "I'm not going to the ombudsman" name the same words
as a threat; what tells them apart is a negation just before the word, in the same clause.
Each legal word of a message adds one `w ~legal` or one `w ~neg_legal` feature, so the
model learns what a negated legal word weighs from every such word at once, not from each
phrasing. A conditional threat ("if you don't refund me, I'll sue"; "si vous ne payez pas
je saisis le tribunal") is not a negation: a clause boundary or an "if"/"si" before the
negation resets it, and so does a new subject ("no answer so I am going to court"); "je
n'hésiterai pas à saisir", "I will not hesitate to sue" are threats, not negations.

A sum of money ("187 €", "£486.20", "1'240 CHF", "89.99 dollars") adds `w ~amount`, and
`w ~amount_legal` when the message also holds an un-negated legal word: the folded text the
n-grams read has lost the currency signs, and a disputed charge with a legal threat is a
billing matter more often than the legal words alone suggest (out-of-fold on the training
corpus, 1,365 messages: category 0.879 without these two features, 0.883 with them).
"""

from __future__ import annotations

import re
from collections import Counter

from bot.textfold import strip_accents
from rules.text import normalise

LEGAL = "w ~legal"
NEG_LEGAL = "w ~neg_legal"
AMOUNT = "w ~amount"
AMOUNT_LEGAL = "w ~amount_legal"
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


# A number (started where no digit or separator precedes it, so each run of digits is read
# once) then a currency; or a currency sign then a digit.
_AMOUNT = re.compile(
    r"[€$£]\s?\d"
    r"|(?<![\d.,'’])\d[\d.,'’]*\s?(?:€|\$|£|(?:eur|euros?|chf|usd|gbp|dollars?|pounds?)\b)",
    re.IGNORECASE,
)


def amount_cues(subject: str | None, body: str | None, max_chars: int, legal: bool) -> Counter[str]:
    """`~amount` if the message names a sum of money, and `~amount_legal` if `legal` too."""
    text = f"{(subject or '')[:300]}\n{(body or '')[:max_chars]}"
    if not _AMOUNT.search(text):
        return Counter()
    return Counter({AMOUNT: 1, AMOUNT_LEGAL: 1} if legal else {AMOUNT: 1})
