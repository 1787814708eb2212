"""Every mapped class, imported so that ``Base.metadata`` knows the whole schema."""

from app.models.audit import AuditEntry
from app.models.base import UTC, Base, utcnow
from app.models.change import (
    CabAgendaItem,
    CabMeeting,
    CabVote,
    ChangeRequest,
    ChangeReview,
    ChangeTemplate,
    ChangeWindow,
    RiskAnswer,
    RiskOption,
    RiskQuestion,
    cab_attendee,
    change_ci,
    change_service,
)
from app.models.cmdb import CIRelation, ConfigurationItem, Service
from app.models.incident import (
    CommunicationLog,
    CorrectiveAction,
    Incident,
    IncidentEvent,
    MajorIncidentUpdate,
    Outage,
    PostIncidentReview,
    PriorityRule,
    SurveyResponse,
)
from app.models.kpi import KpiTargetSetting
from app.models.org import AppUser, Country, Person, SavedView, Team, team_member
from app.models.problem import Problem
from app.models.roster import (
    EscalationLevel,
    EscalationPolicy,
    LayerMember,
    Leave,
    OnCallSchedule,
    Roster,
    RosterPreference,
    RosterShift,
    ScheduleLayer,
    ScheduleOverride,
)
from app.models.sla import BusinessHours, BusinessSchedule, Holiday, SlaClock, SlaDefinition
from app.models.vendor import (
    Contract,
    ContractSlaTarget,
    CreditRule,
    ReviewAction,
    ScorecardCriterion,
    ScorecardPeriod,
    ScorecardScore,
    ScorecardTemplate,
    Vendor,
    VendorContact,
    contract_service,
)

__all__ = [name for name in dir() if not name.startswith("_")]
