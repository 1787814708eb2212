"""Line icons from ``app/resources/icons``, drawn in the palette's text colours."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

#: The colour the SVG files are drawn in; replaced by the palette's colour when loaded.
_INK = "#000000"
_SIZES = (16, 20, 24, 32, 48)


@cache
def _svg(name: str) -> str:
    return files("app.resources").joinpath("icons", f"{name}.svg").read_text(encoding="utf-8")


def _pixmap(svg: str, color: QColor, size: int, ratio: float) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(svg.replace(_INK, color.name()).encode()))
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    renderer.render(painter)
    painter.end()
    return pixmap


def icon(name: str, palette: QPalette | None = None) -> QIcon:
    """The icon ``name`` in the text colour, and in the highlighted text colour when selected."""
    palette = palette or QGuiApplication.palette()
    svg = _svg(name)
    ratio = QGuiApplication.instance().devicePixelRatio() if QGuiApplication.instance() else 1.0
    result = QIcon()
    normal = palette.color(QPalette.ColorRole.WindowText)
    selected = palette.color(QPalette.ColorRole.HighlightedText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    for size in _SIZES:
        result.addPixmap(_pixmap(svg, normal, size, ratio), QIcon.Mode.Normal)
        result.addPixmap(_pixmap(svg, selected, size, ratio), QIcon.Mode.Selected)
        result.addPixmap(_pixmap(svg, disabled, size, ratio), QIcon.Mode.Disabled)
    return result
