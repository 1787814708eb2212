"""The Roster page: a schedule's timeline, coverage, fairness, overrides and escalation.

The header picks the schedule and the period (start week, number of weeks) and offers
"New from template…", "Build roster…" (the CP-SAT solver in the background, with progress
and cancel; the result is shown as a draft to save or discard, or the reasons in words when
no roster exists) and "Export…" (workbook and calendars). Below: the timeline
(:class:`~app.views.roster_timeline.RosterTimeline`) with its coverage strip, the fairness
table, and a side panel with who is on call now, the period's overrides and the escalation
matrix editor. Overrides and swaps (drag a shift to another row, or the context menu) are
checked against the working-time rules before they are saved
(:mod:`app.services.roster_edits`).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.services import escalation as esc
from app.services import roster_edits as edits
from app.views import ops
from app.views.icons import icon
from app.views.pages import Page, PageContext, PageHeader, register_page
from app.views.roster_dialogs import BuildDialog, ChangeDialog, EscalationEditor, TemplateDialog
from app.views.roster_timeline import (
    RosterTimeline,
    TimelineData,
    TimelineGap,
    TimelineLayer,
    TimelineShift,
    layer_colour,
)
from app.views.theme import DANGER_TEXT, GOOD_TEXT, WARNING_TEXT
from app.views.widgets import scaled_font

DEFAULT_WEEKS = 4
FAIRNESS_COLUMNS = (
    ("Person", None),
    ("Hours", "hours"),
    ("± mean", "hours_vs_mean"),
    ("Nights", "nights"),
    ("± mean", "nights_vs_mean"),
    ("Weekends", "weekends"),
    ("± mean", "weekends_vs_mean"),
    ("Holidays", "holidays"),
    ("± mean", "holidays_vs_mean"),
)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


# Questions the page asks (module functions, so tests can answer them)


def ask_template(
    parent: QWidget, people: Sequence[tuple[int, str, str]], start: dt.date, zone: str
) -> dict | None:
    dialog = TemplateDialog(people, start, zone, parent)
    return dialog.values() if dialog.exec() == TemplateDialog.DialogCode.Accepted else None


def ask_build(parent: QWidget, start: dt.date, weeks: int, schedule: str) -> dict | None:
    dialog = BuildDialog(start, weeks, schedule, parent)
    return dialog.values() if dialog.exec() == BuildDialog.DialogCode.Accepted else None


def ask_export(parent: QWidget, name: str) -> tuple[str | None, str | None] | None:
    """Where to write the workbook and the calendars (either may be None), or None: cancel."""
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "roster"
    xlsx, _ = QFileDialog.getSaveFileName(
        parent, "Export roster workbook", f"{slug}.xlsx", "Excel workbooks (*.xlsx)"
    )
    ics = QFileDialog.getExistingDirectory(parent, "Folder for the calendars (.ics), or cancel")
    if not xlsx and not ics:
        return None
    return xlsx or None, ics or None


def ask_remove_override(parent: QWidget, text: str) -> bool:
    box = QMessageBox(parent)
    box.setWindowTitle(APP_NAME)
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(f"Remove this override?\n{text}")
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes.value


def tell(parent: QWidget, text: str, warning: bool = False) -> None:
    box = QMessageBox(parent)
    box.setWindowTitle(APP_NAME)
    box.setIcon(QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information)
    box.setText(text)
    box.exec()


# Panels


class NowPanel(QFrame):
    """Who is on call now, per role, until when."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nowOnCall")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.title = QLabel("On call now")
        self.title.setFont(scaled_font(self.title, 1.1, bold=True))
        self.body = QLabel("—")
        self.body.setObjectName("nowText")
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.body)
        self.entries: list[edits.NowOnCall] = []

    def show_now(self, entries: Sequence[edits.NowOnCall], zone: str) -> None:
        self.entries = list(entries)
        if not entries:
            self.body.setText("<i>This schedule has no layers yet.</i>")
            return
        tz = ZoneInfo(zone)
        lines = []
        for e in entries:
            role = html.escape(e.role.capitalize())
            if e.person_id is None:
                lines.append(
                    f"<b>{role}</b>: <span style='color:{DANGER_TEXT}'><b>nobody — "
                    "coverage gap</b></span>"
                )
                continue
            until = f" until {e.until.astimezone(tz):%a %d %b %H:%M}" if e.until else ""
            how = (
                " (override)"
                if e.override
                else (f" ({html.escape(e.layer_name)})" if e.layer_name else "")
            )
            lines.append(f"<b>{role}</b>: {html.escape(e.name)}<span>{how}{until}</span>")
        self.body.setText("<br>".join(lines))


class FairnessTable(QTableView):
    """Per person: hours, nights, weekends and holidays, each against the team mean."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fairnessTable")
        self.source = QStandardItemModel(0, len(FAIRNESS_COLUMNS), self)
        self.source.setHorizontalHeaderLabels([title for title, _ in FAIRNESS_COLUMNS])
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.source)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for k in range(1, len(FAIRNESS_COLUMNS)):
            header.setSectionResizeMode(k, QHeaderView.ResizeMode.ResizeToContents)
        for k, (_, key) in enumerate(FAIRNESS_COLUMNS):
            if key and key.endswith("_vs_mean"):
                self.source.setHeaderData(
                    k,
                    Qt.Orientation.Horizontal,
                    "Difference to the team mean",
                    Qt.ItemDataRole.ToolTipRole,
                )

    def set_rows(self, rows: Sequence[edits.FairnessLine]) -> None:
        self.setSortingEnabled(False)
        self.source.removeRows(0, self.source.rowCount())
        for r in rows:
            items = []
            for _, key in FAIRNESS_COLUMNS:
                if key is None:
                    item = QStandardItem(r.name)
                    item.setData(r.name.lower(), SORT_ROLE)
                    item.setData(r.person_id, Qt.ItemDataRole.UserRole)
                else:
                    value = getattr(r, key)
                    if key.endswith("_vs_mean"):
                        text = "0" if abs(value) < 0.05 else f"{value:+.1f}".removesuffix(".0")
                        item = QStandardItem(text)
                        if value > 0.5:
                            item.setData(_brush(WARNING_TEXT), Qt.ItemDataRole.ForegroundRole)
                        elif value < -0.5:
                            item.setData(_brush("#1e88e5"), Qt.ItemDataRole.ForegroundRole)
                    else:
                        text = f"{value:g}" if isinstance(value, float) else str(value)
                        item = QStandardItem(text)
                    item.setData(float(value), SORT_ROLE)
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                items.append(item)
            self.source.appendRow(items)
        self.setSortingEnabled(True)

    def value(self, name: str, column: str) -> str:
        """The text of ``column`` (a key of FAIRNESS_COLUMNS) in ``name``'s row (for tests)."""
        keys = [key for _, key in FAIRNESS_COLUMNS]
        for row in range(self.source.rowCount()):
            if self.source.item(row, 0).text() == name:
                return self.source.item(row, keys.index(column)).text()
        raise KeyError(name)


def _brush(colour: str) -> QBrush:
    return QBrush(QColor(colour))


class OverridesPanel(QWidget):
    """The overrides of the period, newest first, with New and Remove."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("overridesTable")
        self.table.setHorizontalHeaderLabels(["Who", "When", "Why"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 120)
        self.table.setColumnWidth(1, 230)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.new_button = QPushButton("New override…")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setEnabled(False)
        self.table.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(bool(self.table.selectedItems()))
        )
        self.empty = QLabel(
            "No overrides in this period. Right-click the timeline, or drag a shift to another person, to make one."
        )
        self.empty.setWordWrap(True)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addLayout(buttons)
        self.rows: list[Any] = []

    def set_rows(self, overrides: Sequence[Any], names: dict[int, str], zone: str) -> None:
        tz = ZoneInfo(zone)
        self.rows = list(overrides)
        self.table.setRowCount(len(self.rows))
        for k, o in enumerate(self.rows):
            a, b = o.starts_at.astimezone(tz), o.ends_at.astimezone(tz)
            when = f"{a:%a %d %b %H:%M} – {b:%a %d %b %H:%M}"
            cells = (names.get(o.person_id, f"Person {o.person_id}"), when, o.reason or "")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(k, c, item)
        if self.rows:
            self.table.resizeColumnToContents(0)
            self.table.resizeColumnToContents(1)
        self.empty.setVisible(not self.rows)

    def selected(self):
        row = self.table.currentRow()
        return self.rows[row] if 0 <= row < len(self.rows) and self.table.selectedItems() else None


# The page


@register_page(key="roster", title="Roster", icon="roster", order=40)
class RosterPage(Page):
    live_tables = frozenset(
        (
            "oncall_schedule",
            "schedule_layer",
            "layer_member",
            "schedule_override",
            "leave",
            "roster",
            "roster_shift",
            "escalation_policy",
            "escalation_level",
        )
    )

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.setObjectName("rosterPage")
        self.schedules: list[edits.ScheduleChoice] = []
        self.schedule_id: int | None = None
        self.view: edits.RosterView | None = None
        self.draft: Any = None  # a RosterResult shown instead of the stored shifts
        self.build_handle: ops.OpHandle | None = None
        self.change_dialog: ChangeDialog | None = None
        self.policy_id: int | None = None
        self._escalation_for: int | None = None
        self._loading = False
        self._reload_after = False

        header = PageHeader(self.title)
        self.header = header
        self.schedule_box = QComboBox()
        self.schedule_box.setAccessibleName("Schedule")
        self.schedule_box.setMinimumContentsLength(22)
        self.schedule_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.schedule_box.currentIndexChanged.connect(self._schedule_changed)
        today = monday_of(self.context.clock().date())
        self.start_edit = QDateEdit(QDate(today.year, today.month, today.day))
        self.start_edit.setCalendarPopup(True)
        self.start_edit.setDisplayFormat("yyyy-MM-dd")
        self.start_edit.setToolTip("The first day shown (moved to its Monday)")
        self.start_edit.dateChanged.connect(self._period_changed)
        self.weeks_box = QSpinBox()
        self.weeks_box.setRange(1, 26)
        self.weeks_box.setValue(DEFAULT_WEEKS)
        self.weeks_box.setSuffix(" weeks")
        self.weeks_box.valueChanged.connect(self._period_changed)
        self.prev_button = QToolButton()
        self.prev_button.setText("◀")
        self.prev_button.setToolTip("A week earlier")
        self.prev_button.clicked.connect(lambda: self.shift_period(-7))
        self.today_button = QToolButton()
        self.today_button.setText("This week")
        self.today_button.clicked.connect(self.go_today)
        self.next_button = QToolButton()
        self.next_button.setText("▶")
        self.next_button.setToolTip("A week later")
        self.next_button.clicked.connect(lambda: self.shift_period(7))
        self.template_button = QPushButton("New from template…")
        self.template_button.clicked.connect(self.new_from_template)
        self.build_button = QPushButton("Build roster…")
        self.build_button.setToolTip("Solve a fair roster within the working-time rules")
        self.build_button.clicked.connect(self.build_roster)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("The workbook (grid, fairness, shifts) and .ics calendars")
        self.export_button.clicked.connect(self.export)
        self.refresh_button = QToolButton()
        self.refresh_button.setIcon(icon("refresh"))
        self.refresh_button.setToolTip("Read again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        for w in (
            self.schedule_box,
            self.prev_button,
            self.start_edit,
            self.next_button,
            self.today_button,
            self.weeks_box,
            self.template_button,
            self.build_button,
            self.export_button,
            self.refresh_button,
        ):
            header.actions_layout.addWidget(w)

        # The banner: a draft to save, the solver at work, or why there is no roster.
        self.banner = QFrame()
        self.banner.setObjectName("rosterBanner")
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner_text = QLabel()
        self.banner_text.setObjectName("bannerText")
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextFormat(Qt.TextFormat.RichText)
        self.banner_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_draft_button = QPushButton("Save roster")
        self.save_draft_button.clicked.connect(self.save_draft)
        self.discard_button = QPushButton("Discard")
        self.discard_button.clicked.connect(self.discard_draft)
        self.cancel_build_button = QPushButton("Cancel")
        self.cancel_build_button.clicked.connect(self.cancel_build)
        self.close_banner_button = QToolButton()
        self.close_banner_button.setText("✕")
        self.close_banner_button.setAutoRaise(True)
        self.close_banner_button.clicked.connect(self.banner.hide)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 10, 6)
        banner_layout.addWidget(self.banner_text, 1)
        for w in (
            self.save_draft_button,
            self.discard_button,
            self.cancel_build_button,
            self.close_banner_button,
        ):
            banner_layout.addWidget(w, 0, Qt.AlignmentFlag.AlignTop)
        self.banner.hide()

        self.timeline = RosterTimeline()
        self.timeline.swap_requested.connect(self.open_swap)
        self.timeline.swap_dialog_requested.connect(lambda s: self.open_swap(s, None))
        self.timeline.override_requested.connect(self.open_override)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.timeline)
        self.scroll.setFrameShape(QFrame.Shape.StyledPanel)
        self.legend = QLabel()
        self.legend.setObjectName("rosterLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.empty = QLabel(
            "No on-call schedules yet — “New from template…” makes one from a weekly, "
            "primary/secondary, follow-the-sun or shift rota."
        )
        self.empty.setObjectName("rosterEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.hide()

        self.fairness = FairnessTable()
        self.fairness_title = QLabel("Fairness")
        self.fairness_title.setFont(scaled_font(self.fairness_title, 1.05, bold=True))
        fairness_box = QWidget()
        fl = QVBoxLayout(fairness_box)
        fl.setContentsMargins(0, 4, 0, 0)
        fl.addWidget(self.fairness_title)
        fl.addWidget(self.fairness, 1)

        left = QSplitter(Qt.Orientation.Vertical)
        self.left_splitter = left
        timeline_box = QWidget()
        tl = QVBoxLayout(timeline_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.scroll, 1)
        tl.addWidget(self.legend)
        tl.addStretch(0)
        left.addWidget(timeline_box)
        left.addWidget(fairness_box)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)

        self.now_panel = NowPanel()
        self.overrides = OverridesPanel()
        self.overrides.new_button.clicked.connect(lambda: self.open_override(None, None, None))
        self.overrides.remove_button.clicked.connect(self.remove_override)
        self.escalation = EscalationEditor()
        self.escalation.policy_chosen.connect(self.load_policy)
        self.escalation.save_requested.connect(self.save_policy)
        self.escalation.create_requested.connect(self.create_policy)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.overrides, "Overrides")
        self.tabs.addTab(self.escalation, "Escalation")
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.now_panel)
        sl.addWidget(self.tabs, 1)
        side.setMinimumWidth(470)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([1000, 480])

        self.status = QLabel()
        self.status.setObjectName("rosterStatus")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 8)
        layout.addWidget(header)
        layout.addWidget(self.banner)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)

    # Period

    def period(self) -> tuple[dt.date, int]:
        d = self.start_edit.date()
        return monday_of(dt.date(d.year(), d.month(), d.day())), self.weeks_box.value()

    def set_period(self, start: dt.date, weeks: int) -> None:
        start = monday_of(start)
        self.start_edit.blockSignals(True)
        self.weeks_box.blockSignals(True)
        self.start_edit.setDate(QDate(start.year, start.month, start.day))
        self.weeks_box.setValue(weeks)
        self.start_edit.blockSignals(False)
        self.weeks_box.blockSignals(False)

    def shift_period(self, days: int) -> None:
        start, weeks = self.period()
        self.set_period(start + dt.timedelta(days=days), weeks)
        self._period_changed()

    def go_today(self) -> None:
        self.set_period(self.context.clock().date(), self.weeks_box.value())
        self._period_changed()

    def _period_changed(self, *_args) -> None:
        if self.draft is not None:
            self.draft = None
            self.banner.hide()
        self.refresh()

    def _schedule_changed(self, _index: int) -> None:
        sid = self.schedule_box.currentData()
        if sid is not None and sid != self.schedule_id:
            self.schedule_id = sid
            self.draft = None
            self.banner.hide()
            self.refresh()

    def open_with(self, params: dict) -> None:
        sid = params.get("schedule_id")
        if sid is not None:
            self.schedule_id = sid
            if self.schedule_box.findData(sid) >= 0:
                self.schedule_box.setCurrentIndex(self.schedule_box.findData(sid))
            self.refresh()

    # Loading

    def refresh(self) -> None:
        if self._loading:
            self._reload_after = True
            return
        self._loading = True
        start, weeks = self.period()
        wanted = self.schedule_id
        now = self.context.clock()

        def op(session, _progress):
            schedules = edits.list_schedules(session)
            sid = (
                wanted
                if any(s.id == wanted for s in schedules)
                else (schedules[0].id if schedules else None)
            )
            view = edits.load_view(session, sid, start, weeks, now) if sid is not None else None
            return schedules, sid, view

        ops.QueryOp(parent=self, db=self.context.db, op=op, success=self._view_loaded).failure(
            self._failed
        ).run_in_background()

    def _failed(self, exc: BaseException) -> None:
        self._loading = False
        self.fail_load(exc)

    def _view_loaded(self, result) -> None:
        self._loading = False
        if self._reload_after:
            self._reload_after = False
            self.refresh()
            return
        schedules, sid, view = result
        self.schedules = schedules
        self.schedule_box.blockSignals(True)
        self.schedule_box.clear()
        for s in schedules:
            self.schedule_box.addItem(s.name, s.id)
        if sid is not None:
            self.schedule_box.setCurrentIndex(self.schedule_box.findData(sid))
        self.schedule_box.blockSignals(False)
        self.schedule_id = sid
        self.view = view
        has = view is not None
        self.empty.setVisible(not has)
        self.splitter.setVisible(has)
        for w in (self.build_button, self.export_button, self.prev_button, self.next_button):
            w.setEnabled(has)
        if has:
            self.show_view()
            if self._escalation_for != sid:
                self.load_escalation()
        self.mark_loaded()

    def schedule_name(self) -> str:
        for s in self.schedules:
            if s.id == self.schedule_id:
                return s.name
        return ""

    def names(self) -> dict[int, str]:
        names = {p.id: p.name for p in self.view.period.people} if self.view else {}
        if self.view:
            names.update(dict(self.view.people_choices))
        if self.draft is not None and self.draft.problem is not None:
            names.update({p.id: p.name for p in self.draft.problem.people})
        return names

    def timeline_data(self) -> TimelineData:
        view = self.view
        assert view is not None
        period = view.period
        layers = [
            TimelineLayer(info.id, info.name, info.role, k) for k, info in enumerate(period.layers)
        ]
        roles = sorted({info.role for info in period.layers} | {g.role for g in view.gaps},
                       key=lambda r: (r != "primary", r != "secondary", r))  # fmt: skip
        people = [(p.id, p.name) for p in period.people]
        role_of = {info.id: info.role for info in period.layers}
        name_of = {info.id: info.name for info in period.layers}
        if self.draft is not None:
            problem = self.draft.problem
            known = {pid for pid, _ in people}
            for p in problem.people:
                if p.id not in known:
                    people.append((p.id, p.name))
            people.sort(key=lambda item: item[1].lower())
            shifts = [
                TimelineShift(
                    s.person_id,
                    s.start,
                    s.end,
                    s.layer_id,
                    name_of.get(s.layer_id, s.layer),
                    role_of.get(s.layer_id, "primary"),
                    "draft",
                    note="Draft from the solver, not saved",
                )
                for s in self.draft.shifts
            ]
            gaps = edits.gaps_from_shifts(
                ((s.role, s.start, s.end) for s in shifts),
                period.start,
                period.end,
                {info.role for info in period.layers},
                "the draft has no shift for {role}",
            )
        else:
            shifts = [
                TimelineShift(
                    s.person_id,
                    s.start,
                    s.end,
                    s.layer_id,
                    s.layer_name or s.role.capitalize(),
                    s.role,
                    s.source,
                    s.override_id,
                    s.note,
                )
                for s in period.shifts
            ]
            gaps = list(view.gaps)
        return TimelineData(
            period.zone,
            period.start,
            period.end,
            list(period.days),
            people,
            layers,
            shifts,
            [TimelineGap(g.role, g.start, g.end, g.reason) for g in gaps],
            roles or ["primary"],
            view.holidays,
            self.draft is not None,
        )

    def show_view(self) -> None:
        view = self.view
        if view is None:
            return
        data = self.timeline_data()
        self.timeline.editable = self.draft is None
        self.timeline.set_data(data, self.context.clock())
        # The timeline's frame hugs its rows, so a small team leaves room for the table.
        frame = 2 * self.scroll.frameWidth()
        bar = self.scroll.horizontalScrollBar().sizeHint().height()
        self.scroll.setMaximumHeight(self.timeline.minimumSizeHint().height() + frame + bar)
        self._fit_timeline()
        period = view.period
        chips = []
        for k, info in enumerate(period.layers):
            fill, ink = layer_colour(k)
            chips.append(
                f"<span style='background:{fill.name()};color:{ink.name()}'>&nbsp;"
                f"{html.escape(info.name)} ({html.escape(info.role)})&nbsp;</span>"
            )
        source = {
            "roster": "shifts from the saved roster",
            "layers": "shifts from the layers' rotations",
        }.get(period.source, period.source)
        if self.draft is not None:
            source = "<b>draft roster, not saved</b> (dashed)"
        gap_hours = sum((g.end - g.start).total_seconds() for g in data.gaps) / 3600
        gap_text = (
            f"<span style='color:{DANGER_TEXT}'><b>{len(data.gaps)} coverage gap"
            f"{'s' if len(data.gaps) != 1 else ''}</b> ({gap_hours:g} h)</span>"
            if data.gaps
            else f"<span style='color:{GOOD_TEXT}'>covered throughout</span>"
        )
        self.legend.setText(
            "&nbsp; ".join(chips)
            + f" &nbsp;·&nbsp; <span style='color:{DANGER_TEXT}'>▮</span> override"
            f" &nbsp;·&nbsp; weekends shaded · PH public holiday · {source} · {gap_text}"
        )
        if self.draft is not None:
            rows = [
                edits.FairnessLine(
                    r.person_id, r.name, round(r.hours, 2), r.nights, r.weekends, r.holidays,
                    r.hours_vs_mean, r.nights_vs_mean, r.weekends_vs_mean, r.holidays_vs_mean,
                )
                for r in self.draft.fairness
            ]  # fmt: skip
            self.fairness_title.setText(
                "Fairness of the draft (nights and weekends as the solver counts them)"
            )
        else:
            rows = list(view.fairness)
            self.fairness_title.setText(
                f"Fairness · {period.days[0]:%d %b} – {period.days[-1]:%d %b %Y} "
                "(nights 22:00–06:00, weekend days and public holidays with 1 h or more on call, "
                "in each person's zone)"
            )
        self.fairness.set_rows(rows)
        self.now_panel.show_now(view.now, period.zone)
        self.overrides.set_rows(view.overrides, self.names(), period.zone)

    def _fit_timeline(self) -> None:
        """Give the timeline the height its rows need (at most 72%), the table the rest."""
        total = sum(self.left_splitter.sizes())
        if total <= 0 or self.view is None:
            return
        legend = self.legend.heightForWidth(max(200, self.legend.width()))
        wanted = self.scroll.maximumHeight() + max(legend, self.legend.sizeHint().height()) + 10
        top = min(wanted, int(total * 0.72))
        self.left_splitter.setSizes([top, total - top])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        self._fit_timeline()

    # Overrides and swaps

    def _layers(self) -> list[tuple[int | None, str]]:
        if self.view is None:
            return []
        return [(info.id, f"{info.name} ({info.role})") for info in self.view.period.layers]

    def _people(self) -> list[tuple[int, str]]:
        if self.view is None:
            return []
        seen = dict(self.view.people_choices)
        for p in self.view.period.people:
            seen.setdefault(p.id, p.name)
        return sorted(seen.items(), key=lambda item: item[1].lower())

    def set_role(self, roles) -> None:
        """Turn off what the signed-in role may not do (the database refuses it anyway)."""
        from app.views.permissions import allow

        allow(
            roles,
            {
                "edit_roster": [
                    self.template_button,
                    self.build_button,
                    self.save_draft_button,
                    self.overrides.new_button,
                    self.overrides.remove_button,
                ]
            },
        )

    def _editable(self) -> bool:
        if self.view is None or self.schedule_id is None:
            return False
        if self.draft is not None:
            self.status.setText("Save or discard the draft roster before changing shifts.")
            return False
        return True

    def open_override(self, person_id, at, shift) -> ChangeDialog | None:
        """The override dialog, for ``person_id`` at ``at`` (or over ``shift``)."""
        if not self._editable():
            return None
        if shift is not None:
            start, end = shift.start, shift.end
            layer_id = shift.layer_id
        else:
            zone = ZoneInfo(self.view.period.zone)
            base = at or max(self.context.clock(), self.view.period.start)
            local = base.astimezone(zone).replace(minute=0, second=0, microsecond=0)
            start = local.astimezone(dt.UTC)
            end = start + dt.timedelta(hours=8)
            layer_id = self.view.period.layers[0].id if self.view.period.layers else None
        return self._open_dialog(
            "override", person_id=person_id, layer_id=layer_id, start=start, end=end
        )

    def open_swap(self, shift, to_person: int | None) -> ChangeDialog | None:
        """The swap dialog: give ``shift`` to ``to_person`` (or someone chosen in it)."""
        if not self._editable() or shift is None:
            return None
        names = self.names()
        return self._open_dialog(
            "swap",
            person_id=to_person,
            layer_id=shift.layer_id,
            start=shift.start,
            end=shift.end,
            from_person=(shift.person_id, names.get(shift.person_id, "Someone")),
        )

    def _open_dialog(self, kind: str, **kwargs) -> ChangeDialog:
        if self.change_dialog is not None:
            self.change_dialog.close()
        dialog = ChangeDialog(
            kind,
            self.schedule_id,
            self.view.period.zone,
            self._people(),
            self._layers(),
            parent=self,
            **kwargs,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.check_requested.connect(lambda edit: self._check(dialog, edit))
        dialog.save_requested.connect(lambda edit, reason: self._save_edit(dialog, edit, reason))
        dialog.destroyed.connect(lambda *_: self._dialog_gone(dialog))
        self.change_dialog = dialog
        dialog.open()
        return dialog

    def _dialog_gone(self, dialog) -> None:
        if self.change_dialog is dialog:
            self.change_dialog = None

    def _check(self, dialog: ChangeDialog, edit: edits.RosterEdit) -> None:
        ops.QueryOp(
            parent=dialog,
            db=self.context.db,
            op=lambda session, _p: edits.check_edit(session, edit),
            success=lambda check: dialog.show_check(edit, check),
        ).failure(lambda exc: dialog.show_error(str(exc))).run_in_background()

    def _save_edit(self, dialog: ChangeDialog, edit: edits.RosterEdit, reason: str | None) -> None:
        def failed(exc: BaseException) -> None:
            if isinstance(exc, edits.RuleBreach):
                dialog.save_refused(exc.violations)
            elif isinstance(exc, ValueError):
                dialog.show_error(str(exc))
            else:
                ops.show_error(self, exc)

        def saved(_override) -> None:
            what = "Swap" if edit.kind == "swap" else "Override"
            extra = " with a recorded exception" if reason else ""
            self.status.setText(f"{what} saved{extra}: {dialog.result_check.summary}.")
            dialog.accept()
            self.refresh()

        ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=lambda session, _p: edits.save_edit(session, edit, reason).id,
            success=saved,
            commit=True,
        ).failure(failed).run_in_background()

    def remove_override(self) -> None:
        row = self.overrides.selected()
        if row is None:
            return
        text = f"{self.names().get(row.person_id, 'Someone')}: {row.reason or 'override'}"
        if not ask_remove_override(self, text):
            return
        ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=lambda session, _p: edits.remove_override(session, row.id, row.version),
            success=lambda _r: (self.status.setText("Override removed."), self.refresh()),
            commit=True,
        ).run_in_background()

    # New schedule from a template

    def new_from_template(self) -> None:
        def op(session, _progress):
            from sqlalchemy import select
            from sqlalchemy.orm import selectinload

            from app.models import Person

            rows = session.scalars(
                select(Person)
                .where(Person.active.is_(True), Person.is_agent.is_(True))
                .options(selectinload(Person.teams))
                .order_by(Person.name)
            ).all()
            return [(p.id, p.name, ", ".join(t.name for t in p.teams)) for p in rows]

        ops.QueryOp(
            parent=self, db=self.context.db, op=op, success=self._ask_template
        ).run_in_background()

    def _ask_template(self, people, values: dict | None = None) -> None:
        zone = self.view.period.zone if self.view else "Europe/London"
        values = values or ask_template(self, people, self.period()[0], zone)
        if not values:
            return
        from app.services.roster_templates import create_schedule

        def op(session, _progress):
            schedule = create_schedule(
                session,
                values["template"],
                values["name"],
                values["people"],
                values["start"],
                **values["options"],
            )
            return schedule.id

        def failed(exc: BaseException) -> None:
            if isinstance(exc, ValueError):
                tell(self, f"The schedule was not created: {exc}", warning=True)
            else:
                ops.show_error(self, exc)

        def created(sid: int) -> None:
            self.schedule_id = sid
            self.draft = None
            self.banner.hide()
            self.status.setText(f"Schedule “{values['name']}” created.")
            self.refresh()

        ops.QueryOp(parent=self, db=self.context.db, op=op, success=created, commit=True).failure(
            failed
        ).run_in_background()

    # Building a roster

    def build_roster(self, options: dict | None = None) -> ops.OpHandle | None:
        if self.schedule_id is None or self.build_handle is not None:
            return None
        start, weeks = self.period()
        options = options or ask_build(self, start, weeks, self.schedule_name())
        if not options:
            return None
        sid = self.schedule_id
        if (options["start"], options["weeks"]) != (start, weeks):
            self.set_period(options["start"], options["weeks"])
            self.refresh()
        from app.services.roster_solver import from_database, solve

        def op(session, progress):
            problem = from_database(
                session,
                sid,
                monday_of(options["start"]),
                options["weeks"],
                shift_hours=options.get("shift_hours", 8),
                rules=options.get("rules"),
            )
            session.close()  # the solver may take a while: hold no connection meanwhile
            return solve(problem, progress, options.get("time_limit", 20))

        self._show_banner(
            "<b>Building the roster…</b> checking people, leave and holidays", "building"
        )
        handle = (
            ops.QueryOp(parent=self, db=self.context.db, op=op, success=self._built)
            .failure(self._build_failed)
            .cancelled(self._build_cancelled)
            .with_progress("Building roster")
            .run_in_background()
        )
        handle.progressed.connect(self._build_progress)
        handle.finished.connect(self._build_done)
        self.build_handle = handle
        self.build_button.setEnabled(False)
        return handle

    def _build_progress(self, done: int, total: int, label: str) -> None:
        if self.build_handle is None:
            return
        eta = f" ({done} of {total} s)" if total else ""
        self.banner_text.setText(f"<b>Building the roster…</b> {html.escape(label)}{eta}")

    def _build_done(self) -> None:
        self.build_handle = None
        self.build_button.setEnabled(self.view is not None)

    def cancel_build(self) -> None:
        if self.build_handle is not None:
            self.build_handle.cancel()
            self.banner_text.setText("<b>Cancelling…</b>")

    def _build_cancelled(self) -> None:
        self._show_banner("The build was cancelled; nothing changed.", "info")

    def _build_failed(self, exc: BaseException) -> None:
        if isinstance(exc, ValueError):
            self._show_banner(f"<b>No roster:</b> {html.escape(str(exc))}", "error")
        else:
            self.banner.hide()
            ops.show_error(self, exc)

    def _built(self, result) -> None:
        if result.ok:
            self.draft = result
            n = len(result.shifts)
            seconds = f"{result.seconds:.1f}"
            quality = (
                "the fairest found" if result.status == "optimal" else "fair, within the time limit"
            )
            spread = ", ".join(
                f"{m} {result.spread(m):g}" for m in ("nights", "weekends") if result.fairness
            )
            self._show_banner(
                f"<b>Draft roster</b>: {n} shifts over {result.problem.weeks} weeks, every rule "
                f"kept ({quality}; {seconds} s). Spread between people: {spread}. "
                "Not saved yet.",
                "draft",
            )
            self.show_view()
            return
        self.draft = None
        reasons = "".join(f"<li>{html.escape(s)}</li>" for s in result.explanation)
        if result.violations and not result.explanation:
            reasons = "".join(f"<li>{html.escape(v.message)}</li>" for v in result.violations)
        self._show_banner(
            f"<b>No roster exists under these rules</b> ({html.escape(result.status)}):"
            f"<ul style='margin:0'>{reasons}</ul>",
            "error",
        )
        self.show_view()

    def _show_banner(self, text: str, kind: str) -> None:
        colours = {
            "draft": WARNING_TEXT,
            "error": DANGER_TEXT,
            "building": None,
            "info": None,
        }
        colour = colours.get(kind)
        self.banner.setStyleSheet(
            f"#rosterBanner {{ border: 1px solid {colour}; border-left: 4px solid {colour}; }}"
            if colour
            else ""
        )
        self.banner_text.setText(text)
        self.save_draft_button.setVisible(kind == "draft")
        self.discard_button.setVisible(kind == "draft")
        self.cancel_build_button.setVisible(kind == "building")
        self.close_banner_button.setVisible(kind in ("error", "info"))
        self.banner.show()

    def save_draft(self) -> None:
        if self.draft is None or self.schedule_id is None:
            return
        result, sid = self.draft, self.schedule_id
        author = self.context.db.identity.username

        def op(session, _progress):
            return edits_save_roster(session, sid, result, author)

        def saved(_rid) -> None:
            self.draft = None
            self._show_banner(
                "Roster saved as a draft of the schedule; the timeline shows it.", "info"
            )
            self.refresh()

        self.save_draft_button.setEnabled(False)
        ops.QueryOp(
            parent=self, db=self.context.db, op=op, success=saved, commit=True
        ).run_in_background().finished.connect(lambda: self.save_draft_button.setEnabled(True))

    def discard_draft(self) -> None:
        self.draft = None
        self.banner.hide()
        self.show_view()

    # Export

    def export(self) -> None:
        if self.schedule_id is None:
            return
        answer = ask_export(self, self.schedule_name())
        if not answer:
            return
        xlsx, ics = answer
        name = self.schedule_name()
        start, weeks = self.period()
        from app.services.roster_export import export_roster

        ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=lambda session, _p: export_roster(session, name, start, weeks, ics, xlsx),
            success=lambda summary: self.status.setText(summary.line() + "."),
        ).with_progress("Exporting roster").run_in_background()

    #: The escalation panel reads these apart from the schedule view.
    ESCALATION_TABLES = frozenset({"escalation_policy", "escalation_level"})

    def live_refresh(self, tables: frozenset[str]) -> None:
        if "*" in tables or tables - self.ESCALATION_TABLES:
            self.refresh()
        if "*" in tables or tables & self.ESCALATION_TABLES:
            self.load_escalation()

    # Escalation

    def load_escalation(self) -> None:
        sid = self.schedule_id
        if sid is None:
            return
        wanted = self.policy_id
        self._escalation_for = sid

        def op(session, _progress):
            policies = esc.list_policies(session, sid)
            choices = esc.contact_choices(session, sid)
            ids = [p.id for p in policies]
            pid = wanted if wanted in ids else (ids[0] if ids else None)
            detail = esc.load_policy(session, pid) if pid is not None else None
            return policies, choices, detail

        def loaded(result) -> None:
            if sid != self.schedule_id:
                return  # the user has moved on to another schedule
            policies, choices, detail = result
            self.escalation.set_choices(choices, sid)
            self.escalation.set_policies(policies, detail.id if detail else None)
            self.policy_id = detail.id if detail else None
            if detail is not None:
                self.escalation.set_policy(detail)

        ops.QueryOp(parent=self, db=self.context.db, op=op, success=loaded).run_in_background()

    def load_policy(self, policy_id: int) -> None:
        self.policy_id = policy_id
        ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=lambda session, _p: esc.load_policy(session, policy_id),
            success=self.escalation.set_policy,
        ).run_in_background()

    def save_policy(self, policy_id: int, version: int, levels, repeats: int) -> None:
        def failed(exc: BaseException) -> None:
            if isinstance(exc, esc.EscalationInvalid):
                self.escalation.save_failed(exc.problems)
            elif isinstance(exc, (esc.EscalationConflict, ValueError)):
                self.escalation.save_failed([str(exc)])
            else:
                ops.show_error(self, exc)

        def saved(detail: esc.PolicyDetail) -> None:
            self.escalation.set_policy(detail)
            self.status.setText(f"Escalation matrix “{detail.name}” saved.")

        ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=lambda session, _p: esc.save_policy(
                session, policy_id, levels, version=version, repeat_count=repeats
            ),
            success=saved,
            commit=True,
        ).failure(failed).run_in_background()

    def create_policy(self) -> None:
        sid, name = self.schedule_id, self.schedule_name()
        if sid is None or self.view is None:
            return
        roles = [info.role for info in self.view.period.layers]
        team_id = next((s.team_id for s in self.schedules if s.id == sid), None)

        def op(session, _progress):
            base = f"{name} escalation"
            title, n = base, 2
            from sqlalchemy import select

            from app.models import EscalationPolicy

            while session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == title)):
                title, n = f"{base} {n}", n + 1
            return esc.create_policy(
                session, title, esc.default_levels(sid, roles), team_id=team_id
            )

        def created(detail: esc.PolicyDetail) -> None:
            self.policy_id = detail.id
            self.status.setText(f"Escalation policy “{detail.name}” created.")
            self.load_escalation()

        ops.QueryOp(
            parent=self, db=self.context.db, op=op, success=created, commit=True
        ).run_in_background()


def edits_save_roster(session, schedule_id: int, result, author: str) -> int:
    from app.services.roster_solver import save_roster

    return save_roster(session, schedule_id, result, author).id
