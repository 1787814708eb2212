"""The demo generator: deterministic, the size asked for, and consistent with DOMAIN.md."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3

import pytest
from sqlalchemy import func, select, text

from app.db import open_database
from app.models import UTC, ChangeRequest, Incident, IncidentEvent, PriorityRule, SlaClock
from app.services.demo import DemoError, create_demo_database

ANCHOR = dt.datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def _fingerprint(path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        out = {}
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            digest = hashlib.sha256()
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
                digest.update(repr(row).encode())
            out[table] = digest.hexdigest()
        return out


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    create_demo_database(str(path), incidents=5_000, seed=7, anchor=ANCHOR)
    return path


def test_same_seed_and_anchor_give_the_same_database(demo_path, tmp_path):
    again = tmp_path / "again.db"
    create_demo_database(str(again), incidents=5_000, seed=7, anchor=ANCHOR)
    assert _fingerprint(again) == _fingerprint(demo_path)


def test_another_seed_gives_other_data(demo_path, tmp_path):
    other = tmp_path / "other.db"
    create_demo_database(str(other), incidents=5_000, seed=8, anchor=ANCHOR)
    assert _fingerprint(other)["incident"] != _fingerprint(demo_path)["incident"]


def test_volume_and_references_hold(demo_path):
    with sqlite3.connect(demo_path) as conn:
        assert conn.execute("SELECT count(*) FROM incident").fetchone() == (5_000,)
        assert conn.execute("SELECT count(*) FROM sla_clock").fetchone() == (10_000,)
        assert conn.execute("SELECT count(*) FROM incident_event").fetchone()[0] > 10_000
        assert conn.execute("SELECT count(*) FROM person").fetchone() == (300,)
        assert conn.execute("SELECT count(*) FROM vendor").fetchone() == (20,)
        assert 45 <= conn.execute("SELECT count(*) FROM team").fetchone()[0] <= 60
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_incidents_follow_the_domain_rules(demo_path):
    db = open_database(str(demo_path))
    with db.session() as s:
        matrix = {(r.impact, r.urgency): r.priority for r in s.scalars(select(PriorityRule))}
        rows = s.execute(
            select(
                Incident.impact,
                Incident.urgency,
                Incident.priority,
                Incident.state,
                Incident.hold_reason,
                Incident.opened_at,
                Incident.resolved_at,
                Incident.closed_at,
                Incident.first_response_at,
            )
        ).all()
        for impact, urgency, priority, state, hold, opened, resolved, closed, response in rows:
            assert matrix[impact, urgency] == priority
            assert opened <= ANCHOR
            if state in ("New", "In Progress", "On Hold"):
                assert resolved is None and closed is None
            if state == "On Hold":
                assert hold in (
                    "Awaiting Caller",
                    "Awaiting Change",
                    "Awaiting Problem",
                    "Awaiting Vendor",
                )
            else:
                assert hold is None
            if state in ("Resolved", "Closed"):
                assert opened <= resolved <= ANCHOR
            if state == "Closed":
                assert closed - resolved == dt.timedelta(days=3)
            if state == "New":
                assert response is None
        states = {r.state for r in rows}
        assert states == {"New", "In Progress", "On Hold", "Resolved", "Closed", "Canceled"}
        majors = s.execute(
            select(Incident.number).where(Incident.is_major, Incident.state == "In Progress")
        ).all()
        assert majors, "a major incident is in progress on every demo database"
        upcoming = s.scalar(
            select(func.count())
            .select_from(ChangeRequest)
            .where(ChangeRequest.planned_start.between(ANCHOR, ANCHOR + dt.timedelta(days=7)))
        )
        assert upcoming > 5
    db.dispose()


def test_sla_clocks_agree_with_their_definitions(demo_path):
    db = open_database(str(demo_path))
    with db.session() as s:
        for clock in s.scalars(select(SlaClock).limit(2_000)):
            duration = clock.definition.duration_seconds
            if clock.stage == "achieved":
                assert clock.business_elapsed_seconds <= duration and not clock.breached
            elif clock.stage == "breached":
                assert clock.business_elapsed_seconds >= duration and clock.breached
            elif clock.stage == "in_progress":
                assert clock.business_elapsed_seconds < duration and clock.stopped_at is None
            elif clock.stage == "paused":
                assert clock.paused_since is not None
            if clock.stage != "canceled":
                assert clock.due_at >= clock.started_at
        events = s.scalar(
            select(func.count()).select_from(IncidentEvent).where(IncidentEvent.at.is_(None))
        )
        assert events == 0
    db.dispose()


def test_a_database_with_data_is_refused_unless_replaced(demo_path, tmp_path):
    path = tmp_path / "twice.db"
    create_demo_database(str(path), incidents=500, seed=1, anchor=ANCHOR)
    with pytest.raises(DemoError, match="already holds data; use --replace"):
        create_demo_database(str(path), incidents=500, seed=1, anchor=ANCHOR)
    summary = create_demo_database(str(path), incidents=700, seed=1, anchor=ANCHOR, replace=True)
    assert summary.counts["incidents"] == 700
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM incident").fetchone() == (700,)


@pytest.mark.pg
def test_demo_on_postgresql(pg_url):
    summary = create_demo_database(pg_url, incidents=2_000, seed=3, anchor=ANCHOR)
    assert summary.counts["incidents"] == 2_000
    db = open_database(pg_url)
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(SlaClock)) == 4_000
        # Sequences moved past the explicit ids: a new incident gets the next id.
        s.add(Incident(number="INC9999999", short_description="after demo", opened_at=ANCHOR))
        s.flush()
        assert s.scalar(select(func.max(Incident.id))) == 2_001
        assert (
            s.execute(text("SELECT count(*) FROM incident WHERE opened_at > now()")).scalar() == 0
        )
    db.dispose()


def test_stored_sla_clocks_are_what_the_sla_engine_computes_from_the_history(demo_path):
    """The demo writes its clocks in bulk; the engine must agree with every one of them."""
    from collections import defaultdict

    from app.services import sla_engine

    db = open_database(str(demo_path))
    with db.session() as s:
        specs = sla_engine.load_specs(s)
        incidents = {i.id: i for i in s.scalars(select(Incident))}
        history = defaultdict(list)
        events = s.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.kind == "state")
            .order_by(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.id)
        )
        for e in events:
            history[e.incident_id].append((e.at, e.new_value, e.text))
        clocks = list(s.scalars(select(SlaClock).order_by(SlaClock.id)))
        timelines = {
            i.id: sla_engine.build_timeline(
                i.opened_at, i.state, i.hold_reason, i.first_response_at, history[i.id],
                {"priority": i.priority},
            )
            for i in incidents.values()
        }  # fmt: skip
        items = [(specs[c.definition_id], timelines[c.incident_id], None) for c in clocks]
        computed = sla_engine.compute_clocks(items, ANCHOR)
    db.dispose()
    fields = ("stage", "business_elapsed_seconds", "paused_seconds", "breached", "stopped_at",
              "paused_since", "due_at")  # fmt: skip
    mismatches = [
        (c.id, name, getattr(c, name), state.columns()[name])
        for c, state in zip(clocks, computed, strict=True)
        for name in fields
        if getattr(c, name) != state.columns()[name]
        and not (name == "due_at" and c.stage == "canceled")
    ]
    assert mismatches == []


def test_the_shown_sla_clock_is_stored_on_every_incident_by_the_queues_rule(demo_path):
    """The demo writes sla_due_at/sla_stage column-wise; the SQL rule and the engine agree."""
    from app.services import incident_query, sla_engine

    db = open_database(str(demo_path))
    with db.session() as s:
        stored = {
            r.id: (r.sla_due_at, r.sla_stage)
            for r in s.execute(select(Incident.id, Incident.sla_due_at, Incident.sla_stage))
        }
        by_sql = {r[0]: (r[1], r[2]) for r in s.execute(incident_query.shown_clocks())}
        specs = sla_engine.load_specs(s)
        clocks: dict[int, list] = {i: [] for i in stored}
        for c in s.execute(
            select(SlaClock.id, SlaClock.incident_id, SlaClock.definition_id, SlaClock.stage,
                   SlaClock.due_at)
        ):  # fmt: skip
            clocks[c.incident_id].append((c.id, specs[c.definition_id].target, c.stage, c.due_at))
        by_engine = {i: sla_engine.shown_clock(cs) for i, cs in clocks.items()}
    db.dispose()
    assert len(stored) == 5_000
    assert stored == by_sql == by_engine
    stages = {stage for _, stage in stored.values()}
    assert {"in_progress", "paused", "achieved", "breached"} <= stages
    # Canceled incidents show their response clock (met before the cancel), never none here.
    assert all(due is not None for due, _ in stored.values())
