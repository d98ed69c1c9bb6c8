"""Normalisation of identity fields: emails, phones, names, company domains."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.identity.keys import blocking_keys, phonetic
from bot.identity.normalise import (
    NICKNAMES,
    ContactRecord,
    canonical_given_name,
    company_domain,
    fold,
    is_role_address,
    normalise_date,
    normalise_email,
    normalise_phone,
    normalise_record,
    split_name,
)

emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(st.characters(codec="utf-8", exclude_characters="@ \t\r\n"), min_size=1),
    st.text(st.characters(codec="utf-8", exclude_characters="@. \t\r\n"), min_size=1),
    st.sampled_from(["com", "fr", "co.uk", "FR"]),
)


def test_email_is_lower_cased_and_stripped_of_plus_tag_and_gmail_dots() -> None:
    assert normalise_email("  <Jean.Dupont+crm@GMail.com> ") == "jeandupont@gmail.com"
    assert normalise_email("Jean.Dupont@googlemail.com") == "jeandupont@gmail.com"
    assert normalise_email("Jean.Dupont+news@Acme.FR") == "jean.dupont@acme.fr"
    assert normalise_email("mailto:a@b.fr") == "a@b.fr"


def test_email_folding_can_be_switched_off() -> None:
    raw = "Jean.Dupont+crm@gmail.com"
    assert (
        normalise_email(raw, fold_plus_addressing=False, fold_gmail_dots=False)
        == "jean.dupont+crm@gmail.com"
    )
    assert normalise_email(raw, fold_plus_addressing=True, fold_gmail_dots=False) == (
        "jean.dupont@gmail.com"
    )


def test_email_domain_is_encoded_as_idna() -> None:
    assert normalise_email("Léa@Société.fr") == "léa@xn--socit-esab.fr"
    assert normalise_email("léa@xn--socit-esab.fr") == "léa@xn--socit-esab.fr"


@pytest.mark.parametrize("value", ["", "no-at-sign", "@acme.fr", "jean@", None])
def test_email_that_is_not_one_gives_none(value: str | None) -> None:
    assert normalise_email(value) is None


@given(emails, st.booleans(), st.booleans())
def test_email_normalisation_is_idempotent(raw: str, plus: bool, dots: bool) -> None:
    once = normalise_email(raw, fold_plus_addressing=plus, fold_gmail_dots=dots)
    if once is not None:
        assert normalise_email(once, fold_plus_addressing=plus, fold_gmail_dots=dots) == once


def test_role_addresses_are_recognised() -> None:
    for local in ("contact", "info", "accueil", "support", "service-client", "noreply"):
        assert is_role_address(f"{local}@acme.fr")
    assert not is_role_address("jean.dupont@acme.fr")


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "FR", "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
        ("08 00 12 34 56", "FR", "+33800123456"),
        ("07700 900123", "GB", "+447700900123"),
        ("+44 7700 900123", "FR", "+447700900123"),
        ("(212) 555-0123", "US", "+12125550123"),
    ],
)
def test_phone_is_normalised_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


def test_phone_that_is_not_one_gives_none() -> None:
    assert normalise_phone("n/a") is None
    assert normalise_phone("12") is None


@given(st.from_regex(r"\+?[0-9 .()-]{0,20}", fullmatch=True), st.sampled_from(["FR", "GB", "US"]))
def test_phone_normalisation_is_idempotent(raw: str, region: str) -> None:
    once = normalise_phone(raw, region)
    if once is not None:
        assert normalise_phone(once, region) == once


@given(st.text())
def test_fold_is_idempotent_and_ascii(text: str) -> None:
    once = fold(text)
    assert fold(once) == once
    assert once.isascii()


def test_fold_strips_accents_case_and_punctuation() -> None:
    assert fold("  Hélène-Françoise  O'Brien ") == "helene francoise o brien"
    assert fold("ÉLODIE Müller") == "elodie muller"


def test_nickname_table_maps_to_canonical_names_that_map_to_themselves() -> None:
    for canonical in NICKNAMES.values():
        assert NICKNAMES.get(canonical, canonical) == canonical


@pytest.mark.parametrize(
    ("nick", "full"),
    [("bob", "robert"), ("bill", "william"), ("kate", "katherine"), ("jim", "james"),
     ("mike", "michael"), ("jeannot", "jean"), ("catherine", "kathy"), ("pierrot", "pierre")],
)  # fmt: skip
def test_nicknames_share_the_canonical_form_of_the_full_name(nick: str, full: str) -> None:
    assert canonical_given_name(nick) == canonical_given_name(full)


@given(st.text())
def test_canonical_given_name_is_idempotent(text: str) -> None:
    once = canonical_given_name(fold(text))
    assert canonical_given_name(once) == once


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jean Dupont", ("jean", "dupont")),
        ("DUPONT Jean", ("jean", "dupont")),
        ("Dupont, Jean", ("jean", "dupont")),
        ("M. Jean-Pierre DE LA FONTAINE", ("jean pierre", "de la fontaine")),
        ("Jean de la Fontaine", ("jean", "de la fontaine")),
        ("Ludwig van Beethoven", ("ludwig", "van beethoven")),
        ("J. Dupont", ("j", "dupont")),
        ("Dr Hélène Müller", ("helene", "muller")),
        ("Madonna", ("", "madonna")),
    ],
)
def test_split_name_finds_given_name_and_surname(name: str, expected: tuple[str, str]) -> None:
    assert split_name(name) == expected


def test_record_drops_particles_from_surname() -> None:
    a = normalise_record(ContactRecord(name="Jean de la Fontaine"))
    b = normalise_record(ContactRecord(given_name="Jean", surname="LA FONTAINE"))
    assert a.surname == b.surname == "fontaine"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jean@www.Acme.fr", "acme.fr"),
        ("https://www.acme.fr/contact", "acme.fr"),
        ("jean@gmail.com", None),
        ("jean@orange.fr", None),
        ("jean@laposte.net", None),
        ("x@hotmail.com", None),
        ("acme", None),
    ],
)
def test_company_domain_skips_free_mail(value: str, expected: str | None) -> None:
    assert company_domain(value) == expected


@pytest.mark.parametrize("raw", ["19650413", "1965-04-13", "13/04/1965", "13.04.1965"])
def test_dates_are_normalised_to_yyyymmdd(raw: str) -> None:
    assert normalise_date(raw) == "19650413"


@given(
    st.builds(
        ContactRecord,
        email=st.one_of(st.none(), emails),
        name=st.one_of(st.none(), st.text(max_size=40)),
        phone=st.one_of(st.none(), st.from_regex(r"0[1-9]( ?[0-9]{2}){4}", fullmatch=True)),
        postcode=st.one_of(st.none(), st.from_regex(r"[0-9]{5}", fullmatch=True)),
        birth_date=st.one_of(st.none(), st.from_regex(r"(19|20)[0-9]{2}[01][0-9][0-3][0-9]")),
    )
)
def test_profile_of_a_profile_is_the_same_profile(record: ContactRecord) -> None:
    p = normalise_record(record)
    again = normalise_record(
        ContactRecord(
            email=p.email or None,
            given_name=p.given or None,
            surname=p.surname or None,
            phone=p.phone or None,
            postcode=p.postcode or None,
            birth_date=p.birth_date or None,
        )
    )
    assert (again.email, again.phone, again.surname, again.postcode, again.birth_date) == (
        p.email,
        p.phone,
        p.surname,
        p.postcode,
        p.birth_date,
    )
    assert again.given_canon == p.given_canon


def test_phonetic_code_groups_similar_spellings() -> None:
    assert phonetic("smith") == phonetic("smyth")
    assert phonetic("robert") == phonetic("rupert")
    assert phonetic("") == ""


def test_blocking_keys_survive_name_order_and_nicknames() -> None:
    a = set(blocking_keys(normalise_record(ContactRecord(name="Bob Martin", postcode="75011"))))
    b = set(blocking_keys(normalise_record(ContactRecord(name="MARTIN Robert", postcode="75011"))))
    assert a & b
