"""The Vendors page: every vendor's scorecard total, RAG and trend, one vendor's scorecard
with its evidence, a side-by-side comparison, edits of judged scores, weights, thresholds
and review actions, and the review-pack exports.

Scores come from :mod:`app.services.scorecards` over the database's shared KPI column cache
(:mod:`app.services.kpi_cache`), so a period change is a numpy computation in the
background. Clicking a measured figure opens the incident queue on exactly the incidents
behind it (:func:`~app.services.scorecards.evidence_ids`). Every write runs in the
background with a version check; a save over someone else's newer save is refused,
explained and the scorecard read again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QSortFilterProxyModel, Qt
from PySide6.QtGui import QKeySequence, QPalette, QShortcut, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.services.formatting import format_count, format_date
from app.views import ops
from app.views.pages import Page, PageContext, PageHeader, register_page
from app.views.theme import DANGER_TEXT
from app.views.vendor_widgets import (
    ID_ROLE,
    RAG_RANK,
    RAG_ROLE,
    SORT_ROLE,
    SPARK_ROLE,
    ActionDialog,
    CompareView,
    RagDelegate,
    ScorecardData,
    ScorecardView,
    Spark,
    SparklineDelegate,
    TemplateDialog,
    money_text,
    total_text,
    warning_icon,
)


class _Scorecards:
    """:mod:`app.services.scorecards`, imported on first use: it brings numpy, which the
    window does not need to start."""

    def __getattr__(self, name: str) -> Any:
        from app.services import scorecards

        return getattr(scorecards, name)


sc = _Scorecards()

#: How many quarters and months the period picker offers (newest first).
QUARTERS = 8
MONTHS = 12
#: Most vendors the comparison shows side by side.
COMPARE_MAX = 4


def period_choices(today: dt.date) -> list[sc.Period]:
    """The current and earlier quarters, then the current and earlier months, newest first."""
    quarter = sc.period_of(today, "quarter")
    month = sc.period_of(today, "month")
    return [quarter.shifted(-k) for k in range(QUARTERS)] + [
        month.shifted(-k) for k in range(MONTHS)
    ]


def default_period(today: dt.date) -> sc.Period:
    """The last complete quarter."""
    return sc.period_of(today, "quarter").shifted(-1)


@dataclass(frozen=True)
class VendorLine:
    """One row of the vendor list."""

    vendor_id: int
    name: str
    card: sc.Scorecard
    spark: Spark
    credits: dict[str, float]
    credit_total: float
    contract_end: dt.date | None
    warnings: tuple[str, ...]
    warning_rank: int  # 0 none, 1 low, 2 medium, 3 high


COLUMNS = ("Vendor", "Total", "RAG", "Trend (8 periods)", "Credits", "Contract end", "")
NAME, TOTAL, RAG, TREND, CREDITS, END, WARN = range(len(COLUMNS))


def load_lines(
    session, cols, period: sc.Period, today: dt.date, now: dt.datetime
) -> list[VendorLine]:
    """Every active vendor's line for ``period`` (scores, 8-period trend, credits, warnings)."""
    from app.services.vendors import contract_warnings, list_vendors

    periods = sc.trend_periods(period)
    grid = sc.scorecard_grid(cols, session, periods, now=now)
    vendor_ids = sorted({v for v, _ in grid})
    ends = {v.id: v.next_end for v in list_vendors(session, include_inactive=False)}
    warnings: dict[int, list] = {}
    for w in contract_warnings(session, today, vendor_ids):
        warnings.setdefault(w.vendor_id, []).append(w)
    rank = {"high": 3, "medium": 2, "low": 1}
    credits = sc.credits_of(session, vendor_ids, period, cols, now=now)
    lines = []
    for v in vendor_ids:
        card = grid[(v, period.label)]
        history = [grid[(v, p.label)] for p in periods]
        spark = Spark(
            tuple(p.label for p in periods),
            tuple(h.total for h in history),
            tuple(h.rag for h in history),
            card.green_min,
            card.amber_min,
        )
        credit = credits[v]
        mine = warnings.get(v, [])
        lines.append(
            VendorLine(
                v, card.vendor, card, spark, dict(credit.totals), credit.total, ends.get(v),
                tuple(w.message for w in mine), max((rank[w.severity] for w in mine), default=0),
            )
        )  # fmt: skip
    return lines


def load_scorecard(
    session, cols, vendor_id: int, period: sc.Period, today: dt.date, now: dt.datetime
) -> ScorecardData:
    """One vendor's scorecard with what the view shows beside it."""
    from app.models import ScorecardTemplate
    from app.services.vendors import contract_warnings

    card = sc.scorecard(cols, session, vendor_id, period, now=now)
    counts: dict[str, int] = {}
    for c in card.criteria:
        key = c.evidence or c.metric
        if c.kind == "measured" and key in sc.EVIDENCE:
            counts[key] = int(evidence_for(cols, card, key, now).size)
    breached = int(sc.evidence_ids(cols, vendor_id, period, "sla_breached").size)
    template = session.get(ScorecardTemplate, card.template_id)
    return ScorecardData(
        card=card,
        credits=sc.credits(session, vendor_id, period, cols, now=now),
        breached=breached,
        actions=sc.list_actions(session, vendor_id, period),
        warnings=contract_warnings(session, today, [vendor_id]),
        evidence_counts=counts,
        template_version=template.version if template is not None else None,
        period_title=period.title,
    )


def evidence_for(cols, card: sc.Scorecard, key: str, now: dt.datetime | None = None):
    """The incident ids behind ``key`` of ``card`` (availability: outages of its services)."""
    services = card.service_ids if key == "availability" else None
    return sc.evidence_ids(cols, card.vendor_id, card.period, key, services=services, now=now)


class VendorTable(QTableView):
    """The vendors with total, RAG chip, trend sparkline, credits, contract end and warnings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("vendorTable")
        self.source = QStandardItemModel(0, len(COLUMNS), self)
        self.source.setHorizontalHeaderLabels(list(COLUMNS))
        self.source.setHeaderData(WARN, Qt.Orientation.Horizontal, "Contract warnings",
                                  Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.source.setHeaderData(CREDITS, Qt.Orientation.Horizontal,
                                  "Service credits owed for the period", Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.source.setHeaderData(TREND, Qt.Orientation.Horizontal,
                                  "Total over the 8 periods up to the one chosen; dotted lines "
                                  "mark the green and amber thresholds",
                                  Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.source)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setItemDelegateForColumn(RAG, RagDelegate(self))
        self.setItemDelegateForColumn(TREND, SparklineDelegate(self))
        self.setSortingEnabled(True)
        self.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        self.setMinimumWidth(560)
        for k in (TOTAL, RAG, CREDITS, END, WARN):
            header.setSectionResizeMode(k, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(TREND, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(TREND, 120)
        for k in (TOTAL, CREDITS):
            self.source.setHeaderData(
                k, Qt.Orientation.Horizontal,
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                Qt.ItemDataRole.TextAlignmentRole,
            )  # fmt: skip
        self._icon = warning_icon()

    def set_lines(self, lines: list[VendorLine]) -> None:
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        self.setSortingEnabled(False)
        self.source.removeRows(0, self.source.rowCount())
        for line in lines:
            card = line.card
            name = QStandardItem(line.name)
            name.setData(line.name.casefold(), SORT_ROLE)
            name.setData(line.vendor_id, ID_ROLE)
            name.setToolTip(line.name)
            total = QStandardItem(total_text(card.total))
            total.setData(-1.0 if card.total is None else card.total, SORT_ROLE)
            total.setTextAlignment(right)
            if card.total is None and card.problems:
                total.setToolTip(card.problems[0])
            rag = QStandardItem((card.rag or "no score").upper())
            rag.setData(card.rag, RAG_ROLE)
            rag.setData(RAG_RANK[card.rag] * 1000 + (card.total or 0.0), SORT_ROLE)
            rag.setToolTip(
                f"{(card.rag or 'no score').upper()} {total_text(card.total)} "
                f"(green ≥ {card.green_min:g}, amber ≥ {card.amber_min:g})"
            )
            trend = QStandardItem()
            trend.setData(line.spark, SPARK_ROLE)
            trend.setData(_slope(line.spark.totals), SORT_ROLE)
            trend.setToolTip(line.spark.tooltip())
            credit = QStandardItem(money_text(line.credits))
            credit.setData(line.credit_total, SORT_ROLE)
            credit.setTextAlignment(right)
            if line.credit_total > 0:
                credit.setForeground(_brush(DANGER_TEXT))
            end = QStandardItem(format_date(line.contract_end) if line.contract_end else "—")
            end.setData(line.contract_end.toordinal() if line.contract_end else 10**7, SORT_ROLE)
            warn = QStandardItem()
            warn.setData(line.warning_rank * 100 + len(line.warnings), SORT_ROLE)
            if line.warnings:
                warn.setIcon(self._icon)
                warn.setText(str(len(line.warnings)))
                warn.setToolTip("\n".join(line.warnings))
                warn.setData(
                    f"{len(line.warnings)} contract warnings", Qt.ItemDataRole.AccessibleTextRole
                )
            self.source.appendRow([name, total, rag, trend, credit, end, warn])
        self.setSortingEnabled(True)

    def vendor_at(self, proxy_row: int) -> int:
        return int(self.proxy.index(proxy_row, NAME).data(ID_ROLE))

    def row_of(self, vendor_id: int) -> int:
        """The proxy row of ``vendor_id`` (-1 when not listed)."""
        for r in range(self.proxy.rowCount()):
            if self.vendor_at(r) == vendor_id:
                return r
        return -1

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self.vendor_at(r) for r in rows]

    def text(self, vendor: str, column: int) -> str:
        """The text in ``vendor``'s row (for tests)."""
        for r in range(self.proxy.rowCount()):
            if self.proxy.index(r, NAME).data() == vendor:
                return str(self.proxy.index(r, column).data() or "")
        raise KeyError(vendor)

    def names(self) -> list[str]:
        return [self.proxy.index(r, NAME).data() for r in range(self.proxy.rowCount())]


def _brush(colour: str):
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(colour))


def _slope(totals: tuple[float | None, ...]) -> float:
    """Latest total minus the earliest one, for sorting the trend column (0 without two)."""
    scored = [t for t in totals if t is not None]
    return scored[-1] - scored[0] if len(scored) >= 2 else 0.0


@register_page(key="vendors", title="Vendors", icon="vendors", order=50)
class VendorsPage(Page):
    """Vendor list, scorecard, comparison, edits and exports."""

    live_tables = frozenset(
        (
            "vendor",
            "vendor_contact",
            "contract",
            "contract_sla_target",
            "credit_rule",
            "scorecard_template",
            "scorecard_criterion",
            "scorecard_score",
            "review_action",
        )
    )

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.lines: list[VendorLine] = []
        self.data: ScorecardData | None = None
        self.cols = None
        self.last_drill: dict | None = None
        self.last_export = None
        self.last_message = ""
        self._list_generation = 0
        self._card_generation = 0
        self._card_loading = False
        self._wanted_vendor: int | None = None

        self.header = PageHeader("Vendors")
        self.status = QLabel()
        self.status.setObjectName("status")
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.header.actions_layout.addWidget(self.status)
        self.period = QComboBox()
        self.period.setObjectName("period")
        today = self.today()
        for p in period_choices(today):
            words = p.label if p.end < today else f"{p.label} (so far)"
            self.period.addItem(words, p.label)
            self.period.setItemData(self.period.count() - 1, p.title, Qt.ItemDataRole.ToolTipRole)
        self.period.setCurrentIndex(self.period.findData(default_period(today).label))
        self.period.currentIndexChanged.connect(self._period_changed)
        self.header.actions_layout.addWidget(QLabel("Period"))
        self.header.actions_layout.addWidget(self.period)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compare")
        self.compare_button.setCheckable(True)
        self.compare_button.setToolTip(
            f"Select 2 to {COMPARE_MAX} vendors to see their scorecards side by side"
        )
        self.compare_button.toggled.connect(self.set_compare)
        self.header.actions_layout.addWidget(self.compare_button)
        self.template_button = QPushButton("Weights && thresholds…")
        self.template_button.setObjectName("template")
        self.template_button.setEnabled(False)
        self.template_button.clicked.connect(lambda: self.edit_template())
        self.header.actions_layout.addWidget(self.template_button)
        self.export_button = QToolButton()
        self.export_button.setObjectName("export")
        self.export_button.setText("Export…")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        self.pack_action = menu.addAction("Review pack…", lambda: self.export_pack())
        self.pack_action.setEnabled(False)
        self.summary_action = menu.addAction("All-vendors summary…", lambda: self.export_summary())
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        self.header.actions_layout.addWidget(self.export_button)
        self.new_vendor_button = QPushButton("New vendor…")
        self.new_vendor_button.setObjectName("newVendor")
        self.new_vendor_button.clicked.connect(lambda: self.new_vendor())
        self.edit_vendor_button = QPushButton("Edit vendor…")
        self.edit_vendor_button.setObjectName("editVendor")
        self.edit_vendor_button.setToolTip(
            "Contacts, contracts, SLA targets and credit rules (or double-click a vendor)"
        )
        self.edit_vendor_button.clicked.connect(lambda: self.edit_vendor())

        self.table = VendorTable()
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(self._double_clicked)
        self.empty = QLabel()
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty.hide()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        vendor_buttons = QHBoxLayout()
        vendor_buttons.addWidget(self.new_vendor_button)
        vendor_buttons.addWidget(self.edit_vendor_button)
        vendor_buttons.addStretch(1)
        left_layout.addLayout(vendor_buttons)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.empty)

        self.scorecard_view = ScorecardView()
        self.scorecard_view.evidence_requested.connect(self.drill)
        self.scorecard_view.rating_entered.connect(self._rating_entered)
        self.scorecard_view.add_action_requested.connect(lambda: self.edit_action(None))
        self.scorecard_view.edit_action_requested.connect(self.edit_action)
        self.placeholder = QLabel("Loading the vendors…")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.compare_view = CompareView()
        self.right = QStackedWidget()
        self.right.addWidget(self.placeholder)
        self.right.addWidget(self.scorecard_view)
        self.right.addWidget(self.compare_view)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([700, 820])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 8)
        layout.setSpacing(8)
        layout.addWidget(self.header)
        layout.addWidget(self.splitter, 1)
        QShortcut(QKeySequence("F5"), self, self.refresh)

    # State

    def today(self) -> dt.date:
        return self.context.clock().astimezone(dt.UTC).date()

    def current_period(self) -> sc.Period:
        return sc.parse_period(str(self.period.currentData()))

    def set_period(self, label: str) -> None:
        index = self.period.findData(sc.parse_period(label).label)
        if index < 0:
            p = sc.parse_period(label)
            self.period.addItem(p.label, p.label)
            index = self.period.count() - 1
        self.period.setCurrentIndex(index)

    def selected_vendor(self) -> int | None:
        ids = self.table.selected_ids()
        return ids[0] if ids else None

    def select_vendor(self, vendor_id: int) -> None:
        row = self.table.row_of(vendor_id)
        if row < 0:
            return
        index = self.table.proxy.index(row, NAME)
        self.table.selectionModel().select(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)

    def is_settled(self) -> bool:
        """The list and the selected vendor's scorecard (or comparison) are shown."""
        return self.is_loaded() and not self._card_loading

    def open_with(self, params: dict) -> None:
        """``{"vendor_id": 3, "period": "2026-Q3"}`` (both optional)."""
        if "period" in params:
            self.period.blockSignals(True)
            self.set_period(str(params["period"]))
            self.period.blockSignals(False)
        if "vendor_id" in params:
            self._wanted_vendor = int(params["vendor_id"])
        self._activated = True
        self.refresh()

    # Loading the list

    def _period_changed(self) -> None:
        if self._activated:
            self.refresh()

    def refresh(self) -> None:
        """Read every vendor's line for the chosen period (in the background)."""
        from app.services.kpi_cache import kpi_cache

        self._list_generation += 1
        generation = self._list_generation
        period = self.current_period()
        today, now = self.today(), self.context.clock()
        cache = kpi_cache(self.context.db)
        cold = cache.peek() is None
        self.status.setText("Loading…" if cold else "Updating…")
        if self._wanted_vendor is None:
            self._wanted_vendor = self.selected_vendor()

        def work(session, progress):
            progress.update(0, 2, "Reading incidents" if cold else "Scoring")
            cols = cache.columns(session)
            progress.update(1, 2, "Scoring")
            return cols, load_lines(session, cols, period, today, now)

        op = ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=work,
            success=lambda result: self._lines_arrived(generation, period, *result),
        ).failure(lambda exc: self._list_failed(generation, exc))
        if cold:
            op = op.with_progress("Loading vendor scorecards")
        op.run_in_background()

    def _lines_arrived(self, generation: int, period: sc.Period, cols, lines) -> None:
        if generation != self._list_generation:
            return
        self.cols = cols
        self.lines = lines
        wanted = self._wanted_vendor
        compared = self.table.selected_ids() if self.compare_button.isChecked() else []
        self._wanted_vendor = None
        self.table.selectionModel().blockSignals(True)
        self.table.set_lines(lines)
        self.table.selectionModel().blockSignals(False)
        self.export_button.setEnabled(True)
        reds = sum(1 for line in lines if line.card.rag == "red")
        warned = sum(1 for line in lines if line.warnings)
        self.status.setText(
            f"{format_count(len(lines))} vendors · {reds} red · {warned} with contract warnings"
        )
        if not lines:
            self.empty.setText("No active vendors yet — add vendors and contracts first.")
            self.empty.show()
            self.placeholder.setText("No vendors to show.")
            self.right.setCurrentWidget(self.placeholder)
            self.mark_loaded()
            return
        self.empty.hide()
        if compared:
            for v in compared:
                row = self.table.row_of(v)
                if row >= 0:
                    self.table.selectionModel().select(
                        self.table.proxy.index(row, NAME),
                        QItemSelectionModel.SelectionFlag.Select
                        | QItemSelectionModel.SelectionFlag.Rows,
                    )
            self._show_compare()
        else:
            target = wanted if wanted is not None and self.table.row_of(wanted) >= 0 else None
            if target is None:
                target = self.table.vendor_at(0)
            selection = self.table.selectionModel()
            selection.blockSignals(True)
            self.select_vendor(target)
            selection.blockSignals(False)
            self.table.viewport().update()
            self.load_scorecard(target)
        self.mark_loaded()

    def _list_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._list_generation:
            return
        self.status.setText("Could not load the vendors")
        self.placeholder.setText(f"Could not load the vendors: {exc}")
        self.right.setCurrentWidget(self.placeholder)
        self.fail_load(exc)

    # The scorecard

    def _selection_changed(self, *_args: Any) -> None:
        if self.compare_button.isChecked():
            self._show_compare()
            return
        vendor = self.selected_vendor()
        self.pack_action.setEnabled(vendor is not None)
        if vendor is not None:
            self.load_scorecard(vendor)

    def load_scorecard(self, vendor_id: int) -> None:
        """Read one vendor's scorecard for the chosen period (in the background)."""
        from app.services.kpi_cache import kpi_cache

        self._card_generation += 1
        generation = self._card_generation
        self._card_loading = True
        period = self.current_period()
        today, now = self.today(), self.context.clock()
        cache = kpi_cache(self.context.db)
        name = next((line.name for line in self.lines if line.vendor_id == vendor_id), "")
        self.pack_action.setEnabled(True)
        self.pack_action.setText(f"Review pack for {name}…" if name else "Review pack…")

        def work(session, _progress):
            cols = self.cols if self.cols is not None else cache.columns(session)
            return load_scorecard(session, cols, vendor_id, period, today, now)

        ops.QueryOp(
            parent=self,
            db=self.context.db,
            op=work,
            success=lambda data: self._scorecard_arrived(generation, data),
        ).failure(lambda exc: self._scorecard_failed(generation, exc)).run_in_background()

    def _scorecard_arrived(self, generation: int, data: ScorecardData) -> None:
        if generation != self._card_generation:
            return
        self.data = data
        self.scorecard_view.show_data(data, self.today())
        self.template_button.setEnabled(True)
        if not self.compare_button.isChecked():
            self.right.setCurrentWidget(self.scorecard_view)
        self._card_loading = False

    def _scorecard_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._card_generation:
            return
        self._card_loading = False
        self.placeholder.setText(f"Could not load the scorecard: {exc}")
        self.right.setCurrentWidget(self.placeholder)
        if self.context.interactive:
            ops.show_error(self, exc)

    def reload_scorecard(self) -> None:
        """Read the list and the shown vendor's scorecard again (after a save)."""
        vendor = self.data.card.vendor_id if self.data else self.selected_vendor()
        self._wanted_vendor = vendor
        self.refresh()

    # Vendors, contacts and contracts

    def set_role(self, roles) -> None:
        """Turn off what the signed-in role may not do (the database refuses it anyway)."""
        from app.views.permissions import allow

        allow(
            roles,
            {
                "edit_vendor": [
                    self.new_vendor_button,
                    self.edit_vendor_button,
                    self.template_button,
                ]
            },
        )

    def new_vendor(self):
        """Open the vendor editor on a new vendor; the list is read again after each save."""
        return self.edit_vendor(None, new=True)

    def edit_vendor(self, vendor_id: int | None = None, new: bool = False):
        """Open the vendor editor (:mod:`app.views.vendor_editor`) on ``vendor_id`` (default:
        the selected vendor)."""
        from app.views.vendor_editor import open_vendor_editor

        if not new and vendor_id is None:
            vendor_id = self.selected_vendor()
            if vendor_id is None:
                return None
        editor = open_vendor_editor(self, self.context.db, vendor_id, clock=self.context.clock)
        if not getattr(editor, "page_connected", False):
            editor.saved.connect(self._vendor_saved)
            editor.page_connected = True
        return editor

    def _double_clicked(self, index) -> None:
        if index.column() == NAME:
            self.edit_vendor(self.table.vendor_at(index.row()))

    def _vendor_saved(self, vendor_id: int) -> None:
        self._wanted_vendor = vendor_id
        self.refresh()

    # Comparison

    def set_compare(self, on: bool) -> None:
        """Compare mode: select 2-4 vendors in the list to see them side by side."""
        mode = (
            QAbstractItemView.SelectionMode.ExtendedSelection
            if on
            else QAbstractItemView.SelectionMode.SingleSelection
        )
        self.table.setSelectionMode(mode)
        self.compare_button.setText("Exit compare" if on else "Compare")
        if self.compare_button.isChecked() != on:
            self.compare_button.setChecked(on)
            return
        if on:
            self._show_compare()
        else:
            vendor = self.data.card.vendor_id if self.data else None
            if vendor is None and self.table.selected_ids():
                vendor = self.table.selected_ids()[0]
            if vendor is not None:
                self.select_vendor(vendor)
                self.right.setCurrentWidget(self.scorecard_view)

    def compare(self, vendor_ids: list[int]) -> None:
        """Turn compare mode on with ``vendor_ids`` selected."""
        self.set_compare(True)
        selection = self.table.selectionModel()
        selection.blockSignals(True)
        selection.clearSelection()
        for v in vendor_ids:
            row = self.table.row_of(v)
            if row >= 0:
                selection.select(
                    self.table.proxy.index(row, NAME),
                    QItemSelectionModel.SelectionFlag.Select
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
        selection.blockSignals(False)
        self._show_compare()

    def _show_compare(self) -> None:
        ids = self.table.selected_ids()
        by_id = {line.vendor_id: line.card for line in self.lines}
        cards = [by_id[v] for v in ids if v in by_id]
        if len(cards) > COMPARE_MAX:
            self.compare_view.show_cards([])
            self.compare_view.hint.setText(
                f"{len(cards)} vendors are selected: pick at most {COMPARE_MAX} to compare."
            )
        else:
            self.compare_view.show_cards(cards, self.current_period().title)
        self.right.setCurrentWidget(self.compare_view)

    # Drill-down

    def drill(self, key: str, words: str) -> None:
        """Open the queue on the incidents behind ``key`` of the shown scorecard."""
        if self.data is None or self.cols is None:
            return
        ids = evidence_for(self.cols, self.data.card, key, self.context.clock())
        if ids.size == 0:
            self.status.setText(f"No incidents behind “{words}”")
            return
        self.last_drill = {
            "ids": ids.tolist(),
            "ids_label": f"{words} ({format_count(int(ids.size))})",
        }
        if "incidents" in self.context.page_keys:
            self.navigate.emit("incidents", self.last_drill)

    # Writes

    def _write(self, op, done_text: str) -> ops.OpHandle:
        """Run ``op(session)`` in a transaction; afterwards read everything again."""

        def success(_result) -> None:
            self.last_message = done_text
            self.status.setText(done_text)
            self.reload_scorecard()

        return (
            ops.QueryOp(
                parent=self,
                db=self.context.db,
                op=lambda session, _progress: op(session),
                success=success,
                commit=True,
            )
            .failure(self._write_failed)
            .run_in_background()
        )

    def _write_failed(self, exc: BaseException) -> None:
        if isinstance(exc, sc.ConflictError):
            self.tell(f"{exc}\n\nThe scorecard has been read again: repeat your change on it.",
                      "Changed by someone else")  # fmt: skip
            self.reload_scorecard()
        elif isinstance(exc, sc.ScorecardError):
            self.tell(str(exc), "Not saved")
            if self.data is not None:  # put the edited cell back as it was
                self.scorecard_view.show_data(self.data, self.today())
        else:
            self.last_message = str(exc)
            self.status.setText("Not saved")
            if self.context.interactive:
                ops.show_error(self, exc)

    def tell(self, text: str, title: str) -> None:
        """A refusal or conflict, in the message's own words."""
        self.last_message = text
        self.status.setText(f"{title}: {text.splitlines()[0]}")
        if self.context.interactive:
            box = QMessageBox(
                QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
            )
            box.exec()

    def _rating_entered(self, criterion, rating: str, comment: str) -> None:
        self.save_judged(criterion.name, rating, comment)

    def save_judged(self, criterion: str, rating: Any, comment: str = "") -> ops.OpHandle | None:
        """Rate a judged criterion of the shown scorecard (1-5) with a comment."""
        if self.data is None:
            return None
        card = self.data.card
        c = card.criterion(criterion)
        if str(rating).strip() == "":
            self.tell(f"Rate {c.name} from 1 to 5 before adding a comment.", "Not saved")
            return None
        expected = c.version if c.version is not None else 0
        period = card.period

        def op(session):
            return sc.set_judged_score(session, card.vendor_id, period, c.criterion_id, rating,
                                       comment, expected_version=expected)  # fmt: skip

        return self._write(op, f"Saved {c.name} for {card.vendor} in {period}: {rating} of 5")

    def edit_template(
        self,
        weights: dict[int | str, float] | None = None,
        green_min: float | None = None,
        amber_min: float | None = None,
    ) -> ops.OpHandle | None:
        """Change the template's weights and RAG thresholds (asks unless given)."""
        if self.data is None:
            return None
        card = self.data.card
        if weights is None:
            dialog = TemplateDialog(
                card.template, card.criteria, card.green_min, card.amber_min, self
            )
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            weights, green_min, amber_min = dialog.values()
        green = card.green_min if green_min is None else green_min
        amber = card.amber_min if amber_min is None else amber_min
        version = self.data.template_version
        template_id = card.template_id

        def op(session):
            new = sc.set_weights(session, template_id, weights, expected_version=version)
            if (green, amber) != (card.green_min, card.amber_min):
                sc.set_rag_thresholds(session, template_id, green, amber, expected_version=new)

        return self._write(op, f"Saved the weights of {card.template}")

    def edit_action(
        self, action: sc.ActionItem | None, values: dict | None = None
    ) -> ops.OpHandle | None:
        """Add (``action`` None) or change a review action (asks unless ``values`` given)."""
        if self.data is None:
            return None
        card = self.data.card
        if values is None:
            dialog = ActionDialog(action, self.today(), self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            values = dialog.values()
        if action is None:
            fields = {k: values[k] for k in ("description", "owner", "due_on") if k in values}

            def op(session):
                return sc.add_action(session, card.vendor_id, card.period, **fields)

            return self._write(op, "Action added")
        changed = {
            k: v for k, v in values.items()
            if k in ("description", "owner", "due_on", "status") and v != getattr(action, k)
        }  # fmt: skip
        if not changed:
            return None

        def update(session):
            return sc.update_action(session, action.id, expected_version=action.version, **changed)

        return self._write(update, "Action saved")

    # Exports

    def export_pack(self, path: str | None = None) -> ops.OpHandle | None:
        """Write the shown vendor's review pack for the period (asks where unless given)."""
        from app.services.kpi_cache import kpi_cache
        from app.services.review_pack import write_review_pack

        if self.data is None:
            return None
        card = self.data.card
        if path is None:
            stem = "".join(ch if ch.isalnum() else "-" for ch in card.vendor).strip("-").lower()
            path, _ = QFileDialog.getSaveFileName(
                self, f"Save the review pack of {card.vendor}",
                f"review-pack-{stem}-{card.period}.xlsx", "Excel workbook (*.xlsx)",
            )  # fmt: skip
            if not path:
                return None
        cache = kpi_cache(self.context.db)
        now = self.context.clock()

        def work(session, progress):
            return write_review_pack(session, cache.columns(session), card.vendor_id, card.period,
                                     path, progress=progress, now=now)  # fmt: skip

        return self._export(work, f"Writing the review pack of {card.vendor}")

    def export_summary(self, path: str | None = None) -> ops.OpHandle | None:
        """Write every active vendor's scorecard side by side (asks where unless given)."""
        from app.services.kpi_cache import kpi_cache
        from app.services.review_pack import write_summary

        period = self.current_period()
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save the vendor summary", f"vendor-scorecards-{period.label}.xlsx",
                "Excel workbook (*.xlsx)",
            )  # fmt: skip
            if not path:
                return None
        cache = kpi_cache(self.context.db)
        now = self.context.clock()

        def work(session, progress):
            return write_summary(session, cache.columns(session), period, path, progress=progress,
                                 now=now)  # fmt: skip

        return self._export(work, "Writing the vendor summary")

    def _export(self, work, label: str) -> ops.OpHandle:
        def done(summary) -> None:
            self.last_export = summary
            self.status.setText(summary.line())

        def failed(exc: BaseException) -> None:
            self.status.setText(f"{label} failed: {exc}")
            if self.context.interactive:
                ops.show_error(self, exc)

        self.status.setText(f"{label}…")
        return (
            ops.QueryOp(parent=self, db=self.context.db, op=work, success=done)
            .failure(failed)
            .with_progress(label)
            .run_in_background()
        )
