"""The Today page shows the sample database's figures, empty states, and links to the queue."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.db.errors import DatabaseUnavailable
from app.services.formatting import format_datetime
from app.views.widgets import ClickableRow
from tests.sample_data import NOW

OPEN = ["New", "In Progress", "On Hold"]


def texts(widget: QWidget) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel) if label.text()]


def row_count(row: QWidget) -> str:
    return row.findChild(QLabel, "count").text()


def test_open_incidents_per_priority(window):
    page = window.current_page()
    assert page.open_card.figure.text() == "9"
    rows = {p: page.open_card.findChild(ClickableRow, f"priority{p}") for p in range(1, 6)}
    assert {p: row_count(row) for p, row in rows.items()} == {
        1: "2",
        2: "3",
        3: "3",
        4: "1",
        5: "0",
    }
    assert texts(rows[1])[:2] == ["P1", "Critical"]
    assert texts(rows[5])[:2] == ["P5", "Planning"]


def test_sla_figures(window):
    card = window.current_page().sla_card
    at_risk = card.findChild(ClickableRow, "slaAtRisk").findChild(QLabel, "figure")
    breached = card.findChild(ClickableRow, "slaBreached").findChild(QLabel, "figure")
    assert (at_risk.text(), breached.text()) == ("2", "2")
    shown = texts(card)
    assert "INC001" in shown and "P1 resolution" in shown and "in 30m" in shown


def test_major_incidents_with_their_latest_update(window):
    card = window.current_page().majors_card
    assert card.figure.text() == "2"
    shown = texts(card)
    assert "INC001" in shown and "Email down for all users" in shown
    declared = format_datetime(NOW - dt.timedelta(hours=2))
    assert f"In Progress · investigating · declared {declared}" in shown
    update_at = format_datetime(NOW - dt.timedelta(minutes=20))
    updates = [label.text() for label in card.findChildren(QLabel, "latestUpdate")]
    assert updates == [
        f"{update_at}  identified: Failover to the second site started",
        "No updates yet.",
    ]


def test_changes_on_call_vendors_and_contracts(window):
    page = window.current_page()
    assert page.changes_card.figure.text() == "3"
    changes = texts(page.changes_card)
    assert [t for t in changes if t.startswith("CHG")] == ["CHG001", "CHG002", "CHG003"]
    assert format_datetime(NOW + dt.timedelta(days=1)) in changes
    assert "Normal · High risk" in changes

    on_call = texts(page.oncall_card.body)
    assert on_call == [
        "Schedule", "Primary", "Secondary",
        "Database on call", "<b>Dana Ortiz</b> <i>(override)</i>",
        "Network on call", "<b>Eli Park</b>", "<b>Alex Kim</b>",
    ]  # fmt: skip
    eli = next(x for x in page.oncall_card.findChildren(QLabel) if x.text() == "<b>Eli Park</b>")
    assert eli.toolTip() == "Layer: Business hours"

    vendors = texts(page.vendors_card)
    assert vendors[vendors.index("Umbrella Corp") :][:4] == [
        "Umbrella Corp",
        "2026-10",
        "55.0",
        "RED",
    ]
    assert "Acme Hosting" in vendors and "Globex Networks" not in vendors

    assert page.contracts_card.figure.text() == "3"
    contracts = texts(page.contracts_card)
    assert "ends today" in contracts and "renews in 38 days" in contracts
    assert "Globex Networks · WAN links" in contracts
    assert page.updated.text() == f"Figures at {format_datetime(NOW)[-5:]}"


def test_clicking_a_priority_asks_for_the_filtered_queue(qtbot, window):
    page = window.current_page()
    row = page.open_card.findChild(ClickableRow, "priority1")
    with qtbot.waitSignal(page.open_incidents) as signal:
        qtbot.mouseClick(row, Qt.MouseButton.LeftButton)
    assert signal.args == [{"state": OPEN, "priority": [1]}]
    breached = page.sla_card.findChild(ClickableRow, "slaBreached")
    breached.setFocus()
    with qtbot.waitSignal(page.open_incidents) as signal:
        qtbot.keyClick(breached, Qt.Key.Key_Return)
    assert signal.args == [{"state": OPEN, "sla": "breached"}]


def test_an_empty_database_says_so(open_window, db):
    page = open_window(db).current_page()
    assert page.open_card.figure.text() == "0"
    assert "No major incidents in progress." in texts(page.majors_card)
    assert "No changes planned in the next 7 days." in texts(page.changes_card)
    assert "No on-call schedules yet." in texts(page.oncall_card)
    assert "No vendors in red." in texts(page.vendors_card)
    assert "No contracts end in the next 60 days." in texts(page.contracts_card)


def test_refresh_reads_the_figures_again(qtbot, window, sample_db):
    from app.models import Incident

    with sample_db.transaction() as s:
        s.add(
            Incident(
                number="INC100", short_description="New P1", priority=1, state="New", opened_at=NOW
            )
        )
    page = window.current_page()
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_F5)
    assert page.open_card.figure.text() == "10"
    assert row_count(page.open_card.findChild(ClickableRow, "priority1")) == "3"


def test_a_failed_load_is_shown_and_kept(qtbot, monkeypatch, open_window, db, message_boxes):
    import app.views.today as today_view

    def unavailable(*_args, **_kwargs):
        raise DatabaseUnavailable("Cannot open postgresql: deck@db1: server closed the connection")

    monkeypatch.setattr(today_view, "today_figures", unavailable)
    window = open_window(db)
    page = window.current_page()
    assert isinstance(page.last_error, DatabaseUnavailable)
    assert [box.text() for box in message_boxes] == [
        "Cannot open postgresql: deck@db1: server closed the connection"
    ]
    assert page.updated.text() == "Could not load the figures"
    assert "last read failed" in window.live_label.text()


def test_cards_go_in_two_columns_on_a_narrow_window_and_never_scroll_sideways(qapp, window):
    from PySide6.QtWidgets import QScrollArea

    from app.views.screenshot import settle

    page = window.current_page()
    scroll = page.findChild(QScrollArea)
    window.resize(1700, 1000)
    settle(qapp)
    assert page.columns == 3
    window.resize(1000, 700)
    settle(qapp)
    assert page.columns == 2
    assert scroll.horizontalScrollBar().maximum() == 0
    assert scroll.verticalScrollBar().maximum() > 0
