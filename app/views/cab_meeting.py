"""The CAB meeting window: a focused mode for running a Change Advisory Board.

Agenda on the left (one line per change, with a status icon), the current change in the
middle (what it does, its window, scope, risk, plans and conflicts as sentences), and on
the right who is present, their votes, the conditions and the decision buttons. Ctrl+Up
/ Ctrl+Down (or Alt+Left / Alt+Right) move through the agenda; after a decision the
next undecided change comes up by itself.

Everything is read and written through :mod:`app.services.cab` in background ops (writes
one at a time, each in its own transaction); a refused decision shows the workflow's
sentence and records nothing.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QIcon,
    QKeySequence,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from app import APP_NAME
from app.db import Database
from app.models import utcnow
from app.services import cab
from app.services import changes as cw
from app.services.cab import AgendaItemView, MeetingView, PendingReview, PersonChoice
from app.services.formatting import format_datetime
from app.services.incidents import WorkflowError
from app.services.progress import Progress
from app.views import ops
from app.views.qtmodels.change_table import risk_colours
from app.views.theme import DANGER_TEXT, GOOD_TEXT, WARNING_TEXT
from app.views.widgets import Chip, WarningMark, problem_label, scaled_font

#: Decision colours (background, text); the word is always shown beside the colour.
DECISION_COLOURS: dict[str | None, tuple[str, str]] = {
    None: ("#9e9e9e", "#ffffff"),
    "approved": ("#2e7d32", "#ffffff"),
    "rejected": ("#c62828", "#ffffff"),
    "deferred": ("#f9a825", "#000000"),
    "more_info": ("#1e88e5", "#ffffff"),
}
#: The glyph drawn in each decision's status icon.
_GLYPHS = {"approved": "✓", "rejected": "✕", "deferred": "‖", "more_info": "?"}
_BUTTONS = (
    ("approved", "Approve", "Approve: the change moves to Scheduled"),
    ("rejected", "Reject", "Reject: the change goes back to New for rework"),
    ("deferred", "Defer", "Defer to a later meeting: the change stays in Authorize"),
    ("more_info", "More information", "Ask for more information (say what in the conditions)"),
)
_NO_VOTE = "—"
ITEM_ROLE = Qt.ItemDataRole.UserRole
_windows: dict[tuple[int, Any], CabMeetingWindow] = {}


def open_cab_meeting(
    parent: QWidget | None,
    db: Database,
    meeting_id: int | None = None,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> CabMeetingWindow:
    """Show the CAB meeting window of ``meeting_id``; without one, today's meeting
    (created, with its agenda, when today has none)."""
    key = (id(db), meeting_id if meeting_id is not None else "today")
    window = _windows.get(key)
    if window is None or not shiboken6.isValid(window):
        window = CabMeetingWindow(db, meeting_id, parent=parent, clock=clock)
        _windows[key] = window
        window.destroyed.connect(lambda *_: _windows.pop(key, None))
    window.show()
    window.raise_()
    window.activateWindow()
    return window


def status_icon(decision: str | None, size: int = 18) -> QIcon:
    """A round status mark: hollow grey while pending, else the decision's colour and glyph."""
    pixmap = QPixmap(size * 2, size * 2)
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    background, foreground = DECISION_COLOURS.get(decision, DECISION_COLOURS[None])
    rect = QRectF(1.5, 1.5, size - 3, size - 3)
    if decision is None:
        painter.setPen(QPen(QColor(background), 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(rect)
    else:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(background))
        painter.drawEllipse(rect)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(size * 0.62))
        painter.setFont(font)
        painter.setPen(QColor(foreground))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), _GLYPHS.get(decision, ""))
    painter.end()
    return QIcon(pixmap)


def _chip(text: str, colours: tuple[str, str], tip: str = "") -> Chip:
    chip = Chip(text, *colours)
    chip.setToolTip(tip)
    return chip


def _clear(layout: QHBoxLayout | QVBoxLayout | QGridLayout) -> None:
    while (entry := layout.takeAt(0)) is not None:
        if (widget := entry.widget()) is not None:
            widget.hide()
            widget.setParent(None)
            widget.deleteLater()


def _quiet(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _text_block(text: str, empty: str) -> QLabel:
    label = QLabel(html.escape(text).replace("\n", "<br>") if text else f"<i>{empty}</i>")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    return label


def _section(title: str) -> QLabel:
    label = QLabel(title)
    label.setFont(scaled_font(label, 1.05, bold=True))
    label.setContentsMargins(0, 8, 0, 0)
    return label


def _warn_box(parent: QWidget, text: str) -> None:
    """A refusal, said plainly (the workflow's own sentence)."""
    box = QMessageBox(parent)
    box.setWindowTitle(APP_NAME)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setText(text)
    box.exec()


VIEW_ROLE = Qt.ItemDataRole.UserRole + 1


class AgendaDelegate(QStyledItemDelegate):
    """An agenda line: status icon, position and number, risk chip, description, window."""

    def sizeHint(self, option: QStyleOptionViewItem, _index: Any) -> QSize:  # noqa: N802
        line = option.fontMetrics.height()
        return QSize(240, line * 3 + 14)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Any) -> None:
        item: AgendaItemView | None = index.data(VIEW_ROLE)
        if item is None:
            super().paint(painter, option, index)
            return
        painter.save()
        style = option.widget.style() if option.widget else None
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = QIcon()
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text = palette.highlightedText().color() if selected else palette.text().color()
        quiet = text if selected else palette.placeholderText().color()
        rect = option.rect.adjusted(8, 6, -8, -6)
        fm = option.fontMetrics
        line = fm.height()
        status_icon(item.decision).paint(painter, rect.left(), rect.top(), 18, 18)
        left = rect.left() + 26
        width = rect.right() - left
        bold = QFont(option.font)
        bold.setBold(True)
        # Risk chip on the right of the first line.
        background, foreground = risk_colours(item.risk)
        chip_font = QFont(option.font)
        chip_font.setPointSizeF(option.font.pointSizeF() * 0.85)
        chip_font.setBold(True)
        chip_w = QFontMetrics(chip_font).horizontalAdvance(item.risk) + 12
        chip = QRectF(rect.right() - chip_w, rect.top() + 1, chip_w, line - 2)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(background))
        painter.drawRoundedRect(chip, 3, 3)
        painter.setFont(chip_font)
        painter.setPen(QColor(foreground))
        painter.drawText(chip, int(Qt.AlignmentFlag.AlignCenter), item.risk)
        painter.setFont(bold)
        painter.setPen(text)
        first = QRectF(left, rect.top(), width - chip_w - 6, line)
        painter.drawText(
            first,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            f"{item.position}. {item.number}",
        )
        painter.setFont(option.font)
        painter.setPen(quiet if item.decided else text)
        second = QRectF(left, rect.top() + line + 1, width, line)
        painter.drawText(
            second,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            fm.elidedText(item.short_description, Qt.TextElideMode.ElideRight, int(width)),
        )
        third = QRectF(left, rect.top() + 2 * line + 2, width, line)
        when = format_datetime(item.planned_start) or "no planned window"
        status = item.decision_label if item.decided else ""
        painter.setPen(quiet)
        painter.drawText(
            third,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            when + (f"  ·  {status}" if status else ""),
        )
        if item.conflicts:
            painter.setPen(QColor(text if selected else WARNING_TEXT))
            painter.setFont(bold)
            painter.drawText(
                third,
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                f"⚠ {len(item.conflicts)}",
            )
        painter.restore()


class ChangePanel(QWidget):
    """The current change: what, when, where, how risky, the plans and the conflicts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(6)
        top = QHBoxLayout()
        self.number = QLabel("No change selected")
        self.number.setFont(scaled_font(self.number, 1.5, bold=True))
        self.number.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.number)
        self.chips = QHBoxLayout()
        self.chips.setSpacing(6)
        top.addLayout(self.chips)
        top.addStretch(1)
        self.position = _quiet()
        top.addWidget(self.position)
        layout.addLayout(top)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setFont(scaled_font(self.title, 1.2))
        layout.addWidget(self.title)
        self.blockers = QLabel()
        self.blockers.setWordWrap(True)
        self.blockers.setStyleSheet(f"color: {DANGER_TEXT}; font-weight: bold;")
        self.blockers.hide()
        layout.addWidget(self.blockers)

        facts = QFrame()
        facts.setFrameShape(QFrame.Shape.NoFrame)
        self.facts = QFormLayout(facts)
        self.facts.setContentsMargins(0, 6, 0, 0)
        self.facts.setHorizontalSpacing(16)
        self.facts.setVerticalSpacing(4)
        self.facts.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(facts)

        layout.addWidget(_section("Conflicts"))
        self.conflicts = QVBoxLayout()
        self.conflicts.setSpacing(4)
        layout.addLayout(self.conflicts)

        self.earlier_title = _section("Earlier decisions")
        layout.addWidget(self.earlier_title)
        self.earlier = _quiet()
        layout.addWidget(self.earlier)

        self.description_title = _section("Description and justification")
        layout.addWidget(self.description_title)
        self.description = _text_block("", "")
        layout.addWidget(self.description)

        self.plans: dict[str, QLabel] = {}
        for key, title in (
            ("implementation_plan", "Implementation plan"),
            ("test_plan", "Test plan"),
            ("backout_plan", "Back-out plan"),
        ):
            layout.addWidget(_section(title))
            label = _text_block("", "")
            self.plans[key] = label
            layout.addWidget(label)
        layout.addStretch(1)

    def _fact(self, label: str, value: str) -> None:
        text = QLabel(value or "—")
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        name = QLabel(label)
        name.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.facts.addRow(name, text)

    def show_item(self, item: AgendaItemView | None, index: int, count: int) -> None:
        _clear(self.chips)
        while self.facts.rowCount():
            self.facts.removeRow(0)
        _clear(self.conflicts)
        if item is None:
            self.number.setText("No change selected" if count else "The agenda is empty")
            self.title.setText(
                ""
                if count
                else "No change awaits authorisation before the agenda's horizon. "
                "Refresh the agenda when changes reach Authorize."
            )
            self.position.setText("")
            self.blockers.hide()
            for label in (self.description, *self.plans.values()):
                label.setText("")
            self.earlier.setText("")
            return
        self.number.setText(item.number)
        self.title.setText(item.short_description)
        self.position.setText(f"Item {index + 1} of {count}")
        self.chips.addWidget(_chip(item.type, ("#546e7a", "#ffffff"), "Change type"))
        risk = f"{item.risk} risk" + (
            f" · {item.risk_score}" if item.risk_score is not None else ""
        )
        self.chips.addWidget(_chip(risk, risk_colours(item.risk), "Risk from the questionnaire"))
        self.chips.addWidget(_chip(item.state, ("#e0e0e0", "#212121"), "State now"))
        if item.decided:
            self.chips.addWidget(
                _chip(item.decision_label, DECISION_COLOURS[item.decision], "The board's decision")
            )
        blockers = item.blockers_sentence() if item.awaiting else ""
        self.blockers.setText(blockers)
        self.blockers.setVisible(bool(blockers))
        self._fact("Planned window", item.window_text())
        self._fact("Service", item.service or "")
        affected = [s for s in item.services if s != item.service]
        if affected:
            self._fact("Also affects", ", ".join(affected))
        self._fact("Configuration items", ", ".join(item.cis))
        who = " · ".join(x for x in (item.assignment_group, item.assignee) if x)
        self._fact("Implemented by", who)
        self._fact("Requested by", item.requested_by or "")
        if item.conflicts:
            for conflict in item.conflicts:
                row = QHBoxLayout()
                row.setSpacing(8)
                mark = WarningMark(conflict.sentence)
                row.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
                text = QLabel(conflict.sentence)
                text.setWordWrap(True)
                text.setStyleSheet(f"color: {WARNING_TEXT};")
                row.addWidget(text, 1)
                holder = QWidget()
                holder.setLayout(row)
                row.setContentsMargins(0, 0, 0, 0)
                self.conflicts.addWidget(holder)
        else:
            ok = QLabel("✓ No conflicts in the planned window.")
            ok.setStyleSheet(f"color: {GOOD_TEXT};")
            self.conflicts.addWidget(ok)
        self.earlier_title.setVisible(bool(item.earlier))
        self.earlier.setVisible(bool(item.earlier))
        self.earlier.setText("\n".join(e.sentence() for e in item.earlier))
        parts = [p for p in (item.description, item.justification) if p]
        if item.description == item.short_description and item.justification:
            parts = [item.justification]
        self.description.setText(html.escape("\n\n".join(parts)).replace("\n", "<br>"))
        self.description_title.setVisible(bool(parts))
        self.description.setVisible(bool(parts))
        for key, label in self.plans.items():
            value = getattr(item, key)
            label.setText(
                html.escape(value).replace("\n", "<br>")
                if value
                else f"<span style='color:{DANGER_TEXT}'><i>Missing</i></span>"
            )


class ReviewsDialog(QDialog):
    """Emergency and failed changes awaiting their post-implementation review."""

    def __init__(
        self, db: Database, parent: QWidget | None = None, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        super().__init__(parent)
        self.db = db
        self.clock = clock
        self.pending: list[PendingReview] = []
        self.loaded = False
        self.recorded: list[str] = []
        self.setWindowTitle("Post-implementation reviews")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            ["Change", "Short description", "Why", "State", "Ended"]
        )
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selected)
        self.empty = _quiet("Loading…")
        self.outcome = QPlainTextEdit()
        self.outcome.setPlaceholderText("Outcome: what happened, what the impact was")
        self.outcome.setMaximumHeight(90)
        self.lessons = QPlainTextEdit()
        self.lessons.setPlaceholderText("Lessons and follow-up actions")
        self.lessons.setMaximumHeight(90)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {DANGER_TEXT};")
        self.message.hide()
        self.record_button = QPushButton("Record review")
        self.record_button.setDefault(True)
        self.record_button.clicked.connect(self.record)
        form = QFormLayout()
        form.addRow("Outcome", self.outcome)
        form.addRow("Lessons", self.lessons)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.record_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _quiet(
                "DOMAIN rule: every emergency change and every failed change (closed "
                "Unsuccessful, or the cause of an incident) gets a post-implementation review."
            )
        )
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.resize(860, 560)
        self._selected()
        self.refresh()

    def refresh(self) -> None:
        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _progress: cab.pending_reviews(session),
            success=self._loaded,
        ).run_in_background()

    def _loaded(self, pending: list[PendingReview]) -> None:
        self.pending = pending
        self.loaded = True
        self.table.setRowCount(0)
        for review in pending:
            row = self.table.rowCount()
            self.table.insertRow(row)
            ended = review.actual_end or review.closed_at
            for column, text in enumerate(
                [
                    review.number,
                    review.short_description,
                    review.reason,
                    review.state,
                    format_datetime(ended),
                ]
            ):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                self.table.setItem(row, column, cell)
        self.empty.setText("" if pending else "Every emergency and failed change has its review.")
        self.empty.setVisible(not pending)
        if pending:
            self.table.selectRow(0)
        self._selected()

    def selected(self) -> PendingReview | None:
        rows = self.table.selectionModel().selectedRows()
        return self.pending[rows[0].row()] if rows and rows[0].row() < len(self.pending) else None

    def _selected(self) -> None:
        self.record_button.setEnabled(self.selected() is not None)

    def record(self) -> None:
        review = self.selected()
        if review is None:
            return
        outcome, lessons, now = self.outcome.toPlainText(), self.lessons.toPlainText(), self.clock()

        def done(_result: Any) -> None:
            self.recorded.append(review.number)
            self.outcome.clear()
            self.lessons.clear()
            self.message.hide()
            self.refresh()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, WorkflowError):
                self.message.setText(str(exc))
                self.message.show()
                _warn_box(self, str(exc))
            else:
                ops.show_error(self, exc)

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda s, _p: cw.record_review(s, review.change_id, outcome, lessons, now=now),
            success=done,
            commit=True,
        ).failure(failed).run_in_background()


class CabMeetingWindow(QMainWindow):
    """A CAB meeting, run from one window."""

    def __init__(
        self,
        db: Database,
        meeting_id: int | None = None,
        parent: QWidget | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.db = db
        self.meeting_id = meeting_id
        self.clock = clock
        self.view: MeetingView | None = None
        self.people: list[PersonChoice] = []
        self.current_id: int | None = None
        self.last_export: str | None = None
        self.last_error: BaseException | None = None
        self.reviews_dialog: ReviewsDialog | None = None
        self._loads = 0
        self._shown = 0
        self._writes: list[tuple[str, Callable[[Session], Any], Callable[[Any], None]]] = []
        self._writing = False
        self._advance_from: int | None = None
        self._votes_for: int | None = None
        self._filling = False
        self.setWindowTitle("CAB meeting")
        self.resize(1440, 900)

        self.progress = ops.ProgressIndicator()
        self.statusBar().addPermanentWidget(self.progress)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(14, 10, 14, 6)
        layout.setSpacing(8)
        layout.addWidget(self._build_header())
        self.message = problem_label("refusal")
        layout.addWidget(self.message)
        splitter = QSplitter()
        splitter.addWidget(self._build_agenda())
        splitter.addWidget(self._build_change())
        splitter.addWidget(self._build_board())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([330, 700, 410])
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

        for keys, step in (
            ("Ctrl+Down", 1),
            ("Alt+Right", 1),
            ("Ctrl+Up", -1),
            ("Alt+Left", -1),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda step=step: self.step(step))
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        self._set_enabled()
        self.refresh()

    # Building

    def _build_header(self) -> QWidget:
        header = QWidget()
        layout = QHBoxLayout(header)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        text = QVBoxLayout()
        text.setSpacing(2)
        title_row = QHBoxLayout()
        self.title = QLabel("Loading the meeting…")
        self.title.setFont(scaled_font(self.title, 1.5, bold=True))
        title_row.addWidget(self.title)
        self.board_slot = QHBoxLayout()
        title_row.addLayout(self.board_slot)
        title_row.addStretch(1)
        text.addLayout(title_row)
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        text.addWidget(self.facts)
        layout.addLayout(text, 1)
        self.tally = QLabel()
        self.tally.setFont(scaled_font(self.tally, 1.1, bold=True))
        self.tally.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.tally)
        layout.addSpacing(12)
        self.refresh_agenda_button = QPushButton("Refresh agenda")
        self.refresh_agenda_button.setToolTip(
            "Add changes that reached Authorize since the agenda was made; decided items stay"
        )
        self.refresh_agenda_button.clicked.connect(self.refresh_agenda)
        self.minutes_button = QPushButton("Export minutes…")
        self.minutes_button.setToolTip("Attendees, decisions, conditions and votes to a workbook")
        self.minutes_button.clicked.connect(self.export_minutes)
        self.pack_button = QPushButton("Export agenda pack…")
        self.pack_button.setToolTip("One row per change: plans, risk, window and conflicts")
        self.pack_button.clicked.connect(self.export_agenda_pack)
        self.reviews_button = QPushButton("Post-implementation reviews…")
        self.reviews_button.setToolTip("Emergency and failed changes still awaiting their review")
        self.reviews_button.clicked.connect(self.open_reviews)
        for button in (
            self.refresh_agenda_button,
            self.minutes_button,
            self.pack_button,
            self.reviews_button,
        ):
            layout.addWidget(button)
        return header

    def _build_agenda(self) -> QWidget:
        box = QGroupBox("Agenda")
        layout = QVBoxLayout(box)
        layout.setContentsMargins(6, 8, 6, 6)
        self.agenda = QListWidget()
        self.agenda.setItemDelegate(AgendaDelegate(self.agenda))
        self.agenda.setAlternatingRowColors(True)
        self.agenda.setUniformItemSizes(True)
        self.agenda.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.agenda.currentItemChanged.connect(self._agenda_moved)
        layout.addWidget(self.agenda, 1)
        nav = QHBoxLayout()
        self.previous_button = QPushButton("◀ Previous")
        self.previous_button.setToolTip("Previous change (Ctrl+Up or Alt+Left)")
        self.previous_button.clicked.connect(lambda: self.step(-1))
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("Next change (Ctrl+Down or Alt+Right)")
        self.next_button.clicked.connect(lambda: self.step(1))
        nav.addWidget(self.previous_button)
        nav.addWidget(self.next_button)
        layout.addLayout(nav)
        box.setMinimumWidth(260)
        return box

    def _build_change(self) -> QWidget:
        self.change_panel = ChangePanel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.change_panel)
        scroll.setFrameShape(QFrame.Shape.StyledPanel)
        scroll.setMinimumWidth(380)
        return scroll

    def _build_board(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)

        people_box = QGroupBox("Attendees")
        people = QVBoxLayout(people_box)
        people.setContentsMargins(6, 8, 6, 6)
        self.attendees = QListWidget()
        self.attendees.setToolTip("Tick who is present; only members present vote")
        self.attendees.itemChanged.connect(self._attendance_changed)
        people.addWidget(self.attendees, 1)
        add_row = QHBoxLayout()
        self.person_picker = QComboBox()
        self.person_picker.setEditable(True)
        self.person_picker.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.person_picker.lineEdit().setPlaceholderText("Add someone by name…")
        self.person_picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.add_person_button = QPushButton("Add")
        self.add_person_button.clicked.connect(self.add_attendee)
        add_row.addWidget(self.person_picker, 1)
        add_row.addWidget(self.add_person_button)
        people.addLayout(add_row)
        layout.addWidget(people_box, 2)

        votes_box = QGroupBox("Votes")
        votes = QVBoxLayout(votes_box)
        votes.setContentsMargins(6, 8, 6, 6)
        self.votes = QTableWidget(0, 2)
        self.votes.setHorizontalHeaderLabels(["Member present", "Vote"])
        self.votes.verticalHeader().hide()
        self.votes.setAlternatingRowColors(True)
        self.votes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.votes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.votes.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 12)
        header = self.votes.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.votes.setColumnWidth(1, self.fontMetrics().horizontalAdvance("Abstain") + 56)
        votes.addWidget(self.votes, 1)
        tally_row = QHBoxLayout()
        self.vote_tally = _quiet()
        tally_row.addWidget(self.vote_tally, 1)
        self.all_approve_button = QPushButton("All approve")
        self.all_approve_button.setToolTip("Set every member present to Approve")
        self.all_approve_button.clicked.connect(lambda: self.set_all_votes("approve"))
        tally_row.addWidget(self.all_approve_button)
        votes.addLayout(tally_row)
        layout.addWidget(votes_box, 3)

        decision_box = QGroupBox("Decision")
        decision = QVBoxLayout(decision_box)
        decision.setContentsMargins(6, 8, 6, 6)
        self.decision_state = QLabel()
        self.decision_state.setWordWrap(True)
        decision.addWidget(self.decision_state)
        self.conditions = QPlainTextEdit()
        self.conditions.setPlaceholderText(
            "Conditions, e.g. Implement only after the database backup is verified"
        )
        self.conditions.setMaximumHeight(80)
        self.conditions.setTabChangesFocus(True)
        decision.addWidget(self.conditions)
        grid = QGridLayout()
        grid.setSpacing(6)
        self.decision_buttons: dict[str, QPushButton] = {}
        for index, (key, text, tip) in enumerate(_BUTTONS):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setMinimumHeight(self.fontMetrics().height() + 16)
            background, foreground = DECISION_COLOURS[key]
            if key in ("approved", "rejected"):
                button.setStyleSheet(
                    f"QPushButton {{ background: {background}; color: {foreground};"
                    "font-weight: bold; border-radius: 4px; padding: 4px 10px; }"
                    "QPushButton:disabled { background: palette(button); color: #9e9e9e; }"
                )
            button.clicked.connect(lambda _checked=False, key=key: self.decide(key))
            self.decision_buttons[key] = button
            grid.addWidget(button, index // 2, index % 2)
        self.approve_button = self.decision_buttons["approved"]
        self.reject_button = self.decision_buttons["rejected"]
        self.defer_button = self.decision_buttons["deferred"]
        self.more_info_button = self.decision_buttons["more_info"]
        decision.addLayout(grid)
        layout.addWidget(decision_box, 0)
        panel.setMinimumWidth(340)
        return panel

    # Loading

    def refresh(self) -> None:
        """Read the meeting again in the background (creating today's if there is none)."""
        self._loads += 1
        load = self._loads
        want_people = not self.people
        meeting_id, now = self.meeting_id, self.clock()

        def read(session: Session, _progress: Progress) -> tuple[MeetingView, list[PersonChoice]]:
            ident = meeting_id
            if ident is None:
                ident = cab.meeting_for_day(session, now)
            view = cab.meeting_view(session, ident)
            return view, cab.people(session) if want_people else self.people

        ops.QueryOp(
            parent=self, db=self.db, op=read, success=lambda r: self._loaded(load, *r), commit=True
        ).failure(self._load_failed).run_in_background()

    def is_loaded(self) -> bool:
        """Whether the latest read has been shown and no write is waiting."""
        return (
            self.view is not None
            and self._shown == self._loads
            and not self._writing
            and not self._writes
        )

    def _load_failed(self, exc: BaseException) -> None:
        self._shown = self._loads
        self.last_error = exc
        if isinstance(exc, WorkflowError):
            self.refuse(str(exc))
        else:
            ops.show_error(self, exc)

    def _loaded(self, load: int, view: MeetingView, people: list[PersonChoice]) -> None:
        self._shown = max(self._shown, load)
        if load != self._loads:
            return
        self.view = view
        self.meeting_id = view.meeting.id
        if people is not self.people:
            self.people = people
            self.person_picker.clear()
            for person in people:
                self.person_picker.addItem(person.name, person.id)
            self.person_picker.setCurrentIndex(-1)
        self._show_header(view)
        self._show_attendees(view)
        self._show_agenda(view)
        self._set_enabled()

    # Showing

    def _show_header(self, view: MeetingView) -> None:
        m = view.meeting
        self.setWindowTitle(f"{m.title} · {m.board} meeting")
        self.title.setText(m.title)
        _clear(self.board_slot)
        board = _chip(
            "ECAB" if m.emergency else "CAB",
            ("#6a1b9a", "#ffffff") if m.emergency else ("#37474f", "#ffffff"),
            "Emergency Change Advisory Board" if m.emergency else "Change Advisory Board",
        )
        self.board_slot.addWidget(board)
        self.board_slot.addWidget(_chip(m.state.capitalize(), ("#e0e0e0", "#212121")))
        parts = [
            f"<b>{format_datetime(m.starts_at)}</b>–{format_datetime(m.ends_at)[11:]}",
            f"Chair <b>{html.escape(m.chair or '—')}</b>",
        ]
        if m.location:
            parts.append(html.escape(m.location))
        parts.append(f"{len(view.present)} present")
        self.facts.setText(" &nbsp;·&nbsp; ".join(parts))
        with_conflicts = sum(1 for i in view.items if i.conflicts)
        tally = f"{view.decided_count} of {len(view.items)} decided"
        if with_conflicts:
            tally += (
                f"  ·  <span style='color:{WARNING_TEXT}'>⚠ {with_conflicts} with conflicts</span>"
            )
        self.tally.setText(tally)

    def _show_attendees(self, view: MeetingView) -> None:
        self._filling = True
        try:
            self.attendees.clear()
            for attendee in view.attendees:
                entry = QListWidgetItem(
                    attendee.name
                    + ("  (chair)" if attendee.person_id == view.meeting.chair_id else "")
                )
                entry.setData(ITEM_ROLE, attendee.person_id)
                entry.setFlags(entry.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                entry.setCheckState(
                    Qt.CheckState.Checked if attendee.present else Qt.CheckState.Unchecked
                )
                self.attendees.addItem(entry)
        finally:
            self._filling = False

    def _agenda_text(self, item: AgendaItemView) -> str:
        when = format_datetime(item.planned_start) or "no window"
        flag = f"  ⚠ {len(item.conflicts)}" if item.conflicts else ""
        return f"{item.position}. {item.number}  ·  {item.risk}{flag}\n{item.short_description}\n{when}"

    def _show_agenda(self, view: MeetingView) -> None:
        wanted = self.current_id
        if self._advance_from is not None:
            wanted = self._next_undecided(view, self._advance_from)
            self._advance_from = None
        self._filling = True
        try:
            self.agenda.clear()
            for item in view.items:
                entry = QListWidgetItem(self._agenda_text(item))
                entry.setData(ITEM_ROLE, item.id)
                entry.setData(VIEW_ROLE, item)
                tip = f"{item.number}: {item.decision_label}"
                if item.conflicts:
                    tip += "\n" + "\n".join(f"⚠ {c.sentence}" for c in item.conflicts)
                entry.setToolTip(tip)
                if item.decided:
                    entry.setForeground(self.palette().placeholderText())
                self.agenda.addItem(entry)
        finally:
            self._filling = False
        ids = [i.id for i in view.items]
        if wanted not in ids:
            wanted = next((i.id for i in view.items if not i.decided), ids[0] if ids else None)
        if wanted is not None:
            self.agenda.setCurrentRow(ids.index(wanted))
        self.show_current()

    @staticmethod
    def _next_undecided(view: MeetingView, after_id: int) -> int | None:
        ids = [i.id for i in view.items]
        if after_id not in ids:
            return None
        start = ids.index(after_id)
        ordered = view.items[start + 1 :] + view.items[: start + 1]
        return next((i.id for i in ordered if not i.decided), after_id)

    def current_item(self) -> AgendaItemView | None:
        if self.view is None or self.current_id is None:
            return None
        return self.view.item(self.current_id)

    def _agenda_moved(self, current: QListWidgetItem | None, _previous: Any = None) -> None:
        if self._filling:
            return
        self.current_id = current.data(ITEM_ROLE) if current is not None else None
        self.show_current()

    def show_current(self) -> None:
        current = self.agenda.currentItem()
        self.current_id = current.data(ITEM_ROLE) if current is not None else None
        item = self.current_item()
        count = len(self.view.items) if self.view else 0
        self.change_panel.show_item(item, self.agenda.currentRow(), count)
        self.conditions.setPlainText(item.conditions if item else "")
        self._show_votes(item)
        self._show_decision(item)
        self._set_enabled()

    def _present(self) -> list[tuple[int, str]]:
        present = []
        for row in range(self.attendees.count()):
            entry = self.attendees.item(row)
            if entry.checkState() == Qt.CheckState.Checked:
                name = entry.text().removesuffix("  (chair)")
                present.append((entry.data(ITEM_ROLE), name))
        return present

    def _show_votes(self, item: AgendaItemView | None) -> None:
        cast = {v.person_id: v.vote for v in item.votes} if item else {}
        # Keep votes being entered for this item when attendance changes.
        if item is not None and self._votes_for == item.id:
            cast = {**cast, **self.current_votes()}
        self._votes_for = item.id if item else None
        present = self._present()
        voters = present + [
            (v.person_id, v.name)
            for v in (item.votes if item else ())
            if v.person_id not in dict(present)
        ]
        self.votes.setRowCount(0)
        for person_id, name in voters:
            row = self.votes.rowCount()
            self.votes.insertRow(row)
            cell = QTableWidgetItem(name)
            cell.setData(ITEM_ROLE, person_id)
            self.votes.setItem(row, 0, cell)
            combo = QComboBox()
            combo.addItem(_NO_VOTE, None)
            for vote in cab.VOTES:
                combo.addItem(cab.VOTE_LABELS[vote], vote)
            combo.setCurrentIndex(max(0, combo.findData(cast.get(person_id))))
            combo.currentIndexChanged.connect(self._update_tally)
            self.votes.setCellWidget(row, 1, combo)
        self._update_tally()

    def vote_combo(self, name: str) -> QComboBox | None:
        """The vote box of a member present (for tests and keyboard users)."""
        for row in range(self.votes.rowCount()):
            if self.votes.item(row, 0).text() == name:
                return self.votes.cellWidget(row, 1)
        return None

    def current_votes(self) -> dict[int, str]:
        votes = {}
        for row in range(self.votes.rowCount()):
            combo = self.votes.cellWidget(row, 1)
            if combo is not None and combo.currentData() is not None:
                votes[self.votes.item(row, 0).data(ITEM_ROLE)] = combo.currentData()
        return votes

    def set_all_votes(self, vote: str) -> None:
        for row in range(self.votes.rowCount()):
            combo = self.votes.cellWidget(row, 1)
            combo.setCurrentIndex(combo.findData(vote))

    def _update_tally(self) -> None:
        counts = dict.fromkeys(cab.VOTES, 0)
        for vote in self.current_votes().values():
            counts[vote] += 1
        if not self.votes.rowCount():
            self.vote_tally.setText("Tick the members present to record their votes.")
        else:
            self.vote_tally.setText(
                " · ".join(f"{cab.VOTE_LABELS[v]} {counts[v]}" for v in cab.VOTES)
            )

    def _show_decision(self, item: AgendaItemView | None) -> None:
        if item is None:
            self.decision_state.setText("")
            return
        if item.decided:
            background, _fg = DECISION_COLOURS[item.decision]
            when = format_datetime(item.decided_at)
            text = f"<b style='color:{background}'>{item.decision_label}</b> at {when}"
            if item.awaiting:
                text += " · the board may still change its decision."
            else:
                text += f" · {item.number} is now {item.state}."
            self.decision_state.setText(text)
        elif not item.awaiting:
            self.decision_state.setText(
                f"{item.number} is {item.state}; it no longer awaits authorisation."
            )
        else:
            self.decision_state.setText("Awaiting the board's decision.")

    def _set_enabled(self) -> None:
        loaded = self.view is not None
        item = self.current_item()
        from app.views.permissions import may

        can_decide = item is not None and item.awaiting and may(self, "run_cab")
        for button in self.decision_buttons.values():
            button.setEnabled(can_decide)
        # Approving schedules the change: authorising it is for change managers alone.
        self.approve_button.setEnabled(can_decide and may(self, "authorise_change"))
        self.approve_button.setToolTip(
            item.blockers_sentence()
            if item is not None and item.blockers
            else "Approve: the change moves to Scheduled"
        )
        self.conditions.setEnabled(can_decide)
        self.votes.setEnabled(can_decide)
        self.all_approve_button.setEnabled(can_decide and self.votes.rowCount() > 0)
        for widget in (
            self.refresh_agenda_button,
            self.minutes_button,
            self.pack_button,
            self.attendees,
            self.person_picker,
            self.add_person_button,
        ):
            widget.setEnabled(loaded)
        row, count = self.agenda.currentRow(), self.agenda.count()
        self.previous_button.setEnabled(row > 0)
        self.next_button.setEnabled(0 <= row < count - 1)

    # Moving

    def step(self, delta: int) -> None:
        """Go to the previous (-1) or next (+1) change on the agenda."""
        count = self.agenda.count()
        if not count:
            return
        row = min(max(self.agenda.currentRow() + delta, 0), count - 1)
        self.agenda.setCurrentRow(row)

    def select_change(self, number: str) -> bool:
        """Make the change with ``number`` the current one."""
        if self.view is None:
            return False
        for row, item in enumerate(self.view.items):
            if item.number == number:
                self.agenda.setCurrentRow(row)
                return True
        return False

    # Writing

    def refuse(self, text: str) -> None:
        """Show why something was refused (what was typed stays)."""
        self.message.setText(text)
        self.message.show()

    def _write(self, label: str, op: Callable[[Session], Any], done: Callable[[Any], None]) -> None:
        """Queue ``op`` (one write at a time, each in its own transaction); then reload."""
        self._writes.append((label, op, done))
        if not self._writing:
            self._next_write()

    def _next_write(self) -> None:
        if not self._writes:
            self._writing = False
            return
        self._writing = True
        label, op, done = self._writes.pop(0)

        def succeeded(result: Any) -> None:
            self.message.hide()
            done(result)
            self._next_write()
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.last_error = exc
            self._writes.clear()
            self._writing = False
            if isinstance(exc, WorkflowError):
                self.refuse(str(exc))
                _warn_box(self, str(exc))
            else:
                ops.show_error(self, exc)
            self.refresh()

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _progress: op(session),
            success=succeeded,
            commit=True,
        ).failure(failed).with_progress(label).run_in_background()

    def _attendance_changed(self, _entry: QListWidgetItem) -> None:
        if self._filling or self.meeting_id is None:
            return
        self.save_attendance()
        self._show_votes(self.current_item())
        self._set_enabled()

    def save_attendance(self) -> None:
        meeting_id, now = self.meeting_id, self.clock()
        present = [person_id for person_id, _name in self._present()]
        self._write(
            "Saving attendance",
            lambda s: cab.record_attendees(s, meeting_id, present, now=now),
            lambda _result: None,
        )

    def add_attendee(self) -> None:
        index = self.person_picker.findText(
            self.person_picker.currentText(), Qt.MatchFlag.MatchFixedString
        )
        if index < 0:
            self.refuse("Choose the person to add from the list.")
            return
        person_id = self.person_picker.itemData(index)
        present = [p for p, _n in self._present()]
        if person_id not in present:
            present.append(person_id)
        meeting_id, now = self.meeting_id, self.clock()
        self.person_picker.setCurrentIndex(-1)
        self._write(
            "Adding an attendee",
            lambda s: cab.record_attendees(s, meeting_id, present, now=now),
            lambda _result: None,
        )

    def decide(self, decision: str) -> None:
        """Record ``decision`` on the current change, with the conditions and votes shown."""
        item = self.current_item()
        if item is None or self.meeting_id is None:
            return
        meeting_id, now = self.meeting_id, self.clock()
        present = [p for p, _n in self._present()]
        votes = self.current_votes()
        conditions = self.conditions.toPlainText()

        def op(session: Session) -> Any:
            cab.record_attendees(session, meeting_id, present, now=now)
            return cab.record_decision(
                session,
                item.id,
                decision,
                conditions=conditions,
                votes=votes,
                expected_version=item.version,
                change_version=item.change_version,
                now=now,
            )

        def done(_result: Any) -> None:
            self._advance_from = item.id
            label = cab.DECISION_LABELS[decision]
            self.statusBar().showMessage(f"{item.number}: {label.lower()}", 8000)

        self._write(f"Recording the decision on {item.number}", op, done)

    def refresh_agenda(self) -> None:
        meeting_id = self.meeting_id

        def done(result: cab.AgendaRefresh) -> None:
            parts = []
            if result.added:
                parts.append(f"added {', '.join(result.added)}")
            if result.removed:
                parts.append(f"removed {', '.join(result.removed)} (no longer in Authorize)")
            text = "Agenda " + "; ".join(parts) if parts else "The agenda is up to date"
            self.statusBar().showMessage(text, 10_000)

        self._write("Refreshing the agenda", lambda s: cab.refresh_agenda(s, meeting_id), done)

    def _export(self, title: str, suffix: str, write: Callable[..., Any]) -> None:
        if self.view is None:
            return
        name = f"{self.view.meeting.title} {suffix}.xlsx".replace("/", "-")
        path, _filter = QFileDialog.getSaveFileName(self, title, name, "Excel workbook (*.xlsx)")
        if not path:
            return
        if not path.lower().endswith(".xlsx"):
            path += ".xlsx"
        meeting_id = self.meeting_id

        def written(_view: MeetingView) -> None:
            self.last_export = path
            self.statusBar().showMessage(
                f"{title.removeprefix('Export ')} written to {path}", 10_000
            )

        def failed(exc: BaseException) -> None:
            self.last_error = exc
            ops.show_error(self, exc)

        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _progress: write(session, meeting_id, path),
            success=written,
        ).failure(failed).with_progress(title).run_in_background()

    def export_minutes(self) -> None:
        self._export("Export minutes", "minutes", cab.export_minutes)

    def export_agenda_pack(self) -> None:
        self._export("Export agenda pack", "agenda pack", cab.export_agenda_pack)

    def open_reviews(self) -> ReviewsDialog:
        dialog = ReviewsDialog(self.db, parent=self, clock=self.clock)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.reviews_dialog = dialog
        dialog.open()
        return dialog


__all__ = ["CabMeetingWindow", "ReviewsDialog", "open_cab_meeting", "status_icon"]
