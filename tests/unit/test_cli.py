"""The command line: subcommands work, and bad input gives one line and a non-zero exit."""

from __future__ import annotations

import sqlite3

import pytest

from app.cli import main


def test_db_upgrade_creates_and_then_reports_up_to_date(tmp_path, capsys):
    path = tmp_path / "team.db"
    assert main(["db", "upgrade", "--db", str(path)]) == 0
    assert "upgraded from empty to" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", str(path)]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_demo_command_prints_a_summary(tmp_path, capsys):
    path = tmp_path / "demo.db"
    assert main(["demo", "--db", str(path), "--incidents", "300", "--seed", "2", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "300 incidents" in out[0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM incident").fetchone() == (300,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["db", "upgrade", "--db", "mysql://x@y/z"], "not supported"),
        (["db", "upgrade", "--db", "postgresql+psycopg://u@127.0.0.1:1/x"], "Cannot open"),
        (["demo", "--db", "{tmp}/d.db", "--incidents", "-5"], "--incidents must be zero or more"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("servicedeck: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_text_file_is_not_taken_for_a_database(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    assert main(["db", "upgrade", "--db", str(notes)]) == 1
    assert "not a Servicedeck database" in capsys.readouterr().err
    assert notes.read_text() == "not a database\n"


def test_demo_refuses_a_database_that_holds_data(tmp_path, capsys):
    path = tmp_path / "d.db"
    assert main(["demo", "--db", str(path), "--incidents", "100", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["demo", "--db", str(path), "--incidents", "100"]) == 1
    assert "--replace" in capsys.readouterr().err


# --- kpi and report ----------------------------------------------------------------------------

KPI_NOW = __import__("datetime").datetime(2026, 11, 23, 14, 0, tzinfo=__import__("datetime").UTC)


@pytest.fixture(scope="module")
def kpi_demo(tmp_path_factory):
    from app.services.demo import create_demo_database

    path = tmp_path_factory.mktemp("cli_kpi") / "demo.db"
    create_demo_database(str(path), incidents=1500, seed=4, anchor=KPI_NOW)
    return path


@pytest.fixture
def kpi_now(monkeypatch):
    from app.services import kpi_report

    monkeypatch.setattr(kpi_report, "utc_now", lambda: KPI_NOW)
    return KPI_NOW


def test_kpi_json_matches_compute_kpis(kpi_demo, kpi_now, capsys):
    import datetime as dt
    import json

    from sqlalchemy import select

    from app.db import open_database
    from app.models import Service, Team
    from app.services.kpi import KpiFilter, compute_kpis
    from app.services.kpi_json import report_to_dict

    database = open_database(str(kpi_demo))
    with database.session() as s:
        services = s.scalars(select(Service.name).order_by(Service.id).limit(3)).all()
        groups = s.scalars(select(Team.name).order_by(Team.id).limit(5)).all()
    args = ["kpi", "--db", str(kpi_demo), "--from", "2026-10-01", "--to", "2026-10-31", "--json",
            "--priority", "P2", "--priority", "3", "--priority", "4"]  # fmt: skip
    for name in services:
        args += ["--service", name]
    for name in groups:
        args += ["--group", name.upper()]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    with database.session() as s:
        service_ids = s.scalars(select(Service.id).where(Service.name.in_(services))).all()
        group_ids = s.scalars(select(Team.id).where(Team.name.in_(groups))).all()
        filt = KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31), tuple(sorted(service_ids)),
                         tuple(sorted(group_ids)), None, (2, 3, 4))  # fmt: skip
        names = dict(s.execute(select(Service.id, Service.name)).all())
        expected = report_to_dict(compute_kpis(s, filt, now=kpi_now), names)
    database.dispose()
    assert sorted(data["filter"]["service_ids"]) == sorted(service_ids)
    data["filter"]["service_ids"] = sorted(data["filter"]["service_ids"])
    data["filter"]["group_ids"] = sorted(data["filter"]["group_ids"])
    expected["filter"]["services"] = data["filter"]["services"]
    assert data == json.loads(json.dumps(expected))
    assert data["current"]["arrivals"] > 0


def test_kpi_defaults_to_the_last_30_full_days_and_prints_a_table(kpi_demo, kpi_now, capsys):
    import json

    assert main(["kpi", "--db", str(kpi_demo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["filter"]["start"] == "2026-10-24T00:00:00+00:00"
    assert data["filter"]["end"] == "2026-11-23T00:00:00+00:00"
    assert data["previous"]["start"] == "2026-09-24T00:00:00+00:00"
    assert main(["kpi", "--db", str(kpi_demo), "--to", "2026-10-31"]) == 0
    out = capsys.readouterr().out
    assert "Period 2026-10-02 to 2026-11-01" in out
    assert "MTTR mean (h)" in out and "current" in out and "previous" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kpi", "--group", "Nope"], "unknown group 'Nope'"),
        (["kpi", "--service", "Nope"], "unknown service 'Nope'"),
        (["kpi", "--vendor", "Nope"], "unknown vendor 'Nope'"),
        (["kpi", "--priority", "P9"], "unknown priority 'P9'"),
        (["kpi", "--from", "2026-02-30"], "--from: not a date: '2026-02-30'"),
        (["kpi", "--to", "yesterday"], "--to: not a date"),
        (["kpi", "--from", "2026-11-02", "--to", "2026-11-01"], "is after --to"),
        (["report", "--period", "2026-13", "--out", "{tmp}/r.xlsx"], "--period must be YYYY-MM"),
        (["report", "--period", "2026-W54", "--out", "{tmp}/r.xlsx"], "YYYY-Www"),
        (["report", "--period", "2026-10", "--out", "{tmp}/r.csv"], "must name an .xlsx"),
        (["report", "--period", "2026-10", "--out", "{tmp}/r.xlsx", "--group", "X"],
         "unknown group 'X'"),
        (["report", "--period", "2026-10", "--out", "{tmp}/r.xlsx", "--priority", "0"],
         "unknown priority '0'"),
        (["report", "--period", "2026-10", "--out", "{tmp}/missing/r.xlsx"], "cannot write"),
    ],
)  # fmt: skip
def test_bad_kpi_and_report_input_is_one_line(kpi_demo, kpi_now, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--db", str(kpi_demo)]
    assert main(args) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("servicedeck: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err and captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_report_command_writes_the_workbook_with_progress(kpi_demo, tmp_path, capsys):
    from openpyxl import load_workbook

    out = tmp_path / "october.xlsx"
    assert main(["report", "--db", str(kpi_demo), "--period", "2026-10", "--out", str(out),
                 "--priority", "P1"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "Computing 2026-10" in captured.err and "Saving" in captured.err
    assert captured.out.startswith(f"KPI report for 2026-10 written to {out}")
    wb = load_workbook(out)
    assert wb.sheetnames[0] == "Summary" and "priority: P1" in wb["Summary"]["B3"].value
    weekly = tmp_path / "week.xlsx"
    args = ["report", "--db", str(kpi_demo), "--period", "2026-W40", "--out", str(weekly)]
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "2026-W40" in captured.out
    assert load_workbook(weekly)["MTTA"].cell(17, 1).value == "2026-W40"
