"""The incident queue page, clicked through on the sample database."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QListWidget

from app.db import open_database
from app.models import Incident
from app.services import incident_query as q
from app.views.incident_queue import IncidentQueuePage
from app.views.widgets import ClickableRow
from tests import sample_data


def show_queue(qtbot, window) -> IncidentQueuePage:
    """Click "Incidents" in the sidebar and wait for the first rows."""
    row = [spec.key for spec in window.specs].index("incidents")
    sidebar: QListWidget = window.sidebar
    rect = sidebar.visualItemRect(sidebar.item(row))
    qtbot.mouseClick(sidebar.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    page = window.pages["incidents"]
    qtbot.waitUntil(page.is_loaded, timeout=10_000)
    return page


def wait_count(qtbot, page: IncidentQueuePage, expected: int) -> None:
    qtbot.waitUntil(
        lambda: not page.model.loading and page.count_label.text() == f"{expected:,} matching",
        timeout=10_000,
    )


def click_list_item(qtbot, widget: QListWidget, text: str) -> None:
    item = widget.findItems(text, Qt.MatchFlag.MatchExactly)[0]
    rect = widget.visualItemRect(item)
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def numbers(page: IncidentQueuePage) -> list[str]:
    rows = [page.model.row_at(r) for r in range(page.model.rowCount())]
    return [row.number for row in rows if row is not None]


@pytest.fixture
def queue(qtbot, window) -> IncidentQueuePage:
    page = show_queue(qtbot, window)
    wait_count(qtbot, page, 9)
    return page


def test_sidebar_opens_the_queue_on_open_incidents(queue):
    assert queue.filter.states == ("open",)
    assert queue.model.rowCount() == 9
    assert queue.state_button.text().startswith("State: Open")
    first = queue.model.index(0, queue.model.column_index("priority"))
    assert first.data() == "P1 Critical"
    assert not queue.empty.isVisible()


def test_presets_filter_the_queue(qtbot, queue):
    click_list_item(qtbot, queue.preset_list, "P1/P2 open")
    wait_count(qtbot, queue, 5)
    click_list_item(qtbot, queue.preset_list, "SLA breached")
    wait_count(qtbot, queue, 2)
    assert sorted(numbers(queue)) == ["INC002", "INC005"]
    click_list_item(qtbot, queue.preset_list, "Major incidents")
    wait_count(qtbot, queue, 2)
    click_list_item(qtbot, queue.preset_list, "All incidents")
    wait_count(qtbot, queue, 12)


def test_search_box_finds_by_description_and_clears(qtbot, queue):
    qtbot.keyClick(queue, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(queue.search, "vpn")
    wait_count(qtbot, queue, 1)
    assert numbers(queue) == ["INC008"]
    qtbot.keyClicks(queue.search, " nothing like this")
    wait_count(qtbot, queue, 0)
    assert queue.empty.isVisibleTo(queue)
    assert "clear filters" in queue.empty.text()
    queue.empty.linkActivated.emit("clear")
    wait_count(qtbot, queue, 12)
    assert queue.search.text() == ""


def test_header_click_sorts_in_sql(qtbot, queue):
    header = queue.table.horizontalHeader()
    column = queue.model.column_index("number")
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(
        header.viewport(), Qt.MouseButton.LeftButton, pos=header.rect().center().__class__(x, 5)
    )
    qtbot.waitUntil(lambda: queue.model.sort_order.column == "number" and not queue.model.loading)
    first = numbers(queue)
    assert first == sorted(first) or first == sorted(first, reverse=True)
    descending = queue.model.sort_order.descending
    qtbot.mouseClick(
        header.viewport(), Qt.MouseButton.LeftButton, pos=header.rect().center().__class__(x, 5)
    )
    qtbot.waitUntil(
        lambda: queue.model.sort_order.descending != descending and not queue.model.loading
    )
    assert numbers(queue) == first[::-1]


def test_columns_are_chosen_from_the_header_menu(queue):
    assert "vendor" not in queue.visible_columns()
    menu = queue.column_menu()
    vendor = next(a for a in menu.actions() if a.data() == "vendor")
    vendor.trigger()
    assert "vendor" in queue.visible_columns()
    sla = next(a for a in queue.column_menu().actions() if a.data() == "sla")
    sla.trigger()
    assert "sla" not in queue.visible_columns()
    assert queue.table.horizontalHeader().isSectionHidden(queue.model.column_index("sla"))


def test_a_saved_view_comes_back_with_filter_sort_and_columns(qtbot, queue, window):
    queue.apply_preset("p1p2")
    wait_count(qtbot, queue, 5)
    queue.sort_by("number", True)
    queue.apply_columns(["number", "priority", "short_description", "sla"])
    with qtbot.waitSignal(queue.side_loaded, timeout=10_000):
        queue.save_view("Urgent")
    assert [v.name for v in queue.views] == ["Urgent"]
    assert "Urgent" in [queue.preset_list.item(i).text() for i in range(queue.preset_list.count())]

    queue.apply_preset("all")
    queue.apply_columns(q.DEFAULT_COLUMNS)
    wait_count(qtbot, queue, 12)
    click_list_item(qtbot, queue.preset_list, "Urgent")
    wait_count(qtbot, queue, 5)
    assert queue.filter.priorities == (1, 2)
    assert queue.sort == q.Sort("number", True)
    assert queue.visible_columns() == ["number", "priority", "short_description", "sla"]
    assert numbers(queue)[0] == "INC005"

    # Kept in the database: a new page reads it back.
    with window.db.session() as session:
        assert [v.name for v in q.list_views(session, None)] == ["Urgent"]


def test_selecting_rows_fills_the_detail_pane_and_enables_bulk_actions(qtbot, queue):
    first_cell = queue.table.visualRect(queue.model.index(0, 0)).center()
    qtbot.mouseClick(queue.table.viewport(), Qt.MouseButton.LeftButton, pos=first_cell)
    qtbot.waitUntil(lambda: queue.detail.incident_id is not None, timeout=10_000)
    first = queue.model.row_at(0)
    assert queue.detail.incident_id == first.id
    assert first.number in queue.detail.title.text()
    assert "SLA clocks" in queue.detail.text.text()
    assert all(b.isEnabled() for b in queue.bulk_buttons.values())

    qtbot.keyClick(queue.table, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: queue.detail.incident_id == queue.model.row_at(1).id, timeout=10_000)
    qtbot.keyClick(queue, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: queue.detail.incident_id == queue.model.row_at(0).id, timeout=10_000)
    selection = queue.table.selectionModel()
    selection.select(
        queue.model.index(1, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert queue.selected_label.text() == "2 selected"
    assert len(queue.selected_ids()) == 2


def test_bulk_close_resolved_closes_and_refreshes(qtbot, window):
    page = show_queue(qtbot, window)
    page.apply_preset("all")
    wait_count(qtbot, page, 12)
    page.table.selectAll()
    with qtbot.waitSignal(page.model.rows_ready, timeout=10_000):
        page.bulk_close()
    with window.db.session() as session:
        assert session.query(Incident).filter_by(number="INC010").one().state == "Closed"
    assert "1 changed" in page.selected_label.text()


def test_today_links_open_the_queue_filtered(qtbot, open_window, sample_db):
    window = open_window(sample_db, start_page="today")
    today = window.pages["today"]
    row = today.findChild(ClickableRow, "priority1")
    qtbot.mouseClick(row, Qt.MouseButton.LeftButton)
    page = window.pages["incidents"]
    assert window.current_page() is page
    wait_count(qtbot, page, 2)
    assert page.filter.priorities == (1,)
    assert set(page.filter.state_values()) == set(q.OPEN_STATES)
    assert page.priority_button.values() == [1]

    window.show_page("today")
    breached = today.findChild(ClickableRow, "slaBreached")
    if breached is None:  # the figure's row, whichever widget carries the link
        today._open_incidents({"state": list(q.OPEN_STATES), "sla": "breached"})
    else:
        qtbot.mouseClick(breached, Qt.MouseButton.LeftButton)
    wait_count(qtbot, page, today.figures.sla.breached)


def test_live_update_after_another_connection_inserts(qtbot, queue, window):
    queue.poll()
    qtbot.waitUntil(lambda: not queue._polling, timeout=5_000)
    other = open_database(window.db.url)
    try:
        with other.transaction() as session:
            session.add(
                Incident(
                    number="INC100",
                    short_description="Printer on fire",
                    priority=2,
                    state="New",
                    opened_at=sample_data.NOW - dt.timedelta(minutes=5),
                )
            )
    finally:
        other.dispose()
    queue.poll()
    wait_count(qtbot, queue, 10)
    assert "INC100" in numbers(queue)


def test_search_over_all_incidents_shows_rows_then_the_count(qtbot, queue):
    queue.apply_preset("all")
    wait_count(qtbot, queue, 12)
    queue.search.setText("sample incident inc00")
    queue.search.returnPressed.emit()
    # INC001 and INC008 have descriptions of their own.
    wait_count(qtbot, queue, 7)
    assert sorted(numbers(queue)) == [
        "INC002",
        "INC003",
        "INC004",
        "INC005",
        "INC006",
        "INC007",
        "INC009",
    ]


def test_enter_opens_the_incident_form(qtbot, queue, monkeypatch):
    from app.views import incident_form

    opened = []
    monkeypatch.setattr(
        incident_form,
        "open_incident",
        lambda parent, db, incident_id, **kw: opened.append(incident_id),
    )
    first_cell = queue.table.visualRect(queue.model.index(0, 0)).center()
    qtbot.mouseClick(queue.table.viewport(), Qt.MouseButton.LeftButton, pos=first_cell)
    qtbot.keyClick(queue.table, Qt.Key.Key_Return)
    assert opened == [queue.model.row_at(0).id]
    qtbot.keyClick(queue, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert opened[-1] is None


def test_export_writes_every_matching_incident(qtbot, queue, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "queue.xlsx"
    handle = queue.export(str(path))
    assert handle is not None
    qtbot.waitUntil(lambda: not handle.running, timeout=20_000)
    sheet = load_workbook(path, read_only=True).worksheets[0]
    numbers_written = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(numbers_written) == [f"INC00{i}" for i in range(1, 10)]
    assert "Exported 9 incidents" in queue.selected_label.text()


def test_a_burst_of_live_refreshes_runs_one_at_a_time_and_shows_the_newest(qtbot, queue, db):
    model = queue.model
    shown = []
    original = model._refreshed

    def record(result):
        shown.append(result.serial)
        original(result)

    model._refreshed = record
    first = model.row_at(0)
    for _ in range(10):
        model.refresh()  # what each notification of another console's commit asks for
    assert model._refreshing and model._refresh_again
    with db.transaction() as session:
        session.get(Incident, first.id).short_description = "Changed during the burst"
    model.refresh()
    qtbot.waitUntil(lambda: not model._refreshing, timeout=10_000)
    assert shown == [1, 2]  # ten asks while one ran: one more, not ten
    assert model.row_at(0).short_description == "Changed during the burst"
