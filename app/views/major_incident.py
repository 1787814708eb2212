"""The major-incident window: header, status timeline, communications, the post-incident
review with its corrective actions, and "Export review…".

Everything is read and written through :mod:`app.services.major_incidents` in
background ops; a refused change shows its sentence in the window and keeps what was typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from app.db import Database
from app.models import utcnow
from app.services import major_incidents as mi
from app.services.formatting import format_date, format_datetime, format_duration
from app.services.major_incidents import (
    ActionInfo,
    ActionInput,
    MajorDetail,
    MajorIncidentError,
    PersonChoice,
    ReviewInput,
)
from app.services.progress import Progress
from app.views import ops
from app.views.theme import DANGER_TEXT, GOOD_TEXT
from app.views.widgets import Chip, PriorityChip, scaled_font

#: Colours of the major-incident statuses (background, text); the word is always shown.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "investigating": ("#d32f2f", "#ffffff"),
    "identified": ("#ef6c00", "#ffffff"),
    "monitoring": ("#1e88e5", "#ffffff"),
    "resolved": ("#2e7d32", "#ffffff"),
}
FINAL_STATES = ("Closed", "Canceled")
_windows: dict[tuple[int, int], MajorIncidentWindow] = {}


def open_major_incident(
    parent: QWidget | None,
    db: Database,
    incident_id: int,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> QWidget:
    """Show the major-incident window of ``incident_id`` (the open one, if there is one)."""
    key = (id(db), incident_id)
    window = _windows.get(key)
    if window is None or not shiboken6.isValid(window):
        window = MajorIncidentWindow(db, incident_id, parent=parent, clock=clock)
        _windows[key] = window
        window.destroyed.connect(lambda *_: _windows.pop(key, None))
    window.show()
    window.raise_()
    window.activateWindow()
    return window


def _item(text: str, *, colour: str | None = None, tip: str | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if colour:
        item.setForeground(QColor(colour))
    item.setToolTip(tip if tip is not None else text)
    return item


def _table(headers: list[str], stretch: int) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setAlternatingRowColors(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(True)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


def _to_qdate(value: dt.date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _from_qdate(value: QDate) -> dt.date:
    return dt.date(value.year(), value.month(), value.day())


def _date_edit(value: dt.date) -> QDateEdit:
    edit = QDateEdit(_to_qdate(value))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit


class StatusChip(Chip):
    """A major-incident status on its colour."""

    def __init__(self, status: str | None, parent: QWidget | None = None) -> None:
        background, foreground = STATUS_COLOURS.get(status or "", ("#757575", "#ffffff"))
        super().__init__((status or "not major").capitalize(), background, foreground, parent)


class ActionDialog(QDialog):
    """Add or edit a corrective action: description, owner, due date and status."""

    def __init__(
        self,
        people: list[PersonChoice],
        earliest: dt.date,
        action: ActionInfo | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.action = action
        self.setWindowTitle("Edit corrective action" if action else "Add corrective action")
        self.description = QLineEdit(action.description if action else "")
        self.description.setPlaceholderText("What will be done, e.g. Alert on certificate expiry")
        self.owner = QComboBox()
        self.owner.setEditable(True)
        self.owner.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.owner.addItem("", None)
        for person in people:
            self.owner.addItem(person.name, person.id)
        if action and action.owner_id is not None:
            self.owner.setCurrentIndex(max(0, self.owner.findData(action.owner_id)))
        self.owner.lineEdit().setPlaceholderText("Type a name")
        due = action.due_on if action and action.due_on else earliest + dt.timedelta(days=14)
        self.due = _date_edit(due)
        self.due.setMinimumDate(_to_qdate(min(earliest, due)))
        self.status = QComboBox()
        self.status.addItems(list(mi.ACTION_STATUSES))
        self.status.setCurrentText(action.status if action else "open")
        form = QFormLayout()
        form.addRow("Action", self.description)
        form.addRow("Owner", self.owner)
        form.addRow("Due", self.due)
        form.addRow("Status", self.status)
        self.error = QLabel()
        self.error.setStyleSheet(f"color: {DANGER_TEXT};")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(480, self.sizeHint().height())

    def owner_id(self) -> int | None:
        index = self.owner.findText(self.owner.currentText(), Qt.MatchFlag.MatchFixedString)
        return self.owner.itemData(index) if index >= 0 else None

    def value(self) -> ActionInput:
        return ActionInput(
            description=self.description.text(),
            owner_id=self.owner_id(),
            due_on=_from_qdate(self.due.date()),
            status=self.status.currentText(),
        )

    def accept(self) -> None:
        if self.owner_id() is None:
            self.show_error("Choose the action's owner from the list.")
            return
        if not self.description.text().strip():
            self.show_error("Say what the action is.")
            return
        super().accept()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()


class MajorIncidentWindow(QMainWindow):
    """A major incident's own window, for the war room and for the review afterwards."""

    def __init__(
        self,
        db: Database,
        incident_id: int,
        parent: QWidget | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.db = db
        self.incident_id = incident_id
        self.clock = clock
        self.detail: MajorDetail | None = None
        self.people: list[PersonChoice] = []
        self.action_dialog: ActionDialog | None = None
        self.last_export: str | None = None
        self._loads = 0
        self._shown = 0
        self.setWindowTitle("Major incident")
        self.resize(1200, 800)

        self.progress = ops.ProgressIndicator()
        self.statusBar().addPermanentWidget(self.progress)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(16, 12, 16, 8)
        layout.setSpacing(10)
        layout.addWidget(self._build_header())
        self.message = QLabel()
        self.message.setObjectName("refusal")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {DANGER_TEXT}; font-weight: bold;")
        self.message.hide()
        layout.addWidget(self.message)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_live(), "Timeline and communications")
        self.tabs.addTab(self._build_review(), "Post-incident review")
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._set_enabled(False)

        self.ticker = QTimer(self)
        self.ticker.setInterval(30_000)
        self.ticker.timeout.connect(self._show_duration)
        self.ticker.start()
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        self.refresh()

    # Building

    def _build_header(self) -> QWidget:
        header = QWidget()
        grid = QVBoxLayout(header)
        grid.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.number = QLabel("Loading…")
        self.number.setFont(scaled_font(self.number, 1.5, bold=True))
        self.priority_slot = QHBoxLayout()
        self.status_slot = QHBoxLayout()
        self.title = QLabel()
        self.title.setFont(scaled_font(self.title, 1.2))
        self.declare_button = QPushButton("Declare major incident")
        self.declare_button.clicked.connect(self.declare)
        self.declare_button.hide()
        self.export_button = QPushButton("Export review…")
        self.export_button.setToolTip("Write the review, timeline and actions to a workbook")
        self.export_button.clicked.connect(self.export_review)
        top.addWidget(self.number)
        top.addLayout(self.priority_slot)
        top.addLayout(self.status_slot)
        top.addWidget(self.title, 1)
        top.addWidget(self.declare_button)
        top.addWidget(self.export_button)
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setToolTip(
            "The duration runs from the start of the impact (the outage if one is recorded, "
            "else the incident's opening) to restoration."
        )
        grid.addLayout(top)
        grid.addWidget(self.facts)
        return header

    def _build_live(self) -> QWidget:
        timeline_box = QGroupBox("Status updates")
        self.timeline = _table(["Time", "Status", "Update", "By"], stretch=2)
        self.update_status = QComboBox()
        self.update_status.addItems(list(mi.MAJOR_STATUSES))
        self.update_text = QPlainTextEdit()
        self.update_text.setPlaceholderText("What is known now, what is being done, next update…")
        self.update_text.setMaximumHeight(80)
        self.add_update_button = QPushButton("Add update")
        self.add_update_button.clicked.connect(self.add_update)
        row = QHBoxLayout()
        row.addWidget(QLabel("Status"))
        row.addWidget(self.update_status)
        row.addStretch(1)
        row.addWidget(self.add_update_button)
        box = QVBoxLayout(timeline_box)
        box.addWidget(self.timeline, 1)
        box.addWidget(self.update_text)
        box.addLayout(row)

        comms_box = QGroupBox("Communications")
        self.comms = _table(["Time", "Channel", "Audience", "Message", "By"], stretch=3)
        self.channel = QComboBox()
        self.channel.setEditable(True)
        self.channel.addItems(list(mi.CHANNELS))
        self.audience = QLineEdit()
        self.audience.setPlaceholderText("Who, e.g. All staff, Customers, Executives")
        self.comm_message = QPlainTextEdit()
        self.comm_message.setPlaceholderText("The message as sent")
        self.comm_message.setMaximumHeight(80)
        self.log_button = QPushButton("Log communication")
        self.log_button.clicked.connect(self.log_communication)
        form = QHBoxLayout()
        form.addWidget(self.channel)
        form.addWidget(self.audience, 1)
        form.addWidget(self.log_button)
        box = QVBoxLayout(comms_box)
        box.addWidget(self.comms, 1)
        box.addWidget(self.comm_message)
        box.addLayout(form)

        self.live_inputs = [
            self.update_status,
            self.update_text,
            self.add_update_button,
            self.channel,
            self.audience,
            self.comm_message,
            self.log_button,
        ]
        splitter = QSplitter()
        splitter.addWidget(timeline_box)
        splitter.addWidget(comms_box)
        splitter.setSizes([600, 600])
        return splitter

    def _build_review(self) -> QWidget:
        review_box = QGroupBox("Review")
        self.held = QCheckBox("Held on")
        self.held_on = _date_edit(dt.date.today())
        self.held.toggled.connect(self.held_on.setEnabled)
        self.held_on.setEnabled(False)
        self.review_status = QComboBox()
        self.review_status.addItems(list(mi.REVIEW_STATUSES))
        held_row = QHBoxLayout()
        held_row.addWidget(self.held)
        held_row.addWidget(self.held_on)
        held_row.addSpacing(24)
        held_row.addWidget(QLabel("Status"))
        held_row.addWidget(self.review_status)
        held_row.addStretch(1)
        self.root_cause = QPlainTextEdit()
        self.root_cause.setPlaceholderText("Why it happened")
        self.factors = QPlainTextEdit()
        self.factors.setPlaceholderText("What made it worse or slower to fix")
        self.summary = QPlainTextEdit()
        self.summary.setPlaceholderText("The story in a few lines: detected, declared, fixed")
        for edit in (self.root_cause, self.factors, self.summary):
            edit.setMaximumHeight(90)
        self.save_review_button = QPushButton("Save review")
        self.save_review_button.clicked.connect(self.save_review)
        self.review_state = QLabel()
        form = QFormLayout(review_box)
        form.addRow(held_row)
        form.addRow("Root cause", self.root_cause)
        form.addRow("Contributing factors", self.factors)
        form.addRow("Timeline summary", self.summary)
        buttons = QHBoxLayout()
        buttons.addWidget(self.review_state, 1)
        buttons.addWidget(self.save_review_button)
        form.addRow(buttons)

        actions_box = QGroupBox("Corrective actions")
        self.actions = _table(["Action", "Owner", "Due", "Status", "Completed"], stretch=0)
        self.actions.itemSelectionChanged.connect(self._action_selected)
        self.actions.doubleClicked.connect(lambda _index: self.edit_action())
        self.add_action_button = QPushButton("Add…")
        self.add_action_button.clicked.connect(self.add_action)
        self.edit_action_button = QPushButton("Edit…")
        self.edit_action_button.clicked.connect(self.edit_action)
        self.complete_button = QPushButton("Mark done")
        self.complete_button.clicked.connect(self.complete_action)
        row = QHBoxLayout()
        row.addStretch(1)
        for button in (self.add_action_button, self.edit_action_button, self.complete_button):
            row.addWidget(button)
        box = QVBoxLayout(actions_box)
        box.addWidget(self.actions, 1)
        box.addLayout(row)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(review_box)
        splitter.addWidget(actions_box)
        splitter.setSizes([420, 300])
        return splitter

    # Loading

    def refresh(self) -> None:
        """Read the incident again in the background."""
        self._loads += 1
        load = self._loads
        want_people = not self.people

        def read(session: Session, _progress: Progress) -> tuple[MajorDetail, list[PersonChoice]]:
            detail = mi.major_detail(session, self.incident_id)
            return detail, mi.people(session) if want_people else self.people

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=read,
            success=lambda result: self._loaded(load, *result),
        ).failure(self._load_failed).run_in_background()

    def is_loaded(self) -> bool:
        """Whether the latest read has been shown."""
        return self.detail is not None and self._shown == self._loads

    def _loaded(self, load: int, detail: MajorDetail, people: list[PersonChoice]) -> None:
        self._shown = max(self._shown, load)
        if load != self._loads:
            return
        self.detail = detail
        self.people = people
        self._show_header(detail)
        self._show_timeline(detail)
        self._show_review(detail)
        self._show_actions(detail)
        self._set_enabled(True)

    def _load_failed(self, exc: BaseException) -> None:
        self._shown = self._loads
        if isinstance(exc, MajorIncidentError):
            self.number.setText("Not found")
            self.refuse(str(exc))
        else:
            ops.show_error(self, exc)

    def _set_enabled(self, loaded: bool) -> None:
        major = loaded and self.detail is not None and self.detail.is_major
        live = major and self.detail is not None and self.detail.state not in FINAL_STATES
        for widget in (self.save_review_button, self.export_button):
            widget.setEnabled(major)
        for widget in self.live_inputs:
            widget.setEnabled(live)
        if major and not live and self.detail is not None:
            final = f"{self.detail.number} is {self.detail.state.lower()}; its timeline is final."
            self.update_text.setPlaceholderText(final)
            self.comm_message.setPlaceholderText(final)
        has_review = major and self.detail is not None and self.detail.review is not None
        self.add_action_button.setEnabled(has_review)
        self.add_action_button.setToolTip("" if has_review else "Save the review first")
        self._action_selected()

    # Showing

    def _show_header(self, d: MajorDetail) -> None:
        self.setWindowTitle(f"{d.number} · Major incident")
        self.number.setText(d.number)
        self.title.setText(d.short_description)
        for slot, chip in (
            (self.priority_slot, PriorityChip(d.priority)),
            (self.status_slot, StatusChip(d.major_status if d.is_major else None)),
        ):
            while (item := slot.takeAt(0)) is not None:
                if item.widget() is not None:
                    item.widget().deleteLater()
            slot.addWidget(chip)
        self.declare_button.setVisible(not d.is_major and d.state not in FINAL_STATES)
        # Most updates repeat the current status ("still investigating").
        current = d.updates[-1].status if d.updates else d.major_status
        if current in mi.MAJOR_STATUSES:
            self.update_status.setCurrentText(current)
        self._show_duration()

    def _show_duration(self) -> None:
        d = self.detail
        if d is None:
            return
        now = self.clock()
        duration = format_duration(d.duration(now).total_seconds())
        parts = [
            f"<b>Service</b> {d.service or '—'}",
            f"<b>State</b> {d.state}",
            f"<b>Opened</b> {format_datetime(d.opened_at)}",
            f"<b>Declared</b> {format_datetime(d.declared_at) or '—'}",
        ]
        if d.restored_at is not None:
            parts.append(f"<b>Restored</b> {format_datetime(d.restored_at)}")
            parts.append(f"<b>Duration</b> {duration}")
        else:
            parts.append(
                f"<b>Duration so far</b> <span style='color:{DANGER_TEXT}'>{duration}</span>"
            )
        self.facts.setText(" &nbsp;·&nbsp; ".join(parts))

    def _show_timeline(self, d: MajorDetail) -> None:
        self.timeline.setRowCount(0)
        for entry in reversed(d.updates):
            row = self.timeline.rowCount()
            self.timeline.insertRow(row)
            colour = STATUS_COLOURS.get(entry.status or "", (None,))[0]
            self.timeline.setItem(row, 0, _item(format_datetime(entry.at)))
            self.timeline.setItem(row, 1, _item(entry.status or "", colour=colour))
            self.timeline.setItem(row, 2, _item(entry.text))
            self.timeline.setItem(row, 3, _item(entry.author or ""))
        self.comms.setRowCount(0)
        for entry in reversed(d.communications):
            row = self.comms.rowCount()
            self.comms.insertRow(row)
            self.comms.setItem(row, 0, _item(format_datetime(entry.at)))
            self.comms.setItem(row, 1, _item(entry.channel or ""))
            self.comms.setItem(row, 2, _item(entry.audience or ""))
            self.comms.setItem(row, 3, _item(entry.text))
            self.comms.setItem(row, 4, _item(entry.author or ""))
        self.timeline.resizeRowsToContents()
        self.comms.resizeRowsToContents()

    def _show_review(self, d: MajorDetail) -> None:
        review = d.review
        self.held.setChecked(bool(review and review.held_on))
        self.held_on.setDate(
            _to_qdate(review.held_on if review and review.held_on else dt.date.today())
        )
        self.review_status.setCurrentText(review.status if review else "draft")
        self.root_cause.setPlainText(review.root_cause if review else "")
        self.factors.setPlainText(review.contributing_factors if review else "")
        self.summary.setPlainText(review.timeline_summary if review else "")
        if review is None:
            self.review_state.setText("No review yet: fill it in and save it to add actions.")
        else:
            colour = GOOD_TEXT if review.status == "complete" else ""
            self.review_state.setText(f"Saved · {review.status}")
            self.review_state.setStyleSheet(f"color: {colour};" if colour else "")

    def _show_actions(self, d: MajorDetail) -> None:
        today = self.clock().astimezone().date()
        self.actions.setRowCount(0)
        for action in d.actions:
            row = self.actions.rowCount()
            self.actions.insertRow(row)
            overdue = action.overdue(today)
            colour = DANGER_TEXT if overdue else None
            status = f"{action.status} · overdue" if overdue else action.status
            cells = [
                _item(action.description),
                _item(action.owner or "—"),
                _item(format_date(action.due_on), colour=colour),
                _item(
                    status,
                    colour=colour if overdue else GOOD_TEXT if action.status == "done" else None,
                ),
                _item(format_datetime(action.completed_at)),
            ]
            cells[0].setData(Qt.ItemDataRole.UserRole, action.id)
            for column, cell in enumerate(cells):
                self.actions.setItem(row, column, cell)
        self.actions.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._action_selected()

    def _selected_action(self) -> ActionInfo | None:
        rows = self.actions.selectionModel().selectedRows() if self.actions.selectionModel() else []
        if not rows or self.detail is None:
            return None
        action_id = self.actions.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        return next((a for a in self.detail.actions if a.id == action_id), None)

    def _action_selected(self) -> None:
        action = self._selected_action()
        self.edit_action_button.setEnabled(action is not None)
        self.complete_button.setEnabled(action is not None and action.status != "done")

    # Changing

    def refuse(self, text: str) -> None:
        """Show why a change was refused (what was typed stays)."""
        self.message.setText(text)
        self.message.show()

    def _change(self, label: str, op: Callable[[Session], Any], done: Callable[[], None]) -> None:
        """Run ``op`` in a transaction; then clear the refusal, call ``done`` and reload."""

        def succeeded(_result: Any) -> None:
            self.message.hide()
            done()
            self.refresh()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, MajorIncidentError):
                self.refuse(str(exc))
            else:
                ops.show_error(self, exc)

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _progress: op(session),
            success=succeeded,
            commit=True,
        ).failure(failed).with_progress(label).run_in_background()

    def declare(self) -> None:
        self._change(
            "Declaring",
            lambda s: mi.declare_major(s, self.incident_id),
            lambda: None,
        )

    def add_update(self) -> None:
        status, text = self.update_status.currentText(), self.update_text.toPlainText()
        self._change(
            "Adding the update",
            lambda s: mi.add_status_update(s, self.incident_id, status, text),
            self.update_text.clear,
        )

    def log_communication(self) -> None:
        channel, audience = self.channel.currentText(), self.audience.text()
        message = self.comm_message.toPlainText()

        def done() -> None:
            self.comm_message.clear()

        self._change(
            "Logging the communication",
            lambda s: mi.log_communication(s, self.incident_id, channel, audience, message),
            done,
        )

    def save_review(self) -> None:
        data = ReviewInput(
            root_cause=self.root_cause.toPlainText(),
            contributing_factors=self.factors.toPlainText(),
            timeline_summary=self.summary.toPlainText(),
            status=self.review_status.currentText(),
            held_on=_from_qdate(self.held_on.date()) if self.held.isChecked() else None,
        )
        review = self.detail.review if self.detail else None
        version = review.version if review else None
        self._change(
            "Saving the review",
            lambda s: mi.save_review(s, self.incident_id, data, version=version),
            lambda: self.statusBar().showMessage("Review saved", 5000),
        )

    def _earliest_due(self) -> dt.date:
        review = self.detail.review if self.detail else None
        if review is not None and review.held_on is not None:
            return review.held_on
        return self.clock().astimezone().date()

    def _open_action_dialog(self, action: ActionInfo | None) -> ActionDialog:
        dialog = ActionDialog(self.people, self._earliest_due(), action, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.action_dialog = dialog
        dialog.accepted.connect(lambda: self._action_entered(dialog))
        dialog.open()
        return dialog

    def _action_entered(self, dialog: ActionDialog) -> None:
        data, action = dialog.value(), dialog.action
        if action is None:
            op = lambda s: mi.add_action(s, self.incident_id, data)  # noqa: E731
        else:
            op = lambda s: mi.update_action(s, action.id, data, version=action.version)  # noqa: E731
        self._change("Saving the action", op, lambda: None)

    def add_action(self) -> ActionDialog:
        return self._open_action_dialog(None)

    def edit_action(self) -> ActionDialog | None:
        action = self._selected_action()
        return self._open_action_dialog(action) if action is not None else None

    def complete_action(self) -> None:
        action = self._selected_action()
        if action is None:
            return
        self._change(
            "Completing the action",
            lambda s: mi.complete_action(s, action.id, version=action.version),
            lambda: None,
        )

    def export_review(self) -> None:
        if self.detail is None:
            return
        path, _filter = QFileDialog.getSaveFileName(
            self,
            "Export review",
            f"{self.detail.number}-review.xlsx",
            "Excel workbook (*.xlsx)",
        )
        if not path:
            return
        if not path.lower().endswith(".xlsx"):
            path += ".xlsx"

        def written(_detail: MajorDetail) -> None:
            self.last_export = path
            self.statusBar().showMessage(f"Review written to {path}", 10_000)

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _progress: mi.export_review(session, self.incident_id, path),
            success=written,
        ).with_progress("Exporting the review").run_in_background()
