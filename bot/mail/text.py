"""Mail text helpers: HTML to readable text, and quoted-history / signature stripping."""

from __future__ import annotations

import html as _html
import re

from bot.budget import checkpoint

# --------------------------------------------------------------------------- HTML -> text
#
# A small tokenizer instead of html.parser: the stdlib parser is quadratic on some broken
# markup (thousands of unclosed "<a =" or "<!--" take minutes), and mail HTML is hostile
# input. Every scan below moves forward only, so the conversion is linear in the input.
# (nh3 would also be linear, but cleaning first costs more than this whole conversion.)

# Elements dropped with everything inside them.
_HIDDEN_TAGS = frozenset(
    {"script", "style", "title", "noscript", "template", "svg", "object", "iframe", "xml"}
)
# Block elements: their content starts and ends on its own line.
_LINE_TAGS = frozenset(
    {
        "address", "article", "aside", "center", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "header", "main", "nav", "section",
        "tbody", "thead", "tfoot", "tr", "caption", "li",
    }
)  # fmt: skip
# Blocks that also stand apart from their neighbours by a blank line.
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "hr", "blockquote"}
)
_CELL_TAGS = frozenset({"td", "th"})
_ZERO_WIDTH = str.maketrans({"\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None})
_BLANK_RUNS = re.compile(r"\n{3,}")
_MAX_QUOTE_MARKS = 8  # "> > > ..." prefixes shown for nested blockquotes, at most
# One token per match: a comment start, a tag (1: "/" if closing, 2: name), a declaration,
# text (3), or a lone "<". Each alternative stops at the next "<", so scanning is linear.
_TOKEN_RE = re.compile(
    r"<!--|<(/?)([A-Za-z][A-Za-z0-9:_-]*)(?=[\s/>])[^<>]*>|<[!?][^<>]*>|([^<]+)|<"
)
_HIDDEN_END_RE = {tag: re.compile(rf"</{tag}\s*>", re.I) for tag in _HIDDEN_TAGS}


class _TextBuilder:
    """Turns tag and text events into lines; blockquote content becomes "> " lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._current: list[str] = []
        self._pre = 0
        self._quote = 0

    def _flush(self) -> None:
        if not self._current:
            return
        text = "".join(self._current)
        self._current = []
        line = text.rstrip() if self._pre else " ".join(text.split())
        if line and line != "-":
            # The depth shown is capped: N nested <blockquote> must not cost N x lines.
            self.lines.append("> " * min(self._quote, _MAX_QUOTE_MARKS) + line)

    def _blank(self) -> None:
        self._flush()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def start(self, tag: str) -> None:
        """An opening tag: break lines around blocks."""
        if tag == "br":
            if self._current:
                self._flush()
            else:
                self.lines.append("")
        elif tag in _PARAGRAPH_TAGS:
            self._blank()
            if tag == "blockquote":
                self._quote += 1
            elif tag == "pre":
                self._pre += 1
        elif tag in _LINE_TAGS:
            self._flush()
            if tag == "li":
                self._current.append("- ")
        elif tag in _CELL_TAGS:
            self._current.append(" ")

    def end(self, tag: str) -> None:
        """A closing tag: end its line or paragraph."""
        if tag in _PARAGRAPH_TAGS:
            self._blank()
            if tag == "blockquote" and self._quote:
                self._quote -= 1
            elif tag == "pre" and self._pre:
                self._pre -= 1
        elif tag in _LINE_TAGS:
            self._flush()
        elif tag in _CELL_TAGS:
            self._current.append(" ")

    def data(self, raw: str) -> None:
        """Visible text (entities still escaped); inside <pre>, line breaks are kept."""
        text = _html.unescape(raw) if "&" in raw else raw
        if self._pre and "\n" in text:
            first, *rest = text.split("\n")
            self._current.append(first)
            for piece in rest:
                self._flush()
                if not piece.strip():
                    self.lines.append("")
                self._current.append(piece)
        else:
            self._current.append(text)

    def text(self) -> str:
        """The collected text, blank runs collapsed."""
        self._flush()
        return _BLANK_RUNS.sub("\n\n", "\n".join(self.lines)).strip()


def _tokenize(html: str, out: _TextBuilder) -> None:
    """Feed tags and text of `html` to `out`, skipping comments, declarations, hidden parts."""
    pos, size = 0, len(html)
    match_token = _TOKEN_RE.match
    count = 0
    while pos < size:
        count += 1
        if not count & 0x3FF:
            checkpoint()
        token = match_token(html, pos)
        assert token is not None  # the last alternative matches any single character
        pos = token.end()
        tag = token.group(2)
        if tag is not None:
            tag = tag.lower()
            if token.group(1):
                out.end(tag)
            elif tag in _HIDDEN_TAGS:
                hidden_end = _HIDDEN_END_RE[tag].search(html, pos)
                if hidden_end is None:
                    return
                pos = hidden_end.end()
            else:
                out.start(tag)
        elif token.group(3) is not None:
            out.data(token.group(3))
        elif token.group(0) == "<!--":
            end = html.find("-->", pos)
            if end < 0:
                return  # an unclosed comment hides the rest, as in browsers
            pos = end + 3
        elif token.group(0) == "<":
            out.data("<")  # a "<" that starts no tag is text
        # else: a doctype, declaration or processing instruction, dropped


def html_to_text(html: str) -> str:
    """Convert an HTML mail body to readable plain text (linear time, never raises)."""
    html = html.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    builder = _TextBuilder()
    _tokenize(html, builder)
    return builder.text().translate(_ZERO_WIDTH).replace("\xa0", " ")


# --------------------------------------------------------------- quotes and signatures

# "On Mon, 3 Mar 2025 at 10:12, John <j@x> wrote:" / "Le lun. 3 mars 2025 à 10:12, X a écrit :"
_ATTRIBUTION_START = re.compile(r"^\W{0,3}(?:on|le|am|el|il|op|em)\b", re.I)
_ATTRIBUTION = re.compile(
    r"^\W{0,3}(?:on|le|am|el|il|op|em)\b(?=[^\n]*\d).{0,400}?"
    r"\b(?:wrote|a\s+[ée]crit|schrieb|escribi[óo]|ha\s+scritto|schreef|escreveu)\s*:\s*$",
    re.I | re.S,
)
_SEPARATOR = re.compile(
    r"^\W{0,3}(?:-{2,}\s*(?:original\s+message|message\s+d['’]origine|message\s+original"
    r"|forwarded\s+message|message\s+transf[ée]r[ée]|mensaje\s+original"
    r"|urspr[üu]ngliche\s+nachricht|weitergeleitete\s+nachricht)\s*-{2,}"
    r"|begin\s+forwarded\s+message\s*:|d[ée]but\s+du\s+message\s+r[ée]exp[ée]di[ée]\s*:)\s*$",
    re.I,
)
_HEADER_FROM = re.compile(r"^[*\s]{0,3}(?:from|de|von|van|da)\s*\*?\s*:", re.I)
_HEADER_SUBJECT = re.compile(
    r"^[*\s]{0,3}(?:subject|objet|sujet|betreff|asunto|oggetto)\s*\*?\s*:", re.I
)
_HEADER_ANY = re.compile(
    r"^[*\s]{0,3}(?:from|de|von|van|da|sent|date|envoy[ée]|gesendet|to|[àa]|an|cc|subject"
    r"|objet|betreff|sujet|reply-to|r[ée]pondre\s+[àa])\s*\*?\s*:",
    re.I,
)
_RULE_LINE = re.compile(r"^\s*[-_=*]{5,}\s*$")
_MOBILE_FOOTER = re.compile(
    r"^\W{0,3}(?:sent\s+from\s+(?:my\s+)?\S.{0,60}|get\s+outlook\s+for\s+\S.{0,40}"
    r"|envoy[ée]\s+(?:de|depuis|à\s+partir\s+de)\s+(?:mon|ma|l['’]|outlook|yahoo)\S*.{0,60}"
    r"|t[ée]l[ée]charger\s+outlook\s+pour\s+\S.{0,40}|sent\s+with\s+\S+\s*mail.{0,40}"
    r"|sent\s+via\s+\S.{0,60}|von\s+meinem\s+\S.{0,40}\s+gesendet)$",
    re.I,
)
_SIGN_OFF = re.compile(
    r"^\W{0,3}(?:(?:bien\s+|tr[èe]s\s+|tr[èe]s\s+bien\s+)?cordialement|cdlt|cdt"
    r"|bien\s+[àa]\s+(?:vous|toi)|b[àa]v"
    r"|(?:sinc[èe]res\s+|meilleures\s+|bien\s+des\s+)?salutations(?:\s+distingu[ée]es)?"
    r"|bonne\s+(?:journ[ée]e|soir[ée]e|fin\s+de\s+journ[ée]e|semaine)"
    r"|merci(?:\s+beaucoup|\s+d['’]avance|\s+par\s+avance|\s+[àa]\s+vous|\s+encore)?"
    r"|(?:best|kind|warm|warmest|kindest|many)\s+(?:regards|wishes|thanks)|best|regards"
    r"|cheers|sincerely(?:\s+yours)?|yours\s+(?:sincerely|truly|faithfully)"
    r"|thanks(?:\s+(?:a\s+lot|again|in\s+advance))?|thank\s+you(?:\s+(?:very\s+much|in\s+advance))?"
    r"|br|mit\s+freundlichen\s+gr[üu](?:ß|ss)en|viele\s+gr[üu](?:ß|ss)e)\s*[,.!]*\s*$",
    re.I,
)
_SIGNATURE_MAX_LINES = 6
_SIGNATURE_MAX_WIDTH = 100
_MAX_PASSES = 10


def _normalize(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row, no outer blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution_end(lines: list[str], i: int) -> int | None:
    """If an attribution line ("On ... wrote:") starts at i, the index of its last line."""
    if not _ATTRIBUTION_START.match(lines[i]):
        return None
    joined = lines[i]
    for j in range(i, min(i + 3, len(lines))):
        if j > i:
            if not lines[j] or _is_quote(lines[j]):
                return None
            joined = f"{joined} {lines[j]}"
        if len(joined) > 500:
            return None
        if _ATTRIBUTION.match(joined):
            return j
    return None


def _is_header_block(lines: list[str], i: int) -> bool:
    """True if lines[i] starts an inline header block: From, Subject and another label."""
    if not _HEADER_ANY.match(lines[i]):
        return False
    window = [line for line in lines[i : i + 12] if line][:6]
    labels = [line for line in window if _HEADER_ANY.match(line)]
    return (
        len(labels) >= 3
        and any(_HEADER_FROM.match(line) for line in labels)
        and any(_HEADER_SUBJECT.match(line) for line in labels)
    )


def _next_content(lines: list[str], i: int) -> str | None:
    for line in lines[i:]:
        if line.strip():
            return line
    return None


def _cut_history(lines: list[str]) -> list[str]:
    """Drop unprefixed quoted history and the attribution lines of ">" blocks."""
    keep = [True] * len(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line or _is_quote(line):
            i += 1
            continue
        end = _attribution_end(lines, i)
        if end is not None:
            following = _next_content(lines, end + 1)
            if following is not None and _is_quote(following):
                for k in range(i, end + 1):
                    keep[k] = False
                i = end + 1
                continue
            return _before(lines, keep, i)
        if _SEPARATOR.match(line) or _is_header_block(lines, i):
            return _before(lines, keep, i)
        i += 1
    return [line for line, kept in zip(lines, keep, strict=True) if kept]


def _before(lines: list[str], keep: list[bool], cut: int) -> list[str]:
    """Lines kept before `cut`, without the rule lines (____ / -----) that announce it."""
    while cut > 0 and (not lines[cut - 1].strip() or _RULE_LINE.match(lines[cut - 1])):
        cut -= 1
    return [line for line, kept in zip(lines[:cut], keep[:cut], strict=True) if kept]


def _sign_off_start(lines: list[str]) -> int | None:
    """Index of a sign-off line ("Cordialement,") followed only by a short signature."""
    tail = 0
    for s in range(len(lines) - 1, 0, -1):
        line = lines[s]
        if _SIGN_OFF.match(line):
            return s
        if line.strip():
            tail += 1
            if tail > _SIGNATURE_MAX_LINES or len(line) > _SIGNATURE_MAX_WIDTH:
                return None
    return None


def _trim_end(lines: list[str]) -> None:
    while lines and (not lines[-1].strip() or _RULE_LINE.match(lines[-1])):
        lines.pop()


def _cut_signature(lines: list[str]) -> list[str]:
    """Drop the "-- " signature, mobile footers and final sign-off blocks."""
    for k, line in enumerate(lines):
        if k > 0 and line.strip() == "--":
            lines = lines[:k]
            break
    lines = [line for line in lines if not _MOBILE_FOOTER.match(line)]
    _trim_end(lines)
    # "Merci d'avance,\n\nBien à vous,\nPaul": each cut can expose another sign-off.
    while (start := _sign_off_start(lines)) is not None:
        del lines[start:]
        _trim_end(lines)
    return lines


def _strip_once(text: str) -> str:
    lines = _cut_history(text.split("\n"))
    lines = [line for line in lines if not _is_quote(line)]
    lines = _cut_signature(lines)
    _trim_end(lines)
    return _normalize("\n".join(lines))


def strip_quotes_and_signature(text: str) -> str:
    """Remove quoted history, signatures and mobile footers; keep the text if all would go.

    The result is normalised (Unix newlines, no trailing spaces, single blank lines) and is a
    fixed point: stripping it again gives it back unchanged.
    """
    current = _normalize(text)
    for _ in range(_MAX_PASSES):  # a handful is enough; the bound keeps hostile input linear
        if not current:
            break
        checkpoint()
        stripped = _strip_once(current)
        if not stripped or stripped == current:
            break
        current = stripped
    return current
