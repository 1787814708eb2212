"""Storing an import plan: one transaction, re-import updates, history, SLA clocks, audit."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import (
    AuditEntry,
    Incident,
    IncidentEvent,
    Person,
    Problem,
    SlaClock,
    SlaDefinition,
    Team,
    Vendor,
    team_member,
)
from app.services.io import incident_import
from app.services.io.incident_import import write_plan
from app.services.io.records import (
    ImportedEvent,
    ImportedIncident,
    ImportFileError,
    ImportPlan,
    ImportSource,
)
from app.services.progress import Cancelled, Progress

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
NOW = dt.datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
DATA = Path(__file__).resolve().parents[1] / "data" / "import"


def resolved(number: str, **extra) -> ImportedIncident:
    """A P3 opened at T0, taken by Ann Lee after 10 minutes, resolved after 3 hours."""
    fields = dict(
        number=number,
        row=2,
        short_description=f"Mail is down ({number})",
        state="Resolved",
        opened_at=T0,
        impact=2,
        urgency=2,
        category="Email",
        caller="Bob Smith",
        assignment_group="Messaging",
        assignee="Ann Lee",
        vendor="Acme Mail",
        resolved_at=T0 + 3 * H,
        resolution_code="Solved (Permanently)",
        resolution_notes="Restarted the relay.",
        updated_at=T0 + 3 * H,
        history=(
            ImportedEvent(
                T0 + dt.timedelta(minutes=10),
                3,
                "Ann Lee",
                (("state", "New", "In Progress"), ("assignee", None, "Ann Lee")),
            ),
            ImportedEvent(T0 + 3 * H, 4, "Ann Lee", (("state", "In Progress", "Resolved"),)),
        ),
    )
    fields.update(extra)
    return ImportedIncident(**fields)


def plan_of(*incidents: ImportedIncident, mapping=None) -> ImportPlan:
    return ImportPlan(
        path=Path("export.csv"),
        source=ImportSource.SERVICENOW_EVENTS,
        mapping=mapping or {},
        date_format=None,
        rows_read=3 * len(incidents),
        incidents=list(incidents),
    )


def counts(db) -> dict[str, int]:
    with db.session() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (Incident, IncidentEvent, SlaClock, AuditEntry, Person, Team, Vendor)
        }


def add_slas(db) -> None:
    """24x7 response and resolution SLAs for P3, as the demo defines them."""
    with db.transaction() as s:
        for target, hours in (("response", 4), ("resolution", 24)):
            s.add(
                SlaDefinition(
                    name=f"P3 {target}",
                    target=target,
                    duration_seconds=hours * 3600,
                    applies_to={"priority": [3]},
                    start_condition={"state": ["New"]},
                    pause_condition={"state": ["On Hold"], "hold_reason": ["Awaiting Caller"]}
                    if target == "resolution"
                    else {},
                    stop_condition={"state": ["Resolved", "Closed"]}
                    if target == "resolution"
                    else {"first_response": True},
                    cancel_condition={"state": ["Canceled"]},
                )
            )


def test_a_new_file_creates_and_the_same_file_again_changes_nothing(any_db):
    plan = plan_of(resolved("INC0000101"), resolved("INC0000102", state="In Progress",
                                                    resolved_at=None, history=()))  # fmt: skip
    first = write_plan(any_db, plan, now=NOW, username="importer")
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert first.created_refs == {
        "groups": 1, "people": 2, "services": 0, "cis": 0, "vendors": 1, "categories": 1,
    }  # fmt: skip
    before = counts(any_db)
    again = write_plan(any_db, plan, now=NOW + H, username="importer")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert sum(again.created_refs.values()) == 0
    assert counts(any_db) == before
    assert "Nothing to change" in " ".join(again.lines())


def test_a_changed_incident_is_updated_in_place_with_its_version_and_audit(db):
    write_plan(db, plan_of(resolved("INC0000101"), resolved("INC0000102")), now=NOW)
    with db.session() as s:
        version, ident = s.execute(
            select(Incident.version, Incident.id).where(Incident.number == "INC0000101")
        ).one()
    changed = resolved("INC0000101", urgency=1, short_description="Mail is down for everyone")
    summary = write_plan(db, plan_of(changed, resolved("INC0000102")), now=NOW, username="importer")
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
    with db.session() as s:
        inc = s.scalar(select(Incident).where(Incident.number == "INC0000101"))
        assert (inc.id, inc.version, inc.urgency, inc.priority) == (ident, version + 1, 1, 2)
        audits = s.execute(
            select(AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value)
            .where(AuditEntry.entity == "incident", AuditEntry.entity_id == str(ident))
            .where(AuditEntry.action == "update", AuditEntry.username == "importer")
        ).all()
        assert ("urgency", "2", "1") in audits
        assert ("priority", "3", "2") in audits
        assert ("short_description", "Mail is down (INC0000101)", "Mail is down for everyone") in (
            audits
        )
        inserts = s.scalar(
            select(func.count()).where(
                AuditEntry.entity == "incident", AuditEntry.action == "insert"
            )
        )
        assert inserts == 2


def test_names_match_case_insensitively_and_assignees_join_their_group(db):
    with db.transaction() as s:
        s.add_all([Team(name="MESSAGING"), Person(name="ann lee"), Vendor(name="ACME MAIL")])
    summary = write_plan(db, plan_of(resolved("INC0000101")), now=NOW)
    assert summary.created_refs["groups"] == 0
    assert summary.created_refs["vendors"] == 0
    assert summary.created_refs["people"] == 1  # only the caller is new
    with db.session() as s:
        inc = s.scalar(select(Incident))
        team = s.scalar(select(Team).where(Team.name == "MESSAGING"))
        ann = s.scalar(select(Person).where(Person.name == "ann lee"))
        assert (inc.assignment_group_id, inc.assignee_id) == (team.id, ann.id)
        assert s.execute(select(team_member)).all() == [(team.id, ann.id)]
        assert s.scalar(select(func.count()).select_from(Team)) == 1


def test_problems_and_changes_are_linked_by_number_or_counted_missing(db):
    with db.transaction() as s:
        s.add(Problem(number="PRB0000007", short_description="Relay crashes"))
    inc = resolved("INC0000101", problem="PRB0000007", change="CHG0000404")
    summary = write_plan(db, plan_of(inc), now=NOW)
    assert summary.unmatched_refs == {"problems": 0, "changes": 1}
    assert any("1 change" in line for line in summary.lines())
    with db.session() as s:
        row = s.execute(select(Incident.problem_id, Incident.change_id)).one()
        assert row.problem_id is not None and row.change_id is None


def test_history_becomes_the_timeline_and_is_replaced_on_reimport(db):
    write_plan(db, plan_of(resolved("INC0000101")), now=NOW)

    def events() -> list[tuple]:
        with db.session() as s:
            return s.execute(
                select(IncidentEvent.kind, IncidentEvent.field, IncidentEvent.old_value,
                       IncidentEvent.new_value).order_by(IncidentEvent.at, IncidentEvent.id)
            ).all()  # fmt: skip

    assert events() == [
        ("created", None, None, None),
        ("state", "state", "New", "In Progress"),
        ("assignment", "assignee", None, "Ann Lee"),
        ("state", "state", "In Progress", "Resolved"),
    ]
    with db.transaction() as s:  # an agent's note made in Servicedeck after the import
        ident = s.scalar(select(Incident.id))
        s.add(IncidentEvent(incident_id=ident, at=NOW, kind="work_note", text="Checked"))
    corrected = resolved(
        "INC0000101",
        history=(
            ImportedEvent(T0 + 2 * H, 3, "Ann Lee", (("state", "New", "In Progress"),)),
            ImportedEvent(T0 + 3 * H, 4, "Ann Lee", (("state", "In Progress", "Resolved"),)),
        ),
    )
    summary = write_plan(db, plan_of(corrected), now=NOW)
    assert summary.updated == 1
    assert events() == [
        ("created", None, None, None),
        ("state", "state", "New", "In Progress"),
        ("state", "state", "In Progress", "Resolved"),
        ("work_note", None, None, None),
    ]
    with db.session() as s:
        assert s.scalar(select(Incident.first_response_at)) == T0 + 2 * H


def test_sla_clocks_are_computed_from_the_history(db):
    add_slas(db)
    late = resolved("INC0000102", resolved_at=T0 + 30 * H, updated_at=T0 + 30 * H,
                    history=(resolved("x").history[0],
                             ImportedEvent(T0 + 30 * H, 4, "Ann Lee",
                                           (("state", "In Progress", "Resolved"),))))  # fmt: skip
    open_one = resolved("INC0000103", state="In Progress", resolved_at=None, history=())
    given = resolved("INC0000104", made_sla=False)
    write_plan(db, plan_of(resolved("INC0000101"), late, open_one, given), now=NOW)
    with db.session() as s:
        rows = {
            number: (made, stage)
            for number, made, stage in s.execute(
                select(Incident.number, Incident.made_sla, Incident.sla_stage)
            )
        }
        clocks = s.execute(
            select(Incident.number, SlaDefinition.target, SlaClock.stage)
            .join(SlaClock, SlaClock.incident_id == Incident.id)
            .join(SlaDefinition, SlaDefinition.id == SlaClock.definition_id)
        ).all()
    assert rows["INC0000101"] == (True, "achieved")
    assert rows["INC0000102"] == (False, "breached")
    assert rows["INC0000103"] == (None, "breached")  # open for a month on a 24 h target
    assert rows["INC0000104"][0] is False  # the file's made_sla wins
    assert ("INC0000101", "response", "achieved") in clocks
    assert len(clocks) == 8


def test_a_failure_part_way_leaves_the_database_as_it_was(db, monkeypatch):
    write_plan(db, plan_of(resolved("INC0000001")), now=NOW)
    before = counts(db)
    monkeypatch.setattr(incident_import, "WRITE_CHUNK", 2)
    calls = {"n": 0}
    original = incident_import._Writer._bulk

    def failing(self, table, names, rows, label):
        calls["n"] += 1
        if calls["n"] == 2:  # incidents written, then the history fails
            raise RuntimeError("disk full")
        return original(self, table, names, rows, label)

    monkeypatch.setattr(incident_import._Writer, "_bulk", failing)
    plan = plan_of(*(resolved(f"INC00002{i:02d}") for i in range(7)))
    with pytest.raises(RuntimeError, match="disk full"):
        write_plan(db, plan, now=NOW)
    assert counts(db) == before


def test_cancel_rolls_everything_back(db):
    plan = plan_of(*(resolved(f"INC00003{i:02d}") for i in range(5)))
    asked = {"n": 0}

    def heard(_done: int, _total: int, _label: str) -> None:
        asked["n"] += 1
        if asked["n"] > 6:
            progress.cancel()  # the user presses Cancel part-way

    progress = Progress(heard)
    before = counts(db)
    with pytest.raises(Cancelled):
        write_plan(db, plan, now=NOW, progress=progress)
    assert counts(db) == before


def test_a_bad_value_is_refused_before_anything_is_written(db):
    before = counts(db)
    with pytest.raises(ImportFileError) as err:
        write_plan(db, plan_of(resolved("INC0000001"), resolved("INC0000002", state="Pending")))
    assert err.value.column == "state"
    assert counts(db) == before


def test_fields_the_file_lacks_keep_their_stored_values(db):
    write_plan(db, plan_of(resolved("INC0000101", description="Long story")), now=NOW)
    lacking = replace(resolved("INC0000101"), description=None)
    summary = write_plan(db, plan_of(lacking, mapping={"description": None}), now=NOW)
    assert summary.unchanged == 1
    with db.session() as s:
        assert s.scalar(select(Incident.description)) == "Long story"


def test_new_incidents_are_numbered_after_the_imported_ones(db):
    from app.services.incidents import next_number

    write_plan(db, plan_of(resolved("INC0000450"), resolved("ITSM-12")), now=NOW)
    with db.session() as s:
        assert next_number(s) == "INC0000451"


def test_the_kpi_cache_is_forgotten(db, kpi_cache_dir):
    from app.services import kpi_store
    from app.services.kpi import KpiColumns
    from app.services.kpi_cache import kpi_cache

    write_plan(db, plan_of(resolved("INC0000101")), now=NOW)
    with db.session() as s:
        cache = kpi_cache(db)
        cols = cache.columns(s)
        if cache.saver is not None:
            cache.saver.join()
        path = kpi_store.store_path(s)
        kpi_store.save(cols, path, kpi_store.identity(s))
    assert path.exists() and cache.peek() is not None
    write_plan(db, plan_of(resolved("INC0000101", urgency=1)), now=NOW)
    assert not path.exists()
    assert cache.peek() is None
    with db.session() as s:
        assert KpiColumns.load(s).incidents["priority"].tolist() == [2]


def test_the_queue_kpis_and_scorecards_see_imported_incidents(db):
    from app.services.incident_query import IncidentFilter, fetch_window
    from app.services.kpi import KpiColumns
    from app.services.scorecards import evidence_ids

    add_slas(db)
    write_plan(db, plan_of(resolved("INC0000101"), resolved("INC0000102")), now=NOW)
    with db.session() as s:
        rows = fetch_window(s, IncidentFilter())
        assert sorted(r.number for r in rows) == ["INC0000101", "INC0000102"]
        cols = KpiColumns.load(s)
        assert cols.incidents["id"].size == 2
        assert cols.clocks["incident_id"].size == 4
        vendor = s.scalar(select(Vendor.id))
        assert evidence_ids(cols, vendor, "2026-Q1", "incident_count").size == 2


@pytest.mark.parametrize(
    "name", ["servicenow_eventlog.csv", "servicenow_list.csv", "servicenow_list.xlsx",
             "jsm_export.csv"],
)  # fmt: skip
def test_sample_files_import_once(db, name):
    from app.services.io.importer import read_plan

    plan = read_plan(DATA / name, tz=UTC)
    first = write_plan(db, plan)
    assert first.created == len(plan.incidents) > 0
    before = counts(db)
    again = write_plan(db, read_plan(DATA / name, tz=UTC))
    assert (again.created, again.updated) == (0, 0)
    assert counts(db) == before


@pytest.mark.pg
def test_other_consoles_hear_of_the_import(pg_db):
    import json

    import psycopg

    from app.db import notify

    conn = psycopg.connect(notify.conninfo(pg_db.url), autocommit=True)
    try:
        conn.execute(f'LISTEN "{notify.CHANNEL}"')
        write_plan(pg_db, plan_of(resolved("INC0000101")), now=NOW)
        tables = {json.loads(n.payload)["t"] for n in conn.notifies(timeout=2, stop_after=20)}
    finally:
        conn.close()
    assert {"incident", "incident_event"} <= tables
