"""Issue 12.1: the last public agent reply as a status answer quotes it (date and a short,
cleaned excerpt, in French and English), asked only when a status answer is planned, and
never holding the answer when the CRM fails or hangs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bot import public_reply
from bot.public_reply import excerpt, fetch, planned, reader_for, wording
from connectors.kit.replies import PublicReply
from rules import RuleSet, load_ruleset

AT = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    public_reply.reset()
    yield
    public_reply.reset()


class _Sink:
    name = "desk"

    def __init__(self, reply: PublicReply | None = None, error: Exception | None = None) -> None:
        self.reply, self.error, self.calls = reply, error, 0
        self.release = threading.Event()
        self.hang = False

    def last_public_reply(self, ticket_id: str) -> PublicReply | None:
        self.calls += 1
        if self.hang:
            self.release.wait(10)
        if self.error is not None:
            raise self.error
        return self.reply


def test_excerpt_drops_greeting_quotes_and_signature_and_stays_short() -> None:
    text = (
        "Bonjour Madame Martin,\n\nVotre avoir de 317 € est émis.\nIl arrivera sous huit jours.\n\n"
        "Cordialement,\nPaul\n\nLe 3 mars, Chloé <c@x.fr> a écrit :\n> Où en est ma facture ?"
    )
    assert excerpt(text) == "Votre avoir de 317 € est émis. Il arrivera sous huit jours."
    long = "Hello,\n" + "word " * 200
    cut = excerpt(long, limit=50)
    assert cut.endswith("…") and len(cut) <= 51 and not cut.startswith("Hello")


def test_excerpt_of_an_html_reply_is_plain_text() -> None:
    assert excerpt("<p>Hi Anne,</p><p>Your <b>refund</b> is on its way.</p>") == (
        "Your refund is on its way."
    )


def test_reply_is_worded_with_its_date_in_the_customers_language_and_zone() -> None:
    reply = PublicReply(AT, "Bonjour,\nNous avons corrigé la facture.")
    assert wording(reply, "fr", "Europe/Paris") == (
        "Le mardi 24 novembre à 15 h 30 (heure de Paris) : « Nous avons corrigé la facture. »"
    )
    assert wording(reply, "en-GB", "Europe/Paris") == (
        "On Tuesday 24 November, 15:30 (Paris time): “Nous avons corrigé la facture.”"
    )


def test_only_a_chase_or_duplicate_from_the_verified_contact_asks_the_crm() -> None:
    base = {"relation": "follow_up", "sender_verified": True, "auto_reply": None}
    assert planned({"request": base})
    assert planned({"request": {**base, "relation": "duplicate"}})
    assert not planned({"request": {**base, "relation": "origin"}})
    assert not planned({"request": {**base, "sender_verified": False}})
    assert not planned({"request": {**base, "auto_reply": "out_of_office"}})


def test_the_reader_is_the_write_back_sink_of_the_tickets_source() -> None:
    settings = SimpleNamespace(sources={"desk_in": {"write_back": "desk"}, "inbox": {}})
    sink = _Sink()
    assert reader_for(settings, {"desk": sink}, "desk_in:42") == (sink, "42")
    assert reader_for(settings, {"desk": sink}, "inbox:42") is None
    assert reader_for(settings, {"desk": object()}, "desk_in:42") is None  # no capability


def test_a_failing_crm_gives_no_reply_and_is_left_alone_for_a_while() -> None:
    sink = _Sink(error=OSError("connection refused"))
    assert fetch(sink, "42") is None
    assert fetch(sink, "42") is None
    assert sink.calls == 1  # paused after the failure


def test_a_hanging_crm_never_holds_the_answer() -> None:
    sink = _Sink(reply=PublicReply(AT, "late"))
    sink.hang = True
    try:
        assert fetch(sink, "42", wait=0.05) is None
        assert fetch(sink, "42", wait=0.05) is None  # paused: no second read piles up
        assert sink.calls == 1
    finally:
        sink.release.set()


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_ruleset()


@pytest.mark.parametrize(
    ("lang", "said"),
    [("fr", "Dernière réponse de notre équipe"), ("en", "Our team's last reply")],
)
def test_status_answer_quotes_the_last_reply_in_the_customers_language(
    pack: RuleSet, lang: str, said: str
) -> None:
    quoted = wording(PublicReply(AT, "Refund sent."), lang, "Europe/Paris")
    facts = {
        "request": {
            "relation": "follow_up", "sender_verified": True, "subject": "Relance",
            "body": "Où en est ma demande ?", "language": lang, "channel": "email",
            "sender_email": "client@example.fr", "received_at": AT,
        },
        "case": {
            "reference": "CB-15", "status": "open", "follow_up_count": 1,
            "category": "billing", "last_public_reply": quoted,
        },
        "contact": {"email": "client@example.fr", "name": "Anne"},
    }  # fmt: skip
    decision = pack.decide(facts, event="case.follow_up", now=AT)
    [answer] = [a for a in decision.actions if a.type == "send_reply"]
    assert said in answer.params["body"] and quoted in answer.params["body"]
