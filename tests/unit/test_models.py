"""Every area of the data model round-trips on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.models import (
    UTC,
    AppUser,
    AuditEntry,
    BusinessHours,
    BusinessSchedule,
    CabAgendaItem,
    CabMeeting,
    CabVote,
    ChangeRequest,
    ChangeWindow,
    CIRelation,
    ConfigurationItem,
    Contract,
    ContractSlaTarget,
    CorrectiveAction,
    Country,
    CreditRule,
    EscalationLevel,
    EscalationPolicy,
    Holiday,
    Incident,
    IncidentEvent,
    LayerMember,
    Leave,
    OnCallSchedule,
    Person,
    PostIncidentReview,
    RiskOption,
    RiskQuestion,
    ScheduleLayer,
    ScheduleOverride,
    ScorecardCriterion,
    ScorecardPeriod,
    ScorecardScore,
    ScorecardTemplate,
    Service,
    SlaClock,
    SlaDefinition,
    Team,
    Vendor,
)

T0 = dt.datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def _org(s):
    s.add(Country(code="DE", name="Germany", timezone="Europe/Berlin"))
    vendor = Vendor(name="Acme Hosting", category="hosting")
    team = Team(name="Service Desk", email="desk@example.com")
    alex = Person(
        name="Alex Kim",
        email="alex@example.com",
        timezone="Europe/Berlin",
        country_code="DE",
        skills="network, linux",
        is_agent=True,
    )
    team.members.append(alex)
    s.add_all([vendor, team, alex])
    s.flush()
    return vendor, team, alex


def test_incident_round_trip_keeps_every_field_and_aware_utc_times(any_db):
    with any_db.transaction() as s:
        vendor, team, alex = _org(s)
        svc = Service(name="Email", support_group_id=team.id, vendor_id=vendor.id)
        s.add(svc)
        s.flush()
        host = ConfigurationItem(name="mx01", ci_class="server", service_id=svc.id)
        db_ci = ConfigurationItem(name="maildb", ci_class="database", service_id=svc.id)
        s.add_all([host, db_ci])
        s.flush()
        s.add(CIRelation(parent_id=host.id, child_id=db_ci.id))
        berlin = dt.timezone(dt.timedelta(hours=1))
        inc = Incident(
            number="INC0000001",
            short_description="Mail delayed",
            caller_id=alex.id,
            service_id=svc.id,
            ci_id=host.id,
            impact=2,
            urgency=1,
            priority=2,
            state="On Hold",
            hold_reason="Awaiting Vendor",
            assignment_group_id=team.id,
            first_group_id=team.id,
            assignee_id=alex.id,
            vendor_id=vendor.id,
            opened_at=T0.astimezone(berlin),
            is_major=True,
            reassignment_count=1,
        )
        inc.events.append(IncidentEvent(kind="work_note", text="Called vendor", at=T0))
        s.add(inc)
    with any_db.session() as s:
        got = s.scalar(select(Incident).where(Incident.number == "INC0000001"))
        assert got.opened_at == T0 and got.opened_at.tzinfo is not None
        assert got.opened_at.utcoffset() == dt.timedelta(0)
        assert (got.priority, got.state, got.hold_reason) == (2, "On Hold", "Awaiting Vendor")
        assert got.is_major and got.reassignment_count == 1 and got.version == 1
        assert [e.text for e in got.events] == ["Called vendor"]
        assert s.scalar(select(CIRelation.child_id)) is not None
        team = s.scalar(select(Team))
        assert [p.name for p in team.members] == ["Alex Kim"]


def test_naive_datetimes_are_refused(any_db):
    with pytest.raises(Exception, match="naive datetime"):
        with any_db.transaction() as s:
            s.add(Incident(number="INC1", short_description="x", opened_at=dt.datetime(2026, 1, 1)))


def test_sla_schedule_definition_and_clock(any_db):
    with any_db.transaction() as s:
        sched = BusinessSchedule(name="8x5 Berlin", timezone="Europe/Berlin")
        sched.hours = [
            BusinessHours(weekday=d, start_minute=8 * 60, end_minute=17 * 60) for d in range(5)
        ]
        sched.holidays = [Holiday(day=dt.date(2026, 12, 25), name="Christmas Day")]
        s.add(sched)
        s.flush()
        sla = SlaDefinition(
            name="P1 resolution",
            target="resolution",
            duration_seconds=4 * 3600,
            schedule_id=sched.id,
            applies_to={"priority": [1]},
            pause_condition={
                "state": ["On Hold"],
                "hold_reason": ["Awaiting Caller", "Awaiting Vendor"],
            },
        )
        inc = Incident(number="INC2", short_description="down", opened_at=T0)
        s.add_all([sla, inc])
        s.flush()
        s.add(
            SlaClock(
                incident_id=inc.id,
                definition_id=sla.id,
                stage="in_progress",
                started_at=T0,
                due_at=T0 + dt.timedelta(hours=4),
            )
        )
    with any_db.session() as s:
        clock = s.scalar(select(SlaClock))
        assert clock.definition.applies_to == {"priority": [1]}
        assert clock.definition.schedule.timezone == "Europe/Berlin"
        assert len(clock.definition.schedule.hours) == 5
        assert clock.due_at - clock.started_at == dt.timedelta(hours=4)


def test_change_cab_and_windows(any_db):
    with any_db.transaction() as s:
        _, team, alex = _org(s)
        ci = ConfigurationItem(name="core-sw1", ci_class="network")
        chg = ChangeRequest(
            number="CHG0000001",
            short_description="Upgrade switch",
            type="Normal",
            state="Authorize",
            risk="High",
            planned_start=T0,
            planned_end=T0 + dt.timedelta(hours=2),
            assignee_id=alex.id,
            assignment_group_id=team.id,
        )
        chg.cis.append(ci)
        q = RiskQuestion(
            text="How many users are affected?",
            weight=3,
            options=[RiskOption(label="None", score=0), RiskOption(label="All", score=3)],
        )
        window = ChangeWindow(
            kind="blackout",
            name="Year end freeze",
            starts_at=T0,
            ends_at=T0 + dt.timedelta(days=14),
        )
        meeting = CabMeeting(title="Weekly CAB", starts_at=T0, ends_at=T0 + dt.timedelta(hours=1))
        meeting.attendees.append(alex)
        s.add_all([chg, q, window, meeting])
        s.flush()
        item = CabAgendaItem(
            meeting_id=meeting.id,
            change_id=chg.id,
            position=1,
            decision="approved",
            conditions="After 22:00 only",
        )
        item.votes.append(CabVote(person_id=alex.id, vote="approve"))
        s.add(item)
    with any_db.session() as s:
        meeting = s.scalar(select(CabMeeting))
        assert [a.name for a in meeting.attendees] == ["Alex Kim"]
        assert meeting.agenda[0].decision == "approved"
        assert meeting.agenda[0].votes[0].vote == "approve"
        assert [c.name for c in s.scalar(select(ChangeRequest)).cis] == ["core-sw1"]
        assert [o.score for o in s.scalar(select(RiskQuestion)).options] == [0, 3]


def test_roster_and_escalation(any_db):
    with any_db.transaction() as s:
        _, team, alex = _org(s)
        sched = OnCallSchedule(name="Network 24x7", team_id=team.id, timezone="Europe/Berlin")
        layer = ScheduleLayer(
            name="Primary",
            role="primary",
            rotation_start=T0,
            turn_seconds=7 * 86400,
            restrictions=[{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}],
        )
        layer.members.append(LayerMember(person_id=alex.id, position=0))
        sched.layers.append(layer)
        s.add(sched)
        s.flush()
        s.add(
            ScheduleOverride(
                schedule_id=sched.id,
                person_id=alex.id,
                starts_at=T0,
                ends_at=T0 + dt.timedelta(hours=8),
                reason="swap",
            )
        )
        s.add(
            Leave(person_id=alex.id, starts_on=dt.date(2026, 12, 24), ends_on=dt.date(2026, 12, 31))
        )
        policy = EscalationPolicy(name="Network escalation", team_id=team.id)
        policy.levels = [
            EscalationLevel(
                level=1,
                label="L1 on call",
                timeout_minutes=15,
                schedule_id=sched.id,
                layer_role="primary",
            )
        ]
        s.add(policy)
    with any_db.session() as s:
        layer = s.scalar(select(ScheduleLayer))
        assert layer.restrictions[0]["start"] == "08:00"
        assert layer.members[0].person_id is not None
        assert s.scalar(select(EscalationPolicy)).levels[0].timeout_minutes == 15


def test_vendor_contract_and_scorecard(any_db):
    with any_db.transaction() as s:
        vendor, _, _ = _org(s)
        contract = Contract(
            vendor_id=vendor.id,
            reference="C-001",
            title="Hosting",
            starts_on=dt.date(2025, 1, 1),
            ends_on=dt.date(2027, 12, 31),
            monthly_fee=Decimal("12500.00"),
        )
        contract.sla_targets.append(ContractSlaTarget(metric="availability", target_percent=99.9))
        contract.credit_rules.append(
            CreditRule(target_percent=99.9, percent_per_point=5, cap_percent=20)
        )
        tmpl = ScorecardTemplate(name="Quarterly review")
        tmpl.criteria = [
            ScorecardCriterion(
                name="SLA attainment", kind="measured", metric="sla_attainment", weight=60
            ),
            ScorecardCriterion(name="Relationship", kind="judged", weight=40),
        ]
        s.add_all([contract, tmpl])
        s.flush()
        period = ScorecardPeriod(
            vendor_id=vendor.id,
            template_id=tmpl.id,
            period="2026-Q3",
            starts_on=dt.date(2026, 7, 1),
            ends_on=dt.date(2026, 9, 30),
        )
        s.add(period)
        s.flush()
        s.add(ScorecardScore(period_id=period.id, criterion_id=tmpl.criteria[1].id, judged=4))
    with any_db.session() as s:
        contract = s.scalar(select(Contract))
        assert contract.monthly_fee == Decimal("12500.00")
        assert sum(c.weight for c in s.scalar(select(ScorecardTemplate)).criteria) == 100
        assert s.scalar(select(ScorecardPeriod)).scores[0].judged == 4


def test_major_incident_review_with_actions(any_db):
    with any_db.transaction() as s:
        _, _, alex = _org(s)
        inc = Incident(number="INC3", short_description="Outage", opened_at=T0, is_major=True)
        s.add(inc)
        s.flush()
        review = PostIncidentReview(incident_id=inc.id, root_cause="Expired certificate")
        review.actions.append(
            CorrectiveAction(
                description="Monitor expiry", owner_id=alex.id, due_on=dt.date(2026, 12, 15)
            )
        )
        s.add(review)
    with any_db.session() as s:
        assert s.scalar(select(PostIncidentReview)).actions[0].due_on == dt.date(2026, 12, 15)


def test_a_save_over_a_newer_version_is_refused(any_db):
    with any_db.transaction() as s:
        s.add(Team(name="Database"))
    mine, theirs = any_db.session(), any_db.session()
    my_team = mine.scalar(select(Team))
    their_team = theirs.scalar(select(Team))
    their_team.name = "DBA"
    theirs.commit()
    my_team.name = "Databases"
    with pytest.raises(StaleDataError):
        mine.commit()
    mine.rollback()
    with any_db.session() as s:
        team = s.scalar(select(Team))
        assert (team.name, team.version) == ("DBA", 2)
    mine.close()
    theirs.close()


def test_every_edit_is_audited_in_the_same_transaction(any_db):
    any_db.identity.username = "alex"
    with any_db.transaction() as s:
        s.add(AppUser(username="alex", display_name="Alex Kim", role="service_manager"))
        s.add(Team(name="Network"))
    with any_db.transaction() as s:
        s.scalar(select(Team)).email = "net@example.com"
    with pytest.raises(RuntimeError):
        with any_db.transaction() as s:
            s.scalar(select(Team)).email = "lost@example.com"
            s.flush()
            raise RuntimeError("the save failed")
    with any_db.session() as s:
        rows = s.execute(
            select(
                AuditEntry.entity,
                AuditEntry.action,
                AuditEntry.field,
                AuditEntry.old_value,
                AuditEntry.new_value,
                AuditEntry.username,
            ).order_by(AuditEntry.id)
        ).all()
    assert ("team", "update", "email", None, "net@example.com", "alex") in rows
    assert not any(r.new_value == "lost@example.com" for r in rows)
    assert {(r.entity, r.action) for r in rows} >= {("app_user", "insert"), ("team", "insert")}
