"""Store an :class:`ImportPlan`: one transaction, and a second import of a file changes nothing.

Incidents are matched by number: new numbers are inserted, existing incidents are updated in
place (version bumped) only where the file says something different, and the rest are counted
unchanged. Names (assignment groups, people, services, CIs, vendors, categories) are matched
case-insensitively or created; problem and change numbers are matched or left empty (and
counted). The file's history becomes the incident's timeline (``IncidentEvent`` rows, which a
re-import replaces rather than repeats), the SLA clocks are computed from that history by the
SLA engine, and every created incident, created name and changed field gets its audit row.

Derived columns follow the workflow's rules: ``first_response_at`` is the first step out of
New in the history (without one, the earliest later instant the file tells of: an upper
bound), ``first_group_id`` the first group, the reassignment and reopen counts are counted
from the history when the file has no column for them, and a priority other than the
matrix's is kept as an override. Fields the file does not have (its mapping names no column
for them and the value is empty) keep their stored values on an update. ``updated_at`` is the
time of the import (the file's last update is in the history), so other consoles' KPI columns
fold the rows in; this console's, in memory and on disk, are forgotten after the commit.

Speed: names and numbers are read in IN-list chunks; the big tables (incidents, history,
clocks, audit) go in on the session's connection with the driver's executemany on SQLite and
COPY on PostgreSQL, in chunks between which ``progress`` may cancel; the NOTIFY hook is told
which tables changed, so other consoles reload them after the commit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.db import Database, notify
from app.db.audit import audit_text
from app.models import (
    AuditEntry,
    ChangeRequest,
    ConfigurationItem,
    Incident,
    IncidentEvent,
    Person,
    Problem,
    Service,
    SlaClock,
    Team,
    Vendor,
    team_member,
    utcnow,
)
from app.models.base import UTCDateTime
from app.models.enums import IncidentState
from app.services import sla_engine
from app.services.business_time import from_epoch
from app.services.io.records import (
    ImportedEvent,
    ImportedIncident,
    ImportFileError,
    ImportPlan,
    ImportSource,
)
from app.services.memory import collector_paused
from app.services.numbering import lock_series
from app.services.priority import matrix as priority_matrix
from app.services.progress import Progress, silent

UTC = dt.UTC
S = IncidentState
#: Event kinds an import writes; other kinds (work notes, comments) are never replaced.
IMPORTED_KINDS = ("created", "state", "assignment", "priority", "field")
#: Values per IN (...) list, well under every driver's parameter limit.
READ_CHUNK = 500
#: Rows per executemany (and between two looks at whether to stop).
WRITE_CHUNK = 5_000
#: Names of the things an import may create, in the order the summary tells them.
REFERENCE_KINDS = ("groups", "people", "services", "cis", "vendors", "categories")
_REFERENCE_WORDS = {
    "groups": ("assignment group", "assignment groups"),
    "people": ("person", "people"),
    "services": ("service", "services"),
    "cis": ("configuration item", "configuration items"),
    "vendors": ("vendor", "vendors"),
    "categories": ("category", "categories"),
    "problems": ("problem", "problems"),
    "changes": ("change", "changes"),
}
#: Reference column -> the ImportedIncident field that names it.
_NAMED_BY = {
    "caller_id": "caller",
    "assignment_group_id": "assignment_group",
    "assignee_id": "assignee",
    "service_id": "service",
    "ci_id": "ci",
    "vendor_id": "vendor",
    "problem_id": "problem",
    "change_id": "change",
    "caused_by_change_id": "caused_by",
}
#: The kind of record each reference names.
_KIND_OF = {
    "caller": "people",
    "assignee": "people",
    "assignment_group": "groups",
    "service": "services",
    "ci": "cis",
    "vendor": "vendors",
    "problem": "problems",
    "change": "changes",
    "caused_by": "changes",
}
#: Widths of the name columns; longer names are cut to fit.
#: How long a name of each kind may be: the width of its table's name column.
_NAME_WIDTH = {
    kind: model.__table__.c["name"].type.length
    for kind, model in (("groups", Team), ("people", Person), ("services", Service),
                        ("cis", ConfigurationItem), ("vendors", Vendor))
} | {"categories": Incident.__table__.c["category"].type.length}  # fmt: skip
#: Plain columns taken as they are from the ImportedIncident field of the same name.
_PLAIN = (
    "short_description",
    "description",
    "contact_type",
    "category",
    "subcategory",
    "impact",
    "urgency",
    "priority",
    "state",
    "hold_reason",
    "opened_at",
    "resolved_at",
    "closed_at",
    "resolution_code",
    "resolution_notes",
    "made_sla",
    "reassignment_count",
    "reopen_count",
)
#: Columns set from the rest (always written).
_DERIVED = (
    "priority_overridden",
    "priority_override_reason",
    "first_group_id",
    "first_response_at",
)
#: Every column an import compares and writes (``updated_at`` is written, not compared).
CONTENT = (*_PLAIN, *_NAMED_BY, *_DERIVED)
#: Widths of the short text columns; longer values are cut to fit.
#: Text columns cut to the width the schema gives them.
_WIDTH = {
    key: Incident.__table__.c[key].type.length
    for key in ("short_description", "contact_type", "category", "subcategory", "hold_reason",
                "resolution_code")
}  # fmt: skip
#: Event fields as the incident workflow names them (references lose their ``_id``).
_EVENT_FIELD = {"caused_by": "caused_by_change"}
_OPEN = (S.NEW.value, S.IN_PROGRESS.value, S.ON_HOLD.value)

EventKey = tuple[dt.datetime, int | None, str, str | None, str | None, str | None, str | None]


class ImportConflict(RuntimeError):
    """Incidents changed by someone else while the import ran; nothing was imported."""


@dataclass
class ImportSummary:
    """What an import did, counted, for the wizard's last page and the command line."""

    file: str
    source: ImportSource
    rows_read: int
    created: int
    updated: int
    unchanged: int
    skipped: list[tuple[int, str]] = field(default_factory=list)
    created_refs: dict[str, int] = field(default_factory=dict)
    #: References to records that do not exist ("problems", "changes"), left empty.
    unmatched_refs: dict[str, int] = field(default_factory=dict)
    events: int = 0
    clocks: int = 0
    seconds: float = 0.0

    @property
    def incidents(self) -> int:
        return self.created + self.updated + self.unchanged

    def lines(self) -> list[str]:
        """The summary as sentences."""
        name = self.file.replace("\\", "/").rsplit("/", 1)[-1]
        out = [
            f"Read {_count(self.rows_read, 'row')} of {name} ({self.source.label}): "
            f"{_count(self.incidents, 'incident')}."
        ]
        if self.created or self.updated:
            out.append(
                f"Created {_count(self.created, 'incident')}, updated {self.updated:,}, "
                f"{self.unchanged:,} already up to date."
            )
        elif self.incidents:
            out.append(f"Nothing to change: all {self.incidents:,} incidents were up to date.")
        made = [
            _count(self.created_refs[k], *_REFERENCE_WORDS[k])
            for k in REFERENCE_KINDS
            if self.created_refs.get(k)
        ]
        if made:
            out.append(f"Added {_join(made)}.")
        if self.events or self.clocks:
            out.append(
                f"Wrote {_count(self.events, 'history event')} and "
                f"{_count(self.clocks, 'SLA clock')}."
            )
        if not self.clocks and (self.created or self.updated):
            out.append(
                "No SLA clocks: no active SLA definition of this database applies to these "
                "incidents (SLA attainment counts incidents with clocks only)."
            )
        missing = [
            _count(n, *_REFERENCE_WORDS.get(k, (k, k)))
            for k, n in sorted(self.unmatched_refs.items())
            if n
        ]
        if missing:
            out.append(f"Links to {_join(missing)} that are not in this database were left empty.")
        if self.skipped:
            shown = "; ".join(f"row {row}: {why}" for row, why in self.skipped[:5])
            more = f" (and {len(self.skipped) - 5:,} more)" if len(self.skipped) > 5 else ""
            out.append(f"Skipped {_count(len(self.skipped), 'row')}: {shown}{more}.")
        return out


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --- entry point -------------------------------------------------------------------------


def write_plan(
    database: Database,
    plan: ImportPlan,
    *,
    now: dt.datetime | None = None,
    username: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Store ``plan`` in one transaction and return what was done.

    On any error, or when ``progress`` is cancelled (:class:`Cancelled` is raised), the
    transaction is rolled back and the database is as it was.
    """
    began = time.perf_counter()
    now = (now or utcnow()).astimezone(UTC).replace(microsecond=0)
    report = progress or silent()

    def steps(label: str, done: int, total: int) -> None:
        report.update(done, total, label)  # raises Cancelled when asked to stop

    session = database.session()
    if username:
        session.info["username"] = username
    try:
        # Hundreds of thousands of small tuples and dicts, none in a cycle: see memory.py.
        with collector_paused(), session.begin():
            summary = _Writer(session, plan, now, steps).run()
            steps("Committing", 0, 0)
    finally:
        session.close()
    invalidate_kpi_columns(database)
    summary.seconds = time.perf_counter() - began
    if not report.cancelled:  # committed: a late cancel changes nothing any more
        report.update(1, 1, "Import finished")
    return summary


def invalidate_kpi_columns(database: Database) -> None:
    """Forget the KPI columns held for ``database`` (in this process and on disk).

    Imported incidents keep the file's timestamps, which an incremental refresh (rows
    updated since the last load) would not see.
    """
    from app.services import kpi_store
    from app.services.kpi_cache import kpi_cache

    kpi_cache(database).clear()
    with database.session() as session:
        path = kpi_store.store_path(session)
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


# --- helpers -----------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _instant(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is UTC and not value.microsecond:
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}")
    return value.astimezone(UTC).replace(microsecond=0)


def _clip(key: str, value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace("\x00", "").strip()
        width = _WIDTH.get(key)
        if width is not None and len(value) > width:
            value = value[:width]
    return value


def _key(name: str | None) -> str | None:
    """How names are matched: trimmed, case-insensitive."""
    if name is None:
        return None
    name = name.strip()
    return name.casefold() if name else None


def _priority_text(value: str | None) -> str | None:
    """``P2`` for "2", "2 - High" or "P2" (as the timeline shows priorities)."""
    if value is None:
        return None
    digits = value.strip().upper().removeprefix("P").strip()[:1]
    return f"P{digits}" if digits.isdigit() else value


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _start(spec: sla_engine.SlaSpec, points: list[tuple[int, dict[str, Any], bool]]) -> Any:
    """``sla_engine.start_of`` on a history's points read once."""
    for t, record, responded in points:
        if spec.start.empty or spec.start.matches(record, responded):
            return from_epoch(t)
    return None


@dataclass
class _Item:
    """One incident of the plan on its way to the database."""

    imported: ImportedIncident
    row: dict[str, Any]  # effective values of CONTENT + updated_at
    events: list[EventKey]
    state_events: list[tuple[dt.datetime, str | None, str | None]]
    id: int | None = None
    stored: dict[str, Any] | None = None
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    drop_events: list[int] = field(default_factory=list)
    add_events: list[EventKey] = field(default_factory=list)
    clocks: list[dict[str, Any]] = field(default_factory=list)
    shown: sla_engine.Shown = (None, None)


@dataclass
class _Verdict:
    breached: bool
    stage: str


# --- the writer --------------------------------------------------------------------------


class _Writer:
    def __init__(
        self,
        session: Session,
        plan: ImportPlan,
        now: dt.datetime,
        steps: Callable[[str, int, int], None],
    ):
        self.session = session
        self.plan = plan
        self.now = now
        self.steps = steps
        self.username = session.info.get("username", "system")
        self.user_id = session.info.get("user_id")
        self.created_refs = dict.fromkeys(REFERENCE_KINDS, 0)
        self.unmatched = {"problems": 0, "changes": 0}
        self.audit: list[dict[str, Any]] = []
        self.ids: dict[str, dict[str, int]] = {}
        self.categories: dict[str, str] = {}
        self.skipped = list(plan.skipped)
        self.ref_cache: dict[str, dict[str, int | None]] = {}
        self.instants: dict[dt.datetime, str] = {}

    def run(self) -> ImportSummary:
        # Numbers are written as the file has them: no console hands out a new one meanwhile.
        lock_series(self.session, Incident.__tablename__)
        incidents = self._unique(self.plan.incidents)
        self._check(incidents)
        total = len(incidents)
        self.steps("Matching names", 0, total)
        self._references(incidents)
        items = [self._item(inc) for inc in incidents]
        self._compare(items)
        todo = [
            it for it in items if it.stored is None or it.changed or it.add_events or it.drop_events
        ]
        self.steps("Computing SLA clocks", 0, len(todo))
        self._sla(todo)
        self._write(items, todo)
        created = sum(1 for it in items if it.stored is None)
        updated = len(todo) - created
        return ImportSummary(
            file=str(self.plan.path),
            source=self.plan.source,
            rows_read=self.plan.rows_read,
            created=created,
            updated=updated,
            unchanged=total - created - updated,
            skipped=sorted(self.skipped),
            created_refs={k: v for k, v in self.created_refs.items()},
            unmatched_refs=dict(self.unmatched),
            events=sum(len(it.add_events) for it in todo),
            clocks=sum(len(it.clocks) for it in todo),
        )

    # -- checking ---------------------------------------------------------------------------

    def _unique(self, incidents: Iterable[ImportedIncident]) -> list[ImportedIncident]:
        """One incident per number: a later row of the same number wins."""
        by_number: dict[str, ImportedIncident] = {}
        for inc in incidents:
            earlier = by_number.pop(inc.number.strip(), None)
            if earlier is not None:
                self.skipped.append((earlier.row, f"{inc.number} again on row {inc.row}"))
            by_number[inc.number.strip()] = inc
        return list(by_number.values())

    def _check(self, incidents: Sequence[ImportedIncident]) -> None:
        """What the database would refuse, said as a file error before anything is written."""
        states = {s.value for s in IncidentState}

        def bad(inc: ImportedIncident, column: str, value: Any, message: str) -> None:
            raise ImportFileError(
                f"{self.plan.path}, row {inc.row}, {column}: {message}",
                file=self.plan.path,
                row=inc.row,
                column=column,
                value=None if value is None else str(value),
            )

        for inc in incidents:
            number = inc.number.strip()
            if not number or len(number) > 20:
                bad(inc, "number", inc.number, "a number of 1 to 20 characters is needed")
            if inc.state not in states:
                bad(inc, "state", inc.state, f"“{inc.state}” is not an incident state")
            for name in ("impact", "urgency"):
                value = getattr(inc, name)
                if value is not None and value not in (1, 2, 3):
                    bad(inc, name, value, "must be 1, 2 or 3")
            if inc.priority is not None and inc.priority not in range(1, 6):
                bad(inc, "priority", inc.priority, "must be 1 to 5")
            for name in ("opened_at", "updated_at", "resolved_at", "closed_at"):
                value = getattr(inc, name)
                if value is not None and value.tzinfo is None:
                    bad(inc, name, value, "the time has no time zone")

    # -- names --------------------------------------------------------------------------------

    def _references(self, incidents: Sequence[ImportedIncident]) -> None:
        names: dict[str, dict[str, str]] = {k: {} for k in REFERENCE_KINDS}
        agents: set[str] = set()

        def note(kind: str, name: str | None) -> None:
            key = _key(name)
            if key is not None and name is not None:
                names[kind].setdefault(key, name.strip()[: _NAME_WIDTH[kind]])

        problems: set[str] = set()
        changes: set[str] = set()
        for inc in incidents:
            note("groups", inc.assignment_group)
            note("people", inc.caller)
            note("people", inc.assignee)
            note("services", inc.service)
            note("cis", inc.ci)
            note("vendors", inc.vendor)
            note("categories", inc.category)
            if inc.assignee:
                agents.add(_key(inc.assignee) or "")
            for ev in inc.history:
                note("people", ev.author)
                if ev.author:
                    agents.add(_key(ev.author) or "")
                for name, old, new in ev.changes:
                    if name == "assignment_group":
                        note("groups", old)
                        note("groups", new)
            for number in (inc.problem,):
                if number and number.strip():
                    problems.add(number.strip())
            for number in (inc.change, inc.caused_by):
                if number and number.strip():
                    changes.add(number.strip())
        self.ids["groups"] = self._match(Team, names["groups"], "groups", {})
        self.ids["people"] = self._people(names["people"], agents)
        self.ids["services"] = self._match(Service, names["services"], "services", {})
        self.ids["cis"] = self._match(
            ConfigurationItem, names["cis"], "cis", {"ci_class": "unknown"}
        )
        self.ids["vendors"] = self._match(Vendor, names["vendors"], "vendors", {})
        self.ids["problems"] = self._numbers(Problem, problems)
        self.ids["changes"] = self._numbers(ChangeRequest, changes)
        self._categories(names["categories"])

    def _existing(self, model: Any, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """(id, name) of the rows whose name matches, case-insensitively (lowest id wins)."""
        found: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(sorted(keys), READ_CHUNK):
            rows = self.session.execute(
                select(model.id, model.name)
                .where(func.lower(model.name).in_([k.lower() for k in chunk]))
                .order_by(model.id)
            )
            for ident, name in rows:
                found.setdefault(_key(name) or "", (ident, name))
        return found

    def _match(
        self, model: Any, names: dict[str, str], kind: str, extra: dict[str, Any]
    ) -> dict[str, int]:
        if not names:
            return {}
        found = self._existing(model, list(names))
        ids = {key: ident for key, (ident, _) in found.items() if key in names}
        missing = [names[key] for key in names if key not in ids]
        if missing:
            rows = [{"name": name, **extra} for name in missing]
            self._insert_named(model, rows, ids, kind)
        return ids

    def _people(self, names: dict[str, str], agents: set[str]) -> dict[str, int]:
        if not names:
            return {}
        found = self._existing(Person, list(names))
        ids = {key: ident for key, (ident, _) in found.items() if key in names}
        rows = [{"name": names[key], "is_agent": key in agents} for key in names if key not in ids]
        if rows:
            self._insert_named(Person, rows, ids, "people")
        return ids

    def _insert_named(
        self, model: Any, rows: list[dict[str, Any]], ids: dict[str, int], kind: str
    ) -> None:
        table = _table(model)
        stamp = {"created_at": self.now, "updated_at": self.now}
        statement = insert(table).returning(table.c.id, table.c.name, sort_by_parameter_order=True)
        for chunk in _chunks(rows, WRITE_CHUNK):
            for ident, name in self.session.execute(statement, [{**stamp, **r} for r in chunk]):
                ids[_key(name) or ""] = ident
                self._audit(table.name, ident, "insert", new=name)
        self.created_refs[kind] += len(rows)

    def _numbers(self, model: Any, numbers: set[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(numbers), READ_CHUNK):
            rows = self.session.execute(
                select(model.number, model.id).where(model.number.in_(chunk))
            )
            found.update({number: ident for number, ident in rows})
        return found

    def _categories(self, names: dict[str, str]) -> None:
        """Categories are text on the incident: an existing spelling wins over the file's."""
        known: dict[str, str] = {}
        keys = list(names)
        table = _table(Incident)
        for chunk in _chunks(keys, READ_CHUNK):
            rows = self.session.execute(
                select(table.c.category)
                .where(func.lower(table.c.category).in_([k.lower() for k in chunk]))
                .distinct()
            )
            for (category,) in rows:
                known.setdefault(_key(category) or "", category)
        self.categories = {key: known.get(key, _clip("category", names[key])) for key in names}
        self.created_refs["categories"] = sum(1 for key in names if key not in known)

    def _ref(self, kind: str, name: str | None) -> int | None:
        if name is None:
            return None
        cache = self.ref_cache.setdefault(kind, {})
        if name in cache:
            return cache[name]
        key = _key(name.strip()[: _NAME_WIDTH[kind]])
        cache[name] = found = None if key is None else self.ids[kind].get(key)
        return found

    # -- rows and history ------------------------------------------------------------------

    def _given(self, inc: ImportedIncident, name: str) -> bool:
        """Whether the file has this field (else an update keeps the stored value)."""
        mapping = self.plan.mapping or {}
        return getattr(inc, name) is not None or name not in mapping or mapping[name] is not None

    def _item(self, inc: ImportedIncident) -> _Item:
        row: dict[str, Any] = {}
        for key in _PLAIN:
            value = getattr(inc, key)
            row[key] = _instant(value) if isinstance(value, dt.datetime) else _clip(key, value)
        row["category"] = self.categories.get(_key(inc.category) or "") if inc.category else None
        if row["state"] != S.ON_HOLD.value:
            row["hold_reason"] = None
        row["updated_at"] = _instant(inc.updated_at)
        for key, name in _NAMED_BY.items():
            kind = _KIND_OF[name]
            text = getattr(inc, name)
            if kind in ("problems", "changes"):
                number = text.strip() if text else None
                row[key] = self.ids[kind].get(number) if number else None
                if number and row[key] is None:
                    self.unmatched[kind] += 1
            else:
                row[key] = self._ref(kind, text)
        events, state_events, derived = self._history(inc, row)
        row.update(derived)
        return _Item(inc, row, events, state_events)

    def _history(
        self, inc: ImportedIncident, row: dict[str, Any]
    ) -> tuple[list[EventKey], list[tuple[dt.datetime, str | None, str | None]], dict[str, Any]]:
        """The timeline's events, the state history for the SLA engine, and derived columns."""
        opened = row["opened_at"]
        events: list[EventKey] = [
            (opened, None, "created", None, None, None, row["short_description"])
        ]
        states: list[tuple[dt.datetime, str | None, str | None]] = []
        state, hold = S.NEW.value, None
        first_group: str | None = None
        group_changes = reopens = 0
        first_response: dt.datetime | None = None
        first_activity: dt.datetime | None = None
        history: list[ImportedEvent] = sorted(inc.history, key=lambda e: e.at)
        for ev in history:
            at = max(_instant(ev.at) or opened, opened)
            author = self._ref("people", ev.author)
            changes = [(f, o, n) for f, o, n in ev.changes if o != n]
            reason = next((n for f, _o, n in changes if f == "hold_reason"), None)
            moved = False
            for name, old, new in changes:
                if name == "hold_reason":
                    continue
                first_activity = first_activity or at
                if name == "state":
                    moved = True
                    text = None
                    if new == S.ON_HOLD.value:
                        text = reason or hold
                    elif old == S.RESOLVED.value and new in _OPEN:
                        text = "Reopened"
                        reopens += 1
                    if new != S.NEW.value and first_response is None:
                        first_response = at
                    events.append((at, author, "state", "state", old, new, text))
                    states.append((at, new, text))
                    state = new or state
                    hold = text if new == S.ON_HOLD.value else None
                elif name in ("assignment_group", "assignee"):
                    if name == "assignment_group":
                        if first_group is None:
                            first_group = old or new
                            group_changes += 1 if old else 0
                        else:
                            group_changes += 1
                    events.append((at, author, "assignment", name, old, new, None))
                elif name == "priority":
                    events.append(
                        (at, author, "priority", "priority",
                         _priority_text(old), _priority_text(new), None)
                    )  # fmt: skip
                else:
                    label = _EVENT_FIELD.get(name, name)[:40]
                    events.append((at, author, "field", label, old, new, None))
            if reason is not None and not moved and state == S.ON_HOLD.value and reason != hold:
                # A new reason while on hold: the workflow's On Hold -> On Hold event.
                events.append((at, author, "state", "state", state, state, reason))
                states.append((at, state, reason))
                hold = reason
        derived: dict[str, Any] = {}
        group_id = row["assignment_group_id"]
        derived["first_group_id"] = (
            self._ref("groups", first_group) if first_group is not None else group_id
        )
        if row["reassignment_count"] is None and history:
            row["reassignment_count"] = group_changes
        if row["reopen_count"] is None and history:
            row["reopen_count"] = reopens
        if row["state"] != S.NEW.value and first_response is None:
            # No step out of New in the file: the earliest later instant it tells of.
            known = [first_activity, row["resolved_at"], row["closed_at"], row["updated_at"]]
            first_response = min((t for t in known if t is not None), default=opened)
        derived["first_response_at"] = (
            None if first_response is None else max(first_response, opened)
        )
        # Written now: other consoles fold in what changed by updated_at (the KPI columns'
        # refresh), so an imported row must look as new as it is in this database.
        derived["updated_at"] = self.now
        return events, states, derived

    # -- comparing with the database ---------------------------------------------------------

    def _compare(self, items: list[_Item]) -> None:
        table = _table(Incident)
        columns = [table.c.id, table.c.number, table.c.version, table.c.updated_at]
        columns += [table.c[k] for k in CONTENT]
        by_number = {it.imported.number.strip(): it for it in items}
        numbers = list(by_number)
        for done, chunk in enumerate(_chunks(numbers, READ_CHUNK)):
            self.steps("Reading the incidents already stored", done * READ_CHUNK, len(numbers))
            for stored in self.session.execute(select(*columns).where(table.c.number.in_(chunk))):
                item = by_number[stored.number]
                item.stored = dict(stored._mapping)
                item.id = stored.id
        matrix = priority_matrix(self.session)
        for it in items:
            self._settle(it, matrix)
        self._compare_events([it for it in items if it.stored is not None])
        for it in items:
            if it.stored is None:
                it.add_events = list(it.events)

    def _settle(self, it: _Item, matrix: dict[tuple[int, int], int]) -> None:
        """Fill what the file leaves out (stored values, or defaults), then find the changes."""
        row, inc, stored = it.row, it.imported, it.stored
        for key in _PLAIN:
            if key == "hold_reason":
                continue  # goes with the state
            if row[key] is None and stored is not None and not self._given(inc, key):
                row[key] = stored[key]
        for key, name in _NAMED_BY.items():
            if row[key] is None and stored is not None and not self._given(inc, name):
                row[key] = stored[key]
        # Columns that cannot be empty: the stored value, else the workflow's default.
        row["description"] = row["description"] or ""
        if not row["contact_type"]:
            row["contact_type"] = stored["contact_type"] if stored is not None else "portal"
        for key in ("impact", "urgency"):
            row[key] = row[key] or 3
        for key in ("reassignment_count", "reopen_count"):
            row[key] = row[key] or 0
        from_matrix = matrix.get((row["impact"], row["urgency"]), 5)
        if row["priority"] is None:
            row["priority"] = from_matrix
        overridden = row["priority"] != from_matrix
        row["priority_overridden"] = overridden
        row["priority_override_reason"] = (
            f"Priority as imported from {self.plan.source.label}" if overridden else None
        )
        if stored is None:
            return
        for key in CONTENT:
            if key == "made_sla" and inc.made_sla is None:
                continue  # follows the SLA clocks
            if row[key] != stored[key]:
                it.changed[key] = (stored[key], row[key])

    def _compare_events(self, items: list[_Item]) -> None:
        """Stored imported-kind events that the file no longer has go; new ones come."""
        table = _table(IncidentEvent)
        by_id = {it.id: it for it in items}
        stored: dict[int, list[tuple[int, EventKey]]] = {}
        ids = list(by_id)
        for chunk in _chunks(ids, READ_CHUNK):
            rows = self.session.execute(
                select(
                    table.c.id, table.c.incident_id, table.c.at, table.c.author_id, table.c.kind,
                    table.c.field, table.c.old_value, table.c.new_value, table.c.text,
                )
                .where(table.c.incident_id.in_(chunk), table.c.kind.in_(IMPORTED_KINDS))
                .order_by(table.c.incident_id, table.c.id)
            )  # fmt: skip
            for r in rows:
                key = (r.at, r.author_id, r.kind, r.field, r.old_value, r.new_value, r.text)
                stored.setdefault(r.incident_id, []).append((r.id, key))
        for ident, it in by_id.items():
            wanted: dict[EventKey, int] = {}
            for key in it.events:
                wanted[key] = wanted.get(key, 0) + 1
            cut = max(key[0] for key in it.events)
            for event_id, key in stored.get(ident, []):
                if wanted.get(key, 0) > 0:
                    wanted[key] -= 1
                elif key[0] <= cut:
                    it.drop_events.append(event_id)  # superseded imported history
            it.add_events = [k for k, n in wanted.items() for _ in range(n)]

    # -- SLA -----------------------------------------------------------------------------------

    def _sla(self, todo: list[_Item]) -> None:
        """Each incident's clocks as the SLA engine computes them from its history, at ``now``.

        The engine's own steps (``build_timeline``, the start condition, ``compute_clocks``),
        with the applies-to test remembered per definition and field values, and each
        history's points read once: the same clocks as ``apply_to_incident`` attaches to a
        new incident, in bulk.
        """
        specs = [s for s in sla_engine.load_specs(self.session).values() if s.active]
        wanted = frozenset().union(*(s.incident_fields for s in specs))
        keys = sorted(wanted & set(_table(Incident).c.keys()))
        reads = {s.id: sorted(s.applies_to.fields) for s in specs}
        memo: dict[tuple[Any, ...], bool] = {}
        items: list[tuple[sla_engine.SlaSpec, sla_engine.Timeline, dt.datetime]] = []
        owners: list[_Item] = []
        for n, it in enumerate(todo):
            if n % WRITE_CHUNK == 0:
                self.steps("Computing SLA clocks", n, len(todo))
            row = it.row
            fields = {k: row[k] for k in keys}
            fields["first_response_at"] = row["first_response_at"]
            responded = row["first_response_at"] is not None
            timeline: sla_engine.Timeline | None = None
            points: list[tuple[int, dict[str, Any], bool]] | None = None
            opened = row["opened_at"]
            # The history's first point: New at opened_at (responded if answered at once).
            first = ({**fields, "state": S.NEW.value, "hold_reason": None},
                     responded and row["first_response_at"] <= opened)  # fmt: skip
            for spec in specs:
                key = (spec.id, responded, *(fields.get(k) for k in reads[spec.id]))
                applies = memo.get(key)
                if applies is None:
                    applies = memo[key] = spec.applies(fields)
                if not applies:
                    continue
                if timeline is None:
                    timeline = sla_engine.build_timeline(
                        row["opened_at"], row["state"], row["hold_reason"],
                        row["first_response_at"], it.state_events, fields,
                    )  # fmt: skip
                if spec.start.empty or spec.start.matches(*first):
                    started = opened
                else:
                    points = points if points is not None else timeline.points()
                    started = _start(spec, points)
                if started is not None and started <= self.now:
                    items.append((spec, timeline, started))
                    owners.append(it)
        self.steps("Computing SLA clocks", len(todo), len(todo))
        states = sla_engine.compute_clocks(items, self.now) if items else []
        for (spec, _timeline, _started), it, state in zip(items, owners, states, strict=True):
            it.clocks.append({"definition_id": spec.id, "target": spec.target, **state.columns()})
        for it in todo:
            summaries = [(n, c["target"], c["stage"], c["due_at"]) for n, c in enumerate(it.clocks)]
            it.shown = sla_engine.shown_clock(summaries)
            if it.imported.made_sla is None:
                verdicts = [(c["target"], _Verdict(c["breached"], c["stage"])) for c in it.clocks]
                made = sla_engine.made_sla(it.row["state"], verdicts)  # type: ignore[arg-type]
                it.row["made_sla"] = made
                if it.stored is not None and it.stored["made_sla"] != made:
                    it.changed["made_sla"] = (it.stored["made_sla"], made)

    # -- writing -------------------------------------------------------------------------------

    def _write(self, items: list[_Item], todo: list[_Item]) -> None:
        new = [it for it in todo if it.stored is None]
        old = [it for it in todo if it.stored is not None]
        self._insert_incidents(new)
        self._update_incidents(old)
        self._write_events(todo)
        self._write_clocks(todo)
        self._memberships(items)
        for it in old:
            for key, (before, after) in sorted(it.changed.items()):
                self._audit("incident", it.id, "update", key, before, after)
            if not it.changed:
                self._audit(
                    "incident", it.id, "update", "history",
                    f"{len(it.drop_events)} events replaced", f"{len(it.add_events)} events added",
                )  # fmt: skip
        names = ("at", "username", "user_id", "entity", "entity_id", "action", "field",
                 "old_value", "new_value")  # fmt: skip
        rows = [tuple(a[k] for k in names) for a in self.audit]
        self._bulk(_table(AuditEntry), names, rows, "Writing the audit trail")
        self._announce(_table(Incident), _table(IncidentEvent), _table(SlaClock))

    def _bulk(
        self, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]], label: str
    ) -> None:
        """Insert ``rows`` (values of ``names``) fast: COPY on PostgreSQL, executemany on
        SQLite, both on the session's connection (so in its transaction), in chunks."""
        conn = self.session.connection()
        quoted = ", ".join(f'"{n}"' for n in names)
        if conn.dialect.name == "postgresql":
            raw = cast(Any, conn.connection.driver_connection)
            for n, chunk in enumerate(_chunks(rows, WRITE_CHUNK)):
                self.steps(label, n * WRITE_CHUNK, len(rows))
                with (
                    raw.cursor() as cur,
                    cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
                ):
                    for row in chunk:
                        copy.write_row(row)
            return
        # SQLite keeps instants as text in UTC (see app.models.base.SQLITE_DATETIME_FORMAT).
        instants = [i for i, n in enumerate(names) if isinstance(table.c[n].type, UTCDateTime)]
        sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})'
        for n, chunk in enumerate(_chunks(rows, WRITE_CHUNK)):
            self.steps(label, n * WRITE_CHUNK, len(rows))
            if instants:
                chunk = [_sqlite_row(row, instants, self.instants) for row in chunk]
            conn.exec_driver_sql(sql, list(chunk))

    def _announce(self, *tables: Table) -> None:
        """Tell other consoles these tables changed (rows written on the driver's own
        connection pass no session statement the NOTIFY hook could see)."""
        notify.mark_changed(self.session, *(table.name for table in tables))

    def _insert_incidents(self, new: list[_Item]) -> None:
        if not new:
            return
        table = _table(Incident)
        names = (*CONTENT, "number", "sla_due_at", "sla_stage", "is_major", "version",
                 "created_at", "updated_at")  # fmt: skip
        rows = [
            (
                *(it.row[k] for k in CONTENT),
                it.imported.number.strip(),
                it.shown[0],
                it.shown[1],
                False,
                1,
                it.row["opened_at"],
                it.row["updated_at"],
            )
            for it in new
        ]
        self._bulk(table, names, rows, "Writing new incidents")
        by_number = {it.imported.number.strip(): it for it in new}
        numbers = list(by_number)
        for chunk in _chunks(numbers, READ_CHUNK):
            for ident, number in self.session.execute(
                select(table.c.id, table.c.number).where(table.c.number.in_(chunk))
            ):
                by_number[number].id = ident
        for it in new:
            self._audit("incident", it.id, "insert", new=it.imported.number.strip())

    def _update_incidents(self, old: list[_Item]) -> None:
        if not old:
            return
        table = _table(Incident)
        names = [*CONTENT, "updated_at", "sla_due_at", "sla_stage"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("v_id"), table.c.version == bindparam("v_version"))
            .values(
                version=table.c.version + 1,
                **{k: bindparam(f"v_{k}", type_=table.c[k].type) for k in names},
            )
        )
        changed = 0
        for n, chunk in enumerate(_chunks(old, WRITE_CHUNK)):
            self.steps("Updating incidents", n * WRITE_CHUNK, len(old))
            params = []
            for it in chunk:
                values = {**it.row, "sla_due_at": it.shown[0], "sla_stage": it.shown[1]}
                assert it.stored is not None
                params.append(
                    {"v_id": it.id, "v_version": it.stored["version"],
                     **{f"v_{k}": values[k] for k in names}}
                )  # fmt: skip
            result = self.session.execute(statement, params)
            changed += cast(Any, result).rowcount
        if changed != len(old):
            raise ImportConflict(
                f"{len(old) - changed:,} of the incidents to update were changed by someone "
                "else during the import; nothing was imported. Import the file again."
            )

    def _write_events(self, todo: list[_Item]) -> None:
        table = _table(IncidentEvent)
        drop = [event_id for it in todo for event_id in it.drop_events]
        for chunk in _chunks(drop, READ_CHUNK):
            self.session.execute(delete(table).where(table.c.id.in_(chunk)))
        names = ("incident_id", "at", "author_id", "kind", "field", "old_value", "new_value",
                 "text")  # fmt: skip
        rows = [
            (it.id, *event) for it in todo for event in sorted(it.add_events, key=lambda e: e[0])
        ]
        self._bulk(table, names, rows, "Writing the incidents' history")

    def _write_clocks(self, todo: list[_Item]) -> None:
        table = _table(SlaClock)
        stale = [it.id for it in todo if it.stored is not None]
        for chunk in _chunks(stale, READ_CHUNK):
            self.session.execute(delete(table).where(table.c.incident_id.in_(chunk)))
        names = ("incident_id", "version", "definition_id", "stage", "started_at", "stopped_at",
                 "due_at", "paused_since", "business_elapsed_seconds", "paused_seconds",
                 "computed_at", "breached")  # fmt: skip
        rows = [(it.id, 1, *(clock[k] for k in names[2:])) for it in todo for clock in it.clocks]
        self._bulk(table, names, rows, "Writing SLA clocks")

    def _memberships(self, items: list[_Item]) -> None:
        """An assignee becomes a member of the incident's group (the workflow checks it)."""
        pairs = {
            (it.row["assignment_group_id"], it.row["assignee_id"])
            for it in items
            if it.row["assignment_group_id"] is not None and it.row["assignee_id"] is not None
        }
        if not pairs:
            return
        groups = sorted({g for g, _ in pairs})
        have: set[tuple[int, int]] = set()
        for chunk in _chunks(groups, READ_CHUNK):
            have.update(
                (g, p)
                for g, p in self.session.execute(
                    select(team_member.c.team_id, team_member.c.person_id).where(
                        team_member.c.team_id.in_(chunk)
                    )
                )
            )
        rows = [{"team_id": g, "person_id": p} for g, p in sorted(pairs - have)]
        for chunk in _chunks(rows, WRITE_CHUNK):
            self.session.execute(insert(team_member), list(chunk))

    def _audit(
        self,
        entity: str,
        ident: int | None,
        action: str,
        field: str | None = None,
        old: Any = None,
        new: Any = None,
    ) -> None:
        self.audit.append(
            {
                "at": self.now,
                "username": self.username,
                "user_id": self.user_id,
                "entity": entity,
                "entity_id": str(ident),
                "action": action,
                "field": field,
                "old_value": audit_text(old),
                "new_value": audit_text(new),
            }
        )


def _sqlite_row(
    row: tuple[Any, ...], instants: list[int], memo: dict[dt.datetime, str]
) -> tuple[Any, ...]:
    """Instants as SQLite keeps them: ``SQLITE_DATETIME_FORMAT`` in UTC (ISO to the second).

    ``memo`` keeps the text of instants already seen (an incident's instants recur in its
    events and clocks)."""
    out = list(row)
    for i in instants:
        value = out[i]
        if value is not None:
            text = memo.get(value)
            if text is None:
                utc = value if value.tzinfo is UTC else value.astimezone(UTC)
                text = memo[value] = utc.isoformat(timespec="seconds")[:19]
            out[i] = text
    return tuple(out)


__all__ = [
    "IMPORTED_KINDS",
    "ImportConflict",
    "ImportSummary",
    "invalidate_kpi_columns",
    "write_plan",
]
