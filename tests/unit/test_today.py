"""Today's figures read from a small database whose answers are known."""

from __future__ import annotations

import datetime as dt

import pytest

from app.models import SlaClock, SlaDefinition
from app.services.progress import Cancelled, Progress
from app.services.today import today_figures
from tests import sample_data
from tests.sample_data import NOW


@pytest.fixture
def figures(any_db):
    """Today's figures of the sample database, on SQLite and on PostgreSQL."""
    sample_data.fill(any_db)
    with any_db.session() as session:
        return today_figures(session, NOW, zone=dt.UTC)


def test_open_incidents_are_counted_per_priority(figures):
    assert {p.priority: p.count for p in figures.open_by_priority} == sample_data.OPEN_BY_PRIORITY
    assert [p.name for p in figures.open_by_priority] == [
        "Critical",
        "High",
        "Moderate",
        "Low",
        "Planning",
    ]
    assert figures.open_total == 9


def test_sla_clocks_at_risk_and_breached(figures):
    assert figures.sla.at_risk == sample_data.AT_RISK
    assert figures.sla.breached == sample_data.BREACHED
    assert [(c.number, c.definition) for c in figures.sla.soonest] == [
        ("INC001", "P1 resolution"),
        ("INC003", "P2 resolution"),
    ]
    assert figures.sla.soonest[0].due_at == NOW + dt.timedelta(minutes=30)


def test_a_clock_at_exactly_three_quarters_is_at_risk_and_one_second_less_is_not(db):
    sample_data.fill(db)
    with db.transaction() as s:
        clock = (
            s.query(SlaClock)
            .join(SlaDefinition)
            .filter(
                SlaDefinition.name == "P2 resolution",
                SlaClock.stage == "in_progress",
                SlaClock.business_elapsed_seconds == 3600,
            )
            .one()
        )
        clock.due_at = NOW + dt.timedelta(hours=2)  # a quarter of 8 hours left
    with db.session() as s:
        assert today_figures(s, NOW).sla.at_risk == 3
        assert today_figures(s, NOW - dt.timedelta(seconds=1)).sla.at_risk == 2


def test_major_incidents_in_progress_with_their_latest_update(figures):
    majors = {m.number: m for m in figures.majors}
    assert list(majors) == ["INC001", "INC008"]
    latest = majors["INC001"].latest_update
    assert latest is not None
    assert (latest.status, latest.text) == ("identified", "Failover to the second site started")
    assert latest.at == NOW - dt.timedelta(minutes=20)
    assert majors["INC008"].latest_update is None
    assert majors["INC008"].major_status == "identified"


def test_changes_planned_in_the_next_seven_days(figures):
    assert figures.changes_count == 3
    assert [c.number for c in figures.changes] == ["CHG001", "CHG002", "CHG003"]
    first = figures.changes[0]
    assert (first.short_description, first.risk, first.state) == (
        "Patch core switches",
        "High",
        "Scheduled",
    )
    assert first.planned_start == NOW + dt.timedelta(days=1)


def test_who_is_on_call_now_per_schedule(figures):
    assert [
        (e.schedule, e.team, e.role, e.person, e.layer, e.override) for e in figures.on_call
    ] == [
        ("Database on call", "Database", "primary", "Dana Ortiz", None, True),
        ("Network on call", "Network", "primary", "Eli Park", "Business hours", False),
        ("Network on call", "Network", "secondary", "Alex Kim", "Secondary", False),
    ]


def test_vendors_whose_latest_scorecard_is_red(figures):
    assert [(v.name, v.period, v.total) for v in figures.red_vendors] == [
        ("Umbrella Corp", "2026-10", 55.0),
        ("Acme Hosting", "2026-Q3", 62.5),
    ]


def test_contracts_ending_within_sixty_days(figures):
    assert figures.contracts_count == 3
    rows = [(c.reference, c.vendor, c.days_left, c.auto_renew) for c in figures.contracts]
    assert rows == [
        ("C-TODAY", "Initech", 0, False),
        ("C-38", "Acme Hosting", 38, True),
        ("C-60", "Globex Networks", 60, False),
    ]
    assert figures.contracts[2].notice_by == NOW.date() + dt.timedelta(days=30)


def test_an_empty_database_has_empty_figures(db):
    with db.session() as session:
        figures = today_figures(session, NOW)
    assert figures.open_total == 0
    assert (figures.sla.at_risk, figures.sla.breached) == (0, 0)
    assert figures.majors == figures.changes == figures.on_call == figures.red_vendors == ()
    assert figures.changes_count == figures.contracts_count == 0


def test_progress_is_reported_and_cancel_stops_the_work(db):
    seen = []
    with db.session() as session:
        today_figures(session, NOW, progress=Progress(lambda d, t, label: seen.append((d, t))))
        assert seen[0] == (0, 7) and seen[-1] == (7, 7)
        progress = Progress()
        progress.cancel()
        with pytest.raises(Cancelled):
            today_figures(session, NOW, progress=progress)
