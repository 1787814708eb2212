"""Targets of the service-management KPIs, editable by the service manager."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Versioned


class KpiTargetSetting(Versioned, Base):
    """The target of one KPI, in the KPI's unit (hours for durations); NULL = no target.

    Keys and defaults live in ``app.services.kpi_targets``; a row overrides the default.
    """

    __tablename__ = "kpi_target"
    __audited__ = True

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    target: Mapped[float | None] = mapped_column(Float)
