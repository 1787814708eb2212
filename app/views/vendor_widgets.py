"""Pieces of the Vendors page: sparkline and RAG delegates, the scorecard view, the
comparison view and the dialogs for weights, thresholds and review actions.

Nothing here reads the database: the page loads plain data from
:mod:`app.services.scorecards` in the background and hands it to these widgets, which
report what the user asked for by signals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QModelIndex, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QIcon,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.formatting import format_count, format_date
from app.views.theme import DANGER_TEXT, GOOD_TEXT, RAG_COLOURS, WARNING_TEXT
from app.views.widgets import Card, ClickableRow, RagChip, WarningMark, scaled_font

if TYPE_CHECKING:  # numpy comes with the scorecards, loaded with the page's first figures
    from app.services.scorecards import ActionItem, CreditCalculation, CriterionResult, Scorecard
    from app.services.vendors import ContractWarning

#: Item data roles used by the vendor table.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
SPARK_ROLE = Qt.ItemDataRole.UserRole + 2
RAG_ROLE = Qt.ItemDataRole.UserRole + 3
ID_ROLE = Qt.ItemDataRole.UserRole + 4
#: The raw value an in-place editor starts from (a rating "4", a comment).
RAW_ROLE = Qt.ItemDataRole.UserRole + 5
#: Sort rank of a RAG (unrated first when ascending, then red, amber, green).
RAG_RANK = {None: -1, "red": 0, "amber": 1, "green": 2}
NOT_MEASURABLE = "not measurable"


# --- small formatting helpers ---------------------------------------------------------------


def value_text(c: CriterionResult) -> str:
    """A criterion's value with its unit: ``97.5 %``, ``31.9 h``, ``142 incidents``, ``4 of 5``."""
    if c.value is None:
        return "—"
    if c.kind == "judged":
        return f"{c.value:g} of 5"
    if c.unit == "%":
        return f"{c.value:.3g} %" if c.value >= 100 else f"{c.value:.2f} %".replace(".00 %", " %")
    if c.unit == "hours":
        return f"{c.value:,.1f} h"
    if c.unit == "incidents":
        return plural(int(c.value), "incident")
    return f"{c.value:g} {c.unit}".strip()


def plural(count: int, word: str) -> str:
    """``1 incident``, ``1,238 incidents``."""
    return f"{format_count(count)} {word}{'' if count == 1 else 's'}"


def reason_text(reason: str) -> str:
    """``not measurable: no incident resolved`` -> ``no incident resolved``."""
    return reason.removeprefix(f"{NOT_MEASURABLE}: ").removeprefix(NOT_MEASURABLE).strip()


def score_text(c: CriterionResult) -> str:
    if c.score is None:
        return f"{NOT_MEASURABLE} — {reason_text(c.reason)}"
    return f"{c.score:.1f}"


def total_text(total: float | None) -> str:
    return "—" if total is None else f"{total:.1f}"


def money_text(totals: dict[str, float]) -> str:
    """``EUR 1,200.00`` (several currencies joined), ``—`` when nothing is owed."""
    owed = [(cur, amount) for cur, amount in sorted(totals.items()) if amount]
    if not owed:
        return "—"
    return " + ".join(f"{cur} {amount:,.2f}" for cur, amount in owed)


def warning_icon(size: int = 14) -> QIcon:
    """A small amber warning triangle, drawn (no icon file needed)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor(WARNING_TEXT))
    painter.setBrush(QColor(RAG_COLOURS["amber"][0]))
    painter.drawPolygon(
        QPolygonF([QPointF(size / 2, 1), QPointF(size - 1, size - 1), QPointF(1, size - 1)])
    )
    painter.setPen(QColor("#000000"))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(int(size * 0.6), 6))
    painter.setFont(font)
    painter.drawText(
        QRectF(0, size * 0.3, size, size * 0.7), int(Qt.AlignmentFlag.AlignCenter), "!"
    )
    painter.end()
    return QIcon(pixmap)


# --- delegates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spark:
    """A trend line: one total (or None) per period, oldest first, and the RAG thresholds."""

    labels: tuple[str, ...]
    totals: tuple[float | None, ...]
    rags: tuple[str | None, ...]
    green_min: float = 85.0
    amber_min: float = 70.0

    def tooltip(self) -> str:
        return "\n".join(
            f"{label}: {total_text(t)}{f' ({r})' if r else ''}"
            for label, t, r in zip(self.labels, self.totals, self.rags, strict=True)
        )


def paint_sparkline(
    painter: QPainter, rect: QRect, spark: Spark, palette: QPalette, selected: bool = False
) -> None:
    """Scores 0-100 over the periods: threshold guides, the line (gaps where a period has no
    total) and a dot in the RAG colour on each scored period, the latest larger."""
    n = len(spark.totals)
    if n == 0:
        return
    r = QRectF(rect).adjusted(4, 4, -4, -4)
    if r.width() <= 4 or r.height() <= 4:
        return
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)

    def x(i: int) -> float:
        return r.left() + (r.width() * i / (n - 1) if n > 1 else r.width() / 2)

    def y(v: float) -> float:
        return r.bottom() - r.height() * max(0.0, min(100.0, v)) / 100.0

    guide = QColor(palette.color(QPalette.ColorRole.PlaceholderText))
    guide.setAlpha(70)
    painter.setPen(QPen(guide, 1, Qt.PenStyle.DotLine))
    for level in (spark.green_min, spark.amber_min):
        painter.drawLine(QPointF(r.left(), y(level)), QPointF(r.right(), y(level)))
    role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
    line = QColor(palette.color(role))
    line.setAlpha(220 if selected else 170)
    painter.setPen(QPen(line, 1.4))
    path = QPainterPath()
    drawing = False
    for i, t in enumerate(spark.totals):
        if t is None:
            drawing = False
            continue
        if drawing:
            path.lineTo(x(i), y(t))
        else:
            path.moveTo(x(i), y(t))
            drawing = True
    painter.drawPath(path)
    painter.setPen(Qt.PenStyle.NoPen)
    last = max((i for i, t in enumerate(spark.totals) if t is not None), default=None)
    for i, (t, rag) in enumerate(zip(spark.totals, spark.rags, strict=True)):
        if t is None:
            continue
        painter.setBrush(QColor(RAG_COLOURS.get(rag or "", ("#9e9e9e", ""))[0]))
        radius = 3.2 if i == last else 1.8
        painter.drawEllipse(QPointF(x(i), y(t)), radius, radius)
    painter.restore()


class SparklineDelegate(QStyledItemDelegate):
    """Paints the :class:`Spark` in ``SPARK_ROLE`` as a small line chart."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        self.initStyleOption(option, index)
        option.text = ""
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        spark = index.data(SPARK_ROLE)
        if isinstance(spark, Spark):
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            paint_sparkline(painter, option.rect, spark, option.palette, selected)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(110, option.fontMetrics.height() + 6)


def paint_rag_chip(painter: QPainter, rect: QRect, rag: str | None, text: str) -> None:
    """A rounded chip in the RAG colour with its word on it (or grey "NO SCORE")."""
    background, foreground = RAG_COLOURS.get(rag or "", ("#9e9e9e", "#ffffff"))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont(painter.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 0.85)
    painter.setFont(font)
    width = painter.fontMetrics().horizontalAdvance(text) + 12
    height = min(rect.height() - 4, painter.fontMetrics().height() + 2)
    chip = QRectF(rect.left() + 4, rect.center().y() - height / 2 + 0.5, width, height)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(background))
    painter.drawRoundedRect(chip, 3, 3)
    painter.setPen(QColor(foreground))
    painter.drawText(chip, int(Qt.AlignmentFlag.AlignCenter), text)
    painter.restore()


class RagDelegate(QStyledItemDelegate):
    """Paints the RAG in ``RAG_ROLE`` as a chip with its word (colour is never alone)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        self.initStyleOption(option, index)
        text = option.text
        option.text = ""
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        if text:
            paint_rag_chip(painter, option.rect, index.data(RAG_ROLE), text)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + 20, hint.height())


class _CellEditDelegate(QStyledItemDelegate):
    """In-place editing of a judged rating or comment: the typed text goes to the view's
    ``edited`` signal (the page saves it in the background); the model is not written."""

    def __init__(self, view: ScorecardView) -> None:
        super().__init__(view.criteria)
        self.view = view

    def createEditor(self, parent: QWidget, option, index: QModelIndex) -> QWidget:  # noqa: N802
        editor = QLineEdit(parent)
        editor.setObjectName("cellEditor")
        if index.column() == ScorecardView.VALUE:
            editor.setPlaceholderText("1-5")
        else:
            editor.setPlaceholderText("Comment")
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:  # noqa: N802
        text = index.data(RAW_ROLE)
        editor.setText("" if text is None else str(text))  # type: ignore[attr-defined]
        editor.selectAll()  # type: ignore[attr-defined]

    def setModelData(self, editor: QWidget, model, index: QModelIndex) -> None:  # noqa: N802
        raw = index.data(RAW_ROLE)
        text = editor.text().strip()  # type: ignore[attr-defined]
        if text == ("" if raw is None else str(raw)):
            return
        self.view.cell_edited(index.row(), index.column(), text)


# --- the scorecard ---------------------------------------------------------------------------


@dataclass
class ScorecardData:
    """Everything the scorecard view shows for one vendor and period."""

    card: Scorecard
    credits: CreditCalculation | None
    breached: int
    actions: list[ActionItem]
    warnings: list[ContractWarning]
    evidence_counts: dict[str, int] = field(default_factory=dict)
    template_version: int | None = None
    period_title: str = ""


def _link_colour(widget: QWidget) -> QColor:
    return widget.palette().color(QPalette.ColorRole.Link)


def _quiet(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _compact(table: QTableWidget) -> None:
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setWordWrap(False)


def _fit_height(table: QTableWidget) -> None:
    """Tall enough for every row (the page scrolls, not the table)."""
    rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
    table.setFixedHeight(
        rows + table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
    )


class ScorecardView(QScrollArea):
    """One vendor's scorecard for a period: the criteria with their evidence, the total and
    RAG, breached SLAs, service credits step by step, contract warnings and review actions."""

    #: A measured figure was clicked: (evidence key, words for the queue's chip).
    evidence_requested = Signal(str, str)
    #: A judged criterion was rated in place: (criterion, typed rating, comment).
    rating_entered = Signal(object, str, str)
    add_action_requested = Signal()
    edit_action_requested = Signal(object)

    COLUMNS = ("Criterion", "Kind", "Weight", "Value", "Score", "Basis / comment", "Evidence")
    NAME, KIND, WEIGHT, VALUE, SCORE, BASIS, EVIDENCE = range(7)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scorecardView")
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.data: ScorecardData | None = None
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(10)

        # Title: vendor, period, total and RAG.
        self.vendor = QLabel()
        self.vendor.setObjectName("vendorName")
        self.vendor.setFont(scaled_font(self.vendor, 1.35, bold=True))
        self.subtitle = _quiet(QLabel())
        self.subtitle.setObjectName("subtitle")
        self.subtitle.setWordWrap(True)
        self.total = QLabel()
        self.total.setObjectName("total")
        self.total.setFont(scaled_font(self.total, 2.0, bold=True))
        self.total.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.rag_holder = QHBoxLayout()
        self.rag_holder.setContentsMargins(0, 0, 0, 0)
        self.rag_chip: RagChip | None = None
        names = QVBoxLayout()
        names.setSpacing(0)
        names.addWidget(self.vendor)
        names.addWidget(self.subtitle)
        title = QHBoxLayout()
        title.addLayout(names, 1)
        title.addLayout(self.rag_holder)
        title.addWidget(self.total)
        layout.addLayout(title)
        self.problems = QLabel()
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {WARNING_TEXT};")
        layout.addWidget(self.problems)

        # Criteria.
        self.criteria_card = Card("Criteria")
        self.criteria = QTableWidget(0, len(self.COLUMNS))
        self.criteria.setObjectName("criteria")
        self.criteria.setHorizontalHeaderLabels(list(self.COLUMNS))
        _compact(self.criteria)
        self.criteria.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.criteria.setMouseTracking(True)
        self.criteria.setItemDelegate(_CellEditDelegate(self))
        header = self.criteria.horizontalHeader()
        for k in range(len(self.COLUMNS)):
            header.setSectionResizeMode(k, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.BASIS, QHeaderView.ResizeMode.Stretch)
        for k in (self.WEIGHT, self.VALUE, self.SCORE):
            self.criteria.horizontalHeaderItem(k).setTextAlignment(
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        self.criteria.cellClicked.connect(self._cell_clicked)
        self.criteria.cellEntered.connect(self._cell_entered)
        self.criteria_card.add(self.criteria)
        self.criteria_hint = self.criteria_card.note(
            "Click a measured figure to open the incidents behind it in the queue. "
            "Double-click a judged rating or comment to change it."
        )
        layout.addWidget(self.criteria_card)

        # Breached SLAs and credits side by side.
        row = QHBoxLayout()
        row.setSpacing(10)
        self.breached_card = Card("Breached SLAs")
        self.breached_row = ClickableRow()
        self.breached_row.setObjectName("breachedRow")
        self.breached_label = QLabel()
        self.breached_row.layout_.addWidget(self.breached_label, 1)
        self.breached_row.clicked.connect(self._breached_clicked)
        self.breached_card.add(self.breached_row)
        self.credits_card = Card("Service credits")
        self.credit_steps = QLabel()
        self.credit_steps.setObjectName("creditSteps")
        self.credit_steps.setWordWrap(True)
        self.credit_steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.credits_card.add(self.credit_steps)
        row.addWidget(self.breached_card, 1)
        row.addWidget(self.credits_card, 3)
        layout.addLayout(row)

        # Contract warnings.
        self.warnings_card = Card("Contract")
        layout.addWidget(self.warnings_card)

        # Actions.
        self.actions_card = Card("Review actions")
        self.add_action_button = QPushButton("Add action…")
        self.add_action_button.setObjectName("addAction")
        self.add_action_button.clicked.connect(self.add_action_requested)
        self.edit_action_button = QPushButton("Edit…")
        self.edit_action_button.setObjectName("editAction")
        self.edit_action_button.setEnabled(False)
        self.edit_action_button.clicked.connect(self._edit_selected_action)
        self.actions_card.add_to_header(self.add_action_button)
        self.actions_card.add_to_header(self.edit_action_button)
        self.actions = QTableWidget(0, 5)
        self.actions.setObjectName("actions")
        self.actions.setHorizontalHeaderLabels(["Action", "Owner", "Due", "Status", "Review"])
        _compact(self.actions)
        self.actions.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.actions.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        ah = self.actions.horizontalHeader()
        for k in range(5):
            ah.setSectionResizeMode(k, QHeaderView.ResizeMode.ResizeToContents)
        ah.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.actions.itemSelectionChanged.connect(
            lambda: self.edit_action_button.setEnabled(bool(self.actions.selectedItems()))
        )
        self.actions.cellDoubleClicked.connect(lambda r, _c: self._edit_action_row(r))
        self.actions_card.add(self.actions)
        self.actions_empty = self.actions_card.note("No actions recorded for this review yet.")
        layout.addWidget(self.actions_card)
        layout.addStretch(1)
        self.setWidget(content)

    # Filling

    def show_data(self, data: ScorecardData, today: dt.date | None = None) -> None:
        self.data = data
        card = data.card
        self.vendor.setText(card.vendor)
        self.subtitle.setText(
            f"{data.period_title or card.period} · template {card.template} · "
            f"green ≥ {card.green_min:g}, amber ≥ {card.amber_min:g} · "
            f"{plural(card.incidents, 'incident')}"
        )
        self.total.setText(total_text(card.total))
        self.total.setToolTip(
            "Weighted mean of the scored criteria (0-100); criteria that cannot be measured "
            "are left out and the other weights scaled up."
        )
        if self.rag_chip is not None:
            self.rag_holder.removeWidget(self.rag_chip)
            self.rag_chip.deleteLater()
        self.rag_chip = RagChip(card.rag or "no score")
        self.rag_chip.setObjectName("ragChip")
        self.rag_holder.addWidget(self.rag_chip)
        self.problems.setText("\n".join(f"⚠ {p}" for p in card.problems))
        self.problems.setVisible(bool(card.problems))
        self._fill_criteria(card)
        self._fill_breached(data.breached)
        self._fill_credits(data.credits)
        self._fill_warnings(data.warnings)
        self._fill_actions(data.actions, today or dt.date.today())

    def _item(self, text: str, right: bool = False, tip: str = "") -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        if right:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if tip:
            item.setToolTip(tip)
        return item

    def _fill_criteria(self, card: Scorecard) -> None:
        table = self.criteria
        table.setRowCount(0)
        table.setRowCount(len(card.criteria))
        counts = self.data.evidence_counts if self.data else {}
        link = _link_colour(self)
        quiet = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for r, c in enumerate(card.criteria):
            bounds = ""
            if c.target is not None and c.floor is not None:
                bounds = f"scores 100 at {c.target:g} and 0 at {c.floor:g} {c.unit}"
            table.setItem(r, self.NAME, self._item(c.name, tip=bounds))
            table.setItem(r, self.KIND, self._item(c.kind))
            table.setItem(r, self.WEIGHT, self._item(f"{c.weight:g} %", right=True))
            value = self._item(value_text(c), right=True)
            score = self._item(score_text(c), right=c.score is not None, tip=c.reason)
            if c.score is None:
                score.setForeground(QBrush(quiet))
                font = QFont(table.font())
                font.setItalic(True)
                score.setFont(font)
            basis = self._item(c.comment if c.kind == "judged" else c.reason, tip=c.reason)
            evidence = self._item("")
            if c.kind == "judged":
                editable = Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsEnabled
                value.setFlags(editable | Qt.ItemFlag.ItemIsSelectable)
                value.setData(RAW_ROLE, "" if c.value is None else f"{c.value:g}")
                value.setToolTip("Double-click to rate 1-5")
                basis.setFlags(editable | Qt.ItemFlag.ItemIsSelectable)
                basis.setData(RAW_ROLE, c.comment)
                basis.setToolTip(c.comment or "Double-click to add a comment")
                if c.value is None:
                    value.setText("rate 1-5")
                    value.setForeground(QBrush(link))
            elif c.score is not None or c.value is not None:
                key = c.evidence or c.metric or ""
                n = counts.get(key)
                if n:
                    for item in (value, evidence):
                        item.setForeground(QBrush(link))
                        font = QFont(table.font())
                        font.setUnderline(True)
                        item.setFont(font)
                    evidence.setText(f"{plural(n, 'incident')} ›")
                    tip = f"Open the {plural(n, 'incident')} behind this figure in the queue"
                    value.setToolTip(tip)
                    evidence.setToolTip(tip)
                elif n == 0:
                    evidence.setText("no incidents")
                    evidence.setForeground(QBrush(quiet))
            for col, item in (
                (self.VALUE, value),
                (self.SCORE, score),
                (self.BASIS, basis),
                (self.EVIDENCE, evidence),
            ):
                table.setItem(r, col, item)
        _fit_height(table)

    def _fill_breached(self, count: int) -> None:
        if count:
            self.breached_label.setText(
                f"<span style='font-size:large; font-weight:bold; color:{DANGER_TEXT}'>"
                f"{format_count(count)}</span> "
                f"{'incident' if count == 1 else 'incidents'} with a breached SLA ›"
            )
            self.breached_row.set_link(True, "Open them in the queue")
        else:
            self.breached_label.setText(
                f"<span style='font-weight:bold; color:{GOOD_TEXT}'>None</span> — "
                "every SLA that finished in the period was met"
            )
            self.breached_row.set_link(False)

    def _fill_credits(self, credit: CreditCalculation | None) -> None:
        if credit is None:
            self.credits_card.figure.setText("—")
            self.credit_steps.setText("Credits could not be worked out.")
            return
        owed = credit.total > 0
        self.credits_card.figure.setText(money_text(credit.totals) if owed else "none owed")
        self.credits_card.figure.setStyleSheet(f"color: {DANGER_TEXT if owed else GOOD_TEXT};")
        self.credit_steps.setText("\n".join(f"• {s}" for s in credit.steps))

    def _fill_warnings(self, warnings: Sequence[ContractWarning]) -> None:
        self.warnings_card.clear()
        self.warnings_card.figure.setText("")
        if not warnings:
            self.warnings_card.note("No renewal or notice dates need a decision.")
            return
        for w in warnings:
            line = QWidget()
            h = QHBoxLayout(line)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(WarningMark(w.message), 0, Qt.AlignmentFlag.AlignTop)
            text = QLabel(w.message)
            text.setWordWrap(True)
            if w.severity == "high":
                text.setStyleSheet(f"color: {DANGER_TEXT};")
            h.addWidget(text, 1)
            self.warnings_card.add(line)

    def _fill_actions(self, actions: Sequence[ActionItem], today: dt.date) -> None:
        table = self.actions
        table.setRowCount(0)
        table.setRowCount(len(actions))
        for r, a in enumerate(actions):
            desc = self._item(a.description, tip=a.description)
            desc.setData(ID_ROLE, a.id)
            due = self._item(format_date(a.due_on) if a.due_on else "—")
            if a.overdue(today):
                due.setForeground(QBrush(QColor(DANGER_TEXT)))
                due.setText(f"{due.text()} (overdue)")
            for col, item in enumerate(
                (desc, self._item(a.owner or "—"), due, self._item(a.status), self._item(a.period))
            ):
                table.setItem(r, col, item)
        table.setVisible(bool(actions))
        self.actions_empty.setVisible(not actions)
        self.edit_action_button.setEnabled(False)
        _fit_height(table)

    # Interaction

    def criterion_row(self, name: str) -> int:
        assert self.data is not None
        for r, c in enumerate(self.data.card.criteria):
            if name in (c.name, c.metric):
                return r
        raise KeyError(name)

    def _cell_entered(self, row: int, column: int) -> None:
        clickable = self._evidence_key(row, column) is not None
        self.criteria.viewport().setCursor(
            Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor
        )

    def _evidence_key(self, row: int, column: int) -> str | None:
        if self.data is None or column not in (self.VALUE, self.EVIDENCE):
            return None
        c = self.data.card.criteria[row]
        key = c.evidence or c.metric
        if c.kind != "measured" or not key or not self.data.evidence_counts.get(key):
            return None
        return key

    def _cell_clicked(self, row: int, column: int) -> None:
        key = self._evidence_key(row, column)
        if key is None or self.data is None:
            return
        c = self.data.card.criteria[row]
        self.evidence_requested.emit(
            key, f"{self.data.card.vendor} · {c.name} · {self.data.card.period}"
        )

    def _breached_clicked(self) -> None:
        if self.data is None or not self.data.breached:
            return
        card = self.data.card
        self.evidence_requested.emit(
            "sla_breached", f"{card.vendor} · SLA breached · {card.period}"
        )

    def cell_edited(self, row: int, column: int, text: str) -> None:
        """The delegate's commit: a new rating (value column) or comment (basis column)."""
        if self.data is None:
            return
        c = self.data.card.criteria[row]
        if c.kind != "judged":
            return
        if column == self.VALUE:
            self.rating_entered.emit(c, text, c.comment)
        elif column == self.BASIS:
            rating = "" if c.value is None else f"{c.value:g}"
            self.rating_entered.emit(c, rating, text)

    def selected_action(self) -> ActionItem | None:
        rows = {i.row() for i in self.actions.selectedItems()}
        if not rows or self.data is None:
            return None
        return self.data.actions[min(rows)]

    def _edit_selected_action(self) -> None:
        action = self.selected_action()
        if action is not None:
            self.edit_action_requested.emit(action)

    def _edit_action_row(self, row: int) -> None:
        if self.data is not None and 0 <= row < len(self.data.actions):
            self.edit_action_requested.emit(self.data.actions[row])


# --- comparison ----------------------------------------------------------------------------


class CompareView(QWidget):
    """Two to four vendors side by side: criteria scores, totals and RAG, and a grouped bar
    chart of the scores."""

    BAR_COLOURS = ("#1e88e5", "#8e24aa", "#00897b", "#f4511e")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self.cards: list[Scorecard] = []
        self.title = QLabel("Compare vendors")
        self.title.setFont(scaled_font(self.title, 1.35, bold=True))
        self.hint = _quiet(QLabel())
        self.hint.setObjectName("compareHint")
        self.hint.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("compareTable")
        _compact(self.table)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().show()
        self.chart_holder = QVBoxLayout()
        self.chart = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addWidget(self.table)
        layout.addLayout(self.chart_holder)
        layout.addStretch(1)
        self.show_cards([])

    def show_cards(self, cards: Sequence[Scorecard], period: str = "") -> None:
        self.cards = list(cards)
        if len(cards) < 2:
            self.hint.setText(
                "Select two to four vendors in the list (Ctrl+click or Shift+click) to compare "
                "their scorecards side by side."
            )
            self.table.hide()
            if self.chart is not None:
                self.chart.hide()
            return
        self.hint.setText(
            f"{period}: scores 0-100 per criterion (weight in brackets); “n/m” = not "
            "measurable, hover for the reason."
        )
        names: list[str] = []
        weights: dict[str, float] = {}
        for card in cards:
            for c in card.criteria:
                if c.name not in names:
                    names.append(c.name)
                    weights[c.name] = c.weight
        table = self.table
        table.clear()
        table.setColumnCount(len(cards))
        table.setRowCount(len(names) + 2)
        table.setHorizontalHeaderLabels([c.vendor for c in cards])
        table.setVerticalHeaderLabels([f"{n} ({weights[n]:g} %)" for n in names] + ["Total", "RAG"])
        bold = QFont(table.font())
        bold.setBold(True)
        for col, card in enumerate(cards):
            by_name = {c.name: c for c in card.criteria}
            for row, name in enumerate(names):
                c = by_name.get(name)
                if c is None:
                    item = QTableWidgetItem("—")
                    item.setToolTip(f"{card.vendor}'s template has no {name}")
                elif c.score is None:
                    item = QTableWidgetItem("n/m")
                    item.setToolTip(f"{NOT_MEASURABLE}: {reason_text(c.reason)}")
                    item.setForeground(
                        QBrush(self.palette().color(QPalette.ColorRole.PlaceholderText))
                    )
                else:
                    item = QTableWidgetItem(f"{c.score:.1f}")
                    item.setToolTip(f"{value_text(c)} — {c.reason}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, col, item)
            total = QTableWidgetItem(total_text(card.total))
            total.setFont(bold)
            total.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(len(names), col, total)
            background, foreground = RAG_COLOURS.get(card.rag or "", ("#9e9e9e", "#ffffff"))
            rag = QTableWidgetItem((card.rag or "no score").upper())
            rag.setFont(bold)
            rag.setBackground(QBrush(QColor(background)))
            rag.setForeground(QBrush(QColor(foreground)))
            rag.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            table.setItem(len(names) + 1, col, rag)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.show()
        _fit_height(table)
        self._chart(cards, names)

    def _chart(self, cards: Sequence[Scorecard], names: list[str]) -> None:
        import pyqtgraph as pg

        if self.chart is None:
            self.chart = pg.PlotWidget()
            self.chart.setObjectName("compareChart")
            self.chart.setMinimumHeight(220)
            self.chart.setMaximumHeight(400)
            self.chart.setMenuEnabled(False)
            self.chart.setMouseEnabled(x=False, y=False)
            self.chart.hideButtons()
            self.chart_holder.addWidget(self.chart)
        plot = self.chart.getPlotItem()
        plot.clear()
        if plot.legend is None:
            plot.addLegend(offset=(10, 2))
        else:
            plot.legend.clear()
        plot.legend.setColumnCount(len(cards))
        plot.legend.setLabelTextColor(self.palette().color(QPalette.ColorRole.Text))
        base = self.palette().color(QPalette.ColorRole.Base)
        text = self.palette().color(QPalette.ColorRole.Text)
        self.chart.setBackground(base)
        width = 0.8 / len(cards)
        for k, card in enumerate(cards):
            by_name = {c.name: c for c in card.criteria}
            xs, heights = [], []
            for i, name in enumerate(names + ["Total"]):
                score = card.total if name == "Total" else getattr(by_name.get(name), "score", None)
                if score is None:
                    continue
                xs.append(i - 0.4 + width * (k + 0.5))
                heights.append(score)
            colour = self.BAR_COLOURS[k % len(self.BAR_COLOURS)]
            bars = pg.BarGraphItem(x=xs, height=heights, width=width * 0.9, brush=colour, pen=None)
            plot.addItem(bars)
            plot.legend.addItem(bars, card.vendor)
        for level, rag in ((cards[0].green_min, "green"), (cards[0].amber_min, "amber")):
            plot.addItem(pg.InfiniteLine(level, angle=0, pen=pg.mkPen(RAG_COLOURS[rag][0],
                                         style=Qt.PenStyle.DashLine)))  # fmt: skip
        axis = plot.getAxis("bottom")
        axis.setTicks([[(i, short_name(n, cards)) for i, n in enumerate(names + ["Total"])]])
        plot.getAxis("left").setTicks([[(v, str(v)) for v in range(0, 101, 20)]])
        for side in ("bottom", "left"):
            plot.getAxis(side).setTextPen(text)
            plot.getAxis(side).setPen(text)
        plot.setYRange(0, 118, padding=0)
        plot.setXRange(-0.6, len(names) + 0.6, padding=0)
        plot.showGrid(y=True, alpha=0.2)
        self.chart.show()


#: Short axis labels of the measured criteria.
SHORT_NAMES = {
    "sla_attainment": "SLA",
    "mttr": "MTTR",
    "incident_count": "Volume",
    "availability": "Availability",
    "change_success": "Changes",
}


def short_name(name: str, cards: Sequence[Scorecard]) -> str:
    """A criterion's name short enough for a chart axis."""
    for card in cards:
        for c in card.criteria:
            if c.name == name and c.metric in SHORT_NAMES and len(name) > 12:
                return SHORT_NAMES[c.metric]
    return name if len(name) <= 14 else name[:13] + "…"


# --- dialogs ---------------------------------------------------------------------------------


class TemplateDialog(QDialog):
    """Criteria weights (the sum, shown live, must be 100 %) and the RAG thresholds."""

    def __init__(
        self,
        template: str,
        criteria: Sequence[CriterionResult],
        green_min: float,
        amber_min: float,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Weights and thresholds — {template}")
        self.spins: dict[int, QDoubleSpinBox] = {}
        grid = QGridLayout()
        grid.addWidget(_quiet(QLabel("Criterion")), 0, 0)
        grid.addWidget(_quiet(QLabel("Kind")), 0, 1)
        grid.addWidget(_quiet(QLabel("Weight")), 0, 2)
        for row, c in enumerate(criteria, start=1):
            spin = QDoubleSpinBox()
            spin.setObjectName(f"weight_{c.criterion_id}")
            spin.setRange(0, 100)
            spin.setDecimals(1)
            spin.setSuffix(" %")
            spin.setValue(c.weight)
            spin.valueChanged.connect(self._check)
            self.spins[c.criterion_id] = spin
            grid.addWidget(QLabel(c.name), row, 0)
            grid.addWidget(_quiet(QLabel(c.kind)), row, 1)
            grid.addWidget(spin, row, 2)
        self.sum_label = QLabel()
        self.sum_label.setObjectName("weightSum")
        grid.addWidget(self.sum_label, len(criteria) + 1, 0, 1, 3)
        self.green = QDoubleSpinBox()
        self.green.setObjectName("greenMin")
        self.amber = QDoubleSpinBox()
        self.amber.setObjectName("amberMin")
        for spin, value in ((self.green, green_min), (self.amber, amber_min)):
            spin.setRange(0, 100)
            spin.setDecimals(1)
            spin.setValue(value)
            spin.valueChanged.connect(self._check)
        form = QFormLayout()
        form.addRow("Green at or above", self.green)
        form.addRow("Amber at or above", self.amber)
        self.rag_label = QLabel()
        self.rag_label.setObjectName("ragCheck")
        form.addRow("", self.rag_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        note = _quiet(QLabel("Changes apply to every vendor on this template and are audited."))
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self._check()

    def weight_sum(self) -> float:
        return round(sum(s.value() for s in self.spins.values()), 2)

    def _check(self) -> None:
        total = self.weight_sum()
        weights_ok = abs(total - 100) < 0.005
        if weights_ok:
            self.sum_label.setText(f"Sum {total:g} % ✔")
            self.sum_label.setStyleSheet(f"color: {GOOD_TEXT}; font-weight: bold;")
        else:
            self.sum_label.setText(f"Sum {total:g} % ✖ — the weights must sum to 100 %")
            self.sum_label.setStyleSheet(f"color: {DANGER_TEXT}; font-weight: bold;")
        rag_ok = 0 <= self.amber.value() < self.green.value() <= 100
        self.rag_label.setText("" if rag_ok else "✖ amber must be below green")
        self.rag_label.setStyleSheet(f"color: {DANGER_TEXT};")
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(weights_ok and rag_ok)

    def values(self) -> tuple[dict[int, float], float, float]:
        return (
            {cid: spin.value() for cid, spin in self.spins.items()},
            self.green.value(),
            self.amber.value(),
        )


class ActionDialog(QDialog):
    """A review action: what, who, by when (and, when editing, its status)."""

    def __init__(
        self, action: ActionItem | None, today: dt.date, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit action" if action else "New action")
        self.description = QLineEdit(action.description if action else "")
        self.description.setObjectName("description")
        self.description.setMinimumWidth(380)
        self.owner = QLineEdit(action.owner if action else "")
        self.owner.setObjectName("owner")
        self.has_due = QCheckBox("Due by")
        self.due = QDateEdit()
        self.due.setObjectName("due")
        self.due.setCalendarPopup(True)
        self.due.setDisplayFormat("yyyy-MM-dd")
        day = action.due_on if action and action.due_on else today + dt.timedelta(days=30)
        self.due.setDate(QDate(day.year, day.month, day.day))
        self.has_due.setChecked(action is None or action.due_on is not None)
        self.due.setEnabled(self.has_due.isChecked())
        self.has_due.toggled.connect(self.due.setEnabled)
        self.status = QComboBox()
        self.status.setObjectName("status")
        for s in ("open", "done", "dropped"):
            self.status.addItem(s, s)
        if action:
            self.status.setCurrentIndex(max(self.status.findData(action.status), 0))
        due_row = QHBoxLayout()
        due_row.addWidget(self.has_due)
        due_row.addWidget(self.due, 1)
        form = QFormLayout()
        form.addRow("Action", self.description)
        form.addRow("Owner", self.owner)
        form.addRow("Due", due_row)
        if action:
            form.addRow("Status", self.status)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.description.textChanged.connect(self._check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._check()

    def _check(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(
            bool(self.description.text().strip())
        )

    def values(self) -> dict:
        return {
            "description": self.description.text().strip(),
            "owner": self.owner.text().strip(),
            "due_on": self.due.date().toPython() if self.has_due.isChecked() else None,
            "status": self.status.currentData(),
        }
