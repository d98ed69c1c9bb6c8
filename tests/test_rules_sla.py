"""SLA due dates: duration parsing, business days, calendar time, pauses and warnings.

Calendar: Paris, Mon–Fri 09:00–12:30 and 14:00–18:00 (7.5 business hours a day), French
public holidays. Expected instants are worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.calendar import BusinessCalendar, CalendarSpec, HolidaySpec
from rules.sla import SlaTarget, compute_sla, parse_duration, parse_sla_duration

PARIS = ZoneInfo("Europe/Paris")
OFFICE = BusinessCalendar(
    CalendarSpec(
        name="paris",
        timezone="Europe/Paris",
        hours={day: ["09:00-12:30", "14:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=HolidaySpec(country="FR"),
    )
)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def paris(*parts: int) -> datetime:
    """A Paris wall-clock instant."""
    return datetime(*parts, tzinfo=PARIS)  # type: ignore[misc]


def sla(first: str, resolution: str = "5d", business: bool = True, **kwargs: object):  # type: ignore[no-untyped-def]
    """compute_sla on the office calendar with a fixed `now`."""
    target = SlaTarget(first_response=first, resolution=resolution, business_time=business)
    kwargs.setdefault("now", NOW)
    return compute_sla("standard", "P2", target, OFFICE, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1d4h", timedelta(days=1, hours=4)),
        ("1d 4h 30m", timedelta(days=1, hours=4, minutes=30)),
        (" 90m ", timedelta(minutes=90)),
        ("0m", timedelta(0)),
    ],
)
def test_parse_duration_accepts_unit_combinations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid duration"),
        ("4", "invalid duration"),
        ("h", "invalid duration"),
        ("4x", "invalid duration"),
        ("4h30", "invalid duration"),
        ("1.5h", "invalid duration"),
        ("-1h", "invalid duration"),
        ("30m4h", "largest first"),
        ("1h1h", "largest first"),
        ("99999d", "longer than"),
    ],
)
def test_parse_duration_refuses_bad_text_clearly(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@given(
    days=st.integers(0, 400),
    hours=st.integers(0, 48),
    minutes=st.integers(0, 600),
    sep=st.sampled_from(["", " "]),
)
def test_parse_duration_round_trips_generated_text(
    days: int, hours: int, minutes: int, sep: str
) -> None:
    text = sep.join([f"{days}d", f"{hours}h", f"{minutes}m"])
    parsed = parse_sla_duration(text)
    assert (parsed.days, parsed.time) == (days, timedelta(hours=hours, minutes=minutes))


@given(st.text(max_size=12))
def test_parse_duration_never_fails_other_than_value_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        assert "invalid duration" in str(exc)
    else:
        assert value >= timedelta(0)


def test_sla_target_refuses_zero_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="longer than zero"):
        SlaTarget(first_response="0m", resolution="1d")
    with pytest.raises(ValidationError, match="invalid duration"):
        SlaTarget(first_response="4 hours", resolution="1d")
    with pytest.raises(ValidationError, match="Extra inputs"):
        SlaTarget.model_validate({"first_response": "1h", "resolution": "1d", "pause": "x"})


DUE_CASES = [
    # (why, start, first_response, expected first-response due)
    ("friday_17h_4h", paris(2026, 11, 27, 17), "4h", paris(2026, 11, 30, 12)),
    ("tuesday_3am_4h", paris(2026, 11, 24, 3), "4h", paris(2026, 11, 24, 14, 30)),
    ("holiday_14_july_30m", paris(2026, 7, 14, 11), "30m", paris(2026, 7, 15, 9, 30)),
    ("one_business_day", paris(2026, 11, 24, 10), "1d", paris(2026, 11, 25, 10)),
    ("one_day_over_weekend", paris(2026, 11, 27, 10), "1d", paris(2026, 11, 30, 10)),
    ("one_day_over_dst", paris(2026, 3, 27, 10), "1d", paris(2026, 3, 30, 10)),
    ("one_day_from_out_of_hours", paris(2026, 11, 24, 3), "1d", paris(2026, 11, 25, 9)),
    ("day_plus_hours", paris(2026, 11, 24, 10), "1d4h", paris(2026, 11, 25, 15, 30)),
    ("two_days_over_easter_2027", paris(2027, 3, 25, 11), "2d", paris(2027, 3, 30, 11)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "first", "expected"),
    [case[1:] for case in DUE_CASES],
    ids=[case[0] for case in DUE_CASES],
)
def test_first_response_due_in_business_time(
    start: datetime, first: str, expected: datetime
) -> None:
    assert sla(first, start=start).first_response_due == expected


@pytest.mark.parametrize(
    ("start", "target", "expected"),
    [
        (datetime(2026, 3, 28, 11, tzinfo=UTC), "24h", datetime(2026, 3, 29, 11, tzinfo=UTC)),
        (datetime(2026, 3, 28, 11, tzinfo=UTC), "1d", datetime(2026, 3, 29, 11, tzinfo=UTC)),
        (datetime(2026, 10, 24, 10, tzinfo=UTC), "1d", datetime(2026, 10, 25, 10, tzinfo=UTC)),
        (datetime(2027, 3, 27, 11, tzinfo=UTC), "24h", datetime(2027, 3, 28, 11, tzinfo=UTC)),
        (paris(2026, 7, 14, 10), "2h", paris(2026, 7, 14, 12)),
    ],
)
def test_calendar_time_ignores_hours_and_counts_real_time(
    start: datetime, target: str, expected: datetime
) -> None:
    assert sla(target, business=False, start=start).first_response_due == expected


def test_resolution_and_warning_and_result_dict() -> None:
    result = sla("4h", "2d", start=paris(2026, 11, 27, 17))
    # 80 % of 4 h is 3 h 12: 1 h on Friday, 2 h 12 on Monday from 09:00.
    assert result.warning_at == paris(2026, 11, 30, 11, 12)
    assert result.resolution_due == paris(2026, 12, 1, 17)
    assert result.to_dict() == {
        "policy": "standard",
        "priority": "P2",
        "calendar": "paris",
        "started_at": "2026-11-27T16:00:00+00:00",
        "first_response_due": "2026-11-30T11:00:00+00:00",
        "resolution_due": "2026-12-01T16:00:00+00:00",
        "warning_at": "2026-11-30T10:12:00+00:00",
        "paused_for_seconds": 0,
    }


def test_warning_ratio_zero_disables_and_out_of_range_is_refused() -> None:
    assert sla("4h", start=paris(2026, 11, 23, 9), warning_ratio=0).warning_at is None
    with pytest.raises(ValueError, match="warning_ratio"):
        sla("4h", start=paris(2026, 11, 23, 9), warning_ratio=1.5)


MONDAY_9 = paris(2026, 11, 23, 9)  # base first-response due for 4 h: Monday 14:30


@pytest.mark.parametrize(
    ("pauses", "first_due", "paused_for"),
    [
        ([], paris(2026, 11, 23, 14, 30), timedelta(0)),
        ([(paris(2026, 11, 23, 10), paris(2026, 11, 23, 11))], paris(2026, 11, 23, 15, 30),
         timedelta(hours=1)),
        ([(paris(2026, 11, 23, 12), paris(2026, 11, 23, 14, 30))], paris(2026, 11, 23, 15, 30),
         timedelta(hours=1)),
        ([(paris(2026, 11, 23, 8), paris(2026, 11, 23, 10))], paris(2026, 11, 23, 15, 30),
         timedelta(hours=1)),
        ([(paris(2026, 11, 23, 10), paris(2026, 11, 23, 11)),
          (paris(2026, 11, 23, 10, 30), paris(2026, 11, 23, 11, 30))],
         paris(2026, 11, 23, 16), timedelta(hours=1, minutes=30)),
        ([(paris(2026, 11, 24, 10), paris(2026, 11, 24, 11))], paris(2026, 11, 23, 14, 30),
         timedelta(hours=1)),
        ([(paris(2026, 11, 23, 14), paris(2026, 11, 23, 18))], paris(2026, 11, 24, 9, 30),
         timedelta(hours=4)),
    ],
    ids=["none", "closed", "over_lunch", "before_opening", "overlapping", "after_due",
         "pushed_to_next_day"],
)  # fmt: skip
def test_closed_pauses_push_due_dates(
    pauses: list[tuple[datetime, datetime]], first_due: datetime, paused_for: timedelta
) -> None:
    result = sla("4h", start=MONDAY_9, pauses=pauses)
    assert result.first_response_due == first_due
    assert result.paused_for == paused_for


def test_pause_after_first_due_still_pushes_resolution() -> None:
    pauses = [(paris(2026, 11, 24, 10), paris(2026, 11, 24, 11))]
    result = sla("4h", "2d", start=MONDAY_9, pauses=pauses)
    assert result.first_response_due == paris(2026, 11, 23, 14, 30)
    assert result.resolution_due == paris(2026, 11, 25, 10)


def test_open_pause_lasts_until_now() -> None:
    pauses = [(paris(2026, 11, 23, 10), None)]
    result = sla("4h", start=MONDAY_9, pauses=pauses, now=paris(2026, 11, 23, 16))
    # Paused 10:00–12:30 and 14:00–16:00: 4 h 30; 14:30 + 4 h 30 -> Tuesday 10:00.
    assert result.paused_for == timedelta(hours=4, minutes=30)
    assert result.first_response_due == paris(2026, 11, 24, 10)


def test_warning_is_pushed_by_pauses() -> None:
    pauses = [(paris(2026, 11, 23, 10), paris(2026, 11, 23, 11))]
    result = sla("4h", start=MONDAY_9, pauses=pauses, warning_ratio=0.5)
    assert result.warning_at == paris(2026, 11, 23, 12)


def test_calendar_time_pause_counts_real_time() -> None:
    start = paris(2026, 11, 28, 10)  # a Saturday: calendar time ignores opening hours
    pauses = [(paris(2026, 11, 28, 11), paris(2026, 11, 28, 12))]
    result = sla("4h", business=False, start=start, pauses=pauses)
    assert result.first_response_due == paris(2026, 11, 28, 15)
    assert result.paused_for == timedelta(hours=1)


def test_always_open_calendar_with_business_target_is_real_time() -> None:
    target = SlaTarget(first_response="24h", resolution="2d")
    always = BusinessCalendar.always_open("Europe/Paris")
    start = datetime(2026, 3, 28, 11, tzinfo=UTC)
    result = compute_sla("p", "P1", target, always, start, now=NOW)
    assert result.first_response_due == datetime(2026, 3, 29, 11, tzinfo=UTC)
    assert result.resolution_due == datetime(2026, 3, 30, 11, tzinfo=UTC)


def test_bad_pauses_and_naive_start_are_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        sla("4h", start=MONDAY_9, pauses=[(paris(2026, 11, 23, 11), paris(2026, 11, 23, 10))])
    with pytest.raises(ValueError, match="timezone-aware"):
        sla("4h", start=datetime(2026, 11, 23, 9))
