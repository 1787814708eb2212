"""Major incidents: declaring them, their status timeline, communications, the post-incident
review with its corrective actions, and the review workbook.

Every function works inside the caller's session and transaction, checks everything before
it changes anything, and raises :class:`MajorIncidentError` with a sentence a service
manager understands. Updates and communications are append-only; the review and its
actions are versioned, so an edit over someone else's newer save is refused.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    CommunicationLog,
    CorrectiveAction,
    Incident,
    MajorIncidentUpdate,
    Outage,
    Person,
    PostIncidentReview,
    Service,
    utcnow,
)
from app.services.formatting import format_duration, priority_label
from app.services.io.excel import fit_to_width, put, safe_text, save_workbook
from app.services.users import author_person_id

MAJOR_STATUSES = ("investigating", "identified", "monitoring", "resolved")
REVIEW_STATUSES = ("draft", "complete")
ACTION_STATUSES = ("open", "in progress", "done")
#: Suggested channels; any short text is accepted.
CHANNELS = ("email", "status page", "bridge", "sms", "chat")
IMPACT_NAMES = {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}
_FINAL_STATES = ("Closed", "Canceled")


class MajorIncidentError(ValueError):
    """A major-incident change that cannot be made; ``str(err)`` says why."""


class StaleRecord(MajorIncidentError):
    """Someone else saved the record after it was read; nothing was overwritten."""


# Reading


@dataclass(frozen=True)
class TimelineEntry:
    """A status update or a communication, as one line of the major incident's timeline."""

    id: int
    kind: str  # "update" or "communication"
    at: dt.datetime
    text: str
    author: str | None = None
    status: str | None = None
    channel: str | None = None
    audience: str | None = None


@dataclass(frozen=True)
class ReviewInfo:
    """The post-incident review as saved."""

    id: int
    held_on: dt.date | None
    timeline_summary: str
    root_cause: str
    contributing_factors: str
    status: str
    version: int


@dataclass(frozen=True)
class ActionInfo:
    """A corrective action as saved, with its owner's name."""

    id: int
    description: str
    owner_id: int | None
    owner: str | None
    due_on: dt.date | None
    status: str
    completed_at: dt.datetime | None
    version: int

    def overdue(self, today: dt.date) -> bool:
        return self.status != "done" and self.due_on is not None and self.due_on < today


@dataclass(frozen=True)
class MajorDetail:
    """Everything the major-incident window and the review workbook show."""

    incident_id: int
    number: str
    short_description: str
    service: str | None
    state: str
    priority: int
    impact: int
    is_major: bool
    major_status: str | None
    opened_at: dt.datetime
    declared_at: dt.datetime | None
    impact_started_at: dt.datetime
    restored_at: dt.datetime | None
    updates: list[TimelineEntry]
    communications: list[TimelineEntry]
    review: ReviewInfo | None
    actions: list[ActionInfo]

    @property
    def timeline(self) -> list[TimelineEntry]:
        """Status updates and communications in time order."""
        return sorted(self.updates + self.communications, key=lambda e: (e.at, e.kind, e.id))

    def duration(self, now: dt.datetime) -> dt.timedelta:
        """From the start of the impact to restoration, or to ``now`` while it lasts."""
        return (self.restored_at or now) - self.impact_started_at


@dataclass(frozen=True)
class PersonChoice:
    """A person who can own an action."""

    id: int
    name: str


def major_detail(session: Session, incident_id: int) -> MajorDetail:
    """The incident header, timeline, communications, review and actions of one incident."""
    incident = _incident(session, incident_id)
    service = session.get(Service, incident.service_id) if incident.service_id else None
    outages = session.scalars(
        select(Outage).where(Outage.incident_id == incident_id).order_by(Outage.started_at)
    ).all()
    started = min([o.started_at for o in outages] + [incident.opened_at])
    ends = [o.ended_at for o in outages]
    if outages and all(ends):
        restored: dt.datetime | None = max(e for e in ends if e is not None)
    elif outages:
        restored = None
    else:
        restored = incident.resolved_at
    update_rows = session.scalars(
        select(MajorIncidentUpdate)
        .where(MajorIncidentUpdate.incident_id == incident_id)
        .order_by(MajorIncidentUpdate.at, MajorIncidentUpdate.id)
    ).all()
    comm_rows = session.scalars(
        select(CommunicationLog)
        .where(CommunicationLog.incident_id == incident_id)
        .order_by(CommunicationLog.at, CommunicationLog.id)
    ).all()
    review = _review_of(session, incident_id)
    action_rows = list(review.actions) if review else []
    names = _names(
        session,
        {r.author_id for r in [*update_rows, *comm_rows]} | {a.owner_id for a in action_rows},
    )
    updates = [
        TimelineEntry(u.id, "update", u.at, u.text, names.get(u.author_id), status=u.status)
        for u in update_rows
    ]
    comms = [
        TimelineEntry(
            c.id,
            "communication",
            c.at,
            c.message,
            names.get(c.author_id),
            channel=c.channel,
            audience=c.audience,
        )
        for c in comm_rows
    ]
    return MajorDetail(
        incident_id=incident.id,
        number=incident.number,
        short_description=incident.short_description,
        service=service.name if service else None,
        state=incident.state,
        priority=incident.priority,
        impact=incident.impact,
        is_major=incident.is_major,
        major_status=incident.major_status,
        opened_at=incident.opened_at,
        declared_at=incident.major_declared_at,
        impact_started_at=started,
        restored_at=restored,
        updates=updates,
        communications=comms,
        review=_review_info(review) if review else None,
        actions=[_action_info(a, names) for a in action_rows],
    )


def people(session: Session) -> list[PersonChoice]:
    """Active people by name, to choose an action's owner from."""
    rows = session.execute(
        select(Person.id, Person.name).where(Person.active.is_(True)).order_by(Person.name)
    )
    return [PersonChoice(pid, name) for pid, name in rows]


def _names(session: Session, ids: set[int | None]) -> dict[int | None, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(Person.id, Person.name).where(Person.id.in_(wanted)))
    return {pid: name for pid, name in rows}


def _review_info(review: PostIncidentReview) -> ReviewInfo:
    return ReviewInfo(
        review.id,
        review.held_on,
        review.timeline_summary,
        review.root_cause,
        review.contributing_factors,
        review.status,
        review.version,
    )


def _action_info(action: CorrectiveAction, names: dict[int | None, str]) -> ActionInfo:
    return ActionInfo(
        action.id,
        action.description,
        action.owner_id,
        names.get(action.owner_id),
        action.due_on,
        action.status,
        action.completed_at,
        action.version,
    )


# Changing


def _incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise MajorIncidentError(f"There is no incident with id {incident_id}.")
    return incident


def _major(session: Session, incident_id: int) -> Incident:
    incident = _incident(session, incident_id)
    if not incident.is_major:
        raise MajorIncidentError(f"{incident.number} is not a major incident.")
    return incident


def _live(session: Session, incident_id: int) -> Incident:
    incident = _major(session, incident_id)
    if incident.state in _FINAL_STATES:
        raise MajorIncidentError(
            f"{incident.number} is {incident.state.lower()}; its timeline is final."
        )
    return incident


def start_major_timeline(
    session: Session, incident: Incident, at: dt.datetime, text: str | None = None
) -> None:
    """Mark the declaration and write the first status update (investigating)."""
    incident.major_declared_at = at
    incident.major_status = "investigating"
    session.add(
        MajorIncidentUpdate(
            incident_id=incident.id,
            at=at,
            author_id=author_person_id(session),
            status="investigating",
            text=(text or "").strip() or "Major incident declared.",
        )
    )


def _required(value: str, what: str, limit: int | None = None) -> str:
    value = (value or "").strip()
    if not value:
        raise MajorIncidentError(f"{what} is required.")
    if limit is not None and len(value) > limit:
        raise MajorIncidentError(f"{what} is too long: at most {limit} characters.")
    return value


def _check_version(record: Any, version: int | None, what: str) -> None:
    if version is not None and record.version != version:
        raise StaleRecord(
            f"Someone else changed this {what} after you opened it; reload to see their changes."
        )


def declare_major(
    session: Session, incident_id: int, text: str = "", *, at: dt.datetime | None = None
) -> Incident:
    """Declare the incident major: it starts its own timeline, investigating."""
    incident = _incident(session, incident_id)
    if incident.is_major:
        raise MajorIncidentError(f"{incident.number} is already a major incident.")
    if incident.state in _FINAL_STATES:
        raise MajorIncidentError(
            f"{incident.number} is {incident.state.lower()}; it cannot be declared major."
        )
    incident.is_major = True
    start_major_timeline(session, incident, at or utcnow(), text)
    session.flush()
    return incident


def undeclare_major(session: Session, incident_id: int) -> Incident:
    """Take back a declaration made in error; its timeline is kept, a review forbids it."""
    incident = _major(session, incident_id)
    if _review_of(session, incident_id) is not None:
        raise MajorIncidentError(
            f"{incident.number} has a post-incident review; delete the review first."
        )
    incident.is_major = False
    incident.major_declared_at = None
    incident.major_status = None
    session.flush()
    return incident


def add_status_update(
    session: Session, incident_id: int, status: str, text: str, *, at: dt.datetime | None = None
) -> MajorIncidentUpdate:
    """Add a status update to the timeline; the incident takes its status."""
    incident = _live(session, incident_id)
    if status not in MAJOR_STATUSES:
        raise MajorIncidentError(
            f"{status!r} is not a major-incident status; use one of {', '.join(MAJOR_STATUSES)}."
        )
    update = MajorIncidentUpdate(
        incident_id=incident.id,
        at=at or utcnow(),
        author_id=author_person_id(session),
        status=status,
        text=_required(text, "The update's text"),
    )
    session.add(update)
    incident.major_status = status
    session.flush()
    return update


def log_communication(
    session: Session,
    incident_id: int,
    channel: str,
    audience: str,
    message: str,
    *,
    at: dt.datetime | None = None,
) -> CommunicationLog:
    """Record a message sent to stakeholders."""
    incident = _live(session, incident_id)
    entry = CommunicationLog(
        incident_id=incident.id,
        at=at or utcnow(),
        author_id=author_person_id(session),
        channel=_required(channel, "The channel", 30),
        audience=_required(audience, "The audience", 100),
        message=_required(message, "The message"),
    )
    session.add(entry)
    session.flush()
    return entry


def _review_of(session: Session, incident_id: int) -> PostIncidentReview | None:
    return session.scalar(
        select(PostIncidentReview).where(PostIncidentReview.incident_id == incident_id)
    )


@dataclass
class ReviewInput:
    """What the review form saves."""

    root_cause: str = ""
    contributing_factors: str = ""
    timeline_summary: str = ""
    status: str = "draft"
    held_on: dt.date | None = None


def save_review(
    session: Session, incident_id: int, data: ReviewInput, *, version: int | None = None
) -> PostIncidentReview:
    """Create the incident's review or update it (``version``: the one the form was read at)."""
    incident = _major(session, incident_id)
    if data.status not in REVIEW_STATUSES:
        raise MajorIncidentError(f"{data.status!r} is not a review status; use draft or complete.")
    if data.status == "complete":
        if not data.root_cause.strip():
            raise MajorIncidentError("A complete review needs its root cause.")
        if data.held_on is None:
            raise MajorIncidentError("A complete review needs the date it was held.")
    declared = incident.major_declared_at or incident.opened_at
    if data.held_on is not None and data.held_on < declared.date():
        raise MajorIncidentError(
            f"The review cannot be held on {data.held_on:%Y-%m-%d}, before the incident "
            f"was declared on {declared:%Y-%m-%d}."
        )
    review = _review_of(session, incident_id)
    if review is None:
        review = PostIncidentReview(incident_id=incident.id)
        session.add(review)
    else:
        _check_version(review, version, "review")
    if data.held_on is not None:
        early = [a for a in review.actions if a.due_on is not None and a.due_on < data.held_on]
        if early:
            raise MajorIncidentError(
                f"{len(early)} corrective action(s) fall due before {data.held_on:%Y-%m-%d}; "
                "move their due dates first."
            )
    review.root_cause = data.root_cause.strip()
    review.contributing_factors = data.contributing_factors.strip()
    review.timeline_summary = data.timeline_summary.strip()
    review.status = data.status
    review.held_on = data.held_on
    session.flush()
    return review


def delete_review(session: Session, incident_id: int, *, version: int | None = None) -> None:
    """Delete the incident's review and its corrective actions."""
    review = _review_of(session, incident_id)
    if review is None:
        raise MajorIncidentError("There is no review to delete.")
    _check_version(review, version, "review")
    session.delete(review)
    session.flush()


@dataclass
class ActionInput:
    """What the corrective-action form saves."""

    description: str
    owner_id: int | None
    due_on: dt.date | None
    status: str = "open"


def _check_action(session: Session, review: PostIncidentReview, data: ActionInput) -> str:
    description = _required(data.description, "The action's description")
    if data.owner_id is None:
        raise MajorIncidentError("Every corrective action needs an owner.")
    if session.get(Person, data.owner_id) is None:
        raise MajorIncidentError(f"There is no person with id {data.owner_id} to own the action.")
    if data.due_on is None:
        raise MajorIncidentError("Every corrective action needs a due date.")
    start = review.held_on or (review.created_at or utcnow()).date()
    if data.due_on < start:
        raise MajorIncidentError(
            f"The due date {data.due_on:%Y-%m-%d} is before the review "
            f"({start:%Y-%m-%d}); choose a later date."
        )
    if data.status not in ACTION_STATUSES:
        raise MajorIncidentError(
            f"{data.status!r} is not an action status; use one of {', '.join(ACTION_STATUSES)}."
        )
    return description


def add_action(session: Session, incident_id: int, data: ActionInput) -> CorrectiveAction:
    """Add a corrective action to the incident's review (the review must exist)."""
    review = _review_of(session, incident_id)
    if review is None:
        raise MajorIncidentError("Save the post-incident review before adding actions to it.")
    description = _check_action(session, review, data)
    action = CorrectiveAction(
        review_id=review.id,
        description=description,
        owner_id=data.owner_id,
        due_on=data.due_on,
        status=data.status,
        completed_at=utcnow() if data.status == "done" else None,
    )
    session.add(action)
    session.flush()
    return action


def _action(session: Session, action_id: int, version: int | None) -> CorrectiveAction:
    action = session.get(CorrectiveAction, action_id)
    if action is None:
        raise MajorIncidentError("That corrective action no longer exists.")
    _check_version(action, version, "corrective action")
    return action


def update_action(
    session: Session, action_id: int, data: ActionInput, *, version: int | None = None
) -> CorrectiveAction:
    """Change a corrective action; marking it done records when."""
    action = _action(session, action_id, version)
    action.description = _check_action(session, action.review, data)
    action.owner_id = data.owner_id
    action.due_on = data.due_on
    if data.status == "done" and action.status != "done":
        action.completed_at = utcnow()
    elif data.status != "done":
        action.completed_at = None
    action.status = data.status
    session.flush()
    return action


def complete_action(
    session: Session,
    action_id: int,
    *,
    at: dt.datetime | None = None,
    version: int | None = None,
) -> CorrectiveAction:
    """Mark a corrective action done."""
    action = _action(session, action_id, version)
    if action.status == "done":
        raise MajorIncidentError("That corrective action is already done.")
    action.status = "done"
    action.completed_at = at or utcnow()
    session.flush()
    return action


def delete_action(session: Session, action_id: int, *, version: int | None = None) -> None:
    """Delete a corrective action."""
    session.delete(_action(session, action_id, version))
    session.flush()


# The review workbook

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
# Left-aligned, so dates and numbers line up with the text values of the summary.
_WRAP = Alignment(wrap_text=True, vertical="top", horizontal="left")
_TOP = Alignment(vertical="top")
_OVERDUE = PatternFill(start_color="FFF8D7DA", end_color="FFF8D7DA", fill_type="solid")


def _table(
    ws: Any,
    headers: Sequence[str],
    rows: list[list[Any]],
    widths: Sequence[float],
    zone: dt.tzinfo | None,
) -> None:
    for column, header in enumerate(headers, 1):
        safe_text(ws.cell(1, column), header).font = _BOLD
    for r, values in enumerate(rows, 2):
        for column, value in enumerate(values, 1):
            if value is not None:
                put(ws.cell(r, column), value, zone).alignment = _TOP
    for column, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(rows) + 1}"
    fit_to_width(ws, header_rows=1)


def review_workbook(detail: MajorDetail, zone: dt.tzinfo | None = None) -> Workbook:
    """The review as a workbook: summary, timeline and corrective actions."""
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    safe_text(summary["A1"], f"Post-incident review: {detail.number}").font = _TITLE
    review = detail.review
    duration = detail.duration(detail.restored_at) if detail.restored_at else None
    fields: list[tuple[str, Any]] = [
        ("Incident", f"{detail.number} {detail.short_description}"),
        ("Service", detail.service or ""),
        ("Priority", priority_label(detail.priority)),
        ("Impact", IMPACT_NAMES.get(detail.impact, str(detail.impact))),
        ("Impact started", detail.impact_started_at),
        ("Declared", detail.declared_at),
        ("Restored", detail.restored_at),
        ("Duration", format_duration(duration.total_seconds()) if duration else "ongoing"),
        ("Duration (hours)", round(duration.total_seconds() / 3600, 2) if duration else None),
        ("Review held", review.held_on if review else None),
        ("Review status", review.status if review else "no review yet"),
        ("Root cause", review.root_cause if review else ""),
        ("Contributing factors", review.contributing_factors if review else ""),
        ("Timeline summary", review.timeline_summary if review else ""),
    ]
    for row, (label, value) in enumerate(fields, 3):
        safe_text(summary.cell(row, 1), label).font = _BOLD
        summary.cell(row, 1).alignment = _TOP
        if value is not None and value != "":
            put(summary.cell(row, 2), value, zone).alignment = _WRAP
    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 90
    fit_to_width(summary, landscape=False)

    timeline = wb.create_sheet("Timeline")
    _table(
        timeline,
        ["At", "Kind", "Status", "Channel", "Audience", "Text", "By"],
        [
            [
                e.at,
                "Status update" if e.kind == "update" else "Communication",
                e.status,
                e.channel,
                e.audience,
                e.text,
                e.author,
            ]
            for e in detail.timeline
        ],
        [18, 15, 14, 14, 18, 80, 20],
        zone,
    )
    for row in timeline.iter_rows(min_row=2, min_col=6, max_col=6):
        row[0].alignment = _WRAP

    actions = wb.create_sheet("Corrective actions")
    _table(
        actions,
        ["Action", "Owner", "Due", "Status", "Completed"],
        [[a.description, a.owner, a.due_on, a.status, a.completed_at] for a in detail.actions],
        [70, 22, 12, 12, 18],
        zone,
    )
    last = max(len(detail.actions) + 1, 2)
    # Overdue is judged when the workbook is opened, not when it was written.
    actions.conditional_formatting.add(
        f"A2:E{last}",
        FormulaRule(formula=['AND($C2<>"",$D2<>"done",$C2<TODAY())'], fill=_OVERDUE),
    )
    return wb


def export_review(
    session: Session,
    incident_id: int,
    path: str | os.PathLike[str],
    zone: dt.tzinfo | None = None,
) -> MajorDetail:
    """Write the incident's review workbook to ``path`` (renamed into place when whole)."""
    detail = major_detail(session, incident_id)
    if not detail.is_major:
        raise MajorIncidentError(f"{detail.number} is not a major incident.")
    save_workbook(review_workbook(detail, zone), path)
    return detail
