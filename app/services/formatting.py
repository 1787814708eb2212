"""How values read to a person: dates in the user's zone, durations, counts, priority names."""

from __future__ import annotations

import datetime as dt

#: The default names of priorities 1-5 (ITIL / ServiceNow).
PRIORITY_NAMES = {1: "Critical", 2: "High", 3: "Moderate", 4: "Low", 5: "Planning"}


def priority_label(priority: int) -> str:
    """``P1 Critical`` for 1; ``P7`` for a priority with no name."""
    name = PRIORITY_NAMES.get(priority)
    return f"P{priority} {name}" if name else f"P{priority}"


def local(value: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
    """``value`` in ``zone``, or in the computer's zone when ``zone`` is None."""
    return value.astimezone(zone) if zone is not None else value.astimezone()


def format_datetime(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str:
    """``2026-11-23 14:05`` in the user's zone; empty for None."""
    if value is None:
        return ""
    return local(value, zone).strftime("%Y-%m-%d %H:%M")


def format_time(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str:
    """``14:05`` in the user's zone; empty for None."""
    if value is None:
        return ""
    return local(value, zone).strftime("%H:%M")


def format_date(value: dt.date | None) -> str:
    return "" if value is None else value.isoformat()


def format_duration(seconds: float) -> str:
    """``3d 4h``, ``2h 5m`` or ``47m``: the two largest units, never seconds."""
    minutes = int(abs(seconds)) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    sign = "-" if seconds < 0 else ""
    if days:
        return f"{sign}{days}d {hours}h" if hours else f"{sign}{days}d"
    if hours:
        return f"{sign}{hours}h {minutes}m" if minutes else f"{sign}{hours}h"
    return f"{sign}{minutes}m"


def format_count(value: int) -> str:
    """``1,284``."""
    return f"{value:,}"
