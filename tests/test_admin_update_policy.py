# ruff: noqa: E501
"""The strict apply policy (issue 12): a verified sender's change is applied unseen only when
it is a single field (or a phone and an e-mail together), confident and checked: a phone
valid in the mail's numbering plan, a valid e-mail, an address with a postcode its country
issues, a street number and street-type word, introduced as the new one; a name stated
outright. Anything else is a note with the proposed values and the reason."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.extract.admin_update import (
    FIELDS,
    AdminUpdate,
    FieldValue,
    extract_admin_update,
    plan_update,
)
from bot.extract.checks import email_doubts, phone_doubts, postcode_valid


def _plan(
    body: str, locale: str = "fr-FR", subject: str = "Changement"
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    update = extract_admin_update(subject, body, sender="client@exemple.fr", locale=locale)
    plan = plan_update(update, verified=True)
    return plan.apply, plan.note, plan.reasons


@pytest.mark.parametrize(
    ("body", "locale", "applied"),
    [
        ("Ma nouvelle adresse : 12 bis rue des Lilas, 75011 Paris", "fr-FR", {"postal_address": "12 bis rue des Lilas, 75011 Paris"}),
        ("Mon nouveau numéro : 06 45 12 78 90.", "fr-FR", {"phone": "+33645127890"}),
        ("Ma nouvelle adresse e-mail : marie.dupont@orange.fr", "fr-FR", {"email": "marie.dupont@orange.fr"}),
        ("New phone: 07723 456789\nNew email: greg.hill@btinternet.com", "en-GB", {"phone": "+447723456789", "email": "greg.hill@btinternet.com"}),
        ("Our new address:\n88 Queen Street West\nToronto, ON M5H 2N2", "en-CA", {"postal_address": "88 Queen Street West, Toronto, ON M5H 2N2"}),
        ("Notre nouvelle adresse : Rue Neuve 45, 1000 Bruxelles", "fr-BE", {"postal_address": "Rue Neuve 45, 1000 Bruxelles"}),
        ("My new address is 4521 Oak Lane, Austin, TX 78704.", "en-US", {"postal_address": "4521 Oak Lane, Austin, TX 78704"}),
        ("Nouvelle raison sociale : Martin Frères SARL\nCordialement", "fr-FR", {"company_name": "Martin Frères SARL"}),
        ("New address: 12 Harbour Road, Dublin D04 X2P8", "en-IE", {"postal_address": "12 Harbour Road, Dublin D04 X2P8"}),
        ("We have moved to 14 Collins Street, Melbourne VIC 3000.", "en-AU", {"postal_address": "14 Collins Street, Melbourne VIC 3000"}),
        ("New billing contact: Rachel Adams\nThanks", "en-GB", {"billing_contact": "Rachel Adams"}),
    ],
)  # fmt: skip
def test_a_single_checked_field_or_a_phone_and_email_pair_is_applied(
    body: str, locale: str, applied: dict[str, str]
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == applied and not note and reasons == []


@pytest.mark.parametrize(
    ("body", "locale", "reason"),
    [
        # several fields at once (other than a phone and an e-mail)
        ("J'ai déménagé. Ma nouvelle adresse : 4 rue du Bac, 75007 Paris. Mon nouveau numéro : 06 77 88 99 00.", "fr-FR", "several_fields:phone,postal_address"),
        # a phone only possible (a reserved drama range), premium-rate, or of another plan
        ("My new mobile number is 07700 900123.", "en-GB", "not_checked:phone:phone_not_valid"),
        ("Mon nouveau numéro est le 08 99 00 00 00.", "fr-FR", "not_checked:phone:phone_not_a_personal_line"),
        ("Mon nouveau numéro : +44 7723 456789", "fr-FR", "not_checked:phone:phone_not_of_the_mails_region"),
        # an address without a street number and street-type word
        ("Nouvelle adresse postale : BP 45, 13002 Marseille", "fr-FR", "not_checked:postal_address:no_street_number_and_street_type"),
        ("Ma nouvelle adresse : Lieu-dit Les Granges, 24200 Sarlat-la-Canéda", "fr-FR", "not_checked:postal_address:no_street_number_and_street_type"),
        # a postcode its country does not issue, or of another country than the mail's
        ("My new address is 5 Elm Street, Springfield, ZZ 62704.", "en-US", "not_checked:postal_address:postcode_not_valid_for_its_country"),
        ("Ma nouvelle adresse : 8 rue Colbert, 7500 Paris", "fr-FR", "not_checked:postal_address:postcode_not_of_the_mails_region"),
        ("New address: 12 George Street, Sydney NSW 3000", "en-AU", "not_checked:postal_address:postcode_not_valid_for_its_country"),
        ("New address: 12 Harbour Road, Dublin D04 X2P8", "en-GB", "not_checked:postal_address:postcode_not_of_the_mails_region"),
        # an address the sender does not present as the new one
        ("Mon adresse est : 12 rue Lepic, 75018 Paris", "fr-FR", "not_checked:postal_address:address_not_introduced_as_new"),
        # a name not stated outright
        ("Notre société s'appelle désormais Boulangerie Martin depuis le rachat.", "fr-FR", "not_checked:company_name:name_not_stated_outright"),
        ("We are now known as Bluefin Logistics Ltd.", "en-GB", "not_checked:company_name:name_not_stated_outright"),
        ("Le nouveau contact pour la facturation est Julien Morel à compter du 1er mai.", "fr-FR", "not_checked:billing_contact:name_not_stated_outright"),
    ],
)  # fmt: skip
def test_anything_else_is_a_note_with_the_proposed_value_and_why(
    body: str, locale: str, reason: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and note and reason in reasons


@pytest.mark.parametrize(
    "body",
    [
        "Pendant les travaux, merci d'envoyer le courrier au 3 rue de la Gare, 67000 Strasbourg.",
        "Adresse temporaire jusqu'au 30 juin : 11 rue Sainte-Catherine, 33000 Bordeaux.",
        "Le temps du chantier, nos bureaux sont installés au 2 place Bellecour, 69002 Lyon.",
        "During the renovation works, please send post to 7 Bridge Street, Chester CH1 1NQ until March.",
        "Jusqu'à fin août, je suis joignable au 06 52 63 74 85 (numéro provisoire).",
        "Our manager's new email address is l.baker@hartley.co.uk, please copy her on invoices.",
        "FYI the new address of our supplier is 14 Dock Street, Leeds LS10 1JF.",
    ],
)
def test_a_temporary_value_or_a_third_partys_is_not_read_as_the_contacts_change(body: str) -> None:
    assert extract_admin_update("Info", body, sender="client@exemple.fr").values() == {}


def test_of_an_old_and_a_new_address_in_one_mail_only_the_new_one_is_applied() -> None:
    for body, locale, new in [
        ("J'ai quitté le 3 rue Voltaire, 49000 Angers. Je suis désormais au 18 boulevard Foch, 49100 Angers.", "fr-FR", "18 boulevard Foch, 49100 Angers"),
        ("We have moved from 4 Park Lane, Bath BA1 1AA to 9 Orchard Close, Bath BA2 4RS.", "en-GB", "9 Orchard Close, Bath BA2 4RS"),
        ("Ancienne adresse :\n7 rue Carnot\n37000 Tours\n\nNouvelle adresse :\n22 rue Nationale\n37000 Tours", "fr-FR", "22 rue Nationale, 37000 Tours"),
    ]:  # fmt: skip
        assert _plan(body, locale)[0] == {"postal_address": new}


def test_a_city_stops_before_the_words_that_follow_it() -> None:
    body = "Je réside désormais au 12 rue Lepic, 75018 Paris depuis lundi."
    assert _plan(body)[0] == {"postal_address": "12 rue Lepic, 75018 Paris"}


@pytest.mark.parametrize(
    ("block", "fmt", "valid"),
    [
        ("12 rue X, 75011 Paris", "FR", True),
        ("12 rue X, 97411 Saint-Pierre", "FR", True),
        ("12 rue X, 00100 Paris", "FR", False),
        ("12 rue X, 96000 Paris", "FR", False),
        ("Rue Neuve 45, 1000 Bruxelles", "BE_CH", True),
        ("Avenue de la Gare 10, CH-1003 Lausanne", "BE_CH", True),
        ("Rue Neuve 45, 0999 Bruxelles", "BE_CH", False),
        ("123 rue X, Montréal H3B 1A7", "CA", True),
        ("123 rue X, Montréal D3B 1A7", "CA", False),
        ("27 Kings Road, London SW3 4RP", "UK", True),
        ("27 Kings Road, London SW1A 2AA", "UK", True),
        ("27 Kings Road, London SW3 4CI", "UK", False),
        ("4521 Oak Lane, Austin, TX 78704", "US", True),
        ("4521 Oak Lane, Austin, TX 78704-1234", "US", True),
        ("4521 Oak Lane, Springfield, ZZ 62704", "US", False),
        ("1 Main Street, Dublin D02 X285", "IE", True),
        ("1 Main Street, Dublin 6W, D6W K2P8", "IE", True),
        ("1 Main Street, Dublin D02 B285", "IE", False),  # no B in the Eircode alphabet
        ("100 George St, Sydney NSW 2000", "AU", True),
        ("1 Northbourne Ave, Canberra ACT 2601", "AU", True),
        ("8 Mitchell St, Darwin NT 0800", "AU", True),
        ("100 George St, Sydney NSW 3000", "AU", False),  # a Victorian postcode
        ("100 George St, Sydney XYZ 2000", "AU", False),
    ],
)
def test_a_postcode_is_valid_only_as_its_country_issues_it(
    block: str, fmt: str, valid: bool
) -> None:
    assert postcode_valid(block, fmt) is valid


_CA_FIRST = "ABCEGHJKLMNPRSTVXY"
_CA_OTHER = "ABCEGHJKLMNPRSTVWXYZ"


@given(
    st.sampled_from(_CA_FIRST), st.sampled_from(_CA_OTHER), st.sampled_from(_CA_OTHER),
    st.integers(0, 9), st.integers(0, 9), st.integers(0, 9), st.booleans(),
)  # fmt: skip
def test_every_canadian_postcode_shape_is_valid_and_a_d_f_i_o_q_u_never_is(
    a: str, b: str, c: str, x: int, y: int, z: int, space: bool
) -> None:
    code = f"{a}{x}{b}{' ' if space else ''}{y}{c}{z}"
    assert postcode_valid(f"1 rue X, Ville {code}", "CA")
    for bad in "DFIOQU":
        assert not postcode_valid(f"1 rue X, Ville {bad}{code[1:]}", "CA")


@given(st.text(max_size=120), st.sampled_from(["FR", "BE_CH", "CA", "UK", "US", "IE", "AU"]))
def test_the_postcode_check_never_fails_on_any_text(block: str, fmt: str) -> None:
    assert postcode_valid(block, fmt) in (True, False)


@pytest.mark.parametrize(
    ("address", "doubts"),
    [
        ("marie.dupont@orange.fr", ()),
        ("o'brien+factures@client.co.uk", ()),
        ("jane..doe@gmail.com", ("email_not_valid",)),
        (".jane@gmail.com", ("email_not_valid",)),
        ("jane@-gmail.com", ("email_not_valid",)),
        ("jane@gmail.c0m", ("email_not_valid",)),
        ("Client@Exemple.fr", ("email_is_the_senders_own",)),
        ("tom.b@gmail.com.thanks", ("email_domain_unusual",)),  # "….com.thanks" typed glued
        ("paul@free.fr.merci", ("email_domain_unusual",)),
        ("anna@studio.paris", ()),
        ("anna@studio.example", ()),
    ],
)
def test_an_email_is_applied_only_when_valid_and_not_the_senders_own(
    address: str, doubts: tuple[str, ...]
) -> None:
    assert email_doubts(address, "client@exemple.fr") == doubts


def test_a_phone_is_checked_against_the_mails_numbering_plan() -> None:
    jersey = phonenumbers.parse("+447797123456")  # +44 but JE: the same plan as GB
    assert phone_doubts(jersey, "GB") == ()
    assert phone_doubts(phonenumbers.parse("06 45 12 78 90", "FR"), "FR") == ()
    assert phone_doubts(phonenumbers.parse("06 45 12 78 90", "FR"), "BE") == (
        "phone_not_of_the_mails_region",
    )
    assert phone_doubts(phonenumbers.parse("0800 123 456", "FR"), "FR") == (
        "phone_not_a_personal_line",
    )


_FIELD_VALUES = st.builds(
    FieldValue,
    st.sampled_from(["x", "y"]),
    st.sampled_from([0.5, 0.9, 0.95]),
    st.sampled_from([(), ("a_doubt",)]),
)


@given(st.dictionaries(st.sampled_from(FIELDS), _FIELD_VALUES, max_size=4), st.booleans())
def test_an_applied_plan_is_always_a_verified_single_checked_field_or_a_phone_email_pair(
    fields: dict[str, FieldValue], verified: bool
) -> None:
    plan = plan_update(AdminUpdate(fields), verified)
    if plan.apply:
        assert verified and "iban" not in plan.apply
        assert len(plan.apply) == 1 or set(plan.apply) == {"phone", "email"}
        assert all(fields[k].confidence >= 0.9 and not fields[k].doubts for k in plan.apply)
        assert not plan.note and plan.reasons == []
    else:
        assert plan.note == {k: v.value for k, v in fields.items()}


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Could you please change the address on my account to 17 Elm Grove, Leeds LS6 2AP?", "en-GB", {"postal_address": "17 Elm Grove, Leeds LS6 2AP"}),
        ("Pourriez-vous mettre à jour mon adresse : 3 rue Mercière, 69002 Lyon ?", "fr-FR", {"postal_address": "3 rue Mercière, 69002 Lyon"}),
        ("Merci de remplacer le 01 42 00 00 01 par le 06 81 92 03 14 sur ma fiche.", "fr-FR", {"phone": "+33681920314"}),
        ("Please replace 0161 496 0000 with 0161 496 0555 on our account.", "en-GB", {"phone": "+441614960555"}),
        ("Nouveau n° de portable : 06 31 42 53 64", "fr-FR", {"phone": "+33631425364"}),
        ("Mon nouveau GSM : 0475 12 34 56", "fr-BE", {"phone": "+32475123456"}),
        ("Please be advised that with effect from 1 July our registered address will be:\n\n3rd Floor\n20 Market Street\nLondon\nEC2A 4NE\n\nYours faithfully", "en-GB", {"postal_address": "3rd Floor, 20 Market Street, London, EC2A 4NE"}),
    ],
)  # fmt: skip
def test_requests_put_as_questions_replacements_and_abbreviations_are_read(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert _plan(body, locale)[0] == expected


@pytest.mark.parametrize(
    "body",
    [
        "Est-ce que votre nouvelle adresse est bien le 10 rue de Rivoli, 75004 Paris ? Je voudrais vous renvoyer un colis.",
        "Is 020 7946 0555 your new phone number? The old one doesn't work.",
        "Merci de remplacer le 01 42 00 00 01 sur ma fiche.",
    ],
)
def test_a_real_question_or_a_replaced_value_alone_is_not_read(body: str) -> None:
    assert extract_admin_update("Question", body, sender="client@exemple.fr").values() == {}


@pytest.mark.parametrize(
    ("subject", "body", "locale", "expected"),
    [
        ("Changement d'adresse", "Bonjour,\n\n12 rue des Tanneurs\n67000 Strasbourg\n\nCordialement,\nLéon Weber", "fr-FR", {"postal_address": "12 rue des Tanneurs, 67000 Strasbourg"}),
        ("Change of address", "Hi,\n\nFlat 2\n33 Mill Road\nCambridge CB1 2AD\n\nThanks,\nAmy", "en-GB", {"postal_address": "Flat 2, 33 Mill Road, Cambridge CB1 2AD"}),
        ("Nouveau numéro", "Bonjour,\n06 58 47 36 25\nMerci de mettre à jour.\nCordialement", "fr-FR", {"phone": "+33658473625"}),
        ("New email address", "Hi,\nit's h.clarke@outlook.com\nThanks", "en-GB", {"email": "h.clarke@outlook.com"}),
    ],
)  # fmt: skip
def test_a_value_given_bare_under_a_subject_announcing_it_is_a_note_never_applied(
    subject: str, body: str, locale: str, expected: dict[str, str]
) -> None:
    apply, note, reasons = _plan(body, locale, subject)
    assert apply == {} and note == expected
    assert any(r.endswith(":introduced_only_by_the_subject") for r in reasons)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Nouvelle adresse", "Bonjour,\nMerci de m'envoyer la facture.\nPaul Martin\n15 rue Paradis\n13001 Marseille"),
        ("Nouveau numéro", "Bonjour,\nJe n'arrive pas à joindre le 01 40 00 00 00, votre standard est-il fermé ?\nMerci"),
        ("Changement d'adresse", "Bonjour,\nAncienne : 2 rue Sully, 44000 Nantes\nMerci"),
        ("Question", "Bonjour,\n\n12 rue des Tanneurs\n67000 Strasbourg\n\nCordialement"),
    ],
)  # fmt: skip
def test_a_signature_a_question_an_old_value_or_a_plain_subject_gives_no_bare_value(
    subject: str, body: str
) -> None:
    assert extract_admin_update(subject, body, sender="client@exemple.fr").values() == {}


@pytest.mark.parametrize(
    ("body", "field", "name"),
    [
        ("Notre société devient SAS Martin & Associés le 1er janvier.", "company_name", "SAS Martin & Associés"),
        ("Notre raison sociale devient Les Jardins de Marie suite au rachat.", "company_name", "Les Jardins de Marie"),
        ("Our company name is now Smith and Sons Plumbing effective immediately.", "company_name", "Smith and Sons Plumbing"),
        ("Our new billing contact is Mrs Jane Smith in our finance team.", "billing_contact", "Jane Smith"),
        ("Le nouveau contact pour la facturation est M. Paul Durand, comptable.", "billing_contact", "Paul Durand"),
    ],
)  # fmt: skip
def test_a_name_stops_where_the_sentence_runs_on_and_is_then_only_a_note(
    body: str, field: str, name: str
) -> None:
    update = extract_admin_update("Changement", body, sender="client@exemple.fr")
    assert update.values() == {field: name}
    assert plan_update(update, verified=True).apply == {}


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Ma nouvelle adresse :\nJean Dupont\n12 rue Victor Hugo\n75011 Paris\nMerci", "fr-FR", {"postal_address": "12 rue Victor Hugo, 75011 Paris"}),
        ("Our new address is:\nHartley & Sons Ltd\n14 Bridge Street\nYork YO1 6DD\n\nThanks", "en-GB", {"postal_address": "14 Bridge Street, York YO1 6DD"}),
        ("Ma nouvelle adresse sera le 4 rue des Fleurs 44000 Nantes. Mon numéro ne change pas : 06 12 34 56 78.", "fr-FR", {"postal_address": "4 rue des Fleurs 44000 Nantes"}),
        ("New address 9 Castle Street, Cardiff CF10 1BS. Our phone number doesn't change, still 029 2018 0000.", "en-GB", {"postal_address": "9 Castle Street, Cardiff CF10 1BS"}),
    ],
)  # fmt: skip
def test_a_name_line_above_the_street_and_a_value_said_not_to_change_are_left_out(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert _plan(body, locale)[0] == expected


def test_a_form_of_labelled_new_details_gives_each_field_and_is_then_a_note() -> None:
    body = (
        "Bonjour Madame,\n\nJe vous confirme mes nouvelles coordonnées :\n\n"
        "Adresse : 27 rue du Faubourg Saint-Antoine\n75011 Paris\nTéléphone : 06 72 83 94 05\n"
        "E-mail : l.bonnet@gmail.com\n\nJe reste à votre disposition.\nCordialement,\nLaurent"
    )
    apply, note, reasons = _plan(body)
    assert apply == {} and "several_fields:email,phone,postal_address" in reasons
    assert note == {
        "postal_address": "27 rue du Faubourg Saint-Antoine, 75011 Paris",
        "phone": "+33672839405",
        "email": "l.bonnet@gmail.com",
    }


def test_a_form_of_someone_elses_details_gives_nothing() -> None:
    body = "Voici les nouvelles coordonnées de notre comptable :\n\nTéléphone : 06 72 83 94 05\nE-mail : cab@compta.fr"
    assert extract_admin_update("Info", body, sender="client@exemple.fr").values() == {}


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Nous avons déménagé : merci d'adresser désormais vos factures au 5 allée Turgot, 31000 Toulouse.", "fr-FR", {"postal_address": "5 allée Turgot, 31000 Toulouse"}),
        ("bonjour, ma nouvelle adresse c'est 14 bd de la Liberté 59800 lille. merci", "fr-FR", {"postal_address": "14 bd de la Liberté 59800 lille"}),
        ("Changement d'adresse pour notre siège social, désormais situé au 8 boulevard des Italiens, 75009 Paris.", "fr-FR", {"postal_address": "8 boulevard des Italiens, 75009 Paris"}),
        ("Our new address: 4th Floor, 1 Canada Square, London E14 5AB", "en-GB", {"postal_address": "4th Floor, 1 Canada Square, London E14 5AB"}),
        ("à partir d'aujourd'hui merci de m'écrire sur pierre.lambert@proton.me au lieu de pierre.lambert@wanadoo.fr", "fr-FR", {"email": "pierre.lambert@proton.me"}),
        ("My new home address is 56 Belmont Road, Bristol BS6 5AT. Thanks", "en-GB", {"postal_address": "56 Belmont Road, Bristol BS6 5AT"}),
    ],
)  # fmt: skip
def test_invoices_sent_to_lower_case_mail_floors_and_write_to_me_are_read(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert _plan(body, locale)[0] == expected


def test_a_postcode_ends_its_sentence_before_a_question() -> None:
    body = "My new home address is 56 Belmont Road, Bristol BS6 5AT. Could you also update my mobile to 07456 789012?"
    apply, note, _ = _plan(body, "en-GB")
    assert apply == {} and note == {
        "postal_address": "56 Belmont Road, Bristol BS6 5AT",
        "phone": "+447456789012",
    }


def test_write_to_me_without_a_new_word_is_not_a_change() -> None:
    body = "Pour toute question vous pouvez m'écrire à contact@boulangerie.fr."
    assert extract_admin_update("Info", body, sender="client@exemple.fr").values() == {}


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Nous quittons le 3 rue de Metz, 31000 Toulouse pour le 22 allée Jean Jaurès, 31000 Toulouse à compter du 1er avril.", "fr-FR", {"postal_address": "22 allée Jean Jaurès, 31000 Toulouse"}),
        ("Nous passons du 3 rue de Metz au 22 allée Jean Jaurès, 31000 Toulouse.", "fr-FR", {"postal_address": "22 allée Jean Jaurès, 31000 Toulouse"}),
        ("Old: 4 Park Lane, Bath BA1 1AA\nNew: 9 Orchard Close, Bath BA2 4RS\nThanks", "en-GB", {"postal_address": "9 Orchard Close, Bath BA2 4RS"}),
        ("Please update my number from 07911 654321 to 07911 123456. Thanks", "en-GB", {"phone": "+447911123456"}),
        ("We are moving on 15 March. From then on, our address is 8 Quay Street, Bristol BS1 4DB.", "en-GB", {"postal_address": "8 Quay Street, Bristol BS1 4DB"}),
        ("Please note we have moved to 1450 boul. René-Lévesque O., Montréal, QC H3G 1T4.", "en-CA", {"postal_address": "1450 boul. René-Lévesque O., Montréal, QC H3G 1T4"}),
    ],
)  # fmt: skip
def test_of_an_old_and_a_new_value_only_the_new_one_is_applied(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert _plan(body, locale)[0] == expected


@pytest.mark.parametrize(
    "body",
    [
        # the old address in a parenthesis before the new one: never the old one
        "Voici ma nouvelle adresse (l'ancienne était le 7 rue Nationale, 37000 Tours) : 14 rue Colbert, 37000 Tours.",
        "Hello, my email changed from a.b@old.com to a.b@new.com. Thanks",
        "Du 1er juillet au 31 août, merci d'envoyer mon courrier à ma résidence secondaire : 5 chemin des Dunes, 85100 Les Sables-d'Olonne.",
        "While our office is being refurbished, please send post to 3 Mill Lane, Leeds LS1 5AB.",
    ],
)
def test_an_old_value_or_a_stay_is_never_what_is_applied(body: str) -> None:
    update = extract_admin_update("Changement", body, sender="c@x.fr", locale="fr-FR")
    assert not {"7 rue Nationale, 37000 Tours", "a.b@old.com"} & set(update.values().values())
    assert plan_update(update, verified=True).apply == {}


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("On a déménagé, la nouvelle adresse est\n\n7 bis chemin du Moulin\n56400 Auray\n\nMerci", "fr-FR", {"postal_address": "7 bis chemin du Moulin, 56400 Auray"}),
        ("Our new address will be\n\n12 Main Street\nLondon SW1A 1AA\n\nThanks", "en-GB", {"postal_address": "12 Main Street, London SW1A 1AA"}),
    ],
)  # fmt: skip
def test_a_cue_ending_its_line_owns_the_value_under_a_blank_line(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert (
        extract_admin_update("x", body, sender="client@exemple.fr", locale=locale).values()
        == expected
    )


@pytest.mark.parametrize(
    ("body", "locale", "expected"),
    [
        ("Pourriez-vous mettre à jour :\n\nAdresse : 9 place de la République, 69002 Lyon\nTéléphone : 06 84 55 12 73\nMail : anne.blanc@gmail.com\n\nMerci", "fr-FR",
         {"postal_address": "9 place de la République, 69002 Lyon", "phone": "+33684551273", "email": "anne.blanc@gmail.com"}),
        ("Please update my contact info:\nphone: 07723 456789\nemail: emily.roy@gmail.com\n\nThanks", "en-GB",
         {"phone": "+447723456789", "email": "emily.roy@gmail.com"}),
        ("Please could you make the following amendments to our account:\n\n1. Billing contact: Mrs Angela Reid, School Business Manager\n2. Contact telephone: 01628 555 902\n\nThank you", "en-GB",
         {"billing_contact": "Angela Reid", "phone": "+441628555902"}),
    ],
)  # fmt: skip
def test_a_request_ending_on_a_colon_reads_the_labelled_lines_below_it(
    body: str, locale: str, expected: dict[str, str]
) -> None:
    assert (
        extract_admin_update("x", body, sender="client@exemple.fr", locale=locale).values()
        == expected
    )


@pytest.mark.parametrize(
    ("body", "locale", "doubt"),
    [
        ("Bonjour, mon nouveau numéro est le 06 45 12 78 90.\nJean Dupont\n06 11 22 33 44", "fr-FR", "not_checked:phone:another_phone_in_the_mail"),
        ("Hi, my new email address is ann.smith@gmail.com.\n\nAnn Smith\nann.smith@hartley.co.uk", "en-GB", "not_checked:email:another_email_in_the_mail"),
        ("Hello, our new address is 40 Hills Road, Cambridge CB2 1LA.\nAnn Smith\n12 Mill Road, Cambridge CB1 2AD", "en-GB", "not_checked:postal_address:another_postal_address_in_the_mail"),
    ],
)  # fmt: skip
def test_a_value_beside_another_of_its_kind_not_said_old_is_only_proposed(
    body: str, locale: str, doubt: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and note and doubt in reasons


def test_an_old_value_said_left_or_kept_elsewhere_in_the_mail_is_no_rival() -> None:
    body = "J'ai quitté le 3 rue Voltaire, 49000 Angers. Je suis désormais au 18 boulevard Foch, 49100 Angers."
    assert _plan(body)[0] == {"postal_address": "18 boulevard Foch, 49100 Angers"}


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Our new address is:\nMillbank House\n3 Riverside Way\nReading RG1 8DF\n\nThanks", "en-GB"),
        ("Notre nouvelle adresse :\nService Comptabilité Fournisseurs\n12 rue Louis Blériot\n63000 Clermont-Ferrand\n\nMerci", "fr-FR"),
    ],
)  # fmt: skip
def test_an_address_under_a_house_or_department_line_left_out_is_only_proposed(
    body: str, locale: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and "postal_address" in note
    assert "not_checked:postal_address:address_name_line_unsure" in reasons


def test_an_address_under_the_recipients_name_is_still_applied() -> None:
    body = "Notre nouvelle adresse :\nSARL Dupont\n14 avenue de la République\n93100 Montreuil"
    assert _plan(body)[0] == {"postal_address": "14 avenue de la République, 93100 Montreuil"}


@pytest.mark.parametrize(
    ("body", "locale", "address"),
    [
        ("<div>Bonjour,</div><div><br></div><div>Pouvez-vous remplacer mon adresse e-mail par&nbsp;t.garnier@protonmail.com ?</div><div>Merci</div>", "fr-FR", "t.garnier@protonmail.com"),
        ("Je change de fournisseur. Svp mettre jf.gagnon@videotron.ca à la place à partir d'aujourd'hui.", "fr-CA", "jf.gagnon@videotron.ca"),
        ("I'm closing this Hotmail account soon. Please use tom.richardson.84@gmail.com for all emails and e-bills going forward.", "en-GB", "tom.richardson.84@gmail.com"),
        ("Could you replace my email address with sam.o@outlook.com?", "en-GB", "sam.o@outlook.com"),
    ],
)  # fmt: skip
def test_a_new_email_asked_for_in_other_words_or_under_markup_is_read(
    body: str, locale: str, address: str
) -> None:
    assert extract_admin_update(
        "Email", body, sender="client@exemple.fr", locale=locale
    ).values() == {"email": address}


@pytest.mark.parametrize(
    ("body", "locale", "number"),
    [
        ("Le numéro de mon dossier n'est plus le bon, le nouveau est le 06 59 03 71 24. Merci.", "fr-FR", "+33659037124"),
        ("Mon portable a changé, c'est le 07 82 19 44 63 maintenant.", "fr-FR", "+33782194463"),
        ("So we finally moved and my cell changed too, it's 919.555.0132", "en-US", "+19195550132"),
        ("My phone number on file is wrong. The correct number is (503) 555-0198.", "en-US", "+15035550198"),
    ],
)  # fmt: skip
def test_a_new_number_announced_in_other_words_is_read(body: str, locale: str, number: str) -> None:
    assert extract_admin_update("x", body, sender="client@exemple.fr", locale=locale).values() == {
        "phone": number
    }


@pytest.mark.parametrize(
    ("body", "locale", "name"),
    [
        ("Merci de bien vouloir :\n1. modifier la raison sociale figurant sur nos contrats, qui devient : Novalis Partners SA ;\n2. rien d'autre.", "fr-FR", "Novalis Partners SA"),
        ("Ma menuiserie est passée en société. Le nom sur les factures doit être maintenant :\n\nMENUISERIE ROBIN & FILS SARL\n\nEmmanuel Robin", "fr-FR", "MENUISERIE ROBIN & FILS SARL"),
        ("Brightline Logistics has merged with Harbor Freight. The surviving entity name is:\n\nBrightline Harbor Logistics, LLC\n\nRegards", "en-US", "Brightline Harbor Logistics, LLC"),
        ("Northern Timber Supply Ltd. is now operating as NTS Building Materials Inc. following our amalgamation.", "en-CA", "NTS Building Materials Inc"),
    ],
)  # fmt: skip
def test_a_new_company_name_announced_in_other_words_is_read(
    body: str, locale: str, name: str
) -> None:
    assert extract_admin_update("x", body, sender="client@exemple.fr", locale=locale).values() == {
        "company_name": name
    }


@pytest.mark.parametrize(
    ("body", "locale", "name"),
    [
        ("A partir de maintenant merci d'envoyer les factures à l'attention de Mme Sophie Marchal, qui s'occupe de la comptabilité.", "fr-FR", "Sophie Marchal"),
        ("Our practice manager has changed. Could you please address all invoices to Mr David Okafor from now on?", "en-GB", "David Okafor"),
        ("Could you please send the invoices for the pharmacy to our new bookkeeper, Ms Orla Gallagher, from next month on?", "en-IE", "Orla Gallagher"),
    ],
)  # fmt: skip
def test_invoices_sent_to_a_person_from_now_on_propose_a_billing_contact(
    body: str, locale: str, name: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and note == {"billing_contact": name}
    assert "not_checked:billing_contact:name_not_stated_outright" in reasons


def test_one_invoice_sent_to_a_person_is_no_billing_contact() -> None:
    body = "Please send the last invoice to the attention of Mr John Smith, thanks."
    assert (
        extract_admin_update("x", body, sender="client@exemple.fr", locale="en-GB").values() == {}
    )


def _address(body: str, locale: str) -> str | None:
    return (
        extract_admin_update("x", body, sender="client@exemple.fr", locale=locale)
        .values()
        .get("postal_address")
    )


@pytest.mark.parametrize(
    ("body", "locale", "address"),
    [
        ("Nous avons déménagé. Merci de noter :\nChemin de Montolivet 19\n1006 Lausanne\n\nCorinne", "fr-CH", "Chemin de Montolivet 19, 1006 Lausanne"),
        ("Je vous prie de noter que mon courrier doit m'être adressé à ma case postale :\n\nCase postale 214\n1211 Genève 3\n\nLaurent", "fr-CH", "Case postale 214, 1211 Genève 3"),
        ("Merci d'envoyer désormais le courrier de l'association à :\n\nBP 40027\n24200 Sarlat-la-Canéda\n\nLa trésorière", "fr-FR", "BP 40027, 24200 Sarlat-la-Canéda"),
        ("We're completing on our move on the 30th. From that date please send everything to:\n\nThe Old Forge\nHigh Street\nChipping Campden\nGL55 6HB\n\nThanks", "en-GB", "The Old Forge, High Street, Chipping Campden, GL55 6HB"),
    ],
)  # fmt: skip
def test_a_line_ending_on_a_colon_about_the_address_or_the_mail_introduces_the_block(
    body: str, locale: str, address: str
) -> None:
    assert _address(body, locale) == address


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Pourriez-vous exceptionnellement m'envoyer la facture de janvier à mon bureau :\nMairie de Colmar, 1 place de la Mairie, 68000 Colmar\n\nEnsuite continuez chez moi.", "fr-FR"),
        ("Could you send just this once the bill to my office address:\n12 Mill Lane, Leeds LS6 2AB\n\nThen back to home as usual.", "en-GB"),
        ("Ancienne adresse :\n7 rue Carnot\n37000 Tours\n\nMerci", "fr-FR"),
    ],
)  # fmt: skip
def test_an_address_for_one_invoice_or_called_old_on_its_label_is_not_read(
    body: str, locale: str
) -> None:
    assert _address(body, locale) is None


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Je vous écris pour le compte de ma mère, Mme Odette Marchand.\n\nNouveau numéro : 03 26 48 11 57\n\nDidier", "fr-FR"),
        ("I'm writing on behalf of my father, who holds the account.\n\nNew mobile number: 07723 456789\n\nAshley", "en-GB"),
    ],
)  # fmt: skip
def test_a_change_written_on_behalf_of_someone_else_is_only_proposed(
    body: str, locale: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and "phone" in note
    assert "not_checked:phone:written_for_someone_else" in reasons


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Ma nouvelle adresse : 12 rue des Lilas, 69003 Lyon.\n\nPour me joindre : 06 45 12 78 90", "fr-FR"),
        ("Our new address: 14 Collins Street, Melbourne VIC 3000.\n\nYou can call me on 0491 570 156 any time.", "en-AU"),
    ],
)  # fmt: skip
def test_a_change_beside_other_details_not_read_as_one_is_only_proposed(
    body: str, locale: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and list(note) == ["postal_address"]
    assert "not_checked:postal_address:other_details_in_the_mail" in reasons


def test_the_signature_under_a_formal_closing_is_not_the_senders_words() -> None:
    body = (
        "Madame, Monsieur,\n\nNotre nouvelle dénomination est : Les Fournils de l'Allier SAS\n\n"
        "Veuillez agréer, Madame, Monsieur, l'expression de nos salutations distinguées.\n\n"
        "Service administratif\nLes Fournils de l'Allier SAS\n22 avenue de Gramont, 03200 Vichy\n"
        "04 70 31 58 02"
    )
    assert _plan(body)[0] == {"company_name": "Les Fournils de l'Allier SAS"}


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Merci de remplacer mon adresse e-mail par n.girard@mailbox.fr et de m'y envoyer mes identifiants d'espace client.", "fr-FR"),
        ("Please change my email to sam.o@outlook.com and send the password reset link there.", "en-GB"),
    ],
)  # fmt: skip
def test_a_new_email_with_a_request_for_credentials_is_only_proposed(
    body: str, locale: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and "email" in note
    assert "not_checked:email:asks_for_credentials" in reasons


@pytest.mark.parametrize(
    ("body", "locale", "address"),
    [
        ("My bills have the wrong postcode. Full address is 41 Cathedral Road, Cardiff, CF11 9LJ.", "en-GB", "41 Cathedral Road, Cardiff, CF11 9LJ"),
        ("Il y a une erreur de code postal, la bonne adresse c'est 112 rue Paul Bert, 69003 Lyon.", "fr-FR", "112 rue Paul Bert, 69003 Lyon"),
        ("I have moved and my new address is:\n\nRose Cottage\nChurch Lane\nLittle Snoring\nFakenham\nNorfolk\nNR21 0HZ\n\nThanks", "en-GB", "Rose Cottage, Church Lane, Little Snoring, Fakenham, Norfolk, NR21 0HZ"),
    ],
)  # fmt: skip
def test_a_corrected_or_six_line_address_is_read(body: str, locale: str, address: str) -> None:
    assert _address(body, locale) == address


def test_a_persons_new_legal_name_is_no_company_name() -> None:
    body = "I've recently changed my legal name from Alexandra Morgan to Alex Morgan. Could you update it?"
    assert (
        extract_admin_update("Name", body, sender="client@exemple.fr", locale="en-GB").values()
        == {}
    )
    body = "Effective January 1, Osei Freight Services LLC changed its legal name to Osei Logistics LLC."
    assert extract_admin_update(
        "Name", body, sender="client@exemple.fr", locale="en-US"
    ).values() == {"company_name": "Osei Logistics LLC"}


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Voici mes nouvelles coordonnées :\n\n- Cellulaire : 450 555-9032\n- Prélèvements : nouveau compte à la Caisse Desjardins, transit 80012, folio 4410293\n\nMerci", "fr-CA"),
        ("My new mobile number is 07723 456789. I have also switched banks, please take the direct debit from my new bank account from next month.", "en-GB"),
    ],
)  # fmt: skip
def test_a_change_beside_new_bank_details_without_an_iban_is_only_proposed(
    body: str, locale: str
) -> None:
    apply, note, reasons = _plan(body, locale)
    assert apply == {} and list(note) == ["phone"]
    assert "not_checked:phone:other_details_in_the_mail" in reasons


def test_an_email_with_a_word_glued_after_it_is_only_proposed_never_applied() -> None:
    update = extract_admin_update(
        "new email", "hi pls use my new email: tom.b@gmail.example.thanks", sender="t@x.example",
        locale="en-GB",
    )  # fmt: skip
    plan = plan_update(update, True, [])
    assert update.values()["email"] == "tom.b@gmail.example.thanks"
    assert "email" not in plan.apply and "email" in plan.note


@pytest.mark.parametrize(
    ("body", "locale"),
    [
        ("Hi, my new phone number is 020 7946 0958 ext. 12.", "en-GB"),
        ("Hello, my new number is (212) 555-0143 ext 204.", "en-US"),
    ],
)
def test_a_phone_with_an_extension_is_only_proposed_as_the_field_would_lose_it(
    body: str, locale: str
) -> None:
    update = extract_admin_update("New phone", body, sender="t@x.example", locale=locale)
    plan = plan_update(update, True, [])
    assert "phone_has_an_extension" in update.fields["phone"].doubts
    assert "phone" not in plan.apply and "phone" in plan.note
