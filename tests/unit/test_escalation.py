"""The escalation matrix service: validation in words, transactional audited saves."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.models import (
    AuditEntry,
    EscalationLevel,
    EscalationPolicy,
    LayerMember,
    OnCallSchedule,
    Person,
    ScheduleLayer,
    Team,
)
from app.services import escalation as esc
from app.services.escalation import LevelDraft


@pytest.fixture
def matrix(db):
    """A schedule with primary and secondary layers and a two-level policy calling it."""
    with db.transaction() as s:
        team = Team(name="Network")
        people = [Person(name=n, is_agent=True) for n in ("Ana", "Ben", "Cleo")]
        s.add_all([team, *people])
        s.flush()
        schedule = OnCallSchedule(name="Network on call", team_id=team.id)
        start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
        for k, role in enumerate(("primary", "secondary")):
            layer = ScheduleLayer(
                name=role.capitalize(), role=role, position=k, rotation_start=start
            )
            layer.members = [LayerMember(person_id=p.id, position=i) for i, p in enumerate(people)]
            schedule.layers.append(layer)
        s.add(schedule)
        s.flush()
        policy = EscalationPolicy(name="Network escalation", team_id=team.id)
        policy.levels = [
            EscalationLevel(
                level=1,
                label="L1 on call",
                timeout_minutes=15,
                schedule_id=schedule.id,
                layer_role="primary",
            ),
            EscalationLevel(
                level=2, label="L3 team lead", timeout_minutes=30, person_id=people[2].id
            ),
        ]
        s.add(policy)
        s.flush()
        ids = {
            "schedule": schedule.id,
            "policy": policy.id,
            "ana": people[0].id,
            "cleo": people[2].id,
        }
    return db, ids


def test_validation_names_every_broken_rule():
    assert esc.validate_levels([]) == ["The matrix needs at least one level: whom to call first."]
    problems = esc.validate_levels(
        [
            LevelDraft("L1", 30, person_id=1),
            LevelDraft("", 10, person_id=2),
            LevelDraft("L3", 0),
        ]
    )
    assert problems[0] == "Level 2 needs a label, such as “L2 on call”."
    assert "less than the 30 min of level 1; timeouts must not decrease" in problems[1]
    assert problems[2].startswith("Level 3 (L3) must wait at least 1 minute")
    assert problems[3] == (
        "Level 3 (L3) has no contact: choose a person or the on-call role of a schedule."
    )
    assert esc.validate_levels([LevelDraft("L1", 2000, person_id=1)]) == [
        "Level 1 (L1) waits 2000 minutes; the longest allowed is a day (1440)."
    ]
    roles = {7: {"primary"}}
    assert esc.validate_levels(
        [LevelDraft("L1", 5, schedule_id=7, layer_role="secondary")], schedule_roles=roles
    ) == [
        "Level 1 (L1) calls the secondary on call, but that schedule has no secondary layer "
        "(it has primary)."
    ]
    assert esc.validate_levels([LevelDraft("L1", 5, person_id=1)], repeat_count=12)


def test_levels_are_reached_one_timeout_after_another():
    levels = [LevelDraft("a", 15), LevelDraft("b", 15), LevelDraft("c", 30)]
    assert esc.reached_after(levels) == [0, 15, 30]


def test_a_policy_loads_with_who_each_level_calls(matrix):
    db, ids = matrix
    with db.session() as s:
        detail = esc.load_policy(s, ids["policy"])
        assert [lv.who for lv in detail.levels] == ["Primary on call of Network on call", "Cleo"]
        assert [lv.reached_after for lv in detail.levels] == [0, 15]
        assert [p.name for p in esc.list_policies(s, ids["schedule"])] == ["Network escalation"]
        choices = esc.contact_choices(s, ids["schedule"])
        assert [name for _, name in choices.people][:3] == ["Ana", "Ben", "Cleo"]
        assert choices.schedules[0][2] == ("primary", "secondary")


def test_saving_edits_reorders_adds_and_removes_in_one_audited_transaction(matrix):
    db, ids = matrix
    with db.session() as s:
        detail = esc.load_policy(s, ids["policy"])
    first, lead = detail.levels
    levels = [
        first,
        LevelDraft("L2 secondary", 20, schedule_id=ids["schedule"], layer_role="secondary"),
        LevelDraft(
            lead.label, 45, person_id=lead.person_id, contact="+44 20 7946 0000", id=lead.id
        ),
    ]
    with db.transaction() as s:
        saved = esc.save_policy(s, ids["policy"], levels, version=detail.version, repeat_count=2)
    assert [(lv.label, lv.timeout_minutes) for lv in saved.levels] == [
        ("L1 on call", 15),
        ("L2 secondary", 20),
        ("L3 team lead", 45),
    ]
    assert saved.levels[2].id == lead.id and saved.version == detail.version + 1
    with db.session() as s:
        rows = s.scalars(
            select(EscalationLevel)
            .where(EscalationLevel.policy_id == ids["policy"])
            .order_by(EscalationLevel.level)
        ).all()
        assert [r.level for r in rows] == [1, 2, 3]
        assert s.get(EscalationPolicy, ids["policy"]).repeat_count == 2
        audit = s.execute(
            select(AuditEntry.action, AuditEntry.field, AuditEntry.new_value).where(
                AuditEntry.entity == "escalation_level"
            )
        ).all()
        assert ("update", "timeout_minutes", "45") in audit
        assert ("update", "level", "3") in audit
        assert any(action == "insert" for action, _, _ in audit)

    # Removing a level deletes it (audited), and the rest close up.
    with db.transaction() as s:
        saved = esc.save_policy(s, ids["policy"], [saved.levels[0], saved.levels[2]])
    assert [lv.label for lv in saved.levels] == ["L1 on call", "L3 team lead"]
    with db.session() as s:
        deletes = s.scalar(
            select(func.count()).where(
                AuditEntry.entity == "escalation_level", AuditEntry.action == "delete"
            )
        )
        assert deletes == 1


def test_bad_input_is_refused_and_nothing_is_written(matrix):
    db, ids = matrix
    with db.session() as s:
        detail = esc.load_policy(s, ids["policy"])
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    bad = [detail.levels[0], LevelDraft("L2", 5)]
    with pytest.raises(esc.EscalationInvalid) as caught:
        with db.transaction() as s:
            esc.save_policy(s, ids["policy"], bad)
    assert caught.value.problems == [
        "Level 2 (L2) waits 5 min before escalating, less than the 15 min of level 1; "
        "timeouts must not decrease down the matrix.",
        "Level 2 (L2) has no contact: choose a person or the on-call role of a schedule.",
    ]
    with pytest.raises(esc.EscalationInvalid, match="does not exist"):
        with db.transaction() as s:
            esc.save_policy(s, ids["policy"], [LevelDraft("L1", 5, person_id=999)])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before
        assert len(esc.load_policy(s, ids["policy"]).levels) == 2


def test_a_save_over_a_newer_one_is_refused(matrix):
    db, ids = matrix
    with db.session() as s:
        stale = esc.load_policy(s, ids["policy"])
    with db.transaction() as s:
        esc.save_policy(s, ids["policy"], list(stale.levels), version=stale.version)
    with pytest.raises(esc.EscalationConflict, match="Someone else saved"):
        with db.transaction() as s:
            esc.save_policy(s, ids["policy"], list(stale.levels), version=stale.version)


def test_a_new_policy_gets_the_schedules_roles(matrix):
    db, ids = matrix
    with db.transaction() as s:
        detail = esc.create_policy(
            s, "Network nights", esc.default_levels(ids["schedule"], ["primary", "secondary"])
        )
    assert [lv.who for lv in detail.levels] == [
        "Primary on call of Network on call",
        "Secondary on call of Network on call",
    ]
    with pytest.raises(esc.EscalationInvalid, match="already exists"):
        with db.transaction() as s:
            esc.create_policy(s, "Network nights", esc.default_levels(ids["schedule"], []))
