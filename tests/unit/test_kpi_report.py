"""The executive KPI report: sheets, charts, the figures of compute_kpis, whole files only."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from app.db import open_database
from app.models import Incident, Team
from app.services import kpi_report as kr
from app.services.demo import create_demo_database
from app.services.kpi import KpiColumns, KpiFilter, compute_kpis
from app.services.kpi_report import (
    ReportFilters,
    parse_period,
    parse_priority,
    resolve_filters,
    write_executive_report,
)
from app.services.progress import Cancelled, Progress

NOW = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("kpi_report") / "demo.db"
    create_demo_database(str(path), incidents=1500, seed=3, anchor=NOW)
    database = open_database(str(path))
    with database.session() as s:
        cols = KpiColumns.load(s)
    yield database, cols
    database.dispose()


def summary_rows(ws) -> dict[str, tuple]:
    rows = {}
    for row in ws.iter_rows(min_row=8, values_only=True):
        if row[0] is None:
            break
        rows[row[0]] = row
    return rows


def test_monthly_report_has_every_sheet_a_chart_and_the_kpis(demo, tmp_path):
    database, cols = demo
    out = tmp_path / "october.xlsx"
    with database.session() as s:
        summary = write_executive_report(cols, s, "2026-10", out, now=NOW)
    assert summary.period == "2026-10" and summary.path == out
    wb = load_workbook(out)
    assert wb.sheetnames == list(kr.SHEETS)
    for name in kr.SHEETS[1:]:
        assert wb[name]._charts, name
    expected = compute_kpis(cols, KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
                            now=NOW).current  # fmt: skip
    ws = wb["Summary"]
    assert ws.freeze_panes == "B8" and ws["A7"].font.b
    assert "October 2026" in ws["B2"].value and ws["B3"].value.startswith("none")
    rows = summary_rows(ws)
    assert rows["MTTA"][1] == pytest.approx(expected.mtta.mean / 3600)
    assert rows["MTTR (mean)"][1] == pytest.approx(expected.mttr.mean / 3600)
    assert rows["MTTR (90th percentile)"][1] == pytest.approx(expected.mttr.p90 / 3600)
    assert rows["MTTR business hours (mean)"][1] == pytest.approx(
        expected.mttr_business.mean / 3600
    )
    assert rows["SLA attainment"][1] == pytest.approx(expected.sla_attainment.percent / 100)
    assert rows["Reopen rate"][1] == pytest.approx(expected.reopen_rate.percent / 100)
    assert rows["First contact resolution"][1] == pytest.approx(expected.fcr.percent / 100)
    assert rows["Change success rate"][1] == pytest.approx(expected.change_success.percent / 100)
    assert rows["CSAT"][1] == pytest.approx(expected.csat.percent / 100)
    assert rows["NPS"][1] == pytest.approx(expected.nps)
    assert rows["Arrivals"][1] == sum(expected.daily.arrivals)
    assert rows["Backlog at period end"][1] == expected.daily.backlog[-1]
    # Status with a symbol, a fill, the target and the number formats.
    mtta = rows["MTTA"]
    assert mtta[3] == 0.5 and mtta[4] in (kr.MET, kr.MISSED)
    row = next(r for r in range(8, 30) if ws.cell(r, 1).value == "SLA attainment")
    assert ws.cell(row, 2).number_format == "0.0%" and ws.cell(row, 5).fill.fgColor.rgb.endswith(
        "C6EFCE" if ws.cell(row, 5).value == kr.MET else "F4B084"
    )
    assert ws.cell(8, 2).number_format == "0.00"
    # Previous = September, the month before.
    september = compute_kpis(cols, KpiFilter(dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
                             now=NOW).current  # fmt: skip
    assert rows["MTTA"][5] == pytest.approx(september.mtta.mean / 3600)
    # The trends: 12 months ending with October; the daily sheets: October's days.
    mttr = wb["MTTR"]
    labels = [mttr.cell(r, 1).value for r in range(6, 18)]
    assert labels[0] == "2025-11" and labels[-1] == "2026-10" and mttr.cell(18, 1).value is None
    assert mttr.cell(17, 3).value == expected.mttr.count
    backlog = wb["Backlog"]
    assert backlog.cell(6, 1).value == dt.datetime(2026, 10, 1)
    assert backlog.cell(36, 2).value == expected.daily.backlog[-1]
    chart = wb["Arrivals vs resolutions"]._charts[0]
    assert chart.x_axis.title is not None and chart.y_axis.title is not None
    names = {wb["Availability"].cell(r, 1).value for r in range(6, 6 + len(expected.availability))}
    assert len(names) == len(expected.availability) and None not in names


def test_weekly_report_and_filters(demo, tmp_path):
    database, cols = demo
    out = tmp_path / "week.xlsx"
    with database.session() as s:
        filters = resolve_filters(s, priorities=["P3", "4"])
        summary = write_executive_report(cols, s, "2026-W44", out, filters, now=NOW)
    assert filters.priorities == (3, 4) and filters.group_ids is None
    start = dt.date.fromisocalendar(2026, 44, 1)
    expected = compute_kpis(
        cols,
        KpiFilter(start, start + dt.timedelta(days=6), priorities=[3, 4]),
        now=NOW,
    ).current  # fmt: skip
    wb = load_workbook(out)
    rows = summary_rows(wb["Summary"])
    assert rows["Arrivals"][1] == sum(expected.daily.arrivals) > 0
    assert rows["MTTR (mean)"][1] == pytest.approx(expected.mttr.mean / 3600)
    assert "priority: P3, P4" in wb["Summary"]["B3"].value
    mtta = wb["MTTA"]
    assert mtta.cell(6, 1).value == "2026-W33" and mtta.cell(17, 1).value == "2026-W44"
    assert wb["Backlog"].cell(12, 1).value == dt.datetime(2026, 11, 1)
    assert [r.label for r in summary.rows][:2] == ["MTTA", "MTTR (mean)"]


def test_a_period_without_data_writes_notes(demo, tmp_path):
    database, cols = demo
    out = tmp_path / "empty.xlsx"
    with database.session() as s:
        write_executive_report(cols, s, "2019-02", out, now=NOW)
        write_executive_report(None, s, "2030-W01", tmp_path / "future.xlsx", now=NOW)
    wb = load_workbook(out)
    assert summary_rows(wb["Summary"])["MTTA"][4] == "no data"
    assert wb["MTTR"]["A3"].value.startswith("No data for 2019-02")
    future = load_workbook(tmp_path / "future.xlsx")
    assert future["Backlog"]["A3"].value.startswith("No data for 2030-W01")
    assert not future["Backlog"]._charts


def test_bad_rows_are_listed_on_the_summary(db, tmp_path):
    opened = dt.datetime(2026, 10, 5, 10, tzinfo=dt.UTC)
    with db.transaction() as s:
        s.add(
            Incident(
                number="INC1",
                short_description="clock skew",
                priority=3,
                state="New",
                opened_at=opened,
                first_response_at=opened - dt.timedelta(hours=1),
            )
        )
    with db.session() as s:
        summary = write_executive_report(None, s, "2026-10", tmp_path / "r.xlsx", now=NOW)
    assert summary.skipped["mtta"] == 1
    ws = load_workbook(tmp_path / "r.xlsx")["Summary"]
    listed = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0] in kr.SKIPPED_MEANING}
    assert listed["mtta"] == 1 and listed["mttr"] == 0


def test_cancel_or_failure_leaves_no_file_and_keeps_the_old_one(demo, tmp_path, monkeypatch):
    database, cols = demo
    out = tmp_path / "r.xlsx"
    out.write_bytes(b"old")
    progress = Progress()

    def cancel_midway(done, total, label):
        if label.startswith("Writing CSAT"):
            progress.cancel()

    progress = Progress(cancel_midway)
    with database.session() as s, pytest.raises(Cancelled):
        write_executive_report(cols, s, "2026-10", out, now=NOW, progress=progress)
    assert out.read_bytes() == b"old"

    def broken_save(self, path):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Workbook, "save", broken_save)
    with database.session() as s, pytest.raises(OSError):
        write_executive_report(cols, s, "2026-10", tmp_path / "new.xlsx", now=NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xlsx"]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("2026-10", "2026-10-01", "2026-10-31"), ("2026-12", "2026-12-01", "2026-12-31"),
     ("2024-02", "2024-02-01", "2024-02-29"), ("2026-W44", "2026-10-26", "2026-11-01"),
     ("2026-w53", "2026-12-28", "2027-01-03"), ("2027-W01", "2027-01-04", "2027-01-10")],
)  # fmt: skip
def test_periods(text, start, end):
    period = parse_period(text)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)
    assert period.shifted(-1).shifted(1) == period
    assert parse_period(period.label) == period


def test_trend_periods_cross_years():
    assert parse_period("2026-02").shifted(-11).label == "2025-03"
    assert parse_period("2027-W02").shifted(-11).label == "2026-W44"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2025-W53", "2026-W00", "2026", "Oct",
                                  "2026-10-01", "2026-W5", ""])  # fmt: skip
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_period(text)


def test_names_and_priorities(db):
    with db.transaction() as s:
        s.add(Team(name="Network"))
    with db.session() as s:
        network = s.scalar(select(Team.id).where(Team.name == "Network"))
        assert resolve_filters(s, groups=["NETWORK", "Network"]).group_ids == (network,)
        assert resolve_filters(s) == ReportFilters()
        with pytest.raises(ValueError, match="unknown group 'Nope'"):
            resolve_filters(s, groups=["Nope"])
        with pytest.raises(ValueError, match="unknown service 'Mail'"):
            resolve_filters(s, services=["Mail"])
    assert [parse_priority(p) for p in ("1", "p2", "P5 ")] == [1, 2, 5]
    for bad in ("0", "6", "P", "high"):
        with pytest.raises(ValueError, match="1-5 or P1-P5"):
            parse_priority(bad)
