"""Business-time arithmetic: hand-worked cases, DST, holidays, and properties."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.business_time import BusinessCalendar, from_epoch, to_epoch

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
EIGHT_FIVE = BusinessCalendar.weekly(
    [(d, "09:00", "17:00") for d in range(5)],
    "Europe/London",
    holidays=[dt.date(2026, 12, 25), dt.date(2026, 12, 28)],
)


def at(*args: int, tz=LONDON) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def due(cal: BusinessCalendar, start: dt.datetime, hours: float) -> dt.datetime:
    return from_epoch(cal.add(to_epoch(start), [int(hours * 3600)])[0]).astimezone(LONDON)


def test_a_p1_opened_friday_17_00_with_an_8x5_sla_breaches_monday_13_00():
    assert due(EIGHT_FIVE, at(2026, 11, 20, 17, 0), 4) == at(2026, 11, 23, 13, 0)


def test_opened_outside_hours_starts_counting_at_the_next_opening():
    assert due(EIGHT_FIVE, at(2026, 11, 21, 10, 0), 1) == at(2026, 11, 23, 10, 0)
    assert due(EIGHT_FIVE, at(2026, 11, 23, 7, 30), 0.5) == at(2026, 11, 23, 9, 30)


def test_a_target_that_ends_at_closing_time_is_due_at_closing_time():
    assert due(EIGHT_FIVE, at(2026, 11, 23, 9, 0), 8) == at(2026, 11, 23, 17, 0)


def test_holidays_are_skipped():
    # Thu 24 Dec 16:00 + 2h: 1h on Thursday, Fri 25 and Mon 28 are holidays -> Tue 29 10:00.
    assert due(EIGHT_FIVE, at(2026, 12, 24, 16, 0), 2) == at(2026, 12, 29, 10, 0)


def test_local_business_hours_follow_daylight_saving_time():
    # 09:00-17:00 London is 08:00-16:00 UTC in summer and 09:00-17:00 UTC in winter.
    summer = at(2026, 7, 6, 8, 0, tz=UTC)
    winter = at(2026, 11, 23, 9, 0, tz=UTC)
    assert (
        EIGHT_FIVE.elapsed(to_epoch(summer), to_epoch(summer + dt.timedelta(hours=8)))[0]
        == 8 * 3600
    )
    assert (
        EIGHT_FIVE.elapsed(to_epoch(winter), to_epoch(winter + dt.timedelta(hours=8)))[0]
        == 8 * 3600
    )
    # Week of the change to summer time (Sun 29 Mar 2026): Mon-Fri still 40 business hours.
    week = EIGHT_FIVE.elapsed(to_epoch(at(2026, 3, 28, 0, 0)), to_epoch(at(2026, 4, 4, 0, 0)))
    assert week[0] == 40 * 3600


def test_24x7_is_wall_clock():
    cal = BusinessCalendar.always()
    start = at(2026, 11, 20, 17, 0)
    assert due(cal, start, 4) == start + dt.timedelta(hours=4)


def _reference_elapsed(start: dt.datetime, end: dt.datetime) -> int:
    """Minute by minute, straight from the definition (slow, obviously right)."""
    total, t = 0, start
    step = dt.timedelta(minutes=1)
    while t < end:
        local = t.astimezone(LONDON)
        if local.weekday() < 5 and local.date() not in EIGHT_FIVE.holidays and 9 <= local.hour < 17:
            total += 60
        t += step
    return total


minutes = st.integers(min_value=0, max_value=60 * 24 * 20)
base = st.datetimes(
    min_value=dt.datetime(2026, 3, 1),
    max_value=dt.datetime(2026, 12, 31),
    timezones=st.just(UTC),
).map(lambda d: d.replace(second=0, microsecond=0))


@settings(max_examples=60, deadline=None)
@given(base, st.integers(min_value=0, max_value=60 * 24 * 6))
def test_elapsed_matches_a_minute_by_minute_count(start, length):
    end = start + dt.timedelta(minutes=length)
    assert EIGHT_FIVE.elapsed(to_epoch(start), to_epoch(end))[0] == _reference_elapsed(start, end)


@settings(max_examples=200, deadline=None)
@given(base, minutes)
def test_add_then_elapsed_gives_back_the_duration(start, length):
    seconds = length * 60
    end = EIGHT_FIVE.add(to_epoch(start), [seconds])
    assert EIGHT_FIVE.elapsed(to_epoch(start), end)[0] == seconds
    # ... and it is the earliest such instant: one second less is not enough.
    if seconds:
        assert EIGHT_FIVE.elapsed(to_epoch(start), end - 1)[0] == seconds - 1


@settings(max_examples=200, deadline=None)
@given(base, minutes, minutes)
def test_elapsed_is_additive(start, a, b):
    t0 = to_epoch(start)
    t1, t2 = t0 + a * 60, t0 + (a + b) * 60
    assert EIGHT_FIVE.elapsed(t0, t1) + EIGHT_FIVE.elapsed(t1, t2) == EIGHT_FIVE.elapsed(t0, t2)


def test_vectorised_over_many_instants():
    rng = np.random.default_rng(1)
    start = to_epoch(at(2026, 1, 5, 0, 0)) + rng.integers(0, 300 * 86400, 100_000)
    seconds = rng.integers(0, 40 * 3600, 100_000)
    assert np.array_equal(EIGHT_FIVE.elapsed(start, EIGHT_FIVE.add(start, seconds)), seconds)
