"""Builds fair on-call rosters with OR-Tools CP-SAT, and says in words why when none exists.

Every slot of every layer (a shift of the layer's pattern on a day of the horizon) gets
exactly one person who may take it (member, skills, not on leave, on a public holiday or
unavailable), under the working-time rules of :mod:`app.services.roster_rules`. Among the
rosters that keep every rule, CP-SAT looks for the one that spreads nights, weekends and
holidays most evenly, gives each person hours in proportion to the days they are available,
and honours preferences.

Before the solver runs, cheap checks find the usual reasons no roster exists (nobody with a
skill, a day everyone is away, too few people for the rest rules) and name the rule, people
and days. If CP-SAT still proves the problem infeasible, each rule is enforced per person
and week through assumption literals; the infeasible core names who and when, and relaxing
one rule at a time says which rule stands in the way.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ortools.sat.python import cp_model
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.oncall import in_restriction
from app.services.progress import Cancelled, Progress
from app.services.roster_rules import (
    AVERAGE_HOURS,
    CONSECUTIVE_NIGHTS,
    DAILY_REST,
    DAY,
    HOLIDAYS_BLOCK,
    HOLIDAYS_SPREAD,
    HOUR,
    WEEK,
    WEEKLY_REST,
    CoverageNeed,
    LeaveSpan,
    RosterPerson,
    RosterRules,
    Shift,
    Unavailability,
    Violation,
    check_roster,
    country_holidays,
    fmt_day,
    fmt_hours,
    fmt_span,
    fmt_when,
    is_night,
    is_weekend,
    local_days,
    names,
    shift_day,
)

OPTIMAL, FEASIBLE, INFEASIBLE, INVALID, UNKNOWN = (
    "optimal",
    "feasible",
    "infeasible",
    "invalid",
    "unknown",
)
#: Rules the diagnosis enforces per person and week, with the words that name them.
RELAXABLE = (DAILY_REST, WEEKLY_REST, AVERAGE_HOURS, CONSECUTIVE_NIGHTS)
SAMPLE = dt.timedelta(minutes=30)
#: Objective weights: a night more for one person than another costs as much as 100
#: hours away from a fair share of hours.
WEIGHTS = {"nights": 100, "weekends": 60, "holidays": 60, "shifts": 30, "hours": 1, "pref": 20}


@dataclass(frozen=True)
class ShiftPattern:
    """The shifts of a day: local start times and a length (wall-clock hours)."""

    starts: tuple[str, ...] = ("06:00", "14:00", "22:00")
    hours: int = 8

    def describe(self) -> str:
        return f"{len(self.starts)} shifts of {self.hours} h from {', '.join(self.starts)}"


THREE_EIGHTS = ShiftPattern()
TWO_TWELVES = ShiftPattern(("08:00", "20:00"), 12)


@dataclass(frozen=True)
class Layer:
    """A layer to cover: its pattern, skills, members (None: anyone) and required hours.

    ``hours`` are :class:`~app.models.ScheduleLayer` restrictions in the problem's zone; empty
    means 24x7.
    """

    name: str
    pattern: ShiftPattern = THREE_EIGHTS
    required_skills: frozenset[str] = frozenset()
    hours: tuple[dict[str, Any], ...] = ()
    members: tuple[int, ...] | None = None
    layer_id: int | None = None


@dataclass(frozen=True)
class Preference:
    """A soft wish: ``prefer_not`` (avoid) or ``prefer`` the matching shifts.

    A shift matches when it is a night (``nights``), a weekend shift (``weekends``), falls on
    ``weekdays`` or overlaps ``[start, end)``; with none of these, every shift matches.
    """

    person_id: int
    kind: str = "prefer_not"
    nights: bool = False
    weekends: bool = False
    weekdays: tuple[int, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    weight: int = 1

    def matches(self, start: dt.datetime, end: dt.datetime, night: bool, weekend: bool, zone):
        if self.start is not None and end <= self.start:
            return False
        if self.end is not None and start >= self.end:
            return False
        if self.nights and not night:
            return False
        if self.weekends and not weekend:
            return False
        if self.weekdays and shift_day(start, end, zone).weekday() not in self.weekdays:
            return False
        return True


@dataclass
class RosterProblem:
    """Who, what to cover, when, and under which rules."""

    people: Sequence[RosterPerson]
    layers: Sequence[Layer]
    start: dt.date
    weeks: int
    timezone: str = "UTC"
    leave: Sequence[LeaveSpan] = ()
    unavailable: Sequence[Unavailability] = ()
    preferences: Sequence[Preference] = ()
    rules: RosterRules = field(default_factory=RosterRules)
    schedule_id: int | None = None


@dataclass(frozen=True)
class FairnessRow:
    """What one person got, and how far it is from the team's mean."""

    person_id: int
    name: str
    shifts: int
    hours: float
    nights: int
    weekends: int
    holidays: int
    hours_vs_mean: float
    nights_vs_mean: float
    weekends_vs_mean: float
    holidays_vs_mean: float


@dataclass
class RosterResult:
    """The roster (``shifts``), or why there is none (``explanation``)."""

    status: str
    shifts: list[Shift] = field(default_factory=list)
    fairness: list[FairnessRow] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0
    objective: float | None = None
    problem: RosterProblem | None = None

    @property
    def ok(self) -> bool:
        return self.status in (OPTIMAL, FEASIBLE) and not self.violations

    def spread(self, measure: str) -> float:
        """Max minus min of a fairness measure (``nights``, ``weekends``, ``hours``, ...)."""
        return spread(self.fairness, measure)


def spread(rows: Sequence[FairnessRow], measure: str) -> float:
    values = [getattr(row, measure) for row in rows]
    return max(values) - min(values) if values else 0


# -- preparation ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    index: int
    layer: int
    start: dt.datetime
    end: dt.datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass
class _Prepared:
    problem: RosterProblem
    zone: ZoneInfo
    start: dt.datetime
    end: dt.datetime
    slots: list[_Slot]
    needs: list[CoverageNeed]
    holidays: dict[int, dict[dt.date, str]]
    eligible: dict[int, list[int]]  # person index -> slot indexes
    takers: dict[int, list[int]]  # slot index -> person indexes
    blocked: dict[tuple[int, int], str]  # (person, slot) -> reason
    night: set[tuple[int, int]]
    weekend: set[tuple[int, int]]
    holiday: set[tuple[int, int]]
    available_days: list[int]
    gaps: list[str]

    @property
    def people(self) -> Sequence[RosterPerson]:
        return self.problem.people

    @property
    def rules(self) -> RosterRules:
        return self.problem.rules

    def weeks(self) -> list[tuple[dt.datetime, dt.datetime]]:
        return [(self.start + k * WEEK, self.start + (k + 1) * WEEK) for k in range(self.weeks_n)]

    @property
    def weeks_n(self) -> int:
        return self.problem.weeks

    def week_of(self, at: dt.datetime) -> int:
        return min(max(0, (at - self.start) // WEEK), self.weeks_n - 1)


def _validate(problem: RosterProblem) -> list[str]:
    out = []
    if not problem.people:
        out.append("Nobody is on the roster: add the people who take turns.")
    if not problem.layers:
        out.append("There is no layer to cover: add a primary (and secondary) layer.")
    if problem.weeks < 1:
        out.append("A roster needs at least one week.")
    zones = [("the schedule", problem.timezone)] + [(p.name, p.timezone) for p in problem.people]
    for who, zone in zones:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            out.append(f"The time zone {zone!r} of {who} is not a known zone.")
    for person in problem.people:
        if not person.country:
            out.append(
                f"{person.name} has no country, so their public holidays are unknown and the "
                f"roster cannot tell which days they are off; set a country for {person.name}."
            )
    for layer in problem.layers:
        pattern = layer.pattern
        if pattern.hours <= 0 or not pattern.starts:
            out.append(f"Layer {layer.name} has no shifts: give it start times and a length.")
    return out


def _local(day: dt.date, hhmm: str) -> dt.datetime:
    hours, _, minutes = hhmm.partition(":")
    return dt.datetime.combine(day, dt.time(int(hours) % 24, int(minutes or 0)))


def _utc(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return naive.replace(tzinfo=zone).astimezone(dt.UTC)


def _required(layer: Layer, at: dt.datetime, zone: ZoneInfo) -> bool:
    if not layer.hours:
        return True
    local = at.astimezone(zone)
    return any(in_restriction(r, local) for r in layer.hours)


def _make_slots(problem: RosterProblem, zone: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """The slots of every layer, and each layer's required spans (merged samples)."""
    slots: list[_Slot] = []
    needs: list[CoverageNeed] = []
    gaps: list[str] = []
    for li, layer in enumerate(problem.layers):
        mine: list[_Slot] = []
        for d in range(problem.weeks * 7):
            day = problem.start + dt.timedelta(days=d)
            for hhmm in layer.pattern.starts:
                naive = _local(day, hhmm)
                a = _utc(naive, zone)
                b = _utc(naive + layer.pattern.hours * HOUR, zone)
                if layer.hours and not any(
                    _required(layer, a + k * SAMPLE, zone) for k in range(int((b - a) / SAMPLE))
                ):
                    continue
                mine.append(_Slot(len(slots) + len(mine), li, a, b))
        mine.sort(key=lambda s: s.start)
        window_start = start if layer.hours else min((s.start for s in mine), default=start)
        window_end = end if layer.hours else max((s.end for s in mine), default=end)
        spans, uncovered = _spans(layer, mine, window_start, window_end, zone)
        slots += mine
        needs.append(
            CoverageNeed(
                layer.name,
                tuple(spans),
                frozenset(layer.required_skills),
                frozenset(layer.members) if layer.members is not None else None,
            )
        )
        if uncovered:
            shown = [fmt_span(a, b, zone) for a, b in uncovered[:3]]
            more = f" and {len(uncovered) - 3} more spans" if len(uncovered) > 3 else ""
            hours = "24x7" if not layer.hours else "in its hours"
            gaps.append(
                f"Layer {layer.name} must be covered {hours}, but its shifts "
                f"({layer.pattern.describe()}) leave {names(shown)}{more} uncovered; "
                "change the shift pattern or the layer's hours."
            )
    slots.sort(key=lambda s: (s.start, s.layer))
    return [_Slot(k, s.layer, s.start, s.end) for k, s in enumerate(slots)], needs, gaps


def _spans(layer, mine, start, end, zone):
    """Required spans (merged) and the parts of them no slot covers."""
    spans: list[list[dt.datetime]] = []
    uncovered: list[list[dt.datetime]] = []
    k, at = 0, start
    while at < end:
        nxt = min(at + SAMPLE, end)
        if _required(layer, at, zone):
            _extend(spans, at, nxt)
            while k < len(mine) and mine[k].end <= at:
                k += 1
            if not any(s.start <= at < s.end for s in mine[k : k + 4]):
                _extend(uncovered, at, nxt)
        at = nxt
    return [tuple(s) for s in spans], [tuple(s) for s in uncovered]


def _extend(spans: list[list[dt.datetime]], a: dt.datetime, b: dt.datetime) -> None:
    if spans and spans[-1][1] == a:
        spans[-1][1] = b
    else:
        spans.append([a, b])


def _prepare(problem: RosterProblem) -> _Prepared | list[str]:
    errors = _validate(problem)
    if errors:
        return errors
    zone = ZoneInfo(problem.timezone)
    start = _utc(_local(problem.start, "00:00"), zone)
    end = start + problem.weeks * WEEK
    slots, needs, gaps = _make_slots(problem, zone, start, end)
    first = problem.start - DAY
    last = problem.start + dt.timedelta(days=problem.weeks * 7 + 2)
    holidays: dict[int, dict[dt.date, str]] = {}
    for person in problem.people:
        try:
            holidays[person.id] = country_holidays(person.country or "", first, last)
        except ValueError:
            errors.append(
                f"{person.name}'s country {person.country!r} is not one whose public "
                "holidays are known; correct the country code."
            )
    if errors:
        return errors
    prep = _Prepared(
        problem, zone, start, end, slots, needs, holidays, {}, {}, {}, set(), set(), set(), [], gaps
    )
    _eligibility(prep)
    return prep


def _eligibility(prep: _Prepared) -> None:
    problem, rules = prep.problem, prep.rules
    leave: dict[int, dict[dt.date, str]] = defaultdict(dict)
    for span in problem.leave:
        day = span.first
        while day <= span.last:
            leave[span.person_id][day] = span.kind
            day += DAY
    away: dict[int, list[Unavailability]] = defaultdict(list)
    for item in problem.unavailable:
        away[item.person_id].append(item)
    prep.takers = {s.index: [] for s in prep.slots}
    days = [problem.start + dt.timedelta(days=d) for d in range(problem.weeks * 7)]
    for pi, person in enumerate(problem.people):
        zone = person.zone
        mine = []
        off = leave.get(person.id, {})
        hol = prep.holidays.get(person.id, {})
        blocking = hol if rules.holidays == HOLIDAYS_BLOCK else {}
        prep.available_days.append(sum(1 for d in days if d not in off and d not in blocking))
        for slot in prep.slots:
            reason = _blocked(problem.layers[slot.layer], person, slot, off, blocking, away, zone)
            if reason:
                prep.blocked[(pi, slot.index)] = reason
                continue
            mine.append(slot.index)
            prep.takers[slot.index].append(pi)
            key = (pi, slot.index)
            if is_night(slot.start, slot.end, zone, rules):
                prep.night.add(key)
            if is_weekend(slot.start, slot.end, zone):
                prep.weekend.add(key)
            if rules.holidays == HOLIDAYS_SPREAD and shift_day(slot.start, slot.end, zone) in hol:
                prep.holiday.add(key)
        prep.eligible[pi] = mine


def _blocked(layer, person, slot, off, holidays, away, zone) -> str:
    if layer.members is not None and person.id not in layer.members:
        return "not a member"
    missing = set(layer.required_skills) - set(person.skills)
    if missing:
        return f"without the skill {names(sorted(missing))}"
    for day in local_days(slot.start, slot.end, zone):
        if day in off:
            return f"on {off[day]} leave"
        if day in holidays:
            return f"on a public holiday ({holidays[day]})"
    for item in away.get(person.id, ()):
        if item.blocks(slot.start, slot.end, zone):
            return "unavailable"
    return ""


# -- cheap pre-analysis ---------------------------------------------------------------


def _pre_analysis(prep: _Prepared) -> list[str]:
    out = list(prep.gaps)
    out += _skills(prep)
    if out:
        return out
    out += _empty_slots(prep)
    out += _headcount(prep)
    if out:
        return out
    return _simultaneous(prep)


def _skills(prep: _Prepared) -> list[str]:
    out = []
    for layer in prep.problem.layers:
        pool = [
            p
            for p in prep.people
            if (layer.members is None or p.id in layer.members)
            and set(layer.required_skills) <= set(p.skills)
        ]
        if pool:
            continue
        skills = names(sorted(layer.required_skills))
        if layer.members is not None and not layer.members:
            out.append(f"Layer {layer.name} has no members: add the people who take turns.")
        elif layer.members is not None:
            out.append(
                f"Nobody can take {layer.name}: it needs the skill {skills} and none of its "
                f"members ({names([_name(prep, i) for i in layer.members])}) has it."
            )
        else:
            out.append(
                f"Nobody can take {layer.name}: it needs the skill {skills} and nobody has it."
            )
    return out


def _name(prep: _Prepared, person_id: int) -> str:
    for person in prep.people:
        if person.id == person_id:
            return person.name
    return f"Person {person_id}"


def _empty_slots(prep: _Prepared) -> list[str]:
    """Runs of consecutive slots of a layer nobody may take, with everyone's reason."""
    runs: list[list[_Slot]] = []
    for slot in prep.slots:
        if prep.takers[slot.index]:
            continue
        for run in runs:
            if run[-1].layer == slot.layer and run[-1].end >= slot.start:
                run.append(slot)
                break
        else:
            runs.append([slot])
    out = []
    for run in runs[:5]:
        layer = prep.problem.layers[run[0].layer]
        why: dict[str, list[str]] = defaultdict(list)
        for pi, person in enumerate(prep.people):
            reasons = {prep.blocked.get((pi, s.index), "") for s in run} - {"", "not a member"}
            if reasons and (layer.members is None or person.id in layer.members):
                why[" or ".join(sorted(reasons))].append(person.name)
        parts = [f"{names(who)} {'is' if len(who) == 1 else 'are'} {r}" for r, who in why.items()]
        out.append(
            f"Nobody can take {layer.name} from {fmt_when(run[0].start, prep.zone)} to "
            f"{fmt_when(run[-1].end, prep.zone)}: {'; '.join(parts) or 'nobody may take it'}."
        )
    if len(runs) > 5:
        out.append(f"{len(runs) - 5} more spans have nobody who can take them.")
    return out


def _per_week_cap(prep: _Prepared) -> int:
    """An upper bound on the shifts one person can start in a 7-day period: k starts need
    k - 1 gaps of a shift plus the daily rest, one of them stretched to the weekly rest."""
    rules = prep.rules
    length = min(layer.pattern.hours for layer in prep.problem.layers)
    room = 168 - max(0.0, rules.weekly_rest_hours - rules.min_rest_hours)
    by_rest = math.floor(room / (length + rules.min_rest_hours)) + 1
    if prep.weeks_n == 1 or rules.reference_weeks == 1:
        by_rest = min(by_rest, math.floor(rules.max_average_weekly_hours / length))
    return max(0, by_rest)


def _headcount(prep: _Prepared) -> list[str]:
    """Too few people for the hours to cover, overall or in some week."""
    rules = prep.rules
    per_week = _per_week_cap(prep)
    length = min(layer.pattern.hours for layer in prep.problem.layers)
    span = min(rules.reference_weeks, prep.weeks_n)
    by_hours = math.floor(rules.max_average_weekly_hours * span / length)
    layers = names([layer.name for layer in prep.problem.layers])
    need_total = len(prep.slots)
    people = len(prep.people)
    out = []
    if need_total:
        each = min(per_week * prep.weeks_n, by_hours * math.ceil(prep.weeks_n / span))
        if each * people < need_total:
            least = math.ceil(need_total / max(each, 1))
            out.append(
                f"The team is too small: covering {layers} for {_weeks(prep.weeks_n)} takes "
                f"{need_total} shifts, but under the {fmt_hours(rules.min_rest_hours)} h daily "
                f"rest, the {fmt_hours(rules.weekly_rest_hours)} h weekly rest and the "
                f"{fmt_hours(rules.max_average_weekly_hours)} h average weekly cap one person "
                f"can work at most {each} of them, so at least {least} people are needed; "
                f"the team has {people} ({names([p.name for p in prep.people])})."
            )
            return out
    for a, b in prep.weeks():
        week_slots = [s for s in prep.slots if a <= s.start < b]
        capacity = 0
        for pi in range(people):
            mine = sum(1 for si in prep.eligible[pi] if a <= prep.slots[si].start < b)
            capacity += min(per_week, mine)
        if capacity < len(week_slots):
            first = a.astimezone(prep.zone).date()
            out.append(
                f"In the week {fmt_day(first)} to {fmt_day(first + 6 * DAY)} there are "
                f"{len(week_slots)} shifts to cover, but with leave, holidays and the rest "
                f"rules (at most {per_week} shifts a person a week) the team can take only "
                f"{capacity}."
            )
    return out


def _match(groups: list[list[int]]) -> int:
    """Size of a maximum matching of slots (each a list of people) to distinct people."""
    owner: dict[int, int] = {}

    def augment(slot: int, seen: set[int]) -> bool:
        for person in groups[slot]:
            if person in seen:
                continue
            seen.add(person)
            if person not in owner or augment(owner[person], seen):
                owner[person] = slot
                return True
        return False

    return sum(1 for k in range(len(groups)) if augment(k, set()))


def _simultaneous(prep: _Prepared) -> list[str]:
    """Shifts that need different people at once (rest rule) but lack enough of them."""
    rest = prep.rules.min_rest_hours * HOUR
    out, seen_days = [], set()
    starts = [s.start for s in prep.slots]
    longest = max((s.end - s.start for s in prep.slots), default=dt.timedelta(0))
    for t in sorted(set(starts)):
        lo = bisect.bisect_left(starts, t - longest - rest)
        group = [s for s in prep.slots[lo:] if s.start <= t < s.end + rest]
        takers = [prep.takers[s.index] for s in group]
        got = _match(takers)
        if got >= len(group):
            continue
        day = t.astimezone(prep.zone).date()
        if day in seen_days:
            continue
        seen_days.add(day)
        free = sorted({pi for ts in takers for pi in ts})
        shifts = [
            f"{prep.problem.layers[s.layer].name} {fmt_span(s.start, s.end, prep.zone)}"
            for s in group
        ]
        why: dict[str, list[str]] = defaultdict(list)
        for pi, person in enumerate(prep.people):
            if pi in free:
                continue
            reasons = {prep.blocked.get((pi, s.index), "") for s in group} - {"", "not a member"}
            if reasons:
                why[" or ".join(sorted(reasons))].append(person.name)
        others = "; ".join(
            f"{names(who)} {'is' if len(who) == 1 else 'are'} {r}" for r, who in why.items()
        )
        out.append(
            f"Around {fmt_when(t, prep.zone)} the shifts {names(shifts)} need {len(group)} "
            f"different people because of the {fmt_hours(prep.rules.min_rest_hours)} h rest "
            f"rule, but only {len(free)} can take them"
            + (f" ({names([prep.people[i].name for i in free])})" if free else "")
            + (f"; {others}" if others else "")
            + "."
        )
        if len(out) >= 5:
            break
    return out


# -- the CP-SAT model -----------------------------------------------------------------


@dataclass
class _Model:
    model: cp_model.CpModel
    x: dict[tuple[int, int], cp_model.IntVar]
    lits: dict[tuple[str, int, int], cp_model.IntVar]


def _build(prep: _Prepared, diagnose: bool = False, objective: bool = True) -> _Model:
    model = cp_model.CpModel()
    x = {
        (pi, si): model.NewBoolVar(f"x{pi}_{si}")
        for pi, slots in prep.eligible.items()
        for si in slots
    }
    built = _Model(model, x, {})
    for slot in prep.slots:
        model.AddExactlyOne([x[(pi, slot.index)] for pi in prep.takers[slot.index]])
    for pi in prep.eligible:
        _rest_cliques(prep, built, pi, diagnose)
        _weekly_rest(prep, built, pi, diagnose)
        _average_hours(prep, built, pi, diagnose)
        _nights(prep, built, pi, diagnose)
    if objective and not diagnose:
        _objective(prep, built)
    return built


def _enforce(built: _Model, constraint, rule: str, pi: int, week: int, diagnose: bool) -> None:
    if diagnose:
        key = (rule, pi, week)
        if key not in built.lits:
            built.lits[key] = built.model.NewBoolVar(f"{rule}_{pi}_{week}")
        constraint.OnlyEnforceIf(built.lits[key])


def _rest_cliques(prep: _Prepared, built: _Model, pi: int, diagnose: bool) -> None:
    rest = prep.rules.min_rest_hours * HOUR
    mine = [prep.slots[si] for si in prep.eligible[pi]]
    starts = [s.start for s in mine]
    longest = max((s.end - s.start for s in mine), default=dt.timedelta(0))
    seen: set[tuple[int, ...]] = set()
    for t in sorted(set(starts)):
        lo = bisect.bisect_left(starts, t - longest - rest)
        hi = bisect.bisect_right(starts, t)
        near = mine[lo:hi]
        both = [s for s in near if t < s.end]
        if len(both) > 1:
            built.model.AddAtMostOne([built.x[(pi, s.index)] for s in both])
        group = tuple(s.index for s in near if t < s.end + rest)
        if len(group) > len(both) and group not in seen:
            seen.add(group)
            terms = [built.x[(pi, si)] for si in group]
            if diagnose:
                ct = built.model.Add(sum(terms) <= 1)
                _enforce(built, ct, DAILY_REST, pi, prep.week_of(t), True)
            else:
                built.model.AddAtMostOne(terms)


def _weekly_rest(prep: _Prepared, built: _Model, pi: int, diagnose: bool) -> None:
    need = prep.rules.weekly_rest_hours * HOUR
    mine = [prep.slots[si] for si in prep.eligible[pi]]
    for k, (a, b) in enumerate(prep.weeks()):
        inside = [s for s in mine if s.start < b and a < s.end]
        points = sorted({a} | {s.end for s in inside if a < s.end <= b - need})
        windows = []
        for g in points:
            hit = [s for s in inside if s.start < g + need and g < s.end]
            if not hit:
                windows = []
                break
            windows.append(hit)
        if not windows:
            continue
        rests = []
        for hit in windows:
            r = built.model.NewBoolVar("")
            for s in hit:
                built.model.AddImplication(r, built.x[(pi, s.index)].Not())
            rests.append(r)
        ct = built.model.AddBoolOr(rests)
        _enforce(built, ct, WEEKLY_REST, pi, k, diagnose)


def _average_hours(prep: _Prepared, built: _Model, pi: int, diagnose: bool) -> None:
    weeks = prep.weeks()
    span = min(prep.rules.reference_weeks, len(weeks))
    cap = round(prep.rules.max_average_weekly_hours * 60 * span)
    mine = [prep.slots[si] for si in prep.eligible[pi]]
    for k in range(len(weeks) - span + 1):
        a, b = weeks[k][0], weeks[k + span - 1][1]
        inside = [s for s in mine if a <= s.start < b]
        if sum(s.minutes for s in inside) <= cap:
            continue
        ct = built.model.Add(sum(s.minutes * built.x[(pi, s.index)] for s in inside) <= cap)
        _enforce(built, ct, AVERAGE_HOURS, pi, k, diagnose)


def _nights(prep: _Prepared, built: _Model, pi: int, diagnose: bool) -> None:
    limit = prep.rules.max_consecutive_nights
    zone = prep.people[pi].zone
    by_day: dict[dt.date, list[int]] = defaultdict(list)
    for si in prep.eligible[pi]:
        if (pi, si) in prep.night:
            slot = prep.slots[si]
            by_day[shift_day(slot.start, slot.end, zone)].append(si)
    for day in sorted(by_day):
        run = [day + dt.timedelta(days=n) for n in range(limit + 1)]
        if not all(d in by_day for d in run):
            continue
        terms = [built.x[(pi, si)] for d in run for si in by_day[d]]
        ct = built.model.Add(sum(terms) <= limit)
        week = prep.week_of(dt.datetime.combine(day, dt.time(12), prep.zone))
        _enforce(built, ct, CONSECUTIVE_NIGHTS, pi, week, diagnose)


def _objective(prep: _Prepared, built: _Model) -> None:
    model, x = built.model, built.x
    active = [pi for pi, slots in prep.eligible.items() if slots]
    terms = []
    for name, keys in (
        ("nights", prep.night),
        ("weekends", prep.weekend),
        ("holidays", prep.holiday),
        ("shifts", None),
    ):
        if keys is not None and not keys:
            continue
        top, bottom = (
            model.NewIntVar(0, len(prep.slots), ""),
            model.NewIntVar(0, len(prep.slots), ""),
        )
        for pi in active:
            count = sum(x[(pi, si)] for si in prep.eligible[pi] if keys is None or (pi, si) in keys)
            model.Add(top >= count)
            model.Add(bottom <= count)
        terms.append(WEIGHTS[name] * (top - bottom))
    total_hours = sum(s.minutes for s in prep.slots) / 60
    days = sum(prep.available_days[pi] for pi in active) or 1
    for pi in active:
        target = round(total_hours * prep.available_days[pi] / days)
        hours = sum(prep.slots[si].minutes // 60 * x[(pi, si)] for si in prep.eligible[pi])
        dev = model.NewIntVar(0, int(total_hours) + 1, "")
        model.Add(dev >= hours - target)
        model.Add(dev >= target - hours)
        terms.append(WEIGHTS["hours"] * dev)
    for pref in prep.problem.preferences:
        pi = next((i for i, p in enumerate(prep.people) if p.id == pref.person_id), None)
        if pi is None:
            continue
        sign = -1 if pref.kind == "prefer" else 1
        for si in prep.eligible[pi]:
            slot = prep.slots[si]
            night, weekend = (pi, si) in prep.night, (pi, si) in prep.weekend
            if pref.matches(slot.start, slot.end, night, weekend, prep.people[pi].zone):
                terms.append(sign * WEIGHTS["pref"] * pref.weight * x[(pi, si)])
    model.Minimize(sum(terms))


# -- solving --------------------------------------------------------------------------


class _Watch(cp_model.CpSolverSolutionCallback):
    """Reports each better roster; remembers when the last one came (to stop a stalled search)."""

    def __init__(self, progress: Progress | None, limit: float) -> None:
        super().__init__()
        self.progress, self.limit, self.began, self.found = progress, limit, time.monotonic(), 0
        self.last = self.began

    def on_solution_callback(self) -> None:
        self.found += 1
        self.last = time.monotonic()
        if self.progress is None:
            return
        try:
            self.progress.update(
                int(self.last - self.began),
                int(self.limit),
                f"Roster {self.found} found (cost {self.ObjectiveValue():g})",
            )
        except Cancelled:
            self.StopSearch()


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _solver(limit: float, workers: int | None = None, seed: int = 0) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, limit)
    solver.parameters.num_workers = workers or _workers()
    solver.parameters.random_seed = seed
    return solver


def _run(
    solver: cp_model.CpSolver,
    model: cp_model.CpModel,
    progress: Progress | None,
    watch: _Watch | None = None,
    patience: float | None = None,
) -> int:
    """Solve; stop early when ``progress`` is cancelled or, with ``patience``, when no better
    roster has come for that many seconds (checked ten times a second)."""
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.1):
            cancelled = progress is not None and progress.cancelled
            stalled = (
                watch is not None
                and patience is not None
                and watch.found > 0
                and time.monotonic() - watch.last > patience
            )
            if cancelled or stalled:
                solver.StopSearch()
                return

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        return solver.Solve(model, watch) if watch is not None else solver.Solve(model)
    finally:
        done.set()
        thread.join()


def solve(
    problem: RosterProblem,
    progress: Progress | None = None,
    time_limit_s: float = 20,
    *,
    workers: int | None = None,
    seed: int = 0,
    patience: float | None = None,
) -> RosterResult:
    """The fairest roster that keeps every rule within ``time_limit_s``, or the reasons why not.

    The search also ends when no fairer roster has come for ``patience`` seconds (default: a
    fifth of the limit, at least 2 s). Raises :class:`~app.services.progress.Cancelled` if ``progress`` is cancelled.
    """
    began = time.monotonic()

    def report(label: str) -> None:
        if progress is not None:
            progress.update(int(time.monotonic() - began), int(time_limit_s), label)

    report("Checking people, leave and holidays")
    prep = _prepare(problem)
    if isinstance(prep, list):
        return RosterResult(INVALID, explanation=prep, seconds=_since(began), problem=problem)
    reasons = _pre_analysis(prep)
    if reasons:
        return RosterResult(INFEASIBLE, explanation=reasons, seconds=_since(began), problem=problem)
    report("Building the model")
    built = _build(prep)
    for pi, si in _rotation(prep):
        built.model.AddHint(built.x[(pi, si)], 1)
    # Keep time to check the roster and sum up fairness within the limit.
    remaining = time_limit_s - _since(began) - min(1.0, 0.05 * time_limit_s)
    solver = _solver(remaining, workers, seed)
    watch = _Watch(progress, time_limit_s)
    report("Searching for a fair roster")
    status = _run(solver, built.model, progress, watch, patience or max(2.0, time_limit_s / 5))
    if progress is not None:
        progress.check()
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return _result(prep, solver, built, status, began)
    if status == cp_model.INFEASIBLE:
        report("Finding which rule makes it impossible")
        left = max(2.0, time_limit_s - _since(began))
        explanation = _diagnose(prep, left, progress)
        if progress is not None:
            progress.check()
        return RosterResult(
            INFEASIBLE, explanation=explanation, seconds=_since(began), problem=problem
        )
    return RosterResult(
        UNKNOWN,
        explanation=[
            f"No roster was found within {fmt_hours(time_limit_s)} s, and none was proved "
            "impossible; the checks of team size, skills, leave and holidays found no obstacle. "
            "Allow more time, or add people."
        ],
        seconds=_since(began),
        problem=problem,
    )


def _weeks(n: int) -> str:
    return "1 week" if n == 1 else f"{n} weeks"


def _since(began: float) -> float:
    return time.monotonic() - began


def _result(prep: _Prepared, solver, built: _Model, status: int, began: float) -> RosterResult:
    layers = prep.problem.layers
    shifts = sorted(
        Shift(
            prep.slots[si].start,
            prep.slots[si].end,
            prep.people[pi].id,
            layers[prep.slots[si].layer].name,
            layers[prep.slots[si].layer].layer_id,
        )
        for (pi, si), var in built.x.items()
        if solver.BooleanValue(var)
    )
    violations = check_problem(prep.problem, shifts, prep)
    return RosterResult(
        OPTIMAL if status == cp_model.OPTIMAL else FEASIBLE,
        shifts,
        fairness(prep.problem, shifts),
        [v.message for v in violations],
        violations,
        _since(began),
        solver.ObjectiveValue(),
        prep.problem,
    )


def check_problem(
    problem: RosterProblem, shifts: Sequence[Shift], prep: _Prepared | None = None
) -> list[Violation]:
    """Every rule breach of ``shifts`` as a roster for ``problem`` (coverage included)."""
    prep = prep if prep is not None else _prepare(problem)
    if isinstance(prep, list):
        raise ValueError(" ".join(prep))
    return check_roster(
        shifts,
        problem.people,
        problem.rules,
        leave=problem.leave,
        holidays=prep.holidays,
        unavailable=problem.unavailable,
        coverage=prep.needs,
        period=(prep.start, prep.end),
        zone=problem.timezone,
    )


# -- diagnosis ------------------------------------------------------------------------


def _rule_words(rules: RosterRules) -> dict[str, str]:
    return {
        DAILY_REST: f"the {fmt_hours(rules.min_rest_hours)} h minimum rest between shifts",
        WEEKLY_REST: f"the {fmt_hours(rules.weekly_rest_hours)} h weekly rest",
        AVERAGE_HOURS: f"the {fmt_hours(rules.max_average_weekly_hours)} h average weekly hours cap",
        CONSECUTIVE_NIGHTS: f"the maximum of {rules.max_consecutive_nights} nights in a row",
    }


def _diagnose(prep: _Prepared, limit: float, progress: Progress | None) -> list[str]:
    words = _rule_words(prep.rules)
    core = _core(prep, limit / 2, progress)
    relax_ok = []
    for rule in RELAXABLE:
        if progress is not None and progress.cancelled:
            break
        if _feasible_without(prep, {rule}, limit / 2 / len(RELAXABLE), progress):
            relax_ok.append(rule)
    out = []
    if core:
        rules = sorted({rule for rule, _, _ in core}, key=RELAXABLE.index)
        parts = []
        for rule in rules:
            people = sorted({pi for r, pi, _ in core if r == rule})
            weeks = sorted({k for r, _, k in core if r == rule})
            firsts = [fmt_day(prep.start.astimezone(prep.zone).date() + 7 * k * DAY) for k in weeks]
            parts.append(
                f"{words[rule]} cannot be kept for {names([prep.people[i].name for i in people])} "
                f"in the week{'s' if len(weeks) > 1 else ''} starting {names(firsts)}"
            )
        lead = (
            "No roster keeps every rule: "
            if len(parts) == 1
            else "No roster keeps every rule: together, "
        )
        out.append(lead + "; ".join(parts) + ".")
    if relax_ok:
        out.append(
            "Relaxing "
            + " or ".join(words[r] for r in relax_ok)
            + " alone would make a roster possible; otherwise more people are needed."
        )
    elif not _feasible_without(prep, set(RELAXABLE), limit / 4, progress):
        out.append(
            "Even without the rest, hours and night rules the shifts cannot all be filled: "
            "leave, holidays, unavailable times and skills leave too few people at some times."
        )
    else:
        out.append(
            "No single rule is to blame: the rules together need more people than the "
            f"{len(prep.people)} on the team."
        )
    return out


def _core(prep: _Prepared, limit: float, progress) -> list[tuple[str, int, int]]:
    built = _build(prep, diagnose=True)
    if not built.lits:
        return []
    keys = list(built.lits)
    built.model.AddAssumptions([built.lits[k] for k in keys])
    solver = _solver(limit, workers=1)
    status = _run(solver, built.model, progress)
    if status != cp_model.INFEASIBLE:
        return []
    index = {built.lits[k].Index(): k for k in keys}
    return [index[i] for i in solver.SufficientAssumptionsForInfeasibility() if i in index]


def _feasible_without(prep: _Prepared, relaxed: set[str], limit: float, progress) -> bool:
    built = _build(prep, diagnose=True)
    for (rule, _, _), lit in built.lits.items():
        if rule not in relaxed:
            built.model.Add(lit == 1)
    status = _run(_solver(max(0.5, limit)), built.model, progress)
    return status in (cp_model.OPTIMAL, cp_model.FEASIBLE)


# -- fairness and the baseline --------------------------------------------------------


def fairness(problem: RosterProblem, shifts: Sequence[Shift]) -> list[FairnessRow]:
    """Per person: shifts, hours, nights, weekends and holidays worked, against the mean."""
    rules = problem.rules
    first, last = problem.start - DAY, problem.start + dt.timedelta(days=problem.weeks * 7 + 2)
    counts = {p.id: [0, 0.0, 0, 0, 0] for p in problem.people}
    for person in problem.people:
        hol = country_holidays(person.country, first, last) if person.country else {}
        zone = person.zone
        for s in shifts:
            if s.person_id != person.id:
                continue
            row = counts[person.id]
            row[0] += 1
            row[1] += s.hours
            row[2] += is_night(s.start, s.end, zone, rules)
            row[3] += is_weekend(s.start, s.end, zone)
            row[4] += shift_day(s.start, s.end, zone) in hol
    n = max(1, len(counts))
    means = [sum(row[k] for row in counts.values()) / n for k in range(5)]
    return [
        FairnessRow(
            p.id,
            p.name,
            counts[p.id][0],
            counts[p.id][1],
            counts[p.id][2],
            counts[p.id][3],
            counts[p.id][4],
            round(counts[p.id][1] - means[1], 2),
            round(counts[p.id][2] - means[2], 2),
            round(counts[p.id][3] - means[3], 2),
            round(counts[p.id][4] - means[4], 2),
        )
        for p in problem.people
    ]


def round_robin(problem: RosterProblem) -> list[Shift]:
    """The plain rotation a team lead writes by hand: each shift, in time order, goes to the
    next person in turn who may take it (not away, has the skills, not already on another
    layer at that time); the rules on rest, hours and nights are not considered."""
    prep = _prepare(problem)
    if isinstance(prep, list):
        raise ValueError(" ".join(prep))
    shifts = []
    for pi, si in _rotation(prep):
        slot, layer = prep.slots[si], problem.layers[prep.slots[si].layer]
        shifts.append(Shift(slot.start, slot.end, prep.people[pi].id, layer.name, layer.layer_id))
    return sorted(shifts)


def _rotation(prep: _Prepared) -> list[tuple[int, int]]:
    """The round robin as (person index, slot index) pairs; also the solver's first hint."""
    turn, taken = 0, defaultdict(list)
    out = []
    n = len(prep.people)
    for slot in prep.slots:
        takers = set(prep.takers[slot.index])
        for step in range(n):
            pi = (turn + step) % n
            if pi in takers and not any(
                s.start < slot.end and slot.start < s.end for s in taken[pi][-3:]
            ):
                taken[pi].append(slot)
                out.append((pi, slot.index))
                turn = pi + 1
                break
    return out


# -- database -------------------------------------------------------------------------


def from_database(
    session: Session,
    schedule_id: int,
    start: dt.date,
    weeks: int,
    *,
    shift_hours: int = 8,
    rules: RosterRules | None = None,
) -> RosterProblem:
    """The roster problem of a schedule: its required layers cut into ``shift_hours`` shifts
    from each layer's handoff time, its members, their leave, unavailable times and
    preferences. A preference's note mentioning nights or weekends makes it about them."""
    from app.models import Leave, OnCallSchedule, Person, RosterPreference

    if 24 % shift_hours:
        raise ValueError("Shifts must divide the day: 4, 6, 8, 12 or 24 hours.")
    schedule = session.get(OnCallSchedule, schedule_id)
    if schedule is None:
        raise ValueError(f"There is no on-call schedule {schedule_id}.")
    zone = ZoneInfo(schedule.timezone)
    horizon_start = _utc(_local(start, "00:00"), zone)
    horizon_end = horizon_start + weeks * WEEK
    layers, ids = [], []
    for layer in schedule.layers:
        if not layer.required or (layer.ends_at is not None and layer.ends_at <= horizon_start):
            continue
        handoff = layer.rotation_start.astimezone(zone)
        first = handoff.hour * 60 + handoff.minute
        starts = tuple(
            f"{(first // 60 + k * shift_hours) % 24:02d}:{first % 60:02d}"
            for k in range(24 // shift_hours)
        )
        members = tuple(m.person_id for m in layer.members)
        ids += [m for m in members if m not in ids]
        layers.append(
            Layer(
                layer.name,
                ShiftPattern(tuple(sorted(starts)), shift_hours),
                frozenset({layer.required_skill} if layer.required_skill else ()),
                tuple(layer.restrictions or ()),
                members,
                layer.id,
            )
        )
    rows = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(ids)))}
    people = [
        RosterPerson(p.id, p.name, p.country_code, p.timezone or "UTC", frozenset(p.skill_set))
        for p in (rows[i] for i in ids if i in rows)
        if p.active
    ]
    first_day, last_day = start - DAY, start + dt.timedelta(days=weeks * 7 + 1)
    leave = [
        LeaveSpan(row.person_id, row.starts_on, row.ends_on, row.kind)
        for row in session.scalars(
            select(Leave).where(
                Leave.person_id.in_(ids), Leave.starts_on <= last_day, Leave.ends_on >= first_day
            )
        )
    ]
    unavailable, preferences = [], []
    for row in session.scalars(select(RosterPreference).where(RosterPreference.person_id.in_(ids))):
        if row.ends_at is not None and row.ends_at <= horizon_start:
            continue
        if row.starts_at is not None and row.starts_at >= horizon_end:
            continue
        weekdays = tuple(row.weekdays or ())
        if row.kind == "unavailable":
            unavailable.append(
                Unavailability(row.person_id, row.starts_at, row.ends_at, weekdays, row.note)
            )
        else:
            note = (row.note or "").lower()
            preferences.append(
                Preference(
                    row.person_id,
                    "prefer" if row.kind == "prefer" else "prefer_not",
                    "night" in note,
                    "weekend" in note,
                    weekdays,
                    row.starts_at,
                    row.ends_at,
                )
            )
    return RosterProblem(
        people,
        layers,
        start,
        weeks,
        schedule.timezone,
        leave,
        unavailable,
        preferences,
        rules or RosterRules(),
        schedule_id,
    )


def save_roster(
    session: Session,
    schedule_id: int,
    result: RosterResult,
    author: Any,
    *,
    name: str | None = None,
):
    """Write a solved roster as a draft Roster with its RosterShift rows, all or nothing.

    Inside the caller's transaction the rows are flushed there (the caller commits);
    otherwise they are committed here. ``author`` (a person id or user name) is kept in
    the roster's ``rules`` beside the rules it was solved under.
    """
    from app.models import Roster, RosterShift

    if not result.ok or result.problem is None:
        why = result.explanation[0] if result.explanation else "the solver found no roster"
        raise ValueError(f"There is no roster to save: {why}")
    problem = result.problem
    roster = Roster(
        schedule_id=schedule_id,
        name=name or f"Roster from {problem.start:%d %b %Y}, {problem.weeks} weeks",
        starts_on=problem.start,
        weeks=problem.weeks,
        status="draft",
        rules={
            **problem.rules.to_dict(),
            "author": author,
            "solver_status": result.status,
            "objective": result.objective,
            "patterns": {
                layer.name: {"starts": list(layer.pattern.starts), "hours": layer.pattern.hours}
                for layer in problem.layers
            },
        },
    )
    roster.shifts = [
        RosterShift(
            layer_id=s.layer_id,
            person_id=s.person_id,
            starts_at=s.start,
            ends_at=s.end,
            source="solver",
        )
        for s in result.shifts
    ]
    if session.in_transaction():
        session.add(roster)
        session.flush()
    else:
        with session.begin():
            session.add(roster)
    return roster
