"""The Change Advisory Board: meetings, their agenda, decisions, votes and minutes.

A CAB meeting (DOMAIN.md "Changes and the CAB") has a date, attendees and an agenda of
the changes awaiting authorisation (state Authorize; Normal changes for a CAB, Emergency
ones for an ECAB meeting) whose planned start falls before a horizon, ordered by planned
start and then risk (Very High first). Each item gets a decision (approved, rejected,
deferred, more information), conditions and the votes of the members present.

What a decision does to the change goes through :func:`app.services.changes.transition`,
so its rules apply unchanged:

* **approved**: the change moves to Scheduled. What Scheduled needs (plans, window, risk
  assessment, ...) is checked first; a change that lacks something is refused with the
  workflow's sentence and nothing of the decision is recorded.
* **rejected**: the change goes back to New (ServiceNow's default for a change rejected
  in Authorize): the requester reworks it and submits it again, or cancels it.
* **deferred** and **more information**: the change stays in Authorize and comes up
  again at the next meeting; the conditions say what the board is waiting for.

Every function works in the caller's session and transaction (``with db.transaction()
as s:``); on any error the caller rolls back (``db.transaction()`` does), so a refused
decision leaves nothing half-saved. Two chairs deciding the same item at once: the
second is refused with :class:`DecisionConflictError` (the agenda item's version, and
the change's when given, are checked; on PostgreSQL the item's row is locked first).

No Qt here; the CAB meeting window (``app/views/cab_meeting.py``) shows what
:func:`meeting_view` returns.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.exc import StaleDataError

from app.db.engine import committed_view
from app.models.audit import AuditEntry
from app.models.base import utcnow
from app.models.change import (
    CabAgendaItem,
    CabMeeting,
    CabVote,
    ChangeRequest,
    ChangeReview,
    cab_attendee,
    change_ci,
    change_service,
)
from app.models.cmdb import ConfigurationItem, Service
from app.models.enums import CabDecision, ChangeState, ChangeType, CloseCode, Vote
from app.models.incident import Incident
from app.models.org import Person, Team
from app.services import changes
from app.services.audit_log import by_whom_when, last_writer
from app.services.changes import ConflictError, MissingFieldsError, WorkflowError
from app.services.conflicts import Conflict, find_conflicts
from app.services.formatting import format_datetime, format_duration
from app.services.io.excel import fit_to_width, put, safe_text, save_workbook
from app.services.users import author_person_id

#: Decisions in the order the window offers them, and how each reads.
DECISIONS: tuple[str, ...] = tuple(d.value for d in CabDecision)
DECISION_LABELS: dict[str, str] = {
    CabDecision.APPROVED: "Approved",
    CabDecision.REJECTED: "Rejected",
    CabDecision.DEFERRED: "Deferred",
    CabDecision.MORE_INFO: "More information",
}
VOTES: tuple[str, ...] = tuple(v.value for v in Vote)
VOTE_LABELS: dict[str, str] = {"approve": "Approve", "reject": "Reject", "abstain": "Abstain"}
#: Where an approved change goes, and where a rejected one goes back to.
APPROVED_STATE = ChangeState.SCHEDULED.value
REJECTED_STATE = ChangeState.NEW.value
#: The agenda takes changes planned to start before the meeting + this (by default).
DEFAULT_HORIZON = dt.timedelta(days=14)
DEFAULT_LENGTH = dt.timedelta(hours=1)
DEFAULT_TITLE = "CAB meeting"
#: Agenda order within one planned start: the riskiest first.
RISK_ORDER: dict[str, int] = {"Very High": 0, "High": 1, "Moderate": 2, "Low": 3}
TEXT_LIMIT = 20_000
TITLE_LIMIT = 120
PEOPLE_LIMIT = 5_000
PENDING_LIMIT = 500
_AWAITING = ChangeState.AUTHORIZE.value


class DecisionConflictError(ConflictError):
    """The agenda item was decided (or changed) by someone else after it was read."""

    def __init__(self, message: str, *, item_id: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.item_id = item_id


# Plain data for the window and the workbooks


@dataclass(frozen=True)
class PersonChoice:
    id: int
    name: str


@dataclass(frozen=True)
class MeetingInfo:
    id: int
    version: int
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    location: str
    chair_id: int | None
    chair: str | None
    emergency: bool
    state: str
    minutes: str

    @property
    def board(self) -> str:
        return "ECAB" if self.emergency else "CAB"


@dataclass(frozen=True)
class AttendeeView:
    person_id: int
    name: str
    present: bool


@dataclass(frozen=True)
class VoteView:
    person_id: int
    name: str
    vote: str
    comment: str = ""


@dataclass(frozen=True)
class EarlierDecision:
    """The change's decision at another meeting (e.g. deferred last week)."""

    meeting_id: int
    meeting_title: str
    starts_at: dt.datetime
    decision: str
    conditions: str

    def sentence(self) -> str:
        label = DECISION_LABELS.get(self.decision, self.decision)
        text = f"{label} at {self.meeting_title} on {format_datetime(self.starts_at)}"
        return f"{text}: {self.conditions}" if self.conditions else text


@dataclass(frozen=True)
class AgendaItemView:
    """One change on the agenda, with what the board needs to decide on it."""

    id: int
    version: int
    position: int
    change_id: int
    change_version: int
    number: str
    short_description: str
    description: str
    justification: str
    type: str
    state: str
    risk: str
    risk_score: int | None
    planned_start: dt.datetime | None
    planned_end: dt.datetime | None
    service: str | None
    services: tuple[str, ...]
    cis: tuple[str, ...]
    assignment_group: str | None
    assignee: str | None
    requested_by: str | None
    implementation_plan: str
    test_plan: str
    backout_plan: str
    conflicts: tuple[Conflict, ...]
    decision: str | None
    conditions: str
    notes: str
    decided_at: dt.datetime | None
    votes: tuple[VoteView, ...] = ()
    earlier: tuple[EarlierDecision, ...] = ()
    #: What the change lacks to be approved (labels), besides the approval itself.
    blockers: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        return self.decision is not None

    @property
    def decision_label(self) -> str:
        return DECISION_LABELS.get(self.decision or "", "Pending")

    @property
    def awaiting(self) -> bool:
        """Whether the board can (still) decide: the change is in Authorize."""
        return self.state == _AWAITING

    def window_text(self) -> str:
        if self.planned_start is None:
            return "No planned window"
        if self.planned_end is None:
            return f"From {format_datetime(self.planned_start)}"
        length = format_duration((self.planned_end - self.planned_start).total_seconds())
        start, end = format_datetime(self.planned_start), format_datetime(self.planned_end)
        if start[:10] == end[:10]:
            end = end[11:]
        return f"{start} – {end} ({length})"

    def vote_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VOTES, 0)
        for vote in self.votes:
            counts[vote.vote] = counts.get(vote.vote, 0) + 1
        return counts

    def vote_summary(self) -> str:
        counts = self.vote_counts()
        if not any(counts.values()):
            return ""
        return ", ".join(f"{VOTE_LABELS[v]} {counts[v]}" for v in VOTES)

    def blockers_sentence(self) -> str:
        if not self.blockers:
            return ""
        return f"Cannot be approved yet: it needs {_join(self.blockers)}."


@dataclass(frozen=True)
class MeetingView:
    meeting: MeetingInfo
    attendees: tuple[AttendeeView, ...]
    items: tuple[AgendaItemView, ...]

    @property
    def present(self) -> tuple[AttendeeView, ...]:
        return tuple(a for a in self.attendees if a.present)

    @property
    def decided_count(self) -> int:
        return sum(1 for item in self.items if item.decided)

    def item(self, item_id: int) -> AgendaItemView | None:
        return next((i for i in self.items if i.id == item_id), None)


@dataclass(frozen=True)
class AgendaRefresh:
    """What :func:`refresh_agenda` changed (change numbers)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class PendingReview:
    """An emergency or failed change that still needs its post-implementation review."""

    change_id: int
    number: str
    short_description: str
    type: str
    state: str
    close_code: str | None
    actual_end: dt.datetime | None
    closed_at: dt.datetime | None
    reason: str


# Checking values


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or utcnow()).astimezone(dt.UTC).replace(microsecond=0)


def _text(value: Any, what: str, limit: int = TEXT_LIMIT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WorkflowError(f"{what} must be text.")
    text = value.replace("\x00", "").strip()
    if len(text) > limit:
        raise WorkflowError(f"{what} is {len(text):,} characters long; the limit is {limit:,}.")
    return text


def _instant(value: Any, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise WorkflowError(f"{what} must be a date and time.")
    if value.tzinfo is None:
        raise WorkflowError(f"{what} has no time zone.")
    return value.astimezone(dt.UTC).replace(microsecond=0)


def _person(session: Session, person_id: Any, what: str) -> int | None:
    if person_id is None:
        return None
    if isinstance(person_id, bool) or not isinstance(person_id, int):
        raise WorkflowError(f"{what} must be chosen from the list of people.")
    if session.get(Person, person_id) is None:
        raise WorkflowError(f"{what} no longer exists.")
    return person_id


def _meeting(session: Session, meeting_id: Any) -> CabMeeting:
    meeting = session.get(CabMeeting, meeting_id) if isinstance(meeting_id, int) else None
    if meeting is None:
        raise WorkflowError("That CAB meeting no longer exists.")
    return meeting


def _audit(
    session: Session,
    entity: str,
    entity_id: int,
    field: str,
    old: str | None,
    new: str | None,
    now: dt.datetime,
) -> None:
    """An audit row for what the audit hook cannot see (attendance and vote rows)."""
    session.add(
        AuditEntry(
            at=now,
            username=session.info.get("username", "system"),
            user_id=session.info.get("user_id"),
            entity=entity,
            entity_id=str(entity_id),
            action="update",
            field=field,
            old_value=old,
            new_value=new,
        )
    )


# Meetings and their agenda


def _agenda_key(planned_start: dt.datetime | None, risk: str | None, number: str) -> tuple:
    start = planned_start or dt.datetime.max.replace(tzinfo=dt.UTC)
    return (start, RISK_ORDER.get(risk or "", len(RISK_ORDER)), number)


def _eligible(session: Session, meeting: CabMeeting, horizon: dt.datetime) -> list[ChangeRequest]:
    """Changes awaiting this board's authorisation, planned to start before ``horizon``."""
    kind = ChangeType.EMERGENCY.value if meeting.emergency else ChangeType.NORMAL.value
    found = session.scalars(
        select(ChangeRequest).where(
            ChangeRequest.state == _AWAITING,
            ChangeRequest.type == kind,
            ChangeRequest.planned_start.is_not(None),
            ChangeRequest.planned_start < horizon,
        )
    ).all()
    return sorted(found, key=lambda c: _agenda_key(c.planned_start, c.risk, c.number))


def _horizon(meeting: CabMeeting, horizon: dt.datetime | None) -> dt.datetime:
    if horizon is None:
        return meeting.starts_at + DEFAULT_HORIZON
    return _instant(horizon, "The agenda's horizon")


def _renumber(session: Session, meeting: CabMeeting) -> None:
    items = list(meeting.agenda)
    if not items:
        return
    changes_by_id = {
        c.id: c
        for c in session.scalars(
            select(ChangeRequest).where(ChangeRequest.id.in_([i.change_id for i in items]))
        )
    }

    def key(item: CabAgendaItem) -> tuple:
        change = changes_by_id.get(item.change_id)
        if change is None:
            return (dt.datetime.max.replace(tzinfo=dt.UTC), 9, "")
        return _agenda_key(change.planned_start, change.risk, change.number)

    for position, item in enumerate(sorted(items, key=key), start=1):
        if item.position != position:
            item.position = position


def create_meeting(
    session: Session,
    starts_at: dt.datetime,
    *,
    chair_id: int | None,
    title: str = DEFAULT_TITLE,
    horizon: dt.datetime | None = None,
    now: dt.datetime | None = None,
    emergency: bool = False,
    ends_at: dt.datetime | None = None,
    location: str = "",
) -> CabMeeting:
    """A planned meeting whose agenda is every change awaiting its authorisation.

    The agenda holds the changes in Authorize (Normal ones; Emergency ones when
    ``emergency``, an ECAB) planned to start before ``horizon`` (default: the meeting +
    14 days), ordered by planned start, then risk (Very High first), then number. The
    chair is the first attendee.
    """
    now = _now(now)
    start = _instant(starts_at, "The meeting's start")
    end = _instant(ends_at, "The meeting's end") if ends_at is not None else start + DEFAULT_LENGTH
    if end <= start:
        raise WorkflowError("The meeting must end after it starts.")
    name = _text(title, "The title", TITLE_LIMIT)
    if not name:
        raise WorkflowError("A CAB meeting needs a title.")
    chair = _person(session, chair_id, "The chair")
    meeting = CabMeeting(
        title=name,
        starts_at=start,
        ends_at=end,
        location=_text(location, "The location", 120),
        chair_id=chair,
        emergency=bool(emergency),
        state="planned",
        minutes="",
        created_at=now,
        updated_at=now,
    )
    session.add(meeting)
    session.flush()
    if chair is not None:
        session.execute(
            cab_attendee.insert().values(meeting_id=meeting.id, person_id=chair, present=True)
        )
    for position, change in enumerate(_eligible(session, meeting, _horizon(meeting, horizon)), 1):
        session.add(CabAgendaItem(meeting_id=meeting.id, change_id=change.id, position=position))
    session.flush()
    session.expire(meeting, ["agenda", "attendees"])
    return meeting


def refresh_agenda(
    session: Session, meeting_id: int, *, horizon: dt.datetime | None = None
) -> AgendaRefresh:
    """Bring the agenda up to date: add changes that now await authorisation, drop
    undecided items whose change left Authorize, keep every decided item, renumber."""
    meeting = _meeting(session, meeting_id)
    items = list(meeting.agenda)
    on_agenda = {item.change_id for item in items}
    states = dict(
        session.execute(
            select(ChangeRequest.id, ChangeRequest.state).where(
                ChangeRequest.id.in_(on_agenda or {-1})
            )
        ).all()
    )
    numbers = dict(
        session.execute(
            select(ChangeRequest.id, ChangeRequest.number).where(
                ChangeRequest.id.in_(on_agenda or {-1})
            )
        ).all()
    )
    removed = []
    for item in items:
        if item.decision is None and states.get(item.change_id) != _AWAITING:
            removed.append(numbers.get(item.change_id, "?"))
            meeting.agenda.remove(item)
    added = []
    for change in _eligible(session, meeting, _horizon(meeting, horizon)):
        if change.id not in on_agenda:
            meeting.agenda.append(
                CabAgendaItem(meeting_id=meeting.id, change_id=change.id, position=0)
            )
            added.append(change.number)
    session.flush()
    _renumber(session, meeting)
    session.flush()
    return AgendaRefresh(tuple(added), tuple(removed))


def meeting_for_day(
    session: Session,
    now: dt.datetime | None = None,
    *,
    zone: dt.tzinfo | None = None,
    create: bool = True,
) -> int | None:
    """The id of the day's CAB meeting (``now``'s day in ``zone``, default the computer's);
    with ``create``, a new one starting now (to the quarter hour) chaired by the signed-in
    user when the day has none."""
    now = _now(now)
    local = now.astimezone(zone) if zone is not None else now.astimezone()
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + dt.timedelta(days=1)
    meeting_id = session.scalar(
        select(CabMeeting.id)
        .where(
            CabMeeting.emergency.is_(False),
            CabMeeting.starts_at >= day_start.astimezone(dt.UTC),
            CabMeeting.starts_at < day_end.astimezone(dt.UTC),
            CabMeeting.state != "canceled",
        )
        .order_by(CabMeeting.starts_at, CabMeeting.id)
        .limit(1)
    )
    if meeting_id is not None or not create:
        return meeting_id
    start = now.replace(minute=now.minute - now.minute % 15, second=0)
    meeting = create_meeting(
        session,
        start,
        chair_id=author_person_id(session),
        title=f"{DEFAULT_TITLE} {local.date().isoformat()}",
        now=now,
    )
    return meeting.id


def people(session: Session) -> list[PersonChoice]:
    """Active people, by name: who may be recorded as attending."""
    return [
        PersonChoice(i, n)
        for i, n in session.execute(
            select(Person.id, Person.name)
            .where(Person.active.is_(True))
            .order_by(Person.name, Person.id)
            .limit(PEOPLE_LIMIT)
        )
    ]


def _names(session: Session, ids: Iterable[int]) -> str:
    ids = sorted(set(ids))
    if not ids:
        return ""
    return ", ".join(
        session.scalars(select(Person.name).where(Person.id.in_(ids)).order_by(Person.name))
    )


def record_attendees(
    session: Session,
    meeting_id: int,
    person_ids: Iterable[int],
    *,
    now: dt.datetime | None = None,
) -> list[AttendeeView]:
    """Record who is present: ``person_ids`` are marked present (added if new); everyone
    else on the list stays on it, marked absent. Returns the list, by name."""
    now = _now(now)
    meeting = _meeting(session, meeting_id)
    wanted: list[int] = []
    for ident in person_ids:
        clean = _person(session, ident, "An attendee")
        if clean is not None and clean not in wanted:
            wanted.append(clean)
    rows = dict(
        session.execute(
            select(cab_attendee.c.person_id, cab_attendee.c.present).where(
                cab_attendee.c.meeting_id == meeting.id
            )
        ).all()
    )
    before = {p for p, present in rows.items() if present}
    for person_id in wanted:
        if person_id not in rows:
            session.execute(
                cab_attendee.insert().values(
                    meeting_id=meeting.id, person_id=person_id, present=True
                )
            )
    for person_id, present in rows.items():
        should = person_id in wanted
        if bool(present) != should:
            session.execute(
                update(cab_attendee)
                .where(
                    cab_attendee.c.meeting_id == meeting.id,
                    cab_attendee.c.person_id == person_id,
                )
                .values(present=should)
            )
    if before != set(wanted):
        _audit(
            session,
            "cab_meeting",
            meeting.id,
            "attendees",
            _names(session, before) or None,
            _names(session, wanted) or None,
            now,
        )
    session.flush()
    session.expire(meeting, ["attendees"])
    return _attendees(session, meeting.id)


def _attendees(session: Session, meeting_id: int) -> list[AttendeeView]:
    return [
        AttendeeView(person_id, name, bool(present))
        for person_id, name, present in session.execute(
            select(Person.id, Person.name, cab_attendee.c.present)
            .join(cab_attendee, cab_attendee.c.person_id == Person.id)
            .where(cab_attendee.c.meeting_id == meeting_id)
            .order_by(Person.name, Person.id)
        )
    ]


# Decisions


def _item_conflict(
    session: Session, item: CabAgendaItem, change: ChangeRequest, mine: dict[str, Any]
) -> DecisionConflictError:
    who, when = last_writer(session, "cab_agenda_item", item.id)
    by_at = by_whom_when(who, when)
    if item.decision is not None:
        what = f"was decided ({DECISION_LABELS.get(item.decision, item.decision)}){by_at}"
    else:
        what = f"was changed{by_at}"
    return DecisionConflictError(
        f"{change.number} {what} after you opened the agenda. Nothing was overwritten; "
        "look at the board's decision again.",
        item_id=item.id,
        change_id=change.id,
        number=change.number,
        their_version=item.version,
        theirs={"decision": item.decision, "conditions": item.conditions, "state": change.state},
        mine=mine,
        changed_by=who,
        changed_at=when,
    )


def _clean_votes(
    session: Session, meeting_id: int, votes: Mapping[int, str] | None
) -> dict[int, str]:
    clean: dict[int, str] = {}
    if not votes:
        return clean
    present = {
        person_id
        for person_id, is_present in session.execute(
            select(cab_attendee.c.person_id, cab_attendee.c.present).where(
                cab_attendee.c.meeting_id == meeting_id
            )
        )
        if is_present
    }
    for person_id, vote in votes.items():
        ident = _person(session, person_id, "A voter")
        if ident is None:
            continue
        value = str(vote or "").strip().lower()
        if value not in VOTES:
            raise WorkflowError(
                f"“{str(vote)[:20]}” is not a vote ({', '.join(VOTES[:-1])} or {VOTES[-1]})."
            )
        if ident not in present:
            name = session.get(Person, ident).name  # type: ignore[union-attr]
            raise WorkflowError(
                f"{name} is not marked present at this meeting; only members present can vote."
            )
        clean[ident] = value
    return clean


def _vote_text(session: Session, votes: Mapping[int, str]) -> str | None:
    if not votes:
        return None
    names = dict(session.execute(select(Person.id, Person.name).where(Person.id.in_(votes))).all())
    return "; ".join(sorted(f"{names.get(p, p)}: {v}" for p, v in votes.items()))


def record_decision(
    session: Session,
    item_id: int,
    decision: str,
    *,
    conditions: str = "",
    votes: Mapping[int, str] | None = None,
    notes: str | None = None,
    expected_version: int | None,
    change_version: int | None = None,
    author: int | None = None,
    now: dt.datetime | None = None,
) -> CabAgendaItem:
    """Record the board's decision on an agenda item, with conditions and votes
    (``{person_id: "approve" | "reject" | "abstain"}``, members present only), and move
    the change: approved to Scheduled, rejected back to New (see the module's notes).

    ``expected_version`` is the agenda item's version as read (None skips the check);
    ``change_version`` the change's. A stale one raises :class:`DecisionConflictError`
    (or the workflow's :class:`ConflictError` for the change). An approval the workflow
    refuses raises its :class:`MissingFieldsError` before anything is written. Only a
    change in Authorize can be decided on; a decision may be revised while it still is.
    """
    now = _now(now)
    query = select(CabAgendaItem).where(CabAgendaItem.id == item_id)
    if session.get_bind().dialect.name != "sqlite":
        # Two chairs at once: the second waits here and then sees the first's version.
        query = query.with_for_update()
    item = session.scalars(query.execution_options(populate_existing=True)).first()
    if item is None:
        raise WorkflowError(
            "That agenda item no longer exists (the agenda was refreshed); reload the meeting."
        )
    change = session.get(ChangeRequest, item.change_id)
    if change is None:
        raise WorkflowError("That change no longer exists.")
    choice = str(decision or "").strip().lower()
    if choice not in DECISIONS:
        raise WorkflowError(
            f"“{str(decision)[:30]}” is not a CAB decision "
            f"({', '.join(DECISION_LABELS[d].lower() for d in DECISIONS)})."
        )
    mine = {"decision": choice, "conditions": conditions}
    if expected_version is not None and item.version != expected_version:
        raise _item_conflict(session, item, change, mine)
    if change_version is not None and change.version != change_version:
        who, when = last_writer(session, "change_request", change.id)
        by_at = by_whom_when(who, when)
        raise ConflictError(
            f"{change.number} was changed{by_at} after you opened the agenda; the board "
            "must see the change as it is now. Nothing was recorded.",
            change_id=change.id,
            number=change.number,
            their_version=change.version,
            theirs={k: getattr(change, k) for k in sorted(changes.EDITABLE | {"state"})},
            mine=mine,
            changed_by=who,
            changed_at=when,
        )
    meeting = _meeting(session, item.meeting_id)
    if meeting.state == "canceled":
        raise WorkflowError(f"{meeting.title} was canceled; its agenda cannot be decided.")
    if change.state != _AWAITING:
        raise WorkflowError(
            f"{change.number} is {change.state}, not awaiting authorisation; the board "
            "decides only on changes in Authorize."
        )
    kind = ChangeType.EMERGENCY.value if meeting.emergency else ChangeType.NORMAL.value
    if change.type != kind:
        board = "an ECAB" if meeting.emergency else "a CAB"
        raise WorkflowError(
            f"{change.number} is a {change.type.lower()} change, not one for {board}."
        )
    text = _text(conditions, "Conditions")
    note_text = _text(notes, "Notes") if notes is not None else item.notes or ""
    if choice == CabDecision.MORE_INFO and not text:
        raise WorkflowError("Say what more information the board needs (in the conditions).")
    clean_votes = _clean_votes(session, meeting.id, votes)
    actor = _person(session, author, "The acting person") if author is not None else None
    if choice == CabDecision.APPROVED:
        # Checked before anything is written: what Scheduled needs, besides this approval.
        missing = [
            m for m in changes.missing_fields(session, change.id, APPROVED_STATE) if m != "approval"
        ]
        if missing:
            labels = [changes.MISSING_LABELS.get(m, m) for m in missing]
            raise MissingFieldsError(
                f"{change.number} cannot be approved: it needs {_join(labels)}. "
                "Nothing was recorded.",
                state=APPROVED_STATE,
                missing=missing,
            )

    old_votes = {
        v.person_id: v.vote
        for v in session.scalars(select(CabVote).where(CabVote.agenda_item_id == item.id))
    }
    with session.no_autoflush:
        item.decision = choice
        item.conditions = text
        item.notes = note_text
        item.decided_at = now
        item_id, change_id = item.id, change.id
        try:
            session.flush()
        except StaleDataError:
            # The transaction is gone with the lost race: read the board's decision anew.
            with committed_view(session) as fresh:
                theirs = fresh.get(CabAgendaItem, item_id)
                assert theirs is not None
                raise _item_conflict(
                    fresh, theirs, fresh.get(ChangeRequest, change_id), mine
                ) from None
        if old_votes != clean_votes:
            session.execute(delete(CabVote).where(CabVote.agenda_item_id == item.id))
            for person_id, vote in clean_votes.items():
                session.add(CabVote(agenda_item_id=item.id, person_id=person_id, vote=vote))
            _audit(
                session,
                "cab_agenda_item",
                item.id,
                "votes",
                _vote_text(session, old_votes),
                _vote_text(session, clean_votes),
                now,
            )
            session.flush()
            session.expire(item, ["votes"])
    if choice == CabDecision.APPROVED:
        changes.transition(session, change.id, APPROVED_STATE, change.version, actor, now=now)
    elif choice == CabDecision.REJECTED:
        changes.transition(session, change.id, REJECTED_STATE, change.version, actor, now=now)
    return item


# Reading


def _meeting_info(session: Session, meeting: CabMeeting) -> MeetingInfo:
    chair = session.get(Person, meeting.chair_id) if meeting.chair_id else None
    return MeetingInfo(
        meeting.id,
        meeting.version,
        meeting.title,
        meeting.starts_at,
        meeting.ends_at,
        meeting.location or "",
        meeting.chair_id,
        chair.name if chair else None,
        bool(meeting.emergency),
        meeting.state,
        meeting.minutes or "",
    )


def _link_names(session: Session, link: Any, column: Any, model: Any, ids: list[int]) -> dict:
    out: dict[int, list[str]] = {}
    for change_id, name in session.execute(
        select(link.c.change_id, model.name)
        .join(model, model.id == column)
        .where(link.c.change_id.in_(ids))
        .order_by(model.name)
    ):
        out.setdefault(change_id, []).append(name)
    return out


def meeting_view(session: Session, meeting_id: int) -> MeetingView:
    """The meeting, its attendees and its agenda with every change's summary, risk,
    planned window, conflicts, decision, votes and earlier decisions."""
    meeting = _meeting(session, meeting_id)
    group, assignee, requester = aliased(Team), aliased(Person), aliased(Person)
    rows = session.execute(
        select(
            CabAgendaItem, ChangeRequest, Service.name, group.name, assignee.name, requester.name
        )
        .join(ChangeRequest, ChangeRequest.id == CabAgendaItem.change_id)
        .outerjoin(Service, Service.id == ChangeRequest.service_id)
        .outerjoin(group, group.id == ChangeRequest.assignment_group_id)
        .outerjoin(assignee, assignee.id == ChangeRequest.assignee_id)
        .outerjoin(requester, requester.id == ChangeRequest.requested_by_id)
        .where(CabAgendaItem.meeting_id == meeting.id)
        .order_by(CabAgendaItem.position, CabAgendaItem.id)
    ).all()
    change_ids = [change.id for _item, change, *_rest in rows]
    item_ids = [item.id for item, *_rest in rows]
    services = _link_names(
        session, change_service, change_service.c.service_id, Service, change_ids
    )
    cis = _link_names(session, change_ci, change_ci.c.ci_id, ConfigurationItem, change_ids)
    votes: dict[int, list[VoteView]] = {}
    if item_ids:
        for item_id, person_id, name, vote, comment in session.execute(
            select(CabVote.agenda_item_id, Person.id, Person.name, CabVote.vote, CabVote.comment)
            .join(Person, Person.id == CabVote.person_id)
            .where(CabVote.agenda_item_id.in_(item_ids))
            .order_by(Person.name)
        ):
            votes.setdefault(item_id, []).append(VoteView(person_id, name, vote, comment or ""))
    earlier: dict[int, list[EarlierDecision]] = {}
    if change_ids:
        for change_id, m_id, title, starts_at, decision, conditions in session.execute(
            select(
                CabAgendaItem.change_id,
                CabMeeting.id,
                CabMeeting.title,
                CabMeeting.starts_at,
                CabAgendaItem.decision,
                CabAgendaItem.conditions,
            )
            .join(CabMeeting, CabMeeting.id == CabAgendaItem.meeting_id)
            .where(
                CabAgendaItem.change_id.in_(change_ids),
                CabAgendaItem.meeting_id != meeting.id,
                CabAgendaItem.decision.is_not(None),
            )
            .order_by(CabMeeting.starts_at.desc())
        ):
            earlier.setdefault(change_id, []).append(
                EarlierDecision(m_id, title, starts_at, decision, conditions or "")
            )
    windowed = [
        change.id
        for _item, change, *_rest in rows
        if change.planned_start is not None
        and change.planned_end is not None
        and change.planned_end > change.planned_start
    ]
    conflicts = find_conflicts(session, windowed) if windowed else {}
    items = []
    for item, change, service, group_name, assignee_name, requester_name in rows:
        blockers: tuple[str, ...] = ()
        if change.state == _AWAITING:
            # What approval would still lack, the approval itself aside (not read at all).
            blockers = tuple(
                changes.MISSING_LABELS.get(m, m)
                for m in changes.missing_fields(
                    session, change.id, APPROVED_STATE, with_records=False
                )
            )
        items.append(
            AgendaItemView(
                id=item.id,
                version=item.version,
                position=item.position,
                change_id=change.id,
                change_version=change.version,
                number=change.number,
                short_description=change.short_description,
                description=change.description or "",
                justification=change.justification or "",
                type=change.type,
                state=change.state,
                risk=change.risk,
                risk_score=change.risk_score,
                planned_start=change.planned_start,
                planned_end=change.planned_end,
                service=service,
                services=tuple(services.get(change.id, ())),
                cis=tuple(cis.get(change.id, ())),
                assignment_group=group_name,
                assignee=assignee_name,
                requested_by=requester_name,
                implementation_plan=change.implementation_plan or "",
                test_plan=change.test_plan or "",
                backout_plan=change.backout_plan or "",
                conflicts=tuple(conflicts.get(change.id, ())),
                decision=item.decision,
                conditions=item.conditions or "",
                notes=item.notes or "",
                decided_at=item.decided_at,
                votes=tuple(votes.get(item.id, ())),
                earlier=tuple(earlier.get(change.id, ())),
                blockers=blockers,
            )
        )
    return MeetingView(
        _meeting_info(session, meeting), tuple(_attendees(session, meeting.id)), tuple(items)
    )


def list_meetings(
    session: Session, *, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[MeetingInfo]:
    """Meetings starting in [start, end), by start."""
    query = select(CabMeeting)
    if start is not None:
        query = query.where(CabMeeting.starts_at >= start)
    if end is not None:
        query = query.where(CabMeeting.starts_at < end)
    return [
        _meeting_info(session, m)
        for m in session.scalars(query.order_by(CabMeeting.starts_at, CabMeeting.id).limit(500))
    ]


# Post-implementation reviews


def pending_reviews(session: Session, *, limit: int = PENDING_LIMIT) -> list[PendingReview]:
    """Emergency and failed changes, in Review or Closed, without a post-implementation
    review; newest first. Failed: closed Unsuccessful, or named as the cause of an
    incident (DOMAIN.md counts those as failed too). Record one with
    :func:`app.services.changes.record_review`."""
    reviewed = exists().where(
        ChangeReview.change_id == ChangeRequest.id,
        func.length(func.trim(ChangeReview.outcome)) > 0,
    )
    caused = exists().where(Incident.caused_by_change_id == ChangeRequest.id)
    emergency = ChangeRequest.type == ChangeType.EMERGENCY.value
    unsuccessful = ChangeRequest.close_code == CloseCode.UNSUCCESSFUL.value
    rows = session.execute(
        select(
            ChangeRequest.id,
            ChangeRequest.number,
            ChangeRequest.short_description,
            ChangeRequest.type,
            ChangeRequest.state,
            ChangeRequest.close_code,
            ChangeRequest.actual_end,
            ChangeRequest.closed_at,
            caused.label("caused"),
        )
        .where(
            ChangeRequest.state.in_([ChangeState.REVIEW.value, ChangeState.CLOSED.value]),
            or_(emergency, unsuccessful, and_(ChangeRequest.actual_start.is_not(None), caused)),
            ~reviewed,
        )
        .order_by(
            func.coalesce(ChangeRequest.closed_at, ChangeRequest.actual_end).desc(),
            ChangeRequest.id.desc(),
        )
        .limit(limit)
    ).all()
    out = []
    for row in rows:
        reasons = []
        if row.type == ChangeType.EMERGENCY.value:
            reasons.append("Emergency change")
        if row.close_code == CloseCode.UNSUCCESSFUL.value:
            reasons.append("Closed Unsuccessful")
        if row.caused:
            reasons.append("Caused an incident")
        out.append(
            PendingReview(
                row.id,
                row.number,
                row.short_description,
                row.type,
                row.state,
                row.close_code,
                row.actual_end,
                row.closed_at,
                "; ".join(reasons),
            )
        )
    return out


# Workbooks

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEADER_FILL = PatternFill(start_color="FFE8EAF0", end_color="FFE8EAF0", fill_type="solid")
_WRAP = Alignment(wrap_text=True, vertical="top", horizontal="left")
_TOP = Alignment(vertical="top", horizontal="left")
_DECISION_FILLS = {
    "approved": "FFD7F0DB",
    "rejected": "FFF8D7DA",
    "deferred": "FFFFF3CD",
    "more_info": "FFD6E9FB",
}


def _table(
    ws: Any,
    top: int,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    wrap: set[int],
    zone: dt.tzinfo | None,
    freeze_columns: int = 0,
) -> None:
    """A table with a bold header row at ``top``: frozen, filtered, wrapped where asked."""
    for column, header in enumerate(headers, 1):
        cell = safe_text(ws.cell(top, column), header)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP
    for r, values in enumerate(rows, top + 1):
        for column, value in enumerate(values, 1):
            cell = ws.cell(r, column)
            if value is not None and value != "":
                put(cell, value, zone)
            cell.alignment = _WRAP if column in wrap else _TOP
    for column, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = f"{get_column_letter(freeze_columns + 1)}{top + 1}"
    last = top + max(len(rows), 1)
    ws.auto_filter.ref = f"A{top}:{get_column_letter(len(headers))}{last}"
    fit_to_width(ws, header_rows=top)


def _conflict_text(item: AgendaItemView) -> str:
    return "\n".join(f"• {c.sentence}" for c in item.conflicts)


def _facts(ws: Any, title: str, facts: Sequence[tuple[str, Any]], zone: dt.tzinfo | None) -> int:
    safe_text(ws["A1"], title).font = _TITLE
    row = 3
    for label, value in facts:
        safe_text(ws.cell(row, 1), label).font = _BOLD
        ws.cell(row, 1).alignment = _TOP
        if value is not None and value != "":
            put(ws.cell(row, 2), value, zone).alignment = _WRAP
        row += 1
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 90
    return row


def _meeting_facts(view: MeetingView) -> list[tuple[str, Any]]:
    m = view.meeting
    return [
        ("Meeting", m.title),
        ("Board", "Emergency CAB (ECAB)" if m.emergency else "Change Advisory Board"),
        ("Starts", m.starts_at),
        ("Ends", m.ends_at),
        ("Location", m.location),
        ("Chair", m.chair or ""),
        ("Changes on the agenda", len(view.items)),
    ]


def minutes_workbook(view: MeetingView, zone: dt.tzinfo | None = None) -> Workbook:
    """The minutes: the meeting and who attended, each decision with conditions and votes."""
    wb = Workbook()
    summary = wb.active
    summary.title = "Minutes"
    counts = {d: sum(1 for i in view.items if i.decision == d) for d in DECISIONS}
    facts = [
        *_meeting_facts(view),
        ("Decided", f"{view.decided_count} of {len(view.items)}"),
        *((DECISION_LABELS[d], counts[d]) for d in DECISIONS),
        ("Present", ", ".join(a.name for a in view.attendees if a.present)),
        ("Absent", ", ".join(a.name for a in view.attendees if not a.present)),
        ("Notes", view.meeting.minutes),
    ]
    _facts(summary, f"Minutes: {view.meeting.title}", facts, zone)
    fit_to_width(summary, landscape=False)

    decisions = wb.create_sheet("Decisions")
    rows = []
    for item in view.items:
        counts_ = item.vote_counts()
        rows.append(
            [
                item.position,
                item.number,
                item.short_description,
                item.type,
                item.risk,
                item.planned_start,
                item.planned_end,
                item.decision_label,
                item.conditions,
                counts_["approve"],
                counts_["reject"],
                counts_["abstain"],
                "\n".join(f"{v.name}: {VOTE_LABELS.get(v.vote, v.vote)}" for v in item.votes),
                item.decided_at,
                item.state,
            ]
        )
    _table(
        decisions,
        1,
        [
            "#",
            "Change",
            "Short description",
            "Type",
            "Risk",
            "Planned start",
            "Planned end",
            "Decision",
            "Conditions",
            "Approve",
            "Reject",
            "Abstain",
            "Votes",
            "Decided at",
            "State now",
        ],
        rows,
        [5, 13, 44, 11, 11, 17, 17, 17, 44, 9, 9, 9, 30, 17, 12],
        {3, 9, 13},
        zone,
        freeze_columns=2,
    )
    for r, item in enumerate(view.items, 2):
        fill = _DECISION_FILLS.get(item.decision or "")
        if fill:
            decisions.cell(r, 8).fill = PatternFill(
                start_color=fill, end_color=fill, fill_type="solid"
            )

    votes = wb.create_sheet("Votes")
    _table(
        votes,
        1,
        ["Change", "Member", "Vote", "Comment"],
        [
            [item.number, v.name, VOTE_LABELS.get(v.vote, v.vote), v.comment]
            for item in view.items
            for v in item.votes
        ],
        [13, 28, 10, 60],
        {4},
        zone,
    )
    attendees = wb.create_sheet("Attendees")
    _table(
        attendees,
        1,
        ["Name", "Present", "Role"],
        [
            [
                a.name,
                "Yes" if a.present else "No",
                "Chair" if a.person_id == view.meeting.chair_id else "Member",
            ]
            for a in view.attendees
        ],
        [30, 10, 12],
        set(),
        zone,
    )
    return wb


def agenda_pack_workbook(view: MeetingView, zone: dt.tzinfo | None = None) -> Workbook:
    """The agenda pack: one row per change with its plans, risk, window and conflicts."""
    wb = Workbook()
    agenda = wb.active
    agenda.title = "Agenda"
    rows = [
        [
            item.position,
            item.number,
            item.short_description,
            item.type,
            item.risk,
            item.risk_score,
            item.planned_start,
            item.planned_end,
            round((item.planned_end - item.planned_start).total_seconds() / 3600, 2)
            if item.planned_start and item.planned_end
            else None,
            item.service or "",
            ", ".join(item.cis),
            item.assignment_group or "",
            item.assignee or "",
            item.requested_by or "",
            item.implementation_plan,
            item.test_plan,
            item.backout_plan,
            len(item.conflicts),
            _conflict_text(item),
            "\n".join(e.sentence() for e in item.earlier),
            item.decision_label if item.decided else "",
        ]
        for item in view.items
    ]
    _table(
        agenda,
        1,
        [
            "#",
            "Change",
            "Short description",
            "Type",
            "Risk",
            "Risk score",
            "Planned start",
            "Planned end",
            "Hours",
            "Service",
            "Configuration items",
            "Assignment group",
            "Assigned to",
            "Requested by",
            "Implementation plan",
            "Test plan",
            "Back-out plan",
            "Conflicts",
            "Conflict details",
            "Earlier decisions",
            "Decision",
        ],
        rows,
        [5, 13, 40, 11, 11, 8, 17, 17, 7, 20, 24, 20, 20, 20, 40, 34, 34, 9, 60, 34, 14],
        {3, 11, 15, 16, 17, 19, 20},
        zone,
        freeze_columns=2,
    )
    for r, item in enumerate(view.items, 2):
        if item.conflicts:
            agenda.cell(r, 18).font = Font(bold=True, color="FFB71C1C")
    meeting = wb.create_sheet("Meeting")
    _facts(
        meeting,
        f"Agenda pack: {view.meeting.title}",
        [
            *_meeting_facts(view),
            ("With conflicts", sum(1 for i in view.items if i.conflicts)),
            ("Attendees", ", ".join(a.name for a in view.attendees)),
        ],
        zone,
    )
    fit_to_width(meeting, landscape=False)
    return wb


def export_minutes(
    session: Session,
    meeting_id: int,
    path: str | os.PathLike[str],
    zone: dt.tzinfo | None = None,
) -> MeetingView:
    """Write the meeting's minutes workbook to ``path`` (renamed into place when whole)."""
    view = meeting_view(session, meeting_id)
    save_workbook(minutes_workbook(view, zone), path)
    return view


def export_agenda_pack(
    session: Session,
    meeting_id: int,
    path: str | os.PathLike[str],
    zone: dt.tzinfo | None = None,
) -> MeetingView:
    """Write the meeting's agenda pack workbook to ``path`` (renamed into place when whole)."""
    view = meeting_view(session, meeting_id)
    save_workbook(agenda_pack_workbook(view, zone), path)
    return view


__all__ = [
    "APPROVED_STATE",
    "DECISIONS",
    "DECISION_LABELS",
    "DEFAULT_HORIZON",
    "REJECTED_STATE",
    "VOTES",
    "VOTE_LABELS",
    "AgendaItemView",
    "AgendaRefresh",
    "AttendeeView",
    "DecisionConflictError",
    "EarlierDecision",
    "MeetingInfo",
    "MeetingView",
    "PendingReview",
    "PersonChoice",
    "VoteView",
    "agenda_pack_workbook",
    "create_meeting",
    "export_agenda_pack",
    "export_minutes",
    "list_meetings",
    "meeting_for_day",
    "meeting_view",
    "minutes_workbook",
    "pending_reviews",
    "people",
    "record_attendees",
    "record_decision",
    "refresh_agenda",
]
