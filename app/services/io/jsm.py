"""What Jira Service Management CSV exports look like: columns, statuses and priorities.

A JSM export holds every issue type of a project; only incident-like types are imported,
other rows are skipped with a reason. Dates default to Jira's ``dd/MMM/yy h:mm a``
("23/Nov/26 10:15 AM"). Reading and checking is common to every source and lives in
:mod:`app.services.io.importer`; this module only holds the vocabulary.
"""

from __future__ import annotations

from app.models.enums import HoldReason, IncidentState

#: field -> headers that fill it, best first (compared case-insensitively, spaces ignored).
ALIASES: dict[str, tuple[str, ...]] = {
    "number": ("issue key", "key"),
    "issue_type": ("issue type", "issuetype"),
    "short_description": ("summary",),
    "description": ("description",),
    "state": ("status",),
    "hold_reason": ("custom field (pending reason)", "pending reason"),
    "impact": ("custom field (impact)", "impact"),
    "urgency": ("custom field (urgency)", "urgency"),
    "priority": ("priority",),
    "category": ("custom field (category)", "category", "component/s"),
    "subcategory": ("custom field (subcategory)", "subcategory"),
    "contact_type": ("custom field (source)", "custom field (channel)", "channel"),
    "caller": ("reporter", "custom field (customer)"),
    "assignment_group": (
        "custom field (assignment group)",
        "custom field (team)",
        "assignment group",
        "team",
    ),
    "assignee": ("assignee",),
    "service": ("custom field (affected services)", "affected services", "services"),
    "ci": ("custom field (affected hardware)", "custom field (configuration item)", "assets"),
    "vendor": ("custom field (vendor)", "vendor"),
    "opened_at": ("created",),
    "updated_at": ("updated",),
    "resolved_at": ("resolved",),
    "resolution_code": ("resolution",),
    "resolution_notes": ("custom field (resolution notes)", "resolution notes"),
}

#: Issue types (lower case) imported as incidents; rows of other types are skipped.
INCIDENT_TYPES = frozenset({"incident", "[system] incident"})

_HOLD = IncidentState.ON_HOLD

#: status (lower case) -> (state, hold reason implied by the status).
#: Servicedeck's own names (New, In Progress, On Hold, Awaiting Vendor, ...) are understood
#: too (app.services.io.importer).
STATUSES: dict[str, tuple[IncidentState, HoldReason | None]] = {
    "open": (IncidentState.NEW, None),
    "waiting for support": (IncidentState.NEW, None),
    "to do": (IncidentState.NEW, None),
    "work in progress": (IncidentState.IN_PROGRESS, None),
    "escalated": (IncidentState.IN_PROGRESS, None),
    "reopened": (IncidentState.IN_PROGRESS, None),
    "waiting for customer": (_HOLD, HoldReason.AWAITING_CALLER),
    "pending": (_HOLD, HoldReason.AWAITING_CALLER),
    "waiting for vendor": (_HOLD, HoldReason.AWAITING_VENDOR),
    "waiting for third party": (_HOLD, HoldReason.AWAITING_VENDOR),
    "done": (IncidentState.RESOLVED, None),
    "cancelled": (IncidentState.CANCELED, None),
    "declined": (IncidentState.CANCELED, None),
    "won't do": (IncidentState.CANCELED, None),
}

#: "Custom field (Pending reason)" values -> hold reason (an unknown reason: Awaiting Caller).
HOLD_REASONS: dict[str, HoldReason] = {
    "more info required from customer": HoldReason.AWAITING_CALLER,
    "waiting for customer": HoldReason.AWAITING_CALLER,
    "waiting on vendor": HoldReason.AWAITING_VENDOR,
    "waiting for vendor": HoldReason.AWAITING_VENDOR,
    "pending on change request": HoldReason.AWAITING_CHANGE,
    "pending on problem": HoldReason.AWAITING_PROBLEM,
}

#: Jira priority names (and "P1".."P5", which the common reader handles) -> 1..5.
PRIORITIES: dict[str, int] = {
    "highest": 1,
    "blocker": 1,
    "critical": 1,
    "high": 2,
    "major": 2,
    "medium": 3,
    "low": 4,
    "minor": 4,
    "lowest": 5,
    "trivial": 5,
}

#: JSM's four impact values onto the three levels of the priority matrix.
IMPACTS: dict[str, int] = {
    "extensive / widespread": 1,
    "extensive": 1,
    "significant / large": 2,
    "significant": 2,
    "moderate / limited": 2,
    "moderate": 2,
    "minor / localized": 3,
    "minor": 3,
    "high": 1,
    "medium": 2,
    "low": 3,
}

#: JSM urgency values onto the three levels of the priority matrix.
URGENCIES: dict[str, int] = {"critical": 1, "high": 1, "medium": 2, "low": 3}
