"""Parse raw mail bytes into a ParsedEmail: identity headers, readable body, attachments.

The stdlib parser runs with the lenient `compat32` policy (several times faster than
`policy.default` and it never raises on bad headers); headers are decoded here, with charset
fallbacks. `parse_email` never raises: whatever was wrong, and what was done about it, is
written to `defects`.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache

from bot.budget import BudgetExceeded, checkpoint
from bot.mail.autoreply import detect_auto_reply
from bot.mail.language import detect_language
from bot.mail.mime import bound_structure, parse_bytes
from bot.mail.text import html_to_text, strip_quotes_and_signature
from bot.models import Attachment

_PARSER = BytesParser(policy=email_policy.compat32)
_KEPT_HEADERS = (
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "precedence",
    "x-mailer",
    "list-id",
    "authentication-results",  # DKIM/SPF/DMARC verdicts: verified administrative updates
)
_MAX_HEADER_CHARS = 16_384
_MAX_KEPT_HEADER_CHARS = 2_000
_MAX_PARTS = 500
_MAX_DEPTH = 30
_MAX_MULTIPARTS = 100  # multipart headers read; the raw message is cut before the next
_MAX_DELIMITERS = 2 * _MAX_PARTS  # boundary lines read; idem
_MAX_ID_CHARS = 250
_MAX_NAME_CHARS = 300  # a display name longer than the contacts column is cut before matching
_HTML_INPUT_FACTOR = 5  # HTML is cut at this many times max_body_chars before conversion

_MSG_ID_RE = re.compile(r"<([^<>\s]+)>")
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I
)
_SURROGATES_RE = re.compile(r"[\ud800-\udfff]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CAMEL_RE = re.compile(r"(?<!^)(?=[A-Z])")
_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")
# Quotes, comments, groups, routes, escapes, or an encoded word holding a comma.
_NOT_SIMPLE_ADDRESS_RE = re.compile(r'["():;\\\[]|=\?[^?\s]*\?[bBqQ]\?[^?\s]*,')
_SIMPLE_ADDRESS_RE = re.compile(
    r"\s*(?:([^<>@,]*?)\s*<([^<>\s,@]+@[^<>\s,@]+)>|([^<>\s,@]+@[^<>\s,@]+))\s*"
)
_PATH_SEPARATORS = re.compile(r"[\\/]")
_UNSAFE_NAME_CHARS = re.compile(r'[\\/:*?"<>|]')

# Labels that mean something else in practice (WHATWG encoding standard) or that Python
# does not know under that name.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "x-user-defined": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
_ASCII_SUPERSETS = ("us-ascii", "ascii", "utf-8", "iso-8859-", "iso8859-", "cp125", "windows-125")
# Codecs that are not character sets, or that are slow or unsafe on hostile input.
_REFUSED_CODECS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}
)


@dataclass(slots=True)
class ParsedEmail:
    """Everything crmbot keeps from one raw mail (attachments are listed, never stored)."""

    message_id: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    sender_email: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    body_text: str = ""
    body_clean: str = ""
    language: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    auto_reply: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- charsets


@lru_cache(maxsize=256)
def _codec_name(charset: str) -> str | None:
    """Python's codec for a MIME charset label, or None if unknown or not a text codec."""
    label = charset.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return None
    return info.name


def _clean(text: str) -> str:
    """Remove NUL bytes and lone surrogates (which some codecs produce)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATES_RE.sub("\ufffd", text)
    return text


def _decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode with the declared charset, then utf-8, cp1252, latin-1; say why if it fell back."""
    label = charset.strip().lower() if charset else ""
    if data.isascii() and (not label or label.startswith(_ASCII_SUPERSETS)):
        return _clean(data.decode("ascii")), None
    codec = _codec_name(label) if label else None
    note = None
    if label and codec is None:
        note = f"unknown charset {charset!r}"
    candidates = [codec] if codec else []
    candidates += [name for name in ("utf-8", "cp1252") if name != codec]
    for name in candidates:
        try:
            text = data.decode(name)
        except Exception:  # UnicodeError, or a codec that fails in its own way
            if name == codec:
                note = f"bytes invalid in declared charset {charset!r}"
            continue
        if note:
            note = f"{note}; decoded as {name}"
        return _clean(text), note
    return _clean(data.decode("latin-1")), f"{note or 'undecodable bytes'}; decoded as latin-1"


# ------------------------------------------------------------------------------ headers


def _fold(value: str) -> str:
    """Unfold a header value: one space for any run of whitespace, control characters out."""
    value = " ".join(value.split())
    if _CONTROL_RE.search(value):
        value = " ".join(_CONTROL_RE.sub(" ", value).split())
    return value


def _decode_words(value: str, defects: list[str], name: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words in one charset are joined first."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0

    def flush() -> None:
        if pending:
            text, note = _decode_bytes(b"".join(pending), pending_charset)
            if note:
                defects.append(f"{name}: {note}")
            out.append(text)
            pending.clear()

    for match in _ENCODED_WORD_RE.finditer(value):
        between = value[pos : match.start()]
        charset, encoding, payload = match.groups()
        charset = charset.partition("*")[0]  # RFC 2231 language suffix
        try:
            if encoding in "bB":
                data = binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
            else:
                data = binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
        except (binascii.Error, ValueError):
            flush()
            out.append(value[pos : match.end()])
            pos = match.end()
            continue
        if between and not (between.isspace() and pending):
            flush()
            out.append(between)
        elif pending and charset.lower() != pending_charset.lower():
            flush()
        pending.append(data)
        pending_charset = charset
        pos = match.end()
    flush()
    out.append(value[pos:])
    return _fold("".join(out))


class _Headers:
    """Raw header values by lower-cased name, decoded on demand."""

    def __init__(self, msg: Message, defects: list[str]) -> None:
        self.raw: dict[str, list[str]] = {}
        self.defects = defects
        self._values: dict[str, list[str]] = {}
        try:
            items = list(msg.raw_items())
        except Exception as exc:
            defects.append(f"headers unreadable: {type(exc).__name__}")
            items = []
        for name, value in items:
            self.raw.setdefault(str(name).strip().lower(), []).append(str(value))

    def values(self, name: str) -> list[str]:
        """Values of a header with raw 8-bit bytes decoded, folding removed, length capped."""
        if name in self._values:
            return self._values[name]
        out = self._values[name] = []
        for value in self.raw.get(name, ()):
            if len(value) > _MAX_HEADER_CHARS:
                self.defects.append(f"{name} header truncated to {_MAX_HEADER_CHARS} characters")
                value = value[:_MAX_HEADER_CHARS]
            if not value.isascii():
                data = value.encode("utf-8", "surrogateescape")
                value, note = _decode_bytes(data, None)
                self.defects.append(f"raw 8-bit bytes in {name} header ({note or 'read as utf-8'})")
            out.append(_fold(value))
        return out

    def first(self, name: str) -> str | None:
        """The first value of a header, or None if absent."""
        values = self.values(name)
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        """The first value of a header with RFC 2047 encoded words decoded."""
        value = self.first(name)
        return None if value is None else _decode_words(value, self.defects, name)

    def addresses(self, *names: str) -> list[tuple[str, str]]:
        """(display name, lower-cased address) pairs of the first header among names with any."""
        for name in names:
            values = self.values(name)
            if not values:
                continue
            try:
                pairs = _split_addresses(values)
            except Exception as exc:
                self.defects.append(f"{name} header unparsable: {type(exc).__name__}")
                continue
            out = []
            for display, address in pairs:
                address = address.strip().lower()
                if "@" not in address or len(address) > 320 or any(c.isspace() for c in address):
                    if address or display:
                        self.defects.append(f"invalid address in {name} header ignored")
                    continue
                display = _decode_words(display, self.defects, name).strip("\"' ")
                out.append((display, address))
            if out:
                return out
        return []


def _split_addresses(values: list[str]) -> list[tuple[str, str]]:
    """Address lists: a regex for the common simple forms, the stdlib parser for the rest."""
    joined = ", ".join(values)
    if not _NOT_SIMPLE_ADDRESS_RE.search(joined):
        pairs = []
        for piece in joined.split(","):
            if not piece or piece.isspace():
                continue
            match = _SIMPLE_ADDRESS_RE.fullmatch(piece)
            if match is None:
                return getaddresses(values)
            pairs.append((match.group(1) or "", match.group(2) or match.group(3)))
        return pairs
    return getaddresses(values)


def _msg_ids(value: str | None) -> list[str]:
    """Message ids in a header value, brackets stripped, order kept, without duplicates."""
    if not value:
        return []
    found = _MSG_ID_RE.findall(value) or [
        token.strip("<>,;") for token in value.split() if "@" in token
    ]
    return [
        ident
        for ident in dict.fromkeys(found)
        if ident and len(ident) <= _MAX_ID_CHARS and ident.isascii() and ident.isprintable()
    ]


def _message_id(value: str | None) -> str | None:
    ids = _msg_ids(value)
    if ids:
        return ids[0]
    bare = (value or "").strip().strip("<>")
    if 0 < len(bare) <= _MAX_ID_CHARS and bare.isascii() and bare.isprintable():
        return None if " " in bare else bare
    return None


def _parse_date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:  # "-0000": the zone is unknown; RFC 5322 says treat as UTC
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except Exception:
        defects.append(f"invalid Date header ignored: {value[:80]!r}")
        return None


# --------------------------------------------------------------------------------- body


@dataclass(slots=True)
class _Collected:
    """Texts (kind "plain" or "html", decoded text) and attachments under one MIME node."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        return any(k == kind and t.strip() for k, t in self.texts)


class _BodyWalker:
    """Walks the MIME tree once, choosing body texts and listing attachments."""

    def __init__(self, defects: list[str], max_html_chars: int) -> None:
        self.defects = defects
        self.max_html_chars = max_html_chars
        self.parts = 0

    def walk(self, part: Message, depth: int = 0, *, root: bool = False) -> _Collected:
        """Collect the texts and attachments under `part`."""
        checkpoint()
        collected = _Collected()
        self.parts += 1
        if depth > _MAX_DEPTH or self.parts > _MAX_PARTS:
            self.defects.append(
                f"MIME tree cut at depth {_MAX_DEPTH} / {_MAX_PARTS} parts; rest ignored"
            )
            return collected
        self._note_defects(part)
        ctype = _content_type(part)
        # Leaves are read with get_payload(decode=True): the plain call can raise on 8-bit text.
        payload = part.get_payload() if part.is_multipart() else None
        first = payload[0] if isinstance(payload, list) and payload else None
        if ctype == "message/rfc822" and root and isinstance(first, Message):
            return self.walk(first, depth + 1)
        if isinstance(payload, list) and not ctype.startswith("message/"):
            children = [child for child in payload if isinstance(child, Message)]
            if ctype == "multipart/alternative":
                return self._alternative(children, depth)
            for child in children:
                sub = self.walk(child, depth + 1)
                collected.texts += sub.texts
                collected.attachments += sub.attachments
            return collected
        disposition = _disposition(part)
        if ctype.startswith("multipart/"):  # no usable boundary: read it as text
            ctype = "text/plain"
        if ctype in ("text/plain", "text/html") and disposition != "attachment":
            text = self._text(part, ctype)
            if text is not None:
                collected.texts.append(("html" if ctype == "text/html" else "plain", text))
        else:
            collected.attachments.append(self._attachment(part, ctype, payload))
        return collected

    def _alternative(self, children: list[Message], depth: int) -> _Collected:
        """Keep the plain-text version if it says something, else the HTML one."""
        branches = [self.walk(child, depth + 1) for child in children]
        chosen = next((b for b in branches if b.has("plain")), None)
        chosen = chosen or next((b for b in branches if b.has("html")), None)
        chosen = chosen or next((b for b in branches if b.texts), None)
        result = _Collected(texts=list(chosen.texts) if chosen else [])
        for branch in branches:
            result.attachments += branch.attachments
        return result

    def _text(self, part: Message, ctype: str) -> str | None:
        try:
            data = part.get_payload(decode=True)
        except Exception as exc:
            self.defects.append(f"{ctype} part undecodable ({type(exc).__name__}); skipped")
            return None
        if not isinstance(data, bytes):
            return None
        charset = _charset(part)
        if charset is None and ctype == "text/html":
            sniffed = _META_CHARSET_RE.search(data[:4096])
            charset = sniffed.group(1).decode("ascii") if sniffed else None
        text, note = _decode_bytes(data, charset)
        if note:
            self.defects.append(f"{ctype} part: {note}")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if ctype == "text/html":
            if len(text) > self.max_html_chars:
                self.defects.append(f"HTML part cut to {self.max_html_chars} characters")
                text = text[: self.max_html_chars]
            return text  # converted only if chosen (see _body_text)
        if _param(part, "format") == "flowed":
            text = _unflow(text, delsp=_param(part, "delsp") == "yes")
        return text

    def _attachment(self, part: Message, ctype: str, payload: object) -> Attachment:
        size = 0
        try:
            if isinstance(payload, list):
                size = sum(len(sub.as_bytes()) for sub in payload if isinstance(sub, Message))
            elif _is_base64(part) and isinstance(encoded := part.get_payload(), str):
                size = _base64_size(encoded)  # no 50 MB decoded copy just to know its size
            else:
                data = part.get_payload(decode=True)
                size = len(data) if isinstance(data, bytes) else 0
        except Exception as exc:
            self.defects.append(f"size of {ctype} attachment unknown ({type(exc).__name__})")
        return Attachment(
            filename=self._filename(part, ctype, payload), content_type=ctype, size=size
        )

    def _filename(self, part: Message, ctype: str, payload: object) -> str:
        try:
            name = part.get_filename() or ""
        except Exception:
            name = ""
        name = str(name)
        if not name.isascii():  # raw 8-bit bytes in the parameter
            name, _ = _decode_bytes(name.encode("utf-8", "surrogateescape"), None)
        if "=?" in name:  # RFC 2047 in a parameter: wrong, but Outlook and others do it
            name = _decode_words(name, self.defects, "attachment filename")
        name = _fold(name)
        name = _PATH_SEPARATORS.split(name)[-1].strip()[:255]
        if name:
            return name
        if ctype == "message/rfc822" and isinstance(payload, list) and payload:
            subject = _Headers(payload[0], self.defects).text("subject") or "message"
            return _UNSAFE_NAME_CHARS.sub("_", subject)[:200] + ".eml"
        return "attachment" + _EXTENSIONS.get(ctype, ".bin")

    def _note_defects(self, part: Message) -> None:
        for defect in getattr(part, "defects", ()) or ():
            label = _CAMEL_RE.sub(" ", type(defect).__name__).lower().removesuffix(" defect")
            self.defects.append(f"MIME defect in {_content_type(part)} part: {label}")


_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "message/rfc822": ".eml",
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
}


def _is_base64(part: Message) -> bool:
    return str(part.get("content-transfer-encoding", "")).strip().lower() == "base64"


def _base64_size(encoded: str) -> int:
    """Decoded size of base64 text: 3 bytes per 4 characters of the alphabet (exact when
    the text is valid; whitespace and padding are not data)."""
    blanks = sum(encoded.count(c) for c in "\r\n \t=")
    return (len(encoded) - blanks) * 3 // 4


def _content_type(part: Message) -> str:
    try:
        return str(part.get_content_type()).lower()
    except Exception:
        return "text/plain"


def _disposition(part: Message) -> str:
    try:
        return str(part.get_content_disposition() or "")
    except Exception:
        return ""


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = value[2]
    return str(value or "").strip().lower()


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return str(charset) if charset else None


def _unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks."""
    out: list[str] = []
    paragraph = ""
    depth = -1
    for line in text.split("\n"):
        stripped = line.lstrip(">")
        level = len(line) - len(stripped)
        if stripped.startswith(" "):
            stripped = stripped[1:]  # space-stuffing
        if paragraph and level != depth:
            out.append(paragraph)
            paragraph = ""
        prefix = ">" * level + " " if level else ""
        if not paragraph:
            paragraph = prefix
        depth = level
        if stripped.endswith(" ") and stripped != "-- ":
            paragraph += stripped[:-1] if delsp else stripped
        else:
            out.append(paragraph + stripped)
            paragraph = ""
    if paragraph:
        out.append(paragraph)
    return "\n".join(out)


# ---------------------------------------------------------------------------- top level


def _body_text(texts: list[tuple[str, str]]) -> str:
    """The chosen body parts as one text, HTML converted, parts apart by a blank line."""
    converted = (html_to_text(text) if kind == "html" else text for kind, text in texts)
    return "\n\n".join(text.strip("\n") for text in converted if text.strip())


def _synthetic_id(raw: bytes) -> str:
    return f"{hashlib.sha256(raw).hexdigest()[:32]}@crmbot.invalid"


def _parse_tree(raw: bytes, defects: list[str]) -> Message:
    """The MIME tree, or the headers alone with the rest as one text part if MIME fails."""
    raw, cut = bound_structure(raw, _MAX_MULTIPARTS, _MAX_DELIMITERS)
    if cut:
        defects.append(f"{cut}; rest ignored")
    try:
        return parse_bytes(raw)
    except BudgetExceeded:
        raise
    except Exception as exc:  # RecursionError on absurd nesting, and the like
        defects.append(f"MIME structure unparsable ({type(exc).__name__}); body read as text")
    match = _HEADER_END_RE.search(raw)
    head = raw[: match.start()] if match else raw
    try:
        msg = _PARSER.parsebytes(head + b"\n\n", headersonly=True)
    except Exception:
        msg = Message()
    for name in ("content-type", "content-transfer-encoding"):
        del msg[name]
    msg.set_payload((raw[match.end() :] if match else b"").decode("ascii", "surrogateescape"))
    return msg


def _parse(original: bytes, max_body_chars: int) -> ParsedEmail:
    defects: list[str] = []
    raw = original
    if b"\x00" in raw:
        defects.append("NUL bytes removed")
        raw = raw.replace(b"\x00", b"")
    msg = _parse_tree(raw, defects)
    headers = _Headers(msg, defects)

    message_id = _message_id(headers.first("message-id"))
    if message_id is None:
        problem = "unparsable" if "message-id" in headers.raw else "missing"
        defects.append(f"Message-ID {problem}; synthetic id from the content hash")
    in_reply_to = next(iter(_msg_ids(headers.first("in-reply-to"))), None)
    references = _msg_ids(" ".join(headers.values("references")))

    senders = headers.addresses("from", "sender", "return-path")
    sender_name, sender_email = senders[0] if senders else (None, None)
    sender_name = sender_name[:_MAX_NAME_CHARS] if sender_name else sender_name
    if not senders:
        defects.append("no sender address (From, Sender, Return-Path)")
    reply_to = next(iter(headers.addresses("reply-to")), (None, None))[1]
    to = list(dict.fromkeys(address for _, address in headers.addresses("to")))
    cc = list(dict.fromkeys(address for _, address in headers.addresses("cc")))
    subject = headers.text("subject") or ""
    date = _parse_date(headers.first("date"), defects)

    max_html_chars = max_body_chars * _HTML_INPUT_FACTOR
    body = _BodyWalker(defects, max_html_chars).walk(msg, root=True)
    body_text = _body_text(body.texts)
    if len(body_text) > max_body_chars:
        defects.append(f"body truncated from {len(body_text)} to {max_body_chars} characters")
        body_text = body_text[:max_body_chars]
    body_clean = strip_quotes_and_signature(body_text)

    kept = {}
    for name in _KEPT_HEADERS:
        values = [_decode_words(v, defects, name) for v in headers.values(name)]
        if values:
            kept[name] = ", ".join(values)[:_MAX_KEPT_HEADER_CHARS]
    return ParsedEmail(
        message_id=message_id or _synthetic_id(original),
        in_reply_to=in_reply_to,
        references=references,
        sender_email=sender_email,
        sender_name=sender_name or None,
        reply_to=reply_to,
        to=to,
        cc=cc,
        subject=subject,
        date=date,
        body_text=body_text,
        body_clean=body_clean,
        language=detect_language(f"{subject}\n{body_clean}"),
        attachments=body.attachments,
        auto_reply=detect_auto_reply(msg, sender_email, subject),
        headers=kept,
        defects=list(dict.fromkeys(defects)),
    )


def parse_email(raw: bytes, *, max_body_chars: int = 200_000) -> ParsedEmail:
    """Parse one raw RFC 5322 message; never raises, problems are listed in `defects`."""
    raw = bytes(raw)
    try:
        return _parse(raw, max_body_chars)
    except BudgetExceeded:  # the item's time is up: the worker quarantines it
        raise
    except Exception as exc:  # a safety net: the parser above is meant never to get here
        text, _ = _decode_bytes(raw[:max_body_chars], None)
        return ParsedEmail(
            message_id=_synthetic_id(raw),
            body_text=text,
            body_clean=text.strip(),
            defects=[f"internal parser error ({type(exc).__name__}: {exc}); raw text kept"],
        )
