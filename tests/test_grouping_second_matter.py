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

from bot.store import Store
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
