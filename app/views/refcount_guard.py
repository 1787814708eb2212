"""Keep None, True and False alive under a PySide6 that drops references to them (Python < 3.12).

The installed PySide6 (6.12, a stable-ABI build) returns None, True and False from Qt
calls without taking a reference, as if they were immortal (they are from Python 3.12,
PEP 683). On Python 3.11 every ``painter.setPen(...)``, ``signal.emit(...)`` or
``index.data()`` returning None then releases one reference too many; after some tens of
thousands of calls (a minute of scrolling a table, a quarter of an hour of polling) the
interpreter aborts with "deallocating None". Giving the three singletons a huge
reference count makes them as good as immortal, which is what Python 3.12 does.
"""

from __future__ import annotations

import ctypes
import sys

#: Added to each singleton's reference count: more decrements than a process ever makes.
EXTRA_REFERENCES = 1 << 60


def install() -> bool:
    """Make None, True and False effectively immortal; True if anything was changed."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    changed = False
    for singleton in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(singleton))
        if count.value < EXTRA_REFERENCES:
            count.value += EXTRA_REFERENCES
            changed = True
    return changed


install()
