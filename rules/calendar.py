"""Business calendars: opening hours, public holidays and closed days, in business time.

Arithmetic works on real instants. For each local date the calendar builds the list of its
opening intervals as UTC instants (the wall-clock ranges of that weekday, placed in the
calendar's time zone), so a DST change simply makes an interval shorter or longer and a
range that falls in the spring gap shrinks or disappears. `add`, `elapsed` and `next_open`
walk these intervals day by day: their cost is O(days spanned), never minute stepping.

Ranges are half-open: a desk open "09:00-18:00" is open at 09:00 and closed at 18:00.
"24:00" is accepted as the end of a range (midnight at the end of the day).
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE_RE = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
_MAX_CLOSED_RUN_DAYS = 800  # a calendar closed this long in a row is treated as broken
_CACHE_MAX_DAYS = 20_000
_ZERO = timedelta(0)


def _parse_range(text: str) -> tuple[int, int]:
    """Parse "HH:MM-HH:MM" into minutes since midnight (end may be 24:00)."""
    match = _RANGE_RE.match(text)
    if match is None:
        raise ValueError(f"opening range {text!r} must look like 'HH:MM-HH:MM', e.g. '09:00-12:30'")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59:
        raise ValueError(f"opening range {text!r}: start {sh:02d}:{sm:02d} is not a time of day")
    if em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(f"opening range {text!r}: end {eh:02d}:{em:02d} is not a time of day")
    start, end = sh * 60 + sm, eh * 60 + em
    if start >= end:
        raise ValueError(f"opening range {text!r}: start must be before end")
    return start, end


def _zone(name: str) -> ZoneInfo:
    """Return the IANA zone `name`, or raise ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from exc


def _require_aware(value: datetime, what: str) -> datetime:
    """Return `value` in UTC; refuse a naive datetime."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


class HolidaySpec(BaseModel):
    """Public holidays from the `holidays` package, by ISO country and optional subdivision."""

    model_config = ConfigDict(extra="forbid")

    country: str = "FR"
    subdivision: str | None = None

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        return value.strip().upper()

    @model_validator(mode="after")
    def _check_supported(self) -> HolidaySpec:
        supported = holidays_lib.list_supported_countries()
        if self.country not in supported:
            near = difflib.get_close_matches(self.country.upper(), list(supported), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"unknown holiday country {self.country!r}{hint}")
        subdivisions = supported[self.country]
        if self.subdivision is not None and self.subdivision not in subdivisions:
            raise ValueError(
                f"unknown subdivision {self.subdivision!r} for country {self.country!r};"
                f" supported: {', '.join(subdivisions) or 'none'}"
            )
        return self


class CalendarSpec(BaseModel):
    """A business calendar as written in a rules file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    timezone: str
    hours: dict[str, list[str]]
    holidays: HolidaySpec | None = None
    closed_days: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in value.items():
            if day not in WEEKDAYS:
                near = difflib.get_close_matches(day.lower(), WEEKDAYS, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(f"unknown day {day!r} in hours{hint}; use {', '.join(WEEKDAYS)}")
            parsed = sorted((_parse_range(r), r) for r in ranges)
            for (prev, prev_text), (cur, cur_text) in itertools.pairwise(parsed):
                if cur[0] < prev[1]:
                    raise ValueError(f"{day}: ranges {prev_text!r} and {cur_text!r} overlap")
        if not any(value.values()):
            raise ValueError("hours: the calendar is never open; give at least one range")
        return value


class BusinessCalendar:
    """Business-time arithmetic on one calendar; every result is an aware UTC datetime."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.zone = _zone(spec.timezone)
        self._always = False
        by_day: dict[int, list[tuple[int, int]]] = {i: [] for i in range(7)}
        for day, ranges in spec.hours.items():
            by_day[WEEKDAYS.index(day)] = sorted(_parse_range(r) for r in ranges)
        self._week = by_day
        self._closed = frozenset(spec.closed_days)
        self._holidays = (
            holidays_lib.country_holidays(spec.holidays.country, subdiv=spec.holidays.subdivision)
            if spec.holidays is not None
            else None
        )
        self._cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> BusinessCalendar:
        """A 24/7 calendar without holidays: business time equals real elapsed time."""
        spec = CalendarSpec(
            name="always_open",
            timezone=timezone,
            hours={day: ["00:00-24:00"] for day in WEEKDAYS},
        )
        calendar = cls(spec)
        calendar._always = True
        return calendar

    @property
    def is_always_open(self) -> bool:
        """True for the 24/7 calendar built by `always_open`."""
        return self._always

    # -- building blocks -------------------------------------------------------------------

    def is_closed_day(self, day: date) -> bool:
        """True when `day` (a local date) is a public holiday or an extra closed day."""
        if day in self._closed:
            return True
        return self._holidays is not None and day in self._holidays

    def _local(self, day: date, minutes: int) -> datetime:
        """The UTC instant of wall-clock `minutes` after local midnight of `day`."""
        if minutes >= 24 * 60:
            day, minutes = day + timedelta(days=1), minutes - 24 * 60
        wall = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return wall.astimezone(UTC)

    def intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Opening intervals of local date `day`, as (start, end) UTC instants, in order."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        result: list[tuple[datetime, datetime]] = []
        if not self.is_closed_day(day):
            for start, end in self._week[day.weekday()]:
                a, b = self._local(day, start), self._local(day, end)
                if b > a:  # a range inside the spring DST gap vanishes
                    result.append((a, b))
        if len(self._cache) >= _CACHE_MAX_DAYS:
            self._cache.clear()
        frozen = tuple(result)
        self._cache[day] = frozen
        return frozen

    def _local_date(self, at: datetime) -> date:
        """Local calendar date of UTC instant `at`."""
        return at.astimezone(self.zone).date()

    def _intervals_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield every opening interval ending after `at`, clipped to start no earlier."""
        day = self._local_date(at)
        closed_run = 0
        while True:
            found = False
            for a, b in self.intervals(day):
                if b > at:
                    found = True
                    yield max(a, at), b
            closed_run = 0 if found else closed_run + 1
            if closed_run > _MAX_CLOSED_RUN_DAYS:
                raise ValueError(
                    f"calendar {self.name!r} has no opening in {_MAX_CLOSED_RUN_DAYS} days"
                    f" after {day.isoformat()}"
                )
            day += timedelta(days=1)

    # -- public arithmetic -----------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """True when the desk is open at aware instant `at`."""
        at = _require_aware(at, "at")
        return any(a <= at < b for a, b in self.intervals(self._local_date(at)))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the next opening instant (UTC)."""
        at = _require_aware(at, "at")
        for a, _ in self._intervals_from(at):
            return a
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of business time has run from `start` (UTC).

        A start out of hours begins counting at the next opening; a sum that ends exactly at
        a closing time returns that closing time (not the next opening).
        """
        at = _require_aware(start, "start")
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        remaining = duration
        for a, b in self._intervals_from(at):
            if b - a >= remaining:
                return a + remaining
            remaining -= b - a
        raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (negative when `end` is before `start`)."""
        lo, hi = _require_aware(start, "start"), _require_aware(end, "end")
        if hi < lo:
            return -self.elapsed(hi, lo)
        total = _ZERO
        day = self._local_date(lo)
        last = self._local_date(hi)
        while day <= last:
            for a, b in self.intervals(day):
                a, b = max(a, lo), min(b, hi)
                if b > a:
                    total += b - a
            day += timedelta(days=1)
        return total

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """Same business-hour offset `days` open days later (clamped to that day's close).

        The start is first moved to the next opening when out of hours. Its offset is the
        business time since the first opening of its day; the result is the instant at that
        offset in the target open day, or that day's closing time when the day is shorter.
        """
        at = _require_aware(start, "start")
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        if self._always:
            return at + timedelta(days=days)
        at = self.next_open(at)
        if days == 0:
            return at
        day = self._local_date(at)
        offset = self.elapsed(self.intervals(day)[0][0], at)
        closed_run = 0
        while days:
            day += timedelta(days=1)
            if self.intervals(day):
                days -= 1
                closed_run = 0
            else:
                closed_run += 1
                if closed_run > _MAX_CLOSED_RUN_DAYS:
                    raise ValueError(f"calendar {self.name!r} has no opening after {day}")
        remaining = offset
        ranges = self.intervals(day)
        for a, b in ranges:
            if b - a > remaining:  # an offset at a lunch break lands on the reopening
                return a + remaining
            remaining -= b - a
        return ranges[-1][1]
