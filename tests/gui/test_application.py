"""Starting the console: database errors, the demo database, and the start-up timing hook."""

from __future__ import annotations

import re
import sys
import time
import types

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog, QPushButton

from app.views import application
from tests import sample_data


@pytest.fixture
def exit_after_paint(monkeypatch, qapp):
    monkeypatch.setenv(application.EXIT_AFTER_PAINT_ENV, "1")


@pytest.fixture
def fake_demo(monkeypatch, tmp_path, qapp):
    """Stands in for app.services.demo: fills the database with the sample records."""
    calls: list[dict] = []

    def create_demo_database(url, incidents, seed, replace=False, progress=None):
        from app.db import open_database

        calls.append({"url": url, "incidents": incidents, "seed": seed})
        for step in ("Teams and people", "Incidents", "SLA clocks"):
            progress(step)
        db = open_database(url)
        sample_data.fill(db)
        db.dispose()

    module = types.ModuleType("app.services.demo")
    module.create_demo_database = create_demo_database
    monkeypatch.setitem(sys.modules, "app.services.demo", module)
    monkeypatch.setattr(application, "demo_database_path", lambda: tmp_path / "demo" / "demo.db")
    return calls


def test_a_database_error_at_start_is_shown_without_a_traceback(qapp, tmp_path, message_boxes):
    bad = tmp_path / "bad.db"
    bad.write_text("not a database")
    assert application.run(str(bad)) == 1
    [box] = message_boxes
    assert box.text() == f"{bad} is not a Servicedeck database (not a SQLite file)."
    assert box.detailedText() == ""


def test_the_timing_hook_prints_once_the_window_and_today_are_shown(
    sample_db, exit_after_paint, capsys
):
    assert application.run(str(sample_db.url.database)) == 0
    out = capsys.readouterr().out.strip()
    match = re.fullmatch(r"painted_s=(\d+\.\d{3}) today_s=(\d+\.\d{3}) rss_mb=(\d+)", out)
    assert match, out
    assert float(match[1]) <= float(match[2])
    assert int(match[3]) > 0


def test_demo_creates_its_database_on_first_run_then_opens_it(
    fake_demo, exit_after_paint, tmp_path, capsys
):
    assert application.run(None, demo=True) == 0
    assert fake_demo == [
        {"url": f"sqlite:///{tmp_path / 'demo' / 'demo.db'}", "incidents": 50_000, "seed": 1}
    ]
    assert "painted_s=" in capsys.readouterr().out
    assert application.run(None, demo=True) == 0
    assert len(fake_demo) == 1  # the second start finds the incidents and makes no more


def test_cancelling_the_demo_creation_ends_the_start(monkeypatch, fake_demo, exit_after_paint):
    def slow(url, incidents, seed, replace=False, progress=None):
        for _ in range(1000):
            progress("Incidents")
            time.sleep(0.01)

    monkeypatch.setattr(sys.modules["app.services.demo"], "create_demo_database", slow)

    def press_cancel():
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QProgressDialog)]
        if dialogs and dialogs[0].isVisible():
            dialogs[0].findChild(QPushButton).click()
        else:
            QTimer.singleShot(50, press_cancel)

    QTimer.singleShot(50, press_cancel)
    assert application.run(None, demo=True) == 1
