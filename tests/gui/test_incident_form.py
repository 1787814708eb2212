"""The incident form: create, edit, priorities, the workflow buttons and conflicts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from PySide6.QtCore import Qt

from app.db import Identity
from app.models import UTC, AppUser, Incident, Person, Service, SlaClock, SlaDefinition, Team
from app.services import incidents as wf
from app.services.incidents import IncidentInput
from app.views import conflict_dialog, incident_form, record_form
from app.views.conflict_dialog import MERGE, MINE, THEIRS, Resolution
from app.views.incident_form import IncidentForm, open_incident, sla_colour, sla_text

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)


@pytest.fixture
def org(db):
    """A desk group with two members, a service, and a signed-in agent."""
    with db.transaction() as s:
        alex, bea = Person(name="Alex Kim"), Person(name="Bea Novak")
        desk = Team(name="Service Desk", members=[alex, bea])
        s.add_all([desk, Service(name="Email")])
        s.flush()
        user = AppUser(username="alex", person_id=alex.id, display_name="Alex Kim", role="agent")
        s.add(user)
        s.flush()
        db.identity = Identity(username="alex", user_id=user.id, display_name="Alex Kim")
        return {"desk": desk.id, "alex": alex.id, "bea": bea.id}


@pytest.fixture
def incident_id(db, org):
    with db.transaction() as s:
        incident = wf.new_incident(
            s,
            IncidentInput("Mail is slow", impact=2, urgency=2, assignment_group_id=org["desk"]),
            now=NOW - H,
        )
        return incident.id


def open_form(qtbot, db, ident=None) -> IncidentForm:
    form = IncidentForm(db, ident, clock=lambda: NOW)
    qtbot.addWidget(form)
    with qtbot.waitSignal(form.loaded, timeout=10_000):
        pass
    return form


def wait_saved(qtbot, form: IncidentForm, action) -> None:
    with qtbot.waitSignal(form.loaded, timeout=10_000):
        action()


def saved(db, ident) -> Incident:
    with db.session() as s:
        return s.get(Incident, ident)


def test_a_new_incident_is_filled_saved_and_reopened(qtbot, db, org):
    form = open_form(qtbot, db)
    assert form.number_label.text() == "New incident"
    form.short_description.setText("Printer on floor 3 jams")
    form.description.setPlainText("Every second page.")
    form.impact.setCurrentIndex(1)  # Medium
    form.urgency.setCurrentIndex(0)  # High
    form.group.set_value(org["desk"])
    form.assignee.set_value(org["bea"])
    with qtbot.waitSignal(form.saved, timeout=10_000) as blocker:
        form.save()
    ident = blocker.args[0]
    incident = saved(db, ident)
    assert (incident.number, incident.priority, incident.state) == ("INC0000001", 2, "New")
    assert incident.assignee_id == org["bea"]
    assert form.number_label.text() == "INC0000001"
    assert not form.is_dirty()

    again = open_form(qtbot, db, ident)
    assert again.short_description.text() == "Printer on floor 3 jams"
    assert again.description.toPlainText() == "Every second page."
    assert again.assignee.currentText() == "Bea Novak"
    assert again.priority_shown.text() == "P2 High"
    assert "Created" in again.timeline.toPlainText()


def test_priority_follows_impact_and_urgency(qtbot, db, org):
    form = open_form(qtbot, db)
    assert form.priority_shown.text() == "P5 Planning"
    form.impact.setCurrentIndex(0)
    form.urgency.setCurrentIndex(0)
    assert form.priority_shown.text() == "P1 Critical"
    form.urgency.setCurrentIndex(2)
    assert form.priority_shown.text() == "P3 Moderate"


def test_an_override_without_a_reason_is_refused(qtbot, db, incident_id, message_boxes):
    form = open_form(qtbot, db, incident_id)
    form.override.setChecked(True)
    form.override_priority.setCurrentIndex(0)
    assert form.priority_shown.text() == "P1 Critical"
    form.save()
    assert "reason" in form.error_label.text()
    assert form.error_label.isVisibleTo(form)
    assert saved(db, incident_id).priority == 3
    form.override_reason.setText("The CEO is affected")
    wait_saved(qtbot, form, form.save)
    incident = saved(db, incident_id)
    assert (incident.priority, incident.priority_override_reason) == (1, "The CEO is affected")
    assert not message_boxes


def test_resolve_needs_a_code_and_notes(qtbot, db, incident_id, monkeypatch):
    form = open_form(qtbot, db, incident_id)
    assert form.buttons["resolve"].isVisibleTo(form)
    monkeypatch.setattr(incident_form, "ask_resolution", lambda *_: None)
    form.buttons["resolve"].click()
    assert saved(db, incident_id).state == "New"

    monkeypatch.setattr(incident_form, "ask_resolution", lambda *_: ("", ""))
    form.buttons["resolve"].click()
    qtbot.waitUntil(lambda: not form.busy, timeout=10_000)
    assert "resolution code" in form.error_label.text()
    assert saved(db, incident_id).state == "New"

    monkeypatch.setattr(
        incident_form, "ask_resolution", lambda *_: ("Solved (Permanently)", "Restarted it.")
    )
    wait_saved(qtbot, form, form.buttons["resolve"].click)
    assert saved(db, incident_id).state == "Resolved"
    assert form.buttons["reopen"].isVisibleTo(form)
    assert form.buttons["close"].isVisibleTo(form)
    assert not form.buttons["resolve"].isVisibleTo(form)
    wait_saved(qtbot, form, form.buttons["reopen"].click)
    assert saved(db, incident_id).reopen_count == 1


def test_the_resolve_dialog_waits_for_both_code_and_notes(qtbot):
    dialog = incident_form.ResolveDialog(wf.RESOLUTION_CODES)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.buttons()[0]
    assert not ok.isEnabled()
    dialog.code_box.setCurrentIndex(1)
    assert not ok.isEnabled()
    dialog.notes_edit.setPlainText("Cleared the cache")
    assert ok.isEnabled()


def test_on_hold_asks_for_a_reason(qtbot, db, incident_id, monkeypatch):
    form = open_form(qtbot, db, incident_id)
    monkeypatch.setattr(incident_form, "ask_hold_reason", lambda *_: "Awaiting Vendor")
    wait_saved(qtbot, form, form.buttons["hold"].click)
    incident = saved(db, incident_id)
    assert (incident.state, incident.hold_reason) == ("On Hold", "Awaiting Vendor")
    assert form.state_label.text() == "On Hold · Awaiting Vendor"
    assert "Awaiting Vendor" in form.timeline.toPlainText()


def test_a_conflict_shows_theirs_and_mine_and_can_keep_mine(qtbot, db, incident_id, monkeypatch):
    form = open_form(qtbot, db, incident_id)
    with db.transaction() as s:
        wf.update_incident(s, incident_id, 1, {"short_description": "Theirs"}, now=NOW)
    asked = []

    def answer(_parent, _message, _title, _what, rows):
        asked.append([(r.label, r.before, r.theirs, r.mine) for r in rows])
        return Resolution(MINE)

    monkeypatch.setattr(conflict_dialog, "ask_conflict", answer)
    form.short_description.setText("Mine")
    wait_saved(qtbot, form, form.save)
    assert asked == [[("Short description", "Mail is slow", "Theirs", "Mine")]]
    assert saved(db, incident_id).short_description == "Mine"


def test_keep_theirs_shows_the_saved_value_and_keeps_other_edits(
    qtbot, db, incident_id, monkeypatch
):
    form = open_form(qtbot, db, incident_id)
    with db.transaction() as s:
        wf.update_incident(s, incident_id, 1, {"short_description": "Theirs"}, now=NOW)
    monkeypatch.setattr(conflict_dialog, "ask_conflict", lambda *_: Resolution(THEIRS))
    form.short_description.setText("Mine")
    form.category.setCurrentText("Email")
    with qtbot.waitSignal(form.loaded, timeout=10_000):
        form.save()
    qtbot.waitUntil(lambda: form.category.currentText() == "Email", timeout=5_000)
    assert form.short_description.text() == "Theirs"
    assert form.is_dirty()
    assert saved(db, incident_id).category is None


def test_edits_to_other_fields_are_merged_without_asking(qtbot, db, incident_id, monkeypatch):
    form = open_form(qtbot, db, incident_id)
    with db.transaction() as s:
        wf.update_incident(s, incident_id, 1, {"short_description": "Theirs"}, now=NOW)
    monkeypatch.setattr(conflict_dialog, "ask_conflict", lambda *_: pytest.fail("asked"))
    form.category.setCurrentText("Email")
    wait_saved(qtbot, form, form.save)
    incident = saved(db, incident_id)
    assert (incident.short_description, incident.category) == ("Theirs", "Email")


def test_merge_keeps_the_side_picked_on_each_field(qtbot, db, incident_id, monkeypatch):
    form = open_form(qtbot, db, incident_id)
    with db.transaction() as s:
        wf.update_incident(
            s, incident_id, 1, {"short_description": "Theirs", "category": "Network"}, now=NOW
        )
    keys = []

    def answer(_parent, _message, _title, _what, rows):
        keys.append([r.key for r in rows])
        return Resolution(MERGE, {"short_description": THEIRS, "category": MINE})

    monkeypatch.setattr(conflict_dialog, "ask_conflict", answer)
    form.short_description.setText("Mine")
    form.category.setCurrentText("Email")
    form.description.setPlainText("Only I changed this")
    wait_saved(qtbot, form, form.save)
    assert keys == [["short_description", "category"]]
    incident = saved(db, incident_id)
    assert (incident.short_description, incident.category, incident.description) == (
        "Theirs",
        "Email",
        "Only I changed this",
    )
    assert form.short_description.text() == "Theirs"
    assert not form.is_dirty()


def test_cancel_in_the_conflict_saves_nothing_and_keeps_the_edits(
    qtbot, db, incident_id, monkeypatch
):
    form = open_form(qtbot, db, incident_id)
    with db.transaction() as s:
        wf.update_incident(s, incident_id, 1, {"short_description": "Theirs"}, now=NOW)
    monkeypatch.setattr(conflict_dialog, "ask_conflict", lambda *_: Resolution("cancel"))
    form.short_description.setText("Mine")
    form.save()
    qtbot.waitUntil(lambda: not form.busy, timeout=10_000)
    assert form.short_description.text() == "Mine"
    assert form.is_dirty()
    assert saved(db, incident_id).short_description == "Theirs"


def test_the_conflict_dialog_shows_three_values_and_merges_the_picks(qtbot):
    rows = [
        conflict_dialog.ConflictRow("short_description", "Short description", "A", "B", "C"),
        conflict_dialog.ConflictRow("urgency", "Urgency", "3", "2", "1"),
    ]
    dialog = conflict_dialog.ConflictDialog("INC1 was changed.", "INC1", "incident", rows)
    qtbot.addWidget(dialog)
    table = dialog.table
    assert [table.horizontalHeaderItem(c).text() for c in range(4)] == [
        "Field",
        "When you opened it",
        "Saved now (theirs)",
        "Yours",
    ]
    assert [table.item(0, c).text() for c in range(4)] == ["Short description", "A", "B", "C"]
    assert dialog.picks() == {"short_description": MINE, "urgency": MINE}
    dialog.findChild(conflict_dialog.QRadioButton, "pick_urgency_theirs").click()
    dialog.merge_button.click()
    assert dialog.resolution == Resolution(MERGE, {"short_description": MINE, "urgency": THEIRS})
    dialog.theirs_button.click()
    assert dialog.resolution.choice == THEIRS and not dialog.resolution.keeps_mine("urgency")


def test_a_work_note_lands_on_the_timeline(qtbot, db, incident_id):
    form = open_form(qtbot, db, incident_id)
    form.note_edit.setPlainText("Asked the user to restart Outlook.")
    wait_saved(qtbot, form, form.note_button.click)
    assert "Asked the user to restart Outlook." in form.timeline.toPlainText()
    assert form.note_edit.toPlainText() == ""


def test_ctrl_s_saves_and_escape_asks_about_unsaved_edits(qtbot, db, incident_id, monkeypatch):
    window = open_incident(None, db, incident_id, clock=lambda: NOW)
    qtbot.addWidget(window)
    form = window.form
    with qtbot.waitSignal(form.loaded, timeout=10_000):
        pass
    assert open_incident(None, db, incident_id) is window
    form.short_description.setText("Edited with the keyboard")
    with qtbot.waitSignal(form.saved, timeout=10_000):
        qtbot.keyClick(form.short_description, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert saved(db, incident_id).short_description == "Edited with the keyboard"
    form.short_description.setText("Unsaved")
    asked = []
    monkeypatch.setattr(record_form, "ask_unsaved", lambda *_: asked.append(1) or "cancel")
    qtbot.keyClick(form.short_description, Qt.Key.Key_Escape)
    assert asked and window.isVisible()
    monkeypatch.setattr(record_form, "ask_unsaved", lambda *_: "discard")
    qtbot.keyClick(form.short_description, Qt.Key.Key_Escape)
    assert not window.isVisible()


def test_sla_bars_are_coloured_by_the_share_used():
    def clock(elapsed: int, stage: str = "in_progress", breached: bool = False):
        return wf.ClockView(
            id=1,
            name="P2 resolution",
            kind="SLA",
            target="resolution",
            stage=stage,
            duration_seconds=8 * 3600,
            started_at=NOW - H,
            due_at=NOW + 8 * H - dt.timedelta(seconds=elapsed),
            stopped_at=None,
            paused_since=NOW if stage == "paused" else None,
            business_elapsed_seconds=elapsed,
            computed_at=NOW,
            breached=breached,
            round_the_clock=True,
        )

    assert sla_colour(clock(3600), NOW) == incident_form.SLA_GREEN
    assert sla_colour(clock(5 * 3600), NOW) == incident_form.SLA_AMBER
    assert sla_colour(clock(7 * 3600), NOW) == incident_form.SLA_ORANGE
    assert sla_colour(clock(9 * 3600), NOW) == incident_form.SLA_RED
    assert sla_colour(clock(3600, "paused"), NOW) == incident_form.SLA_GREY
    assert sla_text(clock(4 * 3600 + 48 * 60), NOW).startswith("3h 12m left")
    assert sla_text(clock(9 * 3600, breached=True), NOW) == "Breached · 1h over"
    business_hours = dataclasses.replace(
        clock(3600), round_the_clock=False, due_at=NOW - dt.timedelta(minutes=20)
    )
    assert sla_colour(business_hours, NOW) == incident_form.SLA_RED
    assert sla_text(business_hours, NOW) == "Breached · 20m over"


def test_the_form_shows_the_clocks_of_an_incident(qtbot, db, incident_id):
    with db.transaction() as s:
        definition = SlaDefinition(
            name="P3 resolution", target="resolution", duration_seconds=86400
        )
        s.add(definition)
        s.flush()
        s.add(
            SlaClock(
                incident_id=incident_id,
                definition_id=definition.id,
                stage="in_progress",
                started_at=NOW - H,
                due_at=NOW + 23 * H,
                business_elapsed_seconds=3600,
                computed_at=NOW,
            )
        )
    form = open_form(qtbot, db, incident_id)
    assert [bar.status.text() for bar in form.clock_bars] == [
        f"23h left · due {incident_form.format_datetime(NOW + 23 * H)}"
    ]


def test_choosing_a_service_suggests_its_support_group(qtbot, db, org):
    with db.transaction() as s:
        s.add(Service(name="Printing", support_group_id=org["desk"]))
    form = open_form(qtbot, db)
    form.service.setCurrentIndex(form.service.findText("Printing"))
    assert form.group.currentText() == "Service Desk"
    assert [form.assignee.itemText(i) for i in range(form.assignee.count())] == [
        "",
        "Alex Kim",
        "Bea Novak",
    ]


def test_a_major_incident_offers_its_own_window(qtbot, db, incident_id, monkeypatch):
    opened = []
    monkeypatch.setattr(
        incident_form, "major_view", lambda: lambda parent, db_, ident: opened.append(ident)
    )
    form = open_form(qtbot, db, incident_id)
    assert not form.buttons["major"].isVisibleTo(form)
    form.is_major.setChecked(True)
    assert form.major_badge.isVisibleTo(form)
    wait_saved(qtbot, form, form.save)
    assert form.buttons["major"].isVisibleTo(form)
    form.buttons["major"].click()
    assert opened == [incident_id]


def test_without_the_major_view_there_is_no_major_button(monkeypatch):
    monkeypatch.setattr(incident_form.importlib.util, "find_spec", lambda _name: None)
    assert incident_form.major_view() is None


def test_a_saved_priority_stays_until_impact_or_urgency_change(qtbot, db, org):
    with db.transaction() as s:
        incident = Incident(
            number="INC0000042", short_description="imported", impact=3, urgency=3, priority=2
        )
        s.add(incident)
        s.flush()
        ident = incident.id
    form = open_form(qtbot, db, ident)
    assert form.priority_shown.text() == "P2 High"
    assert "P5 Planning" in form.priority_shown.toolTip()
    form.urgency.setCurrentIndex(1)
    assert form.priority_shown.text() == "P4 Low"


def test_an_incident_that_cannot_be_read_is_not_saved_as_a_new_one(qtbot, db, org):
    form = IncidentForm(db, 999_999, clock=lambda: NOW)
    qtbot.addWidget(form)
    qtbot.waitUntil(lambda: form.unreadable, timeout=10_000)
    assert "no longer exists" in form.error_label.text()
    assert not form.save_button.isEnabled()
    assert not form.short_description.isEnabled()
