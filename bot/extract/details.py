"""A block of labelled new details: "Mes nouvelles coordonnées :" then "Téléphone : …" lines.

Mail writers often announce several changes as a small form, blank lines included:

    Je vous confirme mes nouvelles coordonnées :

    Adresse : 27 rue du Faubourg Saint-Antoine, 75011 Paris
    Téléphone : 06 72 83 94 05
    E-mail : l.bonnet@gmail.com

Each "Label : value" line of the block is one field's new value. The block starts at the cue
(the sentence leading to it must not give the details as someone else's, temporary or old)
and ends at the first line that is neither blank-before-content nor a labelled line (an
address may run on over the next lines up to its postcode).
"""

from __future__ import annotations

import re

from bot.extract.context import OLD_WORD, sentence_start, someone_elses

_CUE = re.compile(
    r"nouvelles\s+coordonn[ée]es|coordonn[ée]es\s+(?:mises\s+[àa]\s+jour|actualis[ée]es)"
    r"|new\s+(?:contact\s+)?details|updated\s+(?:contact\s+)?details"
    # a request that ends on a colon, the changes listed below it: "Pourriez-vous mettre à
    # jour :", "Please update my contact info:", "the following amendments to our account:"
    r"|(?:(?:mettre|mise)\s+[àa]\s+jour|modifier|update|amend|change)\b[^\n.!?:]{0,40}:[ \t]*$"
    r"|(?:following|these|a\s+few|some)\s+(?:changes|amendments|updates)\b[^\n.!?:]{0,40}:[ \t]*$",
    re.I | re.M,
)
_LABELS = {
    "postal_address": r"adresse(?:\s+postale)?|(?:postal\s+|correspondence\s+|home\s+)?address",
    "phone": r"t[ée]l[ée]?(?:phone)?\.?|phone|mobile|portable|gsm|natel|fixe|landline|cellulaire"
    r"|cell(?:phone)?|(?:contact\s+)?(?:telephone|phone)(?:\s+number)?",
    "email": r"e-?mail|mail|courriel|adresse\s+(?:e-?mail|mail|[ée]lectronique)",
    "billing_contact": r"billing\s+contact|contact\s+(?:de\s+)?facturation",
}
_LINE = re.compile(
    r"\s*(?:[-•*]|\d{1,2}[.)])?\s*(?:(?:nouve(?:au|lle|l)|new)\s+)?(?P<label>"
    + "|".join(f"(?P<{name}>{pattern})" for name, pattern in _LABELS.items())
    + r")\s*:\s*(?P<value>\S.*?)\s*",
    re.I,
)
MAX_LINES = 12


def may_hold_details(text: str) -> bool:
    """Whether `labelled_details` could find a block: it needs the cue that starts one."""
    return _CUE.search(text) is not None


def labelled_details(text: str) -> dict[str, tuple[str, list[str]]]:
    """The values of the one block of labelled new details: field → (value, continuation lines).

    Empty when there is no such block, or more than one (which would be the new one?).
    """
    found: dict[str, tuple[str, list[str]]] = {}
    blocks = 0
    for cue in _CUE.finditer(text):
        line_end = text.find("\n", cue.end())
        if line_end < 0:
            break
        lead = text[sentence_start(text, cue.start()) : line_end]  # up to the block
        if someone_elses(lead) or OLD_WORD.search(lead):
            continue
        lines = text[line_end + 1 :].split("\n")[:MAX_LINES]
        block: dict[str, tuple[str, list[str]]] = {}
        current: str | None = None
        for line in lines:
            if not line.strip():
                if block:
                    break
                continue
            match = _LINE.fullmatch(line)
            if match is None:
                if current == "postal_address" and len(block[current][1]) < 3:
                    block[current][1].append(line.strip())  # the address runs on
                    continue
                break
            name = next(n for n in _LABELS if match.group(n))
            if name in block:
                break
            block[name] = (match.group("value"), [])
            current = name
        if block:
            blocks += 1
            found = block
    return found if blocks == 1 else {}
