"""The incident queue as a Qt table model: a background count, rows read in blocks on demand.

Only a bounded number of blocks is kept (least recently used go first), so scrolling
through a million incidents keeps memory flat. A row whose block is still loading shows
placeholders; when the block arrives its rows repaint. Every query runs through
:class:`app.views.ops.QueryOp` with its own session, and answers to an older filter or
sort are dropped (each query carries a generation number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.db import Database
from app.models import utcnow
from app.services import incident_query as q
from app.services.formatting import PRIORITY_NAMES, format_datetime, format_duration
from app.views import ops
from app.views.qtmodels.paged import BLOCK_SIZE, PLACEHOLDER, PagedTableModel
from app.views.theme import priority_colours

__all__ = ["BLOCK_SIZE", "PLACEHOLDER", "IncidentTableModel"]


#: Custom roles.
ID_ROLE = int(Qt.ItemDataRole.UserRole.value) + 1
ROW_ROLE = ID_ROLE + 1
SLA_ROLE = ID_ROLE + 2
PRIORITY_ROLE = ID_ROLE + 3


#: SLA bar colours by status; paused is drawn striped grey.
SLA_COLOURS = {
    "ok": "#43a047",
    "warning": "#f9a825",
    "risk": "#ef6c00",
    "breached": "#d32f2f",
    "paused": "#9e9e9e",
    "met": "#9e9e9e",
}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_ALIGN_RIGHT, _ALIGN_LEFT = int(_RIGHT.value), int(_LEFT.value)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_SERVED_ROLES = frozenset(
    {
        _DISPLAY,
        _ALIGN,
        _FOREGROUND,
        _TOOLTIP,
        ID_ROLE,
        ROW_ROLE,
        SLA_ROLE,
        PRIORITY_ROLE,
    }
)


@dataclass(frozen=True)
class FirstWindow:
    """What one query for a new filter or sort returns: context, count and the first rows."""

    generation: int
    ctx: q.QueryContext
    #: None when the count is read separately.
    total: int | None
    rows: list[Any]


@dataclass(frozen=True)
class Refreshed:
    """A live refresh: the new count and the blocks read again."""

    generation: int
    ctx: q.QueryContext
    total: int
    blocks: dict[int, list[Any]]
    serial: int = 0


class IncidentTableModel(PagedTableModel):
    """Rows of :func:`app.services.incident_query.fetch_window`, read in blocks as needed."""

    def __init__(
        self,
        db: Database,
        owner: QWidget,
        clock: Callable[[], dt.datetime] = utcnow,
        parent: Any = None,
    ) -> None:
        super().__init__(db, owner, parent)
        self.clock = clock
        self.columns: tuple[q.QueueColumn, ...] = q.QUEUE_COLUMNS
        self.filter = q.IncidentFilter()
        self.sort_order = q.DEFAULT_SORT
        self.team_ids: tuple[int, ...] = ()
        self.ctx: q.QueryContext | None = None
        #: Live refreshes: one at a time, one more queued; each numbered, newest shown.
        self._refreshing = False
        self._refresh_again = False
        self._refresh_serial = 0
        self._shown_serial = 0
        #: Display texts per incident id, formatted once (bounded like the blocks).
        self._texts: dict[int, tuple[str, ...]] = {}
        self._now = clock()

    # Queries

    def set_query(
        self,
        filt: q.IncidentFilter,
        sort: q.Sort | None = None,
        team_ids: Sequence[int] | None = None,
    ) -> None:
        """Show ``filt`` in ``sort`` order: count and first block are read in the background."""
        self.filter = filt
        if sort is not None:
            self.sort_order = sort
        if team_ids is not None:
            self.team_ids = tuple(team_ids)
        generation = self._begin_query(counting=True)
        filt, sort_, teams = self.filter, self.sort_order, self.team_ids
        now = self.clock()
        separate = q.count_needs_scan(filt)

        def op(session, _progress) -> FirstWindow:
            ctx = q.context_for(session, now, teams)
            total = None if separate else q.count(session, filt, ctx)
            rows = q.fetch_window(session, filt, sort_, 0, BLOCK_SIZE, ctx, total=total)
            return FirstWindow(generation, ctx, total, rows)

        ops.QueryOp(parent=self.owner, db=self.db, op=op, success=self._first_window).failure(
            self._failed
        ).run_in_background()
        if separate:
            # Counting a text search reads every incident; the first rows need not wait.
            def count_op(session, _progress) -> tuple[int, int]:
                return generation, q.count(session, filt, q.context_for(session, now, teams))

            ops.QueryOp(
                parent=self.owner, db=self.db, op=count_op, success=self._count_arrived
            ).failure(self._failed).run_in_background()

    def reload(self) -> None:
        """Read everything again for the current filter and sort."""
        self.set_query(self.filter, self.sort_order)

    def refresh(self) -> None:
        """Recount and re-read the blocks on hand, keeping the scroll position (live updates).

        One refresh runs at a time: asked again meanwhile, one more follows it (it must
        start after the change that asked, so the newest rows win), however often it was
        asked. Results older than one already shown are dropped.
        """
        if self.ctx is None or self.loading or self.counting:
            return
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        self._refresh_again = False
        self._refresh_serial += 1
        serial = self._refresh_serial
        generation, filt, sort_, teams = (
            self._generation,
            self.filter,
            self.sort_order,
            self.team_ids,
        )
        wanted = list(self._blocks)[-3:]
        now = self.clock()

        def op(session, _progress) -> Refreshed:
            ctx = q.context_for(session, now, teams)
            total = q.count(session, filt, ctx)
            blocks = {
                b: q.fetch_window(
                    session, filt, sort_, b * BLOCK_SIZE, BLOCK_SIZE, ctx, total=total
                )
                for b in wanted
                if b * BLOCK_SIZE < total
            }
            return Refreshed(generation, ctx, total, blocks, serial)

        handle = (
            ops.QueryOp(parent=self.owner, db=self.db, op=op, success=self._refreshed)
            .failure(self._failed)
            .run_in_background()
        )
        handle.finished.connect(self._refresh_done)

    def _refresh_done(self) -> None:
        self._refreshing = False
        if self._refresh_again:
            self.refresh()

    def _first_window(self, result: FirstWindow) -> None:
        if result.generation != self._generation:
            return
        self.ctx = result.ctx
        self._now = result.ctx.now
        self._show_first(result.rows, result.total)

    def _cleared(self) -> None:
        self._texts.clear()

    def _refreshed(self, result: Refreshed) -> None:
        if result.generation != self._generation or result.serial < self._shown_serial:
            return
        self._shown_serial = result.serial
        self.ctx = result.ctx
        self._now = result.ctx.now
        old = self.total
        if result.total > old:
            self.beginInsertRows(QModelIndex(), old, result.total - 1)
            self.total = result.total
            self.endInsertRows()
        elif result.total < old:
            self.beginRemoveRows(QModelIndex(), result.total, old - 1)
            self.total = result.total
            self.endRemoveRows()
        self._blocks.clear()
        self._texts.clear()
        self._blocks.update(result.blocks)
        if self.total:
            self.dataChanged.emit(
                self.index(0, 0), self.index(self.total - 1, len(self.columns) - 1)
            )
        self.counted.emit(self.total)
        self.rows_ready.emit()

    def _may_read_blocks(self) -> bool:
        return self.ctx is not None

    def _block_reader(self, block: int) -> Callable[[Any], list[Any]]:
        filt, sort_, ctx, total = self.filter, self.sort_order, self.ctx, self.total
        offset = block * BLOCK_SIZE
        return lambda session: q.fetch_window(
            session, filt, sort_, offset, BLOCK_SIZE, ctx, total=total
        )

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
        if role == Qt.ItemDataRole.TextAlignmentRole and col.key == "age":
            return int(_RIGHT)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns) or not self.columns[column].sortable:
            return
        sort = q.Sort(self.columns[column].key, order == Qt.SortOrder.DescendingOrder)
        if sort != self.sort_order:
            self.set_query(self.filter, sort)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        # A view asks ~10 roles per cell per paint; unserved roles leave before any lookup.
        role = int(role)
        if role not in _SERVED_ROLES or not index.isValid():
            return None
        column = index.column()
        key = self.columns[column].key
        if role == _ALIGN:
            return _ALIGN_RIGHT if key == "age" else _ALIGN_LEFT
        row = self.row_at(index.row())
        if row is None:
            if role == _DISPLAY:
                return PLACEHOLDER
            if role == _FOREGROUND:
                return self._placeholder
            return None
        if role == _DISPLAY:
            texts = self._texts.get(row.id)
            if texts is None:
                texts = tuple(self._text(row, col.key) for col in self.columns)
                self._texts[row.id] = texts
                if len(self._texts) > self.MAX_BLOCKS * BLOCK_SIZE:
                    self._texts.pop(next(iter(self._texts)))
            return texts[column]
        if role == ID_ROLE:
            return row.id
        if role == ROW_ROLE:
            return row
        if role == SLA_ROLE:
            return q.sla_cell(row, self._now) if key == "sla" else None
        if role == PRIORITY_ROLE:
            return row.priority if key == "priority" else None
        if role == _TOOLTIP:
            return self._tooltip(row, key)
        return None

    def _text(self, row: Any, key: str) -> str:
        if key == "number":
            return row.number
        if key == "priority":
            return f"P{row.priority} {PRIORITY_NAMES.get(row.priority, '')}".strip()
        if key == "state":
            return row.state
        if key == "short_description":
            return f"★ {row.short_description}" if row.is_major else row.short_description
        if key == "service":
            return " / ".join(part for part in (row.service, row.ci) if part)
        if key == "group":
            return row.group_name or ""
        if key == "assignee":
            return row.assignee or ""
        if key == "opened":
            return format_datetime(row.opened_at)
        if key == "age":
            return format_duration(max(0.0, (self._now - row.opened_at).total_seconds()))
        if key == "sla":
            return q.sla_cell(row, self._now).text
        if key == "vendor":
            return row.vendor or ""
        if key == "updated":
            return format_datetime(row.updated_at)
        return ""

    def _tooltip(self, row: Any, key: str) -> str | None:
        if key == "sla" and row.sla_name:
            due = format_datetime(row.sla_due_at)
            return f"{row.sla_name}: {q.sla_cell(row, self._now).text} (due {due})"
        if key == "short_description":
            return (
                f"Major incident: {row.short_description}"
                if row.is_major
                else row.short_description
            )
        if key == "state" and row.hold_reason:
            return f"{row.state}: {row.hold_reason}"
        return None


def cell_data(index: QModelIndex, role: int) -> Any:
    """``index.data(role)`` read from the Python model directly, without a QVariant round trip.

    PySide6 6.12.0 (excluded in pyproject.toml) dropped a reference to None on each
    such round trip that returned None; the direct call is also simply cheaper.
    """
    model = index.model()
    return model.data(index, role) if model is not None else None


class PriorityDelegate(QStyledItemDelegate):
    """The priority as a small coloured chip with its text (``P1 Critical``)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        priority = cell_data(index, PRIORITY_ROLE)
        if priority is None:
            super().paint(painter, option, index)
            return
        self._panel(painter, option, index)
        background, foreground = priority_colours(int(priority))
        text = str(cell_data(index, Qt.ItemDataRole.DisplayRole))
        metrics = option.fontMetrics
        rect = option.rect.adjusted(4, 3, -4, -3)
        width = min(rect.width(), metrics.horizontalAdvance(text) + 12)
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

    @staticmethod
    def _panel(painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        return QSize(size.width() + 12, size.height())


class SlaDelegate(QStyledItemDelegate):
    """The SLA as a bar of the target used, coloured by how close to breach, with its text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        cell: q.SlaCell | None = cell_data(index, SLA_ROLE)
        if cell is None or cell.status == "none":
            super().paint(painter, option, index)
            return
        PriorityDelegate._panel(painter, option, index)
        rect = option.rect.adjusted(4, 4, -4, -4)
        bar_width = min(44, rect.width() // 3)
        track = QRect(rect.left(), rect.center().y() - 4, bar_width, 8)
        colour = QColor(SLA_COLOURS.get(cell.status, "#9e9e9e"))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        groove = QColor(option.palette.color(QPalette.ColorRole.Mid))
        painter.setBrush(groove)
        painter.drawRoundedRect(QRectF(track), 3, 3)
        if cell.status == "paused":
            painter.setBrush(QBrush(colour, Qt.BrushStyle.BDiagPattern))
            painter.drawRoundedRect(QRectF(track), 3, 3)
        else:
            used = 1.0 if cell.status in ("breached", "met") else cell.used
            filled = QRect(track.left(), track.top(), max(3, int(track.width() * used)), 8)
            painter.setBrush(colour)
            painter.drawRoundedRect(QRectF(filled), 3, 3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_colour = option.palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        if cell.status == "breached" and not selected:
            text_colour = QColor(SLA_COLOURS["breached"])
        painter.setPen(text_colour)
        text_rect = rect.adjusted(bar_width + 6, 0, 0, 0)
        text = option.fontMetrics.elidedText(
            cell.text, Qt.TextElideMode.ElideRight, text_rect.width()
        )
        painter.drawText(text_rect, int(_LEFT), text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        return QSize(size.width() + 62, size.height())
