"""Postal addresses in FR/BE/CH/CA/UK/US/IE/AU formats: find the block a mail announces.

No well-kept library parses these offline (libpostal needs a data download; usaddress and
pyap cover North America and a few others only), so this is a small tested parser: an
address is the text after a cue ("nouvelle adresse", "we have moved to"…) up to and
including the line that carries a postcode in one of the supported formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A city: capitalised words (Saint-Denis, La Roche-sur-Yon, Den Haag), never a sentence.
_CITY = (
    r"[A-ZÀ-Ý][\w'’-]*"
    r"(?:\s(?!(?i:cedex)\b)(?:[A-ZÀ-Ý][\w'’-]*|sur|en|lès|les|de|du|la|le|am|an|bei)){0,4}"
)
# One pattern per format; each matches the postcode (with the city or state around it).
POSTCODES: dict[str, re.Pattern[str]] = {
    "FR": re.compile(rf"\b(?:F-?)?\d{{5}}\s+{_CITY}(?:\s+(?i:cedex)(?:\s+\d{{1,2}})?)?", re.U),
    "BE_CH": re.compile(rf"\b(?:B-|CH-)?\d{{4}}\s+{_CITY}", re.U),
    "CA": re.compile(r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b", re.I),
    "UK": re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b", re.I),
    "US": re.compile(r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"),
    "IE": re.compile(r"\b[AC-FHKNPRTV-Y]\d{2}\s?[AC-FHKNPRTV-Y\d]{4}\b", re.I),
    "AU": re.compile(r"\b(?:NSW|VIC|QLD|SA|WA|TAS|ACT|NT)\s+\d{4}\b"),
}
_STREET = re.compile(
    r"\b\d+[a-z]?(?:\s*(?:bis|ter))?[, ]+\s*(?:rue|avenue|av\.?|boulevard|bd|chemin|place|"
    r"impasse|all[ée]e|route|quai|cours|square|passage|straat|weg|street|st\.?|road|rd\.?|"
    r"lane|ln\.?|drive|dr\.?|avenue|ave\.?|boulevard|blvd\.?|court|ct\.?|way|close|crescent|"
    r"terrace|place|parade|highway|hwy)\b"
    r"|\b(?:rue|avenue|boulevard|chemin|place|impasse|all[ée]e|route|quai)\s+\w"
    r"|\b\w+(?:strasse|straße|gasse|weg|platz|laan|straat|steenweg)\s+\d+",
    re.I,
)
_CUE = re.compile(
    r"(?:nouvelle\s+adresse(?:\s+postale)?|notre\s+nouvelle\s+adresse|ma\s+nouvelle\s+adresse"
    r"|adresse\s+postale|nouvelles?\s+coordonn[ée]es\s+postales|d[ée]m[ée]nag[ée]s?\s+(?:au|à|a)"
    r"|new\s+(?:postal\s+|mailing\s+|billing\s+|home\s+|office\s+)?address"
    r"|(?:have|has|'ve)\s+moved\s+to|moving\s+to|relocated\s+to|address\s+is\s+now"
    r"|adresse\s+est\s+d[ée]sormais|adresse\s+(?:de\s+facturation\s+)?devient)"
    r"(?:\s*(?:will\s+be|sera|is\s+now|est\s+maintenant|est\s+d[ée]sormais|est|is|"
    r"à\s+compter\s+du[^:\n]*|as\s+of[^:\n]*|from[^:\n]*|d[èe]s\s+le[^:\n]*))?"
    r"\s*[:,–-]?\s*",
    re.I,
)
_OLD = re.compile(r"\b(?:ancienne|old|previous|former|pr[ée]c[ée]dente)\b", re.I)
_STOP_LINE = re.compile(
    r"^(?:merci|cordialement|bien\s+[àa]|thanks|thank\s+you|kind\s+regards|regards|best|"
    r"bonne\s+journ[ée]e|sinc[eè]rement|t[ée]l|phone|--)",
    re.I,
)


@dataclass(frozen=True, slots=True)
class FoundAddress:
    """An address block and how sure the parser is of it (0..1)."""

    text: str
    confidence: float
    postcode_format: str


def postcode_format(line: str) -> str | None:
    """The first supported postcode format found in `line`, or None."""
    for name in ("UK", "CA", "US", "AU", "IE", "FR", "BE_CH"):
        if POSTCODES[name].search(line):
            return name
    return None


def _clean(part: str) -> str:
    return " ".join(part.strip(" \t,;.«»\"'").split())


def find_address(text: str, max_lines: int = 5, max_cues: int = 20) -> FoundAddress | None:
    """The new postal address a mail announces, or None when it announces none."""
    for tried, cue in enumerate(_CUE.finditer(text)):
        if tried >= max_cues:
            return None
        before = text[max(0, cue.start() - 30) : cue.start()]
        if _OLD.search(before.rsplit("\n", 1)[-1]):
            continue
        rest = text[cue.end() : cue.end() + 200 * (max_lines + 1)]
        lines = rest.split("\n")[: max_lines + 1]
        parts: list[str] = []
        fmt = None
        for line in lines:
            line = line.strip()
            if not line:
                if parts:
                    break
                continue
            if _STOP_LINE.match(line):
                break
            if line.endswith(":") and not postcode_format(line):
                parts = []  # a label ("Address:"), the address follows
                continue
            fmt = postcode_format(line)
            if fmt:
                parts.append(line[: POSTCODES[fmt].search(line).end()])  # type: ignore[union-attr]
                break
            parts.append(line)
        if not parts or not fmt:
            continue
        block = ", ".join(_clean(p) for p in parts if _clean(p))
        confidence = 0.95 if _STREET.search(block) or re.match(r"\d", block) else 0.7
        return FoundAddress(block, confidence, fmt)
    return None
