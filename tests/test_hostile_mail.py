"""Hostile mail costs linear memory and work, and never crashes the parser or the rules.

Bounds are on what can be measured deterministically: tracemalloc peaks (with a generous
margin), output sizes, and counts of operations. Never on wall time.
"""

from __future__ import annotations

import email.feedparser
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.facts import build_facts
from bot.mail.mime import bound_structure, parse_bytes
from bot.mail.parse import parse_email
from bot.mail.text import html_to_text
from bot.models import SourceRecord
from bot.stages.normalise import request_from_email
from rules import load_ruleset
from rules.text import TermMatcher, TextIndex
from tests.helpers import hostile
from tests.helpers.hostile import CORPUS

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MIB = 1024 * 1024
MAX_BODY = 200_000


@pytest.fixture(scope="module")
def ruleset() -> Any:
    """The default rule pack, warmed up: one-time loads (the model, the date formats of each
    language) are not the cost of the hostile item measured after them."""
    pack = load_ruleset()
    for subject, body in (
        ("Facture fausse", "Bonjour, ma facture est fausse, merci de corriger."),
        ("Wrong invoice", "Hello, my invoice is wrong, please correct it."),
    ):
        raw = f"From: a@b.example\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()
        _parse_and_decide(raw, pack)
    return pack


def _peak(fn: Callable[[], object]) -> int:
    """Peak traced memory (bytes) while fn runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _parse_and_decide(raw: bytes, ruleset: Any) -> Any:
    record = SourceRecord(source="s", source_id="1", kind="email", raw=raw, received_at=NOW)
    request = request_from_email(record, MAX_BODY)
    ruleset.decide(build_facts(request, None, None), now=NOW)
    return request


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_hostile_mail_is_parsed_and_decided_within_linear_memory(
    name: str, ruleset: Any
) -> None:
    build, _full, small = CORPUS[name]
    raw = build(small)
    result: list[Any] = []
    peak = _peak(lambda: result.append(_parse_and_decide(raw, ruleset)))
    (request,) = result
    assert len(request.body_text) <= MAX_BODY
    assert len(request.body_clean) <= len(request.body_text)
    # a parsed copy or two of the input, plus a constant: the quadratic versions took
    # 18 MiB for a 6 KB word and 12 MiB for a 28 KB blockquote nest at these sizes
    assert peak < 12 * len(raw) + 2 * MIB, f"{name}: {peak / MIB:.1f} MiB for {len(raw)} bytes"


@pytest.mark.parametrize("name", ["nested_blockquotes", "long_word", "nested_tags"])
def test_memory_grows_linearly_with_the_hostile_part(name: str, ruleset: Any) -> None:
    build, _full, small = CORPUS[name]
    peaks = [_peak(lambda n=n: _parse_and_decide(build(n), ruleset)) for n in (small, 4 * small)]
    # linear: x4; the quadratic code gave x16 (blockquotes) and x15 (one long word)
    assert peaks[1] < 6 * peaks[0] + MIB, [p // 1024 for p in peaks]


def test_nested_blockquotes_give_text_linear_in_the_input() -> None:
    depth = 5_000
    text = html_to_text("<blockquote>x\n" * depth)
    assert text.count("x") == depth
    assert len(text) <= 20 * depth  # quote marks are capped: was depth**2 characters
    assert text.splitlines()[-1] == "> " * 8 + "x"


def test_prefix_index_holds_only_prefixes_as_long_as_the_longest_prefix_term() -> None:
    matcher = TermMatcher.compile(["factur*", "avoca*", "mise en demeure"])
    index = TextIndex.of("Bonjour " + "facturation" * 6_000 + " merci")
    assert matcher.found(index) == ["factur*"]
    assert max(map(len, index.prefixes_upto(6))) == 6
    assert len(index.prefixes_upto(6)) < 20  # was 66,000 prefixes of up to 66,000 characters


@given(
    words=st.lists(st.text(alphabet="abcdeéfz", min_size=1, max_size=40), max_size=30),
    stem=st.text(alphabet="abcdeéfz", min_size=3, max_size=12),
)
@settings(max_examples=200, deadline=None)
def test_a_prefix_term_matches_exactly_the_tokens_it_starts(words: list[str], stem: str) -> None:
    index = TextIndex.of(" ".join(words))
    matcher = TermMatcher.compile([f"{stem}*"])
    expected = any(tok.startswith(TextIndex.of(stem).tokens[0]) for tok in index.tokens)
    assert (matcher.found(index) == [f"{stem}*"]) == expected


@pytest.fixture
def boundary_tests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the calls of the feedparser's boundary predicates (its per-line work)."""
    calls = [0]
    push = email.feedparser.BufferedSubFile.push_eof_matcher

    def counting_push(self: Any, pred: Callable[[str], object]) -> None:
        def counted(line: str) -> object:
            calls[0] += 1
            return pred(line)

        counted.__self__ = getattr(pred, "__self__", None)  # type: ignore[attr-defined]
        push(self, counted)

    monkeypatch.setattr(email.feedparser.BufferedSubFile, "push_eof_matcher", counting_push)
    yield calls


def test_nested_multiparts_test_each_line_against_few_boundaries(
    boundary_tests: list[int],
) -> None:
    raw = hostile.nested_multiparts(90, lines=20_000)
    parse_bytes(raw)
    lines = raw.count(b"\n")
    # the stdlib tests every line against every enclosing boundary: 90 x 20,000 calls
    assert boundary_tests[0] < 3 * lines


def test_nested_multiparts_deeper_than_the_cap_are_cut_and_said() -> None:
    mail = parse_email(hostile.nested_multiparts(500))
    assert any("cut after 100 multiparts" in d for d in mail.defects)


def test_many_tiny_parts_are_cut_before_the_parser_builds_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = [0]
    new_message = email.feedparser.FeedParser._new_message

    def counting(self: Any) -> None:
        built[0] += 1
        new_message(self)

    monkeypatch.setattr(email.feedparser.FeedParser, "_new_message", counting)
    mail = parse_email(hostile.many_parts(20_000))
    assert built[0] <= 1_002  # was 20,001 message objects
    assert any("cut after 1000 MIME boundaries" in d for d in mail.defects)


def test_the_structure_cut_keeps_ordinary_mail_whole() -> None:
    raw = hostile.big_attachment(10_000)
    assert bound_structure(raw, 100, 1000) == (raw, None)
    text = b"Subject: x\r\n\r\n" + b"-- \r\nsignature\r\n" * 3000  # dashes, no boundary
    assert bound_structure(text, 100, 1000) == (text, None)


def test_unknown_charsets_and_base64_garbage_are_read_with_defects() -> None:
    mail = parse_email(hostile.unknown_charsets(200))
    assert "réclamation" in mail.body_text
    assert any("unknown charset" in d for d in mail.defects)
    garbage = parse_email(hostile.base64_garbage(10_000))
    assert garbage.message_id == "hostile-9@example.com"


def test_long_headers_and_many_recipients_are_capped() -> None:
    mail = parse_email(hostile.long_header_lines(200_000))
    assert len(mail.subject) <= 16_384
    assert all(len(v) <= 2_000 for v in mail.headers.values())
    many = parse_email(hostile.many_recipients(3_000))
    assert 0 < len(many.to) < 1_000 and "to header truncated to 16384 characters" in many.defects
    assert len(many.cc) == 3_000


def test_a_base64_attachment_is_sized_without_being_decoded() -> None:
    (attachment,) = parse_email(hostile.big_attachment(300_000)).attachments
    assert (attachment.filename, attachment.size) == ("f.pdf", 300_000)


_BOUNDARIES = st.sampled_from(["b", "b-", "b--", "bb", "=_x", "a b", "x.y", "b1", "b10"])
_LINES = st.lists(
    st.sampled_from(["text", "", "--", "--b", "--b--", "--b-", "--bb", "--b1 ", "-- b", "--=_x"]),
    max_size=6,
)


@st.composite
def _mime_trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Multiparts nested up to 3 deep, with boundaries that prefix each other and body
    lines that look like boundaries."""
    if depth >= 3 or draw(st.booleans()):
        body = "\r\n".join(draw(_LINES))
        return f"Content-Type: text/plain\r\n\r\n{body}\r\n".encode()
    boundary = draw(_BOUNDARIES)
    children = draw(st.lists(_mime_trees(depth + 1), min_size=0, max_size=3))
    closed = draw(st.booleans())
    parts = b"".join(b"--%s\r\n%s" % (boundary.encode(), child) for child in children)
    end = b"--%s--\r\n" % boundary.encode() if closed else b""
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\npreamble\r\n'
    return head.encode() + parts + end + b"\r\n".join(x.encode() for x in draw(_LINES))


def _shape(msg: Any) -> list[tuple[str, object, list[str]]]:
    return [
        (
            part.get_content_type(),
            None if part.is_multipart() else part.get_payload(),
            [type(d).__name__ for d in part.defects],
        )
        for part in msg.walk()
    ]


@given(raw=_mime_trees())
@settings(max_examples=300, deadline=None)
def test_the_linear_boundary_test_parses_exactly_like_the_stdlib(raw: bytes) -> None:
    from email import policy
    from email.parser import BytesParser

    expected = BytesParser(policy=policy.compat32).parsebytes(raw)
    assert _shape(parse_bytes(raw)) == _shape(expected)
