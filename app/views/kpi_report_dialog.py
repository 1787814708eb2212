"""Writing the executive report workbook from the KPI dashboard, in the background."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.services.kpi_report import ReportFilters, ReportPeriod, month, parse_period
from app.views import ops

if TYPE_CHECKING:
    from app.views.kpi_dashboard import KpiDashboardPage

#: How many past months (or weeks) the dialog offers.
CHOICES = 12


def recent_periods(kind: str, today: dt.date, count: int = CHOICES) -> list[ReportPeriod]:
    """The ``count`` latest whole months or ISO weeks before ``today``, newest first.

    The current month or week is offered first when it has begun (a report on it so far).
    """
    if kind == "month":
        current = month(today.year, today.month)
    else:
        year, week, _ = today.isocalendar()
        current = parse_period(f"{year}-W{week:02d}")
    return [current.shifted(-i) for i in range(count)]


class ReportDialog(QDialog):
    """Monthly or weekly, and which month or week."""

    def __init__(self, today: dt.date, filters_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Executive report")
        self.today = today
        self.monthly = QRadioButton("Monthly")
        self.weekly = QRadioButton("Weekly")
        self.monthly.setChecked(True)
        self.period = QComboBox()
        self.period.setObjectName("reportPeriod")
        self.monthly.toggled.connect(self._fill)
        form = QFormLayout()
        kinds = QVBoxLayout()
        kinds.addWidget(self.monthly)
        kinds.addWidget(self.weekly)
        form.addRow("Report", kinds)
        form.addRow("Period", self.period)
        form.addRow("Filters", QLabel(filters_text or "none (every incident)"))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._fill()

    def _fill(self) -> None:
        kind = "month" if self.monthly.isChecked() else "week"
        self.period.clear()
        periods = recent_periods(kind, self.today)
        for p in periods:
            self.period.addItem(p.title, p.label)
        # Default to the last complete period.
        self.period.setCurrentIndex(1 if len(periods) > 1 else 0)

    def chosen(self) -> str:
        return str(self.period.currentData())


def run_report_export(
    page: KpiDashboardPage, path: str | None = None, period: str | None = None
) -> ops.OpHandle | None:
    """Ask for the period and file (unless given), then write the workbook in the background."""
    from app.services.kpi_cache import kpi_cache
    from app.services.kpi_report import write_executive_report

    filt = page.current_filter()
    filters = ReportFilters(
        service_ids=tuple(filt.service_ids) if filt.service_ids else None,
        group_ids=tuple(filt.group_ids) if filt.group_ids else None,
        vendor_ids=tuple(filt.vendor_ids) if filt.vendor_ids else None,
        priorities=tuple(filt.priorities) if filt.priorities else None,
    )
    if period is None:
        dialog = ReportDialog(page.today(), page.filter_words(filt), page)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        period = dialog.chosen()
    if path is None:
        path, _ = QFileDialog.getSaveFileName(
            page,
            "Save the executive report",
            f"kpi-report-{period}.xlsx",
            "Excel workbook (*.xlsx)",
        )
        if not path:
            return None
    cache = kpi_cache(page.context.db)
    now = page.context.clock()

    def work(session, progress):
        return write_executive_report(
            cache.columns(session), session, period, path, filters, now=now, progress=progress
        )

    def done(summary) -> None:
        page.status.setText(f"Saved the report for {period} to {path}")
        page.last_report = summary

    page.status.setText(f"Writing the report for {period}…")
    return (
        ops.QueryOp(parent=page, db=page.context.db, op=work, success=done)
        .with_progress("Writing the executive report")
        .run_in_background()
    )
