"""parse_email on CPython's odd-message corpus and on hand-written real-world mails."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail import ParsedEmail, parse_email
from bot.models import Attachment
from tests.helpers.stores import in_ci


def _corpus_dir() -> Path | None:
    """CPython's email test data (Debian: libpython3.11-testsuite), if installed."""
    try:
        spec = importlib.util.find_spec("test.test_email")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return data if data.is_dir() else None


CORPUS = _corpus_dir()
needs_corpus = pytest.mark.skipif(
    CORPUS is None and not in_ci(),  # in CI the corpus must be there: a missing one fails
    reason="CPython email test data missing (apt-get install libpython3.11-testsuite)",
)


def corpus(name: str) -> ParsedEmail:
    assert CORPUS is not None
    return parse_email((CORPUS / name).read_bytes())


def mail(text: str, *, charset: str = "utf-8") -> bytes:
    """A raw message from readable text: CRLF line ends, encoded in `charset`."""
    return text.replace("\n", "\r\n").encode(charset)


def assert_clean_parse(parsed: ParsedEmail) -> None:
    assert parsed.message_id
    assert not any("internal parser error" in d for d in parsed.defects), parsed.defects


# ------------------------------------------------------------------------ CPython corpus


@needs_corpus
def test_every_corpus_message_parses_with_a_message_id() -> None:
    assert CORPUS is not None
    files = sorted(CORPUS.glob("msg_*.txt"))
    assert len(files) >= 40
    for path in files:
        parsed = parse_email(path.read_bytes())
        assert_clean_parse(parsed)
        assert " " not in parsed.message_id and "<" not in parsed.message_id, path.name


@needs_corpus
def test_corpus_simple_message_headers() -> None:
    parsed = corpus("msg_01.txt")
    assert parsed.message_id == "15090.61304.110929.45684@aaa.zzz.org"
    assert parsed.sender_email == "bbb@ddd.com"
    assert parsed.sender_name == "John X. Doe"  # the old "addr (Name)" form
    assert parsed.to == ["bbb@zzz.org"]
    assert parsed.subject == "This is a test message"
    assert parsed.date == datetime(2001, 5, 4, 18, 5, 44, tzinfo=UTC)
    assert "Do you like this message?" in parsed.body_text
    assert parsed.defects == []


@needs_corpus
def test_corpus_missing_message_id_gets_the_content_hash_id() -> None:
    assert CORPUS is not None
    raw = (CORPUS / "msg_07.txt").read_bytes()
    parsed = parse_email(raw)
    assert parsed.message_id == f"{hashlib.sha256(raw).hexdigest()[:32]}@crmbot.invalid"
    assert any("Message-ID missing" in d for d in parsed.defects)


@needs_corpus
def test_corpus_base64_attachment_is_listed_with_its_decoded_size() -> None:
    parsed = corpus("msg_07.txt")
    assert parsed.body_text == "Hi there,\n\nThis is the dingus fish."
    assert parsed.attachments == [Attachment("dingusfish.gif", "image/gif", 3512)]
    parsed = corpus("msg_22.txt")
    assert [a.filename for a in parsed.attachments] == ["wibble.JPG", "wibble2.JPG"]
    assert [a.size for a in parsed.attachments] == [272, 317]
    assert parsed.body_text == "Text text text.\n\nText text text."
    assert corpus("msg_26.txt").attachments == [Attachment("clock.bmp", "application/riscos", 630)]


@needs_corpus
def test_corpus_transfer_encodings_and_charsets_are_decoded() -> None:
    parsed = corpus("msg_10.txt")  # 7bit, quoted-printable latin-1 HTML, base64, none
    assert "This is a 7bit encoded message." in parsed.body_text
    assert "¡This is a Quoted Printable encoded message!" in parsed.body_text
    assert "This is a Base64 encoded message." in parsed.body_text
    assert "This has no Content-Transfer-Encoding: header." in parsed.body_text


@needs_corpus
def test_corpus_delivery_report_is_a_bounce_with_its_parts_listed() -> None:
    parsed = corpus("msg_16.txt")
    assert parsed.auto_reply == "bounce"
    assert parsed.sender_email == "postmaster@ucla.edu"
    assert "recipient reached disk quota" in parsed.body_text
    assert [a.content_type for a in parsed.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert parsed.attachments[1].filename == "[scr] yeah for Ians!!.eml"
    assert corpus("msg_25.txt").auto_reply == "bounce"  # From MAILER-DAEMON
    null_sender = corpus("msg_43.txt")  # From: MAILER DAEMON <>
    assert null_sender.sender_email is None
    assert null_sender.auto_reply == "bounce"


@needs_corpus
def test_corpus_two_to_headers_are_merged() -> None:
    assert corpus("msg_25.txt").to == [
        "linuxuser-admin@www.linux.org.uk",
        "postmaster@zinfandel.lacita.com",
    ]


@needs_corpus
def test_corpus_precedence_bulk_is_flagged() -> None:
    assert corpus("msg_32.txt").auto_reply == "precedence_bulk"


@needs_corpus
def test_corpus_signed_message_body_and_signature_attachment() -> None:
    parsed = corpus("msg_45.txt")
    assert parsed.body_text == "This is the signed contents."
    assert parsed.attachments == [Attachment("signature.asc", "application/pgp-signature", 189)]


@needs_corpus
def test_corpus_top_level_forwarded_message_gives_its_body() -> None:
    parsed = corpus("msg_46.txt")  # Content-Type: message/rfc822 at the top
    assert parsed.body_text == "Testing email forwarding with Groupwise 1.2.2010"
    assert parsed.subject == "GroupwiseForwardingTest"
    assert parsed.attachments == []


@needs_corpus
def test_corpus_multipart_without_boundary_is_read_as_text() -> None:
    parsed = corpus("msg_41.txt")
    assert parsed.body_text == "Blah blah blah"
    assert any("no boundary" in d for d in parsed.defects)


@needs_corpus
def test_corpus_digest_items_are_message_attachments() -> None:
    parsed = corpus("msg_02.txt")
    assert len(parsed.attachments) == 5
    assert {a.content_type for a in parsed.attachments} == {"message/rfc822"}
    assert parsed.attachments[0].filename == "[Ppp] testing #1.eml"


# -------------------------------------------------------------------- hand-written mails

FRENCH_QP = mail(
    """Return-Path: <jose.garcia@exemple.fr>
Message-ID: <CAF-123.456@mail.exemple.fr>
In-Reply-To: <ticket-42-2@acme.fr>
References: <ticket-42-1@acme.fr>
 <ticket-42-2@acme.fr> <ticket-42-1@acme.fr>
From: =?iso-8859-1?q?Jos=E9_Garc=EDa?= <Jose.Garcia@Exemple.FR>
Reply-To: compta@exemple.fr
To: Service client <support@acme.fr>, SUPPORT@acme.fr
Cc: "Dupont, Marie" <marie.dupont@exemple.fr>
Subject: =?utf-8?q?RE=3A_Facture_impay=C3=A9e_?=
 =?utf-8?q?n=C2=B0_2025-118?=
Date: Mon, 3 Mar 2025 10:12:00 +0100
X-Mailer: Microsoft Outlook 16.0
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Bonjour,

Je n'ai toujours pas re=C3=A7u la facture corrig=C3=A9e. Pouvez-vous me la=
 renvoyer ?

Cordialement,
Jos=C3=A9 Garc=C3=ADa
"""
)


def test_french_mail_headers_are_decoded() -> None:
    parsed = parse_email(FRENCH_QP)
    assert parsed.message_id == "CAF-123.456@mail.exemple.fr"
    assert parsed.in_reply_to == "ticket-42-2@acme.fr"
    assert parsed.references == ["ticket-42-1@acme.fr", "ticket-42-2@acme.fr"]
    assert parsed.sender_email == "jose.garcia@exemple.fr"
    assert parsed.sender_name == "José García"
    assert parsed.reply_to == "compta@exemple.fr"
    assert parsed.to == ["support@acme.fr"]
    assert parsed.cc == ["marie.dupont@exemple.fr"]
    assert parsed.subject == "RE: Facture impayée n° 2025-118"
    assert parsed.date == datetime(2025, 3, 3, 9, 12, tzinfo=UTC)
    assert parsed.headers["x-mailer"] == "Microsoft Outlook 16.0"
    assert parsed.headers["subject"] == parsed.subject
    assert parsed.defects == []


def test_french_mail_body_is_decoded_cleaned_and_detected_as_french() -> None:
    parsed = parse_email(FRENCH_QP)
    assert "reçu la facture corrigée. Pouvez-vous me la renvoyer ?" in parsed.body_text
    assert parsed.body_text.endswith("José García")
    assert parsed.body_clean == (
        "Bonjour,\n\nJe n'ai toujours pas reçu la facture corrigée. Pouvez-vous me la renvoyer ?"
    )
    assert parsed.language == "fr"
    assert parsed.auto_reply is None


def test_iso_8859_1_body() -> None:
    raw = mail(
        """From: client@exemple.fr
Subject: Commande
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: 8bit

Réf. commande n°123 : reçue à 10h, merci.
""",
        charset="latin-1",
    )
    parsed = parse_email(raw)
    assert parsed.body_text == "Réf. commande n°123 : reçue à 10h, merci."
    assert not any("charset" in d for d in parsed.defects)


def test_windows_1252_body_and_mislabelled_latin1() -> None:
    body = "Montant : 120 € – l’offre “spéciale”".encode("cp1252")
    for label in ("windows-1252", "iso-8859-1"):  # Outlook labels cp1252 text as latin-1
        raw = mail(f"From: a@b.fr\nContent-Type: text/plain; charset={label}\n\n") + body
        parsed = parse_email(raw)
        assert parsed.body_text == "Montant : 120 € – l’offre “spéciale”", label


def test_unknown_charset_falls_back_and_says_so() -> None:
    head = "From: a@b.fr\nSubject: x\nContent-Type: text/plain; charset=x-unknown-charset\n\n"
    parsed = parse_email(mail(head) + "Café crème".encode())
    assert parsed.body_text == "Café crème"
    assert any("unknown charset 'x-unknown-charset'" in d for d in parsed.defects)
    parsed = parse_email(mail(head) + "Café crème".encode("latin-1"))
    assert parsed.body_text == "Café crème"  # not utf-8: cp1252


def test_invalid_bytes_for_the_declared_charset_fall_back() -> None:
    raw = mail("From: a@b.fr\nContent-Type: text/plain; charset=utf-8\n\n") + b"Caf\xe9"
    parsed = parse_email(raw)
    assert parsed.body_text == "Café"
    assert any(
        "invalid in declared charset 'utf-8'; decoded as cp1252" in d for d in parsed.defects
    )


def test_rfc2231_charset_on_an_8bit_body() -> None:
    # compat32's get_payload() raises TypeError on this combination; the parser avoids it.
    raw = b"From: a@b.fr\r\nContent-Type: text/plain; charset*=us-ascii''utf-8\r\n\r\ncaf\xc3\xa9"
    parsed = parse_email(raw)
    assert_clean_parse(parsed)
    assert parsed.body_text == "café"


def test_encoded_words_split_mid_character_or_mixing_charsets() -> None:
    raw = (
        b"From: a@b.fr\r\nSubject: =?utf-8?q?caf=C3?= =?utf-8?q?=A9?= =?iso-8859-1?q?_cr=E8me?="
        b" =?utf-8?b?IOKCrA==?=\r\n\r\nx"
    )
    assert parse_email(raw).subject == "café crème €"


def test_raw_8bit_and_unknown_charset_headers_are_decoded() -> None:
    raw = (
        mail("From: =?x-bogus?q?Ren=C3=A9?= <rene@exemple.fr>\nTo: a@b.fr\n")
        + "Subject: Problème de facturation\r\n\r\nBonjour\r\n".encode()
    )
    parsed = parse_email(raw)
    assert parsed.subject == "Problème de facturation"
    assert parsed.sender_name == "René"
    assert any("raw 8-bit bytes in subject header" in d for d in parsed.defects)
    assert any("unknown charset 'x-bogus'" in d for d in parsed.defects)


HTML_ONLY = mail(
    """From: Boutique <no-reply@boutique.example>
To: client@example.com
Subject: Your order
Message-ID: <html-1@boutique.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

"""
    + base64.encodebytes(
        b"<html><head><style>p{color:red}</style><title>t</title></head><body>"
        b"<p>Hello&nbsp;John,</p><p>Your order <b>#4521</b> has shipped.<br>Track it "
        b"<a href='https://t.example/4521'>here</a>.</p><ul><li>1 x Lamp</li><li>2 x Bulb</li>"
        b"</ul><script>track()</script></body></html>"
    ).decode()
)


def test_html_only_mail_becomes_readable_text() -> None:
    parsed = parse_email(HTML_ONLY)
    assert parsed.body_text == (
        "Hello John,\n\nYour order #4521 has shipped.\nTrack it here.\n\n- 1 x Lamp\n- 2 x Bulb"
    )
    assert parsed.language == "en"


NESTED = mail(
    """From: Jane Doe <jane@example.com>
To: support@acme.com
Subject: Contract attached
Message-ID: <nested-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8

Please find the signed contract attached.

--inner
Content-Type: text/html; charset=utf-8

<p>Please find the <b>signed</b> contract attached.</p><p>Jane &mdash; Example Ltd</p>

--inner--

--outer
Content-Type: application/pdf; name="contract.pdf"
Content-Disposition: attachment; filename*=UTF-8''Contrat%20sign%C3%A9%20%E2%80%93%202025.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK

--outer
Content-Type: text/plain; charset=utf-8; name="notes.txt"
Content-Disposition: attachment;
 filename*0*=utf-8''not%C3%A9;
 filename*1="s.txt"

these notes are an attachment, not the body

--outer
Content-Type: image/png
Content-Disposition: attachment; filename="=?utf-8?b?w6l0w6kucG5n?="
Content-Transfer-Encoding: base64

iVBORw0KGgo=

--outer
Content-Type: message/rfc822

From: old@example.com
Subject: Earlier thread

old body

--outer--
"""
)


def test_nested_alternative_prefers_plain_and_lists_attachments() -> None:
    parsed = parse_email(NESTED)
    assert parsed.body_text == "Please find the signed contract attached."
    assert parsed.attachments == [
        Attachment("Contrat signé – 2025.pdf", "application/pdf", 48),
        Attachment("notés.txt", "text/plain", 45),
        Attachment("été.png", "image/png", 8),
        Attachment("Earlier thread.eml", "message/rfc822", 56),
    ]
    assert "notes are an attachment" not in parsed.body_text


def test_alternative_falls_back_to_html_when_plain_is_empty() -> None:
    raw = mail(
        """From: a@b.com
Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/plain

\x20
--b
Content-Type: text/html

<p>Only the <i>HTML</i> says something.</p>
--b--
"""
    )
    assert parse_email(raw).body_text == "Only the HTML says something."


OUTLOOK_FR_REPLY = mail(
    """From: Jean Dupont <jean.dupont@dupont-fils.fr>
To: support@acme.fr
Subject: RE: Commande 45872
Message-ID: <outlook-fr-1@dupont-fils.fr>
In-Reply-To: <ticket-45872@acme.fr>
Content-Type: text/plain; charset="windows-1252"
Content-Transfer-Encoding: quoted-printable

Bonjour,

Je n=92ai toujours pas re=E7u la facture de ma commande.

Cordialement,
Jean Dupont
T=E9l : 01 23 45 67 89

De : Service client Acme <support@acme.fr>
Envoy=E9 : lundi 3 mars 2025 10:12
=C0 : Jean Dupont <jean.dupont@dupont-fils.fr>
Objet : RE: Commande 45872

Bonjour Monsieur Dupont,
Votre commande sera exp=E9di=E9e sous 48 heures.
"""
)


def test_outlook_french_reply_keeps_only_the_new_text() -> None:
    parsed = parse_email(OUTLOOK_FR_REPLY)
    assert "Votre commande sera expédiée" in parsed.body_text
    assert parsed.body_clean == ("Bonjour,\n\nJe n’ai toujours pas reçu la facture de ma commande.")
    assert parsed.language == "fr"


OUTLOOK_HTML_REPLY = (
    b"From: Jean <jean@exemple.fr>\r\nSubject: RE: adresse\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    + """<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>
<style><!--
p.MsoNormal {margin:0cm;}
--></style><!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" /></xml><![endif]--></head>
<body lang=FR><div class=WordSection1><p class=MsoNormal>Bonjour,<o:p></o:p></p>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>Merci de corriger l’adresse de facturation.<o:p></o:p></p>
<p class=MsoNormal>Cordialement,<o:p></o:p></p><p class=MsoNormal>Jean<o:p></o:p></p>
<div style='border:none;border-top:solid #E1E1E1 1.0pt'><p class=MsoNormal>
<b>De&nbsp;:</b> Support &lt;support@acme.fr&gt;<br><b>Envoyé&nbsp;:</b> lundi 3 mars 2025
10:12<br><b>À&nbsp;:</b> Jean<br><b>Objet&nbsp;:</b> RE: adresse<o:p></o:p></p></div>
<p class=MsoNormal>Bonjour Jean, ancien message<o:p></o:p></p></div></body></html>
""".encode()
)


def test_outlook_html_reply_is_converted_and_stripped() -> None:
    parsed = parse_email(OUTLOOK_HTML_REPLY)
    assert "p.MsoNormal" not in parsed.body_text
    assert "De : Support <support@acme.fr>\nEnvoyé : lundi 3 mars 2025 10:12" in parsed.body_text
    assert parsed.body_clean == "Bonjour,\n\nMerci de corriger l’adresse de facturation."
    assert parsed.language == "fr"


def test_gmail_reply_keeps_only_the_new_text() -> None:
    raw = mail(
        """From: John Smith <john@example.com>
To: support@acme.com
Subject: Re: Ticket 42
Message-ID: <CAB+gmail-1@mail.gmail.com>
In-Reply-To: <ticket-42@acme.com>
References: <ticket-42@acme.com>
Content-Type: text/plain; charset="UTF-8"

Thanks, the new invoice is correct.

On Mon, Mar 3, 2025 at 10:12 AM Acme Support <support@acme.com> wrote:

> Hello John,
>
> Please find the corrected invoice attached.
>
> Best regards,
> Acme Support
"""
    )
    parsed = parse_email(raw)
    assert parsed.body_clean == "Thanks, the new invoice is correct."
    assert parsed.in_reply_to == "ticket-42@acme.com"
    assert parsed.language == "en"


def test_french_gmail_reply_keeps_only_the_new_text() -> None:
    raw = mail(
        """From: Marie <marie@exemple.fr>
Subject: Re: Devis
Content-Type: text/plain; charset=UTF-8

C'est parfait, je valide le devis.

Le lun. 3 mars 2025 à 10:12, Paul Martin <paul@acme.fr> a écrit :

> Bonjour Marie,
> Voici le devis demandé.
"""
    )
    assert parse_email(raw).body_clean == "C'est parfait, je valide le devis."


def test_html_gmail_reply_quote_is_stripped_from_body_clean() -> None:
    raw = mail(
        """From: Marie <marie@exemple.fr>
Subject: Re: Devis
Content-Type: text/html; charset=UTF-8

<div dir="ltr">Je valide le devis.</div><br><div class="gmail_quote"><div dir="ltr"
 class="gmail_attr">Le lun. 3 mars 2025 à 10:12, Paul &lt;paul@acme.fr&gt; a écrit&nbsp;:<br>
</div><blockquote class="gmail_quote">Bonjour Marie,<br>Voici le devis.</blockquote></div>
"""
    )
    parsed = parse_email(raw)
    assert "> Voici le devis." in parsed.body_text
    assert parsed.body_clean == "Je valide le devis."


def test_format_flowed_lines_are_joined() -> None:
    raw = mail(
        "From: a@b.fr\nContent-Type: text/plain; charset=utf-8; format=flowed\n\n"
        "Bonjour, ceci est une longue ligne \ncoupée par le client.\n\n> citation \n> suite\n"
    )
    parsed = parse_email(raw)
    assert parsed.body_text.startswith("Bonjour, ceci est une longue ligne coupée par le client.")
    assert "> citation suite" in parsed.body_text


def test_missing_and_broken_headers_give_defects_not_errors() -> None:
    raw = b"Subject: hello\r\nDate: not a date\r\nMessage-ID: <broken\r\n\r\nbody"
    parsed = parse_email(raw)
    assert parsed.message_id == "broken"  # unbracketed but usable
    assert parsed.date is None
    assert parsed.sender_email is None
    assert any("invalid Date" in d for d in parsed.defects)
    assert any("no sender address" in d for d in parsed.defects)

    parsed = parse_email(b"Message-ID: <a b c>\r\n\r\nx")
    assert parsed.message_id.endswith("@crmbot.invalid")
    assert any("Message-ID unparsable" in d for d in parsed.defects)


def test_sender_falls_back_to_sender_then_return_path() -> None:
    parsed = parse_email(b"From: nobody\r\nSender: Real One <REAL@x.org>\r\n\r\nhi")
    assert (parsed.sender_email, parsed.sender_name) == ("real@x.org", "Real One")
    parsed = parse_email(b"Return-Path: <bounce@x.org>\r\n\r\nhi")
    assert parsed.sender_email == "bounce@x.org"


def test_date_without_zone_is_utc_and_zones_are_converted() -> None:
    parsed = parse_email(b"Date: Mon, 3 Mar 2025 10:12:00 -0000\r\n\r\nx")
    assert parsed.date == datetime(2025, 3, 3, 10, 12, tzinfo=UTC)
    parsed = parse_email(b"Date: Mon, 3 Mar 2025 23:30:00 -0500\r\n\r\nx")
    assert parsed.date == datetime(2025, 3, 4, 4, 30, tzinfo=UTC)


def test_nul_bytes_and_long_bodies() -> None:
    parsed = parse_email(b"From: a@b.fr\r\nSubject: a\x00b\r\n\r\nhel\x00lo")
    assert parsed.subject == "ab"
    assert parsed.body_text == "hello"
    assert "NUL bytes removed" in parsed.defects
    long_raw = b"From: a@b.fr\r\n\r\n" + b"word " * 10_000
    parsed = parse_email(long_raw, max_body_chars=1000)
    assert len(parsed.body_text) == 1000
    assert any("body truncated" in d for d in parsed.defects)


def test_enormous_line_and_absurd_nesting_do_not_break_the_parser() -> None:
    parsed = parse_email(b"From: a@b.fr\r\nSubject: " + b"x" * 200_000 + b"\r\n\r\n" + b"y" * 10**6)
    assert len(parsed.subject) <= 16_384
    assert len(parsed.body_text) == 200_000
    deep = b"From: a@b.fr\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for i in range(1, 3000):
        deep += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
    parsed = parse_email(deep)
    assert_clean_parse(parsed)
    assert parsed.sender_email == "a@b.fr"
    assert any("MIME" in d for d in parsed.defects)


# ------------------------------------------------------------------------ property tests

_HEADERS = (
    b"From: Jean <jean@exemple.fr>\r\nTo: support@acme.fr\r\nSubject: Test\r\n"
    b"Message-ID: <prop@exemple.fr>\r\n"
)
_CONTENT_TYPES = st.sampled_from(
    [
        b"text/plain",
        b"text/html",
        b"multipart/mixed; boundary=zz",
        b"multipart/alternative; boundary=zz",
        b"message/rfc822",
        b"multipart/report; report-type=delivery-status; boundary=zz",
        b"application/pdf",
    ]
)
_CHARSETS = st.sampled_from(
    [b"", b"; charset=utf-8", b"; charset=x-weird", b"; charset=utf-7", b"; charset*=x''utf-8"]
)
_ENCODINGS = st.sampled_from([b"", b"base64", b"quoted-printable", b"8bit", b"x-uuencode"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise_and_are_deterministic(raw: bytes) -> None:
    first = parse_email(raw)
    assert_clean_parse(first)
    assert parse_email(raw) == first


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content_type=_CONTENT_TYPES,
    charset=_CHARSETS,
    encoding=_ENCODINGS,
    body=st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(str.encode)),
    subject=st.text(max_size=200),
)
def test_arbitrary_text_under_valid_headers_never_raises(
    content_type: bytes, charset: bytes, encoding: bytes, body: bytes, subject: str
) -> None:
    raw = (
        _HEADERS
        + b"X-Subject: "
        + subject.encode("utf-8", "surrogatepass")
        + b"\r\nContent-Type: "
        + content_type
        + charset
        + (b"\r\nContent-Transfer-Encoding: " + encoding if encoding else b"")
        + b"\r\n\r\n"
        + body
    )
    first = parse_email(raw)
    assert_clean_parse(first)
    assert first.message_id == "prop@exemple.fr"
    assert first.sender_email == "jean@exemple.fr"
    assert parse_email(raw) == first
    assert all(isinstance(a, Attachment) for a in first.attachments)
