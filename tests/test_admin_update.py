# ruff: noqa: E501
"""Administrative updates (issue 12.2): fields read with a confidence, applied only for a
verified sender and confident fields, bank details never; look-alike senders refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.extract.admin_update import extract_admin_update, plan_update
from bot.extract.postal import find_address
from bot.verify import check_sender, parse_authentication_results, same_mailbox

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Notre nouvelle adresse : 12 rue des Lilas, 69003 Lyon. Merci", "12 rue des Lilas, 69003 Lyon"),
        ("We have moved to:\n221B Baker Street\nLondon NW1 6XE\n\nThanks", "221B Baker Street, London NW1 6XE"),
        ("My new address is 350 Fifth Avenue, New York, NY 10118.", "350 Fifth Avenue, New York, NY 10118"),
        ("New address: 100 George St, Sydney NSW 2000", "100 George St, Sydney NSW 2000"),
        ("Nouvelle adresse :\nRue de la Loi 16\n1000 Bruxelles", "Rue de la Loi 16, 1000 Bruxelles"),
        ("Nouvelle adresse : Route de Lausanne 5, 1203 Genève", "Route de Lausanne 5, 1203 Genève"),
        ("new address: 1 Main Street, Dublin D02 X285", "1 Main Street, Dublin D02 X285"),
        ("Nouvelle adresse : 1000 rue Sherbrooke Ouest, Montréal (Québec) H3A 3G4",
         "1000 rue Sherbrooke Ouest, Montréal (Québec) H3A 3G4"),
    ],
)  # fmt: skip
def test_new_postal_address_is_found_in_each_supported_format(text: str, expected: str) -> None:
    found = find_address(text)
    assert found is not None and found.text == expected and found.confidence >= 0.9


def test_an_old_address_is_not_taken_for_the_new_one() -> None:
    assert find_address("Mon ancienne adresse : 3 rue Haute, 75001 Paris") is None


@given(st.text(max_size=300))
def test_address_parser_never_fails_on_any_text(text: str) -> None:
    found = find_address(text)
    assert found is None or found.text


def test_phone_and_email_are_extracted_and_the_old_number_ignored() -> None:
    update = extract_admin_update(
        "Changement de coordonnées",
        "Mon nouveau numéro est le 06 12 34 56 78 (ancien : 01 23 45 67 89).\n"
        "Ma nouvelle adresse e-mail : anne.martin@exemple.fr",
        sender="anne@client.fr",
        locale="fr-FR",
    )
    assert update.values() == {"phone": "+33612345678", "email": "anne.martin@exemple.fr"}
    assert update.confident()


def test_a_verified_confident_change_is_applied() -> None:
    update = extract_admin_update(
        "Déménagement", "Notre nouvelle adresse : 5 avenue Foch, 75116 Paris."
    )
    plan = plan_update(update, verified=True)
    assert plan.apply == {"postal_address": "5 avenue Foch, 75116 Paris"} and not plan.note


def test_an_iban_is_never_applied_even_from_the_verified_contact() -> None:
    update = extract_admin_update(
        "RIB", "Voici mon nouveau RIB : FR76 3000 6000 0112 3456 7890 189"
    )
    plan = plan_update(update, verified=True)
    assert plan.apply == {} and plan.verification_task
    assert plan.note == {"iban": "FR7630006000011234567890189"}


def test_an_iban_with_a_wrong_checksum_is_not_read() -> None:
    update = extract_admin_update("RIB", "nouveau RIB : FR76 3000 6000 0112 3456 7890 188")
    assert "iban" not in update.values()


def test_an_unverified_sender_gets_a_note_not_a_change() -> None:
    update = extract_admin_update("Move", "Our new address: 100 George St, Sydney NSW 2000")
    plan = plan_update(update, verified=False, why_not=["not_the_address_on_file"])
    assert plan.apply == {} and plan.note and "not_the_address_on_file" in plan.reasons


@pytest.mark.parametrize(
    ("sender", "on_file", "ok"),
    [
        ("Anne@Client.fr", "anne@client.fr", True),
        ("anne+billing@client.fr", "anne@client.fr", True),
        ("anne@client.fr", "anne+billing@client.fr", False),
        ("bob+anne@client.fr", "anne@client.fr", False),
        ("anne@client.fr.evil.com", "anne@client.fr", False),
        ("anne@c1ient.fr", "anne@client.fr", False),
    ],
)
def test_same_mailbox_refuses_look_alikes(sender: str, on_file: str, ok: bool) -> None:
    assert same_mailbox(sender, on_file) is ok


def test_display_name_spoofing_is_not_verified() -> None:
    check = check_sender("mallory@evil.com", "anne@client.fr", sender_name="anne@client.fr")
    assert not check.verified
    check = check_sender("anne@client.fr", "anne@client.fr", sender_name="ceo@client.fr")
    assert "display_name_carries_another_address" in check.reasons


def test_failed_dmarc_in_authentication_results_is_not_verified() -> None:
    header = "mx.example.net; dkim=pass header.d=client.fr; spf=pass; dmarc=fail (p=reject)"
    check = check_sender("anne@client.fr", "anne@client.fr", authentication_results=header)
    assert not check.verified and check.reasons == ["dmarc_fail"]
    ok = check_sender(
        "anne@client.fr", "anne@client.fr", authentication_results=header.replace("fail", "pass")
    )
    assert ok.verified


def test_a_failure_in_any_authentication_results_header_wins() -> None:
    found = parse_authentication_results(["a; dkim=fail", "b; dkim=pass (forged)"])
    assert found["dkim"] == "fail"


def test_bench_prints_precision_recall_and_no_change_from_unverified_senders() -> None:
    sample = ROOT / "bench" / "data" / "sample" / "admin_updates_sample.jsonl"
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_admin_updates.py"), str(sample)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "field precision 1.0  recall 1.0" in out
    assert "applied from a sender that is not 'customer': 0" in out
    assert "applied automatically: 25.0%" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Our new address will be:\n12 Main Street\nLondon SW1A 1AA\nThanks", "12 Main Street, London SW1A 1AA"),
        ("Notre nouvelle adresse à compter du 1er décembre : 12 rue des Lilas 69003 Lyon à partir de lundi.", "12 rue des Lilas 69003 Lyon"),
        ("Nouvelle adresse : 3 quai de la Gare, 44000 Nantes Cedex 2", "3 quai de la Gare, 44000 Nantes Cedex 2"),
        ("Nouvelle adresse : 10 rue X, 85000 La Roche-sur-Yon.", "10 rue X, 85000 La Roche-sur-Yon"),
        ("Nouvelle adresse : Bahnhofstrasse 1, 8001 Zürich", "Bahnhofstrasse 1, 8001 Zürich"),
        ("nouvelle adresse : 8 allée des Pins, 92100 Boulogne-Billancourt, France", "8 allée des Pins, 92100 Boulogne-Billancourt"),
    ],
)  # fmt: skip
def test_address_stops_at_the_city_or_postcode_and_skips_labels(text: str, expected: str) -> None:
    found = find_address(text)
    assert found is not None and found.text == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Bonjour, notre raison sociale devient Dupont Énergie S.A.S. à compter du 1er janvier.", {"company_name": "Dupont Énergie S.A.S"}),
        ("Hello, our company name is now Acme Widgets Ltd. We also moved.", {"company_name": "Acme Widgets Ltd"}),
        ("Please note our new billing contact is Mary O'Brien (mary@acme.ie).", {"billing_contact": "Mary O'Brien"}),
        ("Mon ancien IBAN FR76 3000 6000 0112 3456 7890 189 est clos.", {}),
    ],
)  # fmt: skip
def test_company_billing_contact_and_old_iban(body: str, expected: dict[str, str]) -> None:
    assert extract_admin_update("Changement", body).values() == expected


_LOCAL = st.from_regex(r"[a-z][a-z0-9.]{0,10}", fullmatch=True)


@given(_LOCAL, _LOCAL, st.sampled_from(["client.fr", "example.com"]))
def test_a_plus_address_is_only_ever_its_own_owners(owner: str, other: str, domain: str) -> None:
    assert same_mailbox(f"{owner}@{domain}", f"{owner.upper()}@{domain}")
    assert same_mailbox(f"{owner}+tag@{domain}", f"{owner}@{domain}")
    if owner != other:
        assert not same_mailbox(f"{other}+{owner}@{domain}", f"{owner}@{domain}")
        assert not same_mailbox(f"{owner}@{domain}", f"{other}@{domain}")
    assert not same_mailbox(f"{owner}@{domain}.evil", f"{owner}@{domain}")


def test_the_applied_note_shows_crmbots_previous_value() -> None:
    from bot.admin_update import Assessment, planned_actions
    from bot.verify import SenderCheck

    update = extract_admin_update("Téléphone", "Mon nouveau numéro : 06 12 34 56 78")
    plan = plan_update(update, verified=True)
    assessment = Assessment("anne@client.fr", update, SenderCheck(True), plan)
    actions = planned_actions(assessment, "fr", {"phone": "+33123456789"})
    assert [a.type for a in actions] == ["update_contact", "add_note"]
    assert "(avant : +33123456789)" in actions[1].spec.text


def test_only_the_head_of_a_long_mail_is_read() -> None:
    from bot.extract.admin_update import MAX_CHARS

    tail = "Mon nouveau numéro est le 06 12 34 56 78."
    assert extract_admin_update("x", "a " * MAX_CHARS + tail).values() == {}
    assert extract_admin_update("x", tail).values() == {"phone": "+33612345678"}


@pytest.mark.parametrize(
    ("lang", "sentences"),
    [
        ("fr", ["NON appliqué", "l'expéditeur n'écrit pas depuis l'adresse e-mail de la fiche", "plusieurs champs changent à la fois (raison sociale, adresse postale)"]),
        ("en", ["NOT applied", "the sender does not write from the e-mail address on file", "several fields change at once (company name, postal address)"]),
    ],
)  # fmt: skip
def test_the_note_gives_its_reasons_as_sentences_in_the_customers_language(
    lang: str, sentences: list[str]
) -> None:
    from bot.admin_update import Assessment, planned_actions
    from bot.verify import SenderCheck

    body = (
        "Notre raison sociale devient Dupont Énergie.\n"
        "Notre nouvelle adresse : 12 rue des Lilas, 69003 Lyon"
    )
    update = extract_admin_update("Changement", body, sender="anne@client.fr")
    plan = plan_update(update, verified=False, why_not=["not_the_address_on_file"])
    check = SenderCheck(False, ["not_the_address_on_file"])
    actions = planned_actions(Assessment("anne@client.fr", update, check, plan), lang)
    [note] = [a.spec for a in actions if a.type == "add_note"]
    assert note.language == lang
    for sentence in sentences:
        assert sentence in note.text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", note.text)  # no snake_case code left


@pytest.mark.parametrize(("tag", "lang"), [("en-GB", "en"), ("en_IE", "en"), ("fr-BE", "fr")])
def test_a_regional_language_tag_gets_the_note_in_its_language(tag: str, lang: str) -> None:
    from bot.admin_update import Assessment, planned_actions
    from bot.verify import SenderCheck

    update = extract_admin_update(
        "Changement", "Notre nouvelle adresse : 12 rue des Lilas, 69003 Lyon", sender="a@b.fr"
    )
    plan = plan_update(update, verified=False, why_not=["not_the_address_on_file"])
    check = SenderCheck(False, ["not_the_address_on_file"])
    actions = planned_actions(Assessment("a@b.fr", update, check, plan), tag)
    [note] = [a.spec for a in actions if a.type == "add_note"]
    assert note.language == lang
    expected = {
        "en": "the sender does not write from the e-mail address on file",
        "fr": "l'expéditeur n'écrit pas depuis l'adresse e-mail de la fiche",
    }[lang]
    assert expected in note.text


def test_every_reason_code_the_extractor_or_the_sender_check_gives_has_a_sentence() -> None:
    from bot.admin_reasons import FIELD_NAMES, describe

    sources = [*(ROOT / "bot" / "extract").glob("*.py"), ROOT / "bot" / "verify.py"]
    codes = {
        code
        for path in sources
        for code in re.findall(r"""[(\[]\s*"([a-z]+(?:_[a-z]+)+)"\s*[,)\]]""", path.read_text())
    } - set(FIELD_NAMES)
    codes.add("looks_like_another_contact")  # bot/admin_update.py's own
    codes |= {f"another_{name}_in_the_mail" for name in ("phone", "email", "postal_address")}
    assert "sender_not_verified" in codes and "phone_not_a_personal_line" in codes
    for code in sorted(codes):
        for lang in ("fr", "en"):
            assert describe(code, lang) != code.replace("_", " "), code
    assert describe("not_checked:phone:phone_not_valid", "en") == (
        "phone: the number is not an allocated one"
    )
    assert describe("dmarc_fail", "fr") == "contrôle DMARC de l'expéditeur en échec"


def test_a_new_iban_alone_is_noted_with_the_bank_reason_only() -> None:
    update = extract_admin_update(
        "RIB", "Voici mon nouveau RIB : FR76 3000 6000 0112 3456 7890 189"
    )
    assert update.fields["iban"].doubts == ()
    assert plan_update(update, verified=True).reasons == ["bank_details_need_verification"]
