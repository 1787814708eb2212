"""The KPI dashboard: a filter bar, the headline KPIs and a grid of trend charts.

Figures come from :mod:`app.services.kpi` and :mod:`app.services.kpi_trends` over the
database's shared column cache (:mod:`app.services.kpi_cache`): the first visit loads the
columns, and every filter change after that is a numpy computation in the background.
Clicking a bar or point opens the incident queue on exactly the incidents behind it.
Charts (pyqtgraph) are built on the first visit, so start-up does not import them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.formatting import format_count
from app.views import ops
from app.views.pages import Page, PageContext, PageHeader, register_page
from app.views.widgets import scaled_font

if TYPE_CHECKING:  # numpy and the KPI service load with the page's first figures
    from app.services.kpi import KpiFilter, KpiReport

#: Period choices: key -> words.
PERIODS: dict[str, str] = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "12m": "Last 12 months",
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "ytd": "Year to date",
    "custom": "Custom…",
}
DEFAULT_PERIOD = "12m"
#: Page widths from which the charts go in two and in three columns.
WIDE_PAGE = 1100
WIDER_PAGE = 1700


def chart_columns(width: int) -> int:
    return 3 if width >= WIDER_PAGE else 2 if width >= WIDE_PAGE else 1


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def period_dates(key: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of period ``key`` as seen on ``today``."""
    if key.endswith("d") and key[:-1].isdigit():
        return today - dt.timedelta(days=int(key[:-1]) - 1), today
    if key == "12m":
        return _month_start(today, 11), today
    if key == "this_month":
        return _month_start(today), today
    if key == "last_month":
        first = _month_start(today, 1)
        return first, _month_start(today) - dt.timedelta(days=1)
    quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    if key == "this_quarter":
        return quarter_start, today
    if key == "last_quarter":
        first = _month_start(quarter_start, 3)
        return first, quarter_start - dt.timedelta(days=1)
    if key == "ytd":
        return dt.date(today.year, 1, 1), today
    raise ValueError(f"unknown period {key!r}; use one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class Lookups:
    """Names for the filter bar and the charts, and the KPI targets."""

    groups: tuple[tuple[int, str], ...]
    services: tuple[tuple[int, str], ...]
    vendors: tuple[tuple[int, str], ...]
    targets: dict[str, Any]


def _lookups(session) -> Lookups:
    from sqlalchemy import select

    from app.models import Service
    from app.services.incident_query import filter_options
    from app.services.kpi_targets import load_targets

    options = filter_options(session)
    targets: dict[str, Any] = dict(load_targets(session))
    targets["service_availability"] = {
        int(i): float(t)
        for i, t in session.execute(select(Service.id, Service.availability_target))
    }
    return Lookups(
        groups=tuple((c.id, c.name) for c in options.groups),
        services=tuple((c.id, c.name) for c in options.services),
        vendors=tuple((c.id, c.name) for c in options.vendors),
        targets=targets,
    )


class KpiTile(QFrame):
    """One headline KPI: its name, value, and the previous period and target beside it."""

    def __init__(self, key: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"tile_{key}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.name = QLabel(name)
        self.name.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.value = QLabel("—")
        self.value.setObjectName("value")
        self.value.setFont(scaled_font(self.value, 1.5, bold=True))
        self.detail = QLabel()
        self.detail.setObjectName("detail")
        self.detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(0)
        layout.addWidget(self.name)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)

    def set(self, value: str, detail: str, good: bool | None, tooltip: str = "") -> None:
        self.value.setText(value)
        colour = {True: "#2e7d32", False: "#c62828"}.get(good)  # type: ignore[arg-type]
        # A symbol as well as a colour, so the verdict survives grey-scale and colour blindness.
        mark = {True: " ✔", False: " ✖"}.get(good, "")  # type: ignore[arg-type]
        self.value.setStyleSheet(f"color: {colour};" if colour else "")
        self.value.setText(value + mark)
        self.detail.setText(detail)
        self.setToolTip(tooltip)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


#: Headline tiles: key, name, how to read the value from a period, unit.
TILES: tuple[tuple[str, str, str], ...] = (
    ("mtta", "MTTA", "hours"),
    ("mttr", "MTTR (mean)", "hours"),
    ("mttr_business", "MTTR business hours", "hours"),
    ("sla_attainment", "SLA attainment", "%"),
    ("fcr", "First-contact resolution", "%"),
    ("reopen_rate", "Reopen rate", "%"),
    ("change_success", "Change success", "%"),
    ("emergency_ratio", "Emergency changes", "%"),
    ("csat", "CSAT", "%"),
    ("nps", "NPS", "score"),
)


def tile_value(report_period: Any, key: str) -> tuple[float | None, str]:
    """The tile's number and a line of detail (counts behind it)."""
    from app.services.kpi import Rate

    value = getattr(report_period, key)
    if key in ("mtta", "mttr", "mttr_business"):
        median = _hours(value.median)
        p90 = _hours(value.p90)
        from app.views.kpi_charts import hours_text

        detail = f"median {hours_text(median)} · p90 {hours_text(p90)}" if value.count else ""
        return _hours(value.mean), detail
    if isinstance(value, Rate):
        return value.percent, (
            f"{format_count(value.numerator)} of {format_count(value.denominator)}"
            if value.denominator
            else ""
        )
    if key == "nps":
        return value, f"{format_count(report_period.nps_responses)} responses"
    return value, ""


def format_value(value: float | None, unit: str) -> str:
    from app.views.kpi_charts import hours_text, percent_text

    if value is None:
        return "—"
    if unit == "hours":
        return hours_text(value)
    if unit == "%":
        return percent_text(value)
    return f"{value:+.0f}"


@register_page(key="kpis", title="KPIs", icon="kpis", order=60)
class KpiDashboardPage(Page):
    """Filters, headline tiles and trend charts with drill-down to the queue."""

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.lookups: Lookups | None = None
        self.dashboard = None
        self.charts: list = []
        self.tiles: dict[str, KpiTile] = {}
        self._generation = 0
        self._handle: ops.OpHandle | None = None
        self._columns = 0
        self._refreshing = False

        self.header = PageHeader("KPIs")
        self.status = QLabel()
        self.status.setObjectName("status")
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.header.actions_layout.addWidget(self.status)
        self.export_button = QToolButton()
        self.export_button.setObjectName("export")
        self.export_button.setText("Export…")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        self.export_png_action = menu.addAction("Charts as PNG images…", self.export_pngs)
        self.export_report_action = menu.addAction("Executive report workbook…", self.export_report)
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        self.header.actions_layout.addWidget(self.export_button)

        self.period = QComboBox()
        self.period.setObjectName("period")
        for key, words in PERIODS.items():
            self.period.addItem(words, key)
        self.period.setCurrentIndex(list(PERIODS).index(DEFAULT_PERIOD))
        self.from_edit = QDateEdit()
        self.to_edit = QDateEdit()
        for edit in (self.from_edit, self.to_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.hide()
        self.range_label = QLabel()
        self.range_label.setObjectName("range")
        self.range_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        from app.views.incident_queue import FilterButton

        self.service_button = FilterButton("Service")
        self.group_button = FilterButton("Group")
        self.vendor_button = FilterButton("Vendor")
        self.priority_button = FilterButton("Priority", [(p, f"P{p}") for p in range(1, 6)])
        bar = QHBoxLayout()
        bar.setSpacing(6)
        bar.addWidget(QLabel("Period"))
        bar.addWidget(self.period)
        bar.addWidget(self.from_edit)
        bar.addWidget(self.to_edit)
        bar.addWidget(self.range_label)
        bar.addSpacing(12)
        for button in (
            self.service_button,
            self.group_button,
            self.vendor_button,
            self.priority_button,
        ):
            bar.addWidget(button)
            button.changed.connect(self._filters_changed)
        bar.addStretch(1)
        self.period.currentIndexChanged.connect(self._period_changed)
        self.from_edit.dateChanged.connect(self._filters_changed)
        self.to_edit.dateChanged.connect(self._filters_changed)

        self.tile_grid = QGridLayout()
        self.tile_grid.setSpacing(8)
        for i, (key, name, _unit) in enumerate(TILES):
            tile = KpiTile(key, name)
            self.tiles[key] = tile
            self.tile_grid.addWidget(tile, i // 5, i % 5)
        self.chart_grid = QGridLayout()
        self.chart_grid.setSpacing(10)
        self.loading = QLabel("Loading the KPIs…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.skipped = QLabel()
        self.skipped.setObjectName("skipped")
        self.skipped.setWordWrap(True)
        self.skipped.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.skipped.hide()

        content = QWidget()
        body = QVBoxLayout(content)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(10)
        body.addLayout(self.tile_grid)
        body.addWidget(self.skipped)
        body.addWidget(self.loading)
        body.addLayout(self.chart_grid)
        body.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 8)
        layout.setSpacing(8)
        layout.addWidget(self.header)
        layout.addLayout(bar)
        layout.addWidget(self.scroll, 1)
        self._set_range_text()

    # Filters

    def today(self) -> dt.date:
        return self.context.clock().astimezone(dt.UTC).date()

    def period_key(self) -> str:
        return str(self.period.currentData())

    def current_filter(self) -> KpiFilter:
        """The KPI filter the bar shows (dates are whole UTC days)."""
        from app.services.kpi import KpiFilter

        if self.period_key() == "custom":
            start = self.from_edit.date().toPython()
            end = self.to_edit.date().toPython()
            if end < start:
                start, end = end, start
        else:
            start, end = period_dates(self.period_key(), self.today())

        def ids(button) -> list[int] | None:
            values = button.values()
            return [int(v) for v in values] or None

        return KpiFilter(
            start=start,
            end=end,
            service_ids=ids(self.service_button),
            group_ids=ids(self.group_button),
            vendor_ids=ids(self.vendor_button),
            priorities=ids(self.priority_button),
        )

    def _set_range_text(self) -> None:
        filt = self.current_filter()
        self.range_label.setText(
            f"{filt.start:%d %b %Y} – {filt.end:%d %b %Y}" if self.period_key() != "custom" else ""
        )

    def _period_changed(self) -> None:
        custom = self.period_key() == "custom"
        if custom:
            start, end = (
                (self.dashboard.report.filter.start, self.dashboard.report.filter.end)
                if self.dashboard is not None
                else period_dates("30d", self.today())
            )
            for edit, day in ((self.from_edit, start), (self.to_edit, end)):
                edit.blockSignals(True)
                edit.setDate(QDate(day.year, day.month, day.day))
                edit.blockSignals(False)
        self.from_edit.setVisible(custom)
        self.to_edit.setVisible(custom)
        self._filters_changed()

    def _filters_changed(self, *_args: Any) -> None:
        self._set_range_text()
        if self._activated:
            self.refresh()

    def open_with(self, params: dict) -> None:
        """``{"days": 7}`` or ``{"period": "12m"}``, optional ``group``/``service``/... ids."""
        period = params.get("period")
        if "days" in params:
            period = f"{int(params['days'])}d"
            if period not in PERIODS:
                self.period.addItem(f"Last {int(params['days'])} days", period)
        if period is not None:
            index = self.period.findData(period)
            if index >= 0:
                self.period.blockSignals(True)
                self.period.setCurrentIndex(index)
                self.period.blockSignals(False)
        for key, button in (
            ("service", self.service_button),
            ("group", self.group_button),
            ("vendor", self.vendor_button),
            ("priority", self.priority_button),
        ):
            if key in params:
                value = params[key]
                values = value if isinstance(value, list | tuple) else [value]
                button.set_values([int(v) for v in values])
        self._set_range_text()
        self._activated = True
        self.refresh()

    # Loading

    def _ensure_charts(self) -> None:
        if self.charts:
            return
        from app.views.kpi_charts import CHARTS

        for chart_class in CHARTS:
            chart = chart_class()
            chart.drilled.connect(self.drill)
            chart.export_button.clicked.connect(lambda _=False, c=chart: self.export_png(c))
            self.charts.append(chart)
        self._arrange(chart_columns(self.width()))

    def _arrange(self, columns: int) -> None:
        if columns == self._columns or not self.charts:
            return
        self._columns = columns
        for chart in self.charts:
            self.chart_grid.removeWidget(chart)
        for i, chart in enumerate(self.charts):
            self.chart_grid.addWidget(chart, i // columns, i % columns)
        for c in range(3):
            self.chart_grid.setColumnStretch(c, 1 if c < columns else 0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        self._arrange(chart_columns(event.size().width()))

    def refresh(self) -> None:
        """Recompute every KPI and chart for the bar's filter (in the background)."""
        from app.services.kpi_cache import kpi_cache

        if self._handle is not None and self._handle.running:
            self._handle.cancel()
        self._generation += 1
        generation = self._generation
        filt = self.current_filter()
        now = self.context.clock()
        cache = kpi_cache(self.context.db)
        need_lookups = self.lookups is None
        cold = cache.peek() is None
        self.status.setText("Loading…" if cold else "Updating…")

        def work(session, progress):
            from app.services.kpi_trends import compute_dashboard

            progress.update(0, 3, "Names and targets")
            lookups = _lookups(session) if need_lookups else None
            progress.update(1, 3, "Reading incidents" if cold else "Computing")
            cols = cache.snapshot(session)
            progress.check()
            progress.update(2, 3, "Computing")
            return lookups, compute_dashboard(cols, filt, now=now)

        op = ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=work,
            success=lambda result: self._arrived(generation, *result),
        ).failure(lambda exc: self._failed(generation, exc))
        if cold:
            op = op.with_progress("Loading KPIs")
        self._handle = op.run_in_background()
        # The charts (and pyqtgraph) are built while the figures load.
        self._ensure_charts()

    def _arrived(self, generation: int, lookups: Lookups | None, dashboard) -> None:
        if generation != self._generation:
            return
        if lookups is not None:
            self.lookups = lookups
            self._fill_choices(lookups)
        self.show_dashboard(dashboard)
        self._refresh_columns_if_stale()

    def _refresh_columns_if_stale(self) -> None:
        """Fold in what changed since the columns were read, then recompute (background)."""
        from app.services.kpi_cache import kpi_cache

        cache = kpi_cache(self.context.db)
        if cache.is_fresh() or self._refreshing:
            return
        self._refreshing = True
        before = cache.peek()

        def done(cols) -> None:
            self._refreshing = False
            if cols is not before:
                self.refresh()

        def failed(exc: BaseException) -> None:
            self._refreshing = False
            self.status.setText(f"Could not refresh the KPIs: {exc}")

        ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=lambda session, _progress: cache.columns(session),
            success=done,
        ).failure(failed).run_in_background()

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self.status.setText("Could not load the KPIs")
        self.loading.setText(f"Could not load the KPIs: {exc}")
        self.loading.show()
        self.fail_load(exc)

    def _fill_choices(self, lookups: Lookups) -> None:
        for button, choices in (
            (self.service_button, lookups.services),
            (self.group_button, lookups.groups),
            (self.vendor_button, lookups.vendors),
        ):
            kept = button.values()
            button.blockSignals(True)
            button.set_choices(list(choices))
            button.set_values(kept)
            button.blockSignals(False)

    def names(self):
        from app.views.kpi_charts import Names

        lookups = self.lookups
        return Names(
            groups=dict(lookups.groups) if lookups else {},
            services=dict(lookups.services) if lookups else {},
        )

    def show_dashboard(self, dashboard) -> None:
        """Fill the tiles and charts from a :class:`~app.services.kpi_trends.Dashboard`."""
        self.dashboard = dashboard
        targets = self.lookups.targets if self.lookups else {}
        names = self.names()
        self._fill_tiles(dashboard.report, targets)
        for chart in self.charts:
            chart.show_dashboard(dashboard, names, targets)
        skipped = dashboard.skipped
        if skipped:
            parts = ", ".join(
                f"{format_count(n)} for {k.replace('_', ' ')}" for k, n in skipped.items()
            )
            self.skipped.setText(f"Rows with missing or impossible times were left out: {parts}.")
        self.skipped.setVisible(bool(skipped))
        self.loading.hide()
        when = self.context.clock().astimezone()
        self.status.setText(f"Updated {when:%H:%M}")
        self.export_button.setEnabled(True)
        self.mark_loaded()

    def _fill_tiles(self, report: KpiReport, targets: dict[str, Any]) -> None:
        from app.services.kpi_targets import meets

        for key, name, unit in TILES:
            value, detail = tile_value(report.current, key)
            previous, _ = tile_value(report.previous, key)
            target = targets.get(key)
            goal = getattr(target, "target", None)
            parts = [f"prev {format_value(previous, unit)}"]
            if goal is not None:
                parts.append(f"target {format_value(goal, unit)}")
            good = meets(target, value) if target is not None else None
            tip = f"{name}: {format_value(value, unit)}"
            if detail:
                tip += f" ({detail})"
            self.tiles[key].set(format_value(value, unit), " · ".join(parts), good, tip)

    # Drill-down

    def filter_words(self, filt: KpiFilter) -> str:
        """The filter's service, group, vendor and priority in words ("" for none)."""
        lookups = self.lookups
        parts = []
        for title, ids, names in (
            ("Service", filt.service_ids, dict(lookups.services) if lookups else {}),
            ("Group", filt.group_ids, dict(lookups.groups) if lookups else {}),
            ("Vendor", filt.vendor_ids, dict(lookups.vendors) if lookups else {}),
        ):
            if ids:
                parts.append(f"{title}: " + ", ".join(names.get(i, str(i)) for i in ids))
        if filt.priorities:
            parts.append("Priority: " + ", ".join(f"P{p}" for p in filt.priorities))
        return " · ".join(parts)

    def drill(self, chart: str, key: object, words: str) -> None:
        """Open the queue on the incidents behind ``key`` of ``chart``."""
        from app.services.kpi_cache import kpi_cache
        from app.services.kpi_trends import drill_ids

        if self.dashboard is None:
            return
        filt = self.dashboard.report.filter
        cols = kpi_cache(self.context.db).peek()
        if cols is None:
            return
        if chart == "flow":
            chart, key = key  # type: ignore[misc]
        ids = drill_ids(cols, filt, chart, key, now=self.context.clock())
        if ids.size == 0:
            self.status.setText(f"No incidents behind “{words}”")
            return
        extra = self.filter_words(filt)
        label = f"{words}{' · ' + extra if extra else ''} ({format_count(int(ids.size))})"
        self.last_drill = {"ids": ids.tolist(), "ids_label": label}
        if "incidents" in self.context.page_keys:
            self.navigate.emit("incidents", self.last_drill)

    # Exports

    def _stem(self) -> str:
        filt = self.current_filter()
        return f"kpi-{filt.start:%Y%m%d}-{filt.end:%Y%m%d}"

    def export_png(self, chart, path: str | None = None) -> None:
        """Save one chart as a PNG (asks where unless ``path`` is given)."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, f"Save {chart.title}", f"{self._stem()}-{chart.key}.png", "PNG image (*.png)"
            )
            if not path:
                return
        try:
            chart.render_png(path)
        except OSError as exc:
            ops.show_error(self, exc)
            return
        self.status.setText(f"Saved {path}")

    def export_pngs(self, folder: str | None = None) -> list:
        """Save every chart as a PNG in ``folder`` (asks unless given)."""
        from app.views.kpi_charts import export_all

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save the charts in")
            if not folder:
                return []
        try:
            written = export_all(self.charts, folder, self._stem())
        except OSError as exc:
            ops.show_error(self, exc)
            return []
        self.status.setText(f"Saved {len(written)} charts in {folder}")
        return written

    def export_report(self, path: str | None = None, period: str | None = None) -> None:
        """Write the executive report workbook (asks for the period and file unless given)."""
        from app.views.kpi_report_dialog import run_report_export

        run_report_export(self, path=path, period=period)
