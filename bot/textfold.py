"""Accent and case folding shared by matching code (rules terms, dedup, identity)."""

from __future__ import annotations

import unicodedata

# Every combining mark (accents, cedillas …) maps to nothing: str.translate runs in C,
# which is several times faster than testing unicodedata.combining() per character.
# (no combining mark lies beyond the first three planes)
_COMBINING = {cp: None for cp in range(0x30000) if unicodedata.combining(chr(cp))}
_LIGATURES = {
    ord("ß"): "ss",
    ord("æ"): "ae",
    ord("œ"): "oe",
    ord("ø"): "o",
    ord("ł"): "l",
    ord("đ"): "d",
}
_TABLE = {**_COMBINING, **_LIGATURES}


def strip_accents(text: str) -> str:
    """Case-folded text without accents or ligatures: "Œuvre Réglée" -> "oeuvre reglee"."""
    return unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold()).translate(
        _TABLE
    )
