"""When a save meets a newer version: what you opened, what is saved now, and your edits.

When a save is refused because someone else saved first, fields only they changed are
kept and the save is repeated on their version without asking (see
:class:`app.views.record_form.RecordForm`); fields both of you changed are shown in a
:class:`ConflictDialog` where the user keeps theirs, keeps mine, or picks per field and
merges. Nothing is overwritten without the user choosing it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

THEIRS = "theirs"
MINE = "mine"
MERGE = "merge"
CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class ConflictRow:
    """One field both sides changed, as the dialog shows it."""

    key: str
    label: str
    before: str  # the value when the form was opened
    theirs: str  # the value saved now
    mine: str  # the value in the form


@dataclass(slots=True)
class Resolution:
    """The user's answer: ``choice`` is theirs, mine, merge or cancel; for a merge, ``picks``
    says per field key whose value to keep."""

    choice: str
    picks: dict[str, str] = field(default_factory=dict)

    def keeps_mine(self, key: str) -> bool:
        if self.choice == MINE:
            return True
        if self.choice == MERGE:
            return self.picks.get(key) == MINE
        return False


class ConflictDialog(QDialog):
    """Someone saved first: per field, the value you opened, theirs and yours.

    *Keep theirs* shows the saved record (edits to other fields stay in the form),
    *Keep mine* saves yours over theirs, *Merge* saves the side picked on each row.
    """

    def __init__(
        self, message: str, title: str, what: str, rows: list[ConflictRow], parent=None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("conflictDialog")
        self.rows = rows
        self.resolution = Resolution(CANCEL)
        intro = QLabel(
            f"<p>{html.escape(message)}</p><p>You and they both changed these fields of the "
            f"{html.escape(what)}. Keep theirs, keep yours, or pick on each row and merge. "
            "Fields only one of you changed are kept either way.</p>"
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)

        self.table = QTableWidget(len(rows), 5)
        self.table.setObjectName("conflictTable")
        self.table.setHorizontalHeaderLabels(
            ["Field", "When you opened it", "Saved now (theirs)", "Yours", "Keep"]
        )
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setAccessibleName("Fields changed by both")
        self._groups: dict[str, QButtonGroup] = {}
        for r, row in enumerate(rows):
            for c, text in enumerate((row.label, row.before, row.theirs, row.mine)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
            self.table.setCellWidget(r, 4, self._picker(row))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.ResizeToContents)

        buttons = QDialogButtonBox()
        self.theirs_button = buttons.addButton(
            "Keep &theirs", QDialogButtonBox.ButtonRole.RejectRole
        )
        self.theirs_button.setToolTip(
            "Take the saved values of these fields; your edits to other fields are kept"
        )
        self.mine_button = buttons.addButton("Keep &mine", QDialogButtonBox.ButtonRole.AcceptRole)
        self.mine_button.setToolTip("Save your values of these fields over theirs")
        self.merge_button = buttons.addButton("Me&rge", QDialogButtonBox.ButtonRole.AcceptRole)
        self.merge_button.setToolTip("Save the value picked under Keep on each row")
        self.merge_button.setDefault(True)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setToolTip("Save nothing; your edits stay in the form")
        self.theirs_button.clicked.connect(lambda: self._choose(THEIRS))
        self.mine_button.clicked.connect(lambda: self._choose(MINE))
        self.merge_button.clicked.connect(lambda: self._choose(MERGE))
        cancel.clicked.connect(lambda: self._choose(CANCEL))

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(860, 170 + 34 * max(len(rows), 2))

    def _picker(self, row: ConflictRow) -> QWidget:
        box = QWidget()
        line = QHBoxLayout(box)
        line.setContentsMargins(6, 0, 6, 0)
        group = QButtonGroup(box)
        for text, value in (("Theirs", THEIRS), ("Mine", MINE)):
            button = QRadioButton(text)
            button.setObjectName(f"pick_{row.key}_{value}")
            button.setAccessibleName(f"Keep {text.lower()} for {row.label}")
            button.setProperty("pick", value)
            group.addButton(button)
            line.addWidget(button)
            if value == MINE:
                button.setChecked(True)
        self._groups[row.key] = group
        return box

    def pick(self, key: str, side: str) -> None:
        """Choose ``side`` (theirs or mine) on the row of ``key``."""
        for button in self._groups[key].buttons():
            if button.property("pick") == side:
                button.setChecked(True)

    def picks(self) -> dict[str, str]:
        return {
            key: str(group.checkedButton().property("pick")) for key, group in self._groups.items()
        }

    def _choose(self, choice: str) -> None:
        self.resolution = Resolution(choice, self.picks() if choice == MERGE else {})
        self.done(QDialog.DialogCode.Rejected.value if choice == CANCEL else 1)


def ask_conflict(
    parent: QWidget, message: str, title: str, what: str, rows: list[ConflictRow]
) -> Resolution:
    """The user's :class:`Resolution` of a conflict (a module function so tests can answer)."""
    dialog = ConflictDialog(message, title, what, rows, parent)
    dialog.exec()
    return dialog.resolution


@dataclass(slots=True)
class Settled:
    """What :func:`settle` found: the fields both sides changed and the user's answer
    (``None`` when nothing clashed and nobody was asked)."""

    clashing: list[str]
    answer: Resolution | None

    def kept(self, mine: dict[str, Any]) -> dict[str, Any]:
        """The edits of ``mine`` to save: those nobody else changed, and the clashing ones
        the user chose to keep."""
        answer = self.answer
        return {
            k: v
            for k, v in mine.items()
            if k not in self.clashing or (answer is not None and answer.keeps_mine(k))
        }


def settle(
    parent: QWidget,
    exc: BaseException,
    what: str,
    opened: dict[str, Any],
    theirs: dict[str, Any],
    mine: dict[str, Any],
    labels: Mapping[str, str],
    shown: Callable[[str, Any], str],
    *,
    ask_anyway: bool = False,
) -> Settled:
    """Someone saved first: find the fields both sides changed (since ``opened``) and ask
    about them in the :class:`ConflictDialog`. Nothing clashing, nobody is asked, unless
    ``ask_anyway`` (a save that met a second conflict), when every edit is shown."""
    clashing = [key for key in mine if theirs.get(key) != opened.get(key)]
    if not clashing and not ask_anyway:
        return Settled([], None)
    rows = [
        ConflictRow(
            key,
            labels.get(key, key),
            shown(key, opened.get(key)),
            shown(key, theirs.get(key)),
            shown(key, mine.get(key)),
        )
        for key in (clashing or list(mine))
    ]
    number = getattr(exc, "number", None)
    title = (
        f"{number} was changed by someone else"
        if number
        else (f"The {what} was changed by someone else")
    )
    return Settled(clashing, ask_conflict(parent, str(exc), title, what, rows))
