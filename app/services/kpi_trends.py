"""The KPI dashboard's series: trends per month (or week, or day) and breakdowns per group
and service, and the exact incidents behind any bar or point.

Everything is computed from a loaded :class:`~app.services.kpi.KpiColumns` with the
same masks and rules as :func:`~app.services.kpi.compute_kpis`, so a chart's numbers
agree with the headline figures and with the incidents a click opens.

Buckets: a period longer than 120 days is split into calendar months, one longer than 21
days into ISO weeks (Monday to Sunday), a shorter one into days; the first and last
bucket are clipped to the period.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from app.services.kpi import (
    AGING_BUCKETS,
    DAY,
    NA,
    KpiColumns,
    KpiFilter,
    KpiReport,
    Rate,
    _member,
    _report,
    _within,
    child_rows,
    incident_mask,
    period_view,
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BUCKET_DAYS = dict(zip(AGING_BUCKETS, ((0, 3), (3, 8), (8, 31), (31, None)), strict=True))
PRIORITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Buckets:
    """The period cut into ``kind`` buckets: ``edges`` are n + 1 epoch seconds."""

    kind: str  # "month", "week" or "day"
    edges: tuple[int, ...]

    def __len__(self) -> int:
        return max(len(self.edges) - 1, 0)

    def starts(self) -> list[dt.datetime]:
        return [_EPOCH + dt.timedelta(seconds=s) for s in self.edges[:-1]]

    def labels(self) -> list[str]:
        """Short axis labels: "Oct 2026", "W43 2026" or "24 Nov"."""
        out = []
        for start in self.starts():
            if self.kind == "month":
                out.append(start.strftime("%b %Y"))
            elif self.kind == "week":
                year, week, _ = start.isocalendar()
                out.append(f"W{week:02d} {year}")
            else:
                out.append(f"{start.day} {start:%b}")
        return out

    def describe(self, index: int) -> str:
        """The bucket in words, for a drill-down ("October 2026", "week of 19 Oct 2026")."""
        start = self.starts()[index]
        end = _EPOCH + dt.timedelta(seconds=self.edges[index + 1] - 1)
        if self.kind == "month":
            return start.strftime("%B %Y")
        if self.kind == "week":
            return f"{start.day} {start:%b} – {end.day} {end:%b %Y}"
        return f"{start.day} {start:%b %Y}"

    def index(self, values: np.ndarray) -> np.ndarray:
        """Each instant's bucket (-1 outside the period or missing)."""
        edges = np.asarray(self.edges, dtype=np.int64)
        pos = np.searchsorted(edges, values, side="right") - 1
        bad = (values == NA) | (pos < 0) | (pos >= len(self))
        return np.where(bad, -1, pos)


def buckets_for(lo: int, hi: int) -> Buckets:
    """Months, weeks or days covering ``[lo, hi)`` (epoch seconds)."""
    if hi <= lo:
        return Buckets("day", ())
    span = (hi - lo) / DAY
    start = (_EPOCH + dt.timedelta(seconds=lo)).date()
    edges = [lo]
    if span > 120:
        kind = "month"
        d = dt.date(start.year, start.month, 1)
        while True:
            d = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            cut = (d - dt.date(1970, 1, 1)).days * DAY
            if cut >= hi:
                break
            edges.append(cut)
    elif span > 21:
        kind = "week"
        d = start - dt.timedelta(days=start.weekday())
        while True:
            d += dt.timedelta(days=7)
            cut = (d - dt.date(1970, 1, 1)).days * DAY
            if cut >= hi:
                break
            edges.append(cut)
    else:
        kind = "day"
        cut = (lo // DAY + 1) * DAY
        while cut < hi:
            edges.append(cut)
            cut += DAY
    edges.append(hi)
    return Buckets(kind, tuple(int(e) for e in edges))


@dataclass(frozen=True)
class GroupAttainment:
    """SLA attainment of one assignment group (``group_id`` -1: no group)."""

    group_id: int
    rate: Rate


@dataclass(frozen=True)
class Dashboard:
    """Every series of the KPI dashboard for one filter."""

    report: KpiReport
    buckets: Buckets
    #: Mean MTTR in hours per priority and bucket (None: nothing resolved).
    mttr_hours: dict[int, list[float | None]]
    mttr_counts: dict[int, list[int]]
    #: Worst first.
    sla_by_group: list[GroupAttainment]
    arrivals: list[int]
    resolutions: list[int]
    change_success: list[Rate]
    csat: list[Rate]
    nps: list[float | None]

    @property
    def skipped(self) -> dict[str, int]:
        return {k: v for k, v in self.report.current.skipped.items() if v}


def _view(cols: KpiColumns, filt: KpiFilter) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    mask = incident_mask(cols, filt)
    inc = cols.incidents
    if mask is None:
        return None, inc
    sel = np.flatnonzero(mask)
    return mask, {k: v[sel] for k, v in inc.items()}


def _resolved_good(inc: dict[str, np.ndarray], lo: int, hi: int) -> np.ndarray:
    """Resolved in the period with an open time not after the resolve time (MTTR's rows)."""
    fixed = _within(inc["resolved_at"], lo, hi)
    return fixed & (inc["opened_at"] != NA) & (inc["resolved_at"] >= inc["opened_at"])


def _per_bucket(index: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    ok = index >= 0
    w = None if weights is None else weights[ok]
    return np.bincount(index[ok], weights=w, minlength=n)[:n]


def _rates(num: np.ndarray, den: np.ndarray) -> list[Rate]:
    return [
        Rate(int(a), int(b), None if b == 0 else 100.0 * a / b)
        for a, b in zip(num.tolist(), den.tolist(), strict=True)
    ]


def _change_mask(cols: KpiColumns, filt: KpiFilter) -> np.ndarray:
    ch = cols.changes
    masks = [
        m
        for m in (
            _member(ch["service_id"], filt.service_ids),
            _member(ch["assignment_group_id"], filt.group_ids),
            _member(ch["vendor_id"], filt.vendor_ids),
        )
        if m is not None
    ]
    out = np.ones(ch["id"].size, bool)
    for m in masks:
        out &= m
    return out


def compute_dashboard(
    cols: KpiColumns, filt: KpiFilter, now: dt.datetime | None = None
) -> Dashboard:
    """The headline report and every chart series for ``filt``."""
    now = now or dt.datetime.now(dt.UTC)
    lo, hi = filt.bounds()
    mask = incident_mask(cols, filt)
    # One view of the incidents for the headline (this period and the one before) and
    # the series; the headline is computed beside the series (numpy lets go of the GIL).
    view = period_view(cols, mask, lo - max(hi - lo, 0), hi)
    now_s = int((now - _EPOCH).total_seconds())
    pool = ThreadPoolExecutor(max_workers=1)
    headline = pool.submit(
        _report, cols, cols.calendar, filt, mask, view, now_s, cols.calendar_name
    )
    pool.shutdown(wait=False)
    buckets = buckets_for(lo, hi)
    n = len(buckets)
    inc = view

    good = _resolved_good(inc, lo, hi)
    b = buckets.index(np.where(good, inc["resolved_at"], NA))
    hours = (inc["resolved_at"] - inc["opened_at"]).astype(np.float64) / 3600.0
    mttr_hours: dict[int, list[float | None]] = {}
    mttr_counts: dict[int, list[int]] = {}
    prio = inc["priority"]
    for p in PRIORITIES:
        bp = np.where(prio == p, b, -1)
        counts = _per_bucket(bp, n)
        sums = _per_bucket(bp, n, np.where(good, hours, 0.0))
        mttr_counts[p] = counts.astype(int).tolist()
        mttr_hours[p] = [
            None if c == 0 else float(s / c) for s, c in zip(sums, counts, strict=True)
        ]

    arrivals = _per_bucket(buckets.index(inc["opened_at"]), n).astype(int).tolist()
    resolutions = _per_bucket(buckets.index(inc["resolved_at"]), n).astype(int).tolist()

    # SLA attainment per assignment group, worst first.
    ck = cols.clocks
    rows = child_rows(ck, mask, "stopped_at", lo, hi)
    rows = rows[ck["target"][rows] > 0]
    group = cols.incidents["assignment_group_id"][ck["pos"][rows]]
    breached = ck["breached"][rows]
    by_group: list[GroupAttainment] = []
    if group.size:
        ids, inverse = np.unique(group, return_inverse=True)
        total = np.bincount(inverse)
        missed = np.bincount(inverse, weights=breached.astype(np.float64)).astype(np.int64)
        rates = _rates(total - missed, total)
        by_group = [GroupAttainment(int(g), r) for g, r in zip(ids.tolist(), rates, strict=True)]
        by_group.sort(key=lambda g: (g.rate.percent if g.rate.percent is not None else 101.0,
                                     -g.rate.denominator))  # fmt: skip

    # Changes.
    ch = cols.changes
    cmask = _change_mask(cols, filt)
    done = buckets.index(np.where(cmask & ch["implemented"], ch["done_at"], NA))
    implemented = _per_bucket(done, n)
    successful = _per_bucket(np.where(ch["success"], done, -1), n)
    change_success = _rates(successful, implemented)

    # CSAT and NPS by response time.
    sv = cols.surveys
    sm = child_rows(sv, mask, "responded_at", lo, hi)
    sb = buckets.index(sv["responded_at"][sm])
    csat = sv["csat"][sm]
    has_csat = np.where(csat != NA, sb, -1)
    csat_rates = _rates(_per_bucket(np.where(csat >= 4, has_csat, -1), n), _per_bucket(has_csat, n))
    nps = sv["nps"][sm]
    has_nps = np.where(nps != NA, sb, -1)
    answers = _per_bucket(has_nps, n)
    promoters = _per_bucket(np.where(nps >= 9, has_nps, -1), n)
    detractors = _per_bucket(np.where((nps != NA) & (nps <= 6), has_nps, -1), n)
    nps_values = [
        None if a == 0 else 100.0 * (p - d) / a
        for p, d, a in zip(promoters, detractors, answers, strict=True)
    ]
    return Dashboard(
        report=headline.result(),
        buckets=buckets,
        mttr_hours=mttr_hours,
        mttr_counts=mttr_counts,
        sla_by_group=by_group,
        arrivals=arrivals,
        resolutions=resolutions,
        change_success=change_success,
        csat=csat_rates,
        nps=nps_values,
    )


#: The charts a drill-down can start from, and what their key is.
DRILL_CHARTS = {
    "mttr": "(bucket index, priority): incidents resolved in the bucket with that priority",
    "sla_group": "group id: incidents with an SLA clock that finished in the period",
    "backlog": "(day index, aging band or None): incidents open at the end of the day",
    "arrivals": "bucket index: incidents opened in the bucket",
    "resolutions": "bucket index: incidents resolved in the bucket",
    "change_success": "bucket index: incidents caused by changes implemented in the bucket",
    "csat": "bucket index: incidents with a survey response in the bucket",
    "availability": "service id: incidents behind the service's outages in the period",
}


def drill_ids(
    cols: KpiColumns,
    filt: KpiFilter,
    chart: str,
    key: object,
    now: dt.datetime | None = None,
) -> np.ndarray:
    """Ids of exactly the incidents behind one bar or point of ``chart`` (sorted).

    The filter's service, group, vendor and priority apply as in the chart, so the count
    of ids is the figure the chart shows (MTTR's count, a backlog day's height, ...).
    """
    if chart not in DRILL_CHARTS:
        raise ValueError(f"unknown chart {chart!r}; use one of {', '.join(DRILL_CHARTS)}")
    now_s = int(((now or dt.datetime.now(dt.UTC)) - _EPOCH).total_seconds())
    lo, hi = filt.bounds()
    buckets = buckets_for(lo, hi)
    mask, inc = _view(cols, filt)
    ids = inc["id"]

    def bucket_bounds(index: int) -> tuple[int, int]:
        if not 0 <= index < len(buckets):
            raise ValueError(f"no bucket {index}")
        return buckets.edges[index], buckets.edges[index + 1]

    if chart == "mttr":
        index, priority = key  # type: ignore[misc]
        a, z = bucket_bounds(int(index))
        hit = _resolved_good(inc, a, z) & (inc["priority"] == int(priority))
        return np.sort(ids[hit])
    if chart == "arrivals":
        a, z = bucket_bounds(int(key))  # type: ignore[call-overload]
        return np.sort(ids[_within(inc["opened_at"], a, z)])
    if chart == "resolutions":
        a, z = bucket_bounds(int(key))  # type: ignore[call-overload]
        return np.sort(ids[_within(inc["resolved_at"], a, z)])
    if chart == "backlog":
        day, band = key  # type: ignore[misc]
        first_day = lo // DAY
        day_end = (first_day + int(day) + 1) * DAY - 1
        if not lo <= day_end < hi or day_end > now_s:
            raise ValueError(f"no backlog day {day}")
        opened, end = inc["opened_at"], inc["end"]
        bad = (opened == NA) | ((end != NA) & (end < opened))
        open_then = ~bad & (opened <= day_end) & ((end == NA) | (end > day_end))
        if band is not None:
            a_days, b_days = _BUCKET_DAYS[str(band)]
            open_then &= opened <= day_end - a_days * DAY
            if b_days is not None:
                open_then &= opened > day_end - b_days * DAY
        return np.sort(ids[open_then])
    if chart == "sla_group":
        ck = cols.clocks
        rows = child_rows(ck, mask, "stopped_at", lo, hi)
        pos = ck["pos"][rows[ck["target"][rows] > 0]]
        pos = pos[cols.incidents["assignment_group_id"][pos] == int(key)]  # type: ignore[call-overload]
        return np.unique(cols.incidents["id"][pos])
    if chart == "csat":
        a, z = bucket_bounds(int(key))  # type: ignore[call-overload]
        sv = cols.surveys
        rows = child_rows(sv, mask, "responded_at", a, z)
        rows = rows[sv["csat"][rows] != NA]
        return np.unique(cols.incidents["id"][sv["pos"][rows]])
    if chart == "change_success":
        a, z = bucket_bounds(int(key))  # type: ignore[call-overload]
        ch = cols.changes
        done = _change_mask(cols, filt) & ch["implemented"] & _within(ch["done_at"], a, z)
        changes = ch["id"][done]
        pairs = cols.caused_by
        return np.unique(pairs[np.isin(pairs[:, 1], changes), 0])
    # availability
    out = cols.outages
    start = out["started_at"]
    stop = np.where(out["ended_at"] == NA, now_s, out["ended_at"])
    hit = (start != NA) & (np.minimum(stop, hi) - np.maximum(start, lo) > 0)
    hit &= (out["service_id"] == int(key)) & (out["incident_id"] != NA)  # type: ignore[call-overload]
    return np.unique(out["incident_id"][hit])
