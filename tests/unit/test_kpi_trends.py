"""Dashboard series and drill-downs: they agree with the headline KPIs and with SQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.db import open_database
from app.models import Incident, Outage, SlaClock, SlaDefinition
from app.services import incident_query as q
from app.services.demo import create_demo_database
from app.services.kpi import AGING_BUCKETS, KpiColumns, KpiFilter
from app.services.kpi_trends import buckets_for, compute_dashboard, drill_ids

UTC = dt.UTC
ANCHOR = dt.datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = 86_400


def epoch(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("trends") / "demo.db"
    create_demo_database(str(path), incidents=3000, seed=5, anchor=ANCHOR)
    db = open_database(str(path))
    with db.session() as session:
        cols = KpiColumns.load(session)
    return db, cols


# Buckets


def test_a_year_is_cut_into_calendar_months_clipped_to_the_period():
    b = buckets_for(epoch(dt.date(2025, 12, 15)), epoch(dt.date(2026, 11, 24)))
    assert b.kind == "month"
    assert len(b) == 12
    assert b.labels()[0] == "Dec 2025" and b.labels()[-1] == "Nov 2026"
    assert b.edges[0] == epoch(dt.date(2025, 12, 15))
    assert b.edges[1] == epoch(dt.date(2026, 1, 1))
    assert b.edges[-1] == epoch(dt.date(2026, 11, 24))
    assert b.describe(1) == "January 2026"


def test_a_month_is_cut_into_iso_weeks_and_a_week_into_days():
    weeks = buckets_for(epoch(dt.date(2026, 10, 1)), epoch(dt.date(2026, 11, 1)))
    assert weeks.kind == "week"
    # 1 Oct 2026 is a Thursday: the first week is clipped, then Mondays.
    assert weeks.edges[1] == epoch(dt.date(2026, 10, 5))
    assert all((e - weeks.edges[1]) % (7 * DAY) == 0 for e in weeks.edges[1:-1])
    assert weeks.labels()[1] == "W41 2026"
    days = buckets_for(epoch(dt.date(2026, 10, 1)), epoch(dt.date(2026, 10, 8)))
    assert days.kind == "day" and len(days) == 7
    assert days.labels()[0] == "1 Oct"


def test_an_empty_period_has_no_buckets():
    assert len(buckets_for(100, 100)) == 0
    assert buckets_for(100, 100).labels() == []


def test_bucket_index_leaves_out_missing_and_outside_values():
    b = buckets_for(epoch(dt.date(2026, 10, 1)), epoch(dt.date(2026, 10, 4)))
    values = np.array([epoch(dt.date(2026, 9, 30)), epoch(dt.date(2026, 10, 2)) + 5, -(2**62)])
    assert b.index(values).tolist() == [-1, 1, -1]


# Series agree with the headline report


FILTERS = [
    KpiFilter(dt.date(2025, 12, 1), dt.date(2026, 11, 22)),
    KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
    KpiFilter(dt.date(2026, 11, 10), dt.date(2026, 11, 16), priorities=[2, 3]),
]


@pytest.mark.parametrize("filt", FILTERS, ids=["year", "month", "week-p2p3"])
def test_series_add_up_to_the_headline_figures(demo, filt):
    _, cols = demo
    dash = compute_dashboard(cols, filt, now=NOW)
    cur = dash.report.current
    assert sum(sum(c) for c in dash.mttr_counts.values()) == cur.mttr.count
    total_hours = sum(
        h * c
        for p in dash.mttr_hours
        for h, c in zip(dash.mttr_hours[p], dash.mttr_counts[p], strict=True)
        if h is not None
    )
    if cur.mttr.count:
        assert total_hours / cur.mttr.count == pytest.approx(cur.mttr.mean / 3600)
    assert sum(dash.arrivals) == sum(cur.daily.arrivals) or filt.end > NOW.date()
    assert sum(g.rate.denominator for g in dash.sla_by_group) == cur.sla_attainment.denominator
    assert sum(g.rate.numerator for g in dash.sla_by_group) == cur.sla_attainment.numerator
    assert sum(r.denominator for r in dash.change_success) == cur.change_success.denominator
    assert sum(r.numerator for r in dash.change_success) == cur.change_success.numerator
    assert sum(r.denominator for r in dash.csat) == cur.csat.denominator
    percents = [g.rate.percent for g in dash.sla_by_group]
    assert percents == sorted(percents)


def test_a_filter_matching_nothing_gives_empty_series_not_errors(demo):
    _, cols = demo
    dash = compute_dashboard(cols, KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31),
                                             group_ids=[99_999]), now=NOW)  # fmt: skip
    assert all(v is None for p in dash.mttr_hours for v in dash.mttr_hours[p])
    assert dash.sla_by_group == []
    assert sum(dash.arrivals) == 0
    assert all(r.percent is None for r in dash.csat)


def test_an_empty_period_gives_no_buckets(demo):
    _, cols = demo
    day = dt.datetime(2026, 10, 1, tzinfo=UTC)
    dash = compute_dashboard(cols, KpiFilter(day, day), now=NOW)
    assert len(dash.buckets) == 0 and dash.arrivals == []


# Drill-downs: exactly the incidents behind the figure


def test_drill_ids_count_what_each_chart_shows(demo):
    db, cols = demo
    filt = FILTERS[1]
    dash = compute_dashboard(cols, filt, now=NOW)
    for i in range(len(dash.buckets)):
        for p in (1, 2, 3, 4, 5):
            ids = drill_ids(cols, filt, "mttr", (i, p), now=NOW)
            assert ids.size == dash.mttr_counts[p][i]
        assert drill_ids(cols, filt, "arrivals", i, now=NOW).size == dash.arrivals[i]
        assert drill_ids(cols, filt, "resolutions", i, now=NOW).size == dash.resolutions[i]
    daily = dash.report.current.daily
    for d in (0, 10, len(daily.days) - 1):
        assert drill_ids(cols, filt, "backlog", (d, None), now=NOW).size == daily.backlog[d]
        for band in AGING_BUCKETS:
            ids = drill_ids(cols, filt, "backlog", (d, band), now=NOW)
            assert ids.size == daily.aging[band][d]


def test_drill_ids_match_sql(demo):
    db, cols = demo
    filt = FILTERS[1]
    lo = dt.datetime(2026, 10, 1, tzinfo=UTC)
    hi = dt.datetime(2026, 11, 1, tzinfo=UTC)
    dash = compute_dashboard(cols, filt, now=NOW)
    with db.session() as session:
        group = dash.sla_by_group[0].group_id
        want = set(
            session.scalars(
                select(Incident.id)
                .join(SlaClock, SlaClock.incident_id == Incident.id)
                .join(SlaDefinition, SlaDefinition.id == SlaClock.definition_id)
                .where(
                    Incident.assignment_group_id == group,
                    SlaDefinition.kind == "SLA",
                    SlaClock.stage.in_(["achieved", "breached"]),
                    SlaClock.stopped_at >= lo,
                    SlaClock.stopped_at < hi,
                )
            )
        )
        assert set(drill_ids(cols, filt, "sla_group", group, now=NOW).tolist()) == want
        year = FILTERS[0]
        lo = dt.datetime(2025, 12, 1, tzinfo=UTC)
        hi = dt.datetime(2026, 11, 23, tzinfo=UTC)
        whole = compute_dashboard(cols, year, now=NOW).report.current.availability
        service = next(a.service_id for a in whole if a.outages)
        outages = set(
            session.scalars(
                select(Outage.incident_id).where(
                    Outage.service_id == service,
                    Outage.started_at < hi,
                    func.coalesce(Outage.ended_at, NOW) > lo,
                    Outage.incident_id.is_not(None),
                )
            )
        )
        assert outages
        assert set(drill_ids(cols, year, "availability", service, now=NOW).tolist()) == outages
        month = len(dash.buckets) - 1
        caused = drill_ids(cols, filt, "change_success", month, now=NOW)
        for iid in caused.tolist():
            assert session.get(Incident, iid).caused_by_change_id is not None


def test_unknown_chart_or_bucket_is_a_clear_error(demo):
    _, cols = demo
    with pytest.raises(ValueError, match="unknown chart"):
        drill_ids(cols, FILTERS[1], "pie", 0)
    with pytest.raises(ValueError, match="no bucket"):
        drill_ids(cols, FILTERS[1], "arrivals", 99)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    day=st.integers(0, 300),
    length=st.integers(1, 60),
    priorities=st.one_of(st.none(), st.lists(st.integers(1, 5), min_size=1, max_size=3)),
    chart=st.sampled_from(["arrivals", "resolutions"]),
)
def test_the_queue_shows_exactly_the_drilled_incidents(demo, day, length, priorities, chart):
    db, cols = demo
    start = dt.date(2025, 12, 1) + dt.timedelta(days=day)
    filt = KpiFilter(start, start + dt.timedelta(days=length - 1), priorities=priorities)
    ids = drill_ids(cols, filt, chart, 0, now=NOW)
    with db.session() as session:
        if ids.size:  # (an empty id list is no filter; the dashboard never sends one)
            queue = q.IncidentFilter(ids=ids.tolist(), ids_label="drill")
            assert q.count(session, queue) == ids.size
        column = Incident.opened_at if chart == "arrivals" else Incident.resolved_at
        lo, hi = filt.bounds()
        edge = buckets_for(lo, hi).edges[1]
        stmt = select(func.count()).where(
            column >= dt.datetime.fromtimestamp(lo, UTC),
            column < dt.datetime.fromtimestamp(edge, UTC),
        )
        if priorities:
            stmt = stmt.where(Incident.priority.in_(priorities))
        assert session.scalar(stmt.select_from(Incident)) == ids.size


def test_the_id_filter_works_on_both_databases(any_db):
    from tests.sample_data import fill

    fill(any_db)
    with any_db.session() as session:
        every = session.scalars(select(Incident.id).order_by(Incident.id)).all()
        chosen = every[::2]
        filt = q.IncidentFilter(ids=chosen, ids_label="every other one")
        assert q.count(session, filt) == len(chosen)
        rows = q.fetch_window(session, filt, total=len(chosen))
        assert {r.id for r in rows} == set(chosen)
        assert q.IncidentFilter.from_dict(filt.to_dict()) == filt
