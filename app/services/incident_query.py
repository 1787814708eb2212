"""The incident queue as SQL: filters, sorts, counts, windows of rows, presets and saved views.

Everything here turns a plain :class:`IncidentFilter` and :class:`Sort` into SQLAlchemy
Core selects, so the queue page, the command line and the Excel export read the same
rows. Windows are read with ``LIMIT``/``OFFSET`` (random access for a scrolling table)
or with keyset predicates (sequential reading, e.g. an export).

SLA column: an incident shows one clock, chosen among its clocks that are not canceled:
a resolution clock before any other target, a running clock (in progress or paused)
before a stopped one, then the one due soonest (no due time last; ties: lowest id). So an
open incident shows its running resolution clock, a closed one how its resolution SLA
ended, and an incident with no resolution SLA its most urgent running clock. The SLA
engine keeps that clock's due time and stage on the incident (``Incident.sla_due_at``,
``Incident.sla_stage``; :func:`app.services.sla_engine.shown_clock`), and the SLA sort
walks their index: soonest due first, incidents without a clock last.

SLA filters use the rules of :mod:`app.services.today`, so the Today page's counts and
the queue's counts agree (Today counts at-risk *clocks*, the queue *incidents*: they
differ only when one incident has two clocks at risk at once):

* ``breached``: a clock not canceled that is marked breached, has stage ``breached``, or
  is still running (``in_progress``) past its ``due_at``;
* ``at_risk``: a running clock (``in_progress``, not breached) before its ``due_at`` that
  has used at least 75% of its target (by time left or by business time elapsed);
* ``paused``: a clock with stage ``paused``;
* ``ok``: none of its clocks is breached or at risk.

Date-only bounds (``opened_from=2026-01-01``) are midnight in the computer's zone; an
upper bound given as a date includes that whole day. All bounds compare ``from <= x < to``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
    union,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.types import Boolean, String

from app.models import (
    AppUser,
    ConfigurationItem,
    Incident,
    Person,
    SavedView,
    Service,
    SlaClock,
    SlaDefinition,
    Team,
    Vendor,
    utcnow,
)
from app.models.enums import OPEN_INCIDENT_STATES, IncidentState, SlaStage, SlaTarget
from app.models.org import team_member

#: The pseudo-state that stands for New, In Progress and On Hold.
OPEN = "open"
OPEN_STATES: tuple[str, ...] = tuple(state.value for state in OPEN_INCIDENT_STATES)
ALL_STATES: tuple[str, ...] = tuple(state.value for state in IncidentState)
SLA_STATUSES: tuple[str, ...] = ("breached", "at_risk", "paused", "ok")
#: The share of an SLA target used from which a running clock is "at risk" (as on Today).
AT_RISK_SHARE = 0.75
#: Longer search text is cut to this; nobody types more, and a huge string stays cheap.
MAX_TEXT = 200
#: The page name saved views of the queue are stored under.
QUEUE_PAGE = "incidents"
#: A filter matching fewer than 1 in this many incidents is sorted, not read in index order.
FEW_SHARE = 100
#: How many index entries a window may walk past before sorting the matches is cheaper.
WALK_BUDGET = 200_000
#: Rows read per window when the caller does not say.
DEFAULT_LIMIT = 200

_RUNNING = (SlaStage.IN_PROGRESS.value, SlaStage.PAUSED.value)


# Filters


class InIdList(ColumnElement[bool]):
    """``column IN (ids)`` for any number of ids, sent as a single parameter.

    A drill-down can name tens of thousands of incidents, more than a statement may have
    parameters; SQLite reads the list with ``json_each``, PostgreSQL as a bigint array.
    """

    type = Boolean()
    inherit_cache = False

    def __init__(self, column: ColumnElement[Any], ids: Sequence[int]) -> None:
        self.column = column
        self.ids = tuple(ids)


@compiles(InIdList)
def _in_id_list_sqlite(element: InIdList, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    value = compiler.process(
        bindparam("id_list", json.dumps(element.ids), type_=String, unique=True), **kw
    )
    return f"{column} IN (SELECT value FROM json_each({value}))"


@compiles(InIdList, "postgresql")
def _in_id_list_pg(element: InIdList, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    text_value = "{" + ",".join(str(i) for i in element.ids) + "}"
    value = compiler.process(bindparam("id_list", text_value, type_=String, unique=True), **kw)
    return f"{column} = ANY(CAST({value} AS BIGINT[]))"


def _aware(value: Any, *, end: bool = False) -> dt.datetime | None:
    """A datetime from a datetime, a date or an ISO string; naive values are local time."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                value = dt.date.fromisoformat(text)
            else:
                value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date (use 2026-01-31 or 2026-01-31T14:05)"
            ) from None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.astimezone()
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end else value
        return dt.datetime.combine(day, dt.time()).astimezone()
    raise ValueError(f"{value!r} is not a date")


def _ints(value: Any, what: str) -> list[int]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple | set | frozenset) else [value]
    try:
        return [int(item) for item in items]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be whole numbers, not {value!r}") from None


def _strs(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple | set | frozenset) else [value]
    return [str(item) for item in items]


@dataclass(frozen=True)
class IncidentFilter:
    """What the queue shows; empty lists and None mean "any"."""

    #: State names, or ``"open"`` for New, In Progress and On Hold.
    states: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    group_ids: tuple[int, ...] = ()
    assignee_ids: tuple[int, ...] = ()
    #: Only incidents nobody is assigned to (combined with ``assignee_ids`` by OR).
    unassigned: bool = False
    service_ids: tuple[int, ...] = ()
    ci_ids: tuple[int, ...] = ()
    vendor_ids: tuple[int, ...] = ()
    #: Any of ``SLA_STATUSES``.
    sla: tuple[str, ...] = ()
    opened_from: dt.datetime | None = None
    opened_to: dt.datetime | None = None
    updated_from: dt.datetime | None = None
    updated_to: dt.datetime | None = None
    #: Free text found in the number or the short description.
    text: str = ""
    #: True: major incidents only; False: no major incidents; None: either.
    major: bool | None = None
    #: Only incidents assigned to one of the user's teams (see ``team_ids`` of the queries).
    my_groups: bool = False
    #: Only these incidents (a drill-down from a chart), described by ``ids_label``.
    ids: tuple[int, ...] = ()
    ids_label: str = ""

    def __post_init__(self) -> None:
        for name in ("states", "sla"):
            object.__setattr__(self, name, tuple(_strs(getattr(self, name))))
        for name in (
            "priorities",
            "group_ids",
            "assignee_ids",
            "service_ids",
            "ci_ids",
            "vendor_ids",
        ):
            object.__setattr__(self, name, tuple(_ints(getattr(self, name), name)))
        object.__setattr__(self, "ids", tuple(sorted(set(_ints(self.ids, "ids")))))
        object.__setattr__(self, "ids_label", str(self.ids_label or "") if self.ids else "")
        bad_states = [s for s in self.states if s != OPEN and s not in ALL_STATES]
        if bad_states:
            raise ValueError(
                f"unknown state {bad_states[0]!r}; use one of open, {', '.join(ALL_STATES)}"
            )
        bad_sla = [s for s in self.sla if s not in SLA_STATUSES]
        if bad_sla:
            raise ValueError(
                f"unknown SLA status {bad_sla[0]!r}; use one of {', '.join(SLA_STATUSES)}"
            )
        for name in ("opened_from", "updated_from"):
            object.__setattr__(self, name, _aware(getattr(self, name)))
        for name in ("opened_to", "updated_to"):
            object.__setattr__(self, name, _aware(getattr(self, name), end=True))
        object.__setattr__(self, "text", str(self.text or "")[: MAX_TEXT * 4])

    def replace(self, **changes: Any) -> IncidentFilter:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def state_values(self) -> tuple[str, ...]:
        """The real state names asked for (``open`` expanded), in a stable order."""
        wanted = set()
        for state in self.states:
            wanted.update(OPEN_STATES if state == OPEN else (state,))
        return tuple(s for s in ALL_STATES if s in wanted)

    def is_empty(self) -> bool:
        return self == IncidentFilter()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, in the format the Today page sends (``{"state": [...], "priority": [1]}``)."""
        out: dict[str, Any] = {}
        for key, name in _DICT_KEYS.items():
            value = getattr(self, name)
            if value is None or value in ((), "") or (value is False and name != "major"):
                continue
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IncidentFilter:
        """The filter ``data`` describes (keys of :meth:`to_dict`; a single value for a list is fine)."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(_DICT_KEYS))
        if unknown:
            raise ValueError(
                f"unknown filter key {unknown[0]!r}; use one of {', '.join(_DICT_KEYS)}"
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = _DICT_KEYS[key]
            if name == "ids_label":
                value = str(value or "")
            elif name in ("unassigned", "my_groups"):
                value = bool(value)
            elif name == "major" and value is not None:
                value = bool(value)
            values[name] = value
        return cls(**values)


#: Keys of the filter's dict form -> field names.
_DICT_KEYS: dict[str, str] = {
    "state": "states",
    "priority": "priorities",
    "group": "group_ids",
    "assignee": "assignee_ids",
    "unassigned": "unassigned",
    "service": "service_ids",
    "ci": "ci_ids",
    "vendor": "vendor_ids",
    "sla": "sla",
    "opened_from": "opened_from",
    "opened_to": "opened_to",
    "updated_from": "updated_from",
    "updated_to": "updated_to",
    "text": "text",
    "major": "major",
    "my_groups": "my_groups",
    "ids": "ids",
    "ids_label": "ids_label",
}
assert set(_DICT_KEYS.values()) == {f.name for f in fields(IncidentFilter)}


def like_pattern(text: str) -> str | None:
    """``%text%`` with ``%``, ``_`` and ``\\`` escaped (escape character ``\\``); None if blank."""
    # Control characters (a NUL ends a pattern early in SQLite) become spaces.
    text = "".join(ch if ch.isprintable() else " " for ch in text[: MAX_TEXT * 4])
    text = " ".join(text.split())[:MAX_TEXT]
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def user_team_ids(session: Session, user_id: int | None) -> tuple[int, ...]:
    """The teams of the person behind AppUser ``user_id`` (none for an unknown user)."""
    if user_id is None:
        return ()
    rows = session.scalars(
        select(team_member.c.team_id)
        .join(AppUser, AppUser.person_id == team_member.c.person_id)
        .where(AppUser.id == user_id)
        .order_by(team_member.c.team_id)
    )
    return tuple(rows)


# SLA rules (shared with the Today page's definitions)


def breached_clock(now: dt.datetime) -> ColumnElement[bool]:
    """A clock that counts as breached at ``now`` (Today's rule, in index-friendly terms).

    Today says "not canceled, and marked breached, or stage breached, or running past
    due". The SLA engine marks a clock breached only with stage breached or paused (a
    clock stopped in time is achieved, never breached), so each term below starts from
    the (stage, due_at) index instead of scanning two million clocks.
    """
    return or_(*breached_terms(now))


def breached_terms(now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    """The terms of :func:`breached_clock`, each served by the (stage, due_at) index."""
    return (
        SlaClock.stage == SlaStage.BREACHED.value,
        and_(SlaClock.stage == SlaStage.IN_PROGRESS.value, SlaClock.due_at <= now),
        and_(SlaClock.stage.in_(_RUNNING), SlaClock.breached == true()),
    )


def at_risk_clock(now: dt.datetime, durations: Sequence[tuple[int, int]]) -> ColumnElement[bool]:
    """A running clock at risk at ``now``; ``durations`` are (definition id, seconds) pairs."""
    near_due = or_(
        false(),
        *(
            and_(
                SlaClock.definition_id == def_id,
                SlaClock.due_at <= now + dt.timedelta(seconds=seconds * (1 - AT_RISK_SHARE)),
            )
            for def_id, seconds in durations
        ),
    )
    mostly_used = or_(
        false(),
        *(
            and_(
                SlaClock.definition_id == def_id,
                SlaClock.business_elapsed_seconds >= int(-(-seconds * 3 // 4)),
            )
            for def_id, seconds in durations
        ),
    )
    return and_(
        SlaClock.stage == SlaStage.IN_PROGRESS.value,
        SlaClock.due_at > now,
        SlaClock.breached == false(),
        or_(near_due, mostly_used),
    )


def _clock_exists(terms: Sequence[ColumnElement[bool]], narrow: bool) -> ColumnElement[bool]:
    """Incidents with a clock meeting any of ``terms``.

    When the rest of the filter already picks few incidents (``narrow``: open states), a
    correlated EXISTS probes their clocks by incident id; otherwise IN over a UNION of
    one index range per term avoids probing a million incidents (an OR of the terms
    would make SQLite scan every clock).
    """
    if narrow:
        return exists().where(SlaClock.incident_id == Incident.id, or_(*terms))
    selects = [select(SlaClock.incident_id).where(term) for term in terms]
    return Incident.id.in_(selects[0] if len(selects) == 1 else union(*selects))


@dataclass(frozen=True)
class QueryContext:
    """What a filter is resolved against: the instant, the user's teams, SLA durations."""

    now: dt.datetime
    team_ids: tuple[int, ...] = ()
    durations: tuple[tuple[int, int], ...] = ()
    #: About how many incidents there are (the highest id); 0 when unknown.
    table_rows: int = 0


def context_for(
    session: Session, now: dt.datetime | None = None, team_ids: Iterable[int] = ()
) -> QueryContext:
    """A :class:`QueryContext` with the SLA durations read from ``session``."""
    durations = session.execute(
        select(SlaDefinition.id, SlaDefinition.duration_seconds).order_by(SlaDefinition.id)
    ).all()
    return QueryContext(
        now=now or utcnow(),
        team_ids=tuple(team_ids),
        durations=tuple((int(i), int(s)) for i, s in durations),
        table_rows=int(session.scalar(select(func.max(Incident.id))) or 0),
    )


def where_clauses(
    filt: IncidentFilter, ctx: QueryContext, *, walk_sort_index: bool = False
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``filt`` (all bound parameters).

    ``walk_sort_index`` (SQLite only) keeps the planner off the indexes of the filtered
    columns, so a common match (a group with 5% of all incidents) is read by walking
    the sort's index instead of sorting every match.
    """

    def col(column: Any) -> Any:
        return _no_index(column) if walk_sort_index else column

    where: list[ColumnElement[bool]] = []
    states = filt.state_values()
    if filt.states:
        where.append(col(Incident.state).in_(states))
    if filt.priorities:
        where.append(col(Incident.priority).in_(filt.priorities))
    if filt.group_ids:
        where.append(col(Incident.assignment_group_id).in_(filt.group_ids))
    if filt.my_groups:
        where.append(
            col(Incident.assignment_group_id).in_(ctx.team_ids) if ctx.team_ids else false()
        )
    if filt.assignee_ids or filt.unassigned:
        who = []
        if filt.assignee_ids:
            who.append(col(Incident.assignee_id).in_(filt.assignee_ids))
        if filt.unassigned:
            who.append(col(Incident.assignee_id).is_(None))
        where.append(or_(*who))
    if filt.service_ids:
        where.append(col(Incident.service_id).in_(filt.service_ids))
    if filt.ci_ids:
        where.append(col(Incident.ci_id).in_(filt.ci_ids))
    if filt.vendor_ids:
        where.append(col(Incident.vendor_id).in_(filt.vendor_ids))
    if filt.opened_from is not None:
        where.append(Incident.opened_at >= filt.opened_from)
    if filt.opened_to is not None:
        where.append(Incident.opened_at < filt.opened_to)
    if filt.updated_from is not None:
        where.append(Incident.updated_at >= filt.updated_from)
    if filt.updated_to is not None:
        where.append(Incident.updated_at < filt.updated_to)
    if filt.major is not None:
        where.append(Incident.is_major == (true() if filt.major else false()))
    if filt.ids:
        where.append(InIdList(Incident.id, filt.ids))
    pattern = like_pattern(filt.text)
    if pattern is not None:
        where.append(
            or_(
                Incident.number.ilike(pattern, escape="\\"),
                Incident.short_description.ilike(pattern, escape="\\"),
            )
        )
    if filt.sla:
        narrow = bool(states) and set(states) <= set(OPEN_STATES) | {IncidentState.RESOLVED.value}
        where.append(or_(*(_sla_condition(status, ctx, narrow) for status in filt.sla)))
    return where


def _sla_condition(status: str, ctx: QueryContext, narrow: bool) -> ColumnElement[bool]:
    breached = breached_terms(ctx.now)
    at_risk = (at_risk_clock(ctx.now, ctx.durations),)
    if status == "breached":
        return _clock_exists(breached, narrow)
    if status == "at_risk":
        return _clock_exists(at_risk, narrow)
    if status == "paused":
        return _clock_exists((SlaClock.stage == SlaStage.PAUSED.value,), narrow)
    return and_(not_(_clock_exists(breached, narrow)), not_(_clock_exists(at_risk, narrow)))


# Columns and sorts


@dataclass(frozen=True)
class QueueColumn:
    """A column of the queue: its key, header, and whether it can be sorted."""

    key: str
    header: str
    sortable: bool = True
    #: Shown when nobody chose columns yet.
    default_visible: bool = True


QUEUE_COLUMNS: tuple[QueueColumn, ...] = (
    QueueColumn("number", "Number"),
    QueueColumn("priority", "Priority"),
    QueueColumn("state", "State"),
    QueueColumn("short_description", "Short description"),
    QueueColumn("service", "Service / CI"),
    QueueColumn("group", "Group"),
    QueueColumn("assignee", "Assignee"),
    QueueColumn("opened", "Opened", default_visible=False),
    QueueColumn("age", "Age"),
    QueueColumn("sla", "SLA"),
    QueueColumn("vendor", "Vendor", default_visible=False),
    QueueColumn("updated", "Updated", default_visible=False),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in QUEUE_COLUMNS)
DEFAULT_COLUMNS: tuple[str, ...] = tuple(c.key for c in QUEUE_COLUMNS if c.default_visible)


def column(key: str) -> QueueColumn:
    for col in QUEUE_COLUMNS:
        if col.key == key:
            return col
    raise ValueError(f"unknown column {key!r}; use one of {', '.join(COLUMN_KEYS)}")


@dataclass(frozen=True)
class Sort:
    """Sort by ``column`` (a key of ``QUEUE_COLUMNS``); ties are broken by id the same way."""

    column: str = "opened"
    descending: bool = True

    def __post_init__(self) -> None:
        column(self.column)

    def reversed(self) -> Sort:
        return Sort(self.column, not self.descending)


DEFAULT_SORT = Sort("opened", descending=True)

_group = aliased(Team, name="grp")
_assignee = aliased(Person, name="assignee")
_service = aliased(Service, name="svc")
_ci = aliased(ConfigurationItem, name="ci_")
_vendor = aliased(Vendor, name="vnd")
_clock = aliased(SlaClock, name="clk")
_definition = aliased(SlaDefinition, name="sla_def")


def _shown_clock_id() -> Any:
    """The id of the clock the SLA column shows (rule in the module docstring)."""
    inner = aliased(SlaClock, name="c2")
    inner_def = aliased(SlaDefinition, name="d2")
    return (
        select(inner.id)
        .join(inner_def, inner_def.id == inner.definition_id)
        .where(inner.incident_id == Incident.id, inner.stage != SlaStage.CANCELED.value)
        .order_by(
            case((inner_def.target == SlaTarget.RESOLUTION.value, 0), else_=1),
            case((inner.stage.in_(_RUNNING), 0), else_=1),
            case((inner.due_at.is_(None), 1), else_=0),
            inner.due_at,
            inner.id,
        )
        .limit(1)
        .correlate(Incident)
        .scalar_subquery()
    )


def shown_clocks() -> Select:
    """(incident id, due_at, stage) of the clock each incident shows, chosen in SQL.

    One correlated lookup per incident: for checks and repairs, not for reading windows
    (those sort on the stored ``Incident.sla_due_at``).
    """
    return _join(select(Incident.id, _clock.due_at, _clock.stage).select_from(Incident), "sla")


def store_shown_clocks(session: Session, incident_ids: Iterable[int] | None = None) -> None:
    """Set ``sla_due_at``/``sla_stage`` of incidents (all by default) from their clocks.

    For clocks written without the SLA engine (hand-made data); the engine keeps the
    columns itself. Like the engine, it bumps no version and writes no audit row.
    """
    table = Incident.__table__
    shown = _shown_clock_id()
    statement = update(table).values(
        sla_due_at=select(SlaClock.due_at).where(SlaClock.id == shown).scalar_subquery(),
        sla_stage=select(SlaClock.stage).where(SlaClock.id == shown).scalar_subquery(),
    )
    if incident_ids is None:
        session.execute(statement)
    else:
        ids = list(incident_ids)
        for begin in range(0, len(ids), 500):
            session.execute(statement.where(table.c.id.in_(ids[begin : begin + 500])))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Incident):
            session.expire(obj, ["sla_due_at", "sla_stage"])


#: Sort key per column: (expression, nullable, inverted); ``age`` sorts opened_at backwards.
_SORT_KEYS: dict[str, tuple[Any, bool, bool]] = {
    "number": (Incident.number, False, False),
    "priority": (Incident.priority, False, False),
    "state": (Incident.state, False, False),
    "short_description": (Incident.short_description, False, False),
    "service": (_service.name, True, False),
    "group": (_group.name, True, False),
    "assignee": (_assignee.name, True, False),
    "opened": (Incident.opened_at, False, False),
    "age": (Incident.opened_at, False, True),
    "sla": (Incident.sla_due_at, False, False),
    "vendor": (_vendor.name, True, False),
    "updated": (Incident.updated_at, False, False),
}
#: The joins a sort key needs.
_SORT_JOINS: dict[str, str] = {
    "service": "service",
    "group": "group",
    "assignee": "assignee",
    "vendor": "vendor",
}
#: Sorts on a nullable column with its NULLs at the end when ascending (at the start when
#: descending): an index on (column, id) gives that order on SQLite and PostgreSQL alike.
_NULLS_LAST = frozenset({"sla"})


def sort_keys(sort: Sort) -> list[tuple[Any, bool]]:
    """(expression, descending) pairs: nulls last when ascending, then the column, then id.

    A column of ``_NULLS_LAST`` is its own key; :func:`_order_by` puts its NULLs last.
    """
    expr, nullable, inverted = _SORT_KEYS[sort.column]
    descending = sort.descending != inverted
    keys: list[tuple[Any, bool]] = []
    if nullable:
        keys.append((case((expr.is_(None), 1), else_=0), descending))
        expr = func.coalesce(expr, "")
    keys.append((expr, descending))
    keys.append((Incident.id, descending))
    return keys


def _no_index(expr: Any) -> Any:
    """``+expr``: SQLite's way of saying "do not use an index for this column"."""
    return UnaryExpression(expr, operator=operators.custom_op("+"), type_=expr.type)


def _order_by(sort: Sort, *, no_index: bool = False) -> list[Any]:
    terms = []
    for i, (expr, desc) in enumerate(sort_keys(sort)):
        if no_index and i == 0:
            expr = _no_index(expr)
        term = expr.desc() if desc else expr.asc()
        if i == 0 and sort.column in _NULLS_LAST:
            term = term.nulls_first() if desc else term.nulls_last()
        terms.append(term)
    return terms


def _join(stmt: Select, name: str) -> Select:
    if name == "service":
        return stmt.outerjoin(_service, _service.id == Incident.service_id)
    if name == "ci":
        return stmt.outerjoin(_ci, _ci.id == Incident.ci_id)
    if name == "group":
        return stmt.outerjoin(_group, _group.id == Incident.assignment_group_id)
    if name == "assignee":
        return stmt.outerjoin(_assignee, _assignee.id == Incident.assignee_id)
    if name == "vendor":
        return stmt.outerjoin(_vendor, _vendor.id == Incident.vendor_id)
    if name == "sla":
        return stmt.outerjoin(_clock, _clock.id == _shown_clock_id()).outerjoin(
            _definition, _definition.id == _clock.definition_id
        )
    raise ValueError(name)


_DISPLAY_JOINS = ("service", "ci", "group", "assignee", "vendor", "sla")


def _display_columns() -> list[Any]:
    return [
        Incident.id,
        Incident.number,
        Incident.priority,
        Incident.state,
        Incident.hold_reason,
        Incident.short_description,
        Incident.is_major,
        _service.name.label("service"),
        _ci.name.label("ci"),
        _group.name.label("group_name"),
        _assignee.name.label("assignee"),
        _vendor.name.label("vendor"),
        Incident.opened_at,
        Incident.resolved_at,
        Incident.closed_at,
        Incident.updated_at,
        _clock.stage.label("sla_stage"),
        _clock.due_at.label("sla_due_at"),
        _clock.breached.label("sla_breached"),
        _clock.stopped_at.label("sla_stopped_at"),
        _clock.paused_since.label("sla_paused_since"),
        _clock.business_elapsed_seconds.label("sla_elapsed_seconds"),
        _definition.duration_seconds.label("sla_duration_seconds"),
        _definition.name.label("sla_name"),
    ]


def select_rows(
    filt: IncidentFilter, sort: Sort = DEFAULT_SORT, ctx: QueryContext | None = None
) -> Select:
    """Id and display columns of the matching incidents, names LEFT JOINed, in ``sort`` order."""
    ctx = ctx or QueryContext(now=utcnow())
    stmt = select(*_display_columns()).select_from(Incident)
    for name in _DISPLAY_JOINS:
        stmt = _join(stmt, name)
    return stmt.where(*where_clauses(filt, ctx)).order_by(*_order_by(sort))


def _ids(
    filt: IncidentFilter,
    sort: Sort,
    ctx: QueryContext,
    *,
    no_index: bool = False,
    walk: bool = False,
) -> Select:
    """Only the ids in order, with just the joins the sort needs (cheap to skip over)."""
    keys = sort_keys(sort)
    stmt = select(Incident.id, *(expr.label(f"k{i}") for i, (expr, _) in enumerate(keys[:-1])))
    stmt = stmt.select_from(Incident)
    if sort.column in _SORT_JOINS:
        stmt = _join(stmt, _SORT_JOINS[sort.column])
    where = where_clauses(filt, ctx, walk_sort_index=walk)
    return stmt.where(*where).order_by(*_order_by(sort, no_index=no_index))


#: Sorts an index serves directly (walking it in order needs no sort step).
INDEXED_SORTS = frozenset({"number", "opened", "age", "updated", "sla"})


def _indexed(filt: IncidentFilter) -> bool:
    """Whether an index finds the filter's rows (text and dates alone need a scan)."""
    return bool(
        filt.states
        or filt.priorities
        or filt.group_ids
        or filt.my_groups
        or filt.assignee_ids
        or filt.unassigned
        or filt.service_ids
        or filt.ci_ids
        or filt.vendor_ids
        or filt.sla
        or filt.major
        or filt.ids
    )


def count_needs_scan(filt: IncidentFilter) -> bool:
    """Whether counting ``filt`` reads every incident (a text search with nothing indexed)."""
    return like_pattern(filt.text) is not None and not _indexed(filt)


def _few(session: Session, filt: IncidentFilter, total: int | None, ctx: QueryContext) -> bool:
    """Whether a filter matches so few rows that sorting them beats walking the sort index.

    Walking an index in sort order and skipping non-matches is fast when matches are
    common; with one match in thousands (P1 open among a million) SQLite would read the
    whole index. Only SQLite needs the hint; PostgreSQL's planner weighs this itself.
    """
    if total is None or not ctx.table_rows or session.get_bind().dialect.name != "sqlite":
        return False
    if not _indexed(filt):
        return False
    return total * FEW_SHARE < ctx.table_rows


def _walk(
    session: Session,
    filt: IncidentFilter,
    sort: Sort,
    ctx: QueryContext,
    total: int | None,
    offset: int,
    limit: int,
    backwards: bool,
) -> bool:
    """Whether to read matches by walking the sort's index rather than sorting them.

    Worth it while the rows walked past, about (offset + limit) x incidents / matches,
    stay within :data:`WALK_BUDGET`; deep windows of a filtered list are sorted instead.
    """
    if (
        total is None
        or not total
        or not ctx.table_rows
        or sort.column not in INDEXED_SORTS
        or not _indexed(filt)
        or filt.sla
        or session.get_bind().dialect.name != "sqlite"
    ):
        return False
    depth = total - offset if backwards else offset + limit
    return depth * ctx.table_rows / total <= WALK_BUDGET


def count(session: Session, filt: IncidentFilter, ctx: QueryContext | None = None) -> int:
    """How many incidents match ``filt``."""
    ctx = ctx or context_for(session)
    stmt = select(func.count()).select_from(Incident).where(*where_clauses(filt, ctx))
    return int(session.scalar(stmt) or 0)


def _rows_for_ids(session: Session, ids: Sequence[int], ctx: QueryContext) -> list[Row]:
    """Display rows for ``ids``, in the order given."""
    if not ids:
        return []
    stmt = select(*_display_columns()).select_from(Incident)
    for name in _DISPLAY_JOINS:
        stmt = _join(stmt, name)
    by_id = {row.id: row for row in session.execute(stmt.where(Incident.id.in_(list(ids))))}
    return [by_id[i] for i in ids if i in by_id]


def fetch_window(
    session: Session,
    filt: IncidentFilter,
    sort: Sort = DEFAULT_SORT,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
    ctx: QueryContext | None = None,
    *,
    total: int | None = None,
) -> list[Row]:
    """Rows ``offset`` .. ``offset + limit`` of the sorted matches.

    The ids are found first over the bare index (skipping rows costs no joins), then the
    display columns are read for that window only. Given ``total`` (the count), a window
    in the second half is read backwards from the end, so the last rows are as cheap as
    the first.
    """
    ctx = ctx or context_for(session)
    offset, limit = max(0, offset), max(0, limit)
    if limit == 0 or (total is not None and offset >= total):
        return []
    few = _few(session, filt, total, ctx)
    backwards = total is not None and offset > total // 2
    walk = _walk(session, filt, sort, ctx, total, offset, limit, backwards) and not few
    if backwards:
        end = min(offset + limit, total)
        back_offset = max(0, total - end)
        stmt = _ids(filt, sort.reversed(), ctx, no_index=few, walk=walk).offset(back_offset)
        ids = [row[0] for row in session.execute(stmt.limit(end - offset))][::-1]
    else:
        stmt = _ids(filt, sort, ctx, no_index=few, walk=walk).offset(offset).limit(limit)
        ids = [row[0] for row in session.execute(stmt)]
    return _rows_for_ids(session, ids, ctx)


def sort_values(session: Session, sort: Sort, incident_id: int, ctx: QueryContext) -> tuple:
    """The sort key values of one incident (where a keyset window continues after it)."""
    keys = sort_keys(sort)
    stmt = select(*(expr for expr, _ in keys)).select_from(Incident)
    if sort.column in _SORT_JOINS:
        stmt = _join(stmt, _SORT_JOINS[sort.column])
    row = session.execute(stmt.where(Incident.id == incident_id)).one()
    return tuple(row)


def fetch_after(
    session: Session,
    filt: IncidentFilter,
    sort: Sort = DEFAULT_SORT,
    after: tuple | None = None,
    limit: int = DEFAULT_LIMIT,
    ctx: QueryContext | None = None,
) -> tuple[list[Row], tuple | None]:
    """A keyset window: up to ``limit`` rows after the key ``after`` (None: from the start).

    Returns the rows and the key to pass next time (None when there are no more rows).
    """
    ctx = ctx or context_for(session)
    keys = sort_keys(sort)
    stmt = _ids(filt, sort, ctx)
    if after is not None and sort.column in _NULLS_LAST:
        stmt = stmt.where(_nullable_after(keys, after))
    elif after is not None:
        directions = {desc for _, desc in keys}
        exprs = [expr for expr, _ in keys]
        if len(directions) == 1:
            values = tuple_(*(literal(v, e.type) for e, v in zip(exprs, after, strict=True)))
            row_key = tuple_(*exprs)
            stmt = stmt.where(row_key < values if directions.pop() else row_key > values)
        else:  # pragma: no cover - every sort keeps one direction today
            stmt = stmt.where(_lexicographic_after(keys, after))
    rows = session.execute(stmt.limit(limit)).all()
    if not rows:
        return [], None
    last = rows[-1]
    next_key = (*last[1:], last[0])
    ids = [row[0] for row in rows]
    return _rows_for_ids(session, ids, ctx), (next_key if len(rows) == limit else None)


def _nullable_after(keys: list[tuple[Any, bool]], after: tuple) -> ColumnElement[bool]:
    """Rows after ``after`` in a (nullable column, id) order with NULLs last when ascending."""
    (expr, desc), (id_expr, _) = keys
    value, last_id = after
    id_value = literal(last_id, id_expr.type)
    if value is None:  # within the NULLs: last when ascending, first when descending
        if desc:
            return or_(and_(expr.is_(None), id_expr < id_value), expr.is_not(None))
        return and_(expr.is_(None), id_expr > id_value)
    row_key = tuple_(expr, id_expr)
    values = tuple_(literal(value, expr.type), id_value)
    if desc:
        return row_key < values  # the NULLs came first and are behind
    return or_(row_key > values, expr.is_(None))


def _lexicographic_after(keys: list[tuple[Any, bool]], after: tuple) -> ColumnElement[bool]:
    terms = []
    for i, (expr, desc) in enumerate(keys):
        equal = [keys[j][0] == literal(after[j], keys[j][0].type) for j in range(i)]
        value = literal(after[i], expr.type)
        terms.append(and_(*equal, expr < value if desc else expr > value))
    return or_(*terms)


# SLA cell


@dataclass(frozen=True)
class SlaCell:
    """How the SLA column shows a row's clock."""

    #: none, ok, warning (50-75%), risk (75-100%), breached, paused, met
    status: str
    #: Share of the target used, 0..1 (1 when breached).
    used: float
    text: str


def sla_cell(row: Any, now: dt.datetime) -> SlaCell:
    """The SLA cell of a row from :func:`fetch_window` at ``now``."""
    from app.services.formatting import format_duration

    stage = row.sla_stage
    if stage is None or row.sla_due_at is None:
        return SlaCell("none", 0.0, "")
    due: dt.datetime = row.sla_due_at
    duration = max(1, int(row.sla_duration_seconds or 0))
    late = stage == SlaStage.BREACHED.value or bool(row.sla_breached)
    running = stage == SlaStage.IN_PROGRESS.value
    if running and due <= now:
        late = True
    if late:
        since = (row.sla_stopped_at or due) if not running else due
        ago = max(0.0, (now - min(since, now)).total_seconds())
        # The largest unit is enough for how long ago ("breached 2d ago").
        return SlaCell("breached", 1.0, f"breached {format_duration(ago).split()[0]} ago")
    if stage == SlaStage.ACHIEVED.value:
        return SlaCell("met", 0.0, "met")
    used = max(
        (row.sla_elapsed_seconds or 0) / duration,
        1.0 - (due - now).total_seconds() / duration,
    )
    used = min(1.0, max(0.0, used))
    if stage == SlaStage.PAUSED.value:
        return SlaCell("paused", used, "paused")
    left = format_duration((due - now).total_seconds())
    status = "ok" if used < 0.5 else "warning" if used < AT_RISK_SHARE else "risk"
    return SlaCell(status, used, f"{left} left")


# Command line


def _name_ids(session: Session, model: Any, names: list[str], what: str) -> list[int]:
    ids = []
    for name in names:
        if name.isdigit():
            ids.append(int(name))
            continue
        found = session.scalar(select(model.id).where(func.lower(model.name) == name.lower()))
        if found is None:
            raise ValueError(f"no {what} called {name!r}")
        ids.append(found)
    return ids


_ARG_MODELS = {
    "group": (Team, "assignment group"),
    "assignee": (Person, "person"),
    "service": (Service, "service"),
    "ci": (ConfigurationItem, "configuration item"),
    "vendor": (Vendor, "vendor"),
}
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_filter_args(args: Iterable[str], session: Session | None = None) -> IncidentFilter:
    """A filter from ``key=value`` words, e.g. ``state=open priority=1,2 group=Network``.

    Lists are comma-separated; names are resolved to ids through ``session`` (ids are
    accepted as they are). Raises ValueError with a message fit for a person.
    """
    data: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep:
            raise ValueError(f"{arg!r} is not key=value (e.g. state=open)")
        if key not in _DICT_KEYS:
            raise ValueError(f"unknown filter key {key!r}; use one of {', '.join(_DICT_KEYS)}")
        value = value.strip()
        if key in ("unassigned", "my_groups", "major"):
            if value.lower() not in _BOOL_WORDS:
                raise ValueError(f"{key} must be yes or no, not {value!r}")
            data[key] = _BOOL_WORDS[value.lower()]
        elif key in ("text", "opened_from", "opened_to", "updated_from", "updated_to"):
            data[key] = value
        else:
            items = [v.strip() for v in value.split(",") if v.strip()]
            if key == "state":
                items = [_state_name(v) for v in items]
            elif key == "priority":
                items = [_priority(v) for v in items]
            elif key in _ARG_MODELS:
                if session is None and not all(v.isdigit() for v in items):
                    raise ValueError(f"{key} names need a database to look them up")
                model, what = _ARG_MODELS[key]
                items = _name_ids(session, model, items, what) if session else list(map(int, items))
            data[key] = data.get(key, []) + items
    return IncidentFilter.from_dict(data)


def _state_name(value: str) -> str:
    lowered = value.lower().replace("_", " ").replace("-", " ")
    if lowered == OPEN:
        return OPEN
    for state in ALL_STATES:
        if state.lower() == lowered:
            return state
    raise ValueError(f"unknown state {value!r}; use one of open, {', '.join(ALL_STATES)}")


def _priority(value: str) -> int:
    text = value.upper().removeprefix("P")
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise ValueError(f"priority must be 1-5, not {value!r}")
    return int(text)


# Presets


@dataclass(frozen=True)
class Preset:
    """A ready-made queue filter offered on the left of the queue."""

    key: str
    title: str
    filter: IncidentFilter
    sort: Sort = DEFAULT_SORT


def presets(user: AppUser | None = None) -> tuple[Preset, ...]:
    """The queue's presets; "My groups" resolves against ``user``'s teams when queried."""
    open_ = (OPEN,)
    return (
        Preset(
            "my_groups",
            "Open in my groups",
            IncidentFilter(states=open_, my_groups=True),
            Sort("priority", False),
        ),
        Preset(
            "unassigned",
            "Unassigned",
            IncidentFilter(states=open_, unassigned=True),
            Sort("priority", False),
        ),
        Preset(
            "p1p2",
            "P1/P2 open",
            IncidentFilter(states=open_, priorities=(1, 2)),
            Sort("priority", False),
        ),
        Preset(
            "breached",
            "SLA breached",
            IncidentFilter(states=open_, sla=("breached",)),
            Sort("sla", False),
        ),
        Preset(
            "at_risk",
            "SLA at risk",
            IncidentFilter(states=open_, sla=("at_risk",)),
            Sort("sla", False),
        ),
        Preset(
            "major",
            "Major incidents",
            IncidentFilter(states=open_, major=True),
            Sort("priority", False),
        ),
        Preset("all_open", "All open", IncidentFilter(states=open_), Sort("priority", False)),
        Preset("all", "All incidents", IncidentFilter(), DEFAULT_SORT),
    )


# Saved views


@dataclass(frozen=True)
class ViewDefinition:
    """What a saved view keeps: the filter, the sort and the visible columns."""

    filter: IncidentFilter = field(default_factory=IncidentFilter)
    sort: Sort = DEFAULT_SORT
    columns: tuple[str, ...] = DEFAULT_COLUMNS

    def to_json(self) -> str:
        return json.dumps(
            {
                "filter": self.filter.to_dict(),
                "sort": asdict(self.sort),
                "columns": list(self.columns),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ViewDefinition:
        data = json.loads(text)
        sort = data.get("sort") or {}
        columns = tuple(c for c in data.get("columns") or DEFAULT_COLUMNS if c in COLUMN_KEYS)
        return cls(
            filter=IncidentFilter.from_dict(data.get("filter")),
            sort=Sort(sort.get("column", DEFAULT_SORT.column), bool(sort.get("descending", True))),
            columns=columns or DEFAULT_COLUMNS,
        )


@dataclass(frozen=True)
class SavedViewInfo:
    """A saved view as the queue lists it."""

    id: int
    name: str
    definition: ViewDefinition


#: The AppUser that owns saved views when the console runs with no signed-in user.
LOCAL_USERNAME = "local"


def view_owner(session: Session, user_id: int | None) -> int:
    """``user_id``, or the local default user (created, inactive, on first use).

    The local user is inactive so it never becomes anyone's identity; it only owns the
    saved views of consoles whose operating-system user has no AppUser row.
    """
    if user_id is not None:
        return user_id
    found = session.scalar(select(AppUser.id).where(AppUser.username == LOCAL_USERNAME))
    if found is not None:
        return found
    user = AppUser(username=LOCAL_USERNAME, display_name="Local user", role="viewer", active=False)
    session.add(user)
    session.flush()
    return user.id


def list_views(
    session: Session, user_id: int | None, page: str = QUEUE_PAGE
) -> list[SavedViewInfo]:
    """The user's saved views of ``page``, by name; unreadable definitions are skipped."""
    if user_id is None:
        user_id = session.scalar(select(AppUser.id).where(AppUser.username == LOCAL_USERNAME))
        if user_id is None:
            return []
    views = []
    for row in session.execute(
        select(SavedView.id, SavedView.name, SavedView.definition)
        .where(SavedView.user_id == user_id, SavedView.page == page)
        .order_by(func.lower(SavedView.name), SavedView.id)
    ):
        try:
            views.append(SavedViewInfo(row.id, row.name, ViewDefinition.from_json(row.definition)))
        except (ValueError, TypeError, AttributeError):
            continue
    return views


def save_view(
    session: Session,
    user_id: int | None,
    name: str,
    definition: ViewDefinition,
    page: str = QUEUE_PAGE,
) -> int:
    """Create the view ``name`` or replace its definition; returns its id."""
    name = " ".join(name.split())[:100]
    if not name:
        raise ValueError("a saved view needs a name")
    owner = view_owner(session, user_id)
    view = session.scalar(
        select(SavedView).where(
            SavedView.user_id == owner, SavedView.page == page, SavedView.name == name
        )
    )
    if view is None:
        view = SavedView(user_id=owner, page=page, name=name, definition=definition.to_json())
        session.add(view)
    else:
        view.definition = definition.to_json()
    session.flush()
    return view.id


def rename_view(session: Session, view_id: int, name: str) -> None:
    name = " ".join(name.split())[:100]
    if not name:
        raise ValueError("a saved view needs a name")
    view = session.get(SavedView, view_id)
    if view is None:
        raise ValueError("that saved view no longer exists")
    view.name = name
    session.flush()


def delete_view(session: Session, view_id: int) -> None:
    view = session.get(SavedView, view_id)
    if view is not None:
        session.delete(view)
        session.flush()


# Choices for the filter bar


@dataclass(frozen=True)
class Choice:
    """One value a filter can take: its id and the name shown."""

    id: int
    name: str


@dataclass(frozen=True)
class FilterOptions:
    """The names the queue's filter bar offers, with each group's members."""

    groups: tuple[Choice, ...]
    people: tuple[Choice, ...]
    services: tuple[Choice, ...]
    vendors: tuple[Choice, ...]
    members: dict[int, tuple[int, ...]] = field(default_factory=dict)


def filter_options(session: Session) -> FilterOptions:
    """Active groups, agents (and anyone already assigned), services and vendors, by name."""

    def choices(stmt: Select) -> tuple[Choice, ...]:
        return tuple(Choice(int(i), str(n)) for i, n in session.execute(stmt))

    members: dict[int, list[int]] = {}
    for team_id, person_id in session.execute(
        select(team_member.c.team_id, team_member.c.person_id)
    ):
        members.setdefault(team_id, []).append(person_id)
    return FilterOptions(
        groups=choices(select(Team.id, Team.name).where(Team.active == true()).order_by(Team.name)),
        people=choices(
            select(Person.id, Person.name)
            .where(Person.active == true(), Person.is_agent == true())
            .order_by(Person.name, Person.id)
        ),
        services=choices(
            select(Service.id, Service.name).where(Service.active == true()).order_by(Service.name)
        ),
        vendors=choices(select(Vendor.id, Vendor.name).order_by(Vendor.name)),
        members={team: tuple(people) for team, people in members.items()},
    )
