"""LISTEN/NOTIFY on a real PostgreSQL server: commits reach other connections' listeners."""

from __future__ import annotations

import datetime as dt
import json
import queue
import time

import pytest

from app.db import notify, open_database
from app.models import Incident, utcnow
from tests.pgserver import start_server

pytestmark = pytest.mark.pg

WITHIN = 2.0


class Inbox:
    """What a listener heard, with waits that give up after a while."""

    def __init__(self) -> None:
        self.changes: queue.Queue[tuple[float, notify.Change]] = queue.Queue()
        self.states: queue.Queue[bool] = queue.Queue()

    def on_change(self, change: notify.Change) -> None:
        self.changes.put((time.perf_counter(), change))

    def on_state(self, connected: bool) -> None:
        self.states.put(connected)

    def change(self, timeout: float = 5.0, table: str = "incident") -> tuple[float, notify.Change]:
        end = time.monotonic() + timeout
        while True:
            at, change = self.changes.get(timeout=max(0.01, end - time.monotonic()))
            if change.table == table:
                return at, change

    def state(self, timeout: float = 30.0) -> bool:
        return self.states.get(timeout=timeout)


def listen(url) -> tuple[notify.ChangeListener, Inbox]:
    inbox = Inbox()
    listener = notify.ChangeListener(url, inbox.on_change, inbox.on_state).start()
    assert listener.wait_connected(10)
    assert inbox.state() is True
    return listener, inbox


def incident(number: str) -> Incident:
    return Incident(
        number=number,
        short_description=f"Live {number}",
        priority=3,
        state="New",
        opened_at=utcnow() - dt.timedelta(minutes=1),
    )


def test_a_commit_reaches_a_listener_on_another_connection_within_2_s(pg_db):
    notify.install(pg_db.sessions)
    listener, inbox = listen(pg_db.url)
    try:
        with pg_db.transaction() as session:
            item = incident("INC900001")
            session.add(item)
        committed = time.perf_counter()
        at, change = inbox.change()
        assert change.ids == (item.id,)
        assert change.own
        assert at - committed < WITHIN
        print(f"\ncommit -> listener: {(at - committed) * 1000:.1f} ms")

        with pg_db.transaction() as session:
            session.get(Incident, item.id).short_description = "Changed"
        assert inbox.change()[1].ids == (item.id,)

        with pg_db.transaction() as session:
            session.delete(session.get(Incident, item.id))
        assert inbox.change()[1].ids == (item.id,)
    finally:
        listener.stop()


def test_a_rolled_back_transaction_tells_nobody(pg_db):
    notify.install(pg_db.sessions)
    listener, inbox = listen(pg_db.url)
    try:
        with pg_db.session() as session:
            session.add(incident("INC900002"))
            session.flush()
            session.rollback()
        with pg_db.transaction() as session:
            marker = incident("INC900003")
            session.add(marker)
        # The first incident notification is the committed one.
        assert inbox.change()[1].ids == (marker.id,)
    finally:
        listener.stop()


def test_many_ids_in_one_transaction_are_one_notification_each_table(pg_db):
    notify.install(pg_db.sessions)
    listener, inbox = listen(pg_db.url)
    try:
        with pg_db.transaction() as session:
            items = [incident(f"INC91{n:04d}") for n in range(200)]
            session.add_all(items)
            session.flush()
            for item in items[:50]:
                item.priority = 2  # a second flush in the same transaction
        _, change = inbox.change()
        assert sorted(change.ids) == sorted(item.id for item in items)
        with pytest.raises(queue.Empty):
            inbox.change(timeout=0.5)

        # Too many to list: "the table changed".
        with pg_db.transaction() as session:
            session.add_all(incident(f"INC92{n:04d}") for n in range(2000))
        _, change = inbox.change()
        assert change.ids is None
    finally:
        listener.stop()


def test_payloads_stay_under_the_limit():
    [small] = notify.payloads({"incident": {3, 1, 2}}, origin="x")
    assert json.loads(small) == {"t": "incident", "ids": [1, 2, 3], "o": "x"}
    [big] = notify.payloads({"incident": set(range(100_000))}, origin="x")
    assert json.loads(big)["ids"] is None
    assert len(big.encode()) < 8000
    assert notify.parse("not json") is None
    assert notify.parse('{"t": "roster_shift", "ids": [[1, 2]]}').ids == ((1, 2),)


def test_writes_on_sqlite_are_left_alone(db):
    notify.install(db.sessions)
    with db.transaction() as session:
        session.add(incident("INC900004"))
    with db.session() as session:
        assert session.info.get("servicedeck_notify_pending") is None


def _restart(server) -> None:
    server.halt()
    time.sleep(0.5)
    server.resume()


def test_the_listener_survives_a_server_restart():
    # A cluster of its own: stopping the shared one would disturb other tests.
    server = start_server()
    try:
        database = open_database(server.create_database("restart"))
        notify.install(database.sessions)
        listener, inbox = listen(database.url)
        try:
            _restart(server)
            assert inbox.state() is False
            assert inbox.state() is True
            assert listener.reconnects == 1
            # The app's own pool reconnects too (pool_pre_ping): a save now succeeds.
            with database.transaction() as session:
                item = incident("INC900005")
                session.add(item)
            assert inbox.change()[1].ids == (item.id,)
        finally:
            listener.stop()
            database.dispose()
    finally:
        server.stop()
