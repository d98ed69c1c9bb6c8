"""Delivery status notifications (RFC 3464) read for bounces (issue 12.4): failed recipients
with their status, the Message-ID of what bounced; never an exception on any input."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail.autoreply import detect_auto_reply, parse_delivery_report

DSN = (Path(__file__).parent / "data" / "mail" / "dsn_postfix.eml").read_bytes()


def _msg(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=policy.compat32)


def test_postfix_dsn_gives_the_failed_recipient_status_and_original_message_id() -> None:
    msg = _msg(DSN.replace(b"MSGID_PLACEHOLDER", b"crmbot.abc123@acme-energie.fr"))
    assert detect_auto_reply(msg, "MAILER-DAEMON@mx.client.example", msg["Subject"]) == "bounce"
    report = parse_delivery_report(msg)
    [failure] = report.failures
    assert (failure.address, failure.action, failure.status) == (
        "gone@client.example",
        "failed",
        "5.1.1",
    )
    assert failure.permanent
    assert report.original_message_ids == ["crmbot.abc123@acme-energie.fr"]


def test_a_delayed_delivery_is_not_a_permanent_failure() -> None:
    raw = DSN.replace(b"Action: failed", b"Action: delayed").replace(
        b"Status: 5.1.1", b"Status: 4.4.1"
    )
    [failure] = parse_delivery_report(_msg(raw)).failures
    assert not failure.permanent


def test_original_message_id_field_is_read_when_the_headers_are_not_returned() -> None:
    raw = DSN.split(b"--BOUNDARY\nContent-Type: text/rfc822-headers")[0] + b"--BOUNDARY--\n"
    raw = raw.replace(
        b"Arrival-Date:", b"Original-Message-ID: <crmbot.x1@acme-energie.fr>\nArrival-Date:"
    )
    assert parse_delivery_report(_msg(raw)).original_message_ids == ["crmbot.x1@acme-energie.fr"]


def test_a_message_with_no_report_gives_nothing() -> None:
    msg = _msg(b"From: a@b.fr\nSubject: hello\n\nplain text\n")
    report = parse_delivery_report(msg)
    assert report.failures == [] and report.original_message_ids == []


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_in_the_report_part_never_raise(garbage: bytes) -> None:
    head, _, tail = DSN.partition(b"Reporting-MTA")
    parse_delivery_report(_msg(head + garbage + tail))
