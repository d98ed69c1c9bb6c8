"""Legal risk, formal notices and the confusions users reported (issue 10), FR and EN.

Every message here is written for these tests (none comes from the corpus or the eval set):
they prove what the default pack and the shipped model decide together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import RuleSet, load_ruleset
from rules.decision import Decision
from rules.model import default_model
from rules.model.cues import AMOUNT, AMOUNT_LEGAL, LEGAL, NEG_LEGAL, amount_cues, legal_cues
from rules.model.features import analyse

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_ruleset()


def decide(pack: RuleSet, subject: str, body: str, lang: str) -> Decision:
    facts = {"request": {"subject": subject, "body": body, "language": lang, "channel": "email"}}
    return pack.decide(facts, now=NOW)


def codes(d: Decision) -> set[str]:
    return {r.code for r in d.reasons}


# ------------------------------------------------------------------------- the cues


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rassurez-vous, je n'irai jamais au tribunal pour si peu.", NEG_LEGAL),
        ("I am not planning to contact a lawyer about this.", NEG_LEGAL),
        ("Si vous ne me remboursez pas je saisis le tribunal.", LEGAL),
        ("If you don't refund me by Friday I will sue.", LEGAL),
        ("Je n'hésiterai pas à saisir un avocat.", LEGAL),
        ("I won't hesitate to involve my solicitor.", LEGAL),
        ("Pas de réponse depuis un mois, je saisis le médiateur.", LEGAL),
    ],
)
def test_a_legal_word_is_negated_only_by_a_negation_before_it_in_the_same_statement(
    text: str, expected: str
) -> None:
    assert legal_cues(None, text, 4000) == {expected: 1}


def test_words_with_no_legal_sense_give_no_cue() -> None:
    assert legal_cues("Process update", "Our procurement process changed.", 4000) == {}


@pytest.mark.parametrize(
    "text",
    [
        "Vous m'avez prélevé 187 € de trop.",
        "You charged me £486.20 in exit fees.",
        "A fee of 1'240 CHF that I dispute.",
        "Please refund the $89.99 taken twice.",
        "Trois mois que j'attends mes 800 euros de caution.",
    ],
)
def test_a_sum_of_money_is_an_amount_cue(text: str) -> None:
    assert amount_cues(None, text, 4000, legal=False) == {AMOUNT: 1}


@pytest.mark.parametrize(
    "text",
    ["Rendez-vous le 12 mars à 10 h.", "Our 2 users cannot log in.", "Contrat n° 4410-2281."],
)
def test_numbers_that_are_no_sum_of_money_give_no_amount_cue(text: str) -> None:
    assert amount_cues("Objet", text, 4000, legal=True) == {}


def test_a_sum_of_money_beside_a_legal_threat_adds_the_amount_legal_cue() -> None:
    threat = analyse("Litige", "Je conteste ces 640 € : sans remboursement je saisis le tribunal.")
    assert threat[AMOUNT] == 1 and threat[AMOUNT_LEGAL] == 1
    calm = analyse("Facture", "Je conteste ces 640 €, je n'irai pas au tribunal pour autant.")
    assert calm[AMOUNT] == 1 and AMOUNT_LEGAL not in calm


@given(st.text(max_size=300), st.text(max_size=300), st.booleans())
@settings(max_examples=80, deadline=None)
def test_a_sum_anywhere_in_a_message_is_found_and_only_the_amount_cues_come_out(
    before: str, after: str, legal: bool
) -> None:
    plain = amount_cues(None, before + after, 4000, legal)
    assert set(plain) <= {AMOUNT, AMOUNT_LEGAL}
    assert (AMOUNT_LEGAL in plain) == (legal and AMOUNT in plain)
    assert AMOUNT in amount_cues(None, f"{before} pour 42 € {after}", 4000, legal)


def test_the_model_says_how_many_words_it_read() -> None:
    pred = default_model().predict("Bonjour", "Je souhaite changer mon adresse de livraison.")
    assert pred.signals["words"] == 8  # subject and body


# ------------------------------------------------------------- legal risk and P1


@pytest.mark.parametrize(
    ("subject", "body", "lang"),
    [
        (
            "Courrier recommandé – facture 2026-7781",
            "Madame, Monsieur,\n\nMalgré mes deux réclamations, vous continuez à me facturer "
            "un abonnement résilié en août. Par la présente je vous mets en demeure de me "
            "rembourser 238,40 € sous quinze jours.\n\nBien à vous,\nÉric Vallet",
            "fr",
        ),
        (
            "Formal notice – account 55-9012",
            "Dear Sir or Madam,\n\nThis letter is formal notice that you have failed to repair "
            "the boiler covered by my service plan since 2 November. Unless it is repaired "
            "within 7 days I will have it done elsewhere and claim the cost from you.\n\n"
            "Yours faithfully,\nMartin Doyle",
            "en",
        ),
    ],
)
def test_a_formal_notice_is_legal_risk_at_p1(
    pack: RuleSet, subject: str, body: str, lang: str
) -> None:
    d = decide(pack, subject, body, lang)
    assert {"legal_risk", "formal_notice"} <= codes(d)
    assert d.priority == "P1" and "legal_risk" in d.tags


@pytest.mark.parametrize(
    ("subject", "body", "lang"),
    [
        (
            "Mes données",
            "Bonjour,\n\nJe vous demande, au titre du RGPD, la liste des informations que vous "
            "conservez sur moi et la suppression de mon numéro de téléphone de vos fichiers "
            "de prospection.\n\nMerci, Laure Besnard",
            "fr",
        ),
        (
            "Complaint going to the regulator",
            "Hello,\n\nSix weeks and three calls later my meter is still being estimated at "
            "double the real reading. I've had enough: I'm taking this to the energy "
            "ombudsman next week and I've kept every email.\n\nAnn Foley",
            "en",
        ),
    ],
)
def test_a_data_request_or_an_ombudsman_threat_is_legal_risk(
    pack: RuleSet, subject: str, body: str, lang: str
) -> None:
    d = decide(pack, subject, body, lang)
    assert "legal_risk" in codes(d) and d.priority in ("P1", "P2")


# ----------------------------------------------------------- what is not legal risk


@pytest.mark.parametrize(
    ("subject", "body", "lang"),
    [
        (
            "Legal name change",
            "Hi there,\n\nMy legal name is now Robin Ashcroft (it was Robin Clegg before the "
            "wedding). Please change it on my account and on the next bills.\n\nRobin",
            "en",
        ),
        (
            "Nouvelle forme juridique",
            "Bonjour,\n\nNotre société est devenue une SAS le 1er octobre (auparavant SARL). "
            "Merci de modifier la raison sociale sur nos contrats et nos factures, le SIRET "
            "reste le même.\n\nCordialement, Hélène Marty",
            "fr",
        ),
        (
            "Copies of invoices",
            "Good afternoon,\n\nCould you send us PDF copies of the invoices for our three "
            "office lines from April to June? Our auditors are visiting next week.\n\n"
            "Kind regards,\nJanet Price\nOffice manager, Price & Hollis Attorneys at Law",
            "en",
        ),
        (
            "Petit remboursement",
            "Bonjour,\n\nJe ne vais évidemment pas aller en justice pour 12 euros, mais les frais "
            "d'envoi de la box devaient être offerts. Pouvez-vous me les rembourser ?\n\n"
            "Merci, Paul Ravier",
            "fr",
        ),
    ],
)
def test_legal_words_in_an_everyday_sense_are_not_legal_risk(
    pack: RuleSet, subject: str, body: str, lang: str
) -> None:
    d = decide(pack, subject, body, lang)
    assert "legal_risk" not in codes(d) and "formal_notice" not in codes(d)


def test_without_the_model_every_legal_term_counts(tmp_path: Path) -> None:
    ruleset = load_ruleset()
    ruleset.model = None
    d = decide(ruleset, "Avocat", "Mon avocat vous écrira lundi au sujet de la facture.", "fr")
    assert "legal_risk" in codes(d)


# ------------------------------------------------- the confusions users reported


@pytest.mark.parametrize(
    ("subject", "body", "lang"),
    [
        (
            "Date du prélèvement",
            "Bonjour,\n\nMon salaire arrive désormais le 27. Est-il possible que le prélèvement "
            "mensuel soit fait le 28 au lieu du 2 ? Je garde mon abonnement tel quel.\n\n"
            "Merci d'avance, Chloé Sartre",
            "fr",
        ),
        (
            "Direct debit - new date",
            "Hello,\n\nI'd like my monthly direct debit to be taken on the 18th instead of the "
            "4th from next month, as my salary date has changed. Everything else stays the "
            "same.\n\nThanks, Imran Qureshi",
            "en",
        ),
    ],
)
def test_a_debit_date_change_is_not_a_cancellation(
    pack: RuleSet, subject: str, body: str, lang: str
) -> None:
    assert decide(pack, subject, body, lang).category in ("billing", "admin_update")


@pytest.mark.parametrize(
    ("subject", "body", "lang"),
    [
        (
            "Caution du badge",
            "Bonjour,\n\nJ'ai rendu le badge d'accès au parking le 4 novembre à l'accueil. Les "
            "40 € de caution devaient m'être rendus. Pouvez-vous faire le virement sur mon "
            "compte habituel ?\n\nMerci, Anne Colas",
            "fr",
        ),
        (
            "Security deposit",
            "Hi,\n\nWe handed the keys back on 31 October and the inspection found nothing. When "
            "will the £900 security deposit be paid back to us?\n\nThanks, Joe and Mia",
            "en",
        ),
    ],
)
def test_a_deposit_refund_is_billing(pack: RuleSet, subject: str, body: str, lang: str) -> None:
    assert decide(pack, subject, body, lang).category == "billing"


@pytest.mark.parametrize(
    ("subject", "body", "escalated"),
    [
        (
            "Invoices for our auditors",
            "Good afternoon,\n\nCould you send us PDF copies of the invoices for our three "
            "office lines from April to June? Our auditors come next week.\n\nJanet Price\n"
            "Office manager, Price & Hollis Attorneys at Law",
            False,
        ),
        (
            "Litige facture",
            "Bonjour,\n\nMalgré trois réclamations vous refusez de corriger la facture. J'ai "
            "transmis le dossier à mon avocat, qui vous écrira cette semaine.\n\nM. Ferrand",
            True,
        ),
    ],
)
def test_only_a_legal_matter_is_escalated_to_the_legal_team(
    pack: RuleSet, subject: str, body: str, escalated: bool
) -> None:
    facts = {
        "request": {
            "subject": subject,
            "body": body,
            "language": "en",
            "channel": "email",
            "sender_email": "someone@example.org",
        }
    }
    d = pack.decide(facts, now=NOW)
    assert ("legal_risk_escalation" in {a.rule_id for a in d.actions}) is escalated
