"""A customer hits "reply" on an old thread to raise another matter: the reply opens its own
case, linked to the old one; a reply that adds details, corrects itself or answers the
agent stays in its case. End to end from a Maildir, in French and English (issue 10).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.requests import requests_of_case
from tests.helpers.grouping import KARIM, RACHEL, T0
from tests.helpers.grouping import reasons as _reasons
from tests.helpers.grouping import run_cases as _run
from tests.helpers.grouping import subjects as _subjects
from tests.helpers.mail import make_maildir, make_message

FIRST_ID = "first@example.fr"
AGENT_ID = "agent-answer@acme-energie.fr"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "inbox")


def _first(sender: str, subject: str, body: str) -> bytes:
    return make_message(sender=sender, subject=subject, body=body, date=T0, message_id=FIRST_ID)


def _reply(
    sender: str, subject: str, body: str, hours: float = 30, message_id: str | None = None
) -> bytes:
    return make_message(
        sender=sender,
        subject=subject,
        body=body,
        date=T0 + timedelta(hours=hours),
        message_id=message_id,
        in_reply_to=FIRST_ID,
        references=[FIRST_ID],
    )


def _bodies(store: Store, case: dict) -> list[str]:
    with store.connect() as conn:
        return [r["body_clean"] for r in requests_of_case(conn, case["id"])]


INVOICE_FR = (
    "Erreur sur ma facture",
    "Bonjour,\nMa facture n° F2026-10-4412 affiche 312,40 € au lieu de 89 €. Merci de la "
    "corriger.\nCordialement,\nKarim Benali\nClient n° 40021877",
)
METER_EN = (
    "Meter reading wrong on contract CN-204518",
    "Hello,\nThe reading used for contract CN-204518 is 48211 kWh but the meter shows 41870. "
    "Please correct it.\nKind regards,\nRachel Adams",
)
QUOTE_FR = "\n\nLe 23/11/2026, Karim Benali a écrit :\n> " + INVOICE_FR[1].replace("\n", "\n> ")


# -- a reply that raises another matter: a new case, related to the old one


@pytest.mark.parametrize(
    ("sender", "first", "reply", "named"),
    [
        (
            KARIM,
            INVOICE_FR,
            (
                "RE: Erreur sur ma facture",
                "Bonjour,\nAutre chose : la facture n° F2026-11-0587 n'a pas été prélevée alors "
                "que j'ai un mandat. Pouvez-vous vérifier ?" + QUOTE_FR,
            ),
            "invoice F2026-11-0587, not F2026-10-4412",
        ),
        (
            RACHEL,
            METER_EN,
            (
                "RE: Meter reading wrong on contract CN-204518",
                "Hello,\nThe bill for my other contract CN-377120 was sent to my old address, "
                "please update it.\nRachel",
            ),
            "contract CN-377120, not CN-204518",
        ),
        (
            KARIM,
            (
                "Coupure d'électricité agence de Bron",
                "Bonjour,\nPlus de courant depuis 6 h dans notre agence de Bron. Merci "
                "d'intervenir en urgence.\nKarim Benali",
            ),
            (
                "RE: Coupure d'électricité agence de Bron",
                "Bonjour,\nCe matin c'est notre site de Villeurbanne qui n'a plus de courant. "
                "Pouvez-vous envoyer quelqu'un ?\nKarim Benali",
            ),
            "place Villeurbanne, not Bron",
        ),
    ],
    ids=["fr-other-invoice", "en-other-contract", "fr-other-site"],
)
def test_a_reply_naming_another_identifier_of_the_same_kind_opens_a_related_case(
    store: Store,
    store_url: str,
    inbox: Path,
    sender: str,
    first: tuple[str, str],
    reply: tuple[str, str],
    named: str,
) -> None:
    old, new = _run(store, store_url, inbox, [_first(sender, *first), _reply(sender, *reply)])
    assert _subjects(store, old) == [first[0]]
    assert _subjects(store, new) == [reply[0]]
    assert f"related_to:{old['reference']}" in new["tags"]
    reasons = _reasons(store, new)
    assert "kept_apart_new_matter_in_reply" in reasons
    assert named in reasons


@pytest.mark.parametrize(
    ("sender", "first", "reply"),
    [
        (
            RACHEL,
            METER_EN,
            (
                "Direct debit failed",
                "Hello,\nOn a separate note, my direct debit for October failed and I was "
                "charged a fee. Could you retry it?\nRachel",
            ),
        ),
        (
            KARIM,
            INVOICE_FR,
            (
                "Compteur bloqué",
                "Bonjour,\nNouveau problème : mon compteur affiche une erreur et ne transmet "
                "plus les relevés depuis lundi." + QUOTE_FR,
            ),
        ),
    ],
    ids=["en-separate-note", "fr-nouveau-probleme"],
)
def test_a_reply_saying_new_matter_under_a_new_subject_opens_a_related_case(
    store: Store,
    store_url: str,
    inbox: Path,
    sender: str,
    first: tuple[str, str],
    reply: tuple[str, str],
) -> None:
    old, new = _run(store, store_url, inbox, [_first(sender, *first), _reply(sender, *reply)])
    assert f"related_to:{old['reference']}" in new["tags"]
    assert "under a new subject" in _reasons(store, new)


def test_later_replies_follow_their_own_thread_after_a_reply_was_kept_apart(
    store: Store, store_url: str, inbox: Path
) -> None:
    split = _reply(
        KARIM,
        "RE: Erreur sur ma facture",
        "Bonjour,\nPar ailleurs, la facture F2026-11-0587 n'a pas été prélevée.",
        message_id="split@example.fr",
    )
    chase_new = make_message(
        sender=KARIM,
        subject="RE: Erreur sur ma facture",
        body="Bonjour,\nDes nouvelles du prélèvement ?",
        date=T0 + timedelta(hours=60),
        in_reply_to="split@example.fr",
        references=[FIRST_ID, "split@example.fr"],
    )
    chase_old = _reply(
        KARIM, "RE: Erreur sur ma facture", "Bonjour,\nToujours rien pour ma facture ?", 70
    )
    messages = [_first(KARIM, *INVOICE_FR), split, chase_new, chase_old]
    old, new = _run(store, store_url, inbox, messages)
    assert _bodies(store, old)[1].startswith("Bonjour,\nToujours rien")
    assert [b.split("\n")[1][:20] for b in _bodies(store, new)] == [
        "Par ailleurs, la fac",
        "Des nouvelles du pré",
    ]


# -- a reply that stays: details, a correction, an answer to the agent


@pytest.mark.parametrize(
    ("sender", "first", "reply"),
    [
        (
            RACHEL,
            METER_EN,
            (
                "RE: Meter reading wrong on contract CN-204518",
                "Hello,\nThe meter is in the garage, the access code is 4411 if your "
                "technician needs it.\nRachel",
            ),
        ),
        (
            RACHEL,
            METER_EN,
            (
                "RE: Meter reading wrong on contract CN-204518",
                "Hello,\nSorry, the contract is CN-204581, not CN-204518.\nRachel",
            ),
        ),
        (
            RACHEL,
            METER_EN,
            (
                "RE: Meter reading wrong on contract CN-204518",
                "Hello,\nMy mistake, the right contract number is CN-204581.\nRachel",
            ),
        ),
        (
            KARIM,
            INVOICE_FR,
            (
                "RE: Erreur sur ma facture",
                "Bonjour,\nJe me suis trompé de numéro, il s'agit de la facture F2026-10-4421."
                + QUOTE_FR,
            ),
        ),
        (
            KARIM,
            INVOICE_FR,
            (
                "RE: Erreur sur ma facture",
                "Bonjour,\nAutre chose concernant la facture F2026-10-4412 : le RIB indiqué "
                "n'est pas le bon non plus.",
            ),
        ),
        (
            KARIM,
            INVOICE_FR,
            (
                "RE: Erreur sur ma facture",
                "Bonjour,\nAutre chose : je serai absent la semaine prochaine, rappelez-moi "
                "plutôt le soir.",
            ),
        ),
    ],
    ids=[
        "en-adds-details",
        "en-corrects-naming-both",
        "en-corrects-my-mistake",
        "fr-corrects-je-me-suis-trompe",
        "fr-autre-chose-about-the-same-invoice",
        "fr-cue-under-the-old-subject-naming-nothing",
    ],
)
def test_a_reply_that_adds_details_or_corrects_itself_stays_in_its_case(
    store: Store,
    store_url: str,
    inbox: Path,
    sender: str,
    first: tuple[str, str],
    reply: tuple[str, str],
) -> None:
    (case,) = _run(store, store_url, inbox, [_first(sender, *first), _reply(sender, *reply)])
    assert case["request_count"] == 2
    assert "kept_apart_new_matter_in_reply" not in _reasons(store, case)


@pytest.mark.parametrize(
    ("sender", "first", "body"),
    [
        (
            RACHEL,
            METER_EN,
            "Hello,\nAs you asked, the contract of my previous flat was CN-199020.\nRachel",
        ),
        (
            KARIM,
            INVOICE_FR,
            "Bonjour,\nPour répondre à votre question, la facture précédente était la "
            "F2026-09-3310, elle était correcte.",
        ),
    ],
    ids=["en-as-you-asked", "fr-pour-repondre-a-votre-question"],
)
def test_an_answer_to_the_agents_question_stays_in_its_case(
    store: Store, store_url: str, inbox: Path, sender: str, first: tuple[str, str], body: str
) -> None:
    answer = make_message(
        sender=sender,
        subject=f"RE: {first[0]}",
        body=body,
        date=T0 + timedelta(hours=30),
        in_reply_to=AGENT_ID,
        references=[FIRST_ID, AGENT_ID],
    )
    (case,) = _run(store, store_url, inbox, [_first(sender, *first), answer])
    assert case["request_count"] == 2


# -- a case reference typed in the subject is a strong link


def _typed(store: Store, store_url: str, inbox: Path, subject: str, body: str) -> list[dict]:
    (case,) = _run(store, store_url, inbox, [_first(KARIM, *INVOICE_FR)])
    later = make_message(
        sender=KARIM,
        subject=subject.format(ref=case["reference"]),
        body=body,
        date=T0 + timedelta(hours=30),
    )
    return _run(store, store_url, inbox, [later])


def test_a_typed_case_reference_keeps_a_reply_naming_another_invoice_without_a_cue(
    store: Store, store_url: str, inbox: Path
) -> None:
    cases = _typed(
        store,
        store_url,
        inbox,
        "[#{ref}] Facture",
        "Bonjour,\nJe vois aussi la facture F2026-11-0587 dans mon espace, est-ce la "
        "facture corrigée ?",
    )
    assert len(cases) == 1 and cases[0]["request_count"] == 2


def test_a_typed_case_reference_with_a_new_matter_cue_and_another_invoice_opens_a_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    old, new = _typed(
        store,
        store_url,
        inbox,
        "[#{ref}] Autre problème",
        "Bonjour,\nPar ailleurs, la facture F2026-11-0587 est elle aussi fausse : la "
        "consommation est estimée.",
    )
    assert f"related_to:{old['reference']}" in new["tags"]
    assert "F2026-11-0587, not F2026-10-4412" in _reasons(store, new)


def test_a_typed_case_reference_with_a_cue_but_nothing_conflicting_stays(
    store: Store, store_url: str, inbox: Path
) -> None:
    cases = _typed(
        store,
        store_url,
        inbox,
        "[#{ref}] Another question",
        "Hello,\nAnother question: can I pay this by bank transfer instead?",
    )
    assert len(cases) == 1 and cases[0]["request_count"] == 2
