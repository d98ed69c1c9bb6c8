"""The administrative-update benchmark compares values as a person would: format is not a miss."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_admin_updates import evaluate, normalise

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_a_national_phone_number_equals_its_international_form_in_the_mails_region() -> None:
    assert normalise("phone", "06 71 24 88 09", "FR") == normalise("phone", "+33671248809", "FR")
    assert normalise("phone", "079 412 56 83", "CH") == "+41794125683"
    assert normalise("phone", "06 71 24 88 09", "FR") != normalise("phone", "06 71 24 88 08", "FR")


def test_an_address_with_or_without_its_country_is_the_same_address() -> None:
    with_country = normalise("postal_address", "Route de Berne 22, 1700 Fribourg, Suisse")
    assert with_country == normalise("postal_address", "Route de Berne 22, 1700 FRIBOURG")
    assert with_country != normalise("postal_address", "Route de Berne 24, 1700 Fribourg")


def test_a_postcode_before_or_after_the_city_is_the_same_address() -> None:
    a = normalise("postal_address", "88, rue des Érables, J1H 4B2 Sherbrooke (Québec), Canada")
    b = normalise("postal_address", "88, rue des Érables, Sherbrooke (Québec) J1H 4B2")
    assert a == b


def test_a_billing_contact_with_or_without_a_title_is_the_same_person() -> None:
    assert normalise("billing_contact", "Mme Sophie Marchal") == "sophie marchal"
    assert normalise("billing_contact", "Mr. Peter Hale") == normalise(
        "billing_contact", "Peter Hale"
    )
    assert normalise("billing_contact", "Mary Hale") != normalise("billing_contact", "Peter Hale")


def test_the_bench_reports_the_precision_of_what_is_applied_apart_from_what_is_proposed(
    tmp_path: Path,
) -> None:
    empty = dict.fromkeys(
        ("postal_address", "phone", "email", "company_name", "billing_contact", "iban")
    )
    mails = [
        {  # a verified sender's new number: applied, and right
            "id": "a", "lang": "fr", "locale": "fr-FR", "from_email": "a@client.fr",
            "sender_relation": "customer", "subject": "Numéro",
            "body": "Mon nouveau numéro est le 06 12 34 56 78.",
            "expected": {**empty, "phone": "+33612345678"}, "should_apply": True,
        },
        {  # an unverified sender's: only proposed in a note, and wrong
            "id": "b", "lang": "fr", "locale": "fr-FR", "from_email": "b@autre.fr",
            "sender_relation": "unknown", "subject": "Numéro",
            "body": "Mon nouveau numéro est le 06 98 76 54 32.",
            "expected": {**empty, "phone": "+33611111111"}, "should_apply": False,
        },
    ]  # fmt: skip
    path = tmp_path / "mails.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in mails), encoding="utf-8")
    result = evaluate(path)
    assert result["precision"] == 0.5
    assert result["applied_precision"] == 1.0 and result["applied_fields"] == 1
    assert result["applied_share"] == 0.5 and result["applied_of_should_apply"] == 1.0
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_admin_updates.py"), "--json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(out)["applied_precision"] == 1.0
