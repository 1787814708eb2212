"""Today's figures read from a small database whose answers are known: the cards, the
conflicts of upcoming changes and the service-quality KPIs of the last 7 days."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.models import (
    ChangeRequest,
    ChangeWindow,
    ConfigurationItem,
    Incident,
    SlaClock,
    SlaDefinition,
    SurveyResponse,
)
from app.services.kpi import KpiColumns, KpiFilter, compute_kpis
from app.services.kpi_targets import KpiTarget, load_targets, save_target
from app.services.progress import Cancelled, Progress
from app.services.today import (
    QualityFigures,
    quality_figures,
    quality_period,
    today_figures,
    upcoming_changes,
    upcoming_changes_with_conflicts,
)
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


def test_on_call_now_follows_a_published_roster(any_db):
    from sqlalchemy import select

    from app.models import OnCallSchedule, Person, Roster, RosterShift

    sample_data.fill(any_db)
    with any_db.transaction() as s:
        sched = s.scalar(select(OnCallSchedule).where(OnCallSchedule.name == "Network on call"))
        layer = next(x for x in sched.layers if x.role == "primary")
        sam = s.scalar(select(Person).where(Person.name == "Alex Kim"))
        roster = Roster(schedule_id=sched.id, name="Nov", starts_on=NOW.date(), weeks=1,
                        status="published")  # fmt: skip
        roster.shifts = [RosterShift(layer_id=layer.id, person_id=sam.id,
                                     starts_at=NOW - dt.timedelta(hours=1),
                                     ends_at=NOW + dt.timedelta(hours=7))]  # fmt: skip
        s.add(roster)
    with any_db.session() as s:
        found = today_figures(s, NOW, zone=dt.UTC).on_call
    network = [(e.role, e.person) for e in found if e.schedule == "Network on call"]
    assert network == [("primary", "Alex Kim"), ("secondary", "Alex Kim")]


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


# Conflicts of the upcoming changes


def add_conflicting_changes(db) -> None:
    """A freeze over CHG001, and CHG002 sharing a CI with a new change at the same time."""
    with db.transaction() as s:
        ci = ConfigurationItem(name="mail-01", ci_class="server")
        s.add(ci)
        s.add(
            ChangeWindow(
                kind="blackout",
                name="Board meeting freeze",
                starts_at=NOW + dt.timedelta(hours=20),
                ends_at=NOW + dt.timedelta(hours=30),
            )
        )
        s.flush()
        chg002 = s.scalars(select(ChangeRequest).where(ChangeRequest.number == "CHG002")).one()
        chg002.cis = [ci]
        other = ChangeRequest(
            number="CHG008",
            short_description="Replace mail-01 disks",
            state="Scheduled",
            planned_start=chg002.planned_start + dt.timedelta(hours=1),
            planned_end=chg002.planned_end + dt.timedelta(hours=1),
        )
        other.cis = [ci]
        s.add(other)


def test_upcoming_changes_carry_their_conflicts(any_db):
    sample_data.fill(any_db)
    add_conflicting_changes(any_db)
    with any_db.session() as session:
        figures = today_figures(session, NOW, zone=dt.UTC)
    assert figures.changes_count == 4
    assert figures.changes_conflicting == 3
    conflicts = {c.number: c.conflicts for c in figures.changes}
    assert conflicts["CHG001"] == (
        "CHG001 is inside the blackout window 'Board meeting freeze' (24 Nov 08:00-18:00).",
    )
    assert conflicts["CHG002"] == (
        "CHG008 also changes mail-01 from 13:00 to 14:00 on 2026-11-26.",
    )
    assert conflicts["CHG008"] == (
        "CHG002 also changes mail-01 from 13:00 to 14:00 on 2026-11-26.",
    )
    assert conflicts["CHG003"] == ()


def test_conflicts_are_counted_for_changes_beyond_the_rows_shown(db):
    sample_data.fill(db)
    add_conflicting_changes(db)
    with db.session() as session:
        count, conflicting, changes = upcoming_changes_with_conflicts(session, NOW, limit=1)
        plain_count, plain = upcoming_changes(session, NOW, limit=1)
    assert (plain_count, [c.number for c in plain], plain[0].conflicts) == (4, ["CHG001"], ())
    assert (count, conflicting) == (4, 3)
    assert [c.number for c in changes] == ["CHG001"] and changes[0].conflicts
    # Without conflicts asked for, the engine does not run.
    with db.session() as session:
        assert upcoming_changes_with_conflicts(session, NOW, conflicts=False)[1] == 0


def test_no_conflicts_on_the_sample_changes(figures):
    assert figures.changes_conflicting == 0
    assert all(c.conflicts == () for c in figures.changes)


# Service quality: KPIs of the last 7 days


def _at(day: int, hour: float = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, tzinfo=dt.UTC) + dt.timedelta(hours=hour)


def add_quality_data(db) -> None:
    """KPI data in the last 7 full days (16-22 Nov) and the 7 before (9-15 Nov)."""
    numbers = iter(range(100, 200))

    def incident(opened, resolved=None, state="Closed"):
        return Incident(
            number=f"INC{next(numbers)}",
            short_description="Quality sample",
            priority=3,
            state=state if resolved else "New",
            opened_at=opened,
            resolved_at=resolved,
        )

    with db.transaction() as s:
        definition = s.scalars(
            select(SlaDefinition).where(SlaDefinition.name == "P1 resolution")
        ).one()
        # MTTR: 2 h, 4 h and 9 h this week (mean 5 h, median 4 h); 6 h the week before.
        this_week = [incident(_at(17, 10), _at(17, 10 + h)) for h in (2, 4, 9)]
        week_before = [incident(_at(10, 8), _at(10, 14))]
        # Backlog: one incident opened on the 20th is still open.
        still_open = incident(_at(20, 9))
        s.add_all([*this_week, *week_before, still_open])
        s.flush()

        def clock(inc, breached):
            return SlaClock(
                incident_id=inc.id,
                definition_id=definition.id,
                stage="breached" if breached else "achieved",
                breached=breached,
                started_at=inc.opened_at,
                stopped_at=inc.resolved_at,
            )

        # SLA attainment: 2 of 3 this week; 1 of 1 the week before.
        s.add_all(
            [clock(this_week[0], False), clock(this_week[1], False), clock(this_week[2], True)]
        )
        s.add(clock(week_before[0], False))
        # CSAT: 5, 4 and 2 this week (2 of 3); no responses the week before.
        s.add_all(
            SurveyResponse(incident_id=this_week[i].id, responded_at=_at(18, i), csat=score)
            for i, score in enumerate((5, 4, 2))
        )
        # Change success: 3 of 4 this week, 1 of 2 the week before.
        for number, (closed, code) in enumerate(
            [
                (_at(16, 3), "Successful"),
                (_at(19, 3), "Successful"),
                (_at(21, 3), "Successful"),
                (_at(22, 23), "Unsuccessful"),
                (_at(12, 3), "Successful"),
                (_at(14, 3), "Successful with issues"),
                (_at(23, 1), "Unsuccessful"),  # today: in neither week
            ]
        ):
            s.add(
                ChangeRequest(
                    number=f"CHG{500 + number}",
                    short_description="Done",
                    state="Closed",
                    close_code=code,
                    opened_at=closed - dt.timedelta(days=2),
                    closed_at=closed,
                )
            )


@pytest.fixture
def quality(any_db):
    """The service-quality figures of the sample database with a fortnight of KPI data."""
    sample_data.fill(any_db)
    add_quality_data(any_db)
    with any_db.session() as session:
        cols = KpiColumns.load(session)
        report = compute_kpis(
            cols, KpiFilter(dt.date(2026, 11, 16), dt.date(2026, 11, 22)), now=NOW
        )
        return quality_figures(cols, NOW, load_targets(session)), report


def test_quality_reads_only_its_two_weeks_and_gets_the_same_figures(any_db):
    from app.services.today import quality_columns

    sample_data.fill(any_db)
    add_quality_data(any_db)
    with any_db.session() as session:
        targets = load_targets(session)
        whole = KpiColumns.load(session)
        window = quality_columns(session, NOW)
        assert quality_figures(window, NOW, targets) == quality_figures(whole, NOW, targets)


def test_quality_covers_the_last_seven_full_utc_days(quality):
    figures, _report = quality
    assert (figures.first_day, figures.last_day) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    assert (figures.previous_first_day, figures.previous_last_day) == (
        dt.date(2026, 11, 9),
        dt.date(2026, 11, 15),
    )
    assert figures.period_text == "16–22 Nov 2026"
    assert figures.previous_text == "9–15 Nov 2026"
    assert [f.key for f in figures.figures] == [
        "mttr",
        "sla_attainment",
        "backlog",
        "csat",
        "change_success",
    ]


def test_quality_figures_are_the_kpi_service_figures(quality):
    figures, report = quality
    current, previous = report.current, report.previous
    assert figures.figure("mttr").value == current.mttr.mean / 3600
    assert figures.figure("mttr").previous == previous.mttr.mean / 3600
    assert figures.figure("sla_attainment").value == current.sla_attainment.percent
    assert figures.figure("sla_attainment").previous == previous.sla_attainment.percent
    assert figures.figure("backlog").value == current.daily.backlog[-1]
    assert figures.figure("backlog").previous == previous.daily.backlog[-1]
    assert figures.figure("csat").value == current.csat.percent
    assert figures.figure("csat").previous == previous.csat.percent
    assert figures.figure("change_success").value == current.change_success.percent
    assert figures.figure("change_success").previous == previous.change_success.percent


def test_quality_figures_as_the_card_shows_them(quality):
    figures, _report = quality
    shown = {
        f.key: (f.text, f.aside, f.detail, f.delta_text, f.trend, f.previous_text)
        for f in figures.figures
    }
    assert shown == {
        "mttr": ("5h", "median 4h", "mean of 3 resolved", "▼ 1h", "better", "6h"),
        "sla_attainment": ("66.7 %", "", "2 of 3 SLAs met", "▼ 33.3 pt", "worse", "100.0 %"),
        "backlog": ("1", "", "open at the end of 22 Nov", "▲ 1", "worse", "0"),
        "csat": ("66.7 %", "", "2 of 3 rated 4 or 5", "", "", "—"),
        "change_success": ("75.0 %", "", "3 of 4 successful", "▲ 25.0 pt", "better", "50.0 %"),
    }


def test_quality_figures_against_their_targets(quality):
    figures, _report = quality
    targets = {f.key: (f.target_text, f.meets_target, f.higher_is_better) for f in figures.figures}
    assert targets == {
        "mttr": ("target 8h", True, False),
        "sla_attainment": ("target 95 %", False, True),
        "backlog": ("", None, False),
        "csat": ("target 85 %", False, True),
        "change_success": ("target 90 %", False, True),
    }


def test_stored_targets_and_directions_come_from_the_kpi_targets(db):
    sample_data.fill(db)
    add_quality_data(db)
    with db.transaction() as session:
        save_target(session, "sla_attainment", 60.0)
        save_target(session, "csat", None)
    with db.session() as session:
        cols = KpiColumns.load(session)
        figures = quality_figures(cols, NOW, load_targets(session))
        sla, csat = figures.figure("sla_attainment"), figures.figure("csat")
        assert (sla.target_text, sla.meets_target) == ("target 60 %", True)
        assert (csat.target_text, csat.meets_target) == ("", None)
        # Without targets, each KPI keeps its natural direction and has no target.
        bare = quality_figures(cols, NOW, {})
    assert all(f.target is None and f.meets_target is None for f in bare.figures)
    assert bare.figure("mttr").trend == "better" and bare.figure("backlog").trend == "worse"
    # A target that says higher is better turns a rise into an improvement.
    upside_down = {"mttr": KpiTarget("mttr", "MTTR", "hours", 1.0, True)}
    assert quality_figures(cols, NOW, upside_down).figure("mttr").trend == "worse"


def test_empty_periods_show_a_dash_and_never_divide_by_zero(db):
    with db.session() as session:
        figures = quality_figures(KpiColumns.load(session), NOW, load_targets(session))
    for figure in figures.figures:
        if figure.key == "backlog":
            assert (figure.value, figure.text, figure.trend) == (0, "0", "same")
            continue
        assert figure.value is figure.previous is figure.delta is figure.meets_target is None
        assert (figure.text, figure.previous_text, figure.delta_text, figure.trend) == (
            "—",
            "—",
            "",
            "",
        )
    assert [f.detail for f in figures.figures] == [
        "no incidents resolved",
        "no SLAs finished",
        "open at the end of 22 Nov",
        "no survey responses",
        "no changes implemented",
    ]
    assert figures.figure("mttr").aside == ""


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        (
            dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC),
            dt.date(2026, 11, 16),
            dt.date(2026, 11, 22),
        ),
        (
            dt.datetime(2026, 11, 23, 23, 59, tzinfo=dt.UTC),
            dt.date(2026, 11, 16),
            dt.date(2026, 11, 22),
        ),
        # 00:30 in Berlin on the 24th is still the 23rd in UTC.
        (
            dt.datetime(2026, 11, 24, 0, 30, tzinfo=sample_data.BERLIN),
            dt.date(2026, 11, 16),
            dt.date(2026, 11, 22),
        ),
    ],
)
def test_the_period_is_whole_utc_days_before_today(now, first, last):
    assert quality_period(now) == (first, last)


def test_period_text_across_months_and_years():
    cases = [
        (dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC), "25 Nov – 1 Dec 2026"),
        (dt.datetime(2026, 1, 3, 12, tzinfo=dt.UTC), "27 Dec 2025 – 2 Jan 2026"),
    ]
    for now, text in cases:
        first, last = quality_period(now)
        figures = QualityFigures(now, first, last, first, last, ())
        assert figures.period_text == text
