"""The working-time rules of on-call rosters, and a checker that explains every breach in words.

The rules (DOMAIN.md, defaults from the EU Working Time Directive; every value configurable):

* **Daily rest**: at least 11 consecutive hours without work between two shifts of a person
  (back-to-back shifts count as 0 h rest). Two shifts of one person never overlap.
* **Weekly rest**: in each 7-day period counted from the roster's start, at least 24
  uninterrupted hours without work (the directive's "each seven-day period").
* **Average hours**: at most 48 hours a week on average over the reference period (17 weeks,
  or the whole roster when it is shorter; every run of that many weeks is checked).
* **Consecutive nights**: at most ``max_consecutive_nights`` night shifts on consecutive days.
  A shift is a night shift for a person when at least ``night_min_hours`` of it fall between
  ``night_start`` and ``night_end`` in the person's own time zone.
* **Leave and public holidays** block assignment: no shift may touch a day of leave or a
  public holiday of the person's country (``holidays`` package) in their time zone. With
  ``holidays="spread"`` holidays are worked instead, counted, and spread evenly.
* **Unavailable times** block assignment; a layer's required skills and members are checked
  when the layers are given, and so is coverage: any instant with nobody on a required layer.

A shift's *day* (for weekends, holidays worked and runs of nights) is the local date of its
midpoint, so the Friday 22:00-06:00 night is a Saturday (weekend) shift.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_lib

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)

HOLIDAYS_BLOCK = "block"
HOLIDAYS_SPREAD = "spread"

#: Rule names used in :class:`Violation` and in the solver's explanations.
OVERLAP = "overlap"
DAILY_REST = "daily_rest"
WEEKLY_REST = "weekly_rest"
AVERAGE_HOURS = "average_hours"
CONSECUTIVE_NIGHTS = "consecutive_nights"
LEAVE = "leave"
HOLIDAY = "holiday"
UNAVAILABLE = "unavailable"
SKILL = "skill"
MEMBER = "member"
COVERAGE = "coverage"
NO_COUNTRY = "no_country"


@dataclass(frozen=True)
class RosterRules:
    """Working-time rules of a roster (defaults: DOMAIN.md, EU Working Time Directive)."""

    min_rest_hours: float = 11
    weekly_rest_hours: float = 24
    max_average_weekly_hours: float = 48
    reference_weeks: int = 17
    max_consecutive_nights: int = 4
    night_start: int = 23
    night_end: int = 6
    night_min_hours: float = 3
    holidays: str = HOLIDAYS_BLOCK

    def __post_init__(self) -> None:
        if self.holidays not in (HOLIDAYS_BLOCK, HOLIDAYS_SPREAD):
            raise ValueError(f"holidays must be {HOLIDAYS_BLOCK!r} or {HOLIDAYS_SPREAD!r}")
        if self.max_consecutive_nights < 1 or self.reference_weeks < 1:
            raise ValueError("max_consecutive_nights and reference_weeks must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RosterRules:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class RosterPerson:
    """Someone who can be rostered: ``country`` (ISO code) decides their public holidays."""

    id: int
    name: str
    country: str | None = None
    timezone: str = "UTC"
    skills: frozenset[str] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


@dataclass(frozen=True, order=True)
class Shift:
    """One person on call for one layer over ``[start, end)`` (aware datetimes, UTC)."""

    start: dt.datetime
    end: dt.datetime
    person_id: int
    layer: str = "Primary"
    layer_id: int | None = field(default=None, compare=False)

    @property
    def hours(self) -> float:
        return (self.end - self.start) / HOUR

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class LeaveSpan:
    """A person's leave, whole local days ``first`` to ``last`` inclusive."""

    person_id: int
    first: dt.date
    last: dt.date
    kind: str = "annual"


@dataclass(frozen=True)
class Unavailability:
    """A time a person cannot be on call: a span, or whole weekdays (0 = Monday) in it."""

    person_id: int
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    weekdays: tuple[int, ...] = ()
    note: str = ""

    def blocks(self, start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> bool:
        lo = start if self.start is None else max(start, self.start)
        hi = end if self.end is None else min(end, self.end)
        if lo >= hi:
            return False
        if not self.weekdays:
            return True
        return any(day.weekday() in self.weekdays for day in local_days(lo, hi, zone))


@dataclass(frozen=True)
class CoverageNeed:
    """A layer to cover: the spans that need someone, its skills and (optional) members."""

    layer: str
    spans: tuple[tuple[dt.datetime, dt.datetime], ...]
    required_skills: frozenset[str] = frozenset()
    members: frozenset[int] | None = None


@dataclass(frozen=True)
class Violation:
    """One breach of a rule, with the people, shifts and days involved and a sentence."""

    rule: str
    person_id: int | None
    message: str
    shifts: tuple[Shift, ...] = ()
    days: tuple[dt.date, ...] = ()

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.rule, self.person_id, self.shifts, self.days)


@dataclass(frozen=True)
class RosterChange:
    """A proposed edit of a roster: shifts taken out and shifts put in (swap, override)."""

    remove: tuple[Shift, ...] = ()
    add: tuple[Shift, ...] = ()

    @classmethod
    def swap(cls, shift: Shift, to_person: int) -> RosterChange:
        """Give ``shift`` to another person."""
        return cls((shift,), (_with_person(shift, to_person),))

    @classmethod
    def override(
        cls,
        existing: Iterable[Shift],
        layer: str,
        person_id: int,
        start: dt.datetime,
        end: dt.datetime,
    ) -> RosterChange:
        """``person_id`` covers ``layer`` over ``[start, end)``; the shifts there are cut."""
        remove, add = [], []
        for shift in existing:
            if shift.layer != layer or not shift.overlaps(start, end):
                continue
            remove.append(shift)
            if shift.start < start:
                add.append(Shift(shift.start, start, shift.person_id, layer, shift.layer_id))
            if end < shift.end:
                add.append(Shift(end, shift.end, shift.person_id, layer, shift.layer_id))
        layer_id = remove[0].layer_id if remove else None
        add.append(Shift(start, end, person_id, layer, layer_id))
        return cls(tuple(remove), tuple(add))

    def apply(self, existing: Iterable[Shift]) -> list[Shift]:
        gone = set(self.remove)
        return sorted([s for s in existing if s not in gone] + list(self.add))


def _with_person(shift: Shift, person_id: int) -> Shift:
    return Shift(shift.start, shift.end, person_id, shift.layer, shift.layer_id)


# -- time helpers ---------------------------------------------------------------------


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[dt.date]:
    """The local dates that ``[start, end)`` touches."""
    first = start.astimezone(zone).date()
    last = (end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def shift_day(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The local date of a shift's midpoint: the day it mostly belongs to."""
    return (start + (end - start) / 2).astimezone(zone).date()


def night_hours(start: dt.datetime, end: dt.datetime, zone: ZoneInfo, rules: RosterRules) -> float:
    """Hours of ``[start, end)`` inside the night window, in ``zone``'s local time."""
    total = 0.0
    for day in local_days(start - DAY, end, zone):
        lo = dt.datetime.combine(day, dt.time(rules.night_start), zone)
        span = (rules.night_end - rules.night_start) % 24 or 24
        hi = lo + span * HOUR
        overlap = min(end, hi) - max(start, lo)
        if overlap > dt.timedelta(0):
            total += overlap / HOUR
    return total


def is_night(start: dt.datetime, end: dt.datetime, zone: ZoneInfo, rules: RosterRules) -> bool:
    return night_hours(start, end, zone, rules) >= rules.night_min_hours


def is_weekend(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> bool:
    return shift_day(start, end, zone).weekday() >= 5


@cache
def _country_holidays(country: str, year: int) -> dict[dt.date, str]:
    return dict(holidays_lib.country_holidays(country, years=year).items())


def country_holidays(country: str, first: dt.date, last: dt.date) -> dict[dt.date, str]:
    """Public holidays of ``country`` between two dates; unknown codes raise ValueError."""
    out: dict[dt.date, str] = {}
    for year in range(first.year, last.year + 1):
        try:
            days = _country_holidays(country.upper(), year)
        except NotImplementedError:
            raise ValueError(f"{country!r} is not a country the holidays package knows") from None
        out.update({d: name for d, name in days.items() if first <= d <= last})
    return out


def people_holidays(
    people: Iterable[RosterPerson], first: dt.date, last: dt.date
) -> dict[int, dict[dt.date, str]]:
    """Each person's public holidays (people with no country are left out)."""
    return {p.id: country_holidays(p.country, first, last) for p in people if p.country}


def fmt_hours(hours: float) -> str:
    return f"{hours:.1f}".rstrip("0").rstrip(".")


def fmt_day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def fmt_when(at: dt.datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{fmt_day(local.date())} {local:%H:%M}"


def fmt_span(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    tail = f"{b:%H:%M}" if b.date() == a.date() or b - a <= DAY else fmt_when(end, zone)
    return f"{fmt_day(a.date())} {a:%H:%M}-{tail}"


def names(items: Sequence[str], limit: int = 8) -> str:
    """``A``, ``A and B``, ``A, B and C``; long lists end with ``and N others``."""
    items = list(items)
    if len(items) > limit:
        rest = len(items) - limit + 1
        items = items[: limit - 1] + [f"{rest} others"]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# -- the checker ----------------------------------------------------------------------


@dataclass
class _Context:
    people: dict[int, RosterPerson]
    rules: RosterRules
    zone: ZoneInfo
    period_start: dt.datetime
    period_end: dt.datetime
    leave: dict[int, list[LeaveSpan]]
    holidays: Mapping[int, Mapping[dt.date, str]]
    unavailable: dict[int, list[Unavailability]]
    coverage: Sequence[CoverageNeed]
    proposal: bool

    def name(self, person_id: int | None) -> str:
        person = self.people.get(person_id) if person_id is not None else None
        return person.name if person else f"Person {person_id}"

    def pzone(self, person_id: int) -> ZoneInfo:
        person = self.people.get(person_id)
        return person.zone if person else self.zone

    def has(self, present: str, proposed: str) -> str:
        return proposed if self.proposal else present

    def describe(self, shift: Shift) -> str:
        hour = shift.start.astimezone(self.zone).hour
        if is_night(shift.start, shift.end, self.pzone(shift.person_id), self.rules):
            kind = "night"
        elif 4 <= hour < 10:
            kind = "early"
        elif 10 <= hour < 13:
            kind = "day"
        else:
            kind = "late"
        return f"{shift.layer} {kind} shift"


def check_roster(
    shifts: Iterable[Shift],
    people: Iterable[RosterPerson],
    rules: RosterRules | None = None,
    *,
    leave: Iterable[LeaveSpan] = (),
    holidays: Mapping[int, Mapping[dt.date, str]] | None = None,
    unavailable: Iterable[Unavailability] = (),
    coverage: Sequence[CoverageNeed] = (),
    period: tuple[dt.datetime, dt.datetime] | None = None,
    zone: str = "UTC",
    proposal: bool = False,
) -> list[Violation]:
    """Every breach of the rules in ``shifts``, each with a sentence.

    ``period`` anchors the 7-day periods of the weekly rest and the weeks of the average
    (default: from the first shift's start); ``holidays`` maps person id to their public
    holidays (default: from each person's country); ``coverage`` adds the skill, member and
    coverage-gap checks; ``zone`` is the zone times are written in.
    """
    ctx = _context(shifts, people, rules, leave, holidays, unavailable, coverage, period, zone)
    ctx.proposal = proposal
    by_person: dict[int, list[Shift]] = defaultdict(list)
    for shift in sorted(shifts):
        by_person[shift.person_id].append(shift)
    out: list[Violation] = []
    for person_id, mine in by_person.items():
        out += _blocked(ctx, person_id, mine)
        out += _rest(ctx, person_id, mine)
        out += _weekly_rest(ctx, person_id, mine)
        out += _average_hours(ctx, person_id, mine)
        out += _nights(ctx, person_id, mine)
    out += _coverage(ctx, [s for m in by_person.values() for s in m])
    return out


def check_change(
    existing: Iterable[Shift],
    proposed: RosterChange,
    people: Iterable[RosterPerson],
    rules: RosterRules | None = None,
    **context: Any,
) -> list[Violation]:
    """The breaches ``proposed`` would bring into ``existing`` (ones already there are not
    repeated); takes the keyword arguments of :func:`check_roster`."""
    existing = list(existing)
    people = list(people)
    if context.get("period") is None and existing:
        first = min(s.start for s in existing)
        last = max(s.end for s in existing)
        context["period"] = (first, max([last, *(s.end for s in proposed.add)]))
    before = {v.key for v in check_roster(existing, people, rules, **context)}
    after = check_roster(proposed.apply(existing), people, rules, proposal=True, **context)
    return [v for v in after if v.key not in before]


def _context(shifts, people, rules, leave, holidays, unavailable, coverage, period, zone):
    shifts = list(shifts)
    people_map = {p.id: p for p in people}
    rules = rules or RosterRules()
    tz = _zone(zone)
    if period is None:
        starts = [s.start for s in shifts] + [a for need in coverage for a, _ in need.spans]
        ends = [s.end for s in shifts] + [b for need in coverage for _, b in need.spans]
        now = dt.datetime.now(dt.UTC)
        period = (min(starts, default=now), max(ends, default=now))
    if holidays is None:
        first = period[0].date() - DAY
        last = max(period[1], *(s.end for s in shifts)).date() + DAY if shifts else period[1].date()
        holidays = people_holidays(people_map.values(), first, last)
    leave_map: dict[int, list[LeaveSpan]] = defaultdict(list)
    for span in leave:
        leave_map[span.person_id].append(span)
    away: dict[int, list[Unavailability]] = defaultdict(list)
    for item in unavailable:
        away[item.person_id].append(item)
    return _Context(
        people_map, rules, tz, period[0], period[1], leave_map, holidays, away, coverage, False
    )


def _blocked(ctx: _Context, person_id: int, shifts: list[Shift]) -> list[Violation]:
    out = []
    name = ctx.name(person_id)
    zone = ctx.pzone(person_id)
    person = ctx.people.get(person_id)
    needs = {need.layer: need for need in ctx.coverage}
    be = ctx.has("is", "would be")
    if person is not None and person.country is None and ctx.rules.holidays == HOLIDAYS_BLOCK:
        out.append(
            Violation(
                NO_COUNTRY,
                person_id,
                f"{name} has no country, so their public holidays are unknown; "
                "set a country before rostering them.",
            )
        )
    for shift in shifts:
        span = fmt_span(shift.start, shift.end, ctx.zone)
        what = f"the {ctx.describe(shift)} ({span})"
        days = local_days(shift.start, shift.end, zone)
        for leave in ctx.leave.get(person_id, ()):
            hit = [d for d in days if leave.first <= d <= leave.last]
            if hit:
                out.append(
                    Violation(
                        LEAVE,
                        person_id,
                        f"{name} is on {leave.kind} leave on {fmt_day(hit[0])} but {be} on {what}.",
                        (shift,),
                        tuple(hit),
                    )
                )
        if ctx.rules.holidays == HOLIDAYS_BLOCK:
            mine = ctx.holidays.get(person_id, {})
            for day in days:
                if day in mine:
                    country = person.country if person else "their country"
                    out.append(
                        Violation(
                            HOLIDAY,
                            person_id,
                            f"{fmt_day(day)} is a public holiday in {country} ({mine[day]}) "
                            f"for {name}, who {be} on {what}.",
                            (shift,),
                            (day,),
                        )
                    )
        for item in ctx.unavailable.get(person_id, ()):
            if item.blocks(shift.start, shift.end, zone):
                note = f" ({item.note})" if item.note else ""
                out.append(
                    Violation(
                        UNAVAILABLE,
                        person_id,
                        f"{name} is unavailable{note} but {be} on {what}.",
                        (shift,),
                        tuple(days),
                    )
                )
        need = needs.get(shift.layer)
        if need is not None and person is not None:
            missing = sorted(need.required_skills - person.skills)
            if missing:
                out.append(
                    Violation(
                        SKILL,
                        person_id,
                        f"{name} lacks the skill {names(missing)} that {shift.layer} needs "
                        f"but {be} on {what}.",
                        (shift,),
                    )
                )
            if need.members is not None and person_id not in need.members:
                out.append(
                    Violation(
                        MEMBER,
                        person_id,
                        f"{name} is not a member of {shift.layer} but {be} on {what}.",
                        (shift,),
                    )
                )
    return out


def _rest(ctx: _Context, person_id: int, shifts: list[Shift]) -> list[Violation]:
    out = []
    name = ctx.name(person_id)
    minimum = ctx.rules.min_rest_hours
    for k, a in enumerate(shifts):
        for b in shifts[k + 1 :]:
            if b.start >= a.end + minimum * HOUR:
                break
            if b.start < a.end:
                out.append(
                    Violation(
                        OVERLAP,
                        person_id,
                        f"{name} {ctx.has('is', 'would be')} on two shifts at once: the "
                        f"{ctx.describe(a)} ({fmt_span(a.start, a.end, ctx.zone)}) and the "
                        f"{ctx.describe(b)} ({fmt_span(b.start, b.end, ctx.zone)}).",
                        (a, b),
                    )
                )
                continue
            gap = (b.start - a.end) / HOUR
            out.append(
                Violation(
                    DAILY_REST,
                    person_id,
                    f"{name} {ctx.has('has', 'would have')} {fmt_hours(gap)} h rest between "
                    f"the {ctx.describe(a)} ending {fmt_when(a.end, ctx.zone)} and the "
                    f"{ctx.describe(b)} starting {fmt_when(b.start, ctx.zone)}; "
                    f"the minimum is {fmt_hours(minimum)} h.",
                    (a, b),
                )
            )
    return out


def _weeks(ctx: _Context) -> list[tuple[dt.datetime, dt.datetime]]:
    out = []
    start = ctx.period_start
    while start < ctx.period_end:
        out.append((start, start + WEEK))
        start += WEEK
    return out


def longest_rest(shifts: Sequence[Shift], start: dt.datetime, end: dt.datetime) -> float:
    """Hours of the longest stretch of ``[start, end)`` free of ``shifts`` (sorted)."""
    longest, free_from = dt.timedelta(0), start
    for shift in shifts:
        if shift.end <= start or shift.start >= end:
            continue
        longest = max(longest, shift.start - free_from)
        free_from = max(free_from, shift.end)
    longest = max(longest, end - free_from)
    return longest / HOUR


def _weekly_rest(ctx: _Context, person_id: int, shifts: list[Shift]) -> list[Violation]:
    out = []
    need = ctx.rules.weekly_rest_hours
    for start, end in _weeks(ctx):
        inside = [s for s in shifts if s.overlaps(start, end)]
        if not inside:
            continue
        rest = longest_rest(inside, start, end)
        if rest < need:
            last = (end - DAY).astimezone(ctx.zone).date()
            first = start.astimezone(ctx.zone).date()
            out.append(
                Violation(
                    WEEKLY_REST,
                    person_id,
                    f"{ctx.name(person_id)} {ctx.has('has', 'would have')} no "
                    f"{fmt_hours(need)} h break in the 7 days {fmt_day(first)} to "
                    f"{fmt_day(last)} (the longest is {fmt_hours(rest)} h); the rule is "
                    f"{fmt_hours(need)} uninterrupted hours in every 7 days.",
                    tuple(inside),
                    (first, last),
                )
            )
    return out


def _average_hours(ctx: _Context, person_id: int, shifts: list[Shift]) -> list[Violation]:
    weeks = _weeks(ctx)
    span = min(ctx.rules.reference_weeks, len(weeks))
    cap = ctx.rules.max_average_weekly_hours
    hours = [sum(s.hours for s in shifts if a <= s.start < b) for a, b in weeks]
    out = []
    for k in range(len(weeks) - span + 1):
        total = sum(hours[k : k + span])
        if total > cap * span + 1e-9:
            first = weeks[k][0].astimezone(ctx.zone).date()
            last = (weeks[k + span - 1][1] - DAY).astimezone(ctx.zone).date()
            out.append(
                Violation(
                    AVERAGE_HOURS,
                    person_id,
                    f"{ctx.name(person_id)} {ctx.has('works', 'would work')} "
                    f"{fmt_hours(total)} h in the {'week' if span == 1 else f'{span} weeks'} "
                    f"{fmt_day(first)} to "
                    f"{fmt_day(last)}, {fmt_hours(total / span)} h a week on average; "
                    f"the cap is {fmt_hours(cap)} h a week on average.",
                    tuple(s for s in shifts if weeks[k][0] <= s.start < weeks[k + span - 1][1]),
                    (first, last),
                )
            )
    return out


def _nights(ctx: _Context, person_id: int, shifts: list[Shift]) -> list[Violation]:
    zone = ctx.pzone(person_id)
    nights: dict[dt.date, Shift] = {}
    for shift in shifts:
        if is_night(shift.start, shift.end, zone, ctx.rules):
            nights.setdefault(shift_day(shift.start, shift.end, zone), shift)
    limit = ctx.rules.max_consecutive_nights
    out: list[Violation] = []
    run: list[dt.date] = []
    for day in sorted(nights) + [None]:
        if day is not None and run and day - run[-1] == DAY:
            run.append(day)
            continue
        if len(run) > limit:
            out.append(
                Violation(
                    CONSECUTIVE_NIGHTS,
                    person_id,
                    f"{ctx.name(person_id)} {ctx.has('has', 'would have')} {len(run)} night "
                    f"shifts in a row ({fmt_day(run[0])} to {fmt_day(run[-1])}); "
                    f"the maximum is {limit}.",
                    tuple(nights[d] for d in run),
                    tuple(run),
                )
            )
        run = [day] if day is not None else []
    return out


def _coverage(ctx: _Context, shifts: list[Shift]) -> list[Violation]:
    out = []
    for need in ctx.coverage:
        mine = sorted(s for s in shifts if s.layer == need.layer)
        for start, end in need.spans:
            at = start
            for shift in mine:
                if shift.end <= at or shift.start >= end:
                    continue
                if shift.start > at:
                    out.append(_gap(ctx, need.layer, at, shift.start))
                at = max(at, shift.end)
            if at < end:
                out.append(_gap(ctx, need.layer, at, end))
    return out


def _gap(ctx: _Context, layer: str, start: dt.datetime, end: dt.datetime) -> Violation:
    days = tuple(local_days(start, end, ctx.zone))
    return Violation(
        COVERAGE,
        None,
        f"Nobody {ctx.has('covers', 'would cover')} {layer} from {fmt_when(start, ctx.zone)} "
        f"to {fmt_when(end, ctx.zone)}.",
        (),
        days,
    )
