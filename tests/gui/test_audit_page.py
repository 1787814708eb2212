"""The Audit page: loads, filters, shows an entry, opens a record's history, exports."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from app.db import Identity
from app.models import Team
from app.services import incidents as wf
from app.services import vendors
from app.services.audit_log import AuditFilter
from app.services.incidents import IncidentInput
from app.views.audit_page import AuditPage, open_history
from app.views.pages import PageContext


@pytest.fixture
def audited_db(db):
    """A few real edits by two users, made through the services."""
    db.identity = Identity(username="alex.kim")
    with db.transaction() as s:
        team = Team(name="Network")
        s.add(team)
        s.flush()
        first = wf.new_incident(s, IncidentInput(short_description="VPN drops every hour"))
        wf.new_incident(s, IncidentInput(short_description="Printer jams"))
        vendors.save_vendor(s, None, {"name": "Contoso"})
        team_id, first_id = team.id, first.id
    db.identity = Identity(username="dana.ortiz")
    with db.transaction() as s:
        wf.assign(s, first_id, None, team_id)
        wf.update_incident(s, first_id, None, {"short_description": "VPN drops"})
    db.identity = Identity()
    db.first_id = first_id
    return db


@pytest.fixture
def page(qtbot, audited_db):
    page = AuditPage(PageContext(audited_db, interactive=False))
    qtbot.addWidget(page)
    page.resize(1400, 800)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.is_loaded() and not page.model.counting, timeout=10_000)
    return page


def wait_for_query(qtbot, page: AuditPage) -> None:
    qtbot.waitUntil(lambda: not page.model.loading and not page.model.counting, timeout=10_000)


def shown(page: AuditPage, column: int) -> list[str]:
    model = page.model
    return [model.index(row, column).data() for row in range(model.rowCount())]


def test_page_loads_every_change(page, audited_db):
    from app.services import audit_log as al

    with audited_db.session() as s:
        total = al.count(s, AuditFilter())
    assert page.model.rowCount() == total
    assert page.count_label.text() == f"{total} changes"
    assert page.last_error is None
    # Newest first, times as 2026-11-23 14:05.
    assert shown(page, 1)[0] == "dana.ortiz"
    dt.datetime.strptime(shown(page, 0)[0], "%Y-%m-%d %H:%M")
    assert "Assignment group" in shown(page, 3)
    assert "— → Network" in shown(page, 4)
    assert page.who.findText("dana.ortiz") >= 0
    assert page.kind.findData("incident") >= 0


def test_filters_narrow_the_table(qtbot, page):
    page.who.setEditText("dana")
    page.apply_filters()
    wait_for_query(qtbot, page)
    assert set(shown(page, 1)) == {"dana.ortiz"}

    page.set_filter(AuditFilter(record="INC0000001", field="short_description"))
    wait_for_query(qtbot, page)
    assert shown(page, 2) == ["INC0000001"]
    assert shown(page, 4) == ["VPN drops every hour → VPN drops"]
    assert page.record.text() == "INC0000001"
    assert page.field.currentData() == "short_description"

    page.clear_filters()
    page.kind.setCurrentIndex(page.kind.findData("vendor"))
    wait_for_query(qtbot, page)
    assert shown(page, 2) == ["vendor Contoso"]

    page.clear_filters()
    page.text.setText("every hour")
    qtbot.waitUntil(lambda: page.model.filter.text == "every hour", timeout=5_000)
    wait_for_query(qtbot, page)
    assert shown(page, 2) == ["INC0000001"]


def test_empty_state_offers_to_clear(qtbot, page):
    page.set_filter(AuditFilter(who="nobody at all"))
    wait_for_query(qtbot, page)
    assert page.model.rowCount() == 0
    assert page.empty_label.isVisible()
    assert "clear filters" in page.empty_label.text()
    page.empty_label.linkActivated.emit("clear")
    wait_for_query(qtbot, page)
    assert page.model.rowCount() > 0
    assert not page.empty_label.isVisible()
    assert page.who.currentText() == ""


def test_date_range(qtbot, page):
    from PySide6.QtCore import QDate

    tomorrow = QDate.currentDate().addDays(1)
    page.date_from.setDate(tomorrow)
    wait_for_query(qtbot, page)
    assert page.model.rowCount() == 0
    page.date_from.setDate(QDate.currentDate().addDays(-1))
    page.date_to.setDate(tomorrow)
    wait_for_query(qtbot, page)
    assert page.model.rowCount() > 0


def test_detail_and_history(qtbot, page, audited_db):
    page.set_filter(AuditFilter(record="INC0000001", field="short_description"))
    wait_for_query(qtbot, page)
    page.table.selectRow(0)
    assert page.detail.row is not None
    text = page.detail.body.toPlainText()
    assert "VPN drops every hour" in text and "dana.ortiz" in text
    dialog = page.open_selected_history()
    qtbot.waitUntil(lambda: bool(dialog.rows), timeout=10_000)
    assert dialog.windowTitle() == "History of INC0000001"
    assert dialog.rows[0].action == "insert"
    assert dialog.view.rowCount() == len(dialog.rows)
    fields = [dialog.view.item(i, 2).text() for i in range(dialog.view.rowCount())]
    assert fields[0] == "Created" and "Short description" in fields
    dialog.close()


def test_open_history_from_any_form(qtbot, audited_db):
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = open_history(parent, audited_db, "vendor", 1)
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        pass
    assert dialog.windowTitle() == "History of vendor Contoso"
    assert dialog.view.rowCount() == 1
    dialog.close()


def test_export_in_the_background(qtbot, page, tmp_path):
    page.set_filter(AuditFilter(who="dana"))
    wait_for_query(qtbot, page)
    path = tmp_path / "audit.xlsx"
    handle = page.export(str(path))
    qtbot.waitUntil(lambda: not handle.running, timeout=20_000)
    rows = list(load_workbook(path)["Audit log"].values)
    assert len(rows) == page.model.rowCount() + 1
    assert {row[1] for row in rows[1:]} == {"dana.ortiz"}
    assert page.status_label.text().startswith(f"Exported {page.model.rowCount()} changes")


def test_page_is_in_the_window(open_window, sample_db):
    window = open_window(sample_db)
    page = window.show_page("audit")
    assert page.title == "Audit"
