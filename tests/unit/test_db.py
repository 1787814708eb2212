"""Opening databases: defaults, pragmas, upgrades, and clear errors for bad input."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select, text

from app.db import (
    BadDatabaseUrl,
    DatabaseUnavailable,
    NewerSchema,
    NotADatabase,
    open_database,
)
from app.db.migrate import known_revisions
from app.db.url import ENV_VAR, default_database_path, describe, resolve_url
from app.models import PriorityRule


def test_default_url_is_a_sqlite_file_in_the_user_data_dir(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    url = resolve_url(None)
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(default_database_path())
    assert "servicedeck" in url.database


def test_env_var_and_plain_paths_choose_the_database(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.db"))
    assert resolve_url(None).database == str(tmp_path / "env.db")
    assert resolve_url(str(tmp_path / "x.db")).database == str(tmp_path / "x.db")


def test_postgresql_urls_use_psycopg_3():
    url = resolve_url("postgresql://alex:secret@db.example/itsm")
    assert url.drivername == "postgresql+psycopg"
    assert describe(url) == "postgresql: itsm@db.example"
    assert "secret" not in describe(url)


def test_unsupported_backend_is_refused_with_a_sentence():
    with pytest.raises(BadDatabaseUrl, match="not supported"):
        resolve_url("mysql://x@y/z")


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(db):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_a_new_database_is_migrated_to_head_with_the_default_priority_matrix(db):
    head, _ = known_revisions()
    with db.session() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        matrix = {(r.impact, r.urgency): r.priority for r in s.scalars(select(PriorityRule))}
    assert matrix == {
        (1, 1): 1, (1, 2): 2, (1, 3): 3,
        (2, 1): 2, (2, 2): 3, (2, 3): 4,
        (3, 1): 3, (3, 2): 4, (3, 3): 5,
    }  # fmt: skip


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(NotADatabase, match="not a Servicedeck database"):
        open_database(str(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_a_database_from_a_newer_version_is_refused_and_not_written(tmp_path):
    path = tmp_path / "new.db"
    open_database(str(path)).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    before = path.read_bytes()
    with pytest.raises(NewerSchema, match="newer version of Servicedeck"):
        open_database(str(path))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (
            "9999_future",
        )
    assert path.read_bytes() == before


def test_an_unreachable_server_gives_a_one_line_reason():
    with pytest.raises(DatabaseUnavailable) as info:
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    message = str(info.value)
    assert message.startswith("Cannot open postgresql: none@127.0.0.1:1")
    assert "\n" not in message


def test_a_missing_file_is_not_created_when_creation_is_off(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="no database file"):
        open_database(str(tmp_path / "absent.db"), create=False)
    assert not (tmp_path / "absent.db").exists()


def test_an_older_local_database_is_upgraded_on_open_and_keeps_its_data(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine

    from app.db.migrate import SCHEMA_HEAD, alembic_config

    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.exec_driver_sql(
            "INSERT INTO team (name, description, active, version, created_at, updated_at) "
            "VALUES ('Network', '', 1, 1, '2026-01-01T00:00:00', '2026-01-01T00:00:00')"
        )
    engine.dispose()
    db = open_database(str(path))
    with db.session() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
        assert s.execute(text("SELECT name FROM team")).scalar() == "Network"
    db.dispose()


def test_opening_an_up_to_date_database_does_not_load_alembic(tmp_path):
    """Start-up time: Alembic is only imported when there is something to migrate."""
    import subprocess
    import sys

    path = tmp_path / "current.db"
    open_database(str(path)).dispose()
    code = (
        "import sys; from app.db import open_database; "
        f"open_database({str(path)!r}).dispose(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_server_that_went_away_is_told_apart_from_other_errors():
    from sqlalchemy.exc import OperationalError

    from app.db.errors import connection_lost

    class Shutdown(Exception):
        sqlstate = "57P01"  # admin_shutdown, as psycopg reports it

    class Syntax(Exception):
        sqlstate = "42601"

    assert connection_lost(OperationalError("COMMIT", {}, Shutdown("terminating connection")))
    invalidated = OperationalError("SELECT 1", {}, Exception("closed"))
    invalidated.connection_invalidated = True
    assert connection_lost(invalidated)
    wrapped = RuntimeError("save failed")
    wrapped.__cause__ = OperationalError(
        "x", {}, type("Lost", (Exception,), {"sqlstate": "08006"})()
    )
    assert connection_lost(wrapped)
    assert not connection_lost(OperationalError("SELECT", {}, Syntax("syntax error")))
    assert not connection_lost(ValueError("bad date"))
