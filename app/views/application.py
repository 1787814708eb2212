"""Start the desktop console: the Qt application, the database, the demo data, the window."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog

from app import APP_NAME, __version__
from app.db import Database, open_database
from app.db.errors import DatabaseError
from app.services.progress import Progress
from app.views import ops
from app.views.theme import follow_system_scheme

DEMO_INCIDENTS = 50_000
DEMO_SEED = 1
#: Set to any value to print start-up timings after the first paint and the Today page, then quit.
EXIT_AFTER_PAINT_ENV = "SERVICEDECK_EXIT_AFTER_PAINT"
#: Epoch seconds at which a benchmark launched the process (so timings include Python's start).
LAUNCHED_AT_ENV = "SERVICEDECK_LAUNCHED_AT"
IDLE_BEFORE_RSS_MS = 1000


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def demo_database_path() -> Path:
    """Where ``--demo`` keeps its database when no ``--db`` is given."""
    from platformdirs import user_data_path

    return user_data_path("servicedeck", appauthor=False) / "demo.db"


def application() -> QApplication:
    """The QApplication, created once with the app's names and theme."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    QApplication.setApplicationName("servicedeck")
    QApplication.setApplicationDisplayName(APP_NAME)
    QApplication.setOrganizationName("Servicedeck")
    QApplication.setApplicationVersion(__version__)
    app = QApplication(sys.argv[:1])
    follow_system_scheme(app)
    return app


def fatal(exc: BaseException) -> None:
    """Tell the user why the console cannot start (no traceback for database errors)."""
    ops.show_error(None, exc)


def _has_incidents(db: Database) -> bool:
    from app.services.summary import has_incidents

    with db.session() as session:
        return has_incidents(session)


def create_demo_data(url: str) -> bool:
    """Fill ``url`` with demo data behind a progress dialog; False if cancelled or failed."""
    from app.services.demo import create_demo_database

    dialog = QProgressDialog(
        f"Creating the demo database ({DEMO_INCIDENTS:,} incidents)…", "Cancel", 0, 0
    )
    dialog.setWindowTitle(APP_NAME)
    dialog.setMinimumDuration(0)
    dialog.setMinimumWidth(420)
    dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
    outcome: dict[str, bool] = {"ok": False}

    def build(progress: Progress) -> None:
        create_demo_database(
            url, incidents=DEMO_INCIDENTS, seed=DEMO_SEED, progress=progress.message
        )

    def done(_result: object) -> None:
        outcome["ok"] = True

    handle = ops.BackgroundOp(parent=None, op=build, success=done).run_in_background()
    handle.progressed.connect(
        lambda _done, _total, label: dialog.setLabelText(f"Creating the demo database…\n{label}")
    )
    dialog.canceled.connect(handle.cancel)
    loop = QEventLoop()
    handle.finished.connect(loop.quit)
    dialog.show()
    if handle.running:
        loop.exec()
    dialog.canceled.disconnect(handle.cancel)
    dialog.close()
    return outcome["ok"]


def _open(url: str | None) -> Database | None:
    try:
        return open_database(url)
    except DatabaseError as exc:
        fatal(exc)
        return None


def _exit_after_paint(app: QApplication, window) -> None:
    """Benchmark hook: print when the window and Today's figures were on screen and the
    idle resident memory, then quit."""
    from app.cli import START

    launched = os.environ.get(LAUNCHED_AT_ENV)
    if launched:  # measured from the moment the benchmark started the process

        def since_start() -> float:
            return time.time() - float(launched)
    else:

        def since_start() -> float:
            return time.perf_counter() - START

    marks: dict[str, float] = {}

    def report() -> None:
        print(
            f"painted_s={marks['painted']:.3f} today_s={marks['today']:.3f} "
            f"rss_mb={resident_mb():.0f}",
            flush=True,
        )
        app.exit(0)

    def finish() -> None:
        if len(marks) == 2:
            # Resident memory is read once the window has been idle for a second.
            QTimer.singleShot(IDLE_BEFORE_RSS_MS, report)

    def painted() -> None:
        marks.setdefault("painted", since_start())
        finish()

    def today_shown() -> None:
        # Apply the layout the new figures asked for, then paint them, before taking the time.
        app.sendPostedEvents()
        window.repaint()
        marks.setdefault("today", since_start())
        finish()

    def failed(message: str) -> None:
        print(f"servicedeck: {message}", file=sys.stderr, flush=True)
        app.exit(1)

    page = window.page("today")
    page.loaded.connect(today_shown)
    page.load_failed.connect(failed)
    window.first_painted.connect(painted)


def run(db_url: str | None, demo: bool = False) -> int:
    """Run the console on ``db_url`` (or the demo database) until the user quits."""
    app = application()
    benchmark = bool(os.environ.get(EXIT_AFTER_PAINT_ENV))
    if demo and not db_url:
        db_url = str(demo_database_path())
    db = _open(db_url)
    if db is None:
        return 1
    if demo:
        try:
            empty = not _has_incidents(db)
        except Exception as exc:
            db.dispose()
            fatal(exc)
            return 1
        if empty:
            url = db.url.render_as_string(hide_password=False)
            db.dispose()
            if not create_demo_data(url):
                return 1
            db = _open(db_url)
            if db is None:
                return 1

    from app.views.main_window import MainWindow

    window = MainWindow(
        db, owns_db=True, start_page="today" if benchmark else None, interactive=not benchmark
    )
    if benchmark:
        _exit_after_paint(app, window)
    window.show()
    code = app.exec()
    ops.shutdown()
    for open_window in [window, *MainWindow._windows]:
        open_window.close()
    return code
