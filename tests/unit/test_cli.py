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
