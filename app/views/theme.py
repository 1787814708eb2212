"""Fusion style with a light or dark palette that follows the system, and the status colours."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

#: Priority colours (background, text on it): P1 red, P2 orange, P3 amber, P4 blue, P5 grey.
PRIORITY_COLOURS: dict[int, tuple[str, str]] = {
    1: ("#d32f2f", "#ffffff"),
    2: ("#ef6c00", "#ffffff"),
    3: ("#f9a825", "#000000"),
    4: ("#1e88e5", "#ffffff"),
    5: ("#757575", "#ffffff"),
}
RAG_COLOURS: dict[str, tuple[str, str]] = {
    "green": ("#2e7d32", "#ffffff"),
    "amber": ("#f9a825", "#000000"),
    "red": ("#d32f2f", "#ffffff"),
}
#: Text colours that read on both palettes.
WARNING_TEXT = "#e65100"
DANGER_TEXT = "#d32f2f"
GOOD_TEXT = "#2e7d32"


def priority_colours(priority: int) -> tuple[str, str]:
    return PRIORITY_COLOURS.get(priority, PRIORITY_COLOURS[5])


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def light_palette() -> QPalette:
    style = QStyleFactory.create("Fusion")
    return style.standardPalette() if style is not None else QPalette()


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#2b2d30",
        QPalette.ColorRole.WindowText: "#e4e4e4",
        QPalette.ColorRole.Base: "#1e1f22",
        QPalette.ColorRole.AlternateBase: "#26282b",
        QPalette.ColorRole.ToolTipBase: "#3c3f41",
        QPalette.ColorRole.ToolTipText: "#e4e4e4",
        QPalette.ColorRole.PlaceholderText: "#8c8c8c",
        QPalette.ColorRole.Text: "#e4e4e4",
        QPalette.ColorRole.Button: "#3a3c40",
        QPalette.ColorRole.ButtonText: "#e4e4e4",
        QPalette.ColorRole.BrightText: "#ff6e6e",
        QPalette.ColorRole.Light: "#4a4d52",
        QPalette.ColorRole.Midlight: "#404347",
        QPalette.ColorRole.Mid: "#33353a",
        QPalette.ColorRole.Dark: "#1a1b1e",
        QPalette.ColorRole.Shadow: "#101113",
        QPalette.ColorRole.Highlight: "#3574f0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6ea8ff",
        QPalette.ColorRole.LinkVisited: "#b18cff",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return p


def apply_theme(app: QApplication, scheme: Qt.ColorScheme | None = None) -> None:
    """Fusion style with the palette for ``scheme`` (default: the system's current scheme)."""
    app.setStyle("Fusion")
    if scheme is None:
        scheme = app.styleHints().colorScheme()
    app.setPalette(dark_palette() if scheme == Qt.ColorScheme.Dark else light_palette())


def follow_system_scheme(app: QApplication) -> None:
    """Apply the theme now and again whenever the system switches between light and dark."""
    apply_theme(app)
    app.styleHints().colorSchemeChanged.connect(lambda scheme: apply_theme(app, scheme))
