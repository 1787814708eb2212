"""The change form: create, fill, answer the risk questions, move through the workflow."""

from __future__ import annotations

import datetime as dt

import pytest

from app.db import Identity
from app.models import (
    UTC,
    AppUser,
    ChangeRequest,
    ChangeTemplate,
    ConfigurationItem,
    Person,
    RiskOption,
    RiskQuestion,
    Service,
    Team,
)
from app.services import changes as cs
from app.views import change_form, conflict_dialog
from app.views.change_form import ChangeForm
from app.views.conflict_dialog import MERGE, MINE, THEIRS, Resolution

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
#: (text, weight, option scores): all lowest answers score 0 (Low).
QUESTIONS = [("Users affected?", 3, [0, 1, 3]), ("Complexity?", 2, [0, 1, 3])]


@pytest.fixture
def org(db):
    """A group with two members, a service with a CI, a two-question risk questionnaire,
    a standard template and a signed-in change manager."""
    with db.transaction() as s:
        ann, ben = Person(name="Ann Lee"), Person(name="Ben Ode")
        ops_team = Team(name="Operations", members=[ann, ben])
        mail = Service(name="Email")
        s.add_all([ann, ben, ops_team, mail])
        s.flush()
        host = ConfigurationItem(name="mx01", ci_class="server", service_id=mail.id)
        s.add(host)
        for position, (text, weight, scores) in enumerate(QUESTIONS, start=1):
            question = RiskQuestion(position=position, text=text, weight=weight)
            question.options = [RiskOption(label=f"score {n}", score=n) for n in scores]
            s.add(question)
        template = ChangeTemplate(
            name="Renew TLS certificate",
            risk="Low",
            implementation_plan="Install it.",
            test_plan="Check the chain.",
            backout_plan="Restore the old one.",
            typical_duration_minutes=45,
        )
        s.add(template)
        s.flush()
        user = AppUser(username="ann", person_id=ann.id, display_name="Ann Lee", role="admin")
        s.add(user)
        s.flush()
        db.identity = Identity(username="ann", user_id=user.id, display_name="Ann Lee")
        return {
            "ops": ops_team.id,
            "ann": ann.id,
            "ben": ben.id,
            "mail": mail.id,
            "mx01": host.id,
            "template": template.id,
        }


def open_form(qtbot, db, ident=None, **options) -> ChangeForm:
    form = ChangeForm(db, ident, clock=lambda: NOW, **options)
    qtbot.addWidget(form)
    with qtbot.waitSignal(form.loaded, timeout=10_000):
        pass
    return form


def wait_loaded(qtbot, form: ChangeForm, action) -> None:
    with qtbot.waitSignal(form.loaded, timeout=10_000):
        action()


def saved(db, ident) -> ChangeRequest:
    with db.session() as s:
        return s.get(ChangeRequest, ident)


def created(db, org, **fields) -> int:
    with db.transaction() as s:
        return cs.new_change(s, "Upgrade mail server", now=NOW - H, **fields).id


def test_a_normal_change_is_created_filled_and_moved_to_authorize(qtbot, db, org):
    form = open_form(qtbot, db, type="Normal")
    assert form.number_label.text() == "New normal change"
    form.short_description.setText("Upgrade mail server")
    wait_loaded(qtbot, form, form.save)
    ident = form.detail.id
    assert (form.detail.number, form.detail.state, form.detail.type) == (
        "CHG0000001",
        "New",
        "Normal",
    )
    assert form.number_label.text() == "CHG0000001"

    # Assess needs scope and a group: the button says so and the move is refused.
    assess = form.step_buttons["Assess"]
    assert not assess.isEnabled()
    assert "an assignment group" in assess.toolTip()
    form.move_to("Assess")
    qtbot.waitUntil(lambda: not form.busy, timeout=10_000)
    assert form.error_label.isVisibleTo(form)
    assert "a service or configuration item and an assignment group" in form.error_label.text()
    assert saved(db, ident).state == "New"

    # Fill everything Authorize needs, answer the questionnaire, then move.
    form.service.set_value(org["mail"])
    form.group.set_value(org["ops"])
    form.assignee.set_value(org["ben"])
    form.cis.set_values([(org["mx01"], "mx01 (Email)")])
    form.implementation_plan.setPlainText("1. Stop\n2. Upgrade\n3. Start")
    form.test_plan.setPlainText("Send a test mail.")
    form.backout_plan.setPlainText("Restore the snapshot.")
    form.dates["planned_start"].set_value(NOW + 2 * D)
    assert form.dates["planned_end"].value() == NOW + 2 * D + 2 * H  # two hours by default
    assert form.step_buttons["Assess"].isEnabled()  # unsaved edits may supply what is missing
    for group in form.risk_groups.values():
        group.buttons()[1].setChecked(True)  # scores 1 x weight
    assert form.risk_score_label.text() == "Score 5"
    assert form.risk_level_badge.text() == "Low risk"
    wait_loaded(qtbot, form, form.step_buttons["Assess"].click)
    change = saved(db, ident)
    assert change.state == "Assess"
    assert (change.risk_score, change.risk) == (5, "Low")
    assert change.planned_end == NOW + 2 * D + 2 * H
    assert not form.is_dirty()

    authorize = form.step_buttons["Authorize"]
    assert authorize.isEnabled() and authorize.text() == "Request authorization"
    wait_loaded(qtbot, form, authorize.click)
    assert saved(db, ident).state == "Authorize"
    assert form.state_label.text() == "Authorize"
    # Scheduled needs the board's approval.
    assert "an approved CAB decision" in form.step_buttons["Scheduled"].toolTip()
    history = form.history.toPlainText()
    assert "Authorize" in history and "Ann Lee" in history


def test_an_end_before_the_start_is_refused_and_nothing_saved(qtbot, db, org):
    ident = created(db, org)
    form = open_form(qtbot, db, ident)
    form.dates["planned_start"].set_value(NOW + D)
    form.dates["planned_end"].set_value(NOW + D - H)
    form.save()
    assert "Planned end" in form.error_label.text()
    assert "must be after" in form.error_label.text()
    assert not form.busy
    assert saved(db, ident).planned_start is None


def test_a_stale_edit_shows_the_conflict_and_reloads_theirs(qtbot, db, org, monkeypatch):
    ident = created(db, org)
    form = open_form(qtbot, db, ident)
    with db.transaction() as s:
        cs.update_change(s, ident, 1, short_description="Theirs", now=NOW)
    form.short_description.setText("Mine")
    form.justification.setPlainText("Kept through the reload")
    asked = []

    def answer(_parent, message, _title, _what, rows):
        asked.append((message, [(r.label, r.theirs, r.mine) for r in rows]))
        return Resolution(THEIRS)

    monkeypatch.setattr(conflict_dialog, "ask_conflict", answer)
    wait_loaded(qtbot, form, form.save)
    message, rows = asked[0]
    assert "was changed" in message
    assert ("Short description", "Theirs", "Mine") in rows
    assert form.short_description.text() == "Theirs"
    assert form.justification.toPlainText() == "Kept through the reload"
    assert form.is_dirty()
    assert saved(db, ident).short_description == "Theirs"


def test_keep_mine_saves_over_theirs(qtbot, db, org, monkeypatch):
    ident = created(db, org)
    form = open_form(qtbot, db, ident)
    with db.transaction() as s:
        cs.update_change(s, ident, 1, short_description="Theirs", now=NOW)
    form.short_description.setText("Mine")
    monkeypatch.setattr(conflict_dialog, "ask_conflict", lambda *_: Resolution(MINE))
    with qtbot.waitSignal(form.saved, timeout=10_000):
        form.save()
    assert saved(db, ident).short_description == "Mine"


def test_merge_saves_theirs_where_picked_and_mine_elsewhere(qtbot, db, org, monkeypatch):
    ident = created(db, org)
    form = open_form(qtbot, db, ident)
    with db.transaction() as s:
        cs.update_change(s, ident, 1, short_description="Theirs", description="Theirs too", now=NOW)
    form.short_description.setText("Mine")
    form.description.setPlainText("Mine too")
    form.justification.setPlainText("Only mine")
    monkeypatch.setattr(
        conflict_dialog,
        "ask_conflict",
        lambda *_: Resolution(MERGE, {"short_description": THEIRS, "description": MINE}),
    )
    with qtbot.waitSignal(form.saved, timeout=10_000):
        form.save()
    change = saved(db, ident)
    assert (change.short_description, change.description, change.justification) == (
        "Theirs",
        "Mine too",
        "Only mine",
    )


def test_edits_to_other_fields_are_merged_without_asking(qtbot, db, org, monkeypatch):
    ident = created(db, org)
    form = open_form(qtbot, db, ident)
    with db.transaction() as s:
        cs.update_change(s, ident, 1, description="Theirs", now=NOW)
    form.justification.setPlainText("Mine")
    monkeypatch.setattr(conflict_dialog, "ask_conflict", lambda *_: pytest.fail("asked"))
    with qtbot.waitSignal(form.saved, timeout=10_000):
        form.save()
    change = saved(db, ident)
    assert (change.description, change.justification) == ("Theirs", "Mine")


def test_a_standard_change_comes_from_its_template(qtbot, db, org):
    form = open_form(qtbot, db, type="Standard", template_id=org["template"])
    assert form.template.value() == org["template"]
    assert form.risk_badge.text() == "Low risk"
    assert not form.questions_host.isVisibleTo(form)
    with qtbot.waitSignal(form.saved, timeout=10_000):
        form.save()
    change = saved(db, form.detail.id)
    assert (change.type, change.risk, change.short_description) == (
        "Standard",
        "Low",
        "Renew TLS certificate",
    )
    assert change.implementation_plan == "Install it."
    assert set(form.step_buttons) == {"Scheduled", "Canceled"}


def test_cancel_asks_for_a_reason(qtbot, db, org, monkeypatch):
    ident = created(db, org)
    form = open_form(qtbot, db, ident)
    monkeypatch.setattr(change_form, "ask_cancel_reason", lambda *_: None)
    form.step_buttons["Canceled"].click()
    assert saved(db, ident).state == "New"
    monkeypatch.setattr(change_form, "ask_cancel_reason", lambda *_: "Not needed any more")
    monkeypatch.setattr(change_form, "confirm", lambda *_: True)
    wait_loaded(qtbot, form, form.step_buttons["Canceled"].click)
    change = saved(db, ident)
    assert (change.state, change.close_notes) == ("Canceled", "Not needed any more")
    assert not form.save_button.isEnabled() and not form.short_description.isEnabled()


def test_conflicts_of_the_window_are_listed(qtbot, db, org):
    start = NOW + D
    with db.transaction() as s:
        first = cs.new_change(
            s, "One", ci_ids=[org["mx01"]], planned_start=start, planned_end=start + 2 * H, now=NOW
        ).id
        second = cs.new_change(
            s,
            "Two",
            ci_ids=[org["mx01"]],
            planned_start=start + H,
            planned_end=start + 3 * H,
            now=NOW,
        ).id
    form = open_form(qtbot, db, second)
    assert form.conflict_list.count() >= 1
    assert "CHG0000001" in form.conflict_list.item(0).text()
    assert form.conflict_badge.isVisibleTo(form)
    assert form.tabs.tabText(2).startswith("Conflicts (")
    # Moving the window away (not saved) finds none.
    form.dates["planned_start"].set_value(start + 5 * H)
    form.dates["planned_end"].set_value(start + 6 * H)
    form.check_button.click()
    qtbot.waitUntil(lambda: "No conflicts" in form.conflicts_note.text(), timeout=10_000)
    assert form.conflict_list.count() == 0
    assert first != second


def test_incidents_are_linked_by_number(qtbot, db, org):
    from app.models import Incident

    with db.transaction() as s:
        s.add(
            Incident(
                number="INC0000042",
                short_description="Mail bounces",
                priority=2,
                state="New",
                opened_at=NOW,
            )
        )
    with db.transaction() as s:
        change = cs.new_change(s, "Done change", now=NOW - 2 * D)
        change.state = "Implement"
        change.actual_start = NOW - D
        ident = change.id
    form = open_form(qtbot, db, ident)
    form.link_edit.setText("inc0000042")
    wait_loaded(qtbot, form, form.link_button.click)
    assert form.caused_table.rowCount() == 1
    assert form.caused_table.item(0, 0).text() == "INC0000042"
    form.link_edit.setText("INC404")
    form.link_button.click()
    qtbot.waitUntil(lambda: not form.busy, timeout=10_000)
    assert "no incident numbered" in form.error_label.text()
