"""Vendor scorecard arithmetic: criterion scores, the weighted total, RAG, and periods.

A measured criterion scores 100 at its target and 0 at its floor, linearly between
(the floor may lie above the target when lower is better, as for MTTR). A judged
criterion's 1-5 rating maps to 0, 25, 50, 75, 100. The total is the weighted mean of
the criteria that have a score; a criterion with no data (no incidents in the period)
is left out and the other weights are scaled up, so a quiet vendor is not punished.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def linear_score(value: float | None, target: float | None, floor: float | None) -> float | None:
    """0-100 for ``value`` between ``floor`` (0) and ``target`` (100), clamped."""
    if value is None or target is None or floor is None or target == floor:
        return None
    return round(float(np.clip((value - floor) / (target - floor), 0.0, 1.0)) * 100, 1)


def judged_score(rating: int | None) -> float | None:
    """A 1-5 rating as 0-100."""
    if rating is None:
        return None
    if not 1 <= rating <= 5:
        raise ValueError(f"a judged score is 1-5, not {rating}")
    return (rating - 1) * 25.0


def volume_score(count: float | None, typical: float) -> float | None:
    """Incident volume against the vendor's own typical volume: at or below it scores 100,
    and each 1% above it costs a point (double the typical volume scores 0)."""
    if count is None:
        return None
    if typical <= 0:
        return 100.0
    return round(float(np.clip(100 - (count / typical - 1) * 100, 0, 100)), 1)


def weighted_total(parts: Iterable[tuple[float, float | None]]) -> float | None:
    """Weighted mean of ``(weight, score)`` over the scored parts, 0-100."""
    scored = [(w, s) for w, s in parts if s is not None and w > 0]
    weight = sum(w for w, _ in scored)
    if not weight:
        return None
    return round(sum(w * s for w, s in scored) / weight, 1)


def rag(total: float | None, green_min: float, amber_min: float) -> str | None:
    """green at or above ``green_min``, amber at or above ``amber_min``, else red."""
    if total is None:
        return None
    if total >= green_min:
        return "green"
    return "amber" if total >= amber_min else "red"


def quarter_of(day: dt.date) -> tuple[str, dt.date, dt.date]:
    """``("2026-Q3", first day, last day)`` of the quarter holding ``day``."""
    q = (day.month - 1) // 3
    first = dt.date(day.year, 3 * q + 1, 1)
    nxt = dt.date(day.year + (q == 3), (3 * q + 3) % 12 + 1, 1)
    return f"{day.year}-Q{q + 1}", first, nxt - dt.timedelta(days=1)


def previous_quarters(today: dt.date, count: int) -> list[tuple[str, dt.date, dt.date]]:
    """The ``count`` complete quarters before the one holding ``today``, oldest first."""
    out = []
    _, first, _ = quarter_of(today)
    for _ in range(count):
        label, first, last = quarter_of(first - dt.timedelta(days=1))
        out.append((label, first, last))
    return out[::-1]


def measure_vendor_quarter(
    arrays: Mapping[str, np.ndarray] | None,
    vendor: int,
    lo: int,
    hi: int,
    services: Sequence[int],
    outages: Sequence[Mapping[str, Any]],
) -> dict[str, float | None]:
    """Measured criteria for one vendor over ``[lo, hi)`` (epoch seconds) from incident columns.

    ``arrays`` holds ``opened``, ``resolved``, ``vendor``, ``breached``, ``finished`` and
    ``resolution_stop`` columns (missing instants are int64 minimum).
    """
    result: dict[str, float | None] = {
        "incident_count": 0.0,
        "sla_attainment": None,
        "mttr": None,
        "availability": None,
    }
    if arrays is not None:
        mine = arrays["vendor"] == vendor
        opened, resolved = arrays["opened"], arrays["resolved"]
        result["incident_count"] = float(np.count_nonzero(mine & (opened >= lo) & (opened < hi)))
        stop = arrays["resolution_stop"]
        done = mine & arrays["finished"] & (stop >= lo) & (stop < hi)
        if done.any():
            result["sla_attainment"] = round(100 * float(np.mean(~arrays["breached"][done])), 2)
        fixed = mine & (resolved >= lo) & (resolved < hi)
        if fixed.any():
            result["mttr"] = round(float(np.mean(resolved[fixed] - opened[fixed])) / 3600, 2)
    if services:
        period = hi - lo
        down = 0.0
        for o in outages:
            if o["service_id"] not in services:
                continue
            start = o["started_at"].timestamp()
            end = o["ended_at"].timestamp() if o["ended_at"] else hi
            down += max(0.0, min(end, hi) - max(start, lo))
        result["availability"] = round(100 * (1 - down / (period * len(services))), 3)
    return result
