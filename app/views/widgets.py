"""Small widgets shared by pages: cards, priority and RAG chips, clickable rows, elided text."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPolygonF,
)
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.services.formatting import PRIORITY_NAMES
from app.views.theme import DANGER_TEXT, RAG_COLOURS, WARNING_TEXT, priority_colours


def scaled_font(widget: QWidget, factor: float, bold: bool = False) -> QFont:
    font = QFont(widget.font())
    font.setPointSizeF(font.pointSizeF() * factor)
    font.setBold(bold)
    return font


def wrap_words(fm: QFontMetrics, text: str, width: float, max_lines: int) -> list[str]:
    """``text`` in at most ``max_lines`` lines of ``width`` pixels, broken between words.

    A word too long for a line is elided rather than broken in the middle, and the last
    line ends in "…" when text is left over."""
    width = max(int(width), 0)
    if max_lines <= 0 or width <= 0:
        return []
    lines: list[str] = []
    current = ""
    words = text.split()
    placed = 0
    while placed < len(words):
        word = words[placed]
        candidate = f"{current} {word}" if current else word
        if fm.horizontalAdvance(candidate) <= width:
            current = candidate
            placed += 1
            continue
        if current:
            lines.append(current)
            current = ""
        if len(lines) == max_lines:
            # Text left over: end the last line with an ellipsis.
            rest = " ".join([lines[-1], *words[placed:]])
            lines[-1] = fm.elidedText(rest, Qt.TextElideMode.ElideRight, width)
            return lines
        fits = fm.horizontalAdvance(word) <= width
        current = word if fits else fm.elidedText(word, Qt.TextElideMode.ElideRight, width)
        placed += 1
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        rest = " ".join(lines[max_lines - 1 :])
        lines = [*lines[: max_lines - 1], fm.elidedText(rest, Qt.TextElideMode.ElideRight, width)]
    return lines


def problem_label(name: str) -> QLabel:
    """The boxed red sentence a form or window shows above its fields when something is
    refused (hidden until there is something to say; the text can be selected and copied)."""
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(
        f"color: {DANGER_TEXT}; border: 1px solid {DANGER_TEXT}; border-radius: 3px;"
        "padding: 4px 8px;"
    )
    label.hide()
    return label


class Chip(QLabel):
    """A short label on a coloured background (the text always says what the colour means)."""

    def __init__(self, text: str, background: str, foreground: str, parent=None) -> None:
        super().__init__(text, parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet(
            f"background: {background}; color: {foreground}; border-radius: 3px;"
            "padding: 1px 6px; font-weight: bold;"
        )
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)


class PriorityChip(Chip):
    """``P1`` in red, ``P2`` in orange, ``P3`` amber, ``P4`` blue, ``P5`` grey."""

    def __init__(self, priority: int, parent=None) -> None:
        background, foreground = priority_colours(priority)
        super().__init__(f"P{priority}", background, foreground, parent)
        self.setToolTip(f"Priority {priority} {PRIORITY_NAMES.get(priority, '')}".strip())


class RagChip(Chip):
    """A vendor rating: ``RED``, ``AMBER`` or ``GREEN`` on its colour."""

    def __init__(self, rag: str, parent=None) -> None:
        background, foreground = RAG_COLOURS.get(rag, ("#757575", "#ffffff"))
        super().__init__(rag.upper(), background, foreground, parent)


class ElidedLabel(QLabel):
    """One line of text that shrinks with an ellipsis instead of widening its layout."""

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setToolTip(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt name
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(
            self.fontMetrics().horizontalAdvance("M") * 4, super().minimumSizeHint().height()
        )

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), text)


class ClickableRow(QWidget):
    """A row that acts like a button: click, Enter or Space emits ``clicked``."""

    clicked = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_Hover)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(6, 3, 6, 3)
        self.layout_.setSpacing(8)

    def set_link(self, enabled: bool, tooltip: str = "") -> None:
        """Show the row as a link (hand cursor, tooltip) when clicking leads somewhere."""
        self.setCursor(Qt.CursorShape.PointingHandCursor if enabled else Qt.CursorShape.ArrowCursor)
        self.setToolTip(tooltip if enabled else "")

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt name
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        if self.underMouse() or self.hasFocus():
            painter = QPainter(self)
            colour = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            colour.setAlpha(40)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(self.rect(), 4, 4)
        super().paintEvent(event)


class Card(QFrame):
    """A titled panel on a page, with an optional headline figure on the right."""

    def __init__(self, title: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.title = QLabel(title)
        self.title.setFont(scaled_font(self.title, 1.15, bold=True))
        self.figure = QLabel()
        self.figure.setFont(scaled_font(self.figure, 1.6, bold=True))
        self.figure.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.figure)
        self.head = head
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        self.body_layout.setSpacing(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.setSpacing(8)
        layout.addLayout(head)
        layout.addWidget(self.body)
        layout.addStretch(1)

    def clear(self) -> None:
        _delete_layout(self.body_layout)

    def add_to_header(self, widget: QWidget) -> QWidget:
        """Put a small widget in the title line, just before the headline figure."""
        self.head.insertWidget(self.head.indexOf(self.figure), widget)
        return widget

    def add(self, widget: QWidget) -> QWidget:
        self.body_layout.addWidget(widget)
        return widget

    def note(self, text: str) -> QLabel:
        """A quiet line of text, e.g. an empty state or "and 12 more"."""
        label = QLabel(text)
        label.setObjectName("note")
        label.setWordWrap(True)
        label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.body_layout.addWidget(label)
        return label


class WarningMark(QWidget):
    """A small amber warning triangle with "!"; its tooltip says what is wrong."""

    def __init__(self, tooltip: str = "", parent=None) -> None:
        super().__init__(parent)
        side = self.fontMetrics().height()
        self.setFixedSize(side, side)
        self.setToolTip(tooltip)
        self.setAccessibleName("Warning")
        self.setAccessibleDescription(tooltip)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        w, h = self.width(), self.height()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(WARNING_TEXT))
        painter.setBrush(QColor(RAG_COLOURS["amber"][0]))
        painter.drawPolygon(
            QPolygonF([QPointF(w / 2, 1.5), QPointF(w - 1.0, h - 1.5), QPointF(1.0, h - 1.5)])
        )
        painter.setPen(QColor("#000000"))
        font = QFont(self.font())
        font.setBold(True)
        font.setPixelSize(max(int(h * 0.55), 6))
        painter.setFont(font)
        painter.drawText(QRectF(0, h * 0.3, w, h * 0.65), int(Qt.AlignmentFlag.AlignCenter), "!")


def _delete_layout(layout) -> None:
    while (item := layout.takeAt(0)) is not None:
        if (widget := item.widget()) is not None:
            # Out of the widget tree at once, so lookups never find the old rows.
            widget.hide()
            widget.setParent(None)
            widget.deleteLater()
        elif (inner := item.layout()) is not None:
            _delete_layout(inner)
