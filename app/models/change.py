"""Change requests, the risk questionnaire, change windows and CAB meetings."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned, utcnow

if TYPE_CHECKING:
    from app.models.cmdb import ConfigurationItem, Service
    from app.models.org import Person

change_ci = Table(
    "change_ci",
    Base.metadata,
    Column("change_id", ForeignKey("change_request.id", ondelete="CASCADE"), primary_key=True),
    Column("ci_id", ForeignKey("ci.id", ondelete="CASCADE"), primary_key=True, index=True),
)

change_service = Table(
    "change_service",
    Base.metadata,
    Column("change_id", ForeignKey("change_request.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "service_id", ForeignKey("service.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class ChangeTemplate(Versioned, Timestamped, Base):
    """A pre-approved standard change in the catalogue."""

    __tablename__ = "change_template"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    risk: Mapped[str] = mapped_column(String(20), default="Low")
    implementation_plan: Mapped[str] = mapped_column(Text, default="")
    test_plan: Mapped[str] = mapped_column(Text, default="")
    backout_plan: Mapped[str] = mapped_column(Text, default="")
    typical_duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ChangeRequest(Versioned, Timestamped, Base):
    """A request for change (RFC) with its plans, window, risk and outcome."""

    __tablename__ = "change_request"
    __audited__ = True
    __table_args__ = (
        Index("ix_change_request_planned", "planned_start", "planned_end"),
        Index("ix_change_request_state_start", "state", "planned_start"),
        Index("ix_change_request_assignee_start", "assignee_id", "planned_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    short_description: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20), default="Normal")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("change_template.id"))
    state: Mapped[str] = mapped_column(String(20), default="New")
    risk: Mapped[str] = mapped_column(String(20), default="Moderate")
    risk_score: Mapped[int | None] = mapped_column(Integer)
    justification: Mapped[str] = mapped_column(Text, default="")
    implementation_plan: Mapped[str] = mapped_column(Text, default="")
    test_plan: Mapped[str] = mapped_column(Text, default="")
    backout_plan: Mapped[str] = mapped_column(Text, default="")
    planned_start: Mapped[dt.datetime | None]
    planned_end: Mapped[dt.datetime | None]
    actual_start: Mapped[dt.datetime | None]
    actual_end: Mapped[dt.datetime | None]
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"))
    assignment_group_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    close_code: Mapped[str | None] = mapped_column(String(30))
    close_notes: Mapped[str | None] = mapped_column(Text)

    cis: Mapped[list[ConfigurationItem]] = relationship(secondary=change_ci)
    services: Mapped[list[Service]] = relationship(secondary=change_service)


class RiskQuestion(Versioned, Base):
    """A question of the change risk questionnaire; its weight and options are data."""

    __tablename__ = "risk_question"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    options: Mapped[list[RiskOption]] = relationship(
        back_populates="question", cascade="all, delete-orphan", order_by="RiskOption.score"
    )


class RiskOption(Versioned, Base):
    """One answer to a risk question, with its score (0 = no risk)."""

    __tablename__ = "risk_option"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("risk_question.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(Integer)

    question: Mapped[RiskQuestion] = relationship(back_populates="options")


class RiskAnswer(Versioned, Base):
    """A change's answer to one risk question."""

    __tablename__ = "risk_answer"

    change_id: Mapped[int] = mapped_column(
        ForeignKey("change_request.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(ForeignKey("risk_question.id"), primary_key=True)
    option_id: Mapped[int] = mapped_column(ForeignKey("risk_option.id"))


class ChangeWindow(Versioned, Timestamped, Base):
    """A blackout (no changes) or maintenance (changes allowed) window.

    With no service and no CI it applies to everything. ``recurrence`` is an RFC 5545
    RRULE for repeating windows (e.g. every Sunday 02:00-06:00).
    """

    __tablename__ = "change_window"
    __audited__ = True
    __table_args__ = (Index("ix_change_window_span", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), doc="blackout or maintenance")
    name: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    recurrence: Mapped[str | None] = mapped_column(String(200))
    recurrence_until: Mapped[dt.datetime | None]
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"))
    ci_id: Mapped[int | None] = mapped_column(ForeignKey("ci.id"))
    reason: Mapped[str] = mapped_column(Text, default="")


class ChangeReview(Versioned, Timestamped, Base):
    """Post-implementation review of an emergency or failed change."""

    __tablename__ = "change_review"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(
        ForeignKey("change_request.id", ondelete="CASCADE"), unique=True
    )
    reviewed_on: Mapped[dt.date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(Text, default="")
    lessons: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))


cab_attendee = Table(
    "cab_attendee",
    Base.metadata,
    Column("meeting_id", ForeignKey("cab_meeting.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", ForeignKey("person.id", ondelete="CASCADE"), primary_key=True),
    Column("present", Boolean, nullable=False, default=True),
)


class CabMeeting(Versioned, Timestamped, Base):
    """A Change Advisory Board meeting with its agenda and minutes."""

    __tablename__ = "cab_meeting"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    ends_at: Mapped[dt.datetime]
    location: Mapped[str] = mapped_column(String(120), default="")
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="planned")
    minutes: Mapped[str] = mapped_column(Text, default="")

    attendees: Mapped[list[Person]] = relationship(secondary=cab_attendee)
    agenda: Mapped[list[CabAgendaItem]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="CabAgendaItem.position"
    )


class CabAgendaItem(Versioned, Base):
    """A change on a CAB agenda, with the board's decision and conditions."""

    __tablename__ = "cab_agenda_item"
    __audited__ = True
    __table_args__ = (UniqueConstraint("meeting_id", "change_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("cab_meeting.id", ondelete="CASCADE"))
    change_id: Mapped[int] = mapped_column(ForeignKey("change_request.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    decision: Mapped[str | None] = mapped_column(String(20))
    conditions: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None]

    meeting: Mapped[CabMeeting] = relationship(back_populates="agenda")
    votes: Mapped[list[CabVote]] = relationship(back_populates="item", cascade="all, delete-orphan")


class CabVote(Versioned, Base):
    """One board member's vote on an agenda item."""

    __tablename__ = "cab_vote"
    __table_args__ = (UniqueConstraint("agenda_item_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agenda_item_id: Mapped[int] = mapped_column(
        ForeignKey("cab_agenda_item.id", ondelete="CASCADE")
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    vote: Mapped[str] = mapped_column(String(10), doc="approve, reject or abstain")
    comment: Mapped[str] = mapped_column(Text, default="")

    item: Mapped[CabAgendaItem] = relationship(back_populates="votes")
