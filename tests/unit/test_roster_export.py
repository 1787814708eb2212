"""Roster exports: calendars that read back as the same shifts, the workbook, the command."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar
from openpyxl import load_workbook

from app.cli import main
from app.models import Country, Person, Roster, RosterShift, ScheduleOverride
from app.services.roster_export import export_roster, fairness, load_period
from app.services.roster_templates import create_schedule

UTC = dt.UTC
MONDAY = dt.date(2026, 11, 2)
NOW = dt.datetime(2026, 11, 1, 12, tzinfo=UTC)


def at(day, hour):
    return dt.datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def filled(db):
    with db.transaction() as s:
        s.add(Country(code="GB", name="United Kingdom", timezone="Europe/London"))
        s.flush()
        s.add_all([Person(name=n, country_code="GB") for n in ("Ann", "Bob", "=Cy")])
        s.flush()
        sched = create_schedule(s, "weekly", "Ops on call", [1, 2, 3], MONDAY, handoff="09:00")
        s.add(
            ScheduleOverride(
                schedule_id=sched.id, person_id=3, starts_at=at(3, 18), ends_at=at(4, 6),
                reason="Swap",
            )
        )  # fmt: skip
    return db


def read(path):
    cal = Calendar.from_ical(path.read_bytes())
    return [
        (str(e["uid"]), e.decoded("dtstart"), e.decoded("dtend"), int(e["sequence"]))
        for e in cal.walk("VEVENT")
    ]


def test_calendars_read_back_as_the_shifts(filled, tmp_path):
    with filled.session() as s:
        summary = export_roster(s, "Ops on call", MONDAY, 2, tmp_path / "ics", now=NOW)
        period = load_period(s, "Ops on call", MONDAY, 2)
    assert summary.shifts == len(period.shifts) == 4
    names = sorted(p.name for p in summary.calendars)
    assert names == ["ann-1.ics", "bob-2.ics", "cy-3.ics", "ops-on-call-team.ics"]
    ann = read(tmp_path / "ics" / "ann-1.ics")
    # Ann's week is cut by Cy's override: 09:00 Mon - 18:00 Tue and 06:00 Wed - 09:00 Mon.
    assert [(a, b) for _, a, b, _ in ann] == [(at(2, 9), at(3, 18)), (at(4, 6), at(9, 9))]
    assert ann[0][0] == "oncall-1-1-20261102T090000Z@servicedeck"
    assert [seq for *_, seq in ann] == [1, 1]  # cut by an override (version 1)
    cy = read(tmp_path / "ics" / "cy-3.ics")
    assert [(a, b, seq) for _, a, b, seq in cy] == [(at(3, 18), at(4, 6), 0)]
    team = read(tmp_path / "ics" / "ops-on-call-team.ics")
    expected = sorted((sh.start, sh.end) for sh in period.shifts)
    assert sorted((a, b) for _, a, b, _ in team) == expected
    # Another export of a later window keeps the UIDs of the shifts they share.
    with filled.session() as s:
        export_roster(s, "Ops on call", MONDAY + dt.timedelta(days=7), 1, tmp_path / "b", now=NOW)
    again = read(tmp_path / "b" / "ops-on-call-team.ics")
    assert {uid for uid, *_ in again} & {uid for uid, *_ in team}


def test_roster_rows_win_over_the_layers_and_sequence_follows_their_version(filled, tmp_path):
    with filled.transaction() as s:
        roster = Roster(schedule_id=1, name="Nov", starts_on=MONDAY, weeks=1, status="published")
        roster.shifts = [
            RosterShift(layer_id=1, person_id=2, starts_at=at(2, 9), ends_at=at(3, 9)),
            RosterShift(layer_id=1, person_id=1, starts_at=at(5, 9), ends_at=at(6, 9)),
        ]
        s.add(roster)
    with filled.transaction() as s:
        shift = s.get(RosterShift, 2)
        shift.ends_at = at(6, 12)
    with filled.session() as s:
        export_roster(s, "Ops on call", MONDAY, 1, tmp_path, now=NOW)
    bob = read(tmp_path / "bob-2.ics")
    ann = read(tmp_path / "ann-1.ics")
    assert [(a, b, seq) for _, a, b, seq in bob] == [(at(2, 9), at(3, 9), 0)]
    assert [(a, b, seq) for _, a, b, seq in ann] == [(at(5, 9), at(6, 12), 1)]


def test_the_workbook_holds_the_grid_fairness_and_shifts(filled, tmp_path):
    out = tmp_path / "roster.xlsx"
    with filled.session() as s:
        export_roster(s, "Ops on call", MONDAY, 2, tmp_path / "ics", out, now=NOW)
        period = load_period(s, "Ops on call", MONDAY, 2)
    wb = load_workbook(out)
    assert wb.sheetnames == ["Roster", "Fairness", "Shifts"]
    ws = wb["Roster"]
    assert ws.freeze_panes == "C3"
    assert ws["C2"].value == dt.datetime(2026, 11, 2)
    people = {ws.cell(r, 1).value: r for r in range(3, 6)}
    assert set(people) == {"Ann", "Bob", "=Cy"}
    assert ws.cell(people["=Cy"], 1).data_type == "s"  # text, never a formula
    ann, cy = people["Ann"], people["=Cy"]
    assert ws.cell(ann, 3).value == "W"  # Monday 2 November
    assert ws.cell(cy, 4).value == "W*" and ws.cell(cy, 5).value == "W*"  # the override
    assert ws.cell(people["Bob"], 10).value == "W"  # the second week
    assert ws.cell(ann, 3).fill.start_color.rgb.endswith("BDD7EE")
    assert ws.cell(people["Bob"], 8).fill.start_color.rgb.endswith("E7E6E6")  # a Saturday, empty
    legend = [ws.cell(r, 2).value for r in range(1, ws.max_row + 1)]
    assert any(v and v.startswith("Weekly (primary)") for v in legend)
    fair = wb["Fairness"]
    rows = {fair.cell(r, 1).value: r for r in range(2, fair.max_row + 1)}
    hours = {f.name: f.hours for f in fairness(period)}
    assert fair.cell(rows["Ann"], 3).value == hours["Ann"]
    assert fair.cell(rows["Team mean"], 3).value == pytest.approx(sum(hours.values()) / 3, 0.01)
    shifts = wb["Shifts"]
    assert shifts.max_row == len(period.shifts) + 1
    assert isinstance(shifts["E2"].value, dt.datetime)


def test_fairness_counts_nights_weekends_and_holidays(filled):
    with filled.session() as s:
        period = load_period(s, "Ops on call", dt.date(2026, 12, 21), 1)
    rows = {f.name: f for f in fairness(period)}
    on = [f for f in rows.values() if f.hours]
    assert len(on) == 2  # the week's person, and the next from Monday 09:00 (GMT = UTC)
    week = max(on, key=lambda f: f.hours)
    assert week.hours == pytest.approx(7 * 24 - 9)
    assert week.weekends == 2 and week.holidays == 2  # Christmas and Boxing Day
    assert week.nights == 7


def run(*argv):
    return main(list(argv))


def test_the_command(filled, tmp_path, capsys):
    url = str(filled.engine.url.database)
    base = ["roster", "export", "--db", url, "--schedule", "Ops on call", "--ics", str(tmp_path)]
    assert (
        run(*base, "--from", "2026-11-02", "--weeks", "2", "--xlsx", str(tmp_path / "r.xlsx")) == 0
    )
    assert "4 shifts of Ops on call" in capsys.readouterr().out
    assert (tmp_path / "r.xlsx").exists() and (tmp_path / "ann-1.ics").exists()
    for args, message in (
        (["--from", "2026-13-01", "--weeks", "2"], "--from: not a date"),
        (["--from", "2026-11-02", "--weeks", "0"], "--weeks must be 1 or more"),
        (["--from", "2026-11-02", "--weeks", "two"], "--weeks: not a whole number"),
        (["--from", "2026-11-02", "--weeks", "1", "--xlsx", "r.csv"], "--xlsx must name"),
    ):
        assert run(*base, *args) == 1
        assert capsys.readouterr().err.startswith(f"servicedeck: {message}")
    bad = ["roster", "export", "--db", url, "--schedule", "Nope", "--ics", str(tmp_path)]
    assert run(*bad, "--from", "2026-11-02", "--weeks", "1") == 1
    assert "no on-call schedule named 'Nope'" in capsys.readouterr().err
