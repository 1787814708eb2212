"""Save a PNG of every page, offscreen, each with its data loaded (for the README and reviews)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.db import open_database
from app.models import utcnow
from app.views.pages import Page

DEFAULT_SIZE = (1600, 1000)
#: How long one page may take to load before the screenshot gives up.
LOAD_TIMEOUT_S = 300.0


def settle(app: QApplication) -> None:
    """Let new content finish its layout passes (each may post another) before a grab."""
    for _ in range(3):
        app.sendPostedEvents()
        app.processEvents()


def _wait(page: Page, timeout_s: float) -> None:
    if page.is_loaded() or page.last_error is not None:
        return
    loop = QEventLoop()
    page.loaded.connect(loop.quit)
    page.load_failed.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    if page.last_error is not None:
        raise page.last_error
    if not page.is_loaded():
        raise TimeoutError(f"The {page.title} page did not load within {timeout_s:.0f} s.")
    # A page may fill some parts after ``loaded`` (Today's KPI card): wait for those too.
    deadline = time.monotonic() + timeout_s
    app = QApplication.instance()
    while not page.is_settled() and time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)


def take_screenshots(
    db_url: str | None,
    out_dir: str | Path,
    size: tuple[int, int] = DEFAULT_SIZE,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    timeout_s: float = LOAD_TIMEOUT_S,
    theme: str | None = None,
) -> list[Path]:
    """Write ``01-today.png`` etc. for every registered page; returns the paths written.

    ``theme`` is ``"light"`` or ``"dark"`` (default: the system's). Each file is written
    under a temporary name and renamed into place. A database that cannot be opened
    raises :class:`app.db.errors.DatabaseError`.
    """
    if QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.views import ops
    from app.views.application import application
    from app.views.main_window import MainWindow

    app = application()
    if theme is not None:
        from PySide6.QtCore import Qt

        from app.views.theme import apply_theme

        scheme = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}[theme]
        apply_theme(app, scheme)
    db = open_database(db_url)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(db, clock=clock, interactive=False, persist=False)
    try:
        window.resize(*size)
        window.show()
        paths: list[Path] = []
        for number, spec in enumerate(window.specs, start=1):
            page = window.show_page(spec.key)
            page.activate()
            _wait(page, timeout_s)
            settle(app)
            path = out / f"{number:02d}-{spec.key}.png"
            partial = path.with_name(f".{path.name}.partial")
            if not window.grab().save(str(partial), "PNG"):
                partial.unlink(missing_ok=True)
                raise OSError(f"Cannot write {path}.")
            partial.replace(path)
            paths.append(path)
        return paths
    finally:
        window.close()
        ops.shutdown()
        db.dispose()
