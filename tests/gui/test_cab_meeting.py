"""The CAB meeting window: a whole meeting, a refused approval, and the review list."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from sqlalchemy import select

from app.models import CabAgendaItem, CabMeeting, CabVote, ChangeRequest, ChangeReview, Person
from app.models.change import cab_attendee
from app.views.cab_meeting import CabMeetingWindow, open_cab_meeting
from tests.unit import test_cab as data

NOW, D, H = data.NOW, data.D, data.H


@pytest.fixture
def board(db):
    return data.make_board(db)


def open_meeting(qtbot, db, meeting_id=None) -> CabMeetingWindow:
    window = open_cab_meeting(None, db, meeting_id, clock=lambda: NOW)
    qtbot.addWidget(window)
    qtbot.waitUntil(window.is_loaded, timeout=10_000)
    return window


def settle(qtbot, window: CabMeetingWindow, condition=lambda: True) -> None:
    qtbot.waitUntil(lambda: window.is_loaded() and condition(), timeout=10_000)


def check(window: CabMeetingWindow, name: str, present: bool) -> None:
    for row in range(window.attendees.count()):
        entry = window.attendees.item(row)
        if entry.text().startswith(name):
            entry.setCheckState(Qt.CheckState.Checked if present else Qt.CheckState.Unchecked)
            return
    raise AssertionError(f"{name} is not on the attendee list")


def add_person(qtbot, window: CabMeetingWindow, name: str) -> None:
    window.person_picker.setCurrentText(name)
    window.add_person_button.click()
    settle(qtbot, window, lambda: any(a.name == name for a in window.view.attendees))


def vote(window: CabMeetingWindow, name: str, value: str) -> None:
    combo = window.vote_combo(name)
    assert combo is not None, f"{name} has no vote box"
    combo.setCurrentIndex(combo.findData(value))


def test_a_whole_cab_meeting(qtbot, db, board, tmp_path, monkeypatch, message_boxes):
    upgrade = data.awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    patch = data.awaiting(db, board, "Patch host", NOW + 3 * D, ci="host", risk=(2, 1))
    move = data.awaiting(db, board, "Move mailboxes", NOW + 4 * D)
    window = open_meeting(qtbot, db)  # no meeting today: one is made, with its agenda

    view = window.view
    assert view.meeting.chair == "Ann Lee"
    assert [i.change_id for i in view.items] == [upgrade, patch, move]
    assert window.agenda.count() == 3 and window.agenda.currentRow() == 0
    assert window.change_panel.number.text() == "CHG0000001"
    assert "0 of 3 decided" in window.tally.text()
    assert window.approve_button.isEnabled()

    # Keyboard: next and back.
    qtbot.keyClick(window.agenda, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert window.change_panel.number.text() == "CHG0000002"
    qtbot.keyClick(window.agenda, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert window.change_panel.number.text() == "CHG0000001"

    # Attendance: Ben and Cat join, then Cat leaves.
    add_person(qtbot, window, "Ben Ode")
    add_person(qtbot, window, "Cat Roy")
    check(window, "Cat Roy", False)
    settle(qtbot, window, lambda: [a.name for a in window.view.present] == ["Ann Lee", "Ben Ode"])
    assert window.votes.rowCount() == 2

    # Approve the first with conditions and votes; the next undecided change comes up.
    vote(window, "Ann Lee", "approve")
    vote(window, "Ben Ode", "approve")
    assert window.vote_tally.text() == "Approve 2 · Reject 0 · Abstain 0"
    window.conditions.setPlainText("Only after the backup is verified.")
    window.approve_button.click()
    settle(qtbot, window, lambda: window.view.decided_count == 1)
    assert window.change_panel.number.text() == "CHG0000002"
    assert window.message.isHidden()

    # Reject the second (Very High risk), with one vote each way.
    vote(window, "Ann Lee", "reject")
    vote(window, "Ben Ode", "approve")
    window.conditions.setPlainText("Too risky before the freeze.")
    window.reject_button.click()
    settle(qtbot, window, lambda: window.view.decided_count == 2)
    assert window.change_panel.number.text() == "CHG0000003"

    # Defer the third.
    window.defer_button.click()
    settle(qtbot, window, lambda: window.view.decided_count == 3)
    assert "3 of 3 decided" in window.tally.text()
    assert not message_boxes

    # A decided item shows its decision; the approved change can no longer be decided.
    window.select_change("CHG0000001")
    assert "Approved" in window.decision_state.text()
    assert not window.approve_button.isEnabled()

    # Export the minutes.
    path = tmp_path / "minutes.xlsx"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    window.minutes_button.click()
    qtbot.waitUntil(lambda: window.last_export == str(path), timeout=10_000)

    with db.session() as s:
        states = {c.id: c.state for c in s.scalars(select(ChangeRequest))}
        assert (states[upgrade], states[patch], states[move]) == (
            "Scheduled",
            "New",
            "Authorize",
        )
        meeting = s.scalar(select(CabMeeting))
        items = {
            i.change_id: i
            for i in s.scalars(select(CabAgendaItem).where(CabAgendaItem.meeting_id == meeting.id))
        }
        assert items[upgrade].decision == "approved"
        assert items[upgrade].conditions == "Only after the backup is verified."
        assert items[patch].decision == "rejected" and items[move].decision == "deferred"
        names = dict(s.execute(select(Person.id, Person.name)).all())
        votes = {(v.agenda_item_id, names[v.person_id]): v.vote for v in s.scalars(select(CabVote))}
        assert votes == {
            (items[upgrade].id, "Ann Lee"): "approve",
            (items[upgrade].id, "Ben Ode"): "approve",
            (items[patch].id, "Ann Lee"): "reject",
            (items[patch].id, "Ben Ode"): "approve",
        }
        attendance = {
            names[p]: present
            for p, present in s.execute(
                select(cab_attendee.c.person_id, cab_attendee.c.present).where(
                    cab_attendee.c.meeting_id == meeting.id
                )
            )
        }
        assert attendance == {"Ann Lee": True, "Ben Ode": True, "Cat Roy": False}

    wb = load_workbook(path)
    decisions = wb["Decisions"]
    header = [c.value for c in decisions[1]]
    rows = [
        dict(zip(header, r, strict=True)) for r in decisions.iter_rows(min_row=2, values_only=True)
    ]
    assert [r["Decision"] for r in rows] == ["Approved", "Rejected", "Deferred"]
    assert rows[0]["Conditions"] == "Only after the backup is verified."
    assert (rows[1]["Approve"], rows[1]["Reject"]) == (1, 1)


def test_an_approval_the_workflow_refuses_says_why_and_records_nothing(
    qtbot, db, board, message_boxes
):
    change_id = data.awaiting(db, board, "Upgrade mail", NOW + 2 * D)
    meeting_id = data.meeting_with(db, board)
    with db.transaction() as s:
        s.get(ChangeRequest, change_id).backout_plan = ""
    window = open_meeting(qtbot, db, meeting_id)
    assert "needs a back-out plan" in window.change_panel.blockers.text()
    vote(window, "Ann Lee", "approve")
    window.approve_button.click()
    qtbot.waitUntil(lambda: window.message.isVisible(), timeout=10_000)
    settle(qtbot, window)
    assert "cannot be approved: it needs a back-out plan" in window.message.text()
    assert message_boxes and "back-out plan" in message_boxes[-1].text()
    with db.session() as s:
        assert s.scalar(select(CabAgendaItem.decision)) is None
        assert s.scalars(select(CabVote)).all() == []
        assert s.get(ChangeRequest, change_id).state == "Authorize"
    assert window.approve_button.isEnabled()


def test_post_implementation_reviews_are_listed_and_recorded(qtbot, db, board):
    with db.transaction() as s:
        s.add(
            ChangeRequest(
                number="CHG9000001",
                short_description="Failed firmware upgrade",
                type="Normal",
                state="Closed",
                close_code="Unsuccessful",
                actual_start=NOW - 3 * D,
                actual_end=NOW - 2 * D,
                closed_at=NOW - D,
            )
        )
    window = open_meeting(qtbot, db)
    window.reviews_button.click()
    dialog = window.reviews_dialog
    qtbot.waitUntil(lambda: dialog.loaded, timeout=10_000)
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == "CHG9000001"
    assert dialog.table.item(0, 2).text() == "Closed Unsuccessful"
    dialog.outcome.setPlainText("Failed; backed out.")
    dialog.lessons.setPlainText("Stage the firmware first.")
    dialog.record_button.click()
    qtbot.waitUntil(lambda: dialog.recorded == ["CHG9000001"], timeout=10_000)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0, timeout=10_000)
    assert dialog.empty.isVisible()
    with db.session() as s:
        review = s.scalar(select(ChangeReview))
        assert review.outcome == "Failed; backed out." and review.reviewer_id == board["ann"]
