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


# The index: the same answers as who_is_on_call, fast, and whole intervals.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from app.services.oncall import Gap, OnCallIndex  # noqa: E402

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
EPOCH = dt.datetime(2026, 1, 1, tzinfo=UTC)
HOURS = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)] + ["24:00"]


@st.composite
def restrictions(draw):
    spans = []
    for _ in range(draw(st.integers(0, 3))):
        start, end = draw(st.sampled_from(HOURS)), draw(st.sampled_from(HOURS))
        days = draw(st.lists(st.integers(0, 6), min_size=0, max_size=7, unique=True))
        spans.append({"days": days, "start": start, "end": end})
    return spans


@st.composite
def schedules(draw):
    zone = draw(st.sampled_from(ZONES))
    layers = []
    for i in range(draw(st.integers(1, 4))):
        start = EPOCH + dt.timedelta(minutes=30 * draw(st.integers(-2000, 8000)))
        ends = draw(st.one_of(st.none(), st.integers(1, 20000)))
        layers.append(
            layer(
                100 + i,
                draw(st.lists(st.integers(1, 6), min_size=0, max_size=5)),
                start=start,
                turn=draw(st.sampled_from([3600, 8 * 3600, 12 * 3600, 86400, 7 * 86400, 5400])),
                position=draw(st.integers(0, 3)),
                role=draw(st.sampled_from(["primary", "primary", "secondary"])),
                restrictions=draw(restrictions()),
                required=draw(st.booleans()),
                ends_at=None if ends is None else start + dt.timedelta(minutes=30 * ends),
            )
        )
    overrides = []
    for k in range(draw(st.integers(0, 5))):
        begin = EPOCH + dt.timedelta(minutes=15 * draw(st.integers(0, 40000)))
        overrides.append(
            ScheduleOverride(
                id=k + 1,
                schedule_id=draw(st.sampled_from([1, 1, 1, 2])),
                layer_id=draw(st.sampled_from([None, 100, 101, 999])),
                person_id=draw(st.integers(7, 9)),
                starts_at=begin,
                ends_at=begin + dt.timedelta(minutes=15 * draw(st.integers(1, 2000))),
            )
        )
    return schedule(*layers, tz=zone), overrides


instants = st.integers(-30 * 86400, 400 * 86400).map(lambda s: EPOCH + dt.timedelta(seconds=s))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), st.lists(instants, min_size=1, max_size=20))
def test_the_index_agrees_with_the_reference(drawn, moments):
    sched, overrides = drawn
    index = OnCallIndex(sched, overrides)
    for at in moments:
        assert index.at(at) == who_is_on_call(sched, at, overrides)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), instants, st.integers(1, 21), st.lists(st.floats(0, 1), max_size=15))
def test_spans_and_gaps_agree_with_the_reference(drawn, start, days, fractions):
    sched, overrides = drawn
    index = OnCallIndex(sched, overrides)
    end = start + dt.timedelta(days=days)
    spans = index.spans(start, end)
    gaps = index.gaps(start, end)
    for s in spans:
        assert start <= s.start < s.end <= end
    for g in gaps:
        assert start <= g.start < g.end <= end
    required = {lay.role for lay in sched.layers if lay.required}
    probes = [start + (end - start) * f for f in fractions]
    probes = [p for p in probes if p < end]
    probes += [s.start for s in spans] + [s.end - dt.timedelta(seconds=1) for s in spans]
    for at in probes:
        expected = {c.role: c.person_id for c in who_is_on_call(sched, at, overrides)}
        covering = {s.role: s.person_id for s in spans if s.start <= at < s.end}
        assert covering == {r: p for r, p in expected.items() if p is not None}
        gap_roles = {g.role for g in gaps if g.start <= at < g.end}
        assert gap_roles == {r for r in required if expected.get(r) is None}


def test_spans_cut_at_each_turn_and_restriction():
    sched = schedule(layer(10, [A, B], restrictions=[WEEKDAYS_9_TO_5]))
    index = OnCallIndex(sched)
    spans = index.spans(MONDAY - dt.timedelta(hours=9), MONDAY + dt.timedelta(days=7))
    assert [(s.person_id, s.start.day, s.start.hour, s.hours) for s in spans] == [
        (A, 2, 9, 8.0),
        (B, 3, 9, 8.0),
        (A, 4, 9, 8.0),
        (B, 5, 9, 8.0),
        (A, 6, 9, 8.0),
    ]


def test_gaps_say_why_nobody_is_on_call():
    sched = schedule(layer(10, [A], restrictions=[WEEKDAYS_9_TO_5]))
    gaps = OnCallIndex(sched).gaps(MONDAY - dt.timedelta(hours=1), MONDAY + dt.timedelta(days=1))
    assert gaps == [
        Gap("primary", MONDAY - dt.timedelta(hours=1), MONDAY, gaps[0].reason),
        Gap(
            "primary",
            MONDAY + dt.timedelta(hours=8),
            MONDAY + dt.timedelta(days=1),
            "nobody on call for primary: L10 is outside its hours (Mon-Fri 09:00-17:00)",
        ),
    ]
    assert "L10 starts 2026-11-02 09:00 UTC" in gaps[0].reason


def test_the_index_answers_within_a_millisecond():
    import time

    sched = schedule(
        layer(10, [A, B, C], turn=7 * 86400),
        layer(11, [D, C], position=1, restrictions=[WEEKDAYS_9_TO_5]),
        layer(20, [B, A], role="secondary", position=2),
        tz="Europe/Berlin",
    )
    overrides = [
        ScheduleOverride(
            id=i,
            schedule_id=1,
            person_id=D,
            starts_at=MONDAY + dt.timedelta(hours=7 * i),
            ends_at=MONDAY + dt.timedelta(hours=7 * i + 3),
        )
        for i in range(1, 2000)
    ]
    index = OnCallIndex(sched, overrides)
    moments = [MONDAY + dt.timedelta(minutes=37 * k) for k in range(2000)]
    began = time.perf_counter()
    for at in moments:
        index.at(at)
    per_query = (time.perf_counter() - began) / len(moments)
    assert per_query < 0.001


# Published rosters: their shifts win over the rotations, overrides win over them.

from app.services.oncall import RosterCover  # noqa: E402


def test_a_published_roster_shift_wins_over_the_rotation_and_an_override_over_it():
    sched = schedule(layer(10, [A, B]), layer(20, [C], role="secondary", position=1))
    at = MONDAY + dt.timedelta(hours=3)
    shift = RosterCover(7, 1, 10, D, at - dt.timedelta(hours=1), at + dt.timedelta(hours=7))
    other = RosterCover(8, 2, 10, C, at - dt.timedelta(hours=1), at + dt.timedelta(hours=7))
    override = ScheduleOverride(id=1, schedule_id=1, layer_id=10, person_id=B,
                                starts_at=at, ends_at=at + dt.timedelta(minutes=30))  # fmt: skip
    assert primary(sched, at) == A
    found = who_is_on_call(sched, at, (), [shift, other])
    assert found[0] == OnCall("primary", D, 10, "L10", shift_id=7)
    assert found[1].person_id == C  # the secondary layer has no roster shift
    assert who_is_on_call(sched, at, [override], [shift])[0].person_id == B
    index = OnCallIndex(sched, [override], [shift, other])
    for minutes in range(-90, 600, 15):
        moment = at + dt.timedelta(minutes=minutes)
        assert index.at(moment) == who_is_on_call(sched, moment, [override], [shift, other])


@st.composite
def rostered(draw):
    sched, overrides = draw(schedules())
    shifts = []
    for k in range(draw(st.integers(0, 6))):
        begin = EPOCH + dt.timedelta(hours=8 * draw(st.integers(0, 1000)))
        shifts.append(
            RosterCover(
                id=100 + k,
                schedule_id=draw(st.sampled_from([1, 1, 2])),
                layer_id=draw(st.sampled_from([None, 100, 101])),
                person_id=draw(st.integers(10, 12)),
                starts_at=begin,
                ends_at=begin + dt.timedelta(hours=8 * draw(st.integers(1, 3))),
            )
        )
    return sched, overrides, shifts


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rostered(), st.lists(instants, min_size=1, max_size=15), instants)
def test_the_index_agrees_with_the_reference_with_a_roster(drawn, moments, start):
    sched, overrides, shifts = drawn
    index = OnCallIndex(sched, overrides, shifts)
    for at in [*moments, *(s.starts_at for s in shifts)]:
        assert index.at(at) == who_is_on_call(sched, at, overrides, shifts)
    end = start + dt.timedelta(days=10)
    for span in index.spans(start, end):
        found = {c.role: c.person_id for c in who_is_on_call(sched, span.start, overrides, shifts)}
        assert found[span.role] == span.person_id
