"""Vendors, contracts with SLA targets and credit rules, and weighted scorecards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned

if TYPE_CHECKING:
    from app.models.cmdb import Service

contract_service = Table(
    "contract_service",
    Base.metadata,
    Column("contract_id", ForeignKey("contract.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("service.id", ondelete="CASCADE"), primary_key=True),
)


class Vendor(Versioned, Timestamped, Base):
    """A supplier that supports services and resolves incidents."""

    __tablename__ = "vendor"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    category: Mapped[str] = mapped_column(String(60), default="")
    website: Mapped[str | None] = mapped_column(String(200))
    account_manager: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    contacts: Mapped[list[VendorContact]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan"
    )
    contracts: Mapped[list[Contract]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="Contract.starts_on"
    )


class VendorContact(Versioned, Base):
    """A named contact at a vendor."""

    __tablename__ = "vendor_contact"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(60), default="")
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))

    vendor: Mapped[Vendor] = relationship(back_populates="contacts")


class Contract(Versioned, Timestamped, Base):
    """A contract with a vendor: services covered, term, fee, SLA targets, credit rule."""

    __tablename__ = "contract"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date, index=True)
    renewal_notice_days: Mapped[int] = mapped_column(Integer, default=90)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    monthly_fee: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")

    vendor: Mapped[Vendor] = relationship(back_populates="contracts")
    services: Mapped[list[Service]] = relationship(secondary=contract_service)
    sla_targets: Mapped[list[ContractSlaTarget]] = relationship(
        back_populates="contract", cascade="all, delete-orphan"
    )
    credit_rules: Mapped[list[CreditRule]] = relationship(
        back_populates="contract", cascade="all, delete-orphan"
    )


class ContractSlaTarget(Versioned, Base):
    """A contracted target: response/resolution minutes per priority, or availability %."""

    __tablename__ = "contract_sla_target"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contract.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[str] = mapped_column(String(20), doc="response, resolution or availability")
    priority: Mapped[int | None] = mapped_column(SmallInteger)
    target_minutes: Mapped[int | None] = mapped_column(Integer)
    target_percent: Mapped[float | None] = mapped_column(
        doc="availability %, or share of incidents that must meet the time target"
    )
    underpinning: Mapped[bool] = mapped_column(Boolean, default=False)

    contract: Mapped[Contract] = relationship(back_populates="sla_targets")


class CreditRule(Versioned, Base):
    """Service credit: ``percent_per_point`` of the monthly fee per point below target, capped."""

    __tablename__ = "credit_rule"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contract.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[str] = mapped_column(String(20), default="availability")
    target_percent: Mapped[float]
    percent_per_point: Mapped[float]
    cap_percent: Mapped[float]

    contract: Mapped[Contract] = relationship(back_populates="credit_rules")


class ScorecardTemplate(Versioned, Timestamped, Base):
    """A scorecard's criteria and weights, and its RAG thresholds."""

    __tablename__ = "scorecard_template"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    green_min: Mapped[float] = mapped_column(default=85.0)
    amber_min: Mapped[float] = mapped_column(default=70.0)

    criteria: Mapped[list[ScorecardCriterion]] = relationship(
        back_populates="template",
        cascade="all, delete-orphan",
        order_by="ScorecardCriterion.position",
    )


class ScorecardCriterion(Versioned, Base):
    """A measured or judged criterion with its weight (percent of the total)."""

    __tablename__ = "scorecard_criterion"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("scorecard_template.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10), doc="measured or judged")
    metric: Mapped[str | None] = mapped_column(
        String(40), doc="sla_attainment, mttr, incident_count, availability, change_success"
    )
    weight: Mapped[float]
    target: Mapped[float | None] = mapped_column(doc="value that scores 100")
    floor: Mapped[float | None] = mapped_column(doc="value that scores 0")

    template: Mapped[ScorecardTemplate] = relationship(back_populates="criteria")


class ScorecardPeriod(Versioned, Timestamped, Base):
    """A vendor's scorecard for one period (month or quarter)."""

    __tablename__ = "scorecard_period"
    __audited__ = True
    __table_args__ = (UniqueConstraint("vendor_id", "template_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(ForeignKey("scorecard_template.id"))
    period: Mapped[str] = mapped_column(String(10), doc="2026-Q3 or 2026-09")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    total: Mapped[float | None]
    rag: Mapped[str | None] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(20), default="draft")

    scores: Mapped[list[ScorecardScore]] = relationship(
        back_populates="period_row", cascade="all, delete-orphan"
    )
    actions: Mapped[list[ReviewAction]] = relationship(
        back_populates="period_row", cascade="all, delete-orphan"
    )


class ScorecardScore(Versioned, Base):
    """A criterion's measured value or judged 1-5 score within a scorecard period."""

    __tablename__ = "scorecard_score"
    __audited__ = True
    __table_args__ = (UniqueConstraint("period_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("scorecard_period.id", ondelete="CASCADE"))
    criterion_id: Mapped[int] = mapped_column(ForeignKey("scorecard_criterion.id"))
    value: Mapped[float | None] = mapped_column(doc="measured value")
    judged: Mapped[int | None] = mapped_column(SmallInteger, doc="1-5")
    score: Mapped[float | None] = mapped_column(doc="0-100")
    comment: Mapped[str] = mapped_column(Text, default="")

    period_row: Mapped[ScorecardPeriod] = relationship(back_populates="scores")


class ReviewAction(Versioned, Timestamped, Base):
    """An action agreed at a vendor review."""

    __tablename__ = "review_action"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(
        ForeignKey("scorecard_period.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(120), default="")
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")

    period_row: Mapped[ScorecardPeriod] = relationship(back_populates="actions")
