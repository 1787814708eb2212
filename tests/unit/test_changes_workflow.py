"""The change request workflow as a change manager and the CAB live it."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db import Identity
from app.models import (
    UTC,
    AppUser,
    AuditEntry,
    CabAgendaItem,
    CabMeeting,
    CabVote,
    ChangeRequest,
    ChangeReview,
    ChangeTemplate,
    CIRelation,
    ConfigurationItem,
    Incident,
    IncidentEvent,
    Person,
    RiskOption,
    RiskQuestion,
    Service,
    Team,
)
from app.models.enums import ChangeState, ChangeType
from app.services import changes as cw
from app.services.changes import (
    ALLOWED_TRANSITIONS,
    ChangeFilter,
    ConflictError,
    MissingFieldsError,
    WorkflowError,
)
from app.services.conflicts import ConflictType

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
S = ChangeState

#: (text, weight, option scores) of the test questionnaire: max score 3*3 + 2*3 + 1*2 = 17.
QUESTIONS = [
    ("Users affected?", 3, [0, 1, 3]),
    ("Complexity?", 2, [0, 1, 3]),
    ("Tested?", 1, [0, 2]),
]


@pytest.fixture
def org(db):
    """A group with two members, a service with CIs (one the parent of another), a
    three-question risk questionnaire, a template and a signed-in change manager."""
    return make_org(db)


def make_org(db) -> dict:
    with db.transaction() as s:
        ann, ben, cat = (Person(name=n) for n in ("Ann Lee", "Ben Ode", "Cat Roy"))
        ops = Team(name="Operations", members=[ann, ben])
        cab = Team(name="Change Management", members=[cat])
        mail = Service(name="Email")
        erp = Service(name="ERP")
        s.add_all([ann, ben, cat, ops, cab, mail, erp])
        s.flush()
        host = ConfigurationItem(name="host01", ci_class="server", service_id=mail.id)
        mx = ConfigurationItem(name="mx01", ci_class="application", service_id=mail.id)
        erp1 = ConfigurationItem(name="erp01", ci_class="server", service_id=erp.id)
        s.add_all([host, mx, erp1])
        s.flush()
        s.add(CIRelation(parent_id=host.id, child_id=mx.id))
        questions = {}
        for position, (text, weight, scores) in enumerate(QUESTIONS, start=1):
            q = RiskQuestion(position=position, text=text, weight=weight)
            q.options = [RiskOption(label=f"{text} {score}", score=score) for score in scores]
            s.add(q)
            s.flush()
            questions[text] = (q.id, [o.id for o in q.options])
        template = ChangeTemplate(
            name="Renew TLS certificate",
            description="Renew an expiring certificate.",
            risk="Low",
            implementation_plan="Install the new certificate.",
            test_plan="Check the chain in a browser.",
            backout_plan="Restore the old certificate.",
            typical_duration_minutes=45,
        )
        retired = ChangeTemplate(name="Old template", risk="Low", active=False)
        user = AppUser(username="ann", person_id=ann.id, display_name="Ann Lee", role="admin")
        s.add_all([template, retired, user])
        s.flush()
        ids = {
            "ann": ann.id,
            "ben": ben.id,
            "cat": cat.id,
            "ops": ops.id,
            "cab": cab.id,
            "mail": mail.id,
            "erp": erp.id,
            "host": host.id,
            "mx": mx.id,
            "erp01": erp1.id,
            "template": template.id,
            "retired": retired.id,
            "questions": questions,
        }
        db.identity = Identity(username="ann", user_id=user.id, display_name="Ann Lee")
    return ids


def create(db, org, type="Normal", **fields) -> ChangeRequest:
    with db.transaction() as s:
        return cw.new_change(
            s,
            fields.pop("short_description", "Upgrade mail server"),
            type=type,
            now=fields.pop("now", NOW),
            **fields,
        )


def ready_fields(org, start=NOW + 2 * D) -> dict:
    """Every field Authorize needs, as update_change takes them."""
    return {
        "service_id": org["mail"],
        "assignment_group_id": org["ops"],
        "assignee_id": org["ben"],
        "implementation_plan": "1. Stop\n2. Upgrade\n3. Start",
        "test_plan": "Send a test mail.",
        "backout_plan": "Restore the snapshot.",
        "planned_start": start,
        "planned_end": start + 2 * H,
    }


def answer_all(db, change_id, picks=(0, 0, 0), now=NOW):
    with db.transaction() as s:
        questions = s.scalars(select(RiskQuestion).order_by(RiskQuestion.position)).all()
        answers = {q.id: q.options[i].id for q, i in zip(questions, picks, strict=False)}
        return cw.answer_risk(s, change_id, answers, now=now)


def decide(db, change_id, decision="approved", *, emergency=False, at=NOW - H, votes=()):
    """Put the change on a (E)CAB agenda with the board's decision."""
    with db.transaction() as s:
        meeting = CabMeeting(
            title="ECAB" if emergency else "Weekly CAB",
            starts_at=at,
            ends_at=at + H,
            emergency=emergency,
        )
        s.add(meeting)
        s.flush()
        item = CabAgendaItem(
            meeting_id=meeting.id, change_id=change_id, decision=decision, decided_at=at
        )
        s.add(item)
        s.flush()
        for person_id, vote in votes:
            s.add(CabVote(agenda_item_id=item.id, person_id=person_id, vote=vote))
        return item.id


def move(db, change_id, to_state, version=None, now=NOW, **fields) -> ChangeRequest:
    with db.transaction() as s:
        change = s.get(ChangeRequest, change_id)
        return cw.transition(s, change_id, to_state, version or change.version, now=now, **fields)


def update(db, change_id, now=NOW, **fields) -> ChangeRequest:
    with db.transaction() as s:
        change = s.get(ChangeRequest, change_id)
        return cw.update_change(s, change_id, change.version, now=now, **fields)


def authorized_normal(db, org, **extra) -> ChangeRequest:
    """A Normal change in Authorize with everything filled in and the risk answered."""
    change = create(db, org, **ready_fields(org), **extra)
    answer_all(db, change.id)
    move(db, change.id, S.ASSESS)
    return move(db, change.id, S.AUTHORIZE)


# Creating


def test_new_change_is_numbered_new_and_audited(db, org):
    first = create(db, org)
    second = create(db, org, short_description="Second")
    assert (first.number, second.number) == ("CHG0000001", "CHG0000002")
    assert first.state == "New" and first.version == 1 and first.type == "Normal"
    assert first.requested_by_id == org["ann"]
    assert first.opened_at == NOW
    with db.session() as s:
        audit = s.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "change_request", AuditEntry.entity_id == str(first.id)
            )
        ).all()
    assert [(a.action, a.new_value, a.username) for a in audit] == [("insert", "CHG0000001", "ann")]


def test_new_change_needs_a_short_description_and_known_records(db, org):
    with pytest.raises(MissingFieldsError, match="short description") as err:
        create(db, org, short_description="   ")
    assert err.value.missing == ("short_description",)
    with pytest.raises(WorkflowError, match="Service no longer exists"):
        create(db, org, service_id=999)
    with pytest.raises(WorkflowError, match="Ben Ode is not a member of Change Management"):
        create(db, org, assignment_group_id=org["cab"], assignee_id=org["ben"])
    with pytest.raises(WorkflowError, match="not a change type"):
        create(db, org, type="Urgent")
    with pytest.raises(WorkflowError, match="Risk cannot be set"):
        create(db, org, risk="Low")
    with pytest.raises(WorkflowError, match="Only standard changes"):
        create(db, org, template_id=org["template"])
    with db.session() as s:
        assert s.scalar(select(ChangeRequest.id)) is None


def test_new_change_with_affected_services_and_cis(db, org):
    change = create(db, org, service_ids=[org["mail"]], ci_ids=[org["mx"], org["host"]])
    assert change.version == 1
    with db.session() as s:
        detail = cw.change_detail(s, change.id)
    assert [r.label for r in detail.services] == ["Email"]
    assert [r.label for r in detail.cis] == ["host01", "mx01"]
    with pytest.raises(WorkflowError, match="1 of the chosen configuration items no longer"):
        create(db, org, ci_ids=[org["mx"], 12345])


def test_standard_change_from_template_copies_plans_and_risk_and_skips_cab(db, org):
    change = create(
        db,
        org,
        type="Standard",
        short_description="",
        template_id=org["template"],
        service_id=org["mail"],
        assignment_group_id=org["ops"],
        planned_start=NOW + D,
    )
    assert change.short_description == "Renew TLS certificate"
    assert change.template_id == org["template"]
    assert change.implementation_plan == "Install the new certificate."
    assert change.test_plan == "Check the chain in a browser."
    assert change.backout_plan == "Restore the old certificate."
    assert change.risk == "Low" and change.risk_score is None
    assert change.planned_end == NOW + D + dt.timedelta(minutes=45)
    with pytest.raises(WorkflowError, match="cannot go from New to Assess"):
        move(db, change.id, S.ASSESS)
    scheduled = move(db, change.id, S.SCHEDULED)  # no Assess, no Authorize, no CAB
    assert scheduled.state == "Scheduled"
    with db.session() as s, pytest.raises(WorkflowError, match="risk comes from its template"):
        cw.answer_risk(s, change.id, {})


def test_standard_change_needs_an_active_template(db, org):
    with pytest.raises(WorkflowError, match="made from a template"):
        create(db, org, type="Standard")
    with pytest.raises(WorkflowError, match="retired"):
        create(db, org, type="Standard", template_id=org["retired"])


def test_standard_change_plans_typed_in_win_over_the_template(db, org):
    change = create(
        db, org, type="Standard", template_id=org["template"], test_plan="Our own test."
    )
    assert change.test_plan == "Our own test."
    assert change.backout_plan == "Restore the old certificate."


# Transitions


def _furnished(db, org, type_, state) -> int:
    """A change of ``type_`` placed in ``state`` with every field any state needs."""
    if type_ == "Standard":
        change = create(db, org, type="Standard", template_id=org["template"], **ready_fields(org))
    else:
        change = create(db, org, type=type_, **ready_fields(org))
        answer_all(db, change.id)
        decide(db, change.id, emergency=type_ == "Emergency")
    with db.transaction() as s:
        row = s.get(ChangeRequest, change.id)
        row.state = state
        row.actual_start = NOW - 3 * H
        row.actual_end = NOW - 2 * H
        s.add(ChangeReview(change_id=row.id, outcome="Went fine."))
    return change.id


TYPES = [t.value for t in ChangeType]
STATES = [s.value for s in ChangeState]


@pytest.mark.parametrize(
    ("type_", "current", "target"),
    [
        (t, a, b)
        for t, a, b in itertools.product(TYPES, STATES, STATES)
        if a != b and a in ALLOWED_TRANSITIONS[t]
    ],
)
def test_every_transition_is_allowed_or_refused_per_type(db, org, type_, current, target):
    change_id = _furnished(db, org, type_, current)
    fields = {}
    if target == S.CLOSED:
        fields = {"close_code": "Successful"}
    if target == S.CANCELED:
        fields = {"close_notes": "No longer needed."}
    allowed = target in ALLOWED_TRANSITIONS[type_][current]
    if allowed:
        moved = move(db, change_id, target, **fields)
        assert moved.state == target
        assert (moved.closed_at is not None) == (target in (S.CLOSED, S.CANCELED))
    else:
        with pytest.raises(WorkflowError, match="cannot go from|final"):
            move(db, change_id, target, **fields)
        with db.session() as s:
            assert s.get(ChangeRequest, change_id).state == current


def test_transition_table_shape():
    for type_ in TYPES:
        table = ALLOWED_TRANSITIONS[type_]
        assert table[S.CLOSED] == () and table[S.CANCELED] == ()
        assert S.CANCELED not in table[S.IMPLEMENT]
    assert S.ASSESS not in ALLOWED_TRANSITIONS["Standard"]
    assert S.AUTHORIZE not in ALLOWED_TRANSITIONS["Standard"]
    assert S.ASSESS not in ALLOWED_TRANSITIONS["Emergency"]
    assert S.IMPLEMENT in ALLOWED_TRANSITIONS["Emergency"][S.AUTHORIZE]  # the fast path


def test_unknown_and_same_state_are_refused(db, org):
    change = create(db, org)
    with pytest.raises(WorkflowError, match="not a change state"):
        move(db, change.id, "Done")
    with pytest.raises(WorkflowError, match="already New"):
        move(db, change.id, S.NEW)


# Required fields


def test_assess_needs_a_service_or_ci_and_a_group(db, org):
    change = create(db, org)
    with pytest.raises(MissingFieldsError) as err:
        move(db, change.id, S.ASSESS)
    assert str(err.value) == (
        "CHG0000001 cannot move to Assess yet: it needs a service or configuration item "
        "and an assignment group."
    )
    assert err.value.missing == ("scope", "assignment_group_id")
    # An affected CI is scope enough; the fields can come with the move.
    with db.transaction() as s:
        cw.set_affected(s, change.id, [], [org["mx"]], now=NOW)
    moved = move(db, change.id, S.ASSESS, assignment_group_id=org["ops"])
    assert (moved.state, moved.assignment_group_id) == ("Assess", org["ops"])


def test_authorize_names_every_missing_field(db, org):
    change = create(db, org, service_id=org["mail"], assignment_group_id=org["ops"])
    move(db, change.id, S.ASSESS)
    with pytest.raises(MissingFieldsError) as err:
        move(db, change.id, S.AUTHORIZE)
    assert str(err.value) == (
        "CHG0000001 cannot move to Authorize yet: it needs a risk assessment (every risk "
        "question answered), an implementation plan, a test plan, a back-out plan, a planned "
        "start and a planned end."
    )
    fields = ready_fields(org)
    with pytest.raises(MissingFieldsError) as err:
        move(db, change.id, S.AUTHORIZE, **fields)
    assert err.value.missing == ("risk_assessed",)
    answer_all(db, change.id)
    assert move(db, change.id, S.AUTHORIZE, **fields).state == "Authorize"


def test_planned_window_must_end_after_it_starts(db, org):
    change = create(db, org)
    with pytest.raises(WorkflowError, match=r"Planned end \(.*\) must be after planned start"):
        update(db, change.id, planned_start=NOW + D, planned_end=NOW + D)
    with pytest.raises(WorkflowError, match="must be after"):
        create(db, org, planned_start=NOW + D, planned_end=NOW)
    update(db, change.id, planned_start=NOW + D)
    with pytest.raises(WorkflowError, match="must be after"):
        update(db, change.id, planned_end=NOW)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"planned_start": "next tuesday"}, "must be a date and time like"),
        ({"planned_start": dt.datetime(2026, 12, 1, 10)}, "has no time zone"),
        ({"planned_start": 42}, "must be a date and time"),
        ({"short_description": "x" * 201}, "limit is 200"),
        ({"test_plan": 7}, "must be text"),
        ({"assignment_group_id": "ops"}, "must be chosen from the list"),
        ({"assignee_id": True}, "must be chosen from the list"),
        ({"state": "Closed"}, "workflow buttons"),
        ({"risk": "Low"}, "Risk cannot be changed here"),
        ({"close_code": "Successful"}, "given when closing"),
        ({"number": "CHG1"}, "Number cannot be changed here"),
        ({"actual_start": NOW + D}, "cannot be in the future"),
        ({"actual_end": NOW - H}, "actual end needs an actual start"),
        ({"vendor_id": 999}, "Vendor no longer exists"),
        ({"assignee_id": 1}, "Choose an assignment group before"),
    ],
)
def test_impossible_values_are_refused(db, org, fields, message):
    change = create(db, org)
    with pytest.raises(WorkflowError, match=message):
        update(db, change.id, **fields)
    with db.session() as s:
        assert s.get(ChangeRequest, change.id).version == 1


def test_string_dates_are_read_as_utc(db, org):
    change = create(db, org)
    updated = update(
        db, change.id, planned_start="2026-12-01 10:00", planned_end="2026-12-01T12:00+01:00"
    )
    assert updated.planned_start == dt.datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert updated.planned_end == dt.datetime(2026, 12, 1, 11, tzinfo=UTC)


def test_normal_change_needs_cab_approval_to_be_scheduled_and_implemented(db, org):
    change = authorized_normal(db, org)
    with pytest.raises(MissingFieldsError, match="it needs an approved CAB decision") as err:
        move(db, change.id, S.SCHEDULED)
    assert err.value.missing == ("approval",)
    decide(db, change.id, "more_info", at=NOW - 2 * D)
    with pytest.raises(MissingFieldsError, match="approved CAB decision"):
        move(db, change.id, S.SCHEDULED)
    decide(db, change.id, "approved", at=NOW - D)
    assert move(db, change.id, S.SCHEDULED).state == "Scheduled"
    # A later meeting that rejects it overrides the approval.
    decide(db, change.id, "rejected", at=NOW - H)
    with pytest.raises(MissingFieldsError, match="approved CAB decision"):
        move(db, change.id, S.IMPLEMENT)
    decide(db, change.id, "approved", at=NOW - dt.timedelta(minutes=5))
    implementing = move(db, change.id, S.IMPLEMENT)
    assert implementing.actual_start == NOW  # set by the move


def test_emergency_change_fast_path_needs_ecab_approval(db, org):
    change = create(db, org, type="Emergency", **ready_fields(org, start=NOW + H))
    answer_all(db, change.id, (2, 2, 1))
    with pytest.raises(WorkflowError, match="cannot go from New to Assess"):
        move(db, change.id, S.ASSESS)
    move(db, change.id, S.AUTHORIZE)
    with pytest.raises(MissingFieldsError, match="an approved ECAB decision"):
        move(db, change.id, S.IMPLEMENT)
    decide(db, change.id, emergency=True, votes=[(org["cat"], "approve")])
    moved = move(db, change.id, S.IMPLEMENT, actual_start=NOW - dt.timedelta(minutes=10))
    assert moved.state == "Implement"
    assert moved.actual_start == NOW - dt.timedelta(minutes=10)


def test_review_needs_the_actual_end_after_the_actual_start(db, org):
    change = authorized_normal(db, org)
    decide(db, change.id)
    move(db, change.id, S.SCHEDULED)
    move(db, change.id, S.IMPLEMENT, now=NOW)
    with pytest.raises(MissingFieldsError, match="it needs an actual end"):
        move(db, change.id, S.REVIEW, now=NOW + H)
    with pytest.raises(WorkflowError, match="Actual end .* must be after actual start"):
        move(db, change.id, S.REVIEW, now=NOW + H, actual_end=NOW - H)
    with pytest.raises(WorkflowError, match="cannot be in the future"):
        move(db, change.id, S.REVIEW, now=NOW + H, actual_end=NOW + 3 * H)
    moved = move(db, change.id, S.REVIEW, now=NOW + 2 * H, actual_end=NOW + H)
    assert (moved.state, moved.actual_end) == ("Review", NOW + H)


def _in_review(db, org, type_="Normal"):
    if type_ == "Normal":
        change = authorized_normal(db, org)
        decide(db, change.id)
        move(db, change.id, S.SCHEDULED)
    else:
        change = create(db, org, type="Emergency", **ready_fields(org, start=NOW))
        answer_all(db, change.id)
        move(db, change.id, S.AUTHORIZE)
        decide(db, change.id, emergency=True)
    move(db, change.id, S.IMPLEMENT, now=NOW)
    return move(db, change.id, S.REVIEW, now=NOW + 2 * H, actual_end=NOW + H)


def test_closing_needs_a_close_code_and_notes_unless_successful(db, org):
    change = _in_review(db, org)
    later = NOW + 3 * H
    with pytest.raises(MissingFieldsError) as err:
        move(db, change.id, S.CLOSED, now=later)
    assert str(err.value) == (
        "CHG0000001 cannot move to Closed yet: it needs a close code (Successful, "
        "Successful with issues or Unsuccessful) and close notes."
    )
    with pytest.raises(WorkflowError, match="not a close code"):
        move(db, change.id, S.CLOSED, now=later, close_code="Done")
    with pytest.raises(MissingFieldsError, match="it needs close notes.") as err:
        move(db, change.id, S.CLOSED, now=later, close_code="Successful with issues")
    assert err.value.missing == ("close_notes",)
    closed = move(db, change.id, S.CLOSED, now=later, close_code="Successful")
    assert (closed.state, closed.close_code, closed.closed_at) == ("Closed", "Successful", later)
    with pytest.raises(WorkflowError, match="Closed; it can no longer be changed"):
        update(db, change.id, description="late edit")
    with pytest.raises(WorkflowError, match="that is final"):
        move(db, change.id, S.REVIEW)


def test_failed_and_emergency_changes_need_a_review_before_closing(db, org):
    change = _in_review(db, org)
    later = NOW + 3 * H
    with pytest.raises(MissingFieldsError) as err:
        move(db, change.id, S.CLOSED, now=later, close_code="Unsuccessful")
    assert err.value.missing == ("close_notes", "review")
    assert "close notes and a post-implementation review" in str(err.value)
    with db.transaction() as s:
        cw.record_review(s, change.id, "Backed out: the upgrade hung.", "Test on a copy first.")
    closed = move(
        db, change.id, S.CLOSED, now=later, close_code="Unsuccessful", close_notes="Hung."
    )
    assert closed.state == "Closed"

    emergency = _in_review(db, org, "Emergency")
    with pytest.raises(MissingFieldsError, match="a post-implementation review"):
        move(db, emergency.id, S.CLOSED, now=later, close_code="Successful")
    with db.transaction() as s:
        review = cw.record_review(s, emergency.id, "Fixed the outage.", now=later)
        assert review.reviewer_id == org["ann"] and review.reviewed_on == later.date()
    assert move(db, emergency.id, S.CLOSED, now=later, close_code="Successful").state == "Closed"


def test_review_only_after_implementation(db, org):
    change = create(db, org)
    with db.session() as s, pytest.raises(WorkflowError, match="follows the implementation"):
        cw.record_review(s, change.id, "Too early")


def test_canceling_needs_a_reason(db, org):
    change = create(db, org)
    with pytest.raises(
        MissingFieldsError, match="cannot move to Canceled yet: it needs close notes"
    ):
        move(db, change.id, S.CANCELED)
    canceled = move(db, change.id, S.CANCELED, close_notes="Superseded by CHG0000009.")
    assert (canceled.state, canceled.close_code, canceled.closed_at) == ("Canceled", None, NOW)


def test_close_fields_only_when_closing(db, org):
    change = create(db, org, service_id=org["mail"], assignment_group_id=org["ops"])
    with pytest.raises(WorkflowError, match="given when closing"):
        move(db, change.id, S.ASSESS, close_notes="x")


# Keeping a state's fields


def test_edits_cannot_take_away_what_the_state_needs(db, org):
    change = authorized_normal(db, org)
    with pytest.raises(MissingFieldsError) as err:
        update(db, change.id, test_plan="", assignment_group_id=None, assignee_id=None)
    assert str(err.value) == (
        "CHG0000001 is in Authorize, which needs an assignment group and a test plan."
    )
    with db.session() as s, pytest.raises(MissingFieldsError, match="a service or configuration"):
        # The service is on the row; take it away with no affected service or CI left.
        cw.update_change(s, change.id, None, service_id=None, now=NOW)
    updated = update(db, change.id, test_plan="A better test.")
    assert updated.test_plan == "A better test."


def test_what_the_cab_approved_is_locked_once_scheduled(db, org):
    change = authorized_normal(db, org)
    decide(db, change.id)
    move(db, change.id, S.SCHEDULED)
    with pytest.raises(
        WorkflowError, match="Scheduled: its planned end and planned start cannot change after"
    ):
        update(db, change.id, planned_start=NOW + 3 * D, planned_end=NOW + 3 * D + H)
    with db.session() as s, pytest.raises(WorkflowError, match="its risk answers cannot change"):
        cw.answer_risk(s, change.id, {})
    with db.session() as s, pytest.raises(WorkflowError, match="affected services"):
        cw.set_affected(s, change.id, [org["erp"]], [])
    assert update(db, change.id, description="More detail.").description == "More detail."
    move(db, change.id, S.AUTHORIZE)
    moved = update(db, change.id, planned_start=NOW + 3 * D, planned_end=NOW + 3 * D + H)
    assert moved.planned_start == NOW + 3 * D


def test_a_standard_change_can_be_rescheduled_but_not_once_implementing(db, org):
    change = create(db, org, type="Standard", template_id=org["template"], **ready_fields(org))
    move(db, change.id, S.SCHEDULED)
    moved = update(db, change.id, planned_start=NOW + 4 * D, planned_end=NOW + 4 * D + H)
    assert moved.planned_start == NOW + 4 * D
    move(db, change.id, S.IMPLEMENT)
    with pytest.raises(
        WorkflowError, match="is in Implement: its planned end can no longer change"
    ):
        update(db, change.id, planned_end=NOW + 5 * D)


def test_type_changes_only_while_new(db, org):
    change = create(db, org, service_id=org["mail"], assignment_group_id=org["ops"])
    standard = update(db, change.id, type="Standard", template_id=org["template"])
    assert (standard.type, standard.risk, standard.template_id) == (
        "Standard",
        "Low",
        org["template"],
    )
    assert standard.implementation_plan == "Install the new certificate."
    back = update(db, change.id, type="Emergency")
    assert (back.type, back.template_id) == ("Emergency", None)
    move(db, change.id, S.CANCELED, close_notes="Test")
    other = create(db, org, service_id=org["mail"], assignment_group_id=org["ops"])
    move(db, other.id, S.ASSESS)
    with pytest.raises(WorkflowError, match="only a New change can change type"):
        update(db, other.id, type="Emergency")


# Optimistic locking


def test_stale_version_is_a_conflict_and_overwrites_nothing(db, org):
    change = create(db, org)
    update(db, change.id, description="Theirs")
    with db.transaction() as s, pytest.raises(ConflictError) as err:
        cw.update_change(s, change.id, 1, description="Mine", now=NOW)
    conflict = err.value
    assert "CHG0000001 was changed by Ann Lee" in str(conflict)
    assert conflict.their_version == 2
    assert conflict.theirs["description"] == "Theirs"
    assert conflict.fields == ["description"]
    with db.transaction() as s, pytest.raises(ConflictError):
        cw.transition(s, change.id, S.CANCELED, 1, close_notes="x", now=NOW)
    with db.transaction() as s, pytest.raises(ConflictError):
        cw.answer_risk(s, change.id, {}, 1, now=NOW)
    with db.transaction() as s, pytest.raises(ConflictError):
        cw.set_affected(s, change.id, [org["mail"]], [], expected_version=1, now=NOW)
    with db.session() as s:
        assert s.get(ChangeRequest, change.id).description == "Theirs"


def test_every_save_moves_the_version(db, org):
    change = create(db, org)
    assert update(db, change.id, description="a").version == 2
    with db.transaction() as s:
        assert cw.set_affected(s, change.id, [org["mail"]], [], now=NOW).version == 3
    assert answer_all(db, change.id).complete
    with db.session() as s:
        assert s.get(ChangeRequest, change.id).version == 4


# Risk


def test_risk_score_is_option_score_times_question_weight(db, org):
    change = create(db, org)
    result = answer_all(db, change.id, (1, 2, 1))  # 1*3 + 3*2 + 2*1 = 11
    assert (result.score, result.level, result.answered, result.questions) == (11, "High", 3, 3)
    with db.session() as s:
        row = s.get(ChangeRequest, change.id)
        assert (row.risk_score, row.risk) == (11, "High")
    assert answer_all(db, change.id, (0, 0, 0)).level == "Low"
    assert answer_all(db, change.id, (2, 2, 1)).score == 17
    with db.session() as s:
        assert s.get(ChangeRequest, change.id).risk == "Very High"


def test_weights_are_data(db, org):
    change = create(db, org)
    with db.transaction() as s:
        q = s.scalar(select(RiskQuestion).where(RiskQuestion.text == "Tested?"))
        q.weight = 5
    assert answer_all(db, change.id, (0, 0, 1)).score == 10  # 2 * 5
    with db.transaction() as s:
        s.scalar(select(RiskQuestion).where(RiskQuestion.text == "Tested?")).active = False
    with db.session() as s:
        assert [q.text for q in cw.risk_questions(s)] == ["Users affected?", "Complexity?"]
        result = cw.risk_result(s, change.id)
    assert (result.score, result.questions) == (0, 2)  # inactive questions do not count


def test_partial_answers_keep_the_risk_until_complete(db, org):
    change = create(db, org)
    qid, options = org["questions"]["Users affected?"]
    with db.transaction() as s:
        result = cw.answer_risk(s, change.id, {qid: options[2]}, now=NOW)
    assert (result.score, result.level, result.complete) == (None, None, False)
    with db.session() as s:
        row = s.get(ChangeRequest, change.id)
        assert (row.risk, row.risk_score) == ("Moderate", None)
    result = answer_all(db, change.id, (2, 0, 0))
    assert (result.score, result.level) == (9, "Moderate")


def test_answers_must_belong_to_their_question(db, org):
    change = create(db, org)
    users, users_options = org["questions"]["Users affected?"]
    _tested, tested_options = org["questions"]["Tested?"]
    with db.session() as s, pytest.raises(WorkflowError, match="answers offered for “Users"):
        cw.answer_risk(s, change.id, {users: tested_options[0]})
    with db.session() as s, pytest.raises(WorkflowError, match="no longer asked"):
        cw.answer_risk(s, change.id, {9999: users_options[0]})


@pytest.mark.parametrize(
    ("score", "level"),
    [(0, "Low"), (5, "Low"), (6, "Moderate"), (10, "Moderate"), (11, "High"), (15, "High"),
     (16, "Very High"), (30, "Very High")],
)  # fmt: skip
def test_risk_levels_from_the_thresholds(score, level):
    assert cw.risk_level(score) == level


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=200))
def test_risk_level_never_falls_as_the_score_rises(a, b):
    order = list(cw.RISK_LEVELS)
    low, high = sorted((a, b))
    assert order.index(cw.risk_level(low)) <= order.index(cw.risk_level(high))


# Audit


def test_every_change_is_audited(db, org):
    change = create(db, org)
    update(db, change.id, **ready_fields(org))
    answer_all(db, change.id, (1, 0, 0))
    with db.transaction() as s:
        cw.set_affected(s, change.id, [org["mail"]], [org["mx"]], now=NOW)
    move(db, change.id, S.ASSESS)
    with db.session() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        detail = cw.change_detail(s, change.id)
    changed = {(r.entity, r.field): (r.old_value, r.new_value) for r in rows}
    answers = {(r.old_value, r.new_value) for r in rows if r.entity == "risk_answer"}
    assert changed[("change_request", "state")] == ("New", "Assess")
    assert changed[("change_request", "test_plan")] == ("", "Send a test mail.")
    assert changed[("change_request", "risk")] == ("Moderate", "Low")
    assert changed[("change_request", "risk_score")] == (None, "3")
    assert changed[("change_request", "services")] == (None, "Email")
    assert changed[("change_request", "cis")] == (None, "mx01")
    assert answers == {(None, "Users affected? 1"), (None, "Complexity? 0"), (None, "Tested? 0")}
    assert all(r.username == "ann" for r in rows if r.entity in ("change_request", "risk_answer"))
    assert {h.entity for h in detail.history} == {"change_request", "risk_answer"}
    assert detail.history[0].author == "Ann Lee"
    # Changing an answer is audited with the old and the new option.
    answer_all(db, change.id, (2, 0, 0))
    with db.session() as s:
        last = s.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "risk_answer", AuditEntry.action == "update"
            )
        ).all()
    assert [(a.old_value, a.new_value) for a in last] == [
        ("Users affected? 1", "Users affected? 3")
    ]


def test_a_refused_move_writes_nothing(db, org):
    change = create(db, org)
    with db.session() as s:
        before = s.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()))
    with pytest.raises(MissingFieldsError):
        move(db, change.id, S.ASSESS, description="would be saved with the move")
    with db.session() as s:
        assert s.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc())) == before
        assert s.get(ChangeRequest, change.id).description == ""


# Incidents


def test_link_incident_names_the_change_as_the_cause(db, org):
    change = _in_review(db, org)
    with db.transaction() as s:
        incident = Incident(number="INC0000001", short_description="Mail down", opened_at=NOW)
        s.add(incident)
        s.flush()
        incident_id = incident.id
    with db.transaction() as s:
        linked = cw.link_incident(s, change.id, incident_id, now=NOW + 4 * H)
        assert linked.caused_by_change_id == change.id
    with db.session() as s:
        event = s.scalar(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id))
        assert (event.field, event.new_value, event.author_id) == (
            "caused_by_change",
            "CHG0000001",
            org["ann"],
        )
        audit = s.scalar(
            select(AuditEntry).where(
                AuditEntry.entity == "incident", AuditEntry.field == "caused_by_change_id"
            )
        )
        assert audit.new_value == str(change.id)
        detail = cw.change_detail(s, change.id)
    assert [i.number for i in detail.caused_incidents] == ["INC0000001"]
    with db.transaction() as s:
        assert cw.unlink_incident(s, change.id, incident_id).caused_by_change_id is None
    fresh = create(db, org)
    with db.session() as s, pytest.raises(WorkflowError, match="only an implemented change"):
        cw.link_incident(s, fresh.id, incident_id)
    with db.session() as s, pytest.raises(WorkflowError, match="incident no longer exists"):
        cw.link_incident(s, change.id, 999)


# Reading


def test_change_detail_for_the_form(db, org):
    change = authorized_normal(db, org)
    with db.transaction() as s:
        cw.set_affected(s, change.id, [org["mail"]], [org["mx"]], now=NOW)
    other = create(db, org, short_description="Reboot host", **ready_fields(org))
    with db.transaction() as s:
        cw.set_affected(s, other.id, [], [org["host"]], now=NOW)
    decide(db, change.id, "approved", votes=[(org["cat"], "approve")])
    with db.session() as s:
        detail = cw.change_detail(s, change.id)
    assert detail.number == "CHG0000001" and detail.state == "Authorize"
    assert (detail.service_name, detail.assignment_group_name, detail.assignee_name) == (
        "Email",
        "Operations",
        "Ben Ode",
    )
    assert detail.requested_by_name == "Ann Lee"
    assert [a.points for a in detail.risk_answers] == [0, 0, 0]
    assert detail.decision == "approved"
    assert detail.decisions[0].votes[0].person == "Cat Roy"
    assert {(c.type, c.other_name) for c in detail.conflicts} == {
        (ConflictType.RELATED_CI, "CHG0000002"),
        (ConflictType.ASSIGNEE_BUSY, "CHG0000002"),
    }
    steps = {step.state: step for step in detail.next_steps}
    assert set(steps) == {"Scheduled", "Assess", "New", "Canceled"}
    assert steps["Scheduled"].ready and steps["Canceled"].ready
    assert detail.values()["state"] == "Authorize"
    with pytest.raises(AttributeError):
        detail.state = "Closed"  # type: ignore[misc]


def test_missing_fields_and_next_steps(db, org):
    change = create(db, org)
    with db.session() as s:
        assert cw.missing_fields(s, change.id, "Assess") == ["scope", "assignment_group_id"]
        steps = cw.next_steps(s, change.id)
    assert [(st.state, st.missing) for st in steps] == [
        ("Assess", ("a service or configuration item", "an assignment group")),
        ("Canceled", ()),
    ]
    assert steps[0].sentence().startswith("cannot move to Assess yet")


def test_lookups_for_the_form(db, org):
    with db.session() as s:
        found = cw.lookups(s)
    assert [g.label for g in found.groups] == ["Change Management", "Operations"]
    ops = next(g for g in found.groups if g.label == "Operations")
    assert [m.label for m in ops.members] == ["Ann Lee", "Ben Ode"]
    mail = next(x for x in found.services if x.label == "Email")
    assert [c.label for c in mail.cis] == ["host01", "mx01"]
    assert [t.label for t in found.templates] == ["Renew TLS certificate"]
    assert [q.weight for q in found.risk_questions] == [3, 2, 1]
    assert found.close_codes == ("Successful", "Successful with issues", "Unsuccessful")
    assert found.types == ("Standard", "Normal", "Emergency")


def test_list_and_count_changes(db, org):
    a = create(db, org, short_description="Patch mail 50%", **ready_fields(org, NOW + D))
    b = create(db, org, type="Emergency", short_description="Fix ERP", service_id=org["erp"])
    c = create(db, org, short_description="Move mail", planned_start=NOW + 10 * D)
    with db.transaction() as s:
        cw.set_affected(s, c.id, [org["mail"]], [], now=NOW)
    answer_all(db, a.id, (2, 2, 1))
    with db.session() as s:
        everything = cw.list_changes(s)
        assert [r.number for r in everything] == [a.number, c.number, b.number]  # no window last
        assert everything[0].service == "Email" and everything[0].assignee == "Ben Ode"
        assert cw.count_changes(s) == 3

        def numbers(**kw):
            sort = kw.pop("sort", "number")
            desc = kw.pop("descending", False)
            return [
                r.number for r in cw.list_changes(s, ChangeFilter(**kw), sort=sort, descending=desc)
            ]

        assert numbers(types=("Emergency",)) == [b.number]
        assert numbers(service_ids=(org["mail"],)) == [a.number, c.number]
        assert numbers(text="50%") == [a.number]
        assert numbers(text="%") == [a.number]
        assert numbers(text="chg0000002") == [b.number]
        assert numbers(risks=("Very High",)) == [a.number]
        assert numbers(group_ids=(org["ops"],)) == [a.number]
        assert numbers(planned_from=NOW + 5 * D) == [c.number]
        assert numbers(planned_from=NOW, planned_to=NOW + D + H) == [a.number]
        assert numbers(sort="risk", descending=True) == [a.number, c.number, b.number]
        assert cw.count_changes(s, ChangeFilter(states=("New",), text="mail")) == 2
        page = cw.list_changes(s, sort="number", limit=1, offset=1)
        assert [r.number for r in page] == [b.number]
        with pytest.raises(WorkflowError, match="cannot be sorted"):
            cw.list_changes(s, sort="colour")


def test_the_whole_way_on_sqlite_and_postgresql(any_db):
    db, org = any_db, make_org(any_db)
    change = create(db, org, **ready_fields(org, start=NOW - 4 * H))
    with db.transaction() as s:
        cw.set_affected(s, change.id, [org["mail"]], [org["mx"]], now=NOW)
    answer_all(db, change.id, (1, 1, 1))
    move(db, change.id, S.ASSESS)
    move(db, change.id, S.AUTHORIZE)
    decide(db, change.id, votes=[(org["cat"], "approve")])
    move(db, change.id, S.SCHEDULED)
    move(db, change.id, S.IMPLEMENT, actual_start=NOW - 4 * H)
    move(db, change.id, S.REVIEW, actual_end=NOW - 2 * H)
    with db.transaction() as s:
        cw.record_review(s, change.id, "Failed at step 2.", now=NOW)
    closed = move(db, change.id, S.CLOSED, close_code="Unsuccessful", close_notes="Backed out.")
    assert (closed.state, closed.risk_score, closed.risk) == ("Closed", 7, "Moderate")
    with db.session() as s:
        detail = cw.change_detail(s, change.id)
        rows = cw.list_changes(s, ChangeFilter(text="MAIL", risks=("Moderate",)), sort="risk")
        assert cw.count_changes(s, ChangeFilter(service_ids=(org["mail"],))) == 1
    assert [r.number for r in rows] == ["CHG0000001"]
    assert detail.review.outcome == "Failed at step 2."
    assert detail.next_steps == ()
    states = [h.new_value for h in detail.history if h.field == "state"]
    assert states == ["Closed", "Review", "Implement", "Scheduled", "Authorize", "Assess"]


# A property: whatever is tried, a change never sits in a state without its fields


CLOSE_CODE_CHOICES = ["", "Successful", "Successful with issues", "Unsuccessful"]
_CLOSE = (st.sampled_from(CLOSE_CODE_CHOICES), st.booleans())
_NOTHING = (st.none(), st.none(), st.none())
#: A move to any state (mostly refused by the table).
_MOVE = st.tuples(st.just("move"), st.sampled_from(STATES), *_CLOSE)
#: A move the table allows (the n-th allowed; mostly the first, the way forward), so that
#: the fields decide.
_STEP = st.tuples(st.just("step"), st.sampled_from([0, 0, 0, 0, 0, 1, 2, 3]), *_CLOSE)
_FILL = st.tuples(
    st.just("fill"),
    st.sampled_from(list(ready_fields({"mail": 1, "ops": 1, "ben": 1}))),
    st.booleans(),
    st.none(),
)
ACTIONS = st.one_of(
    _MOVE,
    _STEP,
    _STEP,
    _STEP,  # three times as likely, so that changes get far along their workflow
    _FILL,
    *(st.tuples(st.just(kind), *_NOTHING) for kind in ("fill_all", "risk", "approve", "review")),
)


def _move_fields(target: str, code: str, notes: bool, now: dt.datetime) -> dict:
    fields: dict = {}
    if target == S.REVIEW:
        fields["actual_end"] = now - dt.timedelta(minutes=30)
    if target == S.CLOSED and code:
        fields["close_code"] = code
    if target in (S.CLOSED, S.CANCELED) and notes:
        fields["close_notes"] = "Notes."
    return fields


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    type_=st.sampled_from(TYPES),
    actions=st.lists(ACTIONS, min_size=10, max_size=40),
)
def test_random_actions_never_leave_a_state_without_its_fields(db, org, type_, actions):
    extra = {"template_id": org["template"]} if type_ == "Standard" else {}
    change = create(db, org, type=type_, **extra)
    full = ready_fields(org)
    now = NOW
    reached = {S.NEW.value}
    for kind, what, code, flag in actions:
        now += H
        try:
            with db.transaction() as s:
                row = s.get(ChangeRequest, change.id)
                version, state = row.version, row.state
                if kind == "step":
                    allowed = ALLOWED_TRANSITIONS[type_][state]
                    if not allowed:
                        continue
                    target = allowed[what % len(allowed)]
                    fields = _move_fields(target, code, flag, now)
                    cw.transition(s, change.id, target, version, now=now, **fields)
                elif kind == "move":
                    fields = _move_fields(what, code, flag, now)
                    cw.transition(s, change.id, what, version, now=now, **fields)
                elif kind == "fill_all":
                    cw.update_change(s, change.id, version, now=now, **full)
                elif kind == "fill":
                    value = full[what] if flag else None
                    if what in ("implementation_plan", "test_plan", "backout_plan") and not flag:
                        value = ""
                    cw.update_change(s, change.id, version, now=now, **{what: value})
                elif kind == "risk":
                    questions = s.scalars(select(RiskQuestion)).all()
                    cw.answer_risk(s, change.id, {q.id: q.options[-1].id for q in questions},
                                   version, now=now)  # fmt: skip
                elif kind == "approve":
                    meeting = CabMeeting(title="CAB", starts_at=now, ends_at=now + H,
                                         emergency=type_ == "Emergency")  # fmt: skip
                    s.add(meeting)
                    s.flush()
                    s.add(CabAgendaItem(meeting_id=meeting.id, change_id=change.id,
                                        decision="approved", decided_at=now))  # fmt: skip
                elif kind == "review":
                    cw.record_review(s, change.id, "Reviewed.", now=now)
        except WorkflowError:
            with db.session() as s:
                row = s.get(ChangeRequest, change.id)
                assert (row.version, row.state) == (version, state)  # nothing half-written
        with db.session() as s:
            row = s.get(ChangeRequest, change.id)
            reached.add(row.state)
            assert cw.missing_fields(s, change.id, row.state) == [], (row.state, actions)
            if row.state in (S.CLOSED, S.CANCELED):
                assert row.closed_at is not None
            if row.state in (S.SCHEDULED, S.IMPLEMENT, S.REVIEW, S.CLOSED) and type_ != "Standard":
                assert cw.latest_decision(s, change.id).decision == "approved"
    event(f"{type_} reached {max(reached - {S.CANCELED.value}, key=STATES.index)}")
