"""What an import file says about incidents, normalised and checked, before anything is written.

The readers (``servicenow``, ``jsm``) turn a file into an :class:`ImportPlan`; the writer
(``app.services.io.incident_import``) stores a plan in one transaction. Nothing here
touches the database, so a plan can be previewed, counted and thrown away.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class ImportSource(StrEnum):
    """The export shapes Servicedeck recognises from a file's headers."""

    SERVICENOW_LIST = "servicenow"
    SERVICENOW_EVENTS = "servicenow-events"
    JSM = "jsm"

    @property
    def label(self) -> str:
        return {
            ImportSource.SERVICENOW_LIST: "ServiceNow incident list",
            ImportSource.SERVICENOW_EVENTS: "ServiceNow incident audit / event log",
            ImportSource.JSM: "Jira Service Management CSV",
        }[self]


class ImportFileError(ValueError):
    """A file that cannot be imported; names the file, row, column and value when it can.

    ``row`` is the 1-based line of the data row as a spreadsheet shows it (the header is
    row 1); ``None`` when the problem is the whole file (encoding, no header, empty).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.value = value


@dataclass(frozen=True, slots=True)
class ImportedEvent:
    """One earlier row of an event-log export: what changed at that moment, oldest first.

    ``changes`` holds ``(field, old, new)`` with the field named as on
    :class:`ImportedIncident` (``state``, ``assignment_group``, ``assignee``, ``priority``,
    ``impact``, ``urgency``, ``hold_reason``, ...) and values as text.
    """

    at: dt.datetime
    row: int
    author: str | None
    changes: tuple[tuple[str, str | None, str | None], ...]


@dataclass(frozen=True, slots=True)
class ImportedIncident:
    """An incident as the file says it is now (the latest row for its number).

    Names (groups, people, services, CIs, vendors, categories) are kept as text; the
    writer matches them to rows or creates them. Datetimes are timezone-aware UTC.
    """

    number: str
    row: int
    short_description: str
    state: str  # an IncidentState value
    opened_at: dt.datetime
    description: str | None = None
    hold_reason: str | None = None  # a HoldReason value when state is On Hold
    impact: int | None = None
    urgency: int | None = None
    priority: int | None = None
    category: str | None = None
    subcategory: str | None = None
    contact_type: str | None = None
    caller: str | None = None
    assignment_group: str | None = None
    assignee: str | None = None
    service: str | None = None
    ci: str | None = None
    vendor: str | None = None
    problem: str | None = None  # a problem number
    change: str | None = None  # the change (rfc) raised to fix it
    caused_by: str | None = None  # the change that caused it
    updated_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    resolution_code: str | None = None
    resolution_notes: str | None = None
    made_sla: bool | None = None
    reassignment_count: int | None = None
    reopen_count: int | None = None
    history: tuple[ImportedEvent, ...] = ()


@dataclass(slots=True)
class ImportPlan:
    """A whole file, read and checked: ready to preview or to write."""

    path: Path
    source: ImportSource
    mapping: dict[str, str | None]  # field -> column header (None: not in the file)
    date_format: str | None  # a strptime format, or None for ISO 8601
    rows_read: int
    incidents: list[ImportedIncident]
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)
    empty_rows: int = 0  # fully empty rows, skipped without a reason
