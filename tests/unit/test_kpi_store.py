"""KPI columns kept on disk: restored only while they describe the same database."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import numpy as np
import pytest

from app.db import open_database
from app.models import Incident, SlaDefinition
from app.services import kpi_store
from app.services.demo import create_demo_database
from app.services.kpi import KpiColumns, KpiFilter, compute_kpis
from app.services.kpi_cache import KpiCache

UTC = dt.UTC
ANCHOR = dt.datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
FILTER = KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31))


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "demo.db"
    create_demo_database(str(path), incidents=1500, seed=4, anchor=ANCHOR)
    return path


@pytest.fixture
def demo(demo_file, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(demo_file, path)
    database = open_database(str(path))
    yield database
    database.dispose()


def same(a: KpiColumns, b: KpiColumns) -> None:
    assert compute_kpis(a, FILTER, now=ANCHOR) == compute_kpis(b, FILTER, now=ANCHOR)
    for table in ("incidents", "clocks", "surveys", "outages", "changes"):
        mine, theirs = getattr(a, table), getattr(b, table)
        assert set(mine) == set(theirs)
        keys = sorted(k for k in mine if k != "pos")  # rows may come in another order
        order_a = np.lexsort([mine[k].astype(np.float64) for k in keys])
        order_b = np.lexsort([theirs[k].astype(np.float64) for k in keys])
        for key in keys:
            np.testing.assert_array_equal(mine[key][order_a], theirs[key][order_b])


def stored(database) -> KpiColumns:
    with database.session() as s:
        cols = KpiColumns.load(s)
        assert kpi_store.save(cols, kpi_store.store_path(s), kpi_store.identity(s))
    return cols


def test_a_stored_copy_comes_back_equal_and_folds_in_new_work(demo):
    cols = stored(demo)
    with demo.session() as s:
        same(kpi_store.restore(s), cols)
    with demo.transaction() as s:
        row = s.get(Incident, 5)
        row.resolved_at = dt.datetime(2026, 10, 9, 12, tzinfo=UTC)
        row.updated_at = dt.datetime.now(UTC) + dt.timedelta(seconds=5)
    with demo.session() as s:
        restored = kpi_store.restore(s)
        same(restored, KpiColumns.load(s))


def test_a_copy_is_refused_when_it_no_longer_describes_the_database(demo, demo_file, tmp_path):
    stored(demo)
    path = kpi_store.cache_dir()
    # Another file at the same path (the database replaced by a new demo).
    demo.dispose()
    os.replace(demo.url.database, tmp_path / "old.db")
    shutil.copy(demo_file, demo.url.database)
    replaced = open_database(str(demo.url.database))
    with replaced.session() as s:
        assert kpi_store.restore(s) is None
    replaced.dispose()
    assert path.exists()


def test_a_changed_calendar_or_a_deleted_incident_forces_a_full_read(demo):
    stored(demo)
    with demo.transaction() as s:
        s.delete(s.get(Incident, 7))
    with demo.session() as s:
        assert kpi_store.restore(s) is None
    stored(demo)
    with demo.transaction() as s:
        for definition in s.query(SlaDefinition):
            definition.schedule_id = None
    with demo.session() as s:
        assert kpi_store.restore(s) is None


def test_a_damaged_file_is_ignored(demo):
    stored(demo)
    with demo.session() as s:
        path = kpi_store.store_path(s)
        path.write_bytes(b"not a numpy file")
        assert kpi_store.restore(s) is None


def test_the_cache_writes_a_full_read_and_the_next_session_restores_it(demo):
    first = KpiCache()
    with demo.session() as s:
        cols = first.columns(s)
    first.saver.join(10)
    second = KpiCache()
    with demo.session() as s:
        again = second.columns(s)
    assert second.saver is None  # restored, not read again
    same(again, cols)


def test_a_new_demo_database_opens_the_kpi_page_from_its_stored_columns(tmp_path):
    path = tmp_path / "fresh.db"
    create_demo_database(str(path), incidents=300, seed=2, anchor=ANCHOR)
    database = open_database(str(path))
    with database.session() as s:
        assert kpi_store.store_path(s).exists()
        restored = kpi_store.restore(s)
        same(restored, KpiColumns.load(s))
    database.dispose()
