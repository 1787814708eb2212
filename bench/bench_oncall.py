"""Who is on call: the precomputed OnCallIndex against the plain who_is_on_call.

python -m bench.bench_oncall --db PATH   # PATH (a demo database) is only read

Every schedule of the database is loaded once with its layers, members and overrides.
The baseline is the first version, ``who_is_on_call(schedule, at, overrides)``, measured in
the same run over the same random instants (two years around the schedules' start); the
answers of both are compared on every instant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.db import open_database
from app.models import OnCallSchedule, ScheduleLayer, ScheduleOverride
from app.services.oncall import OnCallIndex, who_is_on_call

INSTANTS = 2_000
ROUNDS = 5


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _per_query_us(fn, instants) -> float:
    began = time.perf_counter()
    for at in instants:
        fn(at)
    return (time.perf_counter() - began) / len(instants) * 1e6


def main(db_path: str) -> None:
    database = open_database(db_path, create=False, upgrade=False)
    try:
        with database.session() as session:
            schedules = session.scalars(
                select(OnCallSchedule)
                .order_by(OnCallSchedule.id)
                .options(selectinload(OnCallSchedule.layers).selectinload(ScheduleLayer.members))
            ).all()
            overrides: dict[int, list[ScheduleOverride]] = {}
            for override in session.scalars(select(ScheduleOverride)):
                overrides.setdefault(override.schedule_id, []).append(override)
    finally:
        database.dispose()
    if not schedules:
        emit("oncall_schedules", 0)
        return
    rng = random.Random(7)
    began = time.perf_counter()
    indexes = [OnCallIndex(s, overrides.get(s.id, [])) for s in schedules]
    build_ms = (time.perf_counter() - began) / len(schedules) * 1000
    first = min(layer.rotation_start for s in schedules for layer in s.layers)
    instants = [
        first + dt.timedelta(seconds=rng.randrange(-30 * 86400, 730 * 86400))
        for _ in range(INSTANTS)
    ]
    for schedule, index in zip(schedules, indexes, strict=True):
        mine = overrides.get(schedule.id, [])
        for at in instants[:500]:
            if index.at(at) != who_is_on_call(schedule, at, mine):
                raise SystemExit(f"index and reference disagree on {schedule.name} at {at}")
    ours, naive = [], []
    for _ in range(ROUNDS):
        for schedule, index in zip(schedules, indexes, strict=True):
            mine = overrides.get(schedule.id, [])
            ours.append(_per_query_us(index.at, instants))
            naive.append(
                _per_query_us(lambda at, s=schedule, o=mine: who_is_on_call(s, at, o), instants)
            )
    emit("oncall_schedules", len(schedules))
    emit("oncall_overrides", sum(len(v) for v in overrides.values()))
    emit("oncall_index_build_ms", round(build_ms, 2))
    emit("oncall_lookup_us", round(statistics.median(ours), 2))
    emit("oncall_naive_lookup_us", round(statistics.median(naive), 2))
    emit(
        "oncall_lookup_vs_naive_ratio", round(statistics.median(ours) / statistics.median(naive), 3)
    )
    # A busy schedule: 5,000 overrides (the reference scans them all on every lookup).
    busy = [
        ScheduleOverride(
            id=k,
            schedule_id=schedules[0].id,
            person_id=1,
            starts_at=first + dt.timedelta(hours=3 * k),
            ends_at=first + dt.timedelta(hours=3 * k + 2),
        )
        for k in range(1, 5001)
    ]
    index = OnCallIndex(schedules[0], busy)
    emit("oncall_busy_overrides", len(busy))
    emit("oncall_busy_lookup_us", round(_per_query_us(index.at, instants), 2))
    emit(
        "oncall_busy_naive_lookup_us",
        round(_per_query_us(lambda at: who_is_on_call(schedules[0], at, busy), instants[:200]), 2),
    )
    gaps_began = time.perf_counter()
    for index in indexes:
        index.gaps(first, first + dt.timedelta(weeks=4))
    emit(
        "oncall_gaps_4_weeks_ms", round((time.perf_counter() - gaps_began) / len(indexes) * 1000, 1)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    main(parser.parse_args().db)
