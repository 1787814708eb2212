"""Dialogs and panels of the Roster page: a schedule from a template, the solver's options,
an override or swap checked against the rules, and the escalation matrix editor.

None of them touches the database: each says what the user asked for (a signal or
``values()``) and the page does the work in the background, handing results back.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.escalation import (
    ContactChoices,
    LevelDraft,
    PolicyDetail,
    PolicySummary,
    reached_after,
    validate_levels,
)
from app.services.roster_edits import EditCheck, RosterEdit
from app.services.roster_templates import TEMPLATES
from app.views.theme import DANGER_TEXT, GOOD_TEXT, WARNING_TEXT

TEMPLATE_LABELS = {
    "weekly": "Weekly rotation (one person a week)",
    "daily": "Daily rotation",
    "primary_secondary": "Primary and secondary (weekly)",
    "follow_the_sun": "Follow the sun (regions by time zone)",
    "panama": "2-2-3 Panama (4 crews, 12 h day/night)",
    "four_on_four_off": "4 on, 4 off",
}
CHECK_DELAY_MS = 250


def _qdate(day: dt.date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _date(value: QDate) -> dt.date:
    return dt.date(value.year(), value.month(), value.day())


# A schedule from a template


class TemplateDialog(QDialog):
    """Template, name, start, zone, handoff and people (in rotation order)."""

    def __init__(
        self,
        people: Sequence[tuple[int, str, str]],
        start: dt.date,
        timezone: str = "Europe/London",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New schedule from a template")
        self.template = QComboBox()
        for key in TEMPLATES:
            self.template.addItem(TEMPLATE_LABELS.get(key, key), key)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Network on call")
        self.start = QDateEdit(_qdate(start))
        self.start.setCalendarPopup(True)
        self.start.setDisplayFormat("yyyy-MM-dd")
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        for zone in dict.fromkeys(
            [
                timezone,
                "Europe/London",
                "Europe/Berlin",
                "America/New_York",
                "Asia/Singapore",
                "UTC",
            ]
        ):
            self.timezone.addItem(zone)
        self.handoff = QLineEdit("09:00")
        self.handoff.setInputMask("99:99")
        self.turn_days = QSpinBox()
        self.turn_days.setRange(0, 28)
        self.turn_days.setSpecialValueText("template's default")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter people or teams…")
        self.filter.setClearButtonEnabled(True)
        self.people = QListWidget()
        self.people.setMinimumHeight(220)
        for pid, name, teams in people:
            item = QListWidgetItem(f"{name}  ·  {teams}" if teams else name)
            item.setData(Qt.ItemDataRole.UserRole, pid)
            item.setData(Qt.ItemDataRole.UserRole + 1, f"{name} {teams}".lower())
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.people.addItem(item)
        self.filter.textChanged.connect(self._filter)
        self.people.itemChanged.connect(self._checked)
        self.order: list[int] = []
        self.chosen = QLabel("Nobody chosen yet: tick people in the order they take turns.")
        self.chosen.setWordWrap(True)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {DANGER_TEXT}")
        self.error.hide()
        form = QFormLayout()
        form.addRow("Template", self.template)
        form.addRow("Name", self.name)
        form.addRow("First handoff on", self.start)
        form.addRow("Time zone", self.timezone)
        form.addRow("Handoff at", self.handoff)
        form.addRow("Turn length (days)", self.turn_days)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create schedule")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("People (rotation order = the order you tick them)"))
        layout.addWidget(self.filter)
        layout.addWidget(self.people, 1)
        layout.addWidget(self.chosen)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(520, 640)

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        for k in range(self.people.count()):
            item = self.people.item(k)
            hay = item.data(Qt.ItemDataRole.UserRole + 1)
            item.setHidden(not all(w in hay for w in words))

    def _checked(self, item: QListWidgetItem) -> None:
        pid = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked and pid not in self.order:
            self.order.append(pid)
        elif item.checkState() != Qt.CheckState.Checked and pid in self.order:
            self.order.remove(pid)
        names = {}
        for k in range(self.people.count()):
            it = self.people.item(k)
            names[it.data(Qt.ItemDataRole.UserRole)] = it.text().split("  ·  ")[0]
        self.chosen.setText(
            "Rotation: " + " → ".join(names[p] for p in self.order)
            if self.order
            else "Nobody chosen yet: tick people in the order they take turns."
        )

    def check(self, pid: int) -> None:
        for k in range(self.people.count()):
            item = self.people.item(k)
            if item.data(Qt.ItemDataRole.UserRole) == pid:
                item.setCheckState(Qt.CheckState.Checked)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def values(self) -> dict:
        options: dict = {"timezone": self.timezone.currentText().strip() or None}
        handoff = self.handoff.text().strip()
        if handoff and handoff != ":":
            options["handoff"] = handoff
        if self.turn_days.value():
            options["turn_days"] = self.turn_days.value()
        return {
            "template": self.template.currentData(),
            "name": self.name.text().strip(),
            "people": list(self.order),
            "start": _date(self.start.date()),
            "options": options,
        }


# The solver's options


class BuildDialog(QDialog):
    """Period, shift length, time limit and the working-time rules the solver keeps."""

    def __init__(
        self, start: dt.date, weeks: int, schedule: str, parent: QWidget | None = None
    ) -> None:
        from app.services.roster_rules import HOLIDAYS_BLOCK, HOLIDAYS_SPREAD, RosterRules

        super().__init__(parent)
        self.setWindowTitle("Build roster")
        rules = RosterRules()
        intro = QLabel(
            f"Build a fair roster for <b>{html.escape(schedule)}</b>: every shift covered by "
            "someone who may take it, within the working-time rules, with nights, weekends "
            "and holidays spread evenly. It runs in the background; you can cancel it."
        )
        intro.setWordWrap(True)
        self.start = QDateEdit(_qdate(start))
        self.start.setCalendarPopup(True)
        self.start.setDisplayFormat("yyyy-MM-dd")
        self.weeks = QSpinBox()
        self.weeks.setRange(1, 26)
        self.weeks.setValue(weeks)
        self.shift_hours = QComboBox()
        for hours in (8, 12, 6, 4, 24):
            self.shift_hours.addItem(f"{hours} h shifts", hours)
        self.time_limit = QSpinBox()
        self.time_limit.setRange(2, 600)
        self.time_limit.setValue(20)
        self.time_limit.setSuffix(" s")
        self.min_rest = QDoubleSpinBox()
        self.min_rest.setRange(0, 24)
        self.min_rest.setValue(rules.min_rest_hours)
        self.min_rest.setSuffix(" h")
        self.weekly_rest = QDoubleSpinBox()
        self.weekly_rest.setRange(0, 72)
        self.weekly_rest.setValue(rules.weekly_rest_hours)
        self.weekly_rest.setSuffix(" h")
        self.max_hours = QDoubleSpinBox()
        self.max_hours.setRange(1, 168)
        self.max_hours.setValue(rules.max_average_weekly_hours)
        self.max_hours.setSuffix(" h a week")
        self.nights = QSpinBox()
        self.nights.setRange(1, 14)
        self.nights.setValue(rules.max_consecutive_nights)
        self.holidays = QComboBox()
        self.holidays.addItem("Block public holidays", HOLIDAYS_BLOCK)
        self.holidays.addItem("Work them, spread evenly", HOLIDAYS_SPREAD)
        form = QFormLayout()
        form.addRow("From (Monday)", self.start)
        form.addRow("Weeks", self.weeks)
        form.addRow("Shifts", self.shift_hours)
        form.addRow("Time limit", self.time_limit)
        form.addRow(QLabel("<b>Working-time rules</b> (EU Working Time Directive defaults)"))
        form.addRow("Rest between shifts", self.min_rest)
        form.addRow("Weekly rest", self.weekly_rest)
        form.addRow("Average hours cap", self.max_hours)
        form.addRow("Nights in a row at most", self.nights)
        form.addRow("Public holidays", self.holidays)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Build")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict:
        from app.services.roster_rules import RosterRules

        return {
            "start": _date(self.start.date()),
            "weeks": self.weeks.value(),
            "shift_hours": self.shift_hours.currentData(),
            "time_limit": float(self.time_limit.value()),
            "rules": RosterRules(
                min_rest_hours=self.min_rest.value(),
                weekly_rest_hours=self.weekly_rest.value(),
                max_average_weekly_hours=self.max_hours.value(),
                max_consecutive_nights=self.nights.value(),
                holidays=self.holidays.currentData(),
            ),
        }


# An override or swap


class ChangeDialog(QDialog):
    """An override or a swap, checked against the rules as it is edited.

    The page answers ``check_requested`` with :meth:`show_check` and ``save_requested``
    (the edit and the exception reason, or None) by saving and closing the dialog, or by
    :meth:`save_refused`.
    """

    check_requested = Signal(object)
    save_requested = Signal(object, object)

    def __init__(
        self,
        kind: str,
        schedule_id: int,
        zone: str,
        people: Sequence[tuple[int, str]],
        layers: Sequence[tuple[int | None, str]],
        *,
        person_id: int | None = None,
        layer_id: int | None = None,
        start: dt.datetime,
        end: dt.datetime,
        from_person: tuple[int, str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.schedule_id = schedule_id
        self.zone = ZoneInfo(zone)
        self.from_person = from_person
        self.result_check: EditCheck | None = None
        self._checked_edit: RosterEdit | None = None
        self.setWindowTitle("Swap shift" if kind == "swap" else "Override")
        self.setMinimumWidth(640)
        self.person = QComboBox()
        self.person.setEditable(True)
        self.person.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for pid, name in people:
            if from_person is not None and pid == from_person[0]:
                continue
            self.person.addItem(name, pid)
        if person_id is not None:
            index = self.person.findData(person_id)
            if index >= 0:
                self.person.setCurrentIndex(index)
        self.layer = QComboBox()
        for lid, name in layers:
            self.layer.addItem(name, lid)
        if layer_id is not None and self.layer.findData(layer_id) >= 0:
            self.layer.setCurrentIndex(self.layer.findData(layer_id))
        self.start = self._datetime_edit(start)
        self.end = self._datetime_edit(end)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Why (kept with the override), optional")
        form = QFormLayout()
        if kind == "swap" and from_person is not None:
            a, b = start.astimezone(self.zone), end.astimezone(self.zone)
            what = QLabel(
                f"{html.escape(self.layer.currentText())} · {a:%a %d %b %H:%M} – "
                f"{b:%a %d %b %H:%M} · now <b>{html.escape(from_person[1])}</b>"
            )
            what.setWordWrap(True)
            form.addRow("Shift", what)
            form.addRow("Give it to", self.person)
            self.layer.setEnabled(False)
            self.start.setEnabled(False)
            self.end.setEnabled(False)
        else:
            form.addRow("Who covers", self.person)
            form.addRow("Layer", self.layer)
            form.addRow("From", self.start)
            form.addRow("Until", self.end)
        form.addRow("Note", self.note)
        form.addRow(QLabel(f"<small>Times in {html.escape(zone)}</small>"))

        self.status = QLabel("Checking the rules…")
        self.status.setObjectName("ruleStatus")
        self.status.setWordWrap(True)
        self.violations = QListWidget()
        self.violations.setObjectName("violations")
        self.violations.setWordWrap(True)
        self.violations.setMinimumHeight(150)
        self.violations.setSpacing(3)
        self.violations.setAlternatingRowColors(True)
        self.violations.hide()
        self.exception = QCheckBox("Record an exception: save it although it breaks the rules")
        self.exception.hide()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(
            "Reason for the exception (required, recorded in the audit log)"
        )
        self.reason.setEnabled(False)
        self.reason.hide()
        self.exception.toggled.connect(self._exception_toggled)
        self.reason.textChanged.connect(self._update_buttons)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setEnabled(False)
        self.buttons.accepted.connect(self.request_save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        layout.addWidget(self.status)
        layout.addWidget(self.violations)
        layout.addWidget(self.exception)
        layout.addWidget(self.reason)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self._emit_check)
        for signal in (
            self.person.currentIndexChanged,
            self.layer.currentIndexChanged,
            self.start.dateTimeChanged,
            self.end.dateTimeChanged,
        ):
            signal.connect(self._changed)
        QTimer.singleShot(0, self._emit_check)

    def _datetime_edit(self, value: dt.datetime) -> QDateTimeEdit:
        local = value.astimezone(self.zone)
        edit = QDateTimeEdit(QDateTime(_qdate(local.date()), QTime(local.hour, local.minute)))
        edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        edit.setCalendarPopup(True)
        return edit

    def _aware(self, edit: QDateTimeEdit) -> dt.datetime:
        value = edit.dateTime()
        d, t = value.date(), value.time()
        naive = dt.datetime(d.year(), d.month(), d.day(), t.hour(), t.minute())
        return naive.replace(tzinfo=self.zone).astimezone(dt.UTC)

    def edit(self) -> RosterEdit | None:
        pid = self.person.currentData()
        if pid is None:
            return None
        return RosterEdit(
            self.kind,
            self.schedule_id,
            self.layer.currentData(),
            pid,
            self._aware(self.start),
            self._aware(self.end),
            self.from_person[0] if self.from_person else None,
            self.note.text().strip(),
        )

    def set_person(self, person_id: int) -> None:
        self.person.setCurrentIndex(self.person.findData(person_id))

    def _changed(self) -> None:
        self.result_check = None
        self.status.setText("Checking the rules…")
        self.status.setStyleSheet("")
        self._update_buttons()
        self._timer.start()

    def _emit_check(self) -> None:
        edit = self.edit()
        if edit is None:
            self.status.setText("Choose who covers it.")
            return
        if edit.end <= edit.start:
            self.status.setText("The end must come after the start.")
            self.status.setStyleSheet(f"color: {DANGER_TEXT}")
            return
        self.check_requested.emit(edit)

    def show_check(self, edit: RosterEdit, check: EditCheck) -> None:
        """The rules' verdict on ``edit`` (ignored if the inputs changed meanwhile)."""
        current = self.edit()
        if current is None or (current.person_id, current.start, current.end, current.layer_id) != (
            edit.person_id,
            edit.start,
            edit.end,
            edit.layer_id,
        ):
            return
        self.result_check = check
        self._checked_edit = edit
        self.violations.clear()
        if check.ok:
            self.status.setText(f"✔ {check.summary}: keeps every working-time rule.")
            self.status.setStyleSheet(f"color: {GOOD_TEXT}")
            self.violations.hide()
            self.exception.hide()
            self.reason.hide()
            self.exception.setChecked(False)
        else:
            n = len(check.violations)
            self.status.setText(
                f"✖ {check.summary} would break {n} rule{'s' if n != 1 else ''}. "
                "Nothing is saved unless you record an exception with a reason."
            )
            self.status.setStyleSheet(f"color: {DANGER_TEXT}")
            for sentence in check.violations:
                self.violations.addItem(f"• {sentence}")
            self.violations.show()
            self.exception.show()
            self.reason.show()
        self._update_buttons()

    def show_error(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {DANGER_TEXT}")

    def save_refused(self, sentences: Sequence[str]) -> None:
        """The page refused the save: say so and show why."""
        edit = self._checked_edit or self.edit()
        if edit is not None:
            self.show_check(
                edit,
                EditCheck(
                    tuple(sentences),
                    self.result_check.summary if self.result_check else "The change",
                ),
            )
        self.status.setText("Nothing was saved: " + self.status.text().lstrip("✖ "))

    def _exception_toggled(self, on: bool) -> None:
        self.reason.setEnabled(on)
        if on:
            self.reason.setFocus()
        self._update_buttons()

    def can_save(self) -> bool:
        if self.result_check is None:
            return False
        if self.result_check.ok:
            return True
        return self.exception.isChecked() and bool(self.reason.text().strip())

    def _update_buttons(self) -> None:
        self.save_button.setEnabled(self.can_save())
        if self.result_check is not None and not self.result_check.ok:
            self.save_button.setText("Save with exception")
        else:
            self.save_button.setText("Save")

    def request_save(self) -> None:
        edit = self.edit()
        if edit is None or self.result_check is None:
            return
        reason = None
        if not self.result_check.ok:
            if not self.exception.isChecked() or not self.reason.text().strip():
                self.status.setText(
                    "Nothing was saved: the change breaks the rules above; tick “Record an "
                    "exception” and give a reason to save it anyway."
                )
                return
            reason = self.reason.text().strip()
        self.save_button.setEnabled(False)
        self.save_requested.emit(edit, reason)


# The escalation matrix


class EscalationEditor(QWidget):
    """The levels of one policy: label, who is called, contact details and the timeout.

    The page fills it with :meth:`set_choices` and :meth:`set_policy` and saves on
    ``save_requested(policy id, version, levels, repeats)``.
    """

    save_requested = Signal(int, int, object, int)
    policy_chosen = Signal(int)
    create_requested = Signal()

    COLUMNS = ("Label", "Calls", "Contact details", "Escalates", "Called at")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("escalationEditor")
        self.schedule_id: int | None = None
        self.policy: PolicyDetail | None = None
        self.choices = ContactChoices((), ())
        self._filling = False
        self.policy_box = QComboBox()
        self.policy_box.setAccessibleName("Escalation policy")
        self.policy_box.currentIndexChanged.connect(self._policy_changed)
        self.new_button = QToolButton()
        self.new_button.setText("New policy")
        self.new_button.setToolTip("A policy for this schedule: L1 primary, L2 secondary")
        self.new_button.clicked.connect(self.create_requested)
        top = QHBoxLayout()
        top.addWidget(self.policy_box, 1)
        top.addWidget(self.new_button)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("escalationLevels")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setVerticalHeaderLabels([])
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, 96)
        self.table.setColumnWidth(2, 104)
        self.table.setColumnWidth(3, 78)
        self.table.setColumnWidth(4, 58)
        self.table.itemChanged.connect(self._edited)

        self.add_button = QPushButton("Add level")
        self.remove_button = QPushButton("Remove")
        self.up_button = QToolButton()
        self.up_button.setText("▲")
        self.up_button.setToolTip("Move the level up")
        self.down_button = QToolButton()
        self.down_button.setText("▼")
        self.down_button.setToolTip("Move the level down")
        self.add_button.clicked.connect(self.add_level)
        self.remove_button.clicked.connect(self.remove_level)
        self.up_button.clicked.connect(lambda: self.move_level(-1))
        self.down_button.clicked.connect(lambda: self.move_level(1))
        self.repeats = QSpinBox()
        self.repeats.setRange(0, 9)
        self.repeats.setPrefix("repeat ")
        self.repeats.setSuffix(" ×")
        self.repeats.setToolTip("How often the whole matrix is repeated if nobody answers")
        self.repeats.valueChanged.connect(self._edited)
        row = QHBoxLayout()
        for w in (self.add_button, self.remove_button, self.up_button, self.down_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.repeats)

        self.problems = QLabel()
        self.problems.setObjectName("escalationProblems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {DANGER_TEXT}")
        self.problems.hide()
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.save_button = QPushButton("Save matrix")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.request_save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setEnabled(False)
        self.revert_button.clicked.connect(lambda: self.set_policy(self.policy))
        bottom = QHBoxLayout()
        bottom.addWidget(self.state, 1)
        bottom.addWidget(self.revert_button)
        bottom.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.problems)
        layout.addLayout(bottom)

    # Filling

    def set_policies(self, policies: Sequence[PolicySummary], current: int | None = None) -> None:
        self._filling = True
        self.policy_box.clear()
        for p in policies:
            self.policy_box.addItem(f"{p.name} ({p.levels} levels)", p.id)
        if current is not None and self.policy_box.findData(current) >= 0:
            self.policy_box.setCurrentIndex(self.policy_box.findData(current))
        self._filling = False
        if not policies:
            self.policy = None
            self.table.setRowCount(0)
            self.state.setText(
                "No escalation policy calls this schedule yet: “New policy” makes one."
            )
            self._update()

    def _policy_changed(self) -> None:
        if not self._filling and self.policy_box.currentData() is not None:
            self.policy_chosen.emit(self.policy_box.currentData())

    def set_choices(self, choices: ContactChoices, schedule_id: int | None) -> None:
        self.choices = choices
        self.schedule_id = schedule_id

    def set_policy(self, policy: PolicyDetail | None) -> None:
        self.policy = policy
        self._filling = True
        self.table.setRowCount(0)
        if policy is not None:
            self.repeats.setValue(policy.repeat_count)
            for level in policy.levels:
                self._append(level)
            self.state.setText(f"Saved · version {policy.version}")
        self._filling = False
        self._update(dirty=False)

    def _who_combo(self, level: LevelDraft) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName("Who is called")
        names = {sid: (name, roles) for sid, name, roles in self.choices.schedules}
        own = self.schedule_id
        if own is not None and own in names:
            for role in names[own][1]:
                combo.addItem(f"{role.capitalize()} on call", f"role:{own}:{role}")
                combo.setItemData(
                    combo.count() - 1,
                    f"Whoever is {role} on call on this schedule",
                    Qt.ItemDataRole.ToolTipRole,
                )
        if level.schedule_id is not None and level.layer_role and level.schedule_id != own:
            name = names.get(level.schedule_id, (f"schedule {level.schedule_id}", ()))[0]
            combo.addItem(
                f"{level.layer_role.capitalize()} on call of {name}",
                f"role:{level.schedule_id}:{level.layer_role}",
            )
        known = {pid for pid, _ in self.choices.people}
        if level.person_id is not None and level.person_id not in known:
            combo.addItem(level.who or f"Person {level.person_id}", f"person:{level.person_id}")
        for pid, name in self.choices.people:
            combo.addItem(name, f"person:{pid}")
        combo.insertItem(0, "— choose who is called —", None)
        if level.schedule_id is not None and level.layer_role:
            key = f"role:{level.schedule_id}:{level.layer_role}"
        elif level.person_id is not None:
            key = f"person:{level.person_id}"
        else:
            key = None
        index = combo.findData(key) if key is not None else 0
        combo.setCurrentIndex(max(0, index))
        combo.currentIndexChanged.connect(self._edited)
        return combo

    def _append(self, level: LevelDraft, at: int | None = None) -> None:
        row = self.table.rowCount() if at is None else at
        was = self._filling
        self._filling = True
        self.table.insertRow(row)
        label = QTableWidgetItem(level.label)
        label.setData(Qt.ItemDataRole.UserRole, level.id)
        self.table.setItem(row, 0, label)
        self.table.setCellWidget(row, 1, self._who_combo(level))
        self.table.setItem(row, 2, QTableWidgetItem(level.contact))
        spin = QSpinBox()
        spin.setRange(0, 1440)
        spin.setSuffix(" min")
        spin.setValue(level.timeout_minutes)
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        spin.valueChanged.connect(self._edited)
        self.table.setCellWidget(row, 3, spin)
        reached = QTableWidgetItem()
        reached.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        reached.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(row, 4, reached)
        self._filling = was

    # Reading

    def levels(self) -> list[LevelDraft]:
        out = []
        for row in range(self.table.rowCount()):
            label = self.table.item(row, 0)
            combo = self.table.cellWidget(row, 1)
            contact = self.table.item(row, 2)
            spin = self.table.cellWidget(row, 3)
            who = combo.currentData() if isinstance(combo, QComboBox) else None
            parts = who.split(":") if isinstance(who, str) else []
            person = int(parts[1]) if parts and parts[0] == "person" else None
            schedule = int(parts[1]) if parts and parts[0] == "role" else None
            role = parts[2] if parts and parts[0] == "role" else None
            out.append(
                LevelDraft(
                    label.text() if label else "",
                    spin.value() if isinstance(spin, QSpinBox) else 0,
                    person,
                    schedule,
                    role,
                    contact.text() if contact else "",
                    label.data(Qt.ItemDataRole.UserRole) if label else None,
                )
            )
        return out

    # Editing

    def add_level(self) -> None:
        levels = self.levels()
        n = len(levels) + 1
        timeout = max([lv.timeout_minutes for lv in levels] or [15])
        self._append(LevelDraft(f"L{n}", timeout))
        self.table.selectRow(n - 1)
        self._edited()

    def remove_level(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            row = self.table.rowCount() - 1
        if row >= 0:
            self.table.removeRow(row)
            self._edited()

    def move_level(self, step: int) -> None:
        row = self.table.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.table.rowCount():
            return
        levels = self.levels()
        levels[row], levels[target] = levels[target], levels[row]
        self._filling = True
        self.table.setRowCount(0)
        for level in levels:
            self._append(level)
        self._filling = False
        self.table.selectRow(target)
        self._edited()

    def _edited(self, *_args) -> None:
        if not self._filling:
            self._update(dirty=True)

    def problems_now(self) -> list[str]:
        return validate_levels(self.levels(), repeat_count=self.repeats.value())

    def _update(self, dirty: bool = False) -> None:
        levels = self.levels()
        was = self._filling
        self._filling = True
        for row, minutes in enumerate(reached_after(levels)):
            item = self.table.item(row, 4)
            if item is not None:
                item.setText("at once" if minutes == 0 else f"{minutes} min")
        self._filling = was
        problems = self.problems_now() if self.policy is not None else []
        self.problems.setText("\n".join(problems))
        self.problems.setVisible(bool(problems))
        self.save_button.setEnabled(self.policy is not None and dirty and not problems)
        self.revert_button.setEnabled(self.policy is not None and dirty)
        if dirty:
            self.state.setText(
                "Unsaved changes" if not problems else "Unsaved — fix the above to save"
            )
            self.state.setStyleSheet(f"color: {WARNING_TEXT}")
        else:
            self.state.setStyleSheet("")

    def request_save(self) -> None:
        if self.policy is None:
            return
        problems = self.problems_now()
        if problems:
            self.problems.setText("\n".join(problems))
            self.problems.show()
            return
        self.save_button.setEnabled(False)
        self.state.setText("Saving…")
        self.save_requested.emit(
            self.policy.id, self.policy.version, self.levels(), self.repeats.value()
        )

    def save_failed(self, problems: Sequence[str]) -> None:
        self.problems.setText("\n".join(problems))
        self.problems.show()
        self.state.setText("Not saved")
        self.state.setStyleSheet(f"color: {DANGER_TEXT}")
        self.save_button.setEnabled(True)
