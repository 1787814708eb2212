"""KPI benchmark: the numpy column cache against pandas groupby on DataFrames in memory.

python -m bench.bench_kpi --db PATH   # PATH is only read

Also holds the pandas reference computation the property test compares the service with:
it reads the tables with pandas and follows the definitions of ``app.services.kpi``
without sharing its code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd

from app.db import open_database
from app.services.business_time import BusinessCalendar
from app.services.kpi import AGING_BUCKETS, KpiColumns, KpiFilter, PeriodKpis, compute_kpis

FILTERS = 20
DAY = pd.Timedelta(days=1)


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def load_frames(db_path: str) -> dict[str, pd.DataFrame]:
    """The tables the KPIs read, as DataFrames with parsed (naive UTC) timestamps."""
    with sqlite3.connect(db_path) as conn:
        frames = {
            "incident": pd.read_sql(
                "SELECT id, opened_at, first_response_at, resolved_at, closed_at, state,"
                " priority, service_id, assignment_group_id, first_group_id, vendor_id,"
                " reassignment_count, reopen_count, caused_by_change_id FROM incident",
                conn,
            ),
            "clock": pd.read_sql(
                "SELECT incident_id, definition_id, stage, stopped_at, breached FROM sla_clock",
                conn,
            ),
            "definition": pd.read_sql("SELECT id, target, kind FROM sla_definition", conn),
            "survey": pd.read_sql(
                "SELECT incident_id, responded_at, csat, nps FROM survey_response", conn
            ),
            "outage": pd.read_sql("SELECT service_id, started_at, ended_at FROM outage", conn),
            "change": pd.read_sql(
                "SELECT id, type, state, close_code, opened_at, closed_at, actual_end,"
                " service_id, assignment_group_id, vendor_id FROM change_request",
                conn,
            ),
            "service": pd.read_sql("SELECT id FROM service ORDER BY id", conn),
        }
    for frame in frames.values():
        for column in frame.columns:
            if column.endswith("_at") or column == "actual_end":
                frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frames


def _ts(value: dt.date | dt.datetime, is_end: bool) -> pd.Timestamp:
    if isinstance(value, dt.datetime):
        return pd.Timestamp(value.astimezone(dt.UTC).replace(tzinfo=None))
    return pd.Timestamp(value) + (DAY if is_end else pd.Timedelta(0))


def _stats(seconds: pd.Series) -> tuple[int, float | None, float | None, float | None]:
    if seconds.empty:
        return (0, None, None, None)
    return (
        int(seconds.size),
        float(seconds.mean()),
        float(seconds.median()),
        float(seconds.quantile(0.9)),
    )


def _ratio(num: int, den: int) -> tuple[int, int]:
    return (int(num), int(den))


def _epoch(series: pd.Series) -> np.ndarray:
    return ((series - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def pandas_kpis(
    frames: dict[str, pd.DataFrame],
    filt: KpiFilter,
    now: dt.datetime,
    calendar: BusinessCalendar,
    previous: bool = False,
) -> dict[str, Any]:
    """Every KPI of the filter's period (or the one before it) with pandas."""
    lo, hi = _ts(filt.start, False), _ts(filt.end, True)
    if previous:
        lo, hi = lo - (hi - lo), lo
    now_ts = pd.Timestamp(now.astimezone(dt.UTC).replace(tzinfo=None))
    inc = frames["incident"]
    keep = pd.Series(True, index=inc.index)
    for column, wanted in (
        ("service_id", filt.service_ids),
        ("assignment_group_id", filt.group_ids),
        ("vendor_id", filt.vendor_ids),
        ("priority", filt.priorities),
    ):
        if wanted is not None:
            keep &= inc[column].isin(list(wanted))
    mine = inc[keep]
    out: dict[str, Any] = {}

    came = mine[(mine.opened_at >= lo) & (mine.opened_at < hi) & mine.first_response_at.notna()]
    gap = (came.first_response_at - came.opened_at).dt.total_seconds()
    out["mtta"] = _stats(gap[gap >= 0])

    fixed = mine[(mine.resolved_at >= lo) & (mine.resolved_at < hi)]
    took = (fixed.resolved_at - fixed.opened_at).dt.total_seconds()
    good = fixed[took >= 0]
    out["mttr"] = _stats(took[took >= 0])
    first = pd.Timestamp(calendar.first_day) + DAY
    last = pd.Timestamp(calendar.last_day)
    inside = good[(good.opened_at >= first) & (good.resolved_at < last)]
    business = calendar.elapsed(_epoch(inside.opened_at), _epoch(inside.resolved_at))
    out["mttr_business"] = _stats(pd.Series(business, dtype=float))
    out["reopen"] = _ratio((fixed.reopen_count > 0).sum(), len(fixed))
    fcr = (fixed.reassignment_count == 0) & (fixed.assignment_group_id == fixed.first_group_id)
    out["fcr"] = _ratio(fcr.sum(), len(fixed))

    clocks = frames["clock"].merge(
        frames["definition"], left_on="definition_id", right_on="id", how="left"
    )
    clocks = clocks[
        clocks.incident_id.isin(mine.id)
        & (clocks.kind == "SLA")
        & clocks.stage.isin(["achieved", "breached"])
        & (clocks.stopped_at >= lo)
        & (clocks.stopped_at < hi)
    ]
    broke = (clocks.stage == "breached") | (clocks.breached == 1)
    counts = clocks.assign(broke=broke).groupby("target").broke.agg(["size", "sum"])
    for key, target in (("sla_response", "response"), ("sla_resolution", "resolution")):
        size = int(counts.loc[target, "size"]) if target in counts.index else 0
        bad = int(counts.loc[target, "sum"]) if target in counts.index else 0
        out[key] = _ratio(size - bad, size)
    out["sla"] = _ratio(len(clocks) - int(broke.sum()), len(clocks))

    out.update(_pandas_daily(mine, lo, hi, now_ts))
    out["availability"] = _pandas_availability(frames, filt, lo, hi, now_ts)

    ch = frames["change"]
    ck = pd.Series(True, index=ch.index)
    for column, wanted in (
        ("service_id", filt.service_ids),
        ("assignment_group_id", filt.group_ids),
        ("vendor_id", filt.vendor_ids),
    ):
        if wanted is not None:
            ck &= ch[column].isin(list(wanted))
    ch = ch[ck]
    done = ch.closed_at.fillna(ch.actual_end)
    implemented = ch[
        (ch.state == "Closed")
        & ch.close_code.isin(["Successful", "Successful with issues", "Unsuccessful"])
        & (done >= lo)
        & (done < hi)
    ]
    caused = set(inc.caused_by_change_id.dropna().astype(int))
    ok = (implemented.close_code == "Successful") & ~implemented.id.isin(caused)
    out["change_success"] = _ratio(ok.sum(), len(implemented))
    raised = ch[(ch.opened_at >= lo) & (ch.opened_at < hi)]
    out["emergency"] = _ratio((raised.type == "Emergency").sum(), len(raised))

    sv = frames["survey"]
    sv = sv[sv.incident_id.isin(mine.id) & (sv.responded_at >= lo) & (sv.responded_at < hi)]
    csat = sv.csat.dropna()
    out["csat"] = _ratio((csat >= 4).sum(), len(csat))
    nps = sv.nps.dropna()
    out["nps"] = (
        None if nps.empty else 100.0 * (int((nps >= 9).sum()) - int((nps <= 6).sum())) / len(nps)
    )
    return out


def _pandas_daily(
    mine: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp, now: pd.Timestamp
) -> dict[str, Any]:
    days = pd.date_range(lo.floor("D"), max(lo, min(hi, now)).ceil("D"), freq="D")[:-1]
    ends = [d + DAY - pd.Timedelta(seconds=1) for d in days]
    ends = [e for e in ends if e <= min(hi - pd.Timedelta(seconds=1), now)]
    days = days[: len(ends)]
    end = mine.resolved_at.fillna(mine.closed_at)
    valid = mine[end.isna() | (end >= mine.opened_at)]
    vend = end[valid.index]
    if ends:
        near = (valid.opened_at <= ends[-1]) & (vend.isna() | (vend > ends[0]))
        valid, vend = valid[near], vend[near]
    backlog, aging = [], {b: [] for b in AGING_BUCKETS}
    for e in ends:
        open_ = valid[(valid.opened_at <= e) & (vend.isna() | (vend > e))]
        age = (e - open_.opened_at) // DAY
        bucket = pd.cut(age, [-1, 2, 7, 30, np.inf], labels=list(AGING_BUCKETS))
        sizes = bucket.value_counts()
        backlog.append(len(open_))
        for b in AGING_BUCKETS:
            aging[b].append(int(sizes.get(b, 0)))
    arrivals = mine.groupby(mine.opened_at.dt.floor("D")).size()
    resolutions = mine.groupby(mine.resolved_at.dt.floor("D")).size()
    return {
        "backlog": backlog,
        "aging": aging,
        "arrivals": [int(arrivals.get(d, 0)) for d in days],
        "resolutions": [int(resolutions.get(d, 0)) for d in days],
    }


def _pandas_availability(
    frames: dict[str, pd.DataFrame],
    filt: KpiFilter,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    now: pd.Timestamp,
) -> dict[int, tuple[int, float, float | None, float | None]]:
    services = frames["service"].id
    if filt.service_ids is not None:
        services = services[services.isin(list(filt.service_ids))]
    o = frames["outage"]
    stop = o.ended_at.fillna(now).clip(upper=hi)
    start = o.started_at.clip(lower=lo)
    o = o.assign(down=(stop - start).dt.total_seconds())
    o = o[o.down > 0]
    per = o.groupby("service_id").down.agg(["size", "sum"])
    length = (hi - lo).total_seconds()
    result = {}
    for sid in services.tolist():
        count = int(per.loc[sid, "size"]) if sid in per.index else 0
        down = float(per.loc[sid, "sum"]) if sid in per.index else 0.0
        if length <= 0:
            result[sid] = (count, down, None, None)
            continue
        up = max(length - down, 0.0)
        result[sid] = (count, down, 100.0 * up / length, up / count if count else None)
    return result


def service_kpis(p: PeriodKpis) -> dict[str, Any]:
    """The service's figures in the shape of ``pandas_kpis``."""

    def stats(d: Any) -> tuple[int, float | None, float | None, float | None]:
        return (d.count, d.mean, d.median, d.p90)

    def ratio(r: Any) -> tuple[int, int]:
        return (r.numerator, r.denominator)

    return {
        "mtta": stats(p.mtta),
        "mttr": stats(p.mttr),
        "mttr_business": stats(p.mttr_business),
        "reopen": ratio(p.reopen_rate),
        "fcr": ratio(p.fcr),
        "sla_response": ratio(p.sla_response),
        "sla_resolution": ratio(p.sla_resolution),
        "sla": ratio(p.sla_attainment),
        "backlog": p.daily.backlog,
        "aging": p.daily.aging,
        "arrivals": p.daily.arrivals,
        "resolutions": p.daily.resolutions,
        "availability": {
            a.service_id: (a.outages, a.outage_seconds, a.availability_percent, a.mtbf_seconds)
            for a in p.availability
        },
        "change_success": ratio(p.change_success),
        "emergency": ratio(p.emergency_ratio),
        "csat": ratio(p.csat),
        "nps": p.nps,
    }


def random_filter(rng: random.Random, cols: KpiColumns, anchor: dt.date) -> KpiFilter:
    """A period of 7-180 days in the last year with a random mix of filters."""
    length = rng.choice([7, 30, 31, 90, 180])
    start = anchor - dt.timedelta(days=rng.randint(length, 365))
    inc = cols.incidents

    def some(values: np.ndarray, k: int) -> list[int] | None:
        choices = sorted({int(v) for v in np.unique(values) if v >= 0})
        if not choices or rng.random() < 0.5:
            return None
        return rng.sample(choices, min(k, len(choices)))

    return KpiFilter(
        start,
        start + dt.timedelta(days=length - 1),
        service_ids=some(inc["service_id"], 5),
        group_ids=some(inc["assignment_group_id"], 8),
        vendor_ids=some(inc["vendor_id"], 3),
        priorities=some(inc["priority"], 2),
    )


def main(db_path: str) -> None:
    """Print load time, KPI time per filter change (median, p95), pandas' time and the ratio."""
    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.session() as session:
            began = time.perf_counter()
            cols = KpiColumns.load(session)
            emit("kpi_load_seconds", round(time.perf_counter() - began, 3))
        emit("kpi_incidents", int(cols.incidents["id"].size))
        now = dt.datetime.fromtimestamp(int(cols.incidents["opened_at"].max()), dt.UTC)
        rng = random.Random(4)
        filters = [random_filter(rng, cols, now.date()) for _ in range(FILTERS)]
        ours = []
        for filt in filters:
            began = time.perf_counter()
            compute_kpis(cols, filt, now=now)
            ours.append(time.perf_counter() - began)
        frames = load_frames(db_path)
        theirs = []
        for filt in filters:
            began = time.perf_counter()
            pandas_kpis(frames, filt, now, cols.calendar)
            pandas_kpis(frames, filt, now, cols.calendar, previous=True)
            theirs.append(time.perf_counter() - began)
        ours.sort()
        theirs.sort()
        p95 = int(round(0.95 * (FILTERS - 1)))
        emit("kpi_filter_median_ms", round(1000 * statistics.median(ours), 1))
        emit("kpi_filter_p95_ms", round(1000 * ours[p95], 1))
        emit("pandas_filter_median_ms", round(1000 * statistics.median(theirs), 1))
        emit("pandas_filter_p95_ms", round(1000 * theirs[p95], 1))
        emit("kpi_vs_pandas_ratio", round(statistics.median(ours) / statistics.median(theirs), 3))
    finally:
        database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    main(parser.parse_args().db)
