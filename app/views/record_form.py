"""What the incident and change forms share: background saves, busy state, closing with
unsaved edits, and resolving a save that met a newer version.

A form mixes in :class:`RecordForm` after ``QWidget`` and provides the attributes listed on
the class. Everything a form does to the database goes through :meth:`RecordForm._run`: the
op runs in the background, the form is busy meanwhile, a result is shown by the form's
``_arrived``, and a failure is shown as a problem above the fields (workflow refusals), the
conflict dialog (someone saved first), or an error box.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import shiboken6
from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget
from sqlalchemy.orm import Session

from app import APP_NAME
from app.db import Database
from app.services.incidents import WorkflowError
from app.views import conflict_dialog, ops


class RecordForm:
    """A form on one versioned record (an incident, a change).

    The form provides:

    - ``db``, ``detail`` (the record shown, with ``id``, ``number``, ``version`` and
      ``state``; None while new), ``base`` (the field values when opened), ``busy``,
      ``_close_after_save`` and ``_reapply`` (edits to put back after a reload);
    - the widgets ``status_label`` and ``error_label`` and the signals ``saved`` and
      ``close_requested``;
    - ``_fill_choices(lookups)``, ``show_detail(detail)``, ``_update_buttons()``,
      ``values()``, ``is_dirty()``, ``save()``, ``reload()``,
      ``_submit(changes, move, version, merged)`` and ``_shown(key, value)``;
    - the class attributes below.
    """

    conflict_error: type[Exception]
    conflict_labels: Mapping[str, str]
    record_word: str  # "incident", "change"
    #: The attribute that holds the record's id once it is saved ("incident_id").
    id_attribute: str

    db: Database
    detail: Any
    base: dict[str, Any]
    busy: bool
    _close_after_save: bool
    _reapply: dict[str, Any]
    status_label: QLabel
    error_label: QLabel
    saved: SignalInstance
    close_requested: SignalInstance
    unreadable: bool
    _fill_choices: Callable[[Any], None]
    show_detail: Callable[[Any], None]
    _update_buttons: Callable[[], None]
    values: Callable[[], dict[str, Any]]
    is_dirty: Callable[[], bool]
    save: Callable[[], None]
    reload: Callable[[], None]
    _submit: Callable[..., None]
    _shown: Callable[[str, Any], str]

    # Running ops

    def _load_failed(self, _exc: BaseException) -> bool:
        # A form that could not read its record must not save a new one in its place.
        self.unreadable = getattr(self, self.id_attribute) is not None and self.detail is None
        self._reapply = {}
        self._update_buttons()
        return False

    def _arrived(self, result: tuple[Any, Any]) -> None:
        """Show what a load or save read: ``(detail, lookups)``, lookups None if unchanged."""
        detail, found = result
        if found is not None:
            self._fill_choices(found)
        self.show_detail(detail)

    def _run(
        self,
        label: str,
        op: Callable[[Session, Any], tuple[Any, Any]],
        on_error: Callable[[BaseException], bool] | None,
        *,
        commit: bool = True,
    ) -> None:
        """Run ``op(session, progress) -> (detail, lookups)`` in the background (a
        transaction when ``commit``), then show what it returned."""
        self._set_busy(True)
        self.status_label.setText(f"{label}…")
        writes = commit

        def done(result: tuple[Any, Any]) -> None:
            self._arrived(result)
            detail = result[0]
            if writes and detail is not None:
                setattr(self, self.id_attribute, detail.id)
                self.saved.emit(detail.id)
                if self._close_after_save:
                    self.close_requested.emit()

        ops.QueryOp(
            parent=self,  # type: ignore[arg-type]
            db=self.db,
            op=op,
            success=self._finish(done),
            commit=commit,
        ).failure(self._failed(on_error)).run_in_background()

    def _finish(self, then: Callable[[Any], None]) -> Callable[[Any], None]:
        def finish(result: Any) -> None:
            self._set_busy(False)
            then(result)

        return finish

    def _failed(
        self, on_error: Callable[[BaseException], bool] | None
    ) -> Callable[[BaseException], None]:
        def failed(exc: BaseException) -> None:
            self._set_busy(False)
            self._close_after_save = False
            self.status_label.setText(
                f"Version {self.detail.version}" if self.detail else "Not saved yet"
            )
            if on_error is not None and on_error(exc):
                return
            if isinstance(exc, WorkflowError):
                self.show_problem(str(exc))
            else:
                ops.show_error(self, exc)  # type: ignore[arg-type]

        return failed

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        if shiboken6.isValid(self):
            self._update_buttons()

    def show_problem(self, text: str) -> None:
        """Show a validation message above the fields."""
        self.error_label.setText(text)
        self.error_label.show()

    # Closing

    def maybe_close(self) -> bool:
        """True if the form may close now; asks first when there are unsaved edits."""
        if not self.is_dirty() and self.detail is not None:
            return True
        if self.detail is None and not self.values()["short_description"]:
            return True
        number = self.detail.number if self.detail else f"the new {self.record_word}"
        answer = ask_unsaved(self, number)  # type: ignore[arg-type]
        if answer == "discard":
            self.base = self.values()
            return True
        if answer == "save":
            self._close_after_save = True
            self.save()
        return False

    # Conflicts

    def _conflict_mine(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The edits a conflict compares (forms narrow this to their editable fields)."""
        return dict(changes)

    def _save_failed(
        self,
        exc: BaseException,
        changes: dict[str, Any],
        move: tuple[str, dict[str, Any]] | None,
        merged: bool,
    ) -> bool:
        """Resolve a version conflict; True when the error was handled here."""
        if not isinstance(exc, self.conflict_error):
            return False
        theirs: dict[str, Any] = exc.theirs  # type: ignore[attr-defined]
        their_version: int = exc.their_version  # type: ignore[attr-defined]
        mine = self._conflict_mine(changes)
        if move is not None:
            mine["state"] = move[0]
        base = {**self.base, "state": self.detail.state if self.detail else None}
        found = conflict_dialog.settle(
            self,  # type: ignore[arg-type]
            exc, self.record_word, base, theirs, mine, self.conflict_labels, self._shown,
            ask_anyway=merged,
        )  # fmt: skip
        if found.answer is None:
            # They changed other fields only: save ours on top of theirs without asking.
            self._submit(changes, move, their_version, merged=True)
            return True
        if found.answer.choice == conflict_dialog.CANCEL:
            return True
        clashing = found.clashing
        keep = found.kept(changes)
        if move is not None and "state" in clashing and not found.answer.keeps_mine("state"):
            move = None
        if found.answer.choice == conflict_dialog.THEIRS or (not keep and move is None):
            self._reapply = {k: v for k, v in changes.items() if k not in clashing}
            self.reload()
            return True
        self._submit(keep, move, their_version, merged=True)
        return True


def ask_unsaved(parent: QWidget, number: str) -> str:
    """``"save"``, ``"discard"`` or ``"cancel"`` when closing with unsaved edits."""
    box = QMessageBox(parent)
    box.setWindowTitle(APP_NAME)
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(f"Save your changes to {number}?")
    box.setStandardButtons(
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel
    )
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save.value:
        return "save"
    if answer == QMessageBox.StandardButton.Discard.value:
        return "discard"
    return "cancel"
