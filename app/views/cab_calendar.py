"""The CAB calendar: changes on a month grid, week and day timelines, or an agenda list.

:class:`CalendarView` shows one period at a time; the page around it loads the period's
:class:`~app.services.change_calendar.CalendarData` when ``period_changed`` fires and
hands it over with ``set_data``. Everything is painted with QPainter: ``set_data`` sorts
the changes into days (and lanes for the timelines) once, and a paint only draws what
lies in the exposed rectangle, so a month of thousands of changes stays quick.

Times are shown in the user's zone (``zone``, default the computer's); data is UTC.
"""

from __future__ import annotations

import bisect
import calendar as pycalendar
import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.services.change_calendar import CalendarChange, CalendarData, WindowOccurrence
from app.views.theme import DANGER_TEXT, RAG_COLOURS, WARNING_TEXT, is_dark
from app.views.widgets import wrap_words

MODES: tuple[str, ...] = ("month", "week", "day", "agenda")
#: Risk colours (fill, text): lightness falls as risk rises, so they read without colour.
RISK_FILL: dict[str, tuple[str, str]] = {
    "Low": ("#c8e6c9", "#12361a"),
    "Moderate": ("#ffd54f", "#3b2a00"),
    "High": ("#e65100", "#ffffff"),
    "Very High": ("#7f0000", "#ffffff"),
}
UNKNOWN_RISK = ("#9e9e9e", "#000000")
BLACKOUT = QColor(211, 47, 47)
MAINTENANCE = QColor(46, 125, 50)
TODAY_LINE = QColor(DANGER_TEXT)
#: States a drag may move (the workflow refuses the rest anyway, but they never start one).
MOVABLE_STATES = frozenset({"New", "Assess", "Authorize", "Scheduled"})
DONE_STATES = frozenset({"Review", "Closed", "Canceled"})
SNAP_MINUTES = 15
HOUR_HEIGHT = 44
GUTTER = 52
DRAG_DISTANCE = 4


def risk_fill(risk: str | None) -> tuple[QColor, QColor]:
    fill, text = RISK_FILL.get(risk or "", UNKNOWN_RISK)
    return QColor(fill), QColor(text)


# Time in the user's zone


class _Zone:
    """Conversions between UTC instants and days in the user's zone (None = the computer's)."""

    def __init__(self, zone: dt.tzinfo | None) -> None:
        self.zone = zone

    def local(self, value: dt.datetime) -> dt.datetime:
        return value.astimezone(self.zone) if self.zone is not None else value.astimezone()

    def midnight(self, day: dt.date) -> dt.datetime:
        """The UTC instant the user's ``day`` begins."""
        naive = dt.datetime.combine(day, dt.time())
        aware = naive.replace(tzinfo=self.zone) if self.zone is not None else naive.astimezone()
        return aware.astimezone(dt.UTC)

    def day(self, value: dt.datetime) -> dt.date:
        return self.local(value).date()

    def shifted(self, value: dt.datetime, delta: dt.timedelta) -> dt.datetime:
        """``value`` moved by ``delta`` on the wall clock (a day later is the same local time
        across a change of daylight saving time), in UTC."""
        naive = self.local(value).replace(tzinfo=None) + delta
        aware = naive.replace(tzinfo=self.zone) if self.zone is not None else naive.astimezone()
        return aware.astimezone(dt.UTC)

    def clock_minutes(self, value: dt.datetime, day_start: dt.datetime) -> float:
        """Where ``value`` sits in the day that begins at ``day_start``, as minutes of the
        wall clock (what the hour labels show): on a 23- or 25-hour day an instant lines up
        with its hour label instead of drifting by the hour gained or lost."""
        if value <= day_start:
            return 0.0
        local = self.local(value)
        if local.date() != self.local(day_start).date():
            return 24 * 60.0  # the next midnight, the end of this day's column
        return local.hour * 60 + local.minute + local.second / 60

    def days(self, start: dt.datetime, end: dt.datetime) -> list[dt.date]:
        """The user's days that [start, end) touches."""
        first = self.day(start)
        last = self.day(end - dt.timedelta(microseconds=1)) if end > start else first
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def hhmm(self, value: dt.datetime) -> str:
        return self.local(value).strftime("%H:%M")

    def stamp(self, value: dt.datetime) -> str:
        return self.local(value).strftime("%Y-%m-%d %H:%M")

    def span(self, start: dt.datetime, end: dt.datetime) -> str:
        a, b = self.local(start), self.local(end)
        if a.date() == b.date():
            return f"{a:%Y-%m-%d %H:%M} – {b:%H:%M}"
        return f"{a:%Y-%m-%d %H:%M} – {b:%Y-%m-%d %H:%M}"


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = pycalendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


# Tooltips


def change_tooltip(change: CalendarChange, zone: _Zone) -> str:
    """A change's details and the sentence of each of its conflicts, as rich text."""
    e = lambda text: html.escape(str(text), quote=False)  # noqa: E731
    lines = [
        f"<b>{e(change.number)}</b> {e(change.short_description)}",
        f"{e(change.state)} · {e(change.type)} · {e(change.risk)} risk",
        e(zone.span(change.start, change.end)),
    ]
    who = [x for x in (change.service, change.group, change.assignee) if x]
    if who:
        lines.append(e(" · ".join(who)))
    if change.conflicts:
        count = len(change.conflicts)
        lines.append(
            f"<br><span style='color:{WARNING_TEXT}'><b>⚠ {count} "
            f"conflict{'s' if count != 1 else ''}</b></span>"
        )
        lines.extend(f"• {e(c.sentence)}" for c in change.conflicts[:12])
        if count > 12:
            lines.append(f"… and {count - 12} more")
    return "<br>".join(lines)


def window_tooltip(window: WindowOccurrence, zone: _Zone) -> str:
    e = lambda text: html.escape(str(text), quote=False)  # noqa: E731
    kind = "Blackout window" if window.kind == "blackout" else "Maintenance window"
    lines = [
        f"<b>{kind}</b>: {e(window.name)}",
        e(zone.span(window.start, window.end)),
        f"Covers {e(window.scope)}",
    ]
    if window.reason:
        lines.append(e(window.reason))
    return "<br>".join(lines)


# Painting helpers


def _hatch(painter: QPainter, rect: QRectF, colour: QColor, strong: bool = True) -> None:
    fill = QColor(colour)
    fill.setAlpha(28 if strong else 16)
    painter.fillRect(rect, fill)
    lines = QColor(colour)
    lines.setAlpha(120 if strong else 70)
    painter.fillRect(rect, QBrush(lines, Qt.BrushStyle.BDiagPattern))


def _shade(painter: QPainter, rect: QRectF, colour: QColor, strong: bool = True) -> None:
    fill = QColor(colour)
    fill.setAlpha(46 if strong else 26)
    painter.fillRect(rect, fill)


def _warning(painter: QPainter, x: float, y: float, side: float) -> None:
    """An amber triangle with '!' whose top-left corner is (x, y)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor("#5d4037"), 1))
    painter.setBrush(QColor(RAG_COLOURS["amber"][0]))
    painter.drawPolygon(
        QPolygonF(
            [
                QPointF(x + side / 2, y + 0.5),
                QPointF(x + side - 0.5, y + side - 0.5),
                QPointF(x + 0.5, y + side - 0.5),
            ]
        )
    )
    painter.setPen(QColor("#000000"))
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(max(int(side * 0.62), 6))
    painter.setFont(font)
    painter.drawText(
        QRectF(x, y + side * 0.22, side, side * 0.78), int(Qt.AlignmentFlag.AlignCenter), "!"
    )
    painter.restore()


def _badge(painter: QPainter, rect: QRectF, text: str, dark_text: bool) -> float:
    """A small state badge right-aligned in ``rect``; returns the badge's left edge."""
    fm = painter.fontMetrics()
    width = fm.horizontalAdvance(text) + 8
    if width > rect.width() * 0.6:
        return rect.right()
    badge = QRectF(rect.right() - width, rect.top() + 1, width, min(rect.height() - 2, fm.height()))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 40) if dark_text else QColor(255, 255, 255, 60))
    painter.drawRoundedRect(badge, 3, 3)
    painter.restore()
    painter.drawText(badge, int(Qt.AlignmentFlag.AlignCenter), text)
    return badge.left()


@dataclass
class _Segment:
    """The part of a change inside one timeline column, with its lane among overlaps."""

    change: CalendarChange
    column: int
    top: float  # minutes since the column's midnight
    bottom: float
    lane: int = 0
    lanes: int = 1


def _lanes(segments: list[_Segment]) -> None:
    """Side-by-side lanes for overlapping segments of one column (sorted by start)."""
    cluster: list[_Segment] = []
    ends: list[float] = []
    cluster_end = -1.0
    for seg in segments:
        if cluster and seg.top >= cluster_end:
            for member in cluster:
                member.lanes = len(ends)
            cluster, ends = [], []
        for lane, end in enumerate(ends):
            if end <= seg.top:
                seg.lane, ends[lane] = lane, seg.bottom
                break
        else:
            seg.lane = len(ends)
            ends.append(seg.bottom)
        cluster.append(seg)
        cluster_end = max(cluster_end, seg.bottom) if len(cluster) > 1 else seg.bottom
    for member in cluster:
        member.lanes = len(ends)


class _Canvas(QWidget):
    """Base of the painted modes: hit testing, tooltips, clicks back to the view."""

    def __init__(self, view: CalendarView) -> None:
        super().__init__()
        self.view = view
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    # Subclasses answer these two.
    def change_at(self, pos: QPointF) -> int | None:
        return None

    def tooltip_at(self, pos: QPointF) -> str:
        change_id = self.change_at(pos)
        if change_id is not None and self.view.data is not None:
            change = self.view.change(change_id)
            if change is not None:
                return change_tooltip(change, self.view.tz)
        return ""

    def event(self, event: QEvent) -> bool:  # noqa: D401 - Qt name
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
        self.view.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() == Qt.MouseButton.LeftButton:
            change_id = self.change_at(event.position())
            if change_id is not None:
                self.view.select(change_id)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        change_id = self.change_at(event.position())
        if change_id is not None:
            self.view.select(change_id)
            self.view.change_activated.emit(change_id)

    def base_colour(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Base)

    def text_colour(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Text)

    def dim_colour(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.PlaceholderText)

    def grid_colour(self) -> QColor:
        colour = QColor(self.text_colour())
        colour.setAlpha(40 if is_dark(self.palette()) else 34)
        return colour

    def paint_line(
        self, painter: QPainter, rect: QRectF, change: CalendarChange, text: str, badge: str
    ) -> None:
        """A one-line change block: risk fill, text, state badge and conflict mark."""
        fill, ink = risk_fill(change.risk)
        done = change.state in DONE_STATES
        painter.setOpacity(0.5 if done else 1.0)
        painter.fillRect(rect, fill)
        painter.setOpacity(1.0)
        painter.setPen(ink if not done else self.text_colour())
        inner = rect.adjusted(3, 0, -3, 0)
        if change.conflicts:
            side = min(rect.height() - 2, 13.0)
            _warning(painter, inner.right() - side, rect.top() + (rect.height() - side) / 2, side)
            inner.setRight(inner.right() - side - 2)
        if badge:
            inner.setRight(_badge(painter, inner, badge, ink.lightness() < 128) - 3)
        font = painter.font()
        font.setStrikeOut(change.state == "Canceled")
        painter.setFont(font)
        fm = painter.fontMetrics()
        painter.drawText(
            inner,
            int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
            fm.elidedText(text, Qt.TextElideMode.ElideRight, max(int(inner.width()), 0)),
        )
        font.setStrikeOut(False)
        painter.setFont(font)
        if change.id == self.view.selected_change():
            self.paint_selection(painter, rect)

    def paint_selection(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2.5)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect.adjusted(-1, -1, 1, 1))
        painter.restore()


# Month


class MonthCanvas(_Canvas):
    """A 6 x 7 grid of days; each shows as many changes as fit, then '+k more'."""

    ROWS = 6

    def __init__(self, view: CalendarView) -> None:
        super().__init__(view)
        self.first: dt.date = dt.date.today()
        self.month: int = self.first.month
        self.by_day: dict[dt.date, list[CalendarChange]] = {}
        self.blackouts: dict[dt.date, list[WindowOccurrence]] = {}
        self.maintenance: dict[dt.date, list[WindowOccurrence]] = {}
        self.setMinimumSize(420, 300)

    def lay_out(self, first: dt.date, month: int, data: CalendarData | None, zone: _Zone) -> None:
        """Sort the data into the grid's days (once per set_data or period)."""
        self.first, self.month = first, month
        last = first + dt.timedelta(days=7 * self.ROWS)
        self.by_day, self.blackouts, self.maintenance = {}, {}, {}
        if data is not None:
            for change in sorted(data.changes, key=lambda c: (c.start, c.end, c.number)):
                for day in zone.days(change.start, change.end):
                    if first <= day < last:
                        self.by_day.setdefault(day, []).append(change)
            for window in data.windows:
                target = self.blackouts if window.kind == "blackout" else self.maintenance
                for day in zone.days(window.start, window.end):
                    if first <= day < last:
                        target.setdefault(day, []).append(window)
        self.update()

    # Geometry

    def header_height(self) -> float:
        return self.fontMetrics().height() + 8.0

    def line_height(self) -> float:
        return self.fontMetrics().height() + 3.0

    def cell_rect(self, index: int) -> QRectF:
        top = self.header_height()
        w, h = self.width() / 7, (self.height() - top) / self.ROWS
        row, col = divmod(index, 7)
        return QRectF(col * w, top + row * h, w, h)

    def capacity(self) -> int:
        """How many lines fit under a cell's day number."""
        cell = self.cell_rect(0)
        return max(int((cell.height() - self.line_height() - 3) // self.line_height()), 0)

    def _lines(self, index: int) -> list[tuple[QRectF, CalendarChange | None, int]]:
        """The visible lines of a cell: (rect, change or None for '+k more', hidden count)."""
        day = self.first + dt.timedelta(days=index)
        items = self.by_day.get(day, [])
        if not items:
            return []
        cell, lh = self.cell_rect(index), self.line_height()
        room = self.capacity()
        shown = items if len(items) <= room else items[: max(room - 1, 0)]
        out: list[tuple[QRectF, CalendarChange | None, int]] = []
        y = cell.top() + lh + 1
        for change in shown:
            out.append((QRectF(cell.left() + 2, y, cell.width() - 4, lh - 1), change, 0))
            y += lh
        if len(shown) < len(items) and room > 0:
            hidden = len(items) - len(shown)
            out.append((QRectF(cell.left() + 2, y, cell.width() - 4, lh - 1), None, hidden))
        return out

    def index_at(self, pos: QPointF) -> int | None:
        top = self.header_height()
        if pos.y() < top or self.width() <= 0:
            return None
        col = int(pos.x() // (self.width() / 7))
        row = int((pos.y() - top) // ((self.height() - top) / self.ROWS))
        if 0 <= col < 7 and 0 <= row < self.ROWS:
            return row * 7 + col
        return None

    def change_at(self, pos: QPointF) -> int | None:
        index = self.index_at(pos)
        if index is None:
            return None
        for rect, change, _hidden in self._lines(index):
            if change is not None and rect.contains(pos):
                return change.id
        return None

    def block_rect(self, change_id: int) -> QRectF | None:
        for index in range(7 * self.ROWS):
            for rect, change, _hidden in self._lines(index):
                if change is not None and change.id == change_id:
                    return rect
        return None

    def tooltip_at(self, pos: QPointF) -> str:
        text = super().tooltip_at(pos)
        if text:
            return text
        index = self.index_at(pos)
        if index is None:
            return ""
        day = self.first + dt.timedelta(days=index)
        for rect, change, hidden in self._lines(index):
            if change is None and rect.contains(pos):
                return f"{hidden} more change{'s' if hidden != 1 else ''} — click to see the day"
        windows = self.blackouts.get(day, []) + self.maintenance.get(day, [])
        return "<br><br>".join(window_tooltip(w, self.view.tz) for w in windows)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        index = self.index_at(event.position())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            for rect, change, _hidden in self._lines(index):
                if change is None and rect.contains(event.position()):
                    self.view.set_anchor(self.first + dt.timedelta(days=index))
                    self.view.set_mode("day")
                    return
        super().mousePressEvent(event)

    # Painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        exposed = QRectF(event.rect())
        painter.fillRect(exposed, self.base_colour())
        self._paint_header(painter)
        today = self.view.today()
        for index in range(7 * self.ROWS):
            cell = self.cell_rect(index)
            if cell.intersects(exposed):
                self._paint_cell(painter, index, cell, today)
        painter.setPen(self.grid_colour())
        top = self.header_height()
        for col in range(1, 7):
            x = round(col * self.width() / 7) + 0.5
            painter.drawLine(QPointF(x, top), QPointF(x, self.height()))
        for row in range(self.ROWS + 1):
            y = round(top + row * (self.height() - top) / self.ROWS) - 0.5
            painter.drawLine(QPointF(0, y), QPointF(self.width(), y))
        painter.end()

    def _paint_header(self, painter: QPainter) -> None:
        painter.setPen(self.dim_colour())
        h = self.header_height()
        names = [pycalendar.day_abbr[i] for i in range(7)]
        for col, name in enumerate(names):
            rect = QRectF(col * self.width() / 7, 0, self.width() / 7, h)
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), name)

    def _paint_cell(self, painter: QPainter, index: int, cell: QRectF, today: dt.date) -> None:
        day = self.first + dt.timedelta(days=index)
        outside = day.month != self.month
        if day.weekday() >= 5:
            painter.fillRect(cell, self.palette().color(QPalette.ColorRole.AlternateBase))
        if day == today:
            colour = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            colour.setAlpha(38)
            painter.fillRect(cell, colour)
        for window in self.blackouts.get(day, []):
            _hatch(painter, cell, BLACKOUT, strong=window.service is None and window.ci is None)
        maintenance = self.maintenance.get(day, [])
        if maintenance:
            band = QRectF(cell.left(), cell.bottom() - 5, cell.width(), 4)
            _shade(
                painter,
                QRectF(cell.left(), cell.top(), cell.width(), self.line_height()),
                MAINTENANCE,
                strong=False,
            )
            painter.fillRect(
                band, QColor(MAINTENANCE.red(), MAINTENANCE.green(), MAINTENANCE.blue(), 150)
            )
        lh = self.line_height()
        number = QRectF(cell.left() + 4, cell.top() + 1, cell.width() - 8, lh)
        font = painter.font()
        if day == today:
            side = lh - 2
            circle = QRectF(number.left() - 2, number.top() + 0.5, max(side, 22), side)
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(TODAY_LINE)
            painter.drawRoundedRect(circle, side / 2, side / 2)
            painter.restore()
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(circle, int(Qt.AlignmentFlag.AlignCenter), str(day.day))
            font.setBold(False)
            painter.setFont(font)
        else:
            painter.setPen(self.dim_colour() if outside else self.text_colour())
            label = (
                str(day.day) if day.day != 1 else f"{day.day} {pycalendar.month_abbr[day.month]}"
            )
            painter.drawText(
                number, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), label
            )
        names = [w.name for w in self.blackouts.get(day, [])]
        if names and cell.width() > 90:
            painter.setPen(QColor(DANGER_TEXT))
            painter.drawText(
                number.adjusted(30, 0, 0, 0),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                painter.fontMetrics().elidedText(
                    names[0], Qt.TextElideMode.ElideRight, int(number.width() - 30)
                ),
            )
        wide = cell.width() >= 150
        for rect, change, hidden in self._lines(index):
            if change is None:
                painter.setPen(self.text_colour())
                painter.drawText(
                    rect.adjusted(4, 0, 0, 0),
                    int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                    f"+{hidden} more",
                )
                continue
            start = (
                self.view.tz.hhmm(change.start) if self.view.tz.day(change.start) == day else "…"
            )
            text = f"{start} {change.number} {change.short_description}"
            self.paint_line(
                painter, rect, change, text, _SHORT_STATE.get(change.state, "") if wide else ""
            )


_SHORT_STATE = {
    "New": "New",
    "Assess": "Assess",
    "Authorize": "Auth",
    "Scheduled": "Sched",
    "Implement": "Impl",
    "Review": "Review",
    "Closed": "Closed",
    "Canceled": "Cancel",
}


# Week and day


class TimelineCanvas(_Canvas):
    """Hour rows and one column per day; changes as blocks, overlaps side by side."""

    def __init__(self, view: CalendarView) -> None:
        super().__init__(view)
        self.days: list[dt.date] = []
        self.columns: list[list[_Segment]] = []
        self.windows: list[list[tuple[float, float, WindowOccurrence]]] = []
        self.midnights: list[dt.datetime] = []
        self.zone = _Zone(None)
        self._press: tuple[QPointF, CalendarChange] | None = None
        self.drag: tuple[CalendarChange, dt.datetime, dt.datetime] | None = None
        self.setMinimumHeight(24 * HOUR_HEIGHT + 1)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(800, 24 * HOUR_HEIGHT + 1)

    def lay_out(self, days: list[dt.date], data: CalendarData | None, zone: _Zone) -> None:
        self.days = days
        self.zone = zone
        self.midnights = [zone.midnight(d) for d in days] + [
            zone.midnight(days[-1] + dt.timedelta(days=1))
        ]
        self.columns = [[] for _ in days]
        self.windows = [[] for _ in days]
        if data is not None:
            for change in data.changes:
                for col, top, bottom in self._clip(change.start, change.end):
                    self.columns[col].append(_Segment(change, col, top, bottom))
            for window in data.windows:
                for col, top, bottom in self._clip(window.start, window.end):
                    self.windows[col].append((top, bottom, window))
        for segments in self.columns:
            segments.sort(key=lambda s: (s.top, -s.bottom, s.change.number))
            _lanes(segments)
        self.update()

    def _clip(self, start: dt.datetime, end: dt.datetime) -> list[tuple[int, float, float]]:
        out = []
        if not self.days or end <= self.midnights[0] or start >= self.midnights[-1]:
            return out
        first = max(bisect.bisect_right(self.midnights, start) - 1, 0)
        for col in range(first, len(self.days)):
            day_start, day_end = self.midnights[col], self.midnights[col + 1]
            if day_start >= end:
                break
            a, b = max(start, day_start), min(end, day_end)
            if b > a or (start == end and day_start <= start < day_end):
                top = self.zone.clock_minutes(a, day_start)
                bottom = self.zone.clock_minutes(b, day_start)
                # The hour repeated when clocks go back maps twice onto one hour row: keep
                # a block at least as long as its time on the wall clock says.
                if bottom < top:
                    bottom = top + (b - a).total_seconds() / 60
                out.append((col, min(top, 24 * 60.0), min(bottom, 24 * 60.0)))
        return out

    # Geometry

    def column_width(self) -> float:
        return (self.width() - GUTTER) / max(len(self.days), 1)

    def minute_y(self, minutes: float) -> float:
        return minutes * HOUR_HEIGHT / 60

    def segment_rect(self, seg: _Segment) -> QRectF:
        w = self.column_width()
        lane_w = (w - 6) / seg.lanes
        x = GUTTER + seg.column * w + 2 + seg.lane * lane_w
        top = self.minute_y(seg.top)
        height = max(self.minute_y(seg.bottom) - top, self.fontMetrics().height() + 2)
        return QRectF(x, top + 1, max(lane_w - 2, 3), height - 2)

    def block_rect(self, change_id: int) -> QRectF | None:
        for segments in self.columns:
            for seg in segments:
                if seg.change.id == change_id:
                    return self.segment_rect(seg)
        return None

    def segment_at(self, pos: QPointF) -> _Segment | None:
        if pos.x() < GUTTER:
            return None
        col = int((pos.x() - GUTTER) // self.column_width())
        if not 0 <= col < len(self.columns):
            return None
        for seg in reversed(self.columns[col]):
            if self.segment_rect(seg).contains(pos):
                return seg
        return None

    def change_at(self, pos: QPointF) -> int | None:
        seg = self.segment_at(pos)
        return seg.change.id if seg is not None else None

    def tooltip_at(self, pos: QPointF) -> str:
        text = super().tooltip_at(pos)
        if text or pos.x() < GUTTER:
            return text
        col = int((pos.x() - GUTTER) // self.column_width())
        if not 0 <= col < len(self.windows):
            return ""
        minute = pos.y() * 60 / HOUR_HEIGHT
        hits = [w for top, bottom, w in self.windows[col] if top <= minute < bottom]
        return "<br><br>".join(window_tooltip(w, self.view.tz) for w in hits)

    # Dragging

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        super().mousePressEvent(event)
        seg = self.segment_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and seg is not None:
            if self._movable(seg.change):
                self._press = (event.position(), seg.change)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        if self._press is None:
            seg = self.segment_at(event.position())
            movable = seg is not None and self._movable(seg.change)
            self.setCursor(Qt.CursorShape.OpenHandCursor if movable else Qt.CursorShape.ArrowCursor)
            return
        origin, change = self._press
        delta = event.position() - origin
        if self.drag is None and abs(delta.x()) + abs(delta.y()) < DRAG_DISTANCE:
            return
        self.setCursor(Qt.CursorShape.ClosedHandCursor)
        self.drag = (change, *self.moved(change, delta))
        self.update()

    def _movable(self, change: CalendarChange) -> bool:
        """A drag reschedules: only changes still movable, and only for a role that may
        edit changes (the database refuses it anyway)."""
        from app.views.permissions import may

        return change.state in MOVABLE_STATES and may(self, "edit_change")

    def moved(self, change: CalendarChange, delta: QPointF) -> tuple[dt.datetime, dt.datetime]:
        """The change's window after a drag by ``delta`` pixels, in 15-minute steps."""
        steps = round(delta.y() * 60 / HOUR_HEIGHT / SNAP_MINUTES)
        days = round(delta.x() / self.column_width()) if len(self.days) > 1 else 0
        start = self.zone.shifted(
            change.start, dt.timedelta(days=days, minutes=steps * SNAP_MINUTES)
        )
        return start, start + (change.end - change.start)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        drag, self.drag, self._press = self.drag, None, None
        self.setCursor(Qt.CursorShape.ArrowCursor)
        if drag is not None:
            change, start, end = drag
            self.update()  # the block goes back until the page reloads with the new time
            if start != change.start:
                self.view.change_moved.emit(change.id, start, end)
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt name
        if event.key() == Qt.Key.Key_Escape and self.drag is not None:
            self.drag, self._press = None, None
            self.update()
            return
        super().keyPressEvent(event)

    # Painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        exposed = QRectF(event.rect())
        painter.fillRect(exposed, self.base_colour())
        w = self.column_width()
        today = self.view.today()
        for col, day in enumerate(self.days):
            rect = QRectF(GUTTER + col * w, 0, w, self.height())
            if day.weekday() >= 5:
                painter.fillRect(rect, self.palette().color(QPalette.ColorRole.AlternateBase))
            if day == today:
                colour = QColor(self.palette().color(QPalette.ColorRole.Highlight))
                colour.setAlpha(22)
                painter.fillRect(rect, colour)
            for top, bottom, window in self.windows[col]:
                everything = window.service is None and window.ci is None
                band = QRectF(
                    rect.left(),
                    self.minute_y(top),
                    rect.width() if everything else 8,
                    self.minute_y(bottom) - self.minute_y(top),
                )
                if band.intersects(exposed):
                    paint = _hatch if window.kind == "blackout" else _shade
                    paint(painter, band, BLACKOUT if window.kind == "blackout" else MAINTENANCE)
        self._paint_hours(painter, exposed)
        fm = self.fontMetrics()
        for segments in self.columns:
            for seg in segments:
                rect = self.segment_rect(seg)
                if rect.intersects(exposed):
                    self._paint_block(painter, rect, seg.change, fm)
        self._paint_now(painter)
        if self.drag is not None:
            self._paint_drag(painter, fm)
        painter.end()

    def _paint_hours(self, painter: QPainter, exposed: QRectF) -> None:
        painter.setPen(self.grid_colour())
        first = max(int(exposed.top() // HOUR_HEIGHT), 0)
        last = min(int(exposed.bottom() // HOUR_HEIGHT) + 1, 24)
        for hour in range(first, last + 1):
            y = hour * HOUR_HEIGHT + 0.5
            painter.drawLine(QPointF(GUTTER - 4, y), QPointF(self.width(), y))
        half = QColor(self.grid_colour())
        half.setAlpha(half.alpha() // 2)
        painter.setPen(QPen(half, 1, Qt.PenStyle.DotLine))
        for hour in range(first, last):
            y = hour * HOUR_HEIGHT + HOUR_HEIGHT / 2 + 0.5
            painter.drawLine(QPointF(GUTTER, y), QPointF(self.width(), y))
        painter.setPen(self.grid_colour())
        w = self.column_width()
        for col in range(len(self.days) + 1):
            x = round(GUTTER + col * w) + 0.5
            painter.drawLine(QPointF(x, exposed.top()), QPointF(x, exposed.bottom()))
        painter.setPen(self.dim_colour())
        for hour in range(max(first, 1), min(last + 1, 24)):
            painter.drawText(
                QRectF(0, hour * HOUR_HEIGHT - 8, GUTTER - 8, 16),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                f"{hour:02d}:00",
            )

    def _paint_block(
        self, painter: QPainter, rect: QRectF, change: CalendarChange, fm: QFontMetrics
    ) -> None:
        fill, ink = risk_fill(change.risk)
        done = change.state in DONE_STATES
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setOpacity(0.5 if done else 1.0)
        painter.setPen(QPen(fill.darker(135), 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 3, 3)
        painter.setOpacity(1.0)
        painter.restore()
        painter.save()
        painter.setClipRect(rect)
        painter.setPen(ink if not done else self.text_colour())
        inner = rect.adjusted(4, 1, -3, -1)
        line = QRectF(inner.left(), inner.top(), inner.width(), fm.height())
        if change.conflicts:
            side = min(fm.height() - 1, 14)
            _warning(painter, line.right() - side, line.top(), side)
            line.setRight(line.right() - side - 3)
        line.setRight(_badge(painter, line, change.state, ink.lightness() < 128) - 3)
        bold = QFont(painter.font())
        bold.setBold(True)
        bold.setStrikeOut(change.state == "Canceled")
        painter.setFont(bold)
        painter.drawText(
            line,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            painter.fontMetrics().elidedText(
                change.number, Qt.TextElideMode.ElideRight, max(int(line.width()), 0)
            ),
        )
        painter.setFont(self.font())
        rest = inner.adjusted(0, fm.height(), 0, 0)
        if rest.height() >= fm.height():
            text = (
                f"{self.view.tz.hhmm(change.start)}–{self.view.tz.hhmm(change.end)} "
                f"{change.short_description}"
            )
            # Broken between words; a word too long for the block is elided, never split.
            lines = wrap_words(fm, text, rest.width(), int(rest.height() // fm.height()))
            for k, line_text in enumerate(lines):
                painter.drawText(
                    QRectF(rest.left(), rest.top() + k * fm.height(), rest.width(), fm.height()),
                    int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                    line_text,
                )
        painter.restore()
        if change.id == self.view.selected_change():
            self.paint_selection(painter, rect)

    def _paint_now(self, painter: QPainter) -> None:
        now = self.view.now()
        if not self.days or not self.midnights[0] <= now < self.midnights[-1]:
            return
        col = bisect.bisect_right(self.midnights, now) - 1
        y = self.minute_y(self.zone.clock_minutes(now, self.midnights[col]))
        w = self.column_width()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(TODAY_LINE, 2))
        painter.drawLine(QPointF(GUTTER + col * w, y), QPointF(GUTTER + (col + 1) * w, y))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(TODAY_LINE)
        painter.drawEllipse(QPointF(GUTTER + col * w, y), 4, 4)
        painter.restore()

    def _paint_drag(self, painter: QPainter, fm: QFontMetrics) -> None:
        change, start, end = self.drag  # type: ignore[misc]
        w = self.column_width()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill, ink = risk_fill(change.risk)
        for col, top, bottom in self._clip(start, end):
            rect = QRectF(
                GUTTER + col * w + 2,
                self.minute_y(top) + 1,
                w - 6,
                max(self.minute_y(bottom) - self.minute_y(top) - 2, fm.height()),
            )
            ghost = QColor(fill)
            ghost.setAlpha(190)
            painter.setBrush(ghost)
            painter.setPen(
                QPen(self.palette().color(QPalette.ColorRole.Highlight), 2, Qt.PenStyle.DashLine)
            )
            painter.drawRoundedRect(rect, 3, 3)
            painter.setPen(ink)
            painter.drawText(
                rect.adjusted(4, 1, -4, -1),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
                f"{change.number}\n{self.view.tz.span(start, end)}",
            )
        painter.restore()


class DayHeader(QWidget):
    """The day names above the timeline, aligned with its columns."""

    def __init__(self, timeline: TimelineCanvas) -> None:
        super().__init__()
        self.timeline = timeline
        self.setFixedHeight(self.fontMetrics().height() * 2 + 10)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        tl = self.timeline
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        w = tl.column_width()
        today = tl.view.today()
        fm = self.fontMetrics()
        for col, day in enumerate(tl.days):
            rect = QRectF(GUTTER + col * w, 0, w, self.height())
            blackout = (
                [x for _t, _b, x in tl.windows[col] if x.kind == "blackout"]
                if col < len(tl.windows)
                else []
            )
            if blackout:
                _hatch(painter, rect, BLACKOUT, strong=False)
            if day == today:
                painter.setPen(TODAY_LINE)
            else:
                painter.setPen(tl.text_colour())
            font = QFont(self.font())
            font.setBold(day == today)
            painter.setFont(font)
            label = (
                f"{pycalendar.day_abbr[day.weekday()]} {day.day} {pycalendar.month_abbr[day.month]}"
            )
            painter.drawText(
                QRectF(rect.left(), 3, w, fm.height() + 2), int(Qt.AlignmentFlag.AlignCenter), label
            )
            count = len({s.change.id for s in tl.columns[col]}) if col < len(tl.columns) else 0
            painter.setFont(self.font())
            painter.setPen(tl.dim_colour() if not blackout else QColor(DANGER_TEXT))
            note = f"{count} change{'s' if count != 1 else ''}" if count else ""
            if blackout:
                note = (note + " · " if note else "") + blackout[0].name
            painter.drawText(
                QRectF(rect.left() + 2, fm.height() + 5, w - 4, fm.height() + 2),
                int(Qt.AlignmentFlag.AlignCenter),
                fm.elidedText(note, Qt.TextElideMode.ElideRight, int(w - 4)),
            )
        painter.setPen(tl.grid_colour())
        painter.drawLine(0, self.height() - 1, self.width(), self.height() - 1)
        for col in range(len(tl.days) + 1):
            x = round(GUTTER + col * w) + 0.5
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.end()


# Agenda


@dataclass(frozen=True)
class _AgendaRow:
    top: float
    height: float
    day: dt.date
    change: CalendarChange | None = None
    window: WindowOccurrence | None = None


class AgendaCanvas(_Canvas):
    """The period's days that have changes or windows, each followed by its items."""

    def __init__(self, view: CalendarView) -> None:
        super().__init__(view)
        self.rows: list[_AgendaRow] = []
        self._tops: list[float] = []

    def lay_out(self, days: list[dt.date], data: CalendarData | None, zone: _Zone) -> None:
        fm = self.fontMetrics()
        head, item = fm.height() + 14.0, fm.height() + 10.0
        by_day: dict[dt.date, list[CalendarChange]] = {}
        windows: dict[dt.date, list[WindowOccurrence]] = {}
        shown = set(days)
        if data is not None:
            for change in sorted(data.changes, key=lambda c: (c.start, c.end, c.number)):
                for day in zone.days(change.start, change.end):
                    if day in shown:
                        by_day.setdefault(day, []).append(change)
            for window in data.windows:
                for day in zone.days(window.start, window.end):
                    if day in shown:
                        windows.setdefault(day, []).append(window)
        rows: list[_AgendaRow] = []
        y = 4.0
        for day in days:
            if day not in by_day and day not in windows:
                continue
            rows.append(_AgendaRow(y, head, day))
            y += head
            for window in windows.get(day, []):
                rows.append(_AgendaRow(y, item, day, window=window))
                y += item
            for change in by_day.get(day, []):
                rows.append(_AgendaRow(y, item, day, change=change))
                y += item
            y += 6
        self.rows, self._tops = rows, [r.top for r in rows]
        self.setMinimumHeight(int(y) + 4)
        self.update()

    def row_at(self, pos: QPointF) -> _AgendaRow | None:
        i = bisect.bisect_right(self._tops, pos.y()) - 1
        if 0 <= i < len(self.rows) and pos.y() < self.rows[i].top + self.rows[i].height:
            return self.rows[i]
        return None

    def change_at(self, pos: QPointF) -> int | None:
        row = self.row_at(pos)
        return row.change.id if row is not None and row.change is not None else None

    def block_rect(self, change_id: int) -> QRectF | None:
        for row in self.rows:
            if row.change is not None and row.change.id == change_id:
                return QRectF(0, row.top, self.width(), row.height)
        return None

    def tooltip_at(self, pos: QPointF) -> str:
        text = super().tooltip_at(pos)
        row = self.row_at(pos)
        if not text and row is not None and row.window is not None:
            return window_tooltip(row.window, self.view.tz)
        return text

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        exposed = QRectF(event.rect())
        painter.fillRect(exposed, self.base_colour())
        if not self.rows:
            painter.setPen(self.dim_colour())
            painter.drawText(
                QRectF(0, 20, self.width(), 40),
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                "No changes planned in this period — try the next period or clear the filters",
            )
            painter.end()
            return
        first = max(bisect.bisect_right(self._tops, exposed.top()) - 1, 0)
        today = self.view.today()
        for row in self.rows[first:]:
            if row.top > exposed.bottom():
                break
            rect = QRectF(0, row.top, self.width(), row.height)
            if row.change is None and row.window is None:
                self._paint_day(painter, rect, row.day, today)
            elif row.window is not None:
                self._paint_window(painter, rect, row.window, row.day)
            else:
                self._paint_change(painter, rect, row.change, row.day)  # type: ignore[arg-type]
        painter.end()

    def _paint_day(self, painter: QPainter, rect: QRectF, day: dt.date, today: dt.date) -> None:
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(TODAY_LINE if day == today else self.text_colour())
        label = f"{pycalendar.day_name[day.weekday()]} {day.day} {pycalendar.month_name[day.month]} {day.year}"
        if day == today:
            label += "  ·  Today"
        painter.drawText(
            rect.adjusted(10, 4, -10, 0),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            label,
        )
        painter.setFont(self.font())
        painter.setPen(self.grid_colour())
        painter.drawLine(
            QPointF(8, rect.bottom() - 1), QPointF(rect.right() - 8, rect.bottom() - 1)
        )

    def _time_text(self, start: dt.datetime, end: dt.datetime, day: dt.date) -> str:
        tz = self.view.tz
        a = tz.hhmm(start) if tz.day(start) == day else "…"
        b = tz.hhmm(end) if tz.day(end) == day else "…"
        return f"{a} – {b}"

    def _paint_window(
        self, painter: QPainter, rect: QRectF, window: WindowOccurrence, day: dt.date
    ) -> None:
        band = rect.adjusted(10, 2, -10, -2)
        if window.kind == "blackout":
            _hatch(painter, band, BLACKOUT)
            painter.setPen(QColor(DANGER_TEXT))
            kind = "Blackout"
        else:
            _shade(painter, band, MAINTENANCE)
            painter.setPen(self.text_colour())
            kind = "Maintenance"
        text = (
            f"{self._time_text(window.start, window.end, day)}    "
            f"{kind}: {window.name} — covers {window.scope}"
        )
        painter.drawText(
            band.adjusted(8, 0, -8, 0),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            painter.fontMetrics().elidedText(
                text, Qt.TextElideMode.ElideRight, int(band.width() - 16)
            ),
        )

    def _paint_change(
        self, painter: QPainter, rect: QRectF, change: CalendarChange, day: dt.date
    ) -> None:
        fm = painter.fontMetrics()
        x = 18.0
        painter.setPen(self.text_colour())
        time_w = fm.horizontalAdvance("00:00 – 00:00") + 14
        painter.drawText(
            QRectF(x, rect.top(), time_w, rect.height()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            self._time_text(change.start, change.end, day),
        )
        x += time_w
        chip_w = fm.horizontalAdvance("Very High") + 12
        chip = QRectF(x, rect.top() + 3, chip_w, rect.height() - 6)
        fill, ink = risk_fill(change.risk)
        painter.fillRect(chip, fill)
        painter.setPen(ink)
        painter.drawText(chip, int(Qt.AlignmentFlag.AlignCenter), change.risk)
        x += chip_w + 8
        state_w = fm.horizontalAdvance("Authorize") + 12
        state = QRectF(x, rect.top() + 3, state_w, rect.height() - 6)
        painter.setPen(self.grid_colour())
        painter.drawRect(state)
        painter.setPen(self.text_colour())
        painter.drawText(state, int(Qt.AlignmentFlag.AlignCenter), change.state)
        x += state_w + 8
        if change.conflicts:
            side = min(rect.height() - 8, 14.0)
            _warning(painter, x, rect.top() + (rect.height() - side) / 2, side)
        x += 20
        bold = QFont(self.font())
        bold.setBold(True)
        bold.setStrikeOut(change.state == "Canceled")
        painter.setFont(bold)
        painter.drawText(
            QRectF(x, rect.top(), 120, rect.height()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            change.number,
        )
        painter.setFont(self.font())
        x += QFontMetrics(bold).horizontalAdvance(change.number) + 12
        extra = " · ".join(v for v in (change.service, change.group) if v)
        text = change.short_description + (f"   —   {extra}" if extra else "")
        painter.drawText(
            QRectF(x, rect.top(), rect.width() - x - 10, rect.height()),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            fm.elidedText(text, Qt.TextElideMode.ElideRight, int(rect.width() - x - 10)),
        )
        if change.id == self.view.selected_change():
            self.paint_selection(painter, rect.adjusted(10, 1, -10, -1))


# The view


class CalendarView(QWidget):
    """The CAB calendar in one of four modes; the page loads each period's data."""

    period_changed = Signal(object, object)
    change_selected = Signal(int)
    change_activated = Signal(int)
    change_moved = Signal(int, object, object)

    def __init__(
        self,
        clock: Callable[[], dt.datetime] | None = None,
        zone: dt.tzinfo | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.tz = _Zone(zone)
        self.data: CalendarData | None = None
        self._by_id: dict[int, CalendarChange] = {}
        self._mode = "month"
        self._anchor = self.today()
        self._selected: int | None = None
        self._emitted: tuple[dt.datetime, dt.datetime] | None = None
        self._scrolled_for: tuple[dt.datetime, dt.datetime] | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._build()
        self._refresh()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        self.previous_button = self._button("‹", "Previous period (Page Up)", self.previous_period)
        self.today_button = self._button("Today", "Go to today (T)", self.go_today)
        self.next_button = self._button("›", "Next period (Page Down)", self.next_period)
        self.title = QLabel()
        self.title.setObjectName("calendarTitle")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.note = QLabel()
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        for widget in (self.previous_button, self.today_button, self.next_button):
            bar.addWidget(widget)
        bar.addSpacing(8)
        bar.addWidget(self.title)
        bar.addSpacing(12)
        bar.addWidget(self.note)
        bar.addStretch(1)
        bar.addWidget(_Legend())
        layout.addLayout(bar)

        self.stack = QStackedWidget()
        self.month = MonthCanvas(self)
        self.timeline = TimelineCanvas(self)
        self.header = DayHeader(self.timeline)
        self.timeline_scroll = QScrollArea()
        self.timeline_scroll.setWidget(self.timeline)
        self.timeline_scroll.setWidgetResizable(True)
        self.timeline_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.timeline_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.timeline_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        timeline_host = QWidget()
        host_layout = QVBoxLayout(timeline_host)
        host_layout.setContentsMargins(0, 0, 0, 0)
        host_layout.setSpacing(0)
        header_row = QHBoxLayout()
        header_row.setContentsMargins(
            0, 0, self.timeline_scroll.verticalScrollBar().sizeHint().width(), 0
        )
        header_row.addWidget(self.header)
        host_layout.addLayout(header_row)
        host_layout.addWidget(self.timeline_scroll)
        self.agenda = AgendaCanvas(self)
        self.agenda_scroll = QScrollArea()
        self.agenda_scroll.setWidget(self.agenda)
        self.agenda_scroll.setWidgetResizable(True)
        self.agenda_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.agenda_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.timeline_host = timeline_host
        for widget in (self.month, timeline_host, self.agenda_scroll):
            self.stack.addWidget(widget)
        layout.addWidget(self.stack, 1)

    def _button(self, text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    # Clock and zone

    def now(self) -> dt.datetime:
        return self.clock().astimezone(dt.UTC)

    def today(self) -> dt.date:
        return self.tz.day(self.now())

    # Mode and period

    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"Unknown calendar mode {mode!r} (one of {', '.join(MODES)})")
        if mode == self._mode:
            return
        self._mode = mode
        self._refresh()

    def anchor(self) -> dt.date:
        return self._anchor

    def set_anchor(self, day: dt.date | dt.datetime) -> None:
        """Show the period that contains ``day`` (a date, or an instant in any zone)."""
        if isinstance(day, dt.datetime):
            day = self.tz.day(day) if day.tzinfo is not None else day.date()
        if day == self._anchor:
            return
        self._anchor = day
        self._refresh()

    def days(self) -> list[dt.date]:
        """The user's days the current period shows."""
        a = self._anchor
        if self._mode == "month":
            first = _monday(a.replace(day=1))
            return [first + dt.timedelta(days=i) for i in range(7 * MonthCanvas.ROWS)]
        if self._mode == "week":
            first = _monday(a)
            return [first + dt.timedelta(days=i) for i in range(7)]
        if self._mode == "day":
            return [a]
        first = a.replace(day=1)
        count = pycalendar.monthrange(a.year, a.month)[1]
        return [first + dt.timedelta(days=i) for i in range(count)]

    def period(self) -> tuple[dt.datetime, dt.datetime]:
        """The UTC range to load: from the first shown day's midnight to the last's end."""
        days = self.days()
        return self.tz.midnight(days[0]), self.tz.midnight(days[-1] + dt.timedelta(days=1))

    def _step(self, direction: int) -> None:
        if self._mode in ("month", "agenda"):
            self.set_anchor(_add_months(self._anchor, direction))
        else:
            self.set_anchor(
                self._anchor + dt.timedelta(days=direction * (7 if self._mode == "week" else 1))
            )

    def next_period(self) -> None:
        self._step(1)

    def previous_period(self) -> None:
        self._step(-1)

    def go_today(self) -> None:
        self.set_anchor(self.today())

    def _refresh(self) -> None:
        """Lay the current data out for the mode and period; tell the page if the period moved."""
        self._lay_out()
        self._set_title()
        period = self.period()
        if period != self._emitted:
            self._emitted = period
            self.period_changed.emit(*period)

    def _lay_out(self) -> None:
        days = self.days()
        if self._mode == "month":
            self.month.lay_out(days[0], self._anchor.month, self.data, self.tz)
            self.stack.setCurrentWidget(self.month)
        elif self._mode in ("week", "day"):
            self.timeline.lay_out(days, self.data, self.tz)
            self.header.update()
            self.stack.setCurrentWidget(self.timeline_host)
            self._scroll_timeline()
        else:
            self.agenda.lay_out(days, self.data, self.tz)
            self.stack.setCurrentWidget(self.agenda_scroll)

    def _scroll_timeline(self) -> None:
        """Once per period: scroll to now (today), else the first change starting, else 07:00."""
        period = self.period()
        if self._scrolled_for == period and self.data is not None:
            return
        self._scrolled_for = period
        now = self.now()
        if period[0] <= now < period[1]:
            local = self.tz.local(now)
            minute = local.hour * 60.0 + local.minute - 120
        else:
            tops = [s.top for segs in self.timeline.columns for s in segs if s.top > 0]
            minute = min(tops) - 30 if tops else 7 * 60.0
        value = int(max(minute, 0) * HOUR_HEIGHT / 60)
        bar = self.timeline_scroll.verticalScrollBar()
        bar.setValue(value)
        QTimer.singleShot(0, bar, lambda: bar.setValue(value))  # once the range is known

    def _set_title(self) -> None:
        days = self.days()
        a = self._anchor
        if self._mode in ("month", "agenda"):
            text = f"{pycalendar.month_name[a.month]} {a.year}"
        elif self._mode == "week":
            first, last = days[0], days[-1]
            week = first.isocalendar().week
            left = f"{first.day} {pycalendar.month_abbr[first.month]}"
            if first.year != last.year:
                left += f" {first.year}"
            text = (
                f"{left} – {last.day} {pycalendar.month_abbr[last.month]} {last.year} · week {week}"
            )
        else:
            text = f"{pycalendar.day_name[a.weekday()]} {a.day} {pycalendar.month_name[a.month]} {a.year}"
        self.title.setText(text)
        self._set_note()

    def _set_note(self) -> None:
        if self.data is None:
            self.note.setText("")
            return
        start, end = self.period()
        shown = [c for c in self.data.changes if c.start < end and c.end > start]
        if not shown:
            self.note.setText("No changes planned in this period")
            return
        conflicting = sum(1 for c in shown if c.conflicts)
        text = f"{len(shown):,} change{'s' if len(shown) != 1 else ''}"
        if conflicting:
            text += f" · ⚠ {conflicting:,} with conflicts"
        self.note.setText(text)

    # Data and selection

    def set_data(self, data: CalendarData) -> None:
        """Show ``data`` (the page's load of :meth:`period`); the selection stays if it can."""
        self.data = data
        self._by_id = {c.id: c for c in data.changes}
        if self._selected is not None and self._selected not in self._by_id:
            self._selected = None
        self._lay_out()
        self._set_note()

    def change(self, change_id: int) -> CalendarChange | None:
        return self._by_id.get(change_id)

    def selected_change(self) -> int | None:
        return self._selected

    def select(self, change_id: int | None) -> None:
        """Select a change (None clears); emits ``change_selected`` when it changes."""
        if change_id == self._selected:
            return
        self._selected = change_id
        self.current_canvas().update()
        if change_id is not None:
            self._ensure_visible(change_id)
            self.change_selected.emit(change_id)

    def current_canvas(self) -> _Canvas:
        if self._mode == "month":
            return self.month
        if self._mode == "agenda":
            return self.agenda
        return self.timeline

    def block_rect(self, change_id: int) -> QRectF | None:
        """Where the change is drawn in the current mode's canvas (its first block)."""
        return self.current_canvas().block_rect(change_id)  # type: ignore[attr-defined]

    def _ensure_visible(self, change_id: int) -> None:
        rect = self.block_rect(change_id)
        if rect is None:
            return
        scroll = {
            "agenda": self.agenda_scroll,
            "week": self.timeline_scroll,
            "day": self.timeline_scroll,
        }
        area = scroll.get(self._mode)
        if area is not None:
            centre = rect.center().toPoint()
            area.ensureVisible(centre.x(), centre.y(), 10, int(rect.height() / 2) + 20)

    def visible_changes(self) -> list[CalendarChange]:
        """The changes in the current period, in time order (the arrow keys' order)."""
        if self.data is None:
            return []
        start, end = self.period()
        shown = [c for c in self.data.changes if c.start < end and c.end > start]
        return sorted(shown, key=lambda c: (c.start, c.end, c.number))

    def _move_selection(self, step: int) -> None:
        changes = self.visible_changes()
        if not changes:
            return
        ids = [c.id for c in changes]
        if self._selected in ids:
            index = min(max(ids.index(self._selected) + step, 0), len(ids) - 1)
        else:
            index = 0 if step > 0 else len(ids) - 1
        self.select(ids[index])

    # Keyboard

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt name
        key, mods = event.key(), event.modifiers()
        alt = bool(mods & Qt.KeyboardModifier.AltModifier)
        if key == Qt.Key.Key_PageUp or (alt and key == Qt.Key.Key_Left):
            self.previous_period()
        elif key == Qt.Key.Key_PageDown or (alt and key == Qt.Key.Key_Right):
            self.next_period()
        elif key == Qt.Key.Key_T and not mods & ~Qt.KeyboardModifier.KeypadModifier:
            self.go_today()
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self._move_selection(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self._move_selection(-1)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._selected is not None:
            self.change_activated.emit(self._selected)
        elif key == Qt.Key.Key_Escape and self.timeline.drag is not None:
            self.timeline.keyPressEvent(event)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def tooltip_at(self, pos: QPoint | QPointF) -> str:
        """The tooltip the current canvas shows at ``pos`` (its own coordinates)."""
        return self.current_canvas().tooltip_at(QPointF(pos))


class _Legend(QWidget):
    """Risk colours, blackout and maintenance, and the conflict mark, in one line."""

    ITEMS: Sequence[tuple[str, str]] = (
        ("Low", "risk"),
        ("Moderate", "risk"),
        ("High", "risk"),
        ("Very High", "risk"),
        ("Blackout", "blackout"),
        ("Maintenance", "maintenance"),
        ("Conflict", "conflict"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setToolTip("Blocks are coloured by risk; ⚠ marks a change with conflicts")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        fm = self.fontMetrics()
        width = sum(fm.horizontalAdvance(text) + 26 for text, _ in self.ITEMS)
        return QSize(width, fm.height() + 6)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        fm = self.fontMetrics()
        x, h = 0.0, float(self.height())
        side = fm.height() - 3.0
        for text, kind in self.ITEMS:
            box = QRectF(x, (h - side) / 2, side, side)
            if kind == "risk":
                painter.fillRect(box, risk_fill(text)[0])
            elif kind == "blackout":
                _hatch(painter, box, BLACKOUT)
                painter.setPen(BLACKOUT)
                painter.drawRect(box)
            elif kind == "maintenance":
                _shade(painter, box, MAINTENANCE)
                painter.setPen(MAINTENANCE)
                painter.drawRect(box)
            else:
                _warning(painter, x, (h - side) / 2, side)
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            painter.drawText(
                QRectF(x + side + 4, 0, fm.horizontalAdvance(text) + 4, h),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                text,
            )
            x += side + fm.horizontalAdvance(text) + 16
        painter.end()


__all__ = ["MODES", "RISK_FILL", "CalendarView", "change_tooltip", "risk_fill"]
