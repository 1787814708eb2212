"""Vendor scorecard benchmark: 20 vendors x 8 quarters, one review pack, the summary.

python -m bench.bench_scorecards --db PATH   # PATH is only read

Targets (1,000,000 incidents): scorecards of 20 vendors x 8 quarters <= 2 s, one vendor's
review pack <= 3 s, the all-vendors summary <= 5 s, each from the loaded KPI column cache
(the console keeps one per database; its load is timed apart). The baseline is the same
measured criteria by SQL, one GROUP BY vendor and quarter per criterion, as a report
written against the database would compute them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

from app.db import open_database
from app.models import Incident
from app.services import review_pack, scorecards
from app.services.kpi import KpiColumns

RUNS = 3


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _median(fn, runs: int = RUNS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


_QUARTER = "strftime('%Y', {c}) || '-Q' || ((CAST(strftime('%m', {c}) AS INTEGER) + 2) / 3)"


def sql_baseline(session, first: scorecards.Period, last: scorecards.Period) -> dict:
    """Incident volume, MTTR, SLA attainment and change success per vendor and quarter by
    SQL GROUP BY (SQLite), over the same quarters (plus the four before, for volume)."""
    lo = dt.datetime.combine(first.shifted(-scorecards.TYPICAL_PERIODS).start, dt.time())
    hi = dt.datetime.combine(last.end + dt.timedelta(days=1), dt.time())
    params = {"lo": lo.isoformat(timespec="seconds"), "hi": hi.isoformat(timespec="seconds")}
    q = _QUARTER
    queries = {
        "incident_count": f"SELECT vendor_id, {q.format(c='opened_at')}, COUNT(*) FROM incident "
        "WHERE vendor_id IS NOT NULL AND opened_at >= :lo AND opened_at < :hi GROUP BY 1, 2",
        "mttr": f"SELECT vendor_id, {q.format(c='resolved_at')}, "
        "AVG((julianday(resolved_at) - julianday(opened_at)) * 24) FROM incident "
        "WHERE vendor_id IS NOT NULL AND resolved_at >= :lo AND resolved_at < :hi "
        "AND resolved_at >= opened_at GROUP BY 1, 2",
        "sla_attainment": f"SELECT i.vendor_id, {q.format(c='c.stopped_at')}, "
        "100.0 * SUM(CASE WHEN c.stage = 'breached' OR c.breached THEN 0 ELSE 1 END) / COUNT(*) "
        "FROM sla_clock c JOIN incident i ON i.id = c.incident_id "
        "JOIN sla_definition d ON d.id = c.definition_id "
        "WHERE d.kind = 'SLA' AND c.stage IN ('achieved', 'breached') AND i.vendor_id IS NOT NULL "
        "AND c.stopped_at >= :lo AND c.stopped_at < :hi GROUP BY 1, 2",
        "change_success": f"SELECT vendor_id, {q.format(c='COALESCE(closed_at, actual_end)')}, "
        "100.0 * SUM(close_code = 'Successful') / COUNT(*) FROM change_request "
        "WHERE vendor_id IS NOT NULL AND state = 'Closed' AND close_code IN "
        "('Successful', 'Successful with issues', 'Unsuccessful') "
        "AND COALESCE(closed_at, actual_end) >= :lo AND COALESCE(closed_at, actual_end) < :hi "
        "GROUP BY 1, 2",
    }
    out = {}
    for name, sql in queries.items():
        began = time.perf_counter()
        out[name] = session.execute(text(sql), params).all()
        emit(f"sql_{name}_s", round(time.perf_counter() - began, 3))
    return out


def main(db_path: str) -> None:
    database = open_database(db_path, create=False)
    try:
        with database.session() as session:
            count = session.scalar(select(func.count(Incident.id)))
            emit("scorecards_incidents", count)
            latest = session.scalar(select(func.max(Incident.opened_at)))
            period = scorecards.period_of(latest.date()).shifted(-1)
            periods = scorecards.trend_periods(period)
            emit("scorecards_period", period.label)
            began = time.perf_counter()
            cols = KpiColumns.load(session)
            emit("scorecards_cache_load_s", round(time.perf_counter() - began, 3))

            grid_s, grid = _median(
                lambda: scorecards.scorecard_grid(cols, session, periods, now=latest)
            )
            vendors = sorted({v for v, _ in grid})
            emit("scorecards_vendors", len(vendors))
            emit("scorecards_grid_s", round(grid_s, 3))
            not_measurable = sum(1 for c in grid.values() if c.total is None)
            emit("scorecards_without_total", not_measurable)

            began = time.perf_counter()
            sql_baseline(session, periods[0], periods[-1])
            sql_s = time.perf_counter() - began
            emit("scorecards_sql_groupby_s", round(sql_s, 3))
            emit("scorecards_speedup_vs_sql", round(sql_s / grid_s, 1))

            worst = min(
                vendors, key=lambda v: grid[(v, period.label)].total or 0.0
            )  # the longest breached list
            with tempfile.TemporaryDirectory() as folder:
                pack = Path(folder) / "pack.xlsx"
                pack_s, _ = _median(
                    lambda: review_pack.write_review_pack(
                        session, cols, worst, period, pack, now=latest
                    )
                )
                emit("review_pack_s", round(pack_s, 3))
                emit("review_pack_kb", pack.stat().st_size // 1024)
                emit("review_pack_breached_rows",
                     len(scorecards.breached_slas(session, cols, worst, period)))  # fmt: skip
                summary = Path(folder) / "summary.xlsx"
                summary_s, _ = _median(
                    lambda: review_pack.write_summary(session, cols, period, summary, now=latest)
                )
                emit("review_summary_s", round(summary_s, 3))
            emit("targets_met",
                 grid_s <= 2.0 and pack_s <= 3.0 and summary_s <= 5.0)  # fmt: skip
    finally:
        database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a demo database (only read)")
    args = parser.parse_args()
    if not Path(args.db).exists():
        sys.exit(f"no database at {args.db}")
    main(args.db)
