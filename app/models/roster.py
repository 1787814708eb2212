"""On-call schedules (layers, members, overrides), leave, preferences, rosters, escalation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned


class OnCallSchedule(Versioned, Timestamped, Base):
    """A team's on-call schedule: ordered layers with overrides on top."""

    __tablename__ = "oncall_schedule"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    description: Mapped[str] = mapped_column(Text, default="")

    layers: Mapped[list[ScheduleLayer]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan", order_by="ScheduleLayer.position"
    )


class ScheduleLayer(Versioned, Base):
    """A rotation of people with a turn length and handoff, optionally restricted.

    ``rotation_start`` is the first handoff; turns last ``turn_seconds``. ``restrictions``
    is a list of ``{"days": [0..6], "start": "08:00", "end": "18:00"}`` spans in the
    schedule's zone; outside them the layer has nobody, and the rotation does not skip.
    """

    __tablename__ = "schedule_layer"
    __audited__ = True
    __table_args__ = (CheckConstraint("turn_seconds > 0", name="turn_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("oncall_schedule.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(20), default="primary", doc="primary, secondary")
    position: Mapped[int] = mapped_column(Integer, default=0, doc="later layers win")
    rotation_start: Mapped[dt.datetime]
    turn_seconds: Mapped[int] = mapped_column(Integer, default=7 * 86400)
    restrictions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    required_skill: Mapped[str | None] = mapped_column(String(60))
    required: Mapped[bool] = mapped_column(Boolean, default=True, doc="gaps count as coverage gaps")
    ends_at: Mapped[dt.datetime | None]

    schedule: Mapped[OnCallSchedule] = relationship(back_populates="layers")
    members: Mapped[list[LayerMember]] = relationship(
        back_populates="layer", cascade="all, delete-orphan", order_by="LayerMember.position"
    )


class LayerMember(Versioned, Base):
    """A person's place in a layer's rotation."""

    __tablename__ = "layer_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(
        ForeignKey("schedule_layer.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)

    layer: Mapped[ScheduleLayer] = relationship(back_populates="members")


class ScheduleOverride(Versioned, Timestamped, Base):
    """Someone covers a span of a schedule instead of whoever the layers name."""

    __tablename__ = "schedule_override"
    __audited__ = True
    __table_args__ = (
        Index("ix_schedule_override_span", "schedule_id", "starts_at", "ends_at"),
        CheckConstraint("starts_at < ends_at", name="span_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("oncall_schedule.id", ondelete="CASCADE"))
    layer_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedule_layer.id", ondelete="CASCADE")
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text, default="")


class Leave(Versioned, Timestamped, Base):
    """A person's absence (whole days, inclusive); blocks on-call assignment."""

    __tablename__ = "leave"
    __audited__ = True
    __table_args__ = (
        Index("ix_leave_person_span", "person_id", "starts_on", "ends_on"),
        CheckConstraint("starts_on <= ends_on", name="span_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20), default="annual", doc="annual, sick, training")
    note: Mapped[str] = mapped_column(Text, default="")


class RosterPreference(Versioned, Base):
    """A person's unavailable time or preference, used by the roster solver."""

    __tablename__ = "roster_preference"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), doc="unavailable, prefer_not, prefer")
    starts_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list, doc="recurring, 0 = Monday")
    note: Mapped[str] = mapped_column(Text, default="")


class Roster(Versioned, Timestamped, Base):
    """A solved (or hand-built) roster for a schedule over a number of weeks."""

    __tablename__ = "roster"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("oncall_schedule.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    weeks: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft", doc="draft or published")
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    shifts: Mapped[list[RosterShift]] = relationship(
        back_populates="roster", cascade="all, delete-orphan", order_by="RosterShift.starts_at"
    )


class RosterShift(Versioned, Base):
    """One person on call for one layer over one span of a roster."""

    __tablename__ = "roster_shift"
    __audited__ = True
    __table_args__ = (
        Index("ix_roster_shift_span", "roster_id", "starts_at"),
        Index("ix_roster_shift_person", "person_id", "starts_at"),
        CheckConstraint("starts_at < ends_at", name="span_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("roster.id", ondelete="CASCADE"))
    layer_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedule_layer.id", ondelete="SET NULL")
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(String(20), default="solver", doc="solver, manual, swap")

    roster: Mapped[Roster] = relationship(back_populates="shifts")


class EscalationPolicy(Versioned, Timestamped, Base):
    """The escalation matrix for a service or team."""

    __tablename__ = "escalation_policy"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"))
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)

    levels: Mapped[list[EscalationLevel]] = relationship(
        back_populates="policy", cascade="all, delete-orphan", order_by="EscalationLevel.level"
    )


class EscalationLevel(Versioned, Base):
    """One level of an escalation matrix: who, and how long before escalating further."""

    __tablename__ = "escalation_level"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(
        ForeignKey("escalation_policy.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(60), doc="L1 on call, L2 secondary, L3 team lead")
    timeout_minutes: Mapped[int] = mapped_column(Integer, default=15)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("oncall_schedule.id"))
    layer_role: Mapped[str | None] = mapped_column(String(20))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    contact: Mapped[str] = mapped_column(Text, default="")

    policy: Mapped[EscalationPolicy] = relationship(back_populates="levels")
