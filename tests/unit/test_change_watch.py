"""The change watcher notices writes from another connection, on SQLite and PostgreSQL."""

from __future__ import annotations

from app.db import open_database
from app.models import Incident
from app.services.change_watch import ChangeWatcher


def test_a_write_from_another_connection_is_noticed_once(any_db):
    watcher = ChangeWatcher(any_db.engine)
    try:
        assert watcher.changed() is False  # the first call only takes a reading
        assert watcher.changed() is False
        other = open_database(any_db.url)
        try:
            with other.transaction() as session:
                session.add(Incident(number="INC900", short_description="New one"))
        finally:
            other.dispose()
        assert watcher.changed() is True
        assert watcher.changed() is False
    finally:
        watcher.close()
