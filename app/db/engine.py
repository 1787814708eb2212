"""Open a database from a URL: SQLite pragmas, connection checks, schema upgrade, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.orm import Session, sessionmaker

from app.db import audit, migrate, notify
from app.db.errors import DatabaseUnavailable, NotADatabase
from app.db.url import describe, resolve_url, sqlite_path

SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_BUSY_TIMEOUT_MS = 10_000


@dataclass
class Identity:
    """Who is working: written into every audit row."""

    username: str = "system"
    user_id: int | None = None
    display_name: str = "System"
    role: str = "admin"


@dataclass
class Database:
    """An open database: its URL, engine and session factory."""

    url: URL
    engine: Engine
    identity: Identity = field(default_factory=Identity)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        audit.install(self.sessions)
        # Every writer announces its commits to the other consoles (PostgreSQL only).
        notify.install(self.sessions)

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    def describe(self) -> str:
        return describe(self.url)

    def session(self) -> Session:
        """A new session that records ``identity`` in the audit log."""
        session = self.sessions()
        session.info["username"] = self.identity.username
        session.info["user_id"] = self.identity.user_id
        return session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self.session() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _check_sqlite_file(path: Path, create: bool) -> None:
    if path.exists():
        if path.is_dir():
            raise NotADatabase(f"{path} is a folder, not a database file.")
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            raise NotADatabase(f"{path} is not a Servicedeck database (not a SQLite file).")
        return
    if not create:
        raise DatabaseUnavailable(f"There is no database file at {path}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailable(f"Cannot create {path.parent}: {exc.strerror}.") from None


def make_engine(url: URL) -> Engine:
    """An engine for ``url`` with Servicedeck's connection settings."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "application_name": "servicedeck"},
    )


def _unavailable(url: URL, exc: Exception) -> DatabaseUnavailable:
    reason = (
        str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    )
    return DatabaseUnavailable(f"Cannot open {describe(url)}: {reason}")


def open_database(
    value: str | URL | None = None, *, upgrade: bool = True, create: bool = True
) -> Database:
    """Open (and, if allowed, create or upgrade) the database named by ``value``.

    Raises a :class:`app.db.errors.DatabaseError` with a message fit for a person.
    """
    url = value if isinstance(value, URL) else resolve_url(value)
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_file(path, create)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        if upgrade:
            migrate.upgrade(engine)
        else:
            migrate.schema_status(engine)
    except SADatabaseError as exc:
        engine.dispose()
        if "file is not a database" in str(exc):
            raise NotADatabase(
                f"{path} is not a Servicedeck database (not a SQLite file)."
            ) from None
        raise _unavailable(url, exc) from None
    except Exception:
        engine.dispose()
        raise
    return Database(url, engine)


@contextmanager
def committed_view(session: Session) -> Iterator[Session]:
    """A new session on ``session``'s engine, to read what others have committed.

    A flush whose version-checked UPDATE matched no row (someone saved first) rolls back
    ``session``'s transaction, so nothing more can be read through it; the services use
    this to tell the loser what the winner saved.
    """
    fresh = Session(bind=session.get_bind(), info=dict(session.info))
    try:
        yield fresh
    finally:
        fresh.close()
