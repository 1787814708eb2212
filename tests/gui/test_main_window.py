"""The main window: registered pages in the sidebar, shortcuts, status bar, settings, databases."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from app.models import AppUser
from app.services.users import current_username
from app.views import pages
from app.views.main_window import MainWindow, app_settings


@pytest.fixture
def probe_page():
    """A second registered page, so switching pages has somewhere to go."""

    @pages.register_page(key="probe", title="Probe", icon="kpis", order=99)
    class ProbePage(pages.Page):
        opened_with: list[dict] = []

        def refresh(self) -> None:
            self.mark_loaded()

        def open_with(self, params: dict) -> None:
            self.opened_with.append(params)

    yield ProbePage
    pages._registry.pop("probe")


def sidebar_titles(window: MainWindow) -> list[str]:
    return [window.sidebar.item(row).text() for row in range(window.sidebar.count())]


def click_sidebar(qtbot, window: MainWindow, row: int) -> None:
    rect = window.sidebar.visualItemRect(window.sidebar.item(row))
    qtbot.mouseClick(window.sidebar.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_the_window_shows_the_database_user_and_state(window, sample_db):
    assert window.database_label.text() == sample_db.describe()
    assert window.database_label.text().startswith("sqlite: ")
    assert window.user_label.text() == "System (admin)"
    assert "connected" in window.live_label.text()
    assert sample_db.describe() in window.windowTitle()


def test_the_sidebar_lists_exactly_the_registered_pages(window):
    registered = [spec.title for spec in pages.registered_pages()]
    assert sidebar_titles(window) == registered
    assert registered[0] == "Today"
    assert window.current_key() == "today"


def test_every_page_is_reached_from_the_sidebar_and_by_shortcut(
    qtbot, probe_page, sample_db, open_window
):
    window = open_window(sample_db)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    specs = pages.registered_pages()
    assert [spec.key for spec in specs][-1] == "probe"
    for row, spec in enumerate(specs):
        click_sidebar(qtbot, window, row)
        assert window.current_key() == spec.key
        assert window.stack.currentWidget() is window.pages[spec.key]
        qtbot.waitUntil(window.pages[spec.key].is_loaded)
    for number, spec in reversed(list(enumerate(specs, start=1))):
        qtbot.keyClick(
            window, Qt.Key(Qt.Key.Key_0.value + number), Qt.KeyboardModifier.ControlModifier
        )
        assert window.current_key() == spec.key
        assert window.sidebar.currentItem().text() == spec.title


def test_a_page_can_send_the_user_to_another_page(probe_page, sample_db, open_window):
    window = open_window(sample_db)
    window.pages["today"].navigate.emit("probe", {"priority": [1]})
    assert window.current_key() == "probe"
    assert probe_page.opened_with == [{"priority": [1]}]
    window.pages["today"].navigate.emit("no such page", {})
    assert window.current_key() == "probe"


def test_the_last_page_and_the_geometry_are_kept(qtbot, probe_page, sample_db, open_window):
    first = open_window(sample_db)
    first.resize(800, 540)  # the offscreen screen is only 800x600
    first.show_page("probe")
    first.close()
    assert app_settings().value("main_window/page") == "probe"
    second = open_window(sample_db)
    assert second.current_key() == "probe"
    assert (second.width(), second.height()) == (800, 540)


def test_settings_are_not_touched_when_not_persisting(sample_db, open_window, isolated_settings):
    window = open_window(sample_db, persist=False)
    window.close()
    assert QSettings(app_settings().fileName(), QSettings.Format.IniFormat).allKeys() == []


def test_the_signed_in_user_and_role_come_from_their_app_user_row(qtbot, sample_db, open_window):
    with sample_db.transaction() as s:
        s.add(AppUser(username=current_username(), display_name="Alex Kim", role="service_manager"))
    window = open_window(sample_db)
    qtbot.waitUntil(lambda: window.user_label.text() == "Alex Kim (service manager)")
    assert sample_db.identity.username == current_username()


def test_opening_another_database_file_replaces_the_window(qtbot, monkeypatch, window, tmp_path):
    from app.db import open_database

    other = tmp_path / "other.db"
    open_database(str(other)).dispose()
    monkeypatch.setattr(
        "app.views.main_window.QFileDialog.getOpenFileName",
        lambda *args, **kwargs: (str(other), ""),
    )
    window.open_action.trigger()
    qtbot.waitUntil(lambda: any(w.db.url.database == str(other) for w in MainWindow._windows))
    new = next(iter(MainWindow._windows))
    qtbot.addWidget(new)
    assert new.database_label.text().endswith("other.db")
    assert not window.isVisible()
    new.close()


def test_a_database_that_cannot_be_opened_is_explained_and_nothing_is_lost(
    qtbot, monkeypatch, window, tmp_path, message_boxes
):
    bad = tmp_path / "notes.db"
    bad.write_text("shopping list")
    monkeypatch.setattr(
        "app.views.main_window.QFileDialog.getOpenFileName", lambda *args, **kwargs: (str(bad), "")
    )
    window.open_action.trigger()
    qtbot.waitUntil(lambda: bool(message_boxes))
    assert message_boxes[0].text() == f"{bad} is not a Servicedeck database (not a SQLite file)."
    assert window.isVisible() and window.current_page().is_loaded()
    assert not MainWindow._windows


def test_the_shared_database_dialog_builds_a_url_and_never_saves_the_password(qtbot):
    from app.views.connect_dialog import ConnectDialog

    settings = app_settings()
    dialog = ConnectDialog(settings)
    qtbot.addWidget(dialog)
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    dialog.host.setText("db1.example.com")
    dialog.port.setValue(5433)
    dialog.database.setText("deck")
    dialog.user.setText("alex")
    dialog.password.setText("s3cret")
    assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    url = dialog.url()
    assert url.render_as_string(hide_password=False) == (
        "postgresql+psycopg://alex:s3cret@db1.example.com:5433/deck"
    )
    dialog.accept()
    saved = {key: settings.value(key) for key in settings.allKeys()}
    assert saved["shared_db/host"] == "db1.example.com"
    assert "s3cret" not in repr(saved)
    again = ConnectDialog(settings)
    qtbot.addWidget(again)
    assert (again.host.text(), again.port.value(), again.user.text(), again.password.text()) == (
        "db1.example.com",
        5433,
        "alex",
        "",
    )


def test_about_names_the_version_and_database(window, message_boxes):
    from app import __version__

    window.about()
    [(parent, title, text)] = message_boxes
    assert title == "About Servicedeck"
    assert __version__ in text and window.db.describe() in text


def _ink_lightness(icon) -> int:
    image = icon.pixmap(20, 20).toImage()
    inked = [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())]
    return max(c.lightness() for c in inked if c.alpha() > 200)


def test_the_palette_and_icons_follow_the_light_or_dark_scheme(qapp, window):
    from app.views.theme import apply_theme, is_dark

    try:
        apply_theme(qapp, Qt.ColorScheme.Dark)
        qapp.processEvents()  # palette changes reach widgets as posted events
        assert is_dark() and qapp.style().name().lower() == "fusion"
        assert _ink_lightness(window.sidebar.item(0).icon()) > 200
        apply_theme(qapp, Qt.ColorScheme.Light)
        qapp.processEvents()
        assert not is_dark()
        assert _ink_lightness(window.sidebar.item(0).icon()) < 60
    finally:
        apply_theme(qapp, Qt.ColorScheme.Light)
