"""Every whitelisted operator, table-driven: what holds and what does not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from rules.calendar import BusinessCalendar, CalendarSpec
from rules.conditions import ConditionError, compile_condition
from rules.operators import OPERATORS, CompileEnv, EvalContext
from rules.schema import Condition

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # a Friday, 11:00 in Paris
PARIS = BusinessCalendar(
    CalendarSpec(
        name="paris",
        timezone="Europe/Paris",
        hours={d: ["09:00-12:30", "13:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
)
ENV = CompileEnv(calendars={"paris": PARIS})
FACTS: dict[str, Any] = {
    "request": {
        "subject": "Facture de mars",
        "body": "Bonjour, vous m'avez facturé deux fois. Mon avocat est prévenu.",
        "language": "fr",
        "channel": "email",
        "received_at": datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
        "attachments": 2,
        "auto_reply": None,
    },
    "contact": {"vip": True, "tier": "Gold", "name": "Élise"},
    "company": {"strategic": False, "tags": ["a", "b"]},
    "case": {
        "status": "open",
        "follow_up_count": 3,
        "amount": 12500.5,
        "created_at": "2026-11-20T09:00:00+01:00",
        "category": "billing",
    },
    "previous": {"status": "new", "follow_up_count": 3},
}
ADAPTER: TypeAdapter[Any] = TypeAdapter(Condition)


def holds(cond: dict[str, Any], facts: dict[str, Any] | None = None) -> bool:
    evaluator = compile_condition(ADAPTER.validate_python(cond), ENV)
    ok, why = evaluator(EvalContext(facts or FACTS, NOW, {"paris": PARIS}))
    assert isinstance(why, str) and why
    return ok


CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("equals str", {"field": "request.language", "op": "equals", "value": "fr"}, True),
    (
        "equals folds case/accents",
        {"field": "contact.name", "op": "equals", "value": "elise"},
        True,
    ),
    ("equals other", {"field": "request.language", "op": "equals", "value": "en"}, False),
    ("equals bool", {"field": "contact.vip", "op": "equals", "value": True}, True),
    ("equals number", {"field": "request.attachments", "op": "equals", "value": 2}, True),
    ("equals missing", {"field": "contact.nope", "op": "equals", "value": "x"}, False),
    ("equals None", {"field": "request.auto_reply", "op": "equals", "value": None}, True),
    ("in", {"field": "contact.tier", "op": "in", "value": ["gold", "silver"]}, True),
    ("not in", {"field": "contact.tier", "op": "in", "value": ["bronze"]}, False),
    ("contains_any", {"op": "contains_any", "value": ["avocat", "tribunal"]}, True),
    ("contains_any none", {"op": "contains_any", "value": ["tribunal", "huissier"]}, False),
    (
        "contains_any subject only",
        {"op": "contains_any", "field": "request.subject", "value": ["avocat"]},
        False,
    ),
    ("contains_all", {"op": "contains_all", "value": ["factur*", "deux fois"]}, True),
    ("contains_all missing", {"op": "contains_all", "value": ["factur*", "tribunal"]}, False),
    (
        "contains_all over fields",
        {
            "op": "contains_all",
            "field": ["request.subject", "request.body"],
            "value": ["mars", "avocat"],
        },
        True,
    ),
    ("matches", {"op": "matches", "value": r"deux\s+fois"}, True),
    ("matches case", {"op": "matches", "value": "FACTURE", "field": "request.subject"}, True),
    (
        "matches case-sensitive",
        {"op": "matches", "value": "FACTURE", "field": "request.subject", "ignore_case": False},
        False,
    ),
    ("matches no", {"op": "matches", "value": r"^\d+$"}, False),
    ("exists", {"field": "contact.name", "op": "exists"}, True),
    ("exists None", {"field": "request.auto_reply", "op": "exists"}, False),
    ("exists false", {"field": "request.auto_reply", "op": "exists", "value": False}, True),
    ("exists missing", {"field": "case.owner", "op": "exists"}, False),
    ("greater", {"field": "case.follow_up_count", "op": "greater", "value": 2}, True),
    ("greater equal is not", {"field": "case.follow_up_count", "op": "greater", "value": 3}, False),
    ("greater float", {"field": "case.amount", "op": "greater", "value": 10000}, True),
    ("less", {"field": "case.amount", "op": "less", "value": 10000}, False),
    ("less not number", {"field": "contact.name", "op": "less", "value": 3}, False),
    ("older_than", {"field": "case.created_at", "op": "older_than", "value": "2d"}, True),
    ("older_than no", {"field": "case.created_at", "op": "older_than", "value": "10d"}, False),
    ("newer_than", {"field": "request.received_at", "op": "newer_than", "value": "5h"}, True),
    ("newer_than no", {"field": "request.received_at", "op": "newer_than", "value": "30m"}, False),
    ("older_than not a date", {"field": "contact.name", "op": "older_than", "value": "1h"}, False),
    ("changed", {"field": "case.status", "op": "changed"}, True),
    ("changed no", {"field": "case.follow_up_count", "op": "changed"}, False),
    ("changed_to", {"field": "case.status", "op": "changed_to", "value": "open"}, True),
    ("changed_to other", {"field": "case.status", "op": "changed_to", "value": "closed"}, False),
    ("in_business_hours now", {"op": "in_business_hours", "calendar": "paris"}, True),
    (
        "in_business_hours field",
        {"op": "in_business_hours", "calendar": "paris", "field": "request.received_at"},
        False,
    ),
    (
        "outside business hours",
        {
            "op": "in_business_hours",
            "calendar": "paris",
            "field": "request.received_at",
            "value": False,
        },
        True,
    ),
    (
        "all",
        {
            "all": [
                {"field": "contact.vip", "op": "equals", "value": True},
                {"field": "request.language", "op": "equals", "value": "fr"},
            ]
        },
        True,
    ),
    (
        "all one false",
        {
            "all": [
                {"field": "contact.vip", "op": "equals", "value": True},
                {"field": "request.language", "op": "equals", "value": "en"},
            ]
        },
        False,
    ),
    (
        "any",
        {
            "any": [
                {"field": "contact.vip", "op": "equals", "value": False},
                {"field": "request.language", "op": "equals", "value": "fr"},
            ]
        },
        True,
    ),
    ("not", {"not": {"field": "contact.vip", "op": "equals", "value": True}}, False),
]


@pytest.mark.parametrize(("name", "cond", "expected"), CASES, ids=[c[0] for c in CASES])
def test_operator_table(name: str, cond: dict[str, Any], expected: bool) -> None:
    assert holds(cond) is expected


def test_every_registered_operator_is_covered_by_the_table() -> None:
    used = set()
    for _, cond, _ in CASES:
        if "op" in cond:
            used.add(cond["op"])
    assert used == set(OPERATORS)


def test_changed_is_false_without_previous_values() -> None:
    facts = {k: v for k, v in FACTS.items() if k != "previous"}
    assert holds({"field": "case.status", "op": "changed"}, facts) is False


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ({"field": "requset.subject", "op": "exists"}, "unknown field root 'requset'"),
        ({"field": "subject", "op": "exists"}, "must look like root.name"),
        ({"op": "matches", "value": r"(a)\1"}, "refused by RE2"),
        ({"op": "matches", "value": r"(?<=a)b"}, "refused by RE2"),
        ({"field": "case.created_at", "op": "older_than", "value": "2 weeks"}, "invalid duration"),
        ({"op": "in_business_hours", "calendar": "pariss"}, "unknown calendar 'pariss'"),
        ({"op": "contains_any", "value": ["!!"]}, "no letters or digits"),
    ],
)
def test_bad_leaves_are_refused_at_compile_time(cond: dict[str, Any], message: str) -> None:
    with pytest.raises(ConditionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_condition(ADAPTER.validate_python(cond), ENV)


@pytest.mark.timeout(60)
def test_catastrophic_regex_returns_on_a_100kb_input() -> None:
    evaluator = compile_condition(
        ADAPTER.validate_python({"op": "matches", "field": "request.body", "value": "(a+)+$"}), ENV
    )
    facts = {"request": {"body": "a" * 100_000 + "!"}}
    # A backtracking engine would not return on this input; RE2 is linear.
    ok, _ = evaluator(EvalContext(facts, NOW))
    assert ok is False
    ok, _ = evaluator(EvalContext({"request": {"body": "a" * 100_000}}, NOW))
    assert ok is True
