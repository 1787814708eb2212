"""SLA clocks from incident histories: worked stories, properties, and storing clocks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError

from app.models import Incident, IncidentEvent, SlaClock
from app.models.enums import HoldReason, SlaStage
from app.models.org import Country
from app.models.sla import BusinessHours, BusinessSchedule, Holiday, SlaDefinition
from app.services.business_time import BusinessCalendar, from_epoch, to_epoch
from app.services.progress import Progress
from app.services.sla_engine import (
    Condition,
    SlaSpec,
    SlaWarning,
    Timeline,
    apply_to_incident,
    build_timeline,
    clock_state,
    compute_clocks,
    load_specs,
    recompute_open_clocks,
)

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
SUMMER_BANK_HOLIDAY = dt.date(2026, 8, 31)  # a Monday
EIGHT_FIVE = BusinessCalendar.weekly(
    [(d, "09:00", "17:00") for d in range(5)], "Europe/London", holidays=[SUMMER_BANK_HOLIDAY]
)
PAUSE = {"state": ["On Hold"], "hold_reason": ["Awaiting Caller", "Awaiting Vendor"]}


def at(
    year: int, month: int, day: int, hour: int, minute: int, tz: dt.tzinfo = LONDON
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=tz)


def resolution(hours: float, calendar: BusinessCalendar | None = None) -> SlaSpec:
    return SlaSpec.make(
        2,
        "resolution",
        "resolution",
        int(hours * 3600),
        calendar,
        start={"state": ["New"]},
        pause=PAUSE,
        stop={"state": ["Resolved", "Closed"]},
        cancel={"state": ["Canceled"]},
    )


def response(minutes: int) -> SlaSpec:
    return SlaSpec.make(
        1,
        "response",
        "response",
        minutes * 60,
        start={"state": ["New"]},
        stop={"first_response": True},
        cancel={"state": ["Canceled"]},
    )


def history(opened: dt.datetime, *changes: tuple, first_response_at=None) -> Timeline:
    """New at ``opened``, then (instant, state[, hold reason]) changes."""
    entries = [(opened, "New", None)]
    entries += [(c[0], c[1], c[2] if len(c) > 2 else None) for c in changes]
    return Timeline.of(entries, first_response_at)


# --- worked stories ----------------------------------------------------------------------


def test_a_p3_opened_friday_16_00_with_monday_a_public_holiday_breaches_tuesday_16_00():
    """8 business hours on 09:00-17:00 weekdays: 1 h on Friday, none on Monday, 7 h Tuesday."""
    spec = resolution(8, EIGHT_FIVE)
    opened = at(2026, 8, 28, 16, 0)  # Friday; Monday 31 August is the summer bank holiday
    timeline = history(opened)

    monday = clock_state(spec, timeline, at(2026, 8, 31, 12, 0))
    assert monday.business_elapsed_seconds == 1 * 3600
    assert monday.due_at == at(2026, 9, 1, 16, 0)

    before = clock_state(spec, timeline, at(2026, 9, 1, 15, 0))
    assert before.stage == SlaStage.IN_PROGRESS and before.business_left_seconds == 3600

    due = clock_state(spec, timeline, at(2026, 9, 1, 16, 0))
    assert due.stage == SlaStage.BREACHED and due.breached
    assert due.due_at == at(2026, 9, 1, 16, 0)


def test_a_p1_response_clock_runs_24x7_and_stops_at_the_first_response():
    opened = at(2026, 11, 21, 3, 0, tz=UTC)  # a Saturday night: 24x7 counts it all
    quick = history(opened, first_response_at=opened + 10 * M)
    state = clock_state(response(15), quick, opened + H)
    assert state.stage == SlaStage.ACHIEVED and not state.breached
    assert state.stopped_at == opened + 10 * M
    assert state.business_elapsed_seconds == 600 and state.business_left_seconds == 300

    slow = history(opened, first_response_at=opened + 20 * M)
    state = clock_state(response(15), slow, opened + H)
    assert state.stage == SlaStage.BREACHED and state.breached
    assert state.due_at == opened + 15 * M and state.stopped_at == opened + 20 * M


def test_hold_awaiting_caller_pauses_the_clock_but_awaiting_change_does_not():
    opened = at(2026, 11, 23, 10, 0, tz=UTC)
    for reason, used in ((HoldReason.AWAITING_CALLER, 2), (HoldReason.AWAITING_CHANGE, 4)):
        timeline = history(
            opened, (opened + H, "On Hold", reason.value), (opened + 3 * H, "In Progress")
        )
        state = clock_state(resolution(8), timeline, opened + 4 * H)
        assert state.business_elapsed_seconds == used * 3600, reason
        assert state.stage == SlaStage.IN_PROGRESS
    assert state.paused_seconds == 0


def test_a_paused_clocks_due_time_moves_with_now():
    opened = at(2026, 11, 23, 10, 0, tz=UTC)
    timeline = history(opened, (opened + H, "On Hold", "Awaiting Vendor"))
    noon = clock_state(resolution(4), timeline, opened + 2 * H)
    later = clock_state(resolution(4), timeline, opened + 3 * H)
    assert noon.stage == later.stage == SlaStage.PAUSED
    assert noon.paused_since == later.paused_since == opened + H
    assert noon.business_elapsed_seconds == later.business_elapsed_seconds == 3600
    assert (noon.paused_seconds, later.paused_seconds) == (3600, 7200)
    assert noon.due_at == opened + 5 * H and later.due_at == opened + 6 * H


def test_a_hold_resumed_and_put_back_in_the_same_second_keeps_its_pause_start():
    opened = at(2026, 11, 23, 10, 0, tz=UTC)
    timeline = history(
        opened,
        (opened + H, "On Hold", "Awaiting Caller"),
        (opened + 2 * H, "In Progress"),
        (opened + 2 * H, "On Hold", "Awaiting Vendor"),
    )
    state = clock_state(resolution(4), timeline, opened + 3 * H)
    assert state.paused_since == opened + H and state.paused_seconds == 2 * 3600


def test_a_clock_paused_overnight_is_due_from_the_next_opening():
    opened = at(2026, 11, 23, 9, 0)  # Monday
    timeline = history(opened, (at(2026, 11, 23, 11, 0), "On Hold", "Awaiting Caller"))
    state = clock_state(resolution(8, EIGHT_FIVE), timeline, at(2026, 11, 23, 20, 0))
    assert state.due_at == at(2026, 11, 24, 15, 0)


def test_a_reopened_incident_resumes_its_resolution_clock():
    opened = at(2026, 11, 23, 8, 0, tz=UTC)
    resolved, reopened = opened + 2 * H, opened + 24 * H
    timeline = history(
        opened, (resolved, "Resolved"), (reopened, "In Progress"), (reopened + 3 * H, "Resolved")
    )
    between = clock_state(resolution(8), timeline, opened + 12 * H)
    assert between.stage == SlaStage.ACHIEVED and between.stopped_at == resolved
    assert between.business_elapsed_seconds == 2 * 3600

    again = clock_state(resolution(8), timeline, reopened + H)
    assert again.stage == SlaStage.IN_PROGRESS and again.stopped_at is None
    assert again.business_elapsed_seconds == 3 * 3600

    final = clock_state(resolution(8), timeline, reopened + 10 * H)
    assert final.stage == SlaStage.ACHIEVED and final.stopped_at == reopened + 3 * H
    assert final.business_elapsed_seconds == 5 * 3600


def test_a_canceled_incident_cancels_its_clocks_even_after_a_breach():
    opened = at(2026, 11, 23, 8, 0, tz=UTC)
    timeline = history(opened, (opened + 6 * H, "Canceled"))
    for spec in (resolution(4), response(15)):
        state = clock_state(spec, timeline, opened + 8 * H)
        assert state.stage == SlaStage.CANCELED and not state.breached
        assert state.stopped_at == opened + 6 * H and state.warning == SlaWarning.NONE


def test_a_response_met_before_the_incident_was_canceled_stays_met():
    opened = at(2026, 11, 23, 8, 0, tz=UTC)
    timeline = history(opened, (opened + H, "Canceled"), first_response_at=opened + 5 * M)
    state = clock_state(response(15), timeline, opened + 2 * H)
    assert state.stage == SlaStage.ACHIEVED and state.stopped_at == opened + 5 * M
    assert clock_state(resolution(4), timeline, opened + 2 * H).stage == SlaStage.CANCELED


@pytest.mark.parametrize(
    ("hours", "warning"),
    [
        (1.9, SlaWarning.NONE),
        (2, SlaWarning.HALF),
        (2.9, SlaWarning.HALF),
        (3, SlaWarning.THREE_QUARTERS),
        (3.9, SlaWarning.THREE_QUARTERS),
        (4, SlaWarning.BREACHED),
    ],
)
def test_warnings_come_at_half_and_three_quarters_and_breach_at_the_full_target(hours, warning):
    opened = at(2026, 11, 23, 8, 0, tz=UTC)
    state = clock_state(resolution(4), history(opened), opened + dt.timedelta(hours=hours))
    assert state.warning == warning
    assert state.percent == pytest.approx(hours / 4 * 100)


def test_conditions_and_across_keys_or_within_a_key_and_compare_as_text():
    cond = Condition.parse({"priority": [1, "2"], "state": "On Hold"})
    assert cond.matches({"priority": "1", "state": "On Hold"}, responded=False)
    assert cond.matches({"priority": 2, "state": "On Hold"}, responded=False)
    assert not cond.matches({"priority": 3, "state": "On Hold"}, responded=False)
    assert not cond.matches({"priority": 1, "state": "New"}, responded=False)
    assert Condition.parse({"first_response": True}).matches({}, responded=True)
    assert not Condition.parse({"first_response": True}).matches({}, responded=False)


def test_an_empty_condition_applies_and_starts_everything_but_never_pauses_or_stops():
    spec = SlaSpec.make(9, "everything", "resolution", 3600)
    opened = at(2026, 11, 23, 8, 0, tz=UTC)
    timeline = history(opened, (opened + 10 * M, "On Hold", "Awaiting Caller"))
    assert spec.applies({"priority": 5})
    state = clock_state(spec, timeline, opened + 2 * H)
    assert state.stage == SlaStage.BREACHED and state.business_elapsed_seconds == 7200


def test_other_incident_fields_are_read_as_they_are_now():
    spec = SlaSpec.make(9, "vip", "resolution", 7200, pause={"state": ["On Hold"], "vip": [True]})
    opened = at(2026, 11, 23, 8, 0, tz=UTC)
    entries = [(opened, "New", None), (opened + 10 * M, "On Hold", "Awaiting Change")]
    vip = clock_state(spec, Timeline.of(entries, vip=True), opened + H)
    other = clock_state(spec, Timeline.of(entries, vip=False), opened + H)
    assert (vip.stage, other.stage) == (SlaStage.PAUSED, SlaStage.IN_PROGRESS)


def test_the_history_follows_state_events_and_ends_in_the_current_state():
    opened = at(2026, 11, 23, 8, 0, tz=UTC)
    events = [
        (opened - H, "In Progress", None),  # recorded before opened_at: read as at opening
        (opened + H, "On Hold", "Awaiting Caller"),
        (opened + 2 * H, "On Hold", "Awaiting Change"),
        (opened + 3 * H, "Resolved", "Restarted the mail relay"),
    ]
    timeline = build_timeline(opened, "Closed", None, None, events)
    assert timeline.states == (
        (opened, "New", None),
        (opened, "In Progress", None),
        (opened + H, "On Hold", "Awaiting Caller"),
        (opened + 2 * H, "On Hold", "Awaiting Change"),
        (opened + 3 * H, "Resolved", None),
        (opened + 3 * H, "Closed", None),  # closing wrote no event
    )
    state = clock_state(resolution(8), timeline, opened + 9 * H)
    assert state.stage == SlaStage.ACHIEVED and state.stopped_at == opened + 3 * H
    assert (state.business_elapsed_seconds, state.paused_seconds) == (7200, 3600)


# --- properties --------------------------------------------------------------------------

BASE = dt.datetime(2026, 1, 5, tzinfo=UTC)
ZONES = [UTC, LONDON, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]


@st.composite
def histories(draw: st.DrawFn) -> Timeline:
    opened = BASE + dt.timedelta(minutes=draw(st.integers(0, 300 * 24 * 60)))
    entries: list[tuple[dt.datetime, str, str | None]] = [(opened, "New", None)]
    t = opened
    for _ in range(draw(st.integers(0, 6))):
        t += dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
        state = draw(st.sampled_from(["In Progress", "On Hold", "Resolved", "Closed"]))
        hold = draw(st.sampled_from(list(HoldReason))).value if state == "On Hold" else None
        entries.append((t, state, hold))
    responded = draw(st.none() | st.integers(0, 5 * 24 * 60))
    first = None if responded is None else opened + dt.timedelta(minutes=responded)
    return Timeline.of(entries, first)


specs = st.sampled_from(
    [resolution(8), resolution(8, EIGHT_FIVE), resolution(40, EIGHT_FIVE), response(30)]
)
offsets = st.integers(-24 * 3600, 30 * 24 * 3600)  # from a day before opening
#: The same id as ``resolution``'s specs but no pause: a batch must not mix them up.
UNPAUSED = SlaSpec.make(
    2, "no pause", "resolution", 8 * 3600, EIGHT_FIVE, stop={"state": ["Resolved", "Closed"]}
)


def _opened(timeline: Timeline) -> dt.datetime:
    return timeline.states[0][0]


@settings(max_examples=150, deadline=None)
@given(histories(), specs, offsets)
def test_elapsed_and_left_add_up_to_the_target_until_it_breaches(timeline, spec, offset):
    state = clock_state(spec, timeline, _opened(timeline) + dt.timedelta(seconds=offset))
    if not state.breached:
        assert state.business_elapsed_seconds + state.business_left_seconds == spec.duration_seconds
    assert state.business_left_seconds >= 0


@settings(max_examples=150, deadline=None)
@given(histories(), specs, offsets, offsets)
def test_percent_used_never_falls_as_time_goes_on(timeline, spec, a, b):
    opened = _opened(timeline)
    early = clock_state(spec, timeline, opened + dt.timedelta(seconds=min(a, b)))
    late = clock_state(spec, timeline, opened + dt.timedelta(seconds=max(a, b)))
    assert early.percent <= late.percent


@settings(max_examples=150, deadline=None)
@given(histories(), st.sampled_from([None, EIGHT_FIVE]), offsets)
def test_pausing_never_adds_elapsed_time(timeline, calendar, offset):
    now = _opened(timeline) + dt.timedelta(seconds=offset)
    paused = clock_state(resolution(8, calendar), timeline, now)
    unpaused = SlaSpec.make(
        2, "no pause", "resolution", 8 * 3600, calendar, stop={"state": ["Resolved", "Closed"]}
    )
    assert (
        paused.business_elapsed_seconds
        <= clock_state(unpaused, timeline, now).business_elapsed_seconds
    )


@settings(max_examples=100, deadline=None)
@given(histories(), offsets, st.sampled_from(ZONES), st.sampled_from(ZONES))
def test_a_24x7_clock_reads_the_same_in_every_time_zone(timeline, offset, zone_a, zone_b):
    def shown_in(zone: ZoneInfo) -> Timeline:
        entries = [(t.astimezone(zone), s, h) for t, s, h in timeline.states]
        first = timeline.first_response_at
        return Timeline.of(entries, first and first.astimezone(zone))

    now = _opened(timeline) + dt.timedelta(seconds=offset)
    for spec in (resolution(8), response(30)):
        a = clock_state(spec, shown_in(zone_a), now.astimezone(zone_a))
        b = clock_state(spec, shown_in(zone_b), now.astimezone(zone_b))
        assert a == b


@settings(max_examples=150, deadline=None)
@given(histories(), offsets)
def test_business_time_on_a_schedule_never_exceeds_wall_time(timeline, offset):
    now = _opened(timeline) + dt.timedelta(seconds=offset)
    state = clock_state(resolution(40, EIGHT_FIVE), timeline, now)
    wall = max((now - state.started_at).total_seconds(), 0)
    assert state.business_elapsed_seconds <= wall
    assert (
        state.business_elapsed_seconds
        <= clock_state(resolution(40), timeline, now).business_elapsed_seconds
    )


@settings(max_examples=150, deadline=None)
@given(histories(), specs, offsets)
def test_a_running_clock_is_due_in_the_future_until_it_breaches(timeline, spec, offset):
    now = _opened(timeline) + dt.timedelta(seconds=offset)
    state = clock_state(spec, timeline, now)
    if state.stage in (SlaStage.IN_PROGRESS, SlaStage.PAUSED):
        assert (state.due_at <= now) == state.breached


@settings(max_examples=150, deadline=None)
@given(histories(), specs, offsets)
def test_no_clock_is_due_before_its_target_after_the_start(timeline, spec, offset):
    state = clock_state(spec, timeline, _opened(timeline) + dt.timedelta(seconds=offset))
    earliest = spec.calendar.add(to_epoch(state.started_at), [spec.duration_seconds])[0]
    assert state.due_at >= from_epoch(earliest)


def _minute_by_minute(spec: SlaSpec, timeline: Timeline, now: dt.datetime) -> tuple[int, int]:
    """Business and paused seconds counted one minute at a time, without BusinessCalendar."""
    business = paused = 0
    t = _opened(timeline)
    while t < now:
        state, hold = next((s, h) for when, s, h in reversed(timeline.states) if when <= t)
        responded = timeline.first_response_at is not None and t >= timeline.first_response_at
        if spec.target == "response":
            ended, pausing = responded or state == "Canceled", False
        else:
            ended = state in ("Resolved", "Closed", "Canceled")
            pausing = state == "On Hold" and hold in PAUSE["hold_reason"]
        local = t.astimezone(LONDON)
        working = spec.calendar.is_24x7 or (
            local.weekday() < 5 and 9 <= local.hour < 17 and local.date() != SUMMER_BANK_HOLIDAY
        )
        if not ended and pausing:
            paused += 60
        elif not ended and working:
            business += 60
        t += M
    return business, paused


@settings(max_examples=40, deadline=None)
@given(histories(), specs, st.integers(0, 6 * 24 * 60))
def test_elapsed_and_paused_time_agree_with_counting_minute_by_minute(timeline, spec, minutes):
    now = _opened(timeline) + minutes * M
    state = clock_state(spec, timeline, now)
    assert (state.business_elapsed_seconds, state.paused_seconds) == _minute_by_minute(
        spec, timeline, now
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(histories(), specs | st.just(UNPAUSED)), min_size=1, max_size=8), offsets)
def test_many_clocks_at_once_read_the_same_as_one_at_a_time(pairs, offset):
    now = max(_opened(t) for t, _ in pairs) + dt.timedelta(seconds=offset)
    together = compute_clocks([(spec, timeline, None) for timeline, spec in pairs], now)
    assert together == [clock_state(spec, timeline, now) for timeline, spec in pairs]


# --- stored clocks -----------------------------------------------------------------------

T0 = at(2026, 11, 23, 10, 0, tz=UTC)  # Monday


def _seed(s) -> None:
    """GB with a bank holiday, the 8x5 London schedule, and P1 / P3 definitions."""
    s.add(Country(code="GB", name="United Kingdom", timezone="Europe/London"))
    s.flush()
    s.add(Holiday(country_code="GB", day=SUMMER_BANK_HOLIDAY, name="Summer bank holiday"))
    schedule = BusinessSchedule(name="8x5 London", timezone="Europe/London", country_code="GB")
    schedule.hours = [BusinessHours(weekday=d, start_minute=540, end_minute=1020) for d in range(5)]
    schedule.holidays = [Holiday(day=dt.date(2026, 12, 24), name="Office closed")]
    s.add(schedule)
    s.flush()
    for p, sched, respond, resolve in (
        (1, None, 900, 4 * 3600),
        (3, schedule.id, 4 * 3600, 24 * 3600),
    ):
        for target, seconds in (("response", respond), ("resolution", resolve)):
            s.add(
                SlaDefinition(
                    name=f"P{p} {target}",
                    target=target,
                    duration_seconds=seconds,
                    schedule_id=sched,
                    applies_to={"priority": [p]},
                    start_condition={"state": ["New"]},
                    pause_condition=PAUSE if target == "resolution" else {},
                    stop_condition={"state": ["Resolved", "Closed"]}
                    if target == "resolution"
                    else {"first_response": True},
                    cancel_condition={"state": ["Canceled"]},
                )
            )
    s.flush()


def _move(s, inc: Incident, when: dt.datetime, state: str, hold: str | None = None) -> None:
    inc.events.append(
        IncidentEvent(
            at=when, kind="state", field="state", old_value=inc.state, new_value=state, text=hold
        )
    )
    inc.state, inc.hold_reason = state, hold
    s.flush()


def _by_target(s, clocks: list[SlaClock]) -> dict[str, SlaClock]:
    return {c.definition.target: c for c in clocks}


def test_definitions_load_with_their_schedule_and_every_holiday(db):
    with db.transaction() as s:
        _seed(s)
        specs = load_specs(s)
        p3 = next(spec for spec in specs.values() if spec.name == "P3 resolution")
        p1 = next(spec for spec in specs.values() if spec.name == "P1 resolution")
    assert p1.calendar.is_24x7
    assert p3.calendar.timezone == "Europe/London"
    assert p3.calendar.holidays == {SUMMER_BANK_HOLIDAY, dt.date(2026, 12, 24)}
    assert len(p3.calendar.spans) == 5
    assert p3.pause == Condition.parse(PAUSE) and p3.applies({"priority": 3})


def test_a_new_p1_gets_response_and_resolution_clocks_that_follow_hold_and_resolve(db):
    with db.transaction() as s:
        _seed(s)
        inc = Incident(number="INC1", short_description="Mail down", priority=1, opened_at=T0)
        s.add(inc)
        s.flush()
        clocks = _by_target(s, apply_to_incident(s, inc, T0 + 5 * M))
        assert set(clocks) == {"response", "resolution"}
        assert clocks["response"].due_at == T0 + 15 * M
        assert clocks["resolution"].due_at == T0 + 4 * H

        inc.first_response_at = T0 + 10 * M
        _move(s, inc, T0 + 10 * M, "In Progress")
        apply_to_incident(s, inc, T0 + 20 * M)
        assert clocks["response"].stage == SlaStage.ACHIEVED
        assert clocks["response"].business_elapsed_seconds == 600

        _move(s, inc, T0 + H, "On Hold", "Awaiting Caller")
        apply_to_incident(s, inc, T0 + 2 * H)
        assert clocks["resolution"].stage == SlaStage.PAUSED
        assert clocks["resolution"].paused_since == T0 + H
        assert clocks["resolution"].due_at == T0 + 5 * H

        _move(s, inc, T0 + 3 * H, "In Progress")
        _move(s, inc, T0 + 4 * H, "Resolved")
        assert len(apply_to_incident(s, inc, T0 + 5 * H)) == 2
    with db.session() as s:
        stored = _by_target(s, list(s.scalars(select(SlaClock))))
        resolved = stored["resolution"]
        assert resolved.stage == SlaStage.ACHIEVED and not resolved.breached
        assert resolved.stopped_at == T0 + 4 * H and resolved.paused_since is None
        assert (resolved.business_elapsed_seconds, resolved.paused_seconds) == (7200, 7200)


def test_a_priority_change_cancels_clocks_that_no_longer_apply_and_attaches_new_ones(db):
    with db.transaction() as s:
        _seed(s)
        inc = Incident(number="INC2", short_description="Slow VPN", priority=3, opened_at=T0)
        s.add(inc)
        s.flush()
        apply_to_incident(s, inc, T0 + H)
        inc.priority = 1
        s.flush()
        clocks = apply_to_incident(s, inc, T0 + 2 * H)
        stages = {c.definition.name: c.stage for c in clocks}
        assert stages == {
            "P3 response": SlaStage.CANCELED,
            "P3 resolution": SlaStage.CANCELED,
            "P1 response": SlaStage.BREACHED,
            "P1 resolution": SlaStage.IN_PROGRESS,
        }
        canceled = next(c for c in clocks if c.definition.name == "P3 resolution")
        assert canceled.stopped_at == T0 + 2 * H
        apply_to_incident(s, inc, T0 + 3 * H)
        assert canceled.stopped_at == T0 + 2 * H  # canceled once, not again and again


def test_an_incident_without_state_events_runs_from_its_current_state(db):
    with db.transaction() as s:
        _seed(s)
        inc = Incident(
            number="INC3",
            short_description="Printer jam",
            priority=3,
            opened_at=T0,
            state="On Hold",
            hold_reason="Awaiting Vendor",
        )
        s.add(inc)
        s.flush()
        clocks = _by_target(s, apply_to_incident(s, inc, T0 + 2 * H))
    assert clocks["resolution"].stage == SlaStage.PAUSED
    assert clocks["resolution"].paused_since == T0
    assert clocks["response"].stage == SlaStage.IN_PROGRESS


def _stale_world(database) -> dict[str, int]:
    """Three incidents with clocks computed at T0, then scribbled over."""
    with database.transaction() as s:
        _seed(s)
        p1 = Incident(number="INC1", short_description="a", priority=1, opened_at=T0)
        p3 = Incident(number="INC2", short_description="b", priority=3, opened_at=T0)
        done = Incident(number="INC3", short_description="c", priority=1, opened_at=T0)
        s.add_all([p1, p3, done])
        s.flush()
        _move(s, p3, T0 + H, "On Hold", "Awaiting Caller")
        done.first_response_at = T0 + M
        _move(s, done, T0 + M, "Resolved")
        for inc in (p1, p3, done):
            apply_to_incident(s, inc, T0 + 2 * H)
        s.execute(
            update(SlaClock).values(
                business_elapsed_seconds=1, due_at=T0, paused_since=None, breached=False
            )
        )
        return {"p1": p1.id, "p3": p3.id, "done": done.id}


def _clocks(s, incident_id: int) -> dict[str, SlaClock]:
    rows = s.scalars(select(SlaClock).where(SlaClock.incident_id == incident_id))
    return {c.definition.target: c for c in rows}


def test_recompute_open_clocks_repairs_stale_stored_figures(any_db):
    ids = _stale_world(any_db)
    now = T0 + 5 * H  # Monday 15:00 UTC
    with any_db.transaction() as s:
        assert recompute_open_clocks(s, now) == 4  # the resolved incident's clocks are done
    with any_db.session() as s:
        p1 = _clocks(s, ids["p1"])
        assert p1["response"].stage == SlaStage.BREACHED and p1["response"].breached
        assert p1["response"].due_at == T0 + 15 * M
        assert p1["resolution"].business_elapsed_seconds == 5 * 3600
        assert p1["resolution"].computed_at == now
        p3 = _clocks(s, ids["p3"])
        assert p3["resolution"].stage == SlaStage.PAUSED
        assert p3["resolution"].paused_since == T0 + H
        assert p3["resolution"].business_elapsed_seconds == 3600
        assert p3["resolution"].due_at == at(2026, 11, 26, 14, 0, tz=UTC)  # 23 h from Mon 15:00
        assert p3["response"].business_elapsed_seconds == 5 * 3600
        assert p3["response"].due_at == T0 + 4 * H and p3["response"].breached
        done = _clocks(s, ids["done"])
        assert done["resolution"].business_elapsed_seconds == 1  # finished clocks are left alone


def test_recompute_open_clocks_matches_one_incident_at_a_time(db):
    ids = _stale_world(db)
    now = T0 + 30 * H
    with db.transaction() as s:
        recompute_open_clocks(s, now)
    with db.session() as s:
        bulk = {
            (c.incident_id, c.definition_id): _row(c)
            for c in s.scalars(select(SlaClock).where(SlaClock.incident_id != ids["done"]))
        }
    with db.transaction() as s:
        for key in ("p1", "p3"):
            apply_to_incident(s, s.get(Incident, ids[key]), now)
    with db.session() as s:
        single = {
            (c.incident_id, c.definition_id): _row(c)
            for c in s.scalars(select(SlaClock).where(SlaClock.incident_id != ids["done"]))
        }
    assert bulk == single


def _row(c: SlaClock) -> tuple:
    return (
        c.stage, c.started_at, c.stopped_at, c.due_at, c.paused_since,
        c.business_elapsed_seconds, c.paused_seconds, c.computed_at, c.breached,
    )  # fmt: skip


def test_an_inactive_definition_attaches_no_new_clocks(db):
    with db.transaction() as s:
        _seed(s)
        s.execute(
            update(SlaDefinition).where(SlaDefinition.target == "response").values(active=False)
        )
        inc = Incident(number="INC4", short_description="Disk full", priority=1, opened_at=T0)
        s.add(inc)
        s.flush()
        clocks = apply_to_incident(s, inc, T0 + H)
        assert [c.definition.target for c in clocks] == ["resolution"]


def test_recompute_open_clocks_reports_progress(db):
    _stale_world(db)
    seen = []
    with db.transaction() as s:
        written = recompute_open_clocks(s, T0 + 3 * H, Progress(lambda *args: seen.append(args)))
    assert seen[-1][:2] == (written, written) and written == 4


def test_a_clock_saved_during_a_recompute_makes_it_fail_rather_than_overwrite(db, monkeypatch):
    import app.services.sla_engine as engine

    ids = _stale_world(db)
    real = engine.compute_clocks

    def meanwhile(items, now):
        session.execute(
            update(SlaClock)
            .where(SlaClock.incident_id == ids["p1"])
            .values(version=SlaClock.version + 1)
        )
        return real(items, now)

    monkeypatch.setattr(engine, "compute_clocks", meanwhile)
    with pytest.raises(StaleDataError, match="2 SLA clocks changed"):
        with db.transaction() as session:
            recompute_open_clocks(session, T0 + 3 * H)


def test_the_form_can_save_again_after_a_recompute_in_the_same_session(db):
    with db.transaction() as s:
        _seed(s)
        inc = Incident(number="INC5", short_description="Badge reader", priority=1, opened_at=T0)
        s.add(inc)
        s.flush()
        held = _by_target(s, apply_to_incident(s, inc, T0 + M))  # the form keeps these
        recompute_open_clocks(s, T0 + 2 * M)
        _move(s, inc, T0 + 3 * M, "Resolved")
        apply_to_incident(s, inc, T0 + 4 * M)
        assert held["resolution"].stage == SlaStage.ACHIEVED
        assert held["resolution"].version == 3  # attached, recomputed, stopped


def test_made_sla_follows_the_resolution_clocks():
    from types import SimpleNamespace

    from app.services.sla_engine import made_sla

    met = SimpleNamespace(breached=False, stage="achieved")
    missed = SimpleNamespace(breached=True, stage="breached")
    dropped = SimpleNamespace(breached=False, stage="canceled")
    assert made_sla("Resolved", [("resolution", met), ("response", missed)]) is True
    assert made_sla("Closed", [("resolution", met), ("resolution", missed)]) is False
    assert made_sla("Closed", [("resolution", dropped)]) is None
    assert made_sla("In Progress", [("resolution", met)]) is None
