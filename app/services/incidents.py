"""The incident workflow: create, edit, assign, move through states, note, and bulk actions.

Every function works inside the caller's session and transaction, validates everything
before it changes anything, and raises :class:`WorkflowError` with a sentence a
service-desk agent understands. Each change writes :class:`IncidentEvent` rows for the
timeline (the audit hook adds the audit rows), moves ``updated_at`` and ``version``,
and lets the SLA engine update the incident's clocks.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.engine import committed_view
from app.models import (
    AppUser,
    AuditEntry,
    ChangeRequest,
    ConfigurationItem,
    Incident,
    IncidentEvent,
    Person,
    PostIncidentReview,
    Problem,
    Service,
    SlaClock,
    SlaDefinition,
    Team,
    Vendor,
    team_member,
    utcnow,
)
from app.models.enums import HoldReason, IncidentState
from app.services.audit_log import by_whom_when, last_writer
from app.services.formatting import format_datetime
from app.services.numbering import insert_numbered
from app.services.priority import PriorityError, check_level, check_priority, compute_priority
from app.services.priority import matrix as priority_matrix
from app.services.users import author_person_id

S = IncidentState

#: Allowed moves (DOMAIN.md); Closed and Canceled are final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.NEW: (S.IN_PROGRESS, S.ON_HOLD, S.RESOLVED, S.CANCELED),
    S.IN_PROGRESS: (S.ON_HOLD, S.RESOLVED, S.CANCELED),
    S.ON_HOLD: (S.IN_PROGRESS, S.RESOLVED, S.CANCELED),
    S.RESOLVED: (S.IN_PROGRESS, S.CLOSED),
    S.CLOSED: (),
    S.CANCELED: (),
}
FINAL_STATES = (S.CLOSED, S.CANCELED)
CONTACT_TYPES = ("phone", "email", "portal", "chat", "walk-in", "monitoring")
RESOLUTION_CODES = (
    "Solved (Permanently)",
    "Solved (Work Around)",
    "Solved Remotely (Permanently)",
    "Solved Remotely (Work Around)",
    "Not Solved (Not Reproducible)",
    "Not Solved (Too Costly)",
    "Closed/Resolved by Caller",
)
NUMBER_PREFIX = "INC"
NUMBER_DIGITS = 7
#: Long text (description, notes, reasons) is capped so one paste cannot bloat the database.
LONG_TEXT_LIMIT = 100_000
#: Opened-at may be this far ahead of our clock (another computer's clock may run fast).
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Timeline rows read per source; older history stays in the audit log.
TIMELINE_LIMIT = 400
#: Ids per IN (...) list, well under every driver's parameter limit.
CHUNK = 500

#: Field names as an agent reads them.
FIELD_LABELS: dict[str, str] = {
    "number": "Number",
    "short_description": "Short description",
    "description": "Description",
    "caller_id": "Caller",
    "contact_type": "Contact type",
    "category": "Category",
    "subcategory": "Subcategory",
    "service_id": "Service",
    "ci_id": "Configuration item",
    "impact": "Impact",
    "urgency": "Urgency",
    "priority": "Priority",
    "priority_overridden": "Priority overridden",
    "priority_override_reason": "Override reason",
    "state": "State",
    "hold_reason": "Hold reason",
    "assignment_group_id": "Assignment group",
    "assignee_id": "Assigned to",
    "vendor_id": "Vendor",
    "problem_id": "Problem",
    "change_id": "Change",
    "caused_by_change_id": "Caused by change",
    "opened_at": "Opened",
    "first_response_at": "First response",
    "resolved_at": "Resolved",
    "closed_at": "Closed",
    "resolution_code": "Resolution code",
    "resolution_notes": "Resolution notes",
    "is_major": "Major incident",
    "major_status": "Major incident status",
}
#: Reference fields: (model, attribute shown for it).
REFERENCES: dict[str, tuple[type, str]] = {
    "caller_id": (Person, "name"),
    "service_id": (Service, "name"),
    "ci_id": (ConfigurationItem, "name"),
    "assignment_group_id": (Team, "name"),
    "assignee_id": (Person, "name"),
    "vendor_id": (Vendor, "name"),
    "problem_id": (Problem, "number"),
    "change_id": (ChangeRequest, "number"),
    "caused_by_change_id": (ChangeRequest, "number"),
}
#: Short text fields and their column widths.
SHORT_TEXT = {
    "short_description": 200,
    "contact_type": 20,
    "category": 60,
    "subcategory": 60,
    "resolution_code": 60,
    "major_status": 30,
}
LONG_TEXT = ("description", "priority_override_reason", "resolution_notes")
DATES = ("opened_at", "first_response_at", "resolved_at", "closed_at")
#: What ``update_incident`` may change; the state moves only through ``transition``.
EDITABLE = frozenset(
    {
        *SHORT_TEXT,
        *LONG_TEXT,
        *REFERENCES,
        *DATES,
        "impact",
        "urgency",
        "priority",
        "priority_overridden",
        "is_major",
    }
)
_ASSIGNMENT_FIELDS = ("assignment_group_id", "assignee_id")


class WorkflowError(ValueError):
    """A change the workflow refuses; ``str(err)`` says why in the agent's words."""


class ConflictError(WorkflowError):
    """Someone else saved the incident after it was read; nothing was overwritten.

    ``theirs`` holds the saved values (every editable field and ``state``), ``mine`` the
    changes that were refused; ``their_version`` is what to pass to save over theirs.
    """

    def __init__(
        self,
        message: str,
        *,
        incident_id: int,
        number: str,
        their_version: int,
        theirs: dict[str, Any],
        mine: dict[str, Any],
        changed_by: str | None = None,
        changed_at: dt.datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.incident_id = incident_id
        self.number = number
        self.their_version = their_version
        self.theirs = theirs
        self.mine = mine
        self.changed_by = changed_by
        self.changed_at = changed_at

    @property
    def fields(self) -> list[str]:
        """The fields of ``mine`` whose saved value differs from what was asked for."""
        return [key for key, value in self.mine.items() if self.theirs.get(key) != value]


class BulkError(WorkflowError):
    """A bulk action refused because some incidents cannot take it; none was changed."""

    def __init__(self, message: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass
class IncidentInput:
    """What a new incident is made from (a form, a bulk import row)."""

    short_description: str
    description: str = ""
    caller_id: int | None = None
    contact_type: str = "portal"
    category: str | None = None
    subcategory: str | None = None
    service_id: int | None = None
    ci_id: int | None = None
    impact: int = 3
    urgency: int = 3
    #: A priority other than the matrix's; needs ``priority_override_reason``.
    priority: int | None = None
    priority_override_reason: str | None = None
    assignment_group_id: int | None = None
    assignee_id: int | None = None
    vendor_id: int | None = None
    problem_id: int | None = None
    change_id: int | None = None
    caused_by_change_id: int | None = None
    is_major: bool = False
    opened_at: dt.datetime | None = None


@dataclass
class BulkResult:
    """What a bulk action did: numbers changed, and numbers skipped with the reason."""

    changed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ClockView:
    """One SLA clock of an incident, as the form shows it."""

    id: int
    name: str
    kind: str
    target: str
    stage: str
    duration_seconds: int
    started_at: dt.datetime
    due_at: dt.datetime | None
    stopped_at: dt.datetime | None
    paused_since: dt.datetime | None
    business_elapsed_seconds: int
    computed_at: dt.datetime | None
    breached: bool
    round_the_clock: bool

    def elapsed_at(self, now: dt.datetime) -> float:
        """Business seconds used by ``now`` (exact for 24x7 clocks, else as last computed)."""
        elapsed = float(self.business_elapsed_seconds)
        if self.running() and self.round_the_clock and self.computed_at is not None:
            elapsed += max(0.0, (now - self.computed_at).total_seconds())
        return elapsed

    def running(self) -> bool:
        """Counting business time now (not paused, stopped or canceled)."""
        return self.stage == "in_progress" and self.stopped_at is None

    def past_due(self, now: dt.datetime) -> bool:
        """A running clock past its due time has breached, whenever it was last computed."""
        return self.running() and self.due_at is not None and now >= self.due_at

    def fraction_used(self, now: dt.datetime) -> float:
        """Share of the target used (1.0 = due); breached clocks are at least 1."""
        fraction = self.elapsed_at(now) / self.duration_seconds if self.duration_seconds else 1.0
        return max(fraction, 1.0) if self.breached or self.past_due(now) else fraction

    def seconds_left(self, now: dt.datetime) -> float | None:
        """Business seconds left before the target (negative once past it); None if finished."""
        if self.stage not in ("in_progress", "paused"):
            return None
        left = self.duration_seconds - self.elapsed_at(now)
        if self.past_due(now) and not self.round_the_clock and self.due_at is not None:
            # Business time is only known as of computed_at; the due time is exact.
            return min(left, -(now - self.due_at).total_seconds())
        return left


@dataclass
class TimelineEntry:
    """One line of history: a work note, a state, assignment, priority or field change."""

    at: dt.datetime
    kind: str
    author: str
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    text: str | None = None
    source: str = "event"


@dataclass
class IncidentDetail:
    """Everything the incident form shows, names resolved, with clocks and timeline."""

    id: int
    number: str
    version: int
    short_description: str
    description: str
    caller_id: int | None
    contact_type: str
    category: str | None
    subcategory: str | None
    service_id: int | None
    ci_id: int | None
    impact: int
    urgency: int
    priority: int
    priority_overridden: bool
    priority_override_reason: str | None
    state: str
    hold_reason: str | None
    assignment_group_id: int | None
    first_group_id: int | None
    assignee_id: int | None
    vendor_id: int | None
    problem_id: int | None
    change_id: int | None
    caused_by_change_id: int | None
    opened_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolution_code: str | None
    resolution_notes: str | None
    reassignment_count: int
    reopen_count: int
    made_sla: bool | None
    is_major: bool
    major_declared_at: dt.datetime | None
    major_status: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    caller_name: str | None = None
    service_name: str | None = None
    ci_name: str | None = None
    assignment_group_name: str | None = None
    first_group_name: str | None = None
    assignee_name: str | None = None
    vendor_name: str | None = None
    problem_number: str | None = None
    change_number: str | None = None
    caused_by_change_number: str | None = None
    clocks: list[ClockView] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """The editable fields and the state, as ``update_incident`` takes them."""
        return {key: getattr(self, key) for key in sorted(EDITABLE | {"state"})}


@dataclass
class Option:
    """A choice in a combo box: the id and the text shown."""

    id: int
    label: str


@dataclass
class GroupOption(Option):
    """An assignment group and the people who may be assigned in it."""

    members: list[Option] = field(default_factory=list)


@dataclass
class ServiceOption(Option):
    """A service and its configuration items."""

    cis: list[Option] = field(default_factory=list)
    support_group_id: int | None = None


@dataclass
class Lookups:
    """The choices of the incident form's combo boxes."""

    groups: list[GroupOption]
    people: list[Option]
    services: list[ServiceOption]
    vendors: list[Option]
    problems: list[Option]
    changes: list[Option]
    categories: dict[str, list[str]]
    matrix: dict[tuple[int, int], int]
    contact_types: tuple[str, ...] = CONTACT_TYPES
    resolution_codes: tuple[str, ...] = RESOLUTION_CODES
    hold_reasons: tuple[str, ...] = tuple(r.value for r in HoldReason)


# Reading and checking values


def _label(key: str) -> str:
    return FIELD_LABELS.get(key, key.replace("_", " ").capitalize())


def _clean_text(key: str, value: Any, *, required: bool = False) -> str | None:
    if value is None:
        text = ""
    elif isinstance(value, str):
        # PostgreSQL refuses NUL characters in text; they never mean anything here.
        text = value.replace("\x00", "").strip()
    else:
        raise WorkflowError(f"{_label(key)} must be text.")
    limit = SHORT_TEXT.get(key, LONG_TEXT_LIMIT)
    if len(text) > limit:
        raise WorkflowError(
            f"{_label(key)} is {len(text):,} characters long; the limit is {limit:,}."
        )
    if required and not text:
        raise WorkflowError(f"{_label(key)} is required.")
    return text or None


def _clean_id(key: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise WorkflowError(f"{_label(key)} must be chosen from the list.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise WorkflowError(f"{_label(key)} must be chosen from the list, not “{str(value)[:40]}”.")


def _clean_date(key: str, value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise WorkflowError(
                f"{_label(key)} must be a date and time like 2026-11-23 14:05, "
                f"not “{value.strip()[:40]}”."
            ) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    if not isinstance(value, dt.datetime):
        raise WorkflowError(f"{_label(key)} must be a date and time.")
    if value.tzinfo is None:
        raise WorkflowError(f"{_label(key)} has no time zone.")
    return value.astimezone(dt.UTC).replace(microsecond=0)


def _clean_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise WorkflowError(f"{_label(key)} must be yes or no.")


def _level(value: Any, key: str) -> int:
    try:
        return check_level(value, _label(key))
    except PriorityError as exc:
        raise WorkflowError(str(exc)) from None


def _priority(value: Any) -> int:
    try:
        return check_priority(value)
    except PriorityError as exc:
        raise WorkflowError(str(exc)) from None


def _clean(key: str, value: Any) -> Any:
    """``value`` for field ``key`` in the type the model keeps, or a WorkflowError."""
    if key in ("short_description", "contact_type"):
        return _clean_text(key, value, required=True)
    if key in SHORT_TEXT or key in LONG_TEXT:
        return _clean_text(key, value)
    if key in REFERENCES:
        return _clean_id(key, value)
    if key in DATES:
        return _clean_date(key, value)
    if key in ("impact", "urgency"):
        return _level(value, key)
    if key == "priority":
        return None if value is None else _priority(value)
    if key in ("priority_overridden", "is_major"):
        return _clean_bool(key, value)
    raise WorkflowError(f"{_label(key)} cannot be changed here.")


def _check_references(session: Session, values: dict[str, Any]) -> None:
    """Every referenced record exists; the CI belongs to the service; the assignee to the group."""
    for key, (model, _attr) in REFERENCES.items():
        ident = values.get(key)
        if ident is not None and session.get(model, ident) is None:
            raise WorkflowError(f"{_label(key)} no longer exists (it may have been deleted).")
    ci_id, service_id = values.get("ci_id"), values.get("service_id")
    if ci_id is not None and service_id is not None:
        ci = session.get(ConfigurationItem, ci_id)
        if ci is not None and ci.service_id is not None and ci.service_id != service_id:
            service = session.get(Service, service_id)
            raise WorkflowError(
                f"Configuration item {ci.name} is not part of the service "
                f"{service.name if service else service_id}."
            )
    _check_member(session, values.get("assignment_group_id"), values.get("assignee_id"))


def _check_member(session: Session, group_id: int | None, assignee_id: int | None) -> None:
    if assignee_id is None:
        return
    if group_id is None:
        raise WorkflowError("Choose an assignment group before assigning a person.")
    is_member = session.scalar(
        select(func.count())
        .select_from(team_member)
        .where(team_member.c.team_id == group_id, team_member.c.person_id == assignee_id)
    )
    if not is_member:
        person, group = session.get(Person, assignee_id), session.get(Team, group_id)
        raise WorkflowError(
            f"{person.name if person else 'That person'} is not a member of "
            f"{group.name if group else 'that group'}."
        )


def _check_dates(values: dict[str, Any], now: dt.datetime, *, new_opened: bool = True) -> None:
    opened = values.get("opened_at")
    if opened is None:
        return
    if new_opened and opened > now + CLOCK_SKEW:
        raise WorkflowError(f"Opened ({format_datetime(opened)}) cannot be in the future.")
    for key in ("first_response_at", "resolved_at", "closed_at"):
        when = values.get(key)
        if when is not None and when < opened:
            raise WorkflowError(
                f"{_label(key)} ({format_datetime(when)}) cannot be before Opened "
                f"({format_datetime(opened)})."
            )
    resolved, closed = values.get("resolved_at"), values.get("closed_at")
    if resolved is not None and closed is not None and closed < resolved:
        raise WorkflowError(
            f"Closed ({format_datetime(closed)}) cannot be before Resolved "
            f"({format_datetime(resolved)})."
        )


def _resolve_priority(
    session: Session,
    impact: int,
    urgency: int,
    overridden: bool,
    priority: int | None,
    reason: str | None,
) -> tuple[int, bool, str | None]:
    """(priority, overridden, reason): the matrix's unless overridden with a reason."""
    from_matrix = compute_priority(session, impact, urgency)
    if not overridden or priority is None:
        return from_matrix, False, None
    if not reason:
        raise WorkflowError("Give a reason for overriding the priority the matrix suggests.")
    return priority, True, reason


# Events, authors and the SLA engine


def _shown(session: Session, key: str, value: Any) -> str | None:
    """How a value reads on the timeline: names for references, ``P2`` for priorities."""
    if value is None:
        return None
    if key in REFERENCES:
        model, attr = REFERENCES[key]
        record = session.get(model, value)
        return getattr(record, attr) if record is not None else f"#{value}"
    if key == "priority":
        return f"P{value}"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(sep=" ")
    return str(value)


def _event_field(key: str) -> str:
    return key.removesuffix("_id") if key in REFERENCES else key


def _event(
    session: Session,
    incident: Incident,
    kind: str,
    now: dt.datetime,
    key: str | None = None,
    old: Any = None,
    new: Any = None,
    text: str | None = None,
) -> IncidentEvent:
    event = IncidentEvent(
        incident_id=incident.id,
        at=now,
        author_id=author_person_id(session),
        kind=kind,
        field=_event_field(key) if key else None,
        old_value=_shown(session, key, old) if key else None,
        new_value=_shown(session, key, new) if key else None,
        text=text,
    )
    session.add(event)
    return event


def _apply_sla(session: Session, incident: Incident, now: dt.datetime) -> None:
    try:
        from app.services import sla_engine
    except ModuleNotFoundError as exc:
        # Until the SLA engine ships, clocks simply do not move; any other import
        # failure inside it is a real error and must surface.
        if exc.name != "app.services.sla_engine":
            raise
        return
    sla_engine.apply_to_incident(session, incident, now)


def _save(session: Session, incident: Incident, now: dt.datetime) -> None:
    """Stamp, flush and update the SLA clocks; a lost race becomes a ConflictError."""
    incident.updated_at = now
    ident = incident.id
    try:
        session.flush()
        _apply_sla(session, incident, now)
        session.flush()
    except StaleDataError:
        if ident is None:
            raise
        raise _lost_race(session, ident) from None


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or utcnow()).astimezone(dt.UTC).replace(microsecond=0)


# Loading with a version check


def _values(incident: Incident) -> dict[str, Any]:
    return {key: getattr(incident, key) for key in sorted(EDITABLE | {"state"})}


def _get(session: Session, incident_id: Any) -> Incident:
    ident = _clean_id("incident", incident_id)
    incident = session.get(Incident, ident) if ident is not None else None
    if incident is None:
        raise WorkflowError("That incident no longer exists.")
    return incident


def _load(
    session: Session, incident_id: Any, expected_version: Any, mine: dict[str, Any]
) -> Incident:
    """The incident, if it is still at ``expected_version``; else a ConflictError."""
    incident = _get(session, incident_id)
    if expected_version is not None and incident.version != expected_version:
        raise _conflict(session, incident, mine)
    return incident


def _conflict(session: Session, incident: Incident, mine: dict[str, Any]) -> ConflictError:
    """Someone else's save is in the way: what they saved, to show beside ``mine``."""
    who, when = last_writer(session, "incident", incident.id)
    by_at = by_whom_when(who, when)
    return ConflictError(
        f"{incident.number} was changed{by_at} after you opened it. Nothing was overwritten.",
        incident_id=incident.id,
        number=incident.number,
        their_version=incident.version,
        theirs=_values(incident),
        mine=dict(mine),
        changed_by=who,
        changed_at=when,
    )


def _lost_race(session: Session, incident_id: int) -> ConflictError:
    """The conflict of a save whose version check failed at flush: another console saved
    between our read and our write. ``session``'s transaction is gone, so read theirs anew."""
    with committed_view(session) as fresh:
        return _conflict(fresh, _get(fresh, incident_id), {})


def _refuse_final(incident: Incident) -> None:
    if incident.state in FINAL_STATES:
        raise WorkflowError(f"{incident.number} is {incident.state}; it can no longer be changed.")


# Creating


def next_number(session: Session) -> str:
    """The next free number ``INC`` + 7 digits (other numbering schemes are ignored)."""
    low, high = NUMBER_PREFIX + "0" * NUMBER_DIGITS, NUMBER_PREFIX + "9" * NUMBER_DIGITS
    candidates = session.scalars(
        select(Incident.number)
        .where(
            Incident.number.between(low, high),
            func.length(Incident.number) == len(low),
        )
        .order_by(Incident.number.desc())
        .limit(50)
    )
    last = next((n for n in candidates if n[len(NUMBER_PREFIX) :].isdigit()), None)
    following = int(last[len(NUMBER_PREFIX) :]) + 1 if last else 1
    if following >= 10**NUMBER_DIGITS:
        raise WorkflowError("Incident numbers have run out (INC9999999 is taken).")
    return f"{NUMBER_PREFIX}{following:0{NUMBER_DIGITS}d}"


def new_incident(session: Session, data: IncidentInput, now: dt.datetime | None = None) -> Incident:
    """A new incident in state New, numbered, prioritised by the matrix unless overridden."""
    now = _now(now)
    values = {key: _clean(key, getattr(data, key)) for key in _INPUT_FIELDS}
    values["contact_type"] = values["contact_type"] or "portal"
    values["opened_at"] = values["opened_at"] or now
    _check_dates(values, now)
    _check_references(session, values)
    reason = values.pop("priority_override_reason")
    wanted = values.pop("priority")
    matrix_priority = compute_priority(session, values["impact"], values["urgency"])
    overridden = wanted is not None and (wanted != matrix_priority or bool(reason))
    priority, overridden, reason = _resolve_priority(
        session, values["impact"], values["urgency"], overridden, wanted, reason
    )
    values["description"] = values["description"] or ""
    incident = Incident(
        **values,
        priority=priority,
        priority_overridden=overridden,
        priority_override_reason=reason,
        state=S.NEW.value,
        first_group_id=values["assignment_group_id"],
        created_at=now,
        updated_at=now,
    )
    _insert_numbered(session, incident)
    with session.no_autoflush:
        if incident.is_major:
            _declare_major(session, incident, now)
        _event(session, incident, "created", now, text=incident.short_description)
        if overridden:
            _event(
                session, incident, "priority", now, "priority", matrix_priority, priority, reason
            )
        _save(session, incident, now)
    return incident


_INPUT_FIELDS = tuple(IncidentInput.__dataclass_fields__)


def _insert_numbered(session: Session, incident: Incident) -> None:
    """Insert with the next free number (see :mod:`app.services.numbering`)."""
    insert_numbered(
        session,
        incident,
        next_number,
        lambda: WorkflowError("No free incident number was found (others were creating "
                              "incidents at the same moment); save again."),
    )  # fmt: skip


# Editing


def update_incident(
    session: Session,
    incident_id: int,
    expected_version: int | None,
    changes: dict[str, Any],
    now: dt.datetime | None = None,
) -> Incident:
    """Apply field ``changes`` to an incident still at ``expected_version``."""
    now = _now(now)
    incident = _load(session, incident_id, expected_version, changes)
    unknown = [key for key in changes if key not in EDITABLE | {"state"}]
    if unknown:
        raise WorkflowError(f"{_label(unknown[0])} cannot be changed here.")
    if "state" in changes and changes["state"] != incident.state:
        raise WorkflowError("Use Start work, Put on hold, Resolve or Close to change the state.")
    _refuse_final(incident)
    clean = {key: _clean(key, value) for key, value in changes.items() if key != "state"}
    merged = {**_values(incident), **clean}
    _check_dates(merged, now, new_opened="opened_at" in clean)
    _check_references(session, merged)
    _settle_priority(session, incident, clean, merged)
    if incident.is_major and clean.get("is_major") is False:
        has_review = session.scalar(
            select(PostIncidentReview.id).where(PostIncidentReview.incident_id == incident.id)
        )
        if has_review is not None:
            raise WorkflowError(
                f"{incident.number} has a post-incident review, so it stays a major incident."
            )
    with session.no_autoflush:
        _write_changes(session, incident, merged, now)
        _save(session, incident, now)
    return incident


def _settle_priority(
    session: Session, incident: Incident, clean: dict[str, Any], merged: dict[str, Any]
) -> None:
    """Fill ``merged``'s priority fields: recomputed from the matrix unless overridden.

    Edits that touch none of them keep the priority as it is, so an imported priority
    or one set under an older matrix does not change behind the agent's back.
    """
    touched = {"impact", "urgency", "priority", "priority_overridden"} & clean.keys()
    if not touched and not ("priority_override_reason" in clean and incident.priority_overridden):
        return
    matrix_priority = compute_priority(session, merged["impact"], merged["urgency"])
    if "priority_overridden" in clean:
        overridden = clean["priority_overridden"]
    elif clean.get("priority") is not None:
        overridden = clean["priority"] != matrix_priority or incident.priority_overridden
    else:
        overridden = incident.priority_overridden
    priority, overridden, reason = _resolve_priority(
        session,
        merged["impact"],
        merged["urgency"],
        overridden,
        merged["priority"],
        merged.get("priority_override_reason"),
    )
    merged.update(
        priority=priority, priority_overridden=overridden, priority_override_reason=reason
    )


def _write_changes(
    session: Session, incident: Incident, merged: dict[str, Any], now: dt.datetime
) -> None:
    """Set every changed field and write its timeline event."""
    old_group = incident.assignment_group_id
    for key in sorted(EDITABLE):
        old, new = getattr(incident, key), merged[key]
        if key == "description":
            new = new or ""
        if old == new:
            continue
        setattr(incident, key, new)
        if key in _ASSIGNMENT_FIELDS:
            _event(session, incident, "assignment", now, key, old, new)
        elif key == "priority":
            _event(
                session,
                incident,
                "priority",
                now,
                key,
                old,
                new,
                text=merged["priority_override_reason"],
            )
        elif key not in ("priority_overridden", "priority_override_reason"):
            _event(session, incident, "field", now, key, old, new)
    _count_reassignment(incident, old_group)
    if incident.is_major and incident.major_declared_at is None:
        _declare_major(session, incident, now)
    elif not incident.is_major and incident.major_declared_at is not None:
        # Taken back as a mistake: the major timeline is kept, as undeclaring does.
        incident.major_declared_at = None
        incident.major_status = None


def _declare_major(session: Session, incident: Incident, now: dt.datetime) -> None:
    """Start the major-incident timeline, exactly as the major-incident view does."""
    from app.services.major_incidents import start_major_timeline

    start_major_timeline(session, incident, now)


def _count_reassignment(incident: Incident, old_group: int | None) -> None:
    new_group = incident.assignment_group_id
    if new_group == old_group:
        return
    if old_group is None and incident.first_group_id is None:
        incident.first_group_id = new_group
    else:
        incident.reassignment_count += 1


# Assigning


def assign(
    session: Session,
    incident_id: int,
    expected_version: int | None,
    group_id: int | None,
    assignee_id: int | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Assign to ``group_id`` (and ``assignee_id``, who must be a member of it)."""
    now = _now(now)
    mine = {"assignment_group_id": group_id, "assignee_id": assignee_id}
    incident = _load(session, incident_id, expected_version, mine)
    group_id, assignee_id = _check_assignment(session, incident, group_id, assignee_id)
    with session.no_autoflush:
        _apply_assignment(session, incident, group_id, assignee_id, now)
        _save(session, incident, now)
    return incident


def _check_assignment(
    session: Session, incident: Incident, group_id: Any, assignee_id: Any
) -> tuple[int | None, int | None]:
    _refuse_final(incident)
    group_id = _clean_id("assignment_group_id", group_id)
    assignee_id = _clean_id("assignee_id", assignee_id)
    _check_references(session, {"assignment_group_id": group_id, "assignee_id": assignee_id})
    return group_id, assignee_id


def _apply_assignment(
    session: Session,
    incident: Incident,
    group_id: int | None,
    assignee_id: int | None,
    now: dt.datetime,
) -> None:
    old_group = incident.assignment_group_id
    for key, new in (("assignment_group_id", group_id), ("assignee_id", assignee_id)):
        old = getattr(incident, key)
        if old != new:
            setattr(incident, key, new)
            _event(session, incident, "assignment", now, key, old, new)
    _count_reassignment(incident, old_group)


# States


@dataclass
class _Move:
    """A checked transition: where to, and the values it needs."""

    to_state: str
    hold_reason: str | None = None
    resolution_code: str | None = None
    resolution_notes: str | None = None


def _check_transition(
    incident: Incident,
    to_state: Any,
    hold_reason: Any,
    resolution_code: Any,
    resolution_notes: Any,
    now: dt.datetime,
) -> _Move:
    try:
        target = IncidentState(to_state)
    except ValueError:
        raise WorkflowError(f"“{str(to_state)[:40]}” is not an incident state.") from None
    current = incident.state
    changing_reason = target == current == S.ON_HOLD and hold_reason != incident.hold_reason
    if target == current and not changing_reason:
        raise WorkflowError(f"{incident.number} is already {current}.")
    if target not in TRANSITIONS.get(current, ()) and not changing_reason:
        if current in FINAL_STATES:
            raise WorkflowError(f"{incident.number} is {current}; that is final.")
        raise WorkflowError(f"{incident.number} cannot go from {current} to {target.value}.")
    move = _Move(target.value)
    if target == S.ON_HOLD:
        try:
            move.hold_reason = HoldReason(hold_reason).value
        except ValueError:
            choices = ", ".join(r.value for r in HoldReason)
            raise WorkflowError(f"Putting on hold needs a reason: {choices}.") from None
    if target == S.RESOLVED:
        move.resolution_code = _clean_text("resolution_code", resolution_code)
        move.resolution_notes = _clean_text("resolution_notes", resolution_notes)
        if not move.resolution_code or not move.resolution_notes:
            raise WorkflowError("Resolving needs a resolution code and resolution notes.")
        if now < incident.opened_at:
            raise WorkflowError(
                f"{incident.number} cannot be resolved before it was opened "
                f"({format_datetime(incident.opened_at)})."
            )
    return move


def _apply_transition(session: Session, incident: Incident, move: _Move, now: dt.datetime) -> None:
    old = incident.state
    target = move.to_state
    text = move.hold_reason or move.resolution_notes
    incident.state = target
    if old == S.NEW and incident.first_response_at is None:
        incident.first_response_at = max(now, incident.opened_at)
    incident.hold_reason = move.hold_reason
    if target == S.RESOLVED:
        incident.resolved_at = now
        incident.resolution_code = move.resolution_code
        incident.resolution_notes = move.resolution_notes
    elif old == S.RESOLVED and target == S.IN_PROGRESS:
        incident.reopen_count += 1
        incident.resolved_at = None
        incident.resolution_code = None
        incident.resolution_notes = None
        text = "Reopened"
    elif target in FINAL_STATES:
        incident.closed_at = now
    _event(session, incident, "state", now, "state", old, target, text=text)


def transition(
    session: Session,
    incident_id: int,
    expected_version: int | None,
    to_state: str,
    *,
    hold_reason: str | None = None,
    resolution_code: str | None = None,
    resolution_notes: str | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Move an incident to ``to_state`` if DOMAIN.md's workflow allows it.

    On Hold to On Hold with another reason changes the reason (the SLA pause may change).
    """
    now = _now(now)
    incident = _load(session, incident_id, expected_version, {"state": str(to_state)})
    move = _check_transition(
        incident, to_state, hold_reason, resolution_code, resolution_notes, now
    )
    with session.no_autoflush:
        _apply_transition(session, incident, move, now)
        _save(session, incident, now)
    return incident


def add_work_note(
    session: Session, incident_id: int, text: str, now: dt.datetime | None = None
) -> IncidentEvent:
    """Add a work note to an incident's timeline (allowed in every state)."""
    now = _now(now)
    incident = _get(session, incident_id)
    note = _clean_text("work note", text)
    if not note:
        raise WorkflowError("A work note cannot be empty.")
    with session.no_autoflush:
        event = _event(session, incident, "work_note", now, text=note)
        # A note is activity: the queue's "updated" order and live refresh see it.
        _save(session, incident, now)
    return event


# Bulk actions


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _load_many(session: Session, ids: Iterable[Any]) -> list[Incident]:
    wanted = list(dict.fromkeys(_clean_id("incident", i) for i in ids))
    wanted = [i for i in wanted if i is not None]
    if not wanted:
        raise WorkflowError("Select at least one incident.")
    found: dict[int, Incident] = {}
    for chunk in _chunks(wanted):
        for incident in session.scalars(select(Incident).where(Incident.id.in_(chunk))):
            found[incident.id] = incident
    missing = len(wanted) - len(found)
    if missing:
        raise WorkflowError(f"{missing} of the selected incidents no longer exist.")
    return [found[i] for i in wanted]


def _refuse_problems(action: str, problems: list[tuple[str, str]]) -> None:
    if not problems:
        return
    shown = " ".join(reason for _number, reason in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise BulkError(
        f"Nothing was changed: {len(problems)} of the selected incidents cannot be "
        f"{action}. {shown}{more}",
        problems,
    )


def bulk_assign(
    session: Session,
    ids: Iterable[int],
    group_id: int,
    assignee_id: int | None = None,
    now: dt.datetime | None = None,
) -> BulkResult:
    """Assign every incident to the group (and person), or none if any cannot be."""
    now = _now(now)
    incidents = _load_many(session, ids)
    group_id, assignee_id = (
        _clean_id("assignment_group_id", group_id),
        _clean_id("assignee_id", assignee_id),
    )
    if group_id is None:
        raise WorkflowError("Choose an assignment group.")
    _check_references(session, {"assignment_group_id": group_id, "assignee_id": assignee_id})
    result, problems, todo = BulkResult(), [], []
    for incident in incidents:
        if incident.state in FINAL_STATES:
            problems.append((incident.number, f"{incident.number} is {incident.state}."))
        elif (incident.assignment_group_id, incident.assignee_id) == (group_id, assignee_id):
            result.skipped.append((incident.number, "already assigned there"))
        else:
            todo.append(incident)
    _refuse_problems("assigned", problems)
    with session.no_autoflush:
        for incident in todo:
            _apply_assignment(session, incident, group_id, assignee_id, now)
            _save(session, incident, now)
            result.changed.append(incident.number)
    return result


def bulk_transition(
    session: Session,
    ids: Iterable[int],
    to_state: str,
    *,
    hold_reason: str | None = None,
    resolution_code: str | None = None,
    resolution_notes: str | None = None,
    now: dt.datetime | None = None,
) -> BulkResult:
    """Move every incident to ``to_state``, or none if any cannot go there."""
    now = _now(now)
    incidents = _load_many(session, ids)
    result, problems, todo = BulkResult(), [], []
    for incident in incidents:
        if incident.state == to_state and (
            to_state != S.ON_HOLD or hold_reason == incident.hold_reason
        ):
            result.skipped.append((incident.number, f"already {incident.state}"))
            continue
        try:
            move = _check_transition(
                incident, to_state, hold_reason, resolution_code, resolution_notes, now
            )
        except WorkflowError as exc:
            problems.append((incident.number, str(exc)))
        else:
            todo.append((incident, move))
    _refuse_problems(f"moved to {to_state}", problems)
    with session.no_autoflush:
        for incident, move in todo:
            _apply_transition(session, incident, move, now)
            _save(session, incident, now)
            result.changed.append(incident.number)
    return result


def bulk_set_priority(
    session: Session,
    ids: Iterable[int],
    priority: int,
    reason: str,
    now: dt.datetime | None = None,
) -> BulkResult:
    """Override the priority of every incident with ``reason``, or of none."""
    now = _now(now)
    priority = _priority(priority)
    reason = _clean_text("priority_override_reason", reason)
    if not reason:
        raise WorkflowError("Give a reason for overriding the priority.")
    incidents = _load_many(session, ids)
    result, problems, todo = BulkResult(), [], []
    for incident in incidents:
        if incident.state in FINAL_STATES:
            problems.append((incident.number, f"{incident.number} is {incident.state}."))
        elif incident.priority == priority:
            result.skipped.append((incident.number, f"already P{priority}"))
        else:
            todo.append(incident)
    _refuse_problems("given a new priority", problems)
    with session.no_autoflush:
        for incident in todo:
            _event(
                session, incident, "priority", now, "priority", incident.priority, priority, reason
            )
            incident.priority = priority
            incident.priority_overridden = True
            incident.priority_override_reason = reason
            _save(session, incident, now)
            result.changed.append(incident.number)
    return result


def bulk_close_resolved(
    session: Session, ids: Iterable[int], now: dt.datetime | None = None
) -> BulkResult:
    """Close the Resolved incidents among ``ids``; the others are skipped with the reason."""
    now = _now(now)
    result = BulkResult()
    incidents = _load_many(session, ids)
    with session.no_autoflush:
        for incident in incidents:
            if incident.state != S.RESOLVED:
                result.skipped.append((incident.number, f"it is {incident.state}, not Resolved"))
                continue
            _apply_transition(session, incident, _Move(S.CLOSED.value), now)
            _save(session, incident, now)
            result.changed.append(incident.number)
    return result


# Reading


def incident_detail(session: Session, incident_id: int) -> IncidentDetail:
    """The incident with names, its SLA clocks and its timeline (newest first)."""
    incident = _get(session, incident_id)
    detail = IncidentDetail(
        **{key: getattr(incident, key) for key in _DETAIL_COLUMNS},
    )
    for key, (model, attr) in REFERENCES.items():
        ident = getattr(incident, key)
        name = getattr(session.get(model, ident), attr, None) if ident is not None else None
        setattr(detail, _NAME_FIELDS[key], name)
    if incident.first_group_id is not None:
        group = session.get(Team, incident.first_group_id)
        detail.first_group_name = group.name if group else None
    detail.clocks = _clocks(session, incident.id)
    detail.timeline = timeline(session, incident.id)
    return detail


_NAME_FIELDS = {
    "caller_id": "caller_name",
    "service_id": "service_name",
    "ci_id": "ci_name",
    "assignment_group_id": "assignment_group_name",
    "assignee_id": "assignee_name",
    "vendor_id": "vendor_name",
    "problem_id": "problem_number",
    "change_id": "change_number",
    "caused_by_change_id": "caused_by_change_number",
}
_DETAIL_COLUMNS = tuple(
    key
    for key in IncidentDetail.__dataclass_fields__
    if key not in _NAME_FIELDS.values() and key not in ("first_group_name", "clocks", "timeline")
)


def _clocks(session: Session, incident_id: int) -> list[ClockView]:
    rows = session.execute(
        select(SlaClock, SlaDefinition)
        .join(SlaDefinition, SlaClock.definition_id == SlaDefinition.id)
        .where(SlaClock.incident_id == incident_id)
        .order_by(SlaDefinition.target.desc(), SlaClock.started_at, SlaClock.id)
    )
    views = [
        ClockView(
            id=clock.id,
            name=definition.name,
            kind=definition.kind,
            target=definition.target,
            stage=clock.stage,
            duration_seconds=definition.duration_seconds,
            started_at=clock.started_at,
            due_at=clock.due_at,
            stopped_at=clock.stopped_at,
            paused_since=clock.paused_since,
            business_elapsed_seconds=clock.business_elapsed_seconds,
            computed_at=clock.computed_at,
            breached=clock.breached,
            round_the_clock=definition.schedule_id is None,
        )
        for clock, definition in rows
    ]
    # Clocks still counting first, then met ones; canceled ones (say after a priority
    # change) last, as they no longer matter.
    return sorted(views, key=lambda c: _STAGE_ORDER.get(c.stage, 1))


_STAGE_ORDER = {"in_progress": 0, "paused": 0, "breached": 0, "achieved": 1, "canceled": 2}


#: An audit row within this many seconds of a timeline event belongs to the same save.
_SAME_SAVE = dt.timedelta(seconds=2)


def timeline(session: Session, incident_id: int) -> list[TimelineEntry]:
    """Events and audit rows of an incident, newest first, with author names.

    Audit rows written by the same save as an event would repeat it, so only those of
    changes made outside the workflow (imports, other tools) are added.
    """
    events = session.execute(
        select(IncidentEvent, Person.name)
        .outerjoin(Person, IncidentEvent.author_id == Person.id)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc())
        .limit(TIMELINE_LIMIT)
    ).all()
    entries = [
        TimelineEntry(
            at=event.at,
            kind=event.kind,
            author=name or "System",
            field=event.field,
            old_value=event.old_value,
            new_value=event.new_value,
            text=event.text,
        )
        for event, name in events
    ]
    event_times = sorted(entry.at for entry in entries)
    recorded = {(entry.field, entry.new_value) for entry in entries}
    has_created = any(entry.kind == "created" for entry in entries)
    audits = session.execute(
        select(AuditEntry, AppUser.display_name)
        .outerjoin(AppUser, AuditEntry.user_id == AppUser.id)
        .where(AuditEntry.entity == "incident", AuditEntry.entity_id == str(incident_id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(TIMELINE_LIMIT)
    ).all()
    for audit, display_name in audits:
        if audit.action == "insert" and has_created:
            continue
        if audit.field in _DERIVED or _near_any(audit.at, event_times):
            continue
        if audit.field and (_event_field(audit.field), _audit_shown(session, audit)) in recorded:
            continue
        entries.append(
            TimelineEntry(
                at=audit.at,
                kind="created" if audit.action == "insert" else "audit",
                author=display_name or _person_name(audit.username),
                field=audit.field,
                old_value=audit.old_value,
                new_value=audit.new_value,
                source="audit",
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries


#: Columns the workflow sets as a consequence of a change that has its own event.
_DERIVED = frozenset(
    {
        "hold_reason",
        "first_response_at",
        "resolved_at",
        "closed_at",
        "reopen_count",
        "reassignment_count",
        "first_group_id",
        "priority_overridden",
        "priority_override_reason",
        "resolution_code",
        "resolution_notes",
        "major_declared_at",
        "major_status",
    }
)


def _audit_shown(session: Session, audit: AuditEntry) -> str | None:
    """An audit row's new value as the matching timeline event would show it."""
    value, key = audit.new_value, audit.field or ""
    if value is None:
        return None
    if key in REFERENCES and value.isdigit():
        return _shown(session, key, int(value))
    if key == "priority":
        return f"P{value}"
    if value in ("True", "False"):
        return "Yes" if value == "True" else "No"
    return value


def _person_name(username: str) -> str:
    return "System" if username == "system" else username


def _near_any(at: dt.datetime, sorted_times: list[dt.datetime]) -> bool:
    i = bisect.bisect_left(sorted_times, at - _SAME_SAVE)
    return i < len(sorted_times) and sorted_times[i] <= at + _SAME_SAVE


#: Bounds on the form's choices, so a huge organisation cannot stall the form.
LOOKUP_LIMIT = 5000
RECENT_LIMIT = 500
CATEGORY_SAMPLE = 20_000


def lookups(session: Session) -> Lookups:
    """Choices for the incident form: groups with members, services with CIs, and so on."""
    groups = [
        GroupOption(team_id, name)
        for team_id, name in session.execute(
            select(Team.id, Team.name).where(Team.active.is_(True)).order_by(Team.name)
        )
    ]
    by_group = {g.id: g for g in groups}
    members = session.execute(
        select(team_member.c.team_id, Person.id, Person.name)
        .join(Person, Person.id == team_member.c.person_id)
        .where(Person.active.is_(True))
        .order_by(Person.name)
        .limit(LOOKUP_LIMIT)
    )
    for team_id, person_id, name in members:
        if team_id in by_group:
            by_group[team_id].members.append(Option(person_id, name))
    services = [
        ServiceOption(service_id, name, support_group_id=group_id)
        for service_id, name, group_id in session.execute(
            select(Service.id, Service.name, Service.support_group_id)
            .where(Service.active.is_(True))
            .order_by(Service.name)
        )
    ]
    by_service = {s.id: s for s in services}
    cis = session.execute(
        select(ConfigurationItem.service_id, ConfigurationItem.id, ConfigurationItem.name)
        .where(ConfigurationItem.active.is_(True), ConfigurationItem.service_id.is_not(None))
        .order_by(ConfigurationItem.name)
        .limit(LOOKUP_LIMIT)
    )
    for service_id, ci_id, name in cis:
        if service_id in by_service:
            by_service[service_id].cis.append(Option(ci_id, name))
    return Lookups(
        groups=groups,
        people=_options(
            select(Person.id, Person.name)
            .where(Person.active.is_(True))
            .order_by(Person.name)
            .limit(LOOKUP_LIMIT),
            session,
        ),
        services=services,
        vendors=_options(
            select(Vendor.id, Vendor.name).order_by(Vendor.name).limit(LOOKUP_LIMIT), session
        ),
        problems=_options(
            select(Problem.id, Problem.number + " " + Problem.short_description)
            .where(Problem.state.not_in(("Resolved", "Closed", "Canceled")))
            .order_by(Problem.opened_at.desc())
            .limit(RECENT_LIMIT),
            session,
        ),
        changes=_options(
            select(ChangeRequest.id, ChangeRequest.number + " " + ChangeRequest.short_description)
            .order_by(ChangeRequest.opened_at.desc())
            .limit(RECENT_LIMIT),
            session,
        ),
        categories=_categories(session),
        matrix=priority_matrix(session),
    )


def _options(query: Any, session: Session) -> list[Option]:
    return [Option(ident, label) for ident, label in session.execute(query)]


def _categories(session: Session) -> dict[str, list[str]]:
    """Categories and their subcategories in use among the newest incidents."""
    recent = (
        select(Incident.category, Incident.subcategory)
        .order_by(Incident.id.desc())
        .limit(CATEGORY_SAMPLE)
        .subquery()
    )
    rows = session.execute(
        select(recent.c.category, recent.c.subcategory)
        .where(recent.c.category.is_not(None))
        .distinct()
    )
    found: dict[str, set[str]] = {}
    for category, subcategory in rows:
        found.setdefault(category, set())
        if subcategory:
            found[category].add(subcategory)
    return {key: sorted(found[key]) for key in sorted(found)}


def option_for(session: Session, key: str, ident: int | None) -> Option | None:
    """The option for one reference (a linked record the bounded lists may have left out)."""
    if ident is None or key not in REFERENCES:
        return None
    model, attr = REFERENCES[key]
    record = session.get(model, ident)
    return Option(ident, getattr(record, attr)) if record is not None else None


__all__ = [
    "CONTACT_TYPES",
    "FIELD_LABELS",
    "RESOLUTION_CODES",
    "TRANSITIONS",
    "BulkError",
    "BulkResult",
    "ClockView",
    "ConflictError",
    "GroupOption",
    "IncidentDetail",
    "IncidentInput",
    "Lookups",
    "Option",
    "ServiceOption",
    "TimelineEntry",
    "WorkflowError",
    "add_work_note",
    "assign",
    "bulk_assign",
    "bulk_close_resolved",
    "bulk_set_priority",
    "bulk_transition",
    "incident_detail",
    "lookups",
    "new_incident",
    "next_number",
    "option_for",
    "timeline",
    "transition",
    "update_incident",
]
