"""Writes an audit row for every insert, update and delete of an audited record.

Rows are written with Core in the same transaction as the change, so a rolled-back
save leaves no audit trace and a committed one always has its trail.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, sessionmaker

from app.models.audit import AuditEntry
from app.models.base import Base, utcnow

#: Columns whose changes are bookkeeping, not edits.
_SKIPPED = frozenset({"version", "updated_at", "created_at"})


def audit_text(value: Any) -> str | None:
    """A value as the audit log keeps it."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _identity(obj: Base) -> str:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(k) for k in key)


def audit_rows(session: Session) -> list[dict[str, Any]]:
    """The audit rows describing what ``session`` is flushing (called after the flush)."""
    who = session.info.get("username", "system")
    user_id = session.info.get("user_id")
    now = utcnow()
    rows: list[dict[str, Any]] = []

    def row(obj: Base, action: str, field: str | None = None, old: Any = None, new: Any = None):
        rows.append(
            {
                "at": now,
                "username": who,
                "user_id": user_id,
                "entity": obj.__tablename__,
                "entity_id": _identity(obj),
                "action": action,
                "field": field,
                "old_value": audit_text(old),
                "new_value": audit_text(new),
            }
        )

    for obj in session.new:
        if getattr(obj, "__audited__", False):
            row(obj, "insert", new=getattr(obj, "number", None) or getattr(obj, "name", None))
    for obj in session.dirty:
        if not getattr(obj, "__audited__", False):
            continue
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            if attr.key in _SKIPPED:
                continue
            hist = state.attrs[attr.key].history
            if hist.added or hist.deleted:
                old = hist.deleted[0] if hist.deleted else None
                new = hist.added[0] if hist.added else None
                if old != new:
                    row(obj, "update", attr.key, old, new)
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            row(obj, "delete")
    return rows


def install(factory: sessionmaker[Session]) -> None:
    """Make every session from ``factory`` write the audit log."""

    @event.listens_for(factory, "after_flush")
    def _after_flush(session: Session, _ctx: Any) -> None:
        rows = audit_rows(session)
        if rows:
            session.connection().execute(insert(AuditEntry), rows)
