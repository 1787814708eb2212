"""The change schedule as an .ics file: what a calendar application reads back."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from app.cli import main
from app.db import open_database
from app.models import (
    UTC,
    CabAgendaItem,
    CabMeeting,
    ChangeRequest,
    ChangeWindow,
    ConfigurationItem,
    Service,
    Team,
)
from app.services import calendar_export as ce

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
START = dt.datetime(2026, 11, 23, tzinfo=UTC)
END = dt.datetime(2026, 12, 7, tzinfo=UTC)


def fill(db) -> None:
    """Changes in several states, windows (one weekly) and two CAB meetings."""
    with db.transaction() as s:
        ops = Team(name="Operations")
        mail = Service(name="Email")
        s.add_all([ops, mail])
        s.flush()
        mx = ConfigurationItem(name="mx01", ci_class="server", service_id=mail.id)
        s.add(mx)
        s.flush()

        def change(number, start, state, **extra):
            return ChangeRequest(
                number=number,
                short_description=extra.pop("short_description", f"Change {number}"),
                state=state,
                type=extra.pop("type", "Normal"),
                risk=extra.pop("risk", "Moderate"),
                planned_start=start,
                planned_end=extra.pop("end", start + 2 * H),
                service_id=mail.id,
                assignment_group_id=ops.id,
                implementation_plan="Stop, upgrade, start.",
                test_plan="Send a mail.",
                backout_plan="Restore the snapshot.",
                **extra,
            )

        scheduled = change(
            "CHG0000001",
            NOW + D,
            "Scheduled",
            short_description="Upgrade mail; then, reboot\nnow\x07",
            risk="High",
            risk_score=12,
        )
        scheduled.cis = [mx]
        s.add_all(
            [
                scheduled,
                change("CHG0000002", NOW + 2 * D, "Authorize", type="Emergency"),
                change("CHG0000003", NOW - H, "Implement", type="Standard", risk="Low"),
                change("CHG0000004", NOW + 3 * D, "Canceled"),
                change("CHG0000005", NOW + 30 * D, "Scheduled"),  # after the period
                change("CHG0000006", START - 3 * H, "Closed", end=START + H),  # overlaps start
                ChangeRequest(number="CHG0000007", short_description="No window yet"),
            ]
        )
        s.add_all(
            [
                ChangeWindow(
                    kind="blackout",
                    name="Year-end freeze",
                    starts_at=dt.datetime(2026, 12, 5, tzinfo=UTC),
                    ends_at=dt.datetime(2027, 1, 5, tzinfo=UTC),
                    reason="Peak trading.",
                ),
                ChangeWindow(
                    kind="maintenance",
                    name="Sunday maintenance",
                    starts_at=dt.datetime(2026, 1, 4, 2, tzinfo=UTC),  # a Sunday
                    ends_at=dt.datetime(2026, 1, 4, 6, tzinfo=UTC),
                    recurrence="FREQ=WEEKLY;BYDAY=SU",
                    service_id=mail.id,
                ),
                ChangeWindow(
                    kind="blackout",
                    name="Old freeze",
                    starts_at=dt.datetime(2025, 12, 15, tzinfo=UTC),
                    ends_at=dt.datetime(2026, 1, 5, tzinfo=UTC),
                ),
            ]
        )
        cab = CabMeeting(
            title="Weekly CAB", starts_at=NOW + D - 2 * H, ends_at=NOW + D - H, location="Room 4"
        )
        ecab = CabMeeting(
            title="Mail outage",
            starts_at=NOW + 2 * H,
            ends_at=NOW + 3 * H,
            emergency=True,
            state="canceled",
        )
        s.add_all([cab, ecab])
        s.flush()
        s.add(CabAgendaItem(meeting_id=cab.id, change_id=scheduled.id, decision="approved"))


@pytest.fixture
def schedule(db):
    fill(db)
    return db


def events(path: Path) -> dict[str, object]:
    calendar = Calendar.from_ical(path.read_bytes())
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def test_round_trip_changes_match_the_database(schedule, tmp_path):
    out = tmp_path / "changes.ics"
    with schedule.session() as s:
        summary = ce.export_calendar(s, out, START, END, now=NOW)
        changes = {c.number: c for c in s.scalars(select(ChangeRequest))}
    assert (summary.changes, summary.meetings) == (5, 2)
    assert summary.line().startswith("5 changes, ")
    found = events(out)
    numbers = sorted(uid.split("@")[0] for uid in found if uid.startswith("CHG"))
    assert numbers == ["CHG0000001", "CHG0000002", "CHG0000003", "CHG0000004", "CHG0000006"]
    for number in numbers:
        event, change = found[f"{number}@servicedeck"], changes[number]
        assert event.decoded("dtstart") == change.planned_start
        assert event.decoded("dtend") == change.planned_end
        assert event.decoded("dtstart").utcoffset() == dt.timedelta(0)
        assert str(event["summary"]).startswith(f"{number} · ")
        assert event.decoded("dtstamp") == NOW
        description = str(event["description"])
        assert f"State: {change.state}" in description
        assert f"Type: {change.type}" in description
        assert f"Risk: {change.risk}" in description
        assert "Implementation plan:\nStop, upgrade, start." in description
        assert "Back-out plan:\nRestore the snapshot." in description
        categories = [str(c) for c in event["categories"].cats]
        assert categories == ["Change", f"{change.type} change", f"{change.risk} risk"]
    first = found["CHG0000001@servicedeck"]
    # Commas, semicolons and new lines survive; control characters are dropped.
    assert str(first["summary"]) == "CHG0000001 · Upgrade mail; then, reboot\nnow"
    assert "Risk: High (score 12)" in str(first["description"])
    assert "Configuration items: mx01" in str(first["description"])
    status = {n: str(found[f"{n}@servicedeck"]["status"]) for n in numbers}
    assert status == {
        "CHG0000001": "CONFIRMED",
        "CHG0000002": "TENTATIVE",
        "CHG0000003": "CONFIRMED",
        "CHG0000004": "CANCELLED",
        "CHG0000006": "TENTATIVE",
    }


def test_calendar_header(schedule, tmp_path):
    out = tmp_path / "c.ics"
    with schedule.session() as s:
        ce.export_calendar(s, out, START, END, now=NOW)
    calendar = Calendar.from_ical(out.read_bytes())
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["prodid"]).startswith("-//Servicedeck//")
    assert str(calendar["method"]) == "PUBLISH"
    assert out.read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")


def test_windows_and_meetings_are_events(schedule, tmp_path):
    out = tmp_path / "c.ics"
    with schedule.session() as s:
        summary = ce.export_calendar(s, out, START, END, now=NOW)
    found = events(out)
    sundays = sorted(
        event.decoded("dtstart") for uid, event in found.items() if uid.startswith("window-2-")
    )
    # Sundays 29 Nov and 6 Dec 2026, 02:00-06:00 UTC.
    assert sundays == [
        dt.datetime(2026, 11, 29, 2, tzinfo=UTC),
        dt.datetime(2026, 12, 6, 2, tzinfo=UTC),
    ]
    sunday = found["window-2-20261129T020000Z@servicedeck"]
    assert sunday.decoded("dtend") == dt.datetime(2026, 11, 29, 6, tzinfo=UTC)
    assert str(sunday["summary"]) == "Maintenance window: Sunday maintenance"
    assert str(sunday["transp"]) == "TRANSPARENT"
    assert "for Email" in str(sunday["description"])
    freeze = found["window-1@servicedeck"]
    assert str(freeze["summary"]) == "Blackout: Year-end freeze"
    assert [str(c) for c in freeze["categories"].cats] == ["Blackout window"]
    assert "Peak trading." in str(freeze["description"])
    assert "window-3@servicedeck" not in found  # last year's freeze
    assert summary.windows == 3
    cab, ecab = found["cab-1@servicedeck"], found["cab-2@servicedeck"]
    assert str(cab["summary"]) == "CAB: Weekly CAB"
    assert str(cab["location"]) == "Room 4"
    assert "1. CHG0000001 · Upgrade mail" in str(cab["description"])
    assert "(High risk): approved" in str(cab["description"])
    assert (str(ecab["summary"]), str(ecab["status"])) == ("ECAB: Mail outage", "CANCELLED")


def test_uids_stay_and_sequence_moves_when_a_change_is_edited(schedule, tmp_path):
    first, second = tmp_path / "1.ics", tmp_path / "2.ics"
    with schedule.session() as s:
        ce.export_calendar(s, first, START, END, now=NOW)
    with schedule.transaction() as s:
        change = s.scalar(select(ChangeRequest).where(ChangeRequest.number == "CHG0000001"))
        change.planned_start += H
        change.planned_end += H
    with schedule.session() as s:
        ce.export_calendar(s, second, START, END, now=NOW + H)
    before, after = events(first), events(second)
    assert before.keys() == after.keys()
    uid = "CHG0000001@servicedeck"
    assert after[uid].decoded("dtstart") == before[uid].decoded("dtstart") + H
    assert int(after[uid]["sequence"]) == int(before[uid]["sequence"]) + 1


def test_only_the_states_asked_for(schedule, tmp_path):
    out = tmp_path / "c.ics"
    with schedule.session() as s:
        summary = ce.export_calendar(s, out, START, END, ["Scheduled", "Implement"], now=NOW)
    assert summary.changes == 2
    assert sorted(uid for uid in events(out) if uid.startswith("CHG")) == [
        "CHG0000001@servicedeck",
        "CHG0000003@servicedeck",
    ]


def test_the_file_is_written_atomically(schedule, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "c.ics"
    out.write_bytes(b"the previous export")
    original = Path.write_bytes

    def disk_full(self, data):
        original(self, data[:10])  # half a file, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with schedule.session() as s, pytest.raises(OSError, match="No space"):
        ce.export_calendar(s, out, START, END, now=NOW)
    monkeypatch.undo()
    assert out.read_bytes() == b"the previous export"
    assert [p.name for p in folder.iterdir()] == ["c.ics"]  # no temporary left behind
    with schedule.session() as s:
        ce.export_calendar(s, out, START, END, now=NOW)
    assert out.read_bytes().startswith(b"BEGIN:VCALENDAR")


def test_period_must_be_aware_and_forward(schedule):
    with schedule.session() as s:
        with pytest.raises(ValueError, match="time zone"):
            ce.build_calendar(s, START.replace(tzinfo=None), END)
        with pytest.raises(ValueError, match="end after it starts"):
            ce.build_calendar(s, END, START)


def test_status_of_every_state():
    assert {state: ce.change_status(state) for state in ("New", "Scheduled", "Canceled")} == {
        "New": "TENTATIVE",
        "Scheduled": "CONFIRMED",
        "Canceled": "CANCELLED",
    }
    assert ce.change_status("Implement") == "CONFIRMED"
    assert ce.change_status("Closed") == "TENTATIVE"


def test_dates_and_states_from_the_command_line():
    assert ce.parse_day("2026-11-23") == START
    assert ce.parse_day("2026-11-23", end=True) == START + D
    assert ce.parse_day("2026-11-23T10:30+01:00") == START + 9.5 * H
    assert ce.period("2026-11-23", "2026-11-23") == (START, START + D)
    assert ce.period(None, None, today=START.date()) == (START, START + 90 * D)
    with pytest.raises(ValueError, match="not a date"):
        ce.parse_day("23/11/2026")
    with pytest.raises(ValueError, match="--to must be after --from"):
        ce.period("2026-11-23", "2026-11-01")
    assert ce.parse_states(["scheduled,Implement", "SCHEDULED"]) == ["Scheduled", "Implement"]
    with pytest.raises(ValueError, match="'Done' is not a change state"):
        ce.parse_states(["Done"])


# The command line


@pytest.fixture
def db_file(tmp_path) -> Path:
    path = tmp_path / "team.db"
    database = open_database(str(path))
    try:
        fill(database)
    finally:
        database.dispose()
    return path


def test_cli_writes_the_calendar(db_file, tmp_path, capsys):
    out = tmp_path / "cab.ics"
    args = ["export", "calendar", "--db", str(db_file), "--ics", str(out)]
    assert main([*args, "--from", "2026-11-23", "--to", "2026-12-06", "--state", "Scheduled"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"1 changes, 3 windows and 2 CAB meetings written to {out}"
    assert sorted(uid for uid in events(out) if uid.startswith("CHG")) == ["CHG0000001@servicedeck"]
    assert main([*args, "--from", "2026-11-23", "--to", "2026-12-06"]) == 0
    assert capsys.readouterr().out.startswith("5 changes, ")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ics", "{tmp}/cab.txt"], "--ics must name an .ics file"),
        (["--ics", "{tmp}/c.ics", "--from", "tomorrow"], "is not a date"),
        (["--out", "{tmp}/c.ics", "--from", "2026-12-01", "--to", "2026-11-01"], "--to must be"),
        (["--out", "{tmp}/c.ics", "--state", "Done"], "is not a change state"),
        (["--out", "{tmp}/no/such/dir/c.ics"], "cannot write"),
    ],
)
def test_cli_bad_input_gives_one_line_and_exit_1(db_file, tmp_path, capsys, extra, message):
    args = ["export", "calendar", "--db", str(db_file)]
    args += [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("servicedeck: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.glob("*.ics"))


def test_cli_refuses_a_missing_database(tmp_path, capsys):
    args = [
        "export",
        "calendar",
        "--db",
        str(tmp_path / "none.db"),
        "--out",
        str(tmp_path / "c.ics"),
    ]
    assert main(args) == 1
    assert capsys.readouterr().err.startswith("servicedeck: ")
    assert not (tmp_path / "none.db").exists()


def test_cli_on_a_demo_database(tmp_path, capsys):
    path = tmp_path / "demo.db"
    assert main(["demo", "--db", str(path), "--incidents", "200", "--seed", "3", "--quiet"]) == 0
    out = tmp_path / "demo.ics"
    today = dt.datetime.now(UTC).date()
    assert main(["export", "calendar", "--db", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    found = events(out)
    lo = dt.datetime.combine(today, dt.time(), UTC)
    hi = lo + 90 * D
    database = open_database(str(path))
    try:
        with database.session() as s:
            expected = s.scalar(
                select(func.count())
                .select_from(ChangeRequest)
                .where(ChangeRequest.planned_start < hi, ChangeRequest.planned_end > lo)
            )
    finally:
        database.dispose()
    assert expected > 0
    assert sum(uid.startswith("CHG") for uid in found) == expected
    with sqlite3.connect(path) as conn:
        (meetings,) = conn.execute("SELECT count(*) FROM cab_meeting").fetchone()
    assert meetings > 0 and any(uid.startswith("cab-") for uid in found)
