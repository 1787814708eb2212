"""Who is on call: rotations, restrictions that skip hours not people, layers, overrides."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from app.models import LayerMember, OnCallSchedule, ScheduleLayer, ScheduleOverride
from app.services.oncall import OnCall, in_restriction, who_is_on_call

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
A, B, C, D = 1, 2, 3, 4
WEEKDAYS_9_TO_5 = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}


def layer(id_, people, *, start=MONDAY, turn=86400, position=0, role="primary", **extra):
    lay = ScheduleLayer(
        id=id_,
        name=f"L{id_}",
        role=role,
        position=position,
        rotation_start=start,
        turn_seconds=turn,
        restrictions=extra.pop("restrictions", []),
        required=extra.pop("required", True),
        **extra,
    )
    lay.members = [LayerMember(person_id=p, position=i) for i, p in enumerate(people)]
    return lay


def schedule(*layers, tz="UTC"):
    sched = OnCallSchedule(id=1, name="Ops", timezone=tz)
    sched.layers = list(layers)
    return sched


def primary(sched, at, overrides=()):
    found = [c for c in who_is_on_call(sched, at, overrides) if c.role == "primary"]
    return found[0].person_id if found else None


def test_a_daily_rotation_hands_over_at_the_rotation_start_time():
    sched = schedule(layer(10, [A, B, C]))
    assert primary(sched, MONDAY) == A
    assert primary(sched, MONDAY + dt.timedelta(hours=23, minutes=59)) == A
    assert primary(sched, MONDAY + dt.timedelta(days=1)) == B
    assert primary(sched, MONDAY + dt.timedelta(days=3, hours=5)) == A
    assert primary(sched, MONDAY - dt.timedelta(seconds=1)) is None


def test_a_restriction_skips_hours_but_not_people():
    # Weekday daytime only: Friday is B's turn, Saturday C's and Sunday A's are blanked
    # out, and on Monday it is B's turn again, as if the weekend had been worked.
    sched = schedule(layer(10, [A, B, C], restrictions=[WEEKDAYS_9_TO_5]))
    friday = MONDAY + dt.timedelta(days=4)
    assert primary(sched, friday + dt.timedelta(hours=1)) == B
    assert primary(sched, friday + dt.timedelta(hours=9)) is None  # 18:00
    assert primary(sched, friday + dt.timedelta(days=1, hours=2)) is None  # Saturday
    next_monday = MONDAY + dt.timedelta(days=7)
    assert primary(sched, next_monday + dt.timedelta(hours=1)) == B
    assert primary(sched, next_monday + dt.timedelta(days=1, hours=1)) == C


def test_restrictions_are_read_in_the_schedule_zone():
    # 09:00-17:00 Berlin is 08:00-16:00 UTC in winter.
    sched = schedule(layer(10, [A], restrictions=[WEEKDAYS_9_TO_5]), tz="Europe/Berlin")
    day = dt.datetime(2026, 11, 3, tzinfo=UTC)
    assert primary(sched, day.replace(hour=8, minute=30)) == A
    assert primary(sched, day.replace(hour=16, minute=30)) is None


def test_a_restriction_past_midnight_belongs_to_the_day_it_starts():
    night = {"days": [4], "start": "22:00", "end": "06:00"}  # Friday night
    friday = dt.datetime(2026, 11, 6)
    assert in_restriction(night, friday.replace(hour=23))
    assert in_restriction(night, friday + dt.timedelta(days=1, hours=5, minutes=59))
    assert not in_restriction(night, friday + dt.timedelta(days=1, hours=6))
    assert not in_restriction(night, friday + dt.timedelta(days=1, hours=23))
    assert not in_restriction(night, friday.replace(hour=3))


def test_a_later_layer_wins_where_it_has_someone():
    base = layer(10, [A], turn=7 * 86400)
    daytime = layer(11, [D], position=1, restrictions=[WEEKDAYS_9_TO_5])
    sched = schedule(base, daytime)
    tuesday = MONDAY + dt.timedelta(days=1)
    assert primary(sched, tuesday + dt.timedelta(hours=2)) == D
    assert primary(sched, tuesday + dt.timedelta(hours=10)) == A
    found = who_is_on_call(sched, tuesday + dt.timedelta(hours=2))
    assert found == [OnCall("primary", D, 11, "L11")]


def test_an_override_wins_over_every_layer_of_its_role():
    primary_layer = layer(10, [A, B])
    secondary_layer = layer(20, [C], role="secondary", position=1)
    sched = schedule(primary_layer, secondary_layer)
    at = MONDAY + dt.timedelta(hours=3)
    whole = ScheduleOverride(
        id=1,
        schedule_id=1,
        person_id=D,
        starts_at=at - dt.timedelta(hours=1),
        ends_at=at + dt.timedelta(hours=1),
    )
    later = ScheduleOverride(
        id=2,
        schedule_id=1,
        person_id=B,
        starts_at=at - dt.timedelta(minutes=5),
        ends_at=at + dt.timedelta(minutes=5),
    )
    on_secondary = ScheduleOverride(
        id=3,
        schedule_id=1,
        layer_id=20,
        person_id=A,
        starts_at=at,
        ends_at=at + dt.timedelta(hours=1),
    )
    other_schedule = ScheduleOverride(
        id=4, schedule_id=2, person_id=C, starts_at=at, ends_at=at + dt.timedelta(hours=1)
    )
    ended = ScheduleOverride(
        id=5, schedule_id=1, person_id=C, starts_at=at - dt.timedelta(hours=2), ends_at=at
    )

    assert primary(sched, at) == A
    assert primary(sched, at, [whole, other_schedule, ended]) == D
    assert primary(sched, at, [whole, later]) == B
    found = who_is_on_call(sched, at, [whole, on_secondary])
    assert found == [
        OnCall("primary", D, None, None, override_id=1),
        OnCall("secondary", A, 20, "L20", override_id=3),
    ]


def test_a_required_layer_with_nobody_on_call_is_a_gap():
    sched = schedule(layer(10, [A], restrictions=[WEEKDAYS_9_TO_5]))
    night = MONDAY + dt.timedelta(hours=12)
    assert who_is_on_call(sched, night) == [OnCall("primary", None)]
    assert who_is_on_call(sched, night)[0].is_gap
    optional = schedule(layer(10, [A], restrictions=[WEEKDAYS_9_TO_5], required=False))
    assert who_is_on_call(optional, night) == []


def test_an_ended_layer_has_nobody():
    sched = schedule(layer(10, [A], ends_at=MONDAY + dt.timedelta(days=2)))
    assert primary(sched, MONDAY + dt.timedelta(days=1)) == A
    assert who_is_on_call(sched, MONDAY + dt.timedelta(days=3)) == []


def test_handoffs_keep_their_local_time_across_daylight_saving():
    # Weekly handoff Mondays 09:00 Berlin, starting in summer time (07:00 UTC). After the
    # clocks go back on 25 October, 09:00 Berlin is 08:00 UTC.
    start = dt.datetime(2026, 10, 19, 9, 0, tzinfo=BERLIN)
    sched = schedule(layer(10, [A, B, C], start=start, turn=7 * 86400), tz="Europe/Berlin")
    handoff = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BERLIN)
    assert primary(sched, handoff - dt.timedelta(minutes=30)) == B
    assert primary(sched, handoff) == C
