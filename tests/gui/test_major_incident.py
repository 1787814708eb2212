"""The major-incident window: updates, communications, review, actions and the export."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook
from PySide6.QtWidgets import QFileDialog
from sqlalchemy import select

from app.models import Incident
from app.services import major_incidents as mi
from app.views.major_incident import MajorIncidentWindow, open_major_incident
from tests.sample_data import NOW


def incident_id(db, number: str) -> int:
    with db.session() as s:
        return s.scalar(select(Incident.id).where(Incident.number == number))


@pytest.fixture
def open_major(qtbot, sample_db):
    def open_(number: str = "INC001", now: dt.datetime = NOW) -> MajorIncidentWindow:
        window = open_major_incident(
            None, sample_db, incident_id(sample_db, number), clock=lambda: now
        )
        qtbot.addWidget(window)
        qtbot.waitUntil(window.is_loaded, timeout=10_000)
        return window

    return open_


def settle(qtbot, window: MajorIncidentWindow, condition) -> None:
    qtbot.waitUntil(lambda: window.is_loaded() and condition(), timeout=10_000)


def test_the_header_says_what_is_down_and_for_how_long(open_major):
    window = open_major()
    assert window.number.text() == "INC001"
    assert "Email down for all users" in window.title.text()
    facts = window.facts.text()
    assert "Email" in facts and "Duration so far" in facts and "5h" in facts
    assert window.timeline.rowCount() == 2
    assert window.timeline.item(0, 2).text() == "Failover to the second site started"
    # The latest status is offered for the next update.
    assert window.update_status.currentText() == "identified"


def test_adding_a_status_update_moves_the_incident_along(open_major, qtbot, sample_db):
    window = open_major()
    window.update_status.setCurrentText("monitoring")
    window.update_text.setPlainText("Mail flowing again from the second site")
    window.add_update_button.click()
    settle(qtbot, window, lambda: window.timeline.rowCount() == 3)
    assert window.timeline.item(0, 1).text() == "monitoring"
    assert window.update_text.toPlainText() == ""
    with sample_db.session() as s:
        assert mi.major_detail(s, window.incident_id).major_status == "monitoring"


def test_an_empty_update_is_refused_and_says_why(open_major, qtbot):
    window = open_major()
    window.update_text.setPlainText("   ")
    window.add_update_button.click()
    qtbot.waitUntil(lambda: window.message.isVisible(), timeout=10_000)
    assert "text is required" in window.message.text()
    assert window.timeline.rowCount() == 2


def test_logging_a_communication(open_major, qtbot):
    window = open_major()
    window.channel.setCurrentText("status page")
    window.audience.setText("Customers")
    window.comm_message.setPlainText("Email is degraded; next update at 14:00")
    window.log_button.click()
    settle(qtbot, window, lambda: window.comms.rowCount() == 1)
    assert [window.comms.item(0, c).text() for c in (1, 2, 3)] == [
        "status page",
        "Customers",
        "Email is degraded; next update at 14:00",
    ]
    assert window.comm_message.toPlainText() == ""


def test_a_review_with_an_action_that_is_then_done(open_major, qtbot, sample_db):
    window = open_major()
    assert not window.add_action_button.isEnabled()
    window.held.setChecked(True)
    window.held_on.setDate(window.held_on.date().fromString("2026-11-24", "yyyy-MM-dd"))
    window.root_cause.setPlainText("Certificate on the mail gateway expired")
    window.factors.setPlainText("No expiry monitoring")
    window.save_review_button.click()
    settle(qtbot, window, lambda: window.detail.review is not None)
    assert window.add_action_button.isEnabled()

    dialog = window.add_action()
    dialog.description.setText("Alert 30 days before any certificate expires")
    dialog.accept()  # no owner yet
    assert dialog.isVisible() and "owner" in dialog.error.text()
    dialog.owner.setCurrentText("Bea Novak")
    dialog.due.setDate(dialog.due.date().fromString("2026-12-15", "yyyy-MM-dd"))
    dialog.accept()
    settle(qtbot, window, lambda: window.actions.rowCount() == 1)
    assert [window.actions.item(0, c).text() for c in range(4)] == [
        "Alert 30 days before any certificate expires",
        "Bea Novak",
        "2026-12-15",
        "open",
    ]

    window.actions.selectRow(0)
    assert window.complete_button.isEnabled()
    window.complete_button.click()
    settle(qtbot, window, lambda: window.actions.item(0, 3).text() == "done")
    with sample_db.session() as s:
        [action] = mi.major_detail(s, window.incident_id).actions
    assert action.status == "done" and action.owner == "Bea Novak"


def test_overdue_actions_are_marked(open_major, qtbot, sample_db):
    iid = incident_id(sample_db, "INC001")
    with sample_db.transaction() as s:
        mi.save_review(s, iid, mi.ReviewInput(held_on=dt.date(2026, 11, 23)))
        owner = mi.people(s)[0].id
        mi.add_action(s, iid, mi.ActionInput("Patch the gateway", owner, dt.date(2026, 11, 30)))
    window = open_major(now=NOW + dt.timedelta(days=8))
    assert window.actions.item(0, 3).text() == "open · overdue"


def test_export_review_writes_the_workbook_in_the_background(
    open_major, qtbot, tmp_path, monkeypatch
):
    window = open_major()
    target = tmp_path / "out" / "INC001 review"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), ""))
    window.export_button.click()
    qtbot.waitUntil(lambda: window.last_export is not None, timeout=10_000)
    written = target.with_name("INC001 review.xlsx")
    assert window.last_export == str(written)
    assert "Review written to" in window.statusBar().currentMessage()
    wb = load_workbook(written)
    assert wb.sheetnames == ["Summary", "Timeline", "Corrective actions"]
    assert wb["Timeline"].max_row == 3


def test_a_cancelled_file_dialog_writes_nothing(open_major, monkeypatch, tmp_path):
    window = open_major()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: ("", ""))
    window.export_button.click()
    assert window.last_export is None


def test_an_ordinary_incident_can_be_declared_major(open_major, qtbot):
    window = open_major("INC004")
    assert window.declare_button.isVisibleTo(window)
    assert not window.add_update_button.isEnabled()
    window.declare_button.click()
    settle(qtbot, window, lambda: window.detail.is_major)
    assert not window.declare_button.isVisibleTo(window)
    assert window.add_update_button.isEnabled() and window.timeline.rowCount() == 1


def test_opening_twice_shows_the_same_window(open_major, sample_db):
    window = open_major()
    again = open_major_incident(None, sample_db, window.incident_id)
    assert again is window


def test_a_closed_major_incident_keeps_its_review_but_not_its_live_boxes(open_major, sample_db):
    with sample_db.transaction() as s:
        s.get(Incident, incident_id(sample_db, "INC010")).state = "Closed"
    window = open_major("INC010")
    assert not window.add_update_button.isEnabled() and not window.log_button.isEnabled()
    assert "timeline is final" in window.update_text.placeholderText()
    assert window.save_review_button.isEnabled() and window.export_button.isEnabled()


def test_editing_an_action_changes_its_owner_and_date(open_major, qtbot, sample_db):
    iid = incident_id(sample_db, "INC001")
    with sample_db.transaction() as s:
        mi.save_review(s, iid, mi.ReviewInput(held_on=dt.date(2026, 11, 23)))
        alex = next(p.id for p in mi.people(s) if p.name == "Alex Kim")
        mi.add_action(s, iid, mi.ActionInput("Renew certificates", alex, dt.date(2026, 11, 30)))
    window = open_major()
    window.actions.selectRow(0)
    dialog = window.edit_action()
    assert (
        dialog.owner.currentText() == "Alex Kim"
        and dialog.description.text() == "Renew certificates"
    )
    dialog.owner.setCurrentText("Chen Li")
    dialog.due.setDate(dialog.due.date().addDays(7))
    dialog.accept()
    settle(qtbot, window, lambda: window.actions.item(0, 1).text() == "Chen Li")
    assert window.actions.item(0, 2).text() == "2026-12-07"
