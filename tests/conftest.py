"""Fixtures shared by every test: a fresh database in one line."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Stored KPI columns never go to the user's cache, even from module-wide fixtures.
os.environ["SERVICEDECK_CACHE_DIR"] = tempfile.mkdtemp(prefix="servicedeck-test-kpi-")


@pytest.fixture(autouse=True)
def kpi_cache_dir(tmp_path, monkeypatch):
    """Stored KPI columns go to the test's folder, never the user's cache."""
    folder = tmp_path / "kpi-cache"
    monkeypatch.setenv("SERVICEDECK_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def db(tmp_path):
    """An empty, migrated SQLite database in a temporary folder."""
    from app.db import open_database

    database = open_database(str(tmp_path / "test.db"))
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL cluster for the whole run; fails (never skips) if it cannot start."""
    from tests.pgserver import start_server

    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, request):
    """The URL of a new, empty PostgreSQL database for one test."""
    import re

    name = re.sub(r"\W", "_", request.node.name.lower())[:50]
    return pg_server.create_database(f"t_{name}_{id(request) % 100000}")


@pytest.fixture
def pg_db(pg_url):
    """An empty, migrated PostgreSQL database for one test."""
    from app.db import open_database

    database = open_database(pg_url)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def any_db(request, tmp_path):
    """The same test on SQLite and on a real PostgreSQL server."""
    from app.db import open_database

    if request.param == "sqlite":
        database = open_database(str(tmp_path / "any.db"))
    else:
        database = open_database(request.getfixturevalue("pg_url"))
    yield database
    database.dispose()
