"""Exporting the queue: every matching incident, real cells, safe text, whole files only."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.cli import main
from app.models import Incident, Team
from app.services import export_incidents as ex
from app.services import incident_query as q
from app.services.export_incidents import export_incidents
from app.services.incident_query import IncidentFilter, Sort
from app.services.progress import Cancelled, Progress
from tests import sample_data
from tests.sample_data import NOW

HOSTILE = '=HYPERLINK("http://evil.example","Click for refund")'


@pytest.fixture
def sample(db):
    sample_data.fill(db)
    with db.transaction() as s:
        s.add(
            Incident(
                number="INC013",
                short_description=HOSTILE,
                category="@SUM(1+1)",
                priority=3,
                state="New",
                opened_at=NOW - dt.timedelta(hours=2),
                first_response_at=NOW - dt.timedelta(hours=1),
                reassignment_count=2,
                made_sla=True,
            )
        )
    return db


def sheet(path):
    return load_workbook(path)[ex.SHEET_TITLE]


def records(path) -> list[dict]:
    ws = sheet(path)
    header = [c.value for c in ws[1]]
    return [dict(zip(header, (c.value for c in row), strict=True)) for row in ws.iter_rows(2)]


def test_the_export_is_a_proper_table_with_real_dates(sample, tmp_path):
    path = tmp_path / "queue.xlsx"
    with sample.session() as s:
        assert export_incidents(s, IncidentFilter(), path, now=NOW, zone=dt.UTC) == 13
    ws = sheet(path)
    assert [c.value for c in ws[1]] == [c.header for c in ex.COLUMNS]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:Z14"
    rows = {r["Number"]: r for r in records(path)}
    inc = rows["INC013"]
    assert inc["Opened"] == dt.datetime(2026, 11, 23, 10, 0)
    assert inc["First response"] == dt.datetime(2026, 11, 23, 11, 0)
    assert inc["Priority"] == 3 and inc["Reassignments"] == 2 and inc["Made SLA"] is True
    assert inc["Age (days)"] == pytest.approx(2 / 24, abs=0.05)
    opened = ws.cell(2, [c.header for c in ex.COLUMNS].index("Opened") + 1)
    assert opened.is_date and opened.number_format == "yyyy-mm-dd hh:mm"
    assert rows["INC001"]["Service"] == "Email" and rows["INC001"]["Major"] is True
    assert rows["INC003"]["Hold reason"] == "Awaiting Vendor"
    assert rows["INC002"]["SLA"] == "breached"


def test_text_that_looks_like_a_formula_is_written_as_text(sample, tmp_path):
    path = tmp_path / "queue.xlsx"
    with sample.session() as s:
        export_incidents(s, IncidentFilter(text="INC013"), path, now=NOW)
    ws = sheet(path)
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    [row] = records(path)
    assert row["Short description"] == HOSTILE and row["Category"] == "@SUM(1+1)"


def test_the_filter_and_sort_decide_the_rows_not_the_screen(sample, tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "CHUNK", 2)  # several fetches from the cursor
    path = tmp_path / "open.xlsx"
    filt = IncidentFilter(states=["open"])
    with sample.session() as s:
        written = export_incidents(s, filt, path, sort=Sort("number", descending=False), now=NOW)
        expected = q.count(s, filt, q.context_for(s, NOW))
    numbers = [r["Number"] for r in records(path)]
    assert written == expected == len(numbers) == 10
    assert numbers == sorted(numbers) and "INC010" not in numbers


def test_cancelling_leaves_no_file_and_keeps_the_old_one(sample, tmp_path, monkeypatch):
    monkeypatch.setattr("app.services.io.excel.PROGRESS_EVERY", 1)
    monkeypatch.setattr("app.services.io.excel.WIDTH_SAMPLE", 1)
    path = tmp_path / "queue.xlsx"
    path.write_bytes(b"last week's export")
    progress = Progress(lambda done, total, label: done >= 3 and progress.cancel())
    with sample.session() as s, pytest.raises(Cancelled):
        export_incidents(s, IncidentFilter(), path, progress, now=NOW)
    assert path.read_bytes() == b"last week's export"
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".db" and "db-" not in p.name] == [
        "queue.xlsx"
    ]


def test_the_command_line_exports_with_filters(sample, tmp_path, capsys):
    out = tmp_path / "p1.xlsx"
    db_path = str(sample.url.database)
    args = ["export", "incidents", "--db", db_path, "--out", str(out)]
    assert main([*args, "--filter", "state=open", "priority=1", "--sort=number"]) == 0
    assert capsys.readouterr().out.strip() == f"2 incidents written to {out}"
    assert [r["Number"] for r in records(out)] == ["INC001", "INC002"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--filter", "state=sleeping"], "unknown state 'sleeping'"),
        (["--filter", "colour=red"], "unknown filter key 'colour'"),
        (["--filter", "group=Nobody"], "no assignment group called 'Nobody'"),
        (["--sort=height"], "unknown column 'height'"),
    ],
)
def test_bad_filters_give_one_line_and_no_file(sample, tmp_path, capsys, extra, message):
    out = tmp_path / "x.xlsx"
    args = ["export", "incidents", "--db", str(sample.url.database), "--out", str(out), *extra]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("servicedeck: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_an_unwritable_place_or_missing_database_is_one_line(sample, tmp_path, capsys):
    db_path = str(sample.url.database)
    missing = tmp_path / "no" / "such" / "x.xlsx"
    assert main(["export", "incidents", "--db", db_path, "--out", str(missing)]) == 1
    assert "cannot write" in capsys.readouterr().err
    assert main(["export", "incidents", "--db", db_path, "--out", str(tmp_path / "x.csv")]) == 1
    assert ".xlsx" in capsys.readouterr().err
    nowhere = str(tmp_path / "nowhere.db")
    assert main(["export", "incidents", "--db", nowhere, "--out", str(tmp_path / "y.xlsx")]) == 1
    assert "no database file" in capsys.readouterr().err


def test_export_streams_on_both_databases(any_db, tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "CHUNK", 3)
    sample_data.fill(any_db)
    path = tmp_path / "all.xlsx"
    engine = any_db.engine
    written = export_incidents(engine, IncidentFilter(priorities=[1, 2]), path, now=NOW)
    numbers = sorted(r["Number"] for r in records(path))
    assert written == 7
    assert numbers == ["INC001", "INC002", "INC003", "INC004", "INC005", "INC010", "INC011"]


def test_my_groups_means_the_teams_the_caller_names(sample, tmp_path):
    path = tmp_path / "mine.xlsx"
    with sample.session() as s:
        network = s.scalar(select(Team.id).where(Team.name == "Network"))
        assert export_incidents(s, IncidentFilter(my_groups=True), path, now=NOW) == 0
        written = export_incidents(
            s, IncidentFilter(my_groups=True), path, now=NOW, team_ids=[network]
        )
    assert written == 1 and [r["Number"] for r in records(path)] == ["INC001"]
