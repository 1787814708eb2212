"""SLA definitions, business-hours schedules with holidays, and per-incident SLA clocks."""

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
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned


class BusinessSchedule(Versioned, Timestamped, Base):
    """Weekly business hours plus holidays, in the schedule's own time zone."""

    __tablename__ = "business_schedule"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    country_code: Mapped[str | None] = mapped_column(
        ForeignKey("country.code"), doc="public holidays of this country are non-business days"
    )

    hours: Mapped[list[BusinessHours]] = relationship(
        back_populates="schedule",
        cascade="all, delete-orphan",
        order_by="(BusinessHours.weekday, BusinessHours.start_minute)",
    )
    holidays: Mapped[list[Holiday]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan", order_by="Holiday.day"
    )


class BusinessHours(Versioned, Base):
    """One span of business hours on a weekday (0 = Monday), in minutes from midnight."""

    __tablename__ = "business_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("start_minute >= 0 AND end_minute <= 1440", name="minute_range"),
        CheckConstraint("start_minute < end_minute", name="span_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("business_schedule.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)

    schedule: Mapped[BusinessSchedule] = relationship(back_populates="hours")


class Holiday(Versioned, Base):
    """A non-working day: of a business schedule, or a public holiday of a country."""

    __tablename__ = "holiday"
    __table_args__ = (
        UniqueConstraint("schedule_id", "country_code", "day"),
        Index("ix_holiday_country_day", "country_code", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_schedule.id", ondelete="CASCADE")
    )
    country_code: Mapped[str | None] = mapped_column(ForeignKey("country.code"))
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))

    schedule: Mapped[BusinessSchedule | None] = relationship(back_populates="holidays")


class SlaDefinition(Versioned, Timestamped, Base):
    """An SLA, OLA or underpinning contract target, kept as editable data."""

    __tablename__ = "sla_definition"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(3), default="SLA", doc="SLA, OLA or UC")
    target: Mapped[str] = mapped_column(String(20), doc="response or resolution")
    duration_seconds: Mapped[int] = mapped_column(Integer)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_schedule.id"), doc="None means 24x7"
    )
    applies_to: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, doc='condition, e.g. {"priority": [1], "service_id": [4]}'
    )
    start_condition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pause_condition: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, doc='e.g. {"state": ["On Hold"], "hold_reason": ["Awaiting Caller"]}'
    )
    stop_condition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancel_condition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("contract.id"), doc="for underpinning contracts"
    )
    group_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), doc="for OLAs")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")

    schedule: Mapped[BusinessSchedule | None] = relationship()


class SlaClock(Versioned, Base):
    """One SLA running against one incident ("task SLA")."""

    __tablename__ = "sla_clock"
    __table_args__ = (
        Index("ix_sla_clock_incident", "incident_id"),
        Index("ix_sla_clock_stage_due", "stage", "due_at"),
        Index(
            "ix_sla_clock_stage_incident",
            "stage",
            "incident_id",
            "stopped_at",
            "definition_id",
            "breached",
        ),
        Index("ix_sla_clock_stopped", "stopped_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    definition_id: Mapped[int] = mapped_column(ForeignKey("sla_definition.id"))
    stage: Mapped[str] = mapped_column(String(20), doc="an app.models.enums.SlaStage value")
    started_at: Mapped[dt.datetime]
    stopped_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None] = mapped_column(
        doc="when the clock breaches if it keeps running (moves while paused)"
    )
    paused_since: Mapped[dt.datetime | None]
    business_elapsed_seconds: Mapped[int] = mapped_column(Integer, default=0)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[dt.datetime | None] = mapped_column(
        doc="the instant business_elapsed_seconds was computed at"
    )
    breached: Mapped[bool] = mapped_column(Boolean, default=False)

    definition: Mapped[SlaDefinition] = relationship()
