"""SLA engine: definitions as data, and clocks computed from each incident's state history.

Condition language
------------------
Each condition of an SLA definition (``applies_to``, ``start_condition``,
``pause_condition``, ``stop_condition``, ``cancel_condition``) is a JSON object that maps an
incident field to the values it may take::

    {"priority": [1, 2]}
    {"state": ["On Hold"], "hold_reason": ["Awaiting Caller", "Awaiting Vendor"]}

* Every key must match (AND); the values listed under one key are alternatives (OR).
* A lone value stands for a one-item list. Values compare as text, so ``1`` and ``"1"``
  match; ``null`` matches an empty field, and a field the incident lacks is empty.
* ``first_response`` takes ``true`` or ``false``: whether ``first_response_at`` has passed
  at that instant. ``{"first_response": true}`` is the stop condition of response SLAs.
* An empty object matches every incident in ``applies_to`` and ``start_condition``, and
  none in ``pause_condition``, ``stop_condition`` and ``cancel_condition``.
* ``state`` and ``hold_reason`` follow the incident's history (its ``state`` events, whose
  ``text`` is the hold reason when the new state is On Hold); every other field is read
  from the incident as it is now.

How a clock runs
----------------
* A definition attaches to an incident when ``applies_to`` matches the incident and its
  clock starts at the first instant of the history at which ``start_condition`` holds,
  even when it attaches later (a P3 raised to P1 gets a P1 clock running from the start).
* The history begins with New at ``opened_at``, followed by the incident's ``state``
  events (``new_value`` is the state, ``text`` the hold reason of On Hold; a change of
  reason while on hold is an On Hold -> On Hold event). Where the events do not end in
  the incident's current state and reason (no events at all, or Closed written without
  one), the current one is taken to hold from the last event, or from ``opened_at``.
* The history is cut at every state change and at ``first_response_at``. In each piece the
  clock is stopped if the stop condition holds, else canceled if the cancel condition
  holds, else paused if the pause condition holds, else running. Only running pieces add
  business time (on the definition's schedule); paused pieces add wall time to
  ``paused_seconds``.
* The stage is that of the piece at ``now``: canceled; stopped -> achieved, or breached if
  the business time used exceeds the target; paused; running -> in progress, or breached
  once the time used reaches the target. A clock paused after its breach stays paused
  with its ``breached`` flag set. Canceled clocks never count as breached.
* Stopping is not final: a reopen (Resolved -> In Progress) resumes the resolution clock
  with the business time it had already used; the time spent resolved does not count.
* ``due_at`` is when the clock breaches (breached) or would breach if it ran on without a
  pause from ``now`` (a paused clock's due time moves with ``now``), or from the stop of a
  stopped clock. Warnings are raised at 50% and 75% of the target; 100% is a breach.
* A running clock whose definition no longer applies (say the priority changed) is
  canceled at that moment. An inactive definition attaches no new clocks, but clocks it
  already has run to their end.

Entry points
------------
``apply_to_incident`` after every save of an incident (about a millisecond);
``recompute_open_clocks`` now and then, in bulk, for every clock still counting (in
progress, paused, or breached and not yet stopped); ``clock_state`` and
``compute_clocks`` are the pure computation both rest on.

Both also keep ``Incident.sla_due_at`` and ``Incident.sla_stage`` equal to the due time and
stage of the clock the queue shows (``shown_clock``, the rule of
:mod:`app.services.incident_query`), so the queue sorts by SLA over an index. They are
derived figures: writing them neither bumps the incident's version nor writes an audit row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any, cast

import numpy as np
from sqlalchemy import CursorResult, Row, Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from app.models.base import utcnow
from app.models.enums import IncidentState, SlaStage, SlaTarget
from app.models.incident import Incident, IncidentEvent
from app.models.sla import BusinessHours, BusinessSchedule, Holiday, SlaClock, SlaDefinition
from app.services.business_time import BusinessCalendar, Span, from_epoch
from app.services.progress import Progress, silent

RUNNING, PAUSED, STOPPED, CANCELED = 0, 1, 2, 3
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SPEC_CACHE = "sla_engine.specs"
_WRITE_CHUNK = 2_000
_READ_CHUNK = 500
_KEYS = ("id", "version")
#: Fields a condition reads from the history rather than from the incident as it is now.
_HISTORY_FIELDS = frozenset({"state", "hold_reason", "first_response"})
#: Calendars shared by every session of the process: building one costs ~15 ms.
_CALENDARS: dict[BusinessCalendar, BusinessCalendar] = {}

StateEntry = tuple[dt.datetime, str, str | None]
#: (clock id, definition target, stage, due_at) of one clock, as ``shown_clock`` weighs it.
ClockSummary = tuple[int, str, str, dt.datetime | None]
#: (due_at, stage) of an incident's shown clock; (None, None) when it shows none.
Shown = tuple[dt.datetime | None, str | None]
_SHOWN_RUNNING = (SlaStage.IN_PROGRESS.value, SlaStage.PAUSED.value)


class SlaWarning(StrEnum):
    """How close a clock is to its target (DOMAIN.md: warnings at 50% and 75%)."""

    NONE = "none"
    HALF = "50"
    THREE_QUARTERS = "75"
    BREACHED = "breached"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Condition:
    """A parsed condition: each field with the values it may take, and first_response."""

    tests: tuple[tuple[str, frozenset[str | None]], ...] = ()
    first_response: bool | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Condition:
        """From the JSON form described in the module docstring."""
        tests = []
        first_response = None
        for key, values in sorted((raw or {}).items()):
            if key == "first_response":
                first_response = bool(values)
                continue
            listed = values if isinstance(values, list | tuple) else [values]
            tests.append((key, frozenset(_text(v) for v in listed)))
        return cls(tuple(tests), first_response)

    @cached_property
    def empty(self) -> bool:
        return not self.tests and self.first_response is None

    @cached_property
    def fields(self) -> frozenset[str]:
        return frozenset(key for key, _ in self.tests)

    def matches(self, record: Mapping[str, Any], responded: bool) -> bool:
        """Whether ``record`` (field -> value) satisfies every test."""
        if self.first_response is not None and responded != self.first_response:
            return False
        return all(_text(record.get(key)) in allowed for key, allowed in self.tests)


@dataclass(frozen=True)
class SlaSpec:
    """An SLA definition ready to run: its target, conditions and business calendar."""

    id: int
    name: str
    kind: str
    target: str
    duration_seconds: int
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar.always)
    applies_to: Condition = Condition()
    start: Condition = Condition()
    pause: Condition = Condition()
    stop: Condition = Condition()
    cancel: Condition = Condition()
    active: bool = True

    @classmethod
    def make(
        cls,
        id: int,
        name: str,
        target: str,
        duration_seconds: int,
        calendar: BusinessCalendar | None = None,
        *,
        kind: str = "SLA",
        active: bool = True,
        **conditions: Mapping[str, Any] | None,
    ) -> SlaSpec:
        """From JSON conditions named ``applies_to``, ``start``, ``pause``, ``stop``, ``cancel``."""
        parsed = {key: Condition.parse(raw) for key, raw in conditions.items()}
        return cls(
            id, name, kind, target, duration_seconds, calendar or _intern(None), active=active,
            **parsed,
        )  # fmt: skip

    @cached_property
    def incident_fields(self) -> frozenset[str]:
        """The fields of the incident as it is now that the conditions read."""
        keys = frozenset().union(
            *(c.fields for c in (self.applies_to, self.start, self.pause, self.stop, self.cancel))
        )
        return keys - _HISTORY_FIELDS

    @cached_property
    def history_only(self) -> bool:
        """Whether pause, stop and cancel read only the history (so results can be shared)."""
        fields = self.pause.fields | self.stop.fields | self.cancel.fields
        return fields <= _HISTORY_FIELDS

    def applies(self, fields: Mapping[str, Any]) -> bool:
        """Whether the definition applies to an incident with these current fields."""
        responded = fields.get("first_response_at") is not None
        return self.applies_to.matches(fields, responded)

    def classify(self, record: Mapping[str, Any], responded: bool) -> int:
        """RUNNING, PAUSED, STOPPED or CANCELED for an incident looking like ``record``."""
        # Stop before cancel: a response met before the incident was canceled stays met.
        for condition, outcome in ((self.stop, STOPPED), (self.cancel, CANCELED)):
            if not condition.empty and condition.matches(record, responded):
                return outcome
        if not self.pause.empty and self.pause.matches(record, responded):
            return PAUSED
        return RUNNING


@dataclass(frozen=True)
class Timeline:
    """An incident's states from ``opened_at`` on, its first response, and other fields."""

    states: tuple[StateEntry, ...]
    first_response_at: dt.datetime | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def of(
        cls,
        states: Iterable[StateEntry],
        first_response_at: dt.datetime | None = None,
        **fields: Any,
    ) -> Timeline:
        return cls(tuple(states), first_response_at, fields)

    def points(self) -> list[tuple[int, dict[str, Any], bool]]:
        """(epoch instant, record, responded) at each change, first response included."""
        respond = None if self.first_response_at is None else _epoch(self.first_response_at)
        instants = [_epoch(t) for t, _, _ in self.states]
        out: list[tuple[int, dict[str, Any], bool]] = []
        for k, (t, (_, state, hold)) in enumerate(zip(instants, self.states, strict=True)):
            record = {**self.fields, "state": state, "hold_reason": hold}
            out.append((t, record, respond is not None and t >= respond))
            following = instants[k + 1] if k + 1 < len(instants) else None
            if respond is not None and t < respond and (following is None or respond < following):
                out.append((respond, record, True))
        return out


@dataclass(frozen=True)
class ClockState:
    """Where an SLA clock stands at ``computed_at``."""

    stage: SlaStage
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    duration_seconds: int
    business_elapsed_seconds: int
    business_left_seconds: int
    percent: float
    paused_seconds: int
    paused_since: dt.datetime | None
    due_at: dt.datetime
    breached: bool
    warning: SlaWarning
    computed_at: dt.datetime

    def columns(self) -> dict[str, Any]:
        """The values of the stored ``SlaClock`` columns."""
        return {
            "stage": self.stage.value,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "due_at": self.due_at,
            "paused_since": self.paused_since,
            "business_elapsed_seconds": self.business_elapsed_seconds,
            "paused_seconds": self.paused_seconds,
            "computed_at": self.computed_at,
            "breached": self.breached,
        }


def _epoch(value: dt.datetime) -> int:
    return int((value - _EPOCH).total_seconds())


def _intern(calendar: BusinessCalendar | None) -> BusinessCalendar:
    calendar = calendar or BusinessCalendar.always()
    return _CALENDARS.setdefault(calendar, calendar)


# --- definitions -------------------------------------------------------------------------


def load_specs(session: Session, refresh: bool = False) -> dict[int, SlaSpec]:
    """Every SLA definition as a spec by id (inactive ones too), cached in the session.

    Pass ``refresh`` after changing definitions, schedules or holidays in that session.
    """
    cached = session.info.get(_SPEC_CACHE)
    if cached is not None and not refresh:
        return cached
    calendars = _calendars(session)
    specs = {}
    for d in session.scalars(select(SlaDefinition).order_by(SlaDefinition.id)):
        specs[d.id] = SlaSpec(
            id=d.id,
            name=d.name,
            kind=d.kind,
            target=d.target,
            duration_seconds=d.duration_seconds,
            calendar=_intern(None) if d.schedule_id is None else calendars[d.schedule_id],
            applies_to=Condition.parse(d.applies_to),
            start=Condition.parse(d.start_condition),
            pause=Condition.parse(d.pause_condition),
            stop=Condition.parse(d.stop_condition),
            cancel=Condition.parse(d.cancel_condition),
            active=d.active,
        )
    session.info[_SPEC_CACHE] = specs
    return specs


def _calendars(session: Session) -> dict[int, BusinessCalendar]:
    """A calendar per business schedule: its hours, its own and its country's holidays."""
    schedules = session.execute(
        select(BusinessSchedule.id, BusinessSchedule.timezone, BusinessSchedule.country_code)
    ).all()
    spans: dict[int, list[Span]] = {s.id: [] for s in schedules}
    for h in session.execute(
        select(BusinessHours.schedule_id, BusinessHours.weekday, BusinessHours.start_minute,
               BusinessHours.end_minute)
    ):  # fmt: skip
        spans[h.schedule_id].append(Span(h.weekday, h.start_minute * 60, h.end_minute * 60))
    codes = {s.country_code for s in schedules if s.country_code}
    by_schedule: dict[int, set[dt.date]] = {}
    by_country: dict[str, set[dt.date]] = {}
    for day in session.execute(
        select(Holiday.schedule_id, Holiday.country_code, Holiday.day).where(
            or_(Holiday.schedule_id.is_not(None), Holiday.country_code.in_(codes))
        )
    ):
        if day.schedule_id is not None:
            by_schedule.setdefault(day.schedule_id, set()).add(day.day)
        elif day.country_code is not None:
            by_country.setdefault(day.country_code, set()).add(day.day)
    out = {}
    for s in schedules:
        days = by_schedule.get(s.id, set()) | by_country.get(s.country_code, set())
        # A schedule without hours has empty spans, which BusinessCalendar reads as 24x7:
        # a clock on a half-made schedule then runs rather than silently never breaching.
        calendar = BusinessCalendar(tuple(sorted(spans[s.id])), s.timezone, frozenset(days))
        out[s.id] = _intern(calendar)
    return out


# --- clocks ------------------------------------------------------------------------------


def start_of(spec: SlaSpec, timeline: Timeline) -> dt.datetime | None:
    """The first instant of the history at which the clock's start condition holds."""
    for t, record, responded in timeline.points():
        if spec.start.empty or spec.start.matches(record, responded):
            return from_epoch(t)
    return None


def clock_state(
    spec: SlaSpec,
    timeline: Timeline,
    now: dt.datetime,
    started_at: dt.datetime | None = None,
) -> ClockState:
    """Where the clock of ``spec`` on an incident with this history stands at ``now``."""
    return compute_clocks([(spec, timeline, started_at)], now)[0]


@dataclass
class _Walk:
    """One clock's history cut into pieces (epoch seconds), before the business arithmetic."""

    start: int
    running: list[tuple[int, int]]
    paused_wall: int
    current: int
    since: int


def _walk(
    spec: SlaSpec,
    points: list[tuple[int, dict[str, Any], bool]],
    start: int,
    now: int,
    memo: dict[tuple[Any, ...], int],
) -> _Walk:
    running: list[tuple[int, int]] = []
    paused_wall = 0
    classes: list[tuple[int, int]] = []  # (instant, class) of each point up to now
    for k, (t, record, responded) in enumerate(points):
        if t > now and classes:
            break
        if k + 1 < len(points) and points[k + 1][0] <= t:
            continue  # a state that lasted no time neither counts nor splits a pause
        key: tuple[Any, ...] = (id(spec), record["state"], record["hold_reason"], responded)
        if not spec.history_only:
            key += (id(record),)
        cls = memo.get(key)
        if cls is None:
            cls = memo[key] = spec.classify(record, responded)
        end = points[k + 1][0] if k + 1 < len(points) else now
        a, b = max(t, start), min(end, now)
        if b > a and cls == RUNNING:
            running.append((a, b))
        elif b > a and cls == PAUSED:
            paused_wall += b - a
        classes.append((t, cls))
    current = classes[-1][1]
    # Stopped and canceled pieces in a row (Resolved, then Closed) make one stop.
    group = (current,) if current < STOPPED else (STOPPED, CANCELED)
    since = classes[-1][0]
    for t, cls in reversed(classes):
        if cls not in group:
            break
        since = t
    return _Walk(start, running, paused_wall, current, max(since, start))


def compute_clocks(
    items: Sequence[tuple[SlaSpec, Timeline, dt.datetime | None]],
    now: dt.datetime,
) -> list[ClockState]:
    """Clock states for many (spec, history, started_at) at once: numpy per calendar.

    ``started_at`` None means the start condition decides; a history in which it never
    holds raises ``ValueError``.
    """
    now_s = _epoch(now)
    memo: dict[tuple[Any, ...], int] = {}
    walks = []
    points_of: dict[int, list[tuple[int, dict[str, Any], bool]]] = {}
    for spec, timeline, started_at in items:
        points = points_of.get(id(timeline))
        if points is None:
            points = points_of[id(timeline)] = timeline.points()
        if started_at is None:
            started_at = start_of(spec, timeline)
            if started_at is None:
                raise ValueError(f"the start condition of {spec.name!r} never held")
        walks.append(_walk(spec, points, _epoch(started_at), now_s, memo))
    specs = [spec for spec, _, _ in items]
    return _finish(specs, walks, now_s)


def _finish(specs: list[SlaSpec], walks: list[_Walk], now: int) -> list[ClockState]:
    """The business arithmetic for every walk, one numpy call per calendar and question."""
    n = len(walks)
    duration = np.array([s.duration_seconds for s in specs], dtype=np.int64)
    owner = np.array([i for i, w in enumerate(walks) for _ in w.running], dtype=np.int64)
    a = np.array([p[0] for w in walks for p in w.running], dtype=np.int64)
    b = np.array([p[1] for w in walks for p in w.running], dtype=np.int64)
    calendars = list(dict.fromkeys(s.calendar for s in specs))
    cal_of = np.array([calendars.index(s.calendar) for s in specs], dtype=np.int64)
    seg_cal = cal_of[owner]
    business = np.zeros(len(a), dtype=np.int64)
    for g, cal in enumerate(calendars):
        m = seg_cal == g
        if m.any():
            business[m] = cal.elapsed(a[m], b[m])
    elapsed = np.zeros(n, dtype=np.int64)
    np.add.at(elapsed, owner, business)

    # The instant of breach lies in the piece where a clock's running total reaches its
    # target: ``need`` is what the target still wanted when that piece began.
    need = duration[owner]
    if len(a):
        before = np.cumsum(business) - business
        first = np.minimum(np.searchsorted(owner, np.arange(n)), len(a) - 1)
        need = need - (before - before[first][owner])
    crossing = (need > 0) & (need <= business)
    ref = np.array(
        [w.since if w.current >= STOPPED else max(now, w.start) for w in walks], dtype=np.int64
    )
    left = np.maximum(duration - elapsed, 0)
    due = np.array([w.start for w in walks], dtype=np.int64)  # a zero target is due at once
    for g, cal in enumerate(calendars):
        m = crossing & (seg_cal == g)
        if m.any():
            due[owner[m]] = cal.add(a[m], need[m])
        m = (cal_of == g) & (left > 0)
        if m.any():
            due[m] = cal.add(ref[m], left[m])
    return [
        _state(spec, walk, int(elapsed[i]), int(due[i]), now)
        for i, (spec, walk) in enumerate(zip(specs, walks, strict=True))
    ]


def _state(spec: SlaSpec, walk: _Walk, elapsed: int, due: int, now: int) -> ClockState:
    duration = spec.duration_seconds
    current = walk.current
    if current == CANCELED:
        stage, breached = SlaStage.CANCELED, False
    elif current == STOPPED:
        breached = elapsed > duration
        stage = SlaStage.BREACHED if breached else SlaStage.ACHIEVED
    else:
        breached = elapsed >= duration
        if current == PAUSED:
            stage = SlaStage.PAUSED
        else:
            stage = SlaStage.BREACHED if breached else SlaStage.IN_PROGRESS
    percent = elapsed / duration * 100 if duration > 0 else 100.0
    stopped = current >= STOPPED
    return ClockState(
        stage=stage,
        started_at=from_epoch(walk.start),
        stopped_at=from_epoch(walk.since) if stopped else None,
        duration_seconds=duration,
        business_elapsed_seconds=elapsed,
        business_left_seconds=max(duration - elapsed, 0),
        percent=percent,
        paused_seconds=walk.paused_wall,
        paused_since=from_epoch(walk.since) if current == PAUSED else None,
        due_at=from_epoch(due),
        breached=breached,
        warning=_warning(stage, breached, percent),
        computed_at=from_epoch(walk.since if stopped else now),
    )


def _warning(stage: SlaStage, breached: bool, percent: float) -> SlaWarning:
    if stage == SlaStage.CANCELED:
        return SlaWarning.NONE
    if breached:
        return SlaWarning.BREACHED
    if percent >= 75:
        return SlaWarning.THREE_QUARTERS
    return SlaWarning.HALF if percent >= 50 else SlaWarning.NONE


def _withdrawn(state: ClockState, now: dt.datetime) -> ClockState:
    """A running clock canceled at ``now`` because its definition no longer applies."""
    if state.stopped_at is not None:
        return state
    return replace(
        state,
        stage=SlaStage.CANCELED,
        stopped_at=now,
        paused_since=None,
        breached=False,
        warning=SlaWarning.NONE,
        computed_at=now,
    )


# --- persisting --------------------------------------------------------------------------


def build_timeline(
    opened_at: dt.datetime,
    state: str,
    hold_reason: str | None,
    first_response_at: dt.datetime | None,
    events: Iterable[tuple[dt.datetime, str | None, str | None]],
    fields: Mapping[str, Any] | None = None,
) -> Timeline:
    """An incident's history: New at ``opened_at``, then each state event (at, new, text)."""
    on_hold = IncidentState.ON_HOLD.value
    entries: list[StateEntry] = [(opened_at, IncidentState.NEW.value, None)]
    for at, new, text in events:
        if new:
            entries.append((max(at, entries[-1][0]), new, text if new == on_hold else None))
    hold = hold_reason if state == on_hold else None
    last_at, last_state, last_hold = entries[-1]
    if (last_state, last_hold) != (state, hold):
        # The events do not end in the incident's state (no events at all, or a step such
        # as Closed that writes none): the current state holds from the last change on.
        entries.append((last_at, state, hold))
    return Timeline(tuple(entries), first_response_at, dict(fields or {}))


def _condition_fields(specs: Mapping[int, SlaSpec]) -> list[str]:
    """Incident columns the conditions read, beyond the history."""
    wanted = frozenset().union(*(s.incident_fields for s in specs.values()))
    return sorted(wanted & set(Incident.__table__.c.keys()))


def _state_events(incident_ids: Any) -> Any:
    return (
        select(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.new_value,
               IncidentEvent.text)
        .where(IncidentEvent.kind == "state", IncidentEvent.incident_id.in_(incident_ids))
        .order_by(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.id)
    )  # fmt: skip


def _settle(state: ClockState, applies: bool, now: dt.datetime) -> ClockState:
    """A running clock whose definition stopped applying is canceled now."""
    return state if applies else _withdrawn(state, now)


def apply_to_incident(
    session: Session, incident: Incident, now: dt.datetime | None = None
) -> list[SlaClock]:
    """Attach newly applicable SLA clocks to a flushed incident and update all of its clocks."""
    now = now or utcnow()
    specs = load_specs(session)
    fields = {k: getattr(incident, k) for k in _condition_fields(specs)}
    fields["first_response_at"] = incident.first_response_at
    events = session.execute(_state_events([incident.id])).all()
    timeline = build_timeline(
        incident.opened_at, incident.state, incident.hold_reason, incident.first_response_at,
        [(e.at, e.new_value, e.text) for e in events], fields,
    )  # fmt: skip
    clocks = list(
        session.scalars(
            select(SlaClock).where(SlaClock.incident_id == incident.id).order_by(SlaClock.id)
        )
    )
    clocks += _attach(session, incident.id, specs, timeline, {c.definition_id for c in clocks}, now)
    # A clock that no longer applies and has already stopped keeps its final figures.
    live = [
        c for c in clocks
        if c.definition_id in specs
        and (c.stopped_at is None or specs[c.definition_id].applies(fields))
    ]  # fmt: skip
    states = compute_clocks([(specs[c.definition_id], timeline, c.started_at) for c in live], now)
    for clock, state in zip(live, states, strict=True):
        state = _settle(state, specs[clock.definition_id].applies(fields), now)
        for key, value in state.columns().items():
            setattr(clock, key, value)
    made = made_sla(incident.state, [(_target(session, specs, c.definition_id), c) for c in clocks])
    if incident.made_sla != made:
        incident.made_sla = made
    session.flush()
    shown = shown_clock(
        (c.id, _target(session, specs, c.definition_id), c.stage, c.due_at) for c in clocks
    )
    if shown != (incident.sla_due_at, incident.sla_stage):
        _write_shown(session, [(incident.id, shown)])
    return clocks


def made_sla(state: str, clocks: Iterable[tuple[str, SlaClock]]) -> bool | None:
    """Whether a resolved or closed incident met its resolution SLA (None while open).

    False when any of its resolution clocks (not canceled) breached; None when it has none.
    """
    if state not in (IncidentState.RESOLVED.value, IncidentState.CLOSED.value):
        return None
    verdicts = [
        not clock.breached
        for target, clock in clocks
        if target == "resolution" and clock.stage != SlaStage.CANCELED.value
    ]
    return all(verdicts) if verdicts else None


def shown_clock(clocks: Iterable[ClockSummary]) -> Shown:
    """(due_at, stage) of the clock the queue's SLA column shows among an incident's clocks.

    The rule of :mod:`app.services.incident_query`: clocks not canceled; a resolution clock
    before any other target, a running one (in progress or paused) before a stopped one,
    then the one due soonest (no due time last), then the lowest id.
    """
    best: tuple[tuple[Any, ...], Shown] | None = None
    for clock_id, target, stage, due_at in clocks:
        if stage == SlaStage.CANCELED.value:
            continue
        key = (
            target != SlaTarget.RESOLUTION.value,
            stage not in _SHOWN_RUNNING,
            due_at is None,
            due_at or _EPOCH,
            clock_id,
        )
        if best is None or key < best[0]:
            best = (key, (due_at, stage))
    return (None, None) if best is None else best[1]


def _target(session: Session, specs: Mapping[int, SlaSpec], definition_id: int) -> str:
    spec = specs.get(definition_id)
    if spec is not None:
        return spec.target
    return session.scalars(
        select(SlaDefinition.target).where(SlaDefinition.id == definition_id)
    ).one()


def _write_shown(session: Session, rows: Sequence[tuple[int, Shown]]) -> None:
    """Store each incident's shown clock: one executemany UPDATE, no version bump, no audit.

    Incidents the session holds as objects get the new values as loaded state.
    """
    if not rows:
        return
    table = cast(Table, Incident.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("s_id"))
        .values(sla_due_at=bindparam("s_due_at"), sla_stage=bindparam("s_stage"))
    )
    for begin in range(0, len(rows), _WRITE_CHUNK):
        params = [
            {"s_id": incident_id, "s_due_at": due_at, "s_stage": stage}
            for incident_id, (due_at, stage) in rows[begin : begin + _WRITE_CHUNK]
        ]
        session.execute(statement, params)
    identity = session.identity_map
    for incident_id, (due_at, stage) in rows:
        obj = identity.get(identity_key(Incident, incident_id))
        if obj is not None:
            set_committed_value(obj, "sla_due_at", due_at)
            set_committed_value(obj, "sla_stage", stage)


def _attach(
    session: Session,
    incident_id: int,
    specs: Mapping[int, SlaSpec],
    timeline: Timeline,
    have: set[int],
    now: dt.datetime,
) -> list[SlaClock]:
    """New clocks for active definitions that apply and have started by ``now``."""
    added = []
    for spec in specs.values():
        if not spec.active or spec.id in have or not spec.applies(timeline.fields):
            continue
        started = start_of(spec, timeline)
        if started is not None and started <= now:
            clock = SlaClock(
                incident_id=incident_id,
                definition_id=spec.id,
                stage=SlaStage.IN_PROGRESS.value,
                started_at=started,
            )
            session.add(clock)
            added.append(clock)
    return added


def running_clocks() -> Any:
    """Clocks still counting: in progress or paused, or breached and not yet stopped."""
    running = (SlaStage.IN_PROGRESS.value, SlaStage.PAUSED.value)
    return or_(
        SlaClock.stage.in_(running),
        and_(SlaClock.stopped_at.is_(None), SlaClock.stage != SlaStage.CANCELED.value),
    )


def recompute_open_clocks(
    session: Session, now: dt.datetime | None = None, progress: Progress | None = None
) -> int:
    """Recompute and store every running clock in bulk; returns how many were written.

    The write checks each clock's version: if another save changed a clock meanwhile,
    ``StaleDataError`` is raised and the caller rolls back and runs it again.
    """
    now = now or utcnow()
    progress = progress or silent()
    progress.update(0, 0, "Reading running SLA clocks")
    specs = load_specs(session)
    rows, timelines = _read_running(session, specs)
    siblings = _read_siblings(session, (r.incident_id for r in rows))
    progress.update(0, len(rows), "Computing SLA clocks")
    items = [(specs[r.definition_id], timelines[r.incident_id], r.started_at) for r in rows]
    states = compute_clocks(items, now)
    updates = [
        {
            "id": r.id,
            "version": r.version,
            **_settle(state, spec.applies(timeline.fields), now).columns(),
        }
        for r, (spec, timeline, _), state in zip(rows, items, states, strict=True)
    ]
    for begin in range(0, len(updates), _WRITE_CHUNK):
        progress.update(begin, len(updates), "Writing SLA clocks")
        _write(session, updates[begin : begin + _WRITE_CHUNK])
    _write_shown(session, _shown_changes(session, specs, siblings, updates))
    # Clocks this session holds as objects now lag behind their rows' versions.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, SlaClock):
            session.expire(obj)
    progress.update(len(updates), len(updates), "SLA clocks up to date")
    return len(updates)


def _read_siblings(session: Session, incident_ids: Iterable[int]) -> list[Row[Any]]:
    """Every clock of ``incident_ids``, with each incident's stored shown clock."""
    ids = sorted(set(incident_ids))
    out: list[Row[Any]] = []
    for begin in range(0, len(ids), _READ_CHUNK):
        out += session.execute(
            select(
                SlaClock.id, SlaClock.incident_id, SlaClock.definition_id, SlaClock.stage,
                SlaClock.due_at, Incident.sla_due_at, Incident.sla_stage,
            )
            .join(Incident, Incident.id == SlaClock.incident_id)
            .where(SlaClock.incident_id.in_(ids[begin : begin + _READ_CHUNK]))
        ).all()  # fmt: skip
    return out


def _shown_changes(
    session: Session,
    specs: Mapping[int, SlaSpec],
    siblings: Sequence[Row[Any]],
    updates: Sequence[Mapping[str, Any]],
) -> list[tuple[int, Shown]]:
    """The incidents whose shown clock differs from the stored one once ``updates`` are written."""
    written = {u["id"]: (u["stage"], u["due_at"]) for u in updates}
    clocks: dict[int, list[ClockSummary]] = {}
    stored: dict[int, Shown] = {}
    targets = {definition_id: spec.target for definition_id, spec in specs.items()}
    for clock_id, incident_id, definition_id, stage, due_at, shown_due, shown_stage in siblings:
        stage, due_at = written.get(clock_id, (stage, due_at))
        target = targets.get(definition_id) or _target(session, specs, definition_id)
        clocks.setdefault(incident_id, []).append((clock_id, target, stage, due_at))
        stored[incident_id] = (shown_due, shown_stage)
    changed = []
    for incident_id, summaries in clocks.items():
        shown = shown_clock(summaries)
        if shown != stored[incident_id]:
            changed.append((incident_id, shown))
    return changed


def _read_running(
    session: Session, specs: Mapping[int, SlaSpec]
) -> tuple[Sequence[Row[Any]], dict[int, Timeline]]:
    """The running clocks (with their incidents' fields), and each incident's history."""
    keys = _condition_fields(specs)
    columns = [Incident.__table__.c[k] for k in keys]
    rows = session.execute(
        select(
            SlaClock.id, SlaClock.version, SlaClock.incident_id, SlaClock.definition_id,
            SlaClock.started_at,
            Incident.opened_at, Incident.state, Incident.hold_reason, Incident.first_response_at,
            *columns,
        )
        .join(Incident, Incident.id == SlaClock.incident_id)
        .where(running_clocks())
        .order_by(SlaClock.incident_id, SlaClock.id)
    ).all()  # fmt: skip
    events: dict[int, list[tuple[dt.datetime, str | None, str | None]]] = {}
    ids = select(SlaClock.incident_id).where(running_clocks())
    for e in session.execute(_state_events(ids)):
        events.setdefault(e.incident_id, []).append((e.at, e.new_value, e.text))
    timelines: dict[int, Timeline] = {}
    for r in rows:
        if r.incident_id not in timelines:
            fields = {k: r._mapping[c] for k, c in zip(keys, columns, strict=True)}
            fields["first_response_at"] = r.first_response_at
            timelines[r.incident_id] = build_timeline(
                r.opened_at, r.state, r.hold_reason, r.first_response_at,
                events.get(r.incident_id, ()), fields,
            )  # fmt: skip
    return rows, timelines


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE by id and version, bumping the version like an ORM save.

    The ORM's bulk update by primary key runs one statement per row on a versioned table
    (to check each row's count): a round trip per clock on PostgreSQL. The total count
    below checks the same thing.
    """
    table = cast(Table, SlaClock.__table__)
    values = {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in rows[0] if c not in _KEYS}
    statement = (
        update(table)
        .where(table.c.id == bindparam("v_id"), table.c.version == bindparam("v_version"))
        .values(version=table.c.version + 1, **values)
    )
    params = [{f"v_{k}": v for k, v in row.items()} for row in rows]
    result = cast(CursorResult[Any], session.execute(statement, params))
    if result.rowcount != len(rows):
        raise StaleDataError(
            f"{len(rows) - result.rowcount} SLA clocks changed while they were recomputed"
        )
