"""Schedules from templates: the documented rotations, restrictions, overrides and gaps."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.models import Country, OnCallSchedule, Person, ScheduleLayer, ScheduleOverride
from app.services.oncall import OnCallIndex, who_is_on_call
from app.services.roster_templates import (
    PersonInfo,
    coverage_gaps,
    create_schedule,
    plan_schedule,
)

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
MONDAY = dt.date(2026, 11, 2)
WEEKDAYS = [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]


def people(*zones):
    return [PersonInfo(i + 1, f"P{i + 1}", zone) for i, zone in enumerate(zones)]


def on_call(plan, at, role="primary", overrides=()):
    sched = plan.to_schedule()
    sched.id = 1
    for i, layer in enumerate(sched.layers):
        layer.id = 10 + i
    found = [c for c in who_is_on_call(sched, at, overrides) if c.role == role]
    return found[0].person_id if found else None


def local(day, hour, minute=0, zone=LONDON):
    return dt.datetime.combine(day, dt.time(hour, minute), zone)


def test_weekly_hands_off_every_week_at_the_handoff_time():
    plan = plan_schedule("weekly", "Ops", people(*["Europe/London"] * 3), MONDAY)
    assert plan.timezone == "Europe/London"
    assert on_call(plan, local(MONDAY, 9)) == 1
    assert on_call(plan, local(MONDAY + dt.timedelta(days=7), 8, 59)) == 1
    assert on_call(plan, local(MONDAY + dt.timedelta(days=7), 9)) == 2
    assert on_call(plan, local(MONDAY + dt.timedelta(days=21), 9)) == 1


def test_daily_rotates_every_day():
    plan = plan_schedule(
        "daily", "Ops", people("UTC", "UTC"), MONDAY, timezone="UTC", handoff="08:00"
    )
    at = dt.datetime(2026, 11, 2, 8, tzinfo=UTC)
    assert [on_call(plan, at + dt.timedelta(days=k)) for k in range(4)] == [1, 2, 1, 2]


def test_primary_and_secondary_run_one_place_apart():
    plan = plan_schedule("primary_secondary", "Ops", people(*["Europe/London"] * 3), MONDAY)
    at = local(MONDAY, 12)
    assert on_call(plan, at) == 1
    assert on_call(plan, at, "secondary") == 2
    assert on_call(plan, at + dt.timedelta(days=7), "secondary") == 3


def test_a_business_hours_restriction_is_refused_unless_gaps_are_accepted():
    with pytest.raises(ValueError, match=r"nobody on call for primary: Mon 17:00-Tue 09:00"):
        plan_schedule("weekly", "Ops", people("UTC"), MONDAY, timezone="UTC", restrictions=WEEKDAYS)
    plan = plan_schedule(
        "daily", "Ops", people("UTC", "UTC"), MONDAY, timezone="UTC",
        restrictions=WEEKDAYS, allow_gaps=True,
    )  # fmt: skip
    friday = dt.datetime(2026, 11, 6, tzinfo=UTC)
    assert on_call(plan, friday.replace(hour=10)) == 1  # day 4 of a daily 1,2 rotation
    assert on_call(plan, friday.replace(hour=18)) is None
    # The weekend is skipped in hours, not in people: Monday is the turn of day 7.
    assert on_call(plan, friday.replace(hour=10) + dt.timedelta(days=3)) == 2


@pytest.mark.parametrize(
    ("restriction", "message"),
    [
        ({"days": [], "start": "09:00", "end": "17:00"}, "days as numbers"),
        ({"days": [7], "start": "09:00", "end": "17:00"}, "days as numbers"),
        ({"days": [0], "start": "9am", "end": "17:00"}, "not a time of day"),
        ({"days": [0], "start": "09:00", "end": "09:00"}, "starts and ends at 09:00"),
        ({"days": [0], "from": "09:00"}, "unknown keys"),
    ],
)
def test_bad_restrictions_are_explained(restriction, message):
    with pytest.raises(ValueError, match=message):
        plan_schedule("weekly", "Ops", people("UTC"), MONDAY, restrictions=[restriction])


def test_bad_people_are_explained():
    with pytest.raises(ValueError, match="exactly 4 people"):
        plan_schedule("panama", "P", people(*["UTC"] * 5), MONDAY, timezone="UTC")
    with pytest.raises(ValueError, match="listed twice"):
        plan_schedule("weekly", "P", [PersonInfo(1, "A", "UTC")] * 2, MONDAY)
    with pytest.raises(ValueError, match="P2 \\(person 2\\) has no time zone or country"):
        plan_schedule("weekly", "P", people("UTC", None), MONDAY)
    with pytest.raises(ValueError, match="name the schedule's time zone"):
        plan_schedule("weekly", "P", people("Europe/London", "Asia/Tokyo"), MONDAY)
    with pytest.raises(ValueError, match="not a template"):
        plan_schedule("fortnightly", "P", people("UTC"), MONDAY)


def test_panama_follows_the_2_2_3_pattern_by_day_and_night():
    plan = plan_schedule("panama", "P", people(*["Europe/London"] * 4), MONDAY, handoff="07:00")
    days = [on_call(plan, local(MONDAY + dt.timedelta(days=k), 12)) for k in range(14)]
    nights = [on_call(plan, local(MONDAY + dt.timedelta(days=k), 23)) for k in range(14)]
    assert days == [1, 1, 2, 2, 1, 1, 1, 2, 2, 1, 1, 2, 2, 2]
    assert nights == [3, 3, 4, 4, 3, 3, 3, 4, 4, 3, 3, 4, 4, 4]
    # The night of day 1 runs to 07:00 on day 2; the day crew takes over then.
    assert on_call(plan, local(MONDAY + dt.timedelta(days=1), 6, 59)) == 3
    assert on_call(plan, local(MONDAY + dt.timedelta(days=1), 7)) == 1


def test_four_on_four_off():
    two = plan_schedule("four_on_four_off", "F", people("UTC", "UTC"), MONDAY)
    at = dt.datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert [on_call(two, at + dt.timedelta(days=k)) for k in (0, 3, 4, 7, 8)] == [1, 1, 2, 2, 1]
    four = plan_schedule("four_on_four_off", "F", people(*["UTC"] * 4), MONDAY, handoff="07:00")
    noon, night = at.replace(hour=12), at.replace(hour=20)
    assert [on_call(four, noon + dt.timedelta(days=k)) for k in (0, 3, 4, 8)] == [1, 1, 2, 1]
    assert [on_call(four, night + dt.timedelta(days=k)) for k in (0, 3, 4, 8)] == [3, 3, 4, 3]


def test_follow_the_sun_builds_regions_from_time_zones_and_covers_the_day():
    crew = people("Europe/London", "Europe/Paris", "America/New_York", "America/Chicago",
                  "Australia/Sydney", "Asia/Singapore")  # fmt: skip
    plan = plan_schedule("follow_the_sun", "Desk", crew, MONDAY, regions=3)
    assert plan.timezone == "UTC"
    assert {layer.name: layer.people for layer in plan.layers} == {
        "EMEA": (1, 2),
        "Americas": (3, 4),
        "APAC": (5, 6),
    }
    day = dt.datetime(2026, 11, 3, tzinfo=UTC)
    # 10:00 UTC is London's morning, 17:00 UTC New York's, 02:00 UTC Sydney's afternoon.
    assert on_call(plan, day.replace(hour=10)) in (1, 2)
    assert on_call(plan, day.replace(hour=17)) in (3, 4)
    assert on_call(plan, day.replace(hour=2)) in (5, 6)
    sched = plan.to_schedule()
    sched.id = 1
    assert OnCallIndex(sched).gaps(day, day + dt.timedelta(days=7)) == []
    two = plan_schedule("follow_the_sun", "Desk", crew, MONDAY, regions=2)
    assert len(two.layers) == 2 and all(layer.turn_seconds == 86400 for layer in two.layers)
    with pytest.raises(ValueError, match="3 different UTC offsets"):
        plan_schedule(
            "follow_the_sun", "D", people("Europe/London", "Europe/London", "Asia/Tokyo"), MONDAY
        )
    with pytest.raises(ValueError, match="P2 \\(person 2\\) has no time zone or country"):
        plan_schedule("follow_the_sun", "D", people("Europe/London", None, "Asia/Tokyo"), MONDAY)


def _people(db):
    with db.transaction() as s:
        s.add(Country(code="GB", name="United Kingdom", timezone="Europe/London"))
        s.flush()
        s.add_all(
            [
                Person(name="Ann", country_code="GB"),
                Person(name="Bob", timezone="Europe/London"),
                Person(name="Cy", timezone="Europe/London"),
                Person(name="Nobody"),
            ]
        )


def test_create_schedule_writes_the_layers_and_refuses_bad_input(db):
    _people(db)
    with db.transaction() as s:
        sched = create_schedule(s, "primary_secondary", "Ops on call", [1, 2, 3], MONDAY)
        sched_id = sched.id
    with db.session() as s:
        layers = s.scalars(select(ScheduleLayer).order_by(ScheduleLayer.position)).all()
        assert [(lay.name, lay.role, [m.person_id for m in lay.members]) for lay in layers] == [
            ("Primary", "primary", [1, 2, 3]),
            ("Secondary", "secondary", [2, 3, 1]),
        ]
        index = OnCallIndex.load(s, sched_id)
        assert index.person(local(MONDAY, 9)) == 1
        assert index.person(local(MONDAY, 9), "secondary") == 2
        with pytest.raises(ValueError, match="already exists"):
            create_schedule(s, "weekly", "Ops on call", [1], MONDAY)
        with pytest.raises(ValueError, match="no person with id 99"):
            create_schedule(s, "weekly", "Other", [1, 99], MONDAY)
        with pytest.raises(ValueError, match="Nobody \\(person 4\\) has no time zone or country"):
            create_schedule(s, "weekly", "Other", [1, 4], MONDAY)
        assert s.scalar(select(func.count()).select_from(OnCallSchedule)) == 1


def test_coverage_gaps_with_reasons_and_overrides(db):
    _people(db)
    with db.transaction() as s:
        sched = create_schedule(
            s, "daily", "Days", [1, 2], MONDAY, restrictions=WEEKDAYS, allow_gaps=True
        )
        sched_id = sched.id
        s.add(
            ScheduleOverride(
                schedule_id=sched_id, person_id=3,
                starts_at=local(MONDAY, 17), ends_at=local(MONDAY, 20),
            )
        )  # fmt: skip
    with db.session() as s:
        gaps = coverage_gaps(s, sched_id, local(MONDAY, 0), local(MONDAY, 0) + dt.timedelta(days=1))
        assert [(g.start, g.end) for g in gaps] == [
            (local(MONDAY, 0), local(MONDAY, 9)),
            (local(MONDAY, 20), local(MONDAY, 0) + dt.timedelta(days=1)),
        ]
        assert "Daily starts 2026-11-02 09:00 UTC" in gaps[0].reason
        assert gaps[1].reason == (
            "nobody on call for primary: Daily is outside its hours (Mon-Fri 09:00-17:00)"
        )
        index = OnCallIndex.load(s, sched_id)
        assert index.person(local(MONDAY, 18)) == 3
        with pytest.raises(ValueError, match="must end after"):
            coverage_gaps(s, sched_id, local(MONDAY, 1), local(MONDAY, 0))
