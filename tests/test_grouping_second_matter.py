"""One contact's second matter, alike the first, stays a case of its own (linked for review),
while the same matter written again still joins, end to end from a Maildir, in French and
English, on SQLite and PostgreSQL (issue 10: zero false merges).

A false merge hides one of the two matters; a split is joined by an agent in one click. So
when what the later mail names says "another one" (another month's bill) and nothing
specific is named in common, likeness does not join: the new case is tagged `related_to:`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.specifics import says_unrelated
from bot.store import Store
from bot.topic import says_chase
from tests.helpers.grouping import KARIM, RACHEL, T0
from tests.helpers.grouping import reasons as _reasons
from tests.helpers.grouping import run_cases as _run
from tests.helpers.mail import make_maildir, make_message


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "inbox")


def _msg(sender: str, subject: str, body: str, hours: float) -> bytes:
    return make_message(sender=sender, subject=subject, body=body, date=T0 + timedelta(hours=hours))


# -- another month's bill


_TWO_BILLS = {
    "fr": (
        KARIM,
        (
            "Facture de septembre erronée",
            "Bonjour,\nMa facture de septembre compte 950 kWh alors que le relevé que je vous "
            "ai transmis indique 410 kWh. Merci de la corriger.\nKarim Benali",
        ),
        (
            "Facture d'octobre erronée",
            "Bonjour,\nMa facture d'octobre est fausse elle aussi : vous avez estimé le relevé "
            "au lieu d'utiliser celui que je vous ai transmis. Merci de la corriger.\n"
            "Karim Benali",
        ),
    ),
    "en": (
        RACHEL,
        (
            "Wrong September bill",
            "Hi,\nMy September bill charges me for 900 kWh, but the meter reading I sent was "
            "420 kWh. Please correct it.\nRachel",
        ),
        (
            "Wrong October bill",
            "Hi,\nMy October bill is wrong as well: you estimated the meter reading instead "
            "of using the one I sent. Please correct it.\nRachel",
        ),
    ),
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_another_months_bill_disputed_alike_is_a_second_case_linked_to_the_first(
    store: Store, store_url: str, inbox: Path, lang: str
) -> None:
    sender, first, second = _TWO_BILLS[lang]
    cases = _run(store, store_url, inbox, [_msg(sender, *first, 0), _msg(sender, *second, 24 * 7)])
    assert [c["request_count"] for c in cases] == [1, 1]
    assert f"related_to:{cases[0]['reference']}" in cases[1]["tags"]
    assert "kept_apart_other_bill" in _reasons(store, cases[1])


@pytest.mark.parametrize(
    ("sender", "first", "again"),
    [
        (
            KARIM,
            _TWO_BILLS["fr"][1],
            (
                "Facture de septembre",
                "Bonjour,\nJe reviens vers vous : ma facture de septembre compte toujours "
                "950 kWh au lieu des 410 kWh relevés. Merci de la corriger.",
            ),
        ),
        (
            RACHEL,
            _TWO_BILLS["en"][1],
            (
                "September bill",
                "Hi,\nThe October bill repeats the error of my September bill: 900 kWh "
                "charged instead of the 420 kWh I sent. Please correct both.",
            ),
        ),
    ],
)
def test_a_mail_naming_the_cases_months_bill_again_still_joins(
    store: Store,
    store_url: str,
    inbox: Path,
    sender: str,
    first: tuple[str, str],
    again: tuple[str, str],
) -> None:
    (case,) = _run(store, store_url, inbox, [_msg(sender, *first, 0), _msg(sender, *again, 48)])
    assert case["request_count"] == 2


# -- a reply that says outright it is about something else


INVOICE = {
    "fr": (
        KARIM,
        "Contestation facture FA-2026-10-48213",
        "Bonjour,\nJe conteste la facture n° FA-2026-10-48213 : elle repose sur un index estimé "
        "de 48 920 kWh alors que j'ai relevé 46 105 kWh le 25 octobre. Merci de la corriger."
        "\nKarim Benali",
    ),
    "en": (
        RACHEL,
        "Invoice FA-2026-09-30415 wrong",
        "Hi,\nMy September invoice FA-2026-09-30415 charges me from 1 August, but I only moved "
        "into the flat on 15 September. Please correct it.\nRachel",
    ),
}
UNRELATED = {
    "fr": (
        "Bonsoir,\nJe réponds ici faute de mieux. Rien à voir avec la facture : depuis une "
        "semaine, ma box internet perd le wifi tous les soirs entre 20 h et 23 h, le voyant "
        "passe à l'orange puis revient.\nKarim Benali",
        "Box internet - coupures wifi tous les soirs",
        "Bonsoir,\nDepuis une semaine, ma box internet perd le wifi tous les soirs entre 20 h "
        "et 23 h, le voyant passe à l'orange puis revient. (Envoyé aussi à la facturation.)"
        "\nKarim Benali",
    ),
    "en": (
        "Hi,\nReplying on this one since you were so helpful, but it's a new thing: I'm moving "
        "back to Dublin at the end of January, so I need to close the electricity contract for "
        "the flat on 31 January. What do I need to do?\nRachel",
        "Closing my contract end of January",
        "Hi,\nI'm moving back to Dublin at the end of January, so I need to close the "
        "electricity contract for the flat on 31 January. What do I need to do? (Sent to both "
        "addresses.)\nRachel",
    ),
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_reply_under_the_case_reference_saying_it_is_about_something_else_is_a_new_case(
    store: Store, store_url: str, inbox: Path, lang: str
) -> None:
    sender, subject, body = INVOICE[lang]
    (old,) = _run(store, store_url, inbox, [_msg(sender, subject, body, 0)])
    unrelated, copy_subject, copy_body = UNRELATED[lang]
    later = [
        _msg(sender, f"RE: [{old['reference']}] {subject}", unrelated, 24 * 5),
        _msg(sender, copy_subject, copy_body, 24 * 5 + 0.1),
    ]
    old, new = _run(store, store_url, inbox, later)
    assert (old["request_count"], new["request_count"]) == (1, 2)
    assert f"related_to:{old['reference']}" in new["tags"]
    assert "kept_apart_new_matter_in_reply" in _reasons(store, new)


def test_a_reply_by_its_headers_saying_nothing_to_do_with_the_case_is_a_new_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    sender, subject, body = INVOICE["en"]
    first = make_message(sender=sender, subject=subject, body=body, date=T0, message_id="i@x")
    reply = make_message(
        sender=sender,
        subject=f"RE: {subject}",
        body="Hello,\nNothing to do with the invoice: the display of my smart meter has been "
        "blank since Sunday.\nRachel",
        date=T0 + timedelta(days=3),
        in_reply_to="i@x",
        references=["i@x"],
    )
    old, new = _run(store, store_url, inbox, [first, reply])
    assert f"related_to:{old['reference']}" in new["tags"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_reply_about_the_credit_note_of_the_disputed_invoice_stays_in_its_case(
    store: Store, store_url: str, inbox: Path, lang: str
) -> None:
    sender, subject, body = INVOICE[lang]
    first = make_message(sender=sender, subject=subject, body=body, date=T0, message_id="i@x")
    text = {
        "fr": "Bonjour,\nJ'ai bien reçu l'avoir AV-2026-11-0932 mais il n'est que de 98,10 €. "
        "D'après mes calculs il devrait être de 170 €. Pouvez-vous revérifier ?",
        "en": "Hi,\nI got the credit note AV-2026-11-0932 but it is only 98.10 EUR; by my "
        "count it should be about 170 EUR. Could you check again?",
    }[lang]
    reply = make_message(
        sender=sender,
        subject=f"RE: {subject}",
        body=text,
        date=T0 + timedelta(days=6),
        in_reply_to="i@x",
        references=["i@x"],
    )
    (case,) = _run(store, store_url, inbox, [first, reply])
    assert case["request_count"] == 2


# -- a new matter cue, and only the place or the customer number in common


SAME_PLACE = {
    "fr": (
        KARIM,
        (
            "Plus d'internet depuis hier",
            "Bonjour,\nPlus d'internet depuis hier soir au 27 rue des Filatiers à Toulouse : "
            "la box est en LOS, la fibre ne passe plus. Pouvez-vous envoyer un technicien ?\n"
            "Karim Benali\nRéf client 100 611 420",
        ),
        (
            "Décodeur TV ne marche plus",
            "Bonsoir,\nInternet fonctionne bien depuis la réparation de la fibre, merci. Mais "
            "maintenant c'est le décodeur TV qui reste bloqué au 27 rue des Filatiers, depuis "
            "mercredi. C'est un autre problème que la coupure de la semaine dernière.\n"
            "Karim Benali\nRéf client 100 611 420",
        ),
    ),
    "en": (
        RACHEL,
        (
            "Cannot log in to pay the bill",
            "Hello,\nI cannot log in to pay the electricity bill for the flat at 9 Mill Lane "
            "(customer # 100 950 118): the password reset email never arrives. How can I pay "
            "the bill without logging in?\nRachel Adams",
        ),
        (
            "Account question",
            "Hello,\nThanks for fixing the login last week, I was able to pay the bill. "
            "Different question now: my daughter would like the contract for the flat at "
            "9 Mill Lane in her own name from January. How can I pay until then and what is "
            "the process? Customer # 100 950 118.\nRachel Adams",
        ),
    ),
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_mail_saying_it_is_another_matter_at_the_same_place_is_a_second_case(
    store: Store, store_url: str, inbox: Path, lang: str
) -> None:
    sender, first, second = SAME_PLACE[lang]
    cases = _run(store, store_url, inbox, [_msg(sender, *first, 0), _msg(sender, *second, 24 * 8)])
    assert [c["request_count"] for c in cases] == [1, 1]
    assert "kept_apart_new_matter" in _reasons(store, cases[1])


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Je réponds à ce message mais c'est pour une autre question.", True),
        ("Rien à voir avec la facture : ma box perd le wifi.", True),
        ("C'est un autre problème que la coupure de la semaine dernière.", True),
        ("Replying here since you were helpful, but it's a new thing.", True),
        ("Thanks. Different question now: can my daughter take over the contract?", True),
        ("This has nothing to do with my bill.", True),
        ("Merci. Une autre question : quand le remboursement arrivera-t-il ?", False),
        ("Another question: can I pay this by bank transfer instead?", False),
        ("I have a new question about my refund.", False),
        ("Par ailleurs, je joins la photo du compteur.", False),
    ],
)
def test_a_mail_saying_outright_it_is_about_something_else_is_recognised(
    text: str, cue: bool
) -> None:
    assert (says_unrelated("", text) is not None) is cue


# -- a reply whose References reach two of its sender's own cases


TWO_MATTERS = {
    "fr": (
        KARIM,
        (
            "Erreur sur ma facture",
            "Bonjour,\nMa facture n° F2026-10-4412 affiche 312,40 € au lieu de 89 €. Merci de "
            "la corriger.\nKarim Benali",
        ),
        (
            "Déménagement",
            "Bonjour,\nJe déménage le 15 décembre : pouvez-vous résilier mon contrat à cette "
            "date et m'indiquer comment transmettre le relevé de sortie ?\nKarim Benali",
        ),
        "Bonjour,\nMerci. Je vous enverrai le relevé du compteur le 15 au matin.\nKarim",
    ),
    "en": (
        RACHEL,
        (
            "Wrong invoice",
            "Hello,\nInvoice INV-88213 charges me 240 GBP instead of the usual 85 GBP. Please "
            "correct it.\nRachel",
        ),
        (
            "Moving house",
            "Hello,\nI am moving out on 15 December: could you close my contract on that date "
            "and tell me how to send the final meter reading?\nRachel",
        ),
        "Hello,\nThanks. I will send the final reading on the morning of the 15th.\nRachel",
    ),
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_reply_whose_references_name_two_of_the_senders_cases_links_them_not_merges(
    store: Store, store_url: str, inbox: Path, lang: str
) -> None:
    sender, invoice, moving, answer = TWO_MATTERS[lang]
    messages = [
        make_message(sender=sender, subject=invoice[0], body=invoice[1], date=T0, message_id="a@x"),
        make_message(
            sender=sender,
            subject=moving[0],
            body=moving[1],
            date=T0 + timedelta(days=4),
            message_id="b@x",
        ),
        make_message(
            sender=sender,
            subject=f"RE: {moving[0]}",
            body=answer,
            date=T0 + timedelta(days=5),
            in_reply_to="b@x",
            references=["a@x", "b@x"],
        ),
    ]
    first, second = _run(store, store_url, inbox, messages)
    assert (first["request_count"], second["request_count"]) == (1, 2)
    assert f"related_to:{first['reference']}" in second["tags"]
    assert "cases_linked_by_reply" in _reasons(store, second)


# -- a bare chase pointing at the sender's own mail of this morning


LINE_DOWN = {
    "fr": (
        KARIM,
        (
            "Urgent",
            "Bonjour,\nDepuis hier soir ma ligne mobile ne fonctionne plus, ni appels ni "
            "données. Je suis en déplacement à Florence. Pouvez-vous la rétablir au plus vite ?"
            "\nKarim Benali",
        ),
        (
            "Relance",
            "Suite à mon mail de ce matin : toujours aucun réseau, je suis injoignable. "
            "Merci de m'aider.\nKarim",
        ),
    ),
    "en": (
        RACHEL,
        (
            "Urgent",
            "Hi,\nI'm in Florence for work and my phone line stopped working last night - "
            "calls and data. Please restore it asap.\nRachel",
        ),
        (
            "Following up",
            "Following up on my email from this morning - still no service. Please help.\nRachel",
        ),
    ),
}


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize(("hours", "joins"), [(10, True), (24 * 5, False)])
def test_a_chase_pointing_at_my_mail_of_this_morning_joins_the_only_recent_case(
    store: Store, store_url: str, inbox: Path, lang: str, hours: float, joins: bool
) -> None:
    sender, first, chase = LINE_DOWN[lang]
    cases = _run(store, store_url, inbox, [_msg(sender, *first, 0), _msg(sender, *chase, hours)])
    assert [c["request_count"] for c in cases] == ([2] if joins else [1, 1])


# -- the home's address alone does not join a second matter; a chase naming it still does


HOME = {
    "fr": (
        KARIM,
        (
            "Coupure de courant",
            "Bonjour,\nPlus de courant depuis 6 h chez nous, 12 rue Pasteur à Lyon. Les voisins "
            "ont du courant. Pouvez-vous envoyer quelqu'un ?\nKarim",
        ),
        (
            "Compteur en erreur",
            "Bonjour,\nMerci pour le rétablissement du courant la semaine dernière. Le compteur "
            "du 12 rue Pasteur affiche maintenant un code erreur et n'envoie plus les relevés. "
            "Pouvez-vous regarder ?\nKarim",
        ),
        (
            "Toujours sans courant rue Pasteur",
            "Bonjour,\nJe vous réécris : le courant est coupé au 12 rue Pasteur depuis ce "
            "matin, le congélateur commence à dégeler.\nKarim",
        ),
    ),
    "en": (
        RACHEL,
        (
            "Power cut",
            "Hi,\nWe have had no power at home since 6am, 3 Park Lane, Leeds. The neighbours have "
            "power. Please send someone.\nRachel",
        ),
        (
            "Smart meter error",
            "Hi,\nThanks for restoring the power last week. The smart meter display at 3 Park "
            "Lane now shows 'Comms error' and no readings are sent. Can you look at it?\nRachel",
        ),
        (
            "Park Lane power cut",
            "Hi,\nDid you get my email? The power at 3 Park Lane has been off since 6am and "
            "the freezer is defrosting.\nRachel",
        ),
    ),
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_second_matter_at_the_same_home_address_is_a_second_case(
    store: Store, store_url: str, inbox: Path, lang: str
) -> None:
    sender, outage, meter, _ = HOME[lang]
    cases = _run(store, store_url, inbox, [_msg(sender, *outage, 0), _msg(sender, *meter, 24 * 7)])
    assert [c["request_count"] for c in cases] == [1, 1]
    assert f"related_to:{cases[0]['reference']}" in cases[1]["tags"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_chase_rewritten_at_the_same_home_address_joins_its_case(
    store: Store, store_url: str, inbox: Path, lang: str
) -> None:
    sender, outage, _, chase = HOME[lang]
    (case,) = _run(store, store_url, inbox, [_msg(sender, *outage, 0), _msg(sender, *chase, 6)])
    assert case["request_count"] == 2


@pytest.mark.parametrize(
    "text",
    [
        "Je vous réécris car ma connexion ne fonctionne plus depuis une semaine.",
        "Je me permets de réécrire au sujet de mon emménagement.",
        "Avez-vous bien noté mon emménagement au 18 avenue Foch ?",
        "Did you get my email about the move?",
    ],
)
def test_writing_again_or_asking_whether_my_mail_arrived_reads_as_a_chase(text: str) -> None:
    assert says_chase("", text)
