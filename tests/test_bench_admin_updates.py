"""The administrative-update benchmark compares values as a person would: format is not a miss."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_admin_updates import normalise


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
