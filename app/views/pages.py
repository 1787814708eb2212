"""The main window's pages: a page module registers its page here and the sidebar lists it.

To add a page, write a :class:`Page` subclass decorated with :func:`register_page` and
add its module to :data:`PAGE_MODULES`. The sidebar shows registered pages by ``order``
(Today 10, Incidents 20, Changes 30, Roster 40, Vendors 50, KPIs 60 keep the order of
UI.md); Ctrl+1..9 follow the sidebar. Page modules are imported at start-up, so they
keep heavy imports (charts, spreadsheets) inside the functions that need them.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from app.db import Database
from app.models import utcnow
from app.views import ops

#: Modules whose import registers a page, in no particular order.
PAGE_MODULES: tuple[str, ...] = (
    "app.views.today",
    "app.views.incident_queue",
    "app.views.changes_page",
    "app.views.kpi_dashboard",
    "app.views.roster_page",
    "app.views.vendors_page",
    "app.views.audit_page",
)


@dataclass(frozen=True)
class PageContext:
    """What a page gets from the window: the database, the clock and how to behave."""

    db: Database
    clock: Callable[[], dt.datetime] = utcnow
    #: False when nobody is watching (screenshots): errors are kept, not shown in dialogs.
    interactive: bool = True
    #: Keys of the pages the window has, so a page offers links only to pages that exist.
    page_keys: frozenset[str] = field(default_factory=frozenset)


class Page(QWidget):
    """A page of the main window: it loads its data in the background and says when it has."""

    #: The page's data has been shown (after every load, not only the first).
    loaded = Signal()
    #: Loading failed; the argument is the message.
    load_failed = Signal(str)
    #: Take the user to another page: (page key, parameters for its ``open_with``).
    navigate = Signal(str, dict)

    key = ""
    title = ""
    #: Tables whose changes, announced by other consoles (live updates on PostgreSQL),
    #: make the page read its data again.
    live_tables: frozenset[str] = frozenset()
    #: How long the page waits for more announcements before reading again (ms).
    LIVE_DELAY_MS = 300

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.last_error: BaseException | None = None
        self._loaded = False
        self._activated = False
        self._live_timer: QTimer | None = None
        self._live_changed: set[str] = set()

    def live_records_changed(self, table: str, ids: list) -> None:
        """Another console changed ``ids`` of ``table`` ("*": anything, after a reconnect):
        a page that has been shown and reads that table refreshes, once per burst."""
        if not self._activated or not (table == "*" or table in self.live_tables):
            return
        self._live_changed.add(table)
        if self._live_timer is None:
            self._live_timer = QTimer(self)
            self._live_timer.setSingleShot(True)
            self._live_timer.timeout.connect(self._live_burst_over)
        self._live_timer.start(self.LIVE_DELAY_MS)

    def _live_burst_over(self) -> None:
        tables, self._live_changed = self._live_changed, set()
        self.live_refresh(frozenset(tables))

    def live_refresh(self, tables: frozenset[str]) -> None:
        """Read again after other consoles changed ``tables`` ("*": anything); a page that
        shows parts of them apart reads just those parts."""
        self.refresh()

    def is_loaded(self) -> bool:
        """Whether the data has been shown at least once."""
        return self._loaded

    def is_settled(self) -> bool:
        """Whether everything the page shows has arrived, including parts filled after
        ``loaded`` (Today's KPI card); screenshots wait for it."""
        return self._loaded

    def activate(self) -> None:
        """The page is being shown; the first time, it starts loading."""
        if not self._activated:
            self._activated = True
            self.refresh()

    def refresh(self) -> None:
        """Read the page's data again (in the background)."""
        raise NotImplementedError

    def open_with(self, params: dict) -> None:
        """Show what ``params`` ask for (e.g. a filter); pages that take parameters override it."""

    def mark_loaded(self) -> None:
        self._loaded = True
        self.last_error = None
        self.loaded.emit()

    def fail_load(self, exc: BaseException) -> None:
        """Keep the error, tell listeners, and show it if someone is watching."""
        self.last_error = exc
        self.load_failed.emit(str(exc))
        if self.context.interactive:
            ops.show_error(self, exc)


@dataclass(frozen=True)
class PageSpec:
    """A registered page: its key, sidebar title and icon, position and class."""

    key: str
    title: str
    icon: str
    order: int
    factory: type[Page]


_registry: dict[str, PageSpec] = {}

P = TypeVar("P", bound=type[Page])


def register_page(*, key: str, title: str, icon: str, order: int) -> Callable[[P], P]:
    """Class decorator that adds a page to the sidebar."""

    def decorate(cls: P) -> P:
        cls.key = key
        cls.title = title
        _registry[key] = PageSpec(key, title, icon, order, cls)
        return cls

    return decorate


def registered_pages() -> list[PageSpec]:
    """Every page, in sidebar order, after importing the page modules."""
    for module in PAGE_MODULES:
        importlib.import_module(module)
    return sorted(_registry.values(), key=lambda spec: (spec.order, spec.key))


class PageHeader(QWidget):
    """The title line of a page, with room for the page's actions on the right."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAccessibleName("Page title")
        self.actions_layout = QHBoxLayout()
        self.actions_layout.setSpacing(8)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addStretch(1)
        layout.addLayout(self.actions_layout)
