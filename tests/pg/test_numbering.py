"""Many consoles creating incidents and changes at the same moment all get a number."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.db import open_database
from app.models import ChangeRequest, Incident
from app.services import changes as cs
from app.services import incidents as wf

CONSOLES = 8
EACH = 6


@pytest.mark.pg
def test_concurrent_creates_never_fail_and_never_share_a_number(pg_url):
    open_database(pg_url).dispose()
    barrier = threading.Barrier(CONSOLES)
    errors: list[BaseException] = []

    def console() -> None:
        database = open_database(pg_url)
        try:
            barrier.wait()
            for n in range(EACH):
                with database.transaction() as session:
                    wf.new_incident(session, wf.IncidentInput(f"Created at once {n}"))
                with database.transaction() as session:
                    cs.new_change(session, f"Changed at once {n}")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=console) for _ in range(CONSOLES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    database = open_database(pg_url)
    with database.session() as session:
        for model, prefix in ((Incident, "INC"), (ChangeRequest, "CHG")):
            numbers = session.scalars(select(model.number).order_by(model.number)).all()
            assert len(numbers) == CONSOLES * EACH
            assert numbers == [f"{prefix}{k:07d}" for k in range(1, CONSOLES * EACH + 1)]
        assert session.scalar(select(func.count()).select_from(Incident)) == CONSOLES * EACH
    database.dispose()
