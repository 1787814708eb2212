"""Who is using the console: the signed-in operating-system user and their AppUser row."""

from __future__ import annotations

import getpass

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from app.db import Identity
from app.models import AppUser
from app.models.enums import Role


def current_username() -> str:
    """The operating-system user name (``system`` when it cannot be told)."""
    try:
        return getpass.getuser()
    except Exception:  # getuser() raises a bare OSError/KeyError when no name is set
        return "system"


def identity_for(session: Session, username: str) -> Identity | None:
    """The identity of the active AppUser called ``username``, or None if there is none."""
    user = session.scalar(
        select(AppUser).where(AppUser.username == username, AppUser.active == true())
    )
    if user is None:
        return None
    return Identity(
        username=user.username, user_id=user.id, display_name=user.display_name, role=user.role
    )


def author_person_id(session: Session) -> int | None:
    """The person behind the session's signed-in user, for authored records (cached)."""
    if "author_person_id" not in session.info:
        user_id = session.info.get("user_id")
        person_id = None
        if user_id is not None:
            person_id = session.scalar(select(AppUser.person_id).where(AppUser.id == user_id))
        session.info["author_person_id"] = person_id
    return session.info["author_person_id"]


def role_label(role: str) -> str:
    """``service manager`` for ``service_manager``; unknown roles as they are."""
    try:
        return Role(role).label
    except ValueError:
        return role
