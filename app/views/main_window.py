"""The main window: sidebar of pages, the current page, menus and the status bar."""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QByteArray, QEvent, QSettings, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import URL

from app import APP_NAME, __version__
from app.db import Database, Identity, open_database
from app.db.url import sqlite_path
from app.models import utcnow
from app.services.formatting import format_time
from app.services.users import current_username, identity_for, role_label
from app.views import ops
from app.views.icons import icon
from app.views.live import ConnectionBanner, LiveBridge
from app.views.pages import Page, PageContext, PageSpec, registered_pages
from app.views.permissions import WindowRole
from app.views.theme import DANGER_TEXT, GOOD_TEXT

SETTINGS_ORGANIZATION = "Servicedeck"
SETTINGS_APPLICATION = "servicedeck"
#: Ctrl+1 .. Ctrl+9 switch to the sidebar's pages in order.
MAX_PAGE_SHORTCUTS = 9


def app_settings() -> QSettings:
    return QSettings(SETTINGS_ORGANIZATION, SETTINGS_APPLICATION)


class MainWindow(QMainWindow):
    """One database on screen: a page per sidebar entry, created when first shown."""

    #: The window has been painted once (its pages start loading after this).
    first_painted = Signal()
    #: The page now shown (its key).
    page_changed = Signal(str)

    #: Windows opened by switching databases, kept alive until they close.
    _windows: ClassVar[set[MainWindow]] = set()

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        interactive: bool = True,
        persist: bool = True,
        owns_db: bool = False,
        start_page: str | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.persist = persist
        self.owns_db = owns_db
        self._clock = clock
        self._painted = False
        self.specs: list[PageSpec] = registered_pages()
        self.context = PageContext(
            db=db,
            clock=clock,
            interactive=interactive,
            page_keys=frozenset(spec.key for spec in self.specs),
        )
        self.pages: dict[str, Page] = {}
        #: The signed-in database user's role: pages follow it (app/views/permissions.py).
        self.permissions = WindowRole(self, db)
        self.setWindowTitle(f"{APP_NAME} — {db.describe()}")
        self.setMinimumSize(QSize(800, 500))

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFrameShape(QFrame.Shape.NoFrame)
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setFixedWidth(180)
        self.sidebar.setAccessibleName("Pages")
        for number, spec in enumerate(self.specs, start=1):
            item = QListWidgetItem(icon(spec.icon), spec.title)
            item.setData(Qt.ItemDataRole.UserRole, spec.key)
            item.setSizeHint(QSize(0, 36))
            if number <= MAX_PAGE_SHORTCUTS:
                item.setToolTip(f"{spec.title} (Ctrl+{number})")
            self.sidebar.addItem(item)
        self.sidebar.currentRowChanged.connect(self._row_changed)

        self.stack = QStackedWidget()
        line = QFrame()
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(line)
        layout.addWidget(self.stack, 1)
        self.banner = ConnectionBanner()
        outer = QWidget()
        outer_layout = QVBoxLayout(outer)
        outer_layout.setContentsMargins(0, 0, 0, 0)
        outer_layout.setSpacing(0)
        outer_layout.addWidget(self.banner)
        outer_layout.addWidget(central, 1)
        self.setCentralWidget(outer)
        # PostgreSQL: other consoles' writes are pushed (LISTEN/NOTIFY); SQLite pages poll.
        self.live = LiveBridge.for_database(db, self)
        if self.live is not None:
            self.live.connection_lost.connect(self.banner.connection_lost)
            self.live.connection_back.connect(self.banner.connection_back)
            self.live.state_changed.connect(self._live_state)
            self.live.start()

        self._build_status_bar()
        self._build_menus()
        self._restore(start_page)
        self._load_identity_later = True
        self.sla_refresher = None
        if interactive:
            from app.views.sla_refresh import SlaRefresher

            self.sla_refresher = SlaRefresher(self, db, clock)

    # Building

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.database_label = QLabel(self.db.describe())
        self.database_label.setObjectName("databaseLabel")
        self.database_label.setToolTip("The database this window shows")
        self.user_label = QLabel(self._identity_text())
        self.user_label.setObjectName("userLabel")
        self.permissions.changed.connect(
            lambda _roles: self.user_label.setText(self._identity_text())
        )
        self.live_label = QLabel()
        self.live_label.setObjectName("liveLabel")
        self._set_live("connecting…", None)
        for widget in (
            self.database_label,
            self._dot(),
            self.user_label,
            self._dot(),
            self.live_label,
        ):
            bar.addWidget(widget)
        self.progress = ops.ProgressIndicator()
        bar.addPermanentWidget(self.progress)

    @staticmethod
    def _dot() -> QLabel:
        return QLabel("·")

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_action = file_menu.addAction("&Open database file…")
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.choose_database_file)
        self.connect_action = file_menu.addAction("&Connect to shared database…")
        self.connect_action.triggered.connect(self.connect_shared_database)
        file_menu.addSeparator()
        self.import_action = file_menu.addAction("&Import incidents…")
        self.import_action.setShortcut(QKeySequence("Ctrl+I"))
        self.import_action.setToolTip(
            "A ServiceNow incident list or event log, or a Jira Service Management CSV"
        )
        self.import_action.triggered.connect(lambda: self.import_incidents())
        self.permissions.changed.connect(self._role_known)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)

        view_menu = menu.addMenu("&View")
        self.page_actions: list[QAction] = []
        for number, spec in enumerate(self.specs[:MAX_PAGE_SHORTCUTS], start=1):
            action = view_menu.addAction(icon(spec.icon), spec.title)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _=False, key=spec.key: self.show_page(key))
            self.page_actions.append(action)
        view_menu.addSeparator()
        self.refresh_action = view_menu.addAction(icon("refresh"), "&Refresh")
        self.refresh_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.refresh_action.triggered.connect(self.refresh_current)

        help_menu = menu.addMenu("&Help")
        about = help_menu.addAction(f"&About {APP_NAME}")
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self.about)

    def _restore(self, start_page: str | None) -> None:
        keys = [spec.key for spec in self.specs]
        page = start_page
        if self.persist:
            settings = app_settings()
            geometry = settings.value("main_window/geometry")
            if isinstance(geometry, QByteArray) and not geometry.isEmpty():
                self.restoreGeometry(geometry)
            else:
                self.resize(1400, 900)
            state = settings.value("main_window/state")
            if isinstance(state, QByteArray) and not state.isEmpty():
                self.restoreState(state)
            page = page or str(settings.value("main_window/page", ""))
        else:
            self.resize(1400, 900)
        if keys:
            self.sidebar.setCurrentRow(keys.index(page) if page in keys else 0)

    # Pages

    def page(self, key: str) -> Page:
        """The page ``key``, created on first use."""
        page = self.pages.get(key)
        if page is None:
            spec = next(spec for spec in self.specs if spec.key == key)
            page = spec.factory(self.context)
            self.permissions.attach(page)
            page.loaded.connect(self._page_loaded)
            page.load_failed.connect(self._page_failed)
            page.navigate.connect(self.navigate)
            if self.live is not None:
                self.live.attach(page)
            self.pages[key] = page
            self.stack.addWidget(page)
        return page

    def current_page(self) -> Page | None:
        widget = self.stack.currentWidget()
        return widget if isinstance(widget, Page) else None

    def current_key(self) -> str | None:
        item = self.sidebar.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def show_page(self, key: str) -> Page:
        """Show the page ``key`` (and select it in the sidebar)."""
        row = [spec.key for spec in self.specs].index(key)
        if self.sidebar.currentRow() != row:
            self.sidebar.setCurrentRow(row)
        return self.pages[key]

    @Slot(int)
    def _row_changed(self, row: int) -> None:
        if row < 0:
            return
        key = self.specs[row].key
        page = self.page(key)
        self.stack.setCurrentWidget(page)
        if self._painted:
            page.activate()
        self.page_changed.emit(key)

    @Slot(str, dict)
    def navigate(self, key: str, params: dict[str, Any]) -> None:
        """Go to page ``key`` and hand it ``params`` (ignored when the window has no such page)."""
        if key in self.context.page_keys:
            self.show_page(key).open_with(params)

    def refresh_current(self) -> None:
        page = self.current_page()
        if page is not None:
            page.refresh()

    # Status bar

    def _identity_text(self) -> str:
        signed_in = self.permissions.status_text()  # "alex · agent" on a shared database
        if signed_in is not None:
            return signed_in
        identity = self.db.identity
        return f"{identity.display_name} ({role_label(identity.role)})"

    def _set_live(self, text: str, colour: str | None) -> None:
        dot_colour = colour or "#9e9e9e"
        self.live_label.setText(f"<span style='color:{dot_colour}'>●</span> {text}")

    @Slot()
    def _page_loaded(self) -> None:
        pushed = " · live" if self.live is not None and self.live.connected else ""
        self._set_live(f"connected · read at {format_time(self._clock())}{pushed}", GOOD_TEXT)
        self.live_label.setToolTip("When the page last read the database")

    @Slot(str)
    def _page_failed(self, message: str) -> None:
        self._set_live("last read failed", DANGER_TEXT)
        self.live_label.setToolTip(message)

    @Slot(bool)
    def _live_state(self, connected: bool) -> None:
        if connected:
            self._set_live(f"connected · live since {format_time(self._clock())}", GOOD_TEXT)
            self.live_label.setToolTip("Other consoles' changes show here as they are saved")
        else:
            self._set_live("disconnected · reconnecting…", DANGER_TEXT)
            self.live_label.setToolTip("The server cannot be reached; retrying by itself")

    def _load_identity(self) -> None:
        username = current_username()
        ops.QueryOp(
            parent=self,
            db=self.db,
            op=lambda session, _progress: identity_for(session, username),
            success=self._identity_loaded,
        ).failure(
            # A database that cannot be read is reported by the page's own load; the
            # status bar then keeps the default identity.
            lambda _exc: None
        ).run_in_background()

    def _identity_loaded(self, identity: Identity | None) -> None:
        if identity is not None and self.permissions.user is None:  # a database user wins
            self.db.identity = identity
            self.user_label.setText(self._identity_text())

    # Painting

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            # Icons are drawn in the palette's text colour; redraw them for light/dark.
            for row, spec in enumerate(self.specs):
                self.sidebar.item(row).setIcon(icon(spec.icon, self.palette()))
            for action, spec in zip(self.page_actions, self.specs, strict=False):
                action.setIcon(icon(spec.icon, self.palette()))
            self.refresh_action.setIcon(icon("refresh", self.palette()))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        super().paintEvent(event)
        if not self._painted:
            # Loading starts after the first paint, so the window shows before any query.
            self._painted = True
            QTimer.singleShot(0, self, self._after_first_paint)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().showEvent(event)
        # Some platforms never paint a window that starts hidden behind others.
        QTimer.singleShot(1000, self, self._ensure_started)

    def _ensure_started(self) -> None:
        if not self._painted:
            self._painted = True
            self._after_first_paint()

    def _after_first_paint(self) -> None:
        self.first_painted.emit()
        page = self.current_page()
        if page is not None:
            page.activate()
        if self._load_identity_later:
            self._load_identity_later = False
            self._load_identity()
            self.permissions.load()
            if self.sla_refresher is not None:
                self.sla_refresher.start()

    # Databases

    def choose_database_file(self) -> None:
        current = sqlite_path(self.db.url)
        folder = str(current.parent) if current is not None else ""
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open database file",
            folder,
            "Servicedeck databases (*.db *.sqlite *.sqlite3);;All files (*)",
        )
        if path:
            self.open_other_database(path, create=False)

    def import_incidents(self, path: str | None = None):
        """File > Import incidents… (Ctrl+I): the import wizard on this window's database."""
        from app.views.import_wizard import open_import_wizard

        if not self.import_action.isEnabled():
            return None
        wizard = open_import_wizard(self, self.db, path=path)
        wizard.imported.connect(lambda _summary: self.refresh_current())
        return wizard

    #: An import writes incidents and creates the teams, people, services, CIs and vendors
    #: they name: a role needs the rights of all three areas (a service manager has them).
    IMPORT_ACTIONS = ("edit_incident", "edit_service", "edit_vendor")

    def _role_known(self, roles) -> None:
        from app.views.permissions import allow

        allow(roles, {self.IMPORT_ACTIONS: [self.import_action]})

    def connect_shared_database(self) -> None:
        from app.views.connect_dialog import ConnectDialog

        dialog = ConnectDialog(app_settings() if self.persist else None, self)
        if dialog.exec() == ConnectDialog.DialogCode.Accepted:
            if dialog.opened is not None:  # the dialog has signed in already
                self.switch_to(dialog.opened)
            else:
                self.open_other_database(dialog.url())

    def open_other_database(self, value: str | URL, *, create: bool = True) -> ops.OpHandle:
        """Open ``value`` in the background; on success this window is replaced by one on it.

        A failure is shown and leaves this window as it was.
        """
        return (
            ops.BackgroundOp(
                parent=self,
                op=lambda _progress: open_database(value, create=create),
                success=self.switch_to,
            )
            .with_progress("Opening database")
            .run_in_background()
        )

    def switch_to(self, db: Database) -> MainWindow:
        """Show ``db`` in a new window that takes this one's place."""
        self._save()
        window = MainWindow(
            db,
            clock=self._clock,
            interactive=self.context.interactive,
            persist=self.persist,
            owns_db=True,
            start_page=self.current_key(),
        )
        window.setGeometry(self.geometry())
        MainWindow._windows.add(window)
        window.show()
        self.close()
        return window

    def about(self) -> None:
        import sqlalchemy
        from PySide6 import __version__ as pyside_version

        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<h3>{APP_NAME} {__version__}</h3>"
            "<p>A desktop console for IT service managers: incidents, changes, "
            "on-call rosters, vendors and KPIs.</p>"
            f"<p>Database: {self.db.describe()}<br>"
            f"Python {platform.python_version()} · Qt {pyside_version} · "
            f"SQLAlchemy {sqlalchemy.__version__}</p>",
        )

    # Closing

    def _save(self) -> None:
        if not self.persist:
            return
        settings = app_settings()
        settings.setValue("main_window/geometry", self.saveGeometry())
        settings.setValue("main_window/state", self.saveState())
        key = self.current_key()
        if key:
            settings.setValue("main_window/page", key)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt name
        if self.sla_refresher is not None:
            self.sla_refresher.stop()
        if self.live is not None:
            self.live.stop()
        self._save()
        super().closeEvent(event)
        if self.owns_db:
            self.db.dispose()
        MainWindow._windows.discard(self)
