"""The roster solver covers every hour within the rules, or says in words why it cannot."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.services.progress import Cancelled, Progress
from app.services.roster_rules import LeaveSpan, RosterPerson, RosterRules
from app.services.roster_solver import (
    INFEASIBLE,
    INVALID,
    TWO_TWELVES,
    Layer,
    Preference,
    RosterProblem,
    ShiftPattern,
    check_problem,
    fairness,
    from_database,
    round_robin,
    save_roster,
    solve,
)

MONDAY = dt.date(2026, 6, 1)  # no public holiday in GB or DE for two weeks
LONDON = ZoneInfo("Europe/London")
NAMES = ["Ana Silva", "Ben Roth", "Chen Li", "Dana Ortiz", "Eli Park", "Fay Moss"]
NAMES += ["Gus Hale", "Hana Berg", "Ivo Lenz", "Jo Marsh", "Kai Stein", "Lea Voss"]


def team(n: int, countries=("GB", "DE")) -> list[RosterPerson]:
    zones = {"GB": "Europe/London", "DE": "Europe/Berlin"}
    return [
        RosterPerson(k + 1, NAMES[k], countries[k % 2], zones[countries[k % 2]], frozenset({"net"}))
        for k in range(n)
    ]


def problem(people, layers=None, weeks=1, **kw) -> RosterProblem:
    return RosterProblem(people, layers or [Layer("Primary")], MONDAY, weeks, "Europe/London", **kw)


def quick(p: RosterProblem, limit: float = 3):
    return solve(p, time_limit_s=limit, patience=0.3)


def assert_valid(p: RosterProblem, result) -> None:
    """Every slot has exactly one person and no rule is broken."""
    assert result.ok, result.explanation
    assert check_problem(p, result.shifts) == []
    for layer in p.layers:
        mine = sorted(s for s in result.shifts if s.layer == layer.name)
        assert all(a.end <= b.start for a, b in zip(mine, mine[1:], strict=False))


def test_eight_people_cover_a_week_of_24x7_within_every_rule():
    p = problem(team(8), preferences=[Preference(1, nights=True, weight=5)])
    result = quick(p)
    assert_valid(p, result)
    assert len(result.shifts) == 21
    rows = {row.person_id: row for row in result.fairness}
    assert sum(row.shifts for row in rows.values()) == 21
    assert result.spread("nights") <= 1
    assert rows[1].nights == 0  # Ana asked to avoid nights, and others can take them
    assert result.shifts[0].start == dt.datetime(2026, 6, 1, 5, tzinfo=dt.UTC)  # 06:00 BST


def test_primary_and_secondary_never_fall_to_the_same_person_at_once():
    p = problem(team(10), [Layer("Primary"), Layer("Secondary", pattern=TWO_TWELVES)])
    result = quick(p)
    assert_valid(p, result)
    assert len(result.shifts) == 21 + 14


leave_plans = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 13), st.integers(0, 4)), min_size=1, max_size=8
)
#: A plain fortnight, and one across the end of summer time (Sunday 25 October 2026).
STARTS = [MONDAY, dt.date(2026, 10, 19)]


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    size=st.integers(6, 12),
    weeks=st.integers(1, 2),
    two_layers=st.booleans(),
    twelves=st.booleans(),
    leave=leave_plans,
    start=st.sampled_from(STARTS),
)
def test_every_roster_keeps_every_rule_or_says_why_not(
    size, weeks, two_layers, twelves, leave, start
):
    people = team(size)
    pattern = TWO_TWELVES if twelves else ShiftPattern()
    layers = [Layer("Primary", pattern)] + ([Layer("Secondary", pattern)] if two_layers else [])
    spans = [
        LeaveSpan(people[who % size].id, first, first + dt.timedelta(days=length))
        for who, offset, length in leave
        for first in [start + dt.timedelta(days=offset % (7 * weeks))]
    ]
    p = problem(people, layers, weeks, leave=spans)
    p.start = start
    result = solve(p, time_limit_s=2, patience=0.3)
    if result.shifts:
        assert_valid(p, result)
    else:
        assert result.status != "optimal" and result.explanation
        assert all(len(sentence) > 20 for sentence in result.explanation)


def test_a_team_too_small_for_24x7_under_the_rest_rules():
    result = quick(problem(team(3)))
    assert result.status == INFEASIBLE and not result.shifts
    [sentence] = result.explanation
    assert sentence.startswith("The team is too small: covering Primary for 1 week takes 21")
    assert "at least 4 people are needed; the team has 3 (Ana Silva, Ben Roth and Chen Li)" in (
        sentence
    )


def test_everyone_on_leave_the_same_day():
    people = team(6)
    wednesday = MONDAY + dt.timedelta(days=2)
    leave = [LeaveSpan(p.id, wednesday, wednesday) for p in people]
    result = quick(problem(people, leave=leave))
    assert result.status == INFEASIBLE
    assert result.explanation[0].startswith(
        "Nobody can take Primary from Tue 2 Jun 22:00 to Thu 4 Jun 06:00: "
    )
    assert (
        "Ana Silva, Ben Roth, Chen Li, Dana Ortiz, Eli Park and Fay Moss are on annual leave"
        in (result.explanation[0])
    )


def test_a_skill_nobody_has():
    layers = [Layer("Primary"), Layer("Database", required_skills=frozenset({"dba"}))]
    result = quick(problem(team(8), layers))
    assert result.status == INFEASIBLE
    assert result.explanation == [
        "Nobody can take Database: it needs the skill dba and nobody has it."
    ]


def test_a_person_with_no_country():
    people = [*team(5), RosterPerson(9, "Cy Vale", None)]
    result = quick(problem(people))
    assert result.status == INVALID
    assert result.explanation[0].startswith("Cy Vale has no country, so their public holidays")


def test_a_restriction_that_leaves_hours_uncovered():
    short = ShiftPattern(("06:00", "14:00"), 8)
    result = quick(problem(team(8), [Layer("Primary", short)]))
    assert result.status == INFEASIBLE
    assert result.explanation[0].startswith(
        "Layer Primary must be covered 24x7, but its shifts (2 shifts of 8 h from 06:00, 14:00) "
        "leave Mon 1 Jun 22:00-06:00"
    )


def test_unavailable_hours_that_only_one_person_can_cover_are_named():
    people = team(6)
    only_ana = Layer(
        "Primary", members=(1,), hours=({"days": [0], "start": "09:00", "end": "17:00"},)
    )
    p = problem(people, [only_ana], leave=[LeaveSpan(1, MONDAY, MONDAY)])
    result = quick(p)
    assert result.status == INFEASIBLE
    assert "Ana Silva is on annual leave" in result.explanation[0]


def test_a_business_hours_layer_is_covered_only_in_its_hours():
    office = Layer(
        "Office",
        ShiftPattern(("09:00",), 8),
        hours=({"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"},),
    )
    p = problem(team(6), [office])
    result = quick(p)
    assert_valid(p, result)
    assert len(result.shifts) == 5


def test_when_the_solver_proves_it_impossible_the_rule_and_people_are_named():
    # Two people, 12-hour shifts: one must take every night, five in a row is over the limit.
    rules = RosterRules(max_average_weekly_hours=90, weekly_rest_hours=0)
    result = quick(problem(team(2), [Layer("Primary", TWO_TWELVES)], rules=rules))
    assert result.status == INFEASIBLE
    text = " ".join(result.explanation)
    assert "the maximum of 4 nights in a row" in text
    assert "Ana Silva" in text and "week starting Mon 1 Jun" in text
    assert "alone would make a roster possible" in text


def test_round_robin_rotates_everyone_but_ignores_fairness():
    p = problem(team(8), weeks=2)
    shifts = round_robin(p)
    assert len(shifts) == 42
    assert {s.person_id for s in shifts} == set(range(1, 9))
    rows = fairness(p, shifts)
    assert sum(r.shifts for r in rows) == 42


def test_progress_is_reported_and_cancel_stops_the_solver():
    seen = []
    result = solve(problem(team(8)), Progress(lambda d, t, label: seen.append(label)), 3)
    assert result.ok and any("found" in label for label in seen)
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        solve(problem(team(8)), progress, 3)


def test_a_roster_is_solved_from_the_database_and_saved_with_its_shifts(db):
    from app.models import (
        Country,
        LayerMember,
        Leave,
        OnCallSchedule,
        Person,
        Roster,
        RosterPreference,
        RosterShift,
        ScheduleLayer,
    )

    with db.transaction() as s:
        s.add(Country(code="GB", name="United Kingdom", timezone="Europe/London"))
        people = [
            Person(name=name, country_code="GB", timezone="Europe/London", skills="net")
            for name in NAMES[:7]
        ]
        s.add_all(people)
        s.flush()
        schedule = OnCallSchedule(name="Network on call", timezone="Europe/London")
        layer = ScheduleLayer(
            name="Primary",
            role="primary",
            position=0,
            rotation_start=dt.datetime(2026, 5, 4, 6, tzinfo=LONDON),
            turn_seconds=7 * 86400,
            required_skill="net",
        )
        layer.members = [LayerMember(person_id=p.id, position=k) for k, p in enumerate(people)]
        schedule.layers = [layer]
        s.add(schedule)
        s.add(Leave(person_id=people[0].id, starts_on=MONDAY, ends_on=MONDAY))
        s.add(RosterPreference(person_id=people[1].id, kind="prefer_not", note="no nights"))
        s.flush()
        ids = schedule.id, layer.id, people[0].id
    with db.session() as s:
        p = from_database(s, ids[0], MONDAY, 1)
    assert [layer.pattern.starts for layer in p.layers] == [("06:00", "14:00", "22:00")]
    assert len(p.people) == 7 and p.leave[0].person_id == ids[2]
    assert p.preferences[0].nights
    result = quick(p)
    assert_valid(p, result)
    with db.transaction() as s:
        roster = save_roster(s, ids[0], result, author="lead")
        roster_id = roster.id
    with db.session() as s:
        roster = s.get(Roster, roster_id)
        assert roster.weeks == 1 and roster.rules["author"] == "lead"
        count = s.scalar(select(func.count()).where(RosterShift.roster_id == roster_id))
        assert count == 21
        assert {sh.layer_id for sh in roster.shifts} == {ids[1]}
    with pytest.raises(ValueError, match="There is no roster to save"):
        with db.transaction() as s:
            save_roster(s, ids[0], quick(problem(team(3))), author="lead")
