"""Major incidents: declaring, the timeline, communications, the review and its workbook."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.models import (
    UTC,
    AuditEntry,
    CorrectiveAction,
    Incident,
    Outage,
    Person,
    Service,
)
from app.services import major_incidents as mi
from app.services.major_incidents import ActionInput, MajorIncidentError, ReviewInput

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
M = dt.timedelta(minutes=1)


@pytest.fixture
def email_down(db):
    """An email outage (INC100) with two people who can own actions."""
    with db.transaction() as s:
        service = Service(name="Email")
        people = [Person(name="Alex Kim"), Person(name="Bea Novak")]
        s.add_all([service, *people])
        s.flush()
        incident = Incident(
            number="INC100",
            short_description="Email down for all users",
            state="In Progress",
            priority=1,
            impact=1,
            urgency=1,
            service_id=service.id,
            opened_at=T0,
        )
        s.add(incident)
        s.flush()
        return {"db": db, "id": incident.id, "alex": people[0].id, "bea": people[1].id}


def declared(case, **extra):
    with case["db"].transaction() as s:
        mi.declare_major(s, case["id"], "Bridge opened", at=T0 + 10 * M, **extra)


def test_declaring_a_major_incident_starts_its_timeline_investigating(email_down):
    declared(email_down)
    with email_down["db"].session() as s:
        detail = mi.major_detail(s, email_down["id"])
        audit = s.scalars(
            select(AuditEntry.field).where(
                AuditEntry.entity == "incident", AuditEntry.action == "update"
            )
        ).all()
    assert detail.is_major and detail.major_status == "investigating"
    assert detail.declared_at == T0 + 10 * M
    assert [(e.status, e.text) for e in detail.updates] == [("investigating", "Bridge opened")]
    assert {"is_major", "major_declared_at", "major_status"} <= set(audit)


def test_a_closed_incident_cannot_be_declared_major(email_down):
    with email_down["db"].transaction() as s:
        s.get(Incident, email_down["id"]).state = "Closed"
    with pytest.raises(MajorIncidentError, match="closed; it cannot be declared major"):
        declared(email_down)


def test_status_updates_move_the_incident_along_and_bad_status_is_refused(email_down):
    declared(email_down)
    db, iid = email_down["db"], email_down["id"]
    with db.transaction() as s:
        mi.add_status_update(s, iid, "identified", "Certificate expired", at=T0 + 40 * M)
        mi.add_status_update(s, iid, "monitoring", "New certificate installed", at=T0 + 70 * M)
    with (
        pytest.raises(MajorIncidentError, match="not a major-incident status"),
        db.transaction() as s,
    ):
        mi.add_status_update(s, iid, "fixed", "done")
    with pytest.raises(MajorIncidentError, match="text is required"), db.transaction() as s:
        mi.add_status_update(s, iid, "resolved", "   ")
    with db.transaction() as s:
        s.get(Incident, iid).state = "Closed"
    with pytest.raises(MajorIncidentError, match="closed; its timeline is final"):
        with db.transaction() as s:
            mi.add_status_update(s, iid, "resolved", "Late note")
    with db.session() as s:
        detail = mi.major_detail(s, iid)
    assert detail.major_status == "monitoring"
    assert [e.status for e in detail.updates] == ["investigating", "identified", "monitoring"]


def test_updates_and_communications_merge_into_one_timeline(email_down):
    declared(email_down)
    db, iid = email_down["db"], email_down["id"]
    with db.transaction() as s:
        mi.log_communication(s, iid, "status page", "Customers", "Email is down", at=T0 + 15 * M)
        mi.add_status_update(s, iid, "identified", "Certificate expired", at=T0 + 40 * M)
    with pytest.raises(MajorIncidentError, match="audience is required"), db.transaction() as s:
        mi.log_communication(s, iid, "email", "", "hello")
    with db.session() as s:
        timeline = mi.major_detail(s, iid).timeline
    assert [(e.kind, e.at - T0) for e in timeline] == [
        ("update", 10 * M),
        ("communication", 15 * M),
        ("update", 40 * M),
    ]
    assert timeline[1].channel == "status page" and timeline[1].audience == "Customers"


def test_a_review_with_actions_owners_and_due_dates(email_down):
    declared(email_down)
    db, iid, alex = email_down["db"], email_down["id"], email_down["alex"]
    held = dt.date(2026, 11, 24)
    with db.transaction() as s:
        mi.save_review(
            s,
            iid,
            ReviewInput(
                root_cause="The mail certificate expired",
                contributing_factors="No expiry alert",
                status="draft",
                held_on=held,
            ),
        )
        mi.add_action(
            s, iid, ActionInput("Alert 30 days before expiry", alex, dt.date(2026, 12, 5))
        )
    with pytest.raises(MajorIncidentError, match="needs an owner"), db.transaction() as s:
        mi.add_action(s, iid, ActionInput("Renew by hand", None, dt.date(2026, 12, 5)))
    with pytest.raises(MajorIncidentError, match="before the review"), db.transaction() as s:
        mi.add_action(s, iid, ActionInput("Renew by hand", alex, dt.date(2026, 11, 23)))

    with db.session() as s:
        detail = mi.major_detail(s, iid)
    assert detail.review.root_cause == "The mail certificate expired"
    [action] = detail.actions
    assert (action.owner, action.due_on, action.status) == (
        "Alex Kim",
        dt.date(2026, 12, 5),
        "open",
    )
    assert action.overdue(dt.date(2026, 12, 6)) and not action.overdue(dt.date(2026, 12, 5))

    with db.transaction() as s:
        mi.complete_action(s, action.id, at=T0 + dt.timedelta(days=10), version=action.version)
    with pytest.raises(mi.StaleRecord, match="Someone else changed"), db.transaction() as s:
        mi.update_action(
            s, action.id, ActionInput("Changed", alex, dt.date(2026, 12, 9)), version=action.version
        )
    with db.session() as s:
        done = mi.major_detail(s, iid).actions[0]
    assert done.status == "done" and done.completed_at == T0 + dt.timedelta(days=10)
    assert not done.overdue(dt.date(2027, 1, 1))


def test_a_complete_review_needs_its_root_cause_and_date(email_down):
    declared(email_down)
    db, iid = email_down["db"], email_down["id"]
    with pytest.raises(MajorIncidentError, match="needs its root cause"), db.transaction() as s:
        mi.save_review(s, iid, ReviewInput(status="complete", held_on=dt.date(2026, 11, 24)))
    with pytest.raises(MajorIncidentError, match="before the incident"), db.transaction() as s:
        mi.save_review(s, iid, ReviewInput(held_on=dt.date(2026, 11, 1)))


def test_deleting_the_review_takes_its_actions_and_allows_undeclaring(email_down):
    declared(email_down)
    db, iid = email_down["db"], email_down["id"]
    with db.transaction() as s:
        mi.save_review(s, iid, ReviewInput(held_on=dt.date(2026, 11, 21)))
        mi.add_action(s, iid, ActionInput("x", email_down["bea"], dt.date(2026, 11, 30)))
    with pytest.raises(MajorIncidentError, match="delete the review first"), db.transaction() as s:
        mi.undeclare_major(s, iid)
    with db.transaction() as s:
        mi.delete_review(s, iid)
        mi.undeclare_major(s, iid)
    with db.session() as s:
        detail = mi.major_detail(s, iid)
        assert s.scalar(select(CorrectiveAction.id)) is None
    assert not detail.is_major and detail.review is None and detail.major_status is None


def test_the_review_workbook_has_summary_timeline_and_overdue_actions(email_down, tmp_path):
    declared(email_down)
    db, iid = email_down["db"], email_down["id"]
    with db.transaction() as s:
        s.add(
            Outage(service_id=1, incident_id=iid, started_at=T0 - 5 * M, ended_at=T0 + 3 * 60 * M)
        )
        mi.add_status_update(s, iid, "resolved", "=cmd|' /C calc'!A0", at=T0 + 3 * 60 * M)
        mi.log_communication(s, iid, "email", "All staff", "Email is back", at=T0 + 185 * M)
        mi.save_review(
            s,
            iid,
            ReviewInput(
                root_cause="Expired certificate",
                contributing_factors="-No alert",
                status="complete",
                held_on=dt.date(2026, 11, 21),
            ),
        )
        mi.add_action(
            s, iid, ActionInput("Expiry alert", email_down["alex"], dt.date(2026, 11, 30))
        )
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "review.xlsx"
    with db.session() as s:
        mi.export_review(s, iid, path, zone=UTC)

    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "Timeline", "Corrective actions"]
    summary = {r[0].value: r[1].value for r in wb["Summary"].iter_rows(min_row=3)}
    assert summary["Service"] == "Email"
    assert summary["Declared"] == dt.datetime(2026, 11, 20, 9, 10)
    assert summary["Restored"] == dt.datetime(2026, 11, 20, 12, 0)
    assert summary["Duration"] == "3h 5m" and summary["Duration (hours)"] == 3.08
    assert summary["Root cause"] == "Expired certificate"
    assert summary["Contributing factors"] == "-No alert"

    timeline = wb["Timeline"]
    assert timeline.freeze_panes == "A2" and timeline.auto_filter.ref == "A1:G4"
    assert timeline.sheet_properties.pageSetUpPr.fitToPage and timeline.page_setup.fitToWidth == 1
    assert [r[1].value for r in timeline.iter_rows(min_row=2)] == [
        "Status update",
        "Status update",
        "Communication",
    ]
    assert timeline["A2"].is_date and timeline["F3"].data_type == "s"

    actions = wb["Corrective actions"]
    assert [c.value for c in actions[2]][:4] == [
        "Expiry alert",
        "Alex Kim",
        dt.datetime(2026, 11, 30),
        "open",
    ]
    assert actions["C2"].is_date
    rules = [r for cf in actions.conditional_formatting for r in cf.rules]
    assert rules and "TODAY()" in rules[0].formula[0]
    for ws in wb.worksheets:
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert [p.name for p in path.parent.iterdir()] == ["review.xlsx"]


def test_the_review_round_trip_on_both_databases(any_db):
    with any_db.transaction() as s:
        owner = Person(name="Dana Ortiz")
        incident = Incident(number="INC7", short_description="Payroll batch failed", opened_at=T0)
        s.add_all([owner, incident])
        s.flush()
        mi.declare_major(s, incident.id, at=T0)
        mi.save_review(s, incident.id, ReviewInput(root_cause="Bad config", held_on=T0.date()))
        mi.add_action(s, incident.id, ActionInput("Peer review configs", owner.id, T0.date()))
        ids = incident.id
    with any_db.session() as s:
        detail = mi.major_detail(s, ids)
    assert detail.updates[0].text == "Major incident declared."
    assert detail.review.held_on == T0.date() and detail.actions[0].owner == "Dana Ortiz"
    assert detail.declared_at == T0
