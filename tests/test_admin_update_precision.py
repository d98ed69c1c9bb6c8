# ruff: noqa: E501
"""Extraction precision (issue 12.2): a value counts only in the sender's own new-value
context; quoted, forwarded, signed, old, someone else's, hedged or asked-about values are
never extracted; a French postcode that contradicts its commune is only a note."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.extract.admin_update import CONFIDENT, extract_admin_update, plan_update
from bot.extract.communes import postcode_agrees
from bot.extract.postal import find_address


def _values(subject: str, body: str, locale: str = "fr-FR") -> dict[str, str]:
    return extract_admin_update(subject, body, sender="client@exemple.fr", locale=locale).values()


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Merci.\n\nLe 3 mars 2026 à 10:12, Support <s@exemple.fr> a écrit :\n> Nouvelle adresse :\n> 1 rue Haute\n> 75004 Paris", "fr-FR"),
        ("Thanks, all good.\n\nOn Tue, 3 Mar 2026 at 10:12, Support <s@example.co.uk> wrote:\n> New address:\n> 1 Station Road\n> Reading RG1 1LX", "en-GB"),
        ("FYI\n\n---------- Forwarded message ---------\nFrom: Landlord <l@lord.com>\nDate: 2 Mar 2026\nSubject: office\nTo: me\n\nOur new address is 40 High Street, Oxford OX1 4AP", "en-GB"),
        ("Mon colis est chez mon voisin, sa nouvelle adresse est 4 rue des Roses, 54000 Nancy.", "fr-FR"),
        ("Your shop's new address is 3 Bond Street, London W1S 1SP according to Google, is that right?", "en-GB"),
        ("L'adresse de votre agence a changé : elle est désormais au 12 rue Thiers, 38000 Grenoble.", "fr-FR"),
        ("Ma nouvelle adresse sera soit 3 rue Nationale, 37000 Tours soit 8 rue Colbert, 37000 Tours.", "fr-FR"),
        ("We are moving to either 3 Bridge Street, York YO1 6DD or 12 Low Petergate, York YO1 7HZ.", "en-GB"),
        ("Je vais déménager l'année prochaine, je vous enverrai ma nouvelle adresse.", "fr-FR"),
        ("Comment puis-je changer mon adresse postale ?", "fr-FR"),
    ],
)  # fmt: skip
def test_an_address_that_is_not_the_senders_new_one_is_never_extracted(
    body: str, locale: str
) -> None:
    assert "postal_address" not in _values("Adresse", body, locale)


def test_a_phone_in_the_signature_block_is_not_taken_for_the_new_one() -> None:
    body = (
        "Bonjour,\nMon nouveau numéro est le 07 12 34 56 78.\nCordialement,\n"
        "Thomas Leroy\nDirecteur commercial\nTél : 01 23 45 67 89"
    )
    assert _values("Numéro", body) == {"phone": "+33712345678"}


def test_the_old_number_named_first_is_skipped_and_the_new_one_kept() -> None:
    body = "Mon ancien numéro 06 00 00 00 01 n'est plus valable, mon nouveau numéro est le 06 98 12 34 56."
    assert _values("Numéro", body) == {"phone": "+33698123456"}


def test_two_announced_numbers_make_neither_certain() -> None:
    body = "Vous pouvez me joindre désormais au 06 11 11 11 11 ou au 06 22 22 22 22."
    assert "phone" not in _values("Numéro", body)


def test_someone_elses_new_number_or_email_is_not_extracted() -> None:
    assert (
        _values("Fils", "Le nouveau numéro de mon fils est le 06 55 44 33 22, gardez le mien.")
        == {}
    )
    assert _values("x", "My colleague's new email is tom.h@client.com, keep me.", "en-GB") == {}


def test_a_postcode_that_contradicts_its_commune_is_a_note_not_a_change() -> None:
    update = extract_admin_update(
        "Adresse", "Ma nouvelle adresse : 10 rue de la République, 75001 Marseille", locale="fr-FR"
    )
    assert update.fields["postal_address"].confidence < CONFIDENT
    plan = plan_update(update, verified=True)
    assert not plan.apply and "postal_address" in plan.note


@pytest.mark.parametrize(
    ("code", "commune", "agrees"),
    [
        ("75011", "Paris", True),
        ("75009", "Paris CEDEX 09", True),
        ("75030", "Paris", False),
        ("13005", "Marseille", True),
        ("33000", "Lyon", False),
        ("44800", "Saint-Herblain CEDEX", True),
        ("00123", "Nulle-Part", False),
        ("29870", "Landéda", None),
    ],
)
def test_french_postcode_and_commune_agreement(
    code: str, commune: str, agrees: bool | None
) -> None:
    assert postcode_agrees(code, commune) is agrees


def test_a_street_number_is_not_taken_for_a_belgian_postcode() -> None:
    found = find_address("New address:\n1600 Amphitheatre Parkway\nMountain View, CA 94043")
    assert found is not None and found.text == "1600 Amphitheatre Parkway, Mountain View, CA 94043"


def test_an_address_label_followed_by_a_blank_line_still_owns_the_address() -> None:
    found = find_address(
        "Notre nouvelle adresse :\n\nZI des Bruyères\n3 rue Gutenberg\n44800 Saint-Herblain CEDEX"
    )
    assert found is not None
    assert found.text == "ZI des Bruyères, 3 rue Gutenberg, 44800 Saint-Herblain CEDEX"


# --- properties: never crash, never a value absent from the text -------------------------

_PIECES = st.sampled_from(
    [
        "Nouvelle adresse : ", "ma nouvelle adresse est ", "new address: ", "We have moved to ",
        "mon nouveau numéro : ", "my new number is ", "nouvelle adresse e-mail : ", "ancienne ",
        "12 bis rue des Lilas", "Bât. B", "75011 Paris", "BP 123", "London NW1 6XE", "CEDEX",
        "06 12 34 56 78", "+44 20 7946 0958", "a.b@exemple.fr", "FR76 3000 6000 0112 3456 7890 189",
        "Notre raison sociale devient ", "Acme SAS", "soit ", " ou ", "?", ".", ",", "\n", "\n\n",
        "> ", "-- \n", "Cordialement,\n", "mon voisin ", "Le 3 mars 2026, X a écrit :\n",
        "Oubliez ce mail.", "scrap that", "sorry, typo, it's ", "<div>", "&nbsp;", "Merci de noter :\n",
        "pour le compte de ma mère", "Attn: Billing Dept.\n", "Millbank House\n",
    ]
)  # fmt: skip
_MAILS = st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=14).map("".join)


def _folded(text: str) -> str:  # a period that ends or starts a word ("Dept.") is punctuation
    return " ".join(re.sub(r"[^\w@.+]+|\.(?=\s|$)|(?:^|(?<=\s))\.", " ", text.casefold()).split())


@settings(max_examples=300, deadline=None)
@given(_MAILS, st.sampled_from(["fr-FR", "en-GB", "en-US", "fr-BE", "fr-CH"]))
def test_extraction_never_fails_and_never_invents_a_value(body: str, locale: str) -> None:
    update = extract_admin_update("Changement", body, sender="x@y.fr", locale=locale)
    text = _folded(body)
    digits = re.sub(r"\D", "", body)
    for name, field in update.fields.items():
        assert 0.0 <= field.confidence <= 1.0
        if name == "phone":
            national = str(phonenumbers.parse(field.value).national_number)
            assert national in digits
        elif name == "iban":
            assert field.value in re.sub(r"\s", "", body.upper())
        else:
            assert _folded(field.value) in text, (name, field.value)


@settings(max_examples=300, deadline=None)
@given(_MAILS)
def test_address_parser_never_fails_and_every_part_is_in_the_text(body: str) -> None:
    found = find_address(body)
    if found is not None:
        for part in found.text.split(", "):
            assert _folded(part) in _folded(body)


def test_words_before_the_street_number_are_not_part_of_the_address() -> None:
    body = "Notre nouvelle adresse à partir du 1er mars est 12 rue des Lilas, 75011 Paris."
    assert _values("Adresse", body)["postal_address"] == "12 rue des Lilas, 75011 Paris"
    body = "Nouvelle adresse de facturation : 3 place Carnot, 72000 Le Mans"
    assert _values("Adresse", body)["postal_address"] == "3 place Carnot, 72000 Le Mans"


def test_another_channel_named_after_the_number_is_not_another_candidate() -> None:
    body = "Vous pouvez désormais me joindre au 06.12.34.56.78 ou par mail."
    assert _values("Téléphone", body) == {"phone": "+33612345678"}


def test_a_recipient_line_before_the_street_is_not_part_of_the_address() -> None:
    body = "Nouvelle adresse :\nM. et Mme Dupont\n12 rue Victor Hugo\n75011 Paris\n\nMerci"
    assert _values("Adresse", body)["postal_address"] == "12 rue Victor Hugo, 75011 Paris"


def test_a_one_off_delivery_address_is_not_the_contacts_address() -> None:
    body = "Pour cette commande, merci de livrer à ma nouvelle adresse de vacances : 3 chemin des Dunes, 85100 Les Sables-d'Olonne."
    assert "postal_address" not in _values("Livraison", body)


def test_new_details_block_gives_the_address_and_the_phone_line() -> None:
    body = "Suite à mon déménagement, mes nouvelles coordonnées :\n8 avenue de la Liberté\n67000 Strasbourg\nTél : 03 88 12 34 56\nMerci"
    assert _values("Coordonnées", body) == {
        "postal_address": "8 avenue de la Liberté, 67000 Strasbourg",
        "phone": "+33388123456",
    }


def test_a_value_said_to_stay_the_same_is_not_a_change() -> None:
    body = "Ma nouvelle adresse : 12 rue Victor Hugo, 75011 Paris, et mon e-mail reste jean@exemple.fr."
    assert _values("Adresse", body) == {"postal_address": "12 rue Victor Hugo, 75011 Paris"}
    body = "Our new number is 020 7946 0000; our current email info@acme.co.uk stays the same."
    assert _values("x", body, "en-GB") == {"phone": "+442079460000"}


def test_a_relatives_number_named_beside_the_senders_is_left_out() -> None:
    body = "Mon nouveau numéro est le 06 12 34 56 78, et celui de mon mari le 06 87 65 43 21."
    assert _values("Numéro", body) == {"phone": "+33612345678"}


def test_a_company_name_keeps_its_elided_words() -> None:
    body = (
        "Notre nouvelle dénomination est : Les Fournils de l'Allier SAS\n\nLe SIRET reste inchangé."
    )
    assert _values("Dénomination", body) == {"company_name": "Les Fournils de l'Allier SAS"}


def test_the_account_a_payment_moves_from_is_the_old_one() -> None:
    body = (
        "Could you move my Direct Debit from my Barclays account (GB29 NWBK 6016 1331 9268 19)"
        " to my Starling account:\n\nGB33 BUKB 2020 1555 5555 55\n\nThanks"
    )
    assert _values("Direct Debit", body, "en-GB") == {"iban": "GB33BUKB20201555555555"}


def test_two_ibans_not_told_apart_make_neither_certain() -> None:
    body = "Voici mes comptes : FR76 3000 6000 0112 3456 7890 189 et GB29 NWBK 6016 1331 9268 19."
    assert "iban" not in _values("RIB", body)


def test_moving_from_a_town_does_not_make_the_new_number_old() -> None:
    body = "I've moved from London, my new mobile number is 07723 456789."
    assert _values("Number", body, "en-GB") == {"phone": "+447723456789"}


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Merci, j'ai bien reçu ma facture à ma nouvelle adresse (10 rue des Carmes, 31000 Toulouse). Tout est en ordre.", "fr-FR"),
        ("Thanks for updating my new address (12 Mill Lane, Leeds LS6 2AB), the bill arrived fine.", "en-GB"),
    ],
)  # fmt: skip
def test_a_change_already_made_and_thanked_for_is_not_read_again(body: str, locale: str) -> None:
    assert _values("Re: Changement d'adresse", body, locale) == {}


_ANNOUNCED = st.sampled_from(
    [
        ("fr-FR", "Bonjour,\nMa nouvelle adresse : 4 rue des Tanneurs, 67000 Strasbourg."),
        ("fr-FR", "Mon nouveau numéro est le 06 45 12 78 90."),
        ("fr-FR", "Merci de changer mon email en jeanne.roux@outlook.fr."),
        ("fr-FR", "Notre raison sociale devient Dupont Énergie."),
        ("en-GB", "Please update my address to 7 Mill Lane, Leeds LS6 2AB."),
        ("en-GB", "My new mobile number is 07723 456789."),
        ("en-GB", "New bank details: GB29 NWBK 6016 1331 9268 19"),
    ]
)
_TAKEN_BACK = st.sampled_from(
    [
        "Ah non, oubliez ce mail : je reste où je suis.",
        "Finalement, ne tenez pas compte de ce message.",
        "Laissez tomber, c'est annulé.",
        "Actually, scrap that - the sale has fallen through.",
        "UPDATE: please disregard the above, I'll email again.",
        "Never mind, I'm keeping everything as it is.",
    ]
)


@settings(max_examples=100, deadline=None)
@given(_ANNOUNCED, _TAKEN_BACK, st.sampled_from(["\n\n", " ", "\nThanks.\n"]))
def test_whatever_a_mail_takes_back_afterwards_is_never_read(
    announced: tuple[str, str], taken_back: str, gap: str
) -> None:
    locale, text = announced
    assert _values("Changement", text, locale) != {}  # the announcement alone is read
    assert _values("Changement", text + gap + taken_back, locale) == {}


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Mon adresse jean.roux@free.fr ne fonctionne plus, merci de noter ma nouvelle adresse e-mail : jean.roux@gmail.com", "fr-FR", {"email": "jean.roux@gmail.com"}),
        ("Please update my email to nat.price@talktalk.net (which I can no longer access). Sorry, wrong one!", "en-GB", {}),
        ("My new email address is nat.price@gmail.com, my old one is closed.", "en-GB", {"email": "nat.price@gmail.com"}),
        ("Mon nouveau fixe c'est le 02 97 24 61 18 (l'ancien n'existe plus).", "fr-FR", {"phone": "+33297246118"}),
        ("Please change my email to sam.o@outlook.com - it's being closed next month.", "en-GB", {}),
    ],
)  # fmt: skip
def test_a_value_the_words_right_after_it_call_closed_is_not_the_new_one(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert _values("Email", body, locale) == expected


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Bonjour, le numéro de la ligne de mon fils a changé : nouveau numéro 06 45 12 78 90.", "fr-FR"),
        ("Hi, my daughter's phone number has changed. New number: 07723 456789.", "en-GB"),
    ],
)  # fmt: skip
def test_a_change_to_a_relatives_line_is_only_proposed(body: str, locale: str) -> None:
    update = extract_admin_update("x", body, sender="client@exemple.fr", locale=locale)
    plan = plan_update(update, verified=True)
    assert plan.apply == {}


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Voici mon RIB pour le remboursement de la caution : FR76 3000 6000 0112 3456 7890 189", "fr-FR"),
        ("Your bank details GB29 NWBK 6016 1331 9268 19 are on the new invoice, is that right?", "en-GB"),
        ("We might move to 12 Mill Lane, Leeds LS6 2AB next month, I'll confirm.", "en-GB"),
        ("Nous envisageons de déménager au 4 rue Nationale, 37000 Tours.", "fr-FR"),
        ("Merci de mettre aussi en copie jean.roux@gmail.com pour les factures désormais.", "fr-FR"),
        ("Notre nouvelle raison sociale est Boulangerie du coin", "fr-FR"),
    ],
)  # fmt: skip
def test_no_change_a_careful_reader_would_not_note_is_read(body: str, locale: str) -> None:
    assert _values("Info", body, locale) == {}


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Je vous informe de ma décision de quitter le logement que je loue au 45 rue Nationale, 59000 Lille. Préavis d'un mois.", "fr-FR"),
        ("Nous quittons la Belgique pour Montréal le 15 décembre. Merci de mettre fin à nos contrats pour l'adresse Rue de l'Église 41, 5000 Namur.", "fr-BE"),
        ("I'm moving to Atlanta January 10 anyway, and I'm not taking you with me. Close my account effective January 10. Send the equipment return box to: 2290 Peachtree Rd NW, Apt 1104, Atlanta, GA 30309.", "en-US"),
        ("I want to make it known how I was spoken to on the phone yesterday about my claim (ref MC-88120).", "en-IE"),
    ],
)  # fmt: skip
def test_an_address_left_or_a_number_in_a_complaint_is_no_new_value(body: str, locale: str) -> None:
    assert _values("Info", body, locale) == {}


def test_the_name_before_the_street_on_one_line_is_not_the_address() -> None:
    body = "Merci d'envoyer désormais le décompte à ma nouvelle adresse : Corinne Wenger, Rue des Alpes 9, 1630 Bulle."
    assert _values("Adresse", body, "fr-CH") == {"postal_address": "Rue des Alpes 9, 1630 Bulle"}


def test_a_company_name_merely_given_is_no_rename() -> None:
    body = "Our business name is Acme Widgets Ltd.\nThe engineer never came on Tuesday, please call me."
    assert _values("Complaint", body, "en-GB") == {}
    body = "Pour info, le nom de notre société est Boulangerie Martin SARL. Le technicien n'est pas venu."
    assert _values("Réclamation", body, "fr-FR") == {}


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Mon nouveau numéro de contrat est le 0612345678, merci.", "fr-FR"),
        ("Nouveau numéro client : 01 23 45 67 89", "fr-FR"),
        ("My new account number is 07723456789.", "en-GB"),
        ("Our new meter number is 02079460321.", "en-GB"),
    ],
)  # fmt: skip
def test_a_new_contract_account_or_meter_number_is_no_phone(body: str, locale: str) -> None:
    assert _values("Info", body, locale) == {}


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Pour info, mon IBAN FR76 3000 6000 0112 3456 7890 189 reste valable, seul le nom de la banque change.", "fr-FR", {}),
        ("Changes below. My mobile 07723 456789 stays the same, but please note my new email: ann.smith@gmail.com", "en-GB", {"email": "ann.smith@gmail.com"}),
        ('La raison sociale devient "Garage Vidal SAS", le SIRET ne change pas.', "fr-FR", {"company_name": "Garage Vidal SAS"}),
    ],
)  # fmt: skip
def test_a_value_said_kept_right_after_it_is_not_a_new_one(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert _values("Info", body, locale) == expected


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Bonjour,\nMon nouveau numéro : 06 12 34 56 78 (ou 06 98 76 54 32 le soir).\nMerci", "fr-FR"),
        ("Bonjour, merci de noter mon nouveau portable 06 12 34 56 78, ou le 01 45 67 89 10 le soir.", "fr-FR"),
        ("Hello, my new mobile is 07700 900123 (or 020 7946 0018 in the evenings). Thanks", "en-GB"),
        ("Hi, our new number is (212) 555-0143 or on weekends 212-555-0187.", "en-US"),
    ],
)  # fmt: skip
def test_a_number_offered_as_the_alternative_to_the_new_one_is_never_taken_for_it(
    body: str, locale: str
) -> None:
    """The first number's own tail makes it ambiguous; the second, after "ou"/"or", was taken
    alone — and applied, though the mail's new number is the first."""
    assert "phone" not in _values("Nouveau numéro", body, locale)


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Bonjour, mon nouveau numéro est le 06 12 34 56 78, vous pouvez m'appeler ou m'écrire.", "fr-FR", "+33612345678"),
        ("Please update my phone or my details: my new mobile is 07700 900456.", "en-GB", "+447700900456"),
    ],
)  # fmt: skip
def test_an_or_elsewhere_in_the_sentence_does_not_stop_a_single_new_number(
    body: str, locale: str, expected: str
) -> None:
    assert _values("Nouveau numéro", body, locale).get("phone") == expected
