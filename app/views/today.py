"""The Today page: what needs attention now, as cards read from :mod:`app.services.today`."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.formatting import format_count, format_datetime, format_duration, format_time
from app.services.today import (
    OPEN_STATES,
    QUALITY_DAYS,
    QUALITY_KPIS,
    OnCallEntry,
    QualityFigure,
    QualityFigures,
    TodayFigures,
    quality_columns,
    quality_figures,
    today_figures,
)
from app.views import ops
from app.views.icons import icon
from app.views.pages import Page, PageContext, PageHeader, register_page
from app.views.theme import DANGER_TEXT, GOOD_TEXT, WARNING_TEXT, is_dark
from app.views.widgets import (
    Card,
    ClickableRow,
    ElidedLabel,
    PriorityChip,
    RagChip,
    WarningMark,
    scaled_font,
)

#: The page that ``open_incidents`` leads to, once the window has it.
QUEUE_PAGE = "incidents"
#: The page a service-quality figure leads to, once the window has it.
KPI_PAGE = "kpis"
#: Below this page width the cards go in two columns instead of three.
WIDE_PAGE = 1100


def _label(
    text: str, *, right: bool = False, bold: bool = False, colour: str | None = None
) -> QLabel:
    label = QLabel(text)
    if right:
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if bold:
        label.setFont(scaled_font(label, 1.0, bold=True))
    if colour:
        label.setStyleSheet(f"color: {colour};")
    return label


def _quiet(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _table(rows: list[list[QWidget]], stretch_column: int) -> QWidget:
    """Rows of widgets in aligned columns; ``stretch_column`` takes the spare width."""
    widget = QWidget()
    grid = QGridLayout(widget)
    grid.setContentsMargins(0, 0, 0, 0)
    grid.setHorizontalSpacing(10)
    grid.setVerticalSpacing(4)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            grid.addWidget(cell, r, c)
    grid.setColumnStretch(stretch_column, 1)
    return widget


def _conflicts_tooltip(sentences: tuple[str, ...]) -> str:
    """The conflict sentences of a change as a rich-text tooltip (wraps long sentences)."""
    head = "1 conflict" if len(sentences) == 1 else f"{len(sentences)} conflicts"
    items = "".join(f"<br>• {html.escape(s, quote=False)}" for s in sentences)
    return f"<b>{head}</b>{items}"


def _good_colour(palette: QPalette) -> str:
    """GOOD_TEXT, lightened on a dark palette where the deep green reads poorly."""
    return "#66bb6a" if is_dark(palette) else GOOD_TEXT


class QualityTile(ClickableRow):
    """One service-quality figure: name, value (with an aside), detail, change and target."""

    def __init__(self, key: str, label: str) -> None:
        super().__init__()
        self.key = key
        self.setObjectName(f"quality_{key}")
        self.layout_.setContentsMargins(8, 6, 8, 6)
        column = QVBoxLayout()
        column.setSpacing(1)
        self.name = _quiet(ElidedLabel(label))
        self.name.setFont(scaled_font(self.name, 0.95, bold=True))
        self.value = QLabel("…")
        self.value.setObjectName("value")
        self.value.setFont(scaled_font(self.value, 1.7, bold=True))
        self.aside = _quiet(QLabel(""))
        self.aside.setObjectName("aside")
        value_line = QHBoxLayout()
        value_line.setSpacing(6)
        value_line.addWidget(self.value)
        value_line.addWidget(self.aside, 1, Qt.AlignmentFlag.AlignBottom)
        self.detail = _quiet(ElidedLabel("Loading…"))
        self.detail.setObjectName("detail")
        self.change = QLabel("\u00a0")
        self.change.setObjectName("change")
        self.previous = _quiet(ElidedLabel(""))
        change_line = QHBoxLayout()
        change_line.setSpacing(6)
        change_line.addWidget(self.change)
        change_line.addWidget(self.previous, 1)
        self.target = _quiet(QLabel("\u00a0"))
        self.target.setObjectName("target")
        self.verdict = QLabel("")
        self.verdict.setObjectName("verdict")
        target_line = QHBoxLayout()
        target_line.setSpacing(4)
        target_line.addWidget(self.target)
        target_line.addWidget(self.verdict)
        target_line.addStretch(1)
        column.addWidget(self.name)
        column.addLayout(value_line)
        column.addWidget(self.detail)
        column.addLayout(change_line)
        column.addLayout(target_line)
        self.layout_.addLayout(column, 1)

    def show_state(self, text: str, value: str = "—") -> None:
        """No figure (failed, not loaded): ``value`` (a dash) and why."""
        self.value.setText(value)
        self.value.setStyleSheet("")
        self.aside.setText("")
        self.detail.setText(text)
        self.change.setText("\u00a0")
        self.change.setStyleSheet("")
        self.previous.setText("")
        self.verdict.setText("")

    def show_figure(self, figure: QualityFigure, previous_days: str) -> None:
        self.value.setText(figure.text)
        self.aside.setText(figure.aside)
        self.detail.setText(figure.detail)
        good = _good_colour(self.palette())
        colour = {"better": good, "worse": DANGER_TEXT}.get(figure.trend)
        self.change.setText(figure.delta_text or "\u00a0")
        self.change.setStyleSheet(f"color: {colour};" if colour else "")
        self.change.setForegroundRole(
            QPalette.ColorRole.WindowText if colour else QPalette.ColorRole.PlaceholderText
        )
        self.change.setToolTip(
            {"better": "Better than", "worse": "Worse than", "same": "The same as"}.get(
                figure.trend, "No figure to compare with for"
            )
            + f" the 7 days before ({previous_days})"
        )
        self.previous.setText(f"vs {figure.previous_text}")
        self.target.setText(figure.target_text or "no target")
        if figure.meets_target is None:
            self.verdict.setText("")
        else:
            met = figure.meets_target
            self.verdict.setText("✓ met" if met else "✗ missed")
            self.verdict.setStyleSheet(f"color: {good if met else DANGER_TEXT};")


@register_page(key="today", title="Today", icon="today", order=10)
class TodayPage(Page):
    """Cards: open incidents by priority, SLAs, majors, changes, on call, vendors, contracts.

    Clicking a priority (or the SLA figures) emits ``open_incidents`` with a filter for
    the incident queue, e.g. ``{"state": ["New", "In Progress", "On Hold"], "priority": [1]}``
    or ``{"state": [...], "sla": "breached"}``; the window takes it to the queue page.
    """

    live_tables = frozenset(
        (
            "incident",
            "change_request",
            "major_incident_update",
            "schedule_override",
            "roster",
            "roster_shift",
            "vendor",
            "scorecard_period",
            "contract",
        )
    )

    open_incidents = Signal(dict)
    #: The service-quality card has its figures (or has given up on them).
    quality_loaded = Signal()

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.figures: TodayFigures | None = None
        self.quality: QualityFigures | None = None
        self.quality_error: BaseException | None = None
        self._generation = 0
        self._handle: ops.OpHandle | None = None
        self._quality_handle: ops.OpHandle | None = None

        self.header = PageHeader("Today")
        self.updated = _quiet(QLabel("Loading…"))
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Refresh")
        self.refresh_button.setIcon(icon("refresh"))
        self.refresh_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.refresh_button.setToolTip("Read the figures again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        self.header.actions_layout.addWidget(self.updated)
        self.refresh_button.setObjectName("refreshButton")
        self.header.actions_layout.addWidget(self.refresh_button)

        self.open_card = Card("Open incidents")
        self.sla_card = Card("SLAs")
        self.oncall_card = Card("On call now")
        self.majors_card = Card("Major incidents in progress")
        self.vendors_card = Card("Vendors in red")
        self.changes_card = Card("Changes in the next 7 days")
        self.contracts_card = Card("Contracts ending within 60 days")
        self.conflicts_label = self.changes_card.add_to_header(QWidget())
        self.conflicts_label.setObjectName("conflictCount")
        conflicts_layout = QHBoxLayout(self.conflicts_label)
        conflicts_layout.setContentsMargins(0, 0, 8, 0)
        conflicts_layout.setSpacing(4)
        conflicts_layout.addWidget(WarningMark())
        self.conflicts_text = _label("", colour=WARNING_TEXT)
        conflicts_layout.addWidget(self.conflicts_text)
        self.conflicts_label.hide()
        self._build_quality_card()
        self.cards = [
            self.open_card,
            self.sla_card,
            self.oncall_card,
            self.majors_card,
            self.vendors_card,
            self.changes_card,
            self.contracts_card,
        ]
        for card in self.cards:
            card.note("Loading…")
        #: Every card, as placed; ``cards`` are the ones ``today_figures`` fills.
        self.all_cards = [*self.cards, self.quality_card]

        grid_host = QWidget()
        self.grid = QGridLayout(grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(12)
        self.columns = 0
        self._arrange(3)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(grid_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(12)
        layout.addWidget(self.header)
        layout.addWidget(scroll, 1)

    def _arrange(self, columns: int) -> None:
        """Place the cards in three columns, or two when the page is narrow."""
        if columns == self.columns:
            return
        self.columns = columns
        grid = self.grid
        for card in self.all_cards:
            grid.removeWidget(card)
        # Service quality comes after what needs attention now (open, SLAs, majors).
        if columns == 3:
            places = [
                (self.open_card, 0, 0, 1),
                (self.sla_card, 0, 1, 1),
                (self.majors_card, 0, 2, 1),
                (self.quality_card, 1, 0, 3),
                (self.changes_card, 2, 0, 2),
                (self.vendors_card, 2, 2, 1),
                (self.oncall_card, 3, 0, 2),
                (self.contracts_card, 3, 2, 1),
            ]
        else:
            places = [
                (self.open_card, 0, 0, 1),
                (self.sla_card, 0, 1, 1),
                (self.majors_card, 1, 0, 2),
                (self.quality_card, 2, 0, 2),
                (self.changes_card, 3, 0, 2),
                (self.oncall_card, 4, 0, 2),
                (self.vendors_card, 5, 0, 1),
                (self.contracts_card, 5, 1, 1),
            ]
        for card, row, column, span in places:
            grid.addWidget(card, row, column, 1, span)
        for column in range(3):
            grid.setColumnStretch(column, 1 if column < columns else 0)
        for row in range(8):
            grid.setRowStretch(row, 0)
        grid.setRowStretch(max(row for _, row, _, _ in places) + 1, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        self._arrange(3 if event.size().width() >= WIDE_PAGE else 2)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.refresh_button.setIcon(icon("refresh", self.palette()))
            if self.quality is not None:  # the good colour depends on light or dark
                self.show_quality(self.quality, announce=False)

    # Loading

    def refresh(self) -> None:
        """Read the figures in the background; a newer refresh supersedes an older one."""
        if self._handle is not None and self._handle.running:
            self._handle.cancel()
        self._generation += 1
        generation = self._generation
        now = self.context.clock()
        self.updated.setText("Loading…")
        self._handle = (
            ops.QueryOp(
                parent=self,
                db=self.context.db,
                op=lambda session, progress: today_figures(session, now, progress=progress),
                success=lambda figures: self._figures_arrived(generation, figures),
            )
            .failure(lambda exc: self._figures_failed(generation, exc))
            .with_progress("Loading Today")
            .run_in_background()
        )

    def _figures_arrived(self, generation: int, figures: TodayFigures) -> None:
        if generation == self._generation:
            self.show_figures(figures)
            # Only now: the KPI columns take seconds to load the first time, and the
            # other cards must not wait for them (nor share the database with them).
            self._load_quality(generation, figures.now)

    def _figures_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self.updated.setText("Could not load the figures")
        self._quality_state("Not loaded")
        self.quality_loaded.emit()
        self.fail_load(exc)

    def is_settled(self) -> bool:
        """Whether the service-quality card has finished too (loaded, failed or cancelled)."""
        if not self.is_loaded():
            return False
        running = self._quality_handle is not None and self._quality_handle.running
        return not running and (self.quality is not None or self.quality_error is not None
                                or self._quality_handle is not None)  # fmt: skip

    def _load_quality(self, generation: int, now: dt.datetime) -> None:
        """Read the service-quality figures in a job of their own (two weeks of columns)."""
        if self._quality_handle is not None and self._quality_handle.running:
            self._quality_handle.cancel()
        db = self.context.db
        if self.quality is not None:
            self.quality_period.setText(f"{self.quality.period_text} · updating…")

        def work(session, progress):
            from app.services.kpi_targets import load_targets

            cols = quality_columns(session, now)
            progress.check()
            return quality_figures(cols, now, load_targets(session))

        self._quality_handle = (
            ops.QueryOp(
                parent=self,
                db=db,
                op=work,
                success=lambda quality: self._quality_arrived(generation, quality),
            )
            .failure(lambda exc: self._quality_failed(generation, exc))
            .cancelled(lambda: self._quality_cancelled(generation))
            .with_progress("Loading service quality")
            .run_in_background()
        )

    def _quality_arrived(self, generation: int, quality: QualityFigures) -> None:
        if generation == self._generation:
            self.show_quality(quality)

    def _quality_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        # The other cards are fine: the failure stays on this card, with the reason.
        self.quality_error = exc
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self._quality_state("Could not load the KPI figures")
        self.quality_period.setText("could not load")
        self.quality_period.setToolTip(first_line)
        self.quality_loaded.emit()

    def _quality_cancelled(self, generation: int) -> None:
        if generation == self._generation:
            self._quality_state("Not loaded — Refresh (F5) to load")
            self.quality_loaded.emit()

    def show_figures(self, figures: TodayFigures) -> None:
        """Fill every card from ``figures``."""
        self.figures = figures
        for card in self.cards:
            card.clear()
        self._fill_open(figures)
        self._fill_sla(figures)
        self._fill_on_call(figures)
        self._fill_majors(figures)
        self._fill_vendors(figures)
        self._fill_changes(figures)
        self._fill_contracts(figures)
        self.updated.setText(f"Figures at {format_time(figures.now)}")
        self.mark_loaded()

    def show_quality(self, quality: QualityFigures, *, announce: bool = True) -> None:
        """Fill the service-quality card from ``quality`` (``announce``: emit quality_loaded)."""
        self.quality = quality
        self.quality_error = None
        self.quality_period.setText(quality.period_text)
        self.quality_period.setToolTip(
            f"The last {QUALITY_DAYS} full days (UTC), compared with the {QUALITY_DAYS} days"
            f" before ({quality.previous_text})"
        )
        linked = KPI_PAGE in self.context.page_keys
        for figure in quality.figures:
            tile = self.quality_tiles[figure.key]
            tile.show_figure(figure, quality.previous_text)
            tip = f"{figure.label}, {quality.period_text}: {figure.text}"
            tip += f"\n{quality.previous_text}: {figure.previous_text}"
            if figure.target_text:
                better = "higher" if figure.higher_is_better else "lower"
                tip += f"\n{figure.target_text.capitalize()} ({better} is better)"
            if linked:
                tip += "\nClick for the KPI dashboard"
            tile.set_link(linked)
            tile.setToolTip(tip)
        if announce:
            self.quality_loaded.emit()

    # Service quality

    def _build_quality_card(self) -> None:
        self.quality_card = Card("Service quality · last 7 days")
        self.quality_card.setObjectName("qualityCard")
        # The period sits where other cards have their headline figure.
        self.quality_period = _quiet(self.quality_card.figure)
        self.quality_period.setFont(self.font())
        self.quality_period.setObjectName("qualityPeriod")
        row = QWidget()
        tiles = QGridLayout(row)
        tiles.setContentsMargins(0, 0, 0, 0)
        tiles.setHorizontalSpacing(6)
        self.quality_tiles: dict[str, QualityTile] = {}
        for column, (key, label, _unit, _higher) in enumerate(QUALITY_KPIS):
            tile = QualityTile(key, label)
            tile.clicked.connect(self._open_kpis)
            tiles.addWidget(tile, 0, column)
            tiles.setColumnStretch(column, 1)
            self.quality_tiles[key] = tile
        self.quality_card.add(row)

    def _quality_state(self, text: str) -> None:
        for tile in self.quality_tiles.values():
            tile.show_state(text)

    def _open_kpis(self) -> None:
        if KPI_PAGE in self.context.page_keys:
            self.navigate.emit(KPI_PAGE, {"days": QUALITY_DAYS})

    # Cards

    def _link(self, row: ClickableRow, filters: dict[str, Any], tooltip: str) -> ClickableRow:
        row.set_link(QUEUE_PAGE in self.context.page_keys, tooltip)
        row.clicked.connect(lambda: self._open_incidents(filters))
        return row

    def _open_incidents(self, filters: dict[str, Any]) -> None:
        self.open_incidents.emit(dict(filters))
        self.navigate.emit(QUEUE_PAGE, dict(filters))

    def _fill_open(self, figures: TodayFigures) -> None:
        card = self.open_card
        card.figure.setText(format_count(figures.open_total))
        card.figure.setToolTip("Incidents in New, In Progress or On Hold")
        for entry in figures.open_by_priority:
            row = ClickableRow()
            row.setObjectName(f"priority{entry.priority}")
            row.layout_.addWidget(PriorityChip(entry.priority))
            row.layout_.addWidget(QLabel(entry.name), 1)
            count = _label(format_count(entry.count), right=True, bold=entry.count > 0)
            count.setObjectName("count")
            row.layout_.addWidget(count)
            filters = {"state": list(OPEN_STATES), "priority": [entry.priority]}
            card.add(self._link(row, filters, f"Show open P{entry.priority} incidents"))

    def _figure_block(self, value: int, caption: str, colour: str) -> ClickableRow:
        row = ClickableRow()
        number = QLabel(format_count(value))
        number.setObjectName("figure")
        number.setFont(scaled_font(number, 2.2, bold=True))
        if value:
            number.setStyleSheet(f"color: {colour};")
        text = QLabel(caption)
        text.setWordWrap(True)
        row.layout_.addWidget(number)
        row.layout_.addWidget(text, 1)
        return row

    def _fill_sla(self, figures: TodayFigures) -> None:
        card, sla = self.sla_card, figures.sla
        at_risk = self._figure_block(
            sla.at_risk, "clocks at risk\n75% or more of the target used", WARNING_TEXT
        )
        at_risk.setObjectName("slaAtRisk")
        breached = self._figure_block(
            sla.breached, "open incidents\nwith a breached SLA", DANGER_TEXT
        )
        breached.setObjectName("slaBreached")
        card.add(
            self._link(
                at_risk,
                {"state": list(OPEN_STATES), "sla": "at_risk"},
                "Show incidents with an SLA at risk",
            )
        )
        card.add(
            self._link(
                breached,
                {"state": list(OPEN_STATES), "sla": "breached"},
                "Show open incidents with a breached SLA",
            )
        )
        if not sla.soonest:
            return
        card.add(_quiet(QLabel("Due soonest")))
        rows = []
        for clock in sla.soonest:
            left = format_duration((clock.due_at - figures.now).total_seconds())
            rows.append(
                [
                    PriorityChip(clock.priority),
                    QLabel(clock.number),
                    ElidedLabel(clock.definition),
                    _label(f"in {left}", right=True, colour=WARNING_TEXT),
                ]
            )
        card.add(_table(rows, stretch_column=2))

    def _fill_on_call(self, figures: TodayFigures) -> None:
        card = self.oncall_card
        if not figures.on_call:
            card.note("No on-call schedules yet.")
            return
        roles: list[str] = []
        schedules: dict[str, dict[str, OnCallEntry]] = {}
        teams: dict[str, str | None] = {}
        for entry in figures.on_call:
            if entry.role not in roles:
                roles.append(entry.role)
            schedules.setdefault(entry.schedule, {})[entry.role] = entry
            teams[entry.schedule] = entry.team
        rows: list[list[QWidget]] = [
            [_quiet(QLabel("Schedule")), *(_quiet(QLabel(role.capitalize())) for role in roles)]
        ]
        for schedule, by_role in schedules.items():
            name = ElidedLabel(schedule)
            name.setToolTip(f"{schedule} ({teams[schedule]})" if teams[schedule] else schedule)
            rows.append([name, *(self._on_call_cell(by_role.get(role)) for role in roles)])
        card.add(_table(rows, stretch_column=len(roles)))

    @staticmethod
    def _on_call_cell(entry: OnCallEntry | None) -> QLabel:
        if entry is None:
            return QLabel("")
        if entry.person is None:
            cell = _label("nobody on call", colour=DANGER_TEXT)
            cell.setToolTip("A required layer has nobody on call now (coverage gap)")
            return cell
        cell = QLabel(f"<b>{html.escape(entry.person)}</b>")
        if entry.override:
            cell.setText(f"{cell.text()} <i>(override)</i>")
            cell.setToolTip("Covering by override")
        else:
            cell.setToolTip(f"Layer: {entry.layer}" if entry.layer else "")
        return cell

    def _fill_majors(self, figures: TodayFigures) -> None:
        card = self.majors_card
        card.figure.setText(format_count(len(figures.majors)) if figures.majors else "")
        if not figures.majors:
            card.note("No major incidents in progress.")
            return
        for major in figures.majors:
            head = QHBoxLayout()
            head.setSpacing(8)
            head.addWidget(PriorityChip(major.priority))
            head.addWidget(_label(major.number, bold=True))
            head.addWidget(ElidedLabel(major.short_description), 1)
            facts = [major.state, major.major_status]
            if major.declared_at is not None:
                facts.append(f"declared {format_datetime(major.declared_at)}")
            status = _quiet(ElidedLabel(" · ".join(fact for fact in facts if fact)))
            status.setObjectName("majorStatus")
            box = QWidget()
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 2, 0, 8)
            box_layout.setSpacing(2)
            box_layout.addLayout(head)
            box_layout.addWidget(status)
            update = major.latest_update
            if update is None:
                text = _quiet(QLabel("No updates yet."))
            else:
                text = QLabel(f"{format_datetime(update.at)}  {update.status}: {update.text}")
                text.setWordWrap(True)
            text.setObjectName("latestUpdate")
            box_layout.addWidget(text)
            card.add(box)

    def _fill_vendors(self, figures: TodayFigures) -> None:
        card = self.vendors_card
        card.figure.setText(format_count(len(figures.red_vendors)) if figures.red_vendors else "")
        if not figures.red_vendors:
            card.note("No vendors in red.")
            return
        rows = []
        for vendor in figures.red_vendors:
            score = "" if vendor.total is None else f"{vendor.total:.1f}"
            rows.append(
                [
                    ElidedLabel(vendor.name),
                    _quiet(QLabel(vendor.period)),
                    _label(score, right=True, bold=True),
                    RagChip("red"),
                ]
            )
        card.add(_table(rows, stretch_column=0))

    def _fill_changes(self, figures: TodayFigures) -> None:
        card = self.changes_card
        card.figure.setText(format_count(figures.changes_count) if figures.changes_count else "")
        conflicting = figures.changes_conflicting
        self.conflicts_label.setVisible(conflicting > 0)
        self.conflicts_text.setText(
            f"{format_count(conflicting)} with conflicts" if conflicting else ""
        )
        self.conflicts_label.setToolTip(
            f"{format_count(conflicting)} of the {format_count(figures.changes_count)} changes"
            " planned in the next 7 days have conflicts (hover the warning on a change)"
        )
        if not figures.changes:
            card.note("No changes planned in the next 7 days.")
            return
        rows = []
        for change in figures.changes:
            mark: QWidget
            if change.conflicts:
                mark = WarningMark(_conflicts_tooltip(change.conflicts))
                mark.setObjectName("conflictMark")
            else:
                mark = QWidget()
            rows.append(
                [
                    mark,
                    QLabel(format_datetime(change.planned_start)),
                    _label(change.number, bold=True),
                    ElidedLabel(change.short_description),
                    _quiet(QLabel(f"{change.type} · {change.risk} risk")),
                    _label(change.state, right=True),
                ]
            )
        card.add(_table(rows, stretch_column=3))
        hidden = figures.changes_count - len(figures.changes)
        if hidden > 0:
            hidden_conflicts = conflicting - sum(1 for c in figures.changes if c.conflicts)
            more = f"and {format_count(hidden)} more"
            if hidden_conflicts > 0:
                more += f" ({format_count(hidden_conflicts)} with conflicts)"
            card.note(more)

    def _fill_contracts(self, figures: TodayFigures) -> None:
        card = self.contracts_card
        card.figure.setText(
            format_count(figures.contracts_count) if figures.contracts_count else ""
        )
        if not figures.contracts:
            card.note("No contracts end in the next 60 days.")
            return
        rows = []
        for contract in figures.contracts:
            when = {0: "today", 1: "tomorrow"}.get(
                contract.days_left, f"in {contract.days_left} days"
            )
            verb = "renews" if contract.auto_renew else "ends"
            outcome = _label(
                f"{verb} {when}", right=True, colour=None if contract.auto_renew else WARNING_TEXT
            )
            outcome.setToolTip(f"Notice due by {contract.notice_by.isoformat()}")
            rows.append(
                [
                    QLabel(contract.ends_on.isoformat()),
                    ElidedLabel(f"{contract.vendor} · {contract.title}"),
                    outcome,
                ]
            )
        card.add(_table(rows, stretch_column=1))
        if figures.contracts_count > len(figures.contracts):
            card.note(f"and {format_count(figures.contracts_count - len(figures.contracts))} more")
