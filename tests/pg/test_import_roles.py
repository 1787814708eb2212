"""An import on a shared database: who may run it, and what a refused one says."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.db import open_database
from app.db import roles as R
from app.models import AuditEntry, Incident, Team

EVENTLOG = Path(__file__).resolve().parents[1] / "data" / "import" / "servicenow_eventlog.csv"


def _counts(url: str) -> tuple[int, int, int]:
    database = open_database(url)
    try:
        with database.session() as s:
            return tuple(
                s.scalar(select(func.count()).select_from(model))
                for model in (Incident, Team, AuditEntry)
            )
    finally:
        database.dispose()


@pytest.mark.pg
def test_an_agent_is_refused_in_one_line_and_a_service_manager_imports(pg_server, capsys):
    url = pg_server.create_database("t_import_roles")
    R.init_database(url)
    R.add_user(url, "imp_agent", "agent")
    R.add_user(url, "imp_manager", "service_manager")
    before = _counts(url)
    args = ["import", "servicenow", str(EVENTLOG), "--tz", "UTC", "--quiet", "--db"]
    capsys.readouterr()
    assert main([*args, pg_server.url("t_import_roles", "imp_agent")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "servicedeck: the database refused the import: Your role (agent) may not add teams "
        "(the database refused INSERT on team); a service manager may. Nothing was imported."
    )
    assert _counts(url) == before
    assert main([*args, pg_server.url("t_import_roles", "imp_manager")]) == 0
    assert "Created 4 incidents" in capsys.readouterr().out
    incidents, teams, audit = _counts(url)
    assert (incidents, teams) == (4, 4) and audit > before[2]
