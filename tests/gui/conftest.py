"""GUI fixtures: isolated settings, no modal dialogs, and a window on the sample database."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from tests import sample_data


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """QSettings written under the test's folder, never the developer's own."""
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield tmp_path / "settings"


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch):
    """Every message box a test raises, recorded instead of shown (a modal box would hang)."""
    shown: list[QMessageBox] = []

    def record(box: QMessageBox) -> int:
        shown.append(box)
        return QMessageBox.StandardButton.Ok.value

    monkeypatch.setattr(QMessageBox, "exec", record)
    monkeypatch.setattr(QMessageBox, "about", lambda *args: shown.append(args))
    return shown


@pytest.fixture(autouse=True)
def no_background_work_left():
    """Each test ends with every background op finished, so none outlives its database."""
    yield
    from app.views import ops

    assert ops.shutdown(10_000), "background work did not stop"


@pytest.fixture
def sample_db(db):
    """The hand-made database of tests/sample_data.py."""
    sample_data.fill(db)
    return db


@pytest.fixture
def open_window(qtbot):
    """Open a main window on a database (clock fixed at sample_data.NOW) and wait for its page."""
    from app.views.main_window import MainWindow

    def open_(database, **options) -> MainWindow:
        options.setdefault("clock", lambda: sample_data.NOW)
        window = MainWindow(database, **options)
        qtbot.addWidget(window)
        window.show()
        page = window.current_page()
        qtbot.waitUntil(lambda: page.is_loaded() or page.last_error is not None, timeout=10_000)
        return window

    return open_


@pytest.fixture
def window(open_window, sample_db):
    return open_window(sample_db)
