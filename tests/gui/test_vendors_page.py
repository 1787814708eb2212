"""The Vendors page: the list, a scorecard with its evidence, edits, comparison and exports."""

from __future__ import annotations

import datetime as dt
import shutil

import openpyxl
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLineEdit
from sqlalchemy import select

from app.db import open_database
from app.models import AuditEntry, ScorecardCriterion, ScorecardScore
from app.services import scorecards as sc
from app.services.demo import create_demo_database
from app.services.kpi_cache import kpi_cache
from app.views.vendor_widgets import ScorecardView, TemplateDialog
from app.views.vendors_page import CREDITS, NAME, RAG, TOTAL, default_period

ANCHOR = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
PERIOD = "2026-Q3"


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vendors") / "demo.db"
    create_demo_database(str(path), incidents=2000, seed=5, anchor=ANCHOR)
    return path


@pytest.fixture
def vendors(qtbot, open_window, demo_file, tmp_path):
    """The window on a fresh copy of the demo database, showing the Vendors page."""
    path = tmp_path / "demo.db"
    shutil.copy(demo_file, path)
    db = open_database(str(path))
    window = open_window(db, clock=lambda: NOW)
    window.resize(1500, 950)
    page = window.show_page("vendors")
    qtbot.waitUntil(lambda: page.is_loaded() or page.last_error is not None, timeout=20_000)
    assert page.last_error is None
    qtbot.waitUntil(page.is_settled, timeout=10_000)
    yield window, page
    window.close()
    db.dispose()


def columns(window):
    with window.context.db.session() as session:
        return kpi_cache(window.context.db).columns(session)


def wait_for_card(qtbot, page, check=lambda d: True) -> None:
    qtbot.waitUntil(lambda: page.is_settled() and page.data is not None and check(page.data),
                    timeout=10_000)  # fmt: skip


def test_default_period_is_the_last_complete_quarter():
    assert default_period(dt.date(2026, 11, 23)).label == PERIOD
    assert default_period(dt.date(2026, 1, 1)).label == "2025-Q4"


def test_the_list_shows_every_vendor_with_total_and_rag_and_sorts(vendors):
    window, page = vendors
    assert page.current_period().label == PERIOD
    with window.context.db.session() as session:
        cards = sc.all_scorecards(columns(window), session, PERIOD, now=NOW)
    table = page.table
    assert table.names() == sorted((c.vendor for c in cards), key=str.casefold)
    for card in cards:
        assert table.text(card.vendor, TOTAL) == (
            "—" if card.total is None else f"{card.total:.1f}"
        )
        assert table.text(card.vendor, RAG) == (card.rag or "no score").upper()
    assert all(
        line.spark.labels[-1] == PERIOD and len(line.spark.totals) == 8 for line in page.lines
    )
    # Sorting by total puts the lowest first, then the highest.
    table.sortByColumn(TOTAL, Qt.SortOrder.AscendingOrder)
    totals = [c.total for c in cards if c.total is not None]
    assert table.proxy.index(0, NAME).data() == min(cards, key=lambda c: c.total or -1).vendor
    table.sortByColumn(TOTAL, Qt.SortOrder.DescendingOrder)
    shown = [float(table.proxy.index(r, TOTAL).data()) for r in range(len(totals))]
    assert shown == sorted(totals, reverse=True)
    table.sortByColumn(CREDITS, Qt.SortOrder.DescendingOrder)
    owed = [line.credit_total for line in page.lines]
    first = table.vendor_at(0)
    assert next(line.credit_total for line in page.lines if line.vendor_id == first) == max(owed)


def test_selecting_a_vendor_shows_its_scorecard(qtbot, vendors):
    window, page = vendors
    second = page.table.vendor_at(1)
    page.table.selectRow(1)
    wait_for_card(qtbot, page, lambda d: d.card.vendor_id == second)
    with window.context.db.session() as session:
        card = sc.scorecard(columns(window), session, second, PERIOD, now=NOW)
    view = page.scorecard_view
    assert view.vendor.text() == card.vendor
    assert view.total.text() == ("—" if card.total is None else f"{card.total:.1f}")
    assert view.criteria.rowCount() == len(card.criteria)
    for row, c in enumerate(card.criteria):
        assert view.criteria.item(row, ScorecardView.NAME).text() == c.name
        score = view.criteria.item(row, ScorecardView.SCORE).text()
        assert score == (f"{c.score:.1f}" if c.score is not None else score)
        if c.score is None:
            assert score.startswith("not measurable — ")
    assert page.pack_action.text() == f"Review pack for {card.vendor}…"
    assert page.data.credits is not None and page.data.credits.steps


def test_clicking_a_measured_figure_opens_exactly_its_incidents(qtbot, vendors):
    window, page = vendors
    # The first vendor with incidents behind its SLA attainment.
    for row in range(page.table.proxy.rowCount()):
        page.table.selectRow(row)
        vendor = page.table.vendor_at(row)
        wait_for_card(qtbot, page, lambda d, v=vendor: d.card.vendor_id == v)
        if page.data.evidence_counts.get("sla_attainment"):
            break
    else:
        pytest.fail("no vendor has SLA clocks in the period")
    view = page.scorecard_view
    row = view.criterion_row("sla_attainment")
    rect = view.criteria.visualRect(view.criteria.model().index(row, ScorecardView.VALUE))
    with qtbot.waitSignal(page.navigate, timeout=5_000) as signal:
        qtbot.mouseClick(view.criteria.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    key, params = signal.args
    expected = sc.evidence_ids(columns(window), vendor, PERIOD, "sla_attainment")
    assert key == "incidents"
    assert params["ids"] == expected.tolist()
    assert params["ids_label"].startswith(f"{page.data.card.vendor} · ")
    assert window.current_page().key == "incidents"


def rate_in_place(qtbot, view: ScorecardView, criterion: str, text: str) -> None:
    """Double-click editing of the rating cell: type ``text`` and press Enter."""
    table = view.criteria
    index = table.model().index(view.criterion_row(criterion), ScorecardView.VALUE)
    table.setCurrentIndex(index)
    table.edit(index)
    editor = table.findChild(QLineEdit, "cellEditor")
    assert editor is not None
    editor.setText(text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def stored_rating(window, vendor_id: int, name: str):
    with window.context.db.session() as session:
        card = sc.scorecard(columns(window), session, vendor_id, PERIOD, now=NOW)
        c = card.criterion(name)
        return c.value, c.comment, c.version


def test_a_judged_score_is_saved_audited_and_out_of_range_refused(qtbot, vendors, message_boxes):
    window, page = vendors
    card = page.data.card
    judged = next(c for c in card.criteria if c.kind == "judged")
    new = 2 if judged.value != 2 else 4
    rate_in_place(qtbot, page.scorecard_view, judged.name, str(new))
    qtbot.waitUntil(lambda: page.last_message.startswith("Saved"), timeout=10_000)
    wait_for_card(qtbot, page, lambda d: d.card.criterion(judged.name).value == new)
    assert stored_rating(window, card.vendor_id, judged.name)[0] == new
    with window.context.db.session() as session:
        score_id = session.scalar(
            select(ScorecardScore.id)
            .join(ScorecardCriterion, ScorecardCriterion.id == ScorecardScore.criterion_id)
            .where(ScorecardScore.id == page.data.card.criterion(judged.name).score_id)
        )
        audit = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "scorecard_score", AuditEntry.entity_id == str(score_id)
            )
        ).all()
    assert any(a.field == "judged" and a.new_value == str(new) for a in audit), audit
    # The comment is edited in place too.
    view = page.scorecard_view
    table = view.criteria
    index = table.model().index(view.criterion_row(judged.name), ScorecardView.BASIS)
    table.edit(index)
    editor = table.findChild(QLineEdit, "cellEditor")
    editor.setText("Quarterly review held")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    wait_for_card(qtbot, page, lambda d: d.card.criterion(judged.name).comment != judged.comment)
    assert stored_rating(window, card.vendor_id, judged.name)[:2] == (new, "Quarterly review held")
    # Out of range: refused with the service's message, nothing stored.
    before = stored_rating(window, card.vendor_id, judged.name)
    message_boxes.clear()
    rate_in_place(qtbot, page.scorecard_view, judged.name, "7")
    qtbot.waitUntil(lambda: bool(message_boxes), timeout=10_000)
    assert "whole number from 1 to 5" in message_boxes[-1].text()
    assert stored_rating(window, card.vendor_id, judged.name) == before


def test_a_rating_saved_elsewhere_first_is_a_conflict(qtbot, vendors, message_boxes):
    window, page = vendors
    card = page.data.card
    judged = next(c for c in card.criteria if c.kind == "judged")
    with window.context.db.transaction() as session:
        sc.set_judged_score(session, card.vendor_id, PERIOD, judged.criterion_id, 1, "theirs")
    page.save_judged(judged.name, 5, "mine")
    qtbot.waitUntil(lambda: bool(message_boxes), timeout=10_000)
    assert "someone else" in message_boxes[-1].text()
    # Read again: the other console's rating is shown, ours was not written.
    wait_for_card(qtbot, page, lambda d: d.card.criterion(judged.name).comment == "theirs")
    assert stored_rating(window, card.vendor_id, judged.name)[:2] == (1, "theirs")


def test_weights_must_sum_to_100(qtbot, vendors, message_boxes):
    window, page = vendors
    card = page.data.card
    dialog = TemplateDialog(card.template, card.criteria, card.green_min, card.amber_min)
    qtbot.addWidget(dialog)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert save.isEnabled() and "✔" in dialog.sum_label.text()
    first = card.criteria[0]
    dialog.spins[first.criterion_id].setValue(first.weight + 5)
    assert not save.isEnabled()
    assert (
        f"{100 + 5:g} %" in dialog.sum_label.text() and "must sum to 100" in dialog.sum_label.text()
    )
    # The service refuses too, with its message; nothing changes.
    page.edit_template({first.criterion_id: first.weight + 5})
    qtbot.waitUntil(lambda: bool(message_boxes), timeout=10_000)
    assert "not 100%" in message_boxes[-1].text()
    with window.context.db.session() as session:
        assert session.get(ScorecardCriterion, first.criterion_id).weight == first.weight
    # A change that keeps the sum at 100 is saved, with new thresholds.
    second = card.criteria[1]
    page.edit_template(
        {first.criterion_id: first.weight + 5, second.criterion_id: second.weight - 5}, 90, 75
    )
    wait_for_card(qtbot, page, lambda d: d.card.criteria[0].weight == first.weight + 5)
    assert (page.data.card.green_min, page.data.card.amber_min) == (90, 75)


def test_actions_are_added_and_edited(qtbot, vendors):
    _, page = vendors
    due = dt.date(2026, 12, 31)
    page.edit_action(None, {"description": "Send the RCA", "owner": "Kim", "due_on": due})
    wait_for_card(qtbot, page, lambda d: any(a.description == "Send the RCA" for a in d.actions))
    action = next(a for a in page.data.actions if a.description == "Send the RCA")
    assert (action.owner, action.due_on, action.status) == ("Kim", due, "open")
    page.edit_action(action, {"description": "Send the RCA", "owner": "Kim", "due_on": due,
                              "status": "done"})  # fmt: skip
    wait_for_card(qtbot, page, lambda d: any(a.status == "done" for a in d.actions))


def test_compare_shows_vendors_side_by_side(vendors):
    _, page = vendors
    ids = [page.table.vendor_at(r) for r in range(3)]
    page.compare(ids)
    view = page.compare_view
    assert page.right.currentWidget() is view
    assert view.table.columnCount() == 3
    assert [view.table.horizontalHeaderItem(c).text() for c in range(3)] == page.table.names()[:3]
    total_row = view.table.rowCount() - 2
    by_id = {line.vendor_id: line.card for line in page.lines}
    assert view.table.item(total_row, 0).text() == f"{by_id[ids[0]].total:.1f}"
    page.set_compare(False)
    assert page.right.currentWidget() is page.scorecard_view


def test_the_review_pack_and_summary_are_written(qtbot, vendors, tmp_path):
    _, page = vendors
    path = tmp_path / "pack.xlsx"
    handle = page.export_pack(str(path))
    with qtbot.waitSignal(handle.finished, timeout=30_000):
        pass
    assert path.exists(), page.status.text()
    assert "Scorecard" in openpyxl.load_workbook(path).sheetnames
    assert page.status.text().startswith(f"Review pack of {page.data.card.vendor} for {PERIOD}")
    summary = tmp_path / "summary.xlsx"
    handle = page.export_summary(str(summary))
    with qtbot.waitSignal(handle.finished, timeout=30_000):
        pass
    assert summary.exists()
    QApplication.processEvents()


def test_open_with_shows_a_vendor_and_period(qtbot, vendors):
    _, page = vendors
    target = page.table.vendor_at(2)
    page.open_with({"vendor_id": target, "period": "2026-08"})
    wait_for_card(qtbot, page, lambda d: d.card.vendor_id == target and d.card.period == "2026-08")
    assert page.current_period().label == "2026-08"
    assert page.selected_vendor() == target
