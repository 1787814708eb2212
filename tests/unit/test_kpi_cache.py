"""The shared KPI column cache: one load per database, refreshes make new snapshots."""

from __future__ import annotations

import datetime as dt

from app.models import Incident
from app.services.kpi_cache import KpiCache, kpi_cache

UTC = dt.UTC


def _incident(number: str, opened: dt.datetime) -> Incident:
    return Incident(number=number, short_description=number, opened_at=opened, priority=3,
                    impact=2, urgency=2, state="New")  # fmt: skip


def test_one_cache_per_database(db, tmp_path):
    from app.db import open_database

    assert kpi_cache(db) is kpi_cache(db)
    other = open_database(str(tmp_path / "other.db"))
    assert kpi_cache(other) is not kpi_cache(db)


def test_snapshot_never_waits_for_a_refresh_and_columns_refreshes_when_stale(db):
    with db.transaction() as s:
        s.add(_incident("INC1", dt.datetime(2026, 10, 1, tzinfo=UTC)))
    cache = KpiCache(max_age=3600)
    with db.session() as s:
        first = cache.snapshot(s)
        assert cache.is_fresh()
        assert cache.columns(s) is first  # fresh: the same snapshot
    with db.transaction() as s:
        row = _incident("INC2", dt.datetime(2026, 10, 2, tzinfo=UTC))
        row.updated_at = dt.datetime.now(UTC) + dt.timedelta(seconds=5)
        s.add(row)
    cache.max_age = 0
    with db.session() as s:
        assert cache.snapshot(s) is first
        fresh = cache.columns(s)
    assert fresh is not first
    # The old snapshot is untouched (somebody may be reading it).
    assert first.incidents["id"].size == 1
    assert fresh.incidents["id"].size == 2
    cache.clear()
    assert cache.peek() is None
