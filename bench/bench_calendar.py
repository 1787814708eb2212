"""CAB calendar benchmark: a month of 2,000 changes painted, and switching months.

python -m bench.bench_calendar --db PATH [--changes 2000]   # PATH is only read

The busiest month of the database is topped up (in a scratch copy) to ``--changes``
changes planned in it, then, on a 1600 x 1000 offscreen calendar:

* ``calendar_load_month_ms``: ``load_calendar`` for the month grid (changes, conflicts,
  windows) - the page does this in the background.
* ``calendar_month_first_paint_ms``: ``set_data`` (the layout) and the first paint
  (budget 300 ms); ``calendar_month_repaint_ms``: a repaint alone.
* ``calendar_month_switch_ms``: next month, ``set_data`` of its (already loaded) data
  and the paint (budget 150 ms).
* Baselines measured in the same run: ``baseline_naive_paint_ms`` draws one plain line
  (fill and unelided text) per change and grid day it touches, stacked in each cell on
  an image of the same size: the floor of putting the month's changes on screen at all.
  ``*_over_naive`` are the calendar's figures against it (the price of the layout,
  elision, state badges and conflict marks); ``*_over_budget`` against the budgets
  above (below 1 is within budget).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RUNS = 7
SIZE = (1600, 1000)
PAINT_BUDGET_MS = 300.0
SWITCH_BUDGET_MS = 150.0
RISKS = ("Low", "Moderate", "High", "Very High")
STATES = ("New", "Assess", "Authorize", "Scheduled", "Closed")


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def timed(work: Callable[[], object], runs: int = RUNS) -> float:
    """Median milliseconds of ``runs`` calls."""
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds) * 1000


def busiest_month(db_path: str) -> tuple[int, int, int]:
    """(year, month, changes planned in it) of the month with the most planned changes."""
    from sqlalchemy import select

    from app.db import open_database
    from app.models.change import ChangeRequest

    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.session() as s:
            starts = s.scalars(
                select(ChangeRequest.planned_start).where(ChangeRequest.planned_start.is_not(None))
            ).all()
    finally:
        database.dispose()
    counts = Counter((d.year, d.month) for d in starts)
    if not counts:
        today = dt.date.today()
        return today.year, today.month, 0
    (year, month), count = counts.most_common(1)[0]
    return year, month, count


def top_up(db_path: str, year: int, month: int, missing: int) -> None:
    """Add ``missing`` random changes (1-6 h, one CI each) planned in the month."""
    from sqlalchemy import func, select

    from app.db import open_database
    from app.models import ConfigurationItem
    from app.models.change import ChangeRequest, change_ci

    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.transaction() as s:
            first_id = (s.scalar(select(func.max(ChangeRequest.id))) or 0) + 1
            cis = list(s.scalars(select(ConfigurationItem.id))) or [None]
            rng = random.Random(11)
            base = dt.datetime(year, month, 1, tzinfo=dt.UTC)
            rows, links = [], []
            for n in range(missing):
                cid = first_id + n
                start = base + dt.timedelta(minutes=15 * rng.randrange(4 * 24 * 28))
                rows.append(
                    {
                        "id": cid,
                        "number": f"CHGB{cid:07d}",
                        "short_description": f"Calendar bench change {n}",
                        "state": rng.choice(STATES),
                        "risk": rng.choice(RISKS),
                        "type": "Normal",
                        "planned_start": start,
                        "planned_end": start + dt.timedelta(hours=rng.choice([1, 2, 3, 4, 6])),
                    }
                )
                if cis[0] is not None:
                    links.append({"change_id": cid, "ci_id": rng.choice(cis)})
            s.execute(ChangeRequest.__table__.insert(), rows)
            if links:
                s.execute(change_ci.insert(), links)
    finally:
        database.dispose()


def naive_paint(view, data, image) -> None:
    """The baseline: every change drawn in every grid day it touches, no culling."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QColor, QPainter

    from app.views.cab_calendar import risk_fill

    month = view.month
    painter = QPainter(image)
    painter.fillRect(image.rect(), QColor("#ffffff"))
    lh = month.line_height()
    for change in data.changes:
        fill, ink = risk_fill(change.risk)
        for day in view.tz.days(change.start, change.end):
            index = (day - month.first).days
            if not 0 <= index < 42:
                continue
            cell = month.cell_rect(index)
            painter.save()
            painter.setClipRect(cell)
            rect = QRectF(cell.left() + 2, cell.top() + lh, cell.width() - 4, lh - 1)
            painter.fillRect(rect, fill)
            painter.setPen(ink)
            painter.drawText(rect, f"{change.number} {change.short_description}")
            painter.restore()
    painter.end()


def measure(db_path: str, year: int, month: int) -> None:
    from PySide6.QtGui import QImage

    from app.db import open_database
    from app.services.change_calendar import load_calendar
    from app.views.application import application
    from app.views.cab_calendar import CalendarView

    app = application()
    anchor = dt.date(year, month, 15)
    now = dt.datetime(year, month, 15, 12, tzinfo=dt.UTC)
    view = CalendarView(clock=lambda: now, zone=dt.UTC)
    view.resize(*SIZE)
    view.show()
    view.set_anchor(anchor)
    app.processEvents()
    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.session() as s:
            period = view.period()
            load_ms = timed(lambda: load_calendar(s, *period, None, now), runs=3)
            data = load_calendar(s, *period, None, now)
            view.next_period()
            following = load_calendar(s, *view.period(), None, now)
            view.previous_period()
    finally:
        database.dispose()
    start, end = dt.datetime(year, month, 1, tzinfo=dt.UTC), view.period()[1]
    in_month = sum(1 for c in data.changes if c.start < end and c.end > start)
    emit("calendar_changes_in_grid", len(data.changes))
    emit("calendar_changes_in_month", in_month)
    emit("calendar_changes_with_conflicts", data.conflicting)
    emit("calendar_load_month_ms", f"{load_ms:.1f}")

    def first_paint() -> None:
        view.set_data(data)
        view.month.repaint()

    first_ms = timed(first_paint)
    repaint_ms = timed(view.month.repaint)
    months = [following, data]

    def switch() -> None:
        if view.anchor().month == month:
            view.next_period()
        else:
            view.previous_period()
        view.set_data(months[0] if view.anchor().month != month else months[1])
        view.month.repaint()

    switch_ms = timed(switch)
    image = QImage(view.month.size(), QImage.Format.Format_ARGB32_Premultiplied)
    naive_ms = timed(lambda: naive_paint(view, data, image))
    emit("calendar_month_first_paint_ms", f"{first_ms:.1f}")
    emit("calendar_month_repaint_ms", f"{repaint_ms:.1f}")
    emit("calendar_month_switch_ms", f"{switch_ms:.1f}")
    emit("baseline_naive_paint_ms", f"{naive_ms:.1f}")
    emit("calendar_month_first_paint_over_naive", f"{first_ms / max(naive_ms, 1e-9):.2f}")
    emit("calendar_month_switch_over_naive", f"{switch_ms / max(naive_ms, 1e-9):.2f}")
    emit("calendar_month_first_paint_over_budget", f"{first_ms / PAINT_BUDGET_MS:.2f}")
    emit("calendar_month_switch_over_budget", f"{switch_ms / SWITCH_BUDGET_MS:.2f}")
    for mode in ("week", "agenda"):
        view.set_mode(mode)
        view.set_anchor(anchor)
        view.set_data(data)
        canvas = view.current_canvas()
        emit(
            f"calendar_{mode}_set_data_and_paint_ms",
            f"{timed(lambda c=canvas: (view.set_data(data), c.repaint())):.1f}",
        )
    view.close()
    app.processEvents()


def main(db_path: str, changes: int = 2000) -> None:
    """Print the calendar's figures on a copy of ``db_path`` with ``changes`` in a month."""
    year, month, have = busiest_month(db_path)
    emit("calendar_month", f"{year}-{month:02d}")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "calendar.db"
        if Path(db_path).is_file():
            source, target = sqlite3.connect(db_path), sqlite3.connect(copy)
            with target:
                source.backup(target)
            source.close()
            target.close()
            path = str(copy)
        else:
            path = db_path  # a server URL: measured as it is, never written
            changes = 0
        if changes > have:
            top_up(path, year, month, changes - have)
        measure(path, year, month)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a demo database (path or URL)")
    parser.add_argument("--changes", type=int, default=2000, help="changes planned in the month")
    args = parser.parse_args()
    main(args.db, args.changes)
