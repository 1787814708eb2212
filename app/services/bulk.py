"""Fast bulk loading of column arrays: executemany on SQLite, COPY on PostgreSQL.

Used for the large tables of the demo generator and for imports. The caller hands
columns (numpy arrays or lists) and the writer streams them in chunks inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
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


def _length(column: Any) -> int:
    return len(column.values if isinstance(column, Nullable) else column)


def _slice(column: Any, lo: int, hi: int) -> Any:
    if isinstance(column, Nullable):
        return Nullable(column.values[lo:hi], column.null[lo:hi])
    return column[lo:hi]


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
        """Insert every row; all columns must have the same length. Returns the row count.

        Columns are turned into Python values a chunk at a time, so memory stays flat
        however many rows there are.
        """
        names = list(columns)
        lengths = {_length(columns[n]) for n in names}
        if len(lengths) > 1:
            raise ValueError(f"{table.name}: columns have different lengths {sorted(lengths)}")
        count = lengths.pop() if lengths else 0
        if count == 0:
            return 0
        quoted = ", ".join(f'"{n}"' for n in names)
        if self.sqlite:
            sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})'
            cur = self.raw.cursor()
            try:
                for rows in self._chunks(columns, names, count):
                    cur.executemany(sql, rows)
            finally:
                cur.close()
        else:
            with self.raw.cursor() as cur:
                with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                    for rows in self._chunks(columns, names, count):
                        for row in rows:
                            copy.write_row(row)
        if "id" in names and not self.sqlite:
            self.reset_sequence(table)
        return count

    @staticmethod
    def _chunks(
        columns: Mapping[str, Any], names: list[str], count: int
    ) -> Iterator[Iterable[tuple[Any, ...]]]:
        for lo in range(0, count, CHUNK):
            hi = min(lo + CHUNK, count)
            lists = [_as_list(_slice(columns[n], lo, hi)) for n in names]
            yield zip(*lists, strict=True)

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
