"""Domain vocabularies (stored as plain strings, so the schema stays portable)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    AGENT = "agent"
    CHANGE_MANAGER = "change_manager"
    SERVICE_MANAGER = "service_manager"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class IncidentState(StrEnum):
    NEW = "New"
    IN_PROGRESS = "In Progress"
    ON_HOLD = "On Hold"
    RESOLVED = "Resolved"
    CLOSED = "Closed"
    CANCELED = "Canceled"


#: States in which an incident is still being worked (it counts in the backlog).
OPEN_INCIDENT_STATES = (IncidentState.NEW, IncidentState.IN_PROGRESS, IncidentState.ON_HOLD)


class HoldReason(StrEnum):
    AWAITING_CALLER = "Awaiting Caller"
    AWAITING_CHANGE = "Awaiting Change"
    AWAITING_PROBLEM = "Awaiting Problem"
    AWAITING_VENDOR = "Awaiting Vendor"


class SlaTarget(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


class SlaKind(StrEnum):
    SLA = "SLA"
    OLA = "OLA"
    UC = "UC"


class SlaStage(StrEnum):
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    ACHIEVED = "achieved"
    BREACHED = "breached"
    CANCELED = "canceled"


class ChangeType(StrEnum):
    STANDARD = "Standard"
    NORMAL = "Normal"
    EMERGENCY = "Emergency"


class ChangeState(StrEnum):
    NEW = "New"
    ASSESS = "Assess"
    AUTHORIZE = "Authorize"
    SCHEDULED = "Scheduled"
    IMPLEMENT = "Implement"
    REVIEW = "Review"
    CLOSED = "Closed"
    CANCELED = "Canceled"


class CloseCode(StrEnum):
    SUCCESSFUL = "Successful"
    SUCCESSFUL_WITH_ISSUES = "Successful with issues"
    UNSUCCESSFUL = "Unsuccessful"


class Risk(StrEnum):
    LOW = "Low"
    MODERATE = "Moderate"
    HIGH = "High"
    VERY_HIGH = "Very High"


class WindowKind(StrEnum):
    BLACKOUT = "blackout"
    MAINTENANCE = "maintenance"


class CabDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    MORE_INFO = "more_info"


class Vote(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ABSTAIN = "abstain"


class Rag(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


class CriterionKind(StrEnum):
    MEASURED = "measured"
    JUDGED = "judged"
