"""One :class:`~app.services.kpi.KpiColumns` per open database, shared by every page.

Loading the columns of a million incidents takes a couple of seconds; after that a
refresh folds in what changed since (a fraction of a second). Pages ask for the columns
from background jobs; the cache hands each caller a consistent snapshot, and a refresh
builds a new snapshot instead of changing one somebody may be reading.
"""

from __future__ import annotations

import copy
import ctypes
import sys
import threading
import time

from sqlalchemy.orm import Session

from app.db import Database
from app.services import kpi_store
from app.services.kpi import KpiColumns

#: Columns older than this (seconds) are refreshed before use.
MAX_AGE = 60.0


class KpiCache:
    """The KPI columns of one database, loaded on first use and refreshed when stale."""

    def __init__(self, max_age: float = MAX_AGE, *, persist: bool = True) -> None:
        self.max_age = max_age
        self.persist = persist
        self.saver: threading.Thread | None = None
        self._lock = threading.Lock()
        self._columns: KpiColumns | None = None
        self._loaded_at = 0.0

    def peek(self) -> KpiColumns | None:
        """The snapshot held now, fresh or not (None before the first load)."""
        return self._columns

    def is_fresh(self) -> bool:
        return self._columns is not None and time.monotonic() - self._loaded_at <= self.max_age

    def columns(self, session: Session, *, force: bool = False) -> KpiColumns:
        """A snapshot no older than ``max_age`` (``force``: refreshed now).

        The first snapshot comes from the copy kept on disk when it still describes the
        database (see :mod:`app.services.kpi_store`), else from a full read, which is then
        kept on disk in the background for the next session.
        """
        with self._lock:
            if self._columns is None:
                restored = kpi_store.restore(session) if self.persist else None
                if restored is None:
                    restored = KpiColumns.load(session)
                    self._save_later(session, restored)
                self._columns = restored
            elif force or time.monotonic() - self._loaded_at > self.max_age:
                fresh = copy.copy(self._columns)
                fresh.incidents = dict(self._columns.incidents)
                fresh.refresh(session)
                self._columns = fresh
            else:
                return self._columns
            self._loaded_at = time.monotonic()
            _give_back_memory()
            return self._columns

    def _save_later(self, session: Session, cols: KpiColumns) -> None:
        """Keep a full read on disk, on a thread of its own (it takes a fraction of a second)."""
        if not self.persist:
            return
        path = kpi_store.store_path(session)
        owner = kpi_store.identity(session)
        self.saver = threading.Thread(
            target=kpi_store.save, args=(cols, path, owner), name="kpi-store", daemon=True
        )
        self.saver.start()

    def snapshot(self, session: Session) -> KpiColumns:
        """The snapshot held now, fresh or not; loaded first when there is none.

        For interactive work: a filter change never waits for a refresh (call
        :meth:`columns` in the background when :meth:`is_fresh` says so).
        """
        with self._lock:
            if self._columns is not None:
                return self._columns
        return self.columns(session)

    def clear(self) -> None:
        with self._lock:
            self._columns = None


def _give_back_memory() -> None:
    """Return the load's freed buffers to the system (glibc keeps them otherwise)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def kpi_cache(db: Database) -> KpiCache:
    """The cache of ``db`` (made on first use)."""
    cache = db.__dict__.get("_kpi_cache")
    if cache is None:
        cache = db.__dict__.setdefault("_kpi_cache", KpiCache())
    return cache
