"""Machine-sent mail (out-of-office, bounces, lists) is recognised; human mail is not."""

from __future__ import annotations

import email
import email.policy

import pytest

from bot.mail import detect_auto_reply, parse_email


def mail(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


HUMAN = """From: Jean Dupont <jean@exemple.fr>
To: support@acme.fr
Subject: {subject}
Message-ID: <human-1@exemple.fr>
{extra}Content-Type: text/plain; charset=utf-8

Bonjour, ma commande n'est pas arrivée.
"""


def human(subject: str = "Commande 4521", extra: str = "") -> bytes:
    return mail(HUMAN.format(subject=subject, extra=extra))


def test_out_of_office_english_exchange() -> None:
    raw = mail(
        """From: Jane Doe <jane@example.com>
To: support@acme.com
Subject: Automatic reply: Your ticket 42
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset=utf-8

I am out of the office until March 10th with limited access to email.
"""
    )
    assert parse_email(raw).auto_reply == "auto_submitted"


def test_out_of_office_french_recognised_by_subject_alone() -> None:
    for subject in (
        "Réponse automatique : Votre demande 42",
        "Absence du bureau",
        "Absent du bureau : retour le 10 mars",
        "Out of Office: ticket 42",
        "Message d'absence",
    ):
        raw = mail(
            f"From: marie@exemple.fr\nTo: support@acme.fr\nSubject: {subject}\n\n"
            "Je suis absente jusqu'au 10 mars. En cas d'urgence, contactez Paul.\n"
        )
        assert parse_email(raw).auto_reply == "out_of_office_subject", subject


def test_encoded_french_out_of_office_subject() -> None:
    raw = mail(
        "From: marie@exemple.fr\nSubject: =?utf-8?q?R=C3=A9ponse_automatique_=3A_Facture?=\n\nx\n"
    )
    assert parse_email(raw).auto_reply == "out_of_office_subject"


BOUNCE = """From: Mail Delivery System <MAILER-DAEMON@mx.acme.fr>
To: support@acme.fr
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: <bounce-1@mx.acme.fr>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BND"

--BND
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.acme.fr.
I'm sorry to have to inform you that your message could not be delivered.

<old@exemple.fr>: host mx.exemple.fr said: 550 5.1.1 User unknown

--BND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.fr

Final-Recipient: rfc822; old@exemple.fr
Action: failed
Status: 5.1.1

--BND
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: support@acme.fr
To: old@exemple.fr
Subject: Votre ticket 42

--BND--
"""


def test_bounce_multipart_report() -> None:
    parsed = parse_email(mail(BOUNCE))
    assert parsed.auto_reply == "bounce"
    assert "User unknown" in parsed.body_text
    assert [a.content_type for a in parsed.attachments] == [
        "message/delivery-status",
        "text/rfc822-headers",
    ]


def test_bounce_recognised_without_report_structure() -> None:
    plain = BOUNCE.split("MIME-Version")[0] + "\nYour message could not be delivered.\n"
    assert parse_email(mail(plain)).auto_reply == "bounce"  # MAILER-DAEMON sender
    by_subject = mail("From: robot@mx.example\nSubject: Undeliverable: Facture\n\nx\n")
    assert parse_email(by_subject).auto_reply == "bounce"
    null_path = mail("Return-Path: <>\nFrom: robot@mx.example\nSubject: hello\n\nx\n")
    assert parse_email(null_path).auto_reply == "bounce"


def test_mailing_list_message() -> None:
    raw = human(
        subject="[acme-users] Release 2.0",
        extra="List-Id: Acme users <acme-users.lists.acme.org>\n"
        "List-Unsubscribe: <mailto:acme-users-leave@lists.acme.org>\n",
    )
    parsed = parse_email(raw)
    assert parsed.auto_reply == "list_mail"
    assert parsed.headers["list-id"] == "Acme users <acme-users.lists.acme.org>"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("Precedence: bulk\n", "precedence_bulk"),
        ("Precedence: junk\n", "precedence_junk"),
        ("Precedence: list\n", "precedence_list"),
        ("X-Autoreply: yes\n", "x_autoreply"),
        ("X-Autorespond: Vacation\n", "x_autoreply"),
        ("X-Auto-Response-Suppress: OOF, AutoReply\n", "x_auto_response_suppress"),
        ("Auto-Submitted: auto-generated\n", "auto_submitted"),
        ("Auto-Submitted: auto-replied; owner-email=x@y.z\n", "auto_submitted"),
        ("X-Loop: yes\n", "x_loop"),
        ("X-Failed-Recipients: old@exemple.fr\n", "bounce"),
    ],
)
def test_auto_reply_headers(extra: str, reason: str) -> None:
    assert parse_email(human(extra=extra)).auto_reply == reason


@pytest.mark.parametrize(
    "subject",
    [
        "Commande 4521",
        "Absence de réponse à ma réclamation",
        "Undelivered parcel",
        "Delivery failure of my order",
        "Out of office hours support?",
        "Re: Automatic replies are not working on my account",
    ],
)
def test_human_mail_is_not_an_auto_reply(subject: str) -> None:
    assert parse_email(human(subject)).auto_reply is None


def test_auto_submitted_no_is_human() -> None:
    assert parse_email(human(extra="Auto-Submitted: no\n")).auto_reply is None


def test_detect_auto_reply_accepts_a_default_policy_message() -> None:
    msg = email.message_from_bytes(human(extra="Precedence: bulk\n"), policy=email.policy.default)
    assert detect_auto_reply(msg, "jean@exemple.fr", "Commande") == "precedence_bulk"
    assert detect_auto_reply(msg, "postmaster@exemple.fr", "Commande") == "bounce"
