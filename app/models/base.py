"""Declarative base, shared column types and mixins for every model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Integer, MetaData, TypeDecorator
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

UTC = dt.UTC

#: How SQLite stores instants: ISO 8601 in UTC to the second. Fixed width, so text order is
#: time order; SQLite's date functions read it; numpy's ``datetime_as_string`` writes it.
SQLITE_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant stored in UTC and always returned timezone-aware.

    PostgreSQL keeps it as ``timestamptz``; SQLite as ``YYYY-MM-DDTHH:MM:SS`` text in UTC
    (see ``SQLITE_DATETIME_FORMAT``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(
                sqlite.DATETIME(
                    storage_format="%(year)04d-%(month)02d-%(day)02dT"
                    "%(hour)02d:%(minute)02d:%(second)02d",
                    regexp=r"(\d+)-(\d+)-(\d+)[T ](\d+):(\d+):(\d+)",
                )
            )
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: instants must carry a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None, microsecond=0)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> dt.datetime:
    """The current instant, aware, to the second (what the database keeps)."""
    return dt.datetime.now(UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    """Root of every mapped class; shares one metadata with a stable naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}

    #: Set to True on classes whose inserts, updates and deletes are written to the audit log.
    __audited__ = False


class Versioned:
    """Optimistic locking: a save over a newer version raises ``StaleDataError``."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - SQLAlchemy directive
        return {"version_id_col": cls.version}


class Timestamped:
    """Creation and last-update instants, kept by the ORM."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
