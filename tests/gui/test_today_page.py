"""The Today page shows the sample database's figures, empty states, links to the queue,
the service-quality card (loaded after the others, linking to the KPIs) and change conflicts."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.db.errors import DatabaseUnavailable
from app.services.formatting import format_datetime
from app.views.theme import DANGER_TEXT, GOOD_TEXT
from app.views.today import KPI_PAGE
from app.views.widgets import ClickableRow, WarningMark
from tests.sample_data import NOW
from tests.unit.test_today import add_conflicting_changes, add_quality_data

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


# Service quality · last 7 days


def quality_window(qtbot, open_window, db):
    """The window on ``db`` with the service-quality card loaded."""
    window = open_window(db)
    page = window.current_page()
    qtbot.waitUntil(
        lambda: page.quality is not None or page.quality_error is not None, timeout=10_000
    )
    return window, page


def tile_texts(tile) -> dict[str, str]:
    return {
        name: tile.findChild(QLabel, name).text()
        for name in ("value", "aside", "detail", "change", "target", "verdict")
    }


def test_the_quality_card_loads_after_the_other_cards(qtbot, monkeypatch, open_window, sample_db):
    import app.views.today as today_view

    release = threading.Event()
    real = today_view.quality_figures

    def slow(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(today_view, "quality_figures", slow)
    try:
        page = open_window(sample_db).current_page()
        # The other cards are filled while the KPI figures are still loading.
        assert page.open_card.figure.text() == "9"
        assert page.quality is None
        tiles = page.quality_tiles
        assert [tile_texts(t)["detail"] for t in tiles.values()] == ["Loading…"] * 5
        assert tile_texts(tiles["mttr"])["value"] == "…"
    finally:
        release.set()
    qtbot.waitUntil(lambda: page.quality is not None, timeout=10_000)
    assert tile_texts(page.quality_tiles["backlog"])["value"] == "0"


def test_the_quality_card_shows_the_kpis_of_the_last_seven_days(qtbot, open_window, sample_db):
    add_quality_data(sample_db)
    _window, page = quality_window(qtbot, open_window, sample_db)
    assert page.quality_card.title.text() == "Service quality · last 7 days"
    assert page.quality_period.text() == "16–22 Nov 2026"
    tiles = page.quality_tiles
    assert list(tiles) == ["mttr", "sla_attainment", "backlog", "csat", "change_success"]
    mttr = tile_texts(tiles["mttr"])
    assert mttr == {
        "value": "5h",
        "aside": "median 4h",
        "detail": "mean of 3 resolved",
        "change": "▼ 1h",
        "target": "target 8h",
        "verdict": "✓ met",
    }
    assert GOOD_TEXT in tiles["mttr"].findChild(QLabel, "change").styleSheet()
    sla = tile_texts(tiles["sla_attainment"])
    assert (sla["value"], sla["change"], sla["target"], sla["verdict"]) == (
        "66.7 %",
        "▼ 33.3 pt",
        "target 95 %",
        "✗ missed",
    )
    assert DANGER_TEXT in tiles["sla_attainment"].findChild(QLabel, "change").styleSheet()
    assert tile_texts(tiles["backlog"])["target"] == "no target"
    csat = tile_texts(tiles["csat"])
    assert (csat["value"], csat["change"]) == ("66.7 %", "\u00a0")  # nothing to compare with
    assert tile_texts(tiles["change_success"])["value"] == "75.0 %"
    assert "9–15 Nov 2026: 6h" in tiles["mttr"].toolTip()


def test_an_empty_database_shows_dashes(qtbot, open_window, db):
    _window, page = quality_window(qtbot, open_window, db)
    values = [tile_texts(t)["value"] for t in page.quality_tiles.values()]
    assert values == ["—", "—", "0", "—", "—"]
    assert tile_texts(page.quality_tiles["csat"])["detail"] == "no survey responses"


def test_clicking_a_quality_figure_opens_the_kpi_page(qtbot, open_window, sample_db):
    window, page = quality_window(qtbot, open_window, sample_db)
    if KPI_PAGE not in window.context.page_keys:
        pytest.skip("the window has no KPI page yet")
    tile = page.quality_tiles["sla_attainment"]
    assert tile.cursor().shape() == Qt.CursorShape.PointingHandCursor
    with qtbot.waitSignal(page.navigate) as signal:
        qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
    assert signal.args == [KPI_PAGE, {"days": 7}]
    assert window.current_key() == KPI_PAGE


def test_quality_figures_link_only_to_a_page_the_window_has(qtbot, sample_db):
    from app.views.pages import PageContext
    from app.views.today import TodayPage

    def page_with(keys):
        page = TodayPage(PageContext(sample_db, clock=lambda: NOW, page_keys=frozenset(keys)))
        qtbot.addWidget(page)
        with qtbot.waitSignal(page.quality_loaded, timeout=10_000):
            page.activate()
        return page

    linked = page_with({"today", KPI_PAGE})
    with qtbot.waitSignal(linked.navigate) as signal:
        qtbot.mouseClick(linked.quality_tiles["mttr"], Qt.MouseButton.LeftButton)
    assert signal.args == [KPI_PAGE, {"days": 7}]
    alone = page_with({"today"})
    tile = alone.quality_tiles["mttr"]
    assert tile.cursor().shape() == Qt.CursorShape.ArrowCursor
    assert "KPI dashboard" not in tile.toolTip()
    with qtbot.assertNotEmitted(alone.navigate):
        qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
        tile.setFocus()
        qtbot.keyClick(tile, Qt.Key.Key_Return)


def test_a_failed_quality_load_stays_on_its_card(
    qtbot, monkeypatch, open_window, sample_db, message_boxes
):
    import app.views.today as today_view

    def broken(*_args, **_kwargs):
        raise RuntimeError("KPI columns unreadable")

    monkeypatch.setattr(today_view, "quality_figures", broken)
    window, page = quality_window(qtbot, open_window, sample_db)
    assert isinstance(page.quality_error, RuntimeError)
    assert message_boxes == [] and page.last_error is None
    assert page.open_card.figure.text() == "9"
    assert page.quality_period.text() == "could not load"
    assert page.quality_period.toolTip() == "KPI columns unreadable"
    details = {tile_texts(t)["detail"] for t in page.quality_tiles.values()}
    assert details == {"Could not load the KPI figures"}
    assert "connected" in window.live_label.text()


# Conflicts of upcoming changes


def test_conflicting_changes_carry_a_warning_with_the_reasons(qtbot, open_window, sample_db):
    add_conflicting_changes(sample_db)
    page = open_window(sample_db).current_page()
    card = page.changes_card
    assert card.figure.text() == "4"
    assert page.conflicts_label.isVisible()
    assert page.conflicts_text.text() == "3 with conflicts"
    marks = card.body.findChildren(WarningMark, "conflictMark")
    assert len(marks) == 3
    tips = [mark.toolTip() for mark in marks]
    assert tips[0] == (
        "<b>1 conflict</b><br>• CHG001 is inside the blackout window 'Board meeting freeze'"
        " (24 Nov 08:00-18:00)."
    )
    assert any("CHG008 also changes mail-01 from 13:00 to 14:00 on 2026-11-26." in t for t in tips)


def test_no_conflicts_no_warnings(window):
    page = window.current_page()
    assert not page.conflicts_label.isVisible()
    assert page.changes_card.body.findChildren(WarningMark, "conflictMark") == []
