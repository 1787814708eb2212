"""Notice that another connection wrote to the database, cheaply enough to ask every 2 s.

SQLite: ``PRAGMA data_version`` changes when another connection commits; the number is
per connection, so the watcher keeps one connection of its own for its whole life.
PostgreSQL: the newest ``incident.updated_at`` and the highest id (both index lookups);
LISTEN/NOTIFY can replace this later.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from app.models import Incident


class ChangeWatcher:
    """Ask :meth:`changed` now and then; True means someone else wrote since last time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._token: Any = None

    def _read(self) -> Any:
        if self.engine.dialect.name == "sqlite":
            if self._conn is None:
                self._conn = self.engine.connect()
            value = self._conn.exec_driver_sql("PRAGMA data_version").scalar()
            # End the implicit transaction, or the connection would keep an old snapshot.
            self._conn.rollback()
            return value
        with self.engine.connect() as conn:
            return tuple(
                conn.execute(select(func.max(Incident.updated_at), func.max(Incident.id))).one()
            )

    def changed(self) -> bool:
        """Whether the database changed since the previous call (False the first time)."""
        with self._lock:
            token = self._read()
            first = self._token is None
            changed = not first and token != self._token
            self._token = token
            return changed

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
