"""Clean what a reply repeats from the sender (subject, display name) before it goes out.

An automatic reply that repeats a 16 KB subject or a display name such as "Win a prize at
http://evil.example" to whatever address `From` claims is a backscatter relay: crmbot cuts
what it echoes, drops control and bidirectional-override characters, and keeps no link or
address in a name.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

SUBJECT_MAX_CHARS = 120
NAME_MAX_CHARS = 60
ELLIPSIS = "…"

_URL_OR_ADDRESS = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*"  # a link
    r"|\S+@\S+"  # an e-mail address
    r"|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,63}\b(?:/\S*)?"  # a bare domain
    r"|@|:/+",  # what is left of one
    re.IGNORECASE,
)


def _visible(text: str) -> str:
    """`text` without control or format characters (CR/LF, NUL, bidi overrides, zero-width)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)


def cut(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, with an ellipsis where it was cut."""
    flat = " ".join(_visible(text[: limit * 4]).split())
    if len(flat) <= limit and len(text) <= limit * 4:
        return flat
    return flat[: limit - 1].rstrip() + ELLIPSIS


def clean_subject(subject: Any, limit: int = SUBJECT_MAX_CHARS) -> str:
    """A sender's subject as a reply may repeat it."""
    return cut(subject, limit) if isinstance(subject, str) else ""


def clean_name(name: Any, limit: int = NAME_MAX_CHARS) -> str:
    """A sender's display name as a reply may repeat it: no link, address or domain in it."""
    if not isinstance(name, str):
        return ""
    words = _URL_OR_ADDRESS.sub(" ", _visible(name[: limit * 4]))
    return cut(words, limit).strip(" \"'<>()[]-,;:")


def echo_safe(
    facts: dict[str, Any] | None, *, subject: tuple[str, ...] = (), name: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A copy of `facts` whose sender-given fields are cleaned for echoing in a reply."""
    if not facts:
        return dict(facts or {})
    safe = dict(facts)
    for key in subject:
        if key in safe:
            safe[key] = clean_subject(safe[key])
    for key in name:
        if key in safe:
            safe[key] = clean_name(safe[key])
    return safe
