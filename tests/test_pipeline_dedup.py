"""Deduplication beyond threading: the same person asking again is one case, counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import rules_provider
from bot.stages.dedup import fold_text, similarity
from bot.store import Store
from bot.store.cases import list_cases
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BILLING = (
    "Bonjour, ma facture de novembre (n° F2026-11-0042) est deux fois plus élevée que "
    "d'habitude alors que ma consommation n'a pas changé. Pouvez-vous la vérifier ? Merci."
)
BILLING_AGAIN = (
    "Bonjour, je n'ai toujours pas de réponse : ma facture de novembre n° F2026-11-0042 est "
    "deux fois plus élevée que d'habitude, ma consommation n'a pourtant pas changé. "
    "Merci de vérifier."
)
ADDRESS = "Bonjour, je déménage le 15 décembre au 3 rue des Lilas, 69003 Lyon. Merci de noter."


def _run(store: Store, store_url: str, inbox: Path, messages: list[bytes]) -> list[dict]:
    for raw in messages:
        deliver(inbox, raw)
    settings = make_settings(store_url, {"inbox": maildir_source(inbox)})
    maildir_worker(settings, store, rules=rules_provider(settings)).run_once()
    with store.connect() as conn:
        return sorted(list_cases(conn), key=lambda c: c["id"])


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "inbox")


def test_the_same_text_sent_twice_is_a_duplicate_of_the_open_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = make_message(subject="Facture de novembre", body=BILLING, date=T0)
    again = make_message(
        subject="Facture de novembre",
        body=BILLING,
        to="backoffice@acme.fr",
        date=T0 + timedelta(minutes=4),
    )
    (case,) = _run(store, store_url, inbox, [first, again])
    assert (case["request_count"], case["duplicate_count"], case["follow_up_count"]) == (2, 1, 0)


def test_a_reworded_chase_without_reply_headers_is_a_follow_up(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = make_message(subject="Facture de novembre trop élevée", body=BILLING, date=T0)
    chase = make_message(
        subject="Relance : facture de novembre", body=BILLING_AGAIN, date=T0 + timedelta(days=2)
    )
    (case,) = _run(store, store_url, inbox, [first, chase])
    assert (case["request_count"], case["follow_up_count"]) == (2, 1)
    assert (
        any(r["code"] == "repeated_follow_ups" for r in case["reasons"])
        or case["follow_up_count"] == 1
    )


def test_a_different_request_from_the_same_person_opens_its_own_case(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = make_message(subject="Facture de novembre", body=BILLING, date=T0)
    other = make_message(subject="Déménagement", body=ADDRESS, date=T0 + timedelta(hours=1))
    cases = _run(store, store_url, inbox, [first, other])
    assert len(cases) == 2


def test_the_same_text_from_two_different_people_is_never_merged(
    store: Store, store_url: str, inbox: Path
) -> None:
    a = make_message(subject="Facture de novembre", body=BILLING, sender="a@example.fr", date=T0)
    b = make_message(
        subject="Facture de novembre",
        body=BILLING,
        sender="b@example.fr",
        date=T0 + timedelta(minutes=1),
    )
    cases = _run(store, store_url, inbox, [a, b])
    assert len(cases) == 2 and all(c["request_count"] == 1 for c in cases)


def test_an_old_duplicate_outside_the_window_is_not_merged(
    store: Store, store_url: str, inbox: Path
) -> None:
    first = make_message(subject="Facture de novembre", body=BILLING, date=T0)
    late = make_message(subject="Facture de novembre", body=BILLING, date=T0 + timedelta(days=45))
    assert len(_run(store, store_url, inbox, [first, late])) == 2


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


@given(texts, texts, texts, texts)
def test_similarity_is_symmetric_and_bounded(a: str, b: str, c: str, d: str) -> None:
    forward, backward = similarity(a, b, c, d), similarity(c, d, a, b)
    assert forward == pytest.approx(backward)
    assert 0.0 <= forward <= 1.0


@given(texts)
def test_folding_is_idempotent(text: str) -> None:
    assert fold_text(fold_text(text)) == fold_text(text)
