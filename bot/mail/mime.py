"""The stdlib MIME parser, with its cost made linear in the size of hostile input.

Two things in `email.feedparser` grow faster than the input:
- every line is tested against the boundary of every enclosing multipart (RFC 2046 asks to
  recognise outer boundaries at any depth), so N nested multiparts over L lines cost N x L
  regex calls; `_BoundaryInput` tests a line only when it can be a boundary (a set lookup);
- every part costs ~100 µs of Python, and the nesting is a recursive generator; so the raw
  message is cut, before parsing, after `max_multiparts` multipart headers and
  `max_delimiters` boundary lines (the walker reads at most a few hundred parts anyway).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from email import feedparser
from email import policy as email_policy
from email.message import Message

from bot.budget import checkpoint

_BOUNDARY_PARAM_RE = re.compile(
    rb"""boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""", re.I
)
_PATTERN_SEPARATOR_RE = re.compile(r"^\(\?P<sep>(.*)\)\(\?P<end>--\)\?", re.S)
_UNESCAPE_RE = re.compile(r"\\(.)", re.S)
_FEED_CHARS = 1 << 20  # the parser is fed this much at a time, the time budget checked between
_DELIMITER_LINE_RE = re.compile(rb"^--([^\r\n]*)", re.M)


def _separator_of(pred: Callable[[str], object]) -> str | None:
    """The "--boundary" a feedparser boundary predicate matches, or None if it is another."""
    pattern = getattr(getattr(pred, "__self__", None), "pattern", None)
    if not isinstance(pattern, str):
        return None
    match = _PATTERN_SEPARATOR_RE.match(pattern)
    if match is None:
        return None
    separator = _UNESCAPE_RE.sub(r"\1", match.group(1))
    return None if separator != separator.rstrip(" \t") else separator


class _BoundaryInput(feedparser.BufferedSubFile):  # type: ignore[name-defined]  # not in typeshed
    """BufferedSubFile whose false-EOF test costs O(1) per line instead of O(depth)."""

    def __init__(self) -> None:
        super().__init__()
        self._separators: Counter[str] = Counter()
        self._kinds: list[str | None] = []
        self._other = 0  # matchers that are not boundaries (blank-line ones): always tested

    def push_eof_matcher(self, pred: Callable[[str], object]) -> None:
        """Remember the matcher's separator so that most lines skip the matcher stack."""
        super().push_eof_matcher(pred)
        separator = _separator_of(pred)
        self._kinds.append(separator)
        if separator is None:
            self._other += 1
        else:
            self._separators[separator] += 1

    def pop_eof_matcher(self) -> Callable[[str], object]:
        """Forget the matcher pushed last."""
        separator = self._kinds.pop()
        if separator is None:
            self._other -= 1
        else:
            self._separators[separator] -= 1
            if not self._separators[separator]:
                del self._separators[separator]
        return super().pop_eof_matcher()

    def _maybe_eof(self, line: str) -> bool:
        if self._other:
            return True
        if not line.startswith("--"):
            return False
        core = line.rstrip("\r\n").rstrip(" \t")
        return core in self._separators or (core.endswith("--") and core[:-2] in self._separators)

    def readline(self) -> str | object:
        """The next line, or '' at a false EOF (a boundary of an enclosing multipart)."""
        if not self._lines:
            return "" if self._closed else feedparser.NeedMoreData  # type: ignore[attr-defined]
        line = self._lines.popleft()
        if self._eofstack and self._maybe_eof(line):
            for ateof in reversed(self._eofstack):
                if ateof(line):
                    self._lines.appendleft(line)
                    return ""
        return line


def _line_start(raw: bytes, pos: int) -> int:
    return raw.rfind(b"\n", 0, pos) + 1


def bound_structure(
    raw: bytes, max_multiparts: int, max_delimiters: int
) -> tuple[bytes, str | None]:
    """Cut `raw` before the multipart header or boundary line over the limits, and say why."""
    for params, match in enumerate(_BOUNDARY_PARAM_RE.finditer(raw), start=1):
        if params > max_multiparts:
            raw = raw[: _line_start(raw, match.start())]
            return raw, f"message cut after {max_multiparts} multiparts"
    if raw.count(b"\n--") <= max_delimiters:
        return raw, None  # the common case: few lines can be boundaries at all
    boundaries = {
        b"--" + (m.group(1) or m.group(2)).rstrip(b" \t") for m in _BOUNDARY_PARAM_RE.finditer(raw)
    }
    seen = 0
    for match in _DELIMITER_LINE_RE.finditer(raw):
        core = b"--" + match.group(1).rstrip(b" \t")
        if core in boundaries or (core.endswith(b"--") and core[:-2] in boundaries):
            seen += 1
            if seen > max_delimiters:
                return raw[: match.start()], f"message cut after {max_delimiters} MIME boundaries"
    return raw, None


def parse_bytes(raw: bytes) -> Message:
    """Parse raw mail like BytesParser(policy=compat32), with linear boundary checks."""
    parser = feedparser.FeedParser(policy=email_policy.compat32)
    parser._input = _BoundaryInput()  # type: ignore[attr-defined]  # set before any data
    text = raw.decode("ascii", "surrogateescape")
    for start in range(0, len(text), _FEED_CHARS):
        checkpoint()
        parser.feed(text[start : start + _FEED_CHARS])
    return parser.close()
