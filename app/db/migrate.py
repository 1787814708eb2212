"""Alembic migrations run from inside the package: check, upgrade, and the head revision."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from app.db.errors import NewerSchema

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The newest revision in ``migrations/versions`` (a test keeps the two in step).
SCHEMA_HEAD = "0006"


def alembic_config(connection: Connection | None = None):
    """An Alembic ``Config`` for the package's migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> tuple[str, set[str]]:
    """The head revision and every revision this version of the app knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return script.get_current_head(), {rev.revision for rev in script.walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def schema_status(engine: Engine) -> tuple[str | None, str]:
    """``(current, head)``; raises NewerSchema when the database is ahead of this app."""
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == SCHEMA_HEAD:  # the usual case: skip loading Alembic at start-up
        return current, SCHEMA_HEAD
    head, known = known_revisions()
    if current is not None and current not in known:
        raise NewerSchema(
            f"This database was written by a newer version of Servicedeck (schema {current}); "
            "update Servicedeck to open it."
        )
    return current, head


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the database to ``revision``; returns ``(before, after)``."""
    before, head = schema_status(engine)
    if before == head and revision == "head":
        return before, head
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    with engine.connect() as conn:
        return before, current_revision(conn) or head
