"""SLA targets and due dates: first response, resolution and warning instants, with pauses.

Durations are written as one or more `<number><unit>` parts, largest unit first, optionally
separated by spaces: "30m", "4h", "2d", "1d4h", "1d 4h 30m". Units: d (day), h (hour),
m (minute).

What a day means depends on the target:
- business time (`business_time: true`, the default): "d" is one business DAY, i.e. the same
  business-hour offset on the next open day (Friday 10:00 + 1d = Monday 10:00 when the desk
  opens at 09:00 both days; clamped to the close when the target day is shorter). Hours and
  minutes are business hours: they only run while the calendar is open.
- calendar time (`business_time: false`): the calendar is ignored, every unit is real elapsed
  time, "1d" is 24 real hours (across a DST change too) and pauses count in real time.

Pauses (waiting on the customer or a third party) stop the clock: each due date is pushed by
the business time spent paused from the start up to that due date. A target in days is turned
into its business-time length at the start before pauses are applied.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, field_validator

from rules.calendar import BusinessCalendar

_PART_RE = re.compile(r"(\d+)\s*([dhm])")
_FULL_RE = re.compile(r"^\s*(?:\d+\s*[dhm]\s*)+$")
_UNIT_ORDER = {"d": 0, "h": 1, "m": 2}
MAX_DURATION = timedelta(days=3660)


@dataclass(frozen=True)
class SlaDuration:
    """A parsed duration: whole days kept apart from the hours and minutes."""

    days: int
    time: timedelta

    def as_timedelta(self) -> timedelta:
        """The duration with a day counted as 24 hours."""
        return timedelta(days=self.days) + self.time


def parse_sla_duration(text: str) -> SlaDuration:
    """Parse "1d4h30m"-style text into days and time; ValueError with a clear message."""
    if not isinstance(text, str) or not _FULL_RE.match(text):
        raise ValueError(
            f"invalid duration {text!r}: use numbers with units d, h, m,"
            " largest first, e.g. '30m', '4h', '2d', '1d4h'"
        )
    seen: list[str] = []
    values = {"d": 0, "h": 0, "m": 0}
    for number, unit in _PART_RE.findall(text):
        if seen and _UNIT_ORDER[unit] <= _UNIT_ORDER[seen[-1]]:
            raise ValueError(
                f"invalid duration {text!r}: each unit once, largest first (d, then h, then m)"
            )
        seen.append(unit)
        values[unit] = int(number)
    parsed = SlaDuration(values["d"], timedelta(hours=values["h"], minutes=values["m"]))
    if values["d"] > MAX_DURATION.days or parsed.time > MAX_DURATION:
        raise ValueError(f"invalid duration {text!r}: longer than {MAX_DURATION.days} days")
    if parsed.as_timedelta() > MAX_DURATION:
        raise ValueError(f"invalid duration {text!r}: longer than {MAX_DURATION.days} days")
    return parsed


def parse_duration(text: str) -> timedelta:
    """Parse "30m", "4h", "2d", "1d4h" into a timedelta (a day is 24 h); ValueError if bad."""
    return parse_sla_duration(text).as_timedelta()


class SlaTarget(BaseModel):
    """First-response and resolution targets of one policy/priority."""

    model_config = ConfigDict(extra="forbid")

    first_response: str
    resolution: str
    business_time: bool = True

    @field_validator("first_response", "resolution")
    @classmethod
    def _check_duration(cls, value: str) -> str:
        if parse_sla_duration(value).as_timedelta() <= timedelta(0):
            raise ValueError(f"duration {value!r} must be longer than zero")
        return value


@dataclass
class SlaResult:
    """Due dates computed for one case."""

    policy: str
    priority: str
    calendar: str
    started_at: datetime
    first_response_due: datetime
    resolution_due: datetime
    warning_at: datetime | None
    paused_for: timedelta

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: instants as ISO 8601 strings, `paused_for` in seconds."""
        return {
            "policy": self.policy,
            "priority": self.priority,
            "calendar": self.calendar,
            "started_at": self.started_at.isoformat(),
            "first_response_due": self.first_response_due.isoformat(),
            "resolution_due": self.resolution_due.isoformat(),
            "warning_at": self.warning_at.isoformat() if self.warning_at else None,
            "paused_for_seconds": int(self.paused_for.total_seconds()),
        }


class _Clock:
    """The time base of one target: the business calendar, or real time."""

    def __init__(self, calendar: BusinessCalendar, business_time: bool) -> None:
        self.calendar = calendar
        self.business = business_time and not calendar.is_always_open

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """`start` + `duration` on this clock."""
        if self.business:
            return self.calendar.add(start, duration)
        return start + duration

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Clock time between two instants."""
        if self.business:
            return self.calendar.elapsed(start, end)
        return end - start

    def due(self, start: datetime, target: SlaDuration) -> datetime:
        """The due instant of `target` from `start`, without pauses."""
        if not self.business:
            return start + target.as_timedelta()
        at = self.calendar.add_business_days(start, target.days) if target.days else start
        return self.calendar.add(at, target.time)


def _utc(value: datetime, what: str) -> datetime:
    """`value` in UTC; ValueError on a naive datetime."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _merge_pauses(
    start: datetime, pauses: Sequence[tuple[datetime, datetime | None]], now: datetime
) -> list[tuple[datetime, datetime]]:
    """Clip pauses to [start, ...), close open ones at `now`, merge overlaps, sort."""
    spans: list[tuple[datetime, datetime]] = []
    for index, (begin, end) in enumerate(pauses):
        b = _utc(begin, f"pause {index} start")
        e = now if end is None else _utc(end, f"pause {index} end")
        if end is not None and e < b:
            raise ValueError(f"pause {index} ends ({e.isoformat()}) before it starts")
        b = max(b, start)
        if e > b:
            spans.append((b, e))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for b, e in spans:
        if merged and b <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((b, e))
    return merged


def _push(clock: _Clock, due: datetime, pauses: list[tuple[datetime, datetime]]) -> datetime:
    """Push `due` by the clock time of every pause that begins before it."""
    for begin, end in pauses:
        if begin >= due:
            break
        spent = clock.elapsed(begin, end)
        if spent > timedelta(0):
            due = clock.add(due, spent)
    return due


def compute_sla(
    policy_name: str,
    priority: str,
    target: SlaTarget,
    calendar: BusinessCalendar,
    start: datetime,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
    warning_ratio: float = 0.8,
    now: datetime | None = None,
) -> SlaResult:
    """Due dates of one case: first response, resolution, warning, with paused time pushed.

    An open pause (end None) lasts until `now` (default: the current time). `warning_at` is
    when `warning_ratio` of the first-response target has run; None when the ratio is 0.
    """
    if not 0 <= warning_ratio <= 1:
        raise ValueError(f"warning_ratio must be between 0 and 1, got {warning_ratio}")
    begin = _utc(start, "start")
    current = _utc(now, "now") if now is not None else datetime.now(UTC)
    clock = _Clock(calendar, target.business_time)
    merged = _merge_pauses(begin, pauses, current)
    paused_for = sum((clock.elapsed(b, e) for b, e in merged), timedelta(0))

    first = parse_sla_duration(target.first_response)
    resolution = parse_sla_duration(target.resolution)
    first_due0 = clock.due(begin, first)
    resolution_due0 = clock.due(begin, resolution)

    warning_at: datetime | None = None
    if warning_ratio > 0:
        length = clock.elapsed(begin, first_due0)
        micro = length // timedelta(microseconds=1)
        share = timedelta(seconds=int(micro * warning_ratio) // 1_000_000)
        warning_at = _push(clock, clock.add(begin, share), merged)

    return SlaResult(
        policy=policy_name,
        priority=priority,
        calendar=calendar.name,
        started_at=begin,
        first_response_due=_push(clock, first_due0, merged),
        resolution_due=_push(clock, resolution_due0, merged),
        warning_at=warning_at,
        paused_for=paused_for,
    )
