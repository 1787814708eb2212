"""Import benchmark: a 150,000-row ServiceNow event log read and stored, against pandas.

python -m bench.bench_import                    # builds a 25,000-incident demo database first
python -m bench.bench_import --db PATH          # the newest incidents of PATH (only read)
python -m bench.bench_import --csv FILE         # keep the generated event log there

The event log is written from a demo database in ServiceNow's event-log shape (the columns of
the public ``incident_event_log`` data set: snapshots of an incident after each update, with
``sys_mod_count`` counting them, "?" for no value and day-first dates like 29/2/2016 01:16),
six rows per incident on average, built from each incident's history (state and assignment
events, first response, resolution, closure) and padded with plain updates.

Timed, in one run: (a) ``read_plan`` + ``write_plan`` into a fresh migrated SQLite file that
holds only the source's SLA definitions and calendars (so the clocks are computed, as in a
real database); (b) the same again (a re-import, which must change nothing); (c) the
baseline, ``pandas.read_csv`` + ``DataFrame.to_sql`` of the same file into a fresh SQLite
file (one flat table: no matching, history, clocks or audit). Target: (a) within 10 s.
With ``--pg`` the import and the baseline run again against a PostgreSQL 15 server the
benchmark starts (the team database; pandas writes through SQLAlchemy, the import by COPY).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROWS = 150_000
PER_INCIDENT = 6
TARGET_S = 10.0
DEMO_INCIDENTS = 25_000

COLUMNS = (
    "number", "incident_state", "active", "reassignment_count", "reopen_count",
    "sys_mod_count", "made_sla", "caller_id", "opened_by", "opened_at", "sys_created_by",
    "sys_created_at", "sys_updated_by", "sys_updated_at", "contact_type", "location",
    "category", "subcategory", "u_symptom", "cmdb_ci", "impact", "urgency", "priority",
    "assignment_group", "assigned_to", "knowledge", "u_priority_confirmation", "notify",
    "problem_id", "rfc", "vendor", "caused_by", "closed_code", "resolved_by", "resolved_at",
    "closed_at",
)  # fmt: skip
LEVEL = {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}
PRIORITY = {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low", 5: "5 - Planning"}
CONTACT = {"phone": "Phone", "email": "Email", "portal": "Self service", "monitoring": "IVR"}
HOLD_STATE = {
    "Awaiting Caller": "Awaiting User Info",
    "Awaiting Vendor": "Awaiting Vendor",
    "Awaiting Problem": "Awaiting Problem",
    "Awaiting Change": "Awaiting Change",
}
STATE = {"New": "New", "In Progress": "Active", "Resolved": "Resolved", "Closed": "Closed",
         "Canceled": "Canceled"}  # fmt: skip


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _when(value: dt.datetime | None) -> str:
    """ServiceNow's day-first export format, as in the public event-log data set."""
    if value is None:
        return "?"
    return f"{value.day}/{value.month}/{value.year} {value.hour:02d}:{value.minute:02d}"


def _or(value: Any) -> str:
    return "?" if value is None or value == "" else str(value)


# --- the event log ---------------------------------------------------------------------------


def write_event_log(db_path: str, out: Path, rows: int = ROWS) -> tuple[int, int]:
    """Write about ``rows`` event-log rows for the newest incidents of ``db_path``.

    Returns (rows written, incidents).
    """
    from sqlalchemy import func, select
    from sqlalchemy.orm import aliased

    from app.db import open_database
    from app.models import (
        ChangeRequest,
        ConfigurationItem,
        Incident,
        IncidentEvent,
        Person,
        Problem,
        Team,
        Vendor,
    )

    database = open_database(db_path, upgrade=False, create=False)
    wanted = -(-rows // PER_INCIDENT)
    caller, assignee = aliased(Person), aliased(Person)
    group, first = aliased(Team), aliased(Team)
    fix, cause = aliased(ChangeRequest), aliased(ChangeRequest)
    try:
        with database.session() as session:
            top = session.scalar(select(func.max(Incident.id))) or 0
            low = session.scalar(
                select(Incident.id).order_by(Incident.id.desc()).offset(wanted - 1).limit(1)
            ) or session.scalar(select(func.min(Incident.id)))
            anchor = session.scalar(select(func.max(Incident.updated_at)))
            incidents = session.execute(
                select(
                    Incident, caller.name, assignee.name, group.name, first.name,
                    ConfigurationItem.name, Vendor.name, Problem.number, fix.number, cause.number,
                )
                .outerjoin(caller, caller.id == Incident.caller_id)
                .outerjoin(assignee, assignee.id == Incident.assignee_id)
                .outerjoin(group, group.id == Incident.assignment_group_id)
                .outerjoin(first, first.id == Incident.first_group_id)
                .outerjoin(ConfigurationItem, ConfigurationItem.id == Incident.ci_id)
                .outerjoin(Vendor, Vendor.id == Incident.vendor_id)
                .outerjoin(Problem, Problem.id == Incident.problem_id)
                .outerjoin(fix, fix.id == Incident.change_id)
                .outerjoin(cause, cause.id == Incident.caused_by_change_id)
                .where(Incident.id.between(low, top))
                .order_by(Incident.id)
            ).all()  # fmt: skip
            events: dict[int, list[Any]] = {}
            for e in session.execute(
                select(
                    IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.kind,
                    IncidentEvent.new_value, IncidentEvent.text, Person.name,
                )
                .outerjoin(Person, Person.id == IncidentEvent.author_id)
                .where(IncidentEvent.incident_id.between(low, top))
                .order_by(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.id)
            ):  # fmt: skip
                events.setdefault(e.incident_id, []).append(e)
    finally:
        database.dispose()
    chosen: list[list[list[str]]] = []
    written = 0
    for inc, *names in reversed(incidents):  # the newest first, until there are enough rows
        if written >= rows:
            break
        chosen.append(_snapshots(inc, names, events.get(inc.id, []), anchor))
        written += len(chosen[-1])
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for snapshots in reversed(chosen):
            writer.writerows(snapshots)
    return written, len(chosen)


def _snapshots(inc: Any, names: list[Any], events: list[Any], anchor: Any) -> list[list[str]]:
    """The incident after each update, oldest first: state and assignment from its history."""
    caller, assignee, group, first, ci, vendor, problem, fix, cause = names
    steps: list[tuple[dt.datetime, dict[str, Any], str | None]] = [
        (inc.opened_at, {"state": "New", "group": first or group, "assignee": None}, None)
    ]
    if inc.first_response_at is not None:
        steps.append((inc.first_response_at, {"state": "Active", "assignee": assignee}, assignee))
    for e in events:
        if e.kind == "assignment":
            steps.append((e.at, {"group": e.new_value}, e.name))
        elif e.kind == "state":
            state = HOLD_STATE.get(e.text, "Awaiting User Info") if e.new_value == "On Hold" else (
                STATE.get(e.new_value, e.new_value)
            )  # fmt: skip
            change: dict[str, Any] = {"state": state}
            if e.new_value == "Resolved":
                change.update(resolved=True)
            elif e.new_value == "In Progress":
                change.update(resolved=False)
            steps.append((e.at, change, e.name))
        elif e.kind == "work_note":
            steps.append((e.at, {}, e.name))
    if inc.state == "Closed" and inc.closed_at is not None:
        steps.append((inc.closed_at, {"state": "Closed"}, "system"))
    steps.sort(key=lambda s: s[0])
    while len(steps) < PER_INCIDENT:
        times = [s[0] for s in steps]
        gaps = [(b - a, i) for i, (a, b) in enumerate(zip(times, times[1:], strict=False))]
        gap, i = max(gaps, default=(dt.timedelta(0), -1))
        if gap >= dt.timedelta(minutes=2):
            steps.insert(i + 1, (times[i] + gap / 2, {}, assignee))
        else:
            steps.append((min(times[-1] + dt.timedelta(minutes=30), anchor), {}, assignee))
    rows = []
    now: dict[str, Any] = {"state": "New", "group": None, "assignee": None, "resolved": False}
    reassign = reopen = 0
    for count, (at, change, who) in enumerate(steps):
        if "group" in change and now.get("group") and change["group"] != now["group"]:
            reassign += 1
        if change.get("resolved") is False and now.get("resolved"):
            reopen += 1
        now.update(change)
        resolved = now.get("resolved") or now["state"] == "Closed"
        done = now["state"] in ("Resolved", "Closed", "Canceled")
        rows.append(
            [
                inc.number, now["state"], "false" if now["state"] == "Closed" else "true",
                str(reassign), str(reopen), str(count), _made(inc.made_sla),
                _or(caller), _or(caller), _when(inc.opened_at), "Created by 1",
                _when(inc.opened_at), _or(who or "system"), _when(at),
                CONTACT.get(inc.contact_type, inc.contact_type), "?", _or(inc.category),
                _or(inc.subcategory), "?", _or(ci), LEVEL[inc.impact], LEVEL[inc.urgency],
                PRIORITY[inc.priority], _or(now["group"]), _or(now["assignee"]), "false",
                "false", "Do Not Notify", _or(problem), _or(fix), _or(vendor), _or(cause),
                _or(inc.resolution_code if done else None), _or(assignee if resolved else None),
                _when(inc.resolved_at) if resolved else "?",
                _when(inc.closed_at) if now["state"] in ("Closed", "Canceled") else "?",
            ]
        )  # fmt: skip
    return rows


def _made(value: bool | None) -> str:
    return "?" if value is None else ("true" if value else "false")


# --- the databases ---------------------------------------------------------------------------


def fresh_database(folder: Path, name: str, source: str | None) -> str:
    """A new migrated SQLite file holding the SLA definitions and calendars of ``source``."""
    return fresh_target(str(folder / name), source)


def fresh_target(url: str, source: str | None) -> str:
    """Migrate the (new, empty) database at ``url`` and give it the SLA definitions and
    calendars of ``source``."""
    from sqlalchemy import insert, select

    from app.db import open_database
    from app.models import BusinessHours, BusinessSchedule, Country, Holiday, SlaDefinition

    target = open_database(url)
    if source is not None:
        origin = open_database(source, upgrade=False, create=False)
        try:
            with origin.engine.connect() as src, target.engine.begin() as dst:
                for model in (Country, BusinessSchedule, BusinessHours, Holiday, SlaDefinition):
                    table = model.__table__
                    rows = [dict(r._mapping) for r in src.execute(select(table))]
                    if rows:
                        dst.execute(insert(table), rows)
        finally:
            origin.dispose()
    target.dispose()
    return url


def time_import(csv_path: Path, db_path: str) -> dict[str, Any]:
    """Seconds to read the file into a plan and to write the plan, and what was done."""
    from app.db import open_database
    from app.services.io.importer import read_plan
    from app.services.io.incident_import import write_plan

    database = open_database(db_path)
    try:
        began = time.perf_counter()
        plan = read_plan(csv_path, tz=dt.UTC)
        read_s = time.perf_counter() - began
        began = time.perf_counter()
        summary = write_plan(database, plan, username="bench")
        write_s = time.perf_counter() - began
    finally:
        database.dispose()
    return {"read": read_s, "write": write_s, "total": read_s + write_s, "summary": summary}


def time_pandas_to(csv_path: Path, url: str) -> dict[str, float]:
    """Seconds of pandas.read_csv and of DataFrame.to_sql through SQLAlchemy at ``url``."""
    import pandas as pd
    from sqlalchemy import create_engine

    began = time.perf_counter()
    frame = pd.read_csv(csv_path)
    read_s = time.perf_counter() - began
    engine = create_engine(url)
    try:
        began = time.perf_counter()
        frame.to_sql("incident_event_log", engine, index=False)
        write_s = time.perf_counter() - began
    finally:
        engine.dispose()
    return {"read": read_s, "write": write_s, "total": read_s + write_s, "rows": len(frame)}


def postgresql_leg(csv_path: Path, source: str) -> None:
    """The same import and baseline against a PostgreSQL 15 server started for it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.pgserver import start_server

    server = start_server()
    try:
        ours = time_import(csv_path, fresh_target(server.create_database("ours"), source))
        theirs = time_pandas_to(csv_path, server.create_database("pandas"))
    finally:
        server.stop()
    emit("pg_import_read_s", f"{ours['read']:.2f}")
    emit("pg_import_write_s", f"{ours['write']:.2f}")
    emit("pg_import_total_s", f"{ours['total']:.2f}")
    emit("pg_pandas_read_csv_s", f"{theirs['read']:.2f}")
    emit("pg_pandas_to_sql_s", f"{theirs['write']:.2f}")
    emit("pg_pandas_total_s", f"{theirs['total']:.2f}")
    emit("pg_import_vs_pandas_ratio", f"{ours['total'] / theirs['total']:.2f}")


def time_pandas(csv_path: Path, db_path: Path) -> dict[str, float]:
    """Seconds of pandas.read_csv and of DataFrame.to_sql into a fresh SQLite file."""
    import pandas as pd

    began = time.perf_counter()
    frame = pd.read_csv(csv_path)
    read_s = time.perf_counter() - began
    conn = sqlite3.connect(db_path)
    try:
        began = time.perf_counter()
        frame.to_sql("incident_event_log", conn, index=False)
        conn.commit()
        write_s = time.perf_counter() - began
    finally:
        conn.close()
    return {"read": read_s, "write": write_s, "total": read_s + write_s, "rows": len(frame)}


def _count(db_path: str) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("incident", "incident_event", "sla_clock", "audit_log", "person", "team")
        }
    finally:
        conn.close()


def main(
    db_path: str | None = None, csv_out: Path | None = None, runs: int = 1, pg: bool = False
) -> None:
    """Generate the event log from ``db_path`` (default: a new demo database) and time it."""
    with tempfile.TemporaryDirectory(prefix="servicedeck-import-") as tmp:
        folder = Path(tmp)
        if db_path is None:
            from app.services.demo import create_demo_database

            db_path = str(folder / "source.db")
            began = time.perf_counter()
            create_demo_database(db_path, incidents=DEMO_INCIDENTS)
            emit("import_source_demo_s", f"{time.perf_counter() - began:.1f}")
        csv_path = csv_out or folder / "incident_event_log.csv"
        began = time.perf_counter()
        rows, incidents = write_event_log(db_path, csv_path)
        emit("import_csv_generation_s", f"{time.perf_counter() - began:.1f}")
        emit("import_csv_rows", rows)
        emit("import_csv_incidents", incidents)
        emit("import_csv_mb", f"{csv_path.stat().st_size / 2**20:.1f}")

        ours = []
        for n in range(runs):
            target = fresh_database(folder, f"import-{n}.db", db_path)
            ours.append((time_import(csv_path, target), target))
        first, target = min(ours, key=lambda r: r[0]["total"])
        again = time_import(csv_path, target)
        theirs = time_pandas(csv_path, folder / "pandas.db")

        s = first["summary"]
        emit("import_created", s.created)
        emit("import_history_events", s.events)
        emit("import_sla_clocks", s.clocks)
        emit("import_tables", " ".join(f"{k}={v}" for k, v in _count(target).items()))
        emit("import_read_s", f"{first['read']:.2f}")
        emit("import_write_s", f"{first['write']:.2f}")
        emit("import_total_s", f"{first['total']:.2f}")
        if runs > 1:
            totals = [r[0]["total"] for r in ours]
            emit("import_runs_total_s", " ".join(f"{t:.2f}" for t in totals))
            emit("import_median_total_s", f"{statistics.median(totals):.2f}")
        r = again["summary"]
        emit("reimport_created_updated_unchanged", f"{r.created} {r.updated} {r.unchanged}")
        emit("reimport_read_s", f"{again['read']:.2f}")
        emit("reimport_write_s", f"{again['write']:.2f}")
        emit("reimport_total_s", f"{again['total']:.2f}")
        emit("pandas_read_csv_s", f"{theirs['read']:.2f}")
        emit("pandas_to_sql_s", f"{theirs['write']:.2f}")
        emit("pandas_total_s", f"{theirs['total']:.2f}")
        emit("import_vs_pandas_ratio", f"{first['total'] / theirs['total']:.2f}")
        verdict = "met" if first["total"] <= TARGET_S else "missed"
        emit("import_target_10s", f"{verdict} ({first['total']:.2f} s for {rows:,} rows)")
        if pg:
            postgresql_leg(csv_path, db_path)
        emit("load_average_1m", f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a demo database (only read); default: build one")
    parser.add_argument("--csv", type=Path, help="keep the generated event log in this file")
    parser.add_argument("--runs", type=int, default=1, help="imports into fresh databases")
    parser.add_argument(
        "--pg", action="store_true", help="also into a PostgreSQL 15 server started for it"
    )
    args = parser.parse_args()
    main(args.db, args.csv, args.runs, args.pg)
    sys.exit(0)
