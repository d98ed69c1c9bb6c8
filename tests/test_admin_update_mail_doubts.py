"""Issue 12: what the rest of a mail says about its change keeps it from being applied unseen.

Second thoughts after the value, a change already made and confirmed, another person named
beside an e-mail or phone: the value is proposed in a note, never applied (bot/extract/
mail_doubts.py). The same mails without those words are still applied.
"""

from __future__ import annotations

import pytest

from bot.admin_reasons import describe
from bot.extract.admin_update import AdminUpdate, UpdatePlan, extract_admin_update, plan_update


def _plan(
    subject: str, body: str, lang: str, sender: str = "client@mail.example"
) -> tuple[AdminUpdate, UpdatePlan]:
    update = extract_admin_update(subject, body, sender=sender, lang=lang)
    return update, plan_update(update, True)


SECOND_THOUGHTS = [
    ("fr", "nouveau numéro... ou pas",
     "Bonjour,\nje vous donne mon nouveau numéro : 07 52 18 64 93.\nAh non, en fait je garde ma "
     "ligne actuelle, mon opérateur vient de me faire une remise. Ne changez rien svp !\nSandra"),
    ("fr", "Changement d'adresse",
     "Bonjour,\n\nSuite à notre déménagement, merci de noter notre nouvelle adresse : 31 rue "
     "Camille-Desmoulins, 35700 Rennes.\n\nEDIT : toutes mes excuses, ce message était destiné à "
     "notre mutuelle. Merci d'ignorer ce message.\n\nArnaud"),
    ("fr", "Nouveau numéro",
     "Bonjour, mon nouveau numéro : 06 12 34 56 78.\nCe mail ne vous était pas destiné, "
     "désolé.\nPaul"),
    ("en", "New number",
     "Hi, my new mobile number is 07911 123456.\nSorry, this was sent to you by mistake, it was "
     "meant for my gym.\nTom"),
    ("en", "New address",
     "Hi,\nMy new address is 12 Mill Lane, Leeds LS6 2AB.\nUpdate: the sale fell through, so "
     "please leave everything as it is.\nThanks"),
    ("en", "New address",
     "Hi, our new address will be 12 Mill Lane, Leeds LS6 2AB. However, we won't move until the "
     "contract is signed.\nTom"),
    ("en", "Hi", "Hi, new number 07911 123456 — oh wait, that's my work phone, I'll send the "
     "right one later.\nTom"),
    ("fr", "num", "Bonjour, nouveau numéro 06 45 78 12 33... zut, c'est celui de mon mari, je "
     "vous renvoie le bon.\nMarie"),
    ("fr", "Adresse", "Bonjour, à compter du 1er mars ma nouvelle adresse sera le 12 rue des "
     "Lilas, 69003 Lyon, si la vente se fait.\nMarie"),
    ("fr", "Adresse", "Bonjour, notre nouvelle adresse : 12 rue des Lilas, 69003 Lyon.\nDésolé, "
     "erreur d'envoi, ce courriel concernait notre assurance.\nMarie"),
    ("fr", "mail", "Bonjour, ma nouvelle adresse mail est marie.new@free.example. Réflexion "
     "faite, ne faites rien pour le moment.\nMarie"),
    ("en", "email", "Hi, my new email is tom.new@mail.example. On reflection, do nothing for "
     "now.\nTom"),
]  # fmt: skip


@pytest.mark.parametrize(("lang", "subject", "body"), SECOND_THOUGHTS)
def test_a_change_the_mail_goes_back_on_after_giving_it_is_only_proposed(
    lang: str, subject: str, body: str
) -> None:
    update, plan = _plan(subject, body, lang)
    assert plan.apply == {}
    assert update.fields, "the value is still read, for the agent's note"
    assert any(r.endswith(":second_thoughts_in_the_mail") for r in plan.reasons)


@pytest.mark.parametrize(
    ("lang", "body", "field"),
    [
        ("fr", "Bonjour,\nEn fait, nous avons déménagé la semaine dernière. Notre nouvelle "
         "adresse : 12 rue des Lilas, 69003 Lyon.\nMerci de mettre à jour mon dossier.\nMarie",
         "postal_address"),
        ("en", "Hi,\nActually, I changed provider last week: my new mobile number is "
         "07911 123456. Please update my account.\nThanks, Tom", "phone"),
    ],
)  # fmt: skip
def test_the_same_words_before_the_change_do_not_stop_it_being_applied(
    lang: str, body: str, field: str
) -> None:
    _, plan = _plan("Changement", body, lang)
    assert set(plan.apply) == {field}


ALREADY_MADE = [
    ("fr", "Re: votre demande de modification",
     "Bonjour,\n\nJe vois sur ma dernière facture que l'adresse est bien passée du 6 rue des "
     "Tilleuls, 71100 Chalon-sur-Saône au 19 avenue Boucicaut, 71100 Chalon-sur-Saône. Tout est "
     "en ordre, merci pour votre rapidité !\n\nRoselyne"),
    ("fr", "Re: votre demande",
     "Bonjour,\nle changement vers mon nouveau numéro 06 12 34 56 78 a été fait, c'est parfait.\n"
     "Marie"),
    ("en", "Re: your request",
     "Hello,\nmy email was updated to tom.new@mail.example, all done on your side, cheers.\nTom"),
    ("fr", "Re: votre dossier",
     "Bonjour, merci, c'est noté de votre côté : ma nouvelle adresse 12 rue des Lilas, 69003 "
     "Lyon est enregistrée.\nMarie"),
    ("en", "Re: update",
     "Thanks, your letter reached me at my new address, 12 Mill Lane, Leeds LS6 2AB, so that's "
     "sorted.\nTom"),
    ("fr", "Re: confirmation",
     "Bonjour, ma dernière facture indique bien ma nouvelle adresse, 12 rue des Lilas, 69003 "
     "Lyon. Merci beaucoup !\nMarie"),
    ("en", "Re: your confirmation",
     "Hello, my latest bill shows my new address 12 Mill Lane, Leeds LS6 2AB. Thank you!\nTom"),
    ("en", "Re: address change",
     "Hi,\nI can see my new address 12 Mill Lane, Leeds LS6 2AB is now on my account. Thanks!\n"
     "Tom"),
]  # fmt: skip


@pytest.mark.parametrize(("lang", "subject", "body"), ALREADY_MADE)
def test_a_change_the_mail_confirms_as_already_made_is_never_applied(
    lang: str, subject: str, body: str
) -> None:
    _, plan = _plan(subject, body, lang)
    assert plan.apply == {}


ANOTHER_PERSON = [
    ("fr", "Destinataire des factures",
     "Bonjour,\n\nÀ partir du mois prochain, merci d'adresser les factures à notre nouveau "
     "responsable administratif et financier : Loïc Bernardeau "
     "(l.bernardeau@transports-garnier.example).\n\nJe reste votre interlocutrice pour le reste."
     "\n\nSylvie Garnier", "s.garnier@transports-garnier.example"),
    ("fr", "Contact",
     "Bonjour,\nmerci de noter la nouvelle adresse e-mail de la comptabilité : Anne Roux "
     "(anne.roux@cabinet.example).\nCordialement", "client@mail.example"),
    ("en", "Invoices",
     "Hi,\nplease send invoices from now on to our new bookkeeper, Jane Doe (new email "
     "jane.doe@books.example).\nThanks", "client@mail.example"),
    ("en", "New email",
     "Hi, new e-mail for the account: Sarah Connor <s.connor@sky.example>\nThanks",
     "client@mail.example"),
]  # fmt: skip


@pytest.mark.parametrize(("lang", "subject", "body", "sender"), ANOTHER_PERSON)
def test_an_email_or_phone_beside_another_persons_name_is_never_applied(
    lang: str, subject: str, body: str, sender: str
) -> None:
    _, plan = _plan(subject, body, lang, sender)
    assert "email" not in plan.apply and "phone" not in plan.apply


def test_the_verb_adresser_is_no_email_cue() -> None:
    body = (
        "Bonjour,\nmerci d'adresser les factures à notre nouveau responsable : "
        "Paul Martin (p.martin@exemple.example).\nCordialement"
    )
    update, _ = _plan("Factures", body, "fr")
    assert "email" not in update.fields


@pytest.mark.parametrize(
    ("lang", "body"),
    [
        ("fr", "Bonjour, mon numéro a été changé par mon opérateur, le nouveau est le "
         "06 45 78 12 33.\nMarie"),
        ("en", "Hi, my mobile number has been changed. My new number is 07911 123456.\nTom"),
    ],
)  # fmt: skip
def test_a_number_changed_by_the_operator_is_no_change_already_made_here(
    lang: str, body: str
) -> None:
    _, plan = _plan("Numéro", body, lang)
    assert set(plan.apply) == {"phone"}


@pytest.mark.parametrize(
    ("lang", "body", "field"),
    [
        ("fr", "Bonjour, nouvelle adresse : 12 rue des Lilas, 69003 Lyon. Merci de mettre à jour "
         "mon dossier.\nMarie", "postal_address"),
        ("en", "Hi, my new number is 07911 123456. Please update my account.\nThanks, Tom",
         "phone"),
        ("fr", "Bonjour,\nma nouvelle adresse e-mail est marie.dupont@free.example.\nMerci",
         "email"),
    ],
)  # fmt: skip
def test_a_plain_single_change_is_still_applied(lang: str, body: str, field: str) -> None:
    _, plan = _plan("Changement", body, lang)
    assert set(plan.apply) == {field}


@pytest.mark.parametrize(
    "code",
    [
        "second_thoughts_in_the_mail",
        "change_maybe_already_made",
        "another_person_named_in_the_mail",
        "a_relative_named_in_the_mail",
        "a_reply_or_forward",
    ],
)
def test_the_new_reasons_read_as_sentences_in_french_and_english(code: str) -> None:
    assert describe(code, "fr") != describe(code, "en")
    assert "_" not in describe(code, "fr") and "_" not in describe(code, "en")


@pytest.mark.parametrize(
    ("body", "field", "applied"),
    [
        ("Bonjour, mon nouvel e-mail : marie.n@free.example.\nMarie", "email", True),
        ("Bonjour, voici mon nouvel IBAN : FR76 3000 6000 0112 3456 7890 189.\nMarie", "iban",
         False),
    ],
)  # fmt: skip
def test_nouvel_before_a_vowel_announces_a_change_like_nouveau(
    body: str, field: str, applied: bool
) -> None:
    update, plan = _plan("Coordonnées", body, "fr")
    assert field in update.fields
    assert (field in plan.apply) is applied


@pytest.mark.parametrize(
    ("lang", "body"),
    [
        ("fr", "Bonjour, je gère les affaires de mon père. Nouveau numéro : 06 45 78 12 33.\n"
         "Claire"),
        ("fr", "Bonjour, nouveau numéro : 06 45 78 12 33, c'est celui de mon mari, qui gère "
         "désormais le contrat.\nMarie"),
        ("en", "Hi, please use my new email tom.new@mail.example, it's shared with my wife.\nTom"),
    ],
)  # fmt: skip
def test_a_change_in_a_mail_that_speaks_of_a_relative_is_only_proposed(
    lang: str, body: str
) -> None:
    update, plan = _plan("Changement", body, lang)
    assert update.fields and plan.apply == {}
    assert any(r.endswith(":a_relative_named_in_the_mail") for r in plan.reasons)


@pytest.mark.parametrize(
    ("lang", "body"),
    [
        ("fr", "Bonjour, à partir du 1er juin, mon adresse sera 12 rue des Lilas, 69003 Lyon, "
         "sauf si le propriétaire se rétracte.\nMarie"),
        ("en", "Hi, we're moving next month. New address from 1 May: 12 Mill Lane, Leeds LS6 2AB, "
         "unless the completion date slips.\nTom"),
    ],
)  # fmt: skip
def test_a_change_under_a_condition_is_only_proposed(lang: str, body: str) -> None:
    update, plan = _plan("Adresse", body, lang)
    assert "postal_address" in update.fields and plan.apply == {}


@pytest.mark.parametrize(
    ("lang", "subject", "body"),
    [
        ("fr", "Re: votre dossier", "Bonjour,\nma nouvelle adresse : 12 rue des Lilas, 69003 Lyon."
         "\nMarie"),
        ("en", "Fwd: new number", "Hi,\nmy new mobile number is 07911 123456.\nTom"),
    ],
)  # fmt: skip
def test_a_change_in_a_reply_or_a_forward_is_only_proposed(
    lang: str, subject: str, body: str
) -> None:
    update, plan = _plan(subject, body, lang)
    assert update.fields and plan.apply == {}
    assert any(r.endswith(":a_reply_or_forward") for r in plan.reasons)
    _, fresh = _plan(subject[subject.index(":") + 1 :].strip(), body, lang)
    assert fresh.apply, "the same mail under its own subject is applied"
