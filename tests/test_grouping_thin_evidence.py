"""Likeness alone does not join one person's two matters of one area, end to end from a
Maildir, in French and English (issue 10, point 5: false merges).

Two billing questions of one sender, or two colleagues on one shared mailbox, share the
area's common words ("facture", "bill", "payment") and nothing specific (a number, a site,
an amount). They stay two cases, the second linked to the first for review (`related_to:`);
a chase that shares the matter's own words still joins. A bare "any update?" from a sender
with two open cases is not guessed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import rules_provider
from bot.distinctive import TABLE, build_table, shared, strip_signature, weight
from bot.registry import build_sink
from bot.store import Store
from tests.helpers.grouping import T0, all_cases
from tests.helpers.grouping import reasons as _reasons
from tests.helpers.grouping import run_cases as _run
from tests.helpers.grouping import subjects as _subjects
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.servers.smtp import PASSWORD, USERNAME, running_smtp

GILLES = "Gilles Barbier <gilles.barbier@example.fr>"
ROSIE = "Rosie Turner <rosie.turner@example.com>"
LAURA = "Laura Bennett <laura.bennett@example.com>"
GARAGE = "Garage Dupont <contact@garage-dupont.example>"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "inbox")


def _msg(sender: str, subject: str, body: str, hours: float) -> bytes:
    return make_message(sender=sender, subject=subject, body=body, date=T0 + timedelta(hours=hours))


def _tags(case: dict) -> list[str]:
    return list(case.get("tags") or [])


# -- two matters of one area, nothing specific in common: two cases, linked for review


def test_two_different_errors_on_a_bill_under_one_subject_are_two_cases_in_french(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            GILLES,
            "Erreur sur ma facture",
            "Bonjour,\nMa facture de novembre comporte une erreur : l'index du compteur "
            "utilisé est faux, bien plus élevé que mon relevé.\nGilles Barbier",
            0,
        ),
        _msg(
            GILLES,
            "Erreur sur ma facture",
            "Bonjour,\nMa facture comporte une erreur : l'abonnement est facturé deux fois "
            "ce mois-ci.\nGilles Barbier",
            70,
        ),
        _msg(
            GILLES,
            "Index faux",
            "Bonjour,\nJe n'ai toujours pas de correction de l'index du compteur sur ma "
            "facture de novembre.\nGilles Barbier",
            100,
        ),
    ]
    index, subscription = _run(store, store_url, inbox, messages)
    assert _subjects(store, index) == ["Erreur sur ma facture", "Index faux"]
    assert _subjects(store, subscription) == ["Erreur sur ma facture"]
    assert f"related_to:{index['reference']}" in _tags(subscription)
    assert "kept_apart_thin_evidence" in _reasons(store, subscription)


def test_two_different_problems_with_a_bill_are_two_cases_in_english(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            ROSIE,
            "Problem with my bill",
            "Hi,\nMy bill is wrong: you charged me for gas but I only have an electricity "
            "contract with you.\nRosie Turner",
            0,
        ),
        _msg(
            ROSIE,
            "Problem with my bill",
            "Hi,\nMy bill is wrong: the discount for paying by direct debit is missing this "
            "month.\nRosie Turner",
            50,
        ),
    ]
    gas, discount = _run(store, store_url, inbox, messages)
    assert _subjects(store, gas) == ["Problem with my bill"]
    assert _subjects(store, discount) == ["Problem with my bill"]
    assert f"related_to:{gas['reference']}" in _tags(discount)


def test_two_colleagues_on_one_shared_mailbox_about_two_bills_are_two_cases(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            GARAGE,
            "Facture d'électricité de l'atelier",
            "Bonjour,\nLa facture d'électricité de l'atelier a doublé ce mois-ci, pouvez-vous "
            "vérifier le relevé du compteur ?\nJérôme\nGarage Dupont",
            0,
        ),
        _msg(
            GARAGE,
            "Facture d'électricité de l'atelier",
            "Bonjour,\nPouvez-vous envoyer la facture d'électricité de l'atelier de "
            "septembre à notre comptable ?\nSandrine Colin, comptabilité\nGarage Dupont",
            26,
        ),
    ]
    workshop, duplicate = _run(store, store_url, inbox, messages)
    assert workshop["contact_id"] == duplicate["contact_id"]  # one contact: one mailbox
    assert _subjects(store, duplicate) == ["Facture d'électricité de l'atelier"]
    assert "kept_apart_thin_evidence" in _reasons(store, duplicate)


SYLVIE = "Sylvie Renard <sylvie.renard@example.fr>"
SIGNATURE = (
    "\nBien cordialement,\nSylvie Renard\n12 rue des Lilas, 44000 Nantes\nTél. 06 12 34 56 78"
)


def test_two_long_mails_sharing_many_of_the_areas_words_are_two_cases(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            SYLVIE,
            "Augmentation de ma mensualité",
            "Bonjour,\nJe constate sur ma facture de novembre que ma mensualité passe de 58 à "
            "91 euros à partir de décembre. Ma consommation n'a pourtant pas changé et mon "
            "espace client n'explique rien. Pouvez-vous me justifier ce nouveau montant avant "
            "le prochain prélèvement sur mon compte ?" + SIGNATURE,
            0,
        ),
        _msg(
            SYLVIE,
            "Paiement de ma facture",
            "Bonjour,\nJe souhaite arrêter le prélèvement automatique sur mon compte et payer "
            "désormais chaque facture par virement. Pouvez-vous m'indiquer la marche à suivre "
            "dans mon espace client et le RIB à utiliser pour le montant de novembre ?" + SIGNATURE,
            48,
        ),
        _msg(
            SYLVIE,
            "Mensualité à 91 euros",
            "Bonjour,\nToujours pas d'explication sur le passage de ma mensualité de 58 à 91 "
            "euros. Merci de me répondre avant le prélèvement.\nSylvie Renard",
            90,
        ),
    ]
    increase, transfer = _run(store, store_url, inbox, messages)
    assert _subjects(store, transfer) == ["Paiement de ma facture"]
    assert "kept_apart_thin_evidence" in _reasons(store, transfer)
    assert _subjects(store, increase) == ["Augmentation de ma mensualité", "Mensualité à 91 euros"]


def test_a_short_chase_naming_another_months_bill_is_not_a_chase_of_the_first(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            GILLES,
            "Erreur sur ma facture",
            "Bonjour,\nMa facture de novembre est de 236 € au lieu de 74 € habituellement, il "
            "doit y avoir une erreur de relevé.\nGilles Barbier",
            0,
        ),
        _msg(
            GILLES,
            "Facture",
            "Bonjour,\nJe n'ai toujours pas reçu ma facture de décembre.\nGilles Barbier",
            60,
        ),
    ]
    assert len(_run(store, store_url, inbox, messages)) == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            (
                "Date de prélèvement",
                "Bonjour,\nÀ quelle date sera prélevée ma prochaine mensualité ?\nPaul Girard",
            ),
            (
                "Attestation",
                "Bonjour,\nAvez-vous pu m'envoyer une attestation de domicile "
                "pour mon dossier de location ?\nPaul Girard",
            ),
        ),
        (
            ("Direct debit date", "Hello,\nWhen will my next direct debit be taken?\nPaul"),
            (
                "Letter",
                "Hello,\nJust checking: can you post me a letter confirming my "
                "address for my bank?\nPaul",
            ),
        ),
    ],
)
def test_a_short_mail_asking_for_news_of_another_matter_does_not_join_the_only_open_case(
    store: Store, store_url: str, inbox: Path, first: tuple[str, str], second: tuple[str, str]
) -> None:
    paul = "Paul Girard <paul.girard@example.fr>"
    cases = _run(store, store_url, inbox, [_msg(paul, *first, 0), _msg(paul, *second, 50)])
    assert [_subjects(store, c) for c in cases] == [[first[0]], [second[0]]]


# -- the same matter again: its own words, or an amount, still join


def test_a_fresh_subject_chase_sharing_the_matters_own_words_joins_its_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            GILLES,
            "Question sur ma facture",
            "Bonjour,\nJe ne comprends pas la ligne « contribution tarifaire d'acheminement » "
            "sur ma dernière facture. À quoi correspond-elle ?\nGilles Barbier",
            0,
        ),
        _msg(
            GILLES,
            "Contribution tarifaire",
            "Bonjour,\nJe n'ai pas eu de réponse sur la contribution tarifaire "
            "d'acheminement de ma facture. Pouvez-vous m'expliquer ?\nGilles Barbier",
            60,
        ),
    ]
    (case,) = _run(store, store_url, inbox, messages)
    assert _subjects(store, case) == ["Question sur ma facture", "Contribution tarifaire"]


def test_a_chase_quoting_the_cases_amount_joins_it_though_its_words_are_common(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [
        _msg(
            ROSIE,
            "My bill",
            "Hello,\nMy October bill is 236 GBP although I usually pay 74 GBP a month. "
            "Please check it.\nRosie Turner",
            0,
        ),
        _msg(
            ROSIE,
            "Bill error",
            "Hello,\nNo answer yet about my bill of 236 GBP.\nRosie Turner",
            48,
        ),
    ]
    (case,) = _run(store, store_url, inbox, messages)
    assert _subjects(store, case) == ["My bill", "Bill error"]


# -- a bare "any update?" and two open cases


def _two_cases(first_hours: float) -> list[bytes]:
    return [
        _msg(
            LAURA,
            "Certificate request",
            "Hello,\nCould you send me a certificate confirming my contract with you? My new "
            "landlord is asking for it.\nLaura Bennett",
            first_hours,
        ),
        _msg(
            LAURA,
            "Direct debit date",
            "Hello,\nOn which date will my next direct debit be taken? I need to be sure the "
            "money is on my account.\nLaura Bennett",
            28,
        ),
    ]


def test_a_bare_chase_with_two_open_cases_is_not_guessed_and_links_both(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [*_two_cases(0), _msg(LAURA, "Any update?", "Hi, any update?\nLaura", 75)]
    certificate, debit, chase = _run(store, store_url, inbox, messages)
    assert _subjects(store, chase) == ["Any update?"]
    assert "ambiguous_chase" in _tags(chase)
    assert {f"related_to:{c['reference']}" for c in (certificate, debit)} <= set(_tags(chase))
    assert "not guessed" in _reasons(store, chase)


def test_a_bare_chase_joins_the_only_open_case_the_sender_wrote_about_lately(
    store: Store, store_url: str, inbox: Path
) -> None:
    messages = [*_two_cases(-20 * 24), _msg(LAURA, "Any update?", "Hi, any update?\nLaura", 75)]
    certificate, debit = _run(store, store_url, inbox, messages)
    assert _subjects(store, certificate) == ["Certificate request"]
    assert _subjects(store, debit) == ["Direct debit date", "Any update?"]
    assert "status_chase_sender_case" in _reasons(store, debit)


# -- the pieces


def test_a_categorys_common_word_weighs_less_than_a_matters_own_word() -> None:
    assert weight("facture") < weight("acheminement")
    assert weight("bill") < weight("compressor")


def test_a_signature_under_the_text_is_left_out_and_the_text_kept() -> None:
    body = "Hello,\nThe power trips every afternoon.\nAnna Kowalski\nPractice manager, Brightwell"
    assert strip_signature(body) == "Hello,\nThe power trips every afternoon."
    assert strip_signature("Toujours pas de courant") == "Toujours pas de courant"


def test_a_sign_off_and_what_follows_it_are_left_out() -> None:
    body = (
        "Bonjour,\nLa facture est fausse.\nMerci d'avance,\nM. Dupont\n"
        "Responsable administratif et financier, Boulangeries Martin S.A.S."
    )
    assert strip_signature(body) == "Bonjour,\nLa facture est fausse."
    kept = "Bonjour,\nMa facture est fausse.\nMerci de vérifier."
    assert strip_signature(kept) == kept
    assert strip_signature("Hi,\nStill broken.\nKind regards, Anna") == "Hi,\nStill broken."


def test_a_word_and_its_variant_by_one_letter_are_shared() -> None:
    assert shared(frozenset({"fuit", "cave"}), frozenset({"fuite", "eau"})) == {"fuit"}
    assert shared(frozenset({"compte"}), frozenset({"compteur"})) == frozenset()


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=8))
def test_stripping_a_signature_keeps_the_first_lines_and_one_at_least(lines: list[str]) -> None:
    body = "\n".join(lines)
    kept = strip_signature(body).splitlines()
    originals = [line for line in body.splitlines() if line.strip()]
    assert kept == originals[: len(kept)]
    assert bool(kept) == bool(originals)


def test_the_shipped_word_table_is_the_bundled_corpus_counted() -> None:
    """Retraining on a changed corpus must recount the table (`bot.distinctive.build_table`)."""
    from rules.model.data import bundled_corpus

    shipped = json.loads(TABLE.read_text(encoding="utf-8"))
    assert shipped == build_table(bundled_corpus())


def test_the_answer_to_a_chase_not_guessed_asks_which_of_the_open_requests(
    store: Store, store_url: str, inbox: Path
) -> None:
    for raw in [*_two_cases(0), _msg(LAURA, "Any update?", "Hi, any update?\nLaura", 75)]:
        deliver(inbox, raw)
    with running_smtp() as server:
        sink = {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": server.port,
            "security": "plain",
            "username": USERNAME,
            "password": PASSWORD,
            "from_address": "support@acme-energie.example",
            "timeout_seconds": 5,
        }
        settings = make_settings(store_url, {"inbox": maildir_source(inbox)}, sinks={"mail": sink})
        sinks = {"mail": build_sink("mail", settings.sinks["mail"])[0]}
        maildir_worker(settings, store, rules=rules_provider(settings), sinks=sinks).run_once()
        replies = [m.message() for m in server.messages]
    certificate, debit, chase = all_cases(store)
    (question,) = [r for r in replies if chase["reference"] in r["Subject"]]
    text = question.get_content()
    assert "which request" in question["Subject"]
    assert f"{certificate['reference']}, {debit['reference']}" in text
    assert "no earlier request" not in text
