"""SLA clocks run only during the service's hours: an incident raised on Saturday evening
against a `mon-fri 08:00-18:00` service is due counting from Monday 08:00. Times are UTC.

Service hours are written `24x7`, or days and a daily span: `mon-fri 08:00-18:00`,
`mon-sat 06:00-22:00`, `sat,sun 10:00-16:00`, `daily 07:00-19:00`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPAN = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class ServiceHours:
    """The week days (0 = Monday) and the daily span the clock runs; all day every day when
    `always`."""

    days: frozenset[int]
    start: time
    end: time
    always: bool = False

    def open_at(self, moment: datetime) -> bool:
        return self.always or (moment.weekday() in self.days and self.start <= moment.time() < self.end)


ALWAYS = ServiceHours(frozenset(range(7)), time(0), time(0), always=True)


def _days(text: str) -> frozenset[int]:
    if text in ("daily", "all"):
        return frozenset(range(7))
    found: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown day in {text!r}; use {', '.join(DAYS)}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        found.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(found)


def parse_service_hours(text: str | None) -> ServiceHours:
    """`None` and `24x7` run the clock always; anything unreadable is refused with the form."""
    if text is None or text.strip().lower() in ("", "24x7", "24/7"):
        return ALWAYS
    match = SPAN.match(text.strip().lower())
    if not match:
        raise ValueError(f"service hours {text!r}: write 24x7 or days and a span, e.g. mon-fri 08:00-18:00")
    try:
        start, end = (time.fromisoformat(match[k].zfill(5)) for k in ("start", "end"))
    except ValueError:
        raise ValueError(f"service hours {text!r}: times of day run from 00:00 to 23:59") from None
    if end <= start:
        raise ValueError(f"service hours {text!r}: the span must end after it starts")
    return ServiceHours(_days(match["days"]), start, end)


def add_service_minutes(start: datetime, minutes: float, hours: ServiceHours) -> datetime:
    """The moment `minutes` of service time after `start`."""
    if hours.always:
        return start + timedelta(minutes=minutes)
    remaining = timedelta(minutes=minutes)
    moment = start
    for _ in range(3700):  # ten years of days: enough for any SLA, and never endless
        day_open = moment.replace(hour=hours.start.hour, minute=hours.start.minute, second=0, microsecond=0)
        day_close = moment.replace(hour=hours.end.hour, minute=hours.end.minute, second=0, microsecond=0)
        if moment.weekday() in hours.days and moment < day_close:
            moment = max(moment, day_open)
            if moment + remaining <= day_close:
                return moment + remaining
            remaining -= day_close - moment
        moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError("service hours leave no time to count")


def service_minutes_between(start: datetime, end: datetime, hours: ServiceHours) -> float:
    """Minutes of service time from `start` to `end` (0 when `end` is not later)."""
    if end <= start:
        return 0.0
    if hours.always:
        return (end - start).total_seconds() / 60
    total = timedelta()
    moment = start
    while moment < end:
        day_open = moment.replace(hour=hours.start.hour, minute=hours.start.minute, second=0, microsecond=0)
        day_close = moment.replace(hour=hours.end.hour, minute=hours.end.minute, second=0, microsecond=0)
        if moment.weekday() in hours.days:
            lo, hi = max(moment, day_open), min(end, day_close)
            if hi > lo:
                total += hi - lo
        moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return total.total_seconds() / 60
