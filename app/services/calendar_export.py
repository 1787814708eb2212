"""The change schedule as an iCalendar (.ics) file for Outlook, Google or Apple calendars.

One VEVENT per change whose planned window overlaps the period, with a UID made from the
change number (so re-importing a newer export updates the same events), SEQUENCE from the
change's version, times in UTC, and a STATUS from its state: CONFIRMED once Scheduled or
being implemented, CANCELLED when canceled, TENTATIVE otherwise. Blackout and maintenance
windows are events too (each occurrence of a recurring window inside the period, with a
UID per occurrence), and so are CAB meetings with their agenda.

The file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import __version__
from app.models.base import utcnow
from app.models.change import (
    CabAgendaItem,
    CabMeeting,
    ChangeRequest,
    ChangeWindow,
    change_ci,
)
from app.models.cmdb import ConfigurationItem, Service
from app.models.enums import ChangeState
from app.models.org import Person, Team
from app.services.io.excel import atomic_output

PRODID = f"-//Servicedeck//Change schedule {__version__}//EN"
#: The domain part of every UID, so our events never collide with another tool's.
UID_DOMAIN = "servicedeck"
CALENDAR_NAME = "Servicedeck change schedule"
#: Plans are cut to this many characters in an event's description.
PLAN_EXCERPT = 500
#: Occurrences of one recurring window at most (a daily window over ten years is 3,650).
MAX_OCCURRENCES = 5000
#: The period exported when none is given: from today (UTC), this many days.
DEFAULT_DAYS = 90

_CONFIRMED = (ChangeState.SCHEDULED, ChangeState.IMPLEMENT)
#: Control characters a calendar line must not carry (tab and newline are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CalendarSummary:
    """What an export wrote."""

    path: Path
    changes: int
    windows: int
    meetings: int

    def line(self) -> str:
        return (
            f"{self.changes} changes, {self.windows} windows and {self.meetings} CAB meetings "
            f"written to {self.path}"
        )


def change_status(state: str) -> str:
    """The iCalendar STATUS of a change in ``state``."""
    if state in _CONFIRMED:
        return "CONFIRMED"
    if state == ChangeState.CANCELED:
        return "CANCELLED"
    return "TENTATIVE"


def change_uid(number: str) -> str:
    """The UID of a change's event: the same for every export of that change."""
    return f"{number}@{UID_DOMAIN}"


def _text(value: str | None) -> str:
    return _CONTROL.sub("", value or "").strip()


def _excerpt(value: str | None, limit: int = PLAN_EXCERPT) -> str:
    text = _text(value)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(microsecond=0)


def parse_day(text: str, *, end: bool = False) -> dt.datetime:
    """``2026-11-23`` (a whole day: its start, or with ``end`` the next midnight) or an
    ISO date and time (UTC unless it has an offset), as an aware UTC instant."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            at = dt.datetime.combine(day, dt.time(), dt.UTC)
            return at + dt.timedelta(days=1) if end else at
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2026-11-23") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return _utc(at)


def period(
    start: str | None, end: str | None, today: dt.date | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The exported period from ``--from``/``--to`` texts; ``--to`` is inclusive of its day.

    Without ``--from`` the period starts today (UTC); without ``--to`` it lasts
    :data:`DEFAULT_DAYS` days.
    """
    today = today or utcnow().date()
    lo = parse_day(start) if start else dt.datetime.combine(today, dt.time(), dt.UTC)
    hi = parse_day(end, end=True) if end else lo + dt.timedelta(days=DEFAULT_DAYS)
    if hi <= lo:
        raise ValueError("--to must be after --from")
    return lo, hi


def parse_states(values: Iterable[str]) -> list[str]:
    """Change states named on the command line (any case, commas allowed), checked."""
    known = {s.value.lower(): s.value for s in ChangeState}
    states: list[str] = []
    for value in values:
        for word in value.split(","):
            word = word.strip()
            if not word:
                continue
            if word.lower() not in known:
                raise ValueError(
                    f"{word!r} is not a change state ({', '.join(s.value for s in ChangeState)})"
                )
            if known[word.lower()] not in states:
                states.append(known[word.lower()])
    return states


# Building the calendar


def _event(uid: str, start: dt.datetime, end: dt.datetime, summary: str, stamp: dt.datetime):
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", _utc(start))
    event.add("dtend", _utc(end))
    event.add("summary", _text(summary))
    return event


def _change_events(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    states: Sequence[str] | None,
    stamp: dt.datetime,
) -> list[Event]:
    query = (
        select(ChangeRequest, Service.name, Team.name, Person.name)
        .outerjoin(Service, Service.id == ChangeRequest.service_id)
        .outerjoin(Team, Team.id == ChangeRequest.assignment_group_id)
        .outerjoin(Person, Person.id == ChangeRequest.assignee_id)
        .where(
            ChangeRequest.planned_start.is_not(None),
            ChangeRequest.planned_end.is_not(None),
            ChangeRequest.planned_start < end,
            ChangeRequest.planned_end > start,
        )
        .order_by(ChangeRequest.planned_start, ChangeRequest.id)
    )
    if states:
        query = query.where(ChangeRequest.state.in_(list(states)))
    rows = session.execute(query).all()
    cis: dict[int, list[str]] = defaultdict(list)
    ids = [change.id for change, *_ in rows]
    for chunk in range(0, len(ids), 500):
        for change_id, name in session.execute(
            select(change_ci.c.change_id, ConfigurationItem.name)
            .join(ConfigurationItem, ConfigurationItem.id == change_ci.c.ci_id)
            .where(change_ci.c.change_id.in_(ids[chunk : chunk + 500]))
            .order_by(ConfigurationItem.name)
        ):
            cis[change_id].append(name)
    events = []
    for change, service, group, assignee in rows:
        if change.planned_end <= change.planned_start:
            continue  # an empty window cannot be shown; the change form reports it
        event = _event(
            change_uid(change.number),
            change.planned_start,
            change.planned_end,
            f"{change.number} · {change.short_description}",
            stamp,
        )
        risk = change.risk + (
            f" (score {change.risk_score})" if change.risk_score is not None else ""
        )
        lines = [
            f"Type: {change.type}",
            f"State: {change.state}",
            f"Risk: {risk}",
        ]
        if service:
            lines.append(f"Service: {service}")
        if cis.get(change.id):
            lines.append(f"Configuration items: {', '.join(cis[change.id])}")
        if group:
            lines.append(f"Assignment group: {group}" + (f" ({assignee})" if assignee else ""))
        for label, plan in (
            ("Implementation plan", change.implementation_plan),
            ("Test plan", change.test_plan),
            ("Back-out plan", change.backout_plan),
        ):
            if _text(plan):
                lines += ["", f"{label}:", _excerpt(plan)]
        event.add("description", "\n".join(lines))
        event.add("categories", ["Change", f"{change.type} change", f"{change.risk} risk"])
        event.add("status", change_status(change.state))
        event.add("sequence", max(0, change.version - 1))
        event.add("last-modified", _utc(change.updated_at))
        event.add("transp", "OPAQUE")
        events.append(event)
    return events


def _occurrences(
    window: ChangeWindow, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    length = window.ends_at - window.starts_at
    if not window.recurrence:
        spans = [(window.starts_at, window.ends_at)]
    else:
        rule = rrulestr(window.recurrence, dtstart=window.starts_at)
        starts = rule.between(start - length, end, inc=True)[:MAX_OCCURRENCES]
        if window.recurrence_until is not None:
            starts = [s for s in starts if s <= window.recurrence_until]
        spans = [(s, s + length) for s in starts]
    return [(s, e) for s, e in spans if s < end and e > start and e > s]


def _window_events(
    session: Session, start: dt.datetime, end: dt.datetime, stamp: dt.datetime
) -> list[Event]:
    rows = session.execute(
        select(ChangeWindow, Service.name, ConfigurationItem.name)
        .outerjoin(Service, Service.id == ChangeWindow.service_id)
        .outerjoin(ConfigurationItem, ConfigurationItem.id == ChangeWindow.ci_id)
        .where(
            ChangeWindow.starts_at < end,
            (ChangeWindow.recurrence.is_not(None)) | (ChangeWindow.ends_at > start),
        )
        .order_by(ChangeWindow.starts_at, ChangeWindow.id)
    ).all()
    events = []
    for window, service, ci in rows:
        kind = "Blackout" if window.kind == "blackout" else "Maintenance window"
        scope = ci or service or "All services"
        for occ_start, occ_end in _occurrences(window, start, end):
            uid = f"window-{window.id}@{UID_DOMAIN}"
            if window.recurrence:
                uid = f"window-{window.id}-{occ_start:%Y%m%dT%H%M%SZ}@{UID_DOMAIN}"
            event = _event(uid, occ_start, occ_end, f"{kind}: {window.name}", stamp)
            lines = [f"{kind} for {scope}."]
            if _text(window.reason):
                lines.append(_text(window.reason))
            event.add("description", "\n".join(lines))
            event.add("categories", [f"{kind.split()[0]} window"])
            event.add("status", "CONFIRMED")
            event.add("sequence", max(0, window.version - 1))
            event.add("transp", "TRANSPARENT")
            events.append(event)
    return events


def _meeting_events(
    session: Session, start: dt.datetime, end: dt.datetime, stamp: dt.datetime
) -> list[Event]:
    meetings = session.scalars(
        select(CabMeeting)
        .where(CabMeeting.starts_at < end, CabMeeting.ends_at > start)
        .order_by(CabMeeting.starts_at, CabMeeting.id)
    ).all()
    agenda: dict[int, list[str]] = defaultdict(list)
    ids = [m.id for m in meetings]
    for chunk in range(0, len(ids), 500):
        for meeting_id, number, summary, risk, decision in session.execute(
            select(
                CabAgendaItem.meeting_id,
                ChangeRequest.number,
                ChangeRequest.short_description,
                ChangeRequest.risk,
                CabAgendaItem.decision,
            )
            .join(ChangeRequest, ChangeRequest.id == CabAgendaItem.change_id)
            .where(CabAgendaItem.meeting_id.in_(ids[chunk : chunk + 500]))
            .order_by(CabAgendaItem.position, CabAgendaItem.id)
        ):
            item = f"{number} · {_text(summary)} ({risk} risk)"
            agenda[meeting_id].append(item + (f": {decision}" if decision else ""))
    events = []
    for meeting in meetings:
        board = "ECAB" if meeting.emergency else "CAB"
        event = _event(
            f"cab-{meeting.id}@{UID_DOMAIN}",
            meeting.starts_at,
            meeting.ends_at,
            f"{board}: {meeting.title}",
            stamp,
        )
        items = agenda.get(meeting.id, [])
        lines = ["Agenda:", *(f"{i}. {text}" for i, text in enumerate(items, 1))]
        event.add("description", "\n".join(lines) if items else "No changes on the agenda yet.")
        if _text(meeting.location):
            event.add("location", _text(meeting.location))
        event.add("categories", ["CAB meeting"])
        event.add("status", "CANCELLED" if meeting.state == "canceled" else "CONFIRMED")
        event.add("sequence", max(0, meeting.version - 1))
        events.append(event)
    return events


def build_calendar(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    states: Sequence[str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> tuple[Calendar, CalendarSummary]:
    """The calendar of changes (in ``states``, default all), windows and CAB meetings
    overlapping [start, end)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period's start and end must carry a time zone")
    if end <= start:
        raise ValueError("the period must end after it starts")
    stamp = _utc(now or utcnow())
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", CALENDAR_NAME)
    calendar.add("x-wr-timezone", "UTC")
    changes = _change_events(session, start, end, states, stamp)
    windows = _window_events(session, start, end, stamp)
    meetings = _meeting_events(session, start, end, stamp)
    for event in (*changes, *windows, *meetings):
        calendar.add_component(event)
    summary = CalendarSummary(Path(), len(changes), len(windows), len(meetings))
    return calendar, summary


def export_calendar(
    session: Session,
    path: str | os.PathLike[str],
    start: dt.datetime,
    end: dt.datetime,
    states: Sequence[str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> CalendarSummary:
    """Write the schedule between ``start`` and ``end`` to ``path`` (.ics), atomically."""
    calendar, summary = build_calendar(session, start, end, states, now=now)
    data = calendar.to_ical()
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
    return CalendarSummary(Path(path), summary.changes, summary.windows, summary.meetings)


__all__ = [
    "CalendarSummary",
    "build_calendar",
    "change_status",
    "change_uid",
    "export_calendar",
    "parse_day",
    "parse_states",
    "period",
]
