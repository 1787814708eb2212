"""The CAB calendar's data: changes in a period with their conflicts, and change windows.

``load_calendar`` reads everything one calendar page shows in a few queries: the changes
whose planned window overlaps the period (through the change list's filter), their
conflicts (one :func:`~app.services.conflicts.find_conflicts` run over the period,
mapped per change) and the blackout and maintenance windows, recurring ones expanded
into their occurrences. ``reschedule_check`` and ``reschedule`` serve a drag on the
calendar: the conflicts at the new time without saving, then the save through the
change workflow (which keeps its locks and optimistic version check).

Instants are UTC, as stored; the view shows them in the user's zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from dateutil.rrule import rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.change import ChangeRequest, ChangeWindow
from app.models.cmdb import ConfigurationItem, Service
from app.services import changes
from app.services.changes import ChangeFilter, WorkflowError
from app.services.conflicts import ACTIVE_CHANGE_STATES, Conflict, conflicts_for, find_conflicts
from app.services.formatting import format_datetime

#: The longest planned window a drag may give a change; longer work is several changes.
MAX_CHANGE_LENGTH = dt.timedelta(days=31)
#: The longest period one calendar load may span (an agenda of a quarter is plenty).
MAX_PERIOD = dt.timedelta(days=400)
#: Above this many filtered changes, conflicts are found for the whole period instead
#: of by id (a long ``IN`` list costs more than the few extra changes).
_IDS_LIMIT = 3000


@dataclass(frozen=True)
class CalendarChange:
    """A change as the calendar shows it: a block from ``start`` to ``end``."""

    id: int
    number: str
    short_description: str
    type: str
    state: str
    risk: str
    start: dt.datetime
    end: dt.datetime
    service: str | None
    group: str | None
    assignee: str | None
    version: int
    conflicts: tuple[Conflict, ...] = ()

    @property
    def has_conflicts(self) -> bool:
        return bool(self.conflicts)


@dataclass(frozen=True)
class WindowOccurrence:
    """One occurrence of a blackout or maintenance window within the period.

    ``service`` and ``ci`` name what it covers; both None means everything.
    """

    window_id: int
    kind: str  # blackout or maintenance
    name: str
    start: dt.datetime
    end: dt.datetime
    service_id: int | None = None
    service: str | None = None
    ci_id: int | None = None
    ci: str | None = None
    reason: str = ""
    recurring: bool = False

    @property
    def scope(self) -> str:
        """What the window covers, as a person reads it: 'everything', 'mail-01 (Email)'."""
        if self.ci is not None:
            return f"{self.ci} ({self.service})" if self.service else self.ci
        if self.service is not None:
            return self.service
        return "everything"


@dataclass(frozen=True)
class CalendarData:
    """Everything one calendar period shows, read at ``now``."""

    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    changes: tuple[CalendarChange, ...] = ()
    windows: tuple[WindowOccurrence, ...] = ()

    def change(self, change_id: int) -> CalendarChange | None:
        return next((c for c in self.changes if c.id == change_id), None)

    @property
    def conflicting(self) -> int:
        """How many of the changes have at least one conflict."""
        return sum(1 for c in self.changes if c.conflicts)


def _utc(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise WorkflowError(f"The {what} must be a date and time.")
    if value.tzinfo is None:
        raise WorkflowError(f"The {what} has no time zone.")
    return value.astimezone(dt.UTC)


def _check_period(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start, end = _utc(start, "calendar start"), _utc(end, "calendar end")
    if end <= start:
        raise WorkflowError("The calendar period must end after it starts.")
    if end - start > MAX_PERIOD:
        raise WorkflowError(
            f"The calendar shows at most {MAX_PERIOD.days} days at once; choose a shorter period."
        )
    return start, end


def check_window(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``start`` and ``end`` in UTC, or a WorkflowError saying why they cannot be a window."""
    start, end = _utc(start, "planned start"), _utc(end, "planned end")
    if end <= start:
        raise WorkflowError(
            f"The planned end ({format_datetime(end)}) must be after the planned start "
            f"({format_datetime(start)})."
        )
    if end - start > MAX_CHANGE_LENGTH:
        days = (end - start).days
        raise WorkflowError(
            f"A planned window of {days} days is too long; a change may last at most "
            f"{MAX_CHANGE_LENGTH.days} days (split longer work into several changes)."
        )
    return start, end


def load_calendar(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    filt: ChangeFilter | None = None,
    now: dt.datetime | None = None,
) -> CalendarData:
    """The changes planned in [start, end) that ``filt`` keeps, their conflicts and windows."""
    start, end = _check_period(start, end)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    rows = changes.list_changes(session, _in_period(filt, start, end), limit=None)
    rows = [r for r in rows if r.planned_start is not None and r.planned_end is not None]
    found = _conflicts(session, rows, start, end)
    calendar_changes = tuple(
        CalendarChange(
            id=r.id,
            number=r.number,
            short_description=r.short_description,
            type=r.type,
            state=r.state,
            risk=r.risk,
            start=r.planned_start,  # type: ignore[arg-type]
            end=r.planned_end,  # type: ignore[arg-type]
            service=r.service,
            group=r.assignment_group,
            assignee=r.assignee,
            version=r.version,
            conflicts=tuple(found.get(r.id, ())),
        )
        for r in rows
    )
    return CalendarData(start, end, now, calendar_changes, window_occurrences(session, start, end))


def _in_period(filt: ChangeFilter | None, start: dt.datetime, end: dt.datetime) -> ChangeFilter:
    filt = filt or ChangeFilter()
    lo = start if filt.planned_from is None else max(start, filt.planned_from)
    hi = end if filt.planned_to is None else min(end, filt.planned_to)
    return dataclasses.replace(filt, planned_from=lo, planned_to=max(lo, hi))


def _conflicts(
    session: Session, rows: list[changes.ChangeRow], start: dt.datetime, end: dt.datetime
) -> dict[int, list[Conflict]]:
    """One conflict run for the shown active changes (done ones conflict with nothing)."""
    active = [r.id for r in rows if r.state in ACTIVE_CHANGE_STATES]
    if not active:
        return {}
    if len(active) > _IDS_LIMIT:
        return find_conflicts(session, window=(start, end))
    return find_conflicts(session, active)


def window_occurrences(
    session: Session, start: dt.datetime, end: dt.datetime
) -> tuple[WindowOccurrence, ...]:
    """Blackout and maintenance windows overlapping [start, end), recurring ones expanded."""
    rows = session.scalars(
        select(ChangeWindow).where(
            ChangeWindow.starts_at < end,
            (ChangeWindow.ends_at > start)
            | (
                ChangeWindow.recurrence.is_not(None)
                & (
                    ChangeWindow.recurrence_until.is_(None)
                    | (ChangeWindow.recurrence_until >= start - MAX_CHANGE_LENGTH)
                )
            ),
        )
    ).all()
    service_ids = {r.service_id for r in rows if r.service_id is not None}
    ci_ids = {r.ci_id for r in rows if r.ci_id is not None}
    cis = {
        ci_id: (name, service_id)
        for ci_id, name, service_id in session.execute(
            select(
                ConfigurationItem.id, ConfigurationItem.name, ConfigurationItem.service_id
            ).where(ConfigurationItem.id.in_(ci_ids))
        )
    }
    service_ids |= {sid for _, sid in cis.values() if sid is not None}
    services = dict(
        session.execute(select(Service.id, Service.name).where(Service.id.in_(service_ids))).all()
    )
    found: list[WindowOccurrence] = []
    for row in rows:
        ci_name, ci_service = cis.get(row.ci_id, (None, None)) if row.ci_id else (None, None)
        service_id = row.service_id if row.service_id is not None else ci_service
        for occ_start, occ_end in _spans(row, start, end):
            found.append(
                WindowOccurrence(
                    window_id=row.id,
                    kind=row.kind,
                    name=row.name,
                    start=occ_start,
                    end=occ_end,
                    service_id=service_id,
                    service=services.get(service_id) if service_id is not None else None,
                    ci_id=row.ci_id,
                    ci=ci_name,
                    reason=row.reason or "",
                    recurring=bool(row.recurrence),
                )
            )
    found.sort(key=lambda w: (w.start, w.kind, w.window_id))
    return tuple(found)


def _spans(
    row: ChangeWindow, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The occurrences of one window overlapping [start, end), as the conflict check sees them."""
    length = row.ends_at - row.starts_at
    if length <= dt.timedelta(0):
        return []
    if row.recurrence:
        try:
            rule = rrulestr(row.recurrence, dtstart=row.starts_at)
        except (ValueError, TypeError):
            starts = [row.starts_at]  # an unreadable rule: show the first occurrence only
        else:
            starts = rule.between(start - length, end, inc=True)
        if row.recurrence_until is not None:
            starts = [s for s in starts if s <= row.recurrence_until]
    else:
        starts = [row.starts_at]
    return [(s, s + length) for s in starts if s < end and s + length > start]


def reschedule_check(
    session: Session, change_id: int, new_start: dt.datetime, new_end: dt.datetime
) -> list[Conflict]:
    """The conflicts the change would have if planned for [new_start, new_end); nothing saved."""
    new_start, new_end = check_window(new_start, new_end)
    if session.get(ChangeRequest, change_id) is None:
        raise WorkflowError("That change no longer exists (it may have been deleted).")
    return conflicts_for(session, change_id, new_start, new_end)


def reschedule(
    session: Session,
    change_id: int,
    new_start: dt.datetime,
    new_end: dt.datetime,
    expected_version: int | None,
    author: int | None = None,
) -> ChangeRequest:
    """Move the change's planned window, through the workflow's checks and version lock."""
    new_start, new_end = check_window(new_start, new_end)
    return changes.update_change(
        session,
        change_id,
        expected_version,
        author,
        planned_start=new_start,
        planned_end=new_end,
    )


__all__ = [
    "MAX_CHANGE_LENGTH",
    "CalendarChange",
    "CalendarData",
    "WindowOccurrence",
    "check_window",
    "load_calendar",
    "reschedule",
    "reschedule_check",
    "window_occurrences",
]
