"""Vendor scorecards: criteria, weights, measured and judged scores, totals, RAG and credits.

A measured criterion scores 100 at its target and 0 at its floor, linearly between
(the floor may lie above the target when lower is better, as for MTTR). Incident volume is
scored against the vendor's own typical volume (the mean of the four periods before):
at or below it scores 100, double it scores 0. A judged criterion's 1-5 rating maps to
0, 25, 50, 75, 100. The total is the weighted mean of the criteria that have a score; a
criterion that cannot be measured (no incidents resolved, no services, not rated yet) is
shown as *not measurable* with its reason, never as zero, and the other weights are
scaled up. A template whose weights do not sum to 100% gets no total, only a message.

Measured criteria come from the KPI column cache (:class:`~app.services.kpi.KpiColumns`):
every vendor and period is counted in one numpy pass, so 20 vendors x 8 quarters of a
million incidents take a fraction of a second once the columns are loaded.

Periods are calendar quarters (``2026-Q3``) or months (``2026-09``), whole UTC days.
Service credits are worked out per calendar month of the period against each contract's
credit rule (``percent_per_point`` of the monthly fee per point below target, capped).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.models import (
    Contract,
    Incident,
    Outage,
    ReviewAction,
    ScorecardCriterion,
    ScorecardPeriod,
    ScorecardScore,
    ScorecardTemplate,
    Service,
    SlaClock,
    SlaDefinition,
    Vendor,
)
from app.services.kpi import NA, KpiColumns

DAY = 86_400
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Earlier periods whose mean volume is a vendor's typical incident volume.
TYPICAL_PERIODS = 4
TREND_PERIODS = 8
METRICS = ("sla_attainment", "mttr", "incident_count", "availability", "change_success")
UNITS = {
    "sla_attainment": "%",
    "mttr": "hours",
    "incident_count": "incidents",
    "availability": "%",
    "change_success": "%",
}
#: (target, floor) used when a criterion of the template has none.
DEFAULT_BOUNDS = {
    "sla_attainment": (95.0, 60.0),
    "mttr": (48.0, 240.0),
    "availability": (99.9, 98.0),
    "change_success": (95.0, 50.0),
}
ACTION_STATES = ("open", "done", "dropped")
#: Evidence keys :func:`evidence_ids` understands, beside the metrics.
EVIDENCE = (*METRICS, "sla_breached")


class ScorecardError(ValueError):
    """A request the scorecards refuse; ``str(err)`` says why in a sentence."""


class ConflictError(ScorecardError):
    """Someone else saved the row after it was read; nothing was overwritten.

    For vendors and contracts ``theirs`` holds the saved values of the editable fields and
    ``their_version`` the version to save over them with; both are empty otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        theirs: dict[str, Any] | None = None,
        their_version: int | None = None,
    ) -> None:
        super().__init__(message)
        self.theirs: dict[str, Any] = theirs or {}
        self.their_version = their_version


# --- arithmetic ----------------------------------------------------------------------------


def linear_score(value: float | None, target: float | None, floor: float | None) -> float | None:
    """0-100 for ``value`` between ``floor`` (0) and ``target`` (100), clamped."""
    if value is None or target is None or floor is None or target == floor:
        return None
    return round(float(np.clip((value - floor) / (target - floor), 0.0, 1.0)) * 100, 1)


def judged_score(rating: int | None) -> float | None:
    """A 1-5 rating as 0-100."""
    if rating is None:
        return None
    if not 1 <= rating <= 5:
        raise ValueError(f"a judged score is 1-5, not {rating}")
    return (rating - 1) * 25.0


def volume_score(count: float | None, typical: float) -> float | None:
    """Incident volume against the vendor's own typical volume: at or below it scores 100,
    and each 1% above it costs a point (double the typical volume scores 0)."""
    if count is None:
        return None
    if typical <= 0:
        return 100.0
    return round(float(np.clip(100 - (count / typical - 1) * 100, 0, 100)), 1)


def weighted_total(parts: Iterable[tuple[float, float | None]]) -> float | None:
    """Weighted mean of ``(weight, score)`` over the scored parts, 0-100."""
    scored = [(w, s) for w, s in parts if s is not None and w > 0]
    weight = sum(w for w, _ in scored)
    if not weight:
        return None
    return round(sum(w * s for w, s in scored) / weight, 1)


def rag(total: float | None, green_min: float, amber_min: float) -> str | None:
    """green at or above ``green_min``, amber at or above ``amber_min``, else red."""
    if total is None:
        return None
    if total >= green_min:
        return "green"
    return "amber" if total >= amber_min else "red"


def weights_ok(weights: Iterable[float]) -> bool:
    """Whether weights sum to 100 (to a hundredth of a point)."""
    return abs(sum(weights) - 100.0) < 0.005


# --- periods -------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Period:
    """A calendar quarter or month in whole UTC days."""

    year: int
    kind: Literal["month", "quarter"]
    number: int  # month 1-12 or quarter 1-4

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return f"{self.year}-Q{self.number}"
        return f"{self.year}-{self.number:02d}"

    @property
    def start(self) -> dt.date:
        month = 3 * self.number - 2 if self.kind == "quarter" else self.number
        return dt.date(self.year, month, 1)

    @property
    def end(self) -> dt.date:
        """The last day, included."""
        return self.shifted(1).start - dt.timedelta(days=1)

    @property
    def title(self) -> str:
        if self.kind == "quarter":
            return f"Q{self.number} {self.year} ({self.start:%d %b} - {self.end:%d %b %Y})"
        return f"{self.start:%B %Y}"

    def bounds(self) -> tuple[int, int]:
        """``[start, end)`` as epoch seconds."""
        lo = (self.start - dt.date(1970, 1, 1)).days * DAY
        hi = (self.end - dt.date(1970, 1, 1)).days * DAY + DAY
        return lo, hi

    def shifted(self, count: int) -> Period:
        """The period ``count`` quarters or months later (earlier when negative)."""
        size = 4 if self.kind == "quarter" else 12
        index = self.year * size + self.number - 1 + count
        return Period(index // size, self.kind, index % size + 1)

    def months(self) -> list[Period]:
        """The calendar months of the period."""
        if self.kind == "month":
            return [self]
        first = Period(self.year, "month", 3 * self.number - 2)
        return [first.shifted(i) for i in range(3)]

    def __str__(self) -> str:
        return self.label


_PERIOD = re.compile(r"^(\d{4})-(?:[Qq]([1-4])|(\d{2}))$")


def parse_period(text: str | Period) -> Period:
    """``2026-Q3`` (a quarter) or ``2026-09`` (a month); ScorecardError otherwise."""
    if isinstance(text, Period):
        return text
    match = _PERIOD.match(str(text).strip())
    if not match or (match[3] is not None and not 1 <= int(match[3]) <= 12):
        raise ScorecardError(
            f"a period is a quarter like 2026-Q3 or a month like 2026-09, not {text!r}"
        )
    if match[2] is not None:
        return Period(int(match[1]), "quarter", int(match[2]))
    return Period(int(match[1]), "month", int(match[3]))


def period_of(day: dt.date, kind: Literal["month", "quarter"] = "quarter") -> Period:
    """The quarter (or month) holding ``day``."""
    if kind == "quarter":
        return Period(day.year, "quarter", (day.month - 1) // 3 + 1)
    return Period(day.year, "month", day.month)


def previous_quarters(today: dt.date, count: int) -> list[tuple[str, dt.date, dt.date]]:
    """The ``count`` complete quarters before the one holding ``today``, oldest first."""
    current = period_of(today)
    return [(p.label, p.start, p.end) for p in (current.shifted(-k) for k in range(count, 0, -1))]


def trend_periods(period: str | Period, count: int = TREND_PERIODS) -> list[Period]:
    """The ``count`` periods ending with ``period``, oldest first."""
    p = parse_period(period)
    return [p.shifted(-k) for k in range(count - 1, -1, -1)]


def measure_vendor_quarter(
    arrays: Mapping[str, np.ndarray] | None,
    vendor: int,
    lo: int,
    hi: int,
    services: Sequence[int],
    outages: Sequence[Mapping[str, Any]],
) -> dict[str, float | None]:
    """Measured criteria for one vendor over ``[lo, hi)`` (epoch seconds) from incident columns.

    Used by the demo generator on its own arrays (``opened``, ``resolved``, ``vendor``,
    ``breached``, ``finished``, ``resolution_stop``; missing instants are int64 minimum).
    """
    result: dict[str, float | None] = {
        "incident_count": 0.0,
        "sla_attainment": None,
        "mttr": None,
        "availability": None,
    }
    if arrays is not None:
        mine = arrays["vendor"] == vendor
        opened, resolved = arrays["opened"], arrays["resolved"]
        result["incident_count"] = float(np.count_nonzero(mine & (opened >= lo) & (opened < hi)))
        stop = arrays["resolution_stop"]
        done = mine & arrays["finished"] & (stop >= lo) & (stop < hi)
        if done.any():
            result["sla_attainment"] = round(100 * float(np.mean(~arrays["breached"][done])), 2)
        fixed = mine & (resolved >= lo) & (resolved < hi)
        if fixed.any():
            result["mttr"] = round(float(np.mean(resolved[fixed] - opened[fixed])) / 3600, 2)
    if services:
        period = hi - lo
        down = 0.0
        for o in outages:
            if o["service_id"] not in services:
                continue
            start = o["started_at"].timestamp()
            end = o["ended_at"].timestamp() if o["ended_at"] else hi
            down += max(0.0, min(end, hi) - max(start, lo))
        result["availability"] = round(100 * (1 - down / (period * len(services))), 3)
    return result


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionResult:
    """One row of a scorecard. ``score`` None means not measurable, and ``reason`` says why."""

    criterion_id: int
    name: str
    kind: str  # "measured" or "judged"
    metric: str | None
    weight: float
    value: float | None  # the measured value, or the 1-5 rating
    unit: str
    score: float | None
    reason: str  # how the score was made, or why there is none
    evidence: str | None  # key for evidence_ids (measured criteria only)
    target: float | None = None
    floor: float | None = None
    comment: str = ""
    score_id: int | None = None  # the stored judged score, for its version
    version: int | None = None

    @property
    def measurable(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class TargetResult:
    """A contracted SLA target against what the vendor's incidents achieved."""

    contract: str
    metric: str  # response, resolution or availability
    priority: int | None
    target_minutes: int | None
    target_percent: float | None
    met: int
    total: int
    percent: float | None  # share meeting the time target, or availability %
    ok: bool | None  # None: not measurable
    reason: str


@dataclass(frozen=True)
class Scorecard:
    """A vendor's scorecard for one period."""

    vendor_id: int
    vendor: str
    period: str
    start: dt.date
    end: dt.date
    template_id: int
    template: str
    green_min: float
    amber_min: float
    criteria: tuple[CriterionResult, ...]
    total: float | None
    rag: str | None
    weight_sum: float
    incidents: int
    problems: tuple[str, ...] = ()
    targets: tuple[TargetResult, ...] = ()
    service_ids: tuple[int, ...] = ()
    scorecard_id: int | None = None
    version: int | None = None
    status: str = "draft"

    def criterion(self, name_or_id: str | int) -> CriterionResult:
        for c in self.criteria:
            if c.criterion_id == name_or_id or c.name == name_or_id or c.metric == name_or_id:
                return c
        raise KeyError(name_or_id)


# --- what is read from the database --------------------------------------------------------


@dataclass(frozen=True)
class _Criterion:
    id: int
    name: str
    kind: str
    metric: str | None
    weight: float
    target: float | None
    floor: float | None


@dataclass(frozen=True)
class _Template:
    id: int
    name: str
    green_min: float
    amber_min: float
    criteria: tuple[_Criterion, ...]


@dataclass(frozen=True)
class _ContractInfo:
    id: int
    vendor_id: int
    reference: str
    title: str
    starts_on: dt.date
    ends_on: dt.date
    monthly_fee: Decimal
    currency: str
    services: tuple[int, ...]
    targets: tuple[tuple[str, int | None, int | None, float | None], ...]
    rules: tuple[tuple[str, float, float, float], ...]  # metric, target %, per point, cap


@dataclass(frozen=True)
class _Stored:
    """A stored scorecard period and its judged scores."""

    id: int
    template_id: int
    version: int
    status: str
    judged: dict[int, tuple[int | None, str, int, int]]  # criterion -> rating, comment, id, ver


@dataclass
class _World:
    vendors: dict[int, str]
    templates: dict[int, _Template]
    contracts: dict[int, list[_ContractInfo]]
    service_vendor: dict[int, list[int]]
    stored: dict[tuple[int, str], _Stored]
    default_template: int | None
    #: Per vendor, the template of its latest stored scorecard (of any period).
    latest_template: dict[int, int] = field(default_factory=dict)

    def template_for(self, vendor_id: int, label: str) -> _Template:
        """The template of the vendor's scorecard of ``label`` if stored, else of its latest
        stored scorecard, else the newest template (:func:`_template_id` picks the same)."""
        row = self.stored.get((vendor_id, label))
        if row is not None and row.template_id in self.templates:
            return self.templates[row.template_id]
        latest = self.latest_template.get(vendor_id)
        if latest in self.templates:
            return self.templates[latest]
        if self.default_template is None:
            raise ScorecardError(
                "There is no scorecard template: create one with criteria and weights first."
            )
        return self.templates[self.default_template]

    def contracts_in(self, vendor_id: int, period: Period) -> list[_ContractInfo]:
        return [
            c
            for c in self.contracts.get(vendor_id, [])
            if c.starts_on <= period.end and c.ends_on >= period.start
        ]

    def services_of(self, vendor_id: int, period: Period) -> tuple[int, ...]:
        ids = {s for c in self.contracts_in(vendor_id, period) for s in c.services}
        ids.update(self.service_vendor.get(vendor_id, []))
        return tuple(sorted(ids))


def _load_world(
    session: Session, vendor_ids: Sequence[int] | None, labels: Sequence[str]
) -> _World:
    q = select(Vendor.id, Vendor.name)
    if vendor_ids is not None:
        q = q.where(Vendor.id.in_(list(vendor_ids)))
    vendors = dict(session.execute(q.order_by(Vendor.name)).all())
    templates = {}
    for t in session.scalars(
        select(ScorecardTemplate).options(selectinload(ScorecardTemplate.criteria))
    ):
        crit = tuple(
            _Criterion(c.id, c.name, c.kind, c.metric, float(c.weight), c.target, c.floor)
            for c in t.criteria
        )
        templates[t.id] = _Template(t.id, t.name, t.green_min, t.amber_min, crit)
    contracts: dict[int, list[_ContractInfo]] = {}
    cq = select(Contract).options(
        selectinload(Contract.services),
        selectinload(Contract.sla_targets),
        selectinload(Contract.credit_rules),
    )
    if vendor_ids is not None:
        cq = cq.where(Contract.vendor_id.in_(list(vendor_ids)))
    for c in session.scalars(cq.order_by(Contract.starts_on, Contract.id)):
        contracts.setdefault(c.vendor_id, []).append(
            _ContractInfo(
                c.id, c.vendor_id, c.reference, c.title, c.starts_on, c.ends_on,
                Decimal(c.monthly_fee or 0), c.currency,
                tuple(sorted(s.id for s in c.services)),
                tuple((t.metric, t.priority, t.target_minutes, t.target_percent)
                      for t in c.sla_targets),
                tuple((r.metric, r.target_percent, r.percent_per_point, r.cap_percent)
                      for r in c.credit_rules),
            )
        )  # fmt: skip
    service_vendor: dict[int, list[int]] = {}
    for sid, vid in session.execute(
        select(Service.id, Service.vendor_id).where(Service.vendor_id.is_not(None))
    ):
        service_vendor.setdefault(vid, []).append(sid)
    stored: dict[tuple[int, str], _Stored] = {}
    pq = select(ScorecardPeriod).options(selectinload(ScorecardPeriod.scores))
    pq = pq.where(ScorecardPeriod.period.in_(list(labels)))
    if vendor_ids is not None:
        pq = pq.where(ScorecardPeriod.vendor_id.in_(list(vendor_ids)))
    for p in session.scalars(pq.order_by(ScorecardPeriod.id)):
        judged = {s.criterion_id: (s.judged, s.comment or "", s.id, s.version) for s in p.scores}
        stored[(p.vendor_id, p.period)] = _Stored(p.id, p.template_id, p.version, p.status, judged)
    newest = (
        select(ScorecardPeriod.vendor_id, func.max(ScorecardPeriod.id).label("id"))
        .group_by(ScorecardPeriod.vendor_id)
        .subquery()
    )
    lq = select(ScorecardPeriod.vendor_id, ScorecardPeriod.template_id).join(
        newest, ScorecardPeriod.id == newest.c.id
    )
    if vendor_ids is not None:
        lq = lq.where(ScorecardPeriod.vendor_id.in_(list(vendor_ids)))
    latest = {v: t for v, t in session.execute(lq)}
    # A vendor without a scorecard yet gets the newest template: the standard one a
    # database starts with, until someone makes their own.
    default = max(templates) if templates else None
    return _World(vendors, templates, contracts, service_vendor, stored, default, latest)


# --- measuring: every vendor and period in one numpy pass ----------------------------------


@dataclass
class _Grid:
    """Measures per (vendor index, period index) of consecutive periods."""

    periods: list[Period]
    vendor_index: dict[int, int]
    count: np.ndarray
    mttr_sum: np.ndarray
    mttr_n: np.ndarray
    sla_n: np.ndarray
    sla_breached: np.ndarray
    change_n: np.ndarray
    change_ok: np.ndarray
    first_data: int  # the first instant with incident data (epoch seconds)


def _lut(vendor_ids: Sequence[int], values: np.ndarray) -> np.ndarray:
    """Each value's vendor index (-1: not one of ``vendor_ids``)."""
    top = max(max(vendor_ids, default=0), int(values.max(initial=0))) + 1
    lut = np.full(top + 1, -1, dtype=np.int64)
    lut[np.asarray(vendor_ids, dtype=np.int64)] = np.arange(len(vendor_ids))
    return np.where(values >= 0, lut[np.clip(values, 0, top)], -1)


def _bucket(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(edges, values, side="right") - 1
    return np.where((values == NA) | (pos < 0) | (pos >= edges.size - 1), -1, pos)


def _grid(cols: KpiColumns, vendor_ids: Sequence[int], periods: list[Period]) -> _Grid:
    nv, nb = len(vendor_ids), len(periods)
    edges = np.array([p.bounds()[0] for p in periods] + [periods[-1].bounds()[1]], np.int64)
    size = nv * nb

    def tally(vi: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        ok = (vi >= 0) & (b >= 0)
        w = None if weights is None else weights[ok]
        out = np.bincount(vi[ok] * nb + b[ok], weights=w, minlength=size)[:size]
        return out.reshape(nv, nb)

    inc = cols.incidents
    vi_all = _lut(vendor_ids, inc["vendor_id"])
    sel = np.flatnonzero(vi_all >= 0)
    vi = vi_all[sel]
    opened, resolved = inc["opened_at"][sel], inc["resolved_at"][sel]
    count = tally(vi, _bucket(edges, opened))
    good = (opened != NA) & (resolved != NA) & (resolved >= opened)
    b_res = np.where(good, _bucket(edges, resolved), -1)
    hours = np.where(good, (resolved - opened) / 3600.0, 0.0)
    mttr_n = tally(vi, b_res)
    mttr_sum = tally(vi, b_res, hours)

    ck = cols.clocks
    pos = ck["pos"]
    cvi = np.where((pos >= 0) & (ck["target"] > 0), vi_all[np.maximum(pos, 0)], -1)
    b_stop = _bucket(edges, ck["stopped_at"])
    sla_n = tally(cvi, b_stop)
    sla_breached = tally(np.where(ck["breached"], cvi, -1), b_stop)

    ch = cols.changes
    chv = _lut(vendor_ids, ch["vendor_id"]) if ch["id"].size else np.zeros(0, np.int64)
    b_done = _bucket(edges, ch["done_at"]) if ch["id"].size else chv
    impl = np.where(ch["implemented"], chv, -1) if ch["id"].size else chv
    change_n = tally(impl, b_done)
    change_ok = tally(np.where(ch["success"], impl, -1) if ch["id"].size else impl, b_done)
    valid = inc["opened_at"][inc["opened_at"] != NA]
    first = int(valid.min()) if valid.size else 0
    return _Grid(
        periods, {v: i for i, v in enumerate(vendor_ids)}, count, mttr_sum, mttr_n, sla_n,
        sla_breached, change_n, change_ok, first,
    )  # fmt: skip


def _availability(
    cols: KpiColumns, services: Sequence[int], period: Period, now: int
) -> tuple[float | None, float, int]:
    """Availability % of ``services`` together, outage seconds and outage count."""
    if not services:
        return None, 0.0, 0
    lo, hi = period.bounds()
    hi_eff = min(hi, max(now, lo))
    out = cols.outages
    if hi_eff <= lo:
        return None, 0.0, 0
    mine = np.isin(out["service_id"], np.asarray(services, dtype=np.int64))
    start = out["started_at"][mine]
    stop = np.where(out["ended_at"][mine] == NA, now, out["ended_at"][mine])
    overlap = np.minimum(stop, hi_eff) - np.maximum(start, lo)
    hit = (start != NA) & (overlap > 0)
    down = float(overlap[hit].sum())
    span = float(hi_eff - lo) * len(services)
    return round(100.0 * (1 - down / span), 3), down, int(hit.sum())


def _target_results(
    cols: KpiColumns, vendor_id: int, period: Period, contracts: Sequence[_ContractInfo],
    availability: float | None,
) -> tuple[TargetResult, ...]:  # fmt: skip
    """Each contracted target of the period's contracts against the vendor's incidents."""
    inc = cols.incidents
    lo, hi = period.bounds()
    mine = inc["vendor_id"] == vendor_id
    out = []
    for c in contracts:
        for metric, priority, minutes, percent in sorted(
            c.targets, key=lambda t: (t[0], t[1] or 0)
        ):
            if metric == "availability":
                ok = None if availability is None or percent is None else availability >= percent
                reason = (
                    "no services under the contract" if availability is None
                    else f"{availability:.3f}% available against {percent}%"
                )  # fmt: skip
                out.append(TargetResult(c.reference, metric, None, None, percent, 0, 0,
                                        availability, ok, reason))  # fmt: skip
                continue
            if metric not in ("response", "resolution") or minutes is None:
                out.append(TargetResult(c.reference, metric, priority, minutes, percent, 0, 0,
                                        None, None, f"target {metric!r} is not measurable"))  # fmt: skip
                continue
            prio = mine if priority is None else mine & (inc["priority"] == priority)
            opened = inc["opened_at"]
            if metric == "response":
                at = inc["first_response_at"]
                rows = prio & (opened >= lo) & (opened < hi) & (at != NA) & (opened != NA)
            else:
                at = inc["resolved_at"]
                rows = prio & (at >= lo) & (at < hi) & (opened != NA) & (at >= opened)
            total = int(rows.sum())
            met = int(((at[rows] - opened[rows]) <= minutes * 60).sum())
            share = None if total == 0 else 100.0 * met / total
            what = "opened with a response" if metric == "response" else "resolved"
            if share is None:
                ok, reason = None, f"not measurable: no P{priority} incident {what} in {period}"
            else:
                ok = None if percent is None else share >= percent
                reason = f"{met:,} of {total:,} within {minutes:,} min"
            out.append(TargetResult(c.reference, metric, priority, minutes, percent, met, total,
                                    share, ok, reason))  # fmt: skip
    return tuple(out)


def _epoch_now(now: dt.datetime | None) -> int:
    return int(((now or dt.datetime.now(dt.UTC)) - _EPOCH).total_seconds())


def _measured(
    crit: _Criterion, grid: _Grid, v: int, b: int, label: str, availability: float | None,
    services: Sequence[int],
) -> CriterionResult:  # fmt: skip
    metric = crit.metric or ""
    unit = UNITS.get(metric, "")
    target, floor = crit.target, crit.floor
    default = target is None or floor is None
    if default and metric in DEFAULT_BOUNDS:
        target, floor = DEFAULT_BOUNDS[metric]
    bounds_note = " (default target and floor)" if default and metric in DEFAULT_BOUNDS else ""
    value: float | None = None
    basis = ""
    if metric == "sla_attainment":
        n, missed = int(grid.sla_n[v, b]), int(grid.sla_breached[v, b])
        if n:
            value = round(100.0 * (n - missed) / n, 2)
            basis = f"{n - missed:,} of {n:,} SLA clocks achieved"
        else:
            basis = f"not measurable: no SLA clock of the vendor's incidents finished in {label}"
    elif metric == "mttr":
        n = int(grid.mttr_n[v, b])
        if n:
            value = round(float(grid.mttr_sum[v, b]) / n, 2)
            basis = f"mean over {n:,} incidents resolved"
        else:
            basis = f"not measurable: no incident of the vendor was resolved in {label}"
    elif metric == "incident_count":
        value = float(grid.count[v, b])
        if crit.target is None or crit.floor is None:
            history = [
                k for k in range(max(b - TYPICAL_PERIODS, 0), b)
                if grid.periods[k].bounds()[0] >= grid.first_data - 31 * DAY
            ]  # fmt: skip
            typical = float(np.mean(grid.count[v, history])) if history else 0.0
            if typical <= 0:
                return _result(crit, value, unit, None, (
                    f"not measurable: {int(value):,} incidents, and none in the "
                    f"{TYPICAL_PERIODS} periods before to compare with"), None, None)  # fmt: skip
            target, floor = round(typical, 2), round(2 * typical, 2)
            bounds_note = ""
            basis = (
                f"{int(value):,} incidents opened against a typical {typical:,.1f} "
                f"(mean of the {len(history)} periods before)"
            )
        else:
            basis = f"{int(value):,} incidents opened"
    elif metric == "availability":
        if availability is None:
            basis = "not measurable: no services under the vendor's contracts"
        else:
            value = availability
            basis = f"{len(services)} service{'s' if len(services) != 1 else ''}"
    elif metric == "change_success":
        n, ok = int(grid.change_n[v, b]), int(grid.change_ok[v, b])
        if n:
            value = round(100.0 * ok / n, 2)
            basis = f"{ok:,} of {n:,} implemented changes successful"
        else:
            basis = f"not measurable: no change of the vendor was implemented in {label}"
    else:
        basis = f"not measurable: unknown metric {crit.metric!r}"
    score = linear_score(value, target, floor)
    if value is not None and score is None:
        basis = f"not measurable: target and floor are equal ({target})"
    return _result(crit, value, unit, score, basis + bounds_note, target, floor)


def _result(
    crit: _Criterion, value: float | None, unit: str, score: float | None, reason: str,
    target: float | None, floor: float | None,
) -> CriterionResult:  # fmt: skip
    return CriterionResult(
        crit.id, crit.name, crit.kind, crit.metric, crit.weight, value, unit, score, reason,
        crit.metric, target, floor,
    )  # fmt: skip


def _judged(crit: _Criterion, stored: _Stored | None) -> CriterionResult:
    rating, comment, score_id, version = (
        stored.judged.get(crit.id, (None, "", None, None)) if stored else (None, "", None, None)
    )
    if rating is None:
        score, reason = None, "not measurable: not rated yet (enter 1-5 at the review)"
    elif not 1 <= rating <= 5:
        score, reason = None, f"not measurable: the stored rating {rating} is outside 1-5"
    else:
        score, reason = judged_score(rating), f"rated {rating} of 5"
    return CriterionResult(
        crit.id, crit.name, "judged", None, crit.weight,
        None if rating is None else float(rating), "1-5", score, reason, None,
        comment=comment, score_id=score_id, version=version,
    )  # fmt: skip


def _build(
    world: _World, grid: _Grid, cols: KpiColumns | None, vendor_id: int, period: Period,
    now: int, with_targets: bool,
) -> Scorecard:  # fmt: skip
    label = period.label
    template = world.template_for(vendor_id, label)
    stored = world.stored.get((vendor_id, label))
    v, b = grid.vendor_index[vendor_id], grid.periods.index(period)
    services = world.services_of(vendor_id, period)
    availability = None
    if cols is not None:
        availability = _availability(cols, services, period, now)[0]
    rows = []
    for crit in template.criteria:
        if crit.kind == "judged":
            rows.append(_judged(crit, stored))
        else:
            rows.append(_measured(crit, grid, v, b, label, availability, services))
    weight_sum = round(sum(c.weight for c in template.criteria), 4)
    problems = []
    name = world.vendors.get(vendor_id, f"vendor #{vendor_id}")
    total = weighted_total((c.weight, c.score) for c in rows)
    if not template.criteria:
        problems.append(f"The template {template.name!r} has no criteria.")
    elif not weights_ok(c.weight for c in template.criteria):
        problems.append(
            f"The weights of {template.name!r} sum to {weight_sum:g}%, not 100%: "
            "no total until they are corrected."
        )
        total = None
    elif total is None:
        problems.append(f"Nothing on the scorecard is measurable for {name} in {label}.")
    incidents = int(grid.count[v, b])
    if incidents == 0:
        problems.append(
            f"No incidents are attributed to {name} in {label}: criteria that need them "
            "are not measurable."
        )
    contracts = world.contracts_in(vendor_id, period)
    if not contracts:
        problems.append(f"{name} has no contract covering {label}.")
    for c in contracts:
        if not c.targets:
            problems.append(f"Contract {c.reference} has no SLA targets to measure against.")
    targets: tuple[TargetResult, ...] = ()
    if with_targets and cols is not None:
        targets = _target_results(cols, vendor_id, period, contracts, availability)
    return Scorecard(
        vendor_id, name, label, period.start, period.end, template.id, template.name,
        template.green_min, template.amber_min, tuple(rows), total,
        rag(total, template.green_min, template.amber_min), weight_sum, incidents,
        tuple(problems), targets, services, stored.id if stored else None,
        stored.version if stored else None, stored.status if stored else "draft",
    )  # fmt: skip


def _compute(
    cols: KpiColumns, session: Session, vendor_ids: Sequence[int] | None,
    periods: Sequence[Period], now: dt.datetime | None, with_targets: bool,
) -> dict[tuple[int, str], Scorecard]:  # fmt: skip
    periods = sorted(set(periods))
    kinds = {p.kind for p in periods}
    if len(kinds) != 1:
        raise ScorecardError("periods must all be months or all be quarters")
    first, last = periods[0], periods[-1]
    size = 4 if first.kind == "quarter" else 12
    steps = (last.year - first.year) * size + last.number - first.number
    span = [first.shifted(k) for k in range(-TYPICAL_PERIODS, steps + 1)]
    world = _load_world(session, vendor_ids, [p.label for p in periods])
    if vendor_ids is not None:
        missing = [v for v in vendor_ids if v not in world.vendors]
        if missing:
            raise ScorecardError(f"no vendor with id {missing[0]}")
    ids = list(world.vendors)
    grid = _grid(cols, ids, span)
    now_s = _epoch_now(now)
    return {
        (v, p.label): _build(world, grid, cols, v, p, now_s, with_targets)
        for v in ids
        for p in periods
    }


def scorecard(
    cols: KpiColumns,
    session: Session,
    vendor_id: int,
    period: str | Period,
    now: dt.datetime | None = None,
) -> Scorecard:
    """The scorecard of one vendor and period, with its contract targets."""
    p = parse_period(period)
    return _compute(cols, session, [vendor_id], [p], now, True)[(vendor_id, p.label)]


def all_scorecards(
    cols: KpiColumns,
    session: Session,
    period: str | Period,
    now: dt.datetime | None = None,
    *,
    active_only: bool = True,
) -> list[Scorecard]:
    """Every vendor's scorecard for ``period``, by vendor name (contract targets left out)."""
    p = parse_period(period)
    ids = _vendor_ids(session, active_only)
    cards = _compute(cols, session, ids, [p], now, False)
    return [cards[(v, p.label)] for v in ids]


def _vendor_ids(session: Session, active_only: bool) -> list[int]:
    q = select(Vendor.id).order_by(Vendor.name)
    if active_only:
        q = q.where(Vendor.active.is_(True))
    return list(session.scalars(q))


def scorecard_grid(
    cols: KpiColumns,
    session: Session,
    periods: Sequence[str | Period],
    vendor_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> dict[tuple[int, str], Scorecard]:
    """Scorecards of many vendors (default: the active ones) and periods in one pass,
    keyed by ``(vendor id, period label)``."""
    ps = [parse_period(p) for p in periods]
    ids = list(vendor_ids) if vendor_ids is not None else _vendor_ids(session, True)
    return _compute(cols, session, ids, ps, now, False)


def trend(
    cols: KpiColumns,
    session: Session,
    vendor_id: int,
    periods: Sequence[str | Period] | str | Period,
    now: dt.datetime | None = None,
    count: int = TREND_PERIODS,
) -> list[Scorecard]:
    """The vendor's scorecards over ``periods`` (or the ``count`` ending with one period),
    oldest first."""
    if isinstance(periods, str | Period):
        ps = trend_periods(periods, count)
    else:
        ps = sorted({parse_period(p) for p in periods})
    cards = _compute(cols, session, [vendor_id], ps, now, False)
    return [cards[(vendor_id, p.label)] for p in ps]


# --- evidence: the incidents behind a figure -----------------------------------------------


def evidence_ids(
    cols: KpiColumns,
    vendor_id: int,
    period: str | Period,
    criterion: str,
    services: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> np.ndarray:
    """Sorted ids of the incidents behind a measured figure of the vendor's scorecard.

    ``criterion``: a metric (``sla_attainment``: incidents with an SLA clock finished in
    the period; ``mttr``: resolved in it; ``incident_count``: opened in it;
    ``availability``: the incidents behind outages of ``services`` (default: outages
    whose incident is the vendor's); ``change_success``: incidents caused by the vendor's
    changes implemented in the period) or ``sla_breached`` (breached clocks only).
    """
    if criterion not in EVIDENCE:
        raise ScorecardError(f"unknown criterion {criterion!r}; use one of {', '.join(EVIDENCE)}")
    lo, hi = parse_period(period).bounds()
    inc = cols.incidents
    ids = inc["id"]
    mine = inc["vendor_id"] == vendor_id
    opened, resolved = inc["opened_at"], inc["resolved_at"]
    if criterion == "incident_count":
        return np.sort(ids[mine & (opened >= lo) & (opened < hi)])
    if criterion == "mttr":
        hit = mine & (resolved >= lo) & (resolved < hi) & (opened != NA) & (resolved >= opened)
        return np.sort(ids[hit])
    if criterion in ("sla_attainment", "sla_breached"):
        ck = cols.clocks
        pos = ck["pos"]
        ok = (pos >= 0) & (ck["target"] > 0) & (ck["stopped_at"] >= lo) & (ck["stopped_at"] < hi)
        ok &= mine[np.maximum(pos, 0)]
        if criterion == "sla_breached":
            ok &= ck["breached"]
        return np.unique(ck["incident_id"][ok])
    if criterion == "availability":
        out = cols.outages
        stop = np.where(out["ended_at"] == NA, _epoch_now(now), out["ended_at"])
        hit = (out["started_at"] != NA) & (stop > lo) & (out["started_at"] < hi)
        hit &= out["incident_id"] != NA
        if services is not None:
            hit &= np.isin(out["service_id"], np.asarray(list(services), dtype=np.int64))
            return np.unique(out["incident_id"][hit])
        cand = np.unique(out["incident_id"][hit])
        pos = np.clip(np.searchsorted(ids, cand), 0, max(ids.size - 1, 0))
        keep = (ids.size > 0) & (ids[pos] == cand) & mine[pos]
        return cand[keep]
    ch = cols.changes
    done = (ch["vendor_id"] == vendor_id) & ch["implemented"]
    done &= (ch["done_at"] >= lo) & (ch["done_at"] < hi)
    changed = ch["id"][done]
    cb = cols.caused_by
    return np.unique(cb[np.isin(cb[:, 1], changed), 0])


def breached_slas(
    session: Session, cols: KpiColumns, vendor_id: int, period: str | Period, limit: int = 5000
) -> list[dict[str, Any]]:
    """The breached SLA clocks of the vendor's incidents that finished in the period
    (incident number, priority, SLA, due, stopped, hours over), latest first."""
    p = parse_period(period)
    ids = evidence_ids(cols, vendor_id, p, "sla_breached").tolist()
    lo = dt.datetime.combine(p.start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(p.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    rows: list[dict[str, Any]] = []
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        rows += [
            {
                "number": r.number, "priority": r.priority, "short_description":
                r.short_description, "sla": r.name, "target": r.target, "due_at": r.due_at,
                "stopped_at": r.stopped_at,
                "hours_over": None if r.due_at is None or r.stopped_at is None
                else round((r.stopped_at - r.due_at).total_seconds() / 3600, 2),
            }
            for r in session.execute(
                select(Incident.number, Incident.priority, Incident.short_description,
                       SlaDefinition.name, SlaDefinition.target, SlaClock.due_at,
                       SlaClock.stopped_at)
                .join(SlaClock, SlaClock.incident_id == Incident.id)
                .join(SlaDefinition, SlaDefinition.id == SlaClock.definition_id)
                .where(Incident.id.in_(chunk), SlaDefinition.kind == "SLA",
                       SlaClock.stopped_at >= lo, SlaClock.stopped_at < hi,
                       (SlaClock.breached.is_(True)) | (SlaClock.stage == "breached"))
            )
        ]  # fmt: skip
    rows.sort(key=lambda r: (r["stopped_at"] or lo, r["number"]), reverse=True)
    return rows[:limit]


# --- service credits -----------------------------------------------------------------------


@dataclass(frozen=True)
class CreditLine:
    """The credit of one contract rule in one month."""

    contract: str
    month: str
    metric: str
    measured: float | None
    target: float
    points_below: float | None
    percent_per_point: float
    cap_percent: float
    credit_percent: float | None
    monthly_fee: float
    currency: str
    amount: float | None
    text: str


@dataclass(frozen=True)
class CreditCalculation:
    """Service credits owed by a vendor for a period, with each step in words."""

    vendor_id: int
    vendor: str
    period: str
    lines: tuple[CreditLine, ...]
    totals: dict[str, float]  # currency -> amount owed
    steps: tuple[str, ...]

    @property
    def total(self) -> float:
        return round(sum(self.totals.values()), 2)


def _monthly_attainment(session: Session, vendor_id: int, month: Period) -> tuple[int, int]:
    """(achieved, finished) SLA clocks of the vendor's incidents in ``month``, by SQL."""
    lo = dt.datetime.combine(month.start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(month.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    rows = session.execute(
        select(SlaClock.stage, SlaClock.breached)
        .join(Incident, Incident.id == SlaClock.incident_id)
        .join(SlaDefinition, SlaDefinition.id == SlaClock.definition_id)
        .where(Incident.vendor_id == vendor_id, SlaDefinition.kind == "SLA",
               SlaClock.stage.in_(("achieved", "breached")), SlaClock.stopped_at >= lo,
               SlaClock.stopped_at < hi)
    ).all()  # fmt: skip
    missed = sum(1 for stage, breached in rows if stage == "breached" or breached)
    return len(rows) - missed, len(rows)


def _sql_availability(
    session: Session, services: Sequence[int], month: Period, now: dt.datetime
) -> float | None:
    if not services:
        return None
    lo = dt.datetime.combine(month.start, dt.time(), dt.UTC)
    hi = min(dt.datetime.combine(month.end + dt.timedelta(days=1), dt.time(), dt.UTC), now)
    if hi <= lo:
        return None
    down = 0.0
    for start, end in session.execute(
        select(Outage.started_at, Outage.ended_at).where(
            Outage.service_id.in_(list(services)), Outage.started_at < hi
        )
    ):
        stop = min(end or now, hi)
        down += max(0.0, (stop - max(start, lo)).total_seconds())
    span = (hi - lo).total_seconds() * len(services)
    return round(100.0 * (1 - down / span), 3)


def credits(
    session: Session,
    vendor_id: int,
    period: str | Period,
    cols: KpiColumns | None = None,
    now: dt.datetime | None = None,
) -> CreditCalculation:
    """Service credits owed for ``period``: each contract rule, month by month.

    Credit % = min(cap, points below target x % per point) of that month's fee; points are
    measured to the hundredth (99.41% against 99.90% is 0.49 points). Availability is over
    the contract's services (outages clipped to the month; a month not yet over counts
    until ``now``); ``sla_attainment`` over the SLA clocks of the vendor's incidents.
    """
    found = credits_of(session, [vendor_id], period, cols, now)
    if vendor_id not in found:
        raise ScorecardError(f"no vendor with id {vendor_id}")
    return found[vendor_id]


def credits_of(
    session: Session,
    vendor_ids: Sequence[int],
    period: str | Period,
    cols: KpiColumns | None = None,
    now: dt.datetime | None = None,
) -> dict[int, CreditCalculation]:
    """:func:`credits` of several vendors, their contracts read once (unknown ids left out)."""
    p = parse_period(period)
    now = now or dt.datetime.now(dt.UTC)
    world = _load_world(session, list(vendor_ids), [])
    known = [v for v in vendor_ids if v in world.vendors]
    # SLA attainment per vendor and month, in one pass over the KPI columns.
    grid = _grid(cols, known, p.months()) if cols is not None and known else None
    return {v: _credits(session, world, grid, v, p, cols, now) for v in known}


def _credits(
    session: Session,
    world: _World,
    grid: _Grid | None,
    vendor_id: int,
    p: Period,
    cols: KpiColumns | None,
    now: dt.datetime,
) -> CreditCalculation:
    name = world.vendors[vendor_id]
    lines: list[CreditLine] = []
    steps: list[str] = []
    totals: dict[str, float] = {}
    contracts = world.contracts_in(vendor_id, p)
    if not contracts:
        steps.append(f"{name} has no contract covering {p.label}: no credits can be owed.")
    now_s = _epoch_now(now)
    for c in contracts:
        if not c.rules:
            steps.append(f"Contract {c.reference} has no service-credit rule: no credits.")
            continue
        fee = float(c.monthly_fee)
        services = c.services or world.services_of(vendor_id, p)
        for metric, target, per_point, cap in c.rules:
            for month_index, m in enumerate(p.months()):
                if m.start > now.date():
                    continue
                if not (c.starts_on <= m.end and c.ends_on >= m.start):
                    steps.append(f"{c.reference}, {m.title}: outside the contract's term.")
                    continue
                measured, basis = _credit_measure(session, cols, grid, vendor_id, metric,
                                                  services, m, month_index, now, now_s)  # fmt: skip
                lines.append(_credit_line(c, m, metric, measured, basis, target, per_point, cap,
                                          fee))  # fmt: skip
                steps.append(lines[-1].text)
                if lines[-1].amount:
                    totals[c.currency] = round(totals.get(c.currency, 0.0) + lines[-1].amount, 2)
    if lines:
        owed = ", ".join(f"{cur} {amt:,.2f}" for cur, amt in totals.items()) or "nothing"
        steps.append(f"Total credits owed for {p.label}: {owed}.")
    return CreditCalculation(vendor_id, name, p.label, tuple(lines), totals, tuple(steps))


def _credit_measure(
    session: Session, cols: KpiColumns | None, grid: _Grid | None, vendor_id: int, metric: str,
    services: Sequence[int], month: Period, month_index: int, now: dt.datetime, now_s: int,
) -> tuple[float | None, str]:  # fmt: skip
    if metric == "availability":
        if cols is not None:
            value = _availability(cols, services, month, now_s)[0]
        else:
            value = _sql_availability(session, services, month, now)
        if value is None:
            return None, "no services under the contract"
        return value, f"availability of {len(services)} service{'s' if len(services) != 1 else ''}"
    if metric == "sla_attainment":
        if grid is not None:
            v = grid.vendor_index[vendor_id]
            n = int(grid.sla_n[v, month_index])
            achieved = n - int(grid.sla_breached[v, month_index])
        else:
            achieved, n = _monthly_attainment(session, vendor_id, month)
        if n == 0:
            return None, "no SLA clock of the vendor's incidents finished"
        return round(100.0 * achieved / n, 2), f"{achieved:,} of {n:,} SLA clocks achieved"
    return None, f"the credit rule's metric {metric!r} is not one Servicedeck measures"


def _credit_line(
    c: _ContractInfo, m: Period, metric: str, measured: float | None, basis: str,
    target: float, per_point: float, cap: float, fee: float,
) -> CreditLine:  # fmt: skip
    head = f"{c.reference}, {m.title}: {metric.replace('_', ' ')}"
    if measured is None:
        text = f"{head} not measurable ({basis}): no credit worked out."
        return CreditLine(c.reference, m.label, metric, None, target, None, per_point, cap, None,
                          fee, c.currency, None, text)  # fmt: skip
    below = round(max(0.0, target - measured), 2)
    percent = round(min(cap, below * per_point), 2)
    amount = round(fee * percent / 100.0, 2)
    if below == 0:
        text = f"{head} {measured:g}% ({basis}) meets the {target:g}% target: no credit."
    else:
        capped = " (capped)" if below * per_point > cap else ""
        text = (
            f"{head} {measured:g}% ({basis}) is {below:g} points below the {target:g}% "
            f"target; {below:g} x {per_point:g}% per point = {below * per_point:g}%, "
            f"cap {cap:g}% -> {percent:g}%{capped} of the monthly fee {c.currency} "
            f"{fee:,.2f} = {c.currency} {amount:,.2f}."
        )
    return CreditLine(c.reference, m.label, metric, measured, target, below, per_point, cap,
                      percent, fee, c.currency, amount, text)  # fmt: skip


# --- editing: judged scores, weights, thresholds, actions ----------------------------------


@dataclass(frozen=True)
class JudgedScore:
    """A stored judged rating."""

    score_id: int
    period_id: int
    criterion_id: int
    rating: int
    comment: str
    version: int


@dataclass(frozen=True)
class ActionItem:
    """An action agreed at a vendor review."""

    id: int
    period: str
    description: str
    owner: str
    due_on: dt.date | None
    status: str
    version: int

    def overdue(self, today: dt.date) -> bool:
        return self.status == "open" and self.due_on is not None and self.due_on < today


@contextmanager
def _as_author(session: Session, author: str | None) -> Iterator[None]:
    """Record ``author`` as the audit log's user while flushing (the session's user otherwise)."""
    if not author:
        yield
        return
    before = session.info.get("username")
    session.info["username"] = author
    try:
        yield
    finally:
        session.info["username"] = before


def _flush(session: Session, what: str) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(
            f"{what} was changed by someone else while it was being saved; "
            "nothing was overwritten. Open it again and repeat your change."
        ) from None


def _vendor_name(session: Session, vendor_id: int) -> str:
    name = session.scalar(select(Vendor.name).where(Vendor.id == vendor_id))
    if name is None:
        raise ScorecardError(f"no vendor with id {vendor_id}")
    return name


def _template_id(session: Session, vendor_id: int) -> int:
    """The template of the vendor's latest stored scorecard, else the newest template (as
    :meth:`_World.template_for` picks it)."""
    _vendor_name(session, vendor_id)
    template_id = session.scalar(
        select(ScorecardPeriod.template_id)
        .where(ScorecardPeriod.vendor_id == vendor_id)
        .order_by(ScorecardPeriod.id.desc())
    ) or session.scalar(select(ScorecardTemplate.id).order_by(ScorecardTemplate.id.desc()))
    if template_id is None:
        raise ScorecardError(
            "There is no scorecard template: create one with criteria and weights first."
        )
    return template_id


def _period_row(
    session: Session, vendor_id: int, period: Period, create: bool = True
) -> ScorecardPeriod | None:
    """The vendor's stored scorecard of ``period`` (made, as a draft, when missing)."""
    row = session.scalar(
        select(ScorecardPeriod)
        .where(ScorecardPeriod.vendor_id == vendor_id, ScorecardPeriod.period == period.label)
        .order_by(ScorecardPeriod.id)
    )
    if row is not None or not create:
        return row
    template_id = _template_id(session, vendor_id)
    row = ScorecardPeriod(
        vendor_id=vendor_id, template_id=template_id, period=period.label,
        starts_on=period.start, ends_on=period.end, status="draft",
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _criterion(session: Session, template_id: int, key: str | int) -> ScorecardCriterion:
    crits = session.scalars(
        select(ScorecardCriterion).where(ScorecardCriterion.template_id == template_id)
    ).all()
    for c in crits:
        if (
            c.id == key
            or c.name == key
            or (isinstance(key, str) and c.name.casefold() == key.strip().casefold())
        ):
            return c
    names = ", ".join(c.name for c in crits)
    raise ScorecardError(f"the scorecard has no criterion {key!r} (it has {names})")


def _rating(score: Any) -> int:
    if isinstance(score, bool):
        raise ScorecardError(f"a judged score is a whole number from 1 to 5, not {score!r}")
    try:
        value = float(str(score).strip()) if not isinstance(score, int | float) else float(score)
    except ValueError:
        raise ScorecardError(
            f"a judged score is a whole number from 1 to 5, not {score!r}"
        ) from None
    if not math.isfinite(value) or value != int(value) or not 1 <= value <= 5:
        raise ScorecardError(f"a judged score is a whole number from 1 to 5, not {score!r}")
    return int(value)


def set_judged_score(
    session: Session,
    vendor_id: int,
    period: str | Period,
    criterion: str | int,
    score: int,
    comment: str = "",
    expected_version: int | None = None,
    author: str | None = None,
) -> JudgedScore:
    """Rate a judged criterion 1-5 with a comment for the vendor's period.

    ``expected_version`` is the rating's version as read (None: not checked; 0: there was
    none). A rating saved by someone else since raises :class:`ConflictError`.
    """
    p = parse_period(period)
    rating = _rating(score)
    existing = _period_row(session, vendor_id, p, create=False)
    crit = _criterion(
        session, existing.template_id if existing else _template_id(session, vendor_id), criterion
    )
    if crit.kind != "judged":
        raise ScorecardError(f"{crit.name} is measured from the data; it cannot be rated by hand")
    row = existing or _period_row(session, vendor_id, p)
    assert row is not None
    stored = session.scalar(
        select(ScorecardScore).where(
            ScorecardScore.period_id == row.id, ScorecardScore.criterion_id == crit.id
        )
    )
    current = stored.version if stored is not None else 0
    if expected_version is not None and expected_version != current:
        theirs = "removed" if stored is None else f"rated {stored.judged} of 5"
        raise ConflictError(
            f"{crit.name} for {_vendor_name(session, vendor_id)} in {p.label} was changed by "
            f"someone else after you opened it (now {theirs}). Nothing was overwritten."
        )
    with _as_author(session, author):
        if stored is None:
            stored = ScorecardScore(period_id=row.id, criterion_id=crit.id)
            session.add(stored)
        stored.judged = rating
        stored.score = judged_score(rating)
        stored.comment = comment.strip()
        _flush(session, f"{crit.name} for {p.label}")
        _restore_total(session, row)
        _flush(session, f"The scorecard of {p.label}")
    return JudgedScore(stored.id, row.id, crit.id, rating, stored.comment, stored.version)


def _restore_total(session: Session, row: ScorecardPeriod) -> None:
    """Recompute a stored period's total and RAG from its stored scores, when every
    measured criterion has one (see :func:`save_scorecard`)."""
    template = session.get(ScorecardTemplate, row.template_id)
    assert template is not None
    scores = {
        s.criterion_id: s
        for s in session.scalars(select(ScorecardScore).where(ScorecardScore.period_id == row.id))
    }
    if any(c.kind == "measured" and c.id not in scores for c in template.criteria):
        return
    if not weights_ok(c.weight for c in template.criteria):
        total = None
    else:
        total = weighted_total(
            (c.weight, scores[c.id].score if c.id in scores else None) for c in template.criteria
        )
    row.total = total
    row.rag = rag(total, template.green_min, template.amber_min)


def save_scorecard(session: Session, card: Scorecard, author: str | None = None) -> int:
    """Store a computed scorecard (measured values and scores, total, RAG) so lists such as
    Today's red vendors read it; returns the stored period's id."""
    p = parse_period(card.period)
    with _as_author(session, author):
        row = _period_row(session, card.vendor_id, p)
        assert row is not None
        scores = {
            s.criterion_id: s
            for s in session.scalars(
                select(ScorecardScore).where(ScorecardScore.period_id == row.id)
            )
        }
        for c in card.criteria:
            if c.kind != "measured":
                continue
            stored = scores.get(c.criterion_id)
            if stored is None:
                stored = ScorecardScore(period_id=row.id, criterion_id=c.criterion_id, comment="")
                session.add(stored)
            if stored.value != c.value or stored.score != c.score:
                stored.value, stored.score = c.value, c.score
        if row.total != card.total or row.rag != card.rag:
            row.total, row.rag = card.total, card.rag
        _flush(session, f"The scorecard of {card.vendor} for {card.period}")
    return row.id


def _template(
    session: Session, template_id: int, expected_version: int | None
) -> ScorecardTemplate:
    template = session.get(ScorecardTemplate, template_id)
    if template is None:
        raise ScorecardError(f"no scorecard template with id {template_id}")
    if expected_version is not None and template.version != expected_version:
        raise ConflictError(
            f"The template {template.name!r} was changed by someone else after you opened it. "
            "Nothing was overwritten."
        )
    return template


def set_weights(
    session: Session,
    template_id: int,
    weights: Mapping[str | int, float],
    expected_version: int | None = None,
    author: str | None = None,
) -> int:
    """Set criteria weights (by criterion name or id, in percent); the template's weights
    must then sum to 100%, else nothing changes. Returns the template's new version."""
    template = _template(session, template_id, expected_version)
    new: dict[int, float] = {}
    for key, weight in weights.items():
        crit = _criterion(session, template_id, key)
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise ScorecardError(f"the weight of {crit.name} is not a number: {weight!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ScorecardError(f"the weight of {crit.name} must be 0 or more, not {weight!r}")
        new[crit.id] = value
    after = [new.get(c.id, c.weight) for c in template.criteria]
    if not weights_ok(after):
        raise ScorecardError(
            f"The weights would sum to {round(sum(after), 2):g}%, not 100%: nothing was changed."
        )
    with _as_author(session, author):
        for c in template.criteria:
            if c.id in new and c.weight != new[c.id]:
                c.weight = new[c.id]
        template.updated_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        _flush(session, f"The template {template.name!r}")
    return template.version


def set_rag_thresholds(
    session: Session,
    template_id: int,
    green_min: float,
    amber_min: float,
    expected_version: int | None = None,
    author: str | None = None,
) -> int:
    """Green at or above ``green_min``, amber at or above ``amber_min`` (0 <= amber < green
    <= 100); returns the template's new version."""
    template = _template(session, template_id, expected_version)
    try:
        green, amber = float(green_min), float(amber_min)
    except (TypeError, ValueError):
        raise ScorecardError("RAG thresholds are numbers from 0 to 100") from None
    if not (0 <= amber < green <= 100):
        raise ScorecardError(
            f"RAG thresholds need 0 <= amber < green <= 100, not green {green_min}, "
            f"amber {amber_min}"
        )
    with _as_author(session, author):
        template.green_min, template.amber_min = green, amber
        _flush(session, f"The template {template.name!r}")
    return template.version


def _action_item(a: ReviewAction, label: str) -> ActionItem:
    return ActionItem(a.id, label, a.description, a.owner or "", a.due_on, a.status, a.version)


def add_action(
    session: Session,
    vendor_id: int,
    period: str | Period,
    description: str,
    owner: str = "",
    due_on: dt.date | None = None,
    author: str | None = None,
) -> ActionItem:
    """An action agreed at the vendor's review of ``period``."""
    p = parse_period(period)
    description = description.strip()
    if not description:
        raise ScorecardError("an action needs a description")
    if due_on is not None and not isinstance(due_on, dt.date):
        raise ScorecardError(f"the due date must be a date, not {due_on!r}")
    with _as_author(session, author):
        row = _period_row(session, vendor_id, p)
        assert row is not None
        action = ReviewAction(
            period_id=row.id, description=description, owner=owner.strip(), due_on=due_on,
            status="open",
        )  # fmt: skip
        session.add(action)
        _flush(session, "The action")
    return _action_item(action, p.label)


def update_action(
    session: Session,
    action_id: int,
    expected_version: int | None = None,
    author: str | None = None,
    **fields: Any,
) -> ActionItem:
    """Change an action's ``description``, ``owner``, ``due_on`` or ``status``
    (open, done, dropped)."""
    action = session.get(ReviewAction, action_id)
    if action is None:
        raise ScorecardError(f"no review action with id {action_id}")
    unknown = set(fields) - {"description", "owner", "due_on", "status"}
    if unknown:
        raise ScorecardError(f"an action has no field {sorted(unknown)[0]!r}")
    if expected_version is not None and action.version != expected_version:
        raise ConflictError(
            f"The action {action.description!r} was changed by someone else after you opened "
            "it. Nothing was overwritten."
        )
    if "status" in fields and fields["status"] not in ACTION_STATES:
        raise ScorecardError(
            f"an action's status is {', '.join(ACTION_STATES)}, not {fields['status']!r}"
        )
    if "description" in fields and not str(fields["description"]).strip():
        raise ScorecardError("an action needs a description")
    due = fields.get("due_on")
    if due is not None and not isinstance(due, dt.date):
        raise ScorecardError(f"the due date must be a date, not {due!r}")
    with _as_author(session, author):
        for key, value in fields.items():
            setattr(action, key, value.strip() if isinstance(value, str) else value)
        action.updated_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        _flush(session, "The action")
    label = session.scalar(
        select(ScorecardPeriod.period).where(ScorecardPeriod.id == action.period_id)
    )
    return _action_item(action, label or "")


def list_actions(
    session: Session, vendor_id: int, period: str | Period, earlier_open: bool = True
) -> list[ActionItem]:
    """Actions agreed at the review of ``period`` and (``earlier_open``) those of earlier
    reviews still open, by due date."""
    p = parse_period(period)
    rows = session.execute(
        select(ReviewAction, ScorecardPeriod.period, ScorecardPeriod.starts_on)
        .join(ScorecardPeriod, ScorecardPeriod.id == ReviewAction.period_id)
        .where(ScorecardPeriod.vendor_id == vendor_id)
    ).all()
    out = [
        _action_item(a, label)
        for a, label, starts in rows
        if label == p.label or (earlier_open and a.status == "open" and starts < p.start)
    ]
    out.sort(key=lambda a: (a.due_on or dt.date.max, a.id))
    return out
