"""The audit log read back: search it, show a record's history, export it.

Every flush writes audit rows (:mod:`app.db.audit`): who, when, which table and record,
which field, the old and new value as text. This module turns them into what a person
reads: ``INC0001234`` or ``vendor Contoso`` instead of ``incident 1234``, "Assignment
group" instead of ``assignment_group_id``, team names instead of ids, ``P2`` instead of
``2`` and instants in the user's zone.

Reading is a block at a time: the ids of a window are found first over the bare index
(newest first is the ``at`` index; a record's history the ``(entity, entity_id, at)``
index), then only that window's rows are read and labelled, with one query per table
for the labels. A window in the second half of the matches is read backwards from the
end, so the last rows cost what the first do.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Select,
    and_,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from app.models import AppUser
from app.models.audit import AuditEntry
from app.models.base import Base
from app.services.formatting import format_date, format_datetime
from app.services.progress import Progress

#: Rows read from the database at a time by an export.
CHUNK = 2_000
SHEET_TITLE = "Audit log"
ACTIONS = ("insert", "update", "delete")
ACTION_LABELS = {"insert": "Created", "update": "Changed", "delete": "Deleted"}

#: What a table's records are called ("vendor Contoso"); others get their name spaced out.
TABLE_LABELS = {
    "incident": "incident",
    "change_request": "change",
    "problem": "problem",
    "ci": "CI",
    "app_user": "user",
    "kpi_target": "KPI target",
    "sla_definition": "SLA definition",
    "oncall_schedule": "on-call schedule",
    "cab_meeting": "CAB meeting",
    "cab_agenda_item": "CAB agenda item",
    "contract_sla_target": "contract SLA target",
    "post_incident_review": "post-incident review",
}
#: Field names that spacing out gets wrong.
FIELD_LABELS = {
    "ci_id": "CI",
    "sla_definition_id": "SLA definition",
    "cab_meeting_id": "CAB meeting",
    "url": "URL",
    "rfc": "RFC",
    "is_major": "Major incident",
    "made_sla": "Made SLA",
    "pir_required": "PIR required",
    "timezone": "Time zone",
}
#: Columns that name a record, in the order they are tried.
_NAME_COLUMNS = ("number", "name", "reference", "title", "username", "key", "code", "label")
#: Tables whose records are known by a number that already says what they are.
_NUMBERED = frozenset({"incident", "change_request", "problem"})
#: Bookkeeping columns never offered as fields (the audit hook skips them too).
_SKIPPED_FIELDS = frozenset({"id", "version", "created_at", "updated_at"})


# Filters and sorting


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every field left empty matches everything.

    ``who`` is part of a user name, case-insensitive. ``record`` is a record's number
    (``INC0001234``), name (``Contoso``) or id (``42``), within ``table`` if given.
    ``text`` is looked for in old and new values. ``start`` is inclusive, ``end``
    exclusive (aware instants).
    """

    who: str | None = None
    table: str | None = None
    record: str | None = None
    field: str | None = None
    text: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    action: str | None = None

    def replace(self, **changes: Any) -> AuditFilter:
        return replace(self, **changes)

    @property
    def is_empty(self) -> bool:
        return self == AuditFilter()


SORT_COLUMNS = ("at", "who", "record", "field")


@dataclass(frozen=True)
class AuditSort:
    """A sort on ``at`` (when), ``who``, ``record`` or ``field``; ties newest first."""

    column: str = "at"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.column not in SORT_COLUMNS:
            raise ValueError(f"cannot sort the audit log by {self.column!r}")

    def reversed(self) -> AuditSort:
        return AuditSort(self.column, not self.descending)


DEFAULT_SORT = AuditSort()


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as a person reads it (raw values beside the shown ones)."""

    id: int
    at: dt.datetime
    who: str
    table: str
    record_id: str
    action: str
    field: str | None
    old_value: str | None
    new_value: str | None
    #: "incident", "vendor", "CI".
    table_label: str
    #: "INC0001234", "vendor Contoso", "leave #12".
    record_label: str
    #: "Assignment group"; empty when a whole record was created or deleted.
    field_label: str
    #: The values as they read: names for references, ``P2``, ``Yes``, local times.
    old_shown: str | None
    new_shown: str | None

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


@dataclass(frozen=True)
class Choices:
    """What the filter bar offers: user names, tables and each table's fields."""

    users: list[str]
    #: (table, label) sorted by label.
    tables: list[tuple[str, str]]
    #: table -> [(field, label)], sorted by label.
    fields: dict[str, list[tuple[str, str]]]

    def all_fields(self) -> list[tuple[str, str]]:
        """Every field of every table, once (by field name), sorted by label."""
        seen: dict[str, str] = {}
        for fields in self.fields.values():
            for key, label in fields:
                seen.setdefault(key, label)
        return sorted(seen.items(), key=lambda item: item[1].lower())


# Tables and fields


@cache
def _models() -> dict[str, type[Base]]:
    """The audited mapped classes by table name."""
    import app.models  # noqa: F401 - registers every mapped class

    return {
        mapper.class_.__tablename__: mapper.class_
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__audited__", False)
        and isinstance(getattr(mapper.class_, "__tablename__", None), str)
    }


@cache
def _all_tables() -> dict[str, Any]:
    """Every table (audited or not) by name, for references to unaudited tables."""
    import app.models  # noqa: F401

    return dict(Base.metadata.tables)


def audited_tables() -> list[str]:
    """The names of the tables the audit log records."""
    return sorted(_models())


def table_label(table: str) -> str:
    """``change`` for ``change_request``, ``vendor contact`` for ``vendor_contact``."""
    return TABLE_LABELS.get(table, table.replace("_", " "))


def field_label(field: str | None) -> str:
    """``Assignment group`` for ``assignment_group_id``; empty for None."""
    if not field:
        return ""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    words = field.removesuffix("_id").removesuffix("_at").replace("_", " ").strip()
    if field.endswith("_at") and words:
        words += " at"
    return words[:1].upper() + words[1:]


def _name_column(table: str) -> str | None:
    columns = _all_tables().get(table)
    if columns is None:
        return None
    return next((name for name in _NAME_COLUMNS if name in columns.c), None)


def table_fields(table: str) -> list[tuple[str, str]]:
    """The fields of ``table`` that audit rows may name, as (field, label) by label."""
    model = _models().get(table)
    if model is None:
        return []
    fields = [
        (column.key, field_label(column.key))
        for column in model.__table__.columns
        if column.key not in _SKIPPED_FIELDS
    ]
    return sorted(fields, key=lambda item: item[1].lower())


def choices(session: Session) -> Choices:
    """Users who appear in the log, the audited tables and their fields."""
    users = list(
        session.scalars(select(AuditEntry.username).distinct().order_by(AuditEntry.username))
    )
    tables = sorted(
        ((table, table_label(table)) for table in _models()), key=lambda item: item[1].lower()
    )
    return Choices(users, tables, {table: table_fields(table) for table, _ in tables})


# Finding records


def _record_keys(session: Session, table: str | None, record: str) -> list[tuple[str, str]]:
    """The (table, id) pairs ``record`` may stand for: a number, a name or an id."""
    text = record.strip()
    tables = [table] if table else audited_tables()
    if text.isdigit():
        return [(name, str(int(text))) for name in tables]
    keys: list[tuple[str, str]] = []
    for name in tables:
        column_name = _name_column(name)
        if column_name is None:
            continue
        t = _all_tables()[name]
        if "id" not in t.c:
            continue
        column = t.c[column_name]
        stmt = select(t.c.id).where(func.lower(column) == text.lower()).limit(50)
        keys.extend((name, str(ident)) for ident in session.scalars(stmt))
    if not keys:
        # A deleted record: its insert row still carries its number or name.
        stmt = select(AuditEntry.entity, AuditEntry.entity_id).where(
            AuditEntry.action == "insert", func.lower(AuditEntry.new_value) == text.lower()
        )
        if table:
            stmt = stmt.where(AuditEntry.entity == table)
        keys.extend((e, i) for e, i in session.execute(stmt.distinct().limit(50)))
    return keys


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(session: Session, filt: AuditFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``filt`` (bound parameters only)."""
    a = AuditEntry
    where: list[ColumnElement[bool]] = []
    if filt.who and filt.who.strip():
        where.append(a.username.ilike(_like(filt.who.strip()), escape="\\"))
    if filt.record and filt.record.strip():
        keys = _record_keys(session, filt.table, filt.record)
        if not keys:
            where.append(false())
        else:
            by_table: dict[str, list[str]] = defaultdict(list)
            for table, ident in keys:
                by_table[table].append(ident)
            where.append(
                or_(
                    *(
                        and_(a.entity == table, a.entity_id.in_(idents))
                        for table, idents in by_table.items()
                    )
                )
            )
    elif filt.table:
        where.append(a.entity == filt.table)
    if filt.field:
        where.append(a.field == filt.field)
    if filt.action:
        where.append(a.action == filt.action)
    if filt.text and filt.text.strip():
        pattern = _like(filt.text.strip())
        where.append(
            or_(a.old_value.ilike(pattern, escape="\\"), a.new_value.ilike(pattern, escape="\\"))
        )
    if filt.start is not None:
        where.append(a.at >= filt.start)
    if filt.end is not None:
        where.append(a.at < filt.end)
    return where


def _order(sort: AuditSort) -> list[Any]:
    a = AuditEntry
    keys: list[Any] = {
        "at": [a.at, a.id],
        "who": [a.username, a.at, a.id],
        "record": [a.entity, a.entity_id, a.at, a.id],
        "field": [a.field, a.at, a.id],
    }[sort.column]
    return [key.desc() if sort.descending else key.asc() for key in keys]


def _ids(where: Sequence[ColumnElement[bool]], sort: AuditSort) -> Select:
    return select(AuditEntry.id).where(*where).order_by(*_order(sort))


def count(session: Session, filt: AuditFilter) -> int:
    """How many audit rows ``filt`` matches."""
    stmt = select(func.count()).select_from(AuditEntry).where(*conditions(session, filt))
    return int(session.scalar(stmt) or 0)


def search(
    session: Session,
    filt: AuditFilter,
    sort: AuditSort = DEFAULT_SORT,
    offset: int = 0,
    limit: int = 200,
    *,
    total: int | None = None,
    zone: dt.tzinfo | None = None,
) -> list[AuditRow]:
    """Rows ``offset`` .. ``offset + limit`` of the sorted matches, labelled.

    Given ``total`` (from :func:`count`), a window in the second half is read backwards
    from the end, as cheap as the first.
    """
    offset, limit = max(0, offset), max(0, limit)
    if limit == 0 or (total is not None and offset >= total):
        return []
    where = conditions(session, filt)
    if total is not None and offset > total // 2:
        end = min(offset + limit, total)
        stmt = _ids(where, sort.reversed()).offset(total - end).limit(end - offset)
        ids = [row[0] for row in session.execute(stmt)][::-1]
    else:
        stmt = _ids(where, sort).offset(offset).limit(limit)
        ids = [row[0] for row in session.execute(stmt)]
    return rows_for_ids(session, ids, zone=zone)


def rows_for_ids(
    session: Session, ids: Sequence[int], *, zone: dt.tzinfo | None = None
) -> list[AuditRow]:
    """The audit rows ``ids``, in that order, labelled."""
    if not ids:
        return []
    found = {entry.id: entry for entry in session.scalars(_entries().where(AuditEntry.id.in_(ids)))}
    entries = [found[i] for i in ids if i in found]
    return Labeller(session, zone).rows(entries)


def _entries() -> Select:
    return select(AuditEntry).execution_options(populate_existing=False)


def history(
    session: Session,
    table: str,
    record_id: Any,
    *,
    zone: dt.tzinfo | None = None,
    limit: int | None = None,
) -> list[AuditRow]:
    """Every change of one record, oldest first (creation, edits, deletion)."""
    stmt = (
        _entries()
        .where(AuditEntry.entity == table, AuditEntry.entity_id == str(record_id))
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return Labeller(session, zone).rows(list(session.scalars(stmt)))


def record_label(session: Session, table: str, record_id: Any) -> str:
    """``INC0001234``, ``vendor Contoso`` or ``leave #12``."""
    labeller = Labeller(session)
    labeller.want_records([(table, str(record_id))])
    return labeller.record_label(table, str(record_id))


# Labels


class Labeller:
    """Turns audit entries into :class:`AuditRow`, reading the names it needs in batches."""

    def __init__(self, session: Session, zone: dt.tzinfo | None = None) -> None:
        self.session = session
        self.zone = zone
        #: (table, id) -> the record's number or name (None when it has neither).
        self._names: dict[tuple[str, str], str | None] = {}

    # Names of records

    def want_records(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read the names of ``keys`` not read yet, one query per table."""
        missing: dict[str, set[str]] = defaultdict(set)
        for table, ident in keys:
            if (table, ident) not in self._names:
                missing[table].add(ident)
        for table, idents in missing.items():
            column_name = _name_column(table)
            t = _all_tables().get(table)
            numeric = [int(i) for i in idents if i.isdigit()]
            if column_name is not None and t is not None and "id" in t.c and numeric:
                for start in range(0, len(numeric), 500):
                    part = numeric[start : start + 500]
                    stmt = select(t.c.id, t.c[column_name]).where(t.c.id.in_(part))
                    for ident, name in self.session.execute(stmt):
                        self._names[(table, str(ident))] = None if name is None else str(name)
            gone = [i for i in idents if (table, i) not in self._names]
            if gone and table in _models():
                # Deleted records: the insert row kept their number or name.
                stmt = select(AuditEntry.entity_id, AuditEntry.new_value).where(
                    AuditEntry.entity == table,
                    AuditEntry.entity_id.in_(gone),
                    AuditEntry.action == "insert",
                )
                for ident, name in self.session.execute(stmt):
                    if name:
                        self._names[(table, ident)] = name
            for ident in idents:
                self._names.setdefault((table, ident), None)

    def name(self, table: str, ident: str) -> str | None:
        return self._names.get((table, ident))

    def record_label(self, table: str, ident: str) -> str:
        name = self.name(table, ident)
        if name is not None and table in _NUMBERED:
            return name
        kind = table_label(table)
        return f"{kind} {name}" if name else f"{kind} #{ident}"

    # Values

    def _reference(self, table: str, field: str | None) -> str | None:
        """The table ``field`` of ``table`` refers to, if it is a foreign key."""
        if not field:
            return None
        t = _all_tables().get(table)
        if t is None or field not in t.c:
            return None
        keys = list(t.c[field].foreign_keys)
        return keys[0].column.table.name if keys else None

    def _kind(self, table: str, field: str | None) -> str:
        t = _all_tables().get(table)
        if not field or t is None or field not in t.c:
            return "text"
        column_type = t.c[field].type
        if field == "priority":
            return "priority"
        if isinstance(column_type, Boolean):
            return "bool"
        if isinstance(column_type, DateTime) or isinstance(
            getattr(column_type, "impl", None), DateTime
        ):
            return "datetime"
        if isinstance(column_type, Date):
            return "date"
        return "text"

    def shown(self, table: str, field: str | None, value: str | None) -> str | None:
        """``value`` of ``field`` as it reads (after :meth:`want_records` for references)."""
        if value is None:
            return None
        target = self._reference(table, field)
        if target is not None and value.isdigit():
            name = self.name(target, value)
            if name is not None:
                return name
            return f"{table_label(target)} #{value}"
        kind = self._kind(table, field)
        if kind == "priority" and value.isdigit():
            return f"P{value}"
        if kind == "bool" and value in ("True", "False", "1", "0"):
            return "Yes" if value in ("True", "1") else "No"
        if kind == "datetime":
            try:
                instant = dt.datetime.fromisoformat(value)
            except ValueError:
                return value
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=dt.UTC)
            return format_datetime(instant, self.zone)
        if kind == "date":
            try:
                return format_date(dt.date.fromisoformat(value[:10]))
            except ValueError:
                return value
        return value

    # Rows

    def rows(self, entries: Sequence[AuditEntry]) -> list[AuditRow]:
        wanted: list[tuple[str, str]] = []
        for e in entries:
            wanted.append((e.entity, e.entity_id))
            target = self._reference(e.entity, e.field)
            if target is not None:
                for value in (e.old_value, e.new_value):
                    if value is not None and value.isdigit():
                        wanted.append((target, value))
        self.want_records(wanted)
        return [self.row(e) for e in entries]

    def row(self, e: AuditEntry) -> AuditRow:
        return AuditRow(
            id=e.id,
            at=e.at,
            who=e.username,
            table=e.entity,
            record_id=e.entity_id,
            action=e.action,
            field=e.field,
            old_value=e.old_value,
            new_value=e.new_value,
            table_label=table_label(e.entity),
            record_label=self.record_label(e.entity, e.entity_id),
            field_label=field_label(e.field),
            old_shown=self.shown(e.entity, e.field, e.old_value),
            new_shown=self.shown(e.entity, e.field, e.new_value),
        )


# Export


def export_columns() -> tuple[Any, ...]:
    """The workbook's columns (openpyxl loads with the first export, not at start-up)."""
    from app.services.io.excel import Column

    return (
        Column("When", "datetime"),
        Column("Who", "text"),
        Column("Record type", "text"),
        Column("Record", "text"),
        Column("Action", "text"),
        Column("Field", "text"),
        Column("Old value", "text", width=40),
        Column("New value", "text", width=40),
        Column("Table", "text"),
        Column("Record id", "text"),
        Column("Field name", "text"),
        Column("Old value (stored)", "text", width=30),
        Column("New value (stored)", "text", width=30),
    )


def export_values(row: AuditRow) -> tuple[Any, ...]:
    """The cells of one row of the export."""
    return (
        row.at,
        row.who,
        row.table_label,
        row.record_label,
        row.action_label,
        field_label(row.field) if row.field else None,
        row.old_shown,
        row.new_shown,
        row.table,
        row.record_id,
        row.field,
        row.old_value,
        row.new_value,
    )


def _exported_rows(
    session: Session, filt: AuditFilter, sort: AuditSort, zone: dt.tzinfo | None
) -> Iterator[tuple[Any, ...]]:
    where = conditions(session, filt)
    stmt = _entries().where(*where).order_by(*_order(sort))
    result = session.execute(stmt, execution_options={"yield_per": CHUNK, "stream_results": True})
    with result:
        for part in result.scalars().partitions(CHUNK):
            labeller = Labeller(session, zone)
            for row in labeller.rows(part):
                yield export_values(row)
            # Entries already written are not needed again.
            for entry in part:
                session.expunge(entry)


def export(
    session: Session,
    filt: AuditFilter,
    path: str | os.PathLike[str],
    progress: Progress | None = None,
    sort: AuditSort = DEFAULT_SORT,
    *,
    zone: dt.tzinfo | None = None,
) -> int:
    """Write every audit row ``filt`` matches to the workbook ``path``; returns how many.

    Streamed (memory stays flat) and written to a temporary file renamed into place: a
    cancel through ``progress`` leaves no file and an older file at ``path`` as it was.
    Times are date cells in ``zone`` (default: the computer's).
    """
    from app.services.io.excel import StreamedWorkbook, atomic_output

    progress = progress or Progress()
    progress.update(0, 0, "Counting changes")
    book = StreamedWorkbook(zone)
    with atomic_output(path) as temporary:
        try:
            total = count(session, filt)
            written = book.add_table(
                SHEET_TITLE,
                export_columns(),
                _exported_rows(session, filt, sort, zone),
                total=total,
                progress=progress,
                label="Writing changes",
            )
            progress.update(written, written, "Saving the workbook")
            book.write(temporary)
        except BaseException:
            book.discard()
            raise
    return written


def last_writer(
    session: Session, table: str, record_id: int
) -> tuple[str | None, dt.datetime | None]:
    """Who last wrote a record (display name, else user name) and when, from the audit log;
    what a conflict message says ("changed by Alex Kim at 14:05")."""
    row = session.execute(
        select(AuditEntry.username, AuditEntry.at)
        .where(AuditEntry.entity == table, AuditEntry.entity_id == str(record_id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, None
    name = session.scalar(select(AppUser.display_name).where(AppUser.username == row.username))
    return name or row.username, row.at


def by_whom_when(who: str | None, when: dt.datetime | None) -> str:
    """``" by Alex Kim at 25 Nov 2026 14:05"`` (either part left out when unknown), for
    the "was changed … after you opened it" of a conflict."""
    by = f" by {who}" if who else ""
    at = f" at {format_datetime(when)}" if when else ""
    return by + at
