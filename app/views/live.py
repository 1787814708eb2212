"""Live updates for the window: PostgreSQL notifications as Qt signals, and the lost-connection banner.

:class:`LiveBridge` runs a :class:`app.db.notify.ChangeListener` and turns what it hears
into signals delivered in the GUI thread:

* ``records_changed(table, ids)``: records of ``table`` changed; ``ids`` are their
  primary keys, or an empty list for "any of them" (too many to list). After a
  reconnection it sends ``records_changed("*", [])``: anything may have changed.
* ``connection_lost()`` / ``connection_back()``: the listener's connection to the server
  went away / came back. ``state_changed(bool)`` also reports the first connection.

Notifications that arrive close together are merged (per table) and delivered after
:data:`COALESCE_MS`, so a burst of saves costs each page one re-read.

Pages opt in by having ``live_records_changed(table, ids)``; :meth:`LiveBridge.attach`
connects it and calls ``set_live_push(True)`` when the page has one (pages then stop
polling). On SQLite there is no bridge: pages keep polling ``PRAGMA data_version``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from app.db import Database, notify
from app.views.theme import DANGER_TEXT

#: Notifications arriving within this many milliseconds are delivered together.
COALESCE_MS = 50
#: ``records_changed`` table name meaning "anything may have changed".
ANY_TABLE = "*"
BANNER_TEXT = "Connection to the server lost — reconnecting… your edits are kept"


class LiveBridge(QObject):
    """Listen for other consoles' writes to a PostgreSQL database; say so with signals."""

    records_changed = Signal(str, list)
    connection_lost = Signal()
    connection_back = Signal()
    #: True when the listener is connected (the first time too), False when it is not.
    state_changed = Signal(bool)

    # Delivered from the listener's thread, received in the GUI thread.
    _incoming = Signal(object)
    _state = Signal(bool)

    def __init__(self, db: Database, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.connected: bool | None = None
        self._pending: dict[str, set[Any] | None] = {}
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(COALESCE_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._incoming.connect(self._on_change, Qt.ConnectionType.QueuedConnection)
        self._state.connect(self._on_state, Qt.ConnectionType.QueuedConnection)
        notify.install(db.sessions)
        self.listener = notify.ChangeListener(db.url, self._incoming.emit, self._state.emit)
        listener = self.listener
        self.destroyed.connect(lambda *_: listener.stop(0))

    @classmethod
    def for_database(cls, db: Database, parent: QObject | None = None) -> LiveBridge | None:
        """A bridge for a PostgreSQL database; None for SQLite (which keeps polling)."""
        if db.backend != "postgresql":
            return None
        return cls(db, parent)

    def start(self) -> LiveBridge:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop()

    def attach(self, page: QObject) -> None:
        """Send ``records_changed`` to ``page.live_records_changed`` if it has one."""
        handler = getattr(page, "live_records_changed", None)
        if handler is None:
            return
        self.records_changed.connect(handler)
        setter = getattr(page, "set_live_push", None)
        if setter is not None:
            setter(True)

    # From the listener

    @Slot(object)
    def _on_change(self, change: notify.Change) -> None:
        if change.ids is None:
            self._pending[change.table] = None
        else:
            ids = self._pending.setdefault(change.table, set())
            if ids is not None:
                ids.update(change.ids)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    @Slot()
    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for table, ids in pending.items():
            self.records_changed.emit(table, [] if ids is None else sorted(ids, key=str))

    @Slot(bool)
    def _on_state(self, connected: bool) -> None:
        previous, self.connected = self.connected, connected
        if previous == connected:
            return
        self.state_changed.emit(connected)
        if not connected:
            self.connection_lost.emit()
        elif previous is False:
            self.connection_back.emit()
            # Notifications sent while we were away are lost: re-read everything.
            self.records_changed.emit(ANY_TABLE, [])


class ConnectionBanner(QLabel):
    """The strip across the top of the window while the server cannot be reached."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(BANNER_TEXT, parent)
        self.setObjectName("connectionBanner")
        self.setAccessibleName("Connection status")
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setStyleSheet(
            f"QLabel#connectionBanner {{ background: {DANGER_TEXT}; color: white;"
            " padding: 6px 12px; font-weight: bold; }"
        )
        self.hide()

    @Slot()
    def connection_lost(self) -> None:
        self.show()

    @Slot()
    def connection_back(self) -> None:
        self.hide()
