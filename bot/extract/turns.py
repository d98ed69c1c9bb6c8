"""A mail that takes its change back, or corrects it, further down ("scrap that", "oubliez ce
mail", "sorry, typo, it's …"): only what follows the last such turn counts.

A retraction cancels what came before it: the values announced above it are not asked for
any more ("Please update my address to X. Actually, scrap that, the sale has fallen through").
A correction replaces them: the value after it is the one meant, though the mail gave two, so
it is only proposed to an agent (bot/extract/admin_update.py).
"""

from __future__ import annotations

import re

_WHAT_I_SAID = (
    r"(?:the\s+above|this|that|it|everything|what\s+i\s+(?:said|wrote)|"
    r"(?:my|the)\s+(?:last|previous|earlier|first)\s+(?:e-?mail|message|request|mail)|"
    r"(?:this|that|my)\s+(?:e-?mail|message|request))"
)
_CE_QUE_J_AI_DIT = (
    r"(?:(?:ce|cet|cette|mon|ma|le|la)\s+(?:mail|message|courriel|demande|e-?mail|changement)"
    r"|[çc]a|cela|tout)"
)
RETRACTION = re.compile(
    rf"\b(?:scrap\s+that|(?:disregard|ignore|forget)\s+{_WHAT_I_SAID}\b|"
    r"please\s+(?:disregard|ignore)\s*[.!,;]|never\s*mind|"
    r"cancel\s+(?:that|this|my\s+(?:request|change)|the\s+(?:request|change))|"
    rf"(?:oubliez|ignorez|annulez)\s+{_CE_QUE_J_AI_DIT}\b|"
    r"ne\s+(?:tenez|prenez)\s+pas\s+(?:compte|en\s+compte)\s+(?:de\s+)?(?:ce|mon|ma|cet)|"
    r"laissez\s+tomber|(?:ma|cette)\s+demande\s+est\s+annul[ée]e|c['’]est\s+annul[ée])",
    re.I,
)
CORRECTION = re.compile(
    r"\b(?:sorry,?\s+(?:typo|my\s+(?:mistake|bad)|wrong\s+(?:number|address|one))|typo\b|"
    r"i\s+made\s+a\s+(?:mistake|typo)|my\s+mistake|i\s+meant\b|correction\s*:|"
    r"je\s+me\s+suis\s+tromp[ée]e?s?|erreur\s+de\s+(?:frappe|ma\s+part|saisie)|"
    r"faute\s+de\s+frappe|pardon,?\s+(?:erreur|c['’]est)|oops|oups|mistyp\w+|misspel\w+|"
    r"there\s+(?:was|is)\s+a\s+typo|je\s+rectifie|rectification\s*:|petite\s+erreur|"
    r"erreur\s+dans\s+(?:mon|ma|l['’])\s*(?:pr[ée]c[ée]dent\w*|adresse|e-?mail|mail|num[ée]ro)|"
    r"(?:gave|sent)\s+(?:you\s+)?the\s+wrong\s+(?:one|address|e-?mail|number))",
    re.I,
)


def last_turn(body: str) -> tuple[int, str | None]:
    """Where the text after the mail's last retraction or correction starts, and which it was
    ("retracted", "corrected"; None and 0 when the mail has neither)."""
    turns = [(m.end(), "retracted") for m in RETRACTION.finditer(body)]
    turns += [(m.end(), "corrected") for m in CORRECTION.finditer(body)]
    if not turns:
        return 0, None
    return max(turns)


# Where quoted history starts: a quoted line, an attribution, an original or forwarded header.
_HISTORY = re.compile(
    r"^(?:>|-{2,}\s*(?:original\s+message|message\s+d['’]origine|forwarded\s+message|"
    r"message\s+transf[ée]r[ée])|.{0,200}(?:wrote|a\s+[ée]crit)\s*:\s*$)",
    re.I | re.M,
)


def retracted_below(raw: str) -> bool:
    """Whether the mail's own part, signature included, ends on a retraction: one written
    after a sign-off ("Merci.\nAh non, oubliez ce mail") that the signature cut dropped."""
    history = _HISTORY.search(raw)
    own = raw[: history.start()] if history else raw
    return RETRACTION.search(own) is not None
