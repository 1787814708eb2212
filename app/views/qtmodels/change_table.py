"""The change list as a Qt table model: a background count, rows read in pages on demand.

Rows come from :func:`app.services.changes.list_changes` a block at a time (limit and
offset), each block with the conflicts of its active changes
(:func:`app.services.conflicts.find_conflicts`). Only a bounded number of blocks is kept;
answers to an older filter or sort are dropped (each query carries a generation number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPolygonF
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.db import Database
from app.services import changes as cs
from app.services.changes import ChangeFilter, ChangeRow
from app.services.conflicts import ACTIVE_CHANGE_STATES, Conflict, find_conflicts
from app.services.formatting import format_datetime
from app.views import ops
from app.views.qtmodels.incident_table import PriorityDelegate, cell_data
from app.views.qtmodels.paged import BLOCK_SIZE, PLACEHOLDER, PagedTableModel
from app.views.theme import RAG_COLOURS, WARNING_TEXT

#: Risk colours (background, text): Low green, Moderate amber, High orange, Very High red.
RISK_COLOURS: dict[str, tuple[str, str]] = {
    "Low": ("#2e7d32", "#ffffff"),
    "Moderate": ("#f9a825", "#000000"),
    "High": ("#ef6c00", "#ffffff"),
    "Very High": ("#d32f2f", "#ffffff"),
}

ID_ROLE = int(Qt.ItemDataRole.UserRole.value) + 1
ROW_ROLE = ID_ROLE + 1
RISK_ROLE = ID_ROLE + 2
CONFLICTS_ROLE = ID_ROLE + 3

_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
_LEFT = int((Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter).value)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_SERVED = frozenset({_DISPLAY, _ALIGN, _FOREGROUND, _TOOLTIP, ID_ROLE, ROW_ROLE, RISK_ROLE})


def risk_colours(risk: str | None) -> tuple[str, str]:
    """The chip colours of a risk level (grey for an unknown one)."""
    return RISK_COLOURS.get(risk or "", ("#757575", "#ffffff"))


@dataclass(frozen=True)
class ChangeColumn:
    key: str
    header: str
    #: The key of :data:`app.services.changes.SORTS` it sorts by (None: not sortable).
    sort: str | None


COLUMNS: tuple[ChangeColumn, ...] = (
    ChangeColumn("number", "Number", "number"),
    ChangeColumn("type", "Type", "type"),
    ChangeColumn("state", "State", "state"),
    ChangeColumn("risk", "Risk", "risk"),
    ChangeColumn("conflicts", "⚠", None),
    ChangeColumn("short_description", "Short description", "short_description"),
    ChangeColumn("planned_start", "Planned start", "planned_start"),
    ChangeColumn("planned_end", "Planned end", "planned_end"),
    ChangeColumn("service", "Service", "service"),
    ChangeColumn("group", "Group", "group"),
    ChangeColumn("assignee", "Assignee", "assignee"),
)
DEFAULT_SORT = ("planned_start", True)


@dataclass(frozen=True)
class Block:
    """One page of rows with the conflicts of each (by change id)."""

    rows: list[ChangeRow]
    conflicts: dict[int, list[Conflict]] = field(default_factory=dict)


@dataclass(frozen=True)
class FirstBlock:
    """What a new filter or sort reads first: the count and the first page."""

    generation: int
    total: int
    block: Block


def read_block(session: Any, filt: ChangeFilter, sort: str, descending: bool, index: int) -> Block:
    """Rows ``index * BLOCK_SIZE`` onwards and the conflicts of the active ones."""
    rows = cs.list_changes(
        session,
        filt,
        sort=sort,
        descending=descending,
        limit=BLOCK_SIZE,
        offset=index * BLOCK_SIZE,
    )
    active = [r.id for r in rows if r.state in ACTIVE_CHANGE_STATES and r.planned_start]
    conflicts = find_conflicts(session, active) if active else {}
    return Block(rows, conflicts)


class ChangeTableModel(PagedTableModel):
    """Rows of :func:`app.services.changes.list_changes`, read in blocks as needed."""

    MAX_BLOCKS = 20

    def __init__(
        self, db: Database, owner: QWidget, zone: dt.tzinfo | None = None, parent: Any = None
    ) -> None:
        super().__init__(db, owner, parent)
        self.zone = zone
        self.columns = COLUMNS
        self.filter = ChangeFilter()
        self.sort_key, self.descending = DEFAULT_SORT
        #: Conflicts of the changes on hand, by change id (bounded like the blocks).
        self._conflicts: dict[int, list[Conflict]] = {}
        self._warning = QBrush(QColor(WARNING_TEXT))

    # Queries

    def set_query(
        self, filt: ChangeFilter, sort: str | None = None, descending: bool | None = None
    ) -> None:
        """Show ``filt`` sorted by ``sort``: the count and first block are read in the background."""
        self.filter = filt
        if sort is not None:
            self.sort_key = sort
        if descending is not None:
            self.descending = descending
        generation = self._begin_query()
        sort_key, desc = self.sort_key, self.descending

        def op(session, _progress) -> FirstBlock:
            total = cs.count_changes(session, filt)
            return FirstBlock(generation, total, read_block(session, filt, sort_key, desc, 0))

        ops.QueryOp(parent=self.owner, db=self.db, op=op, success=self._first_block).failure(
            self._failed
        ).run_in_background()

    def reload(self) -> None:
        """Read everything again for the current filter and sort."""
        self.set_query(self.filter)

    def _first_block(self, first: FirstBlock) -> None:
        if first.generation != self._generation:
            return
        self._show_first(first.block.rows, first.total)
        self._conflicts.update(first.block.conflicts)

    def _block_reader(self, block: int) -> Callable[[Any], Block]:
        filt, sort_key, desc = self.filter, self.sort_key, self.descending
        return lambda session: read_block(session, filt, sort_key, desc, block)

    def _took_block(self, block: int, payload: Block) -> list[ChangeRow]:
        self._conflicts.update(payload.conflicts)
        return payload.rows

    def _dropped(self, rows: list[ChangeRow]) -> None:
        for row in rows:
            self._conflicts.pop(row.id, None)

    def _cleared(self) -> None:
        self._conflicts.clear()

    # Access

    def conflicts_of(self, change_id: int) -> list[Conflict]:
        return self._conflicts.get(change_id, [])

    def column_index(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)

    # Qt model interface

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(  # noqa: N802 - Qt name
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        col = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.header
        if role == Qt.ItemDataRole.TextAlignmentRole and col.key == "conflicts":
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and col.sort is None:
            return "Conflicts of the planned window (active changes)"
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        key = self.columns[column].sort
        if key is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if (key, descending) != (self.sort_key, self.descending):
            self.set_query(self.filter, key, descending)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        role = int(role)
        if not index.isValid() or (role not in _SERVED and role != CONFLICTS_ROLE):
            return None
        key = self.columns[index.column()].key
        if role == _ALIGN:
            return _RIGHT if key == "conflicts" else _LEFT
        row = self.row_at(index.row())
        if row is None:
            if role == _DISPLAY:
                return PLACEHOLDER
            if role == _FOREGROUND:
                return self._placeholder
            return None
        if role == _DISPLAY:
            return self._text(row, key)
        if role == ID_ROLE:
            return row.id
        if role == ROW_ROLE:
            return row
        if role == RISK_ROLE:
            return row.risk if key == "risk" else None
        if role == CONFLICTS_ROLE:
            return len(self.conflicts_of(row.id)) if key == "conflicts" else None
        if role == _FOREGROUND:
            if key == "conflicts" and self.conflicts_of(row.id):
                return self._warning
            return None
        if role == _TOOLTIP:
            return self._tooltip(row, key)
        return None

    def _text(self, row: ChangeRow, key: str) -> str:
        if key == "planned_start":
            return format_datetime(row.planned_start, self.zone)
        if key == "planned_end":
            return format_datetime(row.planned_end, self.zone)
        if key == "group":
            return row.assignment_group or ""
        if key == "conflicts":
            count = len(self.conflicts_of(row.id))
            return str(count) if count else ""
        if key == "risk":
            return row.risk or ""
        return str(getattr(row, key, "") or "")

    def _tooltip(self, row: ChangeRow, key: str) -> str | None:
        if key == "conflicts":
            found = self.conflicts_of(row.id)
            return "\n".join(f"• {c.sentence}" for c in found) if found else None
        if key == "short_description":
            return row.short_description
        if key == "risk" and row.risk_score is not None:
            return f"{row.risk} risk (score {row.risk_score})"
        return None


class RiskDelegate(QStyledItemDelegate):
    """The risk level as a coloured chip with its text (``Very High``)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        risk = cell_data(index, RISK_ROLE)
        if not risk:
            super().paint(painter, option, index)
            return
        PriorityDelegate._panel(painter, option, index)
        background, foreground = risk_colours(str(risk))
        text = str(risk)
        metrics = option.fontMetrics
        rect = option.rect.adjusted(4, 3, -4, -3)
        width = min(rect.width(), metrics.horizontalAdvance(text) + 14)
        chip = QRect(rect.left(), rect.top(), width, rect.height())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(background))
        painter.drawRoundedRect(QRectF(chip), 3, 3)
        painter.setPen(QColor(foreground))
        painter.drawText(
            chip,
            int(Qt.AlignmentFlag.AlignCenter),
            metrics.elidedText(text, Qt.TextElideMode.ElideRight, chip.width() - 6),
        )
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        return QSize(size.width() + 14, size.height())


class ConflictDelegate(QStyledItemDelegate):
    """A warning triangle and the number of conflicts, right-aligned; empty when none."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        count = cell_data(index, CONFLICTS_ROLE)
        if not count:
            super().paint(painter, option, index)
            return
        PriorityDelegate._panel(painter, option, index)
        rect = option.rect.adjusted(4, 3, -6, -3)
        text = str(count)
        metrics = option.fontMetrics
        text_width = metrics.horizontalAdvance(text)
        side = min(rect.height(), metrics.height())
        right = rect.right() - text_width - 4
        top = rect.center().y() - side / 2
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(WARNING_TEXT))
        painter.setBrush(QColor(RAG_COLOURS["amber"][0]))
        painter.drawPolygon(
            QPolygonF(
                [
                    QPointF(right - side / 2, top + 1),
                    QPointF(right, top + side - 1),
                    QPointF(right - side, top + side - 1),
                ]
            )
        )
        font = QFont(option.font)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#000000"))
        small = QFont(font)
        small.setPixelSize(max(int(side * 0.55), 6))
        painter.setFont(small)
        painter.drawText(
            QRectF(right - side, top + side * 0.3, side, side * 0.65),
            int(Qt.AlignmentFlag.AlignCenter),
            "!",
        )
        painter.setFont(font)
        painter.setPen(QColor(WARNING_TEXT))
        painter.drawText(rect, _RIGHT, text)
        painter.restore()


def sort_keys() -> Sequence[str]:
    """The sort keys the columns offer."""
    return [c.sort for c in COLUMNS if c.sort is not None]
