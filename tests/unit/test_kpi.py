"""KPI service: hand-worked cases, bad input, both databases, and pandas on demo data."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import open_database
from app.models import (
    ChangeRequest,
    Incident,
    Outage,
    Service,
    SlaClock,
    SlaDefinition,
    SurveyResponse,
    Team,
)
from app.services.business_time import BusinessCalendar
from app.services.demo import create_demo_database
from app.services.kpi import KpiColumns, KpiFilter, compute_kpis
from bench.bench_kpi import load_frames, pandas_kpis, service_kpis

UTC = dt.UTC
OCTOBER = KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
NOW = dt.datetime(2026, 11, 20, tzinfo=UTC)
OFFICE = BusinessCalendar.weekly([(d, "09:00", "17:00") for d in range(5)])
ANCHOR = dt.datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


_count = iter(range(1, 10**6))


def incident(**fields: object) -> Incident:
    n = next(_count)
    fields.setdefault("state", "Closed" if fields.get("resolved_at") else "New")
    return Incident(number=f"INC{n:07d}", short_description="test", **fields)


def save(database, *rows: object) -> None:
    with database.transaction() as s:
        s.add_all(rows)


def report(database, filt: KpiFilter = OCTOBER, calendar: BusinessCalendar | None = None):
    with database.session() as s:
        return compute_kpis(KpiColumns.load(s, calendar), filt, now=NOW)


def three_incidents() -> list[Incident]:
    # Monday 5 October 15:00; resolved after 1 h, 2 h and 6 h (business: 1 h, 2 h, 2 h).
    opened = at(5, 15)
    return [
        incident(
            opened_at=opened,
            first_response_at=opened + dt.timedelta(minutes=m),
            resolved_at=opened + dt.timedelta(hours=h),
            reopen_count=r,
            reassignment_count=0,
        )
        for m, h, r in ((10, 1, 0), (20, 2, 1), (30, 6, 0))
    ]


def test_mtta_mttr_hand_worked(db):
    save(db, *three_incidents())
    kpis = report(db, calendar=OFFICE).current
    assert (kpis.mtta.count, kpis.mtta.mean, kpis.mtta.median) == (3, 1200, 1200)
    assert kpis.mtta.p90 == pytest.approx(1680)  # 20 min + 0.8 x 10 min
    assert (kpis.mttr.mean, kpis.mttr.median) == (10800, 7200)
    assert kpis.mttr.p90 == pytest.approx(18720)  # 2 h + 0.8 x 4 h
    assert kpis.mttr_business.mean == pytest.approx(6000)
    assert (kpis.mttr_business.median, kpis.mttr_business.p90) == (7200, 7200)
    assert (kpis.reopen_rate.numerator, kpis.reopen_rate.denominator) == (1, 3)
    # No first group recorded: not a first-contact resolution.
    assert kpis.fcr.percent == 0
    assert kpis.skipped["mttr"] == 0


def test_previous_period_beside(db):
    rows = three_incidents()
    rows[0].opened_at = at(20, 9, month=9)
    rows[0].first_response_at = at(20, 10, month=9)
    rows[0].resolved_at = at(20, 11, month=9)
    save(db, *rows)
    r = report(db)
    assert r.previous.start == dt.datetime(2026, 8, 31, tzinfo=UTC)
    assert (r.previous.mttr.count, r.previous.mttr.mean) == (1, 7200)
    assert r.current.mttr.count == 2


def test_fcr_needs_first_group_and_no_reassignment(db):
    with db.transaction() as s:
        a, b = Team(name="A"), Team(name="B")
        s.add_all([a, b])
        s.flush()
        for group, first, moves in ((a.id, a.id, 0), (b.id, a.id, 0), (a.id, a.id, 1)):
            s.add(
                incident(
                    opened_at=at(2),
                    resolved_at=at(3),
                    assignment_group_id=group,
                    first_group_id=first,
                    reassignment_count=moves,
                )
            )
    fcr = report(db).current.fcr
    assert (fcr.numerator, fcr.denominator) == (1, 3)


def test_bad_rows_are_skipped_and_counted(db):
    save(
        db,
        *three_incidents(),
        incident(opened_at=at(10), resolved_at=at(9), first_response_at=at(9, 12)),
    )
    kpis = report(db, calendar=OFFICE).current
    assert kpis.skipped["mttr"] == 1
    assert kpis.skipped["mttr_business"] == 1
    assert kpis.skipped["mtta"] == 1
    assert kpis.skipped["backlog"] == 1
    assert kpis.mttr.count == 3 and kpis.mttr.mean == 10800
    assert kpis.reopen_rate.denominator == 4  # the rates need no opening time


def test_backlog_day_by_day(db):
    save(
        db,
        incident(opened_at=at(20, 10, month=9), resolved_at=at(2, 12)),
        incident(opened_at=at(2, 8)),
        incident(opened_at=at(3, 10), closed_at=at(4, 9), state="Canceled"),
        incident(opened_at=at(1, 0, month=8)),
    )
    filt = KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 5))
    daily = report(db, filt).current.daily
    assert daily.days == [dt.date(2026, 10, d) for d in range(1, 6)]
    assert daily.backlog == [2, 2, 3, 2, 2]
    assert daily.aging == {
        "0-2 d": [0, 1, 2, 1, 0],
        "3-7 d": [0, 0, 0, 0, 1],
        "8-30 d": [1, 0, 0, 0, 0],
        "> 30 d": [1, 1, 1, 1, 1],
    }
    assert daily.arrivals == [0, 1, 1, 0, 0]
    assert daily.resolutions == [0, 1, 0, 0, 0]
    with db.session() as s:
        early = compute_kpis(KpiColumns.load(s), filt, now=at(3, 12)).current.daily
    assert early.days == [dt.date(2026, 10, 1), dt.date(2026, 10, 2)]  # no future days


def test_sla_attainment_split(db):
    with db.transaction() as s:
        response = SlaDefinition(name="r", target="response", duration_seconds=3600)
        resolution = SlaDefinition(name="s", target="resolution", duration_seconds=7200)
        ola = SlaDefinition(name="o", kind="OLA", target="resolution", duration_seconds=60)
        inc = incident(opened_at=at(1))
        s.add_all([response, resolution, ola, inc])
        s.flush()
        for definition, stage, stopped, breached in (
            (response, "achieved", at(2), False),
            (response, "breached", at(2), True),
            (resolution, "achieved", at(3), False),
            (resolution, "achieved", at(4), False),
            (resolution, "canceled", at(4), False),
            (resolution, "in_progress", None, False),
            (resolution, "achieved", at(4, month=9), False),
            (ola, "breached", at(4), True),
        ):
            s.add(
                SlaClock(
                    incident_id=inc.id,
                    definition_id=definition.id,
                    stage=stage,
                    started_at=at(1),
                    stopped_at=stopped,
                    breached=breached,
                )
            )
    kpis = report(db).current
    assert kpis.sla_response.percent == 50
    assert kpis.sla_resolution.percent == 100
    assert (kpis.sla_attainment.numerator, kpis.sla_attainment.denominator) == (3, 4)


def test_availability_with_outage_across_the_edge(db):
    with db.transaction() as s:
        web, mail = Service(name="Web"), Service(name="Mail")
        s.add_all([web, mail])
        s.flush()
        s.add_all(
            [
                Outage(service_id=web.id, started_at=at(30, 22, month=9), ended_at=at(1, 2)),
                Outage(service_id=web.id, started_at=at(15, 10), ended_at=at(15, 11)),
                Outage(service_id=web.id, started_at=at(2, 10, month=11), ended_at=None),
            ]
        )
    by_service = {a.service_id: a for a in report(db).current.availability}
    period = 31 * 86400
    web_kpi, mail_kpi = by_service[1], by_service[2]
    assert (web_kpi.outages, web_kpi.outage_seconds) == (2, 3 * 3600)
    assert web_kpi.availability_percent == pytest.approx(100 * (period - 10800) / period)
    assert web_kpi.mtbf_seconds == pytest.approx((period - 10800) / 2)
    assert (mail_kpi.availability_percent, mail_kpi.mtbf_seconds) == (100, None)
    november = KpiFilter(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    ongoing = {a.service_id: a for a in report(db, november).current.availability}[1]
    assert ongoing.outage_seconds == (NOW - at(2, 10, month=11)).total_seconds()


def test_change_success_and_emergency_ratio(db):
    with db.transaction() as s:
        changes = [
            ChangeRequest(number=f"CHG{i}", short_description="c", opened_at=at(1), **f)
            for i, f in enumerate(
                [
                    {"state": "Closed", "close_code": "Successful", "closed_at": at(5)},
                    {"state": "Closed", "close_code": "Successful", "closed_at": at(6)},
                    {
                        "state": "Closed",
                        "close_code": "Unsuccessful",
                        "closed_at": at(7),
                        "type": "Emergency",
                    },
                    {
                        "state": "Closed",
                        "close_code": "Successful with issues",
                        "actual_end": at(8),
                    },
                    {"state": "Canceled", "closed_at": at(9)},
                ]
            )
        ]
        s.add_all(changes)
        s.flush()
        s.add(incident(opened_at=at(10), caused_by_change_id=changes[1].id))
    kpis = report(db).current
    assert (kpis.change_success.numerator, kpis.change_success.denominator) == (1, 4)
    assert kpis.change_success.percent == 25
    assert kpis.emergency_ratio.percent == 20


def test_csat_and_nps(db):
    with db.transaction() as s:
        inc = incident(opened_at=at(1), resolved_at=at(2))
        s.add(inc)
        s.flush()
        for csat, nps in ((5, 10), (4, 9), (3, 8), (1, 3), (None, None)):
            s.add(SurveyResponse(incident_id=inc.id, responded_at=at(3), csat=csat, nps=nps))
        s.add(SurveyResponse(incident_id=inc.id, responded_at=at(3, month=9), csat=1, nps=0))
    kpis = report(db).current
    assert (kpis.csat.numerator, kpis.csat.denominator, kpis.csat.percent) == (2, 4, 50)
    assert (kpis.nps, kpis.nps_responses) == (25, 4)


def _all_empty(p) -> None:
    for d in (p.mtta, p.mttr, p.mttr_business):
        assert (d.count, d.mean, d.median, d.p90) == (0, None, None, None)
    for r in (
        p.sla_attainment,
        p.reopen_rate,
        p.fcr,
        p.change_success,
        p.emergency_ratio,
        p.csat,
    ):
        assert r.percent is None
    assert p.nps is None


def test_no_data_is_none_never_a_division_by_zero(db):
    _all_empty(report(db).current)  # an empty database
    save(db, *three_incidents())
    nothing = KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31), priorities=[])
    _all_empty(report(db, nothing).current)
    instant = at(5, 12)
    empty = report(db, KpiFilter(instant, instant)).current
    _all_empty(empty)
    assert (
        empty.daily.days == []
        and empty.availability == []
        or all(a.availability_percent is None for a in empty.availability)
    )


def test_naive_instants_are_refused():
    with pytest.raises(ValueError):
        KpiFilter(dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)).bounds()


def test_refresh_folds_in_changed_incidents(db):
    save(db, *three_incidents())
    with db.session() as s:
        cols = KpiColumns.load(s, OFFICE)
    with db.transaction() as s:
        first = s.get(Incident, 1)
        first.resolved_at = at(5, 20)
        first.updated_at = dt.datetime.now(UTC) + dt.timedelta(seconds=5)
        s.add(incident(opened_at=at(6), resolved_at=at(6, 1)))
    with db.session() as s:
        assert cols.refresh(s) >= 2
        fresh = KpiColumns.load(s, OFFICE)
    assert compute_kpis(cols, OCTOBER, now=NOW) == compute_kpis(fresh, OCTOBER, now=NOW)
    assert compute_kpis(cols, OCTOBER, now=NOW).current.mttr.count == 4


def test_refresh_reads_the_clocks_of_changed_incidents_only(any_db):
    with any_db.transaction() as s:
        resolution = SlaDefinition(name="s", target="resolution", duration_seconds=7200)
        quiet, busy = incident(opened_at=at(1)), incident(opened_at=at(2))
        s.add_all([resolution, quiet, busy])
        s.flush()
        for inc in (quiet, busy):
            s.add(SlaClock(incident_id=inc.id, definition_id=resolution.id, stage="achieved",
                           started_at=at(1), stopped_at=at(3), breached=False))  # fmt: skip
        busy_id = busy.id
    with any_db.session() as s:
        cols = KpiColumns.load(s, OFFICE)
    assert compute_kpis(cols, OCTOBER, now=NOW).current.sla_attainment.percent == 100
    with any_db.transaction() as s:
        s.add(SlaClock(incident_id=busy_id, definition_id=1, stage="breached", started_at=at(2),
                       stopped_at=at(4), breached=True))  # fmt: skip
        changed = s.get(Incident, busy_id)
        changed.resolved_at = at(4)
        changed.updated_at = dt.datetime.now(UTC) + dt.timedelta(seconds=5)
    with any_db.session() as s:
        assert cols.refresh(s) >= 1
        fresh = KpiColumns.load(s, OFFICE)
    assert compute_kpis(cols, OCTOBER, now=NOW) == compute_kpis(fresh, OCTOBER, now=NOW)
    assert compute_kpis(cols, OCTOBER, now=NOW).current.sla_attainment.denominator == 3


def test_same_figures_on_sqlite_and_postgresql(any_db):
    with any_db.transaction() as s:
        web = Service(name="Web")
        s.add(web)
        s.flush()
        for row in three_incidents():
            row.service_id = web.id
            s.add(row)
        s.add(Outage(service_id=web.id, started_at=at(30, 22, month=9), ended_at=at(1, 2)))
        s.add(ChangeRequest(number="CHG1", short_description="c", opened_at=at(1),
                            state="Closed", close_code="Successful", closed_at=at(2), service_id=web.id))  # fmt: skip
    kpis = report(any_db, KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31), [1]), OFFICE)
    c = kpis.current
    assert (c.mttr.mean, c.mttr_business.mean, c.mtta.mean) == (10800, 6000, 1200)
    assert c.availability[0].outage_seconds == 7200
    assert c.change_success.percent == 100
    assert c.daily.arrivals[4] == 3


# ---------------------------------------------------------------- pandas on demo data


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("kpi") / "demo.db"
    create_demo_database(str(path), incidents=3000, seed=11, anchor=ANCHOR)
    database = open_database(str(path))
    with database.session() as s:
        cols = KpiColumns.load(s)
    database.dispose()
    return cols, load_frames(str(path))


def _same(ours: object, theirs: object, where: str) -> None:
    if isinstance(ours, dict):
        assert isinstance(theirs, dict) and set(ours) == set(theirs), where
        for key in ours:
            _same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, list | tuple):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif ours is None or theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
        assert ours is None and (theirs is None or math.isnan(theirs)), where
    else:
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-6), where


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.data(),
    start_day=st.integers(0, 700),
    length=st.sampled_from([1, 7, 30, 31, 90, 365]),
)
def test_every_kpi_matches_pandas_on_demo_data(demo, data, start_day, length):
    cols, frames = demo
    inc = frames["incident"]

    def some(column: str) -> list[int] | None:
        values = sorted(int(v) for v in pd.unique(inc[column].dropna()))
        return data.draw(st.none() | st.lists(st.sampled_from(values), max_size=4, unique=True))

    start = (ANCHOR - dt.timedelta(days=720)).date() + dt.timedelta(days=start_day)
    filt = KpiFilter(
        start,
        start + dt.timedelta(days=length - 1),
        service_ids=some("service_id"),
        group_ids=some("assignment_group_id"),
        vendor_ids=some("vendor_id"),
        priorities=some("priority"),
    )
    got = compute_kpis(cols, filt, now=ANCHOR)
    _same(
        service_kpis(got.current),
        pandas_kpis(frames, filt, ANCHOR, cols.calendar),
        "current",
    )
    _same(
        service_kpis(got.previous),
        pandas_kpis(frames, filt, ANCHOR, cols.calendar, previous=True),
        "previous",
    )


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("kpi-window") / "demo.db"
    create_demo_database(str(path), incidents=3000, seed=12, anchor=ANCHOR)
    return path


@pytest.mark.parametrize("days", [7, 14])
def test_a_window_load_gives_the_same_figures_for_periods_inside_it(demo_path, days):
    database = open_database(str(demo_path))
    end_day = ANCHOR.date() - dt.timedelta(days=1)
    first = end_day - dt.timedelta(days=days - 1)
    filt = KpiFilter(first, end_day)
    lo = dt.datetime.combine(first - dt.timedelta(days=days), dt.time(), UTC)
    hi = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time(), UTC)
    with database.session() as s:
        whole = KpiColumns.load(s)
        window = KpiColumns.load_window(s, lo, hi)
    assert window.incidents["id"].size < whole.incidents["id"].size
    assert compute_kpis(window, filt, now=ANCHOR) == compute_kpis(whole, filt, now=ANCHOR)


def test_a_window_load_works_on_both_databases(any_db):
    save(any_db, *three_incidents())
    with any_db.session() as s:
        whole = KpiColumns.load(s, OFFICE)
        window = KpiColumns.load_window(s, at(1), at(31) + dt.timedelta(days=1), OFFICE)
    assert compute_kpis(window, OCTOBER, now=NOW) == compute_kpis(whole, OCTOBER, now=NOW)
