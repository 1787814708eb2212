"""SLA engine benchmark: recompute every running clock of a (demo) database.

python -m bench.bench_sla --db PATH   # PATH is written to: pass a scratch copy
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import func, select

from app.db import open_database
from app.models.sla import SlaClock
from app.services.sla_engine import recompute_open_clocks, running_clocks

RUNS = 3


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def main(db_path: str) -> None:
    """Print the number of running clocks and the median time to recompute them all."""
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
    finally:
        database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a scratch copy of a demo database")
    main(parser.parse_args().db)
