"""File > Import incidents…: choose, map, preview, import, clicking through the wizard."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtWidgets import QWizard
from sqlalchemy import func, select

from app.models import Incident, IncidentEvent
from app.services.io import importer as imp
from app.views.import_wizard import NOT_IN_FILE, ImportWizard

DATA = Path(__file__).resolve().parents[1] / "data" / "import"


def open_wizard(qtbot, db, path: Path) -> ImportWizard:
    wizard = ImportWizard(db)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.file_page.load(path)
    qtbot.waitUntil(wizard.file_page.isComplete, timeout=10_000)
    return wizard


def next_page(qtbot, wizard: ImportWizard) -> None:
    page = wizard.currentPage()
    qtbot.waitUntil(page.isComplete, timeout=20_000)
    wizard.button(
        QWizard.WizardButton.CommitButton
        if page.isCommitPage()
        else QWizard.WizardButton.NextButton
    ).click()


def incidents(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Incident))


def test_an_event_log_is_recognised_mapped_previewed_and_imported(qtbot, db):
    wizard = open_wizard(qtbot, db, DATA / "servicenow_eventlog.csv")
    assert wizard.source.value == "servicenow-events"
    assert "ServiceNow incident audit / event log" in wizard.file_page.found.text()
    next_page(qtbot, wizard)

    mapping = wizard.mapping_page
    qtbot.waitUntil(lambda: mapping.chosen_format() is not None, timeout=10_000)
    assert mapping.combos["number"].currentText() == "number"
    assert mapping.combos["state"].currentText() == "incident_state"
    assert imp.format_label(mapping.chosen_format()) == "dd/MM/yyyy HH:mm"
    next_page(qtbot, wizard)

    preview = wizard.preview_page
    qtbot.waitUntil(preview.isComplete, timeout=20_000)
    assert preview.table.rowCount() == len(wizard.plan.incidents) <= 20
    assert preview.table.item(0, 0).text().startswith("INC")
    assert "incident" in preview.summary.text()
    assert incidents(db) == 0  # nothing is written before Import
    next_page(qtbot, wizard)

    run = wizard.run_page
    qtbot.waitUntil(run.isComplete, timeout=30_000)
    assert run.problem.isHidden(), run.problem.text()
    assert wizard.summary.created == len(wizard.plan.incidents) == incidents(db)
    assert "Created" in run.result.text()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(IncidentEvent)) > 0


def test_an_ambiguous_date_column_is_asked_about(qtbot, db):
    wizard = open_wizard(qtbot, db, DATA / "servicenow_list_ambiguous.csv")
    next_page(qtbot, wizard)
    mapping = wizard.mapping_page
    qtbot.waitUntil(lambda: mapping._guess is not None, timeout=10_000)
    assert mapping._guess.ambiguous
    assert "day or month" in mapping.date_note.text()
    assert not mapping.isComplete()  # nothing chosen yet: Next stays off
    mapping.date_format.setCurrentIndex(1)
    assert mapping.isComplete()


def test_a_required_field_left_unmapped_keeps_next_off(qtbot, db):
    wizard = open_wizard(qtbot, db, DATA / "servicenow_list.csv")
    next_page(qtbot, wizard)
    mapping = wizard.mapping_page
    qtbot.waitUntil(mapping.isComplete, timeout=10_000)
    mapping.combos["number"].setCurrentIndex(mapping.combos["number"].findText(NOT_IN_FILE))
    assert mapping.missing() == ["Number"]
    assert not mapping.isComplete()


def test_a_bad_row_is_named_and_nothing_is_written(qtbot, db, tmp_path):
    bad = tmp_path / "bad.csv"
    with open(DATA / "servicenow_list.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows[2][rows[0].index("opened_at")] = "2024-02-31 10:00:00"  # spreadsheet row 3
    with open(bad, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    wizard = open_wizard(qtbot, db, bad)
    next_page(qtbot, wizard)
    next_page(qtbot, wizard)
    preview = wizard.preview_page
    qtbot.waitUntil(
        lambda: not preview.busy.running and preview.problem.isVisible(), timeout=20_000
    )
    text = preview.problem.text()
    assert "bad.csv" in text and "row 3" in text and "opened_at" in text
    assert "2024-02-31 10:00:00" in text
    assert not preview.isComplete()
    assert incidents(db) == 0


def test_a_saved_mapping_is_loaded_for_the_next_file(qtbot, db, tmp_path):
    wizard = open_wizard(qtbot, db, DATA / "servicenow_list.csv")
    next_page(qtbot, wizard)
    mapping = wizard.mapping_page
    qtbot.waitUntil(mapping.isComplete, timeout=10_000)
    mapping.combos["description"].setCurrentIndex(0)  # not in the file
    saved = tmp_path / "mine.json"
    mapping.save_mapping_dialog(str(saved))
    assert saved.exists()

    again = open_wizard(qtbot, db, DATA / "servicenow_list.csv")
    next_page(qtbot, again)
    page = again.mapping_page
    qtbot.waitUntil(page.isComplete, timeout=10_000)
    page.load_mapping_dialog(str(saved))
    assert page.problem.isHidden(), page.problem.text()
    assert page.combos["description"].currentText() == NOT_IN_FILE
    page.load_mapping_dialog(str(DATA / "servicenow_list.csv"))  # not a mapping
    assert "is not a Servicedeck import mapping" in page.problem.text()


def test_a_broken_file_is_explained_on_the_first_page(qtbot, db, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b'number,short_description\nINC1,"never closed\n')
    wizard = ImportWizard(db)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.file_page.load(broken)
    qtbot.waitUntil(wizard.file_page.problem.isVisible, timeout=10_000)
    assert "broken.csv" in wizard.file_page.problem.text()
    assert not wizard.file_page.isComplete()


def test_file_import_opens_the_wizard_on_the_windows_database(qtbot, window):
    action = window.import_action
    assert action.shortcut().toString() == "Ctrl+I"
    assert action.isEnabled()
    wizard = window.import_incidents(str(DATA / "jsm_export.csv"))
    qtbot.waitUntil(wizard.file_page.isComplete, timeout=10_000)
    assert wizard.db is window.db
    assert wizard.source.value == "jsm"
    wizard.close()


def test_cancel_while_checking_or_importing_writes_nothing(qtbot, db, monkeypatch):
    import time

    from app.services.io import incident_import
    from app.services.progress import Cancelled

    def until_cancelled(progress):
        while not progress.cancelled:
            time.sleep(0.01)
        raise Cancelled()

    real_read = imp.read_plan
    wizard = open_wizard(qtbot, db, DATA / "servicenow_list.csv")
    next_page(qtbot, wizard)
    qtbot.waitUntil(wizard.mapping_page.isComplete, timeout=10_000)
    monkeypatch.setattr(imp, "read_plan", lambda *a, progress, **k: until_cancelled(progress))
    wizard.next()
    preview = wizard.preview_page
    qtbot.waitUntil(preview.busy.isVisible, timeout=5_000)
    preview.busy.cancel_button.click()
    qtbot.waitUntil(lambda: not preview.busy.running, timeout=10_000)
    assert "cancelled" in preview.summary.text()
    assert not preview.isComplete()

    monkeypatch.setattr(imp, "read_plan", real_read)
    preview.check()
    qtbot.waitUntil(preview.isComplete, timeout=10_000)
    monkeypatch.setattr(
        incident_import,
        "write_plan",
        lambda *a, progress, **k: until_cancelled(progress),
    )
    next_page(qtbot, wizard)
    run = wizard.run_page
    qtbot.waitUntil(run.busy.isVisible, timeout=5_000)
    run.busy.cancel_button.click()
    qtbot.waitUntil(run.isComplete, timeout=10_000)
    assert "cancelled" in run.result.text() and "Nothing was imported" in run.result.text()
    assert incidents(db) == 0


def test_the_page_shown_is_read_again_after_an_import(qtbot, window):
    refreshed = []
    window.refresh_current = lambda: refreshed.append(1)  # type: ignore[method-assign]
    wizard = window.import_incidents(str(DATA / "servicenow_list.csv"))
    qtbot.waitUntil(wizard.file_page.isComplete, timeout=10_000)
    for _ in range(3):
        next_page(qtbot, wizard)
    qtbot.waitUntil(wizard.run_page.isComplete, timeout=20_000)
    assert wizard.summary is not None and wizard.summary.created == 7
    assert refreshed == [1]
    wizard.close()
