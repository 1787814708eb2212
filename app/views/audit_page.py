"""The Audit page: who changed what and when, searchable, a record's history, export.

The table reads the audit log a block at a time (:class:`AuditTableModel`); every
filter and sort becomes SQL in :mod:`app.services.audit_log`. :func:`open_history` is a
small dialog any form can open to show one record's changes.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTime,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.db import Database
from app.services import audit_log as al
from app.services.audit_log import AuditFilter, AuditRow, AuditSort
from app.services.formatting import format_count, format_datetime
from app.views import ops
from app.views.pages import Page, PageContext, PageHeader, register_page
from app.views.qtmodels.paged import BLOCK_SIZE, PLACEHOLDER, PagedTableModel

#: Typing in a filter box waits this long for the next key before querying.
FILTER_DELAY_MS = 300
ARROW = " → "
EMPTY = "—"
#: The date edits show "Any" at this date (their minimum).
NO_DATE = QDate(2000, 1, 1)

_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)


def change_text(row: AuditRow) -> str:
    """``old → new`` for an edit; empty when a whole record was created or deleted."""
    if row.action != "update":
        return ""
    return f"{row.old_shown or EMPTY}{ARROW}{row.new_shown or EMPTY}"


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class AuditTableModel(PagedTableModel):
    """Rows of :func:`app.services.audit_log.search`, read in blocks as the view needs them."""

    COLUMNS: tuple[tuple[str, str | None], ...] = (
        ("When", "at"),
        ("Who", "who"),
        ("Record", "record"),
        ("Field", "field"),
        ("Change", None),
    )

    def __init__(
        self, db: Database, owner: QWidget, zone: dt.tzinfo | None = None, parent: Any = None
    ) -> None:
        super().__init__(db, owner, parent)
        self.zone = zone
        self.filter = AuditFilter()
        self.sort_order = al.DEFAULT_SORT

    # Queries

    def set_query(self, filt: AuditFilter, sort: AuditSort | None = None) -> None:
        """Show ``filt`` in ``sort`` order; count and first block are read in the background."""
        self.filter = filt
        if sort is not None:
            self.sort_order = sort
        generation = self._begin_query(counting=True)
        filt, sort_, zone = self.filter, self.sort_order, self.zone

        def first(session, _progress) -> tuple[int, list[AuditRow]]:
            return generation, al.search(session, filt, sort_, 0, BLOCK_SIZE, zone=zone)

        def counting(session, _progress) -> tuple[int, int]:
            return generation, al.count(session, filt)

        ops.QueryOp(parent=self.owner, db=self.db, op=first, success=self._first_block).failure(
            self._failed
        ).run_in_background()
        ops.QueryOp(
            parent=self.owner, db=self.db, op=counting, success=self._count_arrived
        ).failure(self._failed).run_in_background()

    def reload(self) -> None:
        self.set_query(self.filter, self.sort_order)

    def _first_block(self, result: tuple[int, list[AuditRow]]) -> None:
        generation, rows = result
        if generation == self._generation:
            self._show_first(rows, None)

    def _may_read_blocks(self) -> bool:
        return not (self.loading or self.counting)

    def _block_reader(self, block: int) -> Callable[[Any], list[AuditRow]]:
        filt, sort_, total, zone = self.filter, self.sort_order, self.total, self.zone
        offset = block * BLOCK_SIZE
        return lambda session: al.search(
            session, filt, sort_, offset, BLOCK_SIZE, total=total, zone=zone
        )

    # Qt model interface

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(  # noqa: N802 - Qt name
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            if 0 <= section < len(self.COLUMNS):
                return self.COLUMNS[section][0]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.COLUMNS):
            return
        key = self.COLUMNS[column][1]
        if key is None:
            return
        sort = AuditSort(key, order == Qt.SortOrder.DescendingOrder)
        if sort != self.sort_order:
            self.set_query(self.filter, sort)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        role = int(role)
        if role not in (_DISPLAY, _TOOLTIP, _FOREGROUND) or not index.isValid():
            return None
        row = self.row_at(index.row())
        if row is None:
            if role == _DISPLAY:
                return PLACEHOLDER
            return self._placeholder if role == _FOREGROUND else None
        if role == _FOREGROUND:
            return None
        column = index.column()
        if role == _TOOLTIP:
            if column == 4 and row.action == "update":
                return f"{row.old_shown or EMPTY}\n→\n{row.new_shown or EMPTY}"[:2000]
            if column == 2:
                return f"{row.table_label} {row.record_id}"
            return None
        if column == 0:
            return format_datetime(row.at, self.zone)
        if column == 1:
            return row.who
        if column == 2:
            return row.record_label
        if column == 3:
            return row.field_label or row.action_label
        return _one_line(change_text(row))


def detail_html(row: AuditRow, zone: dt.tzinfo | None = None) -> str:
    """The selected entry in full: when, who, record, field, old and new values."""

    def value(shown: str | None, stored: str | None) -> str:
        if shown is None:
            return f"<i>{EMPTY} empty</i>"
        text = html.escape(shown).replace("\n", "<br>")
        if stored is not None and stored != shown:
            text += f"<br><small>stored as {html.escape(stored)}</small>"
        return text

    lines = [
        ("When", html.escape(format_datetime(row.at, zone))),
        ("Who", html.escape(row.who)),
        (
            "Record",
            f"{html.escape(row.record_label)} <small>({html.escape(row.table)} "
            f"{html.escape(row.record_id)})</small>",
        ),
        ("Action", html.escape(row.action_label)),
    ]
    if row.action == "update":
        lines.append(("Field", html.escape(row.field_label)))
        lines.append(("Old value", value(row.old_shown, row.old_value)))
        lines.append(("New value", value(row.new_shown, row.new_value)))
    elif row.new_shown:
        lines.append(("As", html.escape(row.new_shown)))
    cells = "".join(
        f"<tr><td style='padding-right:10px;vertical-align:top'><b>{name}</b></td>"
        f"<td>{text}</td></tr>"
        for name, text in lines
    )
    return f"<table cellspacing='0' cellpadding='3'>{cells}</table>"


class AuditDetail(QWidget):
    """The selected entry, with a button for its record's whole history."""

    history_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row: AuditRow | None = None
        self.title = QLabel("No entry selected")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.body = QTextBrowser()
        self.body.setOpenLinks(False)
        self.body.setPlaceholderText("Select a change to see it in full.")
        self.history_button = QPushButton("History of this record…")
        self.history_button.setObjectName("historyButton")
        self.history_button.setEnabled(False)
        self.history_button.clicked.connect(self._history)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.history_button)

    def show_row(self, row: AuditRow | None, zone: dt.tzinfo | None = None) -> None:
        self.row = row
        self.history_button.setEnabled(row is not None)
        if row is None:
            self.title.setText("No entry selected")
            self.body.clear()
            return
        self.title.setText(f"{row.record_label} · {row.field_label or row.action_label}")
        self.body.setHtml(detail_html(row, zone))

    def _history(self) -> None:
        if self.row is not None:
            self.history_requested.emit(self.row.table, self.row.record_id)


@register_page(key="audit", title="Audit", icon="audit", order=70)
class AuditPage(Page):
    """Filter bar, the audit table read in blocks, a detail pane, history and export."""

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.db = context.db
        #: None: the computer's zone (as every page shows times).
        self.zone: dt.tzinfo | None = None
        self.choices: al.Choices | None = None
        self._applying = False
        self.model = AuditTableModel(self.db, self, self.zone, self)
        self.model.counted.connect(self._counted)
        self.model.rows_ready.connect(self._rows_ready)
        self.model.failed.connect(self._failed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FILTER_DELAY_MS)
        self._timer.timeout.connect(self.apply_filters)

        header = PageHeader(self.title)
        self.export_button = QToolButton()
        self.export_button.setText("Export…")
        self.export_button.setObjectName("exportButton")
        self.export_button.setToolTip("Write every matching change to an Excel workbook")
        self.export_button.clicked.connect(lambda: self.export())
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Refresh")
        self.refresh_button.setToolTip("Read the audit log again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        header.actions_layout.addWidget(self.export_button)
        header.actions_layout.addWidget(self.refresh_button)

        self.who = QComboBox()
        self.who.setEditable(True)
        self.who.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.who.lineEdit().setPlaceholderText("Anyone")
        self.who.setToolTip("Who made the change (part of a user name)")
        self.who.setMinimumContentsLength(10)
        self.kind = QComboBox()
        self.kind.setToolTip("What kind of record")
        self.kind.addItem("Any record", None)
        self.record = QLineEdit()
        self.record.setPlaceholderText("Number, name or id")
        self.record.setToolTip("INC0001234, CHG0000123, a vendor's name, or a record id")
        self.record.setClearButtonEnabled(True)
        self.field = QComboBox()
        self.field.setToolTip("Which field changed")
        self.field.addItem("Any field", None)
        self.field.setMinimumContentsLength(12)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Text in old or new value")
        self.text.setClearButtonEnabled(True)
        self.date_from = self._date_edit("Changes on or after this day")
        self.date_to = self._date_edit("Changes on or before this day")
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear filters")
        self.clear_button.clicked.connect(self.clear_filters)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        for label, widget, stretch in (
            ("Who", self.who, 1),
            ("Record", self.kind, 0),
            (None, self.record, 1),
            ("Field", self.field, 0),
            ("Text", self.text, 2),
            ("From", self.date_from, 0),
            ("To", self.date_to, 0),
        ):
            if label:
                caption = QLabel(label)
                caption.setBuddy(widget)
                bar.addWidget(caption)
            bar.addWidget(widget, stretch)
        bar.addWidget(self.clear_button)

        self.count_label = QLabel("Loading…")
        self.count_label.setObjectName("countLabel")
        self.status_label = QLabel()
        self.status_label.setObjectName("statusLabel")
        self.empty_label = QLabel(
            "No changes match these filters — <a href='clear'>clear filters</a>"
        )
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.linkActivated.connect(lambda _link: self.clear_filters())
        self.empty_label.hide()

        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((130, 130, 190, 150)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.doubleClicked.connect(lambda _index: self.open_selected_history())

        self.detail = AuditDetail()
        self.detail.history_requested.connect(self.open_history)

        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.empty_label)
        table_layout.addWidget(self.table, 1)
        splitter = QSplitter()
        splitter.addWidget(table_box)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([900, 320])
        self.splitter = splitter

        footer = QHBoxLayout()
        footer.addWidget(self.count_label)
        footer.addStretch(1)
        footer.addWidget(self.status_label)

        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addLayout(footer)

        self.who.editTextChanged.connect(self._filters_edited)
        self.record.textChanged.connect(self._filters_edited)
        self.text.textChanged.connect(self._filters_edited)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.field.currentIndexChanged.connect(self._filters_changed)
        self.date_from.dateChanged.connect(self._filters_changed)
        self.date_to.dateChanged.connect(self._filters_changed)
        QShortcut(QKeySequence(Qt.Key.Key_F5), self, activated=self.refresh)
        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.text.setFocus)

    @staticmethod
    def _date_edit(tooltip: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setMinimumDate(NO_DATE)
        edit.setSpecialValueText("Any")
        edit.setDate(NO_DATE)
        edit.setToolTip(tooltip + " (Any: no limit)")
        return edit

    # Loading

    def refresh(self) -> None:
        def op(session, _progress) -> al.Choices:
            return al.choices(session)

        ops.QueryOp(parent=self, db=self.db, op=op, success=self._choices_loaded).failure(
            self.fail_load
        ).run_in_background()

    def _choices_loaded(self, choices: al.Choices) -> None:
        self.choices = choices
        self._applying = True
        try:
            who = self.who.currentText()
            self.who.clear()
            self.who.addItems(choices.users)
            self.who.setEditText(who)
            table = self.kind.currentData()
            self.kind.clear()
            self.kind.addItem("Any record", None)
            for key, label in choices.tables:
                self.kind.addItem(label[:1].upper() + label[1:], key)
            self.kind.setCurrentIndex(max(0, self.kind.findData(table)))
            self._fill_fields()
        finally:
            self._applying = False
        self.apply_filters()

    def _fill_fields(self) -> None:
        current = self.field.currentData()
        table = self.kind.currentData()
        fields: Sequence[tuple[str, str]] = []
        if self.choices is not None:
            fields = self.choices.fields.get(table, []) if table else self.choices.all_fields()
        self.field.blockSignals(True)
        self.field.clear()
        self.field.addItem("Any field", None)
        for key, label in fields:
            self.field.addItem(label, key)
        self.field.setCurrentIndex(max(0, self.field.findData(current)))
        self.field.blockSignals(False)

    # Filters

    def current_filter(self) -> AuditFilter:
        """The filter the bar shows."""
        start = end = None
        if self.date_from.date() != NO_DATE:
            start = self._local_midnight(self.date_from.date())
        if self.date_to.date() != NO_DATE:
            end = self._local_midnight(self.date_to.date().addDays(1))
        return AuditFilter(
            who=self.who.currentText().strip() or None,
            table=self.kind.currentData(),
            record=self.record.text().strip() or None,
            field=self.field.currentData(),
            text=self.text.text().strip() or None,
            start=start,
            end=end,
        )

    def _local_midnight(self, day: QDate) -> dt.datetime:
        naive = dt.datetime.combine(day.toPython(), QTime(0, 0).toPython())
        aware = naive.replace(tzinfo=self.zone) if self.zone is not None else naive.astimezone()
        return aware.astimezone(dt.UTC)

    def set_filter(self, filt: AuditFilter) -> None:
        """Show ``filt`` in the bar and apply it."""
        self._applying = True
        try:
            self.who.setEditText(filt.who or "")
            self.kind.setCurrentIndex(max(0, self.kind.findData(filt.table)))
            self._fill_fields()
            self.record.setText(filt.record or "")
            self.field.setCurrentIndex(max(0, self.field.findData(filt.field)))
            self.text.setText(filt.text or "")
            self.date_from.setDate(self._day(filt.start) if filt.start else NO_DATE)
            last = filt.end - dt.timedelta(seconds=1) if filt.end else None
            self.date_to.setDate(self._day(last) if last else NO_DATE)
        finally:
            self._applying = False
        self.apply_filters()

    def _day(self, instant: dt.datetime) -> QDate:
        local = instant.astimezone(self.zone) if self.zone else instant.astimezone()
        return QDate(local.year, local.month, local.day)

    def clear_filters(self) -> None:
        self.set_filter(AuditFilter())

    def open_with(self, params: dict) -> None:
        """``{"table": "incident", "record": "INC0001234", ...}``: show those changes."""
        known = {k: v for k, v in params.items() if k in AuditFilter.__dataclass_fields__}
        self.set_filter(AuditFilter(**known))

    def _filters_edited(self, *_args: Any) -> None:
        if not self._applying:
            self._timer.start()

    def _filters_changed(self, *_args: Any) -> None:
        if not self._applying:
            self._timer.stop()
            self.apply_filters()

    def _kind_changed(self, *_args: Any) -> None:
        if self._applying:
            return
        self._fill_fields()
        self._filters_changed()

    def apply_filters(self) -> None:
        self._timer.stop()
        self.count_label.setText("Counting…")
        self.detail.show_row(None)
        self.model.set_query(self.current_filter())

    # Model answers

    def _rows_ready(self) -> None:
        self.empty_label.setVisible(self.model.total == 0 and not self.model.counting)
        if not self.is_loaded() or self.last_error is not None:
            self.mark_loaded()

    def _counted(self, total: int) -> None:
        self.count_label.setText(f"{format_count(total)} change{'s' if total != 1 else ''}")
        self.empty_label.setVisible(total == 0)

    def _failed(self, exc: BaseException) -> None:
        self.count_label.setText("Could not read the audit log")
        self.fail_load(exc)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        self.detail.show_row(row, self.zone)

    def selected_row(self) -> AuditRow | None:
        index = self.table.currentIndex()
        return self.model.row_at(index.row(), request=False) if index.isValid() else None

    # History and export

    def open_selected_history(self) -> HistoryDialog | None:
        row = self.selected_row()
        if row is None:
            return None
        return self.open_history(row.table, row.record_id)

    def open_history(self, table: str, record_id: str) -> HistoryDialog:
        return open_history(self, self.db, table, record_id, zone=self.zone)

    def export(self, path: str | None = None) -> ops.OpHandle | None:
        """Write every matching change to a workbook in the background, with progress."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export audit log", "audit-log.xlsx", "Excel workbooks (*.xlsx)"
            )
            if not path:
                return None
        filt, sort, zone = self.model.filter, self.model.sort_order, self.zone
        self.status_label.setText("Exporting…")

        def done(written: int) -> None:
            self.status_label.setText(f"Exported {format_count(written)} changes to {path}")

        def cancelled() -> None:
            self.status_label.setText("Export cancelled")

        def failed(exc: BaseException) -> None:
            self.status_label.setText("Export failed")
            ops.show_error(self, exc)

        return (
            ops.QueryOp(
                parent=self,
                db=self.db,
                op=lambda session, progress: al.export(
                    session, filt, path, progress, sort, zone=zone
                ),
                success=done,
            )
            .failure(failed)
            .cancelled(cancelled)
            .with_progress("Exporting the audit log")
            .run_in_background()
        )


class HistoryDialog(QDialog):
    """Every change of one record, oldest first, read in the background."""

    #: The history is on screen (or failed to load).
    loaded = Signal()

    HEADERS = ("When", "Who", "Field", "Old value", "New value")

    def __init__(
        self,
        parent: QWidget | None,
        db: Database,
        table: str,
        record_id: Any,
        zone: dt.tzinfo | None = None,
    ) -> None:
        super().__init__(parent)
        self.db = db
        self.table_name = table
        self.record_id = str(record_id)
        self.zone = zone
        self.rows: list[AuditRow] = []
        self.error: BaseException | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(f"History of {al.table_label(table)} {self.record_id}")
        self.resize(820, 420)
        self.heading = QLabel(f"History of {al.table_label(table)} {self.record_id}")
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.heading.setFont(font)
        self.note = QLabel("Loading…")
        self.view = QTableWidget(0, len(self.HEADERS))
        self.view.setObjectName("historyTable")
        self.view.setHorizontalHeaderLabels(self.HEADERS)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((130, 120, 150, 180)):
            self.view.setColumnWidth(column, width)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.note)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self.load()

    def load(self) -> None:
        table, record_id, zone = self.table_name, self.record_id, self.zone

        def op(session, _progress) -> tuple[str, list[AuditRow]]:
            return (
                al.record_label(session, table, record_id),
                al.history(session, table, record_id, zone=zone),
            )

        ops.QueryOp(parent=self, db=self.db, op=op, success=self._show).failure(
            self._failed
        ).run_in_background()

    def _show(self, result: tuple[str, list[AuditRow]]) -> None:
        label, rows = result
        self.rows = rows
        self.setWindowTitle(f"History of {label}")
        self.heading.setText(f"History of {label}")
        if rows:
            self.note.setText(f"{format_count(len(rows))} change{'s' if len(rows) != 1 else ''}")
        else:
            self.note.setText("No changes are recorded for this record.")
        self.view.setRowCount(len(rows))
        for i, row in enumerate(rows):
            if row.action == "update":
                field, old, new = row.field_label, row.old_shown, row.new_shown
            else:
                field, old, new = row.action_label, "", row.new_shown or ""
            values = (format_datetime(row.at, self.zone), row.who, field, old, new)
            for column, value in enumerate(values):
                text = value or (EMPTY if column >= 3 and row.action == "update" else "")
                item = QTableWidgetItem(_one_line(text))
                if column >= 3 and value and len(value) > 60:
                    item.setToolTip(value[:2000])
                self.view.setItem(i, column, item)
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.error = exc
        self.note.setText(f"Could not read the history: {exc}")
        self.loaded.emit()


def open_history(
    parent: QWidget | None,
    db: Database,
    table: str,
    record_id: Any,
    *,
    zone: dt.tzinfo | None = None,
) -> HistoryDialog:
    """Show every recorded change of one record in a small window (not modal).

    Any form can offer it: ``open_history(self, db, "incident", incident.id)``.
    """
    dialog = HistoryDialog(parent, db, table, record_id, zone)
    dialog.show()
    return dialog
