"""Where the database is: the default file, ``--db``, ``SERVICEDECK_DB``, and display names."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from app.db.errors import BadDatabaseUrl

ENV_VAR = "SERVICEDECK_DB"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def default_database_path() -> Path:
    """The local database file in the user's data directory."""
    from platformdirs import user_data_path

    return user_data_path("servicedeck", appauthor=False) / "servicedeck.db"


def resolve_url(value: str | None = None) -> URL:
    """The URL to open: ``value`` (URL or file path), else ``$SERVICEDECK_DB``, else the default.

    A bare file path means a SQLite file; ``postgresql://`` means psycopg 3.
    """
    raw = value or os.environ.get(ENV_VAR) or ""
    if not raw:
        path = default_database_path()
        return make_url(f"sqlite:///{path}")
    if "://" not in raw:
        return make_url(f"sqlite:///{Path(raw).expanduser().resolve()}")
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise BadDatabaseUrl(f"'{raw}' is not a database URL ({exc}).") from None
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise BadDatabaseUrl(
            f"'{url.get_backend_name()}' databases are not supported; "
            "use a SQLite file or postgresql+psycopg://user@host/db."
        )
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL (None for memory or another backend)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def describe(url: URL) -> str:
    """A short, password-free name for the status bar: ``sqlite: ~/x.db`` or ``pg: db@host``."""
    path = sqlite_path(url)
    if url.get_backend_name() == "sqlite":
        if path is None:
            return "sqlite: in memory"
        home = Path.home()
        shown = f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
        return f"sqlite: {shown}"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"postgresql: {url.database}@{host}{port}"
