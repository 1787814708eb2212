"""The roster timeline: people as rows, days as columns, shifts as bars coloured by layer.

A coverage strip on top has one lane per role, red where nobody is on call; weekends are
shaded across every row and each person's public holidays in their own row; a red line
marks now. Hovering shows the shift or gap; dragging a shift onto another person's row
proposes a swap (``swap_requested``); the context menu offers an override or a swap by
dialog. Everything is painted with QPainter from data laid out once in :meth:`set_data`.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QFont,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QMenu, QSizePolicy, QToolTip, QWidget

from app.views.theme import DANGER_TEXT, is_dark

#: Layer colours (fill, text): hues apart and lightness apart, so layers read in grey too.
LAYER_COLOURS: tuple[tuple[str, str], ...] = (
    ("#1f4e8c", "#ffffff"),  # dark blue
    ("#f0b44c", "#1b1300"),  # light amber
    ("#4f9d69", "#ffffff"),  # mid green
    ("#c9def5", "#0d2238"),  # pale blue
    ("#7b3f98", "#ffffff"),  # dark purple
    ("#f3d9a4", "#2b1d00"),  # sand
    ("#2f8f83", "#ffffff"),  # teal
    ("#e8a0a8", "#3a0b12"),  # rose
)
GAP_FILL = QColor("#d32f2f")
COVERED_FILL = QColor(46, 125, 50, 70)
NOW_LINE = QColor(DANGER_TEXT)
NAME_WIDTH = 170
HEADER_HEIGHT = 38
ROW_HEIGHT = 30
LANE_HEIGHT = 14
MIN_DAY_WIDTH = 26
DRAG_DISTANCE = 5


def layer_colour(index: int) -> tuple[QColor, QColor]:
    fill, text = LAYER_COLOURS[index % len(LAYER_COLOURS)]
    return QColor(fill), QColor(text)


@dataclass(frozen=True)
class TimelineLayer:
    id: int | None
    name: str
    role: str
    index: int


@dataclass(frozen=True)
class TimelineShift:
    person_id: int
    start: dt.datetime
    end: dt.datetime
    layer_id: int | None
    layer_name: str
    role: str
    source: str  # roster, layers, override or draft
    override_id: int | None = None
    note: str = ""


@dataclass(frozen=True)
class TimelineGap:
    role: str
    start: dt.datetime
    end: dt.datetime
    reason: str


@dataclass
class TimelineData:
    zone: str
    start: dt.datetime
    end: dt.datetime
    days: Sequence[dt.date]
    people: Sequence[tuple[int, str]]
    layers: Sequence[TimelineLayer]
    shifts: Sequence[TimelineShift]
    gaps: Sequence[TimelineGap] = ()
    roles: Sequence[str] = ("primary",)
    holidays: dict[int, dict[dt.date, str]] = field(default_factory=dict)
    draft: bool = False


def fmt_span(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    if a.date() == b.date():
        return f"{a:%Y-%m-%d %H:%M} – {b:%H:%M}"
    return f"{a:%Y-%m-%d %H:%M} – {b:%Y-%m-%d %H:%M}"


def fmt_hours(hours: float) -> str:
    if hours >= 24 and abs(hours / 24 - round(hours / 24)) < 1e-6:
        return f"{round(hours / 24)}d"
    if hours >= 24:
        return f"{int(hours // 24)}d {round(hours % 24)}h"
    return f"{hours:g}h"


class RosterTimeline(QWidget):
    """The people x days canvas (put it in a QScrollArea)."""

    #: A shift was dropped on another person's row: (shift, person id).
    swap_requested = Signal(object, int)
    #: Override… from the context menu: (person id or None, instant clicked, shift or None).
    override_requested = Signal(object, object, object)
    #: Swap… from the context menu: the shift.
    swap_dialog_requested = Signal(object)
    #: The selected shift changed (None: nothing selected).
    shift_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rosterTimeline")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Roster timeline")
        self.data: TimelineData | None = None
        self.now: dt.datetime | None = None
        self.editable = True
        self.selected: TimelineShift | None = None
        self._zone = ZoneInfo("UTC")
        self._rows: dict[int, int] = {}
        self._lanes: dict[int, int] = {}  # person id -> lanes
        self._row_top: list[float] = []
        self._shift_lane: dict[int, int] = {}  # index into data.shifts -> lane
        self._colours: dict[int | None, int] = {}
        self._press: QPointF | None = None
        self._drag: TimelineShift | None = None
        self._drag_pos: QPointF | None = None

    # Data

    def set_data(self, data: TimelineData | None, now: dt.datetime | None = None) -> None:
        self.data = data
        self.now = now
        self.selected = None
        self._drag = None
        if data is not None:
            self._zone = ZoneInfo(data.zone)
            self._rows = {pid: k for k, (pid, _) in enumerate(data.people)}
            self._colours = {layer.id: layer.index for layer in data.layers}
            self._lay_out_lanes()
        else:
            self._rows, self._row_top = {}, []
        self.updateGeometry()
        self.update()

    def _lay_out_lanes(self) -> None:
        assert self.data is not None
        per_person: dict[int, list[tuple[int, TimelineShift]]] = {}
        for k, s in enumerate(self.data.shifts):
            per_person.setdefault(s.person_id, []).append((k, s))
        self._lanes, self._shift_lane = {}, {}
        for pid, items in per_person.items():
            ends: list[dt.datetime] = []
            for k, s in sorted(items, key=lambda item: (item[1].start, item[1].end)):
                for lane, end in enumerate(ends):
                    if end <= s.start:
                        ends[lane] = s.end
                        self._shift_lane[k] = lane
                        break
                else:
                    ends.append(s.end)
                    self._shift_lane[k] = len(ends) - 1
            self._lanes[pid] = max(1, len(ends))
        top = self.strip_bottom()
        self._row_top = []
        for pid, _ in self.data.people:
            self._row_top.append(top)
            top += self.row_height(pid)

    # Geometry

    def strip_height(self) -> float:
        roles = len(self.data.roles) if self.data else 1
        return 8 + roles * (LANE_HEIGHT + 4)

    def strip_bottom(self) -> float:
        return HEADER_HEIGHT + self.strip_height()

    def row_height(self, person_id: int) -> float:
        lanes = self._lanes.get(person_id, 1)
        return max(ROW_HEIGHT, 8 + lanes * 20)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return self.minimumSizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt name
        days = len(self.data.days) if self.data else 7
        height = self.strip_bottom() + (
            sum(self.row_height(pid) for pid, _ in self.data.people) if self.data else ROW_HEIGHT
        )
        return QSize(int(NAME_WIDTH + days * MIN_DAY_WIDTH), int(height + 4))

    def day_width(self) -> float:
        days = max(1, len(self.data.days)) if self.data else 7
        return max(MIN_DAY_WIDTH, (self.width() - NAME_WIDTH - 1) / days)

    def x_of(self, at: dt.datetime) -> float:
        """The x of an instant: days are equal columns in the schedule's zone, and within a
        day an instant sits at its wall-clock time, so 09:00 lines up on every day, the
        23- and 25-hour days of daylight saving time included."""
        assert self.data is not None
        local = at.astimezone(self._zone)
        first = self.data.days[0]
        day_index = (local.date() - first).days
        fraction = (local.hour * 3600 + local.minute * 60 + local.second) / 86400
        return NAME_WIDTH + (day_index + fraction) * self.day_width()

    def time_at(self, x: float) -> dt.datetime | None:
        if self.data is None or x < NAME_WIDTH:
            return None
        units = (x - NAME_WIDTH) / self.day_width()
        k = int(units)
        if not 0 <= k < len(self.data.days):
            return None
        wall = dt.datetime.combine(self.data.days[k], dt.time()) + dt.timedelta(
            seconds=round((units - k) * 86400)
        )
        return wall.replace(tzinfo=self._zone).astimezone(dt.UTC)

    def row_at(self, y: float) -> int | None:
        """The person id of the row at ``y``."""
        if self.data is None:
            return None
        for k, top in enumerate(self._row_top):
            pid = self.data.people[k][0]
            if top <= y < top + self.row_height(pid):
                return pid
        return None

    def row_rect(self, person_id: int) -> QRectF | None:
        k = self._rows.get(person_id)
        if k is None or k >= len(self._row_top):
            return None
        return QRectF(0, self._row_top[k], self.width(), self.row_height(person_id))

    def shift_rect(self, index: int) -> QRectF | None:
        assert self.data is not None
        s = self.data.shifts[index]
        row = self.row_rect(s.person_id)
        if row is None:
            return None
        lanes = self._lanes.get(s.person_id, 1)
        lane = self._shift_lane.get(index, 0)
        inner = row.height() - 8
        h = inner / lanes
        x0 = max(NAME_WIDTH, self.x_of(max(s.start, self.data.start)))
        x1 = min(self.width() - 1.0, self.x_of(min(s.end, self.data.end)))
        return QRectF(x0 + 1, row.top() + 4 + lane * h, max(2.0, x1 - x0 - 2), h - 2)

    def rect_of(self, shift: TimelineShift) -> QRectF | None:
        if self.data is None:
            return None
        for k, s in enumerate(self.data.shifts):
            if s == shift:
                return self.shift_rect(k)
        return None

    def shift_at(self, pos: QPointF) -> TimelineShift | None:
        if self.data is None:
            return None
        for k, s in enumerate(self.data.shifts):
            rect = self.shift_rect(k)
            if rect is not None and rect.contains(pos):
                return s
        return None

    def lane_rect(self, role_index: int) -> QRectF:
        top = HEADER_HEIGHT + 4 + role_index * (LANE_HEIGHT + 4)
        return QRectF(NAME_WIDTH, top, self.width() - NAME_WIDTH - 1, LANE_HEIGHT)

    def gap_at(self, pos: QPointF) -> TimelineGap | None:
        if self.data is None:
            return None
        for gap in self.data.gaps:
            lane = self.lane_rect(self._role_index(gap.role))
            x0, x1 = (
                self.x_of(max(gap.start, self.data.start)),
                self.x_of(min(gap.end, self.data.end)),
            )
            if QRectF(x0, lane.top(), max(3.0, x1 - x0), lane.height()).contains(pos):
                return gap
        return None

    def _role_index(self, role: str) -> int:
        roles = list(self.data.roles) if self.data else []
        return roles.index(role) if role in roles else 0

    # Text

    def person_name(self, person_id: int) -> str:
        if self.data is not None:
            for pid, name in self.data.people:
                if pid == person_id:
                    return name
        return f"Person {person_id}"

    def shift_tooltip(self, s: TimelineShift) -> str:
        hours = (s.end - s.start).total_seconds() / 3600
        source = {
            "roster": "from the saved roster",
            "layers": "from the layer's rotation",
            "override": "override",
            "draft": "draft, not saved",
        }.get(s.source, s.source)
        lines = [
            f"<b>{html.escape(self.person_name(s.person_id))}</b> — "
            f"{html.escape(s.layer_name)} ({html.escape(s.role)})",
            f"{fmt_span(s.start, s.end, self._zone)} ({fmt_hours(round(hours, 2))})",
            f"<i>{html.escape(source)}</i>",
        ]
        if s.note:
            lines.append(html.escape(s.note))
        if self.editable and s.source != "draft":
            lines.append("<small>Drag to another person to swap · right-click for more</small>")
        return "<br>".join(lines)

    def gap_tooltip(self, gap: TimelineGap) -> str:
        hours = (gap.end - gap.start).total_seconds() / 3600
        return (
            f"<b>Coverage gap: nobody on call ({html.escape(gap.role)})</b><br>"
            f"{fmt_span(gap.start, gap.end, self._zone)} ({fmt_hours(round(hours, 2))})<br>"
            f"{html.escape(gap.reason)}"
        )

    def tooltip_at(self, pos: QPointF) -> str:
        if self.data is None:
            return ""
        shift = self.shift_at(pos)
        if shift is not None:
            return self.shift_tooltip(shift)
        gap = self.gap_at(pos)
        if gap is not None:
            return self.gap_tooltip(gap)
        if HEADER_HEIGHT <= pos.y() < self.strip_bottom() and pos.x() >= NAME_WIDTH:
            return "Coverage: green where someone is on call, red where nobody is"
        pid = self.row_at(pos.y())
        at = self.time_at(pos.x())
        if pid is not None and at is not None:
            day = at.astimezone(self._zone).date()
            holiday = self.data.holidays.get(pid, {}).get(day)
            if holiday:
                return (
                    f"{html.escape(self.person_name(pid))}: public holiday ({html.escape(holiday)})"
                )
        return ""

    # Events

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            text = self.tooltip_at(QPointF(event.pos()))
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.position()
            shift = self.shift_at(pos)
            self.selected = shift
            self.shift_selected.emit(shift)
            self._press = pos if shift is not None else None
            self.update()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        pos = event.position()
        if self._press is not None and self.selected is not None and self.editable:
            if self._drag is None and (pos - self._press).manhattanLength() >= DRAG_DISTANCE:
                if self.selected.source != "draft":
                    self._drag = self.selected
            if self._drag is not None:
                self._drag_pos = pos
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
                self.update()
        elif self.shift_at(pos) is not None and self.editable:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.unsetCursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        dragged, pos = self._drag, event.position()
        self._press, self._drag, self._drag_pos = None, None, None
        self.unsetCursor()
        self.update()
        if dragged is not None and event.button() == Qt.MouseButton.LeftButton:
            target = self.row_at(pos.y())
            if target is not None and target != dragged.person_id:
                self.swap_requested.emit(dragged, target)
        super().mouseReleaseEvent(event)

    def context_menu(self, pos: QPointF) -> QMenu | None:
        """The menu for ``pos`` (separate so tests can trigger its actions)."""
        if self.data is None:
            return None
        shift = self.shift_at(pos)
        pid = shift.person_id if shift is not None else self.row_at(pos.y())
        at = self.time_at(pos.x())
        menu = QMenu(self)
        override = menu.addAction("Override…")
        override.setEnabled(self.editable and at is not None)
        override.triggered.connect(lambda: self.override_requested.emit(pid, at, shift))
        if shift is not None:
            swap = menu.addAction("Swap this shift…")
            swap.setEnabled(self.editable and shift.source != "draft")
            swap.triggered.connect(lambda: self.swap_dialog_requested.emit(shift))
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt name
        menu = self.context_menu(QPointF(event.pos()))
        if menu is not None:
            menu.exec(event.globalPos())

    # Painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        if self.data is None or not self.data.days:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                self.rect(),
                int(Qt.AlignmentFlag.AlignCenter),
                "Choose a schedule to see its roster",
            )
            return
        exposed = QRectF(event.rect())
        self._paint_columns(painter, exposed)
        self._paint_header(painter)
        self._paint_strip(painter)
        self._paint_rows(painter, exposed)
        self._paint_shifts(painter, exposed)
        self._paint_now(painter)
        self._paint_drag(painter)

    def _dark(self) -> bool:
        return is_dark(self.palette())

    def _grid(self) -> QColor:
        colour = QColor(self.palette().color(QPalette.ColorRole.Text))
        colour.setAlpha(35)
        return colour

    def _paint_columns(self, painter: QPainter, exposed: QRectF) -> None:
        assert self.data is not None
        w = self.day_width()
        weekend = QColor(128, 128, 128, 60 if self._dark() else 38)
        top = HEADER_HEIGHT
        bottom = self.height()
        for k, day in enumerate(self.data.days):
            x = NAME_WIDTH + k * w
            if x > exposed.right() or x + w < exposed.left():
                continue
            if day.weekday() >= 5:
                painter.fillRect(QRectF(x, 0, w, bottom), weekend)
            painter.setPen(QPen(self._grid(), 1))
            if day.weekday() == 0:
                pen = QPen(self._grid(), 1.5)
                pen.setColor(QColor(self.palette().color(QPalette.ColorRole.Text)))
                c = pen.color()
                c.setAlpha(90)
                pen.setColor(c)
                painter.setPen(pen)
            painter.drawLine(QPointF(x, top), QPointF(x, bottom))

    def _paint_header(self, painter: QPainter) -> None:
        assert self.data is not None
        pal = self.palette()
        w = self.day_width()
        text = pal.color(QPalette.ColorRole.Text)
        dim = pal.color(QPalette.ColorRole.PlaceholderText)
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        bold = QFont(self.font())
        bold.setBold(True)
        today = self.now.astimezone(self._zone).date() if self.now else None
        painter.setPen(dim)
        painter.setFont(small)
        painter.drawText(
            QRectF(8, 0, NAME_WIDTH - 8, HEADER_HEIGHT),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            f"Times in {self.data.zone}",
        )
        for k, day in enumerate(self.data.days):
            x = NAME_WIDTH + k * w
            rect = QRectF(x, 2, w, HEADER_HEIGHT - 4)
            if day == today:
                hl = QColor(pal.color(QPalette.ColorRole.Highlight))
                hl.setAlpha(60)
                painter.fillRect(rect, hl)
            painter.setFont(bold if day == today else self.font())
            painter.setPen(text)
            label = f"{day:%a} {day.day}" if w >= 48 else f"{day:%a}"[0] + f"{day.day}"
            painter.drawText(
                QRectF(x, 16, w, HEADER_HEIGHT - 18), int(Qt.AlignmentFlag.AlignCenter), label
            )
        self._paint_months(painter, small, dim)
        painter.setPen(QPen(self._grid(), 1))
        painter.drawLine(QPointF(0, HEADER_HEIGHT), QPointF(self.width(), HEADER_HEIGHT))

    def _paint_months(self, painter: QPainter, font: QFont, colour: QColor) -> None:
        """Month names (on the first day shown and each 1st) and ISO weeks (on Mondays),
        a month winning where both would overlap."""
        assert self.data is not None
        w = self.day_width()
        painter.setFont(font)
        painter.setPen(colour)
        fm = painter.fontMetrics()
        placed: list[tuple[float, float, int, str]] = []
        for k, day in enumerate(self.data.days):
            if k == 0:
                text, rank = f"{day:%b %Y}", 2
            elif day.day == 1:
                text, rank = f"{day:%b}", 2
            elif day.weekday() == 0:
                text, rank = f"W{day.isocalendar().week}", 1
            else:
                continue
            x = NAME_WIDTH + k * w + 3
            right = x + fm.horizontalAdvance(text)
            if placed and x < placed[-1][1] + 6:
                if rank > placed[-1][2]:
                    placed[-1] = (x, right, rank, text)
                continue
            placed.append((x, right, rank, text))
        for x, right, _rank, text in placed:
            painter.drawText(
                QRectF(x, 2, right - x + 2, 14),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                text,
            )

    def _paint_strip(self, painter: QPainter) -> None:
        assert self.data is not None
        pal = self.palette()
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        painter.setFont(small)
        x_start, x_end = self.x_of(self.data.start), self.x_of(self.data.end)
        for k, role in enumerate(self.data.roles):
            lane = self.lane_rect(k)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                QRectF(8, lane.top() - 2, NAME_WIDTH - 12, lane.height() + 4),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                f"Coverage · {role}",
            )
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(COVERED_FILL)
            painter.drawRect(QRectF(x_start, lane.top(), x_end - x_start, lane.height()))
            for gap in self.data.gaps:
                if gap.role != role:
                    continue
                x0 = self.x_of(max(gap.start, self.data.start))
                x1 = self.x_of(min(gap.end, self.data.end))
                painter.setBrush(GAP_FILL)
                painter.drawRect(QRectF(x0, lane.top(), max(3.0, x1 - x0), lane.height()))
                if x1 - x0 > 40:
                    painter.setPen(QColor("#ffffff"))
                    painter.drawText(
                        QRectF(x0, lane.top(), x1 - x0, lane.height()),
                        int(Qt.AlignmentFlag.AlignCenter),
                        "gap",
                    )
                    painter.setPen(Qt.PenStyle.NoPen)
        painter.setPen(QPen(self._grid(), 1))
        bottom = self.strip_bottom()
        painter.drawLine(QPointF(0, bottom), QPointF(self.width(), bottom))

    def _paint_rows(self, painter: QPainter, exposed: QRectF) -> None:
        assert self.data is not None
        pal = self.palette()
        w = self.day_width()
        holiday_fill = QColor(211, 47, 47, 55 if self._dark() else 40)
        alt = pal.color(QPalette.ColorRole.AlternateBase)
        alt.setAlpha(120)
        for k, (pid, name) in enumerate(self.data.people):
            row = self.row_rect(pid)
            if row is None or row.top() > exposed.bottom() or row.bottom() < exposed.top():
                continue
            if k % 2:
                painter.fillRect(QRectF(0, row.top(), NAME_WIDTH, row.height()), alt)
            for day in self.data.holidays.get(pid, {}):
                if day in self.data.days:
                    index = list(self.data.days).index(day)
                    cell = QRectF(NAME_WIDTH + index * w, row.top(), w, row.height())
                    painter.fillRect(cell, holiday_fill)
                    painter.setPen(QColor(DANGER_TEXT))
                    painter.drawText(
                        cell.adjusted(2, 0, -2, -1),
                        int(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight),
                        "PH",
                    )
            painter.setPen(pal.color(QPalette.ColorRole.Text))
            painter.setFont(self.font())
            painter.drawText(
                QRectF(8, row.top(), NAME_WIDTH - 12, row.height()),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                self.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, NAME_WIDTH - 14),
            )
            painter.setPen(QPen(self._grid(), 1))
            painter.drawLine(QPointF(0, row.bottom()), QPointF(self.width(), row.bottom()))

    def _paint_shifts(self, painter: QPainter, exposed: QRectF) -> None:
        assert self.data is not None
        fm = self.fontMetrics()
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        painter.setFont(small)
        for k, s in enumerate(self.data.shifts):
            rect = self.shift_rect(k)
            if rect is None or not rect.intersects(exposed):
                continue
            fill, ink = layer_colour(self._colours.get(s.layer_id, 0))
            if s is self._drag:
                fill.setAlpha(90)
            painter.setBrush(QBrush(fill))
            if s.source == "draft":
                pen = QPen(ink if self._dark() else fill.darker(160), 1.2, Qt.PenStyle.DashLine)
            elif s.source == "override":
                pen = QPen(QColor(DANGER_TEXT), 2)
            else:
                pen = QPen(fill.lighter(170) if self._dark() else fill.darker(130), 1)
            if self.selected is not None and s == self.selected:
                pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2.5)
            painter.setPen(pen)
            painter.drawRoundedRect(rect, 3, 3)
            if s.source == "override":
                painter.setBrush(QBrush(QColor(255, 255, 255, 90), Qt.BrushStyle.BDiagPattern))
                painter.setPen(Qt.PenStyle.NoPen)
                painter.drawRoundedRect(rect, 3, 3)
            label = s.layer_name + (" · override" if s.source == "override" else "")
            if rect.width() > fm.horizontalAdvance("Mm") + 6:
                painter.setPen(ink)
                painter.drawText(
                    rect.adjusted(4, 0, -3, 0),
                    int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                    fm.elidedText(label, Qt.TextElideMode.ElideRight, int(rect.width() - 8)),
                )

    def _paint_now(self, painter: QPainter) -> None:
        if self.data is None or self.now is None:
            return
        if not self.data.start <= self.now < self.data.end:
            return
        x = self.x_of(self.now)
        painter.setPen(QPen(NOW_LINE, 2))
        painter.drawLine(QPointF(x, HEADER_HEIGHT - 6), QPointF(x, self.height()))
        painter.setBrush(NOW_LINE)
        painter.drawEllipse(QPointF(x, HEADER_HEIGHT - 6), 3.5, 3.5)

    def _paint_drag(self, painter: QPainter) -> None:
        if self._drag is None or self._drag_pos is None:
            return
        target = self.row_at(self._drag_pos.y())
        rect = self.rect_of(self._drag)
        if rect is None:
            return
        row = self.row_rect(target) if target is not None else None
        ghost = QRectF(rect)
        if row is not None:
            ghost.moveTop(row.top() + 4)
            hl = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            hl.setAlpha(45)
            painter.fillRect(row, hl)
        fill, ink = layer_colour(self._colours.get(self._drag.layer_id, 0))
        fill.setAlpha(170)
        painter.setBrush(fill)
        painter.setPen(
            QPen(self.palette().color(QPalette.ColorRole.Highlight), 2, Qt.PenStyle.DashLine)
        )
        painter.drawRoundedRect(ghost, 3, 3)
        if target is not None and target != self._drag.person_id:
            painter.setPen(ink)
            painter.drawText(
                ghost.adjusted(4, 0, -3, 0),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                f"Give to {self.person_name(target)}",
            )
