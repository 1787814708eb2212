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
