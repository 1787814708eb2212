"""Business services and configuration items (CIs) with their parent/child links."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned


class Service(Versioned, Timestamped, Base):
    """A business or technical service that users depend on."""

    __tablename__ = "service"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    criticality: Mapped[int] = mapped_column(Integer, default=3, doc="1 = mission critical .. 4")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"))
    support_group_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"))
    availability_target: Mapped[float] = mapped_column(default=99.9, doc="percent")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Service | None] = relationship(remote_side=[id])


class ConfigurationItem(Versioned, Timestamped, Base):
    """A configuration item: a server, database, application, network device, ..."""

    __tablename__ = "ci"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    ci_class: Mapped[str] = mapped_column(String(40), doc="server, database, application, ...")
    environment: Mapped[str] = mapped_column(String(20), default="production")
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"), index=True)
    support_group_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"))
    location: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    service: Mapped[Service | None] = relationship()


class CIRelation(Versioned, Base):
    """A parent/child link between two CIs (e.g. a host runs a database)."""

    __tablename__ = "ci_relation"
    __table_args__ = (CheckConstraint("parent_id <> child_id", name="not_self"),)

    parent_id: Mapped[int] = mapped_column(
        ForeignKey("ci.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[int] = mapped_column(
        ForeignKey("ci.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(40), default="depends on")
