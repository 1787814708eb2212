"""The README's cron jobs: a read-only database user runs every report and export."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from app.cli import main
from app.db import open_database
from app.db import roles as R
from tests import sample_data


@pytest.mark.pg
def test_a_viewer_runs_the_scheduled_reports_and_files_are_replaced_whole(
    pg_server, tmp_path, capsys
):
    url = pg_server.create_database("t_scheduled_reports")
    R.init_database(url)
    owner = open_database(url)
    sample_data.fill(owner)
    owner.dispose()
    R.add_user(url, "reports", "viewer")
    viewer = pg_server.url("t_scheduled_reports", "reports")

    report, vendors, calendar = tmp_path / "kpi.xlsx", tmp_path / "v.xlsx", tmp_path / "c.ics"
    assert (
        main(["report", "--db", viewer, "--quiet", "--period", "2026-10", "--out", str(report)])
        == 0
    )
    assert (
        main(
            [
                "export",
                "scorecards",
                "--db",
                viewer,
                "--quiet",
                "--period",
                "2026-Q3",
                "--out",
                str(vendors),
            ]
        )  # fmt: skip
        == 0
    )
    assert main(["export", "calendar", "--db", viewer, "--ics", str(calendar)]) == 0
    assert "Summary" in load_workbook(report, read_only=True).sheetnames
    assert calendar.read_text().startswith("BEGIN:VCALENDAR")

    # A failed run leaves the previous file as it was, and no temporary file behind.
    before = report.read_bytes()
    capsys.readouterr()
    assert main(["report", "--db", viewer, "--period", "2026-13", "--out", str(report)]) == 1
    assert capsys.readouterr().err.startswith("servicedeck:")
    assert report.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ics", "kpi.xlsx", "v.xlsx"]
