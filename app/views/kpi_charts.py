"""The KPI dashboard's charts (pyqtgraph), each on a card with its headline figure.

Every chart answers two questions about a point on screen: what is there (the hover
text, with exact values) and which incidents are behind it (the drill-down key given to
:func:`app.services.kpi_trends.drill_ids`). Colours differ in lightness as well as hue,
and series also differ by line style and marker, so a grey-scale print still reads.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QToolTip, QVBoxLayout

from app.services.formatting import format_count
from app.services.io.excel import atomic_output
from app.services.kpi import AGING_BUCKETS, Rate
from app.services.kpi_trends import PRIORITIES, Buckets, Dashboard
from app.views.theme import is_dark
from app.views.widgets import scaled_font

#: Priority series: colour, pen style, marker (dark to light so grey-scale keeps them apart).
PRIORITY_STYLE: dict[int, tuple[str, Qt.PenStyle, str]] = {
    1: ("#b71c1c", Qt.PenStyle.SolidLine, "o"),
    2: ("#e65100", Qt.PenStyle.DashLine, "s"),
    3: ("#c79100", Qt.PenStyle.DotLine, "t"),
    4: ("#1565c0", Qt.PenStyle.DashDotLine, "d"),
    5: ("#9e9e9e", Qt.PenStyle.SolidLine, "+"),
}
#: Aging bands, light (young) to dark (old).
AGING_COLOURS = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")
MET = "#2e7d32"
MISSED_FILL = "#ffcdd2"
MISSED_LINE = "#b71c1c"
ARRIVALS = "#90caf9"
RESOLUTIONS = "#0d47a1"
TREND = "#1565c0"
TARGET = "#6d4c41"
#: The target colour on a dark palette.
TARGET_DARK = "#d7b9a8"
#: Bars shown by the per-group and per-service charts (the worst first).
TOP_ROWS = 12
#: The plots' height, so the grid's rows line up.
CHART_HEIGHT = 280
#: How close (pixels) the pointer must be to a point to hover or click it.
PICK_RADIUS = 10


@dataclass(frozen=True)
class Hit:
    """What is under the pointer: hover text, and the drill-down key and its words."""

    tooltip: str
    key: object = None
    label: str = ""


@dataclass(frozen=True)
class Names:
    """Display names of the ids a chart shows."""

    groups: dict[int, str]
    services: dict[int, str]

    def group(self, gid: int) -> str:
        return "(no group)" if gid < 0 else self.groups.get(gid, f"group {gid}")

    def service(self, sid: int) -> str:
        return self.services.get(sid, f"service {sid}")


def hours_text(hours: float | None) -> str:
    if hours is None:
        return "—"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def percent_text(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} %"


def rate_text(rate: Rate) -> str:
    if rate.percent is None:
        return "no data"
    return (
        f"{rate.percent:.1f} % ({format_count(rate.numerator)} of {format_count(rate.denominator)})"
    )


class _Axis(pg.AxisItem):
    """A bottom axis labelled with bucket names, thinned to what fits."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.names: list[str] = []
        # The first bucket's label may reach past the plot's left edge: draw it anyway.
        self.setStyle(hideOverlappingLabels=False)

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        if not self.names:
            return super().tickValues(minVal, maxVal, size)
        n = len(self.names)
        width = max(len(s) for s in self.names) * 7 + 12
        step = max(1, math.ceil(n * width / max(size, 1)))
        return [(step, list(range(0, n, step)))]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        if not self.names:
            return super().tickStrings(values, scale, spacing)
        out = []
        for v in values:
            i = round(v)
            out.append(self.names[i] if 0 <= i < len(self.names) and abs(v - i) < 1e-6 else "")
        return out


class _NameAxis(pg.AxisItem):
    """A left axis naming horizontal bars (row ``i`` at y = i)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.names: list[str] = []

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        if not self.names:
            return []
        n = len(self.names)
        step = max(1, math.ceil(n * 16 / max(size, 1)))
        return [(step, list(range(0, n, step)))]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        out = []
        for v in values:
            i = round(v)
            name = self.names[i] if 0 <= i < len(self.names) else ""
            out.append(name if len(name) <= 22 else name[:21] + "…")
        return out


#: Ticks of the MTTR chart's logarithmic hours axis, with their labels.
HOUR_TICKS = {
    0.25: "15 min", 0.5: "30 min", 1: "1 h", 2: "2 h", 4: "4 h", 8: "8 h", 24: "1 d",
    48: "2 d", 96: "4 d", 168: "1 wk", 336: "2 wk", 720: "30 d", 2160: "90 d",
}  # fmt: skip


class _LogHoursAxis(pg.AxisItem):
    """A left axis for log10(hours), labelled in minutes, hours, days and weeks."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        ticks = [math.log10(h) for h in HOUR_TICKS if minVal <= math.log10(h) <= maxVal]
        if len(ticks) > max(2, size // 28):
            ticks = ticks[::2]
        return [(1.0, ticks)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        labels = {round(math.log10(h), 6): text for h, text in HOUR_TICKS.items()}
        return [labels.get(round(v, 6), hours_text(10**v)) for v in values]


class ChartCard(QFrame):
    """A card: title, headline figure, a plot, a note line, and an export button."""

    #: (chart key, drill-down key, words for the drill-down)
    drilled = Signal(str, object, str)
    key = ""
    title = ""
    bottom_axis: type[pg.AxisItem] | None = _Axis
    left_axis: type[pg.AxisItem] | None = None

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(f"chart_{self.key}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.title_label = QLabel(self.title)
        self.title_label.setFont(scaled_font(self.title_label, 1.1, bold=True))
        self.figure = QLabel()
        self.figure.setObjectName("headline")
        self.figure.setFont(scaled_font(self.figure, 1.25, bold=True))
        self.figure.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.sub = QLabel()
        self.sub.setObjectName("versus")
        self.sub.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.sub.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.export_button = QToolButton()
        self.export_button.setText("PNG")
        self.export_button.setToolTip(f"Save “{self.title}” as a PNG image")
        self.export_button.setAutoRaise(True)
        head = QHBoxLayout()
        head.addWidget(self.title_label, 1)
        head.addWidget(self.figure)
        head.addWidget(self.export_button)
        axes = {}
        if self.bottom_axis is not None:
            axes["bottom"] = self.bottom_axis(orientation="bottom")
        if self.left_axis is not None:
            axes["left"] = self.left_axis(orientation="left")
        self.plot = pg.PlotWidget(axisItems=axes)
        self.plot.setMinimumHeight(CHART_HEIGHT)
        self.plot.setMaximumHeight(CHART_HEIGHT + 60)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.plot.setMouseTracking(True)
        self.vb = self.plot.getPlotItem().getViewBox()
        self.plot.scene().sigMouseMoved.connect(self._hover)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.empty = QLabel("No data for this period and filter")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty.setMinimumHeight(220)
        self.empty.hide()
        self.note = QLabel()
        self.note.setObjectName("note")
        self.note.setWordWrap(True)
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.sub)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.note)
        self.apply_palette()

    def add_legend(self, offset: tuple[int, int]) -> pg.LegendItem:
        """A legend on a translucent panel of the card's colour, so lines under it still show."""
        base = QColor(self.palette().color(QPalette.ColorRole.Base))
        base.setAlpha(215)
        return self.plot.getPlotItem().addLegend(
            offset=offset, labelTextColor=self.ink, brush=QBrush(base), pen=pg.mkPen(self.grid)
        )

    # Looks

    def apply_palette(self) -> None:
        palette = self.palette()
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        ink = palette.color(QPalette.ColorRole.Text)
        self.ink = ink
        self.grid = QColor(ink)
        self.grid.setAlpha(40)
        item = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(self.grid))
            axis.setTextPen(pg.mkPen(ink))
            # Major ticks only: minor grid lines add clutter and most of the paint time.
            axis.setStyle(maxTickLevel=0)
        item.showGrid(x=False, y=True, alpha=0.15)

    def dark(self) -> bool:
        return is_dark(self.palette())

    def set_headline(self, value: str, versus: str, good: bool | None = None) -> None:
        self.figure.setText(value)
        colour = {True: "#2e7d32", False: "#c62828"}.get(good)  # type: ignore[arg-type]
        self.figure.setStyleSheet(f"color: {colour};" if colour else "")
        self.sub.setText(versus)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_empty(self, empty: bool, message: str = "No data for this period and filter") -> None:
        self.empty.setText(message)
        self.empty.setVisible(empty)
        self.plot.setVisible(not empty)

    def is_empty(self) -> bool:
        return self.empty.isVisibleTo(self)

    # Data

    def show_dashboard(self, dash: Dashboard, names: Names, targets: dict) -> None:
        raise NotImplementedError

    def hit(self, scene_pos: QPointF) -> Hit | None:
        """What lies under ``scene_pos`` (scene coordinates of the plot)."""
        raise NotImplementedError

    def scene_point(self, x: float, y: float) -> QPointF:
        """The scene position of data point (x, y), for tests and hit-testing."""
        return self.vb.mapViewToScene(QPointF(x, y))

    def widget_point(self, x: float, y: float) -> QPointF:
        """The plot widget's position of data point (x, y)."""
        return self.plot.mapFromScene(self.scene_point(x, y))

    def _hover(self, scene_pos: QPointF) -> None:
        hit = self.hit(scene_pos) if not self.is_empty() else None
        if hit is None:
            QToolTip.hideText()
            self.plot.unsetCursor()
            return
        self.plot.setCursor(
            Qt.CursorShape.PointingHandCursor if hit.key is not None else Qt.CursorShape.ArrowCursor
        )
        global_pos = self.plot.mapToGlobal(self.plot.mapFromScene(scene_pos))
        QToolTip.showText(global_pos, hit.tooltip, self.plot)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.is_empty():
            return
        self.click_at(event.scenePos())

    def click_at(self, scene_pos: QPointF) -> bool:
        """Drill into what lies at ``scene_pos``; whether there was something."""
        hit = self.hit(scene_pos)
        if hit is None or hit.key is None:
            return False
        self.drilled.emit(self.key, hit.key, hit.label)
        return True

    # Export

    def render_png(self, path: str | Path, scale: float = 2.0) -> Path:
        """The card (title, figure and chart) as a PNG at ``scale`` times its size."""
        size = self.size()
        pixmap = QPixmap(round(size.width() * scale), round(size.height() * scale))
        pixmap.setDevicePixelRatio(scale)
        pixmap.fill(self.palette().color(QPalette.ColorRole.Base))
        self.export_button.hide()
        try:
            self.render(pixmap)
        finally:
            self.export_button.show()
        path = Path(path)
        with atomic_output(path) as tmp:
            if not pixmap.save(str(tmp), "PNG"):
                raise OSError(f"could not write {path}")
        return path


def _pen(colour: str, width: float = 2.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = pg.mkPen(QColor(colour), width=width)
    pen.setStyle(style)
    pen.setCosmetic(True)
    return pen


def _nearest(card: ChartCard, scene_pos: QPointF, points: Sequence[tuple[float, float, object]]):
    """The point (x, y, payload) nearest ``scene_pos`` within :data:`PICK_RADIUS` pixels."""
    best, best_d = None, PICK_RADIUS**2
    for x, y, payload in points:
        if x is None or y is None or (isinstance(y, float) and math.isnan(y)):
            continue
        p = card.scene_point(x, y)
        d = (p.x() - scene_pos.x()) ** 2 + (p.y() - scene_pos.y()) ** 2
        if d <= best_d:
            best, best_d = payload, d
    return best


def _target_colour(card: ChartCard) -> str:
    return TARGET_DARK if card.dark() else TARGET


def _log_hours(hours: float) -> float:
    """Where ``hours`` sits on the MTTR chart's log axis (a minute at least)."""
    return math.log10(max(hours, 1 / 60))


def _target_line(card: ChartCard, value: float | None, angle: int, label: str) -> pg.InfiniteLine:
    line = pg.InfiniteLine(
        pos=value if value is not None else 0,
        angle=angle,
        pen=_pen(_target_colour(card), 1.5, Qt.PenStyle.DashLine),
        label=label,
        labelOpts={
            "position": 0.95 if angle == 0 else 0.06,
            "color": _target_colour(card),
            "anchors": [(1, 1), (1, 1)],
        },
    )
    line.setVisible(value is not None)
    card.plot.addItem(line, ignoreBounds=True)
    return line


def _bucket_axis(card: ChartCard, buckets: Buckets) -> None:
    axis = card.plot.getPlotItem().getAxis("bottom")
    axis.names = buckets.labels()
    axis.picture = None
    axis.update()


def _versus(previous: str, target: str | None) -> str:
    parts = [f"previous {previous}"]
    if target:
        parts.append(f"target {target}")
    return " · ".join(parts)


def _good(value: float | None, target, higher_is_better: bool | None = None) -> bool | None:
    if value is None or target is None or getattr(target, "target", None) is None:
        return None
    better = target.higher_is_better if higher_is_better is None else higher_is_better
    return value >= target.target if better else value <= target.target


class MttrChart(ChartCard):
    """Mean time to resolve per month (or week, or day), one line per priority."""

    key = "mttr"
    title = "MTTR by priority (log scale)"
    left_axis = _LogHoursAxis

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.legend = self.add_legend((-8, 8))
        self.legend.setColumnCount(5)
        self.lines: dict[int, pg.PlotDataItem] = {}
        for p in PRIORITIES:
            colour, style, symbol = PRIORITY_STYLE[p]
            self.lines[p] = self.plot.plot(
                [],
                [],
                name=f"P{p}",
                pen=_pen(colour, 2.2 if p <= 2 else 1.8, style),
                symbol=symbol,
                symbolSize=7,
                symbolBrush=QColor(colour),
                symbolPen=_pen(colour, 1),
                connect="finite",
            )
        self.target = _target_line(self, None, 0, "")
        self.dash: Dashboard | None = None

    def show_dashboard(self, dash: Dashboard, names: Names, targets: dict) -> None:
        self.dash = dash
        cur, prev = dash.report.current, dash.report.previous
        target = targets.get("mttr")
        self.set_headline(
            hours_text(None if cur.mttr.mean is None else cur.mttr.mean / 3600),
            _versus(
                hours_text(None if prev.mttr.mean is None else prev.mttr.mean / 3600),
                hours_text(target.target) if target and target.target is not None else None,
            )
            + (
                f" · median {hours_text(cur.mttr.median / 3600)}"
                f" · p90 {hours_text(cur.mttr.p90 / 3600)}"
                if cur.mttr.median is not None
                else ""
            ),
            _good(None if cur.mttr.mean is None else cur.mttr.mean / 3600, target),
        )
        n = len(dash.buckets)
        xs = np.arange(n, dtype=float)
        _bucket_axis(self, dash.buckets)
        low, top = math.inf, -math.inf
        for p, line in self.lines.items():
            ys = np.array([np.nan if v is None else _log_hours(v) for v in dash.mttr_hours[p]])
            if not np.isfinite(ys).any():
                line.setData([], [])  # (all gaps: pyqtgraph cannot size a line of NaNs)
                continue
            line.setData(xs, ys)
            if np.isfinite(ys).any():
                top = max(top, float(np.nanmax(ys)))
                low = min(low, float(np.nanmin(ys)))
        empty = sum(sum(c) for c in dash.mttr_counts.values()) == 0
        self.set_empty(empty)
        self.plot.setXRange(-0.7, max(n - 0.3, 0.7), padding=0)
        if math.isfinite(low):
            # Headroom above the lines for the legend.
            self.plot.setYRange(low - 0.15, top + 0.25 + 0.15 * (top - low + 0.5), padding=0)
        skipped = dash.report.current.skipped.get("mttr", 0)
        self.set_note(
            f"{format_count(skipped)} incidents resolved before they were opened are left out."
            if skipped
            else ""
        )

    def hit(self, scene_pos: QPointF) -> Hit | None:
        if self.dash is None:
            return None
        dash = self.dash
        points = []
        for p in PRIORITIES:
            for i, v in enumerate(dash.mttr_hours[p]):
                if v is not None:
                    points.append((float(i), _log_hours(v), (i, p)))
        found = _nearest(self, scene_pos, points)
        if found is None:
            return None
        i, p = found
        when = dash.buckets.describe(i)
        count = dash.mttr_counts[p][i]
        return Hit(
            f"<b>P{p} · {when}</b><br>mean time to resolve {hours_text(dash.mttr_hours[p][i])}"
            f"<br>{format_count(count)} incidents resolved<br><i>Click to list them</i>",
            (i, p),
            f"MTTR · P{p} resolved {when}",
        )


class _BarRows:
    """Horizontal bars, row ``i`` at y = i, the first row at the top."""

    def __init__(self, card: ChartCard) -> None:
        self.card = card
        self.solid = pg.BarGraphItem(x0=[], y=[], height=0.62, width=[])
        self.hatch = pg.BarGraphItem(x0=[], y=[], height=0.62, width=[])
        card.plot.addItem(self.solid)
        card.plot.addItem(self.hatch)
        card.vb.invertY(True)
        self.values: list[float] = []
        self.start = 0.0

    def set(self, values: Sequence[float], good: Sequence[bool | None], start: float) -> None:
        n = len(values)
        self.values = list(values)
        self.start = start
        ys = np.arange(n, dtype=float)
        widths = np.array([max(v - start, 0.0) for v in values], dtype=float)
        brushes = [QBrush(QColor(MET if g is not False else MISSED_FILL)) for g in good]
        pens = [pg.mkPen(QColor(MET if g is not False else MISSED_LINE), width=1) for g in good]
        # pyqtgraph cannot take empty per-bar lists; no bars need no colours.
        self.solid.setOpts(x0=np.full(n, start), y=ys, width=widths, brushes=brushes or None,
                           pens=pens or None)  # fmt: skip
        missed = [i for i, g in enumerate(good) if g is False]
        self.hatch.setOpts(
            x0=np.full(len(missed), start),
            y=ys[missed],
            width=widths[missed],
            brush=QBrush(QColor(MISSED_LINE), Qt.BrushStyle.BDiagPattern),
            pen=pg.mkPen(None),
        )

    def row_at(self, scene_pos: QPointF) -> int | None:
        point = self.card.vb.mapSceneToView(scene_pos)
        i = round(point.y())
        # The whole row answers, not only the bar: short bars are the ones worth a click.
        if 0 <= i < len(self.values) and abs(point.y() - i) <= 0.4 and point.x() >= self.start:
            return i
        return None


class SlaGroupChart(ChartCard):
    """SLA attainment per assignment group, worst first, against the target."""

    key = "sla_group"
    title = "SLA attainment by group"
    bottom_axis = None
    left_axis = _NameAxis

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot.getPlotItem().setLabel("bottom", "% of SLAs met")
        self.plot.getPlotItem().showGrid(x=True, y=False, alpha=0.15)
        self.bars = _BarRows(self)
        self.target = _target_line(self, None, 90, "")
        self.rows: list = []
        self.names: Names | None = None

    def show_dashboard(self, dash: Dashboard, names: Names, targets: dict) -> None:
        self.names = names
        cur, prev = dash.report.current, dash.report.previous
        target = targets.get("sla_attainment")
        goal = target.target if target else None
        self.set_headline(
            percent_text(cur.sla_attainment.percent),
            _versus(
                percent_text(prev.sla_attainment.percent), percent_text(goal) if goal else None
            ),
            _good(cur.sla_attainment.percent, target),
        )
        every = [g for g in dash.sla_by_group if g.rate.percent is not None]
        rows = every[:TOP_ROWS]
        self.rows = rows
        self.set_empty(not rows)
        met = sum(1 for g in every if _good(g.rate.percent, target) is not False)
        self.set_note(
            f"The {len(rows)} lowest of {len(every)} groups; {met} of {len(every)} meet the target."
            if len(every) > len(rows)
            else ""
        )
        values = [g.rate.percent for g in rows]
        low = min([*values, goal if goal is not None else 100.0], default=0.0)
        start = max(0.0, math.floor((low - 5) / 5) * 5)
        self.bars.set(values, [_good(v, target) for v in values], start)
        axis = self.plot.getPlotItem().getAxis("left")
        axis.names = [names.group(g.group_id) for g in rows]
        axis.picture = None
        axis.update()
        self.target.setPos(goal if goal is not None else 0)
        self.target.setVisible(goal is not None)
        self.target.label.setFormat(f"target {goal:g} %" if goal is not None else "")
        self.plot.setXRange(start, 100.5, padding=0)
        self.plot.setYRange(-0.6, max(len(rows) - 0.4, 0.6), padding=0)

    def hit(self, scene_pos: QPointF) -> Hit | None:
        i = self.bars.row_at(scene_pos)
        if i is None or self.names is None:
            return None
        g = self.rows[i]
        name = self.names.group(g.group_id)
        r = g.rate
        return Hit(
            f"<b>{name}</b><br>{r.percent:.1f} % of SLAs met<br>{format_count(r.numerator)} met,"
            f" {format_count(r.denominator - r.numerator)} breached<br><i>Click to list the incidents</i>",
            g.group_id,
            f"SLAs finished in the period · {name}",
        )


class BacklogChart(ChartCard):
    """Open incidents at the end of each day, stacked by age."""

    key = "backlog"
    title = "Backlog by age"
    bottom_axis = pg.DateAxisItem

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        item = self.plot.getPlotItem()
        item.setLabel("left", "open incidents")
        self.legend = self.add_legend((-8, 8))
        self.legend.setColumnCount(4)
        self.curves: list[pg.PlotDataItem] = []
        self.fills: list[pg.FillBetweenItem] = []
        base = self.plot.plot([], [], pen=pg.mkPen(None))
        below = base
        for label, colour in zip(AGING_BUCKETS, AGING_COLOURS, strict=True):
            curve = self.plot.plot([], [], pen=_pen(colour, 1.2))
            fill = pg.FillBetweenItem(below, curve, brush=QBrush(QColor(colour)))
            self.plot.addItem(fill)
            # The legend draws a sample from a bar item (it cannot draw a fill).
            sample = pg.BarGraphItem(x=[0], height=[1], width=1, brush=QColor(colour))
            self.legend.addItem(sample, label)
            self.curves.append(curve)
            self.fills.append(fill)
            below = curve
        self.base = base
        self.xs = np.zeros(0)
        self.stack = np.zeros((0, 0))
        self.days: list[dt.date] = []

    def show_dashboard(self, dash: Dashboard, names: Names, targets: dict) -> None:
        cur, prev = dash.report.current, dash.report.previous
        daily = cur.daily
        now_value = daily.backlog[-1] if daily.backlog else None
        self.set_headline(
            "—" if now_value is None else format_count(now_value),
            _versus(format_count(prev.daily.backlog[-1]) if prev.daily.backlog else "—", None)
            + " · open at the end of the last day",
        )
        self.days = list(daily.days)
        n = len(self.days)
        self.set_empty(n == 0)
        xs = np.array(
            [
                (dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)).timestamp() + 43_200
                for d in self.days
            ],
            dtype=float,
        )
        layers = np.array([daily.aging[b] for b in AGING_BUCKETS], dtype=float).reshape(4, n)
        stack = np.cumsum(layers, axis=0)
        self.xs, self.stack = xs, stack
        self.base.setData(xs, np.zeros(n))
        for curve, top in zip(self.curves, stack, strict=True):
            curve.setData(xs, top)
        if n:
            self.plot.setXRange(xs[0] - 43_200, xs[-1] + 43_200, padding=0)
            self.plot.setYRange(0, max(float(stack[-1].max()) * 1.22, 1.0), padding=0)
        skipped = cur.skipped.get("backlog", 0)
        self.set_note(
            f"{format_count(skipped)} incidents with a missing or impossible open time are left out."
            if skipped
            else ""
        )

    def hit(self, scene_pos: QPointF) -> Hit | None:
        if not self.days:
            return None
        point = self.vb.mapSceneToView(scene_pos)
        i = int(np.argmin(np.abs(self.xs - point.x())))
        if abs(self.xs[i] - point.x()) > 86_400:
            return None
        column = self.stack[:, i]
        total = int(column[-1])
        band = None
        if 0 <= point.y() <= column[-1]:
            band = AGING_BUCKETS[int(np.searchsorted(column, point.y(), side="left"))]
        elif point.y() > column[-1] * 1.05 + 1:
            return None
        day = self.days[i]
        counts = np.diff(np.concatenate([[0.0], column])).astype(int)
        lines = "".join(
            f"<br>{'<b>' if b == band else ''}{b}: {format_count(int(c))}{'</b>' if b == band else ''}"
            for b, c in zip(AGING_BUCKETS, counts, strict=True)
        )
        when = f"{day.day} {day:%b %Y}"
        words = f"Open at the end of {when}" + (f" · aged {band}" if band else "")
        return Hit(
            f"<b>{when}</b><br>{format_count(total)} open{lines}<br><i>Click to list them</i>",
            (i, band),
            words,
        )


class FlowChart(ChartCard):
    """Incidents opened and resolved per bucket, side by side."""

    key = "flow"
    title = "Arrivals vs resolutions"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        item = self.plot.getPlotItem()
        item.setLabel("left", "incidents")
        self.legend = self.add_legend((-8, 8))
        self.arrivals = pg.BarGraphItem(x=[], height=[], width=0.38, brush=QColor(ARRIVALS),
                                        pen=_pen("#1565c0", 1))  # fmt: skip
        self.resolved = pg.BarGraphItem(x=[], height=[], width=0.38, brush=QColor(RESOLUTIONS),
                                        pen=_pen(RESOLUTIONS, 1))  # fmt: skip
        self.plot.addItem(self.arrivals)
        self.plot.addItem(self.resolved)
        self.legend.addItem(self.arrivals, "Opened")
        self.legend.addItem(self.resolved, "Resolved")
        self.legend.setColumnCount(2)
        self.dash: Dashboard | None = None

    def show_dashboard(self, dash: Dashboard, names: Names, targets: dict) -> None:
        self.dash = dash
        n = len(dash.buckets)
        opened, resolved = sum(dash.arrivals), sum(dash.resolutions)
        net = opened - resolved
        self.set_headline(
            f"{'+' if net > 0 else ''}{format_count(net)}",
            f"net change · {format_count(opened)} opened, {format_count(resolved)} resolved",
            None if net == 0 else net < 0,
        )
        xs = np.arange(n, dtype=float)
        self.arrivals.setOpts(x=xs - 0.2, height=np.array(dash.arrivals, float))
        self.resolved.setOpts(x=xs + 0.2, height=np.array(dash.resolutions, float))
        _bucket_axis(self, dash.buckets)
        self.set_empty(opened + resolved == 0)
        top = max([*dash.arrivals, *dash.resolutions, 1])
        self.plot.setXRange(-0.6, max(n - 0.4, 0.6), padding=0)
        self.plot.setYRange(0, top * 1.22, padding=0)

    def hit(self, scene_pos: QPointF) -> Hit | None:
        if self.dash is None:
            return None
        point = self.vb.mapSceneToView(scene_pos)
        i = round(point.x())
        dash = self.dash
        if not 0 <= i < len(dash.buckets) or abs(point.x() - i) > 0.42:
            return None
        opened_side = point.x() < i
        value = dash.arrivals[i] if opened_side else dash.resolutions[i]
        if point.y() < 0 or point.y() > max(value, 0) * 1.05 + 0.5:
            return None
        when = dash.buckets.describe(i)
        what = "opened" if opened_side else "resolved"
        return Hit(
            f"<b>{when}</b><br>{format_count(dash.arrivals[i])} opened"
            f"<br>{format_count(dash.resolutions[i])} resolved<br><i>Click to list the {what}</i>",
            ("arrivals" if opened_side else "resolutions", i),
            f"{what.capitalize()} {when}",
        )


class _RateTrend(ChartCard):
    """A percentage per bucket against a target line."""

    target_key = ""
    unit_label = "%"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot.getPlotItem().setLabel("left", self.unit_label)
        self.line = self.plot.plot([], [], pen=_pen(TREND, 2.2), symbol="o", symbolSize=7,
                                   symbolBrush=QColor(TREND), connect="finite")  # fmt: skip
        self.target = _target_line(self, None, 0, "")
        self.dash: Dashboard | None = None
        self.rates: list[Rate] = []

    def series(self, dash: Dashboard) -> list[Rate]:
        raise NotImplementedError

    def headline(self, dash: Dashboard) -> tuple[Rate, Rate]:
        raise NotImplementedError

    def describe(self, i: int) -> str:
        return ""

    def show_dashboard(self, dash: Dashboard, names: Names, targets: dict) -> None:
        self.dash = dash
        self.rates = self.series(dash)
        target = targets.get(self.target_key)
        goal = target.target if target else None
        cur, prev = self.headline(dash)
        self.set_headline(
            percent_text(cur.percent),
            _versus(
                percent_text(prev.percent), percent_text(goal, 0) if goal is not None else None
            ),
            _good(cur.percent, target),
        )
        n = len(self.rates)
        ys = np.array([np.nan if r.percent is None else r.percent for r in self.rates], float)
        if np.isfinite(ys).any():
            self.line.setData(np.arange(n, dtype=float), ys)
        else:
            self.line.setData([], [])
        _bucket_axis(self, dash.buckets)
        self.set_empty(not np.isfinite(ys).any())
        self.target.setPos(goal if goal is not None else 0)
        self.target.setVisible(goal is not None)
        self.target.label.setFormat(f"target {goal:g} %" if goal is not None else "")
        finite = ys[np.isfinite(ys)]
        low = min([*finite.tolist(), goal if goal is not None else 100.0], default=0.0)
        self.plot.setXRange(-0.5, max(n - 0.5, 0.5), padding=0)
        self.plot.setYRange(max(0.0, math.floor((low - 5) / 5) * 5), 101, padding=0)

    def hit(self, scene_pos: QPointF) -> Hit | None:
        if self.dash is None:
            return None
        points = [
            (float(i), r.percent, i) for i, r in enumerate(self.rates) if r.percent is not None
        ]
        i = _nearest(self, scene_pos, points)
        if i is None:
            return None
        when = self.dash.buckets.describe(i)
        return Hit(
            f"<b>{when}</b><br>{rate_text(self.rates[i])}{self.describe(i)}"
            "<br><i>Click to list the incidents behind it</i>",
            i,
            f"{self.title} · {when}",
        )


class ChangeChart(_RateTrend):
    key = "change_success"
    title = "Change success rate"
    target_key = "change_success"

    def series(self, dash: Dashboard) -> list[Rate]:
        return dash.change_success

    def headline(self, dash: Dashboard) -> tuple[Rate, Rate]:
        cur, prev = dash.report.current, dash.report.previous
        er = cur.emergency_ratio
        self.set_note(
            f"Emergency changes: {rate_text(er)} of changes raised." if er.denominator else ""
        )
        return cur.change_success, prev.change_success

    def describe(self, i: int) -> str:
        return "<br>incidents behind it: those the changes caused"


class CsatChart(_RateTrend):
    key = "csat"
    title = "Customer satisfaction"
    target_key = "csat"

    def series(self, dash: Dashboard) -> list[Rate]:
        return dash.csat

    def headline(self, dash: Dashboard) -> tuple[Rate, Rate]:
        cur = dash.report.current
        nps = "—" if cur.nps is None else f"{cur.nps:+.0f}"
        self.set_note(f"NPS {nps} over {format_count(cur.nps_responses)} responses.")
        return cur.csat, dash.report.previous.csat

    def describe(self, i: int) -> str:
        assert self.dash is not None
        nps = self.dash.nps[i]
        return "" if nps is None else f"<br>NPS {nps:+.0f}"


class AvailabilityChart(ChartCard):
    """Availability per service over the period, worst first, with each service's target."""

    key = "availability"
    title = "Availability by service"
    bottom_axis = None
    left_axis = _NameAxis

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot.getPlotItem().setLabel("bottom", "% available")
        self.plot.getPlotItem().showGrid(x=True, y=False, alpha=0.15)
        self.bars = _BarRows(self)
        self.marks = pg.ScatterPlotItem(symbol="|", size=18, pen=_pen(_target_colour(self), 2),
                                        brush=None)  # fmt: skip
        self.plot.addItem(self.marks)
        self.rows: list = []
        self.goals: list[float] = []
        self.names: Names | None = None

    def show_dashboard(self, dash: Dashboard, names: Names, targets: dict) -> None:
        self.names = names
        service_targets: dict[int, float] = targets.get("service_availability", {})
        every = [a for a in dash.report.current.availability if a.availability_percent is not None]
        every.sort(key=lambda a: (a.availability_percent, -a.outage_seconds))
        missed = sum(
            1 for a in every if a.availability_percent < service_targets.get(a.service_id, 99.9)
        )
        down = sum(a.outages for a in every)
        rows = every[:TOP_ROWS]
        self.rows = rows
        goals = [service_targets.get(a.service_id, 99.9) for a in rows]
        self.goals = goals
        self.set_empty(not rows, "No services in this filter")
        self.set_headline(
            f"{missed} below target" if every else "—",
            f"{format_count(down)} outages across {format_count(len(every))} services",
            None if not every else missed == 0,
        )
        self.set_note(
            f"The {len(rows)} least available of {len(every)} services;"
            f" {len(every) - missed} meet their target."
            if len(every) > len(rows)
            else ""
        )
        values = [a.availability_percent for a in rows]
        low = min([*values, *goals], default=99.0)
        start = max(0.0, min(99.0, math.floor(low * 10 - 1) / 10))
        self.bars.set(values, [v >= g for v, g in zip(values, goals, strict=True)], start)
        self.marks.setData(x=goals, y=list(range(len(rows))))
        axis = self.plot.getPlotItem().getAxis("left")
        axis.names = [names.service(a.service_id) for a in rows]
        axis.picture = None
        axis.update()
        self.plot.setXRange(start, 100.0 + (100.0 - start) * 0.02, padding=0)
        self.plot.setYRange(-0.6, max(len(rows) - 0.4, 0.6), padding=0)

    def hit(self, scene_pos: QPointF) -> Hit | None:
        i = self.bars.row_at(scene_pos)
        if i is None or self.names is None:
            return None
        a = self.rows[i]
        name = self.names.service(a.service_id)
        mtbf = "—" if a.mtbf_seconds is None else hours_text(a.mtbf_seconds / 3600)
        return Hit(
            f"<b>{name}</b><br>available {a.availability_percent:.3f} % (target {self.goals[i]:g} %)"
            f"<br>{format_count(a.outages)} outages, {hours_text(a.outage_seconds / 3600)} down"
            f"<br>MTBF {mtbf}"
            + ("<br><i>Click to list the major incidents</i>" if a.outages else ""),
            a.service_id if a.outages else None,
            f"Outages of {name} in the period",
        )


#: The dashboard's charts in the order they are laid out.
CHARTS: tuple[type[ChartCard], ...] = (
    MttrChart,
    SlaGroupChart,
    BacklogChart,
    FlowChart,
    ChangeChart,
    CsatChart,
    AvailabilityChart,
)


def export_all(cards: Sequence[ChartCard], folder: str | Path, stem: str,
               progress: Callable[[int, int], None] | None = None) -> list[Path]:  # fmt: skip
    """Every card as ``<folder>/<stem>-<chart>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, card in enumerate(cards):
        out.append(card.render_png(folder / f"{stem}-{card.key}.png"))
        if progress:
            progress(i + 1, len(cards))
    return out
