"""People, teams (assignment groups), countries and the application's users."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, Versioned

team_member = Table(
    "team_member",
    Base.metadata,
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Country(Versioned, Base):
    """An ISO 3166 country; people's public holidays follow it."""

    __tablename__ = "country"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), doc="the country's main IANA zone")


class Team(Versioned, Timestamped, Base):
    """A team, which is also an assignment group for incidents and changes."""

    __tablename__ = "team"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    vendor_id: Mapped[int | None] = mapped_column(
        ForeignKey("vendor.id"), doc="set when the group is a vendor's resolver group"
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    members: Mapped[list[Person]] = relationship(
        secondary=team_member, back_populates="teams", order_by="Person.name"
    )
    manager: Mapped[Person | None] = relationship(foreign_keys=[manager_id])


class Person(Versioned, Timestamped, Base):
    """Anyone the console knows: agents, callers, on-call engineers, vendor contacts."""

    __tablename__ = "person"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    email: Mapped[str | None] = mapped_column(String(200), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    country_code: Mapped[str | None] = mapped_column(ForeignKey("country.code"))
    skills: Mapped[str] = mapped_column(Text, default="", doc="comma-separated skill tags")
    is_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendor.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    teams: Mapped[list[Team]] = relationship(secondary=team_member, back_populates="members")
    country: Mapped[Country | None] = relationship()

    @property
    def skill_set(self) -> set[str]:
        return {s.strip() for s in self.skills.split(",") if s.strip()}


class AppUser(Versioned, Timestamped, Base):
    """A person who signs in to the console, with the role that decides what they may do."""

    __tablename__ = "app_user"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20), doc="an app.models.enums.Role value")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    person: Mapped[Person | None] = relationship()


class SavedView(Versioned, Timestamped, Base):
    """A user's named filter + sort + columns for a page such as the incident queue."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("user_id", "page", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    page: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    definition: Mapped[str] = mapped_column(Text, doc="JSON: filters, sort and columns")
