"""The change form: every field, the risk questionnaire, conflicts, incidents and history.

:class:`ChangeForm` is a plain widget; :func:`open_change` shows it in a window of its
own, like the incident form. All reads and writes go through :mod:`app.services.changes`
in :class:`~app.views.ops.QueryOp` workers; a save carries the version the form read, so
a save over someone else's newer one is refused and shown field by field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from collections.abc import Callable, Sequence
from typing import Any

import shiboken6
from PySide6.QtCore import QDate, QDateTime, Qt, QTime, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.models import utcnow
from app.models.enums import ChangeState, ChangeType
from app.services import changes as cs
from app.services.changes import (
    FIELD_LABELS,
    ChangeDetail,
    ChangeLookups,
    ConflictError,
    HistoryEntry,
    NextStep,
    WorkflowError,
)
from app.services.formatting import format_datetime, priority_label
from app.views import ops
from app.views.incident_form import RefCombo as _RefCombo
from app.views.incident_form import confirm
from app.views.incident_queue import ChoiceList
from app.views.permissions import may, read_only_reason
from app.views.qtmodels.change_table import risk_colours
from app.views.record_form import RecordForm
from app.views.theme import WARNING_TEXT
from app.views.widgets import problem_label, scaled_font

S = ChangeState
STATE_ORDER = [s.value for s in ChangeState]
#: The text of a workflow button per target state (going back reads "Back to …").
STEP_LABELS = {
    S.NEW.value: "New",
    S.ASSESS.value: "Assess",
    S.AUTHORIZE.value: "Request authorization",
    S.SCHEDULED.value: "Schedule",
    S.IMPLEMENT.value: "Implement",
    S.REVIEW.value: "Review",
    S.CLOSED.value: "Close…",
    S.CANCELED.value: "Cancel change…",
}
#: Plain fields compared to decide whether the form has unsaved edits (keys of EDITABLE).
FORM_FIELDS = (
    "short_description",
    "description",
    "type",
    "template_id",
    "justification",
    "implementation_plan",
    "test_plan",
    "backout_plan",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "service_id",
    "assignment_group_id",
    "assignee_id",
    "requested_by_id",
    "vendor_id",
)
REF_FIELDS = (
    "template_id",
    "service_id",
    "assignment_group_id",
    "assignee_id",
    "requested_by_id",
    "vendor_id",
)
DATE_FIELDS = ("planned_start", "planned_end", "actual_start", "actual_end")
#: What a Scheduled (non-standard) or implemented change no longer lets the risk tab change.
_RISK_LOCKED = (S.SCHEDULED.value, S.IMPLEMENT.value, S.REVIEW.value)
#: Default length of a planned window when only the start is set in the form.
DEFAULT_WINDOW = dt.timedelta(hours=2)


# Questions the form asks (module functions, so tests can answer them)


def ask_close(
    parent: QWidget, codes: Sequence[str], code: str, notes: str
) -> tuple[str, str] | None:
    """(close code, close notes) from the Close dialog, or None if cancelled."""
    dialog = CloseDialog(codes, code, notes, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.code(), dialog.notes()


def ask_cancel_reason(parent: QWidget, current: str) -> str | None:
    """Why the change is canceled (its close notes), or None if the user backs out."""
    text, ok = QInputDialog.getMultiLineText(
        parent, "Cancel change", "Why is the change canceled? (Canceled is final)", current
    )
    return text.strip() if ok and text.strip() else None


# Dialogs


class CloseDialog(QDialog):
    """The close code and notes (notes needed unless Successful)."""

    def __init__(
        self, codes: Sequence[str], code: str, notes: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Close change")
        self.code_box = QComboBox()
        self.code_box.addItem("")
        self.code_box.addItems(list(codes))
        self.code_box.setCurrentText(code)
        self.notes_edit = QPlainTextEdit(notes)
        self.notes_edit.setPlaceholderText("How it went; needed unless the change was Successful")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Close change")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Close code:", self.code_box)
        form.addRow("Close notes:", self.notes_edit)
        form.addRow(self.buttons)
        self.code_box.currentTextChanged.connect(self._update)
        self.notes_edit.textChanged.connect(self._update)
        self._update()

    def code(self) -> str:
        return self.code_box.currentText()

    def notes(self) -> str:
        return self.notes_edit.toPlainText().strip()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.code()) and (self.code() == "Successful" or bool(self.notes())))


# Small widgets


class RefCombo(_RefCombo):
    """The incident form's searchable record combo (``—`` for none)."""


class DateTimeField(QWidget):
    """An optional date and time in the user's zone (tick to set it); read back in UTC."""

    changed = Signal()

    def __init__(
        self,
        name: str,
        zone: dt.tzinfo | None = None,
        default: Callable[[], dt.datetime] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.zone = zone
        self.default = default or utcnow
        self.check = QCheckBox()
        self.check.setObjectName(f"{name}_set")
        self.check.setToolTip("Tick to set a date and time")
        self.edit = QDateTimeEdit()
        self.edit.setObjectName(f"{name}_edit")
        self.edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.edit.setCalendarPopup(True)
        self.edit.setEnabled(False)
        self.check.toggled.connect(self._toggled)
        self.edit.dateTimeChanged.connect(lambda _v: self.check.isChecked() and self.changed.emit())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.edit, 1)
        self.set_value(None)

    def _local(self, value: dt.datetime) -> dt.datetime:
        return value.astimezone(self.zone) if self.zone is not None else value.astimezone()

    def _show(self, value: dt.datetime) -> None:
        local = self._local(value)
        self.edit.setDateTime(
            QDateTime(QDate(local.year, local.month, local.day), QTime(local.hour, local.minute))
        )

    def _toggled(self, on: bool) -> None:
        self.edit.setEnabled(on and self.isEnabled())
        self.changed.emit()

    def setEnabled(self, enabled: bool) -> None:  # noqa: N802 - Qt name
        super().setEnabled(enabled)
        self.edit.setEnabled(enabled and self.check.isChecked())

    def value(self) -> dt.datetime | None:
        """The chosen instant in UTC (whole minutes), or None when not set."""
        if not self.check.isChecked():
            return None
        qdt = self.edit.dateTime()
        date, time = qdt.date(), qdt.time()
        naive = dt.datetime(date.year(), date.month(), date.day(), time.hour(), time.minute())
        aware = naive.replace(tzinfo=self.zone) if self.zone is not None else naive.astimezone()
        return aware.astimezone(dt.UTC)

    def set_value(self, value: dt.datetime | None) -> None:
        """Show ``value`` (None: not set; the editor then offers the next full hour)."""
        before = self.value()
        self.blockSignals(True)
        self.check.blockSignals(True)
        self.edit.blockSignals(True)
        try:
            if value is None:
                start = self.default().replace(minute=0, second=0, microsecond=0)
                self._show(start + dt.timedelta(hours=1))
                self.check.setChecked(False)
            else:
                self._show(value)
                self.check.setChecked(True)
            self.edit.setEnabled(self.check.isChecked() and self.isEnabled())
        finally:
            self.edit.blockSignals(False)
            self.check.blockSignals(False)
            self.blockSignals(False)
        if self.value() != before:
            self.changed.emit()


class MultiPicker(QToolButton):
    """Several records from a searchable, checkable drop-down; the button names the choice."""

    changed = Signal()

    def __init__(self, name: str, empty: str = "none") -> None:
        super().__init__()
        self.setObjectName(name)
        self.empty = empty
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("QToolButton { text-align: left; padding: 3px 6px; }")
        self.choices = ChoiceList([])
        self.choices.changed.connect(self._changed)
        menu = QMenu(self)
        action = QWidgetAction(menu)
        action.setDefaultWidget(self.choices)
        menu.addAction(action)
        self.setMenu(menu)
        self._options: list[tuple[int, str]] = []
        self._update_text()

    def set_choices(self, choices: Sequence[tuple[int, str]]) -> None:
        chosen = self.values()
        known = {value for value, _ in choices}
        kept = [(v, label) for v, label in self._options if v in chosen and v not in known]
        self._options = [*choices, *kept]
        self.choices.set_choices(self._options)
        self._update_text()

    def values(self) -> list[int]:
        return sorted(self.choices.values())

    def set_values(self, refs: Sequence[tuple[int, str]]) -> None:
        """Choose ``refs`` (id, label); a record no longer offered is added so it shows."""
        known = {value for value, _ in self._options}
        missing = [(v, label) for v, label in refs if v not in known]
        if missing:
            self._options = [*self._options, *missing]
            self.choices.set_choices(self._options)
        self.choices.set_values([v for v, _ in refs])
        self._update_text()

    def _changed(self) -> None:
        self._update_text()
        self.changed.emit()

    def _update_text(self) -> None:
        labels = self.choices.labels()
        if not labels:
            self.setText(f"{self.empty} ▾")
            self.setToolTip("Click to choose")
        else:
            shown = ", ".join(labels[:3]) + (f" +{len(labels) - 3}" if len(labels) > 3 else "")
            self.setText(f"{shown} ▾")
            self.setToolTip(", ".join(labels))


def _chip_style(background: str, foreground: str) -> str:
    return (
        f"background: {background}; color: {foreground}; border-radius: 3px;"
        "padding: 2px 8px; font-weight: bold;"
    )


def history_html(entries: Sequence[HistoryEntry], zone: dt.tzinfo | None = None) -> str:
    """The audit trail as HTML, newest first: who, when, and what changed."""
    if not entries:
        return "<p style='color:gray'>The history starts when the change is saved.</p>"
    names = {
        "change_request": "",
        "risk_answer": "Risk answer",
        "cab_agenda_item": "CAB",
        "change_review": "Review",
    }
    parts = []
    for entry in entries:
        where = names.get(entry.entity, entry.entity)
        if entry.action == "insert" and not entry.field:
            what = f"{where or 'Change'} created"
        else:
            field = FIELD_LABELS.get(entry.field or "", (entry.field or "").replace("_", " "))
            label = " · ".join(p for p in (where, field.capitalize() if field else "") if p)
            old = html.escape(_short(entry.old_value)) if entry.old_value else "—"
            new = html.escape(_short(entry.new_value)) if entry.new_value else "—"
            what = f"{html.escape(label)}: {old} → <b>{new}</b>"
        parts.append(
            "<table width='100%' cellspacing='0' cellpadding='2' style='margin-bottom:4px'>"
            f"<tr><td><b>{html.escape(entry.author)}</b> &nbsp;<span style='color:gray'>"
            f"{format_datetime(entry.at, zone)}</span></td></tr><tr><td>{what}</td></tr></table>"
        )
    return "".join(parts)


def _short(value: str, limit: int = 200) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def step_label(current: str | None, target: str) -> str:
    """``Assess``, ``Back to New``…: the workflow button for a move."""
    if current in STATE_ORDER and target in STATE_ORDER[:-2]:
        if STATE_ORDER.index(target) < STATE_ORDER.index(current):
            return f"Back to {target}"
    return STEP_LABELS.get(target, target)


def incident_id_by_number(session: Session, number: str) -> int:
    """The id of the incident numbered ``number`` (any case), or a WorkflowError."""
    from app.models.incident import Incident

    text = number.strip().upper()
    ident = session.scalar(select(Incident.id).where(Incident.number == text))
    if ident is None:
        raise WorkflowError(f"There is no incident numbered “{number.strip()[:40]}”.")
    return ident


# The form


class ChangeForm(QWidget, RecordForm):
    """A new or existing change: edit, save (Ctrl+S), assess risk, move through the workflow."""

    #: The form's data has been shown (after every load or save).
    loaded = Signal()
    #: A save or workflow move was written; the argument is the change id.
    saved = Signal(int)
    #: The form asks to be closed (Esc, or after a save-and-close).
    close_requested = Signal()

    conflict_error = ConflictError
    conflict_labels = FIELD_LABELS
    record_word = "change"
    id_attribute = "change_id"

    def __init__(
        self,
        db: Database,
        change_id: int | None = None,
        parent: QWidget | None = None,
        *,
        type: str = ChangeType.NORMAL,  # noqa: A002 - the domain's word
        template_id: int | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        zone: dt.tzinfo | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("changeForm")
        self.db = db
        self.clock = clock
        self.zone = zone
        self.change_id = change_id
        self.new_type = str(type)
        self.new_template_id = template_id
        self.detail: ChangeDetail | None = None
        self.lookups: ChangeLookups | None = None
        self.base: dict[str, Any] = {}
        self.busy = False
        self.unreadable = False
        self._populating = False
        self._close_after_save = False
        self._reapply: dict[str, Any] = {}
        self.risk_groups: dict[int, QButtonGroup] = {}
        self.step_buttons: dict[str, QPushButton] = {}
        self._build()
        self.reload()

    # Building

    def _build(self) -> None:
        self.number_label = QLabel("New change")
        self.number_label.setObjectName("numberLabel")
        self.number_label.setFont(scaled_font(self.number_label, 1.5, bold=True))
        self.type_badge = QLabel()
        self.type_badge.setObjectName("typeBadge")
        self.risk_badge = QLabel()
        self.risk_badge.setObjectName("riskBadge")
        self.state_label = QLabel()
        self.state_label.setObjectName("stateLabel")
        self.state_label.setFont(scaled_font(self.state_label, 1.1, bold=True))
        self.conflict_badge = QLabel()
        self.conflict_badge.setObjectName("conflictBadge")
        self.conflict_badge.setStyleSheet(f"color: {WARNING_TEXT}; font-weight: bold;")
        self.conflict_badge.hide()
        self.error_label = problem_label("errorLabel")
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("saveButton")
        self.save_button.setToolTip("Save (Ctrl+S)")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.status_label = QLabel("Loading…")
        self.status_label.setObjectName("statusLabel")
        self.status_label.setForegroundRole(self.palette().ColorRole.PlaceholderText)

        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(self.number_label)
        header.addWidget(self.type_badge)
        header.addWidget(self.risk_badge)
        header.addWidget(self.state_label)
        header.addWidget(self.conflict_badge)
        header.addStretch(1)
        header.addWidget(self.status_label)
        header.addWidget(self.save_button)
        self.steps_layout = QHBoxLayout()
        self.steps_layout.setSpacing(6)
        toolbar = QHBoxLayout()
        toolbar.addLayout(self.steps_layout)
        toolbar.addStretch(1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("changeTabs")
        self.tabs.addTab(self._build_fields(), "Details")
        self.tabs.addTab(self._build_risk(), "Risk")
        self.tabs.addTab(self._build_conflicts(), "Conflicts")
        self.tabs.addTab(self._build_incidents(), "Incidents")
        self.tabs.addTab(self._build_cab(), "CAB && review")
        self.history = QTextBrowser()
        self.history.setObjectName("history")
        self.history.setOpenLinks(False)
        self.tabs.addTab(self.history, "History")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addLayout(toolbar)
        layout.addWidget(self.error_label)
        layout.addWidget(self.tabs, 1)

        save = QShortcut(QKeySequence.StandardKey.Save, self)
        save.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save.activated.connect(self.save)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self.close_requested)

    @staticmethod
    def _form(box: QGroupBox) -> QFormLayout:
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return form

    @staticmethod
    def _text(name: str, placeholder: str = "", height: int = 70) -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setObjectName(name)
        edit.setPlaceholderText(placeholder)
        edit.setMinimumHeight(height)
        edit.setTabChangesFocus(True)
        return edit

    def _build_fields(self) -> QWidget:
        self.short_description = QLineEdit()
        self.short_description.setObjectName("short_description")
        self.short_description.setMaxLength(cs.SHORT_TEXT["short_description"])
        self.short_description.setPlaceholderText("What changes, in one line")
        self.description = self._text("description", "Details of the change", 60)
        self.type_combo = QComboBox()
        self.type_combo.setObjectName("type")
        for kind in ChangeType:
            self.type_combo.addItem(kind.value, kind.value)
        self.template = RefCombo("template_id")
        self.template.setToolTip("A standard change is made from a template of the catalogue")
        self.justification = self._text("justification", "Why the change is needed", 50)
        self.service = RefCombo("service_id")
        self.services = MultiPicker("services", "no other services")
        self.cis = MultiPicker("cis", "no configuration items")
        self.group = RefCombo("assignment_group_id")
        self.assignee = RefCombo("assignee_id")
        self.requested_by = RefCombo("requested_by_id")
        self.vendor = RefCombo("vendor_id")
        self.implementation_plan = self._text("implementation_plan", "Steps, in order")
        self.test_plan = self._text("test_plan", "How you will know it worked")
        self.backout_plan = self._text("backout_plan", "How to undo it if it fails")
        self.dates = {key: DateTimeField(key, self.zone, self.clock) for key in DATE_FIELDS}
        self.window_hint = QLabel()
        self.window_hint.setObjectName("windowHint")
        self.window_hint.setForegroundRole(self.palette().ColorRole.PlaceholderText)
        self.close_code = QComboBox()
        self.close_code.setObjectName("close_code")
        self.close_code.addItem("")
        self.close_code.addItems(list(cs.CLOSE_CODES))
        self.close_code.setToolTip("Given when the change is closed")
        self.close_notes = self._text("close_notes", "Given when closing or canceling", 50)

        basics = QGroupBox("Change")
        form = self._form(basics)
        form.addRow("Short description*", self.short_description)
        form.addRow("Description", self.description)
        type_row = QHBoxLayout()
        type_row.addWidget(self.type_combo)
        type_row.addWidget(QLabel("Template"))
        type_row.addWidget(self.template, 1)
        form.addRow("Type", type_row)
        form.addRow("Justification", self.justification)

        scope = QGroupBox("Scope")
        form = self._form(scope)
        form.addRow("Service", self.service)
        form.addRow("Also affects", self.services)
        form.addRow("Configuration items", self.cis)

        people = QGroupBox("Assignment")
        form = self._form(people)
        form.addRow("Assignment group", self.group)
        form.addRow("Assigned to", self.assignee)
        form.addRow("Requested by", self.requested_by)
        form.addRow("Vendor", self.vendor)

        plans = QGroupBox("Plans")
        form = self._form(plans)
        form.addRow("Implementation", self.implementation_plan)
        form.addRow("Test", self.test_plan)
        form.addRow("Back-out", self.backout_plan)

        zone_name = self._zone_name()
        schedule = QGroupBox(f"Schedule ({zone_name})")
        form = self._form(schedule)
        form.addRow("Planned start", self.dates["planned_start"])
        form.addRow("Planned end", self.dates["planned_end"])
        form.addRow("", self.window_hint)
        form.addRow("Actual start", self.dates["actual_start"])
        form.addRow("Actual end", self.dates["actual_end"])

        closure = QGroupBox("Closure")
        form = self._form(closure)
        form.addRow("Close code", self.close_code)
        form.addRow("Close notes", self.close_notes)

        status = QGroupBox("Status")
        grid = QGridLayout(status)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        self.readonly: dict[str, QLabel] = {}
        for n, (key, label) in enumerate(
            (
                ("state", "State"),
                ("opened_at", "Opened"),
                ("risk_score", "Risk score"),
                ("decision", "CAB decision"),
                ("closed_at", "Closed"),
                ("updated_at", "Last updated"),
            )
        ):
            name = QLabel(label)
            name.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            name.setForegroundRole(self.palette().ColorRole.PlaceholderText)
            value = QLabel("—")
            value.setObjectName(f"ro_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.readonly[key] = value
            row, column = divmod(n, 3)
            grid.addWidget(name, row, column * 2)
            grid.addWidget(value, row, column * 2 + 1)
        for column in (1, 3, 5):
            grid.setColumnStretch(column, 1)

        host = QWidget()
        grid = QGridLayout(host)
        grid.setContentsMargins(0, 0, 6, 0)
        grid.setSpacing(10)
        grid.addWidget(basics, 0, 0, 1, 2)
        grid.addWidget(scope, 1, 0)
        grid.addWidget(people, 1, 1)
        grid.addWidget(plans, 2, 0)
        grid.addWidget(schedule, 2, 1)
        grid.addWidget(status, 3, 0)
        grid.addWidget(closure, 3, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(4, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(host)

        self.editors: list[QWidget] = [
            self.short_description,
            self.description,
            self.justification,
            self.service,
            self.services,
            self.cis,
            self.group,
            self.assignee,
            self.requested_by,
            self.vendor,
            self.implementation_plan,
            self.test_plan,
            self.backout_plan,
            *self.dates.values(),
            self.close_code,
            self.close_notes,
        ]
        for line in (self.short_description,):
            line.textEdited.connect(self._edited)
        for edit in (
            self.description,
            self.justification,
            self.implementation_plan,
            self.test_plan,
            self.backout_plan,
        ):
            edit.textChanged.connect(self._edited)
        for combo in (
            self.template,
            self.service,
            self.group,
            self.assignee,
            self.requested_by,
            self.vendor,
        ):
            combo.currentIndexChanged.connect(self._edited)
            combo.editTextChanged.connect(self._edited)
        self.type_combo.currentIndexChanged.connect(self._type_changed)
        for picker in (self.services, self.cis):
            picker.changed.connect(self._edited)
        self.services.changed.connect(self._scope_changed)
        self.service.currentIndexChanged.connect(self._service_changed)
        self.group.currentIndexChanged.connect(self._group_changed)
        for field in self.dates.values():
            field.changed.connect(self._edited)
        self.dates["planned_start"].changed.connect(self._start_changed)
        return scroll

    def _zone_name(self) -> str:
        now = self.clock()
        local = now.astimezone(self.zone) if self.zone is not None else now.astimezone()
        return f"your time zone, {local.tzname() or 'local'}"

    def _build_risk(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.risk_score_label = QLabel()
        self.risk_score_label.setObjectName("riskScore")
        self.risk_score_label.setFont(scaled_font(self.risk_score_label, 1.2, bold=True))
        self.risk_level_badge = QLabel()
        self.risk_level_badge.setObjectName("riskLevel")
        self.risk_note = QLabel()
        self.risk_note.setObjectName("riskNote")
        self.risk_note.setWordWrap(True)
        self.risk_note.setForegroundRole(self.palette().ColorRole.PlaceholderText)
        head = QHBoxLayout()
        head.addWidget(self.risk_score_label)
        head.addWidget(self.risk_level_badge)
        head.addStretch(1)
        self.questions_host = QWidget()
        self.questions_layout = QVBoxLayout(self.questions_host)
        self.questions_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.questions_host)
        layout.addLayout(head)
        layout.addWidget(self.risk_note)
        layout.addWidget(scroll, 1)
        return page

    def _build_conflicts(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.conflicts_note = QLabel()
        self.conflicts_note.setObjectName("conflictsNote")
        self.conflicts_note.setWordWrap(True)
        self.conflict_list = QListWidget()
        self.conflict_list.setObjectName("conflictList")
        self.conflict_list.setWordWrap(True)
        self.conflict_list.setAlternatingRowColors(True)
        self.check_button = QPushButton("Check the edited window")
        self.check_button.setObjectName("checkConflicts")
        self.check_button.setToolTip("Find the conflicts of the planned window as edited, unsaved")
        self.check_button.clicked.connect(self.check_conflicts)
        row = QHBoxLayout()
        row.addWidget(self.conflicts_note, 1)
        row.addWidget(self.check_button)
        layout.addLayout(row)
        layout.addWidget(self.conflict_list, 1)
        return page

    @staticmethod
    def _incident_table(name: str) -> QTableWidget:
        table = QTableWidget(0, 4)
        table.setObjectName(name)
        table.setHorizontalHeaderLabels(["Number", "Priority", "State", "Short description"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def _build_incidents(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        caused = QGroupBox("Incidents caused by this change")
        caused_layout = QVBoxLayout(caused)
        self.caused_table = self._incident_table("causedIncidents")
        self.link_edit = QLineEdit()
        self.link_edit.setObjectName("linkIncident")
        self.link_edit.setPlaceholderText("Incident number, e.g. INC0012345")
        self.link_edit.returnPressed.connect(self.link_incident)
        self.link_edit.textChanged.connect(lambda _t: self._update_buttons())
        self.link_button = QPushButton("Link")
        self.link_button.setObjectName("linkButton")
        self.link_button.setToolTip(
            "Name this change as the cause of the incident (counts as a failed change)"
        )
        self.link_button.clicked.connect(self.link_incident)
        self.unlink_button = QPushButton("Unlink selected")
        self.unlink_button.setObjectName("unlinkButton")
        self.unlink_button.clicked.connect(self.unlink_incident)
        row = QHBoxLayout()
        row.addWidget(self.link_edit, 1)
        row.addWidget(self.link_button)
        row.addWidget(self.unlink_button)
        caused_layout.addLayout(row)
        caused_layout.addWidget(self.caused_table)
        fixes = QGroupBox("Incidents this change was raised to fix")
        fixes_layout = QVBoxLayout(fixes)
        self.fixes_table = self._incident_table("fixesIncidents")
        fixes_layout.addWidget(self.fixes_table)
        layout.addWidget(caused, 1)
        layout.addWidget(fixes, 1)
        return page

    def _build_cab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        decisions = QGroupBox("CAB decisions (latest first)")
        decisions_layout = QVBoxLayout(decisions)
        self.decisions_view = QTextBrowser()
        self.decisions_view.setObjectName("decisions")
        decisions_layout.addWidget(self.decisions_view)
        review = QGroupBox("Post-implementation review")
        form = self._form(review)
        self.review_outcome = self._text("review_outcome", "What happened", 50)
        self.review_lessons = self._text("review_lessons", "What to do differently", 50)
        self.review_button = QPushButton("Save review")
        self.review_button.setObjectName("reviewButton")
        self.review_button.setToolTip(
            "Needed to close emergency and unsuccessful changes; after the implementation"
        )
        self.review_button.clicked.connect(self.save_review)
        self.review_outcome.textChanged.connect(self._update_buttons)
        form.addRow("Outcome", self.review_outcome)
        form.addRow("Lessons", self.review_lessons)
        form.addRow("", self.review_button)
        layout.addWidget(decisions, 1)
        layout.addWidget(review)
        return page

    # Loading and showing

    def reload(self) -> None:
        """Read the change (if any) and the form's choices in the background."""
        change_id = self.change_id
        want_lookups = self.lookups is None

        def op(session: Session, _progress) -> tuple[ChangeDetail | None, ChangeLookups | None]:
            found = cs.lookups(session) if want_lookups else None
            detail = cs.change_detail(session, change_id) if change_id else None
            return detail, found

        self._run("Loading", op, self._load_failed, commit=False)

    def _fill_choices(self, found: ChangeLookups) -> None:
        self.lookups = found
        self._populating = True
        try:
            self.template.set_options(list(found.templates))  # type: ignore[arg-type]
            self.service.set_options(list(found.services))
            self.services.set_choices([(s.id, s.label) for s in found.services])
            self.cis.set_choices(self._ci_choices(found))
            self.group.set_options(list(found.groups))
            self.requested_by.set_options(found.people)
            self.vendor.set_options(found.vendors)
            self._build_questions(found)
        finally:
            self._populating = False

    @staticmethod
    def _ci_choices(found: ChangeLookups) -> list[tuple[int, str]]:
        return sorted(
            ((ci.id, f"{ci.label} ({s.label})") for s in found.services for ci in s.cis),
            key=lambda pair: pair[1].casefold(),
        )

    def _build_questions(self, found: ChangeLookups) -> None:
        while (item := self.questions_layout.takeAt(0)) is not None:
            if item.widget() is not None:
                item.widget().setParent(None)
        self.risk_groups = {}
        for question in found.risk_questions:
            box = QGroupBox(f"{question.position}. {question.text}  (weight {question.weight})")
            box.setObjectName(f"question_{question.id}")
            row = QHBoxLayout(box)
            group = QButtonGroup(box)
            group.setExclusive(True)
            for option in question.options:
                radio = QRadioButton(f"{option.label} ({option.score})")
                radio.setObjectName(f"option_{option.id}")
                group.addButton(radio, option.id)
                row.addWidget(radio)
            row.addStretch(1)
            group.idToggled.connect(lambda _id, on: on and self._risk_edited())
            self.risk_groups[question.id] = group
            self.questions_layout.addWidget(box)
        if not found.risk_questions:
            empty = QLabel("The risk questionnaire has no active questions.")
            empty.setForegroundRole(self.palette().ColorRole.PlaceholderText)
            self.questions_layout.addWidget(empty)
        self.questions_layout.addStretch(1)

    def show_detail(self, detail: ChangeDetail | None) -> None:
        """Put ``detail`` (or a blank new change) in the form; it becomes the saved state."""
        self.detail = detail
        self._populating = True
        try:
            self._write_values(detail)
            self._show_readonly(detail)
            self._show_risk_answers(detail)
            self._show_conflicts(detail)
            self._show_incidents(detail)
            self._show_cab(detail)
            self.history.setHtml(history_html(detail.history if detail else (), self.zone))
        finally:
            self._populating = False
        self.base = self.values()
        self.unreadable = False
        self.error_label.hide()
        if detail is None:
            self.short_description.setFocus()
        self._rebuild_steps()
        self._update_risk()
        self._update_header()
        self._update_buttons()
        self.status_label.setText(f"Version {detail.version}" if detail else "Not saved yet")
        reason = read_only_reason(self, "edit_change")
        if reason is not None:
            self.status_label.setText(f"{self.status_label.text()} · read only")
        self.status_label.setToolTip(reason or "")
        if self._reapply:
            self._apply_kept_edits()
        self.loaded.emit()

    def _write_values(self, detail: ChangeDetail | None) -> None:
        if detail is None:
            values: dict[str, Any] = {key: None for key in FORM_FIELDS}
            values["type"] = self.new_type
            values["template_id"] = self.new_template_id
            values["requested_by_id"] = None
            refs: dict[str, str | None] = {}
            services: list[tuple[int, str]] = []
            cis: list[tuple[int, str]] = []
        else:
            values = detail.values()
            refs = {
                "template_id": detail.template_name,
                "service_id": detail.service_name,
                "assignment_group_id": detail.assignment_group_name,
                "assignee_id": detail.assignee_name,
                "requested_by_id": detail.requested_by_name,
                "vendor_id": detail.vendor_name,
            }
            services = [(r.id, r.label) for r in detail.services]
            cis = [(r.id, r.label) for r in detail.cis]
        for key in FORM_FIELDS:
            self._write(key, values.get(key), refs.get(key))
        self.services.set_values(services)
        self.cis.set_values(cis)
        self.close_code.setCurrentText(detail.close_code or "" if detail else "")
        self.close_notes.setPlainText(detail.close_notes or "" if detail else "")

    def _combos(self) -> dict[str, RefCombo]:
        return {
            "template_id": self.template,
            "service_id": self.service,
            "assignment_group_id": self.group,
            "assignee_id": self.assignee,
            "requested_by_id": self.requested_by,
            "vendor_id": self.vendor,
        }

    def _write(self, key: str, value: Any, label: str | None = None) -> None:
        """Show ``value`` for field ``key`` in its editor."""
        if key == "assignment_group_id":
            self.group.set_value(value, label)
            self._group_changed()
        elif key in REF_FIELDS:
            self._combos()[key].set_value(value, label)
        elif key in DATE_FIELDS:
            self.dates[key].set_value(value)
        elif key == "type":
            self.type_combo.setCurrentIndex(max(self.type_combo.findData(value), 0))
        elif key == "short_description":
            self.short_description.setText(value or "")
        elif key in ("services", "cis"):
            picker = self.services if key == "services" else self.cis
            picker.choices.set_values(list(value or ()))
            picker._update_text()
        elif key == "risk_answers":
            self._set_answers(dict(value or {}))
        else:
            getattr(self, key).setPlainText(value or "")

    def _show_readonly(self, detail: ChangeDetail | None) -> None:
        def put(key: str, text: str | None) -> None:
            self.readonly[key].setText(text or "—")

        put("state", detail.state if detail else S.NEW.value)
        put("opened_at", format_datetime(detail.opened_at, self.zone) if detail else None)
        put("closed_at", format_datetime(detail.closed_at, self.zone) if detail else None)
        put("updated_at", format_datetime(detail.updated_at, self.zone) if detail else None)
        score = detail.risk_score if detail else None
        put("risk_score", str(score) if score is not None else None)
        decision = (detail.decision or "").replace("_", " ").capitalize() if detail else ""
        put("decision", decision)

    def _show_risk_answers(self, detail: ChangeDetail | None) -> None:
        self._set_answers(
            {a.question_id: a.option_id for a in detail.risk_answers} if detail else {}
        )

    def _set_answers(self, answers: dict[int, int]) -> None:
        for qid, group in self.risk_groups.items():
            group.setExclusive(False)
            for button in group.buttons():
                button.setChecked(group.id(button) == answers.get(qid))
            group.setExclusive(True)

    def _show_conflicts(self, detail: ChangeDetail | None) -> None:
        conflicts = detail.conflicts if detail else ()
        self._fill_conflicts([c.sentence for c in conflicts])
        if detail is None:
            self.conflicts_note.setText("Conflicts are found once the change has a planned window.")
        elif detail.planned_start is None or detail.planned_end is None:
            self.conflicts_note.setText("No planned window yet, so nothing to conflict with.")
        elif not conflicts:
            self.conflicts_note.setText("No conflicts in the saved planned window.")
        else:
            self.conflicts_note.setText(
                f"<b style='color:{WARNING_TEXT}'>⚠ {len(conflicts)} conflict"
                f"{'s' if len(conflicts) != 1 else ''}</b> in the saved planned window:"
            )
        count = len(conflicts)
        self.tabs.setTabText(2, f"Conflicts ({count})" if count else "Conflicts")
        self.conflict_badge.setText(f"⚠ {count} conflict{'s' if count != 1 else ''}")
        self.conflict_badge.setToolTip("\n".join(c.sentence for c in conflicts))
        self.conflict_badge.setVisible(count > 0)

    def _fill_conflicts(self, sentences: Sequence[str]) -> None:
        self.conflict_list.clear()
        for sentence in sentences:
            item = QListWidgetItem(f"⚠  {sentence}")
            item.setToolTip(sentence)
            self.conflict_list.addItem(item)

    def _show_incidents(self, detail: ChangeDetail | None) -> None:
        for table, links in (
            (self.caused_table, detail.caused_incidents if detail else ()),
            (self.fixes_table, detail.fixes_incidents if detail else ()),
        ):
            table.setRowCount(len(links))
            for r, link in enumerate(links):
                texts = (link.number, priority_label(link.priority), link.state)
                for c, text in enumerate((*texts, link.short_description)):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.ItemDataRole.UserRole, link.id)
                    table.setItem(r, c, item)
            table.resizeColumnsToContents()
        count = len(detail.caused_incidents) + len(detail.fixes_incidents) if detail else 0
        self.tabs.setTabText(3, f"Incidents ({count})" if count else "Incidents")

    def _show_cab(self, detail: ChangeDetail | None) -> None:
        decisions = detail.decisions if detail else ()
        if not decisions:
            self.decisions_view.setHtml(
                "<p style='color:gray'>Not on a CAB agenda yet.</p>"
                if detail is None or detail.type != ChangeType.STANDARD
                else "<p style='color:gray'>Standard changes are pre-approved; no CAB.</p>"
            )
        else:
            parts = []
            for d in decisions:
                board = "ECAB" if d.emergency else "CAB"
                decision = (d.decision or "not decided yet").replace("_", " ")
                votes = ", ".join(f"{v.person}: {v.vote}" for v in d.votes)
                parts.append(
                    f"<p><b>{html.escape(d.meeting_title)}</b> ({board}, "
                    f"{format_datetime(d.meeting_starts_at, self.zone)}): "
                    f"<b>{html.escape(decision)}</b>"
                    + (f"<br>Conditions: {html.escape(d.conditions)}" if d.conditions else "")
                    + (f"<br>Notes: {html.escape(d.notes)}" if d.notes else "")
                    + (
                        f"<br><span style='color:gray'>Votes: {html.escape(votes)}</span>"
                        if votes
                        else ""
                    )
                    + "</p>"
                )
            self.decisions_view.setHtml("".join(parts))
        review = detail.review if detail else None
        self.review_outcome.setPlainText(review.outcome if review else "")
        self.review_lessons.setPlainText(review.lessons if review else "")

    # Reading the editors

    def values(self) -> dict[str, Any]:
        """The editors' values: the fields ``update_change`` takes, affected records, answers."""
        combos = self._combos()
        values: dict[str, Any] = {
            "short_description": self.short_description.text().strip(),
            "type": self.type_combo.currentData(),
        }
        for key in ("description", "justification", "implementation_plan", "test_plan"):
            values[key] = getattr(self, key).toPlainText().strip()
        values["backout_plan"] = self.backout_plan.toPlainText().strip()
        for key in REF_FIELDS:
            values[key] = combos[key].value()
        if values["type"] != ChangeType.STANDARD:
            values["template_id"] = None
        for key in DATE_FIELDS:
            values[key] = self.dates[key].value()
        values["services"] = tuple(self.services.values())
        values["cis"] = tuple(self.cis.values())
        values["risk_answers"] = self.answers()
        return values

    def answers(self) -> dict[int, int]:
        """The risk answers ticked: ``{question_id: option_id}``."""
        return {
            qid: group.checkedId()
            for qid, group in self.risk_groups.items()
            if group.checkedId() > 0
        }

    def changes(self) -> dict[str, Any]:
        """What was edited since the last load or save."""
        now = self.values()
        changed = {key: value for key, value in now.items() if self.base.get(key) != value}
        if "services" in changed or "cis" in changed:
            # set_affected replaces both lists.
            changed["services"], changed["cis"] = now["services"], now["cis"]
        return changed

    def is_dirty(self) -> bool:
        return bool(self.changes()) if self.base else False

    def _problems(self) -> str | None:
        """What is wrong with the editors' values before asking the database, if anything."""
        values = self.values()
        standard = values["type"] == ChangeType.STANDARD
        if not values["short_description"] and not (standard and self.detail is None):
            return "Short description is required."
        if standard and values["template_id"] is None:
            return "A standard change is made from a template: choose one."
        for key, combo in self._combos().items():
            unknown = combo.unknown_text()
            if unknown:
                label = FIELD_LABELS.get(key, key)
                return f"{label}: “{unknown}” is not in the list; pick one of its choices."
        for start_key, end_key in (cs.PLANNED, cs.ACTUAL):
            start, end = values[start_key], values[end_key]
            if start is not None and end is not None and end <= start:
                return (
                    f"{FIELD_LABELS[end_key]} ({format_datetime(end, self.zone)}) must be after "
                    f"{FIELD_LABELS[start_key].lower()} ({format_datetime(start, self.zone)})."
                )
        if values["actual_end"] is not None and values["actual_start"] is None:
            return "An actual end needs an actual start."
        return None

    # Reacting to edits

    def _edited(self, *_args: Any) -> None:
        if self._populating:
            return
        self._update_header()
        self._update_buttons()

    def _risk_edited(self) -> None:
        if self._populating:
            return
        self._update_risk()
        self._edited()

    def _type_changed(self, *_args: Any) -> None:
        standard = self.type_combo.currentData() == ChangeType.STANDARD
        self.template.setEnabled(standard and self._type_editable())
        self._update_risk()
        self._edited()

    def _scope_changed(self, *_args: Any) -> None:
        pass

    def _service_changed(self, *_args: Any) -> None:
        if self._populating or self.lookups is None:
            return
        chosen = self.service.value()
        service = next((s for s in self.lookups.services if s.id == chosen), None)
        if service and service.support_group_id and self.group.value() is None:
            # The service's support group is the usual assignment.
            self.group.set_value(service.support_group_id)
            self._group_changed()

    def _group_changed(self, *_args: Any) -> None:
        chosen = self.group.value()
        groups = self.lookups.groups if self.lookups else []
        group = next((g for g in groups if g.id == chosen), None)
        current = self.assignee.value()
        label = self.assignee.currentText()
        self.assignee.set_options(group.members if group else [])
        if current is not None and self.assignee.findData(current) < 0 and self._populating:
            self.assignee.set_value(current, label)

    def _start_changed(self) -> None:
        """A planned start set with no end gets an end two hours later (or the template's)."""
        if self._populating:
            return
        start, end = self.dates["planned_start"].value(), self.dates["planned_end"]
        if start is not None and end.value() is None:
            length = DEFAULT_WINDOW
            template_id = self.template.value()
            if self.lookups is not None and template_id is not None:
                found = next((t for t in self.lookups.templates if t.id == template_id), None)
                if found is not None and found.typical_duration_minutes:
                    length = dt.timedelta(minutes=found.typical_duration_minutes)
            end.set_value(start + length)
            self._edited()

    def risk_preview(self) -> tuple[int, str | None, int, int]:
        """(score so far, level once complete, answered, questions) of the ticked answers."""
        questions = self.lookups.risk_questions if self.lookups else []
        answers = self.answers()
        score = 0
        for question in questions:
            option = next((o for o in question.options if o.id == answers.get(question.id)), None)
            if option is not None:
                score += option.score * question.weight
        answered = sum(1 for q in questions if q.id in answers)
        level = cs.risk_level(score) if questions and answered == len(questions) else None
        return score, level, answered, len(questions)

    def _update_risk(self) -> None:
        standard = self.type_combo.currentData() == ChangeType.STANDARD
        score, level, answered, total = self.risk_preview()
        if standard:
            risk = self.detail.risk if self.detail else self._template_risk()
            self.risk_score_label.setText("Risk from the template")
            self._badge(self.risk_level_badge, risk)
            self.risk_note.setText(
                "A standard change is pre-approved: its risk comes from its template, "
                "so the questionnaire does not apply."
            )
        elif level is None:
            self.risk_score_label.setText(f"Score {score} so far")
            self.risk_level_badge.setText("")
            self.risk_level_badge.setStyleSheet("")
            self.risk_note.setText(
                f"{answered} of {total} questions answered; the level is set once all are."
            )
        else:
            self.risk_score_label.setText(f"Score {score}")
            self._badge(self.risk_level_badge, level)
            self.risk_note.setText(
                "Score = sum of each answer's score × its question's weight. "
                + ", ".join(f"below {below}: {name}" for below, name in cs.RISK_THRESHOLDS)
                + f", else {cs.RISK_TOP_LEVEL}."
            )
        self.questions_host.setVisible(not standard)
        self._update_header()

    def _template_risk(self) -> str | None:
        template_id = self.template.value()
        if self.lookups is None or template_id is None:
            return None
        found = next((t for t in self.lookups.templates if t.id == template_id), None)
        return found.risk if found else None

    @staticmethod
    def _badge(label: QLabel, risk: str | None) -> None:
        if not risk:
            label.setText("")
            label.setStyleSheet("")
            return
        background, foreground = risk_colours(risk)
        label.setText(f"{risk} risk")
        label.setStyleSheet(_chip_style(background, foreground))

    def _update_header(self) -> None:
        detail = self.detail
        number = detail.number if detail else f"New {self.type_combo.currentData().lower()} change"
        self.number_label.setText(number)
        self.type_badge.setText(self.type_combo.currentData() or "")
        self.type_badge.setStyleSheet(_chip_style("#546e7a", "#ffffff"))
        _score, level, _answered, _total = self.risk_preview()
        if self.type_combo.currentData() == ChangeType.STANDARD:
            risk = detail.risk if detail else self._template_risk()
        else:
            risk = level or (detail.risk if detail else None)
        self._badge(self.risk_badge, risk)
        self.risk_badge.setToolTip(
            f"Risk score {detail.risk_score}" if detail and detail.risk_score is not None else ""
        )
        self.state_label.setText(detail.state if detail else S.NEW.value)
        title = f"{number} — {self.short_description.text().strip() or 'no description yet'}"
        self.setWindowTitle(("* " if self.is_dirty() else "") + title)
        window = self.window()
        if window is not self and isinstance(window, ChangeWindow):
            window.setWindowTitle(self.windowTitle())
        start, end = self.dates["planned_start"].value(), self.dates["planned_end"].value()
        if start is not None and end is not None and end > start:
            hours = (end - start).total_seconds() / 3600
            self.window_hint.setText(f"{hours:g} h; stored in UTC")
        else:
            self.window_hint.setText("")

    def _may_edit(self) -> bool:
        """Whether the signed-in role may change changes (the database refuses otherwise)."""
        return may(self, "edit_change")

    def _may_move(self, state: str) -> bool:
        """Whether the role may make the move to ``state``: scheduling a normal or emergency
        change out of Authorize is authorising it, which only change managers may do."""
        if not self._may_edit():
            return False
        authorising = (
            state == S.SCHEDULED and self.detail is not None and self.detail.state == S.AUTHORIZE
        )
        return not authorising or may(self, "authorise_change")

    def _editable(self) -> bool:
        if self.unreadable or not self._may_edit():
            return False
        return self.detail is None or self.detail.state not in cs.FINAL_STATES

    def _type_editable(self) -> bool:
        return self.detail is None or self.detail.state == S.NEW

    def _risk_editable(self) -> bool:
        if not self._editable():
            return False
        if self.detail is None:
            return True
        return self.detail.state not in _RISK_LOCKED

    def _rebuild_steps(self) -> None:
        for button in self.step_buttons.values():
            button.setParent(None)
            button.deleteLater()
        self.step_buttons = {}
        steps: Sequence[NextStep] = self.detail.next_steps if self.detail else ()
        current = self.detail.state if self.detail else None
        for step in steps:
            button = QPushButton(step_label(current, step.state))
            button.setObjectName(f"step_{step.state.lower()}")
            button.clicked.connect(lambda _c=False, s=step.state: self.step(s))
            self.steps_layout.addWidget(button)
            self.step_buttons[step.state] = button

    def _update_buttons(self) -> None:
        editable = self._editable()
        busy = self.busy
        for editor in self.editors:
            editor.setEnabled(editable and not busy)
        self.type_combo.setEnabled(editable and not busy and self._type_editable())
        standard = self.type_combo.currentData() == ChangeType.STANDARD
        self.template.setEnabled(editable and not busy and standard and self._type_editable())
        risk_on = self._risk_editable() and not busy and not standard and self._may_edit()
        for group in self.risk_groups.values():
            for button in group.buttons():
                button.setEnabled(risk_on)
        dirty = self.is_dirty()
        self.save_button.setEnabled(editable and not busy and (dirty or self.detail is None))
        steps = {s.state: s for s in (self.detail.next_steps if self.detail else ())}
        for state, button in self.step_buttons.items():
            step = steps.get(state)
            ready = step is not None and step.ready
            allowed = self._may_move(state)
            button.setEnabled(not busy and allowed and (ready or dirty))
            if not allowed:
                button.setToolTip(read_only_reason(self, "authorise_change") or "")
                continue
            if ready:
                tip = f"Move to {state}" + (" (saves your edits first)" if dirty else "")
            else:
                sentence = step.sentence() if step else ""
                tip = sentence[:1].upper() + sentence[1:]
                if dirty:
                    tip += " Your unsaved edits are saved with the move and may supply it."
            button.setToolTip(tip)
        has_change = self.detail is not None
        may_edit = self._may_edit()
        self.link_button.setEnabled(
            may_edit and has_change and not busy and bool(self.link_edit.text().strip())
        )
        self.unlink_button.setEnabled(
            may_edit and has_change and not busy and self.caused_table.rowCount() > 0
        )
        implemented = has_change and self.detail.state in (
            S.IMPLEMENT.value,
            S.REVIEW.value,
            S.CLOSED.value,
        )
        self.review_button.setEnabled(
            may_edit
            and bool(implemented)
            and not busy
            and bool(self.review_outcome.toPlainText().strip())
        )
        self.check_button.setEnabled(has_change and not busy)

    # Saving and the workflow

    def save(self) -> None:
        """Write the edits (a new change is created); problems are shown above the tabs."""
        if self.busy or not self._editable():
            return
        problem = self._problems()
        if problem:
            self._close_after_save = False
            self.show_problem(problem)
            return
        if self.detail is None:
            values, now = self.values(), self.clock()
            self._run("Saving", lambda s, _p: _create(s, values, now), None)
            return
        changes = self.changes()
        if not changes:
            if self._close_after_save:
                self.close_requested.emit()
            return
        self._submit(changes, None)

    def _submit(
        self,
        changes: dict[str, Any],
        move: tuple[str, dict[str, Any]] | None,
        version: int | None = None,
        merged: bool = False,
    ) -> None:
        """Save ``changes`` and then make ``move`` (state, fields) in one transaction."""
        assert self.detail is not None
        change_id = self.detail.id
        expected = version if version is not None else self.detail.version
        now = self.clock()

        def op(session: Session, _progress) -> tuple[ChangeDetail, None]:
            _write_changes(session, change_id, expected, changes, move, now)
            return cs.change_detail(session, change_id), None

        self._run("Saving", op, lambda exc: self._save_failed(exc, changes, move, merged))

    def _conflict_mine(self, changes: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in changes.items() if k in cs.EDITABLE}

    def _shown(self, key: str, value: Any) -> str:
        """A value as the conflict dialog shows it (names for references)."""
        if value is None or value == "":
            return "—"
        if key in REF_FIELDS:
            combo = self._combos()[key]
            index = combo.findData(value)
            return combo.itemText(index) if index >= 0 else f"#{value}"
        if isinstance(value, dt.datetime):
            return format_datetime(value, self.zone)
        return _short(str(value), 120)

    def _apply_kept_edits(self) -> None:
        keep, self._reapply = self._reapply, {}
        self._populating = True
        try:
            for key, value in keep.items():
                self._write(key, value)
        finally:
            self._populating = False
        self._update_risk()
        self._edited()

    def move_to(self, state: str, **fields: Any) -> None:
        """Save any edits and move to ``state`` in one go."""
        if self.busy or self.detail is None or not self._may_move(str(state)):
            return
        changes = self.changes() if self._editable() else {}
        if changes:
            problem = self._problems()
            if problem:
                self.show_problem(problem)
                return
        self._submit(changes, (str(state), fields))

    def step(self, state: str) -> None:
        """A workflow button: close and cancel ask for their fields first."""
        if state == S.CLOSED:
            answer = ask_close(
                self,
                cs.CLOSE_CODES,
                self.close_code.currentText(),
                self.close_notes.toPlainText().strip(),
            )
            if answer is None:
                return
            code, notes = answer
            self.move_to(state, close_code=code or None, close_notes=notes)
        elif state == S.CANCELED:
            number = self.detail.number if self.detail else "this change"
            reason = self.close_notes.toPlainText().strip() or ask_cancel_reason(self, "")
            if not reason or not confirm(self, f"Cancel {number}? Canceled is final."):
                return
            self.move_to(state, close_notes=reason)
        else:
            self.move_to(state)

    def check_conflicts(self) -> None:
        """Find the conflicts of the planned window as edited (nothing is saved)."""
        if self.detail is None:
            return
        start, end = self.dates["planned_start"].value(), self.dates["planned_end"].value()
        if start is None or end is None or end <= start:
            self.show_problem("Set a planned start and a later planned end to check conflicts.")
            return
        change_id = self.detail.id

        def op(session: Session, _progress) -> list[str]:
            from app.services.conflicts import conflicts_for

            return [c.sentence for c in conflicts_for(session, change_id, start, end)]

        def shown(sentences: list[str]) -> None:
            self._fill_conflicts(sentences)
            when = f"{format_datetime(start, self.zone)} – {format_datetime(end, self.zone)}"
            if sentences:
                self.conflicts_note.setText(
                    f"<b style='color:{WARNING_TEXT}'>⚠ {len(sentences)} conflict"
                    f"{'s' if len(sentences) != 1 else ''}</b> if planned {when} (not saved):"
                )
            else:
                self.conflicts_note.setText(f"No conflicts if planned {when} (not saved).")

        ops.QueryOp(parent=self, db=self.db, op=op, success=shown).run_in_background()

    def link_incident(self) -> None:
        """Name this change as the cause of the incident typed in."""
        number = self.link_edit.text().strip()
        if self.busy or self.detail is None or not number:
            return
        change_id, now = self.detail.id, self.clock()

        def op(session: Session, _progress) -> ChangeDetail:
            cs.link_incident(session, change_id, incident_id_by_number(session, number), now=now)
            return cs.change_detail(session, change_id)

        def done(detail: ChangeDetail) -> None:
            self.link_edit.clear()
            self._refresh_parts(detail)

        self._write_part(op, done)

    def unlink_incident(self) -> None:
        """Take back naming this change as the cause of the selected incident."""
        row = self.caused_table.currentRow()
        if self.busy or self.detail is None or row < 0:
            return
        incident_id = self.caused_table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        change_id, now = self.detail.id, self.clock()

        def op(session: Session, _progress) -> ChangeDetail:
            cs.unlink_incident(session, change_id, incident_id, now=now)
            return cs.change_detail(session, change_id)

        self._write_part(op, self._refresh_parts)

    def save_review(self) -> None:
        """Write the post-implementation review."""
        if self.busy or self.detail is None:
            return
        outcome = self.review_outcome.toPlainText().strip()
        lessons = self.review_lessons.toPlainText().strip()
        change_id, now = self.detail.id, self.clock()

        def op(session: Session, _progress) -> ChangeDetail:
            cs.record_review(session, change_id, outcome, lessons, now=now)
            return cs.change_detail(session, change_id)

        self._write_part(op, self._refresh_parts)

    def _write_part(
        self, op: Callable[[Session, Any], ChangeDetail], done: Callable[[ChangeDetail], None]
    ) -> None:
        self._set_busy(True)
        ops.QueryOp(
            parent=self, db=self.db, op=op, success=self._finish(done), commit=True
        ).failure(self._failed(None)).run_in_background()

    def _refresh_parts(self, detail: ChangeDetail) -> None:
        """Show linked incidents, review, history and next steps; the edits stay."""
        if not self.is_dirty():
            self._arrived((detail, None))
        elif self.detail is not None:
            self.detail = dataclasses.replace(
                self.detail,
                caused_incidents=detail.caused_incidents,
                fixes_incidents=detail.fixes_incidents,
                review=detail.review,
                history=detail.history,
                next_steps=detail.next_steps,
            )
            self._show_incidents(self.detail)
            self.history.setHtml(history_html(self.detail.history, self.zone))
            self._rebuild_steps()
            self._update_buttons()
            self.loaded.emit()
        if self.detail is not None:
            self.saved.emit(self.detail.id)


def _fields(changes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in changes.items() if key in cs.EDITABLE}


def _create(
    session: Session, values: dict[str, Any], now: dt.datetime
) -> tuple[ChangeDetail, None]:
    """Worker side of saving a new change: create it, answer its risk, read it back."""
    kind = values["type"]
    fields = {
        key: value
        for key, value in _fields(values).items()
        if key not in ("type", "template_id", "short_description") and value not in (None, "")
    }
    change = cs.new_change(
        session,
        values["short_description"],
        type=kind,
        template_id=values.get("template_id") if kind == ChangeType.STANDARD else None,
        service_ids=values.get("services", ()),
        ci_ids=values.get("cis", ()),
        now=now,
        **fields,
    )
    answers = values.get("risk_answers") or {}
    if answers and kind != ChangeType.STANDARD:
        cs.answer_risk(session, change.id, answers, now=now)
    return cs.change_detail(session, change.id), None


def _write_changes(
    session: Session,
    change_id: int,
    expected: int,
    changes: dict[str, Any],
    move: tuple[str, dict[str, Any]] | None,
    now: dt.datetime,
) -> None:
    """Affected records, risk answers, fields and the move, in that order, in one transaction.

    The first write checks ``expected``; the later ones run in the same transaction.
    """
    version: int | None = expected
    if "services" in changes or "cis" in changes:
        services, cis = changes.get("services", ()), changes.get("cis", ())
        cs.set_affected(session, change_id, services, cis, expected_version=version, now=now)
        version = None
    if "risk_answers" in changes and changes["risk_answers"]:
        cs.answer_risk(session, change_id, changes["risk_answers"], version, now=now)
        version = None
    fields = _fields(changes)
    if move is not None:
        to_state, extra = move
        cs.transition(session, change_id, to_state, version, now=now, **fields, **extra)
    elif fields:
        cs.update_change(session, change_id, version, now=now, **fields)


class ChangeWindow(QWidget):
    """A top-level window holding one change form; closing asks about unsaved edits."""

    _open: dict[tuple[int, int | None], ChangeWindow] = {}

    def __init__(
        self,
        db: Database,
        change_id: int | None,
        parent: QWidget | None = None,
        *,
        type: str = ChangeType.NORMAL,  # noqa: A002 - the domain's word
        template_id: int | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.form = ChangeForm(db, change_id, self, type=type, template_id=template_id, clock=clock)
        self.form.close_requested.connect(self.close)
        self.form.saved.connect(self._remember)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.form)
        self.setWindowTitle(self.form.windowTitle() or "New change")
        self.resize(1280, 860)
        self._db_key = id(db)
        self._key = (self._db_key, change_id)
        if change_id is not None:
            ChangeWindow._open[self._key] = self

    def _remember(self, change_id: int) -> None:
        ChangeWindow._open.pop(self._key, None)
        self._key = (self._db_key, change_id)
        ChangeWindow._open[self._key] = self

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt name
        if not self.form.maybe_close():
            event.ignore()
            return
        if ChangeWindow._open.get(self._key) is self:
            del ChangeWindow._open[self._key]
        super().closeEvent(event)


def open_change(
    parent: QWidget | None,
    db: Database,
    change_id: int | None = None,
    *,
    type: str = ChangeType.NORMAL,  # noqa: A002 - the domain's word
    template_id: int | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> ChangeWindow:
    """Show the change in its own window (None: a new change of ``type``); an open one is raised."""
    existing = ChangeWindow._open.get((id(db), change_id)) if change_id else None
    if existing is not None and shiboken6.isValid(existing):
        existing.show()
        existing.raise_()
        existing.activateWindow()
        return existing
    window = ChangeWindow(db, change_id, parent, type=type, template_id=template_id, clock=clock)
    window.show()
    return window
