"""Service hours: the forms they are written in, and the SLA clock that runs only inside them,
on fixed clocks worked out by hand (2026-11-20 is a Friday, 2026-11-23 a Monday)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdb_graph.processes.service_hours import (
    ALWAYS,
    add_service_minutes,
    parse_service_hours,
    service_minutes_between,
)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A moment in November 2026, UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=timezone.utc)


OFFICE = parse_service_hours("mon-fri 08:00-18:00")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "  ", "24x7", "24X7", "24/7"])
def test_no_hours_and_24x7_run_the_clock_always(text):
    assert parse_service_hours(text) is ALWAYS
    assert ALWAYS.open_at(at(21, 3)) and ALWAYS.open_at(at(22, 23, 59))


def test_mon_fri_office_hours_are_five_days_and_a_daily_span():
    assert OFFICE.days == frozenset({MON, TUE, WED, THU, FRI})
    assert (OFFICE.start, OFFICE.end, OFFICE.always) == (time(8), time(18), False)


def test_a_comma_list_of_days():
    hours = parse_service_hours("sat,sun 10:00-16:00")
    assert hours.days == frozenset({SAT, SUN}) and (hours.start, hours.end) == (time(10), time(16))


def test_daily_is_every_day():
    hours = parse_service_hours("daily 07:00-19:00")
    assert hours.days == frozenset(range(7)) and (hours.start, hours.end) == (time(7), time(19))


def test_a_day_range_wraps_round_the_week():
    assert parse_service_hours("fri-mon 09:00-17:00").days == frozenset({FRI, SAT, SUN, MON})
    assert parse_service_hours("sun-tue 09:00-17:00").days == frozenset({SUN, MON, TUE})


def test_ranges_and_single_days_mix_and_case_and_spaces_do_not_matter():
    hours = parse_service_hours("  Mon-Wed,SAT 6:30 - 22:00 ")
    assert hours.days == frozenset({MON, TUE, WED, SAT}) and (hours.start, hours.end) == (time(6, 30), time(22))


def test_open_at_is_inside_the_days_and_the_half_open_span():
    assert OFFICE.open_at(at(20, 8)) and OFFICE.open_at(at(20, 17, 59, 59))
    assert not OFFICE.open_at(at(20, 18))  # closes at 18:00 sharp
    assert not OFFICE.open_at(at(20, 7, 59))
    assert not OFFICE.open_at(at(21, 12))  # Saturday


@pytest.mark.parametrize("text", ["weekdays", "mon-fri", "08:00-18:00", "mon-fri 8-18", "mon-fri 08:00 to 18:00"])
def test_unreadable_hours_are_refused_with_the_form_to_write(text):
    with pytest.raises(ValueError, match=r"write 24x7 or days and a span, e\.g\. mon-fri 08:00-18:00"):
        parse_service_hours(text)


@pytest.mark.parametrize("text", ["mon-fry 08:00-18:00", "mon,funday 08:00-18:00", "xyz 08:00-18:00"])
def test_an_unknown_day_is_refused_naming_the_days_to_use(text):
    with pytest.raises(ValueError, match="unknown day .* use mon, tue, wed, thu, fri, sat, sun"):
        parse_service_hours(text)


@pytest.mark.parametrize("text", ["mon-fri 18:00-08:00", "mon-fri 08:00-08:00"])
def test_a_span_that_does_not_end_after_it_starts_is_refused(text):
    with pytest.raises(ValueError, match="the span must end after it starts"):
        parse_service_hours(text)


@pytest.mark.parametrize("text", ["mon-fri 08:00-24:00", "mon-fri 8:75-18:00", "daily 25:00-26:00"])
def test_a_time_that_is_no_time_of_day_is_refused_naming_the_hours(text):
    with pytest.raises(ValueError, match=rf"service hours '{text}': times of day run from 00:00 to 23:59"):
        parse_service_hours(text)


def test_an_sla_with_unreadable_hours_is_refused_by_the_model():
    from pydantic import ValidationError

    from cmdb_graph.model import SLA

    with pytest.raises(ValidationError, match="service hours 'weekdays'"):
        SLA(id="s", service="x", availability_target=0.99, service_hours="weekdays")


# --- the clock ----------------------------------------------------------------------------


def test_24x7_adds_wall_clock_minutes():
    assert add_service_minutes(at(21, 22), 240, ALWAYS) == at(22, 2)
    assert service_minutes_between(at(21, 22), at(22, 2), ALWAYS) == 240


def test_inside_the_day_the_clock_runs_like_a_wall_clock():
    assert add_service_minutes(at(20, 9), 60, OFFICE) == at(20, 10)
    assert service_minutes_between(at(20, 9), at(20, 10), OFFICE) == 60


def test_a_saturday_evening_incident_on_a_mon_fri_service_counts_from_monday_0800():
    assert add_service_minutes(at(21, 19, 30), 240, OFFICE) == at(23, 12)
    assert service_minutes_between(at(21, 19, 30), at(23, 12), OFFICE) == 240
    assert service_minutes_between(at(21, 19, 30), at(23, 8), OFFICE) == 0


def test_before_opening_the_clock_waits_for_the_day_to_open():
    assert add_service_minutes(at(20, 6), 30, OFFICE) == at(20, 8, 30)


def test_the_clock_stops_over_the_night():
    # Tuesday 17:00 + 2 h: one hour on Tuesday, one on Wednesday from 08:00
    assert add_service_minutes(at(17, 17), 120, OFFICE) == at(18, 9)
    assert service_minutes_between(at(17, 17), at(18, 9), OFFICE) == 120


def test_friday_afternoon_runs_on_into_monday_morning():
    assert add_service_minutes(at(20, 17), 120, OFFICE) == at(23, 9)
    assert service_minutes_between(at(20, 17), at(23, 9), OFFICE) == 120


def test_a_deadline_that_uses_the_day_up_exactly_ends_at_close():
    assert add_service_minutes(at(20, 16), 120, OFFICE) == at(20, 18)


def test_a_start_exactly_at_close_counts_from_the_next_opening():
    assert add_service_minutes(at(19, 18), 60, OFFICE) == at(20, 9)  # Thursday 18:00 -> Friday 09:00
    assert add_service_minutes(at(20, 18), 60, OFFICE) == at(23, 9)  # Friday 18:00 -> Monday 09:00
    assert service_minutes_between(at(20, 18), at(23, 8), OFFICE) == 0


def test_several_days_of_service_time():
    # 25 h of a 10-hour day from Monday 08:00: Monday, Tuesday, and 5 h of Wednesday
    assert add_service_minutes(at(23, 8), 25 * 60, OFFICE) == at(25, 13)
    assert service_minutes_between(at(23, 8), at(25, 13), OFFICE) == 25 * 60


def test_a_full_week_of_office_hours_is_fifty_hours():
    assert service_minutes_between(at(16), at(23), OFFICE) == 50 * 60
    assert service_minutes_between(at(16), at(23), parse_service_hours("sat,sun 10:00-16:00")) == 12 * 60
    assert service_minutes_between(at(16), at(23), parse_service_hours("daily 07:00-19:00")) == 7 * 12 * 60


def test_wrapped_days_count_across_the_weekend():
    fri_mon = parse_service_hours("fri-mon 09:00-17:00")
    # Thursday 12:00 + 20 h: Friday, Saturday (8 h each), 4 h of Sunday
    assert add_service_minutes(at(19, 12), 20 * 60, fri_mon) == at(22, 13)
    assert service_minutes_between(at(16), at(23), fri_mon) == 4 * 8 * 60


def test_no_service_time_between_an_end_not_later_than_the_start():
    assert service_minutes_between(at(20, 12), at(20, 12), OFFICE) == 0
    assert service_minutes_between(at(20, 12), at(20, 11), OFFICE) == 0
    assert service_minutes_between(at(20, 12), at(20, 11), ALWAYS) == 0


def test_seconds_are_kept():
    assert add_service_minutes(at(20, 17, 59, 30), 1, OFFICE) == at(23, 8, 0, 30)
    assert service_minutes_between(at(20, 17, 59, 30), at(23, 8, 0, 30), OFFICE) == pytest.approx(1)


# --- the two agree ------------------------------------------------------------------------

HOURS = [
    "24x7", "mon-fri 08:00-18:00", "sat,sun 10:00-16:00", "daily 07:00-19:00", "fri-mon 09:00-17:00",
    "wed 20:00-23:30", "mon-sat 06:00-22:00",
]


@settings(max_examples=150, deadline=None)
@given(
    hours_text=st.sampled_from(HOURS),
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(timezone.utc)),
    minutes=st.floats(min_value=0, max_value=60 * 24 * 40, allow_nan=False),
)
def test_minutes_added_are_the_minutes_between(hours_text, start, minutes):
    hours = parse_service_hours(hours_text)
    due = add_service_minutes(start, minutes, hours)
    assert due >= start
    assert service_minutes_between(start, due, hours) == pytest.approx(minutes, abs=1 / 60)
    if timedelta(minutes=minutes) > timedelta(0) and not hours.always:
        assert hours.open_at(due - timedelta(microseconds=1))  # the deadline falls where the clock ran
