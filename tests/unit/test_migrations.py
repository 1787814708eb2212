"""Migrations build the whole schema from empty, and the models match them."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.db.migrate import SCHEMA_HEAD, known_revisions
from app.models import Base


def _diff(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


def test_empty_to_head_creates_every_table(any_db):
    tables = set(inspect(any_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_match_the_migrations(any_db):
    assert _diff(any_db.engine) == []


def test_there_is_one_head_and_the_app_knows_it():
    head, known = known_revisions()
    assert head in known
    assert SCHEMA_HEAD == head


@pytest.mark.pg
def test_downgrade_to_empty_and_back(pg_db):
    from alembic import command

    from app.db.migrate import alembic_config

    with pg_db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(pg_db.engine).get_table_names()) <= {"alembic_version"}
    with pg_db.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert _diff(pg_db.engine) == []


def test_0003_fills_the_shown_sla_clock_of_existing_incidents(any_db):
    """Down to 0002 and up again: the backfill stores each incident's shown clock by the rule."""
    from alembic import command
    from sqlalchemy import select

    from app.db.migrate import alembic_config
    from app.models import Incident
    from app.services import incident_query
    from tests import sample_data

    sample_data.fill(any_db)
    with any_db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    with any_db.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert _diff(any_db.engine) == []
    with any_db.session() as s:
        stored = {
            r.id: (r.sla_due_at, r.sla_stage)
            for r in s.execute(select(Incident.id, Incident.sla_due_at, Incident.sla_stage))
        }
        rule = {r[0]: (r[1], r[2]) for r in s.execute(incident_query.shown_clocks())}
    assert stored == rule
    assert sum(stage is not None for _, stage in stored.values()) == 8
    assert {stage for _, stage in stored.values()} == {None, "in_progress", "breached", "paused"}
