"""The incident workflow as a service-desk agent lives it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.db import Identity
from app.models import (
    UTC,
    AppUser,
    AuditEntry,
    ChangeRequest,
    ConfigurationItem,
    Incident,
    IncidentEvent,
    MajorIncidentUpdate,
    Person,
    PostIncidentReview,
    Problem,
    Service,
    SlaClock,
    SlaDefinition,
    Team,
)
from app.services import incidents as wf
from app.services.incidents import (
    BulkError,
    ConflictError,
    IncidentInput,
    WorkflowError,
)
from app.services.priority import compute_priority, matrix, update_rule

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
M = dt.timedelta(minutes=1)


@pytest.fixture
def org(db):
    """Two groups with members, a service with two CIs, and a signed-in agent."""
    with db.transaction() as s:
        alex, bea, chen = (Person(name=n) for n in ("Alex Kim", "Bea Novak", "Chen Li"))
        desk = Team(name="Service Desk", members=[alex, bea])
        network = Team(name="Network", members=[chen])
        mail = Service(name="Email")
        other = Service(name="Payroll")
        s.add_all([alex, bea, chen, desk, network, mail, other])
        s.flush()
        mx = ConfigurationItem(name="mx01", ci_class="server", service_id=mail.id)
        pay = ConfigurationItem(name="pay01", ci_class="server", service_id=other.id)
        user = AppUser(username="alex", person_id=alex.id, display_name="Alex Kim", role="agent")
        s.add_all([mx, pay, user])
        s.flush()
        ids = {
            "alex": alex.id,
            "bea": bea.id,
            "chen": chen.id,
            "desk": desk.id,
            "network": network.id,
            "mail": mail.id,
            "mx": mx.id,
            "pay": pay.id,
        }
        db.identity = Identity(username="alex", user_id=user.id, display_name="Alex Kim")
    return ids


def create(db, org, **extra) -> Incident:
    data = IncidentInput(
        short_description=extra.pop("short_description", "Outlook cannot connect"),
        assignment_group_id=extra.pop("assignment_group_id", org["desk"]),
        **extra,
    )
    with db.transaction() as s:
        return wf.new_incident(s, data, now=extra.get("now", NOW))


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_the_default_matrix_gives_p1_for_high_impact_and_high_urgency(db):
    with db.session() as s:
        assert compute_priority(s, 1, 1) == 1
        assert compute_priority(s, 2, 2) == 3
        assert compute_priority(s, "3", 3) == 5
        assert matrix(s)[(1, 3)] == 3


def test_impact_outside_one_to_three_is_refused_in_words(db):
    with db.session() as s, pytest.raises(ValueError, match="Impact must be 1 .High."):
        compute_priority(s, 4, 1)
    with db.session() as s, pytest.raises(ValueError, match="Urgency"):
        compute_priority(s, 1, "high")


def test_an_edited_matrix_cell_decides_new_incidents(db, org):
    with db.transaction() as s:
        update_rule(s, 3, 3, 4)
    incident = create(db, org, impact=3, urgency=3)
    assert incident.priority == 4
    assert count(db, AuditEntry, AuditEntry.entity == "priority_rule") == 1


def test_a_new_incident_is_numbered_new_and_prioritised_by_the_matrix(db, org):
    first = create(db, org, impact=2, urgency=1)
    second = create(db, org)
    assert first.number == "INC0000001"
    assert second.number == "INC0000002"
    assert (first.state, first.priority, first.priority_overridden) == ("New", 2, False)
    assert first.first_group_id == org["desk"]
    assert first.opened_at == NOW


def test_numbers_continue_after_the_highest_seven_digit_number(db, org):
    with db.transaction() as s:
        s.add(Incident(number="INC0041999", short_description="imported", opened_at=NOW))
        s.add(Incident(number="INC12", short_description="other scheme", opened_at=NOW))
    assert create(db, org).number == "INC0042000"


def test_override_needs_a_reason(db, org):
    with pytest.raises(WorkflowError, match="reason"):
        create(db, org, impact=3, urgency=3, priority=1)
    assert count(db, Incident) == 0
    incident = create(db, org, impact=3, urgency=3, priority=1, priority_override_reason="CEO")
    assert (incident.priority, incident.priority_overridden) == (1, True)


def test_changing_impact_recomputes_priority_unless_overridden(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        changed = wf.update_incident(s, incident.id, 1, {"impact": 1, "urgency": 1}, now=NOW)
        assert changed.priority == 1
    with db.transaction() as s:
        changed = wf.update_incident(
            s,
            incident.id,
            changed.version,
            {"priority": 4, "priority_override_reason": "Workaround in place"},
            now=NOW,
        )
        assert (changed.priority, changed.priority_overridden) == (4, True)
    with db.transaction() as s:
        changed = wf.update_incident(s, incident.id, changed.version, {"urgency": 3}, now=NOW)
        assert changed.priority == 4
    with db.transaction() as s:
        changed = wf.update_incident(
            s, incident.id, changed.version, {"priority_overridden": False}, now=NOW
        )
        assert (changed.priority, changed.priority_override_reason) == (3, None)


def test_overriding_the_priority_in_an_edit_without_a_reason_is_refused(db, org):
    incident = create(db, org)
    with db.transaction() as s, pytest.raises(WorkflowError, match="reason"):
        wf.update_incident(s, incident.id, 1, {"priority": 1}, now=NOW)
    with db.session() as s:
        assert s.get(Incident, incident.id).priority == 5


def test_a_stale_save_raises_a_conflict_with_both_versions(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        wf.update_incident(s, incident.id, 1, {"short_description": "Theirs"}, now=NOW)
    with db.transaction() as s, pytest.raises(ConflictError) as caught:
        wf.update_incident(s, incident.id, 1, {"short_description": "Mine"}, now=NOW)
    conflict = caught.value
    assert conflict.theirs["short_description"] == "Theirs"
    assert conflict.mine == {"short_description": "Mine"}
    assert conflict.their_version == 2
    assert conflict.fields == ["short_description"]
    assert "Alex Kim" in str(conflict)
    with db.session() as s:
        assert s.get(Incident, incident.id).short_description == "Theirs"
    with db.transaction() as s:
        mine = wf.update_incident(s, incident.id, 2, {"short_description": "Mine"}, now=NOW)
        assert (mine.short_description, mine.version) == ("Mine", 3)


def test_start_work_sets_first_response_once(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        moved = wf.transition(s, incident.id, 1, "In Progress", now=NOW + 10 * M)
        assert moved.first_response_at == NOW + 10 * M
    with db.transaction() as s:
        moved = wf.transition(
            s,
            incident.id,
            moved.version,
            "On Hold",
            hold_reason="Awaiting Caller",
            now=NOW + 20 * M,
        )
        assert moved.hold_reason == "Awaiting Caller"
    with db.transaction() as s:
        moved = wf.transition(s, incident.id, moved.version, "In Progress", now=NOW + 30 * M)
        assert (moved.first_response_at, moved.hold_reason) == (NOW + 10 * M, None)


def test_on_hold_needs_a_known_reason(db, org):
    incident = create(db, org)
    with db.transaction() as s, pytest.raises(WorkflowError, match="Awaiting Caller"):
        wf.transition(s, incident.id, 1, "On Hold", hold_reason="Lunch", now=NOW)


def test_a_resolve_without_a_code_is_refused_and_nothing_is_saved(db, org):
    incident = create(db, org)
    with db.transaction() as s, pytest.raises(WorkflowError, match="resolution code"):
        wf.transition(s, incident.id, 1, "Resolved", resolution_notes="Fixed", now=NOW)
    with db.session() as s:
        saved = s.get(Incident, incident.id)
        assert (saved.state, saved.version, saved.resolved_at) == ("New", 1, None)
    assert count(db, IncidentEvent, IncidentEvent.kind == "state") == 0


def test_resolved_then_in_progress_counts_a_reopen(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        moved = wf.transition(
            s,
            incident.id,
            1,
            "Resolved",
            resolution_code="Solved (Permanently)",
            resolution_notes="Restarted the mail gateway.",
            now=NOW + 30 * M,
        )
        assert moved.resolved_at == NOW + 30 * M
    with db.transaction() as s:
        moved = wf.transition(s, incident.id, moved.version, "In Progress", now=NOW + 60 * M)
        assert (moved.reopen_count, moved.resolved_at, moved.state) == (1, None, "In Progress")


def test_closed_is_final(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        moved = wf.transition(
            s, incident.id, 1, "Resolved", resolution_code="x", resolution_notes="y", now=NOW
        )
        moved = wf.transition(s, incident.id, moved.version, "Closed", now=NOW + M)
        assert moved.closed_at == NOW + M
    with db.transaction() as s, pytest.raises(WorkflowError, match="final"):
        wf.transition(s, incident.id, None, "In Progress", now=NOW)
    with db.transaction() as s, pytest.raises(WorkflowError, match="Closed"):
        wf.update_incident(s, incident.id, None, {"short_description": "x"}, now=NOW)


def test_new_cannot_be_closed_directly(db, org):
    incident = create(db, org)
    with db.transaction() as s, pytest.raises(WorkflowError, match="from New to Closed"):
        wf.transition(s, incident.id, 1, "Closed", now=NOW)


def test_reassigning_to_another_group_is_counted(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        moved = wf.assign(s, incident.id, 1, org["network"], org["chen"], now=NOW)
        assert (moved.reassignment_count, moved.first_group_id) == (1, org["desk"])
        moved = wf.assign(s, incident.id, moved.version, org["network"], None, now=NOW)
        assert moved.reassignment_count == 1


def test_the_assignee_must_be_a_member_of_the_group(db, org):
    incident = create(db, org)
    with db.transaction() as s, pytest.raises(WorkflowError, match="Chen Li is not a member"):
        wf.assign(s, incident.id, 1, org["desk"], org["chen"], now=NOW)


def test_the_ci_must_belong_to_the_chosen_service(db, org):
    with pytest.raises(WorkflowError, match="pay01 is not part of the service Email"):
        create(db, org, service_id=org["mail"], ci_id=org["pay"])


def test_bad_input_gets_a_clear_message_and_nothing_half_saved(db, org):
    with pytest.raises(WorkflowError, match="limit is 200"):
        create(db, org, short_description="x" * 100_000)
    with pytest.raises(WorkflowError, match="Impact must be"):
        create(db, org, impact="very high")
    with pytest.raises(WorkflowError, match="Caller must be chosen"):
        create(db, org, caller_id="Bob")
    with pytest.raises(WorkflowError, match="Short description is required"):
        create(db, org, short_description="   ")
    assert count(db, Incident) == 0
    incident = create(db, org)
    with db.transaction() as s, pytest.raises(WorkflowError, match="cannot be before Opened"):
        wf.update_incident(
            s, incident.id, 1, {"resolved_at": "2020-01-01 10:00", "category": "Email"}, now=NOW
        )
    with db.session() as s:
        saved = s.get(Incident, incident.id)
        assert (saved.category, saved.version) == (None, 1)


def test_every_change_is_on_the_timeline_and_in_the_audit_log(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        moved = wf.update_incident(s, incident.id, 1, {"impact": 1, "category": "Email"}, now=NOW)
        moved = wf.assign(s, incident.id, moved.version, org["network"], now=NOW)
        moved = wf.transition(s, incident.id, moved.version, "In Progress", now=NOW)
        wf.add_work_note(s, incident.id, "Called the user back.", now=NOW)
    with db.session() as s:
        kinds = [
            (e.kind, e.field, e.old_value, e.new_value)
            for e in s.scalars(select(IncidentEvent).order_by(IncidentEvent.id))
        ]
        assert ("priority", "priority", "P5", "P3") in kinds
        assert ("field", "category", None, "Email") in kinds
        assert ("assignment", "assignment_group", "Service Desk", "Network") in kinds
        assert ("state", "state", "New", "In Progress") in kinds
        assert kinds[-1][0] == "work_note"
        audited = set(
            s.scalars(
                select(AuditEntry.field).where(
                    AuditEntry.entity == "incident", AuditEntry.entity_id == str(incident.id)
                )
            )
        )
        assert {"impact", "priority", "category", "assignment_group_id", "state"} <= audited
        assert s.scalar(select(AuditEntry.username).where(AuditEntry.entity == "incident")) == (
            "alex"
        )
        assert s.get(Incident, incident.id).version == 5
        author = s.scalar(select(IncidentEvent.author_id).where(IncidentEvent.kind == "work_note"))
        assert author == org["alex"]


def test_incident_detail_names_everything_and_lists_the_timeline_newest_first(db, org):
    incident = create(db, org, service_id=org["mail"], ci_id=org["mx"], caller_id=org["bea"])
    with db.transaction() as s:
        wf.add_work_note(s, incident.id, "First note", now=NOW + M)
        wf.add_work_note(s, incident.id, "Second note", now=NOW + 2 * M)
    with db.session() as s:
        detail = wf.incident_detail(s, incident.id)
    assert (detail.service_name, detail.ci_name, detail.caller_name) == (
        "Email",
        "mx01",
        "Bea Novak",
    )
    assert detail.assignment_group_name == "Service Desk"
    notes = [e.text for e in detail.timeline if e.kind == "work_note"]
    assert notes == ["Second note", "First note"]
    assert detail.timeline[0].author == "Alex Kim"
    assert detail.values()["short_description"] == "Outlook cannot connect"


def test_lookups_offer_groups_with_members_and_services_with_cis(db, org):
    with db.session() as s:
        found = wf.lookups(s)
    desk = next(g for g in found.groups if g.label == "Service Desk")
    assert [m.label for m in desk.members] == ["Alex Kim", "Bea Novak"]
    mail = next(x for x in found.services if x.label == "Email")
    assert [c.label for c in mail.cis] == ["mx01"]
    assert found.matrix[(1, 1)] == 1


def test_bulk_transition_is_all_or_nothing(db, org):
    a, b = create(db, org), create(db, org)
    with db.transaction() as s:
        wf.transition(s, b.id, 1, "Canceled", now=NOW)
    with db.transaction() as s, pytest.raises(BulkError, match="final") as caught:
        wf.bulk_transition(s, [a.id, b.id], "In Progress", now=NOW)
    assert caught.value.problems[0][0] == b.number
    with db.session() as s:
        assert s.get(Incident, a.id).state == "New"
    c = create(db, org)
    with db.transaction() as s:
        result = wf.bulk_transition(
            s, [a.id, c.id], "On Hold", hold_reason="Awaiting Vendor", now=NOW
        )
    assert result.changed == [a.number, c.number]


def test_bulk_assign_priority_and_close(db, org):
    a, b = create(db, org), create(db, org)
    with db.transaction() as s:
        result = wf.bulk_assign(s, [a.id, b.id], org["network"], org["chen"], now=NOW)
        assert result.changed == [a.number, b.number]
        again = wf.bulk_assign(s, [a.id], org["network"], org["chen"], now=NOW)
        assert again.skipped == [(a.number, "already assigned there")]
        with pytest.raises(WorkflowError, match="reason"):
            wf.bulk_set_priority(s, [a.id], 2, "  ")
        assert wf.bulk_set_priority(s, [a.id, b.id], 2, "Board meeting", now=NOW).changed
        wf.transition(s, a.id, None, "Resolved", resolution_code="x", resolution_notes="y", now=NOW)
        closed = wf.bulk_close_resolved(s, [a.id, b.id], now=NOW)
    assert closed.changed == [a.number]
    assert closed.skipped == [(b.number, "it is New, not Resolved")]
    with db.session() as s:
        assert s.get(Incident, b.id).priority == 2
        assert s.get(Incident, a.id).state == "Closed"


def test_bulk_assign_refuses_a_non_member_for_all(db, org):
    a = create(db, org)
    with db.transaction() as s, pytest.raises(WorkflowError, match="not a member"):
        wf.bulk_assign(s, [a.id], org["desk"], org["chen"], now=NOW)


def test_the_workflow_reads_the_same_on_sqlite_and_postgresql(any_db):
    with any_db.transaction() as s:
        team = Team(name="Desk", members=[Person(name="Ann")])
        s.add_all(
            [
                team,
                Problem(number="PRB0000001", short_description="Printers jam", opened_at=NOW),
                ChangeRequest(number="CHG0000001", short_description="New toner", opened_at=NOW),
            ]
        )
        s.flush()
        incident = wf.new_incident(
            s, IncidentInput("Printer jam", impact=1, urgency=2, assignment_group_id=team.id), NOW
        )
        incident_id = incident.id
    with any_db.transaction() as s:
        moved = wf.transition(s, incident_id, 1, "In Progress", now=NOW + M)
        moved = wf.transition(
            s,
            incident_id,
            moved.version,
            "Resolved",
            resolution_code="Solved (Permanently)",
            resolution_notes="Cleared the jam.",
            now=NOW + 2 * M,
        )
    with any_db.transaction() as s, pytest.raises(ConflictError):
        wf.update_incident(s, incident_id, 1, {"category": "Hardware"}, now=NOW)
    with any_db.session() as s:
        detail = wf.incident_detail(s, incident_id)
        choices = wf.lookups(s)
    assert [g.label for g in choices.groups] == ["Desk"]
    assert choices.categories == {}
    assert [p.label for p in choices.problems] == ["PRB0000001 Printers jam"]
    assert [c.label for c in choices.changes] == ["CHG0000001 New toner"]
    assert (detail.number, detail.priority, detail.state) == ("INC0000001", 2, "Resolved")
    assert detail.first_response_at == NOW + M
    assert [e.new_value for e in detail.timeline if e.kind == "state"] == [
        "Resolved",
        "In Progress",
    ]


def test_sla_clocks_follow_the_workflow(db, org):
    with db.transaction() as s:
        s.add(
            SlaDefinition(
                name="Resolution in 8h",
                target="resolution",
                duration_seconds=8 * 3600,
                applies_to={},
                pause_condition={"state": ["On Hold"], "hold_reason": ["Awaiting Caller"]},
                stop_condition={"state": ["Resolved", "Closed"]},
            )
        )
    incident = create(db, org)

    def clock() -> SlaClock:
        with db.session() as s:
            return s.scalars(select(SlaClock).where(SlaClock.incident_id == incident.id)).one()

    assert (clock().stage, clock().started_at) == ("in_progress", NOW)
    with db.transaction() as s:
        moved = wf.transition(s, incident.id, 1, "In Progress", now=NOW + 60 * M)
        moved = wf.transition(
            s,
            incident.id,
            moved.version,
            "On Hold",
            hold_reason="Awaiting Caller",
            now=NOW + 120 * M,
        )
    paused = clock()
    assert (paused.stage, paused.business_elapsed_seconds) == ("paused", 7200)
    assert paused.paused_since == NOW + 120 * M
    with db.transaction() as s:
        wf.transition(
            s,
            incident.id,
            moved.version,
            "Resolved",
            resolution_code="Solved (Permanently)",
            resolution_notes="The caller confirmed.",
            now=NOW + 180 * M,
        )
    done = clock()
    assert (done.stage, done.business_elapsed_seconds, done.breached) == ("achieved", 7200, False)
    with db.session() as s:
        clocks = wf.incident_detail(s, incident.id).clocks
    assert [(c.name, c.stage) for c in clocks] == [("Resolution in 8h", "achieved")]
    with db.session() as s:
        assert s.get(Incident, incident.id).made_sla is True


def test_changing_the_hold_reason_is_on_the_timeline(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        moved = wf.transition(s, incident.id, 1, "On Hold", hold_reason="Awaiting Vendor", now=NOW)
        moved = wf.transition(
            s, incident.id, moved.version, "On Hold", hold_reason="Awaiting Change", now=NOW + M
        )
        assert moved.hold_reason == "Awaiting Change"
        with pytest.raises(WorkflowError, match="already On Hold"):
            wf.transition(s, incident.id, None, "On Hold", hold_reason="Awaiting Change", now=NOW)
    with db.session() as s:
        texts = [
            e.text for e in s.scalars(select(IncidentEvent).where(IncidentEvent.kind == "state"))
        ]
    assert texts == ["Awaiting Vendor", "Awaiting Change"]


def test_flagging_a_major_incident_starts_its_own_timeline(db, org):
    incident = create(db, org)
    with db.transaction() as s:
        moved = wf.update_incident(s, incident.id, 1, {"is_major": True}, now=NOW + M)
        assert (moved.major_declared_at, moved.major_status) == (NOW + M, "investigating")
    with db.session() as s:
        updates = s.scalars(
            select(MajorIncidentUpdate).where(MajorIncidentUpdate.incident_id == incident.id)
        ).all()
        assert [(u.status, u.at) for u in updates] == [("investigating", NOW + M)]
    with db.transaction() as s:
        s.add(PostIncidentReview(incident_id=incident.id))
    with db.transaction() as s, pytest.raises(WorkflowError, match="post-incident review"):
        wf.update_incident(s, incident.id, None, {"is_major": False}, now=NOW)


def test_an_edit_elsewhere_keeps_a_priority_the_matrix_would_not_give(db, org):
    with db.transaction() as s:
        s.add(
            Incident(
                number="INC0000007",
                short_description="imported",
                priority=2,
                impact=3,
                opened_at=NOW,
            )
        )
    with db.transaction() as s:
        ident = s.scalar(select(Incident.id))
        moved = wf.update_incident(s, ident, 1, {"category": "Network"}, now=NOW)
        assert moved.priority == 2
        moved = wf.update_incident(s, ident, moved.version, {"urgency": 2}, now=NOW)
        assert moved.priority == 4
