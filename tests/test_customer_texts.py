"""Customer-facing texts (issue 14.9, issue 12.1): dates named in the customer's language and
zone, statuses in words, a status question that opens a case acknowledged as such, and a
status answer given only to the case's own contact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.customer_text import customer_date, next_step, status_label
from rules import RuleSet, load_ruleset

MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FOLLOW_UP = {"queue": "facturation", "category": "billing", "follow_up_count": 1}
STATUSES = ["new", "open", "waiting_customer", "waiting_third_party", "resolved", "closed"]


@pytest.fixture(scope="module")
def pack() -> RuleSet:
    return load_ruleset()


def facts(subject: str, body: str, lang: str = "fr", **parts: dict[str, Any]) -> dict[str, Any]:
    request = {
        "relation": "origin",
        "sender_verified": True,
        "subject": subject,
        "body": body,
        "language": lang,
        "channel": "email",
        "sender_email": "client@example.fr",
        "received_at": MONDAY_10_PARIS,
    }
    request.update(parts.pop("request", {}))
    case = {"reference": "CB-15", "status": "new", "follow_up_count": 0}
    case.update(parts.pop("case", {}))
    contact = {"email": "client@example.fr", "name": "Anne"}
    contact.update(parts.pop("contact", {}))
    return {"request": request, "case": case, "contact": contact, **parts}


def replies(pack: RuleSet, f: dict[str, Any], event: str = "case.created") -> list[Any]:
    if event == "case.follow_up":
        f["request"]["relation"] = "follow_up"
    d = pack.decide(f, event=event, now=MONDAY_10_PARIS)
    return [a for a in d.actions if a.type == "send_reply"]


def test_due_date_is_written_in_french_with_the_named_paris_zone() -> None:
    at = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    assert customer_date(at, "fr", "Europe/Paris") == "jeudi 3 décembre à 12 h (heure de Paris)"


def test_due_date_is_written_in_english_with_the_named_paris_zone() -> None:
    at = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    assert customer_date(at, "en-GB", "Europe/Paris") == "Thursday 3 December, 12:00 (Paris time)"


def test_due_date_minutes_and_zone_of_the_datetime_itself() -> None:
    at = datetime(2026, 12, 3, 11, 30, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Paris")
    )
    assert customer_date(at, "fr") == "jeudi 3 décembre à 12 h 30 (heure de Paris)"


@given(st.sampled_from([*STATUSES, "pending", "x", "", None]), st.sampled_from(["fr", "en"]))
def test_status_is_never_shown_as_its_raw_code(status: Any, lang: str) -> None:
    label = status_label(status, lang)
    assert label and "_" not in label
    if lang == "fr" or status not in STATUSES:
        assert label != status
    assert next_step(status, lang)


def test_acknowledgement_names_the_zone_in_the_customers_language(pack: RuleSet) -> None:
    f = facts("Invoice", "you charged me twice on my invoice", lang="en")
    [ack] = replies(pack, f)
    assert "(Paris time)" in ack.params["body"]
    assert not any(ch.isdigit() and "-" in w for w in ack.params["body"].split() for ch in w[:1])


def test_status_question_that_opens_a_case_is_acknowledged_as_new(pack: RuleSet) -> None:
    f = facts("Où en est ma demande ?", "Où en est ma demande ? Toujours pas de nouvelles.")
    [ack] = replies(pack, f)
    body = ack.params["body"]
    assert "nouvelle demande" in body and "CB-15" in body
    assert "statut" not in body and "« new »" not in body
    assert "(heure de Paris)" in body


def test_status_answer_to_the_contact_says_state_next_step_and_due_date(pack: RuleSet) -> None:
    f = facts(
        "Relance",
        "Où en est mon dossier ?",
        case={
            "status": "waiting_third_party",
            "queue": "facturation",
            "category": "billing",
            "follow_up_count": 1,
        },
    )
    [answer] = replies(pack, f, event="case.follow_up")
    body = answer.params["body"]
    assert "en attente d'un intervenant extérieur" in body
    assert "facturation" in body and "Prochaine étape" in body
    assert "(heure de Paris)" in body and "waiting_third_party" not in body


def test_status_answer_to_another_address_says_nothing_about_the_case(pack: RuleSet) -> None:
    f = facts(
        "Relance",
        "Où en est mon dossier ?",
        request={"sender_email": "other@example.fr", "sender_verified": False},
        case={
            "status": "open",
            "queue": "facturation",
            "category": "billing",
            "follow_up_count": 1,
        },
    )
    [answer] = replies(pack, f, event="case.follow_up")
    body = answer.params["body"]
    assert "adresse enregistrée" in body
    assert "facturation" not in body and "cours de traitement" not in body


def test_queue_names_are_shown_as_team_names_in_the_customers_language() -> None:
    from bot.customer_text import team_label

    assert team_label("support-technique", "fr") == "support technique"
    assert team_label("support-technique", "en") == "technical support"
    assert team_label("back_office-2", "en") == "back office 2"
