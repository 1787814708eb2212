"""The Changes page: the change list and the CAB calendar, filters, and the selected change.

List mode reads the changes a block at a time through :class:`ChangeTableModel`; the
calendar modes (Month, Week, Day, Agenda) show :class:`app.views.cab_calendar.CalendarView`
fed by :func:`app.services.change_calendar.load_calendar`. The calendar, the CAB meeting
and the change form are looked up when used, so the page works before they exist.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.models.enums import ChangeState, ChangeType
from app.services import changes as cs
from app.services.changes import ChangeDetail, ChangeFilter, ChangeLookups, TemplateOption
from app.services.formatting import format_count, format_datetime
from app.views import ops
from app.views.icons import icon
from app.views.incident_queue import FilterButton
from app.views.pages import Page, PageContext, PageHeader, register_page
from app.views.qtmodels.change_table import (
    ChangeTableModel,
    ConflictDelegate,
    RiskDelegate,
    risk_colours,
)
from app.views.theme import WARNING_TEXT
from app.views.widgets import scaled_font

SEARCH_DELAY_MS = 250
#: The view switch: (mode, label).
MODES = (
    ("list", "List"),
    ("month", "Month"),
    ("week", "Week"),
    ("day", "Day"),
    ("agenda", "Agenda"),
)
CALENDAR_MODES = ("month", "week", "day", "agenda")
COLUMN_WIDTHS = {
    "number": 100,
    "type": 80,
    "state": 80,
    "risk": 90,
    "conflicts": 44,
    "short_description": 260,
    "planned_start": 120,
    "planned_end": 120,
    "service": 150,
    "group": 150,
    "assignee": 120,
}
#: Columns that keep their width on narrow windows; the others shrink (names to MIN_SHARE).
FIXED_COLUMNS = frozenset(
    {"number", "type", "state", "risk", "conflicts", "planned_start", "planned_end"}
)
MIN_DESCRIPTION = 200
MIN_SHARE = 0.6
#: The export's period in list mode (no calendar period on screen): today and this many days.
EXPORT_DAYS = 90


# Questions the page asks (module functions, so tests can answer them)


def ask_template(parent: QWidget, templates: Sequence[TemplateOption]) -> int | None:
    """The id of the standard-change template the user picks, or None."""
    if not templates:
        QMessageBox.information(
            parent, APP_NAME, "The catalogue has no active standard-change templates."
        )
        return None
    labels = [f"{t.label} ({t.risk} risk, {t.typical_duration_minutes} min)" for t in templates]
    chosen, ok = QInputDialog.getItem(
        parent, "Standard change", "Template of the catalogue:", labels, 0, False
    )
    if not ok or chosen not in labels:
        return None
    return templates[labels.index(chosen)].id


def ask_move(parent: QWidget, text: str, details: str) -> bool:
    """Yes/No: move the change as dragged?"""
    box = QMessageBox(parent)
    box.setWindowTitle(APP_NAME)
    box.setIcon(QMessageBox.Icon.Warning if details else QMessageBox.Icon.Question)
    box.setText(text)
    if details:
        box.setInformativeText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes.value


def ask_export_path(parent: QWidget) -> str | None:
    path, _ = QFileDialog.getSaveFileName(
        parent, "Export change schedule", "changes.ics", "iCalendar files (*.ics)"
    )
    return path or None


class ChangeTable(QTableView):
    """Compact rows, alternating colours; Enter opens the change."""

    activated_row = Signal(int)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activated_row.emit(self.currentIndex().row())
            return
        super().keyPressEvent(event)


class ChangeSummary(QScrollArea):
    """The selected change: state, risk, window, people, conflicts and the board's decision."""

    open_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("changeSummary")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.change_id: int | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(12, 8, 12, 8)
        self.title = QLabel()
        self.title.setObjectName("summaryTitle")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QLabel("Select a change to see it here.")
        self.text.setObjectName("summaryText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.conflicts = QLabel()
        self.conflicts.setObjectName("summaryConflicts")
        self.conflicts.setWordWrap(True)
        self.conflicts.setTextFormat(Qt.TextFormat.RichText)
        self.conflicts.hide()
        self.open_button = QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("Open the change form (Enter)")
        self.open_button.clicked.connect(
            lambda: self.change_id is not None and self.open_requested.emit(self.change_id)
        )
        self.open_button.hide()
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.conflicts)
        layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        self.setWidget(body)
        self.setMinimumWidth(240)

    def clear(self, message: str = "Select a change to see it here.") -> None:
        self.change_id = None
        self.title.setText("")
        self.text.setText(message)
        self.conflicts.hide()
        self.open_button.hide()

    def show_detail(self, detail: ChangeDetail, zone: dt.tzinfo | None = None) -> None:
        self.change_id = detail.id
        bg, fg = risk_colours(detail.risk)
        score = f" · score {detail.risk_score}" if detail.risk_score is not None else ""
        self.title.setText(
            f"<span style='font-size:large'><b>{html.escape(detail.number)}</b></span><br>"
            f"<span style='background:{bg};color:{fg}'>&nbsp;{html.escape(detail.risk)} risk"
            f"&nbsp;</span> · {html.escape(detail.state)} · {html.escape(detail.type)}{score}"
            f"<br><b>{html.escape(detail.short_description)}</b>"
        )
        services = ", ".join(
            dict.fromkeys(
                [
                    *([detail.service_name] if detail.service_name else []),
                    *(s.label for s in detail.services),
                ]
            )
        )
        window = ""
        if detail.planned_start or detail.planned_end:
            window = (
                f"{format_datetime(detail.planned_start, zone)} – "
                f"{format_datetime(detail.planned_end, zone)}"
            )
        decision = (detail.decision or "").replace("_", " ")
        fields = [
            ("Planned", window),
            ("Services", services),
            ("CIs", ", ".join(c.label for c in detail.cis)),
            ("Group", detail.assignment_group_name),
            ("Assignee", detail.assignee_name),
            ("Requested by", detail.requested_by_name),
            ("Template", detail.template_name),
            ("CAB decision", decision.capitalize() if decision else ""),
            ("Updated", format_datetime(detail.updated_at, zone)),
        ]
        rows = "".join(
            f"<tr><td style='padding-right:8px;color:gray'>{name}</td>"
            f"<td>{html.escape(str(value))}</td></tr>"
            for name, value in fields
            if value
        )
        parts = [f"<table>{rows}</table>"]
        if detail.description and detail.description != detail.short_description:
            text = html.escape(detail.description[:800]).replace("\n", "<br>")
            parts.append(f"<p><b>Description</b><br>{text}</p>")
        self.text.setText("".join(parts))
        if detail.conflicts:
            items = "".join(f"<li>{html.escape(c.sentence)}</li>" for c in detail.conflicts)
            self.conflicts.setText(
                f"<p style='color:{WARNING_TEXT}'><b>⚠ {len(detail.conflicts)} "
                f"conflict{'s' if len(detail.conflicts) != 1 else ''}</b></p>"
                f"<ul style='margin-left:12px'>{items}</ul>"
            )
        else:
            self.conflicts.setText("<p style='color:gray'>No conflicts in the planned window.</p>")
        self.conflicts.show()


@register_page(key="changes", title="Changes", icon="changes", order=30)
class ChangesPage(Page):
    """Change list or CAB calendar, filter chips, and the selected change beside them."""

    live_tables = frozenset(
        ("change_request", "change_window", "cab_meeting", "cab_agenda_item", "change_review")
    )

    #: Filter choices (services, groups, templates) have been read.
    side_loaded = Signal()
    #: The calendar has shown the data of its period.
    calendar_loaded = Signal()
    #: An .ics export was written (the path).
    exported = Signal(str)

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.db = context.db
        self.zone: dt.tzinfo | None = None
        self.filter = ChangeFilter()
        self.mode = "list"
        self.lookups: ChangeLookups | None = None
        self.calendar: Any | None = None
        self._applying = False
        self._detail_generation = 0
        self._calendar_generation = 0
        self._windows: list[QWidget] = []
        self.model = ChangeTableModel(self.db, self, self.zone, self)
        self.model.counted.connect(self._counted)
        self.model.rows_ready.connect(self._rows_ready)
        self.model.failed.connect(self.fail_load)

        self.header = PageHeader("Changes")
        self._build_actions()
        self._build_filter_bar()
        self._build_table()
        self.summary = ChangeSummary()
        self.summary.open_requested.connect(self.open_change)

        self.calendar_host = QWidget()
        self.calendar_layout = QVBoxLayout(self.calendar_host)
        self.calendar_layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table_host)
        self.stack.addWidget(self.calendar_host)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(0, 0, 0, 0)
        center_layout.setSpacing(6)
        center_layout.addWidget(self.filter_bar)
        center_layout.addWidget(self.stack, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.summary)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([1150, 260])
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        layout.addWidget(self.header)
        layout.addWidget(self.splitter, 1)

        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self._filters_changed)

    # Building

    def _build_actions(self) -> None:
        actions = self.header.actions_layout
        self.mode_group = QButtonGroup(self)
        self.mode_group.setExclusive(True)
        self.mode_buttons: dict[str, QToolButton] = {}
        switch = QWidget()
        switch.setObjectName("viewSwitch")
        switch_layout = QHBoxLayout(switch)
        switch_layout.setContentsMargins(0, 0, 0, 0)
        switch_layout.setSpacing(0)
        for key, label in MODES:
            button = QToolButton()
            button.setText(label)
            button.setCheckable(True)
            button.setObjectName(f"mode_{key}")
            button.setToolTip(f"Show the changes as a {label.lower()}" if key != "list" else "")
            button.setAutoRaise(False)
            button.clicked.connect(lambda _checked=False, k=key: self.set_mode(k))
            self.mode_group.addButton(button)
            switch_layout.addWidget(button)
            self.mode_buttons[key] = button
        self.mode_buttons["list"].setChecked(True)
        actions.addWidget(switch)
        actions.addSpacing(12)

        self.new_button = QToolButton()
        self.new_button.setText("+ New change")
        self.new_button.setObjectName("newChange")
        self.new_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.new_button.setToolTip("New normal change (Ctrl+N); the arrow offers the other types")
        menu = QMenu(self.new_button)
        self.new_actions = {
            "Standard": menu.addAction("Standard from template…", self.new_standard),
            "Normal": menu.addAction("Normal", lambda: self.new_change(ChangeType.NORMAL)),
            "Emergency": menu.addAction("Emergency", lambda: self.new_change(ChangeType.EMERGENCY)),
        }
        self.new_button.setMenu(menu)
        self.new_button.clicked.connect(lambda: self.new_change(ChangeType.NORMAL))
        self.cab_button = QToolButton()
        self.cab_button.setText("CAB meeting")
        self.cab_button.setObjectName("cabMeeting")
        self.cab_button.setToolTip("Run the CAB meeting: agenda, the change, decisions and votes")
        self.cab_button.clicked.connect(self.open_cab_meeting)
        self.export_button = QToolButton()
        self.export_button.setText("Export .ics…")
        self.export_button.setObjectName("exportIcs")
        self.export_button.setToolTip(
            "Write the change schedule of the shown period to an iCalendar file"
        )
        self.export_button.clicked.connect(lambda: self.export_ics())
        self.refresh_button = QToolButton()
        self.refresh_button.setIcon(icon("refresh"))
        self.refresh_button.setToolTip("Read the changes again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        for button in (self.new_button, self.cab_button, self.export_button, self.refresh_button):
            actions.addWidget(button)
        for keys, slot in (
            ("Ctrl+N", lambda: self.new_change(ChangeType.NORMAL)),
            ("Ctrl+F", self.focus_search),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def set_role(self, roles) -> None:
        """Turn off what the signed-in role may not do (the database refuses it anyway)."""
        from app.views.permissions import allow

        allow(
            roles,
            {
                "edit_change": [self.new_button, *self.new_actions.values()],
                "run_cab": [self.cab_button],
            },
        )

    def _build_filter_bar(self) -> None:
        self.filter_bar = QWidget()
        bar = QHBoxLayout(self.filter_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)
        self.service_button = FilterButton("Service")
        self.group_button = FilterButton("Group")
        self.type_button = FilterButton("Type", [(t.value, t.value) for t in ChangeType])
        self.risk_button = FilterButton("Risk", [(r, r) for r in cs.RISK_LEVELS])
        self.state_button = FilterButton("State", [(s.value, s.value) for s in ChangeState])
        self.filter_buttons = [
            self.service_button,
            self.group_button,
            self.type_button,
            self.risk_button,
            self.state_button,
        ]
        for button in self.filter_buttons:
            button.changed.connect(self._filters_changed)
            bar.addWidget(button)
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setObjectName("clearFilters")
        self.clear_button.setToolTip("Show every change")
        self.clear_button.clicked.connect(self.clear_filters)
        bar.addWidget(self.clear_button)
        bar.addSpacing(8)
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search number or description (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMaxLength(200)
        self.search.setMinimumWidth(120)
        self.search.setMaximumWidth(340)
        self.search.textEdited.connect(lambda _t: self.search_timer.start())
        self.search.returnPressed.connect(self._filters_changed)
        bar.addWidget(self.search, 1)
        bar.addStretch(1)
        self.count_label = QLabel("…")
        self.count_label.setObjectName("matchCount")
        self.count_label.setFont(scaled_font(self.count_label, 1.0, bold=True))
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.count_label)

    def _build_table(self) -> None:
        self.table = ChangeTable()
        self.table.setObjectName("changeTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.table.verticalHeader()
        vertical.hide()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        for i, col in enumerate(self.model.columns):
            header.resizeSection(i, COLUMN_WIDTHS.get(col.key, 100))
        self.table.setItemDelegateForColumn(
            self.model.column_index("risk"), RiskDelegate(self.table)
        )
        self.table.setItemDelegateForColumn(
            self.model.column_index("conflicts"), ConflictDelegate(self.table)
        )
        self._set_sort_indicator()
        self.table.setSortingEnabled(True)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.doubleClicked.connect(lambda index: self._open_row(index.row()))
        self.table.activated_row.connect(self._open_row)
        self.table.viewport().installEventFilter(self)

        self.empty = QLabel("No changes match these filters — <a href='clear'>clear filters</a>")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.linkActivated.connect(lambda _link: self.clear_filters())
        self.empty.hide()
        self.table_host = QWidget()
        host = QVBoxLayout(self.table_host)
        host.setContentsMargins(0, 0, 0, 0)
        host.addWidget(self.table, 1)
        host.addWidget(self.empty, 1)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(watched, event)

    def fit_columns(self) -> None:
        """Give the description the spare width; on narrow windows shrink the name columns.

        Short columns keep their width; names shrink to :data:`MIN_SHARE` of theirs, the
        description to :data:`MIN_DESCRIPTION`, then the table scrolls sideways.
        """
        header = self.table.horizontalHeader()
        keys = [c.key for c in self.model.columns]
        fixed = [k for k in keys if k in FIXED_COLUMNS]
        names = [k for k in keys if k not in FIXED_COLUMNS and k != "short_description"]
        fixed_width = sum(COLUMN_WIDTHS[k] for k in fixed)
        spare = self.table.viewport().width() - MIN_DESCRIPTION - fixed_width
        natural = sum(COLUMN_WIDTHS[k] for k in names)
        scale = 1.0 if spare >= natural else max(MIN_SHARE, spare / max(1, natural))
        used = fixed_width
        for key in fixed:
            header.resizeSection(self.model.column_index(key), COLUMN_WIDTHS[key])
        for key in names:
            width = int(COLUMN_WIDTHS[key] * scale)
            header.resizeSection(self.model.column_index(key), width)
            used += width
        description = max(MIN_DESCRIPTION, self.table.viewport().width() - used)
        header.resizeSection(self.model.column_index("short_description"), description)

    def _set_sort_indicator(self) -> None:
        header = self.table.horizontalHeader()
        column = next(
            (i for i, c in enumerate(self.model.columns) if c.sort == self.model.sort_key), -1
        )
        order = (
            Qt.SortOrder.DescendingOrder if self.model.descending else Qt.SortOrder.AscendingOrder
        )
        header.blockSignals(True)
        header.setSortIndicator(column, order)
        header.blockSignals(False)

    # Loading

    def refresh(self) -> None:
        """Read the filter choices and the changes (list or calendar) again."""
        self._load_side_data()
        self._reload_view()

    def _reload_view(self) -> None:
        if self.mode == "list":
            self.count_label.setText("counting…")
            self.model.set_query(self.filter)
        else:
            self.load_calendar()

    def _load_side_data(self) -> None:
        ops.QueryOp(
            parent=self, db=self.db, op=lambda s, _p: cs.lookups(s), success=self._side_data
        ).failure(self._side_failed).run_in_background()

    def _side_failed(self, exc: BaseException) -> None:
        self.last_error = exc

    def _side_data(self, found: ChangeLookups) -> None:
        self.lookups = found
        self._applying = True
        try:
            self.service_button.set_choices([(s.id, s.label) for s in found.services])
            self.group_button.set_choices([(g.id, g.label) for g in found.groups])
            self._show_filter(self.filter)
        finally:
            self._applying = False
        self.side_loaded.emit()

    def _counted(self, total: int) -> None:
        self.count_label.setText(f"{format_count(total)} change{'s' if total != 1 else ''}")
        self.empty.setVisible(total == 0)
        self.table.setVisible(total > 0)

    def _rows_ready(self) -> None:
        self._set_sort_indicator()
        if self.mode == "list":
            self.mark_loaded()

    # Filters

    def _show_filter(self, filt: ChangeFilter) -> None:
        self.service_button.set_values(list(filt.service_ids))
        self.group_button.set_values(list(filt.group_ids))
        self.type_button.set_values(list(filt.types))
        self.risk_button.set_values(list(filt.risks))
        self.state_button.set_values(list(filt.states))
        if self.search.text() != filt.text:
            self.search.setText(filt.text)

    def filter_from_bar(self) -> ChangeFilter:
        return ChangeFilter(
            states=tuple(self.state_button.values()),
            types=tuple(self.type_button.values()),
            risks=tuple(self.risk_button.values()),
            group_ids=tuple(self.group_button.values()),
            service_ids=tuple(self.service_button.values()),
            assignee_ids=self.filter.assignee_ids,
            text=self.search.text().strip(),
        )

    def apply_filter(self, filt: ChangeFilter) -> None:
        """Show the changes ``filt`` matches (in the list and the calendar)."""
        self.filter = filt
        self._applying = True
        try:
            self._show_filter(filt)
        finally:
            self._applying = False
        self.summary.clear()
        self._reload_view()

    def _filters_changed(self, *_args: Any) -> None:
        if self._applying:
            return
        self.search_timer.stop()
        filt = self.filter_from_bar()
        if filt != self.filter:
            self.apply_filter(filt)

    def clear_filters(self) -> None:
        self.apply_filter(ChangeFilter())

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def sort_by(self, key: str, descending: bool = False) -> None:
        """Sort the list by ``key`` (a key of :data:`app.services.changes.SORTS`)."""
        self.model.set_query(self.filter, key, descending)
        self._set_sort_indicator()

    def open_with(self, params: dict) -> None:
        """``{"change": id}`` opens a change; ``state``/``type``/``risk`` lists filter; ``mode``."""
        if not self._activated:
            self._activated = True
            self._load_side_data()
            if not any(k in params for k in ("state", "type", "risk", "mode")):
                self._reload_view()

        def listed(key: str) -> tuple:
            value = params.get(key, ())
            return tuple([value] if isinstance(value, str | int) else value)

        if any(k in params for k in ("state", "type", "risk")):
            self.filter = ChangeFilter(
                states=listed("state"), types=listed("type"), risks=listed("risk")
            )
            if "mode" not in params:
                self.apply_filter(self.filter)
        if "mode" in params:
            self.set_mode(str(params["mode"]))
        if params.get("change") is not None:
            self.open_change(int(params["change"]))

    # Modes and the calendar

    def set_mode(self, mode: str) -> None:
        """Show the list or a calendar mode (month, week, day, agenda)."""
        if mode not in dict(MODES):
            return
        if mode in CALENDAR_MODES:
            self._ensure_calendar()
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        if mode == "list":
            self.stack.setCurrentWidget(self.table_host)
            self.count_label.setText("counting…")
            self.model.set_query(self.filter)
            return
        self.stack.setCurrentWidget(self.calendar_host)
        self.calendar.set_mode(mode)
        self.load_calendar()

    def _ensure_calendar(self) -> None:
        """Make the calendar view the first time a calendar mode is shown."""
        if self.calendar is not None:
            return
        from app.views.cab_calendar import CalendarView

        calendar = CalendarView(clock=self.context.clock, zone=self.zone)
        calendar.setObjectName("calendarView")
        calendar.period_changed.connect(lambda _start, _end: self.load_calendar())
        calendar.change_selected.connect(self.load_detail)
        calendar.change_activated.connect(self.open_change)
        calendar.change_moved.connect(self.move_change)
        self.calendar_layout.addWidget(calendar)
        self.calendar = calendar

    def load_calendar(self) -> ops.OpHandle | None:
        """Read the calendar's period (with the filter) in the background."""
        if self.calendar is None:
            return None
        from app.services import change_calendar as service

        start, end = self.calendar.period()
        filt, now = self.filter, self.context.clock()
        self._calendar_generation += 1
        generation = self._calendar_generation
        self.count_label.setText("loading…")

        def shown(data: Any) -> None:
            if generation != self._calendar_generation or self.calendar is None:
                return
            self.calendar.set_data(data)
            changes = getattr(data, "changes", None)
            if changes is not None:
                count = len(changes)
                self.count_label.setText(
                    f"{format_count(count)} change{'s' if count != 1 else ''} in this period"
                )
            else:
                self.count_label.setText("")
            self.calendar_loaded.emit()
            self.mark_loaded()

        return (
            ops.QueryOp(
                parent=self,
                db=self.db,
                op=lambda s, _p: service.load_calendar(s, start, end, filt, now),
                success=shown,
            )
            .failure(self.fail_load)
            .run_in_background()
        )

    def move_change(self, change_id: int, start: dt.datetime, end: dt.datetime) -> None:
        """A change was dragged: check conflicts, ask, then reschedule (or put it back)."""
        from app.services import change_calendar as service

        def check(session, _progress) -> tuple[str, int, list[Any]]:
            from app.models.change import ChangeRequest

            change = session.get(ChangeRequest, change_id)
            if change is None:
                raise cs.WorkflowError("That change no longer exists.")
            found = service.reschedule_check(session, change_id, start, end)
            return change.number, change.version, list(found)

        def checked(result: tuple[str, int, list[Any]]) -> None:
            number, version, found = result
            when = f"{format_datetime(start, self.zone)} – {format_datetime(end, self.zone)}"
            if found:
                sentences = "\n".join(f"• {getattr(c, 'sentence', c)}" for c in found)
                text = f"Move {number} to {when}? It would conflict with:"
            else:
                sentences = ""
                text = f"Move {number} to {when}? No conflicts found."
            if not ask_move(self, text, sentences):
                self.load_calendar()
                return
            self._reschedule(service, change_id, start, end, version)

        ops.QueryOp(parent=self, db=self.db, op=check, success=checked).failure(
            self._move_refused
        ).run_in_background()

    def _reschedule(
        self, service: Any, change_id: int, start: dt.datetime, end: dt.datetime, version: int
    ) -> None:
        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda s, _p: service.reschedule(s, change_id, start, end, version, None),
            success=lambda _r: self._after_write(change_id),
            commit=True,
        ).failure(self._move_refused).run_in_background()

    def _move_refused(self, exc: BaseException) -> None:
        ops.show_error(self, exc)
        self.load_calendar()

    def _after_write(self, change_id: int | None = None) -> None:
        if self.mode == "list":
            self.model.reload()
        else:
            self.load_calendar()
        if change_id is not None and self.summary.change_id == change_id:
            self.load_detail(change_id)

    # Selection and the side panel

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        if row is None:
            self.summary.clear()
            return
        self.load_detail(row.id)

    def load_detail(self, change_id: int) -> None:
        self._detail_generation += 1
        generation = self._detail_generation

        def shown(detail: ChangeDetail) -> None:
            if generation == self._detail_generation:
                self.summary.show_detail(detail, self.zone)

        def failed(exc: BaseException) -> None:
            if generation == self._detail_generation:
                self.summary.clear(f"Could not read the change: {exc}")

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda s, _p: cs.change_detail(s, change_id),
            success=shown,
        ).failure(failed).run_in_background()

    def selected_id(self) -> int | None:
        if self.mode != "list" and self.calendar is not None:
            return self.calendar.selected_change()
        index = self.table.currentIndex()
        row = self.model.row_at(index.row(), request=False) if index.isValid() else None
        return row.id if row is not None else None

    def _open_row(self, row: int) -> None:
        value = self.model.row_at(row, request=False)
        if value is not None:
            self.open_change(value.id)

    # Opening and creating

    @staticmethod
    def _form() -> Any:
        from app.views import change_form

        return change_form

    def _track(self, window: Any) -> Any:
        form = getattr(window, "form", None)
        if form is not None and hasattr(form, "saved"):
            form.saved.connect(self._after_write)
        return window

    def open_change(self, change_id: int | None) -> Any | None:
        form = self._form()
        return self._track(form.open_change(self, self.db, change_id, clock=self.context.clock))

    def new_change(self, change_type: str = ChangeType.NORMAL, template_id: int | None = None):
        from app.views.permissions import may

        if not may(self, "edit_change"):
            return None
        form = self._form()
        return self._track(
            form.open_change(
                self,
                self.db,
                None,
                type=str(change_type),
                template_id=template_id,
                clock=self.context.clock,
            )
        )

    def new_standard(self) -> Any | None:
        """Ask for a template of the catalogue and open a new standard change made from it."""
        templates = self.lookups.templates if self.lookups is not None else []
        template_id = ask_template(self, templates)
        if template_id is None:
            return None
        return self.new_change(ChangeType.STANDARD, template_id)

    def open_cab_meeting(self) -> Any | None:
        from app.views.cab_meeting import open_cab_meeting

        return open_cab_meeting(self, self.db, clock=self.context.clock)

    # Export

    def export_period(self) -> tuple[dt.datetime, dt.datetime]:
        """The calendar's period, or in list mode today and the next :data:`EXPORT_DAYS` days."""
        if self.mode != "list" and self.calendar is not None:
            return self.calendar.period()
        today = self.context.clock().astimezone(dt.UTC).date()
        start = dt.datetime.combine(today, dt.time(), dt.UTC)
        return start, start + dt.timedelta(days=EXPORT_DAYS)

    def export_ics(self, path: str | None = None) -> ops.OpHandle | None:
        """Write the shown period's schedule (the state filter applies) to an .ics file."""
        from app.services import calendar_export as exporter

        if path is None:
            path = ask_export_path(self)
            if not path:
                return None
        start, end = self.export_period()
        states = list(self.filter.states) or None
        now = self.context.clock()

        def done(summary: Any) -> None:
            changes = getattr(summary, "changes", None)
            what = f"{format_count(changes)} changes" if changes is not None else "Schedule"
            self.count_label.setText(f"{what} exported to {getattr(summary, 'path', path)}")
            self.exported.emit(str(path))

        return (
            ops.QueryOp(
                parent=self,
                db=self.db,
                op=lambda s, _p: exporter.export_calendar(s, path, start, end, states, now=now),
                success=done,
            )
            .with_progress("Exporting the change schedule")
            .run_in_background()
        )
