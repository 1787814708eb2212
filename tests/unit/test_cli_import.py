"""``servicedeck import``: a summary on success, one line and an unchanged database otherwise."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "import"


@pytest.fixture
def db_path(tmp_path) -> str:
    from app.db import open_database

    path = tmp_path / "team.db"
    open_database(str(path)).dispose()
    return str(path)


def incidents(db_path: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT count(*) FROM incident").fetchone()[0]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_event_log_imports_once_and_then_changes_nothing(db_path, capsys):
    code, out, err = run(
        capsys, "import", "servicenow", str(DATA / "servicenow_eventlog.csv"), "--db", db_path
    )
    assert code == 0
    assert "ServiceNow incident audit / event log" in out
    assert "Created 4 incidents" in out
    assert "Matching names" in err  # progress on stderr
    code, out, err = run(
        capsys, "import", "servicenow", str(DATA / "servicenow_eventlog.csv"),
        "--db", db_path, "--quiet",
    )  # fmt: skip
    assert code == 0 and err == ""
    assert "Nothing to change: all 4 incidents were up to date." in out
    assert incidents(db_path) == 4


def test_jsm_reads_a_jsm_export(db_path, capsys):
    code, out, _ = run(
        capsys, "import", "jsm", str(DATA / "jsm_export.csv"), "--db", db_path, "--quiet"
    )
    assert code == 0 and "Jira Service Management CSV" in out


def one_line_failure(capsys, db_path: str, *args: str) -> str:
    code, out, err = run(capsys, "import", *args, "--db", db_path, "--quiet")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("servicedeck: ")
    assert incidents(db_path) == 0
    return lines[0]


def test_a_bad_row_gives_one_line_and_imports_nothing(db_path, capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    good = "INC0000001,Printer jam,New,2024-03-01 10:00:00\n"
    bad.write_text(
        "number,short_description,state,opened_at\n" + good
        + "INC0000002,Mail down,Sleeping,2024-03-01 11:00:00\n"
    )  # fmt: skip
    line = one_line_failure(capsys, db_path, "servicenow", str(bad))
    assert "row 3" in line and "Sleeping" in line and "Nothing was imported" in line


def test_a_missing_file_is_named(db_path, capsys, tmp_path):
    line = one_line_failure(capsys, db_path, "servicenow", str(tmp_path / "nope.csv"))
    assert "nope.csv" in line


def test_a_file_of_the_other_kind_is_refused(db_path, capsys):
    line = one_line_failure(capsys, db_path, "jsm", str(DATA / "servicenow_list.csv"))
    assert "ServiceNow incident list" in line and "import servicenow" in line
    line = one_line_failure(capsys, db_path, "servicenow", str(DATA / "jsm_export.csv"))
    assert "import jsm" in line


def test_ambiguous_dates_ask_for_a_date_format(db_path, capsys):
    ambiguous = str(DATA / "servicenow_list_ambiguous.csv")
    line = one_line_failure(capsys, db_path, "servicenow", ambiguous)
    assert "--date-format" in line and "%d-%m-%Y" in line and "%m-%d-%Y" in line
    code, out, _ = run(
        capsys, "import", "servicenow", ambiguous, "--db", db_path, "--quiet",
        "--date-format", "%d-%m-%Y %H:%M", "--tz", "Europe/Berlin",
    )  # fmt: skip
    assert code == 0 and "Created" in out


def test_an_unknown_zone_is_refused(db_path, capsys):
    line = one_line_failure(
        capsys, db_path, "servicenow", str(DATA / "servicenow_list.csv"), "--tz", "Mars/Olympus"
    )
    assert "--tz" in line


def test_a_saved_mapping_is_used(db_path, capsys, tmp_path):
    from app.services.io.importer import save_mapping
    from app.services.io.records import ImportSource

    export = tmp_path / "odd.csv"
    export.write_text(
        "number,short_description,state,opened_at,Team\n"
        "INC0000001,Printer jam,New,01-03-2024 10:00,Print Crew\n"
        "INC0000002,Mail down,New,02-03-2024 11:00,Print Crew\n"
    )
    mapping = tmp_path / "odd.json"
    save_mapping(
        mapping, ImportSource.SERVICENOW_LIST, {"assignment_group": "Team"}, "%d-%m-%Y %H:%M"
    )
    code, out, _ = run(
        capsys, "import", "servicenow", str(export), "--db", db_path, "--quiet",
        "--mapping", str(mapping), "--tz", "UTC",
    )  # fmt: skip
    assert code == 0 and "Added 1 assignment group" in out
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT i.number, i.opened_at, t.name FROM incident i "
            "JOIN team t ON t.id = i.assignment_group_id ORDER BY i.number"
        ).fetchall()
    assert rows[0][1].startswith("2024-03-01") and rows[0][2] == "Print Crew"


def test_the_wrong_kind_of_mapping_is_refused(db_path, capsys, tmp_path):
    from app.services.io.importer import save_mapping
    from app.services.io.records import ImportSource

    mapping = tmp_path / "jsm.json"
    save_mapping(mapping, ImportSource.JSM, {}, None)
    line = one_line_failure(
        capsys, db_path, "servicenow", str(DATA / "servicenow_list.csv"), "--mapping", str(mapping)
    )
    assert "Jira Service Management" in line


def test_a_database_error_gives_one_line(db_path, capsys, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from app.services.io import incident_import

    def refuse(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, Exception("database or disk is full\nmore"))

    monkeypatch.setattr(incident_import, "write_plan", refuse)
    line = one_line_failure(capsys, db_path, "servicenow", str(DATA / "servicenow_list.csv"))
    assert "database or disk is full" in line and "Nothing was imported" in line
