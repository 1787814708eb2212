"""The incident form: every field, the workflow buttons, SLA clocks and the timeline.

:class:`IncidentForm` is a plain widget (it can live in a tab or a dialog);
:func:`open_incident` shows it in a window of its own. All reads and writes go through
:mod:`app.services.incidents` in :class:`~app.views.ops.QueryOp` workers.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QCloseEvent,
    QColor,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
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
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from app import APP_NAME
from app.db import Database
from app.models import utcnow
from app.models.enums import HoldReason, IncidentState
from app.services import incidents as wf
from app.services.formatting import format_datetime, format_duration, priority_label
from app.services.incidents import (
    FIELD_LABELS,
    ClockView,
    ConflictError,
    IncidentDetail,
    IncidentInput,
    Lookups,
    Option,
    TimelineEntry,
)
from app.services.priority import DEFAULT_MATRIX
from app.views import ops
from app.views.permissions import may, read_only_reason
from app.views.record_form import RecordForm
from app.views.theme import DANGER_TEXT, priority_colours
from app.views.widgets import problem_label, scaled_font

S = IncidentState
#: The major-incident view, once it exists, offers ``open_major_incident(parent, db, id)``.
MAJOR_MODULE = "app.views.major_incident"
LEVELS = ((1, "1 - High"), (2, "2 - Medium"), (3, "3 - Low"))
#: SLA bar colours (UI.md): green < 50 %, amber 50-75, orange 75-100, red breached, grey paused.
SLA_GREEN, SLA_AMBER, SLA_ORANGE, SLA_RED, SLA_GREY = (
    "#2e7d32",
    "#f9a825",
    "#ef6c00",
    "#d32f2f",
    "#9e9e9e",
)
#: Clocks' "time left" is redrawn this often while the form is open.
CLOCK_TICK_MS = 30_000
#: Fields compared to decide whether the form has unsaved edits.
FORM_FIELDS = (
    "short_description",
    "description",
    "caller_id",
    "contact_type",
    "category",
    "subcategory",
    "service_id",
    "ci_id",
    "impact",
    "urgency",
    "priority",
    "priority_overridden",
    "priority_override_reason",
    "assignment_group_id",
    "assignee_id",
    "vendor_id",
    "problem_id",
    "change_id",
    "caused_by_change_id",
    "is_major",
)


# Questions the form asks (module functions, so tests can answer them)


def ask_hold_reason(parent: QWidget, reasons: tuple[str, ...]) -> str | None:
    """The hold reason the user picks, or None if they cancel."""
    reason, ok = QInputDialog.getItem(parent, "Put on hold", "Reason:", list(reasons), 0, False)
    return reason if ok and reason else None


def ask_resolution(parent: QWidget, codes: tuple[str, ...]) -> tuple[str, str] | None:
    """(resolution code, notes) from the Resolve dialog, or None if cancelled."""
    dialog = ResolveDialog(codes, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.code(), dialog.notes()


def confirm(parent: QWidget, text: str) -> bool:
    """Yes/No question; True for Yes."""
    box = QMessageBox(parent)
    box.setWindowTitle(APP_NAME)
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(text)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes.value


# Dialogs


class ResolveDialog(QDialog):
    """Asks for the resolution code and notes; OK stays disabled until both are given."""

    def __init__(self, codes: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Resolve incident")
        self.code_box = QComboBox()
        self.code_box.addItem("")
        self.code_box.addItems(list(codes))
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText("What was done to restore the service")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Resolve")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Resolution code:", self.code_box)
        form.addRow("Resolution notes:", self.notes_edit)
        form.addRow(self.buttons)
        self.code_box.currentTextChanged.connect(self._update)
        self.notes_edit.textChanged.connect(self._update)
        self._update()

    def code(self) -> str:
        """The chosen resolution code (empty until one is chosen)."""
        return self.code_box.currentText()

    def notes(self) -> str:
        """The typed resolution notes, trimmed."""
        return self.notes_edit.toPlainText().strip()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.code() and self.notes()))


# Small widgets


class RefCombo(QComboBox):
    """Records by id with "—" for none; type to search anywhere in the name."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.lineEdit().setPlaceholderText("—")
        self.set_options([])

    def set_options(self, options: list[Option]) -> None:
        """Offer ``options``, keeping the current choice if it is still among them."""
        current = self.value()
        self.blockSignals(True)
        self.clear()
        # No user data on the blank item: PySide6 6.12 over-releases None read back from
        # item data, which crashes the interpreter after enough reads.
        self.addItem("")
        for option in options:
            self.addItem(option.label, option.id)
        completer = QCompleter([o.label for o in options], self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setCompleter(completer)
        self.blockSignals(False)
        self.set_value(current)

    def value(self) -> int | None:
        """The id of the chosen record, or None."""
        text = self.currentText().strip()
        if not text:
            return None
        index = self.currentIndex()
        if index < 0 or self.itemText(index).casefold() != text.casefold():
            index = self.findText(text, Qt.MatchFlag.MatchFixedString)
        return self.itemData(index) if index > 0 else None

    def unknown_text(self) -> str | None:
        """Typed text that matches no choice (so the form can say so)."""
        text = self.currentText().strip()
        return text if text and self.findText(text, Qt.MatchFlag.MatchFixedString) < 0 else None

    def set_value(self, ident: int | None, label: str | None = None) -> None:
        """Choose ``ident``; a record missing from the list is added with ``label``."""
        index = self.findData(ident) if ident is not None else 0
        if index < 0 and label:
            self.addItem(label, ident)
            index = self.count() - 1
        self.setCurrentIndex(max(index, 0))
        if index <= 0:
            self.setEditText("")


class PriorityBadge(QLabel):
    """``P2 High`` on the priority's colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("priorityBadge")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.priority = 0

    def show_priority(self, priority: int) -> None:
        """Show ``priority`` with its name on its colour."""
        self.priority = priority
        background, foreground = priority_colours(priority)
        self.setText(priority_label(priority))
        self.setStyleSheet(
            f"background: {background}; color: {foreground}; border-radius: 3px;"
            "padding: 2px 8px; font-weight: bold;"
        )


def sla_colour(clock: ClockView, now: dt.datetime) -> str:
    """The bar colour UI.md gives a clock at ``now``."""
    if clock.breached or (clock.stage == "in_progress" and clock.fraction_used(now) >= 1):
        return SLA_RED
    if clock.stage in ("paused", "canceled"):
        return SLA_GREY
    fraction = clock.fraction_used(now)
    if fraction < 0.5:
        return SLA_GREEN
    if fraction < 0.75:
        return SLA_AMBER
    return SLA_ORANGE


def sla_text(clock: ClockView, now: dt.datetime) -> str:
    """``3h 12m left · due 2026-11-23 14:05``, ``Breached 20m ago``, ``Achieved in 12m``…"""
    due = f"due {format_datetime(clock.due_at)}" if clock.due_at else ""
    if clock.stage == "achieved":
        took = format_duration(clock.business_elapsed_seconds)
        return f"Achieved in {took} of {format_duration(clock.duration_seconds)}"
    if clock.stage == "canceled":
        return "Canceled"
    left = clock.seconds_left(now)
    if clock.stage == "breached" or clock.breached or (left is not None and left <= 0):
        over = -left if left is not None else 0
        text = f"Breached · {format_duration(over)} over" if over > 0 else "Breached"
        return f"{text} · paused" if clock.stage == "paused" else text
    if clock.stage == "paused":
        since = format_datetime(clock.paused_since) if clock.paused_since else ""
        return f"Paused since {since} · {format_duration(left or 0)} left".replace("  ", " ")
    return (
        f"{format_duration(left or 0)} left · {due}"
        if due
        else f"{format_duration(left or 0)} left"
    )


class SlaBar(QWidget):
    """One clock: its name, a coloured bar of the share used, and the time left."""

    def __init__(self, clock: ClockView, now: dt.datetime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("slaBar")
        self.clock = clock
        self.name = QLabel(f"<b>{html.escape(clock.name)}</b>")
        self.status = QLabel()
        self.status.setObjectName("slaText")
        self.bar = _Bar()
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.name, 1)
        head.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 4)
        layout.setSpacing(2)
        layout.addLayout(head)
        layout.addWidget(self.bar)
        self.tick(now)

    def tick(self, now: dt.datetime) -> None:
        """Redraw the bar, text and tooltip as of ``now``."""
        clock = self.clock
        self.bar.fraction = min(clock.fraction_used(now), 1.0)
        self.bar.colour = sla_colour(clock, now)
        self.bar.striped = clock.stage == "paused"
        self.status.setText(sla_text(clock, now))
        used = f"{clock.fraction_used(now):.0%} used"
        computed = (
            f"; business time as of {format_datetime(clock.computed_at)}"
            if clock.computed_at and not clock.round_the_clock
            else ""
        )
        self.setToolTip(
            f"{clock.name} ({clock.kind} {clock.target}, target "
            f"{format_duration(clock.duration_seconds)}): {clock.stage.replace('_', ' ')}, "
            f"{used}{computed}"
        )
        self.bar.update()


class _Bar(QWidget):
    """The bar itself: filled to ``fraction`` in ``colour``, striped when paused."""

    def __init__(self) -> None:
        super().__init__()
        self.fraction = 0.0
        self.colour = SLA_GREEN
        self.striped = False
        self.setFixedHeight(8)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(200, 8)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        track = QColor(self.palette().color(self.palette().ColorRole.Mid))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, 3, 3)
        filled = QRectF(rect)
        filled.setWidth(rect.width() * max(0.0, min(1.0, self.fraction)))
        painter.setBrush(QColor(self.colour))
        if filled.width() > 0:
            painter.drawRoundedRect(filled, 3, 3)
        if self.striped:
            painter.setBrush(QBrush(QColor("#ffffff"), Qt.BrushStyle.BDiagPattern))
            painter.drawRoundedRect(filled if filled.width() > 0 else rect, 3, 3)


def timeline_html(entries: list[TimelineEntry]) -> str:
    """The timeline as HTML, newest first: who, when, and what happened."""
    if not entries:
        return "<p style='color:gray'>The timeline starts when the incident is saved.</p>"
    parts = []
    for entry in entries:
        head = (
            f"<b>{html.escape(entry.author)}</b> &nbsp;<span style='color:gray'>"
            f"{format_datetime(entry.at)} · {html.escape(_kind_label(entry))}</span>"
        )
        parts.append(
            "<table width='100%' cellspacing='0' cellpadding='3' style='margin-bottom:6px'>"
            f"<tr><td>{head}</td></tr><tr><td>{_entry_body(entry)}</td></tr></table>"
        )
    return "".join(parts)


def _kind_label(entry: TimelineEntry) -> str:
    return {
        "work_note": "Work note",
        "comment": "Comment",
        "state": "State",
        "assignment": "Assignment",
        "priority": "Priority",
        "field": "Field change",
        "created": "Created",
        "audit": "Change (audit log)",
    }.get(entry.kind, entry.kind)


def _field_label(name: str | None) -> str:
    if not name:
        return ""
    return FIELD_LABELS.get(name) or FIELD_LABELS.get(f"{name}_id") or name.replace("_", " ")


def _entry_body(entry: TimelineEntry) -> str:
    text = html.escape(entry.text or "").replace("\n", "<br>")
    if entry.kind in ("work_note", "comment", "created"):
        return text
    old = html.escape(_short(entry.old_value)) if entry.old_value else "—"
    new = html.escape(_short(entry.new_value)) if entry.new_value else "—"
    change = f"{html.escape(_field_label(entry.field))}: {old} → <b>{new}</b>"
    return f"{change}<br><i>{text}</i>" if text else change


def _short(value: str, limit: int = 200) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# The form


class IncidentForm(QWidget, RecordForm):
    """A new or existing incident: edit, save (Ctrl+S), move through the workflow, add notes."""

    #: The form's data has been shown (after every load or save).
    loaded = Signal()
    #: A save or workflow action was written; the argument is the incident id.
    saved = Signal(int)
    #: The form asks to be closed (Esc, or after a save-and-close).
    close_requested = Signal()

    conflict_error = ConflictError
    conflict_labels = FIELD_LABELS
    record_word = "incident"
    id_attribute = "incident_id"

    def __init__(
        self,
        db: Database,
        incident_id: int | None = None,
        parent: QWidget | None = None,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("incidentForm")
        self.db = db
        self.clock = clock
        self.incident_id = incident_id
        self.detail: IncidentDetail | None = None
        self.lookups: Lookups | None = None
        self.base: dict[str, Any] = {}
        self.busy = False
        self._populating = False
        self._close_after_save = False
        self.unreadable = False
        #: Edits to put back after the next load (kept through a "Keep theirs").
        self._reapply: dict[str, Any] = {}
        self._build()
        self._ticker = QTimer(self)
        self._ticker.setInterval(CLOCK_TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self.reload()

    # Building

    def _build(self) -> None:
        self.number_label = QLabel("New incident")
        self.number_label.setObjectName("numberLabel")
        self.number_label.setFont(scaled_font(self.number_label, 1.5, bold=True))
        self.priority_badge = PriorityBadge()
        self.state_label = QLabel()
        self.state_label.setObjectName("stateLabel")
        self.state_label.setFont(scaled_font(self.state_label, 1.1, bold=True))
        self.major_badge = QLabel("MAJOR INCIDENT")
        self.major_badge.setStyleSheet(
            f"background: {DANGER_TEXT}; color: white; border-radius: 3px; padding: 2px 6px;"
            "font-weight: bold;"
        )
        self.major_badge.hide()
        self.error_label = problem_label("errorLabel")

        self.buttons: dict[str, QPushButton] = {}
        actions = QHBoxLayout()
        actions.setSpacing(6)
        for key, text, tip in (
            ("start", "Start work", "Move to In Progress"),
            ("hold", "Put on hold…", "Wait for the caller, a change, a problem or a vendor"),
            ("resolve", "Resolve…", "Record the resolution code and notes"),
            ("reopen", "Reopen", "Back to In Progress; counted as a reopen"),
            ("close", "Close", "Closed is final"),
            ("cancel", "Cancel incident", "Canceled is final"),
            ("major", "Major incident…", "Open the major-incident timeline and review"),
        ):
            button = QPushButton(text)
            button.setObjectName(f"{key}Button")
            button.setToolTip(tip)
            button.hide()
            actions.addWidget(button)
            self.buttons[key] = button
        self.buttons["start"].clicked.connect(lambda: self.move_to(S.IN_PROGRESS))
        self.buttons["hold"].clicked.connect(self.put_on_hold)
        self.buttons["resolve"].clicked.connect(self.resolve)
        self.buttons["reopen"].clicked.connect(lambda: self.move_to(S.IN_PROGRESS))
        self.buttons["close"].clicked.connect(lambda: self.move_to(S.CLOSED))
        self.buttons["cancel"].clicked.connect(self.cancel_incident)
        self.buttons["major"].clicked.connect(self.open_major)
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
        header.addWidget(self.priority_badge)
        header.addWidget(self.state_label)
        header.addWidget(self.major_badge)
        header.addStretch(1)
        header.addWidget(self.status_label)
        header.addWidget(self.save_button)
        toolbar = QHBoxLayout()
        toolbar.addLayout(actions)
        toolbar.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_fields())
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([760, 500])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addLayout(toolbar)
        layout.addWidget(self.error_label)
        layout.addWidget(splitter, 1)

        save = QShortcut(QKeySequence.StandardKey.Save, self)
        save.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save.activated.connect(self.save)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self.close_requested)

    def _build_fields(self) -> QWidget:
        self.short_description = QLineEdit()
        self.short_description.setObjectName("short_description")
        self.short_description.setMaxLength(wf.SHORT_TEXT["short_description"])
        self.short_description.setPlaceholderText("What is wrong, in one line")
        self.description = QPlainTextEdit()
        self.description.setObjectName("description")
        self.description.setMinimumHeight(60)
        self.description.setMaximumHeight(100)
        self.caller = RefCombo("caller_id")
        self.contact_type = QComboBox()
        self.contact_type.setObjectName("contact_type")
        self.contact_type.addItems(list(wf.CONTACT_TYPES))
        self.category = self._text_combo("category")
        self.subcategory = self._text_combo("subcategory")
        self.service = RefCombo("service_id")
        self.ci = RefCombo("ci_id")
        self.impact = self._level_combo("impact")
        self.urgency = self._level_combo("urgency")
        self.priority_shown = PriorityBadge()
        self.override = QCheckBox("Override")
        self.override.setObjectName("priority_overridden")
        self.override.setToolTip("Set a priority other than the matrix gives; needs a reason")
        self.override_priority = QComboBox()
        self.override_priority.setObjectName("override_priority")
        for p in range(1, 6):
            self.override_priority.addItem(priority_label(p), p)
        self.override_reason = QLineEdit()
        self.override_reason.setObjectName("priority_override_reason")
        self.override_reason.setPlaceholderText("Why the matrix priority is wrong here")
        self.group = RefCombo("assignment_group_id")
        self.assignee = RefCombo("assignee_id")
        self.vendor = RefCombo("vendor_id")
        self.problem = RefCombo("problem_id")
        self.change = RefCombo("change_id")
        self.caused_by = RefCombo("caused_by_change_id")
        self.is_major = QCheckBox("Major incident")
        self.is_major.setObjectName("is_major")

        self.short_description.setMaxLength(wf.SHORT_TEXT["short_description"])
        priority_row = QHBoxLayout()
        priority_row.addWidget(self.priority_shown)
        priority_row.addWidget(self.override)
        priority_row.addWidget(self.override_priority)
        priority_row.addStretch(1)

        basics = QGroupBox("Incident")
        form = self._form(basics)
        form.addRow("Short description*", self.short_description)
        form.addRow("Description", self.description)
        form.addRow("Caller", self.caller)
        form.addRow("Contact type", self.contact_type)
        form.addRow("Category", self.category)
        form.addRow("Subcategory", self.subcategory)

        where = QGroupBox("Service")
        form = self._form(where)
        form.addRow("Service", self.service)
        form.addRow("Configuration item", self.ci)

        priority = QGroupBox("Priority")
        form = self._form(priority)
        form.addRow("Impact", self.impact)
        form.addRow("Urgency", self.urgency)
        form.addRow("Priority", priority_row)
        form.addRow("Override reason", self.override_reason)

        assignment = QGroupBox("Assignment")
        form = self._form(assignment)
        form.addRow("Assignment group", self.group)
        form.addRow("Assigned to", self.assignee)
        form.addRow("Vendor", self.vendor)

        links = QGroupBox("Links")
        form = self._form(links)
        form.addRow("Problem", self.problem)
        form.addRow("Change", self.change)
        form.addRow("Caused by change", self.caused_by)
        form.addRow("", self.is_major)

        status = QGroupBox("Status")
        grid = QGridLayout(status)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        self.readonly: dict[str, QLabel] = {}
        for n, (key, label) in enumerate(
            (
                ("state", "State"),
                ("opened_at", "Opened"),
                ("reassignment_count", "Reassignments"),
                ("hold_reason", "Hold reason"),
                ("first_response_at", "First response"),
                ("reopen_count", "Reopens"),
                ("resolution_code", "Resolution code"),
                ("resolved_at", "Resolved"),
                ("first_group", "First group"),
                ("resolution_notes", "Resolution notes"),
                ("closed_at", "Closed"),
                ("updated_at", "Last updated"),
            )
        ):
            name = QLabel(label)
            name.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            name.setForegroundRole(self.palette().ColorRole.PlaceholderText)
            value = QLabel("—")
            value.setObjectName(f"ro_{key}")
            value.setWordWrap(True)
            value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
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
        grid.addWidget(where, 1, 0)
        grid.addWidget(assignment, 1, 1)
        grid.addWidget(priority, 2, 0)
        grid.addWidget(links, 2, 1)
        grid.addWidget(status, 3, 0, 1, 2)
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
            self.caller,
            self.contact_type,
            self.category,
            self.subcategory,
            self.service,
            self.ci,
            self.impact,
            self.urgency,
            self.override,
            self.override_priority,
            self.override_reason,
            self.group,
            self.assignee,
            self.vendor,
            self.problem,
            self.change,
            self.caused_by,
            self.is_major,
        ]
        self._connect_edits()
        return scroll

    def _build_side(self) -> QWidget:
        clocks_box = QGroupBox("SLA clocks")
        self.clocks_layout = QVBoxLayout(clocks_box)
        self.clocks_layout.setSpacing(4)
        self.clocks_empty = QLabel("No SLA applies yet.")
        self.clocks_empty.setForegroundRole(self.palette().ColorRole.PlaceholderText)
        self.clocks_layout.addWidget(self.clocks_empty)
        self.clock_bars: list[SlaBar] = []

        timeline_box = QGroupBox("Timeline")
        self.timeline = QTextBrowser()
        self.timeline.setObjectName("timeline")
        self.timeline.setOpenLinks(False)
        self.note_edit = QPlainTextEdit()
        self.note_edit.setObjectName("workNote")
        self.note_edit.setPlaceholderText("Add a work note…")
        self.note_edit.setMaximumHeight(56)
        self.note_button = QPushButton("Add work note")
        self.note_button.setObjectName("addNoteButton")
        self.note_button.clicked.connect(self.add_note)
        self.note_edit.textChanged.connect(self._update_buttons)
        self.note_row = QWidget()
        note_row = QHBoxLayout(self.note_row)
        note_row.setContentsMargins(0, 0, 0, 0)
        note_row.addWidget(self.note_edit, 1)
        note_row.addWidget(self.note_button, 0, Qt.AlignmentFlag.AlignBottom)
        timeline_layout = QVBoxLayout(timeline_box)
        timeline_layout.addWidget(self.note_row)
        timeline_layout.addWidget(self.timeline, 1)

        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(clocks_box)
        layout.addWidget(timeline_box, 1)
        return side

    @staticmethod
    def _form(box: QGroupBox) -> QFormLayout:
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return form

    @staticmethod
    def _text_combo(name: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(name)
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.lineEdit().setMaxLength(wf.SHORT_TEXT[name])
        return combo

    @staticmethod
    def _level_combo(name: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(name)
        for value, label in LEVELS:
            combo.addItem(label, value)
        return combo

    def _connect_edits(self) -> None:
        for line in (self.short_description, self.override_reason):
            line.textEdited.connect(self._edited)
        self.description.textChanged.connect(self._edited)
        for combo in (
            self.caller,
            self.contact_type,
            self.category,
            self.subcategory,
            self.service,
            self.ci,
            self.impact,
            self.urgency,
            self.override_priority,
            self.group,
            self.assignee,
            self.vendor,
            self.problem,
            self.change,
            self.caused_by,
        ):
            combo.currentIndexChanged.connect(self._edited)
            combo.editTextChanged.connect(self._edited)
        for box in (self.override, self.is_major):
            box.toggled.connect(self._edited)
        self.service.currentIndexChanged.connect(self._service_changed)
        self.group.currentIndexChanged.connect(self._group_changed)
        self.category.currentTextChanged.connect(self._category_changed)

    # Loading and showing

    def reload(self) -> None:
        """Read the incident (if any) and the form's choices in the background."""
        incident_id = self.incident_id
        want_lookups = self.lookups is None

        def op(session: Session, _progress) -> tuple[IncidentDetail | None, Lookups | None]:
            found = wf.lookups(session) if want_lookups else None
            detail = wf.incident_detail(session, incident_id) if incident_id else None
            return detail, found

        self._run("Loading", op, self._load_failed, commit=False)

    def _fill_choices(self, found: Lookups) -> None:
        self.lookups = found
        self._populating = True
        try:
            self.caller.set_options(found.people)
            self.service.set_options(list(found.services))
            self.group.set_options(list(found.groups))
            self.vendor.set_options(found.vendors)
            self.problem.set_options(found.problems)
            self.change.set_options(found.changes)
            self.caused_by.set_options(found.changes)
            self.category.clear()
            self.category.addItems(["", *found.categories])
            known = set(wf.CONTACT_TYPES)
            for contact in found.contact_types:
                if contact not in known:
                    self.contact_type.addItem(contact)
        finally:
            self._populating = False

    def show_detail(self, detail: IncidentDetail | None) -> None:
        """Put ``detail`` (or a blank new incident) in the form; it becomes the saved state."""
        self.detail = detail
        self._populating = True
        try:
            values = detail.values() if detail is not None else self._blank()
            self._write_values(values, detail)
            self._show_readonly(detail)
            self._show_clocks(detail.clocks if detail else [])
            self.timeline.setHtml(timeline_html(detail.timeline if detail else []))
        finally:
            self._populating = False
        self.base = self.values()
        self.unreadable = False
        self.error_label.hide()
        if detail is None:
            self.short_description.setFocus()
        self._update_priority()
        self._update_header()
        self._update_buttons()
        self.status_label.setText(f"Version {detail.version}" if detail else "Not saved yet")
        reason = read_only_reason(self, "edit_incident")
        if reason is not None:
            self.status_label.setText(f"{self.status_label.text()} · read only")
        self.status_label.setToolTip(reason or "")
        if self._reapply:
            self._apply_kept_edits()
        self.loaded.emit()

    def _blank(self) -> dict[str, Any]:
        values: dict[str, Any] = {key: None for key in FORM_FIELDS}
        values.update(
            short_description="",
            description="",
            contact_type="phone",
            impact=3,
            urgency=3,
            priority_overridden=False,
            is_major=False,
        )
        return values

    def _write_values(self, values: dict[str, Any], detail: IncidentDetail | None) -> None:
        names = {
            "caller_id": detail.caller_name if detail else None,
            "service_id": detail.service_name if detail else None,
            "ci_id": detail.ci_name if detail else None,
            "assignment_group_id": detail.assignment_group_name if detail else None,
            "assignee_id": detail.assignee_name if detail else None,
            "vendor_id": detail.vendor_name if detail else None,
            "problem_id": detail.problem_number if detail else None,
            "change_id": detail.change_number if detail else None,
            "caused_by_change_id": detail.caused_by_change_number if detail else None,
        }
        for key in FORM_FIELDS:
            if key in values:
                self._write(key, values[key], names.get(key))

    def _write(self, key: str, value: Any, label: str | None = None) -> None:
        """Show ``value`` for field ``key`` in its editor."""
        combos: dict[str, RefCombo] = {
            "caller_id": self.caller,
            "service_id": self.service,
            "ci_id": self.ci,
            "assignment_group_id": self.group,
            "assignee_id": self.assignee,
            "vendor_id": self.vendor,
            "problem_id": self.problem,
            "change_id": self.change,
            "caused_by_change_id": self.caused_by,
        }
        if key == "service_id":
            self.service.set_value(value, label)
            self._service_changed()
        elif key == "assignment_group_id":
            self.group.set_value(value, label)
            self._group_changed()
        elif key in combos:
            combos[key].set_value(value, label)
        elif key == "short_description":
            self.short_description.setText(value or "")
        elif key == "description":
            self.description.setPlainText(value or "")
        elif key == "contact_type":
            if value and self.contact_type.findText(value) < 0:
                self.contact_type.addItem(value)
            self.contact_type.setCurrentText(value or "phone")
        elif key == "category":
            self.category.setCurrentText(value or "")
            self._category_changed()
        elif key == "subcategory":
            self.subcategory.setCurrentText(value or "")
        elif key in ("impact", "urgency"):
            combo = self.impact if key == "impact" else self.urgency
            combo.setCurrentIndex(max(combo.findData(value), 0))
        elif key == "priority":
            if value is not None:
                self.override_priority.setCurrentIndex(max(value - 1, 0))
        elif key == "priority_overridden":
            self.override.setChecked(bool(value))
        elif key == "priority_override_reason":
            self.override_reason.setText(value or "")
        elif key == "is_major":
            self.is_major.setChecked(bool(value))

    def _show_readonly(self, detail: IncidentDetail | None) -> None:
        def put(key: str, text: str | None) -> None:
            self.readonly[key].setText(text or "—")

        if detail is None:
            for label in self.readonly.values():
                label.setText("—")
            put("state", S.NEW.value)
            return
        put("state", detail.state)
        put("hold_reason", detail.hold_reason)
        for key in ("opened_at", "first_response_at", "resolved_at", "closed_at", "updated_at"):
            put(key, format_datetime(getattr(detail, key)))
        put("resolution_code", detail.resolution_code)
        put("resolution_notes", detail.resolution_notes)
        put("first_group", detail.first_group_name)
        put("reassignment_count", str(detail.reassignment_count))
        put("reopen_count", str(detail.reopen_count))

    def _show_clocks(self, clocks: list[ClockView]) -> None:
        for bar in self.clock_bars:
            bar.setParent(None)
            bar.deleteLater()
        now = self.clock()
        self.clock_bars = [SlaBar(clock, now) for clock in clocks]
        for bar in self.clock_bars:
            self.clocks_layout.addWidget(bar)
            bar.show()
        self.clocks_empty.setVisible(not clocks)

    def _tick(self) -> None:
        now = self.clock()
        for bar in self.clock_bars:
            bar.tick(now)

    # Reading the editors

    def values(self) -> dict[str, Any]:
        """The editors' values, as ``update_incident`` takes them."""
        overridden = self.override.isChecked()
        return {
            "short_description": self.short_description.text().strip(),
            "description": self.description.toPlainText().strip(),
            "caller_id": self.caller.value(),
            "contact_type": self.contact_type.currentText(),
            "category": self.category.currentText().strip() or None,
            "subcategory": self.subcategory.currentText().strip() or None,
            "service_id": self.service.value(),
            "ci_id": self.ci.value(),
            "impact": self.impact.currentData(),
            "urgency": self.urgency.currentData(),
            "priority": self.shown_priority(),
            "priority_overridden": overridden,
            "priority_override_reason": (self.override_reason.text().strip() or None)
            if overridden
            else None,
            "assignment_group_id": self.group.value(),
            "assignee_id": self.assignee.value(),
            "vendor_id": self.vendor.value(),
            "problem_id": self.problem.value(),
            "change_id": self.change.value(),
            "caused_by_change_id": self.caused_by.value(),
            "is_major": self.is_major.isChecked(),
        }

    def changes(self) -> dict[str, Any]:
        """The fields edited since the last load or save."""
        now = self.values()
        base = self._normalised(self.base)
        changed = {key: value for key, value in now.items() if base.get(key) != value}
        if not now["priority_overridden"]:
            # Without an override the service recomputes the priority itself.
            changed.pop("priority", None)
            changed.pop("priority_override_reason", None)
        return changed

    @staticmethod
    def _normalised(values: dict[str, Any]) -> dict[str, Any]:
        result = dict(values)
        result["description"] = (result.get("description") or "").strip()
        return result

    def is_dirty(self) -> bool:
        """Whether the form has edits that are not saved."""
        return bool(self.changes()) if self.base else False

    def shown_priority(self) -> int:
        """The override, the saved priority while impact and urgency are unchanged, or the matrix's."""
        if self.override.isChecked():
            return self.override_priority.currentData()
        detail = self.detail
        levels = (self.impact.currentData(), self.urgency.currentData())
        if detail and not detail.priority_overridden and levels == (detail.impact, detail.urgency):
            return detail.priority
        return self.matrix_priority()

    def matrix_priority(self) -> int:
        """The priority the matrix gives the chosen impact and urgency."""
        impact, urgency = self.impact.currentData(), self.urgency.currentData()
        cells = self.lookups.matrix if self.lookups is not None else DEFAULT_MATRIX
        return cells.get((impact, urgency), DEFAULT_MATRIX[(impact, urgency)])

    def _problems(self) -> str | None:
        """What is wrong with the editors' values before asking the database, if anything."""
        if not self.short_description.text().strip():
            return "Short description is required."
        for combo in (
            self.caller,
            self.service,
            self.ci,
            self.group,
            self.assignee,
            self.vendor,
            self.problem,
            self.change,
            self.caused_by,
        ):
            unknown = combo.unknown_text()
            if unknown:
                label = FIELD_LABELS.get(combo.objectName(), combo.objectName())
                return f"{label}: “{unknown}” is not in the list; pick one of its choices."
        if self.override.isChecked() and not self.override_reason.text().strip():
            return "Give a reason for overriding the priority the matrix suggests."
        return None

    # Reacting to edits

    def _edited(self, *_args: Any) -> None:
        if self._populating:
            return
        self._update_priority()
        self._update_header()
        self._update_buttons()

    def _service_changed(self, *_args: Any) -> None:
        chosen = self.service.value()
        service = next(
            (s for s in (self.lookups.services if self.lookups else []) if s.id == chosen), None
        )
        current = self.ci.value()
        label = self.ci.currentText()
        self.ci.set_options(service.cis if service else [])
        if service and service.support_group_id and not self._populating:
            if self.group.value() is None:
                # The service's support group is the usual first assignment.
                self.group.set_value(service.support_group_id)
                self._group_changed()
        if current is not None and self.ci.findData(current) < 0 and self._populating:
            # A CI linked earlier stays visible even if it is no longer in the list.
            self.ci.set_value(current, label)

    def _group_changed(self, *_args: Any) -> None:
        chosen = self.group.value()
        group = next(
            (g for g in (self.lookups.groups if self.lookups else []) if g.id == chosen), None
        )
        current = self.assignee.value()
        label = self.assignee.currentText()
        self.assignee.set_options(group.members if group else [])
        if current is not None and self.assignee.findData(current) < 0 and self._populating:
            self.assignee.set_value(current, label)

    def _category_changed(self, *_args: Any) -> None:
        subs = (self.lookups.categories if self.lookups else {}).get(
            self.category.currentText(), []
        )
        current = self.subcategory.currentText()
        self.subcategory.blockSignals(True)
        self.subcategory.clear()
        self.subcategory.addItems(["", *subs])
        self.subcategory.setCurrentText(current)
        self.subcategory.blockSignals(False)

    def _update_priority(self) -> None:
        overridden = self.override.isChecked()
        self.override_priority.setEnabled(overridden and self._editable())
        self.override_reason.setEnabled(overridden and self._editable())
        priority = self.shown_priority()
        self.priority_shown.show_priority(priority)
        matrix = self.matrix_priority()
        if overridden:
            tip = f"Overridden (the matrix gives {priority_label(matrix)})"
        elif priority != matrix:
            tip = f"As saved; the matrix now gives {priority_label(matrix)}"
        else:
            tip = "From the impact × urgency matrix"
        self.priority_shown.setToolTip(tip)
        if not overridden:
            self.override_priority.blockSignals(True)
            self.override_priority.setCurrentIndex(priority - 1)
            self.override_priority.blockSignals(False)

    def _update_header(self) -> None:
        detail = self.detail
        number = detail.number if detail else "New incident"
        self.number_label.setText(number)
        self.priority_badge.show_priority(self.priority_shown.priority or 5)
        self.state_label.setText(detail.state if detail else S.NEW.value)
        if detail and detail.hold_reason:
            self.state_label.setText(f"{detail.state} · {detail.hold_reason}")
        self.major_badge.setVisible(self.is_major.isChecked())
        title = f"{number} — {self.short_description.text().strip() or 'no description yet'}"
        self.setWindowTitle(("* " if self.is_dirty() else "") + title)
        window = self.window()
        if window is not self and isinstance(window, IncidentWindow):
            window.setWindowTitle(self.windowTitle())

    def _may_edit(self) -> bool:
        """Whether the signed-in role may change incidents (the database refuses otherwise)."""
        return may(self, "edit_incident")

    def _editable(self) -> bool:
        if self.unreadable or not self._may_edit():
            return False
        return self.detail is None or self.detail.state not in wf.FINAL_STATES

    def _update_buttons(self) -> None:
        detail = self.detail
        state = detail.state if detail else None
        allowed = wf.TRANSITIONS.get(state, ()) if state else ()
        shown = {
            "start": state in (S.NEW, S.ON_HOLD),
            "hold": S.ON_HOLD in allowed or state == S.ON_HOLD,
            "resolve": S.RESOLVED in allowed,
            "reopen": state == S.RESOLVED,
            "close": S.CLOSED in allowed,
            "cancel": S.CANCELED in allowed,
            "major": bool(detail and detail.is_major and major_view() is not None),
        }
        self.buttons["hold"].setText(
            "Change hold reason…" if state == S.ON_HOLD else "Put on hold…"
        )
        may_edit = self._may_edit()
        for key, button in self.buttons.items():
            button.setVisible(shown[key])
            button.setEnabled(not self.busy and (may_edit or key == "major"))
        editable = self._editable()
        for editor in self.editors:
            editor.setEnabled(editable and not self.busy)
        self._update_priority_enabled(editable)
        dirty = self.is_dirty() or detail is None
        self.save_button.setEnabled(editable and dirty and not self.busy)
        self.note_button.setEnabled(
            may_edit
            and detail is not None
            and bool(self.note_edit.toPlainText().strip())
            and not self.busy
        )
        self.note_edit.setReadOnly(not may_edit)
        self.note_row.setVisible(detail is not None)

    def _update_priority_enabled(self, editable: bool) -> None:
        overridden = self.override.isChecked()
        self.override_priority.setEnabled(editable and overridden and not self.busy)
        self.override_reason.setEnabled(editable and overridden and not self.busy)

    # Saving and the workflow

    def save(self) -> None:
        """Write the edits (a new incident is created); problems are shown above the fields."""
        if self.busy or not self._editable():
            return
        problem = self._problems()
        if problem:
            self._close_after_save = False
            self.show_problem(problem)
            return
        if self.detail is None:
            data, now = self._input(), self.clock()
            self._run("Saving", lambda s, _p: _create(s, data, now), None)
            return
        changes = self.changes()
        if not changes:
            if self._close_after_save:
                self.close_requested.emit()
            return
        self._submit(changes, None)

    def _input(self) -> IncidentInput:
        values = self.values()
        overridden = values.pop("priority_overridden")
        if not overridden:
            values["priority"] = None
            values["priority_override_reason"] = None
        return IncidentInput(**values)

    def _submit(
        self,
        changes: dict[str, Any],
        move: tuple[str, dict[str, Any]] | None,
        version: int | None = None,
        merged: bool = False,
    ) -> None:
        """Save ``changes`` and then make ``move`` (state, fields) in one transaction."""
        assert self.detail is not None
        incident_id = self.detail.id
        expected = version if version is not None else self.detail.version
        now = self.clock()

        def op(session: Session, _progress) -> tuple[IncidentDetail, None]:
            current = expected
            if changes:
                current = wf.update_incident(session, incident_id, current, changes, now).version
            if move is not None:
                to_state, fields = move
                wf.transition(session, incident_id, current, to_state, now=now, **fields)
            return wf.incident_detail(session, incident_id), None

        self._run(
            "Saving",
            op,
            lambda exc: self._save_failed(exc, changes, move, merged),
        )

    def _shown(self, key: str, value: Any) -> str:
        """A value as the conflict dialog shows it (names for references)."""
        if value is None or value == "":
            return "—"
        if key in wf.REFERENCES and self.lookups is not None:
            combo = {
                "caller_id": self.caller,
                "service_id": self.service,
                "ci_id": self.ci,
                "assignment_group_id": self.group,
                "assignee_id": self.assignee,
                "vendor_id": self.vendor,
                "problem_id": self.problem,
                "change_id": self.change,
                "caused_by_change_id": self.caused_by,
            }[key]
            index = combo.findData(value)
            return combo.itemText(index) if index >= 0 else f"#{value}"
        if key == "priority":
            return priority_label(value)
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, dt.datetime):
            return format_datetime(value)
        return str(value)

    def _apply_kept_edits(self) -> None:
        keep, self._reapply = self._reapply, {}
        self._populating = True
        try:
            for key, value in keep.items():
                self._write(key, value)
        finally:
            self._populating = False
        self._edited()

    def move_to(self, state: str, **fields: Any) -> None:
        """Save any edits and move to ``state`` in one go."""
        if self.busy or self.detail is None or not self._may_edit():
            return
        changes = self.changes() if self._editable() else {}
        if changes:
            problem = self._problems()
            if problem:
                self.show_problem(problem)
                return
        self._submit(changes, (str(state), fields))

    def put_on_hold(self) -> None:
        """Ask for a hold reason and put the incident on hold (or change the reason)."""
        reasons = self.lookups.hold_reasons if self.lookups else tuple(r.value for r in HoldReason)
        reason = ask_hold_reason(self, tuple(reasons))
        if reason:
            self.move_to(S.ON_HOLD, hold_reason=reason)

    def resolve(self) -> None:
        """Ask for the resolution code and notes and resolve."""
        answer = ask_resolution(self, wf.RESOLUTION_CODES)
        if answer is not None:
            code, notes = answer
            self.move_to(S.RESOLVED, resolution_code=code, resolution_notes=notes)

    def cancel_incident(self) -> None:
        """Cancel the incident after a confirmation (Canceled is final)."""
        number = self.detail.number if self.detail else "this incident"
        if confirm(self, f"Cancel {number}? Canceled is final."):
            self.move_to(S.CANCELED)

    def add_note(self) -> None:
        """Add the typed work note; the form's unsaved edits stay as they are."""
        text = self.note_edit.toPlainText().strip()
        if self.busy or self.detail is None or not text or not self._may_edit():
            return
        incident_id = self.detail.id
        now = self.clock()

        def op(session: Session, _progress) -> list[TimelineEntry]:
            wf.add_work_note(session, incident_id, text, now)
            session.flush()
            return wf.timeline(session, incident_id)

        def done(entries: list[TimelineEntry]) -> None:
            self.note_edit.clear()
            self.timeline.setHtml(timeline_html(entries))
            if self.detail is not None:
                self.detail.timeline = entries
            if not self.is_dirty():
                self.reload()
            else:
                self.loaded.emit()

        self._set_busy(True)
        ops.QueryOp(
            parent=self, db=self.db, op=op, success=self._finish(done), commit=True
        ).failure(self._failed(None)).run_in_background()

    def open_major(self) -> None:
        """Open the major-incident view of this incident."""
        opener = major_view()
        if opener is not None and self.detail is not None:
            opener(self, self.db, self.detail.id)


def _create(session: Session, data: IncidentInput, now: dt.datetime) -> tuple[IncidentDetail, None]:
    """Worker side of saving a new incident: create it and read it back."""
    incident = wf.new_incident(session, data, now=now)
    return wf.incident_detail(session, incident.id), None


def major_view() -> Callable[[QWidget, Database, int], Any] | None:
    """``open_major_incident`` of the major-incident view, once that view exists."""
    if importlib.util.find_spec(MAJOR_MODULE) is None:
        return None
    module = importlib.import_module(MAJOR_MODULE)
    return getattr(module, "open_major_incident", None)


class IncidentWindow(QWidget):
    """A top-level window holding one incident form; closing asks about unsaved edits."""

    _open: dict[tuple[int, int | None], IncidentWindow] = {}

    def __init__(
        self,
        db: Database,
        incident_id: int | None,
        parent: QWidget | None = None,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.form = IncidentForm(db, incident_id, self, clock=clock)
        self.form.close_requested.connect(self.close)
        self.form.saved.connect(self._remember)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.form)
        self.setWindowTitle(self.form.windowTitle() or "New incident")
        self.resize(1280, 820)
        self._key = (id(db), incident_id)
        self._db_key = id(db)
        if incident_id is not None:
            IncidentWindow._open[self._key] = self

    def _remember(self, incident_id: int) -> None:
        IncidentWindow._open.pop(self._key, None)
        self._key = (self._db_key, incident_id)
        IncidentWindow._open[self._key] = self

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt name
        if not self.form.maybe_close():
            event.ignore()
            return
        if IncidentWindow._open.get(self._key) is self:
            del IncidentWindow._open[self._key]
        super().closeEvent(event)


def open_incident(
    parent: QWidget | None,
    db: Database,
    incident_id: int | None,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> IncidentWindow:
    """Show the incident in its own window (None: a new incident); an open one is raised."""
    existing = IncidentWindow._open.get((id(db), incident_id)) if incident_id else None
    if existing is not None and shiboken6.isValid(existing):
        existing.show()
        existing.raise_()
        existing.activateWindow()
        return existing
    window = IncidentWindow(db, incident_id, parent, clock=clock)
    window.show()
    return window
