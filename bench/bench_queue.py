"""Incident queue benchmark: the page on a (demo) database, offscreen, in this process.

python -m bench.bench_queue --db PATH   # PATH is only read

Figures (targets in brackets):

* ``queue_open_ms``: constructing the page to its first block of rows painted (300 ms);
  ``_cold`` is the first opening in the process, the other the median of the next five;
* ``queue_change_p95_ms``: a new filter or sort to its rows repainted, p95 over 20 (150 ms),
  each the median of three tries;
* ``queue_jump_last_ms``: from the top of the unfiltered list to its last row painted (150 ms);
* ``queue_scroll_rss_growth_mb``: resident memory grown by scrolling the whole unfiltered
  list block by block (100 MB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from app.db import Database, open_database  # noqa: E402
from app.services import incident_query as q  # noqa: E402
from app.services.incident_query import IncidentFilter, Sort  # noqa: E402

SIZE = (1600, 1000)
OPENINGS = 5
REPEATS = 3
TIMEOUT_S = 120.0


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def wait(app: QApplication, done: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> None:
    end = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > end:
            raise TimeoutError("the queue did not answer in time")
        app.processEvents()
        time.sleep(0.0005)


def open_page(app: QApplication, db: Database):
    """A queue page shown at SIZE, loaded and painted; returns (page, milliseconds)."""
    from app.views.incident_queue import IncidentQueuePage
    from app.views.pages import PageContext

    began = time.perf_counter()
    page = IncidentQueuePage(PageContext(db=db, interactive=False))
    page.resize(*SIZE)
    page.show()
    page.activate()
    wait(app, lambda: page.is_loaded() or page.last_error is not None)
    if page.last_error is not None:
        raise page.last_error
    page.table.viewport().repaint()
    return page, (time.perf_counter() - began) * 1000


def close_page(app: QApplication, page) -> None:
    from app.views import ops

    page.poll_timer.stop()
    page.close()
    page.deleteLater()
    ops.shutdown(30_000)
    app.processEvents()


def changes() -> list[tuple[str, IncidentFilter, Sort]]:
    """20 filters and sorts a service manager would try, on open and on all incidents."""
    open_ = ("open",)
    return [
        ("p1p2 open", IncidentFilter(states=open_, priorities=(1, 2)), Sort("priority", False)),
        ("breached open", IncidentFilter(states=open_, sla=("breached",)), Sort("sla", False)),
        ("at risk open", IncidentFilter(states=open_, sla=("at_risk",)), Sort("sla", False)),
        ("unassigned open", IncidentFilter(states=open_, unassigned=True), q.DEFAULT_SORT),
        ("major open", IncidentFilter(states=open_, major=True), Sort("priority", False)),
        ("open by group", IncidentFilter(states=open_), Sort("group", False)),
        ("open by sla", IncidentFilter(states=open_), Sort("sla", False)),
        ("open text", IncidentFilter(states=open_, text="printer"), q.DEFAULT_SORT),
        ("group 3 all", IncidentFilter(group_ids=(3,)), q.DEFAULT_SORT),
        ("service 5 all", IncidentFilter(service_ids=(5,)), Sort("updated", True)),
        ("vendor 2 all", IncidentFilter(vendor_ids=(2,)), q.DEFAULT_SORT),
        ("resolved", IncidentFilter(states=("Resolved",)), Sort("updated", True)),
        ("all newest", IncidentFilter(), q.DEFAULT_SORT),
        ("all oldest", IncidentFilter(), Sort("opened", False)),
        ("all by number", IncidentFilter(), Sort("number", True)),
        ("all by updated", IncidentFilter(), Sort("updated", True)),
        ("all by priority", IncidentFilter(), Sort("priority", False)),
        ("all by age", IncidentFilter(), Sort("age", True)),
        ("all text", IncidentFilter(text="vpn"), q.DEFAULT_SORT),
        (
            "opened in january",
            IncidentFilter(opened_from="2026-01-01", opened_to="2026-01-31"),
            q.DEFAULT_SORT,
        ),
    ]


def apply_and_paint(app: QApplication, page, filt: IncidentFilter, sort: Sort) -> float:
    """Milliseconds from applying ``filt``/``sort`` to its first rows painted."""
    began = time.perf_counter()
    page._apply(filt, sort)
    wait(app, lambda: not page.model.loading)
    page.table.viewport().repaint()
    return (time.perf_counter() - began) * 1000


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main(db_path: str) -> None:
    """Print the queue's figures for the database at ``db_path``."""
    from app.views.application import application
    from app.views.qtmodels.incident_table import BLOCK_SIZE

    app = application()
    db = open_database(db_path, upgrade=False, create=False)
    try:
        page, cold = open_page(app, db)
        close_page(app, page)
        warm = []
        for _ in range(OPENINGS):
            page, ms = open_page(app, db)
            warm.append(ms)
            close_page(app, page)
        emit("queue_open_cold_ms", f"{cold:.0f}")
        emit("queue_open_ms", f"{statistics.median(warm):.0f}")

        page, _ = open_page(app, db)
        emit("queue_open_rows", page.model.total)
        timings = []
        for name, filt, sort in changes():
            # The machine is shared: each change is applied three times (from another
            # filter each time) and its median kept.
            runs = []
            for _ in range(REPEATS):
                apply_and_paint(app, page, IncidentFilter(states=("open",)), q.DEFAULT_SORT)
                runs.append(apply_and_paint(app, page, filt, sort))
            ms = statistics.median(runs)
            timings.append(ms)
            emit(f"queue_change_ms[{name}]", f"{ms:.0f} ({page.model.total:,} rows)")
        emit("queue_change_median_ms", f"{statistics.median(timings):.0f}")
        emit("queue_change_p95_ms", f"{p95(timings):.0f}")
        emit("queue_change_max_ms", f"{max(timings):.0f}")

        apply_and_paint(app, page, IncidentFilter(), q.DEFAULT_SORT)
        model, table = page.model, page.table
        total = model.total
        emit("queue_all_rows", total)
        jumps = []
        for _ in range(3):
            table.scrollToTop()
            table.viewport().repaint()
            wait(app, lambda: model.is_loaded(0))
            began = time.perf_counter()
            table.scrollToBottom()
            table.viewport().repaint()
            wait(app, lambda: model.is_loaded(total - 1))
            table.viewport().repaint()
            jumps.append((time.perf_counter() - began) * 1000)
        emit("queue_jump_last_ms", f"{statistics.median(jumps):.0f}")

        table.scrollToTop()
        app.processEvents()
        before = rss_mb()
        peak = before
        began = time.perf_counter()
        for row in range(0, total, BLOCK_SIZE):
            table.scrollTo(model.index(row, 0))
            table.viewport().repaint()
            wait(app, lambda row=row: model.is_loaded(row))
            if row % (BLOCK_SIZE * 250) == 0:
                peak = max(peak, rss_mb())
        table.viewport().repaint()
        after = rss_mb()
        emit("queue_scroll_all_s", f"{time.perf_counter() - began:.1f}")
        emit("queue_scroll_rss_before_mb", f"{before:.0f}")
        emit("queue_scroll_rss_growth_mb", f"{max(after, peak) - before:.0f}")
        emit("queue_scroll_cached_blocks", model.cached_blocks())
        close_page(app, page)
    finally:
        db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.bench_queue")
    parser.add_argument("--db", required=True, help="a demo database (only read)")
    main(parser.parse_args().db)
