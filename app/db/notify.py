"""Tell other consoles which records changed: PostgreSQL NOTIFY on commit, LISTEN in a thread.

Sending. :func:`install` hooks a session factory. After each flush the hook notes the
table and primary key of every object the flush inserted, updated or deleted (and, for
DML statements run through the session, such as the SLA engine's executemany UPDATEs,
just the table). Just before the transaction commits it sends one ``pg_notify`` per
table, all in one round trip, on the same connection. PostgreSQL delivers notifications
only when (and if) that transaction commits, so a rolled-back save tells nobody
anything, and listeners see a change only once it is visible to their queries.

The payload is compact JSON, ``{"t": "incident", "ids": [4, 9], "o": "3f2a9c1e"}``:
table, primary keys (a list for composite keys) and the sending process. When the ids
would not fit in :data:`MAX_PAYLOAD` bytes (PostgreSQL's limit is 8000), ``ids`` is
``null``: "something in this table changed".

Writes that bypass sessions made by an installed factory (Core on ``engine.begin()``,
psql, another program) are not announced; consoles re-read everything after a reconnect.

Receiving. :class:`ChangeListener` is a daemon thread with its own psycopg connection in
autocommit mode, doing ``LISTEN`` and waiting for notifications. If the connection
breaks it says so, reconnects with capped exponential backoff and says so again;
TCP keepalives and an idle ``SELECT 1`` notice a server that vanished silently.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

log = logging.getLogger(__name__)

#: The channel every console listens on.
CHANNEL = "servicedeck_changes"
#: Payloads stay below this many bytes (PostgreSQL refuses 8000 and more).
MAX_PAYLOAD = 7900
#: Tells this process's notifications from other consoles'.
ORIGIN = uuid.uuid4().hex[:8]
#: Tables whose changes are bookkeeping nobody needs to hear about.
SKIPPED_TABLES = frozenset({"audit_log", "alembic_version"})

_PENDING = "servicedeck_notify_pending"
_installed: weakref.WeakSet[sessionmaker[Any]] = weakref.WeakSet()


# Sending


def _is_postgresql(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql"


def _pending(session: Session) -> dict[str, set[Any] | None]:
    return session.info.setdefault(_PENDING, {})


def _key(obj: Any) -> Any:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return key[0] if len(key) == 1 else list(key)


def _mark(pending: dict[str, set[Any] | None], table: str, key: Any = None) -> None:
    if table in SKIPPED_TABLES:
        return
    if key is None:
        pending[table] = None
        return
    ids = pending.setdefault(table, set())
    if ids is not None:
        ids.add(tuple(key) if isinstance(key, list) else key)


def _after_flush(session: Session, _ctx: Any) -> None:
    if not _is_postgresql(session):
        return
    pending = _pending(session)
    for obj in session.new:
        _mark(pending, obj.__table__.name, _key(obj))
    for obj in session.deleted:
        _mark(pending, obj.__table__.name, _key(obj))
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            _mark(pending, obj.__table__.name, _key(obj))


def mark_changed(session: Session, *tables: str) -> None:
    """Announce ``tables`` at this session's commit, for rows written past the ORM (bulk
    writes on the driver's connection, which the session's hooks cannot see)."""
    if not _is_postgresql(session):
        return
    pending = _pending(session)
    for table in tables:
        _mark(pending, table)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if not _is_postgresql(state.session):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name:
        _mark(_pending(state.session), name)


def payloads(changes: dict[str, set[Any] | None], origin: str = ORIGIN) -> list[str]:
    """One JSON payload per table, each under :data:`MAX_PAYLOAD` bytes."""
    out = []
    for table, ids in sorted(changes.items()):
        listed = None if ids is None else sorted(ids, key=lambda k: (str(type(k)), k))
        body = json.dumps({"t": table, "ids": listed, "o": origin}, separators=(",", ":"))
        if len(body.encode()) > MAX_PAYLOAD:
            body = json.dumps({"t": table, "ids": None, "o": origin}, separators=(",", ":"))
        out.append(body)
    return out


def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING) is None and not (session.new or session.dirty or session.deleted):
        return
    if not _is_postgresql(session):
        return
    # Flush now so this commit's own final flush adds nothing unannounced.
    session.flush()
    changes = session.info.pop(_PENDING, None)
    if not changes:
        return
    session.connection().execute(
        text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
        {"channel": CHANNEL, "payloads": payloads(changes)},
    )


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def install(factory: sessionmaker[Any]) -> None:
    """Make every session from ``factory`` announce its commits (PostgreSQL only; idempotent)."""
    if factory in _installed:
        return
    _installed.add(factory)
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "do_orm_execute", _do_orm_execute)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_commit", _forget)
    event.listen(factory, "after_rollback", _forget)


# Receiving


@dataclass(frozen=True)
class Change:
    """Records of ``table`` changed: these ``ids``, or any of them when ``ids`` is None."""

    table: str
    ids: tuple[Any, ...] | None
    origin: str = ""

    @property
    def own(self) -> bool:
        """Whether this process made the change."""
        return self.origin == ORIGIN


def parse(payload: str) -> Change | None:
    """The change a notification describes, or None for a payload that is not ours."""
    try:
        data = json.loads(payload)
        table = str(data["t"])
    except (ValueError, KeyError, TypeError):
        return None
    ids = data.get("ids")
    if ids is not None:
        ids = tuple(tuple(k) if isinstance(k, list) else k for k in ids)
    return Change(table, ids, str(data.get("o", "")))


def conninfo(url: URL | str) -> str:
    """A libpq connection string (URI) for a SQLAlchemy URL."""
    if isinstance(url, str):
        from sqlalchemy.engine import make_url

        url = make_url(url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    """LISTEN on :data:`CHANNEL` in a daemon thread; report changes and connection state.

    ``on_change(change)`` is called for each notification and ``on_state(connected)``
    when the connection comes up (the first time too) or goes down. Both run in the
    listener's thread.
    """

    #: Seconds between reconnection attempts: doubles from the first to the last.
    BACKOFF = (0.25, 5.0)
    #: Ask the server ``SELECT 1`` after this many quiet seconds.
    IDLE_CHECK = 5.0
    #: How long one wait for notifications lasts (and so how fast :meth:`stop` is).
    WAIT = 0.5

    def __init__(
        self,
        url: URL | str,
        on_change: Callable[[Change], None],
        on_state: Callable[[bool], None] | None = None,
        *,
        channel: str = CHANNEL,
    ) -> None:
        self.conninfo = conninfo(url)
        self.on_change = on_change
        self.on_state = on_state
        self.channel = channel
        self.connected = False
        self.reconnects = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    def start(self) -> ChangeListener:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="servicedeck-listen", daemon=True
            )
            self._thread.start()
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Wait until LISTEN is in place (for tests and start-up)."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # The thread

    def _state(self, connected: bool) -> None:
        if connected == self.connected and connected:
            return
        self.connected = connected
        if connected:
            self._ready.set()
        else:
            self._ready.clear()
        if self.on_state is not None:
            try:
                self.on_state(connected)
            except Exception:  # a closed window must not kill the thread
                log.exception("live state callback failed")

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name="servicedeck-listen",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        )
        conn.execute(f'LISTEN "{self.channel}"')
        return conn

    def _run(self) -> None:
        delay = self.BACKOFF[0]
        first = True
        while not self._stop.is_set():
            try:
                self._conn = self._connect()
            except Exception as exc:
                if first or self.connected:
                    log.info("live updates: cannot connect: %s", exc)
                    self._state(False)
                    first = False
                self._stop.wait(delay)
                delay = min(delay * 2, self.BACKOFF[1])
                continue
            if not first:
                self.reconnects += 1
            first = False
            delay = self.BACKOFF[0]
            self._state(True)
            try:
                self._listen(self._conn)
            except Exception as exc:
                if not self._stop.is_set():
                    log.info("live updates: connection lost: %s", exc)
                    self._state(False)
            finally:
                self._close()
        self._close()

    def _listen(self, conn: Any) -> None:
        quiet_since = time.monotonic()
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=self.WAIT):
                quiet_since = time.monotonic()
                change = parse(notify.payload)
                if change is not None:
                    try:
                        self.on_change(change)
                    except Exception:
                        log.exception("live change callback failed")
            if time.monotonic() - quiet_since > self.IDLE_CHECK:
                conn.execute("SELECT 1")
                quiet_since = time.monotonic()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
