"""Fast bulk loading of column arrays: executemany on SQLite, COPY on PostgreSQL.

Used for the large tables of the demo generator and for imports. The caller hands
columns (numpy arrays or lists) and the writer streams them in chunks inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table

CHUNK = 100_000


@dataclass
class Nullable:
    """Values with a mask of rows that are NULL."""

    values: Any
    null: np.ndarray


def _as_list(column: Any) -> list[Any]:
    """Python values for one column; datetime64 becomes ISO text in UTC, NaT becomes None."""
    null = None
    if isinstance(column, Nullable):
        column, null = column.values, column.null
    if isinstance(column, np.ndarray):
        if column.dtype.kind == "M":
            nat = np.isnat(column)
            text = np.datetime_as_string(column.astype("datetime64[s]"), unit="s")
            # PostgreSQL reads offset-less text in the session zone, which the writer sets to UTC.
            out = text.astype(object)
            if nat.any():
                out[nat] = None
            values = out.tolist()
        else:
            values = column.tolist()
    else:
        values = list(column)
    if null is not None and null.any():
        for i in np.flatnonzero(null).tolist():
            values[i] = None
    return values


class BulkWriter:
    """Writes rows into tables on the raw DB-API connection of ``conn``'s transaction."""

    def __init__(self, conn: Connection, progress: Callable[[str], None] | None = None) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.raw = conn.connection.driver_connection
        self.progress = progress
        if not self.sqlite:
            with self.raw.cursor() as cur:
                cur.execute("SET LOCAL TIME ZONE 'UTC'")
                cur.execute("SET LOCAL synchronous_commit = off")

    def write(self, table: Table, columns: Mapping[str, Any]) -> int:
        """Insert every row; all columns must have the same length. Returns the row count."""
        names = list(columns)
        lists = [_as_list(columns[n]) for n in names]
        count = len(lists[0]) if lists else 0
        if any(len(v) != count for v in lists):
            raise ValueError(f"{table.name}: columns have different lengths")
        if count == 0:
            return 0
        rows: Iterable[tuple[Any, ...]] = zip(*lists, strict=True)
        if self.sqlite:
            sql = (
                f'INSERT INTO "{table.name}" ({", ".join(names)}) '
                f"VALUES ({', '.join('?' * len(names))})"
            )
            cur = self.raw.cursor()
            it = iter(rows)
            done = 0
            while done < count:
                chunk = [next(it) for _ in range(min(CHUNK, count - done))]
                cur.executemany(sql, chunk)
                done += len(chunk)
            cur.close()
        else:
            with self.raw.cursor() as cur:
                cols = ", ".join(f'"{n}"' for n in names)
                with cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
        if "id" in names and not self.sqlite:
            self.reset_sequence(table)
        return count

    def reset_sequence(self, table: Table) -> None:
        """After explicit ids on PostgreSQL, move the id sequence past the largest id."""
        with self.raw.cursor() as cur:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
            )

    def drop_indexes(self, tables: Iterable[Table]) -> list[Any]:
        """Drop the secondary indexes of ``tables`` (to rebuild once after loading)."""
        dropped = []
        for table in tables:
            for index in sorted(table.indexes, key=lambda i: i.name or ""):
                index.drop(self.conn)
                dropped.append(index)
        return dropped

    def create_indexes(self, indexes: Iterable[Any]) -> None:
        for index in indexes:
            index.create(self.conn)


def rows_to_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Turn a list of row dicts (all with the same keys) into columns."""
    if not rows:
        return {}
    return {key: [r[key] for r in rows] for key in rows[0]}
