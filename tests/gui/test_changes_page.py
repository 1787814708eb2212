"""The Changes page: the list, its sort and filters, opening a change, the .ics export."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.views import changes_page
from app.views.change_form import ChangeWindow
from app.views.changes_page import ChangesPage


@pytest.fixture
def page(open_window, sample_db, qtbot) -> ChangesPage:
    window = open_window(sample_db, start_page="changes", persist=False)
    page = window.show_page("changes")
    qtbot.waitUntil(lambda: page.is_loaded() or page.last_error is not None, timeout=10_000)
    assert page.last_error is None
    yield page
    for opened in list(ChangeWindow._open.values()):
        opened.form.base = opened.form.values()
        opened.close()


def numbers(page: ChangesPage) -> list[str]:
    return [page.model.row_at(r).number for r in range(page.model.rowCount())]


def wait_rows(qtbot, page: ChangesPage, action) -> None:
    with qtbot.waitSignal(page.model.rows_ready, timeout=10_000):
        action()


def test_the_page_lists_every_change_with_its_count(page):
    assert page.title == "Changes"
    assert page.count_label.text() == "7 changes"
    assert page.model.rowCount() == 7
    model = page.model
    row = numbers(page).index("CHG001")
    cell = model.index(row, model.column_index("risk"))
    assert cell.data() == "High"
    planned = model.index(row, model.column_index("planned_start")).data()
    assert len(planned) == len("2026-11-24 12:00") and planned[4] == "-"
    assert model.headerData(model.column_index("number"), Qt.Orientation.Horizontal) == "Number"


def test_headers_sort_the_list(qtbot, page):
    column = page.model.column_index("number")
    wait_rows(qtbot, page, lambda: page.model.sort(column, Qt.SortOrder.AscendingOrder))
    assert numbers(page) == [f"CHG00{i}" for i in range(1, 8)]
    wait_rows(qtbot, page, lambda: page.model.sort(column, Qt.SortOrder.DescendingOrder))
    assert numbers(page)[0] == "CHG007"
    wait_rows(qtbot, page, lambda: page.sort_by("planned_start"))
    assert numbers(page)[0] == "CHG006"  # started an hour ago


def test_chips_and_search_filter_the_list(qtbot, page):
    page.state_button.set_values(["Scheduled"])
    wait_rows(qtbot, page, page._filters_changed)
    assert sorted(numbers(page)) == ["CHG001", "CHG005"]
    assert page.count_label.text() == "2 changes"

    page.search.setText("switches")
    wait_rows(qtbot, page, page._filters_changed)
    assert numbers(page) == ["CHG001"]
    assert page.count_label.text() == "1 change"

    page.search.setText("nothing like this")
    wait_rows(qtbot, page, page._filters_changed)
    assert page.empty.isVisibleTo(page) and not page.table.isVisibleTo(page)
    assert "clear filters" in page.empty.text()

    wait_rows(qtbot, page, page.clear_filters)
    assert page.model.rowCount() == 7
    assert page.state_button.values() == [] and page.search.text() == ""


def test_type_and_risk_chips(qtbot, page):
    page.type_button.set_values(["Standard"])
    wait_rows(qtbot, page, page._filters_changed)
    assert numbers(page) == ["CHG002"]
    page.type_button.set_values([])
    page.risk_button.set_values(["High"])
    wait_rows(qtbot, page, page._filters_changed)
    assert numbers(page) == ["CHG001"]


def test_selecting_a_row_shows_the_change_beside_the_list(qtbot, page):
    row = numbers(page).index("CHG001")
    page.table.setCurrentIndex(page.model.index(row, 0))
    qtbot.waitUntil(lambda: page.summary.change_id is not None, timeout=10_000)
    assert "CHG001" in page.summary.title.text()
    assert "Patch core switches" in page.summary.title.text()
    assert "No conflicts" in page.summary.conflicts.text()


def test_double_click_opens_the_change_form(qtbot, page):
    row = numbers(page).index("CHG003")
    index = page.model.index(row, 0)
    page.table.doubleClicked.emit(index)
    window = next(iter(ChangeWindow._open.values()))
    qtbot.waitUntil(lambda: window.form.detail is not None, timeout=10_000)
    assert window.form.number_label.text() == "CHG003"
    assert window.form.state_label.text() == "Authorize"


def test_enter_and_open_with_open_the_change(qtbot, page):
    page.open_with({"change": page.model.row_at(0).id})
    window = next(iter(ChangeWindow._open.values()))
    qtbot.waitUntil(lambda: window.form.detail is not None, timeout=10_000)
    assert window.form.detail.id == page.model.row_at(0).id


def test_new_change_menu_opens_a_form_of_that_type(qtbot, page):
    window = page.new_change("Emergency")
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.form.lookups is not None, timeout=10_000)
    assert window.form.number_label.text() == "New emergency change"
    assert [a.text() for a in page.new_button.menu().actions()] == [
        "Standard from template…",
        "Normal",
        "Emergency",
    ]
    window.close()


def test_the_ics_export_writes_the_schedule(qtbot, page, tmp_path, monkeypatch):
    path = tmp_path / "changes.ics"
    monkeypatch.setattr(changes_page, "ask_export_path", lambda _parent: str(path))
    with qtbot.waitSignal(page.exported, timeout=10_000):
        page.export_button.click()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("BEGIN:VCALENDAR")
    assert "CHG001" in text and "Patch core switches" in text
    assert "exported" in page.count_label.text()


def test_the_export_follows_the_state_filter(qtbot, page, tmp_path):
    page.state_button.set_values(["Scheduled"])
    wait_rows(qtbot, page, page._filters_changed)
    path = tmp_path / "scheduled.ics"
    with qtbot.waitSignal(page.exported, timeout=10_000):
        page.export_ics(str(path))
    text = path.read_text(encoding="utf-8")
    assert "CHG001" in text and "CHG003" not in text


def test_every_calendar_mode_is_offered_and_the_list_comes_first(page):
    for mode in changes_page.CALENDAR_MODES:
        assert page.mode_buttons[mode].isVisibleTo(page)
    assert page.mode_buttons["list"].isChecked()


def test_switching_to_month_loads_the_calendar(qtbot, page):
    with qtbot.waitSignal(page.calendar_loaded, timeout=10_000):
        page.mode_buttons["month"].click()
    assert page.mode == "month"
    assert page.stack.currentWidget() is page.calendar_host
    start, end = page.calendar.period()
    assert start < end
    with qtbot.waitSignal(page.calendar_loaded, timeout=10_000):
        page.mode_buttons["week"].click()
    with qtbot.waitSignal(page.model.rows_ready, timeout=10_000):
        page.mode_buttons["list"].click()
    assert page.stack.currentWidget() is page.table_host
