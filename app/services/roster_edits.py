"""What the Roster page shows, and overrides and swaps checked against the rules before saving.

:func:`load_view` gathers one period of a schedule: the shifts (the solver's roster where one
exists, else the layers, overrides on top: :func:`app.services.roster_export.load_period`),
the coverage gaps, each person's public holidays, the fairness table against the team mean
and who is on call now.

An override ("Dana covers the primary from 18:00 to 08:00") and a swap ("give this shift to
Eli") are both stored as a :class:`~app.models.ScheduleOverride`, which wins over every layer
and roster shift. Before anything is written, :func:`check_edit` runs the working-time rules
(:func:`app.services.roster_rules.check_change`) on the shifts around the change and returns
each new breach as a sentence ("Dana would have 8 h rest ..."). :func:`save_edit` checks again
in the saving transaction and refuses a change that breaks a rule unless an exception with a
reason is given; the exception is written into the override's reason and as its own row of the
audit log, beside the audit rows of the insert.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.models import (
    Leave,
    OnCallSchedule,
    Person,
    Roster,
    RosterPreference,
    ScheduleLayer,
    ScheduleOverride,
)
from app.models.audit import AuditEntry
from app.models.base import utcnow
from app.services.oncall import PRIMARY, Gap, OnCallIndex

if TYPE_CHECKING:  # the rules and exports load on first use (``holidays`` is slow to import)
    from app.services import roster_export
    from app.services.roster_rules import RosterPerson, RosterRules

DAY = dt.timedelta(days=1)
#: Shifts this far either side of a change are read to check the rules around it.
CHECK_MARGIN = dt.timedelta(days=14)


class RuleBreach(ValueError):
    """The change breaks a working-time rule and no exception was given."""

    def __init__(self, violations: Sequence[str]) -> None:
        self.violations = list(violations)
        super().__init__(
            "Nothing was saved: the change breaks a rule. " + " ".join(self.violations)
        )


@dataclass(frozen=True)
class ScheduleChoice:
    id: int
    name: str
    timezone: str
    team_id: int | None


@dataclass(frozen=True)
class FairnessLine:
    """One person's share of the period against the team's mean."""

    person_id: int
    name: str
    hours: float
    nights: int
    weekends: int
    holidays: int
    hours_vs_mean: float
    nights_vs_mean: float
    weekends_vs_mean: float
    holidays_vs_mean: float


@dataclass(frozen=True)
class NowOnCall:
    role: str
    person_id: int | None
    name: str
    layer_name: str | None
    override: bool
    until: dt.datetime | None


@dataclass(frozen=True)
class RosterView:
    period: roster_export.RosterPeriod
    gaps: tuple[Gap, ...]
    holidays: dict[int, dict[dt.date, str]]
    fairness: tuple[FairnessLine, ...]
    now: tuple[NowOnCall, ...]
    overrides: tuple[ScheduleOverride, ...]
    people_choices: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class RosterEdit:
    """An override or swap: ``person_id`` covers ``layer_id`` over ``[start, end)``.

    For a swap, ``from_person_id`` is who has the shift now.
    """

    kind: str  # "override" or "swap"
    schedule_id: int
    layer_id: int | None
    person_id: int
    start: dt.datetime
    end: dt.datetime
    from_person_id: int | None = None
    note: str = ""


@dataclass(frozen=True)
class EditCheck:
    violations: tuple[str, ...]
    summary: str

    @property
    def ok(self) -> bool:
        return not self.violations


# Reading


def list_schedules(session: Session) -> list[ScheduleChoice]:
    rows = session.execute(
        select(
            OnCallSchedule.id, OnCallSchedule.name, OnCallSchedule.timezone, OnCallSchedule.team_id
        ).order_by(OnCallSchedule.name)
    ).all()
    return [ScheduleChoice(i, n, z or "UTC", t) for i, n, z, t in rows]


def fairness_lines(rows: Sequence[roster_export.Fairness]) -> list[FairnessLine]:
    """The export's fairness rows with each figure's difference to the team mean."""
    n = max(1, len(rows))
    means = [
        sum(r.hours for r in rows) / n,
        sum(r.nights for r in rows) / n,
        sum(r.weekends for r in rows) / n,
        sum(r.holidays for r in rows) / n,
    ]
    return [
        FairnessLine(
            r.person_id,
            r.name,
            r.hours,
            r.nights,
            r.weekends,
            r.holidays,
            round(r.hours - means[0], 2),
            round(r.nights - means[1], 2),
            round(r.weekends - means[2], 2),
            round(r.holidays - means[3], 2),
        )
        for r in rows
    ]


def gaps_from_shifts(
    shifts: Iterable[tuple[str, dt.datetime, dt.datetime]],
    start: dt.datetime,
    end: dt.datetime,
    roles: Iterable[str],
    reason: str = "no roster shift for {role}",
) -> list[Gap]:
    """The spans of [start, end) where a role of ``roles`` has no shift ((role, start, end))."""
    by_role: dict[str, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for role, a, b in shifts:
        by_role[role].append((a, b))
    gaps = []
    for role in roles:
        at = start
        for a, b in sorted(by_role.get(role, [])):
            if a > at:
                gaps.append(Gap(role, at, min(a, end), reason.format(role=role)))
            at = max(at, b)
            if at >= end:
                break
        if at < end:
            gaps.append(Gap(role, at, end, reason.format(role=role)))
    return [g for g in gaps if g.start < g.end]


def now_on_call(index: OnCallIndex, now: dt.datetime, names: dict[int, str]) -> list[NowOnCall]:
    """Who covers each role now, and until when (the end of their current span)."""
    ahead = {}
    for span in index.spans(now, now + dt.timedelta(days=15)):
        if span.start <= now and span.role not in ahead:
            ahead[span.role] = span.end
    out = []
    for call in index.at(now):
        name = names.get(call.person_id, f"Person {call.person_id}") if call.person_id else ""
        out.append(
            NowOnCall(
                call.role,
                call.person_id,
                name or "Nobody — coverage gap",
                call.layer_name,
                call.override_id is not None,
                ahead.get(call.role) if call.person_id else None,
            )
        )
    return out


def load_view(
    session: Session, schedule_id: int, first_day: dt.date, weeks: int, now: dt.datetime
) -> RosterView:
    """Everything the Roster page shows for ``weeks`` weeks of a schedule from ``first_day``."""
    from app.services import roster_export
    from app.services.roster_rules import country_holidays

    schedule = session.get(OnCallSchedule, schedule_id)
    if schedule is None:
        raise ValueError(f"There is no on-call schedule {schedule_id}.")
    period = roster_export.load_period(session, schedule.name, first_day, weeks)
    index = OnCallIndex.load(session, schedule_id)
    if period.source == "layers":
        gaps = index.gaps(period.start, period.end)
    else:
        required = {layer.role for layer in schedule.layers if layer.required}
        gaps = gaps_from_shifts(
            ((s.role, s.start, s.end) for s in period.shifts), period.start, period.end, required
        )
    first, last = first_day - DAY, first_day + dt.timedelta(days=7 * weeks + 1)
    holidays = {
        p.id: country_holidays(p.country, first, last) if p.country else {} for p in period.people
    }
    names = {p.id: p.name for p in period.people}
    missing = [c.person_id for c in index.at(now) if c.person_id and c.person_id not in names]
    if missing:
        names |= dict(
            session.execute(select(Person.id, Person.name).where(Person.id.in_(missing))).all()
        )
    overrides = session.scalars(
        select(ScheduleOverride)
        .where(
            ScheduleOverride.schedule_id == schedule_id,
            ScheduleOverride.ends_at > period.start,
            ScheduleOverride.starts_at < period.end,
        )
        .order_by(ScheduleOverride.starts_at)
    ).all()
    return RosterView(
        period,
        tuple(gaps),
        holidays,
        tuple(fairness_lines(roster_export.fairness(period))),
        tuple(now_on_call(index, now, names)),
        tuple(overrides),
        tuple(people_choices(session, schedule)),
    )


def people_choices(session: Session, schedule: OnCallSchedule) -> list[tuple[int, str]]:
    """Who may take a shift: the schedule's layer members and its team, by name."""
    ids = {m.person_id for layer in schedule.layers for m in layer.members}
    if schedule.team_id is not None:
        from app.models import Team

        team = session.get(Team, schedule.team_id)
        if team is not None:
            ids |= {p.id for p in team.members}
    rows = session.execute(
        select(Person.id, Person.name)
        .where(Person.id.in_(ids), Person.active.is_(True))
        .order_by(Person.name)
    ).all()
    return [(i, n) for i, n in rows]


# Checking and saving overrides and swaps


def _rules(session: Session, schedule_id: int) -> RosterRules:
    from app.services.roster_rules import RosterRules

    latest = session.scalars(
        select(Roster).where(Roster.schedule_id == schedule_id).order_by(Roster.id.desc())
    ).first()
    if latest is not None and latest.rules:
        try:
            return RosterRules.from_dict(latest.rules)
        except (TypeError, ValueError):
            pass
    return RosterRules()


def _people(session: Session, ids: set[int]) -> list[RosterPerson]:
    from app.services.roster_rules import RosterPerson

    rows = session.scalars(select(Person).where(Person.id.in_(ids))).all()
    return [
        RosterPerson(p.id, p.name, p.country_code, p.timezone or "UTC", frozenset(p.skill_set))
        for p in rows
    ]


def _context(session: Session, edit: RosterEdit):
    from app.services import roster_export
    from app.services.roster_rules import LeaveSpan, Shift, Unavailability

    schedule = session.get(OnCallSchedule, edit.schedule_id)
    if schedule is None:
        raise ValueError(f"There is no on-call schedule {edit.schedule_id}.")
    if edit.end <= edit.start:
        raise ValueError("The change must end after it starts.")
    zone = ZoneInfo(schedule.timezone or "UTC")
    first = (edit.start - CHECK_MARGIN).astimezone(zone).date()
    first -= dt.timedelta(days=first.weekday())
    last = (edit.end + CHECK_MARGIN).astimezone(zone).date()
    weeks = max(1, min(roster_export.MAX_WEEKS, (last - first).days // 7 + 1))
    period = roster_export.load_period(session, schedule.name, first, weeks)
    layer = session.get(ScheduleLayer, edit.layer_id) if edit.layer_id is not None else None
    if edit.layer_id is not None and (layer is None or layer.schedule_id != schedule.id):
        raise ValueError("The layer is not part of this schedule.")
    role = layer.role if layer is not None else PRIMARY
    # Shifts of the same role form one rota for the checker (overrides win over layers).
    shifts = [
        Shift(s.start, s.end, s.person_id, s.role, s.layer_id)
        for s in period.shifts
        if s.start < s.end
    ]
    ids = {s.person_id for s in shifts} | {edit.person_id}
    people = _people(session, ids)
    lo, hi = first - DAY, last + 2 * DAY
    leave = [
        LeaveSpan(r.person_id, r.starts_on, r.ends_on, r.kind)
        for r in session.scalars(
            select(Leave).where(
                Leave.person_id.in_(ids), Leave.starts_on <= hi, Leave.ends_on >= lo
            )
        )
    ]
    unavailable = [
        Unavailability(r.person_id, r.starts_at, r.ends_at, tuple(r.weekdays or ()), r.note)
        for r in session.scalars(
            select(RosterPreference).where(
                RosterPreference.person_id.in_(ids), RosterPreference.kind == "unavailable"
            )
        )
    ]
    return schedule, period, role, shifts, people, leave, unavailable


def _names(people: Sequence[RosterPerson]) -> dict[int, str]:
    return {p.id: p.name for p in people}


def describe_edit(edit: RosterEdit, names: dict[int, str], zone: str) -> str:
    tz = ZoneInfo(zone)
    a, b = edit.start.astimezone(tz), edit.end.astimezone(tz)
    span = (
        f"{a:%a %d %b %H:%M} – {b:%a %d %b %H:%M}"
        if a.date() != b.date()
        else (f"{a:%a %d %b %H:%M} – {b:%H:%M}")
    )
    who = names.get(edit.person_id, f"Person {edit.person_id}")
    if edit.kind == "swap" and edit.from_person_id is not None:
        return f"{names.get(edit.from_person_id, 'Someone')} gives the shift {span} to {who}"
    return f"{who} covers {span}"


def check_edit(session: Session, edit: RosterEdit) -> EditCheck:
    """The working-time rules ``edit`` would break, one sentence each (empty: none)."""
    from app.services.roster_rules import RosterChange, check_change

    schedule, period, role, shifts, people, leave, unavailable = _context(session, edit)
    change = None
    if edit.kind == "swap" and edit.from_person_id is not None:
        for s in shifts:
            if (
                s.person_id == edit.from_person_id
                and s.layer == role
                and s.start == edit.start
                and s.end == edit.end
            ):
                change = RosterChange.swap(s, edit.person_id)
                break
    if change is None:
        change = RosterChange.override(shifts, role, edit.person_id, edit.start, edit.end)
    violations = check_change(
        shifts,
        change,
        people,
        _rules(session, schedule.id),
        leave=leave,
        unavailable=unavailable,
        period=(period.start, period.end),
        zone=schedule.timezone or "UTC",
    )
    # Taking work away from someone never breaks a rule for them: a shift cut in two only
    # looks new to the checker. What the change brings is what the new person takes on.
    messages = []
    for v in violations:
        if v.person_id is not None and v.person_id != edit.person_id:
            continue
        if v.message not in messages:
            messages.append(v.message)
    summary = describe_edit(edit, _names(people), schedule.timezone or "UTC")
    return EditCheck(tuple(messages), summary)


def save_edit(
    session: Session, edit: RosterEdit, exception_reason: str | None = None
) -> ScheduleOverride:
    """Store ``edit`` as an override, in the caller's transaction, after checking it again.

    Raises :class:`RuleBreach` (nothing written) if it breaks a rule and no exception
    reason is given; with one, the exception and the rules it breaks are written into the
    override's reason and the audit log.
    """
    check = check_edit(session, edit)
    reason = (exception_reason or "").strip()
    if check.violations and not reason:
        raise RuleBreach(check.violations)
    text = edit.note.strip() or (
        "Swap: " + check.summary if edit.kind == "swap" else "Override: " + check.summary
    )
    if check.violations:
        text += f" — exception to the rules: {reason} (breaks: {' '.join(check.violations)})"
    override = ScheduleOverride(
        schedule_id=edit.schedule_id,
        layer_id=edit.layer_id,
        person_id=edit.person_id,
        starts_at=edit.start,
        ends_at=edit.end,
        reason=text,
    )
    session.add(override)
    session.flush()
    if check.violations:
        session.execute(
            insert(AuditEntry),
            [
                {
                    "at": utcnow(),
                    "username": session.info.get("username", "system"),
                    "user_id": session.info.get("user_id"),
                    "entity": ScheduleOverride.__tablename__,
                    "entity_id": str(override.id),
                    "action": "insert",
                    "field": "rule_exception",
                    "old_value": None,
                    "new_value": f"{reason} — {' '.join(check.violations)}",
                }
            ],
        )
    return override


def remove_override(session: Session, override_id: int, version: int | None = None) -> None:
    """Delete an override (audited) in the caller's transaction."""
    row = session.get(ScheduleOverride, override_id)
    if row is None:
        raise ValueError("The override no longer exists; someone else removed it.")
    if version is not None and row.version != version:
        raise ValueError("Someone else changed this override; reload to see it.")
    session.delete(row)
    session.flush()


__all__ = [
    "EditCheck",
    "FairnessLine",
    "NowOnCall",
    "RosterEdit",
    "RosterView",
    "RuleBreach",
    "ScheduleChoice",
    "check_edit",
    "describe_edit",
    "fairness_lines",
    "gaps_from_shifts",
    "list_schedules",
    "load_view",
    "now_on_call",
    "people_choices",
    "remove_override",
    "save_edit",
]
