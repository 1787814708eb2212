"""The incident queue: presets and saved views, a filter bar, the table and a detail pane.

The table reads its rows in blocks through :class:`IncidentTableModel`; every filter and
sort becomes SQL in :mod:`app.services.incident_query`. The incident form, the bulk
actions and the export are offered only when their modules are installed (they are
looked up when used, so the queue works without them).

Saved views belong to the signed-in AppUser (the identity's ``user_id``); a console with
no AppUser keeps them under an inactive local user row created on the first save (see
:func:`app.services.incident_query.view_owner`).
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QDate,
    QEvent,
    QItemSelection,
    QModelIndex,
    QObject,
    QPoint,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from app.services import incident_query as q
from app.services.change_watch import ChangeWatcher
from app.services.formatting import (
    PRIORITY_NAMES,
    format_count,
    format_datetime,
    format_duration,
)
from app.services.incident_query import IncidentFilter, Sort
from app.views import ops
from app.views.icons import icon
from app.views.pages import Page, PageContext, PageHeader, register_page
from app.views.qtmodels.incident_table import (
    SLA_COLOURS,
    IncidentTableModel,
    PriorityDelegate,
    SlaDelegate,
)
from app.views.theme import priority_colours
from app.views.widgets import scaled_font

#: How often the page asks whether another console or process wrote.
POLL_MS = 2000
#: Typing in the search box waits this long for the next key before querying.
SEARCH_DELAY_MS = 250
DEFAULT_PRESET = "all_open"
FORM_MODULE = "app.views.incident_form"
WORKFLOW_MODULE = "app.services.incidents"
EXPORT_MODULE = "app.services.export_incidents"
#: Natural column widths; the description takes what is left, and all shrink on narrow windows.
COLUMN_WIDTHS = {
    "number": 90,
    "priority": 98,
    "state": 92,
    "short_description": 260,
    "service": 150,
    "group": 140,
    "assignee": 110,
    "opened": 118,
    "age": 64,
    "sla": 178,
    "vendor": 120,
    "updated": 118,
}
#: Below this page width the detail pane shows only while an incident is selected.
NARROW_PAGE = 1300
#: Columns that keep their width on narrow windows.
FIXED_COLUMNS = frozenset({"number", "priority", "state", "age", "sla"})
#: The description never gets narrower than this while name columns can still shrink.
MIN_DESCRIPTION = 180
#: Name columns shrink to this share of their width before the table scrolls sideways.
MIN_SHARE = 0.6
#: Item data standing for "nobody" and "no data" (None read back from a Qt item is an
#: empty QVariant round trip, which PySide6 6.12.0 mishandled; see ``cell_data``).
UNASSIGNED = -1
NO_DATA = ""
SLA_LABELS = {"breached": "Breached", "at_risk": "At risk", "paused": "Paused", "ok": "OK"}


def module(name: str) -> Any | None:
    """The module ``name`` if it is installed (checked at call time), else None."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(name)


class ChoiceList(QWidget):
    """Checkable choices with a search box when there are many; ``changed`` on each tick."""

    changed = Signal()

    def __init__(self, choices: Sequence[tuple[Any, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._find)
        self.list = QListWidget()
        self.list.setMinimumWidth(220)
        self.list.itemChanged.connect(lambda _item: self.changed.emit())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.set_choices(choices)

    def set_choices(self, choices: Sequence[tuple[Any, str]]) -> None:
        checked = set(self.values())
        self.list.blockSignals(True)
        self.list.clear()
        for value, label in choices:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, value)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if value in checked else Qt.CheckState.Unchecked
            )
            self.list.addItem(item)
        self.list.blockSignals(False)
        many = len(choices) > 10
        self.search.setVisible(many)
        rows = min(len(choices), 14)
        self.list.setFixedHeight(max(1, rows) * (self.list.sizeHintForRow(0) or 20) + 6)

    def values(self) -> list[Any]:
        return [
            self.list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_values(self, values: Sequence[Any]) -> None:
        wanted = set(values)
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            item = self.list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)

    def labels(self) -> list[str]:
        return [
            self.list.item(i).text()
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _find(self, text: str) -> None:
        needle = text.casefold()
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setHidden(bool(needle) and needle not in item.text().casefold())


class FilterButton(QToolButton):
    """A compact filter "chip": its name, what is chosen, and a drop-down of choices."""

    changed = Signal()

    def __init__(self, name: str, choices: Sequence[tuple[Any, str]] = ()) -> None:
        super().__init__()
        self.name = name
        self.setObjectName(f"filter_{name.lower().replace(' ', '_')}")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.choices = ChoiceList(choices)
        self.choices.changed.connect(self._changed)
        menu = QMenu(self)
        action = QWidgetAction(menu)
        action.setDefaultWidget(self.choices)
        menu.addAction(action)
        self.setMenu(menu)
        self._update_text()

    def values(self) -> list[Any]:
        return self.choices.values()

    def set_values(self, values: Sequence[Any]) -> None:
        self.choices.set_values(values)
        self._update_text()

    def set_choices(self, choices: Sequence[tuple[Any, str]]) -> None:
        self.choices.set_choices(choices)
        self._update_text()

    def _changed(self) -> None:
        self._update_text()
        self.changed.emit()

    def _update_text(self) -> None:
        labels = self.choices.labels()
        if not labels:
            self.setText(f"{self.name} ▾")
            self.setToolTip(f"{self.name}: any")
        else:
            shown = ", ".join(labels[:2]) + (f" +{len(labels) - 2}" if len(labels) > 2 else "")
            self.setText(f"{self.name}: {shown} ▾")
            self.setToolTip(f"{self.name}: {', '.join(labels)}")
        font = self.font()
        font.setBold(bool(labels))
        self.setFont(font)


class DateRangeButton(QToolButton):
    """Opened and updated date ranges, each bound optional (``from <= date < to + 1 day``)."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("filter_dates")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        box = QWidget()
        form = QFormLayout(box)
        self.edits: dict[str, tuple[QCheckBox, QDateEdit]] = {}
        today = QDate.currentDate()
        for key, label in (
            ("opened_from", "Opened from"),
            ("opened_to", "Opened to"),
            ("updated_from", "Updated from"),
            ("updated_to", "Updated to"),
        ):
            check = QCheckBox()
            edit = QDateEdit(today)
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(self._changed)
            edit.dateChanged.connect(lambda _d, c=check: c.isChecked() and self._changed())
            row = QHBoxLayout()
            row.addWidget(check)
            row.addWidget(edit, 1)
            form.addRow(label, row)
            self.edits[key] = (check, edit)
        menu = QMenu(self)
        action = QWidgetAction(menu)
        action.setDefaultWidget(box)
        menu.addAction(action)
        self.setMenu(menu)
        self._update_text()

    def values(self) -> dict[str, dt.date]:
        return {
            key: edit.date().toPython()
            for key, (check, edit) in self.edits.items()
            if check.isChecked()
        }

    def set_values(self, filt: IncidentFilter) -> None:
        for key, (check, edit) in self.edits.items():
            value: dt.datetime | None = getattr(filt, key)
            check.blockSignals(True)
            edit.blockSignals(True)
            check.setChecked(value is not None)
            edit.setEnabled(value is not None)
            if value is not None:
                day = value.astimezone().date()
                if key.endswith("_to"):
                    day -= dt.timedelta(days=1)
                edit.setDate(QDate(day.year, day.month, day.day))
            check.blockSignals(False)
            edit.blockSignals(False)
        self._update_text()

    def _changed(self, *_args: Any) -> None:
        self._update_text()
        self.changed.emit()

    def _update_text(self) -> None:
        values = self.values()
        parts = []
        for what in ("opened", "updated"):
            start, end = values.get(f"{what}_from"), values.get(f"{what}_to")
            if start or end:
                parts.append(f"{what} {start or '…'} – {end or '…'}")
        self.setText(("Dates: " + "; ".join(parts) if parts else "Dates") + " ▾")
        font = self.font()
        font.setBold(bool(parts))
        self.setFont(font)


class DetailPane(QScrollArea):
    """The selected incident's fields, SLA clocks and latest history, read in the background."""

    open_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailPane")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.incident_id: int | None = None
        body = QWidget()
        self.layout_ = QVBoxLayout(body)
        self.layout_.setContentsMargins(12, 8, 12, 8)
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        self.text = QLabel("Select an incident to see it here.")
        self.text.setObjectName("detailText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("Open the full incident form (Enter)")
        self.open_button.clicked.connect(
            lambda: self.incident_id is not None and self.open_requested.emit(self.incident_id)
        )
        self.open_button.hide()
        self.layout_.addWidget(self.title)
        self.layout_.addWidget(self.text)
        self.layout_.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.layout_.addStretch(1)
        self.setWidget(body)
        self.setMinimumWidth(220)

    def clear(self, message: str = "Select an incident to see it here.") -> None:
        self.incident_id = None
        self.title.setText("")
        self.text.setText(message)
        self.open_button.hide()

    def show_detail(self, detail: Any, now: dt.datetime) -> None:
        self.incident_id = detail.id
        bg, fg = priority_colours(detail.priority)
        priority = f"P{detail.priority} {PRIORITY_NAMES.get(detail.priority, '')}".strip()
        state = detail.state + (f" · {detail.hold_reason}" if detail.hold_reason else "")
        major = " · <b>major incident</b>" if detail.is_major else ""
        self.title.setText(
            f"<span style='font-size:large'><b>{html.escape(detail.number)}</b></span><br>"
            f"<span style='background:{bg};color:{fg}'>&nbsp;{priority}&nbsp;</span>"
            f" · {html.escape(state)}{major}<br><b>{html.escape(detail.short_description)}</b>"
        )
        fields = [
            ("Service", detail.service_name),
            ("CI", detail.ci_name),
            ("Group", detail.assignment_group_name),
            ("Assignee", detail.assignee_name),
            ("Caller", detail.caller_name),
            ("Vendor", detail.vendor_name),
            ("Category", " / ".join(p for p in (detail.category, detail.subcategory) if p)),
            ("Opened", format_datetime(detail.opened_at)),
            ("Resolved", format_datetime(detail.resolved_at)),
            ("Updated", format_datetime(detail.updated_at)),
            ("Reassigned", str(detail.reassignment_count) if detail.reassignment_count else ""),
        ]
        rows = "".join(
            f"<tr><td style='padding-right:8px;color:gray'>{name}</td>"
            f"<td>{html.escape(str(value))}</td></tr>"
            for name, value in fields
            if value
        )
        parts = [f"<table>{rows}</table>"]
        if detail.clocks:
            parts.append("<p><b>SLA clocks</b></p>")
            for clock in detail.clocks:
                parts.append(self._clock_row(clock, now))
        if detail.description and detail.description != detail.short_description:
            text = html.escape(detail.description[:1500]).replace("\n", "<br>")
            parts.append(f"<p><b>Description</b><br>{text}</p>")
        if detail.timeline:
            parts.append("<p><b>Latest</b></p><table>")
            for entry in detail.timeline[:6]:
                if entry.text:
                    what = entry.text
                elif entry.kind == "created":
                    what = "Created"
                else:
                    change = f"{entry.old_value or '—'} → {entry.new_value or '—'}"
                    what = f"{entry.field or entry.kind}: {change}"
                parts.append(
                    f"<tr><td style='color:gray;padding-right:8px'>"
                    f"{format_datetime(entry.at)}</td><td>{html.escape(str(what)[:200])}"
                    f" <span style='color:gray'>{html.escape(entry.author or '')}</span></td></tr>"
                )
            parts.append("</table>")
        self.text.setText("".join(parts))
        self.open_button.setVisible(module(FORM_MODULE) is not None)

    @staticmethod
    def _clock_row(clock: Any, now: dt.datetime) -> str:
        due = clock.due_at
        if clock.stage == "canceled":
            status, colour = "canceled", "gray"
        elif (
            clock.breached
            or clock.stage == "breached"
            or (clock.stage == "in_progress" and due is not None and due <= now)
        ):
            status, colour = "breached", SLA_COLOURS["breached"]
        elif clock.stage == "achieved":
            status, colour = "met", SLA_COLOURS["ok"]
        elif clock.stage == "paused":
            status, colour = "paused", "gray"
        else:
            left = (due - now).total_seconds() if due is not None else 0
            status, colour = f"{format_duration(left)} left", SLA_COLOURS["ok"]
            # The table's rule: the larger of business time used and wall time gone.
            used = clock.fraction_used(now) if hasattr(clock, "fraction_used") else 0.0
            if due is not None and clock.duration_seconds:
                used = max(used, 1 - (due - now).total_seconds() / clock.duration_seconds)
            if used >= q.AT_RISK_SHARE:
                colour = SLA_COLOURS["risk"]
            elif used >= 0.5:
                colour = SLA_COLOURS["warning"]
        return (
            f"<p style='margin:2px 0'>{html.escape(clock.name)}: "
            f"<b style='color:{colour}'>{status}</b><br>"
            f"<span style='color:gray'>due {format_datetime(due)}</span></p>"
        )


class QueueTable(QTableView):
    """The queue's table: compact rows, alternating colours, Enter opens the incident."""

    activated_row = Signal(int)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activated_row.emit(self.currentIndex().row())
            return
        super().keyPressEvent(event)


@register_page(key="incidents", title="Incidents", icon="incidents", order=20)
class IncidentQueuePage(Page):
    """Presets and saved views, filter bar, the incident table and the selected incident."""

    #: Filter choices and saved views have been read (after each read).
    side_loaded = Signal()
    #: A view was saved (its id).
    view_saved = Signal(int)

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.db = context.db
        self.filter = IncidentFilter()
        self.sort = q.DEFAULT_SORT
        self.options: q.FilterOptions | None = None
        self.views: list[q.SavedViewInfo] = []
        self.team_ids: tuple[int, ...] = ()
        self._applying = False
        self._detail_generation = 0
        self._polling = False
        #: True when the window pushes other consoles' changes (PostgreSQL): no polling.
        self._live_push = False
        self._pending_view: int | None = None
        self.watcher = ChangeWatcher(self.db.engine)
        self.model = IncidentTableModel(self.db, self, context.clock, self)
        self.model.counted.connect(self._counted)
        self.model.rows_ready.connect(self._rows_ready)
        self.model.failed.connect(self.fail_load)

        self.header = PageHeader("Incidents")
        self._build_actions()
        self._build_sidebar()
        self._build_filter_bar()
        self._build_table()
        self.detail = DetailPane()
        self.detail.open_requested.connect(self.open_incident)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(0, 0, 0, 0)
        center_layout.setSpacing(6)
        center_layout.addWidget(self.filter_bar)
        center_layout.addWidget(self.bulk_bar)
        center_layout.addWidget(self.table_host, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([150, 900, 260])
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setCollapsible(2, True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        layout.addWidget(self.header)
        layout.addWidget(self.splitter, 1)

        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self._filters_changed)
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self.poll)
        self.destroyed.connect(self.watcher.close)
        self._select_preset(DEFAULT_PRESET, apply=False)
        preset = self._preset(DEFAULT_PRESET)
        self.filter, self.sort = preset.filter, preset.sort

    # Building

    def _build_actions(self) -> None:
        self.new_button = QToolButton()
        self.new_button.setText("+ New")
        self.new_button.setObjectName("newIncident")
        self.new_button.setToolTip("New incident (Ctrl+N)")
        self.new_button.clicked.connect(self.new_incident)
        self.export_button = QToolButton()
        self.export_button.setText("Export…")
        self.export_button.setObjectName("exportButton")
        self.export_button.setToolTip("Write every matching incident to an Excel workbook")
        self.export_button.clicked.connect(self.export)
        self.refresh_button = QToolButton()
        self.refresh_button.setIcon(icon("refresh"))
        self.refresh_button.setToolTip("Read the queue again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        for button in (self.new_button, self.export_button, self.refresh_button):
            self.header.actions_layout.addWidget(button)
        for keys, slot in (
            ("Ctrl+N", self.new_incident),
            ("Ctrl+F", self.focus_search),
            ("Ctrl+Down", lambda: self.move_selection(1)),
            ("Ctrl+Up", lambda: self.move_selection(-1)),
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
                "edit_incident": [self.new_button, *self.bulk_buttons.values()],
                "save_view": [self.save_view_button],
            },
        )

    def _build_sidebar(self) -> None:
        self.sidebar = QWidget()
        layout = QVBoxLayout(self.sidebar)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.preset_list = QListWidget()
        self.preset_list.setObjectName("presetList")
        self.preset_list.setFrameShape(QFrame.Shape.NoFrame)
        self.preset_list.itemClicked.connect(self._list_clicked)
        self.preset_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.preset_list.customContextMenuRequested.connect(self._views_menu)
        self.save_view_button = QToolButton()
        self.save_view_button.setText("Save view…")
        self.save_view_button.setObjectName("saveView")
        self.save_view_button.setToolTip("Keep these filters, sort and columns under a name")
        self.save_view_button.clicked.connect(self.save_view_dialog)
        layout.addWidget(self.preset_list, 1)
        layout.addWidget(self.save_view_button)
        self.sidebar.setMinimumWidth(140)
        self._fill_sidebar()

    def _fill_sidebar(self) -> None:
        current = self.preset_list.currentItem()
        current_data = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        self.preset_list.clear()

        def heading(text: str) -> None:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, NO_DATA)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = item.font()
            font.setBold(True)
            item.setFont(font)
            item.setSizeHint(QSize(0, 30))
            self.preset_list.addItem(item)

        heading("Presets")
        for preset in q.presets():
            item = QListWidgetItem(preset.title)
            item.setData(Qt.ItemDataRole.UserRole, ("preset", preset.key))
            item.setSizeHint(QSize(0, 24))
            self.preset_list.addItem(item)
        heading("Saved views")
        if not self.views:
            item = QListWidgetItem("none yet")
            item.setData(Qt.ItemDataRole.UserRole, NO_DATA)
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.preset_list.addItem(item)
        for view in self.views:
            item = QListWidgetItem(view.name)
            item.setData(Qt.ItemDataRole.UserRole, ("view", view.id))
            item.setSizeHint(QSize(0, 24))
            item.setToolTip("Right-click to rename or delete")
            self.preset_list.addItem(item)
        if current_data is not None:
            self._select_item(current_data)

    def _build_filter_bar(self) -> None:
        self.filter_bar = QWidget()
        bar = QHBoxLayout(self.filter_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)
        self.state_button = FilterButton(
            "State", [(q.OPEN, "Open"), *((s, s) for s in q.ALL_STATES)]
        )
        self.priority_button = FilterButton(
            "Priority", [(p, f"P{p} {name}") for p, name in PRIORITY_NAMES.items()]
        )
        self.group_button = FilterButton("Group")
        self.assignee_button = FilterButton("Assignee")
        self.service_button = FilterButton("Service")
        self.vendor_button = FilterButton("Vendor")
        self.sla_button = FilterButton("SLA", list(SLA_LABELS.items()))
        self.major_check = QCheckBox("Major")
        self.major_check.setObjectName("filter_major")
        self.major_check.setTristate(False)
        self.dates_button = DateRangeButton()
        self.filter_buttons = [
            self.state_button,
            self.priority_button,
            self.group_button,
            self.assignee_button,
            self.service_button,
            self.vendor_button,
            self.sla_button,
        ]
        for button in self.filter_buttons:
            button.changed.connect(self._filters_changed)
            bar.addWidget(button)
        self.dates_button.changed.connect(self._filters_changed)
        self.major_check.toggled.connect(self._filters_changed)
        bar.addWidget(self.dates_button)
        bar.addWidget(self.major_check)
        # A drill-down from a chart: exactly the incidents behind it, until removed.
        self.drill_chip = QToolButton()
        self.drill_chip.setObjectName("filter_drill")
        self.drill_chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.drill_chip.setToolTip(
            "Only the incidents behind a chart's bar or point; click to remove"
        )
        self.drill_chip.clicked.connect(self._clear_drill)
        self.drill_chip.hide()
        bar.addWidget(self.drill_chip)
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setObjectName("clearFilters")
        self.clear_button.setToolTip("Show every incident")
        self.clear_button.clicked.connect(self.clear_filters)
        bar.addWidget(self.clear_button)
        bar.addStretch(1)
        # The count sits at the end of the second row, where narrow windows leave room.
        self.count_label = QLabel("…")
        self.count_label.setObjectName("matchCount")
        self.count_label.setFont(scaled_font(self.count_label, 1.0, bold=True))
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.bulk_bar = QWidget()
        bulk = QHBoxLayout(self.bulk_bar)
        bulk.setContentsMargins(0, 0, 0, 0)
        bulk.setSpacing(4)
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search number or description (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMaxLength(q.MAX_TEXT)
        self.search.setMinimumWidth(120)
        self.search.setMaximumWidth(380)
        self.search.textEdited.connect(lambda _t: self.search_timer.start())
        self.search.returnPressed.connect(self._filters_changed)
        bulk.addWidget(self.search, 1)
        bulk.addSpacing(12)
        self.selected_label = QLabel("")
        self.selected_label.setObjectName("selectedLabel")
        bulk.addWidget(self.selected_label)
        self.bulk_buttons: dict[str, QToolButton] = {}
        for key, text, slot in (
            ("assign", "Assign…", self.bulk_assign),
            ("state", "Change state…", self.bulk_state),
            ("priority", "Set priority…", self.bulk_priority),
            ("close", "Close resolved", self.bulk_close),
        ):
            button = QToolButton()
            button.setText(text)
            button.setObjectName(f"bulk_{key}")
            button.setToolTip("Select incidents to act on them together")
            button.clicked.connect(slot)
            button.setEnabled(False)
            bulk.addWidget(button)
            self.bulk_buttons[key] = button
        bulk.addStretch(1)
        bulk.addWidget(self.count_label)

    def _build_table(self) -> None:
        self.table = QueueTable()
        self.table.setObjectName("incidentTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.table.verticalHeader()
        vertical.hide()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        for i, col in enumerate(self.model.columns):
            header.resizeSection(i, COLUMN_WIDTHS.get(col.key, 100))
        header.setMinimumSectionSize(40)
        self.table.setItemDelegateForColumn(
            self.model.column_index("priority"), PriorityDelegate(self.table)
        )
        self.table.setItemDelegateForColumn(self.model.column_index("sla"), SlaDelegate(self.table))
        self.table.viewport().installEventFilter(self)
        self._set_sort_indicator()
        self.table.setSortingEnabled(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.doubleClicked.connect(lambda index: self._open_row(index.row()))
        self.table.activated_row.connect(self._open_row)
        for keys, step in (("J", 1), ("K", -1)):
            shortcut = QShortcut(QKeySequence(keys), self.table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(lambda step=step: self.move_selection(step))
        self.apply_columns(q.DEFAULT_COLUMNS)

        self.empty = QLabel("No incidents match these filters — <a href='clear'>clear filters</a>")
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

        Number, priority, state, age and SLA keep their width (they are short and must be
        read whole); names shrink to :data:`MIN_SHARE` of their width, then the table scrolls.
        """
        header = self.table.horizontalHeader()
        available = self.table.viewport().width()
        keys = self.visible_columns()
        if "short_description" not in keys:
            return
        fixed = [k for k in keys if k in FIXED_COLUMNS]
        names = [k for k in keys if k not in FIXED_COLUMNS and k != "short_description"]
        spare = available - MIN_DESCRIPTION - sum(COLUMN_WIDTHS.get(k, 100) for k in fixed)
        natural = sum(COLUMN_WIDTHS.get(k, 100) for k in names)
        scale = 1.0 if spare >= natural else max(MIN_SHARE, spare / max(1, natural))
        for key in fixed:
            header.resizeSection(self.model.column_index(key), COLUMN_WIDTHS.get(key, 100))
        used = 0
        for key in names:
            width = int(COLUMN_WIDTHS.get(key, 100) * scale)
            header.resizeSection(self.model.column_index(key), width)
            used += width
        used += sum(COLUMN_WIDTHS.get(k, 100) for k in fixed)
        description = max(MIN_DESCRIPTION, available - used)
        header.resizeSection(self.model.column_index("short_description"), description)

    # Loading

    def refresh(self) -> None:
        """Read options, saved views and the rows again."""
        self._load_side_data()
        self._apply(self.filter, self.sort)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().showEvent(event)
        if self._activated:
            self.poll_timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().hideEvent(event)
        self.poll_timer.stop()

    def activate(self) -> None:
        super().activate()
        self.poll_timer.start()

    def _load_side_data(self) -> None:
        user_id = self.db.identity.user_id

        def op(session, _progress) -> tuple[q.FilterOptions, list[q.SavedViewInfo], tuple]:
            return (
                q.filter_options(session),
                q.list_views(session, user_id),
                q.user_team_ids(session, user_id),
            )

        ops.QueryOp(parent=self, db=self.db, op=op, success=self._side_data).failure(
            self._side_failed
        ).run_in_background()

    def _side_failed(self, exc: BaseException) -> None:
        self.last_error = exc

    def _side_data(self, result: tuple) -> None:
        options, views, team_ids = result
        self.options = options
        self.views = views
        teams_changed = tuple(team_ids) != self.team_ids
        self.team_ids = tuple(team_ids)
        self._applying = True
        try:
            self.group_button.set_choices([(c.id, c.name) for c in options.groups])
            self.assignee_button.set_choices(
                [(UNASSIGNED, "Unassigned"), *((c.id, c.name) for c in options.people)]
            )
            self.service_button.set_choices([(c.id, c.name) for c in options.services])
            self.vendor_button.set_choices([(c.id, c.name) for c in options.vendors])
            self._show_filter(self.filter)
        finally:
            self._applying = False
        self._fill_sidebar()
        if self._pending_view is not None:
            self._select_item(("view", self._pending_view))
            self._pending_view = None
        self.side_loaded.emit()
        if teams_changed and self.filter.my_groups:
            self._apply(self.filter, self.sort)

    def _apply(self, filt: IncidentFilter, sort: Sort | None = None) -> None:
        self.filter = filt
        if sort is not None:
            self.sort = sort
        self._applying = True
        try:
            self._show_filter(filt)
            self._set_sort_indicator()
        finally:
            self._applying = False
        self.count_label.setText("counting…")
        self.detail.clear()
        self._update_detail_visibility()
        self.model.set_query(filt, self.sort, self.team_ids)

    def _counted(self, total: int) -> None:
        self.count_label.setText(f"{format_count(total)} matching")
        self.empty.setVisible(total == 0)
        self.table.setVisible(total > 0)

    def _rows_ready(self) -> None:
        if self.model.sort_order != self.sort:
            self.sort = self.model.sort_order
        self.mark_loaded()

    # Filters

    def _show_filter(self, filt: IncidentFilter) -> None:
        self.state_button.set_values(list(filt.states))
        self.priority_button.set_values(list(filt.priorities))
        self.group_button.set_values(list(filt.group_ids))
        assignees: list[Any] = list(filt.assignee_ids)
        if filt.unassigned:
            assignees.append(UNASSIGNED)
        self.assignee_button.set_values(assignees)
        self.service_button.set_values(list(filt.service_ids))
        self.vendor_button.set_values(list(filt.vendor_ids))
        self.sla_button.set_values(list(filt.sla))
        self.major_check.setChecked(bool(filt.major))
        self.dates_button.set_values(filt)
        if filt.ids:
            label = filt.ids_label or f"{format_count(len(filt.ids))} chosen incidents"
            self.drill_chip.setText(f"{label}  ✕")
            font = self.drill_chip.font()
            font.setBold(True)
            self.drill_chip.setFont(font)
        self.drill_chip.setVisible(bool(filt.ids))
        if self.search.text() != filt.text:
            self.search.setText(filt.text)

    def filter_from_bar(self) -> IncidentFilter:
        """The filter the bar shows (keeps "my groups" and CI filters it has no chip for)."""
        assignees = self.assignee_button.values()
        dates = self.dates_button.values()
        return IncidentFilter(
            states=self.state_button.values(),
            priorities=self.priority_button.values(),
            group_ids=self.group_button.values(),
            assignee_ids=[a for a in assignees if a != UNASSIGNED],
            unassigned=UNASSIGNED in assignees,
            service_ids=self.service_button.values(),
            ci_ids=self.filter.ci_ids,
            vendor_ids=self.vendor_button.values(),
            sla=self.sla_button.values(),
            opened_from=dates.get("opened_from"),
            opened_to=dates.get("opened_to"),
            updated_from=dates.get("updated_from"),
            updated_to=dates.get("updated_to"),
            text=self.search.text(),
            major=True if self.major_check.isChecked() else None,
            my_groups=self.filter.my_groups,
            ids=self.filter.ids,
            ids_label=self.filter.ids_label,
        )

    def _clear_drill(self) -> None:
        self.preset_list.setCurrentRow(-1)
        self._apply(self.filter.replace(ids=(), ids_label=""), self.sort)

    def _filters_changed(self, *_args: Any) -> None:
        if self._applying:
            return
        self.search_timer.stop()
        filt = self.filter_from_bar()
        if filt != self.filter:
            self.preset_list.setCurrentRow(-1)
            self._apply(filt)

    def clear_filters(self) -> None:
        self.preset_list.setCurrentRow(-1)
        self._apply(IncidentFilter())

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def open_with(self, params: dict) -> None:
        """Show the incidents ``params`` asks for, e.g. Today's ``{"state": [...], "priority": [1]}``."""
        try:
            filt = IncidentFilter.from_dict(params)
        except (ValueError, TypeError) as exc:
            self.fail_load(exc)
            return
        self.preset_list.setCurrentRow(-1)
        if not self._activated:
            self._activated = True
            self._load_side_data()
            self.poll_timer.start()
        self._apply(filt, self.sort)

    # Presets and saved views

    @staticmethod
    def _preset(key: str) -> q.Preset:
        return next(p for p in q.presets() if p.key == key)

    def _select_item(self, data: tuple) -> None:
        for i in range(self.preset_list.count()):
            if self.preset_list.item(i).data(Qt.ItemDataRole.UserRole) == data:
                self.preset_list.setCurrentRow(i)
                return

    def _select_preset(self, key: str, apply: bool = True) -> None:
        self._select_item(("preset", key))
        if apply:
            preset = self._preset(key)
            self._apply(preset.filter, preset.sort)

    def apply_preset(self, key: str) -> None:
        """Show the preset ``key`` (see :func:`app.services.incident_query.presets`)."""
        self._select_preset(key)

    def _list_clicked(self, item: QListWidgetItem) -> None:
        data = item.data(Qt.ItemDataRole.UserRole)
        if not data:
            return
        kind, key = data
        if kind == "preset":
            self._select_preset(key)
        else:
            self.apply_view(key)

    def apply_view(self, view_id: int) -> None:
        view = next((v for v in self.views if v.id == view_id), None)
        if view is None:
            return
        self._select_item(("view", view_id))
        self.apply_columns(view.definition.columns)
        self._apply(view.definition.filter, view.definition.sort)

    def current_definition(self) -> q.ViewDefinition:
        return q.ViewDefinition(self.filter, self.sort, tuple(self.visible_columns()))

    def save_view_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save view", "Name of the view:")
        if ok and name.strip():
            self.save_view(name)

    def save_view(self, name: str) -> ops.OpHandle:
        """Save the current filter, sort and columns as the view ``name`` (replacing one so named)."""
        definition = self.current_definition()
        user_id = self.db.identity.user_id

        def op(session, _progress) -> int:
            return q.save_view(session, user_id, name, definition)

        def saved(view_id: int) -> None:
            self._pending_view = view_id
            self._load_side_data()
            self.view_saved.emit(view_id)

        return ops.QueryOp(
            parent=self, db=self.db, op=op, success=saved, commit=True
        ).run_in_background()

    def _views_menu(self, pos: QPoint) -> None:
        item = self.preset_list.itemAt(pos)
        data = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not data or data[0] != "view":
            return
        view_id = data[1]
        menu = QMenu(self)
        rename = menu.addAction("Rename…")
        delete = menu.addAction("Delete")
        chosen = menu.exec(self.preset_list.viewport().mapToGlobal(pos))
        if chosen is rename:
            name, ok = QInputDialog.getText(self, "Rename view", "New name:", text=item.text())
            if ok and name.strip():
                self._write(lambda s: q.rename_view(s, view_id, name), self._load_side_data)
        elif chosen is delete:
            self._write(lambda s: q.delete_view(s, view_id), self._load_side_data)

    def _write(self, work: Callable[[Any], Any], then: Callable[[], Any]) -> ops.OpHandle:
        return ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _progress: work(session),
            success=lambda _result: then(),
            commit=True,
        ).run_in_background()

    # Columns

    def visible_columns(self) -> list[str]:
        header = self.table.horizontalHeader()
        order = sorted(range(len(self.model.columns)), key=header.visualIndex)
        return [self.model.columns[i].key for i in order if not header.isSectionHidden(i)]

    def apply_columns(self, keys: Sequence[str]) -> None:
        """Show the columns ``keys`` in that order; the others are hidden."""
        header = self.table.horizontalHeader()
        wanted = [k for k in keys if k in q.COLUMN_KEYS] or list(q.DEFAULT_COLUMNS)
        for i, col in enumerate(self.model.columns):
            header.setSectionHidden(i, col.key not in wanted)
        for position, key in enumerate(wanted):
            logical = self.model.column_index(key)
            header.moveSection(header.visualIndex(logical), position)
        self.fit_columns()

    def set_column_visible(self, key: str, visible: bool) -> None:
        keys = self.visible_columns()
        if visible and key not in keys:
            keys.append(key)
        elif not visible and key in keys and len(keys) > 1:
            keys.remove(key)
        self.apply_columns(keys)

    def column_menu(self) -> QMenu:
        """The header's context menu: a tick per column."""
        menu = QMenu(self)
        visible = set(self.visible_columns())
        for col in self.model.columns:
            action = QAction(col.header, menu)
            action.setCheckable(True)
            action.setChecked(col.key in visible)
            action.setData(col.key)
            action.toggled.connect(lambda on, key=col.key: self.set_column_visible(key, on))
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction("Default columns", lambda: self.apply_columns(q.DEFAULT_COLUMNS))
        return menu

    def _column_menu(self, pos: QPoint) -> None:
        header = self.table.horizontalHeader()
        self.column_menu().exec(header.mapToGlobal(pos))

    def _set_sort_indicator(self) -> None:
        header = self.table.horizontalHeader() if hasattr(self, "table") else None
        if header is None:
            return
        column = self.model.column_index(self.sort.column)
        order = (
            Qt.SortOrder.DescendingOrder if self.sort.descending else Qt.SortOrder.AscendingOrder
        )
        header.blockSignals(True)
        header.setSortIndicator(column, order)
        header.blockSignals(False)
        header.viewport().update()

    def sort_by(self, key: str, descending: bool) -> None:
        self.sort = Sort(key, descending)
        self._set_sort_indicator()
        self.model.set_query(self.filter, self.sort, self.team_ids)

    # Selection and detail

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        ids = []
        for row in rows:
            value = self.model.row_at(row, request=False)
            if value is not None:
                ids.append(value.id)
        return ids

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        count = len(self.table.selectionModel().selectedRows())
        has_workflow = module(WORKFLOW_MODULE) is not None
        self.selected_label.setText(f"{format_count(count)} selected" if count else "")
        for button in self.bulk_buttons.values():
            button.setEnabled(count > 0 and has_workflow)
            button.setToolTip("" if has_workflow else "Bulk actions are not installed")

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        self._update_detail_visibility()

    def _update_detail_visibility(self) -> None:
        """On narrow pages the detail pane shows only while an incident is selected."""
        narrow = self.width() < NARROW_PAGE
        self.detail.setVisible(not narrow or self.detail.incident_id is not None)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        if row is None:
            self.detail.clear()
            self._update_detail_visibility()
            return
        self.load_detail(row.id)

    def load_detail(self, incident_id: int) -> None:
        workflow = module(WORKFLOW_MODULE)
        if workflow is None:
            self.detail.clear("The incident details are not installed.")
            return
        self._detail_generation += 1
        generation = self._detail_generation
        now = self.context.clock()

        def shown(detail: Any) -> None:
            if generation == self._detail_generation:
                self.detail.show_detail(detail, now)
                self._update_detail_visibility()

        def failed(exc: BaseException) -> None:
            if generation == self._detail_generation:
                self.detail.clear(f"Could not read the incident: {exc}")

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _p: workflow.incident_detail(session, incident_id),
            success=shown,
        ).failure(failed).run_in_background()

    def move_selection(self, step: int) -> None:
        """Select the next (``step`` 1) or previous (-1) incident."""
        if self.model.total == 0:
            return
        current = self.table.currentIndex()
        row = current.row() + step if current.isValid() else 0
        row = max(0, min(self.model.total - 1, row))
        index = self.model.index(row, max(0, current.column()))
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)

    def _open_row(self, row: int) -> None:
        value = self.model.row_at(row, request=False)
        if value is not None:
            self.open_incident(value.id)

    # Opening, creating, bulk actions and export

    def open_incident(self, incident_id: int | None) -> None:
        form = module(FORM_MODULE)
        if form is None:
            QMessageBox.information(self, "Incidents", "The incident form is not installed yet.")
            return
        form.open_incident(self, self.db, incident_id, clock=self.context.clock)

    def new_incident(self) -> None:
        """Open a new incident (Ctrl+N); not for a role that may not write incidents."""
        if not self._may_edit():
            return
        self.open_incident(None)

    def _may_edit(self) -> bool:
        from app.views.permissions import may, read_only_reason

        if may(self, "edit_incident"):
            return True
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(read_only_reason(self, "edit_incident") or "", 5000)
        return False

    def _bulk(self, label: str, work: Callable[[Any, list[int]], Any]) -> ops.OpHandle | None:
        ids = self.selected_ids()
        if not ids or not self._may_edit():
            return None

        def done(result: Any) -> None:
            changed = len(getattr(result, "changed", []) or [])
            skipped = getattr(result, "skipped", []) or []
            text = f"{label}: {changed} changed"
            if skipped:
                text += f", {len(skipped)} skipped"
            self.selected_label.setText(text)
            self.model.refresh()

        return (
            ops.QueryOp(
                parent=self,
                db=self.db,
                op=lambda session, _p: work(session, ids),
                success=done,
                commit=True,
            )
            .with_progress(label)
            .run_in_background()
        )

    def bulk_assign(self) -> None:
        workflow = module(WORKFLOW_MODULE)
        if workflow is None or self.options is None:
            return
        dialog = BulkDialog(self, "Assign")
        group = dialog.combo("Group", [(c.id, c.name) for c in self.options.groups])
        person = dialog.combo("Assignee", [])
        people = {c.id: c.name for c in self.options.people}

        def fill_people() -> None:
            members = self.options.members.get(group.currentData(), ()) if self.options else ()
            person.clear()
            person.addItem("(nobody)", UNASSIGNED)
            for pid in members:
                if pid in people:
                    person.addItem(people[pid], pid)

        group.currentIndexChanged.connect(fill_people)
        fill_people()
        if dialog.exec() == QDialog.DialogCode.Accepted:
            group_id, chosen = group.currentData(), person.currentData()
            assignee_id = None if chosen == UNASSIGNED else chosen
            self._bulk(
                "Assign",
                lambda s, ids: workflow.bulk_assign(s, ids, group_id, assignee_id),
            )

    def bulk_state(self) -> None:
        workflow = module(WORKFLOW_MODULE)
        if workflow is None:
            return
        dialog = BulkDialog(self, "Change state")
        states = [s for s in q.ALL_STATES if s != "Closed"]
        state = dialog.combo("State", [(s, s) for s in states])
        hold = dialog.combo(
            "Hold reason",
            [
                (r, r)
                for r in (
                    "Awaiting Caller",
                    "Awaiting Change",
                    "Awaiting Problem",
                    "Awaiting Vendor",
                )
            ],
        )
        codes = getattr(workflow, "RESOLUTION_CODES", ("Solved (Permanently)",))
        code = dialog.combo("Resolution code", [(c, c) for c in codes])
        notes = dialog.text("Resolution notes")
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        to_state = state.currentData()
        extra: dict[str, Any] = {}
        if to_state == "On Hold":
            extra["hold_reason"] = hold.currentData()
        if to_state == "Resolved":
            extra["resolution_code"] = code.currentData()
            extra["resolution_notes"] = notes.toPlainText()
        self._bulk(
            f"Move to {to_state}",
            lambda s, ids: workflow.bulk_transition(s, ids, to_state, **extra),
        )

    def bulk_priority(self) -> None:
        workflow = module(WORKFLOW_MODULE)
        if workflow is None:
            return
        dialog = BulkDialog(self, "Set priority")
        priority = dialog.combo(
            "Priority", [(p, f"P{p} {name}") for p, name in PRIORITY_NAMES.items()]
        )
        reason = dialog.text("Reason")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            value, why = priority.currentData(), reason.toPlainText()
            self._bulk(
                "Set priority", lambda s, ids: workflow.bulk_set_priority(s, ids, value, why)
            )

    def bulk_close(self) -> None:
        workflow = module(WORKFLOW_MODULE)
        if workflow is not None:
            self._bulk("Close resolved", lambda s, ids: workflow.bulk_close_resolved(s, ids))

    def export(self, path: str | None = None) -> ops.OpHandle | None:
        exporter = module(EXPORT_MODULE)
        if exporter is None:
            QMessageBox.information(self, "Incidents", "Export is not installed yet.")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export incidents", "incidents.xlsx", "Excel workbooks (*.xlsx)"
            )
            if not path:
                return None
        filt, sort = self.filter, self.sort
        if filt.my_groups:
            # The export reads no user; hand it the groups "my groups" stands for.
            filt = filt.replace(
                my_groups=False, group_ids=(*filt.group_ids, *self.team_ids) or (-1,)
            )
        now = self.context.clock()

        def done(written: int) -> None:
            self.selected_label.setText(f"Exported {format_count(written)} incidents")

        return (
            ops.QueryOp(
                parent=self,
                db=self.db,
                op=lambda session, progress: exporter.export_incidents(
                    session, filt, path, progress, sort, now=now
                ),
                success=done,
            )
            .with_progress("Exporting incidents")
            .run_in_background()
        )

    # Live updates

    #: Tables whose changes alter what the queue shows ("*": anything may have changed).
    LIVE_TABLES = frozenset({"incident", "sla_clock", "*"})

    def set_live_push(self, on: bool) -> None:
        """Changes are pushed by the window (``live_records_changed``), so stop polling."""
        self._live_push = on

    def live_records_changed(self, table: str, ids: list) -> None:
        """Records of ``table`` changed (``ids``, or any when empty): re-read the rows on hand."""
        if table not in self.LIVE_TABLES or not self._activated:
            return
        if self.model.loading or self.model.counting:
            # A read is under way and may predate the change: ask again once it is done.
            QTimer.singleShot(200, self, lambda: self.live_records_changed(table, ids))
            return
        self.model.refresh()
        shown = self.detail.incident_id
        if shown is not None and (not ids or table != "incident" or shown in ids):
            self.load_detail(shown)

    def poll(self) -> None:
        """Ask (in the background) whether the database changed; if so, refresh what is shown."""
        if self._polling or self._live_push:
            return
        self._polling = True

        def done(changed: bool) -> None:
            self._polling = False
            if changed:
                self.model.refresh()
                if self.detail.incident_id is not None:
                    self.load_detail(self.detail.incident_id)

        def failed(_exc: BaseException) -> None:
            # A failed poll is not worth a dialog; the next one tries again.
            self._polling = False

        ops.BackgroundOp(parent=self, op=lambda _p: self.watcher.changed(), success=done).failure(
            failed
        ).run_in_background()


class BulkDialog(QDialog):
    """A small form for a bulk action: combos and text fields, OK and Cancel."""

    def __init__(self, parent: QWidget, title: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout(self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self._buttons = buttons
        self.form.addRow(buttons)

    def _add(self, label: str, widget: QWidget) -> None:
        self.form.insertRow(self.form.rowCount() - 1, label, widget)

    def combo(self, label: str, items: Sequence[tuple[Any, str]]) -> QComboBox:
        combo = QComboBox()
        for value, text in items:
            combo.addItem(text, value)
        self._add(label, combo)
        return combo

    def text(self, label: str) -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setFixedHeight(60)
        self._add(label, edit)
        return edit
