"""On-call schedules from templates: the layers, rotations, handoffs and restrictions of the
common rotas, validated before anything is written.

Templates (see DOMAIN.md, "On-call rosters"):

* ``weekly`` / ``daily``: one layer rotating the people, one turn a week (or day), handing
  off at ``handoff`` on the start date's weekday.
* ``primary_secondary``: a primary and a secondary layer over the same people, the
  secondary one place ahead (next turn's primary backs up this turn's), weekly by default.
* ``follow_the_sun``: 2 or 3 regions formed from the people's time zones, each a layer
  restricted to a window of the UTC day that falls in its daytime; the windows tile the
  day (12 or 8 hours each), one person per region per day.
* ``panama`` (2-2-3): four people (crews), 12-hour day and night layers; days alternate
  between the first two crews and nights between the last two in the 14-day pattern
  2 on, 2 off, 3 on, 2 off, 2 on, 3 off.
* ``four_on_four_off``: two people taking 24-hour cover four days each, or four people on
  12-hour day and night layers, four days on and four off.

A restriction that leaves hours of the week with nobody on call is refused with the hours
it leaves (unless ``allow_gaps=True``); :func:`coverage_gaps` lists the gaps of a stored
schedule over a period, with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import LayerMember, OnCallSchedule, Person, ScheduleLayer
from app.services.oncall import (
    WEEK_MINUTES,
    Gap,
    OnCallIndex,
    restriction_mask,
)

TEMPLATES = (
    "weekly",
    "daily",
    "primary_secondary",
    "follow_the_sun",
    "panama",
    "four_on_four_off",
)
DAY = 86400
WEEK = 7 * DAY
#: The 2-2-3 (Panama) pattern of the first crew over 14 days (1 = on); the second crew
#: works the other days.
PANAMA_PATTERN = (1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0)
#: Where a follow-the-sun region's window starts in its local time, by window length.
FTS_LOCAL_START = {12: 7.0, 8: 8.0}
#: Local hours a follow-the-sun window should stay within (a note is given otherwise).
DAYTIME = (6.0, 22.0)
_CONTINENTS = {
    "Europe": "EMEA",
    "Africa": "EMEA",
    "Atlantic": "EMEA",
    "America": "Americas",
    "US": "Americas",
    "Canada": "Americas",
    "Asia": "APAC",
    "Australia": "APAC",
    "Pacific": "APAC",
    "Indian": "APAC",
}
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class PersonInfo:
    """What a template needs to know of a person."""

    id: int
    name: str
    timezone: str | None = None  # resolved: their own zone, else their country's
    active: bool = True


@dataclass(frozen=True)
class LayerPlan:
    """A layer to create: its rotation (people in order), turn, handoff and hours."""

    name: str
    role: str
    people: tuple[int, ...]
    rotation_start: dt.datetime
    turn_seconds: int
    restrictions: tuple[Mapping[str, Any], ...] = ()
    required: bool = True


@dataclass(frozen=True)
class SchedulePlan:
    """A schedule to create, with notes worth showing the user (e.g. late local hours)."""

    name: str
    timezone: str
    description: str
    layers: tuple[LayerPlan, ...]
    team_id: int | None = None
    notes: tuple[str, ...] = field(default=())

    def to_schedule(self) -> OnCallSchedule:
        """Unsaved model objects (ids left to the database)."""
        schedule = OnCallSchedule(
            name=self.name,
            team_id=self.team_id,
            timezone=self.timezone,
            description=self.description,
        )
        for position, plan in enumerate(self.layers):
            layer = ScheduleLayer(
                name=plan.name,
                role=plan.role,
                position=position,
                rotation_start=plan.rotation_start,
                turn_seconds=plan.turn_seconds,
                restrictions=[dict(r) for r in plan.restrictions],
                required=plan.required,
                ends_at=None,
            )
            layer.members = [
                LayerMember(person_id=person, position=k) for k, person in enumerate(plan.people)
            ]
            schedule.layers.append(layer)
        return schedule


# Checking input


def parse_time(text: str, what: str = "handoff") -> int:
    """``HH:MM`` as minutes after midnight (``24:00`` allowed only as an end)."""
    match = _TIME.match(str(text).strip())
    if not match:
        raise ValueError(f"the {what} {text!r} is not a time of day like 09:00")
    hours, minutes = int(match[1]), int(match[2])
    value = hours * 60 + minutes
    if minutes > 59 or value > 24 * 60 or (value == 24 * 60 and what != "end time"):
        raise ValueError(f"the {what} {text!r} is not a time of day like 09:00")
    return value


def _hhmm(minutes: float) -> str:
    minutes = int(round(minutes)) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def check_restrictions(restrictions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Restriction spans in the stored form, or ValueError saying what is wrong."""
    checked = []
    for number, span in enumerate(restrictions, 1):
        if not isinstance(span, Mapping):
            raise ValueError(f"restriction {number} is not a span like {{'days': [0], ...}}")
        unknown = set(span) - {"days", "start", "end"}
        if unknown:
            raise ValueError(f"restriction {number} has unknown keys: {', '.join(sorted(unknown))}")
        days = span.get("days", list(range(7)))
        if (
            not isinstance(days, Sequence)
            or isinstance(days, str)
            or not days
            or any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in days)
        ):
            raise ValueError(
                f"restriction {number} must list its days as numbers 0 (Monday) to 6 (Sunday)"
            )
        start = parse_time(span.get("start", "00:00"), "start time")
        end = parse_time(span.get("end", "24:00"), "end time")
        if start == end % (24 * 60) and not (start == 0 and end == 24 * 60):
            raise ValueError(
                f"restriction {number} starts and ends at {_hhmm(start)}; "
                "use 00:00-24:00 for whole days"
            )
        checked.append(
            {
                "days": sorted(set(days)),
                "start": f"{start // 60:02d}:{start % 60:02d}",
                "end": f"{end // 60:02d}:{end % 60:02d}",
            }
        )
    return checked


def uncovered(layers: Sequence[LayerPlan]) -> dict[str, list[tuple[int, int]]]:
    """Per role with required layers: the minutes of the week (start, end) nobody covers."""
    roles: dict[str, bytearray] = {}
    for layer in layers:
        if not layer.required:
            continue
        cover = roles.setdefault(layer.role, bytearray(WEEK_MINUTES))
        if not layer.people:
            continue
        mask = restriction_mask(list(layer.restrictions))
        if mask is None:
            cover[:] = b"\x01" * WEEK_MINUTES
        else:
            for m in range(WEEK_MINUTES):
                if mask[m]:
                    cover[m] = 1
    result = {}
    for role, cover in roles.items():
        runs = _runs(cover)
        if runs:
            result[role] = runs
    return result


def _runs(cover: bytearray) -> list[tuple[int, int]]:
    """Uncovered runs of minutes of the week, joined across Sunday midnight."""
    runs: list[tuple[int, int]] = []
    m = 0
    while m < WEEK_MINUTES:
        if cover[m]:
            m += 1
            continue
        begin = m
        while m < WEEK_MINUTES and not cover[m]:
            m += 1
        runs.append((begin, m))
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][1] == WEEK_MINUTES:
        first = runs.pop(0)
        runs[-1] = (runs[-1][0], WEEK_MINUTES + first[1])
    return runs


def describe_week_span(begin: int, end: int) -> str:
    """``Mon 17:00-Tue 09:00`` for minutes of the week (``end`` may pass Sunday)."""
    if end - begin >= WEEK_MINUTES:
        return "the whole week"

    def at(minute: int) -> tuple[str, str]:
        minute %= WEEK_MINUTES
        return _DAY_NAMES[minute // 1440], _hhmm(minute % 1440)

    (d1, t1), (d2, t2) = at(begin), at(end)
    if end - begin == 1440 and t1 == "00:00":
        return f"{d1} all day"
    if d1 == d2 and end - begin < 1440:
        return f"{d1} {t1}-{t2}"
    return f"{d1} {t1}-{d2} {t2}"


def _check_coverage(layers: Sequence[LayerPlan], allow_gaps: bool) -> None:
    if allow_gaps:
        return
    for role, runs in uncovered(layers).items():
        shown = [describe_week_span(a, b) for a, b in runs[:6]]
        more = f" and {len(runs) - 6} more" if len(runs) > 6 else ""
        raise ValueError(
            f"the restrictions leave hours with nobody on call for {role}: "
            f"{', '.join(shown)}{more} (widen them, add a layer, or accept the gaps)"
        )


def _zone(name: str, what: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{what} {name!r} is not a time zone (use a name like Europe/London)"
        ) from None


def _person_zone(person: PersonInfo, why: str) -> str:
    if not person.timezone:
        raise ValueError(
            f"{person.name} (person {person.id}) has no time zone or country: {why}; "
            "set a time zone or a country on their record"
        )
    _zone(person.timezone, f"{person.name}'s time zone")
    return person.timezone


def _check_people(people: Sequence[PersonInfo], minimum: int, template: str) -> None:
    if len(people) < minimum:
        raise ValueError(
            f"the {template} template needs at least {minimum} "
            f"{'person' if minimum == 1 else 'people'}; got {len(people)}"
        )
    seen: set[int] = set()
    for person in people:
        if person.id in seen:
            raise ValueError(f"{person.name} (person {person.id}) is listed twice")
        seen.add(person.id)
        if not person.active:
            raise ValueError(f"{person.name} (person {person.id}) is no longer active")


def _local_instant(day: dt.date, minutes: int, zone: ZoneInfo) -> dt.datetime:
    # Adding to an aware datetime is wall-clock arithmetic: the zone's offset of the
    # resulting local time is used, so 09:00 stays 09:00 whatever the season.
    local = dt.datetime.combine(day, dt.time(), zone) + dt.timedelta(minutes=minutes)
    return local.astimezone(dt.UTC)


# Planning


def plan_schedule(
    template: str,
    name: str,
    people: Sequence[PersonInfo],
    start: dt.date,
    *,
    timezone: str | None = None,
    handoff: str = "09:00",
    turn_days: int | None = None,
    restrictions: Sequence[Mapping[str, Any]] = (),
    regions: int = 3,
    region_names: Sequence[str] | None = None,
    team_id: int | None = None,
    description: str | None = None,
    allow_gaps: bool = False,
) -> SchedulePlan:
    """The schedule a template makes for ``people`` from ``start`` (a date in the schedule's
    zone), checked: bad input raises ValueError with a sentence saying what is wrong."""
    if template not in TEMPLATES:
        raise ValueError(f"{template!r} is not a template ({', '.join(TEMPLATES)})")
    name = (name or "").strip()
    if not name:
        raise ValueError("the schedule needs a name")
    if len(name) > 120:
        raise ValueError("the schedule's name is longer than 120 characters")
    if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        raise ValueError("the start must be a date (the first handoff is on it)")
    if turn_days is not None and (not isinstance(turn_days, int) or turn_days < 1):
        raise ValueError("the turn length must be a whole number of days, 1 or more")
    handoff_minutes = parse_time(handoff)
    spans = check_restrictions(restrictions)

    if template == "follow_the_sun":
        if spans:
            raise ValueError(
                "follow-the-sun sets each region's hours itself; drop the restrictions"
            )
        plan = _follow_the_sun(name, people, start, regions, region_names, team_id)
    else:
        if template in ("panama", "four_on_four_off") and spans:
            raise ValueError(f"the {template} template sets its own hours; drop the restrictions")
        minimum = {"primary_secondary": 2, "panama": 4, "four_on_four_off": 2}.get(template, 1)
        _check_people(people, minimum, template)
        if timezone is None:
            zones = {
                _person_zone(p, "the schedule's zone is taken from its people unless given")
                for p in people
            }
            if len(zones) > 1:
                raise ValueError(
                    f"the people are in {len(zones)} time zones ({', '.join(sorted(zones))}); "
                    "name the schedule's time zone"
                )
            timezone = zones.pop()
        zone = _zone(timezone, "the schedule's time zone")
        ids = tuple(p.id for p in people)
        at = _local_instant(start, handoff_minutes, zone)
        if template == "weekly":
            layers = (
                LayerPlan("Weekly", "primary", ids, at, (turn_days or 7) * DAY, tuple(spans)),
            )
        elif template == "daily":
            layers = (LayerPlan("Daily", "primary", ids, at, (turn_days or 1) * DAY, tuple(spans)),)
        elif template == "primary_secondary":
            turn = (turn_days or 7) * DAY
            layers = (
                LayerPlan("Primary", "primary", ids, at, turn, tuple(spans)),
                LayerPlan("Secondary", "secondary", ids[1:] + ids[:1], at, turn, tuple(spans)),
            )
        elif template == "panama":
            if len(ids) != 4:
                raise ValueError(
                    f"the 2-2-3 (Panama) rota needs exactly 4 people, one per crew; got {len(ids)}"
                )
            day = tuple(ids[0] if on else ids[1] for on in PANAMA_PATTERN)
            night = tuple(ids[2] if on else ids[3] for on in PANAMA_PATTERN)
            layers = _day_and_night(day, night, start, handoff_minutes, zone, DAY)
        else:  # four_on_four_off
            if len(ids) == 2:
                layers = (LayerPlan("4 on 4 off", "primary", ids, at, 4 * DAY),)
            elif len(ids) == 4:
                layers = _day_and_night(ids[:2], ids[2:], start, handoff_minutes, zone, 4 * DAY)
            else:
                raise ValueError(
                    "the 4-on-4-off rota needs 2 people (24-hour cover) or 4 (day and night "
                    f"crews); got {len(ids)}"
                )
        plan = SchedulePlan(name, timezone, _description(template, timezone, handoff), layers)
    _check_coverage(plan.layers, allow_gaps)
    return SchedulePlan(
        plan.name,
        plan.timezone,
        description if description is not None else plan.description,
        plan.layers,
        team_id,
        plan.notes,
    )


def _description(template: str, timezone: str, handoff: str) -> str:
    what = {
        "weekly": "Weekly rotation",
        "daily": "Daily rotation",
        "primary_secondary": "Primary and secondary, weekly",
        "panama": "2-2-3 (Panama) 12-hour day and night shifts",
        "four_on_four_off": "4 on, 4 off",
    }[template]
    return f"{what}, handoff {handoff} {timezone}."


def _day_and_night(
    day: tuple[int, ...],
    night: tuple[int, ...],
    start: dt.date,
    handoff: int,
    zone: ZoneInfo,
    turn: int,
) -> tuple[LayerPlan, ...]:
    dusk = (handoff + 12 * 60) % (24 * 60)
    every = list(range(7))
    day_hours = ({"days": every, "start": _hhmm(handoff), "end": _hhmm(dusk)},)
    night_hours = ({"days": every, "start": _hhmm(dusk), "end": _hhmm(handoff)},)
    morning = _local_instant(start, handoff, zone)
    evening = _local_instant(start, handoff + 12 * 60, zone)
    return (
        LayerPlan("Day", "primary", day, morning, turn, day_hours),
        LayerPlan("Night", "primary", night, evening, turn, night_hours),
    )


def _circular(a: float, b: float) -> float:
    d = abs(a - b) % 24
    return min(d, 24 - d)


def _follow_the_sun(
    name: str,
    people: Sequence[PersonInfo],
    start: dt.date,
    regions: int,
    region_names: Sequence[str] | None,
    team_id: int | None,
) -> SchedulePlan:
    if regions not in (2, 3):
        raise ValueError(f"follow-the-sun needs 2 or 3 regions, not {regions}")
    _check_people(people, regions, "follow-the-sun")
    noon = dt.datetime.combine(start, dt.time(12), dt.UTC)
    offsets: dict[int, float] = {}
    zones: dict[int, str] = {}
    for person in people:
        zones[person.id] = _person_zone(
            person, "follow-the-sun places people in regions by their time zone"
        )
        delta = noon.astimezone(ZoneInfo(zones[person.id])).utcoffset() or dt.timedelta()
        offsets[person.id] = delta.total_seconds() / 3600
    distinct = sorted(set(offsets.values()))
    if len(distinct) < regions:
        found = sorted(set(zones.values()))
        raise ValueError(
            f"follow-the-sun with {regions} regions needs people in {regions} different UTC "
            f"offsets; they are all in {', '.join(found)}"
        )
    # Cut the circle of offsets at its widest gaps: each arc between two cuts is a region.
    gaps = []
    for i, value in enumerate(distinct):
        following = distinct[(i + 1) % len(distinct)] + (24 if i == len(distinct) - 1 else 0)
        gaps.append((following - value, i))
    cuts = sorted(i for _, i in sorted(gaps, key=lambda g: (-g[0], g[1]))[:regions])
    arcs: list[list[float]] = []
    for k, cut in enumerate(cuts):
        nxt = cuts[(k + 1) % len(cuts)]
        arc, i = [], (cut + 1) % len(distinct)
        while True:
            arc.append(distinct[i])
            if i == nxt:
                break
            i = (i + 1) % len(distinct)
        arcs.append(arc)
    hours = 24 // regions
    local_start = FTS_LOCAL_START[hours]
    groups = []
    for arc in arcs:
        members = [p for p in people if offsets[p.id] in arc]
        unwrapped = [v + 24 if v < arc[0] else v for v in arc]
        centre = sum(unwrapped) / len(unwrapped)
        groups.append((((local_start - centre) % 24), centre, members))
    groups.sort(key=lambda g: g[0])  # by where their ideal window starts in UTC
    best: tuple[float, float, int] | None = None
    for half_hours in range(48):
        anchor = half_hours / 2
        for rot in range(regions):
            cost = sum(
                _circular(anchor + i * hours, groups[(i + rot) % regions][0]) ** 2
                for i in range(regions)
            )
            if best is None or cost < best[0] - 1e-9:
                best = (cost, anchor, rot)
    assert best is not None
    _, anchor, rot = best
    names = _region_names(groups, zones, region_names, regions)
    layers, notes = [], []
    every = list(range(7))
    for i in range(regions):
        index = (i + rot) % regions
        _, centre, members = groups[index]
        begin = (anchor + i * hours) % 24
        finish = (begin + hours) % 24
        span = {
            "days": every,
            "start": _hhmm(begin * 60),
            "end": "24:00" if finish == 0 else _hhmm(finish * 60),
        }
        first = dt.datetime.combine(start, dt.time(), dt.UTC) + dt.timedelta(hours=begin)
        if begin + hours > 24:
            first -= dt.timedelta(days=1)  # a window past midnight began the evening before
        layers.append(
            LayerPlan(
                names[index],
                "primary",
                tuple(p.id for p in members),
                first,
                DAY,
                (span,),
            )
        )
        local_from, local_to = (begin + centre) % 24, (begin + centre + hours) % 24
        line = (
            f"{names[index]}: {span['start']}-{span['end']} UTC, about "
            f"{_hhmm(local_from * 60)}-{_hhmm(local_to * 60)} local"
        )
        late = [
            p.name
            for p in members
            if not DAYTIME[0] <= (begin + offsets[p.id]) % 24 <= DAYTIME[1] - hours
        ]
        if late:
            line += f" (outside 06:00-22:00 local for {', '.join(late)})"
        notes.append(line)
    description = (
        f"Follow-the-sun over {regions} regions, one person per region per day. "
        + "; ".join(notes)
        + "."
    )
    return SchedulePlan(name, "UTC", description, tuple(layers), team_id, tuple(notes))


def _region_names(
    groups: Sequence[tuple[float, float, list[PersonInfo]]],
    zones: Mapping[int, str],
    given: Sequence[str] | None,
    regions: int,
) -> list[str]:
    if given is not None:
        names = [str(n).strip() for n in given]
        if len(names) != regions or not all(names) or len(set(names)) != regions:
            raise ValueError(f"give {regions} different region names, one per region")
        return names
    names = []
    for _, _, members in groups:
        counts: dict[str, int] = {}
        for p in members:
            counts[zones[p.id]] = counts.get(zones[p.id], 0) + 1
        main = max(sorted(counts), key=lambda z: counts[z])
        names.append(_CONTINENTS.get(main.split("/")[0], main.split("/")[-1]))
    if len(set(names)) != len(names):
        names = []
        for _, _, members in groups:
            main = zones[members[0].id]
            names.append(main.split("/")[-1].replace("_", " "))
    if len(set(names)) != len(names):
        names = [f"Region {i + 1}" for i in range(len(groups))]
    return names


# Writing


def person_infos(session: Session, ids: Sequence[int]) -> list[PersonInfo]:
    """The people of ``ids``, in that order, with their resolved time zone.

    A person's zone is their own; where it is empty or the default ``UTC`` it is their
    country's; with neither it is unknown (None).
    """
    found = {
        p.id: p
        for p in session.scalars(
            select(Person).where(Person.id.in_(list(ids))).options(selectinload(Person.country))
        )
    }
    infos = []
    for person_id in ids:
        person = found.get(person_id)
        if person is None:
            raise ValueError(f"there is no person with id {person_id}")
        zone = person.timezone if person.timezone and person.timezone != "UTC" else None
        if zone is None and person.country is not None:
            zone = person.country.timezone
        infos.append(PersonInfo(person.id, person.name, zone, bool(person.active)))
    return infos


def write_plan(session: Session, plan: SchedulePlan) -> OnCallSchedule:
    """Add the planned schedule, its layers and members in the session's transaction."""
    taken = session.scalar(select(OnCallSchedule.id).where(OnCallSchedule.name == plan.name))
    if taken is not None:
        raise ValueError(f"a schedule named {plan.name!r} already exists")
    schedule = plan.to_schedule()
    session.add(schedule)
    session.flush()
    return schedule


def create_schedule(
    session: Session,
    template: str,
    name: str,
    people: Sequence[int],
    start: dt.date,
    **options: Any,
) -> OnCallSchedule:
    """Create a schedule from a template (options as :func:`plan_schedule`) for the people
    of ``people`` (ids, in rotation order).

    Everything is checked before anything is added; the rows are flushed in the session's
    transaction, which the caller commits (nothing is written if it rolls back).
    """
    infos = person_infos(session, people)
    plan = plan_schedule(template, name, infos, start, **options)
    return write_plan(session, plan)


def coverage_gaps(
    session: Session, schedule_id: int, start: dt.datetime, end: dt.datetime
) -> list[Gap]:
    """The intervals of [start, end) where a role with required layers has nobody on call
    (overrides counted), each with the reason: why each of its layers has nobody."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period's start and end must carry a time zone")
    if end <= start:
        raise ValueError("the period must end after it starts")
    return OnCallIndex.load(session, schedule_id).gaps(start, end)


__all__ = [
    "TEMPLATES",
    "Gap",
    "LayerPlan",
    "PersonInfo",
    "SchedulePlan",
    "check_restrictions",
    "coverage_gaps",
    "create_schedule",
    "describe_week_span",
    "person_infos",
    "plan_schedule",
    "uncovered",
    "write_plan",
]
