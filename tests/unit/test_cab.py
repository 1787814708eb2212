"""CAB meetings: the agenda, attendance, decisions with votes, minutes and agenda packs."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook
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
    ConfigurationItem,
    Incident,
    Person,
    RiskOption,
    RiskQuestion,
    Service,
    Team,
)
from app.services import cab
from app.services import changes as cw
from app.services.cab import DecisionConflictError
from app.services.changes import ConflictError, MissingFieldsError, WorkflowError

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MEETING = NOW + dt.timedelta(hours=2)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def make_board(db) -> dict:
    """Two groups' worth of people (a board of four), a service with two CIs, a two-question
    risk questionnaire and a signed-in change manager (Ann)."""
    with db.transaction() as s:
        names = ("Ann Lee", "Ben Ode", "Cat Roy", "Dev Rao", "Eve Sun")
        people = {n.split()[0].lower(): Person(name=n) for n in names}
        ops = Team(name="Operations", members=[people["ben"], people["eve"]])
        mail = Service(name="Email")
        s.add_all([*people.values(), ops, mail])
        s.flush()
        host = ConfigurationItem(name="host01", ci_class="server", service_id=mail.id)
        mx = ConfigurationItem(name="mx01", ci_class="application", service_id=mail.id)
        s.add_all([host, mx])
        for position, (text, scores) in enumerate((("Impact?", [0, 2, 3]), ("Tested?", [0, 3])), 1):
            q = RiskQuestion(position=position, text=text, weight=3)
            q.options = [RiskOption(label=f"{text} {score}", score=score) for score in scores]
            s.add(q)
        user = AppUser(
            username="ann", person_id=people["ann"].id, display_name="Ann Lee", role="admin"
        )
        s.add(user)
        s.flush()
        ids = {k: p.id for k, p in people.items()}
        ids.update(ops=ops.id, mail=mail.id, host=host.id, mx=mx.id)
        db.identity = Identity(username="ann", user_id=user.id, display_name="Ann Lee")
    return ids


def awaiting(
    db,
    board: dict,
    title: str,
    start: dt.datetime,
    *,
    risk: tuple[int, int] = (0, 0),
    type: str = "Normal",  # noqa: A002
    ci: str = "mx",
) -> int:
    """A change in Authorize with every field, planned at ``start`` for 2 hours."""
    with db.transaction() as s:
        change = cw.new_change(
            s,
            title,
            type=type,
            service_id=board["mail"],
            ci_ids=[board[ci]],
            assignment_group_id=board["ops"],
            assignee_id=board["ben"],
            implementation_plan="1. Stop\n2. Upgrade\n3. Start",
            test_plan="Send a test mail.",
            backout_plan="Restore the snapshot.",
            planned_start=start,
            planned_end=start + 2 * H,
            now=NOW - 3 * D,
        )
        questions = s.scalars(select(RiskQuestion).order_by(RiskQuestion.position)).all()
        cw.answer_risk(
            s,
            change.id,
            {q.id: q.options[pick].id for q, pick in zip(questions, risk, strict=True)},
            now=NOW - 3 * D,
        )
        if type == "Normal":
            cw.transition(s, change.id, "Assess", change.version, now=NOW - 2 * D)
        cw.transition(s, change.id, "Authorize", change.version, now=NOW - 2 * D)
        return change.id


@pytest.fixture
def board(db):
    return make_board(db)


def meeting_with(db, board, **options) -> int:
    with db.transaction() as s:
        return cab.create_meeting(
            s,
            options.pop("starts_at", MEETING),
            chair_id=board["ann"],
            title=options.pop("title", "Weekly CAB"),
            now=NOW,
            **options,
        ).id


def view(db, meeting_id) -> cab.MeetingView:
    with db.session() as s:
        return cab.meeting_view(s, meeting_id)


def item_of(v: cab.MeetingView, number: str) -> cab.AgendaItemView:
    return next(i for i in v.items if i.number == number)


def decide(db, item: cab.AgendaItemView, decision: str, **options):
    with db.transaction() as s:
        return cab.record_decision(
            s,
            item.id,
            decision,
            expected_version=options.pop("expected_version", item.version),
            now=options.pop("now", NOW + 2 * H),
            **options,
        )


def state_of(db, change_id: int) -> str:
    with db.session() as s:
        return s.get(ChangeRequest, change_id).state


# The agenda


def test_agenda_holds_changes_awaiting_authorisation_by_start_then_risk(db, board):
    low = awaiting(db, board, "Low one", NOW + 3 * D, ci="host")
    very_high = awaiting(db, board, "Very high one", NOW + 3 * D, risk=(2, 1))
    high = awaiting(db, board, "High one", NOW + 3 * D, risk=(1, 1))
    first = awaiting(db, board, "Earliest", NOW + 2 * D)
    awaiting(db, board, "Too late", MEETING + 15 * D)
    emergency = awaiting(db, board, "Emergency", NOW + D, type="Emergency")
    with db.transaction() as s:
        # In Assess, not awaiting authorisation.
        other = cw.new_change(s, "Still assessing", service_id=board["mail"], now=NOW)
        assert other.state == "New"
    meeting_id = meeting_with(db, board)
    v = view(db, meeting_id)
    ids = [i.change_id for i in v.items]
    assert ids == [first, very_high, high, low]
    assert [i.position for i in v.items] == [1, 2, 3, 4]
    assert [i.risk for i in v.items] == ["Low", "Very High", "High", "Low"]
    assert v.meeting.chair == "Ann Lee" and v.meeting.title == "Weekly CAB"
    assert [(a.name, a.present) for a in v.attendees] == [("Ann Lee", True)]
    # A longer horizon takes the later change; an ECAB takes the emergency one only.
    longer = meeting_with(db, board, title="Long CAB", horizon=MEETING + 20 * D)
    assert len(view(db, longer).items) == 5
    ecab = meeting_with(db, board, title="ECAB", emergency=True)
    assert [i.change_id for i in view(db, ecab).items] == [emergency]


def test_agenda_item_shows_the_change_its_conflicts_and_what_it_lacks(db, board):
    first = awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    awaiting(db, board, "Patch mail", NOW + 2 * D + H)  # the same CI, overlapping
    meeting_id = meeting_with(db, board)
    v = view(db, meeting_id)
    item = next(i for i in v.items if i.change_id == first)
    assert item.short_description == "Upgrade mail" and item.state == "Authorize"
    assert item.service == "Email" and item.cis == ("mx01",)
    assert item.assignment_group == "Operations" and item.assignee == "Ben Ode"
    assert item.backout_plan == "Restore the snapshot."
    assert item.planned_end - item.planned_start == 2 * H
    assert any("CHG0000002 also changes mx01" in c.sentence for c in item.conflicts)
    assert item.blockers == () and not item.decided and item.decision_label == "Pending"


def test_refresh_agenda_adds_new_drops_withdrawn_keeps_decided(db, board):
    a = awaiting(db, board, "A", NOW + 2 * D)
    b = awaiting(db, board, "B", NOW + 3 * D, ci="host")
    withdrawn = awaiting(db, board, "Withdrawn", NOW + 4 * D)
    meeting_id = meeting_with(db, board)
    v = view(db, meeting_id)
    decide(db, next(i for i in v.items if i.change_id == b), "deferred", conditions="Next week")
    decide(db, next(i for i in v.items if i.change_id == a), "approved")
    with db.transaction() as s:
        change = s.get(ChangeRequest, withdrawn)
        cw.transition(s, withdrawn, "Assess", change.version, now=NOW)
    new = awaiting(db, board, "New arrival", NOW + D, ci="host")
    with db.transaction() as s:
        result = cab.refresh_agenda(s, meeting_id)
    numbers = {i.change_id: i.number for i in view(db, meeting_id).items}
    assert result.added == (numbers[new],)
    assert len(result.removed) == 1
    v = view(db, meeting_id)
    # The approved change (now Scheduled) stays, with its decision; order by start again.
    assert [i.change_id for i in v.items] == [new, a, b]
    assert [i.position for i in v.items] == [1, 2, 3]
    assert [i.decision for i in v.items] == [None, "approved", "deferred"]
    with db.transaction() as s:
        assert cab.refresh_agenda(s, meeting_id) == cab.AgendaRefresh((), ())


def test_create_meeting_refuses_nonsense(db, board):
    with db.transaction() as s:
        with pytest.raises(WorkflowError, match="needs a title"):
            cab.create_meeting(s, MEETING, chair_id=None, title="  ", now=NOW)
        with pytest.raises(WorkflowError, match="no time zone"):
            cab.create_meeting(s, MEETING.replace(tzinfo=None), chair_id=None, title="X", now=NOW)
        with pytest.raises(WorkflowError, match="end after it starts"):
            cab.create_meeting(s, MEETING, chair_id=None, title="X", ends_at=MEETING, now=NOW)
        with pytest.raises(WorkflowError, match="chair no longer exists"):
            cab.create_meeting(s, MEETING, chair_id=9999, title="X", now=NOW)


def test_meeting_for_day_finds_or_creates_todays_meeting(db, board):
    awaiting(db, board, "A", NOW + 2 * D)
    with db.transaction() as s:
        assert cab.meeting_for_day(s, NOW, zone=UTC, create=False) is None
        created = cab.meeting_for_day(s, NOW + dt.timedelta(minutes=7), zone=UTC)
    with db.transaction() as s:
        assert cab.meeting_for_day(s, NOW + 5 * H, zone=UTC) == created
        meeting = s.get(CabMeeting, created)
        assert meeting.starts_at == NOW and meeting.chair_id == board["ann"]
        assert len(meeting.agenda) == 1
        assert cab.meeting_for_day(s, NOW + D, zone=UTC, create=False) is None


# Attendance


def test_record_attendees_marks_present_and_absent_with_an_audit_row(db, board):
    meeting_id = meeting_with(db, board)
    with db.transaction() as s:
        listed = cab.record_attendees(
            s, meeting_id, [board["ben"], board["cat"], board["ann"]], now=NOW
        )
    assert [(a.name, a.present) for a in listed] == [
        ("Ann Lee", True),
        ("Ben Ode", True),
        ("Cat Roy", True),
    ]
    with db.transaction() as s:
        listed = cab.record_attendees(s, meeting_id, [board["ann"], board["dev"]], now=NOW)
    assert [(a.name, a.present) for a in listed] == [
        ("Ann Lee", True),
        ("Ben Ode", False),
        ("Cat Roy", False),
        ("Dev Rao", True),
    ]
    with db.session() as s:
        audit = s.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "cab_meeting", AuditEntry.field == "attendees"
            )
        ).all()
        assert audit[-1].old_value == "Ann Lee, Ben Ode, Cat Roy"
        assert audit[-1].new_value == "Ann Lee, Dev Rao"
    with db.transaction() as s, pytest.raises(WorkflowError, match="attendee no longer exists"):
        cab.record_attendees(s, meeting_id, [424242])


# Decisions


def test_approval_schedules_the_change_with_conditions_and_votes(db, board):
    change_id = awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    meeting_id = meeting_with(db, board)
    with db.transaction() as s:
        cab.record_attendees(s, meeting_id, [board["ann"], board["ben"], board["cat"]], now=NOW)
    item = view(db, meeting_id).items[0]
    decide(
        db,
        item,
        "approved",
        conditions="Only after the backup is verified.",
        votes={board["ann"]: "approve", board["ben"]: "approve", board["cat"]: "abstain"},
        change_version=item.change_version,
    )
    assert state_of(db, change_id) == "Scheduled"
    after = view(db, meeting_id).items[0]
    assert after.decision == "approved" and after.decision_label == "Approved"
    assert after.conditions == "Only after the backup is verified."
    assert after.decided_at == NOW + 2 * H
    assert after.vote_counts() == {"approve": 2, "reject": 0, "abstain": 1}
    assert after.vote_summary() == "Approve 2, Reject 0, Abstain 1"
    assert after.version == item.version + 1
    with db.session() as s:
        decision = cw.latest_decision(s, change_id)
        assert decision.decision == "approved" and len(decision.votes) == 3
        votes_audit = s.scalar(
            select(AuditEntry.new_value).where(
                AuditEntry.entity == "cab_agenda_item", AuditEntry.field == "votes"
            )
        )
        assert votes_audit == "Ann Lee: approve; Ben Ode: approve; Cat Roy: abstain"


def test_rejection_sends_the_change_back_to_new(db, board):
    change_id = awaiting(db, board, "Risky", NOW + 2 * D)
    meeting_id = meeting_with(db, board)
    decide(db, view(db, meeting_id).items[0], "rejected", conditions="Too risky before freeze.")
    assert state_of(db, change_id) == cab.REJECTED_STATE == "New"
    assert view(db, meeting_id).items[0].decision == "rejected"


def test_deferral_and_more_information_keep_the_change_in_authorize(db, board):
    a = awaiting(db, board, "A", NOW + 2 * D)
    b = awaiting(db, board, "B", NOW + 3 * D, ci="host")
    meeting_id = meeting_with(db, board)
    first, second = view(db, meeting_id).items
    decide(db, first, "deferred")
    with pytest.raises(WorkflowError, match="Say what more information"):
        decide(db, second, "more_info")
    decide(db, second, "more_info", conditions="Which users are affected?")
    assert (state_of(db, a), state_of(db, b)) == ("Authorize", "Authorize")
    # A deferred change can still be decided at this meeting, and comes up at the next one.
    deferred = view(db, meeting_id).items[0]
    decide(db, deferred, "approved")
    assert state_of(db, a) == "Scheduled"
    later = meeting_with(db, board, starts_at=MEETING + 7 * D, title="Next CAB")
    next_items = view(db, later).items
    assert [i.change_id for i in next_items] == [b]
    assert next_items[0].earlier[0].decision == "more_info"
    assert "Which users are affected?" in next_items[0].earlier[0].sentence()


def test_approval_of_a_change_missing_its_backout_plan_rolls_back(db, board):
    change_id = awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    meeting_id = meeting_with(db, board)
    with db.transaction() as s:
        cab.record_attendees(s, meeting_id, [board["ann"], board["ben"]], now=NOW)
        # Imported data (or an old row): Authorize without a back-out plan.
        s.get(ChangeRequest, change_id).backout_plan = ""
    item = view(db, meeting_id).items[0]
    assert item.blockers == ("a back-out plan",)
    assert item.blockers_sentence() == "Cannot be approved yet: it needs a back-out plan."
    with pytest.raises(MissingFieldsError, match="needs a back-out plan") as err:
        decide(db, item, "approved", conditions="x", votes={board["ben"]: "approve"})
    assert err.value.missing == ("backout_plan",)
    assert "Nothing was recorded" in str(err.value)
    with db.session() as s:
        stored = s.get(CabAgendaItem, item.id)
        assert (
            stored.decision is None and stored.conditions == "" and stored.version == item.version
        )
        assert s.scalars(select(CabVote)).all() == []
        assert s.get(ChangeRequest, change_id).state == "Authorize"


def test_a_refusal_inside_transition_rolls_back_the_whole_decision(db, board, monkeypatch):
    change_id = awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    meeting_id = meeting_with(db, board)
    item = view(db, meeting_id).items[0]

    def refuse(*_args, **_kwargs):
        raise MissingFieldsError("CHG cannot move: it needs x.", state="Scheduled", missing=["x"])

    monkeypatch.setattr(cw, "transition", refuse)
    with pytest.raises(MissingFieldsError):
        decide(db, item, "approved", votes={board["ann"]: "approve"})
    with db.session() as s:
        assert s.get(CabAgendaItem, item.id).decision is None
        assert s.scalars(select(CabVote)).all() == []
        assert s.get(ChangeRequest, change_id).state == "Authorize"


def test_two_chairs_approving_at_once_the_second_gets_a_conflict(db, board):
    change_id = awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    meeting_id = meeting_with(db, board)
    seen_by_both = view(db, meeting_id).items[0]
    decide(db, seen_by_both, "approved", conditions="First chair")
    with pytest.raises(DecisionConflictError, match="was decided \\(Approved\\) by Ann Lee") as err:
        decide(db, seen_by_both, "approved", conditions="Second chair")
    assert isinstance(err.value, ConflictError)
    assert err.value.item_id == seen_by_both.id
    assert err.value.theirs["conditions"] == "First chair"
    assert "Nothing was overwritten" in str(err.value)
    with db.session() as s:
        stored = s.get(CabAgendaItem, seen_by_both.id)
        assert stored.conditions == "First chair" and stored.version == seen_by_both.version + 1
        assert s.get(ChangeRequest, change_id).state == "Scheduled"


def test_a_change_edited_after_the_agenda_was_read_is_not_decided(db, board):
    change_id = awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    meeting_id = meeting_with(db, board)
    item = view(db, meeting_id).items[0]
    with db.transaction() as s:
        change = s.get(ChangeRequest, change_id)
        cw.update_change(s, change_id, change.version, test_plan="A better test.", now=NOW)
    with pytest.raises(ConflictError, match="changed by Ann Lee"):
        decide(db, item, "deferred", change_version=item.change_version)
    with db.session() as s:
        assert s.get(CabAgendaItem, item.id).decision is None


def test_decisions_refuse_what_the_board_cannot_decide(db, board):
    awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    meeting_id = meeting_with(db, board)
    item = view(db, meeting_id).items[0]
    with pytest.raises(WorkflowError, match="not a CAB decision"):
        decide(db, item, "maybe")
    with pytest.raises(WorkflowError, match="Cat Roy is not marked present"):
        decide(db, item, "deferred", votes={board["cat"]: "approve"})
    with pytest.raises(WorkflowError, match="not a vote"):
        decide(db, item, "deferred", votes={board["ann"]: "yes"})
    decide(db, item, "rejected")
    again = view(db, meeting_id).items[0]
    with pytest.raises(WorkflowError, match="is New, not awaiting authorisation"):
        decide(db, again, "approved")
    with db.transaction() as s, pytest.raises(WorkflowError, match="no longer exists"):
        cab.record_decision(s, 424242, "approved", expected_version=None)


def test_emergency_changes_go_to_the_ecab(db, board):
    change_id = awaiting(db, board, "Hotfix", NOW + 3 * H, type="Emergency")
    ecab = meeting_with(db, board, title="ECAB", emergency=True, starts_at=NOW + H)
    item = view(db, ecab).items[0]
    assert view(db, ecab).meeting.board == "ECAB"
    decide(db, item, "approved")
    assert state_of(db, change_id) == "Scheduled"


# Reviews


def test_pending_reviews_lists_emergency_and_failed_changes_without_a_review(db, board):
    with db.transaction() as s:
        rows = {}
        for number, kind, state, code in (
            ("CHG9000001", "Emergency", "Review", None),
            ("CHG9000002", "Normal", "Closed", "Unsuccessful"),
            ("CHG9000003", "Normal", "Closed", "Successful"),
            ("CHG9000004", "Emergency", "Closed", "Successful"),
            ("CHG9000005", "Normal", "Closed", "Successful"),
            ("CHG9000006", "Emergency", "Implement", None),
        ):
            rows[number] = ChangeRequest(
                number=number,
                short_description=number,
                type=kind,
                state=state,
                close_code=code,
                actual_start=NOW - 3 * D,
                actual_end=NOW - 2 * D,
                closed_at=NOW - D if state == "Closed" else None,
            )
        s.add_all(rows.values())
        s.flush()
        s.add(ChangeReview(change_id=rows["CHG9000004"].id, outcome="Went well."))
        s.add(
            Incident(
                number="INC9",
                short_description="Broke it",
                caused_by_change_id=rows["CHG9000005"].id,
            )
        )
    with db.session() as s:
        pending = cab.pending_reviews(s)
    assert {p.number: p.reason for p in pending} == {
        "CHG9000001": "Emergency change",
        "CHG9000002": "Closed Unsuccessful",
        "CHG9000005": "Caused an incident",
    }
    with db.transaction() as s:
        change_id = next(p.change_id for p in pending if p.number == "CHG9000002")
        cw.record_review(s, change_id, "Failed; backed out.", "Test on staging.", now=NOW)
    with db.session() as s:
        assert "CHG9000002" not in {p.number for p in cab.pending_reviews(s)}


# Workbooks


def _decided_meeting(db, board) -> tuple[int, list[int]]:
    ids = [
        awaiting(db, board, "=Upgrade mail", NOW + 2 * D),
        awaiting(db, board, "Patch host", NOW + 2 * D + H, ci="host"),
        awaiting(db, board, "Overlap on mx", NOW + 2 * D + H),
    ]
    meeting_id = meeting_with(db, board, location="Room 4")
    with db.transaction() as s:
        cab.record_attendees(s, meeting_id, [board["ann"], board["ben"], board["cat"]], now=NOW)
    items = view(db, meeting_id).items
    decide(
        db,
        items[0],
        "approved",
        conditions="After the backup.",
        votes={board["ann"]: "approve", board["ben"]: "approve", board["cat"]: "reject"},
    )
    decide(db, items[1], "rejected", votes={board["ann"]: "reject"})
    return meeting_id, ids


def test_minutes_hold_attendees_decisions_conditions_and_votes(db, board, tmp_path):
    meeting_id, _ids = _decided_meeting(db, board)
    path = tmp_path / "minutes.xlsx"
    with db.session() as s:
        cab.export_minutes(s, meeting_id, path, zone=UTC)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Minutes", "Decisions", "Votes", "Attendees"]
    summary = {r[0]: r[1] for r in wb["Minutes"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert summary["Meeting"] == "Weekly CAB" and summary["Chair"] == "Ann Lee"
    assert summary["Starts"] == MEETING.replace(tzinfo=None)
    assert summary["Decided"] == "2 of 3" and summary["Approved"] == 1
    assert summary["Present"] == "Ann Lee, Ben Ode, Cat Roy"
    decisions = wb["Decisions"]
    assert decisions.freeze_panes == "C2"
    assert decisions["A1"].font.bold and decisions["C2"].alignment.wrap_text
    header = [c.value for c in decisions[1]]
    rows = [
        dict(zip(header, r, strict=True)) for r in decisions.iter_rows(min_row=2, values_only=True)
    ]
    assert [r["Decision"] for r in rows] == ["Approved", "Rejected", "Pending"]
    assert rows[0]["Short description"] == "=Upgrade mail"  # text, never a formula
    assert decisions["C2"].data_type == "s"
    assert rows[0]["Conditions"] == "After the backup."
    assert (rows[0]["Approve"], rows[0]["Reject"], rows[0]["Abstain"]) == (2, 1, 0)
    assert rows[0]["State now"] == "Scheduled" and rows[1]["State now"] == "New"
    assert isinstance(rows[0]["Planned start"], dt.datetime)
    assert decisions.column_dimensions["C"].width > 30
    votes = list(wb["Votes"].iter_rows(min_row=2, values_only=True))
    assert ("CHG0000001", "Cat Roy", "Reject", None) in votes and len(votes) == 4
    attendees = list(wb["Attendees"].iter_rows(min_row=2, values_only=True))
    assert attendees[0] == ("Ann Lee", "Yes", "Chair")


def test_agenda_pack_has_one_row_per_change_with_plans_window_and_conflicts(db, board, tmp_path):
    meeting_id, ids = _decided_meeting(db, board)
    path = tmp_path / "pack.xlsx"
    (tmp_path / "pack.xlsx").write_bytes(b"old")
    with db.session() as s:
        cab.export_agenda_pack(s, meeting_id, path, zone=UTC)
    assert not list(tmp_path.glob(".pack.xlsx.*"))  # written beside, renamed into place
    wb = load_workbook(path)
    assert wb.sheetnames == ["Agenda", "Meeting"]
    ws = wb["Agenda"]
    assert ws.freeze_panes == "C2" and ws.auto_filter.ref.startswith("A1:")
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(rows) == 3
    assert [r["Change"] for r in rows] == ["CHG0000001", "CHG0000002", "CHG0000003"]
    first = rows[0]
    assert first["Back-out plan"] == "Restore the snapshot."
    assert first["Implementation plan"] == "1. Stop\n2. Upgrade\n3. Start"
    assert first["Risk"] == "Low" and first["Hours"] == 2
    assert first["Planned start"] == (NOW + 2 * D).replace(tzinfo=None)
    assert first["Conflicts"] >= 1 and "also changes mx01" in first["Conflict details"]
    assert "Ben Ode is already implementing" in rows[1]["Conflict details"]
    assert ws.cell(2, header.index("Implementation plan") + 1).alignment.wrap_text
    assert all(ws.cell(1, c).font.bold for c in range(1, len(header) + 1))
