"""Dates, durations, counts and priorities read the same everywhere."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from app.services.formatting import (
    format_count,
    format_datetime,
    format_duration,
    priority_label,
)


def test_dates_show_to_the_minute_in_the_users_zone():
    instant = dt.datetime(2026, 11, 23, 13, 5, 59, tzinfo=dt.UTC)
    assert format_datetime(instant, ZoneInfo("Europe/Berlin")) == "2026-11-23 14:05"
    assert format_datetime(None) == ""


def test_durations_use_the_two_largest_units():
    assert format_duration(47 * 60 + 30) == "47m"
    assert format_duration(2 * 3600 + 5 * 60) == "2h 5m"
    assert format_duration(3 * 86400 + 4 * 3600 + 59 * 60) == "3d 4h"
    assert format_duration(86400) == "1d"
    assert format_duration(-600) == "-10m"


def test_counts_and_priorities():
    assert format_count(1284) == "1,284"
    assert priority_label(1) == "P1 Critical"
    assert priority_label(9) == "P9"
