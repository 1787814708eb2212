"""The console follows the signed-in database role: status bar, disabled actions, refusals.

The database is what refuses (tests/pg/test_roles.py); here a real PostgreSQL user in a
role opens the window, and the console shows the role, turns off what it may not do, and
says which right is missing when a write is refused anyway.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolButton
from sqlalchemy import select, update

from app.cli import COMMANDS, main
from app.db import open_database
from app.db import roles as R
from app.models import ChangeRequest, Incident, Vendor
from app.views import ops
from app.views.change_form import ChangeForm
from app.views.incident_form import IncidentForm
from app.views.permissions import WindowRole, allow, is_refused, role_text
from tests import sample_data

VIEWER = "gp_viewer"
AGENT = "gp_agent"


# --- without a server ----------------------------------------------------------------


def test_a_refused_button_stays_off_when_its_page_turns_it_on(qtbot):
    button = QToolButton()
    qtbot.addWidget(button)
    action = QAction("New")
    allow("viewer", {"edit_incident": [button, action]})
    assert not button.isEnabled() and not action.isEnabled()
    assert is_refused(button) and is_refused(action)
    assert button.property("refusedBecause") == "Your role (viewer) may not do this."
    button.setEnabled(True)  # e.g. rows were selected
    action.setEnabled(True)
    assert not button.isEnabled() and not action.isEnabled()
    allow("agent", {"edit_incident": [button, action]})
    assert button.isEnabled() and action.isEnabled()  # the state the page asked for
    button.setEnabled(False)
    allow("viewer", {"edit_incident": [button]})
    allow(None, {"edit_incident": [button]})
    assert not button.isEnabled()  # its page had turned it off; it stays off


def test_hidden_refused_actions_come_back_when_allowed(qtbot):
    button = QToolButton()
    qtbot.addWidget(button)
    button.show()
    allow({"viewer"}, {"edit_vendor": [button]}, hide=True)
    assert button.isHidden()
    allow({"viewer", "service_manager"}, {"edit_vendor": [button]}, hide=True)
    assert not button.isHidden() and button.isEnabled()


def test_role_words():
    assert role_text("change_manager") == "change manager"
    assert role_text("owner") == "owner"
    assert role_text("none") == "no Servicedeck role"


def test_on_sqlite_everything_is_allowed_and_the_status_bar_is_unchanged(window):
    assert isinstance(window.permissions, WindowRole)
    assert window.permissions.known and window.permissions.roles is None
    assert window.permissions.allows("admin")
    assert window.user_label.text() == "System (admin)"
    page = window.show_page("incidents")
    assert page.new_button.isEnabled() and not is_refused(page.new_button)


# --- with a real PostgreSQL user in a role -------------------------------------------


@pytest.fixture(scope="module")
def shared(pg_server):
    """A database after ``db init``, with the sample data and a viewer and an agent."""
    name = "t_gui_permissions"
    url = pg_server.create_database(name)
    R.init_database(url)
    owner = open_database(url)
    sample_data.fill(owner)
    owner.dispose()
    R.add_user(url, VIEWER, "viewer", display_name="Vic Viewer")
    R.add_user(url, AGENT, "agent")
    return {"viewer": pg_server.url(name, VIEWER), "agent": pg_server.url(name, AGENT)}


@pytest.fixture
def as_user(shared, open_window, qtbot):
    """Open a window signed in as the viewer or the agent, once its role is known."""
    opened = []

    def open_(who: str, **options):
        database = open_database(shared[who])
        opened.append(database)
        options.setdefault("persist", False)
        window = open_window(database, **options)
        qtbot.waitUntil(lambda: window.permissions.known, timeout=10_000)
        return window

    yield open_
    ops.shutdown(10_000)
    for database in opened:
        database.dispose()


@pytest.mark.pg
def test_the_status_bar_shows_the_database_user_and_role(as_user, qtbot):
    window = as_user("viewer")
    qtbot.waitUntil(lambda: window.user_label.text() == f"{VIEWER} · viewer")
    assert window.permissions.role == "viewer"
    assert window.db.identity.username == VIEWER  # audit rows name the database user
    assert window.db.identity.display_name == "Vic Viewer"


@pytest.mark.pg
def test_a_viewers_queue_has_its_write_actions_disabled(as_user, qtbot):
    window = as_user("viewer", start_page="incidents")
    page = window.current_page()
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=10_000)
    assert not page.new_button.isEnabled()
    assert page.new_button.property("refusedBecause") == "Your role (viewer) may not do this."
    page.table.selectAll()  # selecting rows turns the bulk buttons on, but not for a viewer
    assert page.table.selectionModel().selectedRows()
    assert not any(b.isEnabled() for b in page.bulk_buttons.values())
    assert page.save_view_button.isEnabled()  # a viewer keeps their own saved views
    changes = window.page("changes")
    assert not changes.new_button.isEnabled() and not changes.cab_button.isEnabled()
    vendors = window.page("vendors")
    assert not vendors.new_vendor_button.isEnabled()


@pytest.mark.pg
def test_an_agent_may_work_incidents_but_not_vendors(as_user, qtbot):
    window = as_user("agent", start_page="incidents")
    page = window.current_page()
    assert window.user_label.text() == f"{AGENT} · agent"
    assert page.new_button.isEnabled()
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=10_000)
    page.table.selectAll()
    assert not any(is_refused(b) for b in page.bulk_buttons.values())
    vendors = window.page("vendors")
    assert not vendors.new_vendor_button.isEnabled()
    assert window.page("changes").new_button.isEnabled()
    # An import creates teams, services and vendors too: not for an agent.
    assert not window.import_action.isEnabled()
    assert window.import_action.property("refusedBecause") == "Your role (agent) may not do this."


@pytest.mark.pg
def test_a_refused_write_says_which_right_is_missing(as_user, qtbot, message_boxes):
    window = as_user("viewer", start_page="incidents")
    page = window.current_page()

    def write(session, _progress):
        session.execute(update(Incident).values(short_description="Renamed"))

    ops.QueryOp(parent=page, db=window.db, op=write, commit=True).run_in_background()
    qtbot.waitUntil(lambda: bool(message_boxes), timeout=10_000)
    [box] = message_boxes
    assert box.text() == (
        "Your role (viewer) may not change incidents (the database refused UPDATE on "
        "incident); an agent, a change manager or a service manager may."
    )
    assert box.informativeText() == "Nothing was changed."


@pytest.mark.pg
def test_the_sla_refresh_runs_only_for_a_role_that_may_edit_incidents(as_user, qtbot):
    viewer = as_user("viewer")
    viewer.sla_refresher.run_now()
    assert not viewer.sla_refresher.busy  # nothing started: a viewer may not write clocks
    agent = as_user("agent")
    with qtbot.waitSignal(agent.sla_refresher.refreshed, timeout=10_000):
        agent.sla_refresher.run_now()


@pytest.mark.pg
def test_the_command_line_says_which_right_is_missing_instead_of_a_traceback(
    shared, monkeypatch, capsys
):
    def add_vendor(args):
        database = open_database(args.db)
        try:
            with database.transaction() as s:
                s.add(Vendor(name="Sneaky"))
        finally:
            database.dispose()
        return 0

    monkeypatch.setitem(COMMANDS, "kpi", add_vendor)
    assert main(["kpi", "--db", shared["viewer"]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("servicedeck: Your role (viewer) may not add vendors")
    assert "Traceback" not in err


def _first_id(database, model, **where):
    with database.session() as s:
        return s.scalars(select(model.id).filter_by(**where).order_by(model.id)).first()


@pytest.mark.pg
def test_a_viewers_forms_are_read_only_and_their_shortcuts_do_nothing(as_user, qtbot):
    window = as_user("viewer", start_page="incidents")
    page = window.current_page()
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=10_000)
    opened = []
    page.open_incident = lambda ident: opened.append(ident)
    page.setFocus()
    qtbot.keyClick(page, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert opened == []  # Ctrl+N opens no new incident for a viewer
    assert "may not" in window.statusBar().currentMessage()
    assert page._bulk("Assign", lambda *_: None) is None

    ident = _first_id(window.db, Incident, state="New")
    form = IncidentForm(window.db, ident, parent=page, clock=lambda: sample_data.NOW)
    form.setWindowFlag(Qt.WindowType.Window)
    qtbot.addWidget(form)
    qtbot.waitUntil(lambda: form.detail is not None, timeout=10_000)
    assert "read only" in form.status_label.text()
    assert form.status_label.toolTip() == "Your role (viewer) may not do this."
    assert not form.short_description.isEnabled()
    assert not form.save_button.isEnabled()
    assert not any(b.isEnabled() for k, b in form.buttons.items() if k != "major")
    form.note_edit.setPlainText("A note")
    assert not form.note_button.isEnabled()
    form.short_description.setText("Typed anyway")
    form.save()  # what Ctrl+S calls: nothing is written
    form.move_to("In Progress")
    assert not form.busy
    with window.db.session() as s:
        assert s.get(Incident, ident).state == "New"


@pytest.mark.pg
def test_an_agent_may_edit_a_change_but_not_authorise_it(as_user, qtbot):
    window = as_user("agent", start_page="changes")
    ident = _first_id(window.db, ChangeRequest, state="Authorize")
    form = ChangeForm(window.db, ident, parent=window.current_page(), clock=lambda: sample_data.NOW)
    form.setWindowFlag(Qt.WindowType.Window)
    qtbot.addWidget(form)
    qtbot.waitUntil(lambda: form.detail is not None, timeout=10_000)
    assert form.short_description.isEnabled()
    assert "read only" not in form.status_label.text()
    schedule = form.step_buttons.get("Scheduled")
    assert schedule is not None and not schedule.isEnabled()
    assert schedule.toolTip() == "Your role (agent) may not do this."
    form.move_to("Scheduled")
    assert not form.busy
