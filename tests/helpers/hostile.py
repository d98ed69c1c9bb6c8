"""A corpus of hostile mails, generated (nothing big is stored in the repository).

Each builder takes a size knob so that tests can run a small and a large version and check
that the cost grows linearly; bench/bench_hostile.py runs the full-size versions.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

_HEAD = (
    b"From: Mallory <mallory@example.com>\r\n"
    b"To: support@acme-energie.fr\r\n"
    b"Subject: hostile\r\n"
    b"Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n"
    b"Message-ID: <hostile-%d@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
)


def _head(n: int) -> bytes:
    return _HEAD % n


def _html_mail(html: str, n: int) -> bytes:
    return (
        _head(n)
        + b"Content-Type: text/html; charset=utf-8\r\n"
        + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + html.encode("utf-8")
    )


def nested_blockquotes(depth: int) -> bytes:
    """`depth` unclosed <blockquote> elements, each with a line of text (13 bytes each)."""
    return _html_mail("<html><body>" + "<blockquote>x\n" * depth, 1)


def nested_tags(depth: int) -> bytes:
    """Deeply nested tags of other kinds: div, li, pre, table cells, inline, unclosed."""
    unit = "<div><ul><li><pre>a\n<table><tr><td><b><i><span>word "
    return _html_mail("<html><body>" + unit * (depth // 10 + 1), 2)


def long_word(size: int) -> bytes:
    """One `size`-character word in a plain-text body (no spaces, no line breaks)."""
    word = ("facturation" * (size // 11 + 1))[:size]
    return (
        _head(3)
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + b"Bonjour, "
        + word.encode("ascii")
        + b" merci.\r\n"
    )


def many_parts(count: int) -> bytes:
    """`count` tiny MIME parts in one multipart/mixed."""
    part = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return (
        _head(4)
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + part * count
        + b"--b--\r\n"
    )


def big_attachment(size: int) -> bytes:
    """A short text and a `size`-byte base64 attachment."""
    data = base64.encodebytes(os.urandom(3) * (size // 3))
    return (
        _head(5)
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\nContent-Type: text/plain\r\n\r\nVoir la facture jointe.\r\n"
        + b'--b\r\nContent-Type: application/pdf; name="f.pdf"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + data
        + b"\r\n--b--\r\n"
    )


def nested_multiparts(depth: int, lines: int = 1) -> bytes:
    """`depth` multiparts, each inside the previous one, a text of `lines` at the bottom."""
    opening = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
        for i in range(depth)
    )
    closing = b"".join(b"--b%d--\r\n" % i for i in range(depth, -1, -1))
    return (
        _head(6)
        + b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n'
        + opening
        + b"--b%d\r\nContent-Type: text/plain\r\n\r\n" % depth
        + b"fond\r\n" * lines
        + closing
    )


def long_header_lines(size: int) -> bytes:
    """A Subject, a References and an unknown header each `size` bytes long, unfolded."""
    return (
        _head(7).replace(b"Subject: hostile", b"Subject: " + b"facture " * (size // 8))
        + b"References: "
        + b"<a@b> " * (size // 6)
        + b"\r\nX-Junk: "
        + b"y" * size
        + b"\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n"
    )


def many_recipients(count: int) -> bytes:
    """`count` recipients in To (one folded header) and as many Cc headers."""
    to = b",\r\n ".join(b"user%d@example.com" % i for i in range(count))
    cc = b"".join(b"Cc: c%d@example.com\r\n" % i for i in range(count))
    return (
        _head(8).replace(b"To: support@acme-energie.fr", b"To: " + to)
        + cc
        + b"Content-Type: text/plain\r\n\r\nBonjour\r\n"
    )


def base64_garbage(size: int) -> bytes:
    """A text part declared base64 whose payload is `size` bytes of invalid base64."""
    junk = (b"!@#$%^&*()_+{}|:<>?~`" * (size // 21 + 1))[:size]
    lines = b"\r\n".join(junk[i : i + 76] for i in range(0, len(junk), 76))
    return (
        _head(9)
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + lines
        + b"\r\n"
    )


def unknown_charsets(count: int) -> bytes:
    """`count` encoded words in unknown charsets in the Subject, and a part in one too."""
    words = b" ".join(b"=?x-unknown-%d?B?w6k=?=" % (i % 50) for i in range(count))
    body = "réclamation urgente ".encode("latin-1") * (count // 10 + 1)
    return (
        _head(10).replace(b"Subject: hostile", b"Subject: " + words)
        + b'Content-Type: text/plain; charset="x-klingon-42"\r\n'
        + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + body
    )


# name -> (builder, full size used by the bench, small size used by the tests)
CORPUS: dict[str, tuple[Callable[[int], bytes], int, int]] = {
    "nested_blockquotes": (nested_blockquotes, 26_000, 2_000),
    "nested_tags": (nested_tags, 60_000, 6_000),
    "long_word": (long_word, 60_000, 6_000),
    "many_parts": (many_parts, 100_000, 5_000),
    "big_attachment": (big_attachment, 50 * 1024 * 1024, 1024 * 1024),
    "nested_multiparts": (nested_multiparts, 5_000, 500),
    "long_header_lines": (long_header_lines, 1_000_000, 50_000),
    "many_recipients": (many_recipients, 100_000, 5_000),
    "base64_garbage": (base64_garbage, 5_000_000, 200_000),
    "unknown_charsets": (unknown_charsets, 50_000, 2_000),
}
