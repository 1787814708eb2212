"""Handing out record numbers (INC0000042, CHG0000007) when several consoles create at once.

A new number is the highest taken plus one. On PostgreSQL two transactions could read the
same highest number; the loser would then wait for the winner's commit on the unique index
and fail. So the numbers of a series are handed out one transaction at a time, under a
transaction-level advisory lock (released at commit or rollback, no rights needed). A
number taken by something that does not take the lock (an older console) is still met by
retrying with the next one. SQLite serialises writers, so it needs neither.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

ATTEMPTS = 5


def _key(series: str) -> int:
    """A stable advisory-lock key per series (the same in every console and version)."""
    return zlib.crc32(f"servicedeck.numbers.{series}".encode())


def lock_series(session: Session, series: str) -> None:
    """Hold the numbers of ``series`` (a table name) until this transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(series)})


def insert_numbered(
    session: Session,
    row: Any,
    next_number: Callable[[Session], str],
    no_number: Callable[[], Exception],
) -> None:
    """Give ``row`` the next free number and insert it (flushed).

    ``no_number()`` is raised when every attempt met a number taken meanwhile.
    """
    model = type(row)
    lock_series(session, model.__tablename__)
    if session.get_bind().dialect.name == "sqlite":
        row.number = next_number(session)
        session.add(row)
        session.flush()
        return
    for _attempt in range(ATTEMPTS):
        row.number = next_number(session)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return
        except IntegrityError:
            taken = session.scalar(select(model.id).where(model.number == row.number))
            if taken is None:
                raise  # another constraint: not ours to retry
    raise no_number()
