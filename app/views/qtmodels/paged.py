"""A table model over rows read from the database a block at a time, as the view needs them.

The incident queue, the change list and the audit log show up to millions of rows. Their
models share this machinery: the first block and the count of a new query are read in the
background (the count separately when it is slow); a row not on hand is shown as a
placeholder while its block loads (at most ``MAX_IN_FLIGHT`` reads at once, the most
recently asked first, only the last ``MAX_WAITING`` asks kept); at most ``MAX_BLOCKS``
blocks are kept, the least recently used dropped first; and every answer carries the
generation of the query that asked, so an answer to an older filter or sort is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QWidget
from sqlalchemy.orm import Session

from app.db import Database
from app.views import ops

#: Rows per block read from the database.
BLOCK_SIZE = 200
#: What a cell shows while its block loads.
PLACEHOLDER = "…"


class PagedTableModel(QAbstractTableModel):
    """Rows read in blocks of :data:`BLOCK_SIZE`; see the module's description.

    A subclass starts a query with :meth:`_begin_query`, shows its first block with
    :meth:`_show_first` (and a count read apart with :meth:`_count_arrived`), and says how
    to read any other block in :meth:`_block_reader`.
    """

    MAX_BLOCKS = 40
    MAX_IN_FLIGHT = 2
    MAX_WAITING = 6

    #: The count for the current query is known (the argument).
    counted = Signal(int)
    #: Rows of the current query are on hand (after each new query, sort or refresh).
    rows_ready = Signal()
    #: A query failed; the argument is the error.
    failed = Signal(object)

    def __init__(self, db: Database, owner: QWidget, parent: Any = None) -> None:
        super().__init__(parent)
        self.db = db
        #: The widget the background reads belong to (they stop when it goes).
        self.owner = owner
        self.total = 0
        #: The first block of the current query is being read.
        self.loading = False
        #: The count is still being read (rows may already show).
        self.counting = False
        self._pending_count: int | None = None
        self._generation = 0
        self._blocks: OrderedDict[int, list[Any]] = OrderedDict()
        self._in_flight: set[int] = set()
        self._waiting: list[int] = []
        self._placeholder = QBrush(QColor("#9e9e9e"))

    # For subclasses

    def _begin_query(self, *, counting: bool = False) -> int:
        """A new query: answers to earlier ones will be dropped. Returns its generation."""
        self._generation += 1
        self._in_flight.clear()
        self._waiting.clear()
        self.loading = True
        self.counting = counting
        self._pending_count = None
        return self._generation

    def _show_first(self, rows: list[Any], total: int | None) -> None:
        """Show the first block of the current query; ``total`` None while it is counted."""
        if total is None:
            # Fewer rows than a block is the whole answer; else the count is on its way.
            total = self._pending_count
            if total is None and len(rows) < BLOCK_SIZE:
                total = len(rows)
        self.beginResetModel()
        self.total = len(rows) if total is None else total
        self._blocks.clear()
        self._cleared()
        if rows:
            self._blocks[0] = rows
        self.loading = False
        self.endResetModel()
        if total is not None:
            self.counting = False
            self.counted.emit(self.total)
        self.rows_ready.emit()

    def _count_arrived(self, result: tuple[int, int]) -> None:
        """``(generation, total)`` from a count read apart from the first block."""
        generation, total = result
        if generation != self._generation or not self.counting:
            return
        if self.loading:
            self._pending_count = total
            return
        self.counting = False
        if total > self.total:
            self.beginInsertRows(QModelIndex(), self.total, total - 1)
            self.total = total
            self.endInsertRows()
        self.counted.emit(self.total)

    def _failed(self, exc: BaseException) -> None:
        self.loading = self.counting = False
        self.failed.emit(exc)

    def _block_reader(self, block: int) -> Callable[[Session], Any]:
        """What reads ``block`` of the current query in the background (it must capture the
        query now, not read ``self`` later); returns what :meth:`_took_block` receives."""
        raise NotImplementedError

    def _may_read_blocks(self) -> bool:
        """Whether blocks may be read now (not while the first block is on its way)."""
        return not self.loading

    def _took_block(self, block: int, payload: Any) -> list[Any]:
        """The rows of a block read by :meth:`_block_reader` (a subclass keeps extras)."""
        return payload

    def _dropped(self, rows: list[Any]) -> None:
        """A block's rows left the cache (a subclass forgets what it kept for them)."""

    def _cleared(self) -> None:
        """Every block left the cache (a new query)."""

    # Reading blocks

    def _request(self, block: int) -> None:
        if block in self._in_flight or not self._may_read_blocks():
            return
        if block in self._waiting:
            self._waiting.remove(block)
        self._waiting.append(block)
        del self._waiting[: -self.MAX_WAITING]
        self._start_waiting()

    def _start_waiting(self) -> None:
        while self._waiting and len(self._in_flight) < self.MAX_IN_FLIGHT:
            block = self._waiting.pop()
            if block not in self._blocks:
                self._load_block(block)

    def _load_block(self, block: int) -> None:
        self._in_flight.add(block)
        generation, read = self._generation, self._block_reader(block)

        def op(session: Session, _progress: Any) -> tuple[int, int, Any]:
            return generation, block, read(session)

        def failed(exc: BaseException) -> None:
            self._in_flight.discard(block)
            self._failed(exc)

        ops.QueryOp(parent=self.owner, db=self.db, op=op, success=self._block_loaded).failure(
            failed
        ).run_in_background()

    def _block_loaded(self, result: tuple[int, int, Any]) -> None:
        generation, block, payload = result
        if generation != self._generation:
            return
        self._in_flight.discard(block)
        self._blocks[block] = self._took_block(block, payload)
        self._blocks.move_to_end(block)
        while len(self._blocks) > self.MAX_BLOCKS:
            _old, rows = self._blocks.popitem(last=False)
            self._dropped(rows)
        first = block * BLOCK_SIZE
        last = min(self.total, first + BLOCK_SIZE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, self.columnCount() - 1))
        self._start_waiting()

    # Access

    def row_at(self, row: int, *, request: bool = True) -> Any | None:
        """The database row shown at ``row``, or None while its block loads."""
        if not 0 <= row < self.total:
            return None
        block, offset = divmod(row, BLOCK_SIZE)
        rows = self._blocks.get(block)
        if rows is None:
            if request:
                self._request(block)
            return None
        self._blocks.move_to_end(block)
        return rows[offset] if offset < len(rows) else None

    def row_of_id(self, ident: int) -> int | None:
        """Where the record ``ident`` is among the rows on hand (None if not loaded)."""
        for block, rows in self._blocks.items():
            for i, row in enumerate(rows):
                if row.id == ident:
                    return block * BLOCK_SIZE + i
        return None

    def is_loaded(self, row: int) -> bool:
        return row // BLOCK_SIZE in self._blocks

    def cached_blocks(self) -> int:
        return len(self._blocks)

    # Qt model interface

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self.total
