"""Business time: how many working seconds lie between instants, and when N of them end.

A :class:`BusinessCalendar` is a weekly pattern of working spans in its own time zone,
minus holidays. Both directions are vectorised over numpy arrays of UTC epoch seconds,
so SLA clocks for a million incidents are computed in one pass:

* ``elapsed(start, end)``: business seconds in ``[start, end)``;
* ``add(start, seconds)``: the instant at which ``seconds`` business seconds have passed.

Both rest on one cumulative function ``F(t)`` = business seconds since a fixed origin.
Local time comes from the zone's UTC offset per local day, read from ``zoneinfo``; an
instant inside the hour a DST change skips or repeats may be off by that hour, which
only matters for schedules that work through 02:00-03:00 on those two nights.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np

DAY = 86_400
WEEK = 7 * DAY
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: 1970-01-01 was a Thursday: weekday(day index) = (day + 3) % 7 with Monday = 0.
_EPOCH_WEEKDAY = 3


@dataclass(frozen=True, order=True)
class Span:
    """Working time on one weekday (0 = Monday), in seconds from local midnight."""

    weekday: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0-6, not {self.weekday}")
        if not 0 <= self.start < self.end <= DAY:
            raise ValueError(f"span {self.start}-{self.end} is not within one day")


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly working spans in ``timezone`` minus ``holidays`` (local dates).

    An empty ``spans`` means 24x7 (every second counts; holidays are ignored).
    """

    spans: tuple[Span, ...] = ()
    timezone: str = "UTC"
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    first_day: dt.date = dt.date(2000, 1, 1)
    last_day: dt.date = dt.date(2040, 12, 31)

    @classmethod
    def always(cls) -> BusinessCalendar:
        return cls()

    @classmethod
    def weekly(
        cls,
        hours: Iterable[tuple[int, str, str]],
        timezone: str = "UTC",
        holidays: Iterable[dt.date] = (),
    ) -> BusinessCalendar:
        """From ``(weekday, "09:00", "17:00")`` triples; ``"24:00"`` ends at midnight."""

        def seconds(hhmm: str) -> int:
            h, m = hhmm.split(":")
            return int(h) * 3600 + int(m) * 60

        spans = tuple(sorted(Span(d, seconds(a), seconds(b)) for d, a, b in hours))
        return cls(spans=spans, timezone=timezone, holidays=frozenset(holidays))

    @property
    def is_24x7(self) -> bool:
        return not self.spans

    @cached_property
    def _days(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Per local day from ``first_day``: UTC offset, capacity, and cumulative capacity."""
        zone = ZoneInfo(self.timezone)
        day0 = (self.first_day - dt.date(1970, 1, 1)).days
        n = (self.last_day - self.first_day).days + 1
        offsets = np.empty(n, dtype=np.int64)
        capacity = np.zeros(n, dtype=np.int64)
        per_weekday = np.zeros(7, dtype=np.int64)
        for span in self.spans:
            per_weekday[span.weekday] += span.end - span.start
        one = dt.timedelta(days=1)
        day = self.first_day
        for i in range(n):
            noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=zone)
            offsets[i] = int(noon.utcoffset().total_seconds())
            if day not in self.holidays:
                capacity[i] = per_weekday[day.weekday()]
            day += one
        cumulative = np.concatenate(([0], np.cumsum(capacity)))
        return day0, offsets, capacity, cumulative

    def _local(self, utc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local day index (from ``first_day``) and local second of day for UTC seconds."""
        day0, offsets, _, _ = self._days
        approx = np.clip(utc // DAY - day0, 0, len(offsets) - 1)
        local = utc + offsets[approx]
        index = local // DAY - day0
        if index.size and (index.min() < 0 or index.max() >= len(offsets)):
            raise ValueError(
                f"instant outside the calendar's range {self.first_day}..{self.last_day}"
            )
        return index, local - (index + day0) * DAY

    def cumulative(self, utc: np.ndarray) -> np.ndarray:
        """F(t): business seconds from the calendar's origin to each instant."""
        utc = np.asarray(utc, dtype=np.int64)
        if self.is_24x7:
            return utc
        index, second = self._local(utc)
        _, _, capacity, cumulative = self._days
        weekday = (index + (self._days[0] + _EPOCH_WEEKDAY)) % 7
        working = capacity[index] > 0
        within = np.zeros_like(utc)
        for span in self.spans:
            on = working & (weekday == span.weekday)
            within += np.where(on, np.clip(second - span.start, 0, span.end - span.start), 0)
        return cumulative[index] + within

    def elapsed(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Business seconds in ``[start, end)`` (0 where ``end <= start``)."""
        start = np.asarray(start, dtype=np.int64)
        end = np.asarray(end, dtype=np.int64)
        return np.maximum(self.cumulative(end) - self.cumulative(start), 0)

    def add(self, start: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """The earliest instants by which ``seconds`` business seconds after ``start`` passed."""
        start = np.asarray(start, dtype=np.int64)
        seconds = np.asarray(seconds, dtype=np.int64)
        if self.is_24x7:
            return start + seconds
        target = self.cumulative(start) + seconds
        day0, offsets, capacity, cumulative = self._days
        # The local day whose working time contains the target: the last day d with
        # cumulative[d] < target (a target on a day boundary ends at that day's close).
        index = np.searchsorted(cumulative, target, side="left") - 1
        index = np.maximum(index, 0)
        if index.size and index.max() >= len(capacity):
            raise ValueError(f"due date beyond the calendar's range (after {self.last_day})")
        remaining = target - cumulative[index]
        weekday = (index + day0 + _EPOCH_WEEKDAY) % 7
        local_second = np.zeros_like(start)
        left = remaining.copy()
        placed = np.zeros(start.shape, dtype=bool)
        for span in self.spans:  # spans are sorted by weekday, then start
            on = (weekday == span.weekday) & ~placed
            length = span.end - span.start
            fits = on & (left <= length)
            local_second = np.where(fits, span.start + left, local_second)
            placed |= fits
            left = np.where(on & ~fits, left - length, left)
        local = (index + day0) * DAY + local_second
        result = local - offsets[index]
        # A zero-length target at a non-working instant is the start itself.
        return np.where(seconds <= 0, start, result)


def to_epoch(values: Sequence[dt.datetime] | dt.datetime) -> np.ndarray:
    """UTC epoch seconds of aware datetimes."""
    if isinstance(values, dt.datetime):
        values = [values]
    return np.array([int((v - _EPOCH).total_seconds()) for v in values], dtype=np.int64)


def from_epoch(seconds: int | np.integer) -> dt.datetime:
    """An aware UTC datetime from epoch seconds."""
    return _EPOCH + dt.timedelta(seconds=int(seconds))
