"""Service-management KPIs (DOMAIN.md) for a period and filter, from a numpy column cache.

``KpiColumns.load`` reads the columns the KPIs need once (one plain SELECT per table);
``compute_kpis`` then answers any period and any combination of service, group, vendor
and priority with numpy masks, for the period and the previous one of equal length.

Conventions
-----------
* A period is ``[start, end)`` in UTC. Dates stand for whole UTC days, the end date
  included (``date(2026, 10, 1)..date(2026, 10, 31)`` is October).
* Business-hours MTTR uses the ``calendar`` argument when given, else the schedule of the
  SLA definitions for P3-P5 (the first active resolution SLA applying to priority 3 that
  has a schedule), else 24x7. Rows outside that calendar's range are skipped.
* An incident ends at ``resolved_at``, or at ``closed_at`` when it never resolved
  (canceled, or closed without a resolve). Backlog day ends are 23:59:59 UTC; days after
  ``now`` are left out. Age buckets are whole days: 0-2, 3-7, 8-30, over 30.
* SLA attainment counts clocks of SLA definitions (not OLA/UC) stopped in the period as
  achieved or breached (a clock with its ``breached`` flag counts as breached).
* Reopen rate and FCR are over incidents resolved in the period (``resolved_at``).
* Availability and MTBF: every outage row of a service (they come from major incidents),
  clipped to the period; an outage still open ends at ``now``. Only the service filter
  applies to them. MTBF is None for a service without outages.
* Changes: implemented = closed (closed_at, else actual_end, in the period) with close
  code Successful, Successful with issues or Unsuccessful; successful = Successful and not
  named as the cause of any incident. Emergency ratio is over changes opened in the
  period. Service, group and vendor filters apply to changes; priority does not.
* CSAT and NPS: survey responses in the period, filtered by their incident.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, Engine, func, literal_column, select, text
from sqlalchemy.orm import Session

from app.models import ChangeRequest, Incident, Service, SlaDefinition
from app.services.business_time import BusinessCalendar

DAY = 86_400
#: A missing instant or id in the cache.
NA = -(2**62)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
AGING_BUCKETS = ("0-2 d", "3-7 d", "8-30 d", "> 30 d")
_BUCKET_DAYS = ((0, 3), (3, 8), (8, 31), (31, None))
_CLOSE_CODES = ("Successful", "Successful with issues", "Unsuccessful")


@dataclass(frozen=True)
class KpiFilter:
    """A period (dates or aware instants, UTC) and optional id/priority filters (None = all)."""

    start: dt.date | dt.datetime
    end: dt.date | dt.datetime
    service_ids: Sequence[int] | None = None
    group_ids: Sequence[int] | None = None
    vendor_ids: Sequence[int] | None = None
    priorities: Sequence[int] | None = None

    def bounds(self) -> tuple[int, int]:
        """The period as epoch seconds ``[start, end)``."""
        return _instant(self.start, False), _instant(self.end, True)


def _instant(value: dt.date | dt.datetime, is_end: bool) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("period instants must be timezone-aware")
        return int((value - _EPOCH).total_seconds())
    days = (value - dt.date(1970, 1, 1)).days + (1 if is_end else 0)
    return days * DAY


def _epoch(value: dt.datetime) -> int:
    return int((value - _EPOCH).total_seconds())


@dataclass(frozen=True)
class Duration:
    """Mean, median and 90th percentile in seconds (None without data)."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Rate:
    """A ratio in percent with its numerator and denominator (None when the denominator is 0)."""

    numerator: int
    denominator: int
    percent: float | None


@dataclass(frozen=True)
class ServiceAvailability:
    """Availability and MTBF of one service over the period."""

    service_id: int
    outages: int
    outage_seconds: float
    availability_percent: float | None
    mtbf_seconds: float | None


@dataclass(frozen=True)
class DailySeries:
    """Per UTC day of the period: backlog by age bucket, arrivals and resolutions."""

    days: list[dt.date]
    backlog: list[int]
    aging: dict[str, list[int]]
    arrivals: list[int]
    resolutions: list[int]


@dataclass(frozen=True)
class PeriodKpis:
    """Every KPI of one period."""

    start: dt.datetime
    end: dt.datetime
    mtta: Duration
    mttr: Duration
    mttr_business: Duration
    sla_attainment: Rate
    sla_response: Rate
    sla_resolution: Rate
    daily: DailySeries
    reopen_rate: Rate
    fcr: Rate
    availability: list[ServiceAvailability]
    change_success: Rate
    emergency_ratio: Rate
    csat: Rate
    nps: float | None
    nps_responses: int
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class KpiReport:
    """The KPIs of a filter's period and of the previous period of equal length."""

    filter: KpiFilter
    current: PeriodKpis
    previous: PeriodKpis
    business_calendar: str


_INCIDENT_FIELDS = (
    "id",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "end",
    "service_id",
    "assignment_group_id",
    "vendor_id",
    "packed",
)
_STATE_CASE = (
    "CASE state WHEN 'New' THEN 0 WHEN 'In Progress' THEN 1 WHEN 'On Hold' THEN 2 "
    "WHEN 'Resolved' THEN 3 WHEN 'Closed' THEN 4 WHEN 'Canceled' THEN 5 ELSE 7 END"
)
_CHUNK = 250_000
#: Clocks pack incident id and outcome as incident_id * _CLOCK_SHIFT + definition * 2 + breached.
_CLOCK_SHIFT = 4096


def _epoch_sql(column: str, is_sqlite: bool) -> str:
    inner = f"unixepoch({column})" if is_sqlite else f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"COALESCE({inner}, {NA})"


def _incident_exprs(is_sqlite: bool) -> list[str]:
    e = _epoch_sql
    # Priority, state and the reopen / first-contact flags packed into one integer: the
    # load's cost is per value handed to Python.
    packed = (
        f"(priority + 8 * ({_STATE_CASE})"
        " + 64 * (CASE WHEN reassignment_count = 0 AND assignment_group_id = first_group_id"
        " THEN 1 ELSE 0 END)"
        " + 128 * (CASE WHEN reopen_count > 0 THEN 1 ELSE 0 END))"
    )
    return [
        "id",
        e("opened_at", is_sqlite),
        e("first_response_at", is_sqlite),
        e("resolved_at", is_sqlite),
        e("COALESCE(resolved_at, closed_at)", is_sqlite),
        "COALESCE(service_id, -1)",
        "COALESCE(assignment_group_id, -1)",
        "COALESCE(vendor_id, -1)",
        packed,
    ]


def _fetch(
    session: Session,
    table: str,
    exprs: Sequence[str],
    where: str = "",
    params: dict[str, object] | None = None,
    *,
    chunked: bool = True,
) -> np.ndarray:
    """Integer expressions of a table's rows as an (n, len(exprs)) int64 array.

    ``chunked=False`` reads a SQLite table in one statement (for a read an index covers,
    which id ranges would defeat)."""
    bind = session.get_bind()
    path = bind.url.database if bind.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or params:
        rows = session.execute(
            text(f"SELECT {', '.join(exprs)} FROM {table} {where}"), params or {}
        ).all()
        return np.array(rows, dtype=np.int64).reshape(-1, len(exprs))
    return _fetch_sqlite(path, table, exprs, where, chunked=chunked)


def _fetch_sqlite(
    path: str, table: str, exprs: Sequence[str], where: str, *, chunked: bool = True
) -> np.ndarray:
    """SQLite fast path: id ranges read in parallel, each column as one group_concat text.

    group_concat builds the text inside SQLite, which runs without the GIL, and numpy
    parses it in C; handing a million rows to Python as tuples costs three times more.
    One aggregate per column (all fed by the same scan, so in the same row order) avoids
    building a string per row.
    """
    aggregates = ", ".join(f"group_concat({x})" for x in exprs)
    if not chunked:
        conn = sqlite3.connect(path)
        try:
            texts = conn.execute(f"SELECT {aggregates} FROM {table} {where}").fetchone()
        finally:
            conn.close()
        if not texts[0]:
            return np.zeros((0, len(exprs)), dtype=np.int64)
        return np.stack([np.fromstring(t, dtype=np.int64, sep=",") for t in texts], axis=1)
    with sqlite3.connect(path) as conn:
        low, high = conn.execute(f"SELECT MIN(id), MAX(id) FROM {table}").fetchone()
    if low is None:
        return np.zeros((0, len(exprs)), dtype=np.int64)
    cond = f"{where} AND" if where else "WHERE"
    sql = f"SELECT {aggregates} FROM {table} {cond} id >= ? AND id < ?"

    def chunk(bounds: tuple[int, int]) -> np.ndarray:
        conn = sqlite3.connect(path)
        try:
            texts = conn.execute(sql, bounds).fetchone()
        finally:
            conn.close()
        if not texts[0]:
            return np.zeros((0, len(exprs)), dtype=np.int64)
        return np.stack([np.fromstring(t, dtype=np.int64, sep=",") for t in texts], axis=1)

    edges = list(range(int(low), int(high) + 1, _CHUNK)) + [int(high) + 1]
    ranges = list(itertools.pairwise(edges))
    with ThreadPoolExecutor(max_workers=min(len(ranges), os.cpu_count() or 2, 8)) as pool:
        parts = list(pool.map(chunk, ranges))
    return np.concatenate(parts)


def _unpack_incidents(raw: np.ndarray) -> dict[str, np.ndarray]:
    inc = {name: np.ascontiguousarray(raw[:, i]) for i, name in enumerate(_INCIDENT_FIELDS)}
    packed = inc.pop("packed")
    inc["priority"] = packed & 7
    inc["state"] = (packed >> 3) & 7
    inc["fcr"] = (packed & 64) > 0
    inc["reopened"] = (packed & 128) > 0
    return inc


def _business_seconds(cal: BusinessCalendar, inc: dict[str, np.ndarray]) -> np.ndarray:
    """Business seconds from open to resolve per incident (NaN when unknown, reversed or
    outside the calendar's range), computed once so MTTR in business hours is a lookup."""
    opened, resolved = inc["opened_at"], inc["resolved_at"]
    out = np.full(opened.size, np.nan)
    ok = (opened != NA) & (resolved != NA) & (resolved >= opened)
    if not cal.is_24x7:
        first = (cal.first_day - dt.date(1970, 1, 1)).days * DAY + DAY
        last = (cal.last_day - dt.date(1970, 1, 1)).days * DAY
        ok &= (opened >= first) & (resolved < last)
    if ok.any():
        out[ok] = cal.elapsed(opened[ok], resolved[ok])
    return out


@dataclass
class KpiColumns:
    """The KPI columns of incidents, SLA clocks, surveys, outages and changes as numpy arrays."""

    incidents: dict[str, np.ndarray]
    clocks: dict[str, np.ndarray]
    surveys: dict[str, np.ndarray]
    outages: dict[str, np.ndarray]
    changes: dict[str, np.ndarray]
    service_ids: np.ndarray
    calendar: BusinessCalendar
    calendar_name: str
    loaded_until: dt.datetime | None = None
    caused_by: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    @classmethod
    def load(cls, session: Session, calendar: BusinessCalendar | None = None) -> KpiColumns:
        """Read every KPI column once (under 2 s for a million incidents on SQLite).

        On a SQLite file the big tables are read on connections of their own, so only
        committed rows are seen.
        """
        name = "given"
        if calendar is None:
            calendar, name = default_calendar(session)
        cols = cls({}, {}, {}, {}, {}, np.zeros(0, np.int64), calendar, name)
        cols._load_all(session)
        return cols

    @classmethod
    def load_window(
        cls,
        session: Session,
        start: dt.datetime,
        end: dt.datetime,
        calendar: BusinessCalendar | None = None,
    ) -> KpiColumns:
        """Only what the KPIs of periods inside [start, end) read: incidents opened before
        ``end`` and not ended before ``start`` (plus those owning a clock or survey of
        the window), the clocks stopped and surveys answered in the window, and the small
        tables whole. Bounded memory for a short window (Today's last two weeks);
        :func:`compute_kpis` gives the same figures as on the full load for such periods.
        """
        name = "given"
        if calendar is None:
            calendar, name = default_calendar(session)
        cols = cls({}, {}, {}, {}, {}, np.zeros(0, np.int64), calendar, name)
        definitions = cols._definitions(session)
        cols.clocks = cols._read_clocks(session.get_bind(), definitions, window=(start, end))
        cols._load_small(session, relink=False)
        sv = cols.surveys
        keep = _within(sv["responded_at"], _epoch(start), _epoch(end))
        cols.surveys = {k: v[keep] for k, v in sv.items()}
        owners = np.union1d(cols.clocks["incident_id"], cols.surveys["incident_id"])
        from app.services.incident_query import InIdList

        ended = func.coalesce(Incident.resolved_at, Incident.closed_at)
        condition = Incident.opened_at < end
        condition = condition & (ended.is_(None) | (ended >= start))
        if owners.size:
            condition = condition | InIdList(Incident.id, owners.tolist())
        rows = session.execute(
            select(*(literal_column(x) for x in _incident_exprs(cols._sqlite(session))))
            .select_from(Incident.__table__)
            .where(condition)
        ).all()
        cols.incidents = _unpack_incidents(
            np.array(rows, dtype=np.int64).reshape(-1, len(_INCIDENT_FIELDS))
        )
        cols.incidents["business"] = _business_seconds(cols.calendar, cols.incidents)
        cols._sort_incidents()
        cols._relink()
        return cols

    def _sqlite(self, session: Session) -> bool:
        return session.get_bind().dialect.name == "sqlite"

    def _load_all(self, session: Session) -> None:
        mark = self._mark(session)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The clocks, then the small tables, read beside the incidents: each spends
            # its time inside the driver, without the GIL.
            definitions = self._definitions(session)
            clocks = pool.submit(self._read_clocks, session.get_bind(), definitions)
            small = pool.submit(self._load_small_apart, session.get_bind())
            raw = _fetch(session, "incident", _incident_exprs(self._sqlite(session)))
            self.incidents = _unpack_incidents(raw)
            self.incidents["business"] = _business_seconds(self.calendar, self.incidents)
            self._sort_incidents()
            self.clocks = clocks.result()
            small.result()
        self._relink()
        self.loaded_until = mark

    def _load_small_apart(self, bind: Engine | Connection) -> None:
        with Session(bind) as session:
            self._load_small(session, relink=False)

    def _mark(self, session: Session) -> dt.datetime | None:
        value = session.execute(select(func.max(Incident.updated_at))).scalar()
        return value

    def _sort_incidents(self) -> None:
        inc = self.incidents
        ids = inc["id"]
        if ids.size > 1 and np.any(ids[1:] < ids[:-1]):
            order = np.argsort(ids, kind="stable")
            for k in list(inc):
                inc[k] = inc[k][order]

    def _definitions(self, session: Session) -> np.ndarray:
        """Per SLA definition id: 1 response, 2 resolution, 0 not an SLA (OLA, UC)."""
        rows = session.execute(
            select(SlaDefinition.id, SlaDefinition.target, SlaDefinition.kind)
        ).all()
        target = np.zeros(max((d.id for d in rows), default=0) + 1, dtype=np.int8)
        for d in rows:
            if d.kind == "SLA":
                target[d.id] = 1 if d.target == "response" else 2
        return target

    def _read_clocks(
        self,
        bind: Engine | Connection,
        target: np.ndarray,
        incident_ids: np.ndarray | None = None,
        window: tuple[dt.datetime, dt.datetime] | None = None,
    ) -> dict[str, np.ndarray]:
        """The stopped SLA clocks (of ``incident_ids`` only, or stopped in ``window``)."""
        where = "WHERE stage IN ('achieved', 'breached') AND stopped_at IS NOT NULL"
        params: dict[str, object] | None = None
        with Session(bind) as session:
            is_sqlite = self._sqlite(session)
            if window is not None:
                where += " AND stopped_at >= :lo AND stopped_at < :hi"
                lo, hi = window
                params = {"lo": _iso(lo), "hi": _iso(hi)} if is_sqlite else {"lo": lo, "hi": hi}
            if incident_ids is not None:
                ids = [int(i) for i in incident_ids]
                if is_sqlite:
                    where += " AND incident_id IN (SELECT value FROM json_each(:ids))"
                    params = {"ids": json.dumps(ids)}
                else:
                    where += " AND incident_id = ANY(:ids)"
                    params = {"ids": ids}
            outcome = (
                "definition_id * 2 + (CASE WHEN stage = 'breached' OR breached THEN 1 ELSE 0 END)"
            )
            # The incident and the outcome in one integer while definition ids are small:
            # the load's cost is per value handed over.
            packed = target.size <= _CLOCK_SHIFT // 2
            exprs = (
                (f"incident_id * {_CLOCK_SHIFT} + {outcome}", _epoch_sql("stopped_at", is_sqlite))
                if packed
                else ("incident_id", _epoch_sql("stopped_at", is_sqlite), outcome)
            )
            # One statement: the (stage, incident, stopped, definition, breached) index
            # covers it, and id ranges would make SQLite read the table instead.
            raw = _fetch(session, "sla_clock", exprs, where=where, params=params, chunked=False)
        if packed:
            incident, code = raw[:, 0] // _CLOCK_SHIFT, raw[:, 0] % _CLOCK_SHIFT
        else:
            incident, code = raw[:, 0], raw[:, 2]
        definition = code >> 1
        known = definition < target.size
        return {
            "incident_id": np.ascontiguousarray(incident),
            "stopped_at": np.ascontiguousarray(raw[:, 1]),
            "breached": (code & 1) == 1,
            "target": np.where(known, target[np.minimum(definition, target.size - 1)], 0),
        }

    def _load_small(self, session: Session, *, relink: bool = True) -> None:
        is_sqlite = self._sqlite(session)
        e = _epoch_sql
        sv = _fetch(
            session,
            "survey_response",
            ("incident_id", e("responded_at", is_sqlite), f"COALESCE(csat, {NA})",
             f"COALESCE(nps, {NA})"),
        )  # fmt: skip
        self.surveys = dict(zip(("incident_id", "responded_at", "csat", "nps"), sv.T, strict=True))
        out = _fetch(
            session,
            "outage",
            (
                "service_id",
                e("started_at", is_sqlite),
                e("ended_at", is_sqlite),
                f"COALESCE(incident_id, {NA})",
            ),
        )
        self.outages = dict(
            zip(("service_id", "started_at", "ended_at", "incident_id"), out.T, strict=True)
        )
        ch = session.execute(
            select(
                ChangeRequest.id,
                ChangeRequest.type,
                ChangeRequest.state,
                ChangeRequest.close_code,
                ChangeRequest.opened_at,
                func.coalesce(ChangeRequest.closed_at, ChangeRequest.actual_end),
                ChangeRequest.service_id,
                ChangeRequest.assignment_group_id,
                ChangeRequest.vendor_id,
            )
        ).all()
        links = session.execute(
            select(Incident.id, Incident.caused_by_change_id).where(
                Incident.caused_by_change_id.is_not(None)
            )
        ).all()
        caused = {c for _, c in links}
        #: (incident id, id of the change named as its cause) for every such incident.
        self.caused_by = np.array(links, dtype=np.int64).reshape(-1, 2)

        def ints(values: Iterable[object]) -> np.ndarray:
            return np.array([NA if v is None else v for v in values], dtype=np.int64)

        def instants(values: Iterable[dt.datetime | str | None]) -> np.ndarray:
            return ints(None if v is None else _as_epoch(v) for v in values)

        rows = list(zip(*ch, strict=True)) if ch else [()] * 9
        self.changes = {
            "id": ints(rows[0]),
            "opened_at": instants(rows[4]),
            "done_at": instants(rows[5]),
            "service_id": ints(rows[6]),
            "assignment_group_id": ints(rows[7]),
            "vendor_id": ints(rows[8]),
            "implemented": np.array(
                [
                    s == "Closed" and c in _CLOSE_CODES
                    for s, c in zip(rows[2], rows[3], strict=True)
                ],
                dtype=bool,
            ),
            "success": np.array(
                [
                    c == "Successful" and i not in caused
                    for i, c in zip(rows[0], rows[3], strict=True)
                ],
                dtype=bool,
            ),
            "emergency": np.array([t == "Emergency" for t in rows[1]], dtype=bool),
        }
        self.service_ids = np.array(
            session.scalars(select(Service.id).order_by(Service.id)).all(), dtype=np.int64
        )
        if relink:
            self._relink()

    def _relink(self) -> None:
        """Each clock and survey's position in the incident arrays (-1 when unknown)."""
        ids = self.incidents["id"]
        # Ids are nearly dense: a table from id to position beats a binary search per row.
        top = int(ids[-1]) if ids.size else 0
        table = None
        if ids.size and ids[0] >= 0 and top < 4 * ids.size + 1024:
            table = np.full(top + 1, -1, dtype=np.int64)
            table[ids] = np.arange(ids.size)
        for child in (self.clocks, self.surveys):
            iid = child["incident_id"]
            if ids.size == 0:
                child["pos"] = np.full(iid.size, -1, dtype=np.int64)
            elif table is not None:
                inside = (iid >= 0) & (iid <= top)
                child["pos"] = np.where(inside, table[np.clip(iid, 0, top)], -1)
            else:
                pos = np.clip(np.searchsorted(ids, iid), 0, ids.size - 1)
                child["pos"] = np.where(ids[pos] == iid, pos, -1)

    def refresh(self, session: Session) -> int:
        """Fold in incidents updated since the last load; the other tables are reread."""
        if self.loaded_until is None:
            self._load_all(session)
            return int(self.incidents["id"].size)
        mark = self._mark(session)
        new = _unpack_incidents(
            np.array(
                session.execute(
                    select(*(literal_column(x) for x in _incident_exprs(self._sqlite(session))))
                    .select_from(Incident.__table__)
                    .where(Incident.updated_at >= self.loaded_until)
                ).all(),
                dtype=np.int64,
            ).reshape(-1, len(_INCIDENT_FIELDS))
        )
        new["business"] = _business_seconds(self.calendar, new)
        inc = self.incidents
        keep = ~np.isin(inc["id"], new["id"])
        for k in inc:
            inc[k] = np.concatenate([inc[k][keep], new[k]])
        self._sort_incidents()
        # A clock stops only when its incident is saved, so the clocks of the incidents
        # read again are all that can have changed.
        fresh = self._read_clocks(session.get_bind(), self._definitions(session), new["id"])
        ck = self.clocks
        stay = ~np.isin(ck["incident_id"], new["id"])
        self.clocks = {k: np.concatenate([ck[k][stay], fresh[k]]) for k in fresh}
        self._load_small(session)
        self.loaded_until = mark
        return int(new["id"].size)


def _iso(value: dt.datetime) -> str:
    """An instant as SQLite stores it (UTC, ``YYYY-MM-DDTHH:MM:SS``)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _as_epoch(value: dt.datetime | str) -> int:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return _epoch(value)


def default_calendar(session: Session) -> tuple[BusinessCalendar, str]:
    """The schedule of the P3 resolution SLA (the P3-P5 business hours), else 24x7."""
    from app.services.sla_engine import load_specs

    specs = load_specs(session)
    candidates = sorted(
        specs.values(), key=lambda s: (not s.active, s.target != "resolution", s.id)
    )
    for spec in candidates:
        prios = dict(spec.applies_to.tests).get("priority")
        if prios is not None and "3" not in prios:
            continue
        if not spec.calendar.is_24x7:
            return spec.calendar, spec.name
    return BusinessCalendar.always(), "24x7"


def _member(values: np.ndarray, wanted: Sequence[int] | None) -> np.ndarray | None:
    if wanted is None:
        return None
    return np.isin(values, np.asarray(list(wanted), dtype=np.int64))


def _and(*masks: np.ndarray | None) -> np.ndarray | None:
    out: np.ndarray | None = None
    for m in masks:
        if m is not None:
            out = m if out is None else out & m
    return out


def _duration(values: np.ndarray) -> Duration:
    if values.size == 0:
        return Duration(0, None, None, None)
    v = values.astype(np.float64)
    median, p90 = np.percentile(v, [50, 90])
    return Duration(int(v.size), float(v.mean()), float(median), float(p90))


def _rate(num: int, den: int) -> Rate:
    return Rate(int(num), int(den), None if den == 0 else 100.0 * num / den)


def _within(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    if lo > NA:  # NA (missing) lies below every real bound
        return (values >= lo) & (values < hi)
    return (values != NA) & (values >= lo) & (values < hi)


def compute_kpis(
    source: KpiColumns | Session,
    filt: KpiFilter,
    now: dt.datetime | None = None,
    calendar: BusinessCalendar | None = None,
) -> KpiReport:
    """Every KPI for the filter's period and the previous period of equal length."""
    cols = source if isinstance(source, KpiColumns) else KpiColumns.load(source, calendar)
    cal = cols.calendar if calendar is None else calendar
    lo, hi = filt.bounds()
    now_s = _epoch(now) if now is not None else _epoch(dt.datetime.now(dt.UTC))
    mask = incident_mask(cols, filt)
    view = period_view(cols, mask, lo - max(hi - lo, 0), hi)
    return _report(cols, cal, filt, mask, view, now_s, "given" if calendar else cols.calendar_name)


def period_view(
    cols: KpiColumns, mask: np.ndarray | None, lo: int, hi: int
) -> dict[str, np.ndarray]:
    """The filtered incidents that can count in [lo, hi): opened before ``hi`` and not
    ended before ``lo`` (rows with a missing or impossible open time stay, to be counted as
    skipped). Every incident KPI of a period inside [lo, hi) reads only these rows."""
    inc = cols.incidents
    end = inc["end"]
    keep = (inc["opened_at"] < hi) & ((end == NA) | (end >= lo))
    if mask is not None:
        keep &= mask
    sel = np.flatnonzero(keep)
    if sel.size == inc["id"].size:
        return inc
    return {k: v[sel] for k, v in inc.items()}


def _report(
    cols: KpiColumns,
    cal: BusinessCalendar,
    filt: KpiFilter,
    mask: np.ndarray | None,
    view: dict[str, np.ndarray],
    now_s: int,
    calendar_name: str,
) -> KpiReport:
    lo, hi = filt.bounds()
    length = max(hi - lo, 0)
    # The two periods side by side: numpy lets go of the GIL, so a second core halves the wait.
    with ThreadPoolExecutor(max_workers=1) as pool:
        before = pool.submit(_period, cols, cal, view, mask, filt, lo - length, lo, now_s)
        current = _period(cols, cal, view, mask, filt, lo, hi, now_s)
        previous = before.result()
    return KpiReport(filt, current, previous, calendar_name)


def incident_mask(cols: KpiColumns, filt: KpiFilter) -> np.ndarray | None:
    """Which cached incidents the filter's service, group, vendor and priority keep (None: all)."""
    inc = cols.incidents
    return _and(
        _member(inc["service_id"], filt.service_ids),
        _member(inc["assignment_group_id"], filt.group_ids),
        _member(inc["vendor_id"], filt.vendor_ids),
        _member(inc["priority"], filt.priorities),
    )


def child_rows(
    child: dict[str, np.ndarray], mask: np.ndarray | None, column: str, lo: int, hi: int
) -> np.ndarray:
    """Indices of the child rows (clocks, surveys) with ``column`` in [lo, hi) whose incident
    the filter keeps: the time test first, so the incident lookup touches only those."""
    rows = np.flatnonzero(_within(child[column], lo, hi))
    pos = child["pos"][rows]
    ok = pos >= 0
    if mask is not None:
        ok &= mask[np.maximum(pos, 0)]
    return rows[ok]


def _period(
    cols: KpiColumns,
    cal: BusinessCalendar,
    inc: dict[str, np.ndarray],
    mask: np.ndarray | None,
    filt: KpiFilter,
    lo: int,
    hi: int,
    now: int,
) -> PeriodKpis:
    skipped: dict[str, int] = {}
    opened, response = inc["opened_at"], inc["first_response_at"]
    resolved = inc["resolved_at"]
    if hi <= lo:
        lo = hi = max(lo, hi)

    # MTTA: opened in the period with a response.
    arrived = _within(opened, lo, hi)
    answered = arrived & (response != NA)
    gap = response[answered] - opened[answered]
    skipped["mtta"] = int((gap < 0).sum())
    mtta = _duration(gap[gap >= 0])

    # MTTR: resolved in the period.
    fixed = _within(resolved, lo, hi)
    fixed_open = opened[fixed]
    fixed_res = resolved[fixed]
    good = (fixed_open != NA) & (fixed_res >= fixed_open)
    skipped["mttr"] = int((~good).sum())
    starts, ends = fixed_open[good], fixed_res[good]
    mttr = _duration(ends - starts)
    if cal.is_24x7:
        mttr_business = mttr
        skipped["mttr_business"] = skipped["mttr"]
    elif cal is cols.calendar and "business" in inc:
        # Worked out once per incident when the columns were read.
        business = inc["business"][fixed]
        known = ~np.isnan(business)
        skipped["mttr_business"] = int((~known).sum())
        mttr_business = _duration(business[known])
    else:
        first = (cal.first_day - dt.date(1970, 1, 1)).days * DAY + DAY
        last = (cal.last_day - dt.date(1970, 1, 1)).days * DAY
        inside = (starts >= first) & (ends < last)
        skipped["mttr_business"] = skipped["mttr"] + int((~inside).sum())
        mttr_business = _duration(cal.elapsed(starts[inside], ends[inside]))

    # Reopen rate and FCR over the incidents resolved in the period.
    n_fixed = int(fixed.sum())
    reopen = _rate(int(inc["reopened"][fixed].sum()), n_fixed)
    fcr = _rate(int(inc["fcr"][fixed].sum()), n_fixed)

    # SLA attainment.
    ck = cols.clocks
    rows = child_rows(ck, mask, "stopped_at", lo, hi)
    target = ck["target"][rows]
    breached = ck["breached"][rows]

    def attainment(m: np.ndarray) -> Rate:
        total = int(m.sum())
        return _rate(total - int((m & breached).sum()), total)

    sla_all = attainment(target > 0)
    sla_response = attainment(target == 1)
    sla_resolution = attainment(target == 2)

    daily = _daily(inc, lo, hi, now, skipped)
    availability = _availability(cols, filt, lo, hi, now)

    ch = cols.changes
    cmask = _and(
        _member(ch["service_id"], filt.service_ids),
        _member(ch["assignment_group_id"], filt.group_ids),
        _member(ch["vendor_id"], filt.vendor_ids),
    )
    cmask = np.ones(ch["id"].size, bool) if cmask is None else cmask
    implemented = cmask & ch["implemented"] & _within(ch["done_at"], lo, hi)
    change_success = _rate(int((implemented & ch["success"]).sum()), int(implemented.sum()))
    raised = cmask & _within(ch["opened_at"], lo, hi)
    emergency = _rate(int((raised & ch["emergency"]).sum()), int(raised.sum()))

    sv = cols.surveys
    sm = child_rows(sv, mask, "responded_at", lo, hi)
    csat = sv["csat"][sm]
    csat = csat[csat != NA]
    csat_rate = _rate(int((csat >= 4).sum()), int(csat.size))
    nps_v = sv["nps"][sm]
    nps_v = nps_v[nps_v != NA]
    nps = (
        None
        if nps_v.size == 0
        else 100.0 * (int((nps_v >= 9).sum()) - int((nps_v <= 6).sum())) / nps_v.size
    )
    return PeriodKpis(
        start=_EPOCH + dt.timedelta(seconds=lo),
        end=_EPOCH + dt.timedelta(seconds=hi),
        mtta=mtta,
        mttr=mttr,
        mttr_business=mttr_business,
        sla_attainment=sla_all,
        sla_response=sla_response,
        sla_resolution=sla_resolution,
        daily=daily,
        reopen_rate=reopen,
        fcr=fcr,
        availability=availability,
        change_success=change_success,
        emergency_ratio=emergency,
        csat=csat_rate,
        nps=nps,
        nps_responses=int(nps_v.size),
        skipped=skipped,
    )


def _daily(
    inc: dict[str, np.ndarray], lo: int, hi: int, now: int, skipped: dict[str, int]
) -> DailySeries:
    first_day = lo // DAY
    last_day = -((-min(hi, now)) // DAY)  # ceil: the day holding the last instant
    n = max(int(last_day - first_day), 0)
    if hi <= lo:
        n = 0
    day_ends = (first_day + np.arange(n) + 1) * DAY - 1
    # A day counts only when its end lies in the period and is not in the future.
    n = int(np.searchsorted(day_ends, min(hi - 1, now), side="right"))
    day_ends = day_ends[:n]
    days = [dt.date(1970, 1, 1) + dt.timedelta(days=int(first_day + i)) for i in range(n)]
    opened, end = inc["opened_at"], inc["end"]
    if n == 0:
        skipped["backlog"] = 0
        return DailySeries(days, [], {b: [] for b in AGING_BUCKETS}, [], [])
    e0 = int(day_ends[0])
    e_last = int(day_ends[-1])
    bad = (opened == NA) | ((end != NA) & (end < opened))
    skipped["backlog"] = int((bad & (opened <= e_last) & ((end == NA) | (end > e0))).sum())
    big = np.iinfo(np.int64).max
    end_eff = np.where(end == NA, big, end)
    cand = ~bad & (opened <= e_last) & (end_eff > e0)
    o, e = opened[cand], end_eff[cand]
    # Day ends E (as indices from e0) with o + a*DAY <= E < o + b*DAY and E < e, for each
    # age bucket [a, b) days. Whole-day offsets move the day index by whole days, so
    # the indices are computed once: ceil((o - e0) / DAY) and floor((o - 1 - e0) / DAY).
    o_first = -((e0 - o) // DAY)
    o_last = (o - 1 - e0) // DAY
    e_idx = (np.minimum(e - 1, e_last) - e0) // DAY
    aging: dict[str, list[int]] = {}
    total = np.zeros(n, dtype=np.int64)
    for label, (a_days, b_days) in zip(AGING_BUCKETS, _BUCKET_DAYS, strict=True):
        first = np.maximum(o_first + a_days, 0)
        last = e_idx if b_days is None else np.minimum(e_idx, o_last + b_days)
        ok = first <= last
        diff = np.bincount(first[ok], minlength=n + 1)[: n + 1].astype(np.int64)
        diff -= np.bincount(np.minimum(last[ok] + 1, n), minlength=n + 1)[: n + 1]
        counts = np.cumsum(diff)[:n]
        aging[label] = counts.tolist()
        total += counts
    starts = day_ends - DAY + 1
    arr = opened[_within(opened, int(starts[0]), e_last + 1)]
    arrivals = np.bincount((arr - int(starts[0])) // DAY, minlength=n)[:n]
    res = inc["resolved_at"]
    rs = res[_within(res, int(starts[0]), e_last + 1)]
    resolutions = np.bincount((rs - int(starts[0])) // DAY, minlength=n)[:n]
    return DailySeries(days, total.tolist(), aging, arrivals.tolist(), resolutions.tolist())


def _availability(
    cols: KpiColumns, filt: KpiFilter, lo: int, hi: int, now: int
) -> list[ServiceAvailability]:
    services = cols.service_ids
    if filt.service_ids is not None:
        services = np.intersect1d(services, np.asarray(list(filt.service_ids), dtype=np.int64))
    out = cols.outages
    start = out["started_at"]
    stop = np.where(out["ended_at"] == NA, now, out["ended_at"])
    overlap = np.minimum(stop, hi) - np.maximum(start, lo)
    hit = (start != NA) & (overlap > 0)
    length = hi - lo
    result = []
    for sid in services.tolist():
        m = hit & (out["service_id"] == sid)
        count = int(m.sum())
        down = float(overlap[m].sum())
        if length <= 0:
            result.append(ServiceAvailability(sid, count, down, None, None))
            continue
        up = max(length - down, 0.0)
        result.append(
            ServiceAvailability(
                sid, count, down, 100.0 * up / length, up / count if count else None
            )
        )
    return result
