"""The KPI dashboard: charts load, filters recompute, clicks drill into the queue, exports."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.db import open_database
from app.services.demo import create_demo_database
from app.services.kpi import AGING_BUCKETS, KpiFilter
from app.services.kpi_cache import kpi_cache
from app.views.kpi_dashboard import PERIODS, period_dates

ANCHOR = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("dash") / "demo.db"
    create_demo_database(str(path), incidents=2000, seed=3, anchor=ANCHOR)
    return path


@pytest.fixture
def dashboard(qtbot, open_window, demo_path):
    db = open_database(str(demo_path))
    window = open_window(db, clock=lambda: NOW)
    window.resize(1400, 900)
    page = window.show_page("kpis")
    qtbot.waitUntil(lambda: page.is_loaded() or page.last_error is not None, timeout=20_000)
    assert page.last_error is None
    return window, page


def wait_for(qtbot, page, check) -> None:
    qtbot.waitUntil(lambda: page.dashboard is not None and check(page.dashboard), timeout=10_000)


def test_every_chart_and_tile_is_filled(dashboard):
    _, page = dashboard
    assert len(page.charts) == 7
    for chart in page.charts:
        assert not chart.is_empty(), chart.key
        assert chart.figure.text(), chart.key
    for key, tile in page.tiles.items():
        assert tile.value.text() != "—", key
    assert page.export_button.isEnabled()
    # The default period is the last 12 months, cut into months.
    assert page.dashboard.buckets.kind == "month"
    assert len(page.dashboard.buckets) == 12


def test_the_tiles_show_the_kpi_service_figures(dashboard):
    from app.services.kpi import compute_kpis

    window, page = dashboard
    filt = page.current_filter()
    with window.context.db.session() as session:
        report = compute_kpis(kpi_cache(window.context.db).columns(session), filt, now=NOW)
    sla = report.current.sla_attainment.percent
    assert page.tiles["sla_attainment"].value.text().startswith(f"{sla:.1f} %")
    assert f"{report.current.csat.percent:.1f} %" in page.tiles["csat"].value.text()


def test_changing_a_filter_recomputes_the_charts(qtbot, dashboard):
    _, page = dashboard
    page.priority_button.set_values([1])
    page.priority_button.changed.emit()
    wait_for(qtbot, page, lambda d: d.report.filter.priorities == [1])
    mttr = page.charts[0]
    assert all(sum(page.dashboard.mttr_counts[p]) == 0 for p in (2, 3, 4, 5))
    assert mttr.lines[2].xData is None or len(mttr.lines[2].xData) == 0
    page.period.setCurrentIndex(list(PERIODS).index("30d"))
    wait_for(qtbot, page, lambda d: d.buckets.kind == "week")
    start, end = period_dates("30d", NOW.date())
    assert page.dashboard.report.filter.start == start


def test_a_filter_matching_nothing_says_no_data(qtbot, dashboard):
    _, page = dashboard
    page.period.setCurrentIndex(list(PERIODS).index("custom"))
    page.from_edit.setDate(dt.date(2030, 1, 1))
    page.to_edit.setDate(dt.date(2030, 1, 31))
    wait_for(qtbot, page, lambda d: d.report.filter.start == dt.date(2030, 1, 1))
    for chart in page.charts:
        if chart.key != "availability":
            assert chart.is_empty(), chart.key
    assert page.tiles["mttr"].value.text().startswith("—")


def test_the_custom_period_puts_reversed_dates_in_order(dashboard):
    _, page = dashboard
    page.period.setCurrentIndex(list(PERIODS).index("custom"))
    page.from_edit.setDate(dt.date(2026, 10, 31))
    page.to_edit.setDate(dt.date(2026, 10, 1))
    filt = page.current_filter()
    assert (filt.start, filt.end) == (dt.date(2026, 10, 1), dt.date(2026, 10, 31))


def test_hovering_a_point_tells_its_exact_value(dashboard):
    _, page = dashboard
    mttr = page.charts[0]
    dash = page.dashboard
    i = len(dash.buckets) - 2
    import math

    y = math.log10(dash.mttr_hours[3][i])
    hit = mttr.hit(mttr.scene_point(i, y))
    assert hit is not None and hit.key == (i, 3)
    assert f"{dash.mttr_counts[3][i]:,} incidents resolved" in hit.tooltip
    assert mttr.hit(mttr.scene_point(i + 0.5, y + 5)) is None


def test_clicking_a_point_opens_the_queue_on_exactly_its_incidents(qtbot, dashboard):
    window, page = dashboard
    mttr = page.charts[0]
    dash = page.dashboard
    i = len(dash.buckets) - 2
    import math

    expected = dash.mttr_counts[3][i]
    point = mttr.widget_point(i, math.log10(dash.mttr_hours[3][i]))
    qtbot.mouseClick(mttr.plot.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: window.current_key() == "incidents", timeout=5_000)
    queue = window.current_page()
    assert len(queue.filter.ids) == expected
    assert queue.drill_chip.isVisible()
    assert "MTTR · P3" in queue.drill_chip.text()
    qtbot.waitUntil(lambda: queue.count_label.text().startswith(f"{expected:,}"), timeout=10_000)
    # Removing the chip shows every incident again.
    queue.drill_chip.click()
    assert queue.filter.ids == ()


def test_clicking_a_group_bar_and_a_backlog_day_drill_down(qtbot, dashboard):
    window, page = dashboard
    sla = next(c for c in page.charts if c.key == "sla_group")
    worst = page.dashboard.sla_by_group[0]
    assert sla.click_at(sla.scene_point(worst.rate.percent - 1, 0))
    qtbot.waitUntil(lambda: window.current_key() == "incidents", timeout=5_000)
    assert window.current_page().filter.ids
    window.show_page("kpis")
    backlog = next(c for c in page.charts if c.key == "backlog")
    day = len(backlog.days) - 1
    daily = page.dashboard.report.current.daily
    lowest = next(b for b in AGING_BUCKETS if daily.aging[b][day])
    hit = backlog.hit(backlog.scene_point(backlog.xs[day], 0.5))
    assert hit is not None and hit.key == (day, lowest)
    total = daily.backlog[day]
    assert f"{total:,} open" in hit.tooltip


def test_each_chart_exports_as_a_png(dashboard, tmp_path):
    _, page = dashboard
    written = page.export_pngs(str(tmp_path))
    assert len(written) == 7
    for path in written:
        image = QImage(str(path))
        assert image.width() > 400 and image.height() > 200
    assert not list(tmp_path.glob("*.tmp*"))


def test_the_report_workbook_is_written_in_the_background(qtbot, dashboard, tmp_path):
    _, page = dashboard
    out = tmp_path / "report.xlsx"
    page.export_report(path=str(out), period="2026-10")
    qtbot.waitUntil(lambda: getattr(page, "last_report", None) is not None, timeout=30_000)
    book = openpyxl.load_workbook(out)
    assert "Summary" in book.sheetnames
    assert len(book.sheetnames) > 5


def test_today_can_open_the_dashboard_on_seven_days(qtbot, dashboard):
    window, page = dashboard
    window.navigate("kpis", {"days": 7})
    wait_for(qtbot, page, lambda d: d.buckets.kind == "day" and len(d.buckets) == 7)
    assert page.dashboard.report.filter == KpiFilter(
        NOW.date() - dt.timedelta(days=6), NOW.date(), None, None, None, None
    )
