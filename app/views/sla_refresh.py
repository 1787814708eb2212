"""Keeps the stored SLA clocks current: every running clock is recomputed now and then.

Stages and due times are read straight from the clocks by Today, the queue and the form,
so a window that stays open all day refreshes them in the background: first shortly
after start-up (not to compete with the first page's queries), then every few minutes.
A recompute that meets a clock saved meanwhile by someone else is rolled back and simply
tried again at the next tick.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMainWindow
from sqlalchemy.orm.exc import StaleDataError

from app.db import Database
from app.services.sla_engine import recompute_open_clocks
from app.views import ops

FIRST_DELAY_MS = 30_000
INTERVAL_MS = 5 * 60_000


class SlaRefresher(QObject):
    """Recomputes the running SLA clocks of ``db`` on a timer, in the background."""

    #: How many clocks the last recompute brought up to date.
    refreshed = Signal(int)

    def __init__(self, window: QMainWindow, db: Database, clock: Callable[[], dt.datetime]) -> None:
        super().__init__(window)
        self.window = window
        self.db = db
        self.clock = clock
        self.busy = False
        self._reported = False
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.run_now)

    def start(self, first_delay_ms: int = FIRST_DELAY_MS) -> None:
        QTimer.singleShot(first_delay_ms, self, self.run_now)
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def run_now(self) -> None:
        """Recompute now, unless a recompute is still running."""
        if self.busy or not self.allowed():
            return
        self.busy = True
        now = self.clock()
        ops.QueryOp(
            parent=self.window,
            db=self.db,
            op=lambda session, progress: recompute_open_clocks(session, now, progress),
            success=self._done,
            commit=True,
        ).failure(self._failed).cancelled(self._idle).run_in_background()

    def allowed(self) -> bool:
        """Whether the signed-in role may write SLA clocks (SQLite: always; else once known)."""
        permissions = getattr(self.window, "permissions", None)
        return permissions is None or permissions.allows("edit_incident")

    def _idle(self) -> None:
        self.busy = False

    def _done(self, count: int) -> None:
        self.busy = False
        self._reported = False
        self.refreshed.emit(count)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        if isinstance(exc, StaleDataError):
            return  # someone saved a clock meanwhile; the next tick tries again
        if not self._reported:  # say it once, not every five minutes
            self._reported = True
            self.window.statusBar().showMessage(
                f"SLA clocks could not be brought up to date: {str(exc).splitlines()[0]}",
                15_000,
            )
