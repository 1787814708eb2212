"""Progress reporting and cancellation for long work, usable with or without Qt."""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressCallback = Callable[[int, int, str], None]


class Cancelled(Exception):
    """The user cancelled the work; raised from :meth:`Progress.update`."""


class Progress:
    """Passed to long work: it reports how far it got and learns whether to stop.

    ``update`` is called from the worker; ``cancel`` from anywhere (typically the GUI
    thread). A ``total`` of 0 means the amount of work is unknown.
    """

    def __init__(self, callback: ProgressCallback | None = None) -> None:
        self._callback = callback
        self._cancel = threading.Event()
        self.done = 0
        self.total = 0
        self.label = ""

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self._cancel.is_set():
            raise Cancelled()

    def update(self, done: int = 0, total: int = 0, label: str | None = None) -> None:
        """Record progress; raises :class:`Cancelled` if the user asked to stop."""
        self.check()
        self.done, self.total = done, total
        if label is not None:
            self.label = label
        if self._callback is not None:
            self._callback(self.done, self.total, self.label)

    def message(self, label: str) -> None:
        """Report a step by name only (fits services whose progress is ``callable(str)``)."""
        self.update(self.done, self.total, label)


def silent() -> Progress:
    """A progress object that reports nowhere (for callers that do not watch)."""
    return Progress()
