"""Incidents, their timeline, the priority matrix, major-incident records and surveys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, utcnow


class PriorityRule(Versioned, Base):
    """One cell of the editable impact x urgency priority matrix."""

    __tablename__ = "priority_rule"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("impact", "urgency"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    impact: Mapped[int] = mapped_column(SmallInteger)
    urgency: Mapped[int] = mapped_column(SmallInteger)
    priority: Mapped[int] = mapped_column(SmallInteger)


class Incident(Versioned, Timestamped, Base):
    """An unplanned interruption or reduction in quality of a service."""

    __tablename__ = "incident"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("impact BETWEEN 1 AND 3", name="impact_range"),
        CheckConstraint("urgency BETWEEN 1 AND 3", name="urgency_range"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        # The queue's default sorts and its most used filters (keyset pagination).
        Index("ix_incident_opened", "opened_at", "id"),
        Index("ix_incident_updated", "updated_at", "id"),
        Index("ix_incident_state_priority_opened", "state", "priority", "opened_at", "id"),
        Index("ix_incident_group_state", "assignment_group_id", "state", "priority"),
        Index("ix_incident_assignee_state", "assignee_id", "state"),
        Index("ix_incident_service_opened", "service_id", "opened_at"),
        Index("ix_incident_vendor_opened", "vendor_id", "opened_at"),
        Index("ix_incident_resolved", "resolved_at"),
        Index("ix_incident_major_state", "is_major", "state"),
        Index("ix_incident_priority_id", "priority", "id"),
        # The queue's SLA sort (soonest due first, incidents without a clock last).
        Index("ix_incident_sla_due", "sla_due_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    short_description: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    contact_type: Mapped[str] = mapped_column(String(20), default="portal")
    category: Mapped[str | None] = mapped_column(String(60))
    subcategory: Mapped[str | None] = mapped_column(String(60))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"))
    ci_id: Mapped[int | None] = mapped_column(ForeignKey("ci.id"), index=True)

    impact: Mapped[int] = mapped_column(SmallInteger, default=3)
    urgency: Mapped[int] = mapped_column(SmallInteger, default=3)
    priority: Mapped[int] = mapped_column(SmallInteger, default=5)
    priority_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    priority_override_reason: Mapped[str | None] = mapped_column(Text)

    state: Mapped[str] = mapped_column(String(20), default="New")
    hold_reason: Mapped[str | None] = mapped_column(String(30))
    assignment_group_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    first_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("team.id"), doc="the group first assigned, for first-contact resolution"
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"))
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problem.id"), index=True)
    change_id: Mapped[int | None] = mapped_column(
        ForeignKey("change_request.id"), doc="the change raised to fix this incident"
    )
    caused_by_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("change_request.id"), index=True, doc="the change that caused this incident"
    )

    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    resolution_code: Mapped[str | None] = mapped_column(String(60))
    resolution_notes: Mapped[str | None] = mapped_column(Text)

    reassignment_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    made_sla: Mapped[bool | None] = mapped_column(Boolean)
    # The clock the queue's SLA column shows (rule in app.services.incident_query), kept on
    # the row by the SLA engine so that sorting a million incidents by SLA reads an index.
    sla_due_at: Mapped[dt.datetime | None] = mapped_column(
        doc="due_at of the SLA clock the queue shows; None when no clock is shown"
    )
    sla_stage: Mapped[str | None] = mapped_column(
        String(20), doc="stage of the SLA clock the queue shows (an SlaStage value)"
    )

    is_major: Mapped[bool] = mapped_column(Boolean, default=False)
    major_declared_at: Mapped[dt.datetime | None]
    major_status: Mapped[str | None] = mapped_column(
        String(30), doc="investigating, identified, monitoring, resolved"
    )

    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident", order_by="IncidentEvent.at", cascade="all, delete-orphan"
    )


class IncidentEvent(Base):
    """One line of an incident's history: a work note, comment, or field change (append-only)."""

    __tablename__ = "incident_event"
    __table_args__ = (Index("ix_incident_event_incident_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(
        String(20), doc="created, work_note, comment, state, assignment, priority, field"
    )
    field: Mapped[str | None] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="events")


class MajorIncidentUpdate(Base):
    """A timestamped status update on a major incident's own timeline (append-only)."""

    __tablename__ = "major_incident_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    status: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)


class CommunicationLog(Base):
    """A message sent to stakeholders about a major incident (append-only)."""

    __tablename__ = "communication_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    channel: Mapped[str] = mapped_column(String(30), doc="email, status page, bridge, sms")
    audience: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)


class PostIncidentReview(Versioned, Timestamped, Base):
    """The review held after a major incident."""

    __tablename__ = "post_incident_review"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), unique=True
    )
    held_on: Mapped[dt.date | None] = mapped_column(Date)
    timeline_summary: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    contributing_factors: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="draft")

    actions: Mapped[list[CorrectiveAction]] = relationship(
        back_populates="review", cascade="all, delete-orphan", order_by="CorrectiveAction.id"
    )


class CorrectiveAction(Versioned, Timestamped, Base):
    """An action agreed in a post-incident review, with an owner and a due date."""

    __tablename__ = "corrective_action"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(
        ForeignKey("post_incident_review.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    completed_at: Mapped[dt.datetime | None]

    review: Mapped[PostIncidentReview] = relationship(back_populates="actions")


class Outage(Versioned, Base):
    """A period in which a service was unavailable; feeds MTBF and availability."""

    __tablename__ = "outage"
    __audited__ = True
    __table_args__ = (Index("ix_outage_service_start", "service_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    partial: Mapped[bool] = mapped_column(Boolean, default=False)


class SurveyResponse(Base):
    """A caller's satisfaction survey answer for a resolved incident (append-only)."""

    __tablename__ = "survey_response"
    __table_args__ = (
        CheckConstraint("csat BETWEEN 1 AND 5", name="csat_range"),
        CheckConstraint("nps BETWEEN 0 AND 10", name="nps_range"),
        Index("ix_survey_response_at", "responded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    responded_at: Mapped[dt.datetime]
    csat: Mapped[int | None] = mapped_column(SmallInteger, doc="1-5")
    nps: Mapped[int | None] = mapped_column(SmallInteger, doc="0-10 likelihood to recommend")
    comment: Mapped[str | None] = mapped_column(Text)
