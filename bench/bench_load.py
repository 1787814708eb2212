"""Multi-client load test against a real PostgreSQL: lost updates, errors, latencies, live refresh.

    python -m bench.bench_load                       # 20 clients x 500 operations
    python -m bench.bench_load --clients 3 --ops 40  # a quick look
    python -m bench.bench_load --db URL              # an existing database (it is written)
    python -m bench.bench_load --keep                # leave the cluster and the journals

Without ``--db`` the script starts a throwaway PostgreSQL cluster (``tests.pgserver``),
fills a database with a small demo data set, runs ``db init`` (group roles and GRANTs) and
gives every client its own database user in the agent role. Then N client processes
(spawned) each run their operations as fast as they can, a seeded mix of:

* ``create``: a new incident in the client's home group;
* ``update``: read an incident, change a field or two (short description, urgency,
  assignment) and save with the version read;
* ``state``: read an incident and move it to a state the workflow allows, with the
  fields that state needs (hold reason, resolution code and notes);
* ``queue``: what the incident queue runs for its first page ("open in my groups",
  by priority): the context, the count and the first block of rows.

Half of the clients pick part of their edits from a small shared "hot" set of incidents,
so real version conflicts happen. On a conflict a client does what the console does:
reads the incident again and repeats the intended change on the new version (at most
``MAX_ATTEMPTS`` tries); if the change no longer applies (the incident moved on) it is
dropped and counted as moot. Any other exception is an unhandled error.

Each client writes a journal (JSON lines): every committed write with the version it
read and the version it committed (read back in the same transaction), the values
before and after, and every operation's latency (read + save + retries, ms). Afterwards,
with fresh connections, the verifier checks that nothing was lost: per incident, the
committed writes chain version to version from the first state to the final row (each
write read exactly what the previous one left; a save moves the version by one per
flush that changed the row, so by 2 when the SLA engine touches the incident, and not
at all when nothing changed); the final row equals the replay of the intended changes in
version order (last writer per field wins); and the audit log has exactly one row per
field each write changed, with its new value and user. Created incidents must all exist
with unique numbers.

While the clients run, an observer process hosts the incident queue page offscreen,
wired to a ``LiveBridge`` as the console does, and the main process commits a marked
change now and then (another console, journaled and verified like the clients); the
observer times commit -> the row shown in the queue's model. It also reports commit ->
the bridge's signal (``delivered``), the most background queries it had running at
once, and any time an older read overwrote a newer row already shown.

Figures: ``load_*`` lines, a table of latencies per operation type (ms) and conflicts,
the NOTIFY -> queue refresh latency, and a final ``PASS``/``FAIL`` line (exit status 1
on FAIL). Targets: no lost update, no unhandled error, every marked change shown within
2 s (and never replaced by older data). Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CLIENTS = 20
DEFAULT_OPS = 500
#: Incidents of the demo data the database is seeded with.
SEED_INCIDENTS = 3000
#: Incidents every "hot" client edits part of the time (shared, so versions clash).
HOT_SET = 8
#: Share of a hot client's edits that go to the hot set.
HOT_SHARE = 0.5
#: Operation mix.
MIX = {"create": 0.20, "update": 0.35, "state": 0.20, "queue": 0.25}
#: Tries of one save (the first and the retries after a conflict).
MAX_ATTEMPTS = 6
#: First block of the queue (``app.views.qtmodels.incident_table.BLOCK_SIZE``).
QUEUE_BLOCK = 200
#: NOTIFY -> queue refresh target, and how long a marked change may take to show at all.
REFRESH_TARGET_S = 2.0
REFRESH_TIMEOUT_S = 15.0
#: Pause between two marked changes of the "other console".
MARK_INTERVAL_S = (0.4, 1.2)
#: Fields compared between the journal, the final rows and the audit log.
FIELDS = (
    "short_description",
    "urgency",
    "impact",
    "priority",
    "assignment_group_id",
    "assignee_id",
    "state",
    "hold_reason",
    "resolution_code",
)
USER_PREFIX = "bench_load_"
MARKER_GROUP = "Problem Management"
FINAL = ("Closed", "Canceled")
OPS = ("create", "update", "state", "queue")


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def with_user(url: str, user: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=user).render_as_string(hide_password=False)


def snapshot(incident: Any) -> dict[str, Any]:
    return {key: getattr(incident, key) for key in FIELDS}


# --- setting up ---------------------------------------------------------------------------


@dataclass
class Setup:
    """What the clients, the observer and the verifier share (picklable)."""

    url: str
    work: str
    #: Database user per client (``None``: every client signs in as the owner).
    users: list[str | None]
    signed_in_as: str
    hot_ids: list[int]
    marker_id: int
    marker_group: int
    #: (group id, member person ids) the clients assign to.
    groups: list[tuple[int, list[int]]]
    writer_user: str | None
    observer_user: str | None
    #: The highest audit row id before the clients started.
    audit_floor: int
    #: Incident id -> (version, fields) before the clients started (hot set and marker).
    initial: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)


def seed_database(url: str, incidents: int, seed: int, say=emit) -> None:
    """Demo data (when the database has no incidents yet), then ``db init``."""
    from sqlalchemy import func, select

    from app.db import open_database
    from app.db import roles as R
    from app.models import Incident, Team
    from app.services.demo import create_demo_database

    database = open_database(url)
    try:
        with database.session() as session:
            empty = not any(
                session.scalar(select(func.count()).select_from(model))
                for model in (Incident, Team)
            )
    finally:
        database.dispose()
    if empty:
        summary = create_demo_database(url, incidents=incidents, seed=seed)
        say("load_seed", f"{summary.counts.get('incidents', 0):,} demo incidents in "
            f"{summary.seconds:.1f} s")  # fmt: skip
    else:
        say("load_seed", "the database already holds data; used as it is")
    R.init_database(url)


def make_users(url: str, clients: int) -> tuple[list[str | None], str | None, str | None, str]:
    """A database user in the agent role per client (and the writer and the observer).

    Falls back to the owner when users cannot be made or cannot sign in (say, a server
    that wants passwords); the returned sentence says which.
    """
    from sqlalchemy import create_engine, text

    from app.db import roles as R

    names = [f"{USER_PREFIX}{i + 1:02d}" for i in range(clients)]
    extra = [f"{USER_PREFIX}console", f"{USER_PREFIX}observer"]
    try:
        for name in [*names, *extra]:
            R.add_user(url, name, "agent", display_name=f"Load test {name[len(USER_PREFIX) :]}")
        engine = create_engine(with_user(url, names[0]))
        try:
            with engine.connect() as conn:
                who = conn.execute(text("SELECT current_user")).scalar_one()
        finally:
            engine.dispose()
        if who != names[0]:
            raise RuntimeError(f"signed in as {who}")
    except Exception as exc:  # no CREATEROLE, or password authentication
        reason = str(exc).strip().splitlines()[0][:160] if str(exc) else type(exc).__name__
        return [None] * clients, None, None, f"the owner (own users not possible: {reason})"
    label = f"{names[0]}..{names[-1]}" if clients > 1 else names[0]
    return names, extra[0], extra[1], f"own database users {label} in the agent role"


def prepare(url: str, work: Path, clients: int, seed: int) -> Setup:
    """Users, the hot set and the marker incident, and the state before the run."""
    from sqlalchemy import func, select

    from app.db import open_database
    from app.models import AuditEntry, Incident, Team, team_member
    from app.services.incidents import IncidentInput, new_incident

    users, writer, observer, signed_in_as = make_users(url, clients)
    rng = random.Random(seed)
    database = open_database(url, upgrade=False, create=False)
    try:
        with database.transaction() as session:
            members: dict[int, list[int]] = defaultdict(list)
            for team_id, person_id in session.execute(
                select(team_member.c.team_id, team_member.c.person_id).order_by(
                    team_member.c.team_id, team_member.c.person_id
                )
            ):
                members[team_id].append(person_id)
            teams = dict(session.execute(select(Team.name, Team.id)).all())
            marker_group = teams.get(MARKER_GROUP) or max(teams.values())
            groups = [(t, m) for t, m in sorted(members.items()) if len(m) >= 2]
            groups = [g for g in groups if g[0] != marker_group][:12]
            if not groups:
                raise SystemExit("the database has no team with two members to assign to")
            hot = []
            for n in range(HOT_SET):
                group, people = groups[n % len(groups)]
                hot.append(
                    new_incident(
                        session,
                        IncidentInput(
                            short_description=f"Hot incident {n + 1}",
                            urgency=rng.choice((1, 2, 3)),
                            impact=rng.choice((2, 3)),
                            assignment_group_id=group,
                            assignee_id=rng.choice(people),
                        ),
                    )
                )
            marker = new_incident(
                session,
                IncidentInput(
                    short_description="Marker (live refresh)",
                    assignment_group_id=marker_group,
                ),
            )
            session.flush()
            initial = {inc.id: (inc.version, snapshot(inc)) for inc in [*hot, marker]}
            hot_ids, marker_id = [inc.id for inc in hot], marker.id
        with database.session() as session:
            floor = session.scalar(select(func.max(AuditEntry.id))) or 0
            # Read back as committed (the flushes may have moved the versions on).
            for ident in list(initial):
                inc = session.get(Incident, ident)
                initial[ident] = (inc.version, snapshot(inc))
    finally:
        database.dispose()
    return Setup(
        url=url,
        work=str(work),
        users=users,
        signed_in_as=signed_in_as,
        hot_ids=hot_ids,
        marker_id=marker_id,
        marker_group=marker_group,
        groups=groups,
        writer_user=writer,
        observer_user=observer,
        audit_floor=int(floor),
        initial=initial,
    )


def open_as(url: str, user: str | None):
    """The database as ``user`` (None: as the URL's user), with the user's console identity."""
    from app.db import open_database
    from app.services.users import identity_for

    database = open_database(with_user(url, user) if user else url, upgrade=False, create=False)
    if user:
        with database.session() as session:
            identity = identity_for(session, user)
        if identity is not None:
            database.identity = identity
    return database


# --- a client -----------------------------------------------------------------------------


class Moot(Exception):
    """The intended change no longer applies after a conflict (the incident moved on)."""


class Client:
    """One console: runs its operations and journals what it committed."""

    def __init__(self, setup: Setup, index: int, seed: int, journal) -> None:
        self.setup = setup
        self.index = index
        self.rng = random.Random(seed * 1_000_003 + index)
        self.user = setup.users[index]
        self.db = open_as(setup.url, self.user)
        self.username = self.db.identity.username
        self.journal = journal
        self.hot = index % 2 == 0
        self.home, _people = setup.groups[index % len(setup.groups)]
        self.own: list[int] = []
        self.n = 0
        #: The operation under way (an update of an incident closed meanwhile creates one).
        self.op = ""

    def write(self, record: dict[str, Any]) -> None:
        self.journal.write(json.dumps(record, default=str) + "\n")

    # picking

    def pick(self) -> tuple[int, bool] | None:
        if self.hot and self.setup.hot_ids and (not self.own or self.rng.random() < HOT_SHARE):
            return self.rng.choice(self.setup.hot_ids), True
        if self.own:
            return self.rng.choice(self.own), False
        return None

    def read(self, incident_id: int) -> tuple[int, dict[str, Any]]:
        from app.models import Incident

        with self.db.session() as session:
            incident = session.get(Incident, incident_id)
            return incident.version, snapshot(incident)

    # operations

    def run_op(self, op: str) -> dict[str, Any]:
        self.op = op
        target = None
        if op in ("update", "state"):
            target = self.pick()
            if target is None:
                self.op = op = "create"
        if op == "create":
            return self.create()
        if op == "queue":
            return self.queue()
        incident_id, hot = target
        version, values = self.read(incident_id)
        if values["state"] in FINAL:
            self.own.remove(incident_id)
            self.op = "create"
            return self.create()
        if op == "update":
            changes = self.changes_for(values)
            return self.save(
                "update", incident_id, version, changes, lambda _theirs: changes, hot=hot
            )
        to_state, extra = self.next_state(values["state"], hot)
        intended = {"state": to_state, **extra}

        def still(theirs: dict[str, Any]) -> dict[str, Any]:
            from app.services.incidents import TRANSITIONS

            if to_state not in TRANSITIONS.get(theirs["state"], ()):
                raise Moot(f"{theirs['state']} -> {to_state}")
            return intended

        return self.save("state", incident_id, version, intended, still, hot=hot)

    def create(self) -> dict[str, Any]:
        from app.services.incidents import IncidentInput, new_incident

        group, people = self.setup.groups[self.index % len(self.setup.groups)]
        data = IncidentInput(
            short_description=f"{self.username} #{self.n} new",
            urgency=self.rng.choice((1, 2, 3)),
            impact=self.rng.choice((2, 3)),
            assignment_group_id=group,
            assignee_id=self.rng.choice([None, *people]),
        )
        t0 = time.time()
        with self.db.transaction() as session:
            incident = new_incident(session, data)
            after, version, ident, number = (
                snapshot(incident),
                incident.version,
                incident.id,
                incident.number,
            )
        self.own.append(ident)
        return {
            "op": "create",
            "write": {
                "kind": "create",
                "id": ident,
                "number": number,
                "v0": None,
                "v1": version,
                "intended": {
                    "short_description": data.short_description,
                    "urgency": data.urgency,
                    "impact": data.impact,
                    "assignment_group_id": data.assignment_group_id,
                    "assignee_id": data.assignee_id,
                    "state": "New",
                },
                "before": None,
                "after": after,
                "user": self.username,
                "t0": t0,
                "t1": time.time(),
            },
        }

    def queue(self) -> dict[str, Any]:
        from app.services import incident_query as q

        filt = q.IncidentFilter(states=(q.OPEN,), my_groups=True)
        sort = q.Sort("priority", False)
        with self.db.session() as session:
            ctx = q.context_for(session, team_ids=(self.home,))
            total = q.count(session, filt, ctx)
            rows = q.fetch_window(session, filt, sort, 0, QUEUE_BLOCK, ctx, total=total)
        return {"op": "queue", "rows": len(rows), "total": total}

    def changes_for(self, values: dict[str, Any]) -> dict[str, Any]:
        kinds = self.rng.sample(["description", "urgency", "assignment"], self.rng.choice((1, 2)))
        changes: dict[str, Any] = {}
        if "description" in kinds:
            changes["short_description"] = f"{self.username} #{self.n} edit"
        if "urgency" in kinds:
            changes["urgency"] = self.rng.choice([u for u in (1, 2, 3) if u != values["urgency"]])
        if "assignment" in kinds:
            current = (values["assignment_group_id"], values["assignee_id"])
            for _ in range(10):
                group, people = self.rng.choice(self.setup.groups)
                choice = (group, self.rng.choice([None, *people]))
                if choice != current:
                    break
            changes["assignment_group_id"], changes["assignee_id"] = choice
        return changes

    def next_state(self, state: str, hot: bool) -> tuple[str, dict[str, Any]]:
        from app.models.enums import HoldReason
        from app.services.incidents import RESOLUTION_CODES, TRANSITIONS

        choices = [str(s) for s in TRANSITIONS[state]]
        if hot or self.rng.random() < 0.7:
            # The hot set stays workable; own incidents are closed now and then.
            choices = [s for s in choices if s not in FINAL] or choices
        to_state = self.rng.choice(choices)
        extra: dict[str, Any] = {}
        if to_state == "On Hold":
            extra["hold_reason"] = self.rng.choice([r.value for r in HoldReason])
        if to_state == "Resolved":
            extra["resolution_code"] = self.rng.choice(RESOLUTION_CODES)
            extra["resolution_notes"] = f"{self.username} #{self.n} fixed"
        return to_state, extra

    def save(
        self,
        op: str,
        incident_id: int,
        version: int,
        intended: dict[str, Any],
        still,
        *,
        hot: bool,
    ) -> dict[str, Any]:
        """Save with the version read; after a conflict re-read and repeat the change."""
        from sqlalchemy.orm.exc import StaleDataError

        from app.models import Incident
        from app.services.incidents import ConflictError, WorkflowError, transition, update_incident

        conflicts = stale = 0
        outcome = "gave_up"
        record: dict[str, Any] = {"op": op, "hot": hot}
        for attempt in range(MAX_ATTEMPTS):
            t0 = time.time()
            try:
                with self.db.transaction() as session:
                    incident = session.get(Incident, incident_id)
                    before = snapshot(incident)
                    if op == "update":
                        update_incident(session, incident_id, version, intended)
                    else:
                        transition(
                            session,
                            incident_id,
                            version,
                            intended["state"],
                            hold_reason=intended.get("hold_reason"),
                            resolution_code=intended.get("resolution_code"),
                            resolution_notes=intended.get("resolution_notes"),
                        )
                    after, committed = snapshot(incident), incident.version
            except ConflictError as exc:
                conflicts += 1
                version = exc.their_version
                try:
                    if exc.theirs["state"] in FINAL:
                        raise Moot(exc.theirs["state"])
                    intended = still(exc.theirs)
                except Moot:
                    outcome = "moot"
                    break
                continue
            except WorkflowError as exc:
                if isinstance(exc.__context__, StaleDataError):
                    # The row moved between the version check and the UPDATE.
                    stale += 1
                    version, theirs = self.read(incident_id)
                    try:
                        if theirs["state"] in FINAL:
                            raise Moot(theirs["state"])
                        intended = still(theirs)
                    except Moot:
                        outcome = "moot"
                        break
                    continue
                if conflicts or stale:
                    # What was asked no longer fits the incident as others left it.
                    outcome = "moot"
                    record["refused"] = str(exc)
                    break
                raise
            outcome = "ok"
            record["write"] = {
                "kind": op,
                "id": incident_id,
                "v0": version,
                "v1": committed,
                "intended": {k: v for k, v in intended.items() if k in FIELDS},
                "before": before,
                "after": after,
                "user": self.username,
                "attempt": attempt + 1,
                "t0": t0,
                "t1": time.time(),
            }
            if after["state"] in FINAL and incident_id in self.own:
                self.own.remove(incident_id)
            break
        record.update(outcome=outcome, conflicts=conflicts, stale=stale)
        return record


def client_main(setup: Setup, index: int, ops: int, seed: int, ready, go) -> None:
    """A client process: sign in, wait for the start, run ``ops`` operations, journal them."""
    path = Path(setup.work) / f"client-{index + 1:02d}.jsonl"
    with path.open("w") as journal:
        try:
            client = Client(setup, index, seed, journal)
        except Exception:
            journal.write(json.dumps({"op": "start", "error": traceback.format_exc()}) + "\n")
            ready.put(index)
            return
        ready.put(index)
        go.wait()
        names, weights = list(MIX), list(MIX.values())
        for n in range(ops):
            client.n = n
            op = "create" if n == 0 else client.rng.choices(names, weights)[0]
            began = time.perf_counter()
            try:
                record = client.run_op(op)
            except Exception:
                record = {"op": client.op or op, "error": traceback.format_exc()}
            record["ms"] = (time.perf_counter() - began) * 1000
            client.write(record)
        client.db.dispose()


# --- the other console and the observer ---------------------------------------------------


def observer_main(setup: Setup, conn) -> None:
    """The incident queue page offscreen, live-updated; reports when marked changes show."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from app.services.incident_query import IncidentFilter, Sort
    from app.views import ops
    from app.views.application import application
    from app.views.incident_queue import IncidentQueuePage
    from app.views.live import LiveBridge
    from app.views.pages import PageContext

    app = application()
    db = open_as(setup.url, setup.observer_user)
    page = IncidentQueuePage(PageContext(db=db, interactive=False))
    bridge = LiveBridge(db)
    bridge.attach(page)
    bridge.start()
    page.resize(1400, 900)
    page.show()
    page.activate()
    page._apply(IncidentFilter(states=("open",), group_ids=(setup.marker_group,)), Sort("updated"))

    def pump(until, timeout: float) -> bool:
        end = time.perf_counter() + timeout
        while not until():
            if time.perf_counter() > end:
                return False
            app.processEvents()
            time.sleep(0.002)
        return True

    def marker_text() -> str | None:
        model = page.model
        for r in range(model.rowCount()):
            row = model.row_at(r, request=False)
            if row is not None and row.id == setup.marker_id:
                return row.short_description or ""
        return None

    def shown(token: str) -> bool:
        return token in (marker_text() or "")

    def sequence(text: str | None) -> int:
        match = re.search(r"MARK-(\d+)", text or "")
        return int(match.group(1)) if match else 0

    # When the bridge handed the page a change of the marker (GUI thread, after merging).
    heard: list[float] = []

    def on_records(table: str, ids: list) -> None:
        if table in ("incident", "*") and (not ids or setup.marker_id in ids):
            heard.append(time.time())

    bridge.records_changed.connect(on_records)
    backlog = 0

    def showing(token: str) -> bool:
        nonlocal backlog
        backlog = max(backlog, ops.running())
        return shown(token)

    ok = pump(lambda: page.is_loaded() and bridge.connected is True, 60)
    conn.send(("ready", ok, repr(page.last_error) if page.last_error else None))
    current, regressions = None, Counter()
    while True:
        app.processEvents()
        if not conn.poll(0.005):
            # A marked change once shown stays shown until a newer one replaces it: no
            # older read may overwrite it.
            text = marker_text() if current is not None else ""
            if text is None and not page.model.loading:
                regressions["missing"] += 1
                current = None
            elif text and sequence(text) < sequence(current):
                regressions["older"] += 1
                current = None
            continue
        message = conn.recv()
        if message[0] == "stop":
            conn.send(("regressions", dict(regressions)))
            break
        _mark, token, committed = message
        backlog = 0
        seen = pump(lambda token=token: showing(token), REFRESH_TIMEOUT_S)
        now = time.time()
        delivered = next((t - committed for t in heard if t >= committed), None)
        heard.clear()
        current = token if seen else None
        conn.send(("seen", token, now - committed if seen else None, delivered, backlog))
    bridge.stop()
    page.poll_timer.stop()
    page.close()
    ops.shutdown(10_000)
    db.dispose()


class OtherConsole:
    """Commits a marked short description to the marker incident; journals it like a client."""

    def __init__(self, setup: Setup, seed: int) -> None:
        self.setup = setup
        self.db = open_as(setup.url, setup.writer_user)
        self.rng = random.Random(seed)
        self.n = 0
        self.path = Path(setup.work) / "console.jsonl"
        self.journal = self.path.open("w")

    def mark(self) -> tuple[str, float]:
        from app.models import Incident
        from app.services.incidents import update_incident

        self.n += 1
        token = f"MARK-{self.n:04d}-{self.rng.randrange(10**6):06d}"
        ident = self.setup.marker_id
        with self.db.session() as session:
            version = session.get(Incident, ident).version
        t0 = time.time()
        intended = {"short_description": f"Marker {token}"}
        with self.db.transaction() as session:
            incident = session.get(Incident, ident)
            before = snapshot(incident)
            update_incident(session, ident, version, intended)
            after, committed = snapshot(incident), incident.version
        t1 = time.time()
        write = {"kind": "update", "id": ident, "v0": version, "v1": committed,
                 "intended": intended, "before": before, "after": after,
                 "user": self.db.identity.username, "t0": t0, "t1": t1}  # fmt: skip
        self.journal.write(json.dumps({"op": "mark", "write": write}, default=str) + "\n")
        self.journal.flush()
        return token, t1

    def close(self) -> None:
        self.journal.close()
        self.db.dispose()


# --- the run ------------------------------------------------------------------------------


@dataclass
class RunResult:
    wall_s: float
    refresh_s: list[float]
    refresh_missed: int
    observer_problem: str | None
    client_exit_codes: list[int | None]
    #: Commit -> the bridge handing the change to the page (s), per marked change.
    notified_s: list[float] = field(default_factory=list)
    #: The most queries the observer had running at once while waiting, per marked change.
    backlogs: list[int] = field(default_factory=list)
    #: Marked changes that went from the queue after showing: "older" (an older read
    #: overwrote the newer one), "missing" (the marker's row went).
    regressions: dict[str, int] = field(default_factory=dict)


def run_clients(setup: Setup, clients: int, ops: int, seed: int, notify: bool = True) -> RunResult:
    """Spawn the clients (and the observer), mark changes while they run, wait for all."""
    ctx = mp.get_context("spawn")
    ready, go = ctx.Queue(), ctx.Event()
    observer = parent_end = None
    problem = None
    if notify:
        parent_end, child_end = ctx.Pipe()
        observer = ctx.Process(target=observer_main, args=(setup, child_end), daemon=True)
        observer.start()
    procs = [
        ctx.Process(target=client_main, args=(setup, i, ops, seed, ready, go))
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=300)
    console = None
    if observer is not None:
        if parent_end.poll(120):
            _tag, ok, error = parent_end.recv()
            if not ok:
                problem = f"the observer's queue did not load or connect ({error})"
        else:
            problem = "the observer did not start in 120 s"
        if problem is None:
            console = OtherConsole(setup, seed)
    began = time.perf_counter()
    go.set()
    refresh: list[float] = []
    notified: list[float] = []
    backlogs: list[int] = []
    missed = 0
    regressions: dict[str, int] = {}
    rng = random.Random(seed + 7)
    while any(p.is_alive() for p in procs):
        if console is None:
            time.sleep(0.2)
            continue
        time.sleep(rng.uniform(*MARK_INTERVAL_S))
        if not any(p.is_alive() for p in procs):
            break
        token, committed = console.mark()
        parent_end.send(("mark", token, committed))
        if not parent_end.poll(REFRESH_TIMEOUT_S + 30):
            problem = "the observer stopped answering"
            console.close()
            console = None
            continue
        _tag, _token, seconds, delivered, backlog = parent_end.recv()
        if seconds is None:
            missed += 1
        else:
            refresh.append(seconds)
        if delivered is not None:
            notified.append(delivered)
        backlogs.append(backlog)
    for proc in procs:
        proc.join()
    wall = time.perf_counter() - began
    if console is not None:
        console.close()
    if observer is not None:
        try:
            parent_end.send(("stop",))
            if parent_end.poll(30):
                regressions = parent_end.recv()[1]
        except (OSError, EOFError):
            pass
        observer.join(30)
        if observer.is_alive():
            observer.kill()
    return RunResult(
        wall, refresh, missed, problem, [p.exitcode for p in procs], notified, backlogs, regressions
    )


# --- checking -----------------------------------------------------------------------------


@dataclass
class Verification:
    incidents_checked: int = 0
    writes_checked: int = 0
    created: int = 0
    audit_rows_checked: int = 0
    lost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: op -> latencies (ms); op -> Counter of conflicts, stale saves, retries, outcomes.
    latencies: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, Counter] = field(default_factory=dict)


def read_journals(work: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(work.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                record["journal"] = path.name
                records.append(record)
    return records


def error_kind(text: str) -> str:
    """The exception line of a traceback, numbers masked, for grouping."""
    lines = [
        line
        for line in text.splitlines()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\w*: ", line)
    ]
    last = lines[-1] if lines else text.strip().splitlines()[-1]
    return re.sub(r"\d+", "N", last)[:160]


def short_traceback(text: str) -> list[str]:
    """The heading, the frames of our own code (not the libraries') and the exceptions."""
    lines = text.splitlines()
    kept = lines[:1]
    for i, line in enumerate(lines[1:], 1):
        own = line.lstrip().startswith("File ") and "site-packages" not in line
        if own:
            kept.append(line)
            if i + 1 < len(lines):
                kept.append(lines[i + 1])
        elif re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\w*: ", line):
            kept.append(line[:300])
    return kept


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def verify(setup: Setup, clients: int | None = None, ops: int | None = None) -> Verification:
    """Replay the journals against the final rows and the audit log (fresh connections)."""
    from sqlalchemy import func, select

    from app.db import open_database
    from app.models import AuditEntry, Incident

    result = Verification(latencies={op: [] for op in OPS}, counts={op: Counter() for op in OPS})
    records = read_journals(Path(setup.work))
    writes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    per_journal: Counter = Counter()
    for record in records:
        op = record.get("op", "?")
        per_journal[record["journal"]] += 1
        if "error" in record:
            result.errors.append(f"{record['journal']} {op}:\n{record['error'].rstrip()}")
            if op in result.counts:
                result.counts[op]["errors"] += 1
            continue
        if op in result.latencies:
            result.latencies[op].append(record["ms"])
            counts = result.counts[op]
            counts["conflicts"] += record.get("conflicts", 0)
            counts["stale"] += record.get("stale", 0)
            counts[record.get("outcome", "ok")] += 1
            if record.get("conflicts", 0) or record.get("stale", 0):
                counts["met"] += 1
            if record.get("hot"):
                counts["hot"] += 1
        if record.get("write"):
            writes[record["write"]["id"]].append(record["write"])
    if clients is not None and ops is not None:
        for i in range(clients):
            name = f"client-{i + 1:02d}.jsonl"
            if per_journal[name] != ops:
                result.errors.append(f"{name}: {per_journal[name]} of {ops} operations journaled")

    database = open_database(setup.url, upgrade=False, create=False)
    try:
        with database.session() as session:
            # Every incident written, and the seeded ones (hot set, marker) even if not.
            ids = sorted(set(writes) | set(setup.initial))
            rows: dict[int, Any] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for incident in session.scalars(select(Incident).where(Incident.id.in_(chunk))):
                    rows[incident.id] = (incident.version, snapshot(incident), incident.number)
            audit: Counter = Counter()
            inserts: Counter = Counter()
            wanted = {str(i) for i in ids}
            stmt = select(
                AuditEntry.entity_id,
                AuditEntry.action,
                AuditEntry.field,
                AuditEntry.new_value,
                AuditEntry.username,
            ).where(AuditEntry.entity == "incident", AuditEntry.id > setup.audit_floor)
            for entity_id, action, name, new, user in session.execute(stmt):
                if entity_id not in wanted:
                    continue
                if action == "insert":
                    inserts[int(entity_id)] += 1
                elif action == "update" and name in FIELDS:
                    audit[(int(entity_id), name, new, user)] += 1
            duplicates = session.execute(
                select(Incident.number).group_by(Incident.number).having(func.count() > 1)
            ).all()
    finally:
        database.dispose()
    for (number,) in duplicates:
        result.lost.append(f"number {number} is used by more than one incident")

    expected_audit: Counter = Counter()
    for ident in ids:
        result.incidents_checked += 1
        chain = writes[ident]
        creates = [w for w in chain if w["kind"] == "create"]
        # In version order; a save that changed nothing keeps its version (v0 == v1) and
        # comes after the write that made that version.
        edits = sorted(
            (w for w in chain if w["kind"] != "create"), key=lambda w: (w["v0"], w["v1"])
        )
        result.writes_checked += len(chain)
        if ident not in rows:
            result.lost.append(f"incident {ident}: committed writes but the row is missing")
            continue
        version, final, number = rows[ident]
        if creates:
            result.created += 1
            create = creates[0]
            if len(creates) > 1 or create["number"] != number:
                result.lost.append(f"incident {ident}: created {len(creates)}x / number {number}")
            if inserts[ident] != 1:
                result.lost.append(f"incident {ident}: {inserts[ident]} audit insert rows, not 1")
            current_version, replay = create["v1"], dict(create["after"])
            for key, value in create["intended"].items():
                if create["after"][key] != value:
                    result.lost.append(f"incident {ident}: created with {key}="
                                       f"{create['after'][key]!r}, asked {value!r}")  # fmt: skip
        elif ident in setup.initial:
            current_version, replay = setup.initial[ident][0], dict(setup.initial[ident][1])
        else:
            result.lost.append(f"incident {ident}: edited but neither created nor seeded")
            continue
        for write in edits:
            label = f"incident {ident} v{write['v0']}->v{write['v1']} ({write['user']})"
            if write["v0"] != current_version:
                result.lost.append(f"{label}: read v{write['v0']} but v{current_version} was "
                                   "the last committed (a write in between is unaccounted)")  # fmt: skip
            if write["v1"] <= write["v0"] and write["before"] != write["after"]:
                result.lost.append(f"{label}: changed fields without a new version")
            if write["before"] != replay:
                diff = {k: (replay[k], write["before"][k]) for k in FIELDS
                        if replay[k] != write["before"][k]}  # fmt: skip
                result.lost.append(f"{label}: read {diff} (replay, read)")
            for key, value in write["intended"].items():
                if write["after"][key] != value:
                    result.lost.append(f"{label}: saved {key}={write['after'][key]!r}, "
                                       f"asked {value!r}")  # fmt: skip
                replay[key] = value
            # Fields the workflow derives (priority, hold reason...) as the save left them.
            for key in FIELDS:
                if key not in write["intended"]:
                    replay[key] = write["after"][key]
                if write["before"][key] != write["after"][key]:
                    expected_audit[(ident, key, _text(write["after"][key]), write["user"])] += 1
            current_version = max(current_version, write["v1"])
        if version != current_version:
            result.lost.append(f"incident {ident}: final version {version}, journal ends at "
                               f"v{current_version}")  # fmt: skip
        if final != replay:
            diff = {k: (replay[k], final[k]) for k in FIELDS if replay[k] != final[k]}
            result.lost.append(f"incident {ident}: final row differs from the replay {diff} "
                               "(replay, row)")  # fmt: skip
    result.audit_rows_checked = sum(audit.values())
    for key in sorted(set(audit) | set(expected_audit), key=str):
        if audit[key] != expected_audit[key]:
            ident, name, new, user = key
            result.lost.append(f"incident {ident}: {expected_audit[key]} audit row(s) expected "
                               f"for {name}={new!r} by {user}, found {audit[key]}")  # fmt: skip
    return result


# --- reporting ----------------------------------------------------------------------------


def report(verification: Verification, run: RunResult | None, clients: int, ops: int) -> list[str]:
    """Print the figures; return the reasons to fail (none: PASS)."""
    reasons: list[str] = []
    v = verification
    total_ops = sum(len(x) for x in v.latencies.values())
    if run is not None:
        emit("load_wall_s", f"{run.wall_s:.1f}")
        emit("load_ops_per_s", f"{total_ops / run.wall_s:.0f}" if run.wall_s else "n/a")
        bad = [c for c in run.client_exit_codes if c != 0]
        if bad:
            reasons.append(f"{len(bad)} client process(es) ended with an error ({bad[:5]})")
    emit("load_ops_done", f"{total_ops:,} of {clients * ops:,}")
    print(
        f"{'operation':<10}{'count':>7}{'p50_ms':>9}{'p95_ms':>9}{'max_ms':>9}"
        f"{'conflicts':>11}{'stale':>7}{'retried':>9}{'moot':>6}{'gave_up':>9}{'errors':>8}",
        flush=True,
    )
    for op in OPS:
        values, c = v.latencies[op], v.counts[op]
        if values:
            figures = f"{statistics.median(values):>9.0f}{p95(values):>9.0f}{max(values):>9.0f}"
        else:
            figures = f"{'-':>9}{'-':>9}{'-':>9}"
        retried = c["met"] - c["moot"] - c["gave_up"] if op in ("update", "state") else 0
        print(
            f"{op:<10}{len(values):>7}{figures}{c['conflicts']:>11}{c['stale']:>7}"
            f"{max(retried, 0):>9}{c['moot']:>6}{c['gave_up']:>9}{c['errors']:>8}",
            flush=True,
        )
    edits = v.counts["update"]["hot"] + v.counts["state"]["hot"]
    emit("load_hot_set_edits", edits)
    emit("load_incidents_checked", v.incidents_checked)
    emit("load_writes_checked", v.writes_checked)
    emit("load_created_checked", v.created)
    emit("load_audit_rows_checked", v.audit_rows_checked)
    emit("load_lost_updates", len(v.lost))
    for line in v.lost[:20]:
        print(f"  lost: {line}", flush=True)
    if v.lost:
        reasons.append(f"{len(v.lost)} lost update finding(s)")
    emit("load_unhandled_errors", len(v.errors))
    kinds: dict[tuple[str, str], list[str]] = defaultdict(list)
    for text in v.errors:
        head = text.split("\n", 1)[0].split()
        kinds[(head[-1].rstrip(":") if head else "?", error_kind(text))].append(text)
    for (op, kind), texts in sorted(kinds.items(), key=lambda item: -len(item[1])):
        print(f"  {len(texts)} x {op}: {kind}", flush=True)
    for (_op, _kind), texts in sorted(kinds.items(), key=lambda item: -len(item[1])):
        print("  first of them: " + "\n    ".join(short_traceback(texts[0])), flush=True)
    if v.errors:
        reasons.append(f"{len(v.errors)} unhandled error(s)")
    gave_up = v.counts["update"]["gave_up"] + v.counts["state"]["gave_up"]
    if gave_up:
        emit("load_gave_up_after_retries", gave_up)
    if run is not None and (run.refresh_s or run.refresh_missed or run.observer_problem):
        times = run.refresh_s
        emit("load_notify_refresh_n", len(times))
        if times:
            emit("load_notify_refresh_p50_ms", f"{statistics.median(times) * 1000:.0f}")
            emit("load_notify_refresh_p95_ms", f"{p95(times) * 1000:.0f}")
            emit("load_notify_refresh_max_ms", f"{max(times) * 1000:.0f}")
            if max(times) > REFRESH_TARGET_S:
                reasons.append(
                    f"queue refresh took {max(times):.2f} s (target {REFRESH_TARGET_S:.0f} s)"
                )
        if run.notified_s:
            emit("load_notify_delivered_p50_ms", f"{statistics.median(run.notified_s) * 1000:.0f}")
            emit("load_notify_delivered_p95_ms", f"{p95(run.notified_s) * 1000:.0f}")
            emit("load_notify_delivered_max_ms", f"{max(run.notified_s) * 1000:.0f}")
        if run.backlogs:
            emit("load_notify_queries_in_flight_max", max(run.backlogs))
        older, missing = run.regressions.get("older", 0), run.regressions.get("missing", 0)
        emit("load_notify_older_rows_shown_again", older)
        emit("load_notify_marker_row_gone", missing)
        if older:
            reasons.append(f"{older} time(s) an older read overwrote a newer row in the queue")
        if missing:
            reasons.append(f"{missing} time(s) the marker's row went from the queue")
        if run.refresh_missed:
            emit("load_notify_refresh_missed", run.refresh_missed)
            reasons.append(f"{run.refresh_missed} marked change(s) never showed in the queue")
        if run.observer_problem:
            emit("load_notify_problem", run.observer_problem)
            reasons.append(run.observer_problem)
        if not times and not run.observer_problem:
            reasons.append("no NOTIFY -> queue refresh was measured")
    return reasons


def run_load(
    url: str,
    *,
    clients: int = DEFAULT_CLIENTS,
    ops: int = DEFAULT_OPS,
    seed: int = 1,
    incidents: int = SEED_INCIDENTS,
    work: Path | None = None,
    notify: bool = True,
) -> tuple[Setup, RunResult, Verification]:
    """Seed ``url``, run the clients (and the observer), verify; prints progress lines."""
    work = work or Path(tempfile.mkdtemp(prefix="servicedeck-load-"))
    began = time.perf_counter()
    seed_database(url, incidents, seed)
    setup = prepare(url, work, clients, seed)
    emit("load_setup_s", f"{time.perf_counter() - began:.1f}")
    emit("load_sign_in", setup.signed_in_as)
    run = run_clients(setup, clients, ops, seed, notify=notify)
    began = time.perf_counter()
    verification = verify(setup, clients, ops)
    emit("load_verify_s", f"{time.perf_counter() - began:.1f}")
    return setup, run, verification


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--ops", type=int, default=DEFAULT_OPS, help="operations per client")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--incidents", type=int, default=SEED_INCIDENTS, help="demo incidents")
    parser.add_argument("--db", metavar="URL", help="a PostgreSQL database to use (it is written)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster and the journals")
    parser.add_argument(
        "--no-notify", action="store_true", help="skip the NOTIFY -> queue refresh measurement"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="servicedeck-load-"))
    # Stored KPI columns of the demo data go to the scratch folder, not the user's cache.
    os.environ["SERVICEDECK_CACHE_DIR"] = str(work / "kpi-cache")
    journals = work / "journals"
    journals.mkdir()
    emit("python", sys.version.split()[0])
    emit("cpus", os.cpu_count())
    emit("load_clients", args.clients)
    emit("load_ops_per_client", args.ops)
    server = url = None
    try:
        if args.db:
            url = args.db
        else:
            from tests.pgserver import start_server

            server = start_server()
            url = server.create_database("servicedeck_load")
        emit("load_database", url)
        _setup, run, verification = run_load(
            url,
            clients=args.clients,
            ops=args.ops,
            seed=args.seed,
            incidents=args.incidents,
            work=journals,
            notify=not args.no_notify,
        )
        reasons = report(verification, run, args.clients, args.ops)
    finally:
        if args.keep:
            kept = f"journals in {journals}"
            if server is not None:
                kept += f"; cluster at {url} (stop: pg_ctl -D {server.data} stop)"
            emit("load_kept", kept)
        else:
            if server is not None:
                server.stop()
            shutil.rmtree(work, ignore_errors=True)
    if reasons:
        print("FAIL: " + "; ".join(reasons), flush=True)
        return 1
    within = "" if args.no_notify else f", queue refresh within {REFRESH_TARGET_S:.0f} s"
    print(f"PASS: no lost update, no unhandled error{within}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
