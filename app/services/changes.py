"""The change request workflow of DOMAIN.md: create, edit, assess risk, move through states.

Types: Standard (made from a template of the catalogue, pre-approved: New -> Scheduled,
no Assess or Authorize), Normal (CAB approval) and Emergency (ECAB approval, fast path:
no Assess, Authorize may go straight to Implement; reviewed afterwards).

Every function works inside the caller's session and transaction (``with
db.transaction() as s:``), checks everything before it changes anything, and raises
:class:`WorkflowError` with a sentence a change manager understands; a save over a newer
version raises :class:`ConflictError` and overwrites nothing. Column changes of a change
request are written to the audit log by the audit hook (``ChangeRequest.__audited__``);
what the hook cannot see (the affected services and CIs, which live in link tables, and
the risk answers, which are not audited models) is written here, in the same flush.

Rules kept here, so that a GUI only has to show them:

* A change is never in a state without that state's required fields
  (:data:`REQUIRED_FIELDS`, cumulative): moving there checks them, and editing a change
  in that state cannot take them away.
* Normal and Emergency changes need an approved CAB (ECAB) decision to be Scheduled or
  implemented; the latest decision on the change counts (a later meeting's rejection
  overrides an earlier approval).
* Once a Normal or Emergency change is Scheduled, what the board approved (planned
  window, plans, type, risk answers, affected services and CIs) is locked; move it back
  to Authorize to change it. From Implement on it is locked for every type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, delete, exists, func, or_, select
from sqlalchemy.orm import Session
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
    ChangeTemplate,
    RiskAnswer,
    RiskOption,
    RiskQuestion,
    change_ci,
    change_service,
)
from app.models.cmdb import ConfigurationItem, Service
from app.models.enums import ChangeState, ChangeType, CloseCode, Risk
from app.models.incident import Incident, IncidentEvent
from app.models.org import AppUser, Person, Team, team_member
from app.models.vendor import Vendor
from app.services.audit_log import by_whom_when, last_writer
from app.services.conflicts import Conflict, conflicts_for
from app.services.formatting import format_datetime
from app.services.incidents import GroupOption, Option, ServiceOption, WorkflowError
from app.services.numbering import insert_numbered
from app.services.users import author_person_id

S = ChangeState
T = ChangeType

#: Allowed moves per type. Closed and Canceled are final; a change being implemented
#: can no longer be canceled (it goes to Review and closes Unsuccessful instead).
ALLOWED_TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    T.STANDARD: {
        S.NEW: (S.SCHEDULED, S.CANCELED),
        S.SCHEDULED: (S.IMPLEMENT, S.NEW, S.CANCELED),
        S.IMPLEMENT: (S.REVIEW,),
        S.REVIEW: (S.CLOSED,),
        S.CLOSED: (),
        S.CANCELED: (),
    },
    T.NORMAL: {
        S.NEW: (S.ASSESS, S.CANCELED),
        S.ASSESS: (S.AUTHORIZE, S.NEW, S.CANCELED),
        S.AUTHORIZE: (S.SCHEDULED, S.ASSESS, S.NEW, S.CANCELED),
        S.SCHEDULED: (S.IMPLEMENT, S.AUTHORIZE, S.CANCELED),
        S.IMPLEMENT: (S.REVIEW,),
        S.REVIEW: (S.CLOSED,),
        S.CLOSED: (),
        S.CANCELED: (),
    },
    T.EMERGENCY: {
        S.NEW: (S.AUTHORIZE, S.CANCELED),
        S.AUTHORIZE: (S.SCHEDULED, S.IMPLEMENT, S.NEW, S.CANCELED),
        S.SCHEDULED: (S.IMPLEMENT, S.AUTHORIZE, S.CANCELED),
        S.IMPLEMENT: (S.REVIEW,),
        S.REVIEW: (S.CLOSED,),
        S.CLOSED: (),
        S.CANCELED: (),
    },
}
# Plain strings, so the tables read the same in a GUI, in JSON and in the database.
ALLOWED_TRANSITIONS = {
    str(kind): {str(a): tuple(str(b) for b in moves) for a, moves in table.items()}
    for kind, table in ALLOWED_TRANSITIONS.items()
}
FINAL_STATES: tuple[str, ...] = (S.CLOSED.value, S.CANCELED.value)
CLOSE_CODES: tuple[str, ...] = tuple(c.value for c in CloseCode)
RISK_LEVELS: tuple[str, ...] = tuple(r.value for r in Risk)

#: Risk level from the questionnaire's score (sum of option score x question weight):
#: a score below 6 is Low, below 11 Moderate, below 16 High, anything else Very High.
#: With the default questionnaire (weights 3, 2, 2, 1, 2; options scored 0-3) scores run
#: 0-30. DOMAIN.md names the levels, not the cut-offs; these are the demo data's. If the
#: questions or weights change a lot, change these with them (this is the one place).
RISK_THRESHOLDS: tuple[tuple[int, str], ...] = (
    (6, Risk.LOW.value),
    (11, Risk.MODERATE.value),
    (16, Risk.HIGH.value),
)
RISK_TOP_LEVEL = Risk.VERY_HIGH.value

#: Fields each state needs, cumulatively (the keys of MISSING_LABELS). Pseudo-fields:
#: ``scope`` (a service or a CI), ``risk_assessed`` (every active risk question answered;
#: a Standard change has its template's risk), ``approval`` (an approved CAB/ECAB
#: decision; not for Standard changes), ``review`` (a post-implementation review; for
#: Emergency and Unsuccessful changes). Canceled needs only a reason (close notes);
#: Closed needs close notes unless the close code is Successful.
_ASSESS = ("short_description", "scope", "assignment_group_id")
_AUTHORIZE = (
    *_ASSESS,
    "risk_assessed",
    "implementation_plan",
    "test_plan",
    "backout_plan",
    "planned_start",
    "planned_end",
)
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    S.NEW.value: ("short_description",),
    S.ASSESS.value: _ASSESS,
    S.AUTHORIZE.value: _AUTHORIZE,
    S.SCHEDULED.value: (*_AUTHORIZE, "approval"),
    S.IMPLEMENT.value: (*_AUTHORIZE, "approval", "actual_start"),
    S.REVIEW.value: (*_AUTHORIZE, "approval", "actual_start", "actual_end"),
    S.CLOSED.value: (
        *_AUTHORIZE,
        "approval",
        "actual_start",
        "actual_end",
        "close_code",
        "close_notes",
        "review",
    ),
    S.CANCELED.value: ("close_notes",),
}
#: How a missing field reads in "... needs a, b and c".
MISSING_LABELS: dict[str, str] = {
    "short_description": "a short description",
    "scope": "a service or configuration item",
    "assignment_group_id": "an assignment group",
    "risk_assessed": "a risk assessment (every risk question answered)",
    "implementation_plan": "an implementation plan",
    "test_plan": "a test plan",
    "backout_plan": "a back-out plan",
    "planned_start": "a planned start",
    "planned_end": "a planned end",
    "approval": "an approved CAB decision",
    "actual_start": "an actual start",
    "actual_end": "an actual end",
    "close_code": f"a close code ({', '.join(CLOSE_CODES[:-1])} or {CLOSE_CODES[-1]})",
    "close_notes": "close notes",
    "review": "a post-implementation review",
}

#: Field names as a change manager reads them (form labels).
FIELD_LABELS: dict[str, str] = {
    "number": "Number",
    "type": "Type",
    "template_id": "Template",
    "state": "State",
    "short_description": "Short description",
    "description": "Description",
    "justification": "Justification",
    "implementation_plan": "Implementation plan",
    "test_plan": "Test plan",
    "backout_plan": "Back-out plan",
    "planned_start": "Planned start",
    "planned_end": "Planned end",
    "actual_start": "Actual start",
    "actual_end": "Actual end",
    "service_id": "Service",
    "assignment_group_id": "Assignment group",
    "assignee_id": "Assigned to",
    "requested_by_id": "Requested by",
    "vendor_id": "Vendor",
    "risk": "Risk",
    "risk_score": "Risk score",
    "opened_at": "Opened",
    "closed_at": "Closed",
    "close_code": "Close code",
    "close_notes": "Close notes",
}
#: Reference fields: (model, attribute shown for it).
REFERENCES: dict[str, tuple[type, str]] = {
    "template_id": (ChangeTemplate, "name"),
    "service_id": (Service, "name"),
    "assignment_group_id": (Team, "name"),
    "assignee_id": (Person, "name"),
    "requested_by_id": (Person, "name"),
    "vendor_id": (Vendor, "name"),
}
SHORT_TEXT = {"short_description": 200}
LONG_TEXT = ("description", "justification", "implementation_plan", "test_plan", "backout_plan")
PLANNED = ("planned_start", "planned_end")
ACTUAL = ("actual_start", "actual_end")
#: What ``update_change`` (and ``transition``'s fields) may set. The state moves only by
#: ``transition``; risk only by ``answer_risk`` (or the template); close fields only when
#: closing or canceling.
EDITABLE = frozenset({*SHORT_TEXT, *LONG_TEXT, *PLANNED, *ACTUAL, *REFERENCES, "type"})
CLOSING = frozenset({"close_code", "close_notes"})
#: What the board approved: locked once a Normal/Emergency change is Scheduled.
APPROVED_FIELDS = frozenset(
    {*PLANNED, "implementation_plan", "test_plan", "backout_plan", "type", "template_id"}
)
NUMBER_PREFIX = "CHG"
NUMBER_DIGITS = 7
LONG_TEXT_LIMIT = 100_000
#: Actual times may be this far ahead of our clock (another computer's clock may run fast).
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Audit rows shown in a change's history.
HISTORY_LIMIT = 400
LOOKUP_LIMIT = 5000
LIST_LIMIT = 500

_IMPLEMENTED_STATES = (S.IMPLEMENT, S.REVIEW)


class ConflictError(WorkflowError):
    """Someone else saved the change after it was read; nothing was overwritten.

    ``theirs`` holds the saved values (every editable field and ``state``), ``mine`` the
    changes that were refused; ``their_version`` is what to pass to save over theirs.
    """

    def __init__(
        self,
        message: str,
        *,
        change_id: int,
        number: str,
        their_version: int,
        theirs: dict[str, Any],
        mine: dict[str, Any],
        changed_by: str | None = None,
        changed_at: dt.datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.change_id = change_id
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


class MissingFieldsError(WorkflowError):
    """A state's required fields are missing; ``missing`` holds their keys (see MISSING_LABELS)."""

    def __init__(self, message: str, *, state: str, missing: Sequence[str]) -> None:
        super().__init__(message)
        self.state = state
        self.missing = tuple(missing)


# Plain data for forms and lists


@dataclass(frozen=True)
class Ref:
    """A linked record: its id and the text shown for it."""

    id: int
    label: str


@dataclass(frozen=True)
class RiskOptionView:
    id: int
    label: str
    score: int


@dataclass(frozen=True)
class RiskQuestionView:
    """An active question of the risk questionnaire with its options (lowest score first)."""

    id: int
    position: int
    text: str
    weight: int
    options: tuple[RiskOptionView, ...]


@dataclass(frozen=True)
class RiskAnswerView:
    question_id: int
    question: str
    weight: int
    option_id: int
    option: str
    score: int

    @property
    def points(self) -> int:
        """What this answer adds to the risk score."""
        return self.score * self.weight


@dataclass(frozen=True)
class RiskResult:
    """The questionnaire's outcome: ``score`` and ``level`` are None until it is complete."""

    score: int | None
    level: str | None
    answered: int
    questions: int

    @property
    def complete(self) -> bool:
        return self.answered >= self.questions


@dataclass(frozen=True)
class VoteView:
    person: str
    vote: str
    comment: str


@dataclass(frozen=True)
class DecisionView:
    """A change on a CAB (or ECAB) agenda, with the board's decision and votes."""

    agenda_item_id: int
    meeting_id: int
    meeting_title: str
    meeting_starts_at: dt.datetime
    emergency: bool
    decision: str | None
    conditions: str
    notes: str
    decided_at: dt.datetime | None
    votes: tuple[VoteView, ...] = ()


@dataclass(frozen=True)
class IncidentLink:
    id: int
    number: str
    short_description: str
    state: str
    priority: int


@dataclass(frozen=True)
class ReviewView:
    id: int
    reviewed_on: dt.date | None
    outcome: str
    lessons: str
    reviewer: str | None


@dataclass(frozen=True)
class HistoryEntry:
    """One audit row of the change or of its parts (risk answers, agenda items, review)."""

    at: dt.datetime
    author: str
    entity: str
    action: str
    field: str | None
    old_value: str | None
    new_value: str | None


@dataclass(frozen=True)
class NextStep:
    """A state the change may move to, and what it still lacks to get there."""

    state: str
    missing: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.missing

    def sentence(self) -> str:
        return _needs_sentence(self.state, self.missing) if self.missing else ""


@dataclass(frozen=True)
class ChangeDetail:
    """Everything the change form shows, names resolved."""

    id: int
    number: str
    version: int
    type: str
    state: str
    template_id: int | None
    short_description: str
    description: str
    justification: str
    implementation_plan: str
    test_plan: str
    backout_plan: str
    planned_start: dt.datetime | None
    planned_end: dt.datetime | None
    actual_start: dt.datetime | None
    actual_end: dt.datetime | None
    service_id: int | None
    assignment_group_id: int | None
    assignee_id: int | None
    requested_by_id: int | None
    vendor_id: int | None
    risk: str
    risk_score: int | None
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    close_code: str | None
    close_notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    template_name: str | None = None
    service_name: str | None = None
    assignment_group_name: str | None = None
    assignee_name: str | None = None
    requested_by_name: str | None = None
    vendor_name: str | None = None
    services: tuple[Ref, ...] = ()
    cis: tuple[Ref, ...] = ()
    risk_answers: tuple[RiskAnswerView, ...] = ()
    decisions: tuple[DecisionView, ...] = ()
    #: The board's decision that counts (the latest), if any.
    decision: str | None = None
    review: ReviewView | None = None
    #: Incidents this change caused (Incident.caused_by_change_id).
    caused_incidents: tuple[IncidentLink, ...] = ()
    #: Incidents this change was raised to fix (Incident.change_id).
    fixes_incidents: tuple[IncidentLink, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    next_steps: tuple[NextStep, ...] = ()

    def values(self) -> dict[str, Any]:
        """The editable fields and the state, as ``update_change`` takes them."""
        return {key: getattr(self, key) for key in sorted(EDITABLE | {"state"})}


@dataclass(frozen=True)
class TemplateOption:
    id: int
    label: str
    risk: str
    typical_duration_minutes: int


@dataclass
class ChangeLookups:
    """The choices of the change form's combo boxes."""

    groups: list[GroupOption]
    people: list[Option]
    services: list[ServiceOption]
    vendors: list[Option]
    templates: list[TemplateOption]
    risk_questions: list[RiskQuestionView]
    types: tuple[str, ...] = tuple(t.value for t in ChangeType)
    states: tuple[str, ...] = tuple(s.value for s in ChangeState)
    close_codes: tuple[str, ...] = CLOSE_CODES
    risk_levels: tuple[str, ...] = RISK_LEVELS


@dataclass(frozen=True)
class ChangeFilter:
    """What the change list shows; empty means no restriction.

    The planned window keeps changes whose planned window overlaps [planned_from,
    planned_to); changes with no planned window are left out when either is given.
    ``service_ids`` matches the change's service or any affected service.
    """

    states: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    group_ids: tuple[int, ...] = ()
    service_ids: tuple[int, ...] = ()
    assignee_ids: tuple[int, ...] = ()
    text: str = ""
    planned_from: dt.datetime | None = None
    planned_to: dt.datetime | None = None


@dataclass(frozen=True)
class ChangeRow:
    """One line of the change list."""

    id: int
    number: str
    short_description: str
    type: str
    state: str
    risk: str
    risk_score: int | None
    planned_start: dt.datetime | None
    planned_end: dt.datetime | None
    service: str | None
    assignment_group: str | None
    assignee: str | None
    opened_at: dt.datetime
    updated_at: dt.datetime
    version: int


# Reading and checking values


def _label(key: str) -> str:
    return FIELD_LABELS.get(key, key.replace("_", " ").capitalize())


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _needs_sentence(state: str, missing: Sequence[str], number: str | None = None) -> str:
    labels = [MISSING_LABELS.get(key, key) for key in missing]
    who = f"{number} " if number else ""
    return f"{who}cannot move to {state} yet: it needs {_join(labels)}."


def _clean_text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WorkflowError(f"{_label(key)} must be text.")
    # PostgreSQL refuses NUL characters in text; they never mean anything here.
    text = value.replace("\x00", "").strip()
    limit = SHORT_TEXT.get(key, LONG_TEXT_LIMIT)
    if len(text) > limit:
        raise WorkflowError(
            f"{_label(key)} is {len(text):,} characters long; the limit is {limit:,}."
        )
    return text


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


def _clean_type(value: Any) -> str:
    try:
        return ChangeType(value).value
    except ValueError:
        choices = ", ".join(t.value for t in ChangeType)
        raise WorkflowError(f"“{str(value)[:40]}” is not a change type ({choices}).") from None


def _clean(key: str, value: Any) -> Any:
    """``value`` for field ``key`` in the type the model keeps, or a WorkflowError."""
    if key in SHORT_TEXT or key in LONG_TEXT:
        return _clean_text(key, value)
    if key in REFERENCES:
        return _clean_id(key, value)
    if key in PLANNED or key in ACTUAL:
        return _clean_date(key, value)
    if key == "type":
        return _clean_type(value)
    if key == "close_code":
        if value is None or value == "":
            return None
        if value not in CLOSE_CODES:
            raise WorkflowError(f"“{str(value)[:40]}” is not a close code ({_join(CLOSE_CODES)}).")
        return str(value)
    if key == "close_notes":
        return _clean_text(key, value) or None
    raise WorkflowError(f"{_label(key)} cannot be changed here.")


def _check_references(session: Session, values: Mapping[str, Any]) -> None:
    """Every referenced record exists; the assignee belongs to the group."""
    for key, (model, _attr) in REFERENCES.items():
        ident = values.get(key)
        if ident is not None and session.get(model, ident) is None:
            raise WorkflowError(f"{_label(key)} no longer exists (it may have been deleted).")
    group_id, assignee_id = values.get("assignment_group_id"), values.get("assignee_id")
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


def _check_dates(values: Mapping[str, Any], now: dt.datetime) -> None:
    """Ends after starts; actual times not in the future; nothing before opened."""
    for start_key, end_key in (PLANNED, ACTUAL):
        start, end = values.get(start_key), values.get(end_key)
        if start is not None and end is not None and end <= start:
            raise WorkflowError(
                f"{_label(end_key)} ({format_datetime(end)}) must be after "
                f"{_label(start_key).lower()} ({format_datetime(start)})."
            )
    for key in ACTUAL:
        when = values.get(key)
        if when is not None and when > now + CLOCK_SKEW:
            raise WorkflowError(f"{_label(key)} ({format_datetime(when)}) cannot be in the future.")
    if values.get("actual_end") is not None and values.get("actual_start") is None:
        raise WorkflowError("An actual end needs an actual start.")


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or utcnow()).astimezone(dt.UTC).replace(microsecond=0)


def _state(value: Any) -> str:
    try:
        return ChangeState(value).value
    except ValueError:
        raise WorkflowError(f"“{str(value)[:40]}” is not a change state.") from None


def _author(session: Session, author: Any) -> int | None:
    """The acting person: ``author`` (a Person id) if given, else the signed-in user's person."""
    if author is None:
        return author_person_id(session)
    ident = _clean_id("author", author)
    if ident is not None and session.get(Person, ident) is None:
        raise WorkflowError("The acting person no longer exists.")
    return ident


# Risk


def risk_level(score: int, thresholds: Sequence[tuple[int, str]] = RISK_THRESHOLDS) -> str:
    """The risk level of a questionnaire score (see :data:`RISK_THRESHOLDS`)."""
    for below, level in thresholds:
        if score < below:
            return level
    return RISK_TOP_LEVEL


def risk_questions(session: Session) -> list[RiskQuestionView]:
    """The active questions of the risk questionnaire, in order, with their options."""
    questions = session.scalars(
        select(RiskQuestion)
        .where(RiskQuestion.active.is_(True))
        .order_by(RiskQuestion.position, RiskQuestion.id)
    ).all()
    return [
        RiskQuestionView(
            q.id,
            q.position,
            q.text,
            q.weight,
            tuple(RiskOptionView(o.id, o.label, o.score) for o in q.options),
        )
        for q in questions
    ]


def _risk_answers(session: Session, change_id: int) -> list[RiskAnswerView]:
    rows = session.execute(
        select(RiskQuestion, RiskOption)
        .join(RiskAnswer, RiskAnswer.question_id == RiskQuestion.id)
        .join(RiskOption, RiskOption.id == RiskAnswer.option_id)
        .where(RiskAnswer.change_id == change_id)
        .order_by(RiskQuestion.position, RiskQuestion.id)
    ).all()
    return [
        RiskAnswerView(q.id, q.text, q.weight, o.id, o.label, o.score) for q, o in rows if q.active
    ]


def risk_result(session: Session, change_id: int) -> RiskResult:
    """Score and level of a change's answers to the active questions (None until complete)."""
    questions = session.scalar(
        select(func.count()).select_from(RiskQuestion).where(RiskQuestion.active.is_(True))
    )
    answers = _risk_answers(session, change_id)
    score = sum(a.points for a in answers)
    if len(answers) < (questions or 0):
        return RiskResult(None, None, len(answers), questions or 0)
    return RiskResult(score, risk_level(score), len(answers), questions or 0)


def answer_risk(
    session: Session,
    change_id: int,
    answers: Mapping[int, int],
    expected_version: int | None = None,
    author: int | None = None,
    *,
    now: dt.datetime | None = None,
) -> RiskResult:
    """Record answers ``{question_id: option_id}``; once every active question is answered,
    set ``risk_score`` (sum of option score x question weight) and ``risk`` (its level).

    Answers may come a few at a time; until the questionnaire is complete the change
    keeps its risk and has no score.
    """
    now = _now(now)
    change = _load(session, change_id, expected_version, {"risk_answers": dict(answers)})
    _refuse_final(change)
    _refuse_locked(change, "its risk answers")
    if change.type == T.STANDARD:
        raise WorkflowError(
            f"{change.number} is a standard change; its risk comes from its template."
        )
    _author(session, author)
    wanted: dict[int, RiskOption] = {}
    for question_id, option_id in answers.items():
        qid, oid = _clean_id("question", question_id), _clean_id("answer", option_id)
        question = session.get(RiskQuestion, qid) if qid is not None else None
        if question is None or not question.active:
            raise WorkflowError("That risk question is no longer asked.")
        option = session.get(RiskOption, oid) if oid is not None else None
        if option is None or option.question_id != question.id:
            raise WorkflowError(f"Choose one of the answers offered for “{question.text}”.")
        wanted[question.id] = option
    existing = {
        a.question_id: a
        for a in session.scalars(select(RiskAnswer).where(RiskAnswer.change_id == change.id))
    }
    with session.no_autoflush:
        for qid, option in wanted.items():
            answer = existing.get(qid)
            if answer is None:
                session.add(RiskAnswer(change_id=change.id, question_id=qid, option_id=option.id))
                _audit(
                    session,
                    "risk_answer",
                    f"{change.id},{qid}",
                    "insert",
                    "option",
                    None,
                    option.label,
                )
            elif answer.option_id != option.id:
                old = session.get(RiskOption, answer.option_id)
                answer.option_id = option.id
                _audit(
                    session,
                    "risk_answer",
                    f"{change.id},{qid}",
                    "update",
                    "option",
                    old.label if old else None,
                    option.label,
                )
        session.flush()
        result = risk_result(session, change.id)
        change.risk_score = result.score
        if result.level is not None:
            change.risk = result.level
        _save(session, change, now)
    return result


# Loading with a version check


def _values(change: ChangeRequest) -> dict[str, Any]:
    return {key: getattr(change, key) for key in sorted(EDITABLE | {"state"})}


def _get(session: Session, change_id: Any) -> ChangeRequest:
    ident = _clean_id("change", change_id)
    change = session.get(ChangeRequest, ident) if ident is not None else None
    if change is None:
        raise WorkflowError("That change no longer exists.")
    return change


def _load(
    session: Session, change_id: Any, expected_version: Any, mine: Mapping[str, Any]
) -> ChangeRequest:
    """The change, if it is still at ``expected_version``; else a ConflictError."""
    change = _get(session, change_id)
    if expected_version is not None and change.version != expected_version:
        raise _conflict(session, change, mine)
    return change


def _conflict(session: Session, change: ChangeRequest, mine: Mapping[str, Any]) -> ConflictError:
    """Someone else's save is in the way: what they saved, to show beside ``mine``."""
    who, when = last_writer(session, "change_request", change.id)
    by_at = by_whom_when(who, when)
    return ConflictError(
        f"{change.number} was changed{by_at} after you opened it. Nothing was overwritten.",
        change_id=change.id,
        number=change.number,
        their_version=change.version,
        theirs=_values(change),
        mine=dict(mine),
        changed_by=who,
        changed_at=when,
    )


def _refuse_final(change: ChangeRequest) -> None:
    if change.state in FINAL_STATES:
        raise WorkflowError(f"{change.number} is {change.state}; it can no longer be changed.")


def _locked(change: ChangeRequest) -> bool:
    """Whether what the board approved can no longer be edited in the change's state."""
    if change.state in _IMPLEMENTED_STATES:
        return True
    return change.state == S.SCHEDULED and change.type != T.STANDARD


def _refuse_locked(change: ChangeRequest, what: str) -> None:
    if not _locked(change):
        return
    if change.state == S.SCHEDULED:
        raise WorkflowError(
            f"{change.number} is Scheduled: {what} cannot change after the board's "
            "approval; move it back to Authorize first."
        )
    raise WorkflowError(f"{change.number} is in {change.state}: {what} can no longer change.")


def _save(session: Session, change: ChangeRequest, now: dt.datetime) -> None:
    """Stamp and flush (always an UPDATE, so the version moves); a lost race becomes a
    ConflictError with what the other console saved (read anew: the transaction is gone)."""
    change.updated_at = now
    ident = change.id
    try:
        session.flush()
    except StaleDataError:
        with committed_view(session) as fresh:
            raise _conflict(fresh, _get(fresh, ident), {}) from None


def _audit(
    session: Session,
    entity: str,
    entity_id: str,
    action: str,
    field_name: str | None = None,
    old: str | None = None,
    new: str | None = None,
) -> None:
    """An audit row for what the audit hook cannot see (link tables, unaudited children)."""
    session.add(
        AuditEntry(
            at=utcnow(),
            username=session.info.get("username", "system"),
            user_id=session.info.get("user_id"),
            entity=entity,
            entity_id=entity_id,
            action=action,
            field=field_name,
            old_value=old,
            new_value=new,
        )
    )


# Requirements


def latest_decision(session: Session, change_id: int) -> DecisionView | None:
    """The board decision that counts: the one from the latest meeting that decided."""
    decisions = [d for d in _decisions(session, change_id) if d.decision is not None]
    return decisions[0] if decisions else None


def _has_scope(session: Session, change: ChangeRequest, service_id: int | None) -> bool:
    if service_id is not None:
        return True
    if change.id is None:
        return bool(change.services or change.cis)
    for link in (change_service, change_ci):
        if session.scalar(select(exists().where(link.c.change_id == change.id))):
            return True
    return False


def _risk_assessed(session: Session, change: ChangeRequest, change_type: str) -> bool:
    if change_type == T.STANDARD:
        return True
    result = risk_result(session, change.id)
    return result.complete


def _missing(
    session: Session,
    change: ChangeRequest,
    values: Mapping[str, Any],
    state: str,
    *,
    with_records: bool = True,
) -> list[str]:
    """The required fields of ``state`` that ``values`` (the change as it would be) lacks.

    ``with_records`` also checks what lives outside the row (board approval, review),
    which plain edits cannot take away.
    """
    change_type = values.get("type", change.type)
    missing: list[str] = []
    for key in REQUIRED_FIELDS[state]:
        if key == "scope":
            ok = _has_scope(session, change, values.get("service_id"))
        elif key == "risk_assessed":
            ok = _risk_assessed(session, change, change_type)
        elif key == "approval":
            if change_type == T.STANDARD or not with_records:
                continue
            decision = latest_decision(session, change.id)
            ok = decision is not None and decision.decision == "approved"
        elif key == "close_notes" and state == S.CLOSED:
            ok = values.get("close_code") == CloseCode.SUCCESSFUL or bool(values.get(key))
        elif key == "review":
            needed = change_type == T.EMERGENCY or values.get("close_code") == (
                CloseCode.UNSUCCESSFUL
            )
            if not needed or not with_records:
                continue
            outcome = session.scalar(
                select(ChangeReview.outcome).where(ChangeReview.change_id == change.id)
            )
            ok = bool(outcome and outcome.strip())
        else:
            ok = values.get(key) not in (None, "")
        if not ok:
            missing.append(key)
    return missing


def _missing_error(change: ChangeRequest, state: str, missing: list[str], moving: bool) -> None:
    if not missing:
        return
    labels = [_missing_label(change.type, key) for key in missing]
    if moving:
        message = f"{change.number} cannot move to {state} yet: it needs {_join(labels)}."
    else:
        message = f"{change.number} is in {state}, which needs {_join(labels)}."
    raise MissingFieldsError(message, state=state, missing=missing)


def _missing_label(change_type: str, key: str) -> str:
    if key == "approval" and change_type == T.EMERGENCY:
        return "an approved ECAB decision"
    return MISSING_LABELS.get(key, key)


def missing_fields(
    session: Session, change_id: int, state: str, *, with_records: bool = True
) -> list[str]:
    """What the change lacks to be in ``state`` (keys of :data:`MISSING_LABELS`);
    ``with_records=False`` leaves out the board's approval and the review."""
    change = _get(session, change_id)
    values = {**_values(change), "close_code": change.close_code, "close_notes": change.close_notes}
    return _missing(session, change, values, _state(state), with_records=with_records)


def next_steps(session: Session, change_id: int) -> list[NextStep]:
    """The states the change may move to now, each with what it still lacks."""
    change = _get(session, change_id)
    values = _values(change)
    steps = []
    for target in ALLOWED_TRANSITIONS.get(change.type, {}).get(change.state, ()):
        # Closing and canceling ask for their fields in the same step.
        wanted = {"close_code", "close_notes"} if target in FINAL_STATES else set()
        missing = [
            m
            for m in _missing(session, change, values, target)
            if m not in wanted and not (target == S.IMPLEMENT and m == "actual_start")
        ]
        steps.append(NextStep(target, tuple(_missing_label(change.type, m) for m in missing)))
    return steps


# Creating


def next_number(session: Session) -> str:
    """The next free number ``CHG`` + 7 digits (other numbering schemes are ignored)."""
    low, high = NUMBER_PREFIX + "0" * NUMBER_DIGITS, NUMBER_PREFIX + "9" * NUMBER_DIGITS
    candidates = session.scalars(
        select(ChangeRequest.number)
        .where(
            ChangeRequest.number.between(low, high),
            func.length(ChangeRequest.number) == len(low),
        )
        .order_by(ChangeRequest.number.desc())
        .limit(50)
    )
    last = next((n for n in candidates if n[len(NUMBER_PREFIX) :].isdigit()), None)
    following = int(last[len(NUMBER_PREFIX) :]) + 1 if last else 1
    if following >= 10**NUMBER_DIGITS:
        raise WorkflowError("Change numbers have run out (CHG9999999 is taken).")
    return f"{NUMBER_PREFIX}{following:0{NUMBER_DIGITS}d}"


def _insert_numbered(session: Session, change: ChangeRequest) -> None:
    """Insert with the next free number (see :mod:`app.services.numbering`)."""
    insert_numbered(
        session,
        change,
        next_number,
        lambda: WorkflowError("No free change number was found (others were creating "
                              "changes at the same moment); save again."),
    )  # fmt: skip


def _template(session: Session, template_id: Any) -> ChangeTemplate:
    ident = _clean_id("template_id", template_id)
    template = session.get(ChangeTemplate, ident) if ident is not None else None
    if template is None:
        raise WorkflowError("A standard change is made from a template of the catalogue.")
    if not template.active:
        raise WorkflowError(f"The template “{template.name}” is retired; choose another.")
    return template


def _from_template(template: ChangeTemplate, values: dict[str, Any], explicit: set[str]) -> None:
    """Copy a template's plans (unless typed in) and risk, and size the window by it."""
    for key in ("implementation_plan", "test_plan", "backout_plan"):
        if key not in explicit or not values.get(key):
            values[key] = getattr(template, key) or ""
    if not values.get("short_description"):
        values["short_description"] = template.name
    if not values.get("description"):
        values["description"] = template.description or ""
    start = values.get("planned_start")
    if start is not None and values.get("planned_end") is None:
        values["planned_end"] = start + dt.timedelta(
            minutes=max(1, template.typical_duration_minutes or 60)
        )


def _clean_ids(session: Session, model: type, ids: Iterable[Any], what: str) -> list[int]:
    wanted = []
    for ident in ids or ():
        clean = _clean_id(what, ident)
        if clean is not None and clean not in wanted:
            wanted.append(clean)
    if wanted:
        found = set(session.scalars(select(model.id).where(model.id.in_(wanted))))  # type: ignore[attr-defined]
        if len(found) < len(wanted):
            raise WorkflowError(f"{len(wanted) - len(found)} of the chosen {what} no longer exist.")
    return wanted


def new_change(
    session: Session,
    short_description: str = "",
    *,
    type: str = T.NORMAL,  # noqa: A002 - the domain's word
    template_id: int | None = None,
    service_ids: Iterable[int] = (),
    ci_ids: Iterable[int] = (),
    author: int | None = None,
    now: dt.datetime | None = None,
    **fields: Any,
) -> ChangeRequest:
    """A new change request in state New, numbered ``CHG`` + 7 digits.

    A Standard change needs ``template_id``: its plans (unless given), description and
    risk are copied from the template, and the planned end follows from the planned start
    and the template's typical duration. ``fields`` are any of :data:`EDITABLE`;
    ``requested_by_id`` defaults to ``author`` (default: the signed-in user's person).
    """
    now = _now(now)
    unknown = [key for key in fields if key not in EDITABLE or key == "type"]
    if unknown:
        raise WorkflowError(f"{_label(unknown[0])} cannot be set on a new change.")
    change_type = _clean_type(type)
    values = {key: _clean(key, value) for key, value in fields.items()}
    values["short_description"] = _clean_text("short_description", short_description)
    template = None
    if change_type == T.STANDARD:
        template = _template(session, template_id)
        values["template_id"] = template.id
        _from_template(template, values, set(fields))
    elif template_id is not None:
        raise WorkflowError("Only standard changes are made from a template.")
    if not values["short_description"]:
        raise MissingFieldsError(
            "A change needs a short description.", state=S.NEW, missing=["short_description"]
        )
    if values.get("requested_by_id") is None:
        values["requested_by_id"] = _author(session, author)
    _check_dates(values, now)
    _check_references(session, values)
    services = _clean_ids(session, Service, service_ids, "services")
    cis = _clean_ids(session, ConfigurationItem, ci_ids, "configuration items")
    for key in LONG_TEXT:
        values[key] = values.get(key) or ""
    change = ChangeRequest(
        **values,
        type=change_type,
        state=S.NEW.value,
        risk=template.risk if template is not None else Risk.MODERATE.value,
        risk_score=None,
        opened_at=now,
        created_at=now,
        updated_at=now,
    )
    _insert_numbered(session, change)
    if services or cis:
        # Link rows only: the change keeps version 1.
        _write_affected(session, change, services, cis)
        session.flush()
    return change


# Editing


def _check_locks(change: ChangeRequest, clean: Mapping[str, Any]) -> None:
    touched = sorted(k for k in APPROVED_FIELDS & clean.keys() if clean[k] != getattr(change, k))
    if touched:
        _refuse_locked(change, "its " + _join([_label(k).lower() for k in touched]))


def _retype(
    session: Session, change: ChangeRequest, clean: dict[str, Any], merged: dict[str, Any]
) -> None:
    """Settle type and template: a Standard change has an active template, others none."""
    new_type = merged["type"]
    if new_type == change.type and merged.get("template_id") == change.template_id:
        return
    if change.state != S.NEW:
        raise WorkflowError(
            f"{change.number} is {change.state}; only a New change can change type."
        )
    if new_type == T.STANDARD:
        template = _template(session, merged.get("template_id"))
        merged["template_id"] = template.id
        _from_template(template, merged, set(clean))
        merged["risk"] = template.risk
        merged["risk_score"] = None
    else:
        if clean.get("template_id") is not None:
            raise WorkflowError("Only standard changes are made from a template.")
        merged["template_id"] = None
        if change.type == T.STANDARD:
            result = risk_result(session, change.id)
            merged["risk_score"] = result.score
            if result.level is not None:
                merged["risk"] = result.level


def _prepare(
    session: Session,
    change: ChangeRequest,
    fields: Mapping[str, Any],
    now: dt.datetime,
    *,
    closing: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cleaned ``fields`` and the change's values with them, checked; nothing written yet."""
    allowed = EDITABLE | CLOSING if closing else EDITABLE
    unknown = [key for key in fields if key not in allowed]
    if unknown:
        key = unknown[0]
        if key in CLOSING:
            raise WorkflowError(f"{_label(key)} is given when closing or canceling the change.")
        raise WorkflowError(f"{_label(key)} cannot be changed here.")
    clean = {key: _clean(key, value) for key, value in fields.items()}
    if "short_description" in clean and not clean["short_description"]:
        raise MissingFieldsError(
            f"{change.number} needs a short description.",
            state=change.state,
            missing=["short_description"],
        )
    _check_locks(change, clean)
    merged: dict[str, Any] = {
        **_values(change),
        "close_code": change.close_code,
        "close_notes": change.close_notes,
        "risk": change.risk,
        "risk_score": change.risk_score,
        **clean,
    }
    _retype(session, change, clean, merged)
    _check_dates(merged, now)
    _check_references(session, merged)
    return clean, merged


_WRITTEN = (*sorted(EDITABLE), "risk", "risk_score", "close_code", "close_notes")


def _write(change: ChangeRequest, merged: Mapping[str, Any]) -> None:
    for key in _WRITTEN:
        if key not in merged:
            continue
        new = merged[key]
        if key in LONG_TEXT:
            new = new or ""
        if getattr(change, key) != new:
            setattr(change, key, new)


def update_change(
    session: Session,
    change_id: int,
    expected_version: int | None,
    author: int | None = None,
    *,
    now: dt.datetime | None = None,
    **fields: Any,
) -> ChangeRequest:
    """Apply field changes (keys of :data:`EDITABLE`) to a change still at ``expected_version``.

    Refused: unknown or impossible values (an end not after its start, a future actual
    time, a deleted record), editing a Closed or Canceled change, approved fields of a
    Scheduled/implemented change, and anything that would leave the change without a
    field its state needs.
    """
    now = _now(now)
    change = _load(session, change_id, expected_version, fields)
    if "state" in fields and fields["state"] != change.state:
        raise WorkflowError("Use the workflow buttons to change the state.")
    fields = {key: value for key, value in fields.items() if key != "state"}
    _refuse_final(change)
    _author(session, author)
    _clean_fields, merged = _prepare(session, change, fields, now)
    _missing_error(
        change,
        change.state,
        _missing(session, change, merged, change.state, with_records=False),
        moving=False,
    )
    with session.no_autoflush:
        _write(change, merged)
        _save(session, change, now)
    return change


def _names(session: Session, model: type, ids: Iterable[int]) -> str:
    ids = sorted(set(ids))
    if not ids:
        return ""
    names = session.scalars(
        select(model.name).where(model.id.in_(ids)).order_by(model.name)  # type: ignore[attr-defined]
    ).all()
    return ", ".join(names)


def _write_affected(
    session: Session, change: ChangeRequest, service_ids: list[int], ci_ids: list[int]
) -> None:
    """Replace the affected services and CIs, with an audit row per list that changed."""
    for link, column, model, wanted, key in (
        (change_service, change_service.c.service_id, Service, service_ids, "services"),
        (change_ci, change_ci.c.ci_id, ConfigurationItem, ci_ids, "cis"),
    ):
        current = set(session.scalars(select(column).where(link.c.change_id == change.id)))
        if current == set(wanted):
            continue
        old = _names(session, model, current)
        session.execute(delete(link).where(link.c.change_id == change.id))
        if wanted:
            session.execute(
                link.insert(), [{"change_id": change.id, column.key: ident} for ident in wanted]
            )
        _audit(
            session,
            "change_request",
            str(change.id),
            "update",
            key,
            old or None,
            _names(session, model, wanted) or None,
        )
    # The relationships were loaded before the link rows moved underneath them.
    session.expire(change, ["services", "cis"])


def set_affected(
    session: Session,
    change_id: int,
    service_ids: Iterable[int],
    ci_ids: Iterable[int],
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ChangeRequest:
    """Replace the change's affected services and configuration items."""
    now = _now(now)
    services_in, cis_in = list(service_ids or ()), list(ci_ids or ())
    change = _load(session, change_id, expected_version, {"services": services_in, "cis": cis_in})
    _refuse_final(change)
    services = _clean_ids(session, Service, services_in, "services")
    cis = _clean_ids(session, ConfigurationItem, cis_in, "configuration items")
    current_services = set(
        session.scalars(
            select(change_service.c.service_id).where(change_service.c.change_id == change.id)
        )
    )
    current_cis = set(
        session.scalars(select(change_ci.c.ci_id).where(change_ci.c.change_id == change.id))
    )
    if current_services == set(services) and current_cis == set(cis):
        return change
    _refuse_locked(change, "its affected services and configuration items")
    if (
        "scope" in REQUIRED_FIELDS[change.state]
        and change.service_id is None
        and not services
        and not cis
    ):
        _missing_error(change, change.state, ["scope"], moving=False)
    with session.no_autoflush:
        _write_affected(session, change, services, cis)
        _save(session, change, now)
    return change


# States


def transition(
    session: Session,
    change_id: int,
    to_state: str,
    expected_version: int | None,
    author: int | None = None,
    *,
    now: dt.datetime | None = None,
    **fields: Any,
) -> ChangeRequest:
    """Move a change to ``to_state`` if its type's workflow allows it and nothing is missing.

    ``fields`` are saved with the move (keys of :data:`EDITABLE`, and ``close_code`` /
    ``close_notes`` when closing or canceling). Implement sets the actual start to now
    unless given; Review needs the actual end; Closed needs a close code (and close notes
    unless Successful, and a post-implementation review for Emergency or Unsuccessful
    changes); Canceled needs a reason in the close notes. A refusal for missing fields is
    a :class:`MissingFieldsError` naming every one of them.
    """
    now = _now(now)
    change = _load(session, change_id, expected_version, {"state": str(to_state), **fields})
    target = _state(to_state)
    current = change.state
    if target == current:
        raise WorkflowError(f"{change.number} is already {current}.")
    if target not in ALLOWED_TRANSITIONS.get(change.type, {}).get(current, ()):
        if current in FINAL_STATES:
            raise WorkflowError(f"{change.number} is {current}; that is final.")
        raise WorkflowError(
            f"A {change.type.lower()} change cannot go from {current} to {target} "
            f"({change.number})."
        )
    _author(session, author)
    closing = target in FINAL_STATES
    _clean_fields, merged = _prepare(session, change, fields, now, closing=closing)
    if target == S.IMPLEMENT and merged.get("actual_start") is None:
        merged["actual_start"] = now
    if target == S.CANCELED:
        merged["close_code"] = None
    _check_dates(merged, now)
    _missing_error(change, target, _missing(session, change, merged, target), moving=True)
    with session.no_autoflush:
        _write(change, merged)
        change.state = target
        if closing:
            change.closed_at = now
        _save(session, change, now)
    return change


def record_review(
    session: Session,
    change_id: int,
    outcome: str,
    lessons: str = "",
    *,
    reviewed_on: dt.date | None = None,
    author: int | None = None,
    now: dt.datetime | None = None,
) -> ChangeReview:
    """Write (or rewrite) the post-implementation review of an implemented change.

    DOMAIN.md asks for one for emergency and failed changes; closing those needs it.
    """
    now = _now(now)
    change = _get(session, change_id)
    if change.state not in (S.IMPLEMENT, S.REVIEW, S.CLOSED):
        raise WorkflowError(
            f"{change.number} is {change.state}; a post-implementation review follows "
            "the implementation."
        )
    outcome_text = _clean_text("outcome", outcome)
    if not outcome_text:
        raise WorkflowError("A post-implementation review needs its outcome.")
    lessons_text = _clean_text("lessons", lessons)
    if reviewed_on is not None and not isinstance(reviewed_on, dt.date):
        raise WorkflowError("Reviewed on must be a date.")
    reviewer = _author(session, author)
    review = session.scalar(select(ChangeReview).where(ChangeReview.change_id == change.id))
    with session.no_autoflush:
        if review is None:
            review = ChangeReview(change_id=change.id, created_at=now)
            session.add(review)
        review.outcome = outcome_text
        review.lessons = lessons_text
        review.reviewed_on = reviewed_on or now.date()
        review.reviewer_id = reviewer
        review.updated_at = now
        session.flush()
    return review


# Incidents


def link_incident(
    session: Session,
    change_id: int,
    incident_id: int,
    *,
    author: int | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Name this change as the cause of an incident (Incident.caused_by_change_id).

    Only a change that was implemented can cause an incident. The change success rate
    counts such a change as failed.
    """
    now = _now(now)
    change = _get(session, change_id)
    if change.state not in (S.IMPLEMENT, S.REVIEW, S.CLOSED):
        raise WorkflowError(
            f"{change.number} is {change.state}; only an implemented change can cause an incident."
        )
    ident = _clean_id("incident", incident_id)
    incident = session.get(Incident, ident) if ident is not None else None
    if incident is None:
        raise WorkflowError("That incident no longer exists.")
    if incident.caused_by_change_id == change.id:
        return incident
    old = incident.caused_by_change_id
    old_number = session.get(ChangeRequest, old).number if old is not None else None
    incident_number = incident.number  # readable after a lost race rolls the session back
    with session.no_autoflush:
        incident.caused_by_change_id = change.id
        incident.updated_at = now
        session.add(
            IncidentEvent(
                incident_id=incident.id,
                at=now,
                author_id=_author(session, author),
                kind="field",
                field="caused_by_change",
                old_value=old_number,
                new_value=change.number,
            )
        )
        try:
            session.flush()
        except StaleDataError:
            raise WorkflowError(
                f"{incident_number} was changed by someone else while it was being saved; "
                "nothing was linked. Try again."
            ) from None
    return incident


def unlink_incident(
    session: Session,
    change_id: int,
    incident_id: int,
    *,
    author: int | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Take back naming this change as the cause of an incident."""
    now = _now(now)
    change = _get(session, change_id)
    ident = _clean_id("incident", incident_id)
    incident = session.get(Incident, ident) if ident is not None else None
    if incident is None:
        raise WorkflowError("That incident no longer exists.")
    if incident.caused_by_change_id != change.id:
        raise WorkflowError(f"{incident.number} is not linked to {change.number} as its cause.")
    with session.no_autoflush:
        incident.caused_by_change_id = None
        incident.updated_at = now
        session.add(
            IncidentEvent(
                incident_id=incident.id,
                at=now,
                author_id=_author(session, author),
                kind="field",
                field="caused_by_change",
                old_value=change.number,
                new_value=None,
            )
        )
        session.flush()
    return incident


# Reading


def _decisions(session: Session, change_id: int) -> list[DecisionView]:
    """The change's agenda items, latest meeting first, with votes."""
    rows = session.execute(
        select(CabAgendaItem, CabMeeting)
        .join(CabMeeting, CabMeeting.id == CabAgendaItem.meeting_id)
        .where(CabAgendaItem.change_id == change_id)
        .order_by(CabMeeting.starts_at.desc(), CabAgendaItem.id.desc())
    ).all()
    if not rows:
        return []
    votes: dict[int, list[VoteView]] = {}
    for item_id, name, vote, comment in session.execute(
        select(CabVote.agenda_item_id, Person.name, CabVote.vote, CabVote.comment)
        .join(Person, Person.id == CabVote.person_id)
        .where(CabVote.agenda_item_id.in_([item.id for item, _ in rows]))
        .order_by(Person.name)
    ):
        votes.setdefault(item_id, []).append(VoteView(name, vote, comment or ""))
    return [
        DecisionView(
            item.id,
            meeting.id,
            meeting.title,
            meeting.starts_at,
            meeting.emergency,
            item.decision,
            item.conditions or "",
            item.notes or "",
            item.decided_at,
            tuple(votes.get(item.id, ())),
        )
        for item, meeting in rows
    ]


def _incident_links(session: Session, column: Any, change_id: int) -> tuple[IncidentLink, ...]:
    rows = session.execute(
        select(
            Incident.id,
            Incident.number,
            Incident.short_description,
            Incident.state,
            Incident.priority,
        )
        .where(column == change_id)
        .order_by(Incident.opened_at.desc())
        .limit(LOOKUP_LIMIT)
    )
    return tuple(IncidentLink(*row) for row in rows)


def history(session: Session, change_id: int) -> list[HistoryEntry]:
    """Audit rows of the change, its risk answers, agenda items and review; newest first."""
    item_ids = [
        str(i)
        for i in session.scalars(
            select(CabAgendaItem.id).where(CabAgendaItem.change_id == change_id)
        )
    ]
    review_ids = [
        str(i)
        for i in session.scalars(select(ChangeReview.id).where(ChangeReview.change_id == change_id))
    ]
    conditions = [
        (AuditEntry.entity == "change_request") & (AuditEntry.entity_id == str(change_id)),
        (AuditEntry.entity == "risk_answer") & AuditEntry.entity_id.like(f"{int(change_id)},%"),
    ]
    if item_ids:
        conditions.append(
            (AuditEntry.entity == "cab_agenda_item") & AuditEntry.entity_id.in_(item_ids)
        )
    if review_ids:
        conditions.append(
            (AuditEntry.entity == "change_review") & AuditEntry.entity_id.in_(review_ids)
        )
    rows = session.execute(
        select(AuditEntry, AppUser.display_name)
        .outerjoin(AppUser, AuditEntry.user_id == AppUser.id)
        .where(or_(*conditions))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    return [
        HistoryEntry(
            at=entry.at,
            author=display or ("System" if entry.username == "system" else entry.username),
            entity=entry.entity,
            action=entry.action,
            field=entry.field,
            old_value=entry.old_value,
            new_value=entry.new_value,
        )
        for entry, display in rows
    ]


def _conflicts(session: Session, change: ChangeRequest) -> tuple[Conflict, ...]:
    if change.planned_start is None or change.planned_end is None:
        return ()
    if change.planned_end <= change.planned_start:
        return ()
    return tuple(conflicts_for(session, change.id))


_DETAIL_NAMES = {
    "template_id": "template_name",
    "service_id": "service_name",
    "assignment_group_id": "assignment_group_name",
    "assignee_id": "assignee_name",
    "requested_by_id": "requested_by_name",
    "vendor_id": "vendor_name",
}
_DETAIL_COLUMNS = (
    "id",
    "number",
    "version",
    "type",
    "state",
    "template_id",
    "short_description",
    "description",
    "justification",
    "implementation_plan",
    "test_plan",
    "backout_plan",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "service_id",
    "assignment_group_id",
    "assignee_id",
    "requested_by_id",
    "vendor_id",
    "risk",
    "risk_score",
    "opened_at",
    "closed_at",
    "close_code",
    "close_notes",
    "created_at",
    "updated_at",
)


def change_detail(session: Session, change_id: int) -> ChangeDetail:
    """The change with names, affected services and CIs, risk answers, board decisions,
    review, linked incidents, conflicts of its planned window, history and next steps."""
    change = _get(session, change_id)
    values: dict[str, Any] = {key: getattr(change, key) for key in _DETAIL_COLUMNS}
    for key, (model, attr) in REFERENCES.items():
        ident = values[key]
        record = session.get(model, ident) if ident is not None else None
        values[_DETAIL_NAMES[key]] = getattr(record, attr) if record is not None else None
    services = session.execute(
        select(Service.id, Service.name)
        .join(change_service, change_service.c.service_id == Service.id)
        .where(change_service.c.change_id == change.id)
        .order_by(Service.name)
    ).all()
    cis = session.execute(
        select(ConfigurationItem.id, ConfigurationItem.name)
        .join(change_ci, change_ci.c.ci_id == ConfigurationItem.id)
        .where(change_ci.c.change_id == change.id)
        .order_by(ConfigurationItem.name)
    ).all()
    decisions = _decisions(session, change.id)
    decided = next((d for d in decisions if d.decision is not None), None)
    review = session.scalar(select(ChangeReview).where(ChangeReview.change_id == change.id))
    review_view = None
    if review is not None:
        reviewer = session.get(Person, review.reviewer_id) if review.reviewer_id else None
        review_view = ReviewView(
            review.id,
            review.reviewed_on,
            review.outcome,
            review.lessons,
            reviewer.name if reviewer else None,
        )
    return ChangeDetail(
        **values,
        services=tuple(Ref(i, n) for i, n in services),
        cis=tuple(Ref(i, n) for i, n in cis),
        risk_answers=tuple(_risk_answers(session, change.id)),
        decisions=tuple(decisions),
        decision=decided.decision if decided else None,
        review=review_view,
        caused_incidents=_incident_links(session, Incident.caused_by_change_id, change.id),
        fixes_incidents=_incident_links(session, Incident.change_id, change.id),
        conflicts=_conflicts(session, change),
        history=tuple(history(session, change.id)),
        next_steps=tuple(next_steps(session, change.id)),
    )


def lookups(session: Session) -> ChangeLookups:
    """Choices for the change form: groups with members, services with CIs, templates, ..."""
    groups = [
        GroupOption(team_id, name)
        for team_id, name in session.execute(
            select(Team.id, Team.name).where(Team.active.is_(True)).order_by(Team.name)
        )
    ]
    by_group = {g.id: g for g in groups}
    for team_id, person_id, name in session.execute(
        select(team_member.c.team_id, Person.id, Person.name)
        .join(Person, Person.id == team_member.c.person_id)
        .where(Person.active.is_(True))
        .order_by(Person.name)
        .limit(LOOKUP_LIMIT)
    ):
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
    for service_id, ci_id, name in session.execute(
        select(ConfigurationItem.service_id, ConfigurationItem.id, ConfigurationItem.name)
        .where(ConfigurationItem.active.is_(True), ConfigurationItem.service_id.is_not(None))
        .order_by(ConfigurationItem.name)
        .limit(LOOKUP_LIMIT)
    ):
        if service_id in by_service:
            by_service[service_id].cis.append(Option(ci_id, name))
    people = [
        Option(i, n)
        for i, n in session.execute(
            select(Person.id, Person.name)
            .where(Person.active.is_(True))
            .order_by(Person.name)
            .limit(LOOKUP_LIMIT)
        )
    ]
    vendors = [
        Option(i, n)
        for i, n in session.execute(
            select(Vendor.id, Vendor.name).order_by(Vendor.name).limit(LOOKUP_LIMIT)
        )
    ]
    templates = [
        TemplateOption(t.id, t.name, t.risk, t.typical_duration_minutes)
        for t in session.scalars(
            select(ChangeTemplate)
            .where(ChangeTemplate.active.is_(True))
            .order_by(ChangeTemplate.name)
        )
    ]
    return ChangeLookups(
        groups=groups,
        people=people,
        services=services,
        vendors=vendors,
        templates=templates,
        risk_questions=risk_questions(session),
    )


# The change list

#: Sort keys of the change list and the column each orders by (ties by id).
SORTS: dict[str, Any] = {
    "number": ChangeRequest.number,
    "short_description": ChangeRequest.short_description,
    "type": ChangeRequest.type,
    "state": case(
        {state.value: i for i, state in enumerate(ChangeState)},
        value=ChangeRequest.state,
        else_=len(ChangeState),
    ),
    "risk": case(
        {level: i for i, level in enumerate(RISK_LEVELS)},
        value=ChangeRequest.risk,
        else_=len(RISK_LEVELS),
    ),
    "risk_score": ChangeRequest.risk_score,
    "planned_start": ChangeRequest.planned_start,
    "planned_end": ChangeRequest.planned_end,
    "opened": ChangeRequest.opened_at,
    "updated": ChangeRequest.updated_at,
    "service": Service.name,
    "group": Team.name,
    "assignee": Person.name,
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], filt: ChangeFilter | None) -> Select[Any]:
    if filt is None:
        return query
    if filt.states:
        query = query.where(ChangeRequest.state.in_(list(filt.states)))
    if filt.types:
        query = query.where(ChangeRequest.type.in_(list(filt.types)))
    if filt.risks:
        query = query.where(ChangeRequest.risk.in_(list(filt.risks)))
    if filt.group_ids:
        query = query.where(ChangeRequest.assignment_group_id.in_(list(filt.group_ids)))
    if filt.assignee_ids:
        query = query.where(ChangeRequest.assignee_id.in_(list(filt.assignee_ids)))
    if filt.service_ids:
        ids = list(filt.service_ids)
        query = query.where(
            ChangeRequest.service_id.in_(ids)
            | exists().where(
                change_service.c.change_id == ChangeRequest.id,
                change_service.c.service_id.in_(ids),
            )
        )
    text = (filt.text or "").replace("\x00", "").strip()
    if text:
        pattern = f"%{_escape_like(text)}%"
        query = query.where(
            ChangeRequest.number.ilike(pattern, escape="\\")
            | ChangeRequest.short_description.ilike(pattern, escape="\\")
        )
    if filt.planned_from is not None or filt.planned_to is not None:
        end = func.coalesce(ChangeRequest.planned_end, ChangeRequest.planned_start)
        query = query.where(ChangeRequest.planned_start.is_not(None))
        if filt.planned_from is not None:
            query = query.where(end > filt.planned_from)
        if filt.planned_to is not None:
            query = query.where(ChangeRequest.planned_start < filt.planned_to)
    return query


def list_changes(
    session: Session,
    filt: ChangeFilter | None = None,
    *,
    sort: str = "planned_start",
    descending: bool = False,
    limit: int | None = LIST_LIMIT,
    offset: int = 0,
) -> list[ChangeRow]:
    """A page of the changes ``filt`` matches, sorted by ``sort`` (a key of :data:`SORTS`)."""
    if sort not in SORTS:
        raise WorkflowError(f"Changes cannot be sorted by “{sort}” ({', '.join(SORTS)}).")
    if offset < 0 or (limit is not None and limit < 0):
        raise WorkflowError("Limit and offset cannot be negative.")
    key = SORTS[sort]
    order = key.desc() if descending else key.asc()
    tie = ChangeRequest.id.desc() if descending else ChangeRequest.id.asc()
    query = (
        select(
            ChangeRequest.id,
            ChangeRequest.number,
            ChangeRequest.short_description,
            ChangeRequest.type,
            ChangeRequest.state,
            ChangeRequest.risk,
            ChangeRequest.risk_score,
            ChangeRequest.planned_start,
            ChangeRequest.planned_end,
            Service.name,
            Team.name,
            Person.name,
            ChangeRequest.opened_at,
            ChangeRequest.updated_at,
            ChangeRequest.version,
        )
        .outerjoin(Service, Service.id == ChangeRequest.service_id)
        .outerjoin(Team, Team.id == ChangeRequest.assignment_group_id)
        .outerjoin(Person, Person.id == ChangeRequest.assignee_id)
    )
    query = _filtered(query, filt).order_by(order.nulls_last(), tie).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [ChangeRow(*row) for row in session.execute(query)]


def count_changes(session: Session, filt: ChangeFilter | None = None) -> int:
    """How many changes ``filt`` matches."""
    query = _filtered(select(func.count()).select_from(ChangeRequest), filt)
    return int(session.scalar(query) or 0)


__all__ = [
    "ALLOWED_TRANSITIONS",
    "CLOSE_CODES",
    "FIELD_LABELS",
    "MISSING_LABELS",
    "REQUIRED_FIELDS",
    "RISK_LEVELS",
    "RISK_THRESHOLDS",
    "SORTS",
    "ChangeDetail",
    "ChangeFilter",
    "ChangeLookups",
    "ChangeRow",
    "ConflictError",
    "DecisionView",
    "HistoryEntry",
    "IncidentLink",
    "MissingFieldsError",
    "NextStep",
    "Ref",
    "ReviewView",
    "RiskAnswerView",
    "RiskQuestionView",
    "RiskResult",
    "TemplateOption",
    "WorkflowError",
    "answer_risk",
    "change_detail",
    "count_changes",
    "history",
    "latest_decision",
    "link_incident",
    "list_changes",
    "lookups",
    "missing_fields",
    "new_change",
    "next_number",
    "next_steps",
    "record_review",
    "risk_level",
    "risk_questions",
    "risk_result",
    "set_affected",
    "transition",
    "unlink_incident",
    "update_change",
]
