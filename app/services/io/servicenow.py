"""What ServiceNow exports look like: column names, state codes and value words.

Two shapes: the incident *list* export (CSV or XLSX, one row per incident, field names or
column labels as headers) and the incident *event log* (one row per update of an incident,
in the shape of the public "incident management process enriched event log"). Reading and
checking is common to every source and lives in :mod:`app.services.io.importer`; this
module only holds the vocabulary.
"""

from __future__ import annotations

from app.models.enums import HoldReason, IncidentState

#: field -> headers that fill it, best first (compared case-insensitively, spaces ignored).
LIST_ALIASES: dict[str, tuple[str, ...]] = {
    "number": ("number",),
    "short_description": ("short_description", "short description"),
    "description": ("description",),
    "state": ("state", "incident_state", "incident state"),
    "hold_reason": ("hold_reason", "on hold reason", "on_hold_reason"),
    "impact": ("impact",),
    "urgency": ("urgency",),
    "priority": ("priority",),
    "category": ("category",),
    "subcategory": ("subcategory",),
    "contact_type": ("contact_type", "contact type", "channel"),
    "caller": ("caller_id", "caller", "caller_id.name"),
    "assignment_group": ("assignment_group", "assignment group", "assignment_group.name"),
    "assignee": ("assigned_to", "assigned to", "assigned_to.name"),
    "service": ("business_service", "service", "business service", "service_offering"),
    "ci": ("cmdb_ci", "configuration item", "configuration_item"),
    "vendor": ("vendor", "u_vendor"),
    "problem": ("problem_id", "problem"),
    "change": ("rfc", "change request", "change_request"),
    "caused_by": ("caused_by", "caused by change", "caused by"),
    "opened_at": ("opened_at", "opened"),
    "updated_at": ("sys_updated_on", "sys_updated_at", "updated"),
    "resolved_at": ("resolved_at", "resolved"),
    "closed_at": ("closed_at", "closed"),
    "resolution_code": ("close_code", "closed_code", "resolution code", "close code"),
    "resolution_notes": ("close_notes", "resolution notes", "close notes"),
    "made_sla": ("made_sla", "made sla"),
    "reassignment_count": ("reassignment_count", "reassignment count"),
    "reopen_count": ("reopen_count", "reopen count"),
    "updated_by": ("sys_updated_by", "updated by"),
}

#: The event log names its update time ``sys_updated_at``; prefer it.
EVENT_ALIASES: dict[str, tuple[str, ...]] = {
    **LIST_ALIASES,
    "state": ("incident_state", "state", "incident state"),
    "updated_at": ("sys_updated_at", "sys_updated_on", "updated"),
}

#: Headers (normalised) that only an event log has.
EVENT_MARKERS = frozenset({"sys_mod_count", "sys_updated_at"})
#: Headers (normalised) of which a list export has at least one beside ``number``.
LIST_MARKERS = frozenset(
    {"short_description", "shortdescription", "state", "incident_state", "opened_at", "opened"}
)

_NEW, _WIP, _HOLD = IncidentState.NEW, IncidentState.IN_PROGRESS, IncidentState.ON_HOLD

#: state text or code (lower case) -> (state, hold reason implied by the state).
#: Servicedeck's own names (New, In Progress, On Hold, Awaiting Vendor, ...) are understood
#: too (app.services.io.importer).
STATES: dict[str, tuple[IncidentState, HoldReason | None]] = {
    "1": (_NEW, None),
    "active": (_WIP, None),
    "work in progress": (_WIP, None),
    "2": (_WIP, None),
    "3": (_HOLD, None),
    "awaiting user info": (_HOLD, HoldReason.AWAITING_CALLER),
    "awaiting evidence": (_HOLD, HoldReason.AWAITING_CALLER),
    "6": (IncidentState.RESOLVED, None),
    "7": (IncidentState.CLOSED, None),
    "cancelled": (IncidentState.CANCELED, None),
    "8": (IncidentState.CANCELED, None),
}

#: ``hold_reason`` column values (ServiceNow's codes and labels).
HOLD_REASONS: dict[str, HoldReason] = {
    "1": HoldReason.AWAITING_CALLER,
    "awaiting user info": HoldReason.AWAITING_CALLER,
    "awaiting evidence": HoldReason.AWAITING_CALLER,
    "3": HoldReason.AWAITING_PROBLEM,
    "4": HoldReason.AWAITING_VENDOR,
    "5": HoldReason.AWAITING_CHANGE,
}

#: Priority words without their number ("Critical" as well as "1 - Critical").
PRIORITIES: dict[str, int] = {"critical": 1, "high": 2, "moderate": 3, "low": 4, "planning": 5}
#: Impact and urgency words without their number ("High" as well as "1 - High").
LEVELS: dict[str, int] = {"high": 1, "medium": 2, "low": 3}
