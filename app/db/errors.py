"""Errors that say, in one sentence, what is wrong with a database and what to do."""

from __future__ import annotations


class DatabaseError(Exception):
    """A database could not be used; ``str(err)`` is a message fit to show a person."""


class DatabaseUnavailable(DatabaseError):
    """The server could not be reached, or refused us."""


class NotADatabase(DatabaseError):
    """The file exists but is not a SQLite database."""


class NewerSchema(DatabaseError):
    """The database was written by a newer version of Servicedeck."""


class BadDatabaseUrl(DatabaseError):
    """The URL is not one Servicedeck can open."""


#: SQLSTATEs of a server that went away: class 08 (connection exception) and the
#: shutdowns of class 57 (admin shutdown, crash shutdown, cannot connect now).
_GONE_STATES = ("57P01", "57P02", "57P03")

CONNECTION_LOST = (
    "The connection to the database server was lost before this finished, so nothing of it "
    "was saved."
)


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the server went away mid-way."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if getattr(error, "connection_invalidated", False):
            return True
        state = getattr(error, "sqlstate", None) or ""
        if state.startswith("08") or state in _GONE_STATES:
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return False
