"""Live updates in the window: pushed changes refresh the queue; a lost server shows a banner."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import update

from app.db import notify, open_database
from app.models import Incident
from app.views.live import BANNER_TEXT, LiveBridge
from tests import sample_data
from tests.gui.test_incident_queue import numbers, show_queue, wait_count
from tests.pgserver import start_server


def test_a_sqlite_window_has_no_bridge_and_keeps_polling(qtbot, window):
    assert window.live is None
    assert window.banner.isHidden()
    queue = show_queue(qtbot, window)
    assert not queue._live_push


def priority_of(queue, number: str) -> int | None:
    rows = [queue.model.row_at(r) for r in range(queue.model.rowCount())]
    return next((row.priority for row in rows if row is not None and row.number == number), None)


@pytest.fixture
def pg_window(open_window, pg_db):
    sample_data.fill(pg_db)
    window = open_window(pg_db)
    assert window.live is not None
    return window


@pytest.mark.pg
def test_a_commit_in_another_console_shows_in_the_queue_within_2_s(qtbot, pg_window):
    window = pg_window
    qtbot.waitUntil(lambda: window.live.connected is True, timeout=10_000)
    assert "live" in window.live_label.text()
    queue = show_queue(qtbot, window)
    wait_count(qtbot, queue, 9)
    assert queue._live_push
    queue.poll()  # polling is off: this does nothing
    assert not queue._polling

    other = open_database(window.db.url)  # console A
    notify.install(other.sessions)
    try:
        timings = []
        for n in range(3):
            number = f"INC2{n:02d}"
            start = time.perf_counter()
            with other.transaction() as session:
                session.add(
                    Incident(
                        number=number,
                        short_description="Printer on fire",
                        priority=2,
                        state="New",
                        opened_at=sample_data.NOW - dt.timedelta(minutes=5),
                    )
                )
            qtbot.waitUntil(lambda number=number: number in numbers(queue), timeout=2_000)
            timings.append(time.perf_counter() - start)
        wait_count(qtbot, queue, 12)
        # An update to a shown incident (by an ORM save) shows too.
        first = queue.model.row_at(0)
        start = time.perf_counter()
        with other.transaction() as session:
            session.get(Incident, first.id).short_description = "Edited elsewhere"
        qtbot.waitUntil(
            lambda: queue.model.row_at(0).short_description == "Edited elsewhere", timeout=2_000
        )
        timings.append(time.perf_counter() - start)
        # A DML statement through a session announces "the incident table changed".
        start = time.perf_counter()
        with other.transaction() as session:
            session.execute(update(Incident).where(Incident.number == "INC200").values(priority=1))
        qtbot.waitUntil(lambda: priority_of(queue, "INC200") == 1, timeout=2_000)
        timings.append(time.perf_counter() - start)
    finally:
        other.dispose()
    print(
        "\ncommit in console A -> queue of console B re-read: "
        + ", ".join(f"{t * 1000:.0f} ms" for t in timings)
    )
    assert max(timings) < 2.0


def test_the_banner_follows_the_connection(qtbot, open_window, db):
    window = open_window(db)
    bridge = LiveBridge(db, window)  # no listener started: states are fed by hand
    bridge.connection_lost.connect(window.banner.connection_lost)
    bridge.connection_back.connect(window.banner.connection_back)
    bridge.state_changed.connect(window._live_state)
    heard: list[tuple[str, list]] = []
    bridge.records_changed.connect(lambda table, ids: heard.append((table, ids)))

    bridge._state.emit(True)
    qtbot.waitUntil(lambda: bridge.connected is True)
    assert window.banner.isHidden()
    assert not heard

    bridge._state.emit(False)
    qtbot.waitUntil(lambda: window.banner.isVisible())
    assert window.banner.text() == BANNER_TEXT
    assert "disconnected" in window.live_label.text()

    bridge._state.emit(True)
    qtbot.waitUntil(lambda: window.banner.isHidden())
    assert "connected" in window.live_label.text()
    assert heard == [("*", [])]


def test_notifications_close_together_are_merged(qtbot, db):
    bridge = LiveBridge(db)
    heard: list[tuple[str, list]] = []
    bridge.records_changed.connect(lambda table, ids: heard.append((table, ids)))
    bridge._incoming.emit(notify.Change("incident", (3, 1)))
    bridge._incoming.emit(notify.Change("incident", (2,)))
    bridge._incoming.emit(notify.Change("roster_shift", None))
    bridge._incoming.emit(notify.Change("roster_shift", (5,)))
    qtbot.waitUntil(lambda: len(heard) == 2)
    assert sorted(heard) == [("incident", [1, 2, 3]), ("roster_shift", [])]
    bridge.deleteLater()


@pytest.mark.pg
def test_a_restarted_server_shows_the_banner_then_a_save_succeeds(qtbot, open_window):
    server = start_server()
    try:
        database = open_database(server.create_database("live_restart"))
        sample_data.fill(database)
        window = open_window(database)
        qtbot.waitUntil(lambda: window.live.connected is True, timeout=10_000)
        queue = show_queue(qtbot, window)
        wait_count(qtbot, queue, 9)

        server.halt()
        qtbot.waitUntil(window.banner.isVisible, timeout=5_000)
        assert "disconnected" in window.live_label.text()
        server.resume()
        qtbot.waitUntil(window.banner.isHidden, timeout=15_000)
        assert window.live.listener.reconnects == 1

        # A save after the reconnection succeeds, and the queue hears of it.
        with database.transaction() as session:
            session.get(Incident, queue.model.row_at(0).id).short_description = "After restart"
        qtbot.waitUntil(
            lambda: queue.model.row_at(0).short_description == "After restart", timeout=3_000
        )
        window.close()
        database.dispose()
    finally:
        server.stop()


def test_a_shown_page_refreshes_once_for_a_burst_of_changes_to_its_tables(qtbot, window):
    today = window.page("today")
    assert "incident" in today.live_tables
    calls = []
    today.refresh = lambda: calls.append(1)  # type: ignore[method-assign]
    today._live_timer = None
    for _ in range(5):
        today.live_records_changed("incident", [1])
    today.live_records_changed("kpi_target", [1])  # not a table Today reads
    qtbot.waitUntil(lambda: calls == [1], timeout=3_000)
    qtbot.wait(today.LIVE_DELAY_MS + 100)
    assert calls == [1]


def test_an_escalation_change_reads_the_escalation_panel_only(qtbot, window):
    roster = window.show_page("roster")
    qtbot.waitUntil(roster.is_loaded, timeout=10_000)
    calls = []
    roster.refresh = lambda: calls.append("view")  # type: ignore[method-assign]
    roster.load_escalation = lambda: calls.append("escalation")  # type: ignore[method-assign]
    roster.live_records_changed("escalation_level", [1])
    qtbot.waitUntil(lambda: calls == ["escalation"], timeout=3_000)
    roster.live_records_changed("roster_shift", [1])
    roster.live_records_changed("escalation_policy", [2])
    qtbot.waitUntil(lambda: calls == ["escalation", "view", "escalation"], timeout=3_000)


@pytest.mark.pg
def test_a_save_cut_off_by_a_server_stop_keeps_the_edits_and_goes_through_after(
    qtbot, monkeypatch, message_boxes
):
    from app.services import incidents as wf
    from app.views.incident_form import IncidentForm

    server = start_server()
    try:
        database = open_database(server.create_database("live_mid_save"))
        sample_data.fill(database)
        with database.session() as session:
            ident = (
                session.query(Incident.id).filter_by(state="New").order_by(Incident.id).first()[0]
            )
        form = IncidentForm(database, ident, clock=lambda: sample_data.NOW)
        qtbot.addWidget(form)
        qtbot.waitUntil(lambda: form.detail is not None, timeout=10_000)
        before = form.detail.short_description

        original = wf.update_incident

        def stop_mid_save(session, *args, **kwargs):
            result = original(session, *args, **kwargs)
            session.flush()  # the UPDATE is on the server, not yet committed
            server.halt()
            return result

        monkeypatch.setattr(wf, "update_incident", stop_mid_save)
        form.short_description.setText("Typed before the server stopped")
        form.save()
        qtbot.waitUntil(lambda: bool(message_boxes), timeout=20_000)
        qtbot.waitUntil(lambda: not form.busy, timeout=5_000)
        assert message_boxes[-1].text().startswith("The connection to the database server was lost")
        assert form.short_description.text() == "Typed before the server stopped"
        assert form.is_dirty()

        server.resume()
        monkeypatch.setattr(wf, "update_incident", original)
        with database.session() as session:
            assert session.get(Incident, ident).short_description == before  # nothing written
        with qtbot.waitSignal(form.saved, timeout=20_000):
            form.save()
        with database.session() as session:
            row = session.get(Incident, ident)
            assert row.short_description == "Typed before the server stopped"
            assert row.version == 2
        form.close()
        database.dispose()
    finally:
        server.stop()
