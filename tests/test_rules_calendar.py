"""Business calendar arithmetic: opening hours, holidays, closed days, DST, out-of-hours starts.

Expected instants are worked out by hand from the calendar below (Paris, Mon–Fri
09:00–12:30 and 14:00–18:00, i.e. 7.5 business hours a day, French public holidays).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.calendar import BusinessCalendar, CalendarSpec, HolidaySpec

PARIS = ZoneInfo("Europe/Paris")
WEEK = ["09:00-12:30", "14:00-18:00"]


def paris(*parts: int) -> datetime:
    """A Paris wall-clock instant."""
    return datetime(*parts, tzinfo=PARIS)  # type: ignore[misc]


def make_calendar(
    hours: dict[str, list[str]] | None = None,
    holidays: HolidaySpec | None = None,
    closed_days: list[date] | None = None,
) -> BusinessCalendar:
    """The Paris office calendar, with optional changes."""
    spec = CalendarSpec(
        name="paris",
        timezone="Europe/Paris",
        hours=hours or {day: WEEK for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=holidays if holidays is not None else HolidaySpec(country="FR"),
        closed_days=closed_days or [],
    )
    return BusinessCalendar(spec)


OFFICE = make_calendar()

ADD_CASES = [
    # (why, start, duration, expected)
    ("friday_17h_plus_4h_ends_monday_noon", paris(2026, 11, 27, 17), timedelta(hours=4),
     paris(2026, 11, 30, 12)),
    ("tuesday_3am_starts_at_9", paris(2026, 11, 24, 3), timedelta(hours=4),
     paris(2026, 11, 24, 14, 30)),
    ("lunch_break_is_skipped", paris(2026, 11, 24, 12), timedelta(hours=1),
     paris(2026, 11, 24, 14, 30)),
    ("ends_exactly_at_closing", paris(2026, 11, 24, 14), timedelta(hours=4),
     paris(2026, 11, 24, 18)),
    ("zero_out_of_hours_is_next_opening", paris(2026, 11, 24, 19), timedelta(0),
     paris(2026, 11, 25, 9)),
    ("bastille_day_14_july", paris(2026, 7, 14, 10), timedelta(hours=1),
     paris(2026, 7, 15, 10)),
    ("christmas_friday_to_monday", paris(2026, 12, 25, 10), timedelta(minutes=30),
     paris(2026, 12, 28, 9, 30)),
    ("all_saints_1_nov_2027", paris(2027, 11, 1, 10), timedelta(hours=2),
     paris(2027, 11, 2, 11)),
    ("easter_monday_2027", paris(2027, 3, 29, 9), timedelta(hours=8),
     paris(2027, 3, 31, 9, 30)),
    ("friday_before_easter_and_dst_2027", paris(2027, 3, 26, 17), timedelta(hours=2),
     paris(2027, 3, 30, 10)),
    ("dst_spring_2026_weekend", paris(2026, 3, 27, 16), timedelta(hours=4),
     paris(2026, 3, 30, 11)),
    ("dst_autumn_2026_weekend", paris(2026, 10, 23, 16), timedelta(hours=4),
     paris(2026, 10, 26, 11)),
    ("many_days", paris(2026, 11, 23, 9), timedelta(hours=75),
     paris(2026, 12, 4, 18)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [case[1:] for case in ADD_CASES],
    ids=[case[0] for case in ADD_CASES],
)
def test_add_gives_exact_business_due_instant(
    start: datetime, duration: timedelta, expected: datetime
) -> None:
    result = OFFICE.add(start, duration)
    assert result == expected
    assert result.tzinfo is UTC


def test_dst_utc_offsets_are_right_on_both_sides() -> None:
    # 2026-03-27 16:00 CET is 15:00Z; 2026-03-30 11:00 CEST is 09:00Z.
    assert OFFICE.add(paris(2026, 3, 27, 16), timedelta(hours=4)) == datetime(
        2026, 3, 30, 9, tzinfo=UTC
    )
    # 2026-10-26 11:00 CET is 10:00Z.
    assert OFFICE.add(paris(2026, 10, 23, 16), timedelta(hours=4)) == datetime(
        2026, 10, 26, 10, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (datetime(2026, 3, 28, 11, tzinfo=UTC), datetime(2026, 3, 29, 11, tzinfo=UTC)),
        (datetime(2026, 10, 24, 10, tzinfo=UTC), datetime(2026, 10, 25, 10, tzinfo=UTC)),
        (datetime(2027, 3, 27, 11, tzinfo=UTC), datetime(2027, 3, 28, 11, tzinfo=UTC)),
    ],
)
def test_calendar_time_24h_across_dst_is_24_real_hours(start: datetime, expected: datetime) -> None:
    always = BusinessCalendar.always_open("Europe/Paris")
    result = always.add(start, timedelta(hours=24))
    assert result == expected
    # The wall clock moved by 25 h (spring) or 23 h (autumn).
    wall = result.astimezone(PARIS).replace(tzinfo=None) - start.astimezone(PARIS).replace(
        tzinfo=None
    )
    assert wall in (timedelta(hours=25), timedelta(hours=23))


def test_range_inside_spring_gap_is_shorter_and_autumn_range_longer() -> None:
    night = make_calendar(hours={"sun": ["01:00-04:00"]}, holidays=HolidaySpec(country="FR"))
    spring = night.elapsed(paris(2026, 3, 29, 0), paris(2026, 3, 29, 5))
    autumn = night.elapsed(paris(2026, 10, 25, 0), paris(2026, 10, 25, 5))
    normal = night.elapsed(paris(2026, 11, 8, 0), paris(2026, 11, 8, 5))
    assert (spring, autumn, normal) == (
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(hours=3),
    )
    assert night.add(paris(2026, 3, 29, 0), timedelta(hours=2)) == datetime(
        2026, 3, 29, 2, tzinfo=UTC
    )


def test_saturday_morning_range_is_used() -> None:
    hours = {day: WEEK for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["09:00-12:00"]}
    shop = make_calendar(hours=hours)
    assert shop.add(paris(2026, 11, 27, 17), timedelta(hours=2)) == paris(2026, 11, 28, 10)
    assert shop.add(paris(2026, 11, 28, 11), timedelta(hours=2)) == paris(2026, 11, 30, 10)
    assert shop.is_open(paris(2026, 11, 28, 11, 59))
    assert not shop.is_open(paris(2026, 11, 28, 12))


def test_business_day_keeps_offset_and_clamps_to_a_shorter_day() -> None:
    hours = {day: WEEK for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["09:00-12:00"]}
    shop = make_calendar(hours=hours)
    assert OFFICE.add_business_days(paris(2026, 11, 24, 10), 1) == paris(2026, 11, 25, 10)
    assert OFFICE.add_business_days(paris(2026, 11, 27, 10), 1) == paris(2026, 11, 30, 10)
    assert OFFICE.add_business_days(paris(2026, 11, 24, 3), 1) == paris(2026, 11, 25, 9)
    assert OFFICE.add_business_days(paris(2026, 11, 24, 12, 45), 1) == paris(2026, 11, 25, 14)
    assert OFFICE.add_business_days(paris(2026, 3, 27, 10), 1) == paris(2026, 3, 30, 10)
    # Friday 17:00 is 6.5 h into the day; Saturday only has 3 h: clamp to its close.
    assert shop.add_business_days(paris(2026, 11, 27, 17), 1) == paris(2026, 11, 28, 12)


def test_closed_days_are_skipped() -> None:
    office = make_calendar(closed_days=[date(2026, 12, 24)])
    # Wed 23 Dec 17:00 + 2 h: 1 h on Wednesday; 24 closed, 25 Christmas, weekend; Monday 10:00.
    assert office.add(paris(2026, 12, 23, 17), timedelta(hours=2)) == paris(2026, 12, 28, 10)
    assert OFFICE.add(paris(2026, 12, 23, 17), timedelta(hours=2)) == paris(2026, 12, 24, 10)


def test_moselle_subdivision_adds_26_december_and_good_friday() -> None:
    moselle = make_calendar(holidays=HolidaySpec(country="FR", subdivision="57"))
    start = paris(2025, 12, 24, 17)
    assert OFFICE.add(start, timedelta(hours=2)) == paris(2025, 12, 26, 10)
    assert moselle.add(start, timedelta(hours=2)) == paris(2025, 12, 29, 10)
    assert OFFICE.is_open(paris(2026, 4, 3, 10))
    assert not moselle.is_open(paris(2026, 4, 3, 10))


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (paris(2026, 11, 23, 9), True),
        (paris(2026, 11, 23, 8, 59), False),
        (paris(2026, 11, 23, 12, 29), True),
        (paris(2026, 11, 23, 12, 30), False),
        (paris(2026, 11, 23, 18), False),
        (paris(2026, 11, 28, 10), False),
        (paris(2026, 7, 14, 10), False),
        (datetime(2026, 11, 23, 8, 30, tzinfo=UTC), True),
    ],
)
def test_is_open_uses_half_open_ranges_and_holidays(at: datetime, is_open: bool) -> None:
    assert OFFICE.is_open(at) is is_open


def test_next_open() -> None:
    assert OFFICE.next_open(paris(2026, 11, 27, 18)) == paris(2026, 11, 30, 9)
    assert OFFICE.next_open(paris(2026, 11, 24, 13)) == paris(2026, 11, 24, 14)
    assert OFFICE.next_open(paris(2026, 11, 24, 10, 7)) == paris(2026, 11, 24, 10, 7)


def test_elapsed_counts_only_open_time_and_is_antisymmetric() -> None:
    start, end = paris(2026, 11, 27, 17), paris(2026, 11, 30, 12)
    assert OFFICE.elapsed(start, end) == timedelta(hours=4)
    assert OFFICE.elapsed(end, start) == -timedelta(hours=4)
    assert OFFICE.elapsed(paris(2026, 7, 14, 8), paris(2026, 7, 14, 20)) == timedelta(0)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.add(datetime(2026, 11, 24, 10), timedelta(hours=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.is_open(datetime(2026, 11, 24, 10))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Europe/Pariss"}, "unknown time zone 'Europe/Pariss'"),
        ({"hours": {"mo": WEEK}}, "did you mean 'mon'"),
        ({"hours": {"mon": ["9:00-12:00"]}}, "must look like 'HH:MM-HH:MM'"),
        ({"hours": {"mon": ["12:00-09:00"]}}, "start must be before end"),
        ({"hours": {"mon": ["25:00-26:00"]}}, "not a time of day"),
        ({"hours": {"mon": ["09:00-12:00", "11:00-14:00"]}}, "overlap"),
        ({"hours": {}}, "never open"),
        ({"holidays": {"country": "FX"}}, "unknown holiday country 'FX'"),
        ({"holidays": {"country": "FR", "subdivision": "99"}}, "unknown subdivision '99'"),
        ({"opening": {}}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_calendar_specs_are_refused_with_a_clear_message(
    changes: dict[str, object], message: str
) -> None:
    data: dict[str, object] = {"name": "x", "timezone": "Europe/Paris", "hours": {"mon": WEEK}}
    data.update(changes)
    with pytest.raises(ValidationError, match=message):
        CalendarSpec.model_validate(data)


def test_24_00_end_and_adjacent_ranges_are_accepted() -> None:
    spec = CalendarSpec(name="x", timezone="UTC", hours={"mon": ["00:00-12:00", "12:00-24:00"]})
    cal = BusinessCalendar(spec)
    start = datetime(2026, 11, 23, 22, tzinfo=UTC)
    assert cal.add(start, timedelta(hours=3)) == datetime(2026, 11, 30, 1, tzinfo=UTC)


STARTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
DURATIONS = st.integers(min_value=0, max_value=60 * 7 * 60).map(lambda m: timedelta(minutes=m))


@settings(max_examples=150, deadline=None)
@given(start=STARTS, duration=DURATIONS)
def test_elapsed_inverts_add(start: datetime, duration: timedelta) -> None:
    assert OFFICE.elapsed(start, OFFICE.add(start, duration)) == duration


@settings(max_examples=150, deadline=None)
@given(start=STARTS, first=DURATIONS, second=DURATIONS)
def test_add_is_monotonic_in_duration(start: datetime, first: timedelta, second: timedelta) -> None:
    low, high = sorted((first, second))
    assert OFFICE.add(start, low) <= OFFICE.add(start, high)
    assert OFFICE.add(start, low) >= start


@settings(max_examples=50, deadline=None)
@given(start=STARTS, duration=DURATIONS)
def test_always_open_calendar_is_real_time(start: datetime, duration: timedelta) -> None:
    always = BusinessCalendar.always_open("Europe/Paris")
    assert always.add(start, duration) == start + duration
    assert always.elapsed(start, start + duration) == duration
