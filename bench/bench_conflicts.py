"""Conflict engine benchmark: every conflict of every change planned in a 90-day window.

python -m bench.bench_conflicts --db PATH [--scale 20000]   # PATH is only read

Also times all active changes, one dragged change re-checked, and the sweep against a
naive pairwise check of the same changes (same CI and same assignee), measured here.
The scale part copies a SQLite database to a scratch file and tops it up with random
Scheduled changes (1-6 h on a random CI and assignee) to the issue's 20,000 changes in
the window; there the naive check is timed on a sample and extrapolated (it is O(n^2)).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

from sqlalchemy import func, select

from app.db import open_database
from app.models import ConfigurationItem, Person
from app.models.change import ChangeRequest, change_ci
from app.services.conflicts import (
    ACTIVE_CHANGE_STATES,
    conflicts_for,
    find_conflicts,
    overlapping_pairs,
)

RUNS = 5
SAMPLE = 2000


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def timed(work: Callable[[], object], runs: int = RUNS) -> tuple[float, object]:
    """Median seconds of ``runs`` calls and the last result."""
    seconds, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), result


def main(db_path: str, scale: int = 20000) -> None:
    """Print change counts, conflict counts and timings for the window and for all changes."""
    measure(db_path, "")
    if scale and Path(db_path).is_file():
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "scaled.db"
            source, target = sqlite3.connect(db_path), sqlite3.connect(copy)
            with target:
                source.backup(target)
            source.close()
            target.close()
            top_up(str(copy), scale)
            measure(str(copy), "scaled_")


def top_up(db_path: str, scale: int) -> None:
    """Add random Scheduled changes so that ``scale`` active changes lie in the window."""
    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.transaction() as session:
            active = ChangeRequest.state.in_(ACTIVE_CHANGE_STATES)
            have = session.scalar(select(func.count(ChangeRequest.id)).where(active)) or 0
            latest = session.scalar(select(func.max(ChangeRequest.planned_end)).where(active))
            first_id = (session.scalar(select(func.max(ChangeRequest.id))) or 0) + 1
            cis = list(session.scalars(select(ConfigurationItem.id)))
            people = list(session.scalars(select(Person.id)))
            rng = random.Random(5)
            base = (latest or dt.datetime.now(dt.UTC)) - dt.timedelta(days=90)
            rows, links = [], []
            for n in range(max(0, scale - have)):
                cid = first_id + n
                start = base + dt.timedelta(minutes=15 * rng.randrange(4 * 24 * 88))
                rows.append(
                    {
                        "id": cid,
                        "number": f"CHGX{cid:07d}",
                        "short_description": "Scale test change",
                        "state": "Scheduled",
                        "planned_start": start,
                        "planned_end": start + dt.timedelta(hours=rng.choice([1, 2, 3, 4, 6])),
                        "assignee_id": rng.choice(people),
                    }
                )
                links.append({"change_id": cid, "ci_id": rng.choice(cis)})
            if rows:
                session.execute(ChangeRequest.__table__.insert(), rows)
                session.execute(change_ci.insert(), links)
    finally:
        database.dispose()


def measure(db_path: str, prefix: str) -> None:
    """Time the engine, the sweep and the naive check on one database."""

    def emit_(name: str, value: object) -> None:
        emit(prefix + name, value)

    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.session() as session:
            active = ChangeRequest.state.in_(ACTIVE_CHANGE_STATES)
            emit_("changes_total", session.scalar(select(func.count(ChangeRequest.id))))
            emit_(
                "changes_active", session.scalar(select(func.count(ChangeRequest.id)).where(active))
            )
            latest = session.scalar(select(func.max(ChangeRequest.planned_end)).where(active))
            latest = latest or dt.datetime.now(dt.UTC)
            window = (latest - dt.timedelta(days=90), latest)
            emit_("window", f"{window[0]:%Y-%m-%d} .. {window[1]:%Y-%m-%d}")

            seconds, found = timed(lambda: find_conflicts(session, window=window))
            assert isinstance(found, dict)
            counts = Counter(str(c.type) for v in found.values() for c in v)
            emit_("window_changes", len(found))
            emit_("window_changes_with_conflicts", sum(1 for v in found.values() if v))
            for kind, n in sorted(counts.items()):
                emit_(f"window_conflicts_{kind}", n)
            emit_("window_seconds", f"{seconds:.4f}")

            seconds_all, found_all = timed(lambda: find_conflicts(session), runs=3)
            assert isinstance(found_all, dict)
            emit_("all_active_changes", len(found_all))
            emit_("all_active_conflicts", sum(len(v) for v in found_all.values()))
            emit_("all_active_seconds", f"{seconds_all:.4f}")

            subject = next((cid for cid, v in found.items() if v), next(iter(found), None))
            if subject is not None:
                change = session.get(ChangeRequest, subject)
                assert change is not None and change.planned_start and change.planned_end
                shift = dt.timedelta(hours=1)
                one, _ = timed(
                    lambda: conflicts_for(
                        session, subject, change.planned_start + shift, change.planned_end + shift
                    ),
                    runs=20,
                )
                emit_("dragged_change_ms", f"{one * 1000:.2f}")

            rows = session.execute(
                select(
                    ChangeRequest.id,
                    ChangeRequest.planned_start,
                    ChangeRequest.planned_end,
                    ChangeRequest.assignee_id,
                    change_ci.c.ci_id,
                )
                .join(change_ci, change_ci.c.change_id == ChangeRequest.id)
                .where(active, ChangeRequest.planned_start.is_not(None))
            ).all()
        emit_("pair_rows", len(rows))

        def sweep() -> set[tuple[int, int, str]]:
            found: set[tuple[int, int, str]] = set()
            for key in ("ci", "person"):
                groups: dict[object, list[tuple[int, dt.datetime, dt.datetime]]] = {}
                for cid, start, end, person, ci in rows:
                    value = ci if key == "ci" else person
                    if value is not None:
                        groups.setdefault(value, []).append((cid, start, end))
                for group in groups.values():
                    group = list(dict.fromkeys(group))
                    for i, j in overlapping_pairs([(s, e) for _, s, e in group]):
                        a, b = group[i][0], group[j][0]
                        if a != b:
                            found.add((min(a, b), max(a, b), key))
            return found

        def naive() -> set[tuple[int, int, str]]:
            found: set[tuple[int, int, str]] = set()
            for (a, sa, ea, pa, ca), (b, sb, eb, pb, cb) in combinations(rows, 2):
                if a != b and sa < eb and sb < ea:
                    if ca == cb:
                        found.add((min(a, b), max(a, b), "ci"))
                    if pa is not None and pa == pb:
                        found.add((min(a, b), max(a, b), "person"))
            return found

        sweep_s, sweep_pairs = timed(sweep)
        emit_("sweep_pairs", len(sweep_pairs))  # type: ignore[arg-type]
        emit_("sweep_seconds", f"{sweep_s:.4f}")
        full = rows
        if len(rows) > SAMPLE:
            rows = random.Random(1).sample(full, SAMPLE)
            sample_sweep_s, sample_pairs = timed(sweep)
        else:
            sample_sweep_s, sample_pairs = sweep_s, sweep_pairs
        naive_s, naive_pairs = timed(naive, runs=1)
        emit_("naive_rows", len(rows))
        emit_("naive_matches_sweep", sample_pairs == naive_pairs)
        emit_("naive_seconds", f"{naive_s:.4f}")
        emit_("naive_over_sweep_same_rows", f"{naive_s / max(sample_sweep_s, 1e-9):.1f}")
        if len(full) > len(rows):
            extrapolated = naive_s * (len(full) / len(rows)) ** 2
            emit_("naive_seconds_extrapolated_all_rows", f"{extrapolated:.1f}")
            emit_("naive_over_sweep_all_rows", f"{extrapolated / max(sweep_s, 1e-9):.0f}")
    finally:
        database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="a demo database (path or URL)")
    parser.add_argument("--scale", type=int, default=20000, help="active changes; 0 skips")
    args = parser.parse_args()
    main(args.db, args.scale)
