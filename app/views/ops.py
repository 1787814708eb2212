"""Run database work off the GUI thread, with progress, cancel and one way to show errors.

Modelled on Anki's ``QueryOp``. Every view that needs the database does::

    QueryOp(parent=self, db=db, op=lambda session, progress: today_figures(session),
            success=self.show_figures).with_progress("Loading Today").run_in_background()

``op`` runs in a ``QThreadPool`` worker with its own session and must not touch widgets.
``success`` runs on the GUI thread, and only while ``parent`` is still alive, so a page
closed while its query runs is never called back. Errors go to ``failure`` if given,
else to :func:`show_error`. ``progress.update()`` inside ``op`` raises
:class:`~app.services.progress.Cancelled` once the user cancels; that ends the op quietly.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QToolButton,
    QWidget,
)
from sqlalchemy.orm import Session

from app import APP_NAME
from app.db import Database
from app.db.errors import CONNECTION_LOST, DatabaseError, connection_lost
from app.services.progress import Cancelled, Progress

T = TypeVar("T")

#: Progress updates reach the GUI at most this often (plus the last one).
PROGRESS_INTERVAL_S = 0.05
#: Jobs that end sooner than this never show the progress indicator (no flicker).
INDICATOR_DELAY_MS = 300

_live: set[OpHandle] = set()


def error_box(
    parent: QWidget | None, exc: BaseException, details: str | None = None
) -> QMessageBox:
    """The message box :func:`show_error` shows (separate so tests can inspect it)."""
    if parent is not None and not shiboken6.isValid(parent):
        parent = None
    box = QMessageBox(parent)
    box.setWindowTitle(APP_NAME)
    refused = _refused_right(parent, exc)
    if refused is not None:
        # The database refused a write the role has no right to: say which right.
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(refused)
        box.setInformativeText("Nothing was changed.")
        return box
    if isinstance(exc, DatabaseError):
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(str(exc))
        return box
    if connection_lost(exc):
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(CONNECTION_LOST)
        box.setInformativeText(
            "What you typed is still in the form. Servicedeck reconnects by itself; "
            "try again once the server is back."
        )
        return box
    box.setIcon(QMessageBox.Icon.Critical)
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    box.setText(f"Something went wrong: {first_line or type(exc).__name__}")
    box.setInformativeText(
        "Nothing was changed by the failed action. The details help whoever "
        "looks after Servicedeck."
    )
    box.setDetailedText(details or "".join(traceback.format_exception(exc)))
    return box


def _refused_right(parent: QWidget | None, exc: BaseException) -> str | None:
    """The "which right is missing" sentence when the database refused a write, else None."""
    from app.views.permissions import refused_sentence

    return refused_sentence(parent, exc)


def show_error(parent: QWidget | None, exc: BaseException, details: str | None = None) -> None:
    """Show ``exc`` to the user: database errors plainly, others briefly with details."""
    error_box(parent, exc, details).exec()


class OpHandle(QObject):
    """A running background op: cancel it, or wait for ``finished``. Lives on the GUI thread."""

    #: (done, total, label) as the op reports it; total 0 means unknown.
    progressed = Signal(int, int, str)
    #: Emitted last, once success/failure/cancel handling is over.
    finished = Signal()

    _succeeded = Signal(object)
    _failed = Signal(object, str)
    _cancelled = Signal()
    _reported = Signal(int, int, str)

    def __init__(self, owner: QWidget | None, label: str | None) -> None:
        # Owned by the application object, so the last Python reference may safely be
        # dropped in the worker thread; deleteLater() frees it on the GUI thread.
        super().__init__(QCoreApplication.instance())
        self.label = label or ""
        self.progress = Progress(self._report)
        self.result: Any = None
        self.error: BaseException | None = None
        self.was_cancelled = False
        self._owner = owner
        self._owner_gone = False
        self._done = False
        self._last_report = 0.0
        self.on_success: Callable[[Any], Any] | None = None
        self.on_failure: Callable[[BaseException], Any] | None = None
        self.on_cancel: Callable[[], Any] | None = None
        self._succeeded.connect(self._handle_success)
        self._failed.connect(self._handle_failure)
        self._cancelled.connect(self._handle_cancel)
        self._reported.connect(self.progressed)
        if owner is not None:
            owner.destroyed.connect(self._forget_owner)

    @property
    def running(self) -> bool:
        return not self._done

    def cancel(self) -> None:
        """Ask the op to stop at its next progress update."""
        self.progress.cancel()

    def _report(self, done: int, total: int, label: str) -> None:
        # Called on the worker thread.
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL_S or (total and done >= total):
            self._last_report = now
            self._reported.emit(done, total, label)

    def _owner_alive(self) -> bool:
        if self._owner is None:
            return True
        return not self._owner_gone and shiboken6.isValid(self._owner)

    @Slot()
    def _forget_owner(self) -> None:
        self._owner_gone = True
        self.progress.cancel()

    def _finish(self) -> None:
        self._done = True
        _live.discard(self)
        self.finished.emit()
        self.deleteLater()

    @Slot(object)
    def _handle_success(self, result: Any) -> None:
        self.result = result
        try:
            if self.on_success is not None and self._owner_alive():
                self.on_success(result)
        finally:
            self._finish()

    @Slot(object, str)
    def _handle_failure(self, exc: BaseException, details: str) -> None:
        self.error = exc
        try:
            if not self._owner_alive():
                return
            if self.on_failure is not None:
                self.on_failure(exc)
            else:
                show_error(self._owner, exc, details)
        finally:
            self._finish()

    @Slot()
    def _handle_cancel(self) -> None:
        self.was_cancelled = True
        try:
            if self.on_cancel is not None and self._owner_alive():
                self.on_cancel()
        finally:
            self._finish()


class _Runner(QRunnable):
    """Runs ``work(progress)`` on a pool thread and reports back through the handle's signals."""

    def __init__(self, work: Callable[[Progress], Any], handle: OpHandle) -> None:
        super().__init__()
        self._work = work
        self._handle = handle

    def run(self) -> None:
        handle = self._handle
        try:
            handle.progress.check()
            result = self._work(handle.progress)
        except Cancelled:
            handle._cancelled.emit()
        except Exception as exc:  # every failure is shown; none may kill the worker silently
            handle._failed.emit(exc, traceback.format_exc())
        else:
            handle._succeeded.emit(result)


class BackgroundOp(Generic[T]):
    """Work that needs no database session: ``op(progress) -> T``."""

    def __init__(
        self,
        *,
        parent: QWidget | None,
        op: Callable[[Progress], T],
        success: Callable[[T], Any] | None = None,
    ) -> None:
        self._parent = parent
        self._op = op
        self._success = success
        self._failure: Callable[[BaseException], Any] | None = None
        self._cancelled: Callable[[], Any] | None = None
        self._label: str | None = None

    def failure(self, failure: Callable[[BaseException], Any] | None) -> BackgroundOp[T]:
        """Handle errors yourself instead of :func:`show_error`."""
        self._failure = failure
        return self

    def cancelled(self, cancelled: Callable[[], Any] | None) -> BackgroundOp[T]:
        """Called (on the GUI thread) when the op stopped because the user cancelled it."""
        self._cancelled = cancelled
        return self

    def with_progress(self, label: str) -> BackgroundOp[T]:
        """Show the op in the window's progress indicator, with a cancel button."""
        self._label = label
        return self

    def run_in_background(self) -> OpHandle:
        handle = OpHandle(self._parent, self._label)
        handle.on_success = self._success
        handle.on_failure = self._failure
        handle.on_cancel = self._cancelled
        _live.add(handle)
        if self._label is not None and self._parent is not None:
            indicator = self._parent.window().findChild(ProgressIndicator)
            if indicator is not None:
                indicator.track(handle)
        QThreadPool.globalInstance().start(_Runner(self._op, handle))
        return handle


class QueryOp(BackgroundOp[T]):
    """Database work: ``op(session, progress) -> T`` with a session of its own.

    With ``commit=True`` the session is a transaction, committed when ``op`` returns and
    rolled back when it raises (or is cancelled); otherwise nothing is committed.
    """

    def __init__(
        self,
        *,
        parent: QWidget | None,
        db: Database,
        op: Callable[[Session, Progress], T],
        success: Callable[[T], Any] | None = None,
        commit: bool = False,
    ) -> None:
        def work(progress: Progress) -> T:
            with db.transaction() if commit else db.session() as session:
                return op(session, progress)

        super().__init__(parent=parent, op=work, success=success)


def running() -> int:
    """How many ops have not finished yet."""
    return len(_live)


def shutdown(timeout_ms: int = 10_000) -> bool:
    """Cancel every op and wait for the workers; True if they all stopped in time."""
    for handle in list(_live):
        handle.cancel()
    return QThreadPool.globalInstance().waitForDone(timeout_ms)


class ProgressIndicator(QWidget):
    """A small status-bar indicator for long ops: label, bar and a cancel button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("progressIndicator")
        self._handles: list[OpHandle] = []
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.clicked.connect(self.cancel_current)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.hide()

    @property
    def current(self) -> OpHandle | None:
        return self._handles[-1] if self._handles else None

    def track(self, handle: OpHandle) -> None:
        self._handles.append(handle)
        handle.progressed.connect(self._progressed)
        handle.finished.connect(self._finished)
        QTimer.singleShot(INDICATOR_DELAY_MS, self, self._refresh)

    def cancel_current(self) -> None:
        if self.current is not None:
            self.current.cancel()
            self.label.setText(f"{self.current.label}: cancelling…")

    def _refresh(self) -> None:
        handle = self.current
        if handle is None:
            self.hide()
            return
        progress = handle.progress
        self.label.setText(f"{handle.label}: {progress.label}" if progress.label else handle.label)
        self.bar.setRange(0, progress.total if progress.total > 0 else 0)
        if progress.total > 0:
            self.bar.setValue(progress.done)
        self.show()

    @Slot(int, int, str)
    def _progressed(self, _done: int, _total: int, _label: str) -> None:
        if self.isVisible():
            self._refresh()

    @Slot()
    def _finished(self) -> None:
        self._handles = [h for h in self._handles if shiboken6.isValid(h) and h.running]
        if self._handles:
            self._refresh()
        else:
            self.hide()
