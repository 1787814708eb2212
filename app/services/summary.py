"""Quick facts about what a database holds, cheap enough to ask at start-up."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Incident


def has_incidents(session: Session) -> bool:
    """Whether the database holds at least one incident (reads one index entry)."""
    return session.scalar(select(Incident.id).limit(1)) is not None
