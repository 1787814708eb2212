"""Database access: URLs, engines, sessions, migrations and the audit hook."""

from app.db.engine import Database, Identity, open_database
from app.db.errors import (
    BadDatabaseUrl,
    DatabaseError,
    DatabaseUnavailable,
    NewerSchema,
    NotADatabase,
)

__all__ = [
    "BadDatabaseUrl",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "Identity",
    "NewerSchema",
    "NotADatabase",
    "open_database",
]
