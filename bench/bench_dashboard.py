"""KPI dashboard benchmark: opening the page, filter changes, the executive report.

python -m bench.bench_dashboard --db PATH   # PATH is read (and upgraded if it is older)

* ``dashboard_open_first_seconds``: a new page on a database whose KPI columns were never
  read, from ``activate()`` to every chart painted (the columns are read in full, then
  kept on disk).
* ``dashboard_open_cold_seconds``: the same in a new session (no columns in memory): they
  come from the copy on disk, with what changed since folded in.
* ``dashboard_open_warm_seconds``: the same once the columns are cached (any later visit
  to the page in the same session).
* ``dashboard_filter_*``: a filter change (period, service, group, vendor, priority) to
  every chart repainted, over random filters; ``dashboard_compute_vs_pandas_ratio`` is
  the computation alone against pandas computing the headline KPIs of the same filters
  on DataFrames already in memory (pandas does less: no chart series).
* ``report_seconds``: the executive report of the last whole month, columns included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FILTERS = 20


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _painted(app, page) -> None:
    """Run the event loop until the page is loaded, then paint every chart once."""
    while not page.is_loaded() and page.last_error is None:
        app.processEvents()
        time.sleep(0.001)
    if page.last_error is not None:
        raise page.last_error
    for chart in page.charts:
        chart.plot.viewport().repaint()
    app.processEvents()


def _open(app, db, now):
    from app.views.kpi_dashboard import KpiDashboardPage
    from app.views.pages import PageContext

    page = KpiDashboardPage(PageContext(db=db, clock=lambda: now, interactive=False))
    page.resize(1600, 1000)
    page.show()
    app.processEvents()
    began = time.perf_counter()
    page.activate()
    _painted(app, page)
    return page, time.perf_counter() - began


def main(db_path: str) -> None:
    from app.db import open_database
    from app.services.kpi_cache import kpi_cache
    from app.services.kpi_report import write_executive_report
    from app.services.kpi_trends import compute_dashboard
    from app.views.application import application
    from bench.bench_kpi import load_frames, pandas_kpis, random_filter

    app = application()
    db = open_database(db_path)
    try:
        with db.session() as session:
            from sqlalchemy import func, select

            from app.models import Incident

            latest = session.scalar(select(func.max(Incident.opened_at)))
        now = latest.replace(tzinfo=dt.UTC) if latest.tzinfo is None else latest

        os.environ["SERVICEDECK_CACHE_DIR"] = tempfile.mkdtemp(prefix="servicedeck-kpi-")
        page, first = _open(app, db, now)
        emit("dashboard_open_first_seconds", round(first, 3))
        page.close()
        cache = kpi_cache(db)
        if cache.saver is not None:
            cache.saver.join()
        cold = []
        for _ in range(3):
            cache.clear()
            page, seconds = _open(app, db, now)
            cold.append(seconds)
            page.close()
        emit("dashboard_open_cold_seconds", round(statistics.median(cold), 3))
        warm = []
        for _ in range(3):
            page, seconds = _open(app, db, now)
            warm.append(seconds)
            page.close()
        emit("dashboard_open_warm_seconds", round(statistics.median(warm), 3))

        page, _ = _open(app, db, now)
        cols = kpi_cache(db).peek()
        rng = random.Random(7)
        filters = [random_filter(rng, cols, now.date()) for _ in range(FILTERS)]
        repaint = []
        compute = []
        for filt in filters:
            began = time.perf_counter()
            compute_dashboard(cols, filt, now=now)
            compute.append(time.perf_counter() - began)
            # Through the page: set the bar, let it recompute in the background, repaint.
            page.period.blockSignals(True)
            page.period.setCurrentIndex(page.period.findData("custom"))
            page.period.blockSignals(False)
            for edit, day in ((page.from_edit, filt.start), (page.to_edit, filt.end)):
                edit.blockSignals(True)
                edit.setDate(day)
                edit.blockSignals(False)
            for button, values in (
                (page.service_button, filt.service_ids),
                (page.group_button, filt.group_ids),
                (page.vendor_button, filt.vendor_ids),
                (page.priority_button, filt.priorities),
            ):
                button.blockSignals(True)
                button.set_values(list(values or []))
                button.blockSignals(False)
            shown = page.dashboard
            began = time.perf_counter()
            page.refresh()
            while page.dashboard is shown and page.last_error is None:
                app.processEvents()
                time.sleep(0.0005)
            for chart in page.charts:
                chart.plot.viewport().repaint()
            app.processEvents()
            repaint.append(time.perf_counter() - began)
        page.close()
        repaint.sort()
        compute.sort()
        p95 = int(round(0.95 * (FILTERS - 1)))
        emit("dashboard_filter_median_ms", round(1000 * statistics.median(repaint), 1))
        emit("dashboard_filter_p95_ms", round(1000 * repaint[p95], 1))
        emit("dashboard_compute_median_ms", round(1000 * statistics.median(compute), 1))
        frames = load_frames(db_path)
        theirs = []
        for filt in filters:
            began = time.perf_counter()
            pandas_kpis(frames, filt, now, cols.calendar)
            pandas_kpis(frames, filt, now, cols.calendar, previous=True)
            theirs.append(time.perf_counter() - began)
        emit("pandas_filter_median_ms", round(1000 * statistics.median(theirs), 1))
        emit(
            "dashboard_compute_vs_pandas_ratio",
            round(statistics.median(compute) / statistics.median(theirs), 3),
        )
        del frames

        last_month = (now.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        out = Path(tempfile.mkdtemp(prefix="servicedeck-report-")) / "report.xlsx"
        kpi_cache(db).clear()
        with db.session() as session:
            began = time.perf_counter()
            write_executive_report(None, session, last_month, out, now=now)
            emit("report_seconds", round(time.perf_counter() - began, 3))
        emit("report_mb", round(out.stat().st_size / 2**20, 2))
    finally:
        db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    main(parser.parse_args().db)
