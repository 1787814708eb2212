"""Every incident a queue filter matches, exported to a workbook, streamed from the database.

The rows are the queue's own (:mod:`app.services.incident_query` builds the filter and the
sort), read in chunks of :data:`CHUNK` through a server-side cursor and written through
the streamed table writer, so memory stays flat however many incidents match.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Label, Row, Select, String, type_coerce
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import TypeDecorator

from app.models import Incident, Person
from app.models.base import UTCDateTime
from app.services import incident_query as q
from app.services.incident_query import IncidentFilter, QueryContext, Sort
from app.services.io.excel import Column, StreamedWorkbook, atomic_output
from app.services.progress import Progress

#: Rows fetched from the database at a time.
CHUNK = 5_000
SHEET_TITLE = "Incidents"

COLUMNS: tuple[Column, ...] = (
    Column("Number", "text"),
    Column("Priority", "int"),
    Column("Impact", "int"),
    Column("Urgency", "int"),
    Column("State", "text"),
    Column("Hold reason", "text"),
    Column("Short description", "text", width=50),
    Column("Category", "text"),
    Column("Service", "text"),
    Column("CI", "text"),
    Column("Assignment group", "text"),
    Column("Assignee", "text"),
    Column("Caller", "text"),
    Column("Vendor", "text"),
    Column("Major", "bool"),
    Column("Opened", "datetime"),
    Column("First response", "datetime"),
    Column("Resolved", "datetime"),
    Column("Closed", "datetime"),
    Column("Updated", "datetime"),
    Column("Age (days)", "float"),
    Column("Reassignments", "int"),
    Column("Reopens", "int"),
    Column("Made SLA", "bool"),
    Column("SLA", "text"),
    Column("SLA due", "datetime"),
)

_caller = aliased(Person, name="caller")


class _SqliteInstant(TypeDecorator[dt.datetime]):
    """A UTC instant read straight from SQLite's ISO text (see ``SQLITE_DATETIME_FORMAT``)."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else dt.datetime.fromisoformat(value + "+00:00")


def _fast_instants(stmt: Select) -> Select:
    """``stmt`` with its instants parsed by the C ISO parser, not a regular expression.

    On SQLite the usual instant type costs a regular expression per value: more than
    the query itself for a large export.
    """
    columns = []
    for column in stmt.selected_columns:
        if isinstance(column.type, UTCDateTime):
            inner = column.element if isinstance(column, Label) else column
            column = type_coerce(inner, _SqliteInstant()).label(column.key)
        columns.append(column)
    return stmt.with_only_columns(*columns)


def export_query(
    filt: IncidentFilter, sort: Sort, ctx: QueryContext, dialect: str = "postgresql"
) -> Select:
    """The queue's rows for ``filt`` in ``sort`` order, with the columns an export adds."""
    stmt = (
        q.select_rows(filt, sort, ctx)
        .outerjoin(_caller, _caller.id == Incident.caller_id)
        .add_columns(
            Incident.impact,
            Incident.urgency,
            Incident.category,
            Incident.first_response_at,
            Incident.reassignment_count,
            Incident.reopen_count,
            Incident.made_sla,
            _caller.name.label("caller"),
        )
    )
    return _fast_instants(stmt) if dialect == "sqlite" else stmt


#: Result columns written as they are, before and after the age column.
_LEADING = (
    "number",
    "priority",
    "impact",
    "urgency",
    "state",
    "hold_reason",
    "short_description",
    "category",
    "service",
    "ci",
    "group_name",
    "assignee",
    "caller",
    "vendor",
    "is_major",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "updated_at",
)
_MIDDLE = ("reassignment_count", "reopen_count", "made_sla")


def row_values(keys: Sequence[str], now: dt.datetime) -> Callable[[Row], tuple[Any, ...]]:
    """A function turning a result row into the values of :data:`COLUMNS`."""
    at = {key: i for i, key in enumerate(keys)}
    # Positional getters: reading 26 fields by name costs more than writing them.
    leading = itemgetter(*(at[k] for k in _LEADING))
    middle = itemgetter(*(at[k] for k in _MIDDLE))
    opened, resolved, closed = at["opened_at"], at["resolved_at"], at["closed_at"]
    stage, due = at["sla_stage"], at["sla_due_at"]

    def values(row: Row) -> tuple[Any, ...]:
        end = row[closed] or row[resolved] or now
        age = round((end - row[opened]).total_seconds() / 86_400, 1)
        sla = q.sla_cell(row, now).status if row[stage] is not None else None
        return (*leading(row), age, *middle(row), sla, row[due])

    return values


@contextmanager
def _connection(source: Session | Engine | Connection) -> Iterator[Session | Connection]:
    if isinstance(source, Engine):
        with source.connect() as conn:
            yield conn
    else:
        yield source


def export_incidents(
    source: Session | Engine | Connection,
    filt: IncidentFilter,
    path: str | os.PathLike[str],
    progress: Progress | None = None,
    sort: Sort | None = None,
    *,
    now: dt.datetime | None = None,
    zone: dt.tzinfo | None = None,
    team_ids: Iterable[int] = (),
) -> int:
    """Write every incident ``filt`` matches (not only those on screen) to ``path``.

    Returns how many were written. Dates are date cells in ``zone`` (default: the
    computer's); ``team_ids`` are the user's teams, for a "my groups" filter. A cancel through ``progress`` leaves no file behind and an older
    file at ``path`` as it was.
    """
    progress = progress or Progress()
    sort = sort or q.DEFAULT_SORT
    progress.update(0, 0, "Counting incidents")
    book = StreamedWorkbook(zone)
    # Opened first, so an unwritable folder fails before the work, not after it.
    with atomic_output(path) as temporary, _connection(source) as conn:
        try:
            session = conn if isinstance(conn, Session) else Session(bind=conn)
            ctx = q.context_for(session, now, team_ids)
            total = q.count(session, filt, ctx)
            stmt = export_query(filt, sort, ctx, session.get_bind().dialect.name)
            result = conn.execute(
                stmt, execution_options={"yield_per": CHUNK, "stream_results": True}
            )
            with result:
                written = book.add_table(
                    SHEET_TITLE,
                    COLUMNS,
                    map(row_values(list(result.keys()), ctx.now), result),
                    total=total,
                    progress=progress,
                    label="Writing incidents",
                )
            progress.update(written, written, "Saving the workbook")
            book.write(temporary)
        except BaseException:
            book.discard()
            raise
    return written
