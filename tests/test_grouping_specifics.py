"""What singles out one matter (bot/specifics.py): numbers with what they number, sites,
amounts, months of bills, and the words that say a mail raises another matter (FR and EN)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.specifics import compare, says_new_matter, specifics_of
from bot.topic import topic_of


def _kinds(subject: str, body: str) -> set[tuple[str, str]]:
    return {(i.kind, i.key) for i in specifics_of(subject, body).identifiers}


def _compare(new: tuple[str, str], case: tuple[str, str], sender: frozenset[str] = frozenset()):
    return compare(
        specifics_of(*new),
        topic_of(*new).words - sender,
        specifics_of(*case),
        topic_of(*case).words - sender,
        sender,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ma facture n° F2026-10-4412 est fausse", {("invoice", "2026104412")}),
        ("Invoice INV-88213 applies VAT", {("invoice", "88213")}),
        ("le contrat n° 7720 4419 01 (appartement)", {("contract", "7720441901")}),
        ("My order 5512048 is missing items", {("order", "5512048")}),
        ("mon compteur (PDL 2148 6690 1375 02)", {("supply", "21486690137502")}),
        ("my router (serial RX4-558120) drops", {("device", "4558120")}),
        ("please terminate CN-209944", {("ref:cn", "209944")}),
    ],
)
def test_a_number_is_read_with_what_it_numbers_in_both_languages(
    text: str, expected: set[tuple[str, str]]
) -> None:
    assert _kinds("", text) == expected


def test_a_supply_point_and_the_meter_on_it_are_not_in_conflict() -> None:
    origin = ("Index faux", "Mon compteur (PDL 2148 6690 1375 02) affiche un index faux.")
    chase = ("Index", "Toujours faux : le compteur n° 0987 6543 21 affiche 48 210 kWh.")
    assert not _compare(chase, origin).conflicts


def test_the_same_number_written_two_ways_has_one_key() -> None:
    assert _kinds("", "la facture FA-2026-00871") == _kinds("", "la facture FA 2026 00871")
    assert _kinds("", "contrat n° 30 4471 8820") == _kinds("", "le contrat 3044718820")


def test_dates_and_phone_numbers_are_not_identifiers() -> None:
    assert not _kinds("", "Le relevé du 2026-11-02, appelez-moi au 06 39 98 12 34")
    assert {k for k, _ in _kinds("", "customer number 40021877, phone 07700 900123")} == {"party"}


def test_two_invoice_numbers_conflict_but_a_shared_customer_number_does_not_join() -> None:
    first = ("Erreur sur ma facture", "Facture n° F2026-10-4412 fausse. Client n° 40021877")
    second = ("Paiement", "Pour la facture n° F2026-11-0587, virement ? Client n° 40021877")
    comparison = _compare(second, first)
    assert comparison.conflicts and "F2026-11-0587" in comparison.conflicts[0]
    assert not comparison.shared


def test_a_chase_naming_the_same_invoice_and_a_customer_number_shares_without_conflict() -> None:
    first = ("Invoice INV-88213 VAT wrong", "Invoice INV-88213 applies 20% VAT.")
    chase = ("VAT", "Still waiting about invoice INV-88213. My account number is 55012874.")
    comparison = _compare(chase, first)
    assert comparison.shared and not comparison.conflicts


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            ("Panne de chauffage", "Le chauffage de l'agence de Villeurbanne est en panne."),
            ("Panne de chauffage", "Même souci à l'agence de Bron : plus de chauffage."),
        ),
        (
            ("Power outage", "No power at our office, 12 Harbour Street, Leeds."),
            ("Power cut", "The power has gone at our warehouse, 4 Mill Lane, Bradford."),
        ),
    ],
)
def test_two_sites_of_one_kind_conflict(first: tuple[str, str], second: tuple[str, str]) -> None:
    assert _compare(second, first).conflicts
    assert _compare(first, second).conflicts


def test_a_site_mentioned_in_the_case_words_is_shared_not_a_conflict() -> None:
    first = ("No internet at the Leeds branch", "The line at our Leeds branch is down.")
    chase = ("Still offline", "The Leeds office is still offline, any news?")
    comparison = _compare(chase, first)
    assert not comparison.conflicts and comparison.shared


def test_a_company_name_under_the_signature_is_no_shared_site() -> None:
    sender = frozenset({"mark", "patel"})
    camden = ("Fridge alarm - Camden branch", "The fridge at our Camden branch.\nPatel Pharmacy")
    islington = ("Fridge alarm - Islington branch", "Same alarm.\nPatel Pharmacy")
    comparison = _compare(islington, camden, sender)
    assert comparison.conflicts and not comparison.shared


def test_amounts_and_months_of_bills_that_differ_are_weak_evidence_only() -> None:
    first = ("Facture", "Ma facture d'octobre est de 236 € au lieu de 74 €.")
    second = ("Paiement", "Je voudrais régler ma facture de novembre (180 €) en trois fois.")
    comparison = _compare(second, first)
    assert not comparison.conflicts and len(comparison.differ) == 2


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Bonjour, autre problème sur l'espace client : la rubrique est vide.", True),
        ("Une deuxième demande concernant les prélèvements : passer au 15.", True),
        ("Par ailleurs, je n'ai jamais reçu l'attestation.", True),
        ("J'ai une autre facture impayée.", True),
        ("Hello, on a separate issue: my bill shows my old address.", True),
        ("I have another problem with the smart meter.", True),
        ("Hello. Separately, the app does not work.", True),
        ("Concernant l'autre problème, avez-vous des nouvelles ?", False),
        ("Any news on my other request?", False),
        ("Je me permets de vous relancer pour ma facture.", False),
        ("I will pay separately, thanks.", False),
        ("Pouvez-vous fixer un nouveau rendez-vous ?", False),
    ],
)
def test_a_mail_saying_it_raises_another_matter_is_recognised_in_both_languages(
    text: str, cue: bool
) -> None:
    assert (says_new_matter("", text) is not None) is cue


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


@given(texts, texts)
def test_reading_specifics_never_fails(subject: str, body: str) -> None:
    found = specifics_of(subject, body)
    assert all(i.key for i in found.identifiers) and all(s.words for s in found.sites)
    assert isinstance(compare(found, frozenset(), found, frozenset()).conflicts, tuple)
