# ruff: noqa: E501
"""A change taken back or corrected further down the same mail (issue 12, blind set W8):
a retracted change is not read, a corrected one is read as the corrected value, only as a
proposal for an agent."""

from __future__ import annotations

import pytest

from bot.extract.admin_update import AdminUpdate, extract_admin_update, plan_update


def _update(subject: str, body: str, locale: str) -> AdminUpdate:
    return extract_admin_update(subject, body, sender="client@exemple.fr", locale=locale)


@pytest.mark.parametrize(
    ("subject", "body", "locale"),
    [
        ("Changement d'adresse", "Bonjour,\nMa nouvelle adresse : 4 rue des Tanneurs, 67000 Strasbourg.\n\nAh non, oubliez ce mail : la vente ne se fait plus. Je reste où je suis.\nMarc", "fr-FR"),
        ("RIB", "Merci de prélever désormais sur le compte FR76 3000 6000 0112 3456 7890 189.\n\nFinalement, ne tenez pas compte de ce message, le compte n'est pas encore ouvert.", "fr-FR"),
        ("Change of address", "Hi,\nPlease update my address to 7 Mill Lane, Leeds LS6 2AB.\n\nActually, scrap that - the sale has fallen through. Sorry!\nJo", "en-GB"),
        ("New number", "My new mobile number is 07723 456789.\n\nUPDATE: please disregard the above, the contract did not go through.", "en-GB"),
    ],
)  # fmt: skip
def test_a_change_the_mail_takes_back_further_down_is_not_read(
    subject: str, body: str, locale: str
) -> None:
    assert _update(subject, body, locale).values() == {}


def test_what_follows_a_retraction_of_an_earlier_mail_is_still_read() -> None:
    body = "Please ignore my previous email. My new mobile number is 07723 456789."
    assert _update("Number", body, "en-GB").values() == {"phone": "+447723456789"}
    body = "Oubliez mon message d'hier. Mon nouveau numéro est le 06 45 12 78 90."
    assert _update("Numéro", body, "fr-FR").values() == {"phone": "+33645127890"}


@pytest.mark.parametrize(
    ("body", "locale", "field", "value"),
    [
        ("Bonjour, merci de changer mon email en jeanne.roux@outlook.fr\n\nPardon je me suis trompée, c'est jeanne.roux75@outlook.fr (avec le 75).", "fr-FR", "email", "jeanne.roux75@outlook.fr"),
        ("Hi can you change my phone number to 07723 45678 - sorry typo, it's 07723 456789.", "en-GB", "phone", "+447723456789"),
    ],
)  # fmt: skip
def test_a_corrected_value_is_the_one_read_and_it_is_only_proposed(
    body: str, locale: str, field: str, value: str
) -> None:
    update = _update("Changement", body, locale)
    assert update.values() == {field: value}
    plan = plan_update(update, verified=True)
    assert plan.apply == {} and f"not_checked:{field}:corrected_later_in_the_mail" in plan.reasons
