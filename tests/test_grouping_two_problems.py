"""One person's two problems in one area stay two cases, and each chase finds its own case,
end to end from a Maildir, in French and English (issue 10: false merges).

The evidence against a merge is what each mail names (two invoice numbers, two sites, two
devices) or says ("autre problème", "on a separate issue"); the evidence for it is what a
chase names of one case, or a chase's lack of content when the contact has one open case.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.store import Store
from tests.helpers.grouping import KARIM, RACHEL, T0
from tests.helpers.grouping import reasons as _reasons
from tests.helpers.grouping import run_cases as _run
from tests.helpers.grouping import subjects as _subjects
from tests.helpers.mail import make_maildir, make_message


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "inbox")


def _msg(sender: str, subject: str, body: str, hours: float) -> bytes:
    return make_message(sender=sender, subject=subject, body=body, date=T0 + timedelta(hours=hours))


# -- two invoices, two sites, two devices: two cases, each chase in its own


def test_an_invoice_error_and_a_second_invoices_payment_method_are_two_cases_in_french(
    store: Store, store_url: str, inbox: Path
) -> None:
    sign = "\nCordialement,\nKarim Benali\nClient n° 40021877"
    messages = [
        _msg(
            KARIM,
            "Erreur sur ma facture",
            "Bonjour,\nMa facture n° F2026-10-4412 affiche 312,40 € alors que mon contrat "
            "prévoit 89 € par mois. Pouvez-vous la corriger ?" + sign,
            0,
        ),
        _msg(
            KARIM,
            "Question sur ma facture",
            "Bonjour,\nPour la facture n° F2026-11-0587, je souhaiterais payer par virement "
            "plutôt que par carte. Pouvez-vous m'indiquer votre RIB ?" + sign,
            50,
        ),
        _msg(
            KARIM,
            "Facture F2026-10-4412 toujours pas corrigée",
            "Bonjour,\nJe n'ai toujours pas de réponse concernant l'erreur sur ma facture "
            "F2026-10-4412.",
            100,
        ),
        _msg(
            KARIM,
            "Paiement par virement",
            "Bonjour,\nJ'attends toujours votre RIB pour régler la facture F2026-11-0587.",
            120,
        ),
    ]
    error, payment = _run(store, store_url, inbox, messages)
    assert _subjects(store, error) == [
        "Erreur sur ma facture",
        "Facture F2026-10-4412 toujours pas corrigée",
    ]
    assert _subjects(store, payment) == ["Question sur ma facture", "Paiement par virement"]
    assert "kept_apart_conflict" in _reasons(store, payment)
    assert "F2026-11-0587, not F2026-10-4412" in _reasons(store, payment)


def test_two_outages_on_two_sites_are_two_cases_and_each_chase_joins_its_site_in_english(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            RACHEL,
            "Power outage at our Leeds office",
            "Hello,\nSince 7am there is no power at our office, 12 Harbour Street, Leeds. "
            "Thirty staff cannot work. Please send an engineer urgently.\nRachel Adams",
            0,
        ),
        _msg(
            RACHEL,
            "Power cut at the Bradford warehouse",
            "Hello,\nThe power has gone at our warehouse, 4 Mill Lane, Bradford, since noon. "
            "The freezers are at risk. Please send an engineer.\nRachel Adams",
            5,
        ),
        _msg(
            RACHEL,
            "RE: Power outage at our Leeds office",
            "Any ETA for the engineer? Still no power at Harbour Street.",
            24,
        ),
        _msg(
            RACHEL,
            "Bradford warehouse still without electricity",
            "Hello,\nStill no electricity at the Mill Lane warehouse.",
            26,
        ),
    ]
    leeds, bradford = _run(store, store_url, inbox, messages)
    assert (leeds["request_count"], bradford["request_count"]) == (2, 2)
    assert "Leeds" in leeds["subject"] and "Bradford" in bradford["subject"]
    assert "kept_apart_conflict" in _reasons(store, bradford)


def test_two_devices_with_two_serial_numbers_are_two_cases(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            RACHEL,
            "Router keeps dropping the connection",
            "Hi,\nMy router (serial RX4-558120) drops the internet connection every evening.",
            0,
        ),
        _msg(
            RACHEL,
            "Router problem",
            "Hi,\nThe router at my mother's, serial RX4-771204, drops the connection too.",
            20,
        ),
    ]
    assert len(_run(store, store_url, inbox, messages)) == 2


# -- a mail that says it raises another matter


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            (
                "Problème espace client",
                "Bonjour,\nJe n'arrive plus à me connecter à mon espace client depuis la mise à "
                "jour, mon mot de passe est refusé.",
            ),
            (
                "Espace client",
                "Bonjour,\nAutre problème sur l'espace client : je ne trouve plus mes factures "
                "à télécharger depuis la mise à jour.",
            ),
        ),
        (
            (
                "Smart meter display blank",
                "Hello,\nThe display of my smart meter has been blank since Sunday.",
            ),
            (
                "Smart meter",
                "Hello,\nOn a separate issue: the smart meter display shows the wrong tariff.",
            ),
        ),
    ],
)
def test_a_mail_that_says_it_raises_another_matter_opens_its_own_case(
    store: Store, store_url: str, inbox: Path, first: tuple[str, str], second: tuple[str, str]
) -> None:
    messages = [_msg(KARIM, *first, 0), _msg(KARIM, *second, 20)]
    _, new = _run(store, store_url, inbox, messages)
    assert "kept_apart_new_matter" in _reasons(store, new)


# -- what must still join


def test_the_same_invoice_number_written_two_ways_joins_the_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            KARIM,
            "Facture erronée",
            "Bonjour,\nLa facture FA-2026-00871 ne tient pas compte de la remise de 15 %.",
            0,
        ),
        _msg(
            KARIM,
            "Remise oubliée",
            "Bonjour,\nJe reviens vers vous pour la remise sur la facture FA 2026 00871.",
            90,
        ),
    ]
    (case,) = _run(store, store_url, inbox, messages)
    assert case["follow_up_count"] == 1


@pytest.mark.parametrize(
    ("chase_subject", "chase_body", "joins"),
    [
        ("Leeds branch still offline", "Hi,\nLeeds is still offline, any news?", 0),
        ("York", "Hi,\nAny news on the York line? Still down.", 1),
    ],
)
def test_a_chase_naming_one_of_two_open_cases_joins_that_case(
    store: Store, store_url: str, inbox: Path, chase_subject: str, chase_body: str, joins: int
) -> None:
    messages = [
        _msg(
            RACHEL,
            "No internet at the Leeds branch",
            "Hello,\nThe internet line at our Leeds branch has been down since 9am.",
            0,
        ),
        _msg(
            RACHEL,
            "No internet at the York branch",
            "Hello,\nThe internet line at our York branch is down since this morning.",
            2,
        ),
        _msg(RACHEL, chase_subject, chase_body, 6),
    ]
    cases = _run(store, store_url, inbox, messages)
    assert [c["request_count"] for c in cases] == [2 if i == joins else 1 for i in range(2)]
    assert "chase_names_case" in _reasons(store, cases[joins])


@pytest.mark.parametrize(
    ("first", "chase", "joins"),
    [
        (
            (
                "Facture de régularisation",
                "Je conteste la facture de régularisation de mars : "
                "l'index relevé ne correspond pas à mon compteur, merci de la corriger.",
            ),
            ("Facture", "Toujours pas réglé !"),
            True,
        ),
        (
            (
                "Late fee",
                "Why was I charged a late payment fee on my last invoice? I paid on "
                "time by bank transfer, please remove the fee.",
            ),
            ("Fee", "Still not fixed!"),
            True,
        ),
        (
            (
                "Facture de régularisation",
                "Je conteste la facture de régularisation de mars : "
                "l'index relevé ne correspond pas à mon compteur, merci de la corriger.",
            ),
            ("Carte", "Toujours pas reçu ma carte d'accès."),
            False,
        ),
    ],
)
def test_a_chase_of_a_few_words_joins_the_only_open_case_unless_about_something_else(
    store: Store,
    store_url: str,
    inbox: Path,
    first: tuple[str, str],
    chase: tuple[str, str],
    joins: bool,
) -> None:
    cases = _run(store, store_url, inbox, [_msg(KARIM, *first, 0), _msg(KARIM, *chase, 30)])
    assert len(cases) == (1 if joins else 2)


def test_a_fairly_alike_request_after_weeks_of_silence_is_kept_apart_for_review(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            RACHEL,
            "Wrong amount on my invoice",
            "Hello, my October invoice shows 240 euros but my usual monthly amount is 85. "
            "Could you check what went wrong?",
            0,
        ),
        _msg(
            RACHEL,
            "Invoice amount problem",
            "Hi, my invoice shows 190 euros instead of the usual 85 amount per month. "
            "Can someone look at it?",
            24 * 20,
        ),
    ]
    _, new = _run(store, store_url, inbox, messages)
    assert any(t.startswith("possible_repeat:") for t in new["tags"])


def test_a_chase_about_as_alike_two_open_cases_is_not_guessed(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(RACHEL, "Power cut at the Leeds office", "Hello, no power at our Leeds office.", 0),
        _msg(RACHEL, "Power cut at the York office", "Hello, no power at our York office.", 2),
        _msg(RACHEL, "Power cut", "Still no power at the office. Any news on the power cut?", 6),
    ]
    cases = _run(store, store_url, inbox, messages)
    assert [c["request_count"] for c in cases] == [1, 1, 1]
    assert "ambiguous_cases" in _reasons(store, cases[2])
