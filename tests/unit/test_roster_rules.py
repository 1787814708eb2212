"""The working-time rules name the person, the shifts and the days of every breach."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from app.services.roster_rules import (
    AVERAGE_HOURS,
    CONSECUTIVE_NIGHTS,
    COVERAGE,
    DAILY_REST,
    HOLIDAY,
    HOLIDAYS_SPREAD,
    LEAVE,
    NO_COUNTRY,
    OVERLAP,
    SKILL,
    UNAVAILABLE,
    WEEKLY_REST,
    CoverageNeed,
    LeaveSpan,
    RosterChange,
    RosterPerson,
    RosterRules,
    Shift,
    Unavailability,
    check_change,
    check_roster,
)

LONDON = ZoneInfo("Europe/London")
MONDAY = dt.date(2026, 6, 1)  # no public holiday in GB or DE that week
ANA = RosterPerson(1, "Ana Silva", "GB", "Europe/London", frozenset({"network"}))
BEN = RosterPerson(2, "Ben Roth", "DE", "Europe/Berlin")
PEOPLE = [ANA, BEN]
PERIOD = (
    dt.datetime.combine(MONDAY, dt.time(0), LONDON),
    dt.datetime.combine(MONDAY + dt.timedelta(days=7), dt.time(0), LONDON),
)


def at(day: int, hour: int) -> dt.datetime:
    """Hour ``hour`` London time on the ``day``-th day after Monday 1 June 2026, in UTC."""
    local = dt.datetime.combine(MONDAY + dt.timedelta(days=day), dt.time(0), LONDON)
    return (local + dt.timedelta(hours=hour)).astimezone(dt.UTC)


def shift(person: RosterPerson, day: int, hour: int, hours: int = 8, layer="Primary") -> Shift:
    return Shift(at(day, hour), at(day, hour + hours), person.id, layer)


def check(shifts, **kw):
    kw.setdefault("period", PERIOD)
    kw.setdefault("zone", "Europe/London")
    return check_roster(shifts, kw.pop("people", PEOPLE), kw.pop("rules", None), **kw)


def rules_of(violations) -> list[str]:
    return [v.rule for v in violations]


def test_a_late_shift_eight_hours_after_a_night_breaks_the_eleven_hour_rest():
    night, late = shift(ANA, 0, 22), shift(ANA, 1, 14)
    [v] = check([night, late])
    assert v.rule == DAILY_REST and v.person_id == ANA.id and v.shifts == (night, late)
    assert v.message == (
        "Ana Silva has 8 h rest between the Primary night shift ending Tue 2 Jun 06:00 and "
        "the Primary late shift starting Tue 2 Jun 14:00; the minimum is 11 h."
    )


def test_the_same_night_on_consecutive_days_leaves_sixteen_hours_and_is_fine():
    assert check([shift(ANA, 0, 22), shift(ANA, 1, 22), shift(ANA, 2, 22)]) == []


def test_two_layers_at_once_is_an_overlap():
    [v] = check([shift(ANA, 0, 6), shift(ANA, 0, 6, layer="Secondary")])
    assert v.rule == OVERLAP
    assert "Ana Silva is on two shifts at once" in v.message


def test_seven_days_in_a_row_leave_no_24_hour_break():
    days = [shift(ANA, d, 6) for d in range(7)]
    [v] = [v for v in check(days) if v.rule != AVERAGE_HOURS]
    assert v.rule == WEEKLY_REST and v.days == (MONDAY, MONDAY + dt.timedelta(days=6))
    assert "Ana Silva has no 24 h break in the 7 days Mon 1 Jun to Sun 7 Jun" in v.message
    assert check(days[:6]) == []


def test_the_average_weekly_hours_cap_counts_every_hour_of_the_reference_period():
    four = [shift(ANA, d, 8, hours=12) for d in (0, 1, 2, 3)]
    assert check(four) == []
    [v] = check([*four, shift(ANA, 4, 8, hours=12)])
    assert v.rule == AVERAGE_HOURS
    assert v.message == (
        "Ana Silva works 60 h in the week Mon 1 Jun to Sun 7 Jun, 60 h a week on average; "
        "the cap is 48 h a week on average."
    )
    assert (
        check([*four, shift(ANA, 4, 8, hours=12)], rules=RosterRules(max_average_weekly_hours=60))
        == []
    )


def test_five_nights_in_a_row_break_the_four_night_limit():
    nights = [shift(ANA, d, 22) for d in range(5)]
    [v] = check(nights)
    assert v.rule == CONSECUTIVE_NIGHTS and len(v.days) == 5
    assert "5 night shifts in a row (Tue 2 Jun to Sat 6 Jun); the maximum is 4" in v.message
    assert check(nights[:4]) == []


def test_nights_are_judged_in_the_persons_own_zone():
    # 20:00-04:00 London is 21:00-05:00 in Berlin: 6 h of Berlin night, 5 h of London night.
    berlin = [Shift(at(d, 20), at(d, 28), BEN.id) for d in range(5)]
    london = [Shift(at(d, 20), at(d, 28), ANA.id) for d in range(5)]
    assert rules_of(check(london)) == rules_of(check(berlin)) == [CONSECUTIVE_NIGHTS]
    strict = RosterRules(night_min_hours=5.5)
    assert rules_of(check(berlin, rules=strict)) == [CONSECUTIVE_NIGHTS]
    assert check(london, rules=strict) == []


def test_leave_holidays_and_unavailable_times_block_shifts():
    leave = [LeaveSpan(ANA.id, MONDAY + dt.timedelta(days=2), MONDAY + dt.timedelta(days=3))]
    [v] = check([shift(ANA, 2, 6)], leave=leave)
    assert v.rule == LEAVE
    assert v.message == (
        "Ana Silva is on annual leave on Wed 3 Jun but is on the Primary early shift "
        "(Wed 3 Jun 06:00-14:00)."
    )
    christmas = dt.datetime(2026, 12, 25, 8, tzinfo=dt.UTC)
    [v] = check([Shift(christmas, christmas + dt.timedelta(hours=8), ANA.id)], period=None)
    assert v.rule == HOLIDAY and v.message.startswith(
        "Fri 25 Dec is a public holiday in GB (Christmas Day) for Ana Silva"
    )
    holiday_shift = Shift(christmas, christmas + dt.timedelta(hours=8), ANA.id)
    assert check([holiday_shift], period=None, rules=RosterRules(holidays=HOLIDAYS_SPREAD)) == []
    sundays = [Unavailability(BEN.id, weekdays=(6,), note="church")]
    [v] = check([shift(BEN, 6, 9)], unavailable=sundays)
    assert v.rule == UNAVAILABLE and "Ben Roth is unavailable (church)" in v.message


def test_a_person_with_no_country_has_unknown_holidays():
    nobody = RosterPerson(3, "Cy Vale", None)
    [v] = check([shift(nobody, 0, 6)], people=[*PEOPLE, nobody])
    assert v.rule == NO_COUNTRY and "Cy Vale has no country" in v.message


def test_coverage_gaps_and_missing_skills_are_reported():
    need = CoverageNeed("Primary", ((at(0, 6), at(1, 6)),), frozenset({"network"}))
    shifts = [shift(ANA, 0, 6), shift(BEN, 0, 22)]
    found = check(shifts, coverage=[need])
    assert sorted(rules_of(found)) == [COVERAGE, SKILL]
    gap = next(v for v in found if v.rule == COVERAGE)
    assert gap.message == "Nobody covers Primary from Mon 1 Jun 14:00 to Mon 1 Jun 22:00."
    skill = next(v for v in found if v.rule == SKILL)
    assert "Ben Roth lacks the skill network that Primary needs" in skill.message


def test_a_swap_is_checked_against_the_rest_of_the_roster():
    roster = [shift(ANA, 0, 22), shift(BEN, 1, 14), shift(BEN, 0, 6)]
    assert check(roster) == []
    swap = RosterChange.swap(roster[1], ANA.id)
    [v] = check_change(roster, swap, PEOPLE, period=PERIOD, zone="Europe/London")
    assert v.rule == DAILY_REST
    assert v.message.startswith("Ana Silva would have 8 h rest between the Primary night shift")


def test_a_change_does_not_repeat_breaches_already_there():
    roster = [shift(ANA, 0, 22), shift(ANA, 1, 14), shift(BEN, 3, 6)]
    swap = RosterChange.swap(roster[2], ANA.id)
    assert check_change(roster, swap, PEOPLE, period=PERIOD) == []


def test_an_override_cuts_the_shift_it_covers():
    roster = [shift(ANA, 0, 6, hours=12)]
    change = RosterChange.override(roster, "Primary", BEN.id, at(0, 10), at(0, 12))
    after = change.apply(roster)
    assert [(s.person_id, s.start, s.end) for s in after] == [
        (ANA.id, at(0, 6), at(0, 10)),
        (BEN.id, at(0, 10), at(0, 12)),
        (ANA.id, at(0, 12), at(0, 18)),
    ]
    # Ana's two pieces are 2 h apart: the override itself breaks her rest.
    assert rules_of(check_change(roster, change, PEOPLE, period=PERIOD)) == [DAILY_REST]


def test_rules_round_trip_through_a_dict_and_refuse_nonsense():
    rules = RosterRules(min_rest_hours=12, holidays=HOLIDAYS_SPREAD)
    assert RosterRules.from_dict({**rules.to_dict(), "author": "x"}) == rules
    with pytest.raises(ValueError):
        RosterRules(holidays="maybe")
