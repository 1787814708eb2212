"""Background ops: off the GUI thread with their own session, progress, cancel and errors."""

from __future__ import annotations

import threading
import time

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from sqlalchemy import func, select

from app.db.errors import DatabaseUnavailable
from app.models import Team
from app.views import ops


@pytest.fixture
def parent(qtbot):
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


def test_a_query_runs_off_the_gui_thread_with_its_own_session_and_reports_progress(
    qtbot, db, parent
):
    with db.transaction() as s:
        s.add_all([Team(name="Network"), Team(name="Database")])
    seen: dict = {}
    reports: list[tuple[int, int, str]] = []

    def count_teams(session, progress):
        seen["thread"] = threading.current_thread()
        seen["session"] = session
        for step in range(3):
            progress.update(step, 3, f"step {step}")
            time.sleep(ops.PROGRESS_INTERVAL_S)
        progress.update(3, 3, "done")
        return session.scalar(select(func.count()).select_from(Team))

    results = []
    handle = ops.QueryOp(parent=parent, db=db, op=count_teams, success=results.append)
    handle = handle.run_in_background()
    handle.progressed.connect(lambda *report: reports.append(report))
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    assert results == [2]
    assert seen["thread"] is not threading.main_thread()
    assert reports[-1] == (3, 3, "done")
    assert len(reports) >= 2


def test_commit_true_writes_and_a_failure_rolls_back(qtbot, db, parent):
    def add(name, fail):
        def op(session, _progress):
            session.add(Team(name=name))
            session.flush()
            if fail:
                raise RuntimeError("stop")
            return name

        return op

    for name, fail in (("Kept", False), ("Dropped", True)):
        handle = ops.QueryOp(parent=parent, db=db, op=add(name, fail), commit=True)
        handle = handle.failure(lambda _exc: None).run_in_background()
        with qtbot.waitSignal(handle.finished, timeout=5000):
            pass
    with db.session() as s:
        assert s.scalars(select(Team.name)).all() == ["Kept"]


def test_cancel_stops_the_op_at_its_next_progress_update(qtbot, parent):
    started = threading.Event()
    steps: list[int] = []

    def slow(progress):
        for step in range(500):
            progress.update(step, 500)
            steps.append(step)
            started.set()
            time.sleep(0.005)
        return "finished"

    results, cancelled = [], []
    handle = (
        ops.BackgroundOp(parent=parent, op=slow, success=results.append)
        .cancelled(lambda: cancelled.append(True))
        .run_in_background()
    )
    assert started.wait(5)
    handle.cancel()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    assert cancelled == [True] and results == []
    assert handle.was_cancelled and len(steps) < 500


def test_database_errors_are_shown_plainly(qtbot, parent, message_boxes):
    def unreachable(_progress):
        raise DatabaseUnavailable("Cannot open postgresql: deck@db1: connection refused")

    handle = ops.BackgroundOp(parent=parent, op=unreachable).run_in_background()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    [box] = message_boxes
    assert box.text() == "Cannot open postgresql: deck@db1: connection refused"
    assert box.icon() == QMessageBox.Icon.Warning
    assert box.detailedText() == ""


def test_other_errors_are_shown_briefly_with_the_details(qtbot, parent, message_boxes):
    def broken(_progress):
        raise ValueError("boom\nsecond line")

    handle = ops.BackgroundOp(parent=parent, op=broken).run_in_background()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    [box] = message_boxes
    assert box.text() == "Something went wrong: boom"
    assert "Traceback" in box.detailedText() and "ValueError" in box.detailedText()
    assert isinstance(handle.error, ValueError)


def test_a_failure_callback_replaces_the_dialog(qtbot, parent, message_boxes):
    errors = []
    handle = (
        ops.BackgroundOp(parent=parent, op=lambda _p: 1 / 0)
        .failure(errors.append)
        .run_in_background()
    )
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    assert [type(e) for e in errors] == [ZeroDivisionError]
    assert message_boxes == []


def test_a_deleted_parent_is_never_called_back(qtbot, message_boxes):
    gone = QWidget()
    release = threading.Event()
    calls = []

    def wait(_progress):
        release.wait(5)
        return "late"

    handle = ops.BackgroundOp(parent=gone, op=wait, success=calls.append).run_in_background()
    failing = ops.BackgroundOp(parent=gone, op=lambda _p: 1 / 0).run_in_background()
    shiboken6.delete(gone)
    assert handle.progress.cancelled
    release.set()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    qtbot.waitUntil(lambda: not failing.running, timeout=5000)
    assert calls == [] and message_boxes == []


def test_the_progress_indicator_shows_long_ops_and_cancels_them(qtbot):
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()
    qtbot.addWidget(window)
    indicator = ops.ProgressIndicator()
    window.statusBar().addPermanentWidget(indicator)
    window.show()

    def long(progress):
        for step in range(1000):
            progress.update(step, 1000, "Counting")
            time.sleep(0.005)

    handle = ops.BackgroundOp(parent=window, op=long).with_progress("Export").run_in_background()
    assert not indicator.isVisible()
    qtbot.waitUntil(indicator.isVisible, timeout=5000)
    assert indicator.label.text() == "Export: Counting"
    assert indicator.bar.maximum() == 1000
    qtbot.mouseClick(indicator.cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    assert handle.was_cancelled
    qtbot.waitUntil(lambda: not indicator.isVisible(), timeout=5000)
