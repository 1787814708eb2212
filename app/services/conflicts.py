"""Conflicts of changes' planned windows, as the CAB must see them.

The conflicts of DOMAIN.md: another change on the same CI, or on a parent or child CI
(one level of CIRelation each way), overlapping in time; the CI, its service or
everything inside a blackout window (recurring ones expanded over the span); the
change outside the maintenance windows of its CI or its service (when the CI or the
service has any, the change must lie fully inside one occurrence; a global maintenance
window alone imposes nothing, else every change outside Sunday night would be flagged);
the assignee busy in another change; and nobody on call for the support group of an
affected service (only teams that have an on-call schedule are checked).

Only active changes are another party: New, Assess, Authorize, Scheduled and
Implement. Review, Closed and Canceled changes are done with the CI and the person, so
they have no CI or assignee conflicts of their own either (they are still checked
against windows and the on-call cover when asked about).

A CI or service "has" a maintenance window when one of its maintenance windows is in
effect for the change: a one-off window always is, a recurring one from its first
occurrence until its rule ends. Which other changes are checked alongside never changes
a change's conflicts.

Spans are half-open: a change ending at 22:00 does not overlap one starting at 22:00.
Times in sentences are UTC, the zone they are stored in.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import OnCallSchedule, ScheduleLayer, ScheduleOverride
from app.models.change import ChangeRequest, ChangeWindow, change_ci, change_service
from app.models.cmdb import CIRelation, ConfigurationItem, Service
from app.models.org import Person, Team
from app.services.oncall import RosterCover, _minutes, published_shifts, who_is_on_call

ACTIVE_CHANGE_STATES: tuple[str, ...] = ("New", "Assess", "Authorize", "Scheduled", "Implement")
_DAY_NAMES = {
    "MO": "Mondays",
    "TU": "Tuesdays",
    "WE": "Wednesdays",
    "TH": "Thursdays",
    "FR": "Fridays",
    "SA": "Saturdays",
    "SU": "Sundays",
}


class ConflictType(StrEnum):
    """The kinds of conflict a change's planned window can have."""

    SAME_CI = "same_ci"
    RELATED_CI = "related_ci"
    BLACKOUT = "blackout"
    OUTSIDE_MAINTENANCE = "outside_maintenance"
    ASSIGNEE_BUSY = "assignee_busy"
    NOBODY_ON_CALL = "nobody_on_call"


@dataclass(frozen=True)
class Conflict:
    """One conflict of a change with another party, over a span, told as a sentence."""

    type: ConflictType
    change_id: int
    other_kind: str  # change, window, person or schedule
    other_id: int | None
    other_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    sentence: str
    ci_id: int | None = None


@dataclass
class _Change:
    id: int
    number: str
    start: dt.datetime
    end: dt.datetime
    assignee_id: int | None
    service_id: int | None
    cis: set[int] = field(default_factory=set)
    services: set[int] = field(default_factory=set)


def overlapping_pairs(spans: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, of half-open spans that overlap (empty spans never do).

    Sort by start, then sweep keeping the spans still open: O(n log n + pairs).
    """
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    active: list[int] = []
    pairs: list[tuple[int, int]] = []
    for i in order:
        start, end = spans[i]
        if end <= start:
            continue  # an empty span overlaps nothing
        active = [j for j in active if spans[j][1] > start]
        for j in active:
            pairs.append((min(i, j), max(i, j)))
        active.append(i)
    return pairs


def _hhmm(at: dt.datetime) -> str:
    return at.strftime("%H:%M")


def _span_text(start: dt.datetime, end: dt.datetime) -> str:
    if (
        start.date() == end.date()
        or end - start <= dt.timedelta(hours=24)
        and end.time() == dt.time()
    ):
        return f"from {_hhmm(start)} to {_hhmm(end)} on {start.date().isoformat()}"
    return f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


def _day_span(start: dt.datetime, end: dt.datetime) -> str:
    last = end - dt.timedelta(microseconds=1) if end.time() == dt.time() else end
    first = f"{start.day} {start:%b}"
    if start.date() == last.date():
        return f"{first} {_hhmm(start)}-{_hhmm(end)}"
    return f"{first} - {end.day} {end:%b}"


def _in_effect(row: ChangeWindow, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether a maintenance window's rule covers a change in [start, end)."""
    if not row.recurrence:
        return True
    if row.starts_at >= end:
        return False
    return (
        row.recurrence_until is None or row.recurrence_until + (row.ends_at - row.starts_at) > start
    )


class _Window:
    """A change window with its occurrences over a span, sorted by start."""

    def __init__(self, row: ChangeWindow, lo: dt.datetime, hi: dt.datetime) -> None:
        self.row = row
        self.length = row.ends_at - row.starts_at
        if row.recurrence:
            rule = rrulestr(row.recurrence, dtstart=row.starts_at)
            starts = rule.between(lo - self.length, hi, inc=True)
            if row.recurrence_until is not None:
                starts = [s for s in starts if s <= row.recurrence_until]
        else:
            starts = [row.starts_at]
        self.spans = [(s, s + self.length) for s in starts if s < hi and s + self.length > lo]
        self._starts = [s for s, _ in self.spans]

    def overlapping(
        self, start: dt.datetime, end: dt.datetime
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """Occurrences overlapping [start, end)."""
        i = bisect.bisect_left(self._starts, end)
        return [(s, e) for s, e in self.spans[:i] if e > start]

    def contains(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether one occurrence holds the whole of [start, end)."""
        i = bisect.bisect_right(self._starts, start)
        return i > 0 and self.spans[i - 1][1] >= end

    def describe(self) -> str:
        """'Sundays 02:00-06:00', 'daily 02:00-04:00' or '26 Nov 02:00-06:00'."""
        row = self.row
        hours = f"{_hhmm(row.starts_at)}-{_hhmm(row.ends_at)}"
        if row.recurrence:
            parts = dict(p.split("=", 1) for p in row.recurrence.upper().split(";") if "=" in p)
            days = [_DAY_NAMES.get(d[-2:], d) for d in parts.get("BYDAY", "").split(",") if d]
            if parts.get("FREQ") == "WEEKLY" and not days:
                days = [_DAY_NAMES[list(_DAY_NAMES)[row.starts_at.weekday()]]]
            if days:
                return f"{' and '.join(days)} {hours}"
            return f"{parts.get('FREQ', '').lower()} {hours}"
        return _day_span(row.starts_at, row.ends_at)


def find_conflicts(
    session: Session,
    change_ids: Iterable[int] | None = None,
    *,
    window: tuple[dt.datetime, dt.datetime] | None = None,
) -> dict[int, list[Conflict]]:
    """Every conflict of the given changes (or of active changes planned in ``window``).

    Cost: O(n log n + k) for n changes (subjects and the active changes overlapping
    them, read by range on the planned-window index) and k overlapping pairs, by a sort
    and sweep per CI, CI relation and assignee; windows and rosters are per change.
    """
    query = select(*_COLUMNS).where(
        ChangeRequest.planned_start.is_not(None), ChangeRequest.planned_end.is_not(None)
    )
    if change_ids is not None:
        ids = list(change_ids)
        query = query.where(ChangeRequest.id.in_(ids))
    else:
        query = query.where(ChangeRequest.state.in_(ACTIVE_CHANGE_STATES))
    if window is not None:
        query = query.where(
            ChangeRequest.planned_start < window[1], ChangeRequest.planned_end > window[0]
        )
    subjects = [_Change(*row) for row in session.execute(query)]
    return _Engine(session, subjects).run()


def conflicts_for(
    session: Session,
    change_id: int,
    planned_start: dt.datetime | None = None,
    planned_end: dt.datetime | None = None,
) -> list[Conflict]:
    """The conflicts of one change, optionally as if moved to a new planned window."""
    change = session.get(ChangeRequest, change_id)
    if change is None:
        raise LookupError(f"No change with id {change_id}")
    record = _Change(*(getattr(change, c.key) for c in _COLUMNS))
    record.start = planned_start or record.start
    record.end = planned_end or record.end
    if record.start is None or record.end is None:
        return []
    if record.end <= record.start:
        raise ValueError("The planned end must be after the planned start.")
    return _Engine(session, [record]).run().get(change_id, [])


_COLUMNS = (
    ChangeRequest.id,
    ChangeRequest.number,
    ChangeRequest.planned_start,
    ChangeRequest.planned_end,
    ChangeRequest.assignee_id,
    ChangeRequest.service_id,
)


class _Engine:
    """One conflict run over a set of subject changes."""

    def __init__(self, session: Session, subjects: list[_Change]) -> None:
        self.session = session
        self.subjects = {c.id: c for c in subjects}
        self.result: dict[int, list[Conflict]] = {c.id: [] for c in subjects}

    def run(self) -> dict[int, list[Conflict]]:
        """Load what the subjects touch and collect every conflict."""
        if not self.subjects:
            return {}
        self.lo = min(c.start for c in self.subjects.values())
        self.hi = max(c.end for c in self.subjects.values())
        self._load_changes()
        self._load_cmdb()
        self.scopes = {c.id: self._scope(c) for c in self.subjects.values()}
        self._pairs()
        self._windows()
        self._on_call()
        for conflicts in self.result.values():
            conflicts.sort(key=lambda c: (c.starts_at, c.type, c.other_id or 0))
        return self.result

    def _load_changes(self) -> None:
        s = self.session
        overlap = (
            ChangeRequest.planned_start < self.hi,
            ChangeRequest.planned_end > self.lo,
            ChangeRequest.state.in_(ACTIVE_CHANGE_STATES),
        )
        self.changes: dict[int, _Change] = dict(self.subjects)
        # Subjects that are done (Review, Closed, Canceled) are checked, but are nobody's
        # other party: they no longer hold their CIs or their assignee.
        self.done: set[int] = {
            i
            for i, state in s.execute(
                select(ChangeRequest.id, ChangeRequest.state).where(
                    ChangeRequest.id.in_(list(self.subjects))
                )
            )
            if state not in ACTIVE_CHANGE_STATES
        }
        seen: set[int] = set()
        for row in s.execute(select(*_COLUMNS).where(*overlap)):
            seen.add(row.id)
            if row.id not in self.changes:
                self.changes[row.id] = _Change(*row)
        # Subjects outside that range query (inactive, or dragged away) need their own links.
        extra_ids = [i for i in self.subjects if i not in seen]
        for link, column, attr in (
            (change_ci, change_ci.c.ci_id, "cis"),
            (change_service, change_service.c.service_id, "services"),
        ):
            rows = s.execute(
                select(link.c.change_id, column)
                .join(ChangeRequest, ChangeRequest.id == link.c.change_id)
                .where(*overlap)
            ).all()
            if extra_ids:
                rows += s.execute(
                    select(link.c.change_id, column).where(link.c.change_id.in_(extra_ids))
                ).all()
            for change_id, other in rows:
                if change_id in self.changes:
                    getattr(self.changes[change_id], attr).add(other)

    def _load_cmdb(self) -> None:
        s = self.session
        ci_ids = set().union(*(c.cis for c in self.changes.values()))
        subject_cis = set().union(*(c.cis for c in self.subjects.values()))
        self.relations: list[tuple[int, int]] = [
            (p, c)
            for p, c in s.execute(
                select(CIRelation.parent_id, CIRelation.child_id).where(
                    CIRelation.parent_id.in_(subject_cis) | CIRelation.child_id.in_(subject_cis)
                )
            )
            if p in ci_ids and c in ci_ids
        ]
        self.ci_name: dict[int, str] = {}
        self.ci_service: dict[int, int | None] = {}
        for ci_id, name, service_id in s.execute(
            select(
                ConfigurationItem.id, ConfigurationItem.name, ConfigurationItem.service_id
            ).where(ConfigurationItem.id.in_(ci_ids))
        ):
            self.ci_name[ci_id] = name
            self.ci_service[ci_id] = service_id

    def _add(self, conflict: Conflict) -> None:
        self.result[conflict.change_id].append(conflict)

    def _change_pair(
        self, kind: ConflictType, a: _Change, b: _Change, ci: int | None, other_ci: int | None
    ) -> None:
        start, end = max(a.start, b.start), min(a.end, b.end)
        for me, other, mine, theirs in ((a, b, ci, other_ci), (b, a, other_ci, ci)):
            if me.id not in self.subjects:
                continue
            when = _span_text(start, end)
            if kind is ConflictType.SAME_CI:
                text = f"{other.number} also changes {self.ci_name[mine]} {when}."  # type: ignore[index]
            elif kind is ConflictType.RELATED_CI:
                rel = "parent" if (theirs, mine) in self._relation_set else "child"
                text = (
                    f"{other.number} changes {self.ci_name[theirs]}, the {rel} of "  # type: ignore[index]
                    f"{self.ci_name[mine]}, {when}."  # type: ignore[index]
                )
            else:
                text = (
                    f"{self._person(me.assignee_id)} is already implementing {other.number} {when}."
                )
            self._add(
                Conflict(kind, me.id, "change", other.id, other.number, start, end, text, mine)
            )

    def _pairs(self) -> None:
        by_ci: dict[int, list[_Change]] = defaultdict(list)
        by_person: dict[int, list[_Change]] = defaultdict(list)
        for change in self.changes.values():
            if change.id in self.done:
                continue
            for ci in change.cis:
                by_ci[ci].append(change)
            if change.assignee_id is not None:
                by_person[change.assignee_id].append(change)
        for ci, group in by_ci.items():
            for i, j in overlapping_pairs([(c.start, c.end) for c in group]):
                self._change_pair(ConflictType.SAME_CI, group[i], group[j], ci, ci)
        self._relation_set = set(self.relations)
        for parent, child in self.relations:
            tagged = [(c, parent) for c in by_ci[parent]] + [(c, child) for c in by_ci[child]]
            for i, j in overlapping_pairs([(c.start, c.end) for c, _ in tagged]):
                (a, ca), (b, cb) = tagged[i], tagged[j]
                if ca != cb and a.id != b.id:
                    self._change_pair(ConflictType.RELATED_CI, a, b, ca, cb)
        self._people: dict[int, str] = {}
        busy = [p for p, group in by_person.items() if len(group) > 1]
        if busy:
            self._people = dict(
                self.session.execute(
                    select(Person.id, Person.name).where(Person.id.in_(busy))
                ).all()
            )
        for group in by_person.values():
            for i, j in overlapping_pairs([(c.start, c.end) for c in group]):
                self._change_pair(ConflictType.ASSIGNEE_BUSY, group[i], group[j], None, None)

    def _person(self, person_id: int | None) -> str:
        return self._people.get(person_id, f"Person {person_id}")  # type: ignore[arg-type]

    def _scope(self, change: _Change) -> tuple[set[int], set[int]]:
        services = set(change.services)
        if change.service_id is not None:
            services.add(change.service_id)
        services |= {s for ci in change.cis if (s := self.ci_service.get(ci)) is not None}
        return set(change.cis), services

    def _windows(self) -> None:
        # Whether a CI or service has a maintenance window at all must not depend on which
        # other changes are checked alongside: its maintenance windows are read whatever
        # their dates (few rows); blackouts only where they can touch the subjects.
        cis = set().union(*(scope[0] for scope in self.scopes.values()))
        svcs = set().union(*(scope[1] for scope in self.scopes.values()))
        svcs |= {sv for ci in cis if (sv := self.ci_service.get(ci)) is not None}
        maintenance = self.session.scalars(
            select(ChangeWindow).where(
                ChangeWindow.kind == "maintenance",
                ChangeWindow.ci_id.in_(cis)
                | ChangeWindow.service_id.in_(svcs)
                | (ChangeWindow.ci_id.is_(None) & ChangeWindow.service_id.is_(None)),
            )
        ).all()
        rows = self.session.scalars(
            select(ChangeWindow).where(
                ChangeWindow.kind != "maintenance",
                ChangeWindow.starts_at < self.hi,
                (ChangeWindow.ends_at > self.lo)
                | (
                    ChangeWindow.recurrence.is_not(None)
                    & (
                        ChangeWindow.recurrence_until.is_(None)
                        | (ChangeWindow.recurrence_until >= self.lo - dt.timedelta(days=31))
                    )
                ),
            )
        ).all()
        windows = [_Window(row, self.lo, self.hi) for row in (*rows, *maintenance)]
        services = {w.row.service_id for w in windows if w.row.service_id is not None}
        self.service_name: dict[int, str] = dict(
            self.session.execute(
                select(Service.id, Service.name).where(Service.id.in_(services))
            ).all()
        )
        for change in self.subjects.values():
            cis, svcs = self.scopes[change.id]
            for w in windows:
                if w.row.kind == "blackout":
                    self._blackout(change, w, cis, svcs)
            self._maintenance(change, [w for w in windows if w.row.kind == "maintenance"])

    def _blackout(self, change: _Change, w: _Window, cis: set[int], svcs: set[int]) -> None:
        row = w.row
        if row.ci_id is not None:
            if row.ci_id not in cis:
                return
            what, ci = self.ci_name.get(row.ci_id, f"CI {row.ci_id}"), row.ci_id
        elif row.service_id is not None:
            if row.service_id not in svcs:
                return
            what, ci = self.service_name.get(row.service_id, f"Service {row.service_id}"), None
        else:
            ci = min(cis) if cis else None
            what = self.ci_name.get(ci, change.number) if ci is not None else change.number
        for start, end in w.overlapping(change.start, change.end):
            text = f"{what} is inside the blackout window '{row.name}' ({_day_span(start, end)})."
            span = (max(start, change.start), min(end, change.end))
            self._add(
                Conflict(
                    ConflictType.BLACKOUT, change.id, "window", row.id, row.name, *span, text, ci
                )
            )

    def _maintenance(self, change: _Change, windows: list[_Window]) -> None:
        targets = [(ci, self.ci_service.get(ci)) for ci in sorted(change.cis)] or [
            (None, s) for s in sorted(self.scopes[change.id][1])
        ]
        # A recurring window applies from its first occurrence until its rule ends; a
        # one-off window is always one of the CI's agreed slots.
        windows = [w for w in windows if _in_effect(w.row, change.start, change.end)]
        for ci, service in targets:
            scoped = [
                w
                for w in windows
                if (ci is not None and w.row.ci_id == ci)
                or (
                    w.row.service_id is not None
                    and w.row.service_id == service
                    and w.row.ci_id is None
                )
            ]
            if not scoped:
                continue
            allowed = scoped + [
                w for w in windows if w.row.ci_id is None and w.row.service_id is None
            ]
            if any(w.contains(change.start, change.end) for w in allowed):
                continue
            name = (
                self.ci_name.get(ci, f"CI {ci}")
                if ci is not None
                else self.service_name.get(service, f"Service {service}")  # type: ignore[arg-type]
            )
            first = scoped[0]
            described = " or ".join(dict.fromkeys(w.describe() for w in scoped))
            text = f"Planned outside {name}'s maintenance window ({described})."
            self._add(
                Conflict(
                    ConflictType.OUTSIDE_MAINTENANCE,
                    change.id,
                    "window",
                    first.row.id,
                    first.row.name,
                    change.start,
                    change.end,
                    text,
                    ci,
                )
            )

    def _on_call(self) -> None:
        s = self.session
        scopes = {cid: scope[1] for cid, scope in self.scopes.items()}
        all_services = set().union(*scopes.values()) if scopes else set()
        if not all_services:
            return
        services = {
            sid: (name, group)
            for sid, name, group in s.execute(
                select(Service.id, Service.name, Service.support_group_id).where(
                    Service.id.in_(all_services)
                )
            )
        }
        teams = {g for _, g in services.values() if g is not None}
        schedules: dict[int, list[OnCallSchedule]] = defaultdict(list)
        for sched in s.scalars(
            select(OnCallSchedule)
            .where(OnCallSchedule.team_id.in_(teams))
            .options(selectinload(OnCallSchedule.layers).selectinload(ScheduleLayer.members))
        ):
            schedules[sched.team_id].append(sched)  # type: ignore[index]
        if not schedules:
            return
        team_name = dict(s.execute(select(Team.id, Team.name).where(Team.id.in_(schedules))).all())
        overrides: dict[int, list[ScheduleOverride]] = defaultdict(list)
        for o in s.scalars(
            select(ScheduleOverride).where(
                ScheduleOverride.schedule_id.in_([x.id for v in schedules.values() for x in v]),
                ScheduleOverride.starts_at < self.hi,
                ScheduleOverride.ends_at > self.lo,
            )
        ):
            overrides[o.schedule_id].append(o)
        roster = published_shifts(
            s, [x.id for v in schedules.values() for x in v], self.lo, self.hi
        )
        # Each team's gaps over the whole range once; each change then clips them.
        gaps = {
            t: coverage_gaps(v, overrides, self.lo, self.hi, roster) for t, v in schedules.items()
        }
        gap_starts = {t: [g[0] for g in v] for t, v in gaps.items()}
        for change in self.subjects.values():
            for sid in sorted(scopes[change.id]):
                name, team = services.get(sid, (None, None))
                if team is None or team not in schedules:
                    continue
                i = max(0, bisect.bisect_right(gap_starts[team], change.start) - 1)
                for gap_start, gap_end in gaps[team][i:]:
                    if gap_start >= change.end:
                        break
                    if gap_end <= change.start:
                        continue
                    start, end = max(gap_start, change.start), min(gap_end, change.end)
                    sched = schedules[team][0]
                    text = (
                        f"Nobody is on call for {team_name.get(team, sched.name)} (the support group"
                        f" of {name}) between {_hhmm(start)} and {_hhmm(end)}"
                        + ("" if start.date() == change.start.date() else f" on {start.date()}")
                        + "."
                    )
                    self._add(
                        Conflict(
                            ConflictType.NOBODY_ON_CALL,
                            change.id,
                            "schedule",
                            sched.id,
                            sched.name,
                            start,
                            end,
                            text,
                        )
                    )


def coverage_boundaries(
    schedule: OnCallSchedule,
    overrides: Sequence[ScheduleOverride],
    start: dt.datetime,
    end: dt.datetime,
    roster: Sequence[RosterCover] = (),
) -> set[dt.datetime]:
    """Instants in [start, end) where whether anyone is on call can change.

    A handoff changes who is on call, never whether someone is (a layer with members is
    never empty), so only the span's start, layers' start and end, restriction edges
    (each day, in the schedule's zone) and override edges are boundaries; coverage is
    constant between two of them.
    """
    zone = ZoneInfo(schedule.timezone or "UTC")
    points = {start}
    for layer in schedule.layers:
        points.add(layer.rotation_start)
        if layer.ends_at is not None:
            points.add(layer.ends_at)
        if not layer.restrictions:
            continue
        day = start.astimezone(zone).date() - dt.timedelta(days=1)
        last = end.astimezone(zone).date()
        while day <= last:
            midnight = dt.datetime.combine(day, dt.time())
            for r in layer.restrictions:
                if r.get("days") and day.weekday() not in r["days"]:
                    continue
                a, b = _minutes(r.get("start", "00:00")), _minutes(r.get("end", "24:00"))
                for minutes in (a, b if b > a else b + 24 * 60):
                    local = (midnight + dt.timedelta(minutes=minutes)).replace(tzinfo=zone)
                    points.add(local.astimezone(dt.UTC))
            day += dt.timedelta(days=1)
    for o in (*overrides, *roster):
        points.update((o.starts_at, o.ends_at))
    return {p for p in points if start <= p < end}


def coverage_gaps(
    schedules: Sequence[OnCallSchedule],
    overrides: dict[int, list[ScheduleOverride]],
    start: dt.datetime,
    end: dt.datetime,
    roster: dict[int, list[RosterCover]] | None = None,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Spans of [start, end) where none of ``schedules`` has anyone on call (published
    roster shifts count, see :func:`app.services.oncall.published_shifts`)."""
    roster = roster or {}
    points: set[dt.datetime] = set()
    for sched in schedules:
        points |= coverage_boundaries(
            sched, overrides.get(sched.id, []), start, end, roster.get(sched.id, [])
        )
    ordered = sorted(points)
    gaps: list[tuple[dt.datetime, dt.datetime]] = []
    for i, at in enumerate(ordered):
        covered = any(
            oc.person_id is not None
            for sched in schedules
            for oc in who_is_on_call(
                sched, at, overrides.get(sched.id, []), roster.get(sched.id, [])
            )
        )
        if covered:
            continue
        until = ordered[i + 1] if i + 1 < len(ordered) else end
        if gaps and gaps[-1][1] == at:
            gaps[-1] = (gaps[-1][0], until)
        else:
            gaps.append((at, until))
    return gaps
