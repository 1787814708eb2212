"""SLA engine benchmark: recompute every running clock of a (demo) database.

python -m bench.bench_sla --db PATH   # PATH is written to: pass a scratch copy

Also times ``apply_to_incident`` on single open incidents (rolled back), the call the
incident workflow makes after every save.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import func, select

from app.db import Database, open_database
from app.models.enums import OPEN_INCIDENT_STATES
from app.models.incident import Incident
from app.models.sla import SlaClock
from app.services.sla_engine import (
    apply_to_incident,
    load_specs,
    recompute_open_clocks,
    running_clocks,
)

RUNS = 3
SINGLE = 200


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def main(db_path: str) -> None:
    """Print the running clocks, the median time to recompute them, and one incident's cost."""
    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.session() as session:
            emit(
                "sla_open_clocks",
                session.scalar(select(func.count(SlaClock.id)).where(running_clocks())),
            )
        seconds = []
        for _ in range(RUNS):
            with database.transaction() as session:
                began = time.perf_counter()
                recompute_open_clocks(session)
                session.flush()
                seconds.append(time.perf_counter() - began)
        emit("sla_recompute_open_s", f"{statistics.median(seconds):.3f}")
        emit("sla_apply_one_ms", f"{_apply_one(database) * 1000:.2f}")
    finally:
        database.dispose()


def _apply_one(database: Database) -> float:
    """Median seconds of apply_to_incident on one open incident (nothing is kept)."""
    with database.session() as session:
        ids = session.scalars(
            select(Incident.id)
            .where(Incident.state.in_([s.value for s in OPEN_INCIDENT_STATES]))
            .order_by(Incident.id)
            .limit(SINGLE)
        ).all()
        load_specs(session)
        seconds = []
        for incident_id in ids:
            incident = session.get_one(Incident, incident_id)
            began = time.perf_counter()
            apply_to_incident(session, incident)
            seconds.append(time.perf_counter() - began)
        session.rollback()
    return statistics.median(seconds) if seconds else float("nan")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a scratch copy of a demo database")
    main(parser.parse_args().db)
