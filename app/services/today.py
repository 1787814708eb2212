"""The figures on the Today page, each read from the database with aggregate SQL.

Every query is bounded: counts are aggregated in SQL over indexed columns, lists are
limited to the few rows a card shows, and no query loads a whole table.

SLA rules used here (``now`` is the instant the figures are for):

* **at risk**: a running clock (stage ``in_progress``, so not paused) on an open incident
  that has not reached its due time yet and has used at least 75% of its target: either
  the time left until ``due_at`` is at most a quarter of the definition's duration, or
  the clock's last computed business elapsed time is already three quarters of it
  (which catches business-hours clocks whose remaining hours lie after a night or a
  weekend). Business time only grows, so the second test never flags a clock too early.
* **breached**: an open incident with a clock that is marked breached, or that is still
  running past its ``due_at``. Canceled clocks never count.

Changes in the next 7 days carry their conflicts (:mod:`app.services.conflicts`), found in
one run over every change of the card, not only the rows shown.

The service-quality figures (:func:`quality_figures`) are not part of
:func:`today_figures`: they come from the KPI column cache, whose first load takes a
couple of seconds on a million incidents, so the page reads them in a job of their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import exists, func, select, true
from sqlalchemy.orm import Session, selectinload

from app.models import (
    ChangeRequest,
    Contract,
    Incident,
    MajorIncidentUpdate,
    OnCallSchedule,
    Person,
    ScheduleLayer,
    ScheduleOverride,
    ScorecardPeriod,
    SlaClock,
    SlaDefinition,
    Team,
    Vendor,
    utcnow,
)
from app.models.enums import OPEN_INCIDENT_STATES, ChangeState, Rag
from app.services.formatting import PRIORITY_NAMES, format_count, format_duration
from app.services.incident_query import at_risk_clock, breached_clock
from app.services.oncall import published_shifts, who_is_on_call
from app.services.progress import Progress

if TYPE_CHECKING:  # numpy and the KPI service load with the first figures, not at start-up
    from app.services.kpi import KpiColumns, PeriodKpis
    from app.services.kpi_targets import KpiTarget

OPEN_STATES = tuple(state.value for state in OPEN_INCIDENT_STATES)
PRIORITIES = (1, 2, 3, 4, 5)
CHANGE_DAYS = 7
CONTRACT_DAYS = 60
#: How many rows a list card shows; the card's count is always the full count.
LIST_LIMIT = 8


@dataclass(frozen=True)
class PriorityCount:
    """Open incidents of one priority."""

    priority: int
    name: str
    count: int


@dataclass(frozen=True)
class ClockAtRisk:
    """A running SLA clock close to breach."""

    incident_id: int
    number: str
    priority: int
    definition: str
    due_at: dt.datetime


@dataclass(frozen=True)
class SlaFigures:
    """Clocks at risk and incidents breached, with the at-risk clocks due soonest."""

    at_risk: int
    breached: int
    soonest: tuple[ClockAtRisk, ...] = ()


@dataclass(frozen=True)
class MajorUpdate:
    """The latest entry on a major incident's timeline."""

    at: dt.datetime
    status: str
    text: str


@dataclass(frozen=True)
class MajorIncident:
    """A major incident still in progress."""

    id: int
    number: str
    short_description: str
    priority: int
    state: str
    major_status: str | None
    declared_at: dt.datetime | None
    latest_update: MajorUpdate | None


@dataclass(frozen=True)
class UpcomingChange:
    """A change planned to start soon."""

    id: int
    number: str
    short_description: str
    type: str
    state: str
    risk: str
    planned_start: dt.datetime
    planned_end: dt.datetime | None
    #: The conflicts of its planned window, one sentence each (empty: none).
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class OnCallEntry:
    """Who covers one role of one schedule now (``person`` None: nobody, a coverage gap)."""

    schedule: str
    team: str | None
    role: str
    person: str | None
    layer: str | None
    override: bool


@dataclass(frozen=True)
class RedVendor:
    """A vendor whose latest scorecard is red."""

    id: int
    name: str
    period: str
    total: float | None


@dataclass(frozen=True)
class EndingContract:
    """A contract that ends (or renews) soon."""

    id: int
    reference: str
    title: str
    vendor: str
    ends_on: dt.date
    days_left: int
    auto_renew: bool
    notice_by: dt.date


@dataclass(frozen=True)
class TodayFigures:
    """Everything the Today page shows, for the instant ``now``."""

    now: dt.datetime
    open_by_priority: tuple[PriorityCount, ...]
    sla: SlaFigures
    majors: tuple[MajorIncident, ...]
    changes_count: int
    changes: tuple[UpcomingChange, ...]
    on_call: tuple[OnCallEntry, ...]
    red_vendors: tuple[RedVendor, ...]
    contracts_count: int
    contracts: tuple[EndingContract, ...]
    #: How many of the ``changes_count`` upcoming changes have conflicts (shown or not).
    changes_conflicting: int = 0

    @property
    def open_total(self) -> int:
        return sum(p.count for p in self.open_by_priority)


def open_by_priority(session: Session) -> tuple[PriorityCount, ...]:
    """Open incidents per priority 1-5 (served by the state/priority index)."""
    # Grouped by state too, so the (state, priority, ...) index yields the groups in
    # order; grouped by priority alone, SQLite scans the (priority, id) index instead.
    rows = session.execute(
        select(Incident.priority, func.count())
        .where(Incident.state.in_(OPEN_STATES))
        .group_by(Incident.state, Incident.priority)
    ).all()
    counts: dict[int, int] = {}
    for priority, count in rows:
        counts[priority] = counts.get(priority, 0) + count
    known = sorted(set(PRIORITIES) | set(counts))
    return tuple(PriorityCount(p, PRIORITY_NAMES.get(p, ""), counts.get(p, 0)) for p in known)


def sla_figures(session: Session, now: dt.datetime) -> SlaFigures:
    """Clocks at risk and open incidents breached (rules in the module docstring)."""
    durations = session.execute(select(SlaDefinition.id, SlaDefinition.duration_seconds)).all()
    if not durations:
        return SlaFigures(0, 0)
    at_risk = (
        select(
            SlaClock.incident_id,
            Incident.number,
            Incident.priority,
            SlaDefinition.name,
            SlaClock.due_at,
        )
        .join(Incident, Incident.id == SlaClock.incident_id)
        .join(SlaDefinition, SlaDefinition.id == SlaClock.definition_id)
        .where(
            at_risk_clock(now, durations),
            Incident.state.in_(OPEN_STATES),
        )
    )
    risk_count = session.scalar(select(func.count()).select_from(at_risk.subquery())) or 0
    soonest = session.execute(at_risk.order_by(SlaClock.due_at, SlaClock.id).limit(5)).all()

    # The queue's rules, so that Today's figures and the queue's filters agree.
    breached_incident = exists().where(SlaClock.incident_id == Incident.id, breached_clock(now))
    breached = session.scalar(
        select(func.count())
        .select_from(Incident)
        .where(Incident.state.in_(OPEN_STATES), breached_incident)
    )
    return SlaFigures(
        at_risk=risk_count,
        breached=breached or 0,
        soonest=tuple(ClockAtRisk(*row) for row in soonest),
    )


def major_incidents(session: Session) -> tuple[MajorIncident, ...]:
    """Open major incidents, most urgent first, each with its latest timeline update."""
    rows = session.execute(
        select(
            Incident.id,
            Incident.number,
            Incident.short_description,
            Incident.priority,
            Incident.state,
            Incident.major_status,
            Incident.major_declared_at,
        ).where(Incident.is_major == true(), Incident.state.in_(OPEN_STATES))
    ).all()
    if not rows:
        return ()
    # Open majors are a handful, so they are ordered here: an ORDER BY priority lets
    # SQLite's planner walk the (priority, id) index over every incident instead of the
    # (is_major, state) one, which took half a second on a million incidents.
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (r.priority, r.major_declared_at or never, r.id))
    ranked = (
        select(
            MajorIncidentUpdate.incident_id,
            MajorIncidentUpdate.at,
            MajorIncidentUpdate.status,
            MajorIncidentUpdate.text,
            func.row_number()
            .over(
                partition_by=MajorIncidentUpdate.incident_id,
                order_by=(MajorIncidentUpdate.at.desc(), MajorIncidentUpdate.id.desc()),
            )
            .label("rank"),
        )
        .where(MajorIncidentUpdate.incident_id.in_([row.id for row in rows]))
        .subquery()
    )
    latest = {
        incident_id: MajorUpdate(at, status, text)
        for incident_id, at, status, text in session.execute(
            select(ranked.c.incident_id, ranked.c.at, ranked.c.status, ranked.c.text).where(
                ranked.c.rank == 1
            )
        )
    }
    return tuple(MajorIncident(*row, latest_update=latest.get(row.id)) for row in rows)


def upcoming_changes(
    session: Session, now: dt.datetime, limit: int = LIST_LIMIT
) -> tuple[int, tuple[UpcomingChange, ...]]:
    """Changes planned to start within the next week (not canceled or closed)."""
    count, _conflicting, changes = upcoming_changes_with_conflicts(
        session, now, limit, conflicts=False
    )
    return count, changes


def upcoming_changes_with_conflicts(
    session: Session, now: dt.datetime, limit: int = LIST_LIMIT, *, conflicts: bool = True
) -> tuple[int, int, tuple[UpcomingChange, ...]]:
    """``(count, conflicting, first changes)`` of the changes planned in the next week.

    Every upcoming change's id is read (a week holds tens of changes, a few hundred in
    a big organisation), so the conflict engine runs once over all of them and the
    count of conflicting changes covers the ones beyond ``limit`` too.
    """
    where = (
        ChangeRequest.planned_start >= now,
        ChangeRequest.planned_start < now + dt.timedelta(days=CHANGE_DAYS),
        ChangeRequest.state.not_in((ChangeState.CANCELED.value, ChangeState.CLOSED.value)),
    )
    ids = session.scalars(select(ChangeRequest.id).where(*where)).all()
    if not ids:
        return 0, 0, ()
    found = {}
    if conflicts:
        from app.services.conflicts import find_conflicts

        found = find_conflicts(session, ids)
    sentences = {
        change_id: tuple(dict.fromkeys(c.sentence for c in items))
        for change_id, items in found.items()
        if items
    }
    rows = session.execute(
        select(
            ChangeRequest.id,
            ChangeRequest.number,
            ChangeRequest.short_description,
            ChangeRequest.type,
            ChangeRequest.state,
            ChangeRequest.risk,
            ChangeRequest.planned_start,
            ChangeRequest.planned_end,
        )
        .where(*where)
        .order_by(ChangeRequest.planned_start, ChangeRequest.id)
        .limit(limit)
    ).all()
    changes = tuple(UpcomingChange(*row, conflicts=sentences.get(row.id, ())) for row in rows)
    return len(ids), len(sentences), changes


def on_call_now(session: Session, now: dt.datetime) -> tuple[OnCallEntry, ...]:
    """Who is on call now, per schedule and role (see :mod:`app.services.oncall`)."""
    schedules = session.scalars(
        select(OnCallSchedule)
        .options(selectinload(OnCallSchedule.layers).selectinload(ScheduleLayer.members))
        .order_by(OnCallSchedule.name)
    ).all()
    if not schedules:
        return ()
    overrides = session.scalars(
        select(ScheduleOverride).where(
            ScheduleOverride.starts_at <= now, ScheduleOverride.ends_at > now
        )
    ).all()
    teams = dict(
        session.execute(
            select(Team.id, Team.name).where(
                Team.id.in_({s.team_id for s in schedules if s.team_id is not None})
            )
        ).all()
    )
    roster = published_shifts(
        session, [s.id for s in schedules], now, now + dt.timedelta(seconds=1)
    )
    covers = [
        (schedule, who_is_on_call(schedule, now, overrides, roster.get(schedule.id, [])))
        for schedule in schedules
    ]
    person_ids = {c.person_id for _, found in covers for c in found if c.person_id is not None}
    names = dict(
        session.execute(select(Person.id, Person.name).where(Person.id.in_(person_ids))).all()
    )
    return tuple(
        OnCallEntry(
            schedule=schedule.name,
            team=teams.get(schedule.team_id) if schedule.team_id is not None else None,
            role=cover.role,
            person=names.get(cover.person_id) if cover.person_id is not None else None,
            layer=cover.layer_name,
            override=cover.override_id is not None,
        )
        for schedule, found in covers
        for cover in found
    )


def red_vendors(session: Session) -> tuple[RedVendor, ...]:
    """Active vendors whose latest scorecard period (by end date) is rated red."""
    ranked = select(
        ScorecardPeriod.vendor_id,
        ScorecardPeriod.period,
        ScorecardPeriod.total,
        ScorecardPeriod.rag,
        func.row_number()
        .over(
            partition_by=ScorecardPeriod.vendor_id,
            order_by=(ScorecardPeriod.ends_on.desc(), ScorecardPeriod.id.desc()),
        )
        .label("rank"),
    ).subquery()
    rows = session.execute(
        select(Vendor.id, Vendor.name, ranked.c.period, ranked.c.total)
        .join(ranked, ranked.c.vendor_id == Vendor.id)
        .where(ranked.c.rank == 1, ranked.c.rag == Rag.RED.value, Vendor.active == true())
        .order_by(ranked.c.total, Vendor.name)
    ).all()
    return tuple(RedVendor(*row) for row in rows)


def ending_contracts(
    session: Session, today: dt.date, limit: int = LIST_LIMIT
) -> tuple[int, tuple[EndingContract, ...]]:
    """Contracts that end or renew within the next 60 days, soonest first."""
    where = (
        Contract.ends_on >= today,
        Contract.ends_on <= today + dt.timedelta(days=CONTRACT_DAYS),
    )
    count = session.scalar(select(func.count()).select_from(Contract).where(*where)) or 0
    rows = session.execute(
        select(
            Contract.id,
            Contract.reference,
            Contract.title,
            Vendor.name,
            Contract.ends_on,
            Contract.auto_renew,
            Contract.renewal_notice_days,
        )
        .join(Vendor, Vendor.id == Contract.vendor_id)
        .where(*where)
        .order_by(Contract.ends_on, Contract.reference)
        .limit(limit)
    ).all()
    return count, tuple(
        EndingContract(
            id=row.id,
            reference=row.reference,
            title=row.title,
            vendor=row.name,
            ends_on=row.ends_on,
            days_left=(row.ends_on - today).days,
            auto_renew=row.auto_renew,
            notice_by=row.ends_on - dt.timedelta(days=row.renewal_notice_days),
        )
        for row in rows
    )


def today_figures(
    session: Session,
    now: dt.datetime | None = None,
    zone: dt.tzinfo | None = None,
    progress: Progress | None = None,
) -> TodayFigures:
    """All of Today's figures for ``now`` (default: this instant).

    ``zone`` decides which calendar day "today" is for contract end dates (default: the
    computer's zone). ``progress`` is told of each step and may cancel between them.
    """
    now = now or utcnow()
    today = now.astimezone(zone).date() if zone is not None else now.astimezone().date()
    step = progress or Progress()
    step.update(0, 7, "Open incidents")
    by_priority = open_by_priority(session)
    step.update(1, 7, "SLA clocks")
    sla = sla_figures(session, now)
    step.update(2, 7, "Major incidents")
    majors = major_incidents(session)
    step.update(3, 7, "Changes")
    changes_count, changes_conflicting, changes = upcoming_changes_with_conflicts(session, now)
    step.update(4, 7, "On call")
    on_call = on_call_now(session, now)
    step.update(5, 7, "Vendors")
    vendors = red_vendors(session)
    step.update(6, 7, "Contracts")
    contracts_count, contracts = ending_contracts(session, today)
    step.update(7, 7, "Done")
    return TodayFigures(
        now=now,
        open_by_priority=by_priority,
        sla=sla,
        majors=majors,
        changes_count=changes_count,
        changes=changes,
        on_call=on_call,
        red_vendors=vendors,
        contracts_count=contracts_count,
        contracts=contracts,
        changes_conflicting=changes_conflicting,
    )


# Service quality: the KPIs of the last 7 full UTC days against the 7 days before.

#: The days of the service-quality card: the last full UTC days before ``now``.
QUALITY_DAYS = 7
#: What an empty figure shows (no incidents resolved, no SLAs finished, no surveys, ...).
NO_VALUE = "—"
#: The card's figures in order: key (as in :mod:`app.services.kpi_targets`), label, unit
#: and whether higher is better when the targets do not say.
QUALITY_KPIS: tuple[tuple[str, str, str, bool], ...] = (
    ("mttr", "MTTR", "hours", False),
    ("sla_attainment", "SLA attainment", "%", True),
    ("backlog", "Backlog", "count", False),
    ("csat", "CSAT", "%", True),
    ("change_success", "Change success rate", "%", True),
)


@dataclass(frozen=True)
class QualityFigure:
    """One KPI over the last 7 days, against the 7 days before and against its target.

    ``value``, ``previous`` and ``target`` are in the KPI's unit: hours for MTTR, percent
    for rates, incidents for the backlog; None when the period has no data (or no target).
    """

    key: str
    label: str
    unit: str
    value: float | None
    previous: float | None
    higher_is_better: bool
    target: float | None
    meets_target: bool | None
    #: ``"5h 12m"``, ``"93.4 %"``, ``"1,284"`` or ``"—"``.
    text: str
    previous_text: str
    #: Shown beside the value: MTTR's median (``"median 2h 5m"``); empty for the others.
    aside: str
    #: A second line: what the figure counts (``"412 of 430 SLAs met"``, ...).
    detail: str
    #: ``"target 95 %"``, or empty without a target.
    target_text: str
    #: ``value - previous`` (None unless both exist).
    delta: float | None
    #: ``"▲ 1.2 pt"``, ``"▼ 1h 5m"``, ``"= same"`` or empty.
    delta_text: str
    #: ``"better"``, ``"worse"``, ``"same"``, or empty when a period has no value.
    trend: str


@dataclass(frozen=True)
class QualityFigures:
    """The service-quality card: KPIs of ``first_day``..``last_day`` (UTC days, inclusive)."""

    now: dt.datetime
    first_day: dt.date
    last_day: dt.date
    previous_first_day: dt.date
    previous_last_day: dt.date
    figures: tuple[QualityFigure, ...]

    def figure(self, key: str) -> QualityFigure:
        return next(f for f in self.figures if f.key == key)

    @property
    def period_text(self) -> str:
        return _days_text(self.first_day, self.last_day)

    @property
    def previous_text(self) -> str:
        return _days_text(self.previous_first_day, self.previous_last_day)


def _days_text(first: dt.date, last: dt.date) -> str:
    """``16-22 Nov 2026``, ``28 Nov - 4 Dec 2026`` or ``29 Dec 2025 - 4 Jan 2026``."""
    if first.year != last.year:
        return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"
    if first.month != last.month:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day}–{last.day} {last:%b %Y}"


def quality_columns(session: Session, now: dt.datetime) -> KpiColumns:
    """The KPI columns :func:`quality_figures` needs: only its two weeks (and what they
    touch), so Today stays light on a database of millions of incidents. The full column
    cache is the KPI page's, read when that page is first opened."""
    from app.services.kpi import KpiColumns

    first, last = quality_period(now)
    start = dt.datetime.combine(first - dt.timedelta(days=QUALITY_DAYS), dt.time(), dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    return KpiColumns.load_window(session, start, end)


def quality_period(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The last ``QUALITY_DAYS`` full UTC days before ``now``, as (first, last) day."""
    last = now.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    return last - dt.timedelta(days=QUALITY_DAYS - 1), last


def _number(value: float) -> str:
    """``95`` for 95.0, ``99.9`` for 99.9."""
    return f"{value:g}"


def _value_text(unit: str, value: float | None) -> str:
    if value is None:
        return NO_VALUE
    if unit == "hours":
        return format_duration(value * 3600)
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "count":
        return format_count(round(value))
    return _number(round(value, 1))


def _delta(unit: str, value: float | None, previous: float | None, higher_is_better: bool):
    """``(delta, text, trend)``; a change that rounds to nothing on screen is "same"."""
    if value is None or previous is None:
        return None, "", ""
    delta = value - previous
    if unit == "hours":
        size = format_duration(abs(delta) * 3600)
        same = abs(delta) * 60 < 1
    elif unit == "%":
        size = f"{abs(delta):.1f} pt"
        same = round(abs(delta), 1) == 0
    else:
        size = format_count(round(abs(delta))) if unit == "count" else _number(abs(delta))
        same = round(abs(delta), 1) == 0
    if same:
        return delta, "= same", "same"
    better = (delta > 0) == higher_is_better
    return delta, f"{'▲' if delta > 0 else '▼'} {size}", "better" if better else "worse"


def _target_text(unit: str, target: float | None) -> str:
    if target is None:
        return ""
    if unit == "hours":
        return f"target {format_duration(target * 3600)}"
    if unit == "%":
        return f"target {_number(target)} %"
    return f"target {_number(target)}"


def _kpi_values(period: PeriodKpis) -> dict[str, tuple[float | None, str]]:
    """Each card KPI of one period: (value in its unit, detail line)."""
    mttr = period.mttr
    hours = None if mttr.mean is None else mttr.mean / 3600
    if mttr.count:
        mttr_detail = f"mean of {format_count(mttr.count)} resolved"
    else:
        mttr_detail = "no incidents resolved"
    sla = period.sla_attainment
    backlog = period.daily.backlog
    last_day = period.daily.days[-1] if period.daily.days else None
    csat = period.csat
    change = period.change_success
    return {
        "mttr": (hours, mttr_detail),
        "sla_attainment": (
            sla.percent,
            f"{format_count(sla.numerator)} of {format_count(sla.denominator)} SLAs met"
            if sla.denominator
            else "no SLAs finished",
        ),
        "backlog": (
            float(backlog[-1]) if backlog else None,
            f"open at the end of {last_day.day} {last_day:%b}" if last_day else "no days yet",
        ),
        "csat": (
            csat.percent,
            f"{format_count(csat.numerator)} of {format_count(csat.denominator)} rated 4 or 5"
            if csat.denominator
            else "no survey responses",
        ),
        "change_success": (
            change.percent,
            f"{format_count(change.numerator)} of {format_count(change.denominator)} successful"
            if change.denominator
            else "no changes implemented",
        ),
    }


def quality_figures(
    cols: KpiColumns, now: dt.datetime, targets: dict[str, KpiTarget]
) -> QualityFigures:
    """MTTR, SLA attainment, backlog, CSAT and change success rate of the last 7 full UTC
    days against the 7 days before (:func:`app.services.kpi.compute_kpis`), with their
    targets (``targets`` as :func:`app.services.kpi_targets.load_targets` gives them; a
    KPI without one, like the backlog, has no target and lower is better).
    """
    from app.services.kpi import KpiFilter, compute_kpis
    from app.services.kpi_targets import meets

    first, last = quality_period(now)
    report = compute_kpis(cols, KpiFilter(start=first, end=last), now=now)
    current, previous = _kpi_values(report.current), _kpi_values(report.previous)
    median = report.current.mttr.median
    figures = []
    for key, label, unit, default_higher in QUALITY_KPIS:
        target = targets.get(key)
        higher = target.higher_is_better if target is not None else default_higher
        value, detail = current[key]
        before = previous[key][0]
        delta, delta_text, trend = _delta(unit, value, before, higher)
        goal = target.target if target is not None else None
        figures.append(
            QualityFigure(
                key=key,
                label=label,
                unit=unit,
                value=value,
                previous=before,
                higher_is_better=higher,
                target=goal,
                meets_target=meets(target, value) if target is not None else None,
                text=_value_text(unit, value),
                previous_text=_value_text(unit, before),
                aside=f"median {format_duration(median)}"
                if key == "mttr" and median is not None
                else "",
                detail=detail,
                target_text=_target_text(unit, goal),
                delta=delta,
                delta_text=delta_text,
                trend=trend,
            )
        )
    length = dt.timedelta(days=QUALITY_DAYS)
    return QualityFigures(
        now=now,
        first_day=first,
        last_day=last,
        previous_first_day=first - length,
        previous_last_day=last - length,
        figures=tuple(figures),
    )
