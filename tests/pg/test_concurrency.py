"""Two consoles on one record, and a server that stops while a save is in flight.

Each console is its own :class:`~app.db.Database` (its own engine and connections), as
two workstations would be. On PostgreSQL the consoles meet on a real server; the race
also runs on one SQLite file, which two consoles may share too.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from app.db import open_database
from app.models import UTC, AuditEntry, Incident, Vendor
from app.services import changes as cs
from app.services import incidents as wf
from app.services import vendors
from app.services.incidents import ConflictError, IncidentInput
from app.services.scorecards import ConflictError as VendorConflict
from tests.pgserver import start_server

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ROUNDS = 12


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def two_consoles(request, tmp_path):
    """The same database opened twice: two consoles."""
    if request.param == "sqlite":
        url = str(tmp_path / "shared.db")
    else:
        url = request.getfixturevalue("pg_url")
    first, second = open_database(url), open_database(url)
    yield first, second
    first.dispose()
    second.dispose()


def _race(consoles, work):
    """Run ``work(console, session)`` in each console at the same moment, each in its own
    transaction; returns what each returned or raised."""
    barrier = threading.Barrier(len(consoles))
    results: list[object] = [None] * len(consoles)

    def run(k: int) -> None:
        try:
            with consoles[k].transaction() as session:
                results[k] = work(consoles[k], session, barrier)
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(consoles))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_consoles_racing_on_one_incident_never_lose_an_edit(two_consoles):
    first, second = two_consoles
    with first.transaction() as session:
        ident = wf.new_incident(session, IncidentInput("Race me", impact=3, urgency=3), NOW).id
    for n in range(ROUNDS):
        with first.session() as session:
            version = session.get(Incident, ident).version

        def save(_console, session, barrier, n=n, version=version):
            barrier.wait()
            text = f"round {n} by {threading.current_thread().name}"
            wf.update_incident(session, ident, version, {"short_description": text}, NOW)
            return text

        results = _race([first, second], save)
        won = [r for r in results if isinstance(r, str)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == 1, results
        assert len(lost) == 1 and isinstance(lost[0], ConflictError), results
        conflict = lost[0]
        # The loser is told what the winner saved, to choose in the conflict dialog.
        assert conflict.theirs["short_description"] == won[0]
        assert conflict.their_version == version + 1
        with first.session() as session:
            row = session.get(Incident, ident)
            assert (row.short_description, row.version) == (won[0], version + 1)
    with first.session() as session:
        changes = session.scalar(
            select(func.count()).where(
                AuditEntry.entity == "incident",
                AuditEntry.entity_id == str(ident),
                AuditEntry.field == "short_description",
            )
        )
    assert changes == ROUNDS  # one audited change per round: the winner's, nothing else


def test_two_consoles_racing_on_one_change_and_one_vendor(two_consoles):
    first, second = two_consoles
    with first.transaction() as session:
        change = cs.new_change(session, "Race me", now=NOW).id
        vendor = vendors.save_vendor(session, None, {"name": "Racing Ltd"})

    def save_change(_console, session, barrier):
        barrier.wait()
        return cs.update_change(session, change, 1, short_description="mine", now=NOW).version

    results = _race([first, second], save_change)
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "int"], results
    assert isinstance(next(r for r in results if isinstance(r, Exception)), cs.ConflictError)

    def save_vendor(_console, session, barrier):
        barrier.wait()
        return vendors.save_vendor(session, vendor, {"website": "https://x"}, expected_version=1)

    results = _race([first, second], save_vendor)
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(lost) == 1 and isinstance(lost[0], VendorConflict), results
    assert lost[0].theirs["website"] == "https://x"
    with first.session() as session:
        assert session.get(Vendor, vendor).version == 2


@pytest.mark.pg
def test_a_server_stopping_during_a_save_writes_nothing_and_the_save_can_be_repeated():
    # A cluster of its own: stopping the shared one would disturb other tests.
    server = start_server()
    try:
        database = open_database(server.create_database("restart_mid_save"))
        with database.transaction() as session:
            ident = wf.new_incident(session, IncidentInput("Before", impact=3, urgency=3), NOW).id
        audit_before = _audit_rows(database)

        failed: list[BaseException] = []
        try:
            with database.transaction() as session:
                wf.update_incident(session, ident, 1, {"short_description": "During"}, NOW)
                session.flush()  # the UPDATE and its audit rows are on the server, uncommitted
                server.halt()
        except Exception as exc:  # noqa: BLE001 - looked at below
            failed.append(exc)
        assert failed, "the commit cannot have succeeded on a stopped server"
        server.resume()

        with database.session() as session:
            row = session.get(Incident, ident)
            assert (row.short_description, row.version) == ("Before", 1)  # no partial write
        assert _audit_rows(database) == audit_before
        # The same save, repeated after the server is back, goes through on the same version.
        with database.transaction() as session:
            wf.update_incident(session, ident, 1, {"short_description": "After"}, NOW)
        with database.session() as session:
            assert session.get(Incident, ident).short_description == "After"
        database.dispose()
    finally:
        server.stop()


def _audit_rows(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


@pytest.mark.pg
def test_an_older_console_is_refused_by_a_newer_shared_schema(pg_url, capsys):
    from sqlalchemy import text

    from app.cli import main
    from app.db.errors import NewerSchema

    open_database(pg_url).dispose()
    database = open_database(pg_url)
    with database.transaction() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        incidents_before = session.scalar(select(func.count()).select_from(Incident))
    database.dispose()
    with pytest.raises(NewerSchema, match="newer version of Servicedeck"):
        open_database(pg_url)
    assert main(["kpi", "--db", pg_url, "--from", "2026-10-01", "--to", "2026-10-31"]) == 1
    assert "newer version of Servicedeck" in capsys.readouterr().err
    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (
            "9999_future",
        )
        assert conn.execute("SELECT count(*) FROM incident").fetchone() == (incidents_before,)
